"""Moran's I and LISA against esda (the field's reference implementation) and under a true null."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from clusterscape.errors import InvalidInputError
from clusterscape.measure.autocorrelation import (
    benjamini_hochberg_cutoff,
    bivariate_local_moran,
    local_moran,
    moran,
)

libpysal = pytest.importorskip("libpysal")
esda = pytest.importorskip("esda")

QUADS = np.array(["HH", "LH", "LL", "HL"])


@pytest.fixture(scope="module")
def stl() -> tuple[object, np.ndarray, np.ndarray]:
    gal = libpysal.io.open(libpysal.examples.get_path("stl.gal"))
    w = gal.read()
    gal.close()
    table = pd.read_csv(libpysal.examples.get_path("stl_hom.txt"), skiprows=1)
    return w, table["HR8893"].to_numpy(float), table["HR8488"].to_numpy(float)


def _copy(w):  # esda re-transforms the W it is given; keep the fixture's untouched
    return copy.deepcopy(w)


def _quiet(fn, *args, **kwargs):  # esda warns about its upcoming p-value default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_moran_stl_equals_esda_test_value(stl) -> None:
    w, y, _ = stl
    res = moran(y, w)
    ref = _quiet(esda.Moran, y, _copy(w))
    assert pytest.approx(0.24365582621771659, rel=1e-12) == res.I  # esda's own test value
    assert res.expected == pytest.approx(-1 / 77, rel=1e-15)
    assert res.z_norm == pytest.approx(ref.z_norm, rel=1e-10)
    assert res.p_norm == pytest.approx(ref.p_norm, rel=1e-9)
    # permutation p: different generators, both at the floor for so strong a pattern
    assert res.p_directed == pytest.approx(ref.p_sim, abs=0.01)
    assert res.p_sim == pytest.approx(min(1.0, 2 * res.p_directed))


def test_moran_weights_forms_agree(stl) -> None:
    w, y, _ = stl
    graph = libpysal.graph.Graph.from_W(w)
    a, b, c = moran(y, w, seed=3), moran(y, graph, seed=3), moran(y, w.sparse, seed=3)
    assert a.I == pytest.approx(b.I, rel=1e-13) == pytest.approx(c.I, rel=1e-13)
    assert a.p_sim == b.p_sim == c.p_sim


def test_moran_binary_weights_equal_esda(stl) -> None:
    w, y, _ = stl
    ref = _quiet(esda.Moran, y, _copy(w), transformation="b")
    res = moran(y, w, transform="b")
    assert pytest.approx(ref.I, rel=1e-12) == res.I
    assert res.z_norm == pytest.approx(ref.z_norm, rel=1e-10)


REF = Path(__file__).parent / "data" / "esda_stl_lisa.csv"


def _check_univariate(ours: pd.DataFrame, lisa, q, p_sim, z_sim) -> None:
    np.testing.assert_allclose(ours["lisa"], lisa, rtol=1e-12, atol=1e-14)
    assert (ours["quadrant"].to_numpy() == QUADS[np.asarray(q) - 1]).all()
    # the same permutation table: esda's directed p and z_sim exactly
    np.testing.assert_allclose(ours["p_directed"], p_sim, rtol=1e-12)
    np.testing.assert_allclose(ours["z"], z_sim, rtol=1e-9)
    np.testing.assert_allclose(ours["p_sim"], np.minimum(1, 2 * np.asarray(p_sim)), rtol=1e-12)
    sig = ours["p_sim"] < 0.05
    assert (ours.loc[sig, "label"] == ours.loc[sig, "quadrant"]).all()
    assert (ours.loc[~sig, "label"] == "not significant").all()
    assert {"HH", "LL"} <= set(ours.loc[sig, "label"])  # St Louis has both kinds of cluster


def test_local_moran_equals_stored_esda(stl) -> None:
    """esda 2.9.0's Moran_Local(HR8893, stl.gal, 999, seed=12345), stored by scripts/ref_esda_lisa.py."""
    w, y, _ = stl
    ref = pd.read_csv(REF)
    _check_univariate(
        local_moran(y, w, seed=12345, draws="esda"),
        ref["lisa"],
        ref["q"],
        ref["p_sim"],
        ref["z_sim"],
    )


