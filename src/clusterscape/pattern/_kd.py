"""Duranton–Overman K-density (Kd), its random-labelling envelopes, and the M function.

Kd (Duranton & Overman 2005, Rev. Econ. Stud. 72(4):1077–1106) is the kernel density of all
n(n−1)/2 unordered distances between the n establishments of an industry:

    K̂(d) = 1 / (h · Σ_p w_p) · Σ_p w_p [φ((d − d_p)/h) + φ((d + d_p)/h)],   d >= 0,

with φ the standard normal density, reflection at 0 (the second term, so that no mass leaks
below zero), w_p = 1 (count version) or w_p = e_i e_j (employment-weighted version of
Duranton & Overman's §4, "Kemp") and h Silverman's rule of thumb over the distances
(R ``bw.nrd0``: 0.9 · min(sd, IQR/1.34) · N^(−1/5)). The null draws n sites at random from all
establishments (random labelling). M (Marcon & Puech 2010, JEG 10(5):745–762) is the relative,
cumulative counterpart: M = 1 under independence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from scipy.spatial import cKDTree

from clusterscape._validation import as_xy, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.pattern._kernels import strip_order
from clusterscape.pattern._kfunc import _check_r

__all__ = ["KdResult", "MResult", "bw_nrd0", "kd", "kd_envelope", "m_envelope", "m_function"]

_EXACT_BW_MAX_N = 1000  # above: sd and IQR of distances from 500,000 random pairs
_TRUNC = 8.0  # kernel truncated at 8 h (φ(8) = 5e-15)


def bw_nrd0(d: np.ndarray) -> float:
    """Silverman's rule of thumb exactly as R ``bw.nrd0`` (sd with n−1, IQR of type-7 quantiles)."""
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        raise InvalidInputError("bw_nrd0: need at least 2 distances to choose a bandwidth.")
    hi = float(np.std(d, ddof=1))
    q75, q25 = np.percentile(d, [75, 25])
    lo = min(hi, float(q75 - q25) / 1.34)
    if not lo > 0:
        lo = hi or abs(float(d[0])) or 1.0
    return 0.9 * lo * d.size ** (-0.2)


def _pair_sample(xy: np.ndarray, rng: np.random.Generator, k: int = 500_000) -> np.ndarray:
    n = len(xy)
    if n <= _EXACT_BW_MAX_N:
        i, j = np.triu_indices(n, 1)
        return np.hypot(*(xy[i] - xy[j]).T)
    i = rng.integers(0, n, k)
    j = rng.integers(0, n - 1, k)
    j = j + (j >= i)
    return np.hypot(*(xy[i] - xy[j]).T)


def _bandwidth(xy: np.ndarray, seed: int | None) -> float:
    """bw.nrd0 over all n(n−1)/2 distances (estimated from 500,000 random pairs when n > 1000)."""
    d = _pair_sample(xy, np.random.default_rng(seed))
    n = len(xy)
    npairs = n * (n - 1) / 2
    b = bw_nrd0(d)
    return b * (d.size / npairs) ** 0.2  # N^(-1/5) with the true number of pairs


@numba.njit(cache=True, parallel=True)
def _pair_grid(x, y, strip_start, strip_of, w, dmax, delta, ngrid, nchunks):
    """Linear binning of weighted pair distances (unordered pairs) on a grid of step delta.

    Points are grouped in strips of height dmax and sorted by x within each strip (see
    clusterscape.pattern._kernels.strip_order); each pair is visited once."""
    n = x.shape[0]
    nstrips = strip_start.shape[0] - 1
    acc = np.zeros((nchunks, ngrid + 18))
    dmax2 = dmax * dmax
    for c in numba.prange(nchunks):
        h = acc[c]
        for i in range(c, n, nchunks):
            xi = x[i]
            yi = y[i]
            s = strip_of[i]
            for up in range(2):
                if up == 0:
                    j0 = i + 1
                    hi = strip_start[s + 1]
                else:
                    if s + 1 >= nstrips:
                        break
                    lo = strip_start[s + 1]
                    hi = strip_start[s + 2]
                    j0 = lo + np.searchsorted(x[lo:hi], xi - dmax)
                for j in range(j0, hi):
                    dx = x[j] - xi
                    if dx > dmax:
                        break
                    dy = y[j] - yi
                    d2 = dx * dx + dy * dy
                    if d2 > dmax2:
                        continue
                    t = math.sqrt(d2) / delta
                    k = int(t)
                    f = t - k
                    ww = w[i] * w[j]
                    h[k] += ww * (1.0 - f)
                    h[k + 1] += ww * f
    tot = np.zeros(ngrid + 18)
    for c in range(nchunks):
        tot += acc[c]
    return tot[: ngrid + 2]


