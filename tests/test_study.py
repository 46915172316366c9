"""The whole pipeline: the built-in Ningbo study, a user's study in another city and datum, atomic writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from clusterscape.coords import convert
from clusterscape.datasets import ningbo
from clusterscape.results import write_study
from clusterscape.study.run import StudyConfig, run_study

CLUSTER_COLUMNS = [
    "cluster_id",
    "n_establishments",
    "n_creative",
    "employees",
    "lon",
    "lat",
    "area_m2",
    "district",
]
ANCHORS = {  # WGS-84, from the issue (facts with sources in the package data)
    "Hefeng Creative Square": (121.566486, 29.886929),
    "Chuangxin 128": (121.602225, 29.812901),
    "Chuang E Hui Gu": (121.607377, 29.918726),
}


@pytest.fixture(scope="module")
def ningbo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("ningbo") / "out"
    result = run_study(StudyConfig(seed=0))
    write_study(result, out)
    return out, result


def test_summary_contract(ningbo_run: tuple[Path, object]) -> None:
    out, _ = ningbo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["synthetic"] is True
    assert set(summary["input"]) >= {"n_rows", "n_accepted", "n_rejected"}
    assert summary["input"]["n_accepted"] > 100_000
    assert summary["crs"] == {"source": "wgs84", "metric": "EPSG:32651"}
    assert summary["clusters"] >= 3
    for section in (
        "classify",
        "detect",
        "measure",
        "typology",
        "functional_zones",
        "centres",
        "effects",
    ):
        assert section in summary, section
    assert {e["amenity"] for e in summary["effects"]} >= {"hotel", "mall"}
    for centre in summary["centres"]:
        assert set(centre) >= {"lon", "lat", "kind", "rank", "n_establishments"}


def test_clusters_at_the_real_anchors(ningbo_run: tuple[Path, object]) -> None:
    out, _ = ningbo_run
    table = pd.read_csv(out / "clusters.csv")
    assert list(table.columns[: len(CLUSTER_COLUMNS)]) == CLUSTER_COLUMNS
    assert {"form", "form_confidence", "markusen", "evidence"} <= set(table.columns)
    footprints = gpd.read_file(out / "results.gpkg", layer="clusters").to_crs("EPSG:32651")
    for name, (lon, lat) in ANCHORS.items():
        anchor = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326").to_crs("EPSG:32651").iloc[0]
        assert footprints.distance(anchor).min() < 300, f"no cluster within 300 m of {name}"


def test_outputs_on_disk(ningbo_run: tuple[Path, object]) -> None:
    out, _ = ningbo_run
    layers = {name for name, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert {"establishments", "clusters", "districts", "functional_zones", "centres"} <= layers
    for name in ("rejected.csv", "concentration.csv", "effects.csv", "report.html"):
        assert (out / name).is_file(), name
    assert any((out / "figures").glob("*.png"))
    conc = pd.read_csv(out / "concentration.csv")
    assert {"statistic", "null", "verdict"} <= set(conc.columns)
    assert set(conc["verdict"]) <= {"clustered", "dispersed", "no departure"}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in report
    for section in (
        "minute",
        "data",
        "economy",
        "clusters",
        "concentration",
        "urban",
        "effects",
        "hotspots",
        "methods",
    ):
        assert f'id="{section}"' in report, section
    # Self-contained: nothing from the network, every figure inlined.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", report)
    assert report.count("data:image/png;base64,") >= 6
    # The cards name the planted parks and their forms, with evidence.
    for name in ("和丰创意广场", "创新128", "创e慧谷"):
        assert name in report, name
    assert "converted_industrial" in report and "new_park" in report


def test_planted_forms_recovered(ningbo_run: tuple[Path, object]) -> None:
    """Each planted cluster's footprint holds a detected cluster typed with the planted form."""
    out, _ = ningbo_run
    truth = ningbo(seed=0).truth["clusters"].to_crs("EPSG:32651")
    table = pd.read_csv(out / "clusters.csv")
    centroids = gpd.GeoSeries(
        gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326"
    ).to_crs("EPSG:32651")
    recovered = 0
    for key, row in truth.iterrows():
        near = centroids.distance(row.geometry.centroid) < 600
        forms = set(table.loc[near.to_numpy(), "form"])
        recovered += row["form"] in forms
        print(key, row["form"], forms)
    assert recovered >= len(truth) - 1


