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

from clusterscape.io.establishments import read_establishments

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
    ours = timed(read_establishments, big_csv, datum="gcj02", repeat=2)
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


# --- issue 19: 2 M rows with one ragged row, `clusterscape validate` in a fresh process -----

N2 = 2_000_000


def write_2m_ragged(path: Path) -> None:
    """2 M rows as bench_io's 1 M file, written in chunks; row 1,000,000 has a stray field."""
    rng = np.random.default_rng(1)
    step = 250_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("编号,名称,类型,行业代码,经度,纬度,成立日期,从业人员\n")
        for start in range(0, N2, step):
            i = np.arange(start, start + step)
            days = pd.to_datetime(rng.integers(0, 15000, step), unit="D", origin="1990-01-01")
            chunk = pd.DataFrame(
                {
                    "编号": np.char.add("F", i.astype(str)),
                    "名称": np.char.add("宁波文创公司", i.astype(str)),
                    "类型": rng.choice(["科教文化服务;美术馆;美术馆", "公司企业;公司;公司"], step),
                    "行业代码": rng.choice(["7491", "6513", "8710"], step),
                    "经度": np.round(rng.uniform(121.2, 121.9, step), 6),
                    "纬度": np.round(rng.uniform(29.6, 30.1, step), 6),
                    "成立日期": days.strftime("%Y-%m-%d"),
                    "从业人员": rng.integers(1, 500, step),
                }
            )
            text = chunk.to_csv(index=False, header=False)
            if start < N2 // 2 <= start + step:  # one ragged row in the middle
                lines = text.split("\n")
                lines[N2 // 2 - start - 1] += ",stray"
                text = "\n".join(lines)
            fh.write(text)


def _fresh_validate(path: Path, out: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of `clusterscape validate` in a fresh Python process."""
    import subprocess
    import sys
    import time

    code = (
        "import resource, sys\n"
        "from clusterscape.cli import app\n"
        "try:\n"
        "    app([sys.argv[1], '--datum', 'gcj02', '--out', sys.argv[2]], standalone_mode=False)\n"
        "finally:\n"
        "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    print('MAXRSS_KB', u.ru_maxrss, 'CPU_S', u.ru_utime + u.ru_stime)\n"
    )
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code.replace("[sys.argv[1],", "['validate', sys.argv[1],"),
         str(path), str(out)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    fields = done.stdout.rsplit("MAXRSS_KB", 1)[1].split()
    return wall, float(fields[2]), int(fields[0]) / 1024, done.stdout


def test_bench_validate_2m_rows_one_ragged(tmp_path: Path, load_note: str) -> None:
    path = tmp_path / "firms_2m_ragged.csv"
    write_2m_ragged(path)
    size_mb = path.stat().st_size / 1e6
    wall, cpu, rss, stdout = _fresh_validate(path, tmp_path / "out")
    rejected = pd.read_csv(tmp_path / "out" / "rejected.csv")
    assert rejected["row"].tolist() == [N2 // 2]
    assert "line 1000001 has 9 fields" in rejected["reason"].iloc[0]
    text = " ".join(stdout.split())
    assert f"rows read │ {N2:,}" in text and f"accepted │ {N2 - 1:,}" in text
    print(
        f"\nvalidate 2M rows ({size_mb:.0f} MB, one ragged row), fresh process: wall {wall:.1f} s, "
        f"CPU {cpu:.1f} s, peak RSS {rss:.0f} MB (targets 15 s, 2048 MB); {load_note}"
    )
    assert wall < 60  # a sanity bound only; the figures are recorded in results/io.md
