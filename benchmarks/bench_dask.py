"""Dask engine at national scale: 20 million synthetic establishments in 300 synthetic cities.

Converted (GCJ-02 -> WGS-84), classified, gridded and profiled by ``profile_cities`` on a
LocalCluster with 2 workers; reports rows/s and the peak memory of all processes (target <= 8 GB).
Then the same graph runs unchanged against a scheduler address (a `dask scheduler` and two
`dask worker` processes started here on loopback) and must give the same comparison table.

Scale with CS_BENCH_ROWS (default 20_000_000). Run with `make bench`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROWS = int(os.environ.get("CS_BENCH_ROWS", "20000000"))
CITIES = 300
KINDS = np.array([
    "餐饮服务;中餐厅;中餐厅", "购物服务;便民商店/便利店;便利店", "住宿服务;宾馆酒店;四星级宾馆",
    "购物服务;商场;购物中心", "公司企业;公司;公司", "公司企业;公司;广告装饰", "科教文化服务;美术馆;美术馆",
    "商务住宅;住宅区;住宅小区", "生活服务;物流速递;物流速递", "政府机构及社会团体;政府机关;区县级政府及事业单位",
])  # fmt: skip
NAMES = np.array(
    ["文化传媒有限公司", "设计工作室", "餐厅", "便利店", "酒店", "科技有限公司", "物流公司", "小区"]
)


def make_national(root: Path, rows: int, *, chunk: int = 1_000_000, seed: int = 0) -> Path:
    """Write ``rows`` synthetic establishments in ``CITIES`` cities as Parquet chunks (GCJ-02)."""
    from clusterscape.coords import convert

    rng = np.random.default_rng(seed)
    centres_lon = rng.uniform(100.0, 122.0, CITIES)
    centres_lat = rng.uniform(22.0, 42.0, CITIES)
    weights = rng.pareto(1.2, CITIES) + 1.0
    weights /= weights.sum()
    root.mkdir(parents=True, exist_ok=True)
    done = 0
    part = 0
    while done < rows:
        n = min(chunk, rows - done)
        city = rng.choice(CITIES, n, p=weights)
        lon = centres_lon[city] + rng.normal(0, 0.08, n)
        lat = centres_lat[city] + rng.normal(0, 0.06, n)
        glon, glat = convert(lon, lat, src="wgs84", dst="gcj02")
        frame = pd.DataFrame({
            "id": np.char.add("r", np.arange(done, done + n).astype(str)),
            "name": NAMES[rng.integers(0, len(NAMES), n)],
            "category": KINDS[rng.integers(0, len(KINDS), n)],
            "lon": glon, "lat": glat,
            "employees": rng.integers(1, 200, n),
            "city": np.char.add("city", city.astype(str)),
        })  # fmt: skip
        frame.to_parquet(root / f"part-{part:04d}.parquet", index=False)
        done += n
        part += 1
    return root


class PeakRSS:
    """Sum of resident memory of this process and all its children, sampled every 0.2 s."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.bench
def test_national_scale(tmp_path_factory: pytest.TempPathFactory) -> None:
    from distributed import Client

    from clusterscape.study.dask import dask_client, profile_cities

    data = make_national(tmp_path_factory.mktemp("national") / "firms", ROWS)
    with PeakRSS() as mem, dask_client(n_workers=2, memory_limit="3.5GB") as client:
        t0 = time.perf_counter()
        local = profile_cities(data, datum="gcj02", client=client, clusters=False)
        wall = time.perf_counter() - t0
    rate = ROWS / wall
    lines = [
        "# Dask engine at national scale",
        "",
        f"{ROWS:,} synthetic establishments in {CITIES} cities (GCJ-02 Parquet, 1M-row chunks), "
        "LocalCluster with 2 workers x 1 thread, 3.5 GB memory limit each:",
        f"- convert + validate + classify + grid + profile: {wall:.1f} s, {rate:,.0f} rows/s",
        f"- peak resident memory of all processes: {mem.peak / 1024**3:.2f} GB (target <= 8 GB)",
        f"- cities profiled: {len(local.comparison)}",
    ]
    # The same graph against a scheduler address: dask scheduler + 2 workers on loopback.
    subset = tmp_path_factory.mktemp("subset")
    for p in sorted(data.glob("*.parquet"))[:1]:
        shutil.copy(p, subset / p.name)
    bindir = Path(sys.executable).parent
    port = 8786 + os.getpid() % 1000
    procs = [
        subprocess.Popen(
            [
                str(bindir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    time.sleep(3)
    address = f"tcp://127.0.0.1:{port}"
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [str(bindir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        with Client(address, timeout=60) as remote:
            remote.wait_for_workers(2, timeout=60)
            t0 = time.perf_counter()
            far = profile_cities(subset, datum="gcj02", client=remote, clusters=False)
            wall_remote = time.perf_counter() - t0
        with dask_client(n_workers=2) as client:
            near = profile_cities(subset, datum="gcj02", client=client, clusters=False)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    pd.testing.assert_frame_equal(far.comparison, near.comparison)
    lines.append(
        f"- the same graph on a scheduler address ({address}, 2 `dask worker` processes) for one 1M-row chunk: "
        f"{wall_remote:.1f} s, comparison table identical to the LocalCluster's"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).parent / "results").mkdir(exist_ok=True)
    (Path(__file__).parent / "results" / "dask.md").write_text(text, encoding="utf-8")
    assert mem.peak < 8 * 1024**3