def test_interrupted_write_keeps_previous_outputs(
    tmp_path: Path, ningbo_run: tuple[Path, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, result = ningbo_run
    out = tmp_path / "study"
    out.mkdir()
    (out / "summary.json").write_text('{"previous": true}', encoding="utf-8")

    import clusterscape.report as report

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_report", boom)
    with pytest.raises(KeyboardInterrupt):
        write_study(result, out)  # type: ignore[arg-type]
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == {"previous": True}
    # Nothing left behind but the (empty) runs directory that holds the writer's lock.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".study.runs", "study"]
    assert list((tmp_path / ".study.runs").iterdir()) == []


def _city_csv(path: Path, *, seed: int = 1) -> tuple[float, float]:
    """A small city near Hangzhou in GCJ-02, GBK-encoded with Chinese headers, with one planted cluster."""
    rng = np.random.default_rng(seed)
    centre = (120.155, 30.274)
    n_bg = 6000
    lon = centre[0] + rng.normal(0, 0.05, n_bg)
    lat = centre[1] + rng.normal(0, 0.04, n_bg)
    kinds = rng.choice(
        ["餐饮服务;中餐厅;中餐厅", "购物服务;便民商店/便利店;便利店", "公司企业;公司;公司"], n_bg
    )
    names = [f"杭州店铺{i}" for i in range(n_bg)]
    # Two planted creative clusters (the first is the one checked) and scattered creative firms.
    cl_lon, cl_lat = 120.20, 30.25
    n_cl = 150
    c_lon = np.concatenate(
        [
            cl_lon + rng.normal(0, 0.0015, n_cl),
            120.11 + rng.normal(0, 0.0015, 100),
            centre[0] + rng.normal(0, 0.05, 150),
        ]
    )
    c_lat = np.concatenate(
        [
            cl_lat + rng.normal(0, 0.0012, n_cl),
            30.30 + rng.normal(0, 0.0012, 100),
            centre[1] + rng.normal(0, 0.04, 150),
        ]
    )
    lon = np.concatenate([lon, c_lon])
    lat = np.concatenate([lat, c_lat])
    kinds = np.concatenate([kinds, np.repeat("公司企业;公司;广告装饰", len(c_lon))])
    names += [f"杭州创意广告设计有限公司{i}" for i in range(len(c_lon))]
    glon, glat = convert(lon, lat, src="wgs84", dst="gcj02")
    frame = pd.DataFrame(
        {
            "编号": [f"h{i}" for i in range(len(lon))],
            "名称": names,
            "类型": kinds,
            "经度": glon,
            "纬度": glat,
            "成立日期": rng.integers(2000, 2020, len(lon)).astype(str),
        }
    )
    frame.loc[3, "纬度"] = 95.0  # one bad row, rejected with its reason
    frame.to_csv(path, index=False, encoding="gbk")
    return cl_lon, cl_lat


def test_user_study_other_city_other_datum_via_cli(tmp_path: Path) -> None:
    src = tmp_path / "hangzhou_gcj02.csv"
    cl_lon, cl_lat = _city_csv(src)
    out = tmp_path / "out"
    exe = Path(sys.executable).parent / "clusterscape"
    proc = subprocess.run(
        [
            str(exe),
            "run",
            "--establishments",
            str(src),
            "--datum",
            "gcj02",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["synthetic"] is False
    assert summary["input"]["n_rejected"] == 1
    rejected = pd.read_csv(out / "rejected.csv")
    assert rejected["row"].tolist() == [4]
    # The median member of the nearest cluster sits on the planted WGS-84 centre; unconverted
    # GCJ-02 positions would be ~500 m off (METHODS.md §6).
    members = gpd.read_file(out / "results.gpkg", layer="establishments")
    members = members[members["cluster"] >= 0]
    med = members.groupby("cluster").geometry.apply(lambda g: (g.x.median(), g.y.median()))
    d = [np.hypot((x - cl_lon) * 96_000, (y - cl_lat) * 111_000) for x, y in med]
    assert min(d) < 100, (
        f"planted cluster not found at its WGS-84 position (nearest {min(d):.0f} m)"
    )


# --- the published-methods chain on the default run (issue: methods in the pipeline) ---------


def test_methods_tables_on_the_default_run(ningbo_run: tuple[Path, object]) -> None:
    out, _ = ningbo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    methods = summary["methods"]
    for part in ("nearest_neighbour", "ellipse", "kernel_density", "moran", "geodetector"):
        assert methods[part]["status"] == "done", (part, methods[part])
    # Planted clusters: creative firms are closer together than at random, and dense cells touch.
    ann = pd.read_csv(out / "nearest_neighbour.csv").iloc[0]
    assert ann["ratio"] < 0.8 and ann["p_value"] < 0.001 and ann["verdict"] == "clustered"
    assert ann["expected_m"] == pytest.approx(
        0.5 / np.sqrt(ann["n"] / (ann["area_km2"] * 1e6)), rel=1e-9
    )  # ArcGIS's expected mean distance, by hand
    mor = pd.read_csv(out / "moran.csv").iloc[0]
    assert mor["I"] > 0.1 and mor["z_norm"] > 10 and mor["p_sim"] <= 0.01
    # ellipses: one per year of the cumulative stock, ascending, growing counts
    path = pd.read_csv(out / "ellipse_path.csv")
    assert len(path) >= 10 and path["year"].is_monotonic_increasing
    assert path["n"].is_monotonic_increasing and path["n"].iloc[-1] == ann["n"]
    kde = pd.read_csv(out / "kernel_density.csv")
    assert (kde["density_per_km2"] > 0).all() and len(kde) > 100
    # GeoDetector: q in [0, 1] with p-values; the skipped factor is listed with its reason
    fac = pd.read_csv(out / "geodetector_factors.csv")
    used = fac[fac["status"] == "used"]
    assert {"dist_university_m", "dist_cbd_m", "dist_park_m", "firm_density_per_km2"} <= set(
        used["factor"]
    )
    assert used["q"].between(0, 1).all() and used["p_value"].between(0, 1).all()
    skipped = fac[fac["status"] == "skipped"].set_index("factor")
    assert "dist_transit_m" in skipped.index
    assert "no transit layer" in skipped.loc["dist_transit_m", "reason"]
    inter = pd.read_csv(out / "geodetector_interaction.csv")
    assert len(inter) == len(used) * (len(used) - 1) // 2
    assert (inter["q_interaction"] >= inter[["q_1", "q_2"]].min(axis=1) - 1e-12).all()
    layers = set(pyogrio.list_layers(out / "results.gpkg")[:, 0])
    assert {"lisa_cells", "ellipses", "ellipse_centres"} <= layers


def test_lisa_high_high_cells_hold_the_planted_anchors(ningbo_run: tuple[Path, object]) -> None:
    out, _ = ningbo_run
    cells = gpd.read_file(out / "results.gpkg", layer="lisa_cells")
    significant_own_cell = 0
    for name, (lon, lat) in ANCHORS.items():
        hit = cells[cells.contains(Point(lon, lat))]
        assert len(hit) == 1, name
        row, col = int(hit["row"].iloc[0]), int(hit["col"].iloc[0])
        assert hit["quadrant"].iloc[0] == "HH", name  # dense among dense neighbours
        ring = cells[(cells["row"] - row).abs().le(1) & (cells["col"] - col).abs().le(1)]
        assert (ring["label"] == "HH").sum() >= 5, name  # the park's neighbourhood is a cluster
        significant_own_cell += int(hit["label"].iloc[0] == "HH")
    # a park that fits in one cell (Chuangxin 128: 221 firms, neighbours 0-5) is a one-cell
    # spike whose own permutation p can miss 0.05; the larger parks' own cells are HH
    assert significant_own_cell >= 2


def test_moran_of_the_run_equals_esda_on_the_saved_cells(ningbo_run: tuple[Path, object]) -> None:
    """Independent check: esda's Moran's I with libpysal's queen weights built from the cells."""
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    out, _ = ningbo_run
    cells = gpd.read_file(out / "results.gpkg", layer="lisa_cells")
    cells_m = cells.to_crs("EPSG:32651")
    cell_m = float(pd.read_csv(out / "moran.csv").iloc[0]["cell_m"])
    # queen neighbours of a square lattice = centres within sqrt(2) cells (< 1.5 cells)
    xy = np.column_stack([cells_m.centroid.x, cells_m.centroid.y])
    w = libpysal.weights.DistanceBand(
        xy, threshold=1.5 * cell_m, binary=True, silence_warnings=True
    )
    w.transform = "r"
    ref = esda.Moran(cells_m["density_per_km2"].to_numpy(), w, permutations=0)
    mor = pd.read_csv(out / "moran.csv").iloc[0]
    assert mor["I"] == pytest.approx(ref.I, rel=1e-9)
    assert mor["z_norm"] == pytest.approx(ref.z_norm, rel=1e-6)


def test_report_has_the_methods_sections(ningbo_run: tuple[Path, object]) -> None:
    out, _ = ningbo_run
    text = (out / "report.html").read_text(encoding="utf-8")
    for anchor in ("recipe", "recipe-kde", "recipe-ellipse", "recipe-lisa", "recipe-geodetector"):
        assert f'id="{anchor}"' in text
    for title in ("Kernel density", "Ellipse path", "LISA cluster map", "Interaction matrix"):
        assert title in text
    for png in ("kernel_density.png", "ellipse_path.png", "lisa_map.png"):
        assert (out / "figures" / png).exists()
    # the sentences quote this run's numbers
    mor = pd.read_csv(out / "moran.csv").iloc[0]
    assert f"is {mor['I']:.3f} (expected" in text
    fac = pd.read_csv(out / "geodetector_factors.csv")
    top = fac[fac["status"] == "used"].sort_values("q", ascending=False).iloc[0]
    assert f"strongest factor is {top['factor']} (q = {top['q']:.3f}" in text
    assert "OpenStreetMap" in text and "GeoNames" in text  # attribution of the shipped layers


def test_lifecycle_finds_the_planted_history(ningbo_run: tuple[Path, object]) -> None:
    """Each event of the planted history (datasets/data/planted_history.toml) is found by the
    default run within 2 years and 800 m, and the outputs and the report carry it."""
    out, _ = ningbo_run
    events = pd.read_csv(out / "lifecycle_events.csv")
    assert list(events.columns) == [
        "year", "event", "track_id", "from_tracks", "to_tracks", "lon", "lat",
    ]  # fmt: skip
    table = pd.read_csv(out / "lifecycle.csv")
    assert list(table.columns[:7]) == [
        "track_id", "year", "cluster_id", "n_creative", "area_m2", "lon", "lat",
    ]  # fmt: skip
    history = ningbo(seed=0).truth["history"]
    assert set(history["kind"]) == {"birth", "merge", "split", "death"}
    metric = "EPSG:32651"
    for _, planted in history.iterrows():
        sel = events[
            (events["event"] == planted["kind"]) & ((events["year"] - planted["year"]).abs() <= 2)
        ]
        where = gpd.GeoSeries([Point(planted["lon"], planted["lat"])], crs=4326).to_crs(metric)
        pts = gpd.GeoSeries(gpd.points_from_xy(sel["lon"], sel["lat"]), crs=4326).to_crs(metric)
        assert len(sel) and float(pts.distance(where.iloc[0]).min()) <= 800.0, (
            planted.to_dict(),
            events.to_string(),
        )
    layers = {name for name, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert "lifecycle" in layers
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    block = summary["lifecycle"]
    assert block["status"] == "computed"
    assert block["events"]["merge"] >= 1 and block["events"]["death"] >= 1
    assert set(block["largest_per_year"]) >= {"2000", "2024"}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="lifecycle"' in report and "Clusters through time" in report
