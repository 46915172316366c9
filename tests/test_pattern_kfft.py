"""The opt-in raster/FFT approximation of K (``method="fft"``): its pieces against brute force,
and the whole against the exact translation estimator within the bound documented in
docs/concentration.md (on seeds the documentation's error study did not use)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from clusterscape.errors import InvalidInputError
from clusterscape.measure import pattern
from clusterscape.measure.pattern import _kfft
from clusterscape.measure.pattern._window import as_window

NOTCH = Polygon([(0, 0), (1, 0), (1, 1), (0.6, 1), (0.6, 0.4), (0.4, 0.4), (0.4, 1), (0, 1)])
R = np.linspace(0, 0.05, 21)


def _thomas(rng, n, win, kappa=200, sigma=0.01):
    w = as_window(win, caller="test")
    out = np.empty((0, 2))
    while len(out) < n:
        par = rng.uniform(-0.05, 1.05, (kappa, 2))
        kids = par[rng.integers(0, kappa, 4 * n)] + rng.normal(0, sigma, (4 * n, 2))
        out = np.vstack([out, kids[w.contains(kids)]])
    return out[:n]


@pytest.mark.parametrize(("a", "b", "rho"), [(0, 0, 0.7), (0, 0, 1.5), (2, 1, 2.4), (3, 0, 3.2)])
def test_displacement_probability_matches_monte_carlo(a, b, rho):
    rng = np.random.default_rng(0)
    m = 2_000_000
    s = rng.uniform(size=m) - rng.uniform(size=m)
    t = rng.uniform(size=m) - rng.uniform(size=m)
    mc = np.mean((a + s) ** 2 + (b + t) ** 2 < rho**2)
    p = _kfft._p_within(float(a), float(b), rho, _kfft._GL_X, _kfft._GL_W, 4)
    assert p == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / m) + 1e-4)


def test_fft_pair_counts_equal_brute_force_lag_counts():
    rng = np.random.default_rng(1)
    win = as_window(box(0, 0, 1, 1), caller="test")
    xy = rng.uniform(0, 1, (400, 2))
    g = _kfft.fft_grid(win, np.array([0.0, 0.05]), 0.01, "translate")
    pairs = np.rint(_kfft._autocorr_block(_kfft.rasterise(xy, g), g.shape, g.lag))
    ix = np.minimum((xy[:, 0] / 0.01).astype(int), g.nx - 1)
    iy = np.minimum((xy[:, 1] / 0.01).astype(int), g.ny - 1)
    dx = ix[None, :] - ix[:, None]
    dy = iy[None, :] - iy[:, None]
    ok = (np.abs(dx) <= g.lag) & (np.abs(dy) <= g.lag)
    brute = np.zeros_like(pairs)
    np.add.at(brute, (dy[ok] + g.lag, dx[ok] + g.lag), 1)  # includes the n self-pairs at 0
    np.testing.assert_array_equal(pairs, brute)


def test_polygon_set_covariance_matches_shapely():
    win = as_window(NOTCH, caller="test")
    g = _kfft.fft_grid(win, np.array([0.0, 0.05]), 0.05 / 16, "translate")
    for a, b in [(0, 0), (3, -2), (-7, 5), (16, 0), (11, 11)]:
        h = (a * g.cell, b * g.cell)
        exact = shapely.area(shapely.intersection(NOTCH, shapely.affinity.translate(NOTCH, *h)))
        assert g.gamma[b + g.lag, a + g.lag] == pytest.approx(exact, rel=2e-3)


# docs/concentration.md, default cell (r_max / 64): documented relative-error bounds by r / cell
# band [2, 4), [4, 16), >= 16, for 5,000 and 20,000 points (error study with seeds 100-102)
BOUNDS = {5000: (0.06, 0.025, 0.005), 20_000: (0.02, 0.015, 0.0025)}


@pytest.mark.parametrize(
    ("window", "n"), [(box(0, 0, 1, 1), 20_000), (NOTCH, 5000)], ids=["square", "notched"]
)
@pytest.mark.parametrize("process", ["csr", "thomas"])
def test_fft_k_within_documented_error_of_exact_translate(window, n, process):
    rng = np.random.default_rng(4242)  # not a seed of the documented study
    if process == "csr":
        xy = pattern.simulate_csr(window, n, seed=4242)[0]
    else:
        xy = _thomas(rng, n, window)
    exact = pattern.k_function(xy, window, R, correction="translate")
    approx = pattern.k_function(xy, window, R, method="fft")
    cell = 0.05 / 64
    rel = np.abs(approx[1:] - exact[1:]) / exact[1:]
    rc = R[1:] / cell
    b2, b4, b16 = BOUNDS[n]
    assert rel[(rc >= 2) & (rc < 4)].max() <= b2
    assert rel[(rc >= 4) & (rc < 16)].max() <= b4
    assert rel[rc >= 16].max() <= b16
    assert approx[0] == 0.0


def test_fft_l_function_and_none_correction():
    rng = np.random.default_rng(9)
    xy = rng.uniform(0, 1, (3000, 2))
    k = pattern.k_function(xy, (0, 0, 1, 1), R, method="fft", cell=0.05 / 32)
    ln = pattern.l_function(xy, (0, 0, 1, 1), R, method="fft", cell=0.05 / 32)
    np.testing.assert_allclose(ln, np.sqrt(k / np.pi))
    k0 = pattern.k_function(xy, (0, 0, 1, 1), R, method="fft", correction="none", cell=0.05 / 32)
    e0 = pattern.k_function(xy, (0, 0, 1, 1), R, correction="none")
    assert np.abs(k0[5:] / e0[5:] - 1).max() <= 0.01
    assert (k0[1:] < k[1:]).all()  # no edge correction: fewer pairs near the boundary


def test_fft_envelope_mechanics():
    rng = np.random.default_rng(3)
    win = box(0, 0, 1, 1)
    csr = rng.uniform(0, 1, (20_000, 2))
    cell = 0.05 / 32
    e = pattern.envelope(csr, win, R, fun="K", method="fft", nsim=19, seed=1, cell=cell)
    assert e.params["method"] == "fft"
    assert e.params["correction"] == "translate"
    assert e.params["cell_m"] == cell
    # the multinomial null rasters are CSR: their mean K is πr² within sampling error
    np.testing.assert_allclose(e.mean[4:], np.pi * R[4:] ** 2, rtol=0.02)
    again = pattern.envelope(csr, win, R, fun="K", method="fft", nsim=19, seed=1, cell=cell)
    np.testing.assert_array_equal(e.sims, again.sims)
    clustered = _thomas(rng, 20_000, win)
    el = pattern.envelope(clustered, win, R, fun="L", method="fft", nsim=19, seed=1, cell=cell)
    assert (el.departure(band="global")[2:] == 1).all()
    assert el.p_rank <= 0.05
    # in a polygon (translation correction is available with fft, unlike exact envelopes)
    xy = pattern.simulate_csr(NOTCH, 5000, seed=7)[0]
    ep = pattern.envelope(xy, NOTCH, R, fun="L", method="fft", nsim=19, seed=2, cell=cell)
    assert (ep.departure(band="global") == 0).all()


def test_fft_errors_and_defaults():
    xy = np.random.default_rng(0).uniform(0, 1, (100, 2))
    with pytest.raises(InvalidInputError, match="method"):
        pattern.k_function(xy, (0, 0, 1, 1), R, method="grid")
    with pytest.raises(InvalidInputError, match="translate"):
        pattern.k_function(xy, (0, 0, 1, 1), R, method="fft", correction="border")
    with pytest.raises(InvalidInputError, match="cell"):
        pattern.k_function(xy, (0, 0, 1, 1), R, method="fft", cell=-1.0)
    with pytest.raises(InvalidInputError, match="translate"):
        pattern.envelope(xy, (0, 0, 1, 1), R, method="fft", correction="isotropic", nsim=3)
    # the exact default stays the isotropic correction
    np.testing.assert_array_equal(
        pattern.k_function(xy, (0, 0, 1, 1), R),
        pattern.k_function(xy, (0, 0, 1, 1), R, correction="isotropic"),
    )
    win = as_window((0, 0, 100_000, 1000), caller="test")
    assert _kfft.default_cell(win, 50.0) == pytest.approx(100_000 / 4096)
    assert _kfft.default_cell(win, 5000.0) == pytest.approx(5000 / 64)


def test_global_tests_with_the_fft_approximation() -> None:
    """dclf/mad with method="fft": a Thomas pattern is rejected, CSR is not, and the statistic
    is close to the exact translation-corrected one."""
    win = box(0, 0, 1, 1)
    rng = np.random.default_rng(77)
    clustered = _thomas(rng, 4000, win)
    csr = pattern.simulate_csr(win, 4000, seed=78)[0]
    for test in (pattern.dclf_test, pattern.mad_test):
        hit = test(clustered, win, nsim=39, rmax_m=0.05, method="fft", seed=1)
        assert hit.p_value <= 1 / 40 + 1e-12 and hit.params["method"] == "fft"
        miss = test(csr, win, nsim=39, rmax_m=0.05, method="fft", seed=1)
        assert miss.p_value > 0.05
    exact = pattern.dclf_test(clustered, win, nsim=19, rmax_m=0.05, correction="translate")
    approx = pattern.dclf_test(clustered, win, nsim=19, rmax_m=0.05, method="fft")
    np.testing.assert_allclose(approx.obs, exact.obs, rtol=0.03, atol=2e-3)