@numba.njit(cache=True, parallel=True)
def _pair_kernel_exact(x, y, w, r, bw, dmax, nchunks):
    """Σ_p w_p [φ((r − d_p)/h) + φ((r + d_p)/h)] over unordered pairs with d_p <= dmax."""
    n = x.shape[0]
    m = r.shape[0]
    acc = np.zeros((nchunks, m + 16))
    dmax2 = dmax * dmax
    c0 = 1.0 / math.sqrt(2.0 * math.pi)
    for c in numba.prange(nchunks):
        h = acc[c]
        for i in range(c, n, nchunks):
            for j in range(i + 1, n):
                dx = x[j] - x[i]
                if dx > dmax:
                    break
                dy = y[j] - y[i]
                d2 = dx * dx + dy * dy
                if d2 > dmax2:
                    continue
                d = math.sqrt(d2)
                ww = w[i] * w[j] * c0
                for k in range(m):
                    a = (r[k] - d) / bw
                    b = (r[k] + d) / bw
                    h[k] += ww * (math.exp(-0.5 * a * a) + math.exp(-0.5 * b * b))
    tot = np.zeros(m + 16)
    for c in range(nchunks):
        tot += acc[c]
    return tot[:m]


def _kd_core(xy: np.ndarray, w: np.ndarray, r: np.ndarray, bw: float, binned: bool) -> np.ndarray:
    order = np.argsort(xy[:, 0], kind="stable")
    x = np.ascontiguousarray(xy[order, 0])
    y = np.ascontiguousarray(xy[order, 1])
    ww = np.ascontiguousarray(w[order])
    total = (ww.sum() ** 2 - (ww**2).sum()) / 2.0
    dmax = float(r[-1] + _TRUNC * bw)
    if not binned:
        s = _pair_kernel_exact(x, y, ww, r, bw, dmax, numba.get_num_threads())
        return np.asarray(s / (bw * total))
    delta = bw / 20.0
    ngrid = math.ceil(dmax / delta) + 1
    order2, start, strip_of = strip_order(xy[:, 0], xy[:, 1], dmax)
    counts = _pair_grid(
        np.ascontiguousarray(xy[order2, 0]),
        np.ascontiguousarray(xy[order2, 1]),
        start,
        strip_of,
        np.ascontiguousarray(w[order2]),
        dmax,
        delta,
        ngrid,
        numba.get_num_threads(),
    )
    g = np.arange(ngrid + 2) * delta
    a = (r[:, None] - g[None, :]) / bw
    b = (r[:, None] + g[None, :]) / bw
    kern = (np.exp(-0.5 * a * a) + np.exp(-0.5 * b * b)) / math.sqrt(2 * math.pi)
    return np.asarray(kern @ counts / (bw * total))


def _weights(weights: Any, n: int, *, caller: str) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInputError(
            f"{caller}: weights must be one finite value >= 0 per point (e.g. employees), got "
            f"shape {w.shape}. Fill unknown headcounts (e.g. with the median) before calling."
        )
    return w


