"""The saved study (clusterscape.results): round trip, strict JSON, detect's clusters.csv = run's."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box
from typer.testing import CliRunner

from clusterscape import results
from clusterscape.cli import app
from clusterscape.errors import InvalidInputError
from clusterscape.study.run import StudyConfig, StudyResult


def _strict_loads(text: str) -> object:
    """json.loads that refuses NaN, Infinity and -Infinity (RFC 8259 JSON)."""

    def refuse(token: str) -> None:
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _result() -> StudyResult:
    """A study in memory with the awkward values a run produces."""
    rng = np.random.default_rng(4)
    est = gpd.GeoDataFrame(
        {
            "id": [f"f{i}" for i in range(40)],
            "sector": rng.choice(["design", "media"], 40),
            "is_creative": rng.random(40) < 0.5,
            "employees": rng.integers(1, 90, 40).astype(float),
            "cluster": rng.integers(-1, 2, 40),
        },
        geometry=gpd.points_from_xy(121.5 + rng.random(40) * 0.1, 29.8 + rng.random(40) * 0.1),
        crs="EPSG:4326",
    )
    # A layer in a metric CRS (as some steps hand them over): stored in WGS-84.
    clusters = gpd.GeoDataFrame(
        {"form": ["new_park", "converted_industrial"], "evidence": [["a", "b"], {"k": 1.5}]},
        geometry=[box(0, 0, 500, 400), box(1000, 1000, 1300, 1600)],
        crs="EPSG:32651",
    ).to_crs("EPSG:32651")
    clusters.index = pd.RangeIndex(2, name="cluster_id")
    table = pd.DataFrame(
        {
            "cluster_id": [0, 1],
            "n_establishments": [120, 80],
            "employees": [900.5, np.nan],
            "district": ["海曙 Haishu", "Yinzhou"],
            "significant": [True, False],
        }
    )
    summary = {
        "synthetic": False,
        "input": {"n_rows": np.int64(41), "n_accepted": 40, "n_rejected": 1},
        "crs": {"source": "wgs84", "metric": "EPSG:32651"},
        "detect": {"eps_m": None, "alpha": np.float64(0.05), "ratio": float("inf")},
        "large_scale": {"zipf_se": float("nan"), "flags": (np.bool_(True), False)},
    }
    return StudyResult(
        config=StudyConfig(),
        synthetic=False,
        establishments=est,
        rejected=pd.DataFrame({"row": [7], "id": ["f7"], "reason": ["latitude 95.0"]}),
        summary=summary,
        layers={
            "establishments": est,
            "clusters": clusters,
            "centres": gpd.GeoDataFrame(
                {"rank": [1]}, geometry=[Point(121.55, 29.87)], crs="EPSG:4326"
            ),
            "empty": gpd.GeoDataFrame({"x": []}, geometry=[], crs="EPSG:4326"),
        },
        tables={"clusters": table, "concentration": pd.DataFrame({"p": [0.01, np.nan]})},
    )


def test_write_then_load_gives_back_the_study(tmp_path: Path) -> None:
    result = _result()
    out = results.write_study(result, tmp_path / "out", report=False)
    assert out.is_symlink()  # the atomic writer's link to a complete run directory
    study = results.load_study(out)
    # Summary: the same values, NaN/inf as None, numpy scalars as Python ones.
    expected = {
        "synthetic": False,
        "input": {"n_rows": 41, "n_accepted": 40, "n_rejected": 1},
        "crs": {"source": "wgs84", "metric": "EPSG:32651"},
        "detect": {"eps_m": None, "alpha": 0.05, "ratio": None},
        "large_scale": {"zipf_se": None, "flags": [True, False]},
    }
    assert study.summary == expected
    assert type(study.summary["input"]["n_rows"]) is int
    # Tables: equal frames, dtypes included.
    pd.testing.assert_frame_equal(study.clusters, result.tables["clusters"])
    pd.testing.assert_frame_equal(study.table("concentration"), result.tables["concentration"])
    pd.testing.assert_frame_equal(study.rejected, result.rejected)
    assert study.table_names == ("clusters", "concentration", "rejected")
    assert set(study.tables) == {"clusters", "concentration", "rejected"}
    assert study.notes is None and study.table("no_such_table") is None
    # Layers: every non-empty layer, in WGS-84, same attributes and geometry.
    assert set(study.layer_names) == {"establishments", "clusters", "centres"}
    assert study.layer("empty") is None and study.zones is None
    est = study.establishments
    assert est is not None and est.crs.to_epsg() == 4326
    original = result.layers["establishments"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(est.drop(columns="geometry")),
        pd.DataFrame(original.drop(columns="geometry")),
    )
    assert est.geometry.geom_equals_exact(original.geometry, tolerance=1e-12).all()
    footprints = study.footprints
    assert footprints is not None and footprints.crs.to_epsg() == 4326
    assert gpd.read_file(out / "results.gpkg", layer="clusters").crs.to_epsg() == 4326  # stored
    back = footprints.to_crs("EPSG:32651")
    assert back.geometry.geom_equals_exact(
        result.layers["clusters"].geometry.reset_index(drop=True), tolerance=1e-6
    ).all()
    assert footprints["cluster_id"].tolist() == [0, 1]
    # Lists and dicts in a layer are stored as strict JSON text.
    assert [json.loads(v) for v in footprints["evidence"]] == [["a", "b"], {"k": 1.5}]
    assert study.centres is not None and study.centres["rank"].tolist() == [1]
    assert study.figures == ()


def test_summary_json_is_strict_json_when_values_are_nan(tmp_path: Path) -> None:
    out = results.write_study(_result(), tmp_path / "out", report=False)
    text = (out / "summary.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    data = _strict_loads(text)
    assert data["large_scale"]["zipf_se"] is None  # type: ignore[index]
    assert _strict_loads(results.dumps_json({"a": [np.nan, -np.inf, np.float32(1.5)]})) == {
        "a": [None, None, 1.5]
    }
    with pytest.raises(ValueError, match="strict"):
        _strict_loads('{"a": NaN}')  # the check itself rejects what json.dumps allows


def test_dashboard_serves_strict_json_from_an_old_summary_with_nan(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from clusterscape.web import create_app

    out = results.write_study(_result(), tmp_path / "out", report=False)
    # An older writer left bare NaN / Infinity tokens in the files.
    (out / "summary.json").write_text('{"synthetic": false, "a": NaN, "b": [Infinity, 1.0]}')
    pd.DataFrame({"cluster_id": [0], "x": [np.inf], "y": [np.nan]}).to_csv(
        out / "clusters.csv", index=False
    )
    client = TestClient(create_app(out, allowed_hosts=["testserver"]))
    summary = client.get("/api/summary")
    assert summary.status_code == 200
    assert _strict_loads(summary.text) == {"synthetic": False, "a": None, "b": [None, 1.0]}
    clusters = client.get("/api/clusters")
    assert clusters.status_code == 200
    assert _strict_loads(clusters.text) == [{"cluster_id": 0, "x": None, "y": None}]
    # The report reads the same summary through the same loader.
    assert results.load_study(out).summary == {"synthetic": False, "a": None, "b": [None, 1.0]}


def test_damaged_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"has no summary\.json"):
        results.load_study(tmp_path)
    (tmp_path / "summary.json").write_text("[]")
    with pytest.raises(results.DamagedFileError, match=r"summary\.json is damaged"):
        results.load_study(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "clusters.csv").write_bytes(b'a,"b\n1,2\n')
    study = results.load_study(tmp_path, caller="serve")
    with pytest.raises(results.DamagedFileError, match=r"^serve: .*clusters\.csv is damaged"):
        study.table("clusters")
    (tmp_path / "results.gpkg").write_bytes(b"SQLite format 3\x00" + b"\x01" * 4000)
    with pytest.raises(results.DamagedFileError) as err:
        results.load_study(tmp_path)
    assert err.value.path.name == "results.gpkg" and "\n" not in err.value.reason


def test_every_file_a_run_writes_is_in_the_contract(tmp_path: Path) -> None:
    import fnmatch

    out = results.write_study(_result(), tmp_path / "out", report=False)
    patterns = [f.name.replace("{amenity}", "*").replace("{city}", "*") for f in results.FILES]
    for path in Path(out).iterdir():
        assert any(fnmatch.fnmatch(path.name, p) for p in patterns), path.name
    required = [f.name for f in results.FILES if f.required]
    assert required == ["summary.json"]
    clusters = next(f for f in results.FILES if f.name == "clusters.csv")
    assert clusters.columns == results.CLUSTER_COLUMNS


def _city(path: Path) -> Path:
    """600 firms near Ningbo: two dense creative clusters, scattered creative and other firms."""
    rng = np.random.default_rng(11)
    rows = []
    for k, (cx, cy) in enumerate([(121.55, 29.87), (121.60, 29.90)]):
        for i in range(90):
            rows.append((f"D{k}{i}", f"设计工作室{k}{i}", "7251", cx + rng.normal(0, 0.0015),
                         cy + rng.normal(0, 0.0015), "design"))  # fmt: skip
    while len(rows) < 600:
        i = len(rows)
        creative = i % 5 == 0
        rows.append((f"S{i}", f"{'广告' if creative else '超市'}{i}", "7251" if creative else "5211",
                     121.45 + rng.random() * 0.25, 29.80 + rng.random() * 0.15,
                     "design" if creative else "retail"))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["id", "name", "code", "lon", "lat", "kind"])
    frame["employees"] = rng.integers(1, 60, len(frame))
    frame.to_csv(path, index=False)
    return path


def test_detect_command_writes_the_clusters_table_of_run(tmp_path: Path) -> None:
    src = _city(tmp_path / "firms.csv")
    run = CliRunner().invoke(
        app,
        ["run", "-e", str(src), "--out", str(tmp_path / "study"), "--quiet", "--seed", "2"],
    )
    assert run.exit_code == 0, run.output
    classified = tmp_path / "firms.parquet"
    step = CliRunner().invoke(app, ["classify", str(src), "--out", str(classified)])
    assert step.exit_code == 0, step.output
    step = CliRunner().invoke(app, ["detect", str(classified), "--out", str(tmp_path / "det")])
    assert step.exit_code == 0, step.output

    ran = pd.read_csv(tmp_path / "study" / "clusters.csv")
    det = pd.read_csv(tmp_path / "det" / "clusters.csv")
    assert len(det) == len(ran) >= 2
    # Same columns: detect writes exactly what run has after its detect step, in the same
    # order; run adds only the later steps' columns (form, urban context, opening year).
    assert list(det.columns[: len(results.CLUSTER_COLUMNS)]) == list(results.CLUSTER_COLUMNS)
    assert list(ran.columns[: len(det.columns)]) == list(det.columns)
    later = set(ran.columns[len(det.columns) :])
    assert {"form", "markusen", "opening_year"} <= later
    assert not later & set(det.columns)
    # The same clusters, counted the same way (n_establishments: every firm in the footprint).
    same = ["cluster_id", "n_establishments", "n_creative", "employees", "lon", "lat", "area_m2"]
    pd.testing.assert_frame_equal(det[same], ran[same])
    assert (det["n_establishments"] >= det["n_creative"]).all()
    assert (det["n_establishments"] > det["n_creative"]).any()
    assert (det["dominant_sector"] == ran["dominant_sector"]).all()
    # Layers in WGS-84, as in run's results.gpkg.
    for gpkg in (tmp_path / "det" / "clusters.gpkg", tmp_path / "study" / "results.gpkg"):
        layer = gpd.read_file(gpkg, layer="clusters")
        assert layer.crs.to_epsg() == 4326 and len(layer) == len(ran)
        # each footprint's bounding box holds its members' centroid (lon, lat in degrees)
        bounds = layer.set_index("cluster_id").geometry.bounds.loc[ran["cluster_id"]]
        assert (bounds["minx"].to_numpy() <= ran["lon"].to_numpy()).all()
        assert (ran["lon"].to_numpy() <= bounds["maxx"].to_numpy()).all()
        assert (bounds["miny"].to_numpy() <= ran["lat"].to_numpy()).all()
        assert (ran["lat"].to_numpy() <= bounds["maxy"].to_numpy()).all()
