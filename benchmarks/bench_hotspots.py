"""Gi* with 999 permutations vs esda ``G_Local``; KDE vs direct summation.

Same seeded workload for both sides: a 2-D grid of cells (queen neighbours + self, the
weights ``grid_hotspots`` builds) with Poisson counts and a planted hot area. Run with
``pytest benchmarks/bench_hotspots.py -m bench -s``.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from clusterscape.measure.density import density_surface, direct_density
from clusterscape.measure.hotspots import distance_band_weights, gi_star_from_weights

pytestmark = pytest.mark.bench


def _best(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _load() -> str:
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    return f"load {one:.1f}/{five:.1f} on {cores} cores" + (" CONTENDED" if one > cores else "")


def grid_workload(side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rr, cc = np.divmod(np.arange(side * side), side)
    xy = np.column_stack([cc * 250.0 + 125, rr * 250.0 + 125])
    hot = np.hypot(cc - side / 3, rr - side / 3) < side / 10
    counts = rng.poisson(2.0 + 6.0 * hot).astype(float)
    return xy, counts


@pytest.mark.parametrize("side", [100, 317])  # 10,000 and 100,489 cells
def test_bench_gi_star_vs_esda(side: int) -> None:
    xy, x = grid_workload(side)
    w = distance_band_weights(xy, 1.5 * 250)
    gi_star_from_weights(x[:100], w[:100, :100], permutations=9, seed=0)  # warm up
    ours_t, ours = _best(lambda: gi_star_from_weights(x, w, permutations=999, seed=1), repeat=3)
    line = f"Gi* 999 perms, {len(x):,} cells: ours {ours_t:.3f} s"
    esda = pytest.importorskip("esda")
    from libpysal.weights import WSP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # esda's G_Local(star=True) adds self-links itself: pass the band without them
        noself = sp.csr_matrix(w - sp.identity(len(x)))
        noself.eliminate_zeros()
        wl_noself = WSP(noself).to_W(silence_warnings=True)
        t0 = time.perf_counter()
        lg = esda.G_Local(
            x, wl_noself, transform="B", star=True, permutations=999, seed=1, keep_simulations=False
        )
        esda_t = time.perf_counter() - t0
    zdiff = float(np.abs(lg.Zs - ours.z).max())
    pdiff = float(np.abs(lg.p_sim - ours.p_sim_folded).mean())  # esda p_sim is folded
    print(
        f"\n{line}, esda G_Local {esda_t:.2f} s (incl. numba warm-up on first call), ratio "
        f"{esda_t / ours_t:.0f}x; max |dz| {zdiff:.1e}, mean |dp_sim| {pdiff:.4f}; {_load()}"
    )
    assert zdiff < 1e-8


def test_bench_kde_1m_512() -> None:
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(5000, 800, (500_000, 2)), rng.uniform(0, 10_000, (500_000, 2))])
    kw = {"bandwidth_m": 200.0, "cell_m": 10_000 / 512, "window": (0, 0, 10_000, 10_000)}
    density_surface(xy[:1000], **kw)  # compile the binning kernel
    t, (grid, _) = _best(lambda: density_surface(xy, **kw), repeat=5)
    sub = xy[::50]  # direct summation on a 20,000-point subsample, same grid
    exact = direct_density(sub, **kw)
    approx, _ = density_surface(sub, **kw)
    err = float(np.abs(approx - exact).max() / exact.max())
    t_direct, _ = _best(lambda: direct_density(sub, **kw))
    print(
        f"\nKDE 1,000,000 points -> {grid.shape[0]}x{grid.shape[1]}: ours {t:.3f} s; direct "
        f"summation {t_direct * 50:.1f} s (extrapolated from 20,000 points), ratio "
        f"{t_direct * 50 / t:.0f}x; max error {err:.1e} of the peak; {_load()}"
    )
    assert err < 1e-2
