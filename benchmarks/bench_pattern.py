"""Benchmarks of clusterscape.pattern against the peers, same seeded workloads, side by side.

Run: ``.venv/bin/pytest benchmarks/bench_pattern.py -m bench -s``. Each test prints our time,
the peer's time and the ratio; figures go to benchmarks/results/pattern.md by hand.
R spatstat is timed through Rscript when /usr/bin/Rscript has spatstat (never in CI tests).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from clusterscape import pattern

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
    t_ours, _ = _time(
        pattern.envelope, xy, box(0, 0, 1, 1), r, fun="K", correction="border", nsim=nsim, seed=1
    )
    print(f"\nK envelope border, n={n}, nsim={nsim}, 20 r up to 0.05: ours {t_ours:.2f} s")
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


def test_kd_envelope_5000_among_100k():
    rng = np.random.default_rng(2)
    pop = np.vstack([rng.normal(25_000, 8_000, (70_000, 2)), rng.uniform(0, 50_000, (30_000, 2))])
    cases = pop[rng.choice(len(pop), 5000, replace=False)]
    r = np.linspace(0, 10_000, 101)
    pattern.kd_envelope(cases[:300], pop, r, nsim=2, binned=True)
    t, _res = _time(pattern.kd_envelope, cases, pop, r, nsim=99, seed=0, binned=True)
    print(
        f"\nKd envelope, 5,000 cases among 100,000, 99 sims, r <= 10 km: ours {t:.2f} s "
        f"(dbmss KdEnvelope ~5 s per simulation per the issue -> ~{5 * 99 / t:.0f}x)"
    )


def test_clq_matrix_20_categories():
    n = 200_000
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 50_000, (n, 2))
    lab = rng.integers(0, 20, n).astype(str)
    pattern.colocation_matrix(xy[:1000], lab[:1000], permutations=2)
    t, _ = _time(pattern.colocation_matrix, xy, lab, permutations=99, seed=0)
    print(f"\nGlobal CLQ, 20 categories (400 pairs), n={n}, 99 permutations: ours {t:.2f} s")
