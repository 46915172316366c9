"""io.read_source picks the reader; validate_frame validates in memory like a file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.io import read_source, source_kind
from clusterscape.io._frames import validate_frame
from clusterscape.io.establishments import read_establishments

ROWS = (
    "id,name,lon,lat,employees,opened\n"
    "A,甲,121.55,29.87,10,2015\n"
    "B,乙,,29.88,5,2016\n"  # missing longitude
    "C,丙,121.56,95,5,2010\n"  # latitude out of range
    "A,丁,121.57,29.89,3,2011\n"  # duplicate id: kept as A#4, noted
    "E,戊,121.58,29.90,-2,March 2015\n"  # negative headcount: noted, row kept
    "F,己,0,0,,1700\n"  # 0/0 placeholder
    "G,庚,121.59,29.91,约50,二〇一五年三月\n"
)


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "firms.csv"
    p.write_text(ROWS, encoding="utf-8")
    return p


@pytest.fixture
def no_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("validate_frame wrote a temporary file")

    for name in ("TemporaryDirectory", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse)


def _same(a: Any, b: Any) -> None:
    cols = ["id", "name", "employees", "opened"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.establishments[cols]).reset_index(drop=True),
        pd.DataFrame(b.establishments[cols]).reset_index(drop=True),
    )
    assert a.establishments.geometry.equals(b.establishments.geometry)
    assert a.rejected[["row", "id", "reason"]].values.tolist() == (
        b.rejected[["row", "id", "reason"]].values.tolist()
    )
    assert a.notes.values.tolist() == b.notes.values.tolist()
    assert a.n_rows == b.n_rows


def test_validate_frame_matches_the_file_reader_without_a_temp_file(
    csv: Path, no_temp_files: None
) -> None:
    from_file = read_establishments(csv)
    assert len(from_file.rejected) == 3 and len(from_file.notes) >= 3  # the planted problems
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)  # the cells as text
    _same(validate_frame(frame), from_file)


def test_validate_frame_geodataframe_honours_its_crs(tmp_path: Path, no_temp_files: None) -> None:
    gdf = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "name": ["x", "y", "z"]},
        geometry=gpd.points_from_xy([121.55, 121.56, 121.57], [29.87, 29.88, 29.89]),
        crs="EPSG:4326",
    ).to_crs("EPSG:32651")
    gdf.loc[2, "geometry"] = None  # a feature without geometry: rejected in both
    path = tmp_path / "firms.gpkg"
    gdf.to_file(path, driver="GPKG")
    from_file = read_establishments(path)
    res = validate_frame(gdf)
    assert res.establishments.crs.to_epsg() == 4326
    assert (
        res.establishments["id"].tolist() == from_file.establishments["id"].tolist() == ["a", "b"]
    )
    assert abs(res.establishments.geometry.x.iloc[0] - 121.55) < 1e-9  # back to degrees
    assert res.rejected["reason"].tolist() == from_file.rejected["reason"].tolist()


def test_source_kind() -> None:
    assert source_kind("postgresql://u@localhost/db?table=firms") == "postgis"
    assert source_kind("postgis://u@localhost/db?table=firms") in {"postgis", "file"}
    assert source_kind("data/Helsinki.osm.pbf") == "osm"
    assert source_kind(Path("x/Helsinki.OSM.PBF")) == "osm"
    assert source_kind("firms.csv") == "file"


def test_read_source_file_is_the_file_reader(csv: Path) -> None:
    _same(read_source(str(csv)), read_establishments(csv))


def test_read_source_database_url(monkeypatch: pytest.MonkeyPatch, csv: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake(url: str, **kwargs: Any) -> Any:
        calls.append((url, kwargs))
        return read_establishments(csv)

    monkeypatch.setattr("clusterscape.io.postgis.read_establishments_postgis", fake)
    url = "postgresql://u@localhost/db?table=firms"
    res = read_source(url, crs="gcj02", columns={"name": "名称"})
    assert calls == [(url, {"crs": "gcj02", "columns": {"name": "名称"}})]
    assert len(res.establishments) == 4
    with pytest.raises(InvalidInputError, match="apply to files"):
        read_source("postgresql://u:secret@localhost/db?table=firms", layer="x")
    with pytest.raises(InvalidInputError) as info:
        read_source("postgresql://u:secret@localhost/db?table=firms", sheet=0)
    assert "secret" not in str(info.value)


def test_study_loads_through_read_source(monkeypatch: pytest.MonkeyPatch, csv: Path) -> None:
    """run_study does not pick readers itself: any source goes through io.read_source."""
    from clusterscape.study.run import StudyConfig, _load

    seen: list[str] = []

    def fake(source: str, **kwargs: Any) -> Any:
        seen.append(source)
        return read_establishments(csv)

    monkeypatch.setattr("clusterscape.io.source.read_source", fake)
    url = "postgresql://u@localhost/db?table=firms"
    loaded = _load(StudyConfig(establishments=url))
    assert seen == [url]
    assert loaded.establishments["id"].tolist() == ["A", "A#4", "E", "G"]
    assert loaded["n_rows"] == 7 and len(loaded.rejected) == 3


def test_cli_commands_read_through_read_source(
    monkeypatch: pytest.MonkeyPatch, csv: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from clusterscape.cli import app

    seen: list[str] = []

    def fake(source: str, **kwargs: Any) -> Any:
        seen.append(source)
        return read_establishments(csv)

    monkeypatch.setattr("clusterscape.io.source.read_source", fake)
    url = "postgresql://u:secret@localhost/db?table=firms"
    res = CliRunner().invoke(app, ["validate", url, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert seen == [url]
    assert "secret" not in res.output
    assert (tmp_path / "rejected.csv").exists()
