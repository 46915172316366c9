"""The published-methods step with user factors (``run --factors``) and the factor builders.

Planted truth: creative firms are placed around five "metro stations"; a factor file marks the
stations (factor=metro) and as many random decoy points (factor=decoy). GeoDetector must give the
stations a large, significant q and the decoys a small one, and the factor table must carry both
only when the file is given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from clusterscape.errors import InvalidInputError
from clusterscape.explain.factors import (
    FactorLayer,
    distance_to_nearest,
    polygon_share,
    read_factor_file,
    values_on_cells,
)
from clusterscape.measure.recipe import recipe_step

CENTRE = (120.155, 30.274)  # Hangzhou, WGS-84
STATIONS = [(120.12, 30.25), (120.19, 30.30), (120.16, 30.22), (120.10, 30.31), (120.21, 30.26)]


def _city(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_bg = 5000
    lon = CENTRE[0] + rng.normal(0, 0.05, n_bg)
    lat = CENTRE[1] + rng.normal(0, 0.04, n_bg)
    kinds = list(rng.choice(["餐饮服务;中餐厅;中餐厅", "购物服务;便民商店/便利店;便利店"], n_bg))
    names = [f"店铺{i}" for i in range(n_bg)]
    c_lon, c_lat = [], []
    for slon, slat in STATIONS:
        c_lon.append(slon + rng.normal(0, 0.004, 120))
        c_lat.append(slat + rng.normal(0, 0.0035, 120))
    cl = np.concatenate(c_lon)
    ct = np.concatenate(c_lat)
    frame = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(n_bg + len(cl))],
            "name": names + [f"创意广告设计有限公司{i}" for i in range(len(cl))],
            "category": kinds + ["公司企业;公司;广告装饰"] * len(cl),
            "lon": np.concatenate([lon, cl]),
            "lat": np.concatenate([lat, ct]),
            "opened": rng.integers(2000, 2020, n_bg + len(cl)),
        }
    )
    return frame


def _factor_file(path: Path, seed: int = 4) -> None:
    rng = np.random.default_rng(seed)
    decoys = [
        (CENTRE[0] + rng.uniform(-0.1, 0.1), CENTRE[1] + rng.uniform(-0.08, 0.08)) for _ in STATIONS
    ]
    gpd.GeoDataFrame(
        {"factor": ["metro"] * len(STATIONS) + ["decoy"] * len(decoys)},
        geometry=[Point(p) for p in STATIONS + decoys],
        crs="EPSG:4326",
    ).to_file(path, driver="GeoJSON")


def _run(tmp_path: Path, name: str, *extra: str) -> Path:
    src = tmp_path / "city.csv"
    if not src.exists():
        _city().to_csv(src, index=False)
    out = tmp_path / name
    exe = Path(sys.executable).parent / "clusterscape"
    proc = subprocess.run(
        [str(exe), "run", "--establishments", str(src), "--out", str(out), "--quiet", *extra],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_factors_file_changes_the_factor_table(tmp_path: Path) -> None:
    factors = tmp_path / "stations.geojson"
    _factor_file(factors)
    with_f = _run(tmp_path, "with", "--factors", str(factors))
    table = pd.read_csv(with_f / "geodetector_factors.csv").set_index("factor")
    assert table.loc["dist_metro_m", "status"] == "used"
    assert table.loc["dist_decoy_m", "status"] == "used"
    metro, decoy = table.loc["dist_metro_m"], table.loc["dist_decoy_m"]
    assert metro["q"] > 0.2 and metro["p_value"] < 0.001  # the planted driver
    assert metro["q"] > 3 * decoy["q"]
    summary = json.loads((with_f / "summary.json").read_text(encoding="utf-8"))
    assert summary["methods"]["factors_file"]["factors"] == ["decoy", "metro"]
    # a user study without --factors: no such factors; layers it lacks are skipped with reasons
    without = _run(tmp_path, "without")
    base = pd.read_csv(without / "geodetector_factors.csv").set_index("factor")
    assert "dist_metro_m" not in base.index and "dist_decoy_m" not in base.index
    for col in ("dist_university_m", "dist_park_m", "heritage_industrial_share"):
        assert base.loc[col, "status"] == "skipped" and isinstance(base.loc[col, "reason"], str)
    assert base.loc["firm_density_per_km2", "status"] == "used"
    # the user's factors appear in the report's factor table
    assert "dist_metro_m" in (with_f / "report.html").read_text(encoding="utf-8")


def test_unreadable_factors_file_is_recorded_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "broken.geojson"
    bad.write_text("{not json", encoding="utf-8")
    from clusterscape.measure.recipe import study_methods

    frame = _city()
    est = gpd.GeoDataFrame(
        frame.assign(is_creative=frame["name"].str.contains("创意"), function="other"),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs="EPSG:4326",
    ).to_crs("EPSG:32650")
    window = est.geometry.union_all().convex_hull.buffer(500)
    step = study_methods(est, window=window, factors_file=str(bad), permutations=99)
    assert step.summary["factors_file"]["status"].startswith("failed: ")
    assert step.summary["moran"]["status"] == "done"
    assert (
        step.tables["geodetector_factors"].set_index("factor").loc["firm_density_per_km2", "status"]
        == "used"
    )


def test_read_factor_file_kinds(tmp_path: Path) -> None:
    # 1. a factor column: one distance factor per value
    pts = tmp_path / "f.geojson"
    _factor_file(pts)
    layers = read_factor_file(pts)
    assert [(f.name, f.kind, len(f.layer)) for f in layers] == [
        ("decoy", "distance", 5),
        ("metro", "distance", 5),
    ]
    # 2. a table of cells: numeric columns are value factors, ids and coordinates are not
    table = tmp_path / "cells.csv"
    pd.DataFrame(
        {"id": [1, 2], "lon": [120.1, 120.2], "lat": [30.2, 30.3], "Rent (yuan)": [80.0, 95.0]}
    ).to_csv(table, index=False)
    (rent,) = read_factor_file(table)
    assert (rent.name, rent.kind, rent.column) == ("rent_yuan", "value", "Rent (yuan)")
    # 3. neither: the whole layer is one distance factor named after the file
    plain = tmp_path / "Metro Lines.geojson"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(120.1, 30.2)], crs="EPSG:4326").to_file(plain)
    (one,) = read_factor_file(plain)
    assert (one.name, one.kind) == ("metro_lines", "distance")
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_factor_file(tmp_path / "missing.geojson")


def test_factor_builders_by_hand() -> None:
    cells = gpd.GeoDataFrame(
        {"i": [0, 1, 2]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100)],
        crs="EPSG:32651",
    )
    # distance from cell centres to a polygon (0 inside) and to a point
    poly = gpd.GeoDataFrame(geometry=[box(180, 0, 400, 100)], crs="EPSG:32651")
    centres = np.array([[50.0, 50.0], [150.0, 50.0], [250.0, 50.0]])
    assert distance_to_nearest(centres, poly).tolist() == [130.0, 30.0, 0.0]
    pt = gpd.GeoDataFrame(geometry=[Point(50, 90)], crs="EPSG:32651")
    assert distance_to_nearest(centres, pt)[1] == pytest.approx(np.hypot(100, 40))
    # share of each cell covered: cell 1 is 20 % covered, cell 2 fully
    assert polygon_share(cells, poly).tolist() == pytest.approx([0.0, 0.2, 1.0])
    # values: polygon holding the centre; points: mean of those inside the cell
    zones = gpd.GeoDataFrame(
        {"rent": [10.0, 30.0]},
        geometry=[box(0, 0, 120, 100), box(120, 0, 300, 100)],
        crs="EPSG:32651",
    )
    got = values_on_cells(cells, FactorLayer("rent", "value", zones, "rent"))
    assert got.tolist() == [10.0, 30.0, 30.0]
    sample = gpd.GeoDataFrame(
        {"v": [1.0, 3.0, 7.0]},
        geometry=[Point(10, 10), Point(90, 90), Point(250, 50)],
        crs="EPSG:32651",
    )
    got = values_on_cells(cells, FactorLayer("v", "value", sample, "v"))
    assert got[0] == 2.0 and np.isnan(got[1]) and got[2] == 7.0


def test_recipe_step_records_a_failure_with_its_reason() -> None:
    est = gpd.GeoDataFrame(
        {"is_creative": [True, True, False]},
        geometry=[Point(0, 0), Point(1, 1), Point(5, 5)],
        crs="EPSG:32651",
    )
    step = recipe_step(est, window=box(-10, -10, 10, 10))
    for part in ("nearest_neighbour", "ellipse", "kernel_density", "moran", "geodetector"):
        assert step.summary[part]["status"].startswith("failed: "), part
    assert not step.tables


def test_study_toml_methods_section_and_factors_path(tmp_path: Path) -> None:
    from clusterscape.measure.recipe import study_methods
    from clusterscape.study.run import StudyConfig

    (tmp_path / "sub").mkdir()
    toml = tmp_path / "sub" / "study.toml"
    toml.write_text(
        '[study]\nfactors = "stations.geojson"\n[methods]\ncell_m = 750\npermutations = 99\n',
        encoding="utf-8",
    )
    cfg = StudyConfig.from_toml(toml)
    assert cfg.factors == str((tmp_path / "sub" / "stations.geojson").resolve())
    assert dict(cfg.methods) == {"cell_m": 750, "permutations": 99}
    est = gpd.GeoDataFrame(
        {"is_creative": [True] * 3},
        geometry=[Point(0, 0), Point(1, 1), Point(5, 5)],
        crs="EPSG:32651",
    )
    with pytest.raises(InvalidInputError, match=r"\[methods\]: unknown option"):
        study_methods(est, window=box(-10, -10, 10, 10), cel_m=500)
