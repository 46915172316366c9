"""Size of every p-value under a true null: P(p <= 0.05) must lie in [0.035, 0.065].

Each null is small (tens to hundreds of points) so that >= 500 nulls per statistic run in
minutes; the module's ``slow`` tests are excluded from the default run
(``pytest -m slow tests/test_calibration.py``). The fast tests at the top catch a one-sided
p-value coming back (its rate under the null is about 0.10, not 0.05).

Monte Carlo precision: with N independent nulls the binomial sd of a rate near 0.05 is
sqrt(0.05 * 0.95 / N): 0.0097 at N = 500, 0.0049 at N = 2,000. Per-point statistics (Gi*,
LCLQ) pool many correlated p-values per null, which narrows the spread further.
"""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from clusterscape.measure import pattern
from clusterscape.measure.hotspots import gi_star

LO, HI = 0.035, 0.065
ALPHA = 0.05


def _report(name: str, rate: float, n: int) -> None:
    print(f"calibration {name}: P(p <= 0.05) = {rate:.4f} over {n} p-values")


# ----------------------------------------------------------------------------- fast guards
def test_gi_star_permutation_p_is_two_sided_under_the_null():
    """100 nulls x 100 features: the two-sided p_sim fires at ~5 %, the folded one at ~10 %."""
    rng = np.random.default_rng(0)
    two, fold = [], []
    for s in range(100):
        xy = rng.uniform(0, 1000, (100, 2))
        res = gi_star(rng.normal(size=100), xy, distance=170, permutations=199, seed=s, fdr=False)
        assert res.p_sim is not None and res.p_sim_folded is not None
        two.append(res.p_sim)
        fold.append(res.p_sim_folded)
    r2, rf = np.mean(np.concatenate(two) <= ALPHA), np.mean(np.concatenate(fold) <= ALPHA)
    assert 0.03 <= r2 <= 0.07, r2
    assert rf >= 0.08, rf  # the folded p is one-sided: it must not be the reported one


def test_lclq_and_clq_p_are_two_sided_under_the_null():
    rng = np.random.default_rng(1)
    lp, cp = [], []
    for s in range(40):
        xy = rng.uniform(0, 1000, (300, 2))
        lab = rng.choice(np.array(["a", "b"]), 300)
        lp.append(
            pattern.local_colocation_quotient(xy, lab, "a", "b", permutations=199, seed=s)[
                "p_value"
            ]
        )
        df = pattern.colocation_matrix(xy, lab, permutations=199, seed=s)
        cp.append(df["p_value"].to_numpy())
    rl = np.mean(np.concatenate(lp) <= ALPHA)
    assert 0.03 <= rl <= 0.075, rl
    assert np.mean(np.concatenate(cp) <= ALPHA) <= 0.1  # 160 correlated p's: a loose guard


# ----------------------------------------------------------------------------- slow: sizes
@pytest.mark.slow
def test_calibration_gi_star_permutation_and_normal():
    rng = np.random.default_rng(10)
    ps, pn, bins = [], [], []
    for s in range(500):
        xy = rng.uniform(0, 1000, (100, 2))
        res = gi_star(rng.normal(size=100), xy, distance=170, permutations=199, seed=s, fdr=False)
        ps.append(res.p_sim)
        pn.append(res.p)
        bins.append(res.bin)
    rate_s = float(np.mean(np.concatenate(ps) <= ALPHA))
    rate_n = float(np.mean(np.concatenate(pn) <= ALPHA))
    rate_b = float(np.mean(np.abs(np.concatenate(bins)) >= 2))  # ArcGIS "95 %" bins
    _report("Gi* permutation (p_sim)", rate_s, 50_000)
    _report("Gi* normal (p)", rate_n, 50_000)
    _report("Gi* |bin| >= 2 from p_sim", rate_b, 50_000)
    assert LO <= rate_s <= HI
    assert LO <= rate_n <= HI
    assert LO <= rate_b <= HI


@pytest.mark.slow
def test_calibration_global_clq():
    rng = np.random.default_rng(11)
    ps = []
    for s in range(1500):
        xy = rng.uniform(0, 1000, (400, 2))
        lab = rng.choice(np.array(["a", "b"]), 400)
        df = pattern.colocation_matrix(xy, lab, permutations=199, seed=s)
        ps.append(df.loc[(df["a"] == "a") & (df["b"] == "b"), "p_value"].to_numpy())
    rate = float(np.mean(np.concatenate(ps) <= ALPHA))
    _report("global CLQ a->b", rate, len(ps))
    assert LO <= rate <= HI