def kd(
    xy: Any,
    r: Any,
    *,
    bandwidth_m: float | None = None,
    weights: Any = None,
    binned: bool | None = None,
    seed: int | None = 0,
) -> np.ndarray:
    """Duranton–Overman K-density of an industry's establishments at distances ``r``.

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries
        Establishment coordinates in metres.
    r : array of float
        Distances (m) at which to evaluate the density (e.g. ``np.linspace(0, 10_000, 101)``).
    bandwidth_m : float, optional
        Kernel bandwidth h in metres; default R ``bw.nrd0`` over all pairwise distances (from
        500,000 random pairs when n > 1,000).
    weights : array, optional
        Employment per establishment: the Kemp version (pairs weighted by e_i e_j).
    binned : bool, optional
        Linear-bin the distances on a grid of step h/20 before smoothing (error below 0.1 % of
        the peak density); default True when n > 2,000. False sums the kernel over every pair.
    seed : int or None, default 0
        Only used to sample pairs for the bandwidth when n > 1,000.

    Returns
    -------
    ndarray
        K̂(d) in 1/m (a density over distance: it integrates to 1 over [0, ∞)).
    """
    caller = "pattern.kd"
    pts = as_xy(xy, caller=caller, min_points=2)
    rr = _check_r(r, caller=caller)
    w = _weights(weights, len(pts), caller=caller)
    bw = _bandwidth(pts, seed) if bandwidth_m is None else float(bandwidth_m)
    check_positive(bw, "bandwidth_m", caller=caller)
    use_bins = len(pts) > 2000 if binned is None else binned
    return _kd_core(pts, w, rr, bw, use_bins)


@dataclass(frozen=True)
class KdResult:
    """Kd with its random-labelling envelopes (arrays aligned with ``r``).

    Attributes
    ----------
    r : distances (m). kd : observed K-density (1/m). lo_local, hi_local : pointwise
    alpha/2 and 1−alpha/2 quantiles of the simulations. lo_global, hi_global : Duranton–Overman
    global bands (each crossed anywhere by at most ``alpha`` of the simulations).
    localisation : Γ(d) = max(K̂ − hi_global, 0). dispersion : Ψ(d) = max(lo_global − K̂, 0)
    where no localisation is found anywhere, else 0. gamma, psi : their sums over d.
    verdict : "clustered", "dispersed" or "no departure". bandwidth_m : h.
    sims : (nsim, len(r)). params : nsim, alpha, seed, weighted, null.
    """

    r: np.ndarray
    kd: np.ndarray
    lo_local: np.ndarray
    hi_local: np.ndarray
    lo_global: np.ndarray
    hi_global: np.ndarray
    localisation: np.ndarray
    dispersion: np.ndarray
    gamma: float
    psi: float
    verdict: str
    bandwidth_m: float
    sims: np.ndarray = field(repr=False)
    params: Mapping[str, object] = field(default_factory=dict)


