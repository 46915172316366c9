"""Load test of the dashboard: `clusterscape serve` on 127.0.0.1, concurrency 8, bounded.

The server is the real CLI (``python -m clusterscape.cli serve``) in its own process, so its
resident memory (RSS) is measured alone. The study is ``$CLUSTERSCAPE_BENCH_STUDY`` (a
directory written by ``clusterscape run``) or, by default, the small test study plus a
300,000-point ``establishments`` layer (the heavy layer of issue 20).

Phases: 8 concurrent *cold* requests for the first page of the establishments layer (single
flight: built once); then rounds of ``N_REQUESTS`` requests at concurrency ``CONCURRENCY``
over every route (all pages of the big layer, figures, static files). Reported: p50, p99 and
max latency, errors (any non-2xx/304 status or exception), server RSS before and after each
round. Targets (issue 20): p99 under 1 s warm, RSS flat, zero errors.

Run: ``.venv/bin/python -m pytest benchmarks/bench_web.py -m bench -s``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import psutil
import pytest

pytestmark = pytest.mark.bench

N_REQUESTS = 2000
CONCURRENCY = 8
N_POINTS = 300_000
ROUNDS = 3
TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("CLUSTERSCAPE_BENCH_STUDY")
    if given:
        return Path(given)
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from study_fixture import make_study_dir

    root = make_study_dir(tmp_path_factory.mktemp("web") / "study")
    rng = np.random.default_rng(0)
    est = gpd.GeoDataFrame(
        {
            "id": [f"F{i:07d}" for i in range(N_POINTS)],
            "name": [f"宁波文创公司{i}" for i in range(N_POINTS)],
            "sector": rng.choice(["design", "software_digital", "media"], N_POINTS),
            "employees": rng.integers(1, 500, N_POINTS),
        },
        geometry=gpd.points_from_xy(
            rng.uniform(121.2, 121.9, N_POINTS), rng.uniform(29.6, 30.1, N_POINTS)
        ),
        crs="EPSG:4326",
    )
    est.to_file(root / "results.gpkg", layer="establishments", driver="GPKG", engine="pyogrio")
    return root


@pytest.fixture(scope="module")
def server(study: Path) -> Iterator[tuple[str, psutil.Process]]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterscape.cli", "serve", str(study), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/api/config", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)
    try:
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _rss_mb(proc: psutil.Process) -> float:
    return float(proc.memory_info().rss) / 2**20


def _urls(base: str) -> list[str]:
    with httpx.Client(timeout=TIMEOUT_S) as client:
        layers = client.get(base + "/api/layers").json()
        figures = client.get(base + "/api/figures").json()
        urls = [
            base + p
            for p in (
                "/",
                "/api/summary",
                "/api/clusters",
                "/api/layers",
                "/api/figures",
                "/api/config",
                "/static/app.js",
                "/openapi.json",
            )
        ]
        urls += [f"{base}/figures/{name}" for name in figures]
        for name in layers:
            page = client.get(f"{base}/api/layers/{name}").json()
            urls.append(f"{base}/api/layers/{name}")
            while page.get("next"):
                urls.append(base + page["next"])
                page = client.get(base + page["next"]).json()
    return urls


def _round(urls: list[str], n: int) -> tuple[np.ndarray, int, list[str]]:
    """``n`` requests cycling over ``urls`` at concurrency 8: latencies (s), errors, examples."""
    local = threading.local()
    errors: list[str] = []
    clients: list[httpx.Client] = []

    def one(i: int) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=TIMEOUT_S)
            clients.append(client)
        url = urls[i % len(urls)]
        t0 = time.perf_counter()
        try:
            r = client.get(url)
            _ = r.content
            if r.status_code >= 400:
                errors.append(f"{r.status_code} {url}")
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__} {url}")
        return time.perf_counter() - t0

    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            lat = np.array(list(pool.map(one, range(n))))
    finally:
        for client in clients:
            client.close()
    return lat, len(errors), errors[:5]


def test_dashboard_load(server: tuple[str, psutil.Process], load_note: str) -> None:
    base, proc = server
    rss_start = _rss_mb(proc)
    # Eight concurrent cold requests for the heavy layer's first page.
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        cold = list(
            pool.map(
                lambda _: httpx.get(f"{base}/api/layers/establishments", timeout=120), range(8)
            )
        )
    cold_s = time.perf_counter() - t0
    assert all(r.status_code == 200 for r in cold)
    n_page = cold[0].json()["numberReturned"]
    print(f"\n{load_note}")
    print(
        f"cold: 8 concurrent first-page requests ({n_page} features, "
        f"{len(cold[0].content) / 2**20:.1f} MB) in {cold_s:.2f} s; "
        f"RSS {rss_start:.0f} -> {_rss_mb(proc):.0f} MB"
    )
    urls = _urls(base)
    print(f"{len(urls)} distinct URLs (every page of every layer, figures, static, API)")
    _round(urls, len(urls) * 2)  # warm-up: every URL built once
    total_errors = 0
    for k in range(ROUNDS):
        before = _rss_mb(proc)
        t0 = time.perf_counter()
        lat, n_err, examples = _round(urls, N_REQUESTS)
        wall = time.perf_counter() - t0
        after = _rss_mb(proc)
        total_errors += n_err
        print(
            f"round {k + 1}: {N_REQUESTS} requests, concurrency {CONCURRENCY}, {wall:.1f} s "
            f"({N_REQUESTS / wall:.0f} req/s); p50 {np.percentile(lat, 50) * 1000:.1f} ms, "
            f"p99 {np.percentile(lat, 99) * 1000:.1f} ms, max {lat.max() * 1000:.1f} ms; "
            f"errors {n_err} {examples}; RSS {before:.0f} -> {after:.0f} MB"
        )
    assert total_errors == 0
