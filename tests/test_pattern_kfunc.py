"""K, L, Kcross and Kinhom against R spatstat (tests/data/spatstat_reference.json, made by
scripts/ref_spatstat.R) and against brute-force formulas.

Tolerances (from the issue): relative error <= 1e-6 in rectangles, <= 1e-4 in polygons.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.measure import pattern
from clusterscape.measure.pattern import _kernels

sys.path.insert(0, str(Path(__file__).parent))
from _pattern_cases import DISTRICTS, cases

REF = json.loads((Path(__file__).parent / "data" / "spatstat_reference.json").read_text())
RECT_TOL = 1e-6
POLY_TOL = 1e-4


def _close(ours, ref, rtol):
    ref = np.array([np.nan if v is None else v for v in ref], dtype=float)
    # R's cumulative sums can leave -1e-20 instead of 0: treat tiny values as zero
    tiny = 1e-12 * np.nanmax(np.abs(ref))
    ok = np.isfinite(ref) & (np.abs(ref) > tiny)
    assert ok.sum() >= 5, "reference has too few finite values to compare"
    rel = np.abs(np.asarray(ours)[ok] - ref[ok]) / np.abs(ref[ok])
    assert rel.max() <= rtol, f"max relative error {rel.max():.3g} > {rtol}"
    # where R gives exactly 0 (r = 0 or no pairs yet) we must give 0 too
    zero = np.isfinite(ref) & (np.abs(ref) <= tiny)
    np.testing.assert_allclose(np.asarray(ours)[zero], 0.0, atol=tiny)


@pytest.mark.parametrize("name", ["cells", "redwood", "japanesepines"])
@pytest.mark.parametrize("correction", ["none", "border", "isotropic", "translate"])
def test_kest_matches_spatstat_rectangles(name, correction):
    e = REF[name]
    xy = np.column_stack([e["x"], e["y"]])
    k = pattern.k_function(xy, box(*e["window"]), e["r"], correction=correction)
    _close(k, e[correction], RECT_TOL)


def test_lest_is_sqrt_k_over_pi():
    e = REF["redwood"]
    xy = np.column_stack([e["x"], e["y"]])
    ref = np.array(e["isotropic"], dtype=float)
    np.testing.assert_allclose(
        pattern.l_function(xy, box(*e["window"]), e["r"]), np.sqrt(ref / np.pi), rtol=1e-6
    )


@pytest.mark.parametrize("correction", ["none", "border", "isotropic", "translate"])
def test_kcross_matches_spatstat_amacrine(correction):
    if correction == "border":
        pytest.skip("border: spatstat's binned rule on this coarse grid; see the fine-grid tests")
    e = REF["amacrine_kcross"]
    k = pattern.k_cross(
        np.column_stack([e["xi"], e["yi"]]),
        np.column_stack([e["xj"], e["yj"]]),
        box(*e["window"]),
        e["r"],
        correction=correction,
    )
    _close(k, e[correction], RECT_TOL)


@pytest.mark.parametrize("correction", ["border", "isotropic", "translate"])
def test_kinhom_given_intensity_matches_spatstat(correction):
    e = REF["redwood_kinhom"]
    c = REF["redwood"]
    xy = np.column_stack([c["x"], c["y"]])
    k = pattern.k_inhom(xy, box(*c["window"]), e["r"], intensity=e["lambda"], correction=correction)
    _close(k, e[correction], RECT_TOL)
    if correction == "isotropic":
        k0 = pattern.k_inhom(
            xy, box(*c["window"]), e["r"], intensity=e["lambda"], renormalise=False
        )
        _close(k0, e["isotropic_not_renormalised"], RECT_TOL)


def test_kinhom_default_kernel_intensity_close_to_spatstat():
    """spatstat's default edge correction in density.ppp is computed on a pixel grid, so only
    approximate agreement is expected here (we use the exact rectangle formula)."""
    e = REF["redwood_kinhom"]
    c = REF["redwood"]
    xy = np.column_stack([c["x"], c["y"]])
    lam = pattern.kernel_intensity(xy, box(*c["window"]))
    np.testing.assert_allclose(lam, e["default_lambda"], rtol=2e-2)
    k = pattern.k_inhom(xy, box(*c["window"]), e["r"])
    _close(k, e["default_isotropic"], 3e-2)


needs_ningbo = pytest.mark.skipif(not DISTRICTS.exists(), reason="shared Ningbo data not present")


@needs_ningbo
@pytest.mark.parametrize("name", ["ningbo_jiangbei", "holed_square"])
def test_polygon_windows_match_spatstat(name):
    win, xy, r = cases()[name]
    e = REF[name]
    assert win.area == pytest.approx(e["area"], rel=1e-9)
    np.testing.assert_allclose(r, e["r"])
    # border: spatstat bins boundary distances on these coarse r breaks (b >= r_{k-1}), a
    # grid-dependent number; it is compared on a fine grid in test_border_*_fine_grid
    for corr in ("none", "isotropic"):
        _close(pattern.k_function(xy, win, r, correction=corr), e[corr], POLY_TOL)
    _close(pattern.k_function(xy, win, r, correction="translate"), e["translate_exact"], POLY_TOL)
    half = len(xy) // 2
    for corr in ("none", "isotropic"):
        k = pattern.k_cross(xy[:half], xy[half:], win, r, correction=corr)
        _close(k, e[f"kcross_{corr}"], POLY_TOL)
    for corr in ("isotropic",):
        k = pattern.k_inhom(xy, win, r, intensity=e["kinhom_lambda"], correction=corr)
        _close(k, e[f"kinhom_{corr}"], POLY_TOL)


def _brute_k(xy, win, r, corr):
    """O(n²) K straight from the textbook formulas (continuous r, d <= r)."""
    n = len(xy)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    if corr == "none":
        e = np.ones_like(d)
    elif corr == "isotropic":
        e = np.ones_like(d)
        for i in range(n):
            for j in range(n):
                if i != j and d[i, j] <= r[-1]:
                    circ = shapely.Point(xy[i]).buffer(d[i, j], 4096).exterior
                    frac = circ.intersection(win).length / circ.length
                    e[i, j] = min(100.0, 1 / frac)
    return np.array([win.area / (n * (n - 1)) * (e * (d < rr)).sum() for rr in r])


def test_isotropic_against_brute_force_in_polygon_with_hole():
    win = box(0, 0, 100, 100).difference(box(30, 30, 60, 70))
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (400, 2))
    xy = xy[shapely.contains_xy(win, xy[:, 0], xy[:, 1])][:60]
    r = np.linspace(0, 25, 6)
    k = pattern.k_function(xy, win, r, correction="isotropic")
    # polygonised circles (4096 segments per quarter) make the brute force accurate to ~1e-6
    np.testing.assert_allclose(k, _brute_k(xy, win, r, "isotropic"), rtol=1e-5)
    np.testing.assert_allclose(
        pattern.k_function(xy, win, r, correction="none"), _brute_k(xy, win, r, "none"), rtol=1e-12
    )


def test_ripley_fraction_exact_cases():
    sq = np.array([[0, 0, 10, 0], [10, 0, 10, 10], [10, 10, 0, 10], [0, 10, 0, 0]], float)
    assert _kernels.ripley_fraction(5.0, 5.0, 4.0, sq) == pytest.approx(1.0)
    # centre on an edge: half the circle inside
    assert _kernels.ripley_fraction(5.0, 0.0, 3.0, sq) == pytest.approx(0.5)
    # centre at a corner: a quarter
    assert _kernels.ripley_fraction(0.0, 0.0, 3.0, sq) == pytest.approx(0.25)
    # distance 3 from the left edge, radius 6: arc outside spans 2*acos(3/6) = 120 degrees
    assert _kernels.ripley_fraction(3.0, 5.0, 4.0, sq) == pytest.approx(
        1 - 2 * np.arccos(3 / 4) / (2 * np.pi)
    )


def test_csr_k_is_near_pi_r2_and_clustered_above():
    win = box(0, 0, 1000, 1000)
    xy = pattern.simulate_csr(win, 2000, seed=5)[0]
    r = np.array([0.0, 50, 100])
    k = pattern.k_function(xy, win, r)
    np.testing.assert_allclose(k[1:] / (np.pi * r[1:] ** 2), 1, atol=0.06)


def test_inputs_are_not_mutated_and_errors_are_actionable():
    xy = np.random.default_rng(0).uniform(0, 10, (30, 2))
    before = xy.copy()
    pattern.k_function(xy, box(0, 0, 10, 10), [0, 1, 2])
    np.testing.assert_array_equal(xy, before)
    with pytest.raises(InvalidInputError, match="outside the window"):
        pattern.k_function(xy + 100, box(0, 0, 10, 10), [0, 1])
    with pytest.raises(InvalidInputError, match="correction="):
        pattern.k_function(xy, box(0, 0, 10, 10), [0, 1], correction="ripley")
    with pytest.raises(InvalidInputError, match="increasing"):
        pattern.k_function(xy, box(0, 0, 10, 10), [0, 2, 1])
    import geopandas as gpd

    gs = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326)
    with pytest.raises(CRSError, match="metres"):
        pattern.k_function(gs, box(0, 0, 10, 10), [0, 1])


def test_multipolygon_and_geoseries_window():
    import geopandas as gpd

    w = shapely.MultiPolygon([box(0, 0, 10, 10), box(20, 0, 30, 10)])
    xy = np.vstack(
        [
            pattern.simulate_csr(box(0, 0, 10, 10), 40, seed=1)[0],
            pattern.simulate_csr(box(20, 0, 30, 10), 40, seed=2)[0],
        ]
    )
    r = np.linspace(0, 3, 4)
    a = pattern.k_function(xy, w, r)
    b = pattern.k_function(xy, gpd.GeoSeries([w], crs=32651), r)
    np.testing.assert_allclose(a, b)


FINE = json.loads((Path(__file__).parent / "data" / "spatstat_border_fine.json").read_text())


def _exact_border(xi, xj, bi, area, r, same):
    """Reduced-sample K straight from the definition at each r: points with b_i >= r, pairs
    with d_ij < r; K = Σ pairs / (λ_j #eligible)."""
    d = np.hypot(*(xi[:, None, :] - xj[None, :, :]).transpose(2, 0, 1))
    if same:
        np.fill_diagonal(d, np.inf)
    lam = (len(xj) - (1 if same else 0)) / area if not same else len(xj) / area
    out = np.full(len(r), np.nan)
    for k, rk in enumerate(r):
        el = bi >= rk
        if el.any():
            out[k] = ((d < rk) & el[:, None]).sum() / (lam * el.sum())
    return out


@needs_ningbo
@pytest.mark.parametrize("name", ["ningbo_jiangbei", "holed_square"])
def test_border_is_exact_at_each_r_and_grid_independent(name):
    """The border estimate at r is the reduced-sample estimator at r, whatever the grid: the
    coarse grid of the spatstat cases gives the fine grid's values at the same r (exactly),
    and both equal the definition computed by brute force."""
    from clusterscape.measure.pattern._window import as_window

    win, xy, r = cases()[name]
    rf = np.asarray(FINE[name]["r"])
    idx = np.searchsorted(rf, r)
    np.testing.assert_allclose(rf[idx], r, rtol=0, atol=1e-9)
    bi = as_window(win, caller="test").boundary_distance(xy)
    half = len(xy) // 2
    for f in (
        lambda rr: pattern.k_function(xy, win, rr, correction="border"),
        lambda rr: pattern.k_cross(xy[:half], xy[half:], win, rr, correction="border"),
    ):
        coarse, fine = f(r), f(rf)
        np.testing.assert_array_equal(coarse, fine[idx])
    brute = _exact_border(xy, xy, bi, win.area, r, True)
    np.testing.assert_allclose(pattern.k_function(xy, win, r, correction="border"), brute,
                               rtol=1e-12)  # fmt: skip
    brute_x = _exact_border(xy[:half], xy[half:], bi[:half], win.area, r, False)
    np.testing.assert_allclose(
        pattern.k_cross(xy[:half], xy[half:], win, r, correction="border"), brute_x, rtol=1e-12
    )


@needs_ningbo
@pytest.mark.parametrize("name", ["ningbo_jiangbei", "holed_square"])
def test_border_matches_spatstat_on_a_fine_grid(name):
    """scripts/ref_spatstat_border_fine.R: Kest and Kinhom border on a grid 50x finer agree
    to 1e-9; spatstat's Kcross keeps its binned eligibility rule (b >= r_{k-1}), so they agree
    exactly at >= 85 % of the r values and differ only where a point's boundary distance falls
    between two breaks."""
    win, xy, _r = cases()[name]
    f = FINE[name]
    rf = np.asarray(f["r"])
    _close(pattern.k_function(xy, win, rf, correction="border"), f["border"], 1e-9)
    lam = REF[name]["kinhom_lambda"]
    _close(pattern.k_inhom(xy, win, rf, intensity=lam, correction="border"), f["kinhom_border"],
           1e-9)  # fmt: skip
    half = len(xy) // 2
    ours = pattern.k_cross(xy[:half], xy[half:], win, rf, correction="border")
    ref = np.array([np.nan if v is None else v for v in f["kcross_border"]], dtype=float)
    ok = np.isfinite(ref) & np.isfinite(ours) & (ref > 0)
    same = np.abs(ours[ok] - ref[ok]) <= 1e-9 * ref[ok]
    assert same.mean() >= 0.85


def test_kcross_border_amacrine_fine_grid():
    e = REF["amacrine_kcross"]
    f = FINE["amacrine_kcross"]
    xi = np.column_stack([e["xi"], e["yi"]])
    xj = np.column_stack([e["xj"], e["yj"]])
    win = box(*e["window"])
    rf = np.asarray(f["r"])
    ours = pattern.k_cross(xi, xj, win, rf, correction="border")
    ref = np.asarray(f["border"], dtype=float)
    ok = ref > 0
    assert (np.abs(ours[ok] - ref[ok]) <= 1e-9 * ref[ok]).mean() >= 0.9
    far = ok & (rf >= 0.1 * rf[-1])  # at tiny r one point more or less is a large share
    assert np.nanmax(np.abs(ours[far] - ref[far]) / ref[far]) < 0.02
    # the coarse grid of the old reference gives the fine grid's numbers at the same r
    r = np.asarray(e["r"])
    idx = np.searchsorted(rf, r - 1e-12)
    np.testing.assert_array_equal(pattern.k_cross(xi, xj, win, r, correction="border"),
                                  ours[idx])  # fmt: skip


def _expanded_k_by_hand(xy, w, win, r, correction):
    """Plain K of the expanded pattern (location i repeated w_i times) with the pairs inside a
    stack removed, by brute force over the expanded points (rectangle window)."""
    xmin, ymin, xmax, ymax = win
    area = (xmax - xmin) * (ymax - ymin)
    pts = np.repeat(xy, w, axis=0)
    stack = np.repeat(np.arange(len(xy)), w)
    big_n = len(pts)
    out = []
    for rk in r:
        num = 0.0
        elig = 0.0
        for a in range(big_n):
            b_a = min(pts[a, 0] - xmin, xmax - pts[a, 0], pts[a, 1] - ymin, ymax - pts[a, 1])
            if correction == "border" and b_a < rk:
                continue
            others = stack != stack[a]
            elig += others.sum()  # ordered pairs (a, b) from another stack
            d = np.hypot(*(pts[others] - pts[a]).T)
            dx, dy = np.abs((pts[others] - pts[a]).T)
            e = (
                area / ((xmax - xmin - dx) * (ymax - ymin - dy))
                if correction == "translate"
                else np.ones(len(d))
            )
            num += float((e * (d < rk)).sum()) if rk > 0 else float((e * (d <= 0)).sum())
        out.append(area * num / elig if elig else np.nan)
    return np.array(out)


@pytest.mark.parametrize("correction", ["none", "translate", "border"])
def test_weighted_k_is_the_expanded_k_without_stack_pairs(correction: str) -> None:
    """A multiset of 7 locations (sizes 1-4): the weighted K equals, by hand, the K of the 17
    expanded points counting only the pairs between different stacks (their number as the
    pair count), to 1e-12."""
    from clusterscape.measure.pattern import k_function

    xy = np.array(
        [[10, 10], [30, 70], [55, 40], [80, 85], [20, 45], [70, 15], [52, 44]], dtype=float
    )
    w = np.array([1, 4, 2, 1, 3, 2, 4])
    win = (0.0, 0.0, 100.0, 100.0)
    r = np.array([0.0, 5.0, 20.0, 35.0, 50.0])  # uneven grid: the exact (not Krect) rules
    got = k_function(xy, box(*win), r, correction=correction, weights=w)
    want = _expanded_k_by_hand(xy, w, win, r, correction)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    # unit weights: Kest itself (border: n/(n-1) times it, the documented difference)
    ones = k_function(xy, box(*win), r, correction=correction, weights=np.ones(7))
    plain = k_function(xy, box(*win), r, correction=correction)
    factor = 7 / 6 if correction == "border" else 1.0
    np.testing.assert_allclose(ones, plain * factor, rtol=1e-12, equal_nan=True)
