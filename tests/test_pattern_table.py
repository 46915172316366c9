"""concentration_table: planted clustering is found, the columns are the contract."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from clusterscape.measure import pattern
from clusterscape.measure.pattern import _table, _window


def test_concentration_table_finds_planted_cluster():
    rng = np.random.default_rng(0)
    win = box(0, 0, 10_000, 10_000)
    pop = rng.uniform(0, 10_000, (5000, 2))
    creative = np.vstack([np.clip(rng.normal(3000, 300, (250, 2)), 1, 9999), pop[:150]])
    df = pattern.concentration_table(
        creative, np.vstack([pop, creative[:250]]), win, r_max_m=2000, nsim=39, seed=1
    )
    assert list(df.columns) == [
        "statistic",
        "null",
        "r_min_m",
        "r_max_m",
        "verdict",
        "value",
        "p_value",
        "n_used",
        "n_total",
        "nsim",
        "note",
    ]
    assert len(df) == 4
    assert df["statistic"].tolist()[3] == "L_inhom (Kinhom), border correction"
    assert (df["verdict"] == "clustered").all()
    assert df.loc[0, "p_value"] <= 0.05
    assert 0 <= df.loc[0, "r_min_m"] <= df.loc[0, "r_max_m"] <= 2000
    assert df.loc[2, "value"] > 1
    # the planted cluster is dense relative to all establishments too: Kinhom finds it
    assert df.loc[3, "p_value"] <= 0.05
    assert df.loc[3, "value"] > 0
    assert df.loc[3, "n_used"] == len(creative)
    curves = df.attrs["curves"]
    ki = curves[curves["statistic"] == "L_inhom (Kinhom), border correction"]
    assert len(ki) == 129  # the L grid: 129 values from 0 to r_max
    assert (ki["observed"] > ki["hi"]).any()


def test_concentration_table_random_sample_is_not_clustered_relative_to_population():
    rng = np.random.default_rng(1)
    win = box(0, 0, 10_000, 10_000)
    pop = np.clip(rng.normal(5000, 1500, (5000, 2)), 1, 9999)
    creative = pop[rng.choice(5000, 300, replace=False)]
    df = pattern.concentration_table(creative, pop, win, r_max_m=2000, nsim=39, seed=2)
    # inhomogeneous city: clustered against CSR, but not against all establishments
    assert df.loc[0, "verdict"] == "clustered"
    assert df.loc[1, "verdict"] != "clustered" or df.loc[1, "value"] < 1e-5
    assert df.loc[2, "verdict"] == "no departure"
    # relative to the inhomogeneous intensity of all establishments: no departure
    assert df.loc[3, "verdict"] == "no departure"


def test_kinhom_row_intensity_and_calibration():
    rng = np.random.default_rng(5)
    win = _window.as_window((0, 0, 10_000, 10_000), caller="test")
    # intensity of a pattern with density ∝ x (rejection sampling): λ(x) = 2N x / (10⁴)³
    cand = rng.uniform(0, 10_000, (40_000, 2))
    pop = cand[rng.uniform(0, 10_000, len(cand)) < cand[:, 0]][:15_000]
    probe = np.column_stack([np.linspace(1500, 8500, 8), np.full(8, 5000.0)])
    lam = _table._raster_intensity(pop, win, 1000.0, probe)
    truth = 2 * len(pop) * probe[:, 0] / 1e12
    np.testing.assert_allclose(lam, truth, rtol=0.12)
    # the uniform edge correction: a uniform pattern's intensity is flat up to the edges
    uni = rng.uniform(0, 10_000, (20_000, 2))
    corner = np.array([[100.0, 100.0], [9900.0, 5000.0], [5000.0, 5000.0]])
    np.testing.assert_allclose(
        _table._raster_intensity(uni, win, 1000.0, corner), 20_000 / 1e8, rtol=0.12
    )
    # under random labelling the observed Kinhom is exchangeable with the simulations: the
    # DCLF p-values of random samples are spread over (0, 1] (here 30 samples, 19 sims each)
    r = np.linspace(0, 2000, 21)
    lam_pop = _table._raster_intensity(pop, win, 2000.0, pop)
    ps = []
    for _ in range(30):
        curves = []
        for _ in range(20):
            t = rng.choice(len(pop), 300, replace=False)
            curves.append(_table._l_of(_table._kinhom_border(pop[t], win, r, lam_pop[t])))
        a = np.array(curves)
        dev = ((a - a.mean(axis=0)) ** 2).mean(axis=1)
        ps.append((1 + (dev[1:] >= dev[0]).sum()) / 20)
    ps = np.array(ps)
    assert np.mean(ps <= 0.1) <= 0.3  # nominal 10 %
    assert np.mean(ps >= 0.5) >= 0.25  # not all piled up at small p either


def test_kinhom_border_matches_public_k_inhom():
    rng = np.random.default_rng(8)
    win = _window.as_window((0, 0, 1000, 800), caller="test")
    xy = rng.uniform([0, 0], [1000, 800], (400, 2))
    lam = rng.uniform(2e-4, 8e-4, 400)
    r = np.linspace(0, 120, 13)
    ours = _table._l_of(_table._kinhom_border(xy, win, r, lam))
    k = pattern.k_inhom(xy, box(0, 0, 1000, 800), r, intensity=lam, correction="border")
    np.testing.assert_allclose(ours, np.sqrt(np.nan_to_num(k) / np.pi), rtol=1e-12)


def _small_case(seed, clustered):
    rng = np.random.default_rng(seed)
    win = box(0, 0, 1000, 1700)  # a 1 x 1.7 km study area
    pop = rng.uniform([0, 0], [1000, 1700], (900, 2))
    if clustered:
        cre = np.clip(rng.normal([300, 400], 40, (60, 2)), 1, 999)
        pop = np.vstack([pop, cre])
    else:
        cre = pop[rng.choice(len(pop), 60, replace=False)]
    return cre, pop, win


def test_default_ranges_come_from_the_window():
    """No fixed 3 km: L/Kinhom up to spatstat's rule (a quarter of the shorter side here),
    Kd up to a third of the window's diameter (dbmss MaxRange = "ThirdW")."""
    cre, pop, win = _small_case(0, False)
    df = pattern.concentration_table(cre, pop, win, nsim=19, seed=0)
    curves = df.attrs["curves"]
    r_l = curves.loc[curves["statistic"].str.startswith("L (Besag)"), "r_m"]
    r_kd = curves.loc[curves["statistic"].str.startswith("Kd"), "r_m"]
    lam = 60 / (1000 * 1700)
    assert r_l.max() == min(1000 / 4, np.sqrt(1000 / (np.pi * lam)))
    assert r_kd.max() == np.hypot(1000, 1700) / 3
    assert r_l.max() < 1000 and r_kd.max() < 1000  # never beyond the window


