"""read_establishments on a 1-million-row Chinese-header CSV vs plain pandas/geopandas.

The peer is what a user would write by hand: ``pd.read_csv`` (C engine, and the pyarrow
engine) plus ``gpd.points_from_xy``, which does no validation, no datum conversion and no
header mapping. Target (issue 2): under 15 s for 1 million rows.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from clusterscape.io import read_establishments

pytestmark = pytest.mark.bench

N = 1_000_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    days = pd.to_datetime(rng.integers(0, 15000, N), unit="D", origin="1990-01-01")
    frame = pd.DataFrame(
        {
            "编号": [f"F{i:07d}" for i in range(N)],
            "名称": np.char.add("宁波文创公司", np.arange(N).astype(str)),
            "类型": rng.choice(["科教文化服务;美术馆;美术馆", "公司企业;公司;公司"], N),
            "行业代码": rng.choice(["7491", "6513", "8710"], N),
            "经度": np.round(rng.uniform(121.2, 121.9, N), 6),
            "纬度": np.round(rng.uniform(29.6, 30.1, N), 6),
            "成立日期": days.strftime("%Y-%m-%d"),
            "从业人员": rng.integers(1, 500, N),
        }
    )
    # 0.1 % bad rows, so the rejection path is exercised at scale
    bad = rng.choice(N, N // 1000, replace=False)
    frame["经度"] = frame["经度"].astype(object)
    frame.loc[bad, "经度"] = ""
    p = tmp_path_factory.mktemp("bench") / "firms_1m.csv"
    frame.to_csv(p, index=False)
    return p


def plain(path: Path, engine: str) -> gpd.GeoDataFrame:
    d = pd.read_csv(path, engine=engine)
    return gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["经度"], d["纬度"]), crs=4326)


def test_bench_read_establishments(big_csv: Path, load_note: str, timed) -> None:
    ours = timed(read_establishments, big_csv, crs="gcj02", repeat=2)
    c_engine = timed(plain, big_csv, "c", repeat=2)
    arrow_engine = timed(plain, big_csv, "pyarrow", repeat=2)
    res = read_establishments(big_csv, crs="gcj02")
    assert len(res.establishments) == N - N // 1000 and len(res.rejected) == N // 1000
    print(
        f"\nread_establishments 1M rows (GCJ-02 -> WGS-84, validation): wall {ours[0]:.2f} s, "
        f"CPU {ours[1]:.2f} s; pandas C engine + points: wall {c_engine[0]:.2f} s, CPU "
        f"{c_engine[1]:.2f} s (wall ratio {ours[0] / c_engine[0]:.2f}); pandas pyarrow engine + "
        f"points: wall {arrow_engine[0]:.2f} s, CPU {arrow_engine[1]:.2f} s (wall ratio "
        f"{ours[0] / arrow_engine[0]:.2f}); {load_note}"
    )
