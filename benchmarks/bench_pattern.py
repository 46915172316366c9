"""Benchmarks of clusterscape.measure.pattern against the peers, same seeded workloads, side by side.

Run: ``.venv/bin/pytest benchmarks/bench_pattern.py -m bench -s``. Each test prints our time,
the peer's time and the ratio; figures go to benchmarks/results/pattern.md by hand.
R spatstat is timed through Rscript when /usr/bin/Rscript has spatstat (never in CI tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from clusterscape.measure import pattern

pytestmark = pytest.mark.bench

R_OK = shutil.which("Rscript") is not None


def _time(f, *a, **k):
    t = time.perf_counter()
    out = f(*a, **k)
    return time.perf_counter() - t, out


def _rscript(code: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write("suppressPackageStartupMessages(library(spatstat))\n" + code)
    out = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def test_envelope_border_10k_vs_spatstat():
    n, nsim = 10_000, 99
    xy = np.random.default_rng(0).uniform(0, 1, (n, 2))
    r = np.linspace(0, 0.05, 20)
    pattern.envelope(xy[:500], box(0, 0, 1, 1), r, correction="border", nsim=2)  # compile
    t_ours = min(
        _time(
            pattern.envelope,
            xy,
            box(0, 0, 1, 1),
            r,
            fun="K",
            correction="border",
            nsim=nsim,
            seed=1,
        )[0]
        for _ in range(3)
    )
    print(
        f"\nK envelope border, n={n}, nsim={nsim}, 20 r up to 0.05: ours {t_ours:.2f} s (best of 3)"
        f"; load {os.getloadavg()}"
    )
    if R_OK:
        with tempfile.TemporaryDirectory() as d:
            np.savetxt(Path(d) / "p.csv", xy, delimiter=",")
            t_r = _rscript(
                f'p <- as.matrix(read.csv("{d}/p.csv", header=FALSE)); X <- ppp(p[,1], p[,2]);'
                " r <- seq(0, 0.05, length.out=20); set.seed(1);"
                " t <- system.time(envelope(X, Kest, correction='border', r=r, nsim=99,"
                " verbose=FALSE))[['elapsed']]; cat(t, '\\n')"
            )
        print(f"  R spatstat envelope(Kest, border): {t_r:.2f} s  -> ratio {t_r / t_ours:.1f}x")


def test_k_vs_pointpats():
    from pointpats import k_test

    n = 2000
    xy = np.random.default_rng(1).uniform(0, 1, (n, 2))
    r = np.linspace(0.001, 0.05, 20)
    pattern.envelope(xy[:300], box(0, 0, 1, 1), r, nsim=2, correction="none")
    t_ours, _ = _time(
        pattern.envelope, xy, box(0, 0, 1, 1), r, fun="K", correction="none", nsim=99, seed=0
    )
    t_pp, _ = _time(k_test, xy, support=r, keep_simulations=False, n_simulations=99)
    print(
        f"\nK + 99 CSR sims, n={n}: ours {t_ours:.2f} s, pointpats k_test {t_pp:.2f} s"
        f" -> ratio {t_pp / t_ours:.1f}x"
    )


@pytest.mark.skipif(
    not os.environ.get("CLUSTERSCAPE_BENCH_HEAVY"),
    reason="pointpats at 10,000 points needs ~75 s and ~1.6 GB; set CLUSTERSCAPE_BENCH_HEAVY=1",
)
def test_k_vs_pointpats_10k():
    from pointpats import k_test

    n = 10_000
    xy = np.random.default_rng(1).uniform(0, 1, (n, 2))
    r = np.linspace(0.001, 0.05, 20)
    pattern.envelope(xy[:300], box(0, 0, 1, 1), r, nsim=2, correction="none")
    best = min(
        _time(
            pattern.envelope, xy, box(0, 0, 1, 1), r, fun="K", correction="none", nsim=99, seed=0
        )[0]
        for _ in range(3)
    )
    t_pp, _ = _time(k_test, xy, support=r, keep_simulations=False, n_simulations=99)
    print(
        f"\nK + 99 CSR sims, n={n}: ours {best:.2f} s (best of 3), pointpats k_test {t_pp:.2f} s"
        f" -> ratio {t_pp / best:.1f}x; load {os.getloadavg()}"
    )


def test_k_fft_1m():
    n = 1_000_000
    xy = np.random.default_rng(4).uniform(0, 1, (n, 2))
    r = np.linspace(0, 0.05, 21)
    win = box(0, 0, 1, 1)
    pattern.envelope(xy[:2000], win, r, method="fft", nsim=2)  # compile
    t_k = min(_time(pattern.k_function, xy, win, r, method="fft")[0] for _ in range(3))
    t_l = min(_time(pattern.l_function, xy, win, r, method="fft")[0] for _ in range(3))
    t_e = min(
        _time(pattern.envelope, xy, win, r, fun="L", method="fft", nsim=19, seed=0)[0]
        for _ in range(3)
    )
    print(
        f"\nFFT K, n={n:,}, 21 r to 0.05, default cell r/64 (1,280 x 1,280 pixels): K {t_k:.2f} s,"
        f" L {t_l:.2f} s, K/L + envelope nsim=19 {t_e:.2f} s (best of 3); load {os.getloadavg()}"
    )


def test_isotropic_in_ningbo_polygon_vs_spatstat():
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from _pattern_cases import DISTRICTS, ningbo_window, write_r_inputs

    if not DISTRICTS.exists():
        pytest.skip("no shared Ningbo data")
    win = ningbo_window()
    xy = pattern.simulate_csr(win, 2000, seed=3)[0]
    r = np.linspace(0, 1000, 20)
    pattern.k_function(xy[:100], win, r)
    t_ours, _ = _time(pattern.envelope, xy, win, r, correction="isotropic", nsim=99, seed=0)
    print(f"\nL envelope isotropic, Ningbo Jiangbei polygon, n=2000, nsim=99: ours {t_ours:.2f} s")
    if R_OK:
        with tempfile.TemporaryDirectory() as d:
            write_r_inputs(d)
            np.savetxt(Path(d) / "p.csv", xy, delimiter=",")
            t_r = _rscript(
                f'wv <- read.csv("{d}/ningbo_jiangbei_window.csv");'
                " W <- owin(poly=lapply(split(wv, wv$ring), function(d) list(x=d$x, y=d$y)));"
                f' p <- as.matrix(read.csv("{d}/p.csv", header=FALSE));'
                " X <- ppp(p[,1], p[,2], window=W); r <- seq(0, 1000, length.out=20);"
                " t <- system.time(envelope(X, Lest, correction='isotropic', r=r, nsim=99,"
                " verbose=FALSE))[['elapsed']]; cat(t, '\\n')"
            )
        print(f"  R spatstat envelope(Lest, isotropic): {t_r:.2f} s -> ratio {t_r / t_ours:.1f}x")


def _load() -> str:
    import os

    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _kd_population(rng):
    return np.vstack([rng.normal(25_000, 8_000, (70_000, 2)), rng.uniform(0, 50_000, (30_000, 2))])


def test_kd_envelope_5000_among_100k():
    rng = np.random.default_rng(2)
    pop = _kd_population(rng)
    cases = pop[rng.choice(len(pop), 5000, replace=False)]
    r = np.linspace(0, 10_000, 101)
    pattern.kd_envelope(cases[:300], pop, r, nsim=2, binned=True)  # compile
    pattern.kd_envelope(cases[:300], pop, r, nsim=2, grid=True)
    for nsim in (99, 999):
        t = min(
            _time(pattern.kd_envelope, cases, pop, r, nsim=nsim, seed=0, binned=True)[0]
            for _ in range(3 if nsim == 99 else 1)
        )
        print(
            f"\nKd envelope (grid), 5,000 cases among 100,000, {nsim} sims, r <= 10 km: "
            f"ours {t:.2f} s ({_load()}; dbmss KdEnvelope ~5 s per simulation per the issue "
            f"-> ~{5 * nsim / t:.0f}x)"
        )
    t, exact = _time(pattern.kd_envelope, cases, pop, r, nsim=99, seed=0, binned=True, grid=False)
    print(f"  exact distances linearly binned (grid=False), 99 sims: {t:.2f} s ({_load()})")
    grid = pattern.kd_envelope(cases, pop, r, nsim=99, seed=0, binned=True)
    err = np.abs(grid.kd - exact.kd)
    band = exact.hi_global - exact.lo_global
    print(
        f"  |grid - exact| / global band: max over r {np.max(err / band):.3f}, "
        f"max error / max band {err.max() / band.max():.3f}; "
        f"global band edges differ by at most {np.abs(grid.hi_global - exact.hi_global).max() / band.max():.3f} of the band"
    )


def test_kd_envelope_50000_among_100k():
    rng = np.random.default_rng(2)
    pop = _kd_population(rng)
    cases = pop[rng.choice(len(pop), 50_000, replace=False)]
    r = np.linspace(0, 10_000, 101)
    pattern.kd_envelope(cases[:300], pop, r, nsim=2, grid=True)  # compile
    t, res = _time(pattern.kd_envelope, cases, pop, r, nsim=99, seed=0)
    print(
        f"\nKd envelope (grid, cell {res.params['cell_m']:.0f} m, h {res.bandwidth_m:.0f} m), "
        f"50,000 cases among 100,000, 99 sims, r <= 10 km: ours {t:.2f} s ({_load()})"
    )
    # reference: every pair's exact distance, linearly binned on h/20 (error < 1e-4 of the peak)
    t_ref, ref = _time(pattern.kd, cases, r, binned=True)
    err = np.abs(res.kd - ref)
    for name, lo, hi in (
        ("global", res.lo_global, res.hi_global),
        ("local", res.lo_local, res.hi_local),
    ):
        band = hi - lo
        print(
            f"  |grid - exact| / {name} band width: max over r {np.max(err / band):.3f}, "
            f"max error / max band {err.max() / band.max():.3f}"
        )
    print(f"  (exact-distance reference took {t_ref:.1f} s)")


def test_clq_matrix_20_categories():
    rng = np.random.default_rng(3)
    n = 1_000_000
    xy = rng.uniform(0, 50_000, (n, 2))
    lab = rng.integers(0, 20, n).astype(str)
    pattern.colocation_matrix(xy[:1000], lab[:1000], permutations=2)  # compile
    t, _ = _time(pattern.colocation_matrix, xy[:200_000], lab[:200_000], permutations=99, seed=0)
    print(f"\nGlobal CLQ, 20 categories, n=200,000, 99 permutations: ours {t:.2f} s ({_load()})")
    t, _ = _time(pattern.colocation_matrix, xy, lab, permutations=999, seed=0)
    print(
        f"Global CLQ, 20 categories (400 pairs), n={n}, 999 permutations: ours {t:.2f} s ({_load()})"
    )


def test_bench_boundary_distance_ningbo() -> None:
    """Boundary distances of 150k points in the Ningbo multipolygon: edge grid vs STRtree."""
    import shapely

    from clusterscape.coords import to_local_metric
    from clusterscape.datasets import ningbo_boundaries
    from clusterscape.measure.pattern._window import as_window

    city, _ = ningbo_boundaries()
    win = as_window(to_local_metric(city), caller="bench")
    rng = np.random.default_rng(0)
    xmin, ymin, xmax, ymax = win.bounds
    xy = np.column_stack([rng.uniform(xmin, xmax, 400_000), rng.uniform(ymin, ymax, 400_000)])
    xy = xy[win.contains(xy)][:150_000]
    win.boundary_distance(xy[:10])  # compile / build the grid once
    ours, got = _time(win.boundary_distance, xy)
    tree = shapely.STRtree(shapely.linestrings(win.edges.reshape(-1, 2, 2)))
    pts = shapely.points(xy)
    peer, (idx, dist) = _time(tree.query_nearest, pts, return_distance=True, all_matches=False)
    ref = np.empty(len(xy))
    ref[idx[0]] = dist
    assert np.array_equal(got, ref)
    print(f"\nboundary distance, {len(xy):,} points, {len(win.edges):,} edges: grid {ours:.3f} s, "
          f"STRtree {peer:.3f} s ({peer / ours:.1f}x), identical")  # fmt: skip