def test_bivariate_local_moran_equals_stored_esda(stl) -> None:
    w, y, x = stl
    ref = pd.read_csv(REF)
    ours = bivariate_local_moran(x, y, w, seed=7, draws="esda")
    np.testing.assert_allclose(ours["lisa"], ref["bv_lisa"], rtol=1e-12, atol=1e-14)
    assert (ours["quadrant"].to_numpy() == QUADS[ref["bv_q"] - 1]).all()
    np.testing.assert_allclose(ours["p_directed"], ref["bv_p_sim"], rtol=1e-12)


def test_fast_draws_agree_with_esda_within_monte_carlo_error(stl) -> None:
    w, y, _ = stl
    ref = pd.read_csv(REF)
    fast = local_moran(y, w, seed=3)  # default draws="fast": another table, same distribution
    np.testing.assert_allclose(fast["lisa"], ref["lisa"], rtol=1e-12, atol=1e-14)
    diff = np.abs(fast["p_directed"].to_numpy() - ref["p_sim"].to_numpy())
    # two independent 999-draw estimates of the same p: sd of the difference <= 0.023
    assert diff.max() < 0.08
    assert diff.mean() < 0.02
    assert diff.max() > 0  # really another table


def test_fast_draws_are_distinct_other_sites() -> None:
    from clusterscape.measure.autocorrelation import _draw_ids_fast

    ids = _draw_ids_fast(6, 50, 4000, 0)
    assert ids.min() >= 0 and ids.max() <= 48  # indices into the n - 1 = 49 other sites
    assert all(len(set(row)) == 6 for row in ids)
    freq = np.bincount(ids.ravel(), minlength=49) / ids.size
    assert np.abs(freq - 1 / 49).max() < 0.006  # uniform: expected 0.0204, sd ~0.0014


@pytest.mark.slow  # esda's numba kernels compile for about a minute
def test_local_moran_equals_live_esda(stl) -> None:
    w, y, x = stl
    ref = _quiet(esda.Moran_Local, y, _copy(w), permutations=999, seed=12345)
    _check_univariate(
        local_moran(y, w, seed=12345, draws="esda"), ref.Is, ref.q, ref.p_sim, ref.z_sim
    )
    bv = _quiet(esda.Moran_Local_BV, x, y, _copy(w), permutations=999, seed=7)
    ours = bivariate_local_moran(x, y, w, seed=7, draws="esda")
    np.testing.assert_allclose(ours["lisa"], bv.Is, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ours["p_directed"], bv.p_sim)


def test_local_moran_weights_forms_and_index(stl) -> None:
    w, y, _ = stl
    series = pd.Series(y, index=[f"t{i}" for i in range(len(y))])
    a = local_moran(series, w, seed=1)
    b = local_moran(y, libpysal.graph.Graph.from_W(w), seed=1)
    c = local_moran(y, sp.csr_array(w.sparse), seed=1)
    assert list(a.index) == list(series.index)
    np.testing.assert_allclose(a["lisa"].to_numpy(), b["lisa"].to_numpy(), rtol=1e-13)
    np.testing.assert_array_equal(b["p_sim"], c["p_sim"])


def _lattice(side: int) -> sp.csr_matrix:
    from libpysal.weights import lat2SW

    return sp.csr_matrix(lat2SW(side, side, criterion="queen"))


def test_local_moran_two_sided_p_calibrated_under_null() -> None:
    # iid values: P(p_sim < 0.05) must be ~0.05; a one-sided (esda) p would give ~0.10
    side = 60
    rng = np.random.default_rng(11)
    w = _lattice(side)
    shares = [
        (
            local_moran(rng.normal(size=side * side), w, permutations=199, seed=s)["p_sim"] < 0.05
        ).mean()
        for s in range(3)
    ]
    assert 0.035 < np.mean(shares) < 0.065


