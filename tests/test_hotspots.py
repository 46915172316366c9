"""Getis–Ord Gi*: parity with R spdep and esda, the formula by hand, permutations, FDR, grids."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import norm

from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.measure.hotspots import (
    GiStarResult,
    benjamini_hochberg,
    gi_star,
    gi_star_from_weights,
    grid_hotspots,
    hotspot_bins,
)

DATA = Path(__file__).parent / "data"

# esda's 6-point toy (esda.getisord docstring; METHODS.md §6)
TOY_XY = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)], dtype=float)
TOY_Y = np.array([2, 3, 3.2, 5, 8, 7], dtype=float)


def _gi_by_hand(x: np.ndarray, xy: np.ndarray, d: float) -> np.ndarray:
    """Ord & Getis (1995) Gi* z written out with loops over a dense distance matrix."""
    n = len(x)
    xbar = x.sum() / n
    s = np.sqrt((x**2).sum() / n - xbar**2)
    z = np.empty(n)
    for i in range(n):
        w = np.array([1.0 if np.hypot(*(xy[i] - xy[j])) <= d else 0.0 for j in range(n)])
        wi, s1 = w.sum(), (w**2).sum()
        z[i] = ((w * x).sum() - xbar * wi) / (s * np.sqrt((n * s1 - wi**2) / (n - 1)))
    return z


def test_matches_r_spdep_localG_reference():
    ref = json.loads((DATA / "spdep_localG_reference.json").read_text())
    xy = np.column_stack([ref["x"], ref["y"]])
    values = np.asarray(ref["values"])
    for case in ref["cases"]:
        res = gi_star(values, xy, distance=case["distance"])
        # the reference holds 12 significant digits
        np.testing.assert_allclose(res.z, case["z"], rtol=0, atol=1e-9)
        assert np.abs(res.z).max() > 3  # the planted hot spot is in the reference


def test_esda_toy_value():
    res = gi_star(TOY_Y, TOY_XY, distance=15)
    assert res.z[0] == pytest.approx(-1.39727626, abs=1e-8)


def test_matches_esda_G_Local_star_binary():
    esda = pytest.importorskip("esda")
    from libpysal.weights import DistanceBand

    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (150, 2))
    x = rng.gamma(2.0, 3.0, 150)
    with warnings.catch_warnings():  # libpysal warns about islands at this band; expected
        warnings.simplefilter("ignore", UserWarning)
        w = DistanceBand(xy, threshold=120, silence_warnings=True)
        lg = esda.G_Local(x, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(gi_star(x, xy, distance=120).z, lg.Zs, rtol=0, atol=1e-10)


def test_formula_by_hand_and_two_sided_p():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 500, (60, 2))
    x = rng.poisson(3, 60).astype(float)
    res = gi_star(x, xy, distance=90)
    np.testing.assert_allclose(res.z, _gi_by_hand(x, xy, 90), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.p, 2 * norm.sf(np.abs(res.z)), rtol=1e-12)
    assert res.p_sim is None
    assert res.params["bins_from"] == "p"


def test_band_is_inclusive():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [300.0, 0.0], [1000.0, 0.0]])
    x = np.array([1.0, 5.0, 2.0, 0.0])
    np.testing.assert_allclose(gi_star(x, xy, distance=100).z, _gi_by_hand(x, xy, 100))


def test_from_weights_equals_distance_band():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 500, (80, 2))
    x = rng.normal(10, 2, 80)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    w = sp.csr_matrix((d <= 70).astype(float))
    a = gi_star_from_weights(x, w)
    b = gi_star(x, xy, distance=70)
    np.testing.assert_allclose(a.z, b.z, rtol=1e-12)
    assert isinstance(a, GiStarResult)


def test_permutation_p_matches_exact_enumeration():
    """With n = 8 every conditional null is enumerable: compare p_sim with the exact tail."""
    x = np.array([9.0, 1.0, 4.0, 7.0, 2.0, 8.0, 3.0, 6.0])
    rng = np.random.default_rng(3)
    a = (rng.uniform(size=(8, 8)) < 0.45).astype(float)
    w = sp.csr_matrix(np.maximum(a, a.T) + np.eye(8) - np.diag(np.diag(np.maximum(a, a.T))))
    perms = 40_000
    res = gi_star_from_weights(x, w, permutations=perms, seed=11)
    dense = w.toarray()
    card = dense.sum(axis=1) - 1
    assert card.max() == 7 and card.min() < 7  # both paths are exercised
    assert res.p_sim is not None and res.p_sim_folded is not None
    # a neighbourhood of all n features has no null variation: p_sim = 1 by definition
    assert (res.p_sim[card == 7] == 1).all()
    # the reported p_sim is two-sided: twice esda's folded tail, capped at 1
    np.testing.assert_array_equal(res.p_sim, np.minimum(1.0, 2.0 * res.p_sim_folded))
    for i in np.flatnonzero(card < 7):
        nb = [j for j in range(8) if dense[i, j] and j != i]
        others = [j for j in range(8) if j != i]
        obs = x[nb].sum()
        sums = np.array([x[list(c)].sum() for c in itertools.combinations(others, len(nb))])
        # esda folding: count >= obs, folded to the smaller side; +1 / (perms + 1)
        larger = (sums >= obs).mean()
        folded = 1 - larger if (1 - larger) < larger else larger
        assert res.p_sim_folded[i] == pytest.approx(folded, abs=0.012), i
        assert res.p_sim[i] == pytest.approx(min(1.0, 2 * folded), abs=0.024), i


def test_permutation_p_close_to_brute_force_and_seeded():
    rng = np.random.default_rng(4)
    n = 80
    xy = rng.uniform(0, 1000, (n, 2))
    x = rng.poisson(4, n).astype(float) + 4 * (xy[:, 0] < 250)
    res = gi_star(x, xy, distance=130, permutations=4999, seed=7)
    again = gi_star(x, xy, distance=130, permutations=4999, seed=7)
    np.testing.assert_array_equal(res.p_sim, again.p_sim)
    # brute-force conditional randomisation, independent draws for every feature
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    brute = np.empty(n)
    r2 = np.random.default_rng(99)
    for i in range(n):
        nb = np.flatnonzero((d[i] <= 130) & (np.arange(n) != i))
        others = np.delete(x, i)
        draws = r2.random((4999, n - 1)).argsort(axis=1)[:, : nb.size]
        sims = others[draws].sum(axis=1)
        larger = (sims >= x[nb].sum()).sum()
        larger = min(larger, 4999 - larger) if (4999 - larger) < larger else larger
        brute[i] = (larger + 1) / 5000
    assert res.p_sim_folded is not None
    diff = np.abs(res.p_sim_folded - brute)
    assert diff.max() < 0.035  # ~4.5 sd of the difference of two 4999-draw estimates at p=.5
    assert diff.mean() < 0.008
    assert res.params["bins_from"] == "p_sim"


def test_benjamini_hochberg_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(6)
    p = np.concatenate([rng.uniform(0, 0.01, 30), rng.uniform(0, 1, 300)])
    for alpha in (0.01, 0.05, 0.10):
        np.testing.assert_array_equal(
            benjamini_hochberg(p, alpha=alpha), multipletests(p, alpha, "fdr_bh")[0]
        )
    assert not benjamini_hochberg(np.array([0.5, 0.9]), alpha=0.05).any()


def test_bins_levels_and_fdr():
    z = np.array([3.0, -2.2, 1.7, 0.2, -3.5])
    p = np.array([0.005, 0.03, 0.08, 0.8, 0.0004])
    np.testing.assert_array_equal(hotspot_bins(z, p, fdr=False), [3, -2, 1, 0, -3])
    # BH with m = 5: 99 % needs p_(k) <= k * 0.01 / 5 -> 0.0004 and 0.005? 0.005 > 0.004 -> no
    np.testing.assert_array_equal(hotspot_bins(z, p, fdr=True), [2, -2, 1, 0, -3])


def test_inputs_not_mutated_and_errors():
    x = TOY_Y.copy()
    xy = TOY_XY.copy()
    gi_star(x, xy, distance=15, permutations=99, seed=0)
    np.testing.assert_array_equal(x, TOY_Y)
    np.testing.assert_array_equal(xy, TOY_XY)
    with pytest.raises(InvalidInputError, match="variation"):
        gi_star(np.ones(6), TOY_XY, distance=15)
    with pytest.raises(InvalidInputError, match="w_ii = 1"):
        gi_star_from_weights(TOY_Y, sp.csr_matrix(np.ones((6, 6)) - np.eye(6)))
    with pytest.raises(InvalidInputError, match="binary"):
        gi_star_from_weights(TOY_Y, sp.csr_matrix(np.full((6, 6), 0.5) + np.eye(6)))
    with pytest.raises(InvalidInputError, match=r"scipy\.sparse"):
        gi_star_from_weights(TOY_Y, np.eye(6))
    with pytest.raises(InvalidInputError, match="6 values but 5"):
        gi_star(TOY_Y, TOY_XY[:5], distance=15)
    geo = gpd.GeoSeries(gpd.points_from_xy(TOY_XY[:, 0] / 100, TOY_XY[:, 1] / 100), crs=4326)
    with pytest.raises(CRSError, match="metres"):
        gi_star(TOY_Y, geo, distance=15)
    with pytest.raises(InvalidInputError, match="distance"):
        gi_star(TOY_Y, TOY_XY, distance=-1)


def _planted(seed: int, hot: bool) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 5000, (3000, 2))
    if hot:
        pts = np.vstack([pts, rng.normal((1200, 3800), 120, (400, 2))])
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(*pts.T), crs=32651)


def test_grid_hotspots_square_planted_and_csr():
    hot = grid_hotspots(_planted(0, True), cell_m=250)
    assert hot.crs.to_epsg() == 32651
    assert hot["count"].sum() == 3400
    assert len(hot) == 400  # 20 x 20 cells over the bounding box, zero cells included
    centre = hot[hot.contains(gpd.points_from_xy([1200], [3800])[0])].iloc[0]
    assert centre["bin"] == 3
    assert hot.loc[hot["bin"] == 3].distance(gpd.points_from_xy([1200], [3800])[0]).max() < 600
    csr = grid_hotspots(_planted(1, False), cell_m=250)
    assert (csr["bin"].abs() >= 2).sum() <= 2  # FDR keeps CSR nearly clean
    assert np.isnan(csr["p_sim"]).all()


def test_grid_hotspots_h3_and_value_and_permutations():
    gdf = _planted(2, True).to_crs(4326)
    gdf["employees"] = 2.0
    res = grid_hotspots(gdf, h3_resolution=8, value="employees", permutations=99, seed=1)
    assert res["count"].sum() == 3400
    assert res["value"].sum() == pytest.approx(6800)
    assert res.crs.is_projected
    hot_cell = res.loc[res["z"].idxmax()]
    assert (
        hot_cell.geometry.centroid.distance(
            gpd.GeoSeries(gpd.points_from_xy([1200], [3800]), crs=32651).to_crs(res.crs).iloc[0]
        )
        < 800
    )
    assert res["p_sim"].between(0.01, 1).all()
    with pytest.raises(InvalidInputError, match="h3_resolution"):
        grid_hotspots(gdf, h3_resolution=99)
    with pytest.raises(InvalidInputError, match="value column"):
        grid_hotspots(gdf, value="nope")
