"""``datum=`` (wgs84/gcj02/bd09) apart from ``crs=`` (coordinate reference systems).

The old spelling ``crs="gcj02"`` must keep working for one release, with a
``DeprecationWarning`` that names ``datum=`` and points at the caller's line, and must give
exactly the result of ``datum="gcj02"``. A CRS given as a datum, or a datum and a CRS that
cannot both apply, are refused naming the right parameter.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from clusterscape.cli import app
from clusterscape.coords import convert
from clusterscape.errors import InvalidInputError
from clusterscape.io.establishments import read_establishments, validate_table
from clusterscape.io.layers import read_boundary, read_parks
from clusterscape.io.source import read_source
from clusterscape.study.config import StudyConfig

runner = CliRunner()

ROWS = pd.DataFrame(
    {
        "名称": ["甲", "乙", "丙"],
        "经度": [121.5664862, 121.602225, 121.6073774],
        "纬度": [29.8869293, 29.8129012, 29.9187258],
    }
)


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "amap.csv"
    ROWS.to_csv(p, index=False)
    return p


def _same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert len(a) == len(b) > 0
    assert a.geometry.x.tolist() == b.geometry.x.tolist()
    assert a.geometry.y.tolist() == b.geometry.y.tolist()


@pytest.mark.parametrize("name", ["gcj02", "GCJ-02", "bd09", "baidu"])
def test_datum_as_crs_is_deprecated_and_gives_the_same_result(csv: Path, name: str) -> None:
    new = read_establishments(csv, datum=name)
    with pytest.warns(DeprecationWarning, match=r"crs=.*names a datum; pass datum=") as rec:
        old = read_establishments(csv, crs=name)
    assert len(rec) == 1
    assert rec[0].filename == __file__  # points at the caller, not at the library
    assert old.source_crs == new.source_crs != "wgs84"
    _same(old.establishments, new.establishments)
    # and the conversion really happened: not the unconverted degrees
    assert (old.establishments.geometry.x != ROWS["经度"]).all()


def test_datum_matches_convert(csv: Path) -> None:
    est = read_establishments(csv, datum="gcj02").establishments
    lon, lat = convert(ROWS["经度"], ROWS["纬度"], src="gcj02", dst="wgs84")
    assert est.geometry.x.tolist() == lon.tolist() and est.geometry.y.tolist() == lat.tolist()


def test_real_crs_does_not_warn(csv: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        plain = read_establishments(csv, crs="EPSG:4326")
        gcj = read_establishments(csv, datum="gcj02", crs="EPSG:4326")
    _same(plain.establishments, read_establishments(csv).establishments)
    _same(gcj.establishments, read_establishments(csv, datum="gcj02").establishments)


def test_crs_given_as_datum_is_refused_naming_crs(csv: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"datum='EPSG:32651'.*pass it as crs='EPSG:32651'"):
        read_establishments(csv, datum="EPSG:32651")
    with pytest.raises(InvalidInputError, match=r"datum='mars-ish' is not one of"):
        read_establishments(csv, datum="mars-ish")


def test_datum_with_projected_crs_or_a_second_datum_is_refused(csv: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"datum='gcj02'.*crs='EPSG:32651'.*not both"):
        read_establishments(csv, datum="gcj02", crs="EPSG:32651")
    with pytest.raises(InvalidInputError, match="disagree"):
        read_establishments(csv, datum="gcj02", crs="bd09")


def test_read_source_and_validate_table(csv: Path) -> None:
    new = read_source(str(csv), datum="bd09")
    with pytest.warns(DeprecationWarning, match="datum='bd09'") as rec:
        old = read_source(str(csv), crs="bd09")
    assert len(rec) == 1 and rec[0].filename == __file__
    _same(old.establishments, new.establishments)
    frame = ROWS.astype(object)
    with pytest.warns(DeprecationWarning, match="datum='gcj02'"):
        t_old = validate_table(frame, crs="gcj02")
    _same(t_old.establishments, validate_table(frame, datum="gcj02").establishments)


def test_layers_take_datum(tmp_path: Path) -> None:
    p = tmp_path / "area.geojson"
    box = shapely.box(121.5, 29.8, 121.6, 29.9)
    gpd.GeoDataFrame(geometry=[box], crs=4326).to_file(p)
    new = read_boundary(p, datum="gcj02")
    with pytest.warns(DeprecationWarning, match="datum='gcj02'"):
        old = read_boundary(p, crs="gcj02")
    assert old.geometry.iloc[0].equals_exact(new.geometry.iloc[0], 0.0)
    assert not new.geometry.iloc[0].equals_exact(read_boundary(p).geometry.iloc[0], 1e-6)
    with pytest.raises(InvalidInputError, match=r"read_boundary: crs='EPSG:32651'.*datum="):
        read_boundary(p, crs="EPSG:32651")
    parks = tmp_path / "parks.csv"
    parks.write_text("name,lon,lat\nA,121.55,29.87\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="read_parks: datum='EPSG:32651'"):
        read_parks(parks, datum="EPSG:32651")


def test_study_config_datum_and_deprecated_crs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert StudyConfig(datum="GCJ-02").datum == "gcj02"
        assert StudyConfig().datum == "wgs84"
    with pytest.warns(DeprecationWarning, match="datum='bd09'"):
        cfg = StudyConfig.from_mapping({"study": {"crs": "bd09"}})
    assert cfg.datum == "bd09" and cfg.crs is None
    with pytest.raises(InvalidInputError, match=r"\[study\].*datum='EPSG:32651'.*crs="):
        StudyConfig(datum="EPSG:32651")
    with pytest.raises(InvalidInputError, match=r"crs='EPSG:32651' is not supported"):
        StudyConfig(crs="EPSG:32651")
    with pytest.raises(InvalidInputError, match="disagree"):
        StudyConfig(datum="gcj02", crs="bd09")


def test_cli_crs_datum_is_a_warning_line_and_the_same_read(csv: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = runner.invoke(app, ["validate", str(csv), "--datum", "gcj02", "--out", str(tmp_path)])
        old = runner.invoke(app, ["validate", str(csv), "--crs", "gcj02", "--out", str(tmp_path)])
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    flat_old, flat_new = " ".join(old.output.split()), " ".join(new.output.split())
    assert "warning: --crs gcj02 names a datum; use --datum gcj02" in flat_old
    assert "warning" not in flat_new
    assert "gcj02 -> EPSG:4326" in flat_old and "gcj02 -> EPSG:4326" in flat_new
    bad = runner.invoke(
        app, ["validate", str(csv), "--datum", "EPSG:32651", "--out", str(tmp_path)]
    )
    assert bad.exit_code != 0 and "crs='EPSG:32651'" in " ".join(bad.output.split())
    clash = runner.invoke(
        app, ["validate", str(csv), "--datum", "bd09", "--crs", "gcj02", "--out", str(tmp_path)]
    )
    assert clash.exit_code != 0 and "disagree" in clash.output