def global_bands(sims: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Duranton–Overman (2005) global bands: the lowest upper (highest lower) pointwise
    order-statistic band that at most ``alpha`` of the simulations cross anywhere."""
    nsim = sims.shape[0]
    srt = np.sort(sims, axis=0)
    hi = srt[-1]
    for k in range(int(np.ceil((1 - alpha) * nsim)) - 1, nsim):
        band = srt[k]
        if np.mean((sims > band).any(axis=1)) <= alpha:
            hi = band
            break
    lo = srt[0]
    for k in range(nsim - int(np.ceil((1 - alpha) * nsim)), -1, -1):
        band = srt[k]
        if np.mean((sims < band).any(axis=1)) <= alpha:
            lo = band
            break
    return lo, hi


def kd_envelope(
    cases: Any,
    population: Any,
    r: Any,
    *,
    nsim: int = 999,
    alpha: float = 0.05,
    weights: Any = None,
    bandwidth_m: float | None = None,
    binned: bool | None = None,
    seed: int | None = 0,
) -> KdResult:
    """Kd of ``cases`` against the random-labelling null drawn from all establishments.

    Each simulation draws n = len(cases) sites without replacement from ``population`` (all
    establishments of every industry), as Duranton & Overman (2005) do; with ``weights`` the
    cases' employments are shuffled over the drawn sites. The bandwidth of the observed
    pattern is used for every simulation so that curves are smoothed alike.

    Parameters
    ----------
    cases : (n, 2) array or projected GeoSeries
        The industry's establishments (metres).
    population : (N, 2) array or projected GeoSeries
        All establishments (metres), N > n; usually includes the cases.
    r : array of float
        Distances (m).
    nsim : int, default 999
    alpha : float, default 0.05
        Local bands are the alpha/2 and 1 − alpha/2 quantiles; each global band is crossed by
        at most ``alpha`` of the simulations (D–O use 5 % / 95 %).
    weights : array, optional
        Employment of each case (Kemp version).
    bandwidth_m, binned
        As in :func:`kd`; ``binned`` defaults to True when n > 2,000.
    seed : int or None, default 0

    Returns
    -------
    KdResult
    """
    caller = "pattern.kd_envelope"
    cx = as_xy(cases, caller=caller, min_points=2)
    px = as_xy(population, caller=caller, min_points=3)
    if len(px) <= len(cx):
        raise InvalidInputError(
            f"{caller}: population ({len(px)} points) must contain more establishments than the "
            f"cases ({len(cx)}); pass all establishments of every industry as the population."
        )
    if int(nsim) != nsim or nsim < 1:
        raise InvalidInputError(f"{caller}: nsim must be a positive integer, got {nsim!r}.")
    rr = _check_r(r, caller=caller)
    w = _weights(weights, len(cx), caller=caller)
    bw = _bandwidth(cx, seed) if bandwidth_m is None else float(bandwidth_m)
    check_positive(bw, "bandwidth_m", caller=caller)
    use_bins = len(cx) > 2000 if binned is None else binned
    obs = _kd_core(cx, w, rr, bw, use_bins)
    rng = np.random.default_rng(seed)
    sims = np.empty((nsim, len(rr)))
    for s in range(nsim):
        idx = rng.choice(len(px), size=len(cx), replace=False)
        ws = w if weights is None else rng.permutation(w)
        sims[s] = _kd_core(px[idx], ws, rr, bw, use_bins)
    lo_l, hi_l = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
    lo_g, hi_g = global_bands(sims, alpha)
    loc = np.maximum(obs - hi_g, 0.0)
    disp = np.maximum(lo_g - obs, 0.0) if not (loc > 0).any() else np.zeros_like(obs)
    verdict = (
        "clustered" if (loc > 0).any() else "dispersed" if (disp > 0).any() else "no departure"
    )
    return KdResult(
        r=rr,
        kd=obs,
        lo_local=lo_l,
        hi_local=hi_l,
        lo_global=lo_g,
        hi_global=hi_g,
        localisation=loc,
        dispersion=disp,
        gamma=float(loc.sum()),
        psi=float(disp.sum()),
        verdict=verdict,
        bandwidth_m=bw,
        sims=sims,
        params={
            "nsim": nsim,
            "alpha": alpha,
            "seed": seed,
            "weighted": weights is not None,
            "binned": use_bins,
            "null": "random labelling among all establishments",
        },
    )


# ---------------------------------------------------------------------------- M function
def _m_parts(pts: np.ndarray, rr: np.ndarray):
    tree = cKDTree(pts)
    sdm = tree.sparse_distance_matrix(tree, rr[-1], output_type="ndarray")
    i = sdm["i"].astype(np.intp)
    j = sdm["j"].astype(np.intp)
    d = np.asarray(sdm["v"], dtype=float)
    keep = i != j  # the ndarray output keeps zero distances, so coincident points count
    i, j, d = i[keep], j[keep], d[keep]
    k = np.searchsorted(rr, d, side="left")  # first r_k >= d: pairs with d <= r_k
    return i, j, k


def _m_from_parts(i, j, k, n, m, is_ref, is_nb, w):
    refs = np.flatnonzero(is_ref)
    pos = -np.ones(n, dtype=np.intp)
    pos[refs] = np.arange(refs.size)
    sel = is_ref[i]
    ii, jj, kk = pos[i[sel]], j[sel], k[sel]
    tot = np.zeros((refs.size, m + 1))
    nb = np.zeros((refs.size, m + 1))
    np.add.at(tot, (ii, kk), w[jj])
    np.add.at(nb, (ii, kk), w[jj] * is_nb[jj])
    tot = np.cumsum(tot, axis=1)[:, :m]
    nb = np.cumsum(nb, axis=1)[:, :m]
    wtot, wnb = w.sum(), (w * is_nb).sum()
    glob = (wnb - w[refs] * is_nb[refs]) / (wtot - w[refs])
    has = tot > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        local = np.where(has, nb / np.where(has, tot, 1.0), 0.0)
        num = local.sum(axis=0)
        den = (has * glob[:, None]).sum(axis=0)
        return np.where(den > 0, num / den, np.nan)


@dataclass(frozen=True)
class MResult:
    """M with its random-labelling envelope: r, m, lo, hi (pointwise), lo_global, hi_global
    (D–O style global bands), verdict, sims, params."""

    r: np.ndarray
    m: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo_global: np.ndarray
    hi_global: np.ndarray
    verdict: str
    sims: np.ndarray = field(repr=False)
    params: Mapping[str, object] = field(default_factory=dict)


def _m_inputs(xy, labels, r, reference, neighbour, weights, caller):
    pts = as_xy(xy, caller=caller, min_points=2)
    lab = np.asarray(labels, dtype=object).ravel()
    if lab.shape != (len(pts),):
        raise InvalidInputError(f"{caller}: labels must have one entry per point ({len(pts)}).")
    for name, v in (("reference", reference), ("neighbour", neighbour)):
        if not (lab == v).any():
            raise InvalidInputError(
                f"{caller}: no point has {name} label {v!r}; labels present: "
                f"{sorted({str(x) for x in lab})[:10]}."
            )
    return pts, lab, _check_r(r, caller=caller), _weights(weights, len(pts), caller=caller)


def m_function(
    xy: Any, labels: Any, r: Any, reference: Any, neighbour: Any, *, weights: Any = None
) -> np.ndarray:
    """Marcon & Puech (2010) M function (dbmss ``Mhat``).

    M(r) = Σ_{i∈S} [W_{S'}(i, r) / W(i, r)] / Σ_{i∈S} [(W_{S'} − w_i 1{i∈S'}) / (W − w_i)],
    where S are the reference points, S' the neighbour type, W(i, r) the total weight of the
    other points within distance r of i (d <= r) and W_{S'}(i, r) that of the neighbour
    type. Reference points with no neighbour within r are left out of both sums. M = 1 when
    the neighbour type is as frequent around the reference points as in the whole area.

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres (all establishments).
    labels : array of length n (e.g. sectors).
    r : array of float, distances (m).
    reference, neighbour : labels of the reference type and the neighbour type.
    weights : array, optional
        Weight (e.g. employees) of every point.

    Returns
    -------
    ndarray
        M(r), dimensionless.
    """
    caller = "pattern.m_function"
    pts, lab, rr, w = _m_inputs(xy, labels, r, reference, neighbour, weights, caller)
    i, j, k = _m_parts(pts, rr)
    return _m_from_parts(
        i, j, k, len(pts), len(rr), lab == reference, (lab == neighbour).astype(float), w
    )


def m_envelope(
    xy: Any,
    labels: Any,
    r: Any,
    reference: Any,
    neighbour: Any,
    *,
    weights: Any = None,
    nsim: int = 99,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> MResult:
    """M with a random-labelling envelope (dbmss ``MEnvelope(SimulationType="RandomLabeling")``).

    Locations stay fixed; each simulation permutes (label, weight) pairs over the locations.
    ``verdict`` is "clustered" if M rises above the global band somewhere, "dispersed" if it
    only falls below it, else "no departure". Parameters as in :func:`m_function`.
    """
    caller = "pattern.m_envelope"
    pts, lab, rr, w = _m_inputs(xy, labels, r, reference, neighbour, weights, caller)
    i, j, k = _m_parts(pts, rr)
    n, m = len(pts), len(rr)
    obs = _m_from_parts(i, j, k, n, m, lab == reference, (lab == neighbour).astype(float), w)
    rng = np.random.default_rng(seed)
    sims = np.empty((nsim, m))
    for s in range(nsim):
        perm = rng.permutation(n)
        lp, wp = lab[perm], w[perm]
        sims[s] = _m_from_parts(i, j, k, n, m, lp == reference, (lp == neighbour).astype(float), wp)
    sims = np.nan_to_num(sims, nan=1.0)
    lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
    lo_g, hi_g = global_bands(sims, alpha)
    o = np.nan_to_num(obs, nan=1.0)
    verdict = (
        "clustered" if (o > hi_g).any() else "dispersed" if (o < lo_g).any() else "no departure"
    )
    return MResult(
        r=rr,
        m=obs,
        lo=lo,
        hi=hi,
        lo_global=lo_g,
        hi_global=hi_g,
        verdict=verdict,
        sims=sims,
        params={"nsim": nsim, "alpha": alpha, "seed": seed, "null": "random labelling"},
    )