def test_local_moran_finds_planted_hot_and_cold_spot() -> None:
    side = 30
    rr, cc = np.divmod(np.arange(side * side), side)
    rng = np.random.default_rng(2)
    y = rng.normal(size=side * side)
    hot = np.hypot(rr - 8, cc - 8) < 4
    cold = np.hypot(rr - 22, cc - 22) < 4
    y[hot] += 4
    y[cold] -= 4
    out = local_moran(y, _lattice(side), seed=0)
    assert (out.loc[hot, "label"] == "HH").mean() > 0.8
    assert (out.loc[cold, "label"] == "LL").mean() > 0.8
    far = ~(np.hypot(rr - 8, cc - 8) < 7) & ~(np.hypot(rr - 22, cc - 22) < 7)
    assert (out.loc[far, "label"] != "not significant").mean() < 0.1


def test_ties_count_as_greater_or_equal() -> None:
    # two values only: many permuted lags equal the observed one exactly
    side = 20
    y = (np.arange(side * side) % 2).astype(float)
    out = local_moran(y, _lattice(side), permutations=99, seed=0)
    assert out["p_sim"].between(0, 1).all()
    ref = local_moran(
        y + 1e-13 * np.arange(side * side) ** 0, _lattice(side), permutations=99, seed=0
    )
    np.testing.assert_array_equal(out["p_directed"], ref["p_directed"])


def test_fdr_cutoff_equals_esda() -> None:
    rng = np.random.default_rng(5)
    for p in (rng.uniform(size=500), np.r_[rng.uniform(0, 0.001, 40), rng.uniform(size=460)]):
        assert benjamini_hochberg_cutoff(p, 0.05) == pytest.approx(esda.fdr(p, 0.05))


def test_fdr_is_stricter(stl) -> None:
    w, y, _ = stl
    plain = local_moran(y, w, seed=0)
    strict = local_moran(y, w, seed=0, fdr=True)
    assert (strict["label"] != "not significant").sum() <= (
        plain["label"] != "not significant"
    ).sum()


@pytest.mark.parametrize(
    ("values", "weights", "match"),
    [
        (np.r_[1.0, np.nan, 2.0, 3.0], sp.eye(4, format="csr"), "row 1 is not finite"),
        (np.ones(4), sp.eye(4, format="csr"), "constant"),
        (np.arange(5.0), sp.eye(4, format="csr"), "4 x 4 but there are 5"),
        (np.arange(4.0), np.eye(4), "must be a libpysal"),
    ],
)
def test_bad_input_is_one_clear_error(values, weights, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        local_moran(values, weights)
    with pytest.raises(InvalidInputError, match=match):
        moran(values, weights)


def test_islands_and_all_tie_sites_are_not_significant() -> None:
    side = 10
    w = _lattice(side).tolil()
    w[0, :] = 0  # site 0 has no neighbours (an island); drop the links to it as well
    w[:, 0] = 0
    w = sp.csr_matrix(w)
    rng = np.random.default_rng(0)
    y = rng.normal(size=side * side)
    y[55] = np.delete(y, 55).mean()  # exactly the overall mean: z_55 = 0 (to rounding)
    out = local_moran(y, w, permutations=99, seed=0)
    assert np.isnan(out.loc[0, "p_sim"]) and out.loc[0, "label"] == "not significant"
    assert out.loc[0, "lisa"] == 0
    assert out["p_sim"].drop(index=0).between(0, 1).all()
    # every permuted statistic ties with the observed ~0: p = 1, not esda's 1/(M + 1)
    assert out.loc[55, "p_sim"] == 1.0 and out.loc[55, "label"] == "not significant"
    fdr = local_moran(y, w, permutations=99, seed=0, fdr=True)
    assert fdr.loc[0, "label"] == "not significant"
