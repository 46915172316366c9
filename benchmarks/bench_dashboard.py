"""The dashboard's establishments layer at 10^5 and 10^6 points (issue 25).

Per size: the cold build of ``/api/establishments`` (read the six page columns from the
GeoPackage, encode, gzip; in process), its size raw and gzip, a warm request, and — when Debian
chromium is present — the page in headless Chromium from navigation to its first idle map
with every point loaded into the MapLibre clustered source, then one year-slider step.

Run: ``.venv/bin/python -m pytest benchmarks/bench_dashboard.py -m bench -s``
(``CLUSTERSCAPE_BENCH_SIZES=100000`` to run one size).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.bench

SIZES = [int(s) for s in os.environ.get("CLUSTERSCAPE_BENCH_SIZES", "100000,1000000").split(",")]
CHROMIUM = shutil.which("chromium")


def _study(root: Path, n: int) -> Path:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from clusterscape import results
    from study_fixture import make_study_dir

    make_study_dir(root)
    rng = np.random.default_rng(0)
    opened = rng.integers(1995, 2021, n)
    closed = np.where(rng.random(n) < 0.3, opened + rng.integers(1, 10, n), -1)
    est = gpd.GeoDataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "name": [f"Firm {i}" for i in range(n)],
            "opened": pd.array(opened, dtype="Int64"),
            "closed": pd.array(np.where(closed > 2020, -1, closed), dtype="Int64").astype("Int64"),
            "sector": rng.choice(["design", "software_digital", "media", "art", ""], n),
            "function": rng.choice(
                ["creative", "other", "hotel", "mall"], n, p=[0.4, 0.59, 0.005, 0.005]
            ),
            "is_creative": rng.random(n) < 0.4,
            "cluster": rng.integers(-1, 2, n),
        },
        geometry=gpd.points_from_xy(rng.uniform(121.3, 121.9, n), rng.uniform(29.6, 30.1, n)),
        crs="EPSG:4326",
    )
    est.loc[est["closed"] < 0, "closed"] = pd.NA
    layers = {
        name: results.read_layer_page(root / results.GPKG, name)
        for name in ("clusters", "districts", "centres")
    }
    (root / results.GPKG).unlink()
    results._write_layers({**layers, "establishments": est}, root / results.GPKG)
    return root


@pytest.mark.parametrize("n", SIZES)
def test_establishments_layer_at_scale(tmp_path: Path, n: int) -> None:
    from clusterscape.web import create_app

    root = _study(tmp_path / "study", n)
    app = create_app(root)
    client = TestClient(app, base_url="http://127.0.0.1")
    t0 = time.perf_counter()
    response = client.get("/api/establishments", headers={"accept-encoding": "gzip"})
    cold = time.perf_counter() - t0
    body = response.content  # httpx has decoded it
    zipped = len(gzip.compress(body, compresslevel=5, mtime=0))
    t0 = time.perf_counter()
    client.get("/api/establishments", headers={"accept-encoding": "gzip"})
    warm = time.perf_counter() - t0
    print(
        f"\n[{n:,} points] cold build {cold:.2f} s; warm {warm * 1000:.0f} ms; "
        f"{len(body) / 1e6:.1f} MB raw, {zipped / 1e6:.1f} MB gzip"
    )
    assert response.json()["n"] == n
    if CHROMIUM is None:
        return
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from test_web import CHROMIUM_ARGS, serve_app

    with serve_app(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(f"{url}/#basemap=blank")
        while not page.evaluate("!!(window.__clusterscape && window.__clusterscape.ready)"):
            assert time.perf_counter() - t0 < 600
            page.wait_for_timeout(200)
        ready = time.perf_counter() - t0
        page.check("#use-time")
        t0 = time.perf_counter()
        page.evaluate(
            "(() => { const y = document.getElementById('year'); y.value = 2010;"
            " y.dispatchEvent(new Event('input')); })()"
        )
        js_step = time.perf_counter() - t0
        page.wait_for_timeout(50)
        loaded = "(() => { const m = window.__clusterscape.map;"
        loaded += " return m.isSourceLoaded('establishments') && m.loaded(); })()"
        while not page.evaluate(loaded):
            page.wait_for_timeout(100)
        step = time.perf_counter() - t0
        shown = page.evaluate("window.__clusterscape.counts.establishments")
        heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
        print(
            f"[{n:,} points] page ready (all points in the clustered source) {ready:.1f} s; "
            f"year step to 2010 ({shown:,} shown): filter {js_step:.1f} s, source re-clustered "
            f"{step:.1f} s; JS heap {heap / 1e6:.0f} MB"
        )
        assert errors == []
        browser.close()
