"""Simulation envelopes and global tests of complete spatial randomness in a polygon window.

* :func:`envelope` — pointwise envelopes (spatstat ``envelope``, ``nrank``), spatstat's
  simultaneous band (``global = TRUE``: max |f − f_theo|) and the global rank envelope of
  Myllymäki et al. (2017) with its extreme-rank p-value.
* :func:`dclf_test` / :func:`mad_test` — Diggle–Cressie–Loosmore–Ford and maximum absolute
  deviation tests with spatstat's defaults for a CSR null (``dclf.test`` / ``mad.test``):
  summary function K, reference = the theoretical curve (πr² for K, r for L: the printout's
  "Reference function: theoretical"), r interval [0, rmax] on spatstat's 513-value grid,
  T = rmax · mean_r (f − f_theo)² (DCLF) or max_r |f − f_theo| (MAD), and
  p = (1 + #{T_sim > T_obs} + #{T_sim = T_obs}) / (nsim + 1) (spatstat breaks exact ties at
  random; here they count against the data, which only matters on exact ties).

The null is a binomial process with the observed n in the window (spatstat ``fix.n = TRUE``;
spatstat's default draws a Poisson number of points — both give exact Monte Carlo tests),
simulated with a seeded generator, or the patterns given in ``simulated`` (spatstat
``simulate = <list of patterns>``).

References
----------
Diggle P.J. 1979, Biometrics 35:87–101; Loosmore N.B. & Ford E.D. 2006, Ecology 87:1925–1931;
Baddeley A. et al. 2014, Ecological Monographs 84:477–489; Myllymäki M., Mrkvička T., Grabarnik
P., Seijo H. & Hahn U. 2017, JRSS B 79:381–404.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np
from numpy.typing import ArrayLike

from clusterscape._validation import PointsLike, WindowLike, as_xy, check_choice, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure.pattern import _kernels as kern
from clusterscape.measure.pattern._kfft import (
    FFT_CORRECTIONS,
    default_cell,
    fft_grid,
    k_fft_counts,
    rasterise,
)
from clusterscape.measure.pattern._kfunc import (
    CORRECTIONS,
    _check_r,
    _k_from_numerator,
    _kernel_frame,
    _weighted_numerator,
)
from clusterscape.measure.pattern._window import Window, as_window, check_inside, simulate_csr

__all__ = ["EnvelopeResult", "TestResult", "dclf_test", "envelope", "mad_test"]

NLARGE = 3000  # like spatstat Kest(nlarge = 3000): above it, the border correction by default


@dataclass(frozen=True)
class EnvelopeResult:
    """Observed summary function with its simulation envelopes (all arrays aligned with ``r``).

    Attributes
    ----------
    r : distances (m). obs : observed function. theo : value under CSR (πr² for K, r for L).
    mean : mean of the simulated functions. lo, hi : pointwise envelope (``nrank``-th extremes).
    lo_global, hi_global : spatstat's simultaneous band theo ∓ the ``nrank``-th largest
    max |f_sim − theo|. lo_rank, hi_rank : global rank envelope (Myllymäki et al. 2017) at
    level ``alpha`` (the curves whose extreme-rank-length p-value exceeds alpha).
    p_rank : extreme-rank-length p-value of the observed curve.
    sims : (nsim, len(r)) simulated functions. params : fun, correction, nsim, nrank, alpha, seed.
    """

    r: np.ndarray
    obs: np.ndarray
    theo: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo_global: np.ndarray
    hi_global: np.ndarray
    lo_rank: np.ndarray
    hi_rank: np.ndarray
    p_rank: float
    sims: np.ndarray = field(repr=False)
    params: Mapping[str, object] = field(default_factory=dict)

    def departure(self, *, band: str = "global") -> np.ndarray:
        """+1 where obs is above the band (clustering for K/L), −1 below, 0 inside."""
        check_choice(band, {"pointwise", "global", "rank"}, "band", caller="EnvelopeResult")
        lo, hi = {
            "pointwise": (self.lo, self.hi),
            "global": (self.lo_global, self.hi_global),
            "rank": (self.lo_rank, self.hi_rank),
        }[band]
        return np.where(self.obs > hi, 1, np.where(self.obs < lo, -1, 0))


@dataclass(frozen=True)
class TestResult:
    """Result of a global Monte Carlo test.

    Attributes
    ----------
    statistic : observed T. p_value : Monte Carlo p-value. sim_statistics : T of each simulation.
    r : distances used (m). obs : observed function. params : test, fun, correction, nsim,
    rmax_m, seed.
    """

    statistic: float
    p_value: float
    sim_statistics: np.ndarray = field(repr=False)
    r: np.ndarray = field(repr=False)
    obs: np.ndarray = field(repr=False)
    params: Mapping[str, object] = field(default_factory=dict)


def _k_values(pts: np.ndarray, win: Window, r: np.ndarray, correction: str) -> np.ndarray:
    """Homogeneous K (spatstat Kest conventions) without re-validating inputs."""
    n = len(pts)
    num, counts = _weighted_numerator(pts, win, r, correction, np.ones(n))
    return _k_from_numerator(num, counts, n, win, correction)


def _fun_values(pts, win, r, fun: str, correction: str) -> np.ndarray:
    k = _k_values(pts, win, r, correction)
    return k if fun == "K" else np.sqrt(np.clip(k, 0, None) / np.pi)


def _setup(xy, window, r, fun, correction, nsim, *, caller, method="exact"):
    check_choice(fun, {"K", "L"}, "fun", caller=caller)
    check_choice(method, {"exact", "fft"}, "method", caller=caller)
    pts = as_xy(xy, caller=caller, min_points=2)
    win = as_window(window, caller=caller)
    check_inside(pts, win, caller=caller)
    if int(nsim) != nsim or nsim < 1:
        raise InvalidInputError(f"{caller}: nsim must be a positive integer, got {nsim!r}.")
    if method == "fft":
        correction = correction or "translate"
        if correction not in FFT_CORRECTIONS:
            raise InvalidInputError(
                f"{caller}: method='fft' supports correction='translate' or 'none', got "
                f"{correction!r}; use method='exact' for the border or isotropic corrections."
            )
        return pts, win, correction
    if correction is None:
        correction = "isotropic" if len(pts) <= NLARGE else "border"
    check_choice(correction, set(CORRECTIONS), "correction", caller=caller)
    if correction == "translate" and not win.is_rect:
        raise InvalidInputError(
            f"{caller}: the exact translation correction in a polygon window needs one polygon "
            "intersection per pair and is too slow for simulations; use correction='isotropic' "
            "or 'border'."
        )
    return pts, win, correction


#: spatstat's default number of r values (Kest: 513 from 0 to rmax)
NR_SPATSTAT = 513


def _default_r(win: Window, n: int, rmax_m: float | None, *, caller: str, nr: int = 129):
    if rmax_m is None:
        # spatstat rmax.rule("K"): min(shortside/4, sqrt(1000 / (pi lambda)))
        lam = n / win.area_m2
        rmax_m = min(win.short_side_m / 4.0, float(np.sqrt(1000.0 / (np.pi * lam))))
    check_positive(rmax_m, "rmax_m", caller=caller)
    return np.linspace(0.0, float(rmax_m), nr)


def _k_values_batch(sims: np.ndarray, win: Window, r: np.ndarray, correction: str) -> np.ndarray:
    """:func:`_k_values` of every pattern in ``sims`` (nsim, n, 2), one pattern per thread.

    Same conventions, pairs and bins as the single-pattern path (``_weighted_numerator``):
    identical numbers for "none" and "border" (integer pair counts), equal to rounding
    (~1e-15 relative) for the real-valued isotropic/translation weights.
    """
    rstep, xy, bs, edges = _kernel_frame(win, r, sims)  # as in _weighted_numerator
    xmin, ymin, xmax, ymax = win.bounds
    num, counts = kern.pair_hist_batch(
        np.ascontiguousarray(xy[..., 0]),
        np.ascontiguousarray(xy[..., 1]),
        np.ascontiguousarray(bs),
        r,
        kern.MODES[correction],
        np.ascontiguousarray(edges),
        xmax - xmin,
        ymax - ymin,
        rstep,
    )
    return _k_from_numerator(num, counts, sims.shape[1], win, correction)


def _simulate(pts, win, r, fun, correction, nsim, seed) -> np.ndarray:
    sims = simulate_csr(win, len(pts), nsim=nsim, seed=seed)
    if correction == "translate" and not win.is_rect:  # exact polygon overlaps: per pattern
        return np.vstack([_fun_values(s, win, r, fun, correction) for s in sims])
    k = _k_values_batch(sims, win, r, correction)
    return k if fun == "K" else np.sqrt(np.clip(k, 0, None) / np.pi)


def _simulate_fft(pts, win, r, fun, correction, nsim, seed, cell):
    """Observed and simulated K/L with the FFT estimator (``method="fft"``).

    Under CSR the pixel counts of a binomial process are multinomial with probabilities
    proportional to the window area in each pixel, and positions inside a pixel are uniform
    (the FFT estimator's own assumption), so the null rasters are drawn directly.
    """
    g = fft_grid(win, r, cell, correction)
    n = len(pts)
    obs = k_fft_counts(rasterise(pts, g), n, win, g)
    rng = np.random.default_rng(seed)
    p = g.coverage.ravel() / g.coverage.sum()
    sims = np.empty((nsim, len(r)))
    for s in range(nsim):
        counts = rng.multinomial(n, p).reshape(g.ny, g.nx).astype(float)
        sims[s] = k_fft_counts(counts, n, win, g)
    if fun == "L":
        obs = np.sqrt(np.clip(obs, 0, None) / np.pi)
        sims = np.sqrt(np.clip(sims, 0, None) / np.pi)
    return obs, sims


def _erl_pvalues(curves: np.ndarray) -> np.ndarray:
    """Extreme-rank-length p-value of every curve (Myllymäki et al. 2017; GET ``type="erl"``).

    Pointwise two-sided ranks (ties take the larger rank), sorted per curve; curves are
    ordered lexicographically by these vectors (the most extreme first) and
    p_i = #{j : curve j at least as extreme as curve i} / (nsim + 1).
    """
    from scipy.stats import rankdata

    lo = rankdata(curves, axis=0, method="max")
    hi = rankdata(-curves, axis=0, method="max")
    srt = np.sort(np.minimum(lo, hi), axis=1)
    _, inv = np.unique(srt, axis=0, return_inverse=True)  # lexicographic order of rows
    inv = inv.ravel()
    counts = np.bincount(inv)
    le = np.cumsum(counts)[inv]
    return np.asarray(le / len(curves), dtype=float)


def envelope(
    xy: PointsLike,
    window: WindowLike,
    r: ArrayLike | None = None,
    *,
    fun: str = "L",
    correction: str | None = None,
    nsim: int = 99,
    nrank: int = 1,
    alpha: float = 0.05,
    rmax_m: float | None = None,
    seed: int | None = 0,
    method: str = "exact",
    cell: float | None = None,
) -> EnvelopeResult:
    """Monte Carlo envelopes of K or L under complete spatial randomness in the window.

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres.
    window : polygon window (see :func:`clusterscape.measure.pattern.k_function`).
    r : array of float, optional
        Distances (m). Default 129 values from 0 to ``rmax_m``.
    fun : {"L", "K"}, default "L"
        Summary function (Besag's L is variance-stabilised).
    correction : str, optional
        Edge correction; default "isotropic" up to 3,000 points, "border" above (as spatstat).
    nsim : int, default 99
        Number of CSR simulations (99 with nrank = 1 is a 2 % pointwise test).
    nrank : int, default 1
        Rank of the envelope value (spatstat ``nrank``).
    alpha : float, default 0.05
        Level of the global rank envelope.
    rmax_m : float, optional
        Largest distance when ``r`` is None; default spatstat's rule min(short side / 4,
        sqrt(1000/(πλ))).
    seed : int or None, default 0
    method : {"exact", "fft"}, default "exact"
        "fft" uses the raster/FFT approximation of K (see :func:`k_function`; translation or no
        edge correction, default "translate") for the observed and the simulated patterns, the
        null rasters being drawn as multinomial pixel counts. For patterns of 10⁵ points and
        more; its error is documented in docs/concentration.md.
    cell : float, optional
        Pixel side (m) for ``method="fft"`` (default r[-1] / 64).

    Returns
    -------
    EnvelopeResult
    """
    caller = "pattern.envelope"
    pts, win, correction = _setup(
        xy, window, r, fun, correction, nsim, caller=caller, method=method
    )
    rr = (
        _default_r(win, len(pts), rmax_m, caller=caller)
        if r is None
        else _check_r(r, caller=caller)
    )
    if not 1 <= nrank <= nsim // 2:
        raise InvalidInputError(f"{caller}: nrank must be between 1 and nsim/2, got {nrank}.")
    obs, sims, cell_m = _curves(pts, win, rr, fun, correction, nsim, seed, method, cell, caller)
    theo = np.pi * rr**2 if fun == "K" else rr.copy()
    srt = np.sort(sims, axis=0)  # NaN (border K with no eligible point) sorts last
    lo, hi = srt[nrank - 1], srt[nsim - nrank]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dev = np.sort(np.nanmax(np.abs(sims - theo), axis=1))[::-1][nrank - 1]
    allc = np.vstack([obs, sims])
    ok = np.isfinite(allc).all(axis=0)
    perl = _erl_pvalues(allc[:, ok]) if ok.any() else np.ones(len(allc))
    p_rank = float(perl[0])
    inband = allc[perl > alpha]
    if len(inband) == 0:
        inband = allc
    return EnvelopeResult(
        r=rr,
        obs=obs,
        theo=theo,
        mean=sims.mean(axis=0),
        lo=lo,
        hi=hi,
        lo_global=theo - dev,
        hi_global=theo + dev,
        lo_rank=np.where(ok, inband.min(axis=0), np.nan),
        hi_rank=np.where(ok, inband.max(axis=0), np.nan),
        p_rank=p_rank,
        sims=sims,
        params={
            "fun": fun,
            "correction": correction,
            "nsim": nsim,
            "nrank": nrank,
            "alpha": alpha,
            "seed": seed,
            "null": "CSR in window",
            "method": method,
            "cell_m": cell_m,
        },
    )


def _curves(pts, win, rr, fun, correction, nsim, seed, method, cell, caller):
    """Observed and simulated curves, exact or by the raster/FFT approximation."""
    if method == "fft":
        cell_m = default_cell(win, float(rr[-1])) if cell is None else float(cell)
        check_positive(cell_m, "cell", caller=caller)
        obs, sims = _simulate_fft(pts, win, rr, fun, correction, nsim, seed, cell_m)
        return obs, sims, cell_m
    obs = _fun_values(pts, win, rr, fun, correction)
    return obs, _simulate(pts, win, rr, fun, correction, nsim, seed), None


def _sim_curves(simulated, win, rr, fun, correction, *, caller):
    """Curves of user-supplied null patterns (spatstat ``simulate = <list of patterns>``)."""
    pats = [as_xy(s, caller=caller, min_points=2) for s in simulated]
    if not pats:
        raise InvalidInputError(f"{caller}: simulated must hold at least one pattern.")
    for s in pats:
        check_inside(s, win, caller=caller, what="simulated points")
    if correction == "translate" and not win.is_rect:
        return np.vstack([_fun_values(s, win, rr, fun, correction) for s in pats])
    if len({len(s) for s in pats}) == 1:
        k = _k_values_batch(np.stack(pats), win, rr, correction)
        return k if fun == "K" else np.sqrt(np.clip(k, 0, None) / np.pi)
    return np.vstack([_fun_values(s, win, rr, fun, correction) for s in pats])


class GlobalTestOptions(TypedDict, total=False):
    """Keyword options of :func:`dclf_test` and :func:`mad_test` (documented there)."""

    nsim: int
    rmax_m: float | None
    fun: str
    correction: str | None
    seed: int | None
    method: str
    cell: float | None
    simulated: Sequence[PointsLike] | None


def _global_test(
    xy: PointsLike, window: WindowLike, *, exponent: int, caller: str, nsim: int = 99,
    rmax_m: float | None = None, fun: str = "K", correction: str | None = None,
    seed: int | None = 0, method: str = "exact", cell: float | None = None,
    simulated: Sequence[PointsLike] | None = None,
) -> TestResult:  # fmt: skip
    if simulated is not None:
        nsim = len(simulated)
    pts, win, correction = _setup(
        xy, window, None, fun, correction, nsim, caller=caller, method=method
    )
    rr = _default_r(win, len(pts), rmax_m, caller=caller, nr=NR_SPATSTAT)
    if simulated is not None:
        if method != "exact":
            raise InvalidInputError(f"{caller}: simulated patterns need method='exact'.")
        obs = _fun_values(pts, win, rr, fun, correction)
        sims = _sim_curves(simulated, win, rr, fun, correction, caller=caller)
        cell_m = None
    else:
        obs, sims, cell_m = _curves(pts, win, rr, fun, correction, nsim, seed, method, cell, caller)
    theo = np.pi * rr**2 if fun == "K" else rr.copy()
    allc = np.vstack([obs, sims])
    dev = np.abs(allc - theo)  # spatstat: reference = theoretical curve, two-sided
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, not a crash
        if exponent == 2:
            t = (rr[-1] - rr[0]) * np.nanmean(dev**2, axis=1)
        else:
            t = np.nanmax(dev, axis=1)
    if not np.isfinite(t[0]):
        p = float("nan")
    else:
        p = (1 + int((t[1:] >= t[0]).sum())) / (nsim + 1)
    return TestResult(
        statistic=float(t[0]),
        p_value=float(p),
        sim_statistics=t[1:],
        r=rr,
        obs=obs,
        params={
            "test": "dclf" if exponent == 2 else "mad",
            "fun": fun,
            "correction": correction,
            "nsim": nsim,
            "rmax_m": float(rr[-1]),
            "reference": "theoretical",
            "seed": seed,
            "null": "CSR in window" if simulated is None else "user-supplied patterns",
            "method": method,
            "cell_m": cell_m,
        },
    )


def dclf_test(
    xy: PointsLike, window: WindowLike, **options: Unpack[GlobalTestOptions]
) -> TestResult:
    """Diggle–Cressie–Loosmore–Ford test of CSR in the window (spatstat ``dclf.test``).

    T = rmax · mean_r (f(r) − f_theo(r))² over spatstat's 513 r values in [0, rmax] (the
    Riemann form of ∫_0^rmax (f − f_theo)² dr that spatstat uses), f_theo = πr² for K and r
    for L; p = (1 + #{T_sim >= T}) / (nsim + 1). ``p_value`` small means the pattern departs
    from CSR (clustered or regular). Defaults are spatstat's: K, theoretical reference,
    ``rinterval = [0, rmax]``, rmax = min(short side / 4, sqrt(1000/(πλ))).

    Parameters
    ----------
    xy, window
        As in :func:`envelope`.
    nsim : int, default 99
    rmax_m : float, optional
        Upper end of the distance interval (m); default spatstat's rmax rule.
    fun : {"K", "L"}, default "K"
        Summary function (spatstat's default is ``Kest``).
    correction : str, optional
        As in :func:`envelope`.
    seed : int or None, default 0
    method : {"exact", "fft"}, default "exact"
        As in :func:`envelope`: "fft" computes every curve by the raster/FFT approximation.
    cell : float, optional
        Pixel side (m) for ``method="fft"``.
    simulated : sequence of (m, 2) arrays, optional
        Null patterns to use instead of the built-in CSR simulations (spatstat
        ``simulate = <list of ppp>``); ``nsim`` is then their number.

    Returns
    -------
    TestResult
        ``params["reference"]`` is "theoretical".

    References
    ----------
    Diggle P.J. 1986, J. Neurosci. Methods 18:115–125; Loosmore N.B. & Ford E.D. 2006,
    Ecology 87:1925–1931; Baddeley A. et al. 2014, Ecological Monographs 84:477–489.
    """
    return _global_test(xy, window, exponent=2, caller="pattern.dclf_test", **options)


def mad_test(
    xy: PointsLike, window: WindowLike, **options: Unpack[GlobalTestOptions]
) -> TestResult:
    """Maximum absolute deviation test of CSR (spatstat ``mad.test``): T = max_r |f − f_theo|.

    Parameters and defaults are those of :func:`dclf_test` (K, theoretical reference,
    r in [0, rmax] on 513 values).
    """
    return _global_test(xy, window, exponent=0, caller="pattern.mad_test", **options)
