"""PostGIS: read establishments from a real PostgreSQL + PostGIS on loopback, write result layers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from shapely.geometry import Point, box

from clusterscape.coords import convert
from clusterscape.errors import InvalidInputError
from clusterscape.io.postgis import is_database_url, read_establishments_postgis, write_postgis
from pg_server import pg_bin, postgis_server

pytestmark = [
    pytest.mark.postgis,
    pytest.mark.skipif(
        pg_bin() is None, reason="PostgreSQL + PostGIS not installed (make install does it)"
    ),
]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgis_server() as url:
        yield url


@contextmanager
def _engine(url: str) -> Iterator[Any]:

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        yield engine
    finally:
        engine.dispose()


def test_url_detection() -> None:
    assert is_database_url("postgresql://u@localhost/db?table=firms")
    assert is_database_url("postgres://u@h/db")
    assert not is_database_url("firms.csv")
    assert not is_database_url(None)


def test_read_geometry_table_in_gcj02(pg_url: str) -> None:
    lon_w = np.array([121.55, 121.56, 121.60])
    lat_w = np.array([29.87, 29.88, 29.81])
    lon_g, lat_g = convert(lon_w, lat_w, src="wgs84", dst="gcj02")
    firms = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["宁波广告有限公司", "设计工作室", "Loft 8 Studio"],
            "employees": [5, 12, 3],
        },
        geometry=[Point(x, y) for x, y in zip(lon_g, lat_g, strict=True)],
        crs="EPSG:4326",
    )
    with _engine(pg_url) as engine:
        firms.to_postgis("firms", engine, if_exists="replace", index=False)
    loaded = read_establishments_postgis(f"{pg_url}?table=firms", datum="gcj02")
    est = loaded.establishments
    assert list(est["id"]) == ["a", "b", "c"]
    np.testing.assert_allclose(est.geometry.x, lon_w, atol=1e-7)
    np.testing.assert_allclose(est.geometry.y, lat_w, atol=1e-7)


def test_read_query_with_lonlat_columns_and_rejections(pg_url: str) -> None:
    frame = pd.DataFrame(
        {
            "编号": ["1", "2", "3"],
            "名称": ["甲", "乙", "丙"],
            "经度": [121.55, None, 121.6],
            "纬度": [29.87, 29.8, 29.81],
        }
    )
    with _engine(pg_url) as engine:
        frame.to_sql("poi", engine, if_exists="replace", index=False)
    loaded = read_establishments_postgis(f"{pg_url}?query=SELECT * FROM poi ORDER BY 1")
    assert len(loaded.establishments) == 2
    assert len(loaded.rejected) == 1
    assert loaded.rejected["row"].tolist() == [2]


def test_write_layers_roundtrip(pg_url: str) -> None:
    clusters = gpd.GeoDataFrame(
        {"cluster_id": [0, 1], "form": ["new_park", "converted_industrial"]},
        geometry=[box(0, 0, 1, 1), box(2, 2, 3, 3)],
        crs="EPSG:4326",
    )
    table = pd.DataFrame({"statistic": ["L"], "verdict": ["clustered"]})
    written = write_postgis({"clusters": clusters, "concentration": table}, pg_url, schema="study1")
    assert written == ["study1.clusters", "study1.concentration"]
    with _engine(pg_url) as engine, engine.connect() as conn:
        back = gpd.read_postgis(
            sqlalchemy.text("SELECT * FROM study1.clusters ORDER BY cluster_id"),
            conn,
            geom_col="geometry",
        )
    assert back["form"].tolist() == ["new_park", "converted_industrial"]
    assert back.geometry.iloc[1].equals(box(2, 2, 3, 3))
    # An existing table is refused by default (it used to be replaced silently); replacing
    # must be asked for, and is idempotent.
    with pytest.raises(InvalidInputError, match=r"study1\.clusters already exists.*--overwrite"):
        write_postgis({"clusters": clusters}, pg_url, schema="study1")
    write_postgis({"clusters": clusters}, pg_url, schema="study1", if_exists="replace")
    write_postgis({"clusters": clusters}, pg_url, schema="study1", if_exists="replace")


def test_clear_errors(pg_url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"\?table=NAME"):
        read_establishments_postgis(pg_url)
    with pytest.raises(InvalidInputError, match="not a plain"):
        read_establishments_postgis(f"{pg_url}?table=firms;DROP TABLE x")
    with pytest.raises(InvalidInputError, match="could not read"):
        read_establishments_postgis(f"{pg_url}?table=missing_table")
    with pytest.raises(InvalidInputError, match="schema"):
        write_postgis({}, pg_url, schema="bad schema")
