"""Kd, its envelope and M against brute-force implementations of the formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import norm

from clusterscape import pattern
from clusterscape.errors import InvalidInputError


def _brute_kd(xy, r, w=None):
    d = pdist(xy)
    n = len(xy)
    if w is None:
        pw = np.ones_like(d)
    else:
        i, j = np.triu_indices(n, 1)
        pw = w[i] * w[j]
    hi = np.std(d, ddof=1)
    iqr = np.subtract(*np.percentile(d, [75, 25]))
    h = 0.9 * min(hi, iqr / 1.34) * len(d) ** -0.2
    out = [(pw * (norm.pdf((x - d) / h) + norm.pdf((x + d) / h))).sum() / (pw.sum() * h) for x in r]
    return np.array(out), h


def test_bw_nrd0_matches_r_formula():
    # R: bw.nrd0(c(1, 2, 3, 4, 10)) = 0.9 * min(sd, IQR/1.34) * 5^-0.2
    x = np.array([1.0, 2, 3, 4, 10])
    expected = 0.9 * min(np.std(x, ddof=1), 2.0 / 1.34) * 5 ** (-0.2)
    assert pattern.bw_nrd0(x) == pytest.approx(expected, rel=1e-14)
    # Rscript -e 'bw.nrd0(c(1,2,3,4,10))' printed with %.15g (R 4.2, Debian)
    assert pattern.bw_nrd0(x) == pytest.approx(0.973584622850636, rel=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
def test_kd_exact_matches_brute_force(weighted):
    rng = np.random.default_rng(11)
    xy = np.vstack([rng.normal(0, 300, (80, 2)), rng.uniform(-3000, 3000, (120, 2))])
    w = rng.integers(1, 50, len(xy)).astype(float) if weighted else None
    r = np.linspace(0, 4000, 41)
    ref, _h = _brute_kd(xy, r, w)
    ours = pattern.kd(xy, r, weights=w, binned=False)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15 * ref.max())
    binned = pattern.kd(xy, r, weights=w, binned=True)
    assert np.abs(binned - ref).max() <= 1e-3 * ref.max()


def test_kd_integrates_to_one():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1000, (150, 2))
    r = np.linspace(0, 3000, 3001)
    k = pattern.kd(xy, r, binned=False)
    assert np.trapezoid(k, r) == pytest.approx(1.0, abs=1e-3)


def test_kd_envelope_finds_planted_cluster_and_not_random_sample():
    rng = np.random.default_rng(5)
    pop = rng.uniform(0, 20_000, (4000, 2))
    r = np.linspace(0, 8000, 41)
    clustered = np.vstack([rng.normal(5000, 400, (60, 2)), pop[:40]])
    res = pattern.kd_envelope(clustered, np.vstack([pop, clustered]), r, nsim=59, seed=1)
    assert res.verdict == "clustered"
    assert res.localisation[:5].max() > 0 and res.gamma > 0
    # global bands are wider than local ones and each is crossed by <= 5 % of simulations
    assert (res.hi_global >= res.hi_local - 1e-15).all()
    assert np.mean((res.sims > res.hi_global).any(axis=1)) <= 0.05
    assert np.mean((res.sims < res.lo_global).any(axis=1)) <= 0.05
    rand = pop[rng.choice(len(pop), 100, replace=False)]
    res2 = pattern.kd_envelope(rand, pop, r, nsim=59, seed=2)
    assert res2.verdict in {"no departure", "clustered", "dispersed"}
    assert res2.gamma < res.gamma / 10


def test_kd_binned_error_small_relative_to_band_width():
    rng = np.random.default_rng(8)
    pop = rng.uniform(0, 30_000, (6000, 2))
    cases = np.vstack([rng.normal(15_000, 2000, (1200, 2)), pop[:1200]])
    r = np.linspace(0, 10_000, 51)
    exact = pattern.kd(cases, r, binned=False)
    binned = pattern.kd(cases, r, binned=True)
    res = pattern.kd_envelope(cases, np.vstack([pop, cases[:1200]]), r, nsim=9, seed=0, binned=True)
    band = (res.hi_local - res.lo_local).max()
    assert np.abs(exact - binned).max() < 0.1 * band


def _brute_m(xy, lab, r, ref, nb, w):
    n = len(xy)
    d = squareform(pdist(xy))
    out = []
    wtot, wnb = w.sum(), w[lab == nb].sum()
    for rr in r:
        num = den = 0.0
        for i in np.flatnonzero(lab == ref):
            m = (d[i] <= rr) & (np.arange(n) != i)
            if w[m].sum() == 0:
                continue
            num += w[m & (lab == nb)].sum() / w[m].sum()
            den += (wnb - w[i] * (lab[i] == nb)) / (wtot - w[i])
        out.append(num / den)
    return np.array(out)


@pytest.mark.parametrize("same", [True, False])
def test_m_function_matches_brute_force(same):
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 1000, (300, 2))
    lab = rng.choice(np.array(["a", "b", "c"]), 300)
    w = rng.integers(1, 20, 300).astype(float)
    r = np.array([20.0, 50, 100, 200, 400])
    nb = "a" if same else "b"
    np.testing.assert_allclose(
        pattern.m_function(xy, lab, r, "a", nb, weights=w),
        _brute_m(xy, lab, r, "a", nb, w),
        rtol=1e-12,
    )


def test_m_envelope_detects_attraction():
    rng = np.random.default_rng(9)
    others = rng.uniform(0, 2000, (600, 2))
    a = rng.normal(1000, 60, (60, 2))
    xy = np.vstack([others, a])
    lab = np.array(["o"] * 600 + ["a"] * 60)
    res = pattern.m_envelope(xy, lab, [50, 100, 200], "a", "a", nsim=39, seed=0)
    assert res.verdict == "clustered"
    assert (res.m > 2).all()


def test_kd_errors():
    with pytest.raises(InvalidInputError, match="population"):
        pattern.kd_envelope(np.zeros((5, 2)) + np.arange(5)[:, None], np.zeros((4, 2)), [0, 1])
    with pytest.raises(InvalidInputError, match="weights"):
        pattern.kd(np.random.default_rng(0).random((5, 2)), [0, 1], weights=[1, 2])


@pytest.mark.parametrize("weighted", [False, True])
def test_kd_envelope_fast_paths_match_exact_estimator(weighted):
    # the same draws (same seed) through the exact kernel sum, the linearly binned exact
    # distances and the cell grid: binned ~ exact; grid within 10 % of the envelope width
    rng = np.random.default_rng(8)
    pop = rng.uniform(0, 30_000, (5000, 2))
    cases = np.vstack([rng.normal(15_000, 2000, (1000, 2)), pop[:1000]])
    w = rng.integers(1, 50, len(cases)).astype(float) if weighted else None
    r = np.linspace(0, 10_000, 51)
    allp = np.vstack([pop, cases[:1000]])
    kw = {"nsim": 19, "seed": 0, "weights": w}
    ex = pattern.kd_envelope(cases, allp, r, binned=False, **kw)
    bi = pattern.kd_envelope(cases, allp, r, binned=True, grid=False, **kw)
    gr = pattern.kd_envelope(cases, allp, r, grid=True, **kw)
    assert (ex.params["method"], bi.params["method"], gr.params["method"]) == (
        "exact",
        "binned",
        "grid",
    )
    peak = ex.kd.max()
    np.testing.assert_allclose(bi.kd, ex.kd, rtol=0, atol=1e-3 * peak)
    np.testing.assert_allclose(bi.sims, ex.sims, rtol=0, atol=1e-3 * peak)
    band = ex.hi_global - ex.lo_global
    # (as in test_kd_binned_error_small_relative_to_band_width: largest error against the
    # widest band; pointwise the 19-simulation band is too noisy near r = 0 to bound at 10 %)
    assert np.abs(gr.kd - ex.kd).max() < 0.1 * band.max()
    assert np.abs(gr.sims - ex.sims).max() < 0.1 * band.max()
    assert (np.abs(gr.kd - ex.kd) < 0.25 * band).all()
    # the grid path is not trivially equal to the exact one (it is an approximation)
    assert np.abs(gr.kd - ex.kd).max() > 0


def test_kd_grid_counts_every_pair_once():
    # grid histogram against brute force pair distances, including coincident points and
    # pairs in adjacent cells; total weight must be all pairs within reach
    from clusterscape.pattern._kd import _GridCounter

    rng = np.random.default_rng(3)
    xy = np.vstack([rng.uniform(0, 2000, (400, 2)), np.repeat([[500.0, 500.0]], 5, axis=0)])
    w = rng.integers(1, 9, len(xy)).astype(float)
    dmax, delta = 1500.0, 5.0
    ngrid = int(np.ceil(dmax / delta)) + 1
    gc = _GridCounter(xy, 40.0, dmax, delta, ngrid)
    h = gc.hist(np.arange(len(xy)), w)
    i, j = np.triu_indices(len(xy), 1)
    d = np.hypot(*(xy[i] - xy[j]).T)
    # pairs in reach of dmax (by cells) are all counted once; far cells are never counted
    assert h.sum() <= (w[i] * w[j]).sum() + 1e-6
    near = d <= dmax - 3 * 40.0
    assert h[: int((dmax - 3 * 40.0) / delta)].sum() == pytest.approx(
        (w[i] * w[j])[near].sum(), rel=1e-2
    )
    # the 5 coincident points (10 pairs at distance 0) land in bin 0 exactly
    assert h[0] >= 1.0 * (w[-5:].sum() ** 2 - (w[-5:] ** 2).sum()) / 2 - 1e-6


def test_kd_grid_envelope_does_not_depend_on_thread_count():
    # the grid path runs one simulation per thread; draws come from the generator in order
    import numba

    rng = np.random.default_rng(12)
    pop = rng.uniform(0, 20_000, (6000, 2))
    cases = pop[rng.choice(len(pop), 4500, replace=False)]
    r = np.linspace(0, 5000, 26)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = pattern.kd_envelope(cases, pop, r, nsim=9, seed=4, grid=True)
    finally:
        numba.set_num_threads(before)
    many = pattern.kd_envelope(cases, pop, r, nsim=9, seed=4, grid=True)
    np.testing.assert_array_equal(one.sims, many.sims)
    np.testing.assert_array_equal(one.kd, many.kd)