@pytest.mark.slow
def test_calibration_lclq():
    rng = np.random.default_rng(12)
    ps = []
    for s in range(500):
        xy = rng.uniform(0, 1000, (200, 2))
        lab = rng.choice(np.array(["a", "b"]), 200)
        res = pattern.local_colocation_quotient(xy, lab, "a", "b", permutations=199, seed=s)
        ps.append(res["p_value"].to_numpy())
    rate = float(np.mean(np.concatenate(ps) <= ALPHA))
    _report("LCLQ", rate, sum(len(p) for p in ps))
    assert LO <= rate <= HI


@pytest.mark.slow
@pytest.mark.parametrize("test", ["dclf", "mad"])
def test_calibration_dclf_and_mad(test):
    win = box(0, 0, 1000, 600)
    f = pattern.dclf_test if test == "dclf" else pattern.mad_test
    ps = []
    for s in range(1000):
        xy = pattern.simulate_csr(win, 40, seed=10_000 + s)[0]
        ps.append(f(xy, win, nsim=19, seed=s).p_value)
    rate = float(np.mean(np.asarray(ps) <= ALPHA))
    _report(test, rate, len(ps))
    assert LO <= rate <= HI


@pytest.mark.slow
def test_calibration_kd_global_band():
    rng = np.random.default_rng(13)
    r = np.linspace(0, 400, 21)
    ps, out = [], []
    for s in range(1000):
        pop = rng.uniform(0, 1000, (300, 2))
        cases = pop[rng.choice(300, 30, replace=False)]
        res = pattern.kd_envelope(cases, pop, r, nsim=19, seed=s, binned=True)
        ps.append(res.p_value)
        out.append(bool(((res.kd > res.hi_global) | (res.kd < res.lo_global)).any()))
    rate = float(np.mean(np.asarray(ps) <= ALPHA))
    rate_out = float(np.mean(out))
    _report("Kd global rank envelope (p)", rate, len(ps))
    _report("Kd outside the global band", rate_out, len(out))
    assert LO <= rate <= HI
    assert LO <= rate_out <= HI


@pytest.mark.slow
def test_calibration_m_global_band():
    rng = np.random.default_rng(14)
    r = np.linspace(20, 300, 15)
    ps, out = [], []
    for s in range(1000):
        xy = rng.uniform(0, 1000, (150, 2))
        lab = rng.choice(np.array(["a", "b", "c"]), 150)
        w = rng.integers(1, 50, 150).astype(float)
        res = pattern.m_envelope(xy, lab, r, "a", "b", weights=w, nsim=19, seed=s)
        ps.append(res.p_value)
        m = np.nan_to_num(res.m, nan=1.0)
        out.append(bool(((m > res.hi_global) | (m < res.lo_global)).any()))
    rate = float(np.mean(np.asarray(ps) <= ALPHA))
    rate_out = float(np.mean(out))
    _report("M global rank envelope (p)", rate, len(ps))
    _report("M outside the global band", rate_out, len(out))
    assert LO <= rate <= HI
    assert LO <= rate_out <= HI


@pytest.mark.slow
def test_calibration_cluster_significance_random_labelling():
    """Creative = a random subset of all establishments: the smallest cluster p (the
    max-statistic test) is <= 0.05 in ~5 % of the nulls. The setting makes HDBSCAN find
    clusters in (almost) every pattern: when many patterns give none, their maxima tie at 0
    and the test is conservative (150 points of a clumpy city with min_cluster_size 8: no
    cluster in 96 % of patterns, rate 0.024)."""
    import geopandas as gpd

    from clusterscape.detect.clusters import detect_clusters

    rng = np.random.default_rng(15)
    ps = []
    for s in range(500):
        city = rng.uniform(-2000, 2000, (2000, 2))
        pop = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*city.T), crs=32651)
        cre = pop.iloc[rng.choice(len(city), 100, replace=False)]
        res = detect_clusters(
            cre, min_cluster_size=5, stability_draws=0, csr_simulations=19, population=pop,
            seed=s,
        )  # fmt: skip
        p = res.clusters["p_value"].to_numpy()
        ps.append(p.min() if p.size else 1.0)
    rate = float(np.mean(np.asarray(ps) <= ALPHA))
    _report("cluster significance (random labelling)", rate, len(ps))
    assert LO <= rate <= HI
