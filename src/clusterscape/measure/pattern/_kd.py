"""Duranton–Overman K-density (Kd), its random-labelling envelopes, and the M function.

Kd (Duranton & Overman 2005, Rev. Econ. Stud. 72(4):1077–1106) is the kernel density of all
n(n−1)/2 unordered distances between the n establishments of an industry:

    K̂(d) = 1 / (h · Σ_p w_p) · Σ_p w_p [φ((d − d_p)/h) + φ((d + d_p)/h)],   d >= 0,

with φ the standard normal density, reflection at 0 (the second term, so that no mass leaks
below zero), w_p = 1 (count version) or w_p = e_i e_j (employment-weighted version of
Duranton & Overman's §4, "Kemp") and h Silverman's rule of thumb over the distances
(R ``bw.nrd0``: 0.9 · min(sd, IQR/1.34) · N^(−1/5)) over the N distances up to twice the
largest r, as dbmss ``Kdhat`` does (``bw.nrd0(Dist[Dist <= rmax*2])``). The null draws n sites at random from all
establishments (random labelling). M (Marcon & Puech 2010, JEG 10(5):745–762) is the relative,
cumulative counterpart: M = 1 under independence.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from clusterscape._validation import PointsLike, as_xy, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure.pattern._kernels import strip_order, strip_partners
from clusterscape.measure.pattern._kfunc import _check_r

__all__ = ["KdResult", "MResult", "bw_nrd0", "kd", "kd_envelope", "m_envelope", "m_function"]

_EXACT_BW_MAX_N = 3000  # above: sd and IQR from the pairs of a random subset of this size
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


def _close_distances(xy: np.ndarray, dmax: float) -> np.ndarray:
    """All unordered pair distances <= dmax."""
    tree = cKDTree(xy)
    pairs = tree.query_pairs(dmax, output_type="ndarray")
    return np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)


def _bandwidth(xy: np.ndarray, rmax: float, seed: int | None) -> float:
    """dbmss ``Kdhat``'s bandwidth: R ``bw.nrd0(Dist[Dist <= rmax * 2])``, the pair distances
    up to twice the largest r (R/Kdhat.R; "only pairs of points up to 2rmax are considered").

    Exact up to ``_EXACT_BW_MAX_N`` points. Above, the number N of pairs within 2·rmax is
    counted exactly (k-d tree) and sd and IQR come from the pairs within 2·rmax of a seeded
    random subset of ``_EXACT_BW_MAX_N`` points (their pairs are a random sample of all pairs),
    so bw = 0.9 · min(sd, IQR/1.34) · N^(−1/5) with the true N.
    """
    dmax = 2.0 * float(rmax)
    n = len(xy)
    if n <= _EXACT_BW_MAX_N:
        d = _close_distances(xy, dmax)
        if d.size < 2:
            raise InvalidInputError(
                f"pattern.kd: fewer than 2 pairs of points lie within 2 x r_max = {dmax:g} m, "
                "so no bandwidth can be chosen; give a larger r or bandwidth_m."
            )
        return bw_nrd0(d)
    rng = np.random.default_rng(seed)
    sub = xy[rng.choice(n, _EXACT_BW_MAX_N, replace=False)]
    d = _close_distances(sub, dmax)
    if d.size < 2:
        raise InvalidInputError(
            f"pattern.kd: too few pairs within 2 x r_max = {dmax:g} m to choose a bandwidth; "
            "give a larger r or bandwidth_m."
        )
    tree = cKDTree(xy)
    npairs = (float(tree.count_neighbors(tree, dmax)) - n) / 2.0  # ordered, self included
    return bw_nrd0(d) * (d.size / npairs) ** 0.2  # N^(-1/5) with the true number of pairs


@numba.njit(cache=True, parallel=True)
def _pair_grid(x, y, strip_start, strip_of, w, dmax, delta, ngrid, nchunks):
    """Linear binning of weighted pair distances (unordered pairs) on a grid of step delta.

    Points are grouped in strips of height dmax and sorted by x within each strip (see
    clusterscape.measure.pattern._kernels.strip_order); each pair is visited once."""
    n = x.shape[0]
    acc = np.zeros((nchunks, ngrid + 18))
    dmax2 = dmax * dmax
    cap = np.full(n, np.inf)
    for c in numba.prange(nchunks):
        h = acc[c]
        js = np.empty(n, np.int64)
        d2s = np.empty(n)
        for i in range(c, n, nchunks):
            cnt = strip_partners(x, y, i, strip_of[i], strip_start, dmax, dmax2, cap, js, d2s)
            for q in range(cnt):  # distances in grid steps, in a loop of its own (SIMD)
                d2s[q] = math.sqrt(d2s[q]) / delta
            for q in range(cnt):
                t = d2s[q]
                k = int(t)
                f = t - k
                ww = w[i] * w[js[q]]
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


# ------------------------------------------------------------- fast random-labelling sims
_SIM_BATCH = 64  # simulations drawn and counted together
_GRID_MIN_N = 4_000  # grid (cell-binned positions) by default from this many cases
_GL_T = np.array([0.0694318442029737, 0.3300094782075719, 0.6699905217924281, 0.9305681557970263])
_GL_W = np.array([0.1739274225687269, 0.3260725774312731, 0.3260725774312731, 0.1739274225687269])


@numba.njit(cache=True, nogil=True, inline="always")
def _bin_pair(h, dx, dy, ww, inv, lim):
    """Linear binning of one pair of weight ``ww`` at offset (dx, dy) on the grid of step 1/inv,
    the distance capped at ``lim`` steps (the simulation kernels' form)."""
    t = min(math.sqrt(dx * dx + dy * dy) * inv, lim)
    k = int(t)
    f = t - k
    h[k] += ww - ww * f
    h[k + 1] += ww * f


@numba.njit(cache=True, nogil=True)
def _hist_one(x, y, w, dmax, delta, ngrid, h):
    """Linearly binned weighted distances of all unordered pairs with |dx| <= dmax (points
    sorted by x) on the grid k·delta; distances past the grid go to two ignored bins."""
    n = x.shape[0]
    inv = 1.0 / delta
    lim = float(ngrid + 2)
    jend = 0
    for i in range(n):
        xi = x[i]
        yi = y[i]
        wi = w[i]
        while jend < n and x[jend] - xi <= dmax:
            jend += 1
        for j in range(i + 1, jend):
            _bin_pair(h, x[j] - xi, y[j] - yi, wi * w[j], inv, lim)


@numba.njit(cache=True, parallel=True)
def _hist_batch(x, y, w, starts, dmax, delta, ngrid):
    """:func:`_hist_one` for several point sets (concatenated; set s is starts[s]:starts[s+1]),
    one set per thread."""
    ns = starts.shape[0] - 1
    out = np.zeros((ns, ngrid + 4))
    for s in numba.prange(ns):
        a = starts[s]
        b = starts[s + 1]
        _hist_one(x[a:b], y[a:b], w[a:b], dmax, delta, ngrid, out[s])
    return out[:, : ngrid + 2]


@numba.njit(cache=True, nogil=True)
def _near_cells(x, y, w, cx, cy, order, cell_start, nx, ny, delta, ngrid, h):
    """Exact linearly binned distances of the pairs in the same or adjacent grid cells (the
    offsets (0, 0) with j > i, (0, 1), (1, -1), (1, 0), (1, 1))."""
    inv = 1.0 / delta
    lim = float(ngrid + 2)
    for q in range(order.shape[0]):
        i = order[q]
        xi = x[i]
        yi = y[i]
        wi = w[i]
        for o in range(5):
            if o == 0:
                gx = cx[i]
                gy = cy[i]
            elif o == 1:
                gx = cx[i]
                gy = cy[i] + 1
            else:
                gx = cx[i] + 1
                gy = cy[i] + o - 3
            if gx >= nx or gy < 0 or gy >= ny:
                continue
            cell = gx * ny + gy
            t0 = q + 1 if o == 0 else cell_start[cell]
            for t in range(t0, cell_start[cell + 1]):
                j = order[t]
                _bin_pair(h, x[j] - xi, y[j] - yi, wi * w[j], inv, lim)


@numba.njit(cache=True)
def _offset_hist(px, py, g, delta, ngrid, tq, wq):
    """Sparse map from cell offsets to the distance grid: entry (m, k) is the expected linear-
    binning weight on bin k of the distance between two points placed uniformly at random in
    two cells offset by (px[m], py[m]) cells of side g (tensor Gauss–Legendre quadrature of
    the triangular density of each coordinate difference)."""
    nq = tq.shape[0]
    inv = 1.0 / delta
    lim = float(ngrid + 2)
    rows = np.empty(px.shape[0] * nq * nq * 2, dtype=np.int64)
    cols = np.empty(rows.shape[0], dtype=np.int64)
    vals = np.empty(rows.shape[0])
    e = 0
    for m in range(px.shape[0]):
        for a in range(nq):
            ux = (px[m] + tq[a]) * g
            for b in range(nq):
                uy = (py[m] + tq[b]) * g
                t = min(math.sqrt(ux * ux + uy * uy) * inv, lim)
                k = int(t)
                f = t - k
                ww = wq[a] * wq[b]
                rows[e] = m
                cols[e] = k
                vals[e] = ww * (1.0 - f)
                rows[e + 1] = m
                cols[e + 1] = k + 1
                vals[e + 1] = ww * f
                e += 2
    return rows, cols, vals


class _GridCounter:
    """Pair-distance histograms of subsets of fixed sites, from cell-binned positions.

    Sites are binned on square cells of side ``g``. Pairs in the same or adjacent cells are
    binned from their exact distances; for every other cell offset within ``dmax`` the
    number (or weight) of pairs comes from the autocorrelation of the cell counts (FFT) and is
    spread over the distance grid as the distance of two points uniform in the two cells."""

    def __init__(self, xy: np.ndarray, g: float, dmax: float, delta: float, ngrid: int):
        import scipy.fft
        import scipy.sparse

        self._fft = scipy.fft
        self.x = np.ascontiguousarray(xy[:, 0])
        self.y = np.ascontiguousarray(xy[:, 1])
        x0, y0 = self.x.min(), self.y.min()
        self.cx = ((self.x - x0) / g).astype(np.int64)
        self.cy = ((self.y - y0) / g).astype(np.int64)
        self.nx, self.ny = int(self.cx.max()) + 1, int(self.cy.max()) + 1
        dcell = math.ceil(dmax / g) + 1
        self.shape = (
            scipy.fft.next_fast_len(self.nx + dcell, real=True),
            scipy.fft.next_fast_len(self.ny + dcell, real=True),
        )
        pg, qg = np.meshgrid(np.arange(dcell + 1), np.arange(-dcell, dcell + 1), indexing="ij")
        p, q = pg.ravel(), qg.ravel()
        half = (p > 0) | ((p == 0) & (q > 0))
        near = (p <= 1) & (np.abs(q) <= 1)
        reach = np.hypot(np.maximum(p - 1, 0), np.maximum(np.abs(q) - 1, 0)) * g <= dmax
        keep = half & ~near & reach
        self.p, self.q = p[keep], q[keep]
        tq = np.concatenate([-1 + _GL_T, _GL_T])  # nodes of the triangular density on [-1, 1]
        wq = np.concatenate([_GL_W * _GL_T, _GL_W * (1 - _GL_T)])
        rows, cols, vals = _offset_hist(
            self.p.astype(float), self.q.astype(float), g, delta, ngrid, tq, wq
        )
        self.hmap = scipy.sparse.csr_matrix(
            (vals, (rows, cols)), shape=(self.p.size, ngrid + 4)
        ).T.tocsr()
        self.ngrid = ngrid
        self.delta = delta

    def hist(self, idx: np.ndarray, w: np.ndarray, workers: int = -1) -> np.ndarray:
        """Distance histogram (ngrid + 2 bins) of the pairs among sites ``idx`` (weights w);
        ``workers`` threads for the FFTs."""
        cx, cy = self.cx[idx], self.cy[idx]
        cell = cx * self.ny + cy
        ncell = self.nx * self.ny
        grid = np.zeros(self.shape, dtype=np.float32)
        grid[: self.nx, : self.ny] = np.bincount(cell, weights=w, minlength=ncell).reshape(
            self.nx, self.ny
        )
        f = self._fft.rfft2(grid, workers=workers)
        ac = self._fft.irfft2(f.real**2 + f.imag**2, s=self.shape, workers=workers)
        far = ac[self.p, self.q].astype(float)  # negative q wraps around
        h = self.hmap @ far
        order = np.argsort(cell, kind="stable")
        start = np.zeros(ncell + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=ncell), out=start[1:])
        _near_cells(
            self.x[idx],
            self.y[idx],
            np.ascontiguousarray(w, dtype=float),
            cx,
            cy,
            order,
            start,
            self.nx,
            self.ny,
            self.delta,
            self.ngrid,
            h,
        )
        return h[: self.ngrid + 2]


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
    xy: PointsLike,
    r: ArrayLike,
    *,
    bandwidth_m: float | None = None,
    weights: ArrayLike | None = None,
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
        Kernel bandwidth h in metres; default dbmss ``Kdhat``'s rule, R ``bw.nrd0`` over the
        pair distances <= 2 · max(r) (sd and IQR from a random subset of 3,000 points when
        n > 3,000; the number of pairs is always exact).
    weights : array, optional
        Employment per establishment: the Kemp version (pairs weighted by e_i e_j).
    binned : bool, optional
        Linear-bin the distances on a grid of step h/20 before smoothing (error below 0.1 % of
        the peak density); default True when n > 2,000. False sums the kernel over every pair.
    seed : int or None, default 0
        Only used to subsample points for the bandwidth when n > 3,000.

    Returns
    -------
    ndarray
        K̂(d) in 1/m (a density over distance: it integrates to 1 over [0, ∞)).
    """
    caller = "pattern.kd"
    pts = as_xy(xy, caller=caller, min_points=2)
    rr = _check_r(r, caller=caller)
    w = _weights(weights, len(pts), caller=caller)
    bw = _bandwidth(pts, float(rr[-1]), seed) if bandwidth_m is None else float(bandwidth_m)
    check_positive(bw, "bandwidth_m", caller=caller)
    use_bins = len(pts) > 2000 if binned is None else binned
    return _kd_core(pts, w, rr, bw, use_bins)


def _kern(r: np.ndarray, bw: float, delta: float, ngrid: int) -> np.ndarray:
    """Reflected Gaussian kernel between the distance grid k·delta and r: (len(r), ngrid + 2)."""
    g = np.arange(ngrid + 2) * delta
    a = (r[:, None] - g[None, :]) / bw
    b = (r[:, None] + g[None, :]) / bw
    return (np.exp(-0.5 * a * a) + np.exp(-0.5 * b * b)) / math.sqrt(2 * math.pi)


def _draws(rng: np.random.Generator, npop: int, w: np.ndarray, weighted: bool, k: int):
    """The next ``k`` random-labelling draws: (sites, weights) per simulation."""
    for _ in range(k):
        idx = rng.choice(npop, size=len(w), replace=False)
        yield idx, (rng.permutation(w) if weighted else w)


def _kd_sims(
    cx: np.ndarray,
    px: np.ndarray,
    w: np.ndarray,
    weighted: bool,
    rr: np.ndarray,
    bw: float,
    method: str,
    nsim: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Observed Kd and ``nsim`` random-labelling simulations with one estimator for all."""
    if method == "exact":
        obs = _kd_core(cx, w, rr, bw, False)
        sims = np.empty((nsim, len(rr)))
        for s, (idx, ws) in enumerate(_draws(rng, len(px), w, weighted, nsim)):
            sims[s] = _kd_core(px[idx], ws, rr, bw, False)
        return obs, sims, {}
    total = (w.sum() ** 2 - (w**2).sum()) / 2.0
    dmax = float(rr[-1] + _TRUNC * bw)
    delta = bw / 20.0
    ngrid = math.ceil(dmax / delta) + 1
    kern = _kern(rr, bw, delta, ngrid) / (bw * total)
    sims = np.empty((nsim, len(rr)))
    info: dict[str, float] = {}
    if method == "grid":
        sites = np.vstack([px, cx])
        ext = float(np.ptp(sites, axis=0).max()) + 2 * dmax
        g = max(bw / 2.0, ext / 4096.0)  # at most ~4096 cells a side
        counter = _GridCounter(sites, g, dmax, delta, ngrid)
        info["cell_m"] = g
        obs = kern @ counter.hist(np.arange(len(px), len(sites)), w)
        # one simulation per thread (the FFTs and the near-cell kernel release the GIL); the
        # draws are taken in order from ``rng``, so results do not depend on the thread count
        nthreads = max(1, numba.get_num_threads())
        draws = _draws(rng, len(px), w, weighted, nsim)
        with ThreadPoolExecutor(nthreads) as pool:
            for s0 in range(0, nsim, 4 * nthreads):
                batch = list(itertools.islice(draws, 4 * nthreads))
                hists = pool.map(lambda d: counter.hist(d[0], d[1], workers=1), batch)
                for b, hb in enumerate(hists):
                    sims[s0 + b] = kern @ hb
        return obs, sims, info
    ordx = np.argsort(px[:, 0], kind="stable")
    rank = np.empty(len(px), dtype=np.int64)
    rank[ordx] = np.arange(len(px))
    co = np.argsort(cx[:, 0], kind="stable")
    h = _hist_batch(cx[co, 0], cx[co, 1], w[co], np.array([0, len(cx)]), dmax, delta, ngrid)
    obs = kern @ h[0]
    n = len(cx)
    for s0 in range(0, nsim, _SIM_BATCH):
        k = min(_SIM_BATCH, nsim - s0)
        xs, ys, wb = np.empty(k * n), np.empty(k * n), np.empty(k * n)
        for b, (idx, ws) in enumerate(_draws(rng, len(px), w, weighted, k)):
            o = np.argsort(rank[idx])
            sel = idx[o]
            xs[b * n : (b + 1) * n] = px[sel, 0]
            ys[b * n : (b + 1) * n] = px[sel, 1]
            wb[b * n : (b + 1) * n] = ws[o]
        h = _hist_batch(xs, ys, wb, np.arange(k + 1) * n, dmax, delta, ngrid)
        sims[s0 : s0 + k] = h @ kern.T
    return obs, sims, info


