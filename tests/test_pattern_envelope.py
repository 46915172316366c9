"""Envelopes and global CSR tests: spatstat's verdicts on its classic data sets, mechanics
of the bands, and reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from clusterscape.errors import InvalidInputError
from clusterscape.measure import pattern

REF = json.loads((Path(__file__).parent / "data" / "spatstat_reference.json").read_text())


def _data(name):
    e = REF[name]
    return np.column_stack([e["x"], e["y"]]), box(*e["window"])


@pytest.mark.parametrize(
    ("name", "rejects"), [("cells", True), ("redwood", True), ("japanesepines", False)]
)
def test_dclf_and_mad_reach_spatstat_verdicts(name, rejects):
    xy, win = _data(name)
    p_dclf = pattern.dclf_test(xy, win, nsim=99, seed=1).p_value
    p_mad = pattern.mad_test(xy, win, nsim=99, seed=1).p_value
    # spatstat's own p-values for the same test (dclf.test(X, Lest, nsim = 99)) agree in verdict
    assert (REF[name]["dclf_L_p"] <= 0.05) == rejects
    assert (p_dclf <= 0.05) == rejects
    assert (p_mad <= 0.05) == rejects


def test_envelope_mechanics_and_seed():
    xy, win = _data("redwood")
    r = np.linspace(0, 0.25, 26)
    a = pattern.envelope(xy, win, r, nsim=39, seed=3)
    b = pattern.envelope(xy, win, r, nsim=39, seed=3)
    np.testing.assert_array_equal(a.sims, b.sims)
    np.testing.assert_array_equal(a.lo, a.sims.min(axis=0))
    np.testing.assert_array_equal(a.hi, a.sims.max(axis=0))
    np.testing.assert_allclose(a.theo, r)
    assert (a.hi_global - a.theo).max() == pytest.approx(np.abs(a.sims - a.theo).max(axis=1).max())
    # the rank envelope at 5 % holds at least 95 % of all curves
    inside = ((a.sims >= a.lo_rank) & (a.sims <= a.hi_rank)).all(axis=1).mean()
    assert inside >= 0.95 - 1 / 40
    # redwood is clustered at small r: above the global band
    assert (a.departure(band="global")[:8] == 1).any()
    assert a.p_rank <= 0.05


def test_envelope_on_csr_in_polygon_rarely_departs():
    win = box(0, 0, 100, 100).difference(box(20, 20, 50, 80))
    outs = []
    for s in range(6):
        xy = pattern.simulate_csr(win, 150, seed=100 + s)[0]
        outs.append(pattern.dclf_test(xy, win, nsim=19, seed=s).p_value)
    assert np.mean(np.array(outs) <= 0.05) <= 2 / 6  # nominal 5 %; 6 draws


def test_simulate_csr_in_polygon_is_uniform_and_inside():
    win = box(0, 0, 10, 10).difference(box(2, 2, 8, 8))
    pts = pattern.simulate_csr(win, 4000, nsim=2, seed=0)
    assert pts.shape == (2, 4000, 2)
    inner = (pts[..., 0] > 2) & (pts[..., 0] < 8) & (pts[..., 1] > 2) & (pts[..., 1] < 8)
    assert not inner.any()
    # left strip x < 2 holds 20/64 of the area
    assert np.mean(pts[..., 0] < 2) == pytest.approx(20 / 64, abs=0.02)


def test_envelope_errors():
    xy, win = _data("cells")
    with pytest.raises(InvalidInputError, match="fun="):
        pattern.envelope(xy, win, fun="G")
    with pytest.raises(InvalidInputError, match="nsim"):
        pattern.dclf_test(xy, win, nsim=0)


@pytest.mark.parametrize(
    ("window", "r"),
    [
        (box(0, 0, 1, 1), np.linspace(0, 0.1, 11)),  # spatstat Krect conventions (even r)
        (box(0, 0, 1, 1), np.array([0, 0.01, 0.03, 0.07, 0.1])),  # general whist conventions
        (box(0, 0, 100, 100).difference(box(20, 20, 50, 80)), np.linspace(0, 15, 16)),
    ],
    ids=["rect-even", "rect-uneven", "polygon"],
)
def test_batched_simulations_equal_single_pattern_estimator(window, r):
    from clusterscape.measure.pattern import _envelope
    from clusterscape.measure.pattern._window import as_window

    win = as_window(window, caller="test")
    sims = pattern.simulate_csr(win, 800, nsim=5, seed=5)
    for correction in ("none", "border", "isotropic", "translate"):
        if correction == "translate" and not win.is_rect:
            continue
        batch = _envelope._k_values_batch(sims, win, r, correction)
        single = np.vstack([_envelope._k_values(s, win, r, correction) for s in sims])
        if correction in ("none", "border"):  # integer pair counts: the same numbers
            np.testing.assert_array_equal(batch, single)
        else:  # real-valued weights summed in another order
            np.testing.assert_allclose(batch, single, rtol=1e-12, atol=0)
        # and the public single-pattern function agrees (border: NaN where no point counts)
        k = pattern.k_function(sims[0], window, r, correction=correction)
        np.testing.assert_allclose(batch[0], np.nan_to_num(k), rtol=1e-12, atol=0)


def test_envelope_border_sims_are_k_function_of_simulated_patterns():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1, (3000, 2))
    r = np.linspace(0, 0.05, 20)
    env = pattern.envelope(xy, box(0, 0, 1, 1), r, fun="K", correction="border", nsim=4, seed=9)
    sims = pattern.simulate_csr(box(0, 0, 1, 1), 3000, nsim=4, seed=9)
    for s in range(4):
        k = pattern.k_function(sims[s], box(0, 0, 1, 1), r, correction="border")
        np.testing.assert_array_equal(env.sims[s], np.nan_to_num(k))
    np.testing.assert_array_equal(
        env.obs, pattern.k_function(xy, box(0, 0, 1, 1), r, correction="border")
    )


def test_numba_strip_sort_orders_by_strip_then_x():
    from clusterscape.measure.pattern import _kernels

    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 1000):
        for width in (0.025, 0.3, 5.0):
            x = rng.uniform(0, 1, n)
            y = rng.uniform(0, 1, n)
            x[: min(n, 5)] = x[0]  # ties
            order, start = _kernels._strip_sort(x, y, width)
            assert sorted(order.tolist()) == list(range(n))
            strip = np.floor((y - y.min()) / width).astype(int)
            for k in range(len(start) - 1):
                seg = order[start[k] : start[k + 1]]
                assert (strip[seg] == k).all()
                assert (np.diff(x[seg]) >= 0).all()
            assert start[-1] == n


DCLF_REF = json.loads((Path(__file__).parent / "data" / "spatstat_dclf_reference.json").read_text())


def _parity_case(name):
    import pandas as pd
    import shapely

    base = Path(__file__).parent / "data" / "dclf_parity"
    d = pd.read_csv(base / f"{name}.csv")
    win = shapely.from_wkt((base / f"{name}.wkt").read_text())
    obs = d.loc[d["sim"] == 0, ["x", "y"]].to_numpy()
    sims = [g[["x", "y"]].to_numpy() for _, g in d[d["sim"] > 0].groupby("sim")]
    return obs, win, sims


@pytest.mark.parametrize("name", ["rect", "holed"])
@pytest.mark.parametrize("fun", ["K", "L"])
def test_dclf_and_mad_equal_spatstat_on_the_same_simulations(name, fun):
    """spatstat dclf.test / mad.test(X, simulate = <the same 39 patterns>, use.theory = TRUE)
    (scripts/ref_spatstat_dclf.R): statistic to 1e-9 relative, p-value exactly."""
    obs, win, sims = _parity_case(name)
    ref = DCLF_REF[name]
    a = pattern.dclf_test(obs, win, fun=fun, simulated=sims)
    b = pattern.mad_test(obs, win, fun=fun, simulated=sims)
    assert a.statistic == pytest.approx(ref[f"dclf_{fun}"][0], rel=1e-9)
    assert b.statistic == pytest.approx(ref[f"mad_{fun}"][0], rel=1e-9)
    assert a.p_value == pytest.approx(ref[f"dclf_{fun}"][1], abs=1e-12)
    assert b.p_value == pytest.approx(ref[f"mad_{fun}"][1], abs=1e-12)
    assert a.params["rmax_m"] == ref[f"rinterval_{fun}"][1]  # spatstat's default interval
    assert a.params["reference"] == "theoretical"


def test_dclf_defaults_are_spatstats():
    """K by default, deviations from the theoretical curve (not from the mean of the curves),
    513 r values on [0, rmax] as spatstat's default call reports."""
    obs, win, sims = _parity_case("rect")
    assert "Summary function: K(r)" in DCLF_REF["rect"]["default_method"]
    assert "Reference function: theoretical" in DCLF_REF["rect"]["default_method"]
    res = pattern.dclf_test(obs, win, simulated=sims)
    assert res.params["fun"] == "K" and len(res.r) == 513 and res.r[0] == 0
    k_obs = pattern.k_function(obs, win, res.r)
    t_theo = res.r[-1] * np.mean((k_obs - np.pi * res.r**2) ** 2)
    assert res.statistic == pytest.approx(t_theo, rel=1e-12)
    ks = np.vstack([pattern.k_function(s, win, res.r) for s in sims])
    allc = np.vstack([k_obs, ks])
    t_mean = res.r[-1] * np.mean(((k_obs - allc.mean(axis=0)) * 40 / 39) ** 2)
    assert abs(t_mean / t_theo - 1) > 1e-3  # the two references really differ here
    t_sims = res.r[-1] * np.mean((ks - np.pi * res.r**2) ** 2, axis=1)
    np.testing.assert_allclose(res.sim_statistics, t_sims, rtol=1e-12)
    assert res.p_value == (1 + (t_sims >= t_theo).sum()) / 40