def test_one_test_decides_verdict_and_p_value():
    """In every row: a departure is claimed exactly when p <= 0.05, and the r range is given
    exactly then (the band and the p come from the same test)."""
    seen = set()
    for seed, clustered in [(1, False), (2, False), (3, True), (4, True), (5, False)]:
        cre, pop, win = _small_case(seed, clustered)
        df = pattern.concentration_table(cre, pop, win, nsim=19, seed=seed)
        for row in df.itertuples():
            departs = row.verdict != "no departure"
            seen.add(departs)
            assert np.isfinite(row.p_value), row.statistic
            assert departs == (row.p_value <= 0.05), (row.statistic, row.verdict, row.p_value)
            if row.statistic.startswith(("L", "Kd")):
                assert departs == np.isfinite(row.r_min_m), row.statistic
    assert seen == {True, False}


def test_border_l_is_nan_where_no_point_is_eligible():
    """A strip 200 m wide: no point is 150 m from the boundary, so border L is undefined
    there (NaN), not 0, and the global band does not span +/- r_max at small r."""
    rng = np.random.default_rng(0)
    win = box(0, 0, 5000, 200)
    xy = rng.uniform([0, 0], [5000, 200], (400, 2))
    r = np.linspace(0, 150, 16)
    env = pattern.envelope(xy, win, r, fun="L", correction="border", nsim=19, seed=0)
    assert np.isnan(env.obs[r > 100]).all() and np.isfinite(env.obs[r < 90]).all()
    width = env.hi_global - env.lo_global
    assert width[1] < r[-1]  # a finite deviation, not the whole range
    k = pattern.k_function(xy, win, r, correction="border")
    assert np.isnan(k[r > 100]).all()