@dataclass(frozen=True)
class KdResult:
    """Kd with its random-labelling envelopes (arrays aligned with ``r``).

    Attributes
    ----------
    r : distances (m). kd : observed K-density (1/m). lo_local, hi_local : pointwise
    alpha/2 and 1−alpha/2 quantiles of the simulations. lo_global, hi_global : global band at
    level ``alpha`` — the global rank envelope (Myllymäki et al. 2017), which the observed
    curve leaves somewhere with probability alpha under the null. p_value : its extreme rank
    length p-value; ``verdict`` is decided by it. lo_do, hi_do : Duranton & Overman's (2005)
    one-sided global bands (each crossed anywhere by at most ``alpha`` of the simulations;
    together a test of about 2·alpha). localisation : Γ(d) = max(K̂ − hi_global, 0).
    dispersion : Ψ(d) = max(lo_global − K̂, 0) where no localisation is found anywhere, else 0.
    gamma, psi : their sums over d. verdict : "clustered", "dispersed" or "no departure".
    bandwidth_m : h. sims : (nsim, len(r)). params : nsim, alpha, seed, weighted, null.
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
    p_value: float = float("nan")
    lo_do: np.ndarray | None = field(default=None, repr=False)
    hi_do: np.ndarray | None = field(default=None, repr=False)


def rank_test(obs: np.ndarray, sims: np.ndarray, alpha: float):
    """Global rank envelope test (Myllymäki et al. 2017, extreme rank length): the p-value of
    the observed curve among all nsim + 1 curves and the band at level ``alpha`` (the envelope
    of the curves with p > alpha). Under exchangeability P(p <= alpha) <= alpha, = alpha when
    alpha (nsim + 1) is an integer; p <= alpha exactly when the observed curve leaves the band
    somewhere (continuous curves). r values where any curve is NaN are left out of the ranks.

    Returns (p, lo, hi).
    """
    from clusterscape.measure.pattern._envelope import _erl_pvalues

    allc = np.vstack([obs, sims])
    ok = np.isfinite(allc).all(axis=0)
    if not ok.any():
        nan = np.full(allc.shape[1], np.nan)
        return float("nan"), nan, nan.copy()
    perl = _erl_pvalues(allc[:, ok])
    inband = allc[perl > alpha]
    if len(inband) == 0:
        inband = allc
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanmin(inband, axis=0), np.nanmax(inband, axis=0)
    lo[~ok] = np.nan
    hi[~ok] = np.nan
    return float(perl[0]), lo, hi


def _verdict(p: float, obs: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float) -> str:
    """One test decides: "no departure" unless p <= alpha; then the side on which the observed
    curve leaves the band farthest (relative to the band's width)."""
    if not np.isfinite(p) or p > alpha:
        return "no departure"
    width = np.where(hi > lo, hi - lo, 1.0)
    up = np.nanmax(np.where(obs > hi, (obs - hi) / width, 0.0))
    down = np.nanmax(np.where(obs < lo, (lo - obs) / width, 0.0))
    return "clustered" if up >= down else "dispersed"


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
    cases: PointsLike,
    population: PointsLike,
    r: ArrayLike,
    *,
    nsim: int = 999,
    alpha: float = 0.05,
    weights: ArrayLike | None = None,
    bandwidth_m: float | None = None,
    binned: bool | None = None,
    grid: bool | None = None,
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
        As in :func:`kd`; ``binned`` defaults to True when n > 2,000. The observed curve and
        every simulation always use the same estimator.
    grid : bool, optional
        Bin the sites on square cells of side h/2 (implies ``binned``): pairs in the same or
        adjacent cells keep their exact distances; pairs farther apart are counted per cell
        offset from the FFT autocorrelation of the cell counts and spread over the distances
        between two points uniform in the two cells. Cost no longer grows with n²; the
        difference from the exact Kd is a small fraction of the envelope width (checked in
        the tests). Default True when n >= 4,000 (and ``binned``).
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
    bw = _bandwidth(cx, float(rr[-1]), seed) if bandwidth_m is None else float(bandwidth_m)
    check_positive(bw, "bandwidth_m", caller=caller)
    use_bins = (len(cx) > 2000 if binned is None else bool(binned)) or bool(grid)
    use_grid = use_bins and (len(cx) >= _GRID_MIN_N if grid is None else bool(grid))
    method = "grid" if use_grid else "binned" if use_bins else "exact"
    rng = np.random.default_rng(seed)
    obs, sims, info = _kd_sims(cx, px, w, weights is not None, rr, bw, method, int(nsim), rng)
    lo_l, hi_l = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
    lo_do, hi_do = global_bands(sims, alpha)
    p_value, lo_g, hi_g = rank_test(obs, sims, alpha)
    verdict = _verdict(p_value, obs, lo_g, hi_g, alpha)
    loc = np.maximum(obs - hi_g, 0.0) if verdict == "clustered" else np.zeros_like(obs)
    disp = np.maximum(lo_g - obs, 0.0) if verdict == "dispersed" else np.zeros_like(obs)
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
        p_value=p_value,
        lo_do=lo_do,
        hi_do=hi_do,
        sims=sims,
        params={
            "nsim": nsim,
            "alpha": alpha,
            "seed": seed,
            "weighted": weights is not None,
            "binned": use_bins,
            "method": method,
            **info,
            "null": "random labelling among all establishments",
            "global_band": "rank envelope (extreme rank length), two-sided",
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
    """M with its random-labelling envelope: r, m, lo, hi (pointwise alpha/2, 1 − alpha/2),
    lo_global, hi_global (global rank envelope at level alpha), p_value (its extreme rank
    length p-value, which decides ``verdict``), sims, params."""

    r: np.ndarray
    m: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo_global: np.ndarray
    hi_global: np.ndarray
    verdict: str
    sims: np.ndarray = field(repr=False)
    params: Mapping[str, object] = field(default_factory=dict)
    p_value: float = float("nan")


def _m_setup(xy, labels, r, reference, neighbour, weights, caller):
    """Validated labels and r, and M as a function of the labels over the fixed locations and
    weights (the pairs within r[-1] are found once)."""
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
    rr = _check_r(r, caller=caller)
    w = _weights(weights, len(pts), caller=caller)
    i, j, k = _m_parts(pts, rr)

    def m_of(lp: np.ndarray) -> np.ndarray:
        is_nb = (lp == neighbour).astype(float)
        return _m_from_parts(i, j, k, len(pts), len(rr), lp == reference, is_nb, w)

    return lab, rr, m_of


def m_function(
    xy: PointsLike,
    labels: ArrayLike,
    r: ArrayLike,
    reference: Any,
    neighbour: Any,
    *,
    weights: ArrayLike | None = None,
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
    lab, _, m_of = _m_setup(xy, labels, r, reference, neighbour, weights, "pattern.m_function")
    return m_of(lab)


def m_envelope(
    xy: PointsLike,
    labels: ArrayLike,
    r: ArrayLike,
    reference: Any,
    neighbour: Any,
    *,
    weights: ArrayLike | None = None,
    nsim: int = 99,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> MResult:
    """M with a random-labelling envelope (dbmss ``MEnvelope(SimulationType="RandomLabeling")``).

    Locations and their weights stay fixed; each simulation shuffles the labels over the
    locations (dbmss ``rRandomLabelingM``: "weights are kept on their points").
    ``p_value`` is the global rank envelope test (extreme rank length); ``verdict`` is "no
    departure" unless p_value <= alpha, then "clustered" or "dispersed" by the side where M
    leaves the global band farthest. Parameters as in :func:`m_function`.
    """
    lab, rr, m_of = _m_setup(xy, labels, r, reference, neighbour, weights, "pattern.m_envelope")
    obs = m_of(lab)
    rng = np.random.default_rng(seed)
    sims = np.empty((nsim, len(rr)))
    for s in range(nsim):  # labels move, weights stay on their locations
        sims[s] = m_of(lab[rng.permutation(len(lab))])
    sims = np.nan_to_num(sims, nan=1.0)
    lo, hi = np.quantile(sims, [alpha / 2, 1 - alpha / 2], axis=0)
    o = np.nan_to_num(obs, nan=1.0)
    p_value, lo_g, hi_g = rank_test(o, sims, alpha)
    verdict = _verdict(p_value, o, lo_g, hi_g, alpha)
    return MResult(
        r=rr,
        m=obs,
        lo=lo,
        hi=hi,
        lo_global=lo_g,
        hi_global=hi_g,
        verdict=verdict,
        sims=sims,
        p_value=p_value,
        params={
            "nsim": nsim,
            "alpha": alpha,
            "seed": seed,
            "null": "random labelling (weights stay on their locations)",
            "global_band": "rank envelope (extreme rank length), two-sided",
        },
    )
