"""Numba kernels shared by the K-type functions (internal).

* :func:`ripley_fraction` — exact fraction of a circle's circumference inside a polygon
  (Ripley 1977 isotropic correction; spatstat ``edge.Ripley`` / C ``ripleypoly``).
* :func:`pair_hist` — one sweep over all pairs closer than ``rmax`` (points sorted by x) that
  accumulates the histogram needed by the uncorrected, border, isotropic and (rectangle)
  translation estimators, on spatstat's histogram breaks.
"""

from __future__ import annotations

import math

import numba
import numpy as np

MAX_EDGE_WEIGHT = 100.0  # spatstat: edge.Ripley(maxweight = 100), spatstat.options("maxedgewt")

MODE_NONE = 0
MODE_BORDER = 1
MODE_ISO = 2
MODE_TRANS_RECT = 3


@numba.njit(cache=True, nogil=True)
def _inside(px: float, py: float, edges: np.ndarray) -> bool:
    """Even-odd ray casting over all boundary segments (holes included)."""
    inside = False
    for e in range(edges.shape[0]):
        x0 = edges[e, 0]
        y0 = edges[e, 1]
        x1 = edges[e, 2]
        y1 = edges[e, 3]
        if (y0 > py) != (y1 > py):
            xint = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
            if px < xint:
                inside = not inside
    return inside


@numba.njit(cache=True, nogil=True)
def ripley_fraction(cx: float, cy: float, rad: float, edges: np.ndarray) -> float:
    """Fraction of the circle of radius ``rad`` around ``(cx, cy)`` that lies inside the polygon.

    The circle is cut at its intersections with every boundary segment; each arc between two
    consecutive cuts is wholly inside or outside, decided by its midpoint. Exact up to
    floating point.
    """
    ne = edges.shape[0]
    ang = np.empty(2 * ne + 1)
    k = 0
    for e in range(ne):
        x0 = edges[e, 0] - cx
        y0 = edges[e, 1] - cy
        dx = edges[e, 2] - edges[e, 0]
        dy = edges[e, 3] - edges[e, 1]
        a = dx * dx + dy * dy
        if a == 0.0:
            continue
        b = 2.0 * (x0 * dx + y0 * dy)
        c = x0 * x0 + y0 * y0 - rad * rad
        disc = b * b - 4.0 * a * c
        if disc < 0.0:
            continue
        s = math.sqrt(disc)
        for t in ((-b - s) / (2.0 * a), (-b + s) / (2.0 * a)):
            if 0.0 <= t <= 1.0:
                ang[k] = math.atan2(y0 + t * dy, x0 + t * dx)
                k += 1
    if k == 0:
        return 1.0 if _inside(cx + rad, cy, edges) else 0.0
    cuts = np.sort(ang[:k])
    total = 0.0
    for m in range(k):
        a0 = cuts[m]
        a1 = cuts[m + 1] if m + 1 < k else cuts[0] + 2.0 * math.pi
        span = a1 - a0
        if span <= 1e-15:
            continue
        mid = 0.5 * (a0 + a1)
        if _inside(cx + rad * math.cos(mid), cy + rad * math.sin(mid), edges):
            total += span
    return total / (2.0 * math.pi)


@numba.njit(cache=True, nogil=True)
def _iso_weight(cx: float, cy: float, d: float, b: float, edges: np.ndarray) -> float:
    if d <= b:
        return 1.0
    f = ripley_fraction(cx, cy, d, edges)
    if f * MAX_EDGE_WEIGHT <= 1.0:
        return MAX_EDGE_WEIGHT
    return min(MAX_EDGE_WEIGHT, max(1.0, 1.0 / f))


@numba.njit(cache=True, parallel=True)
def iso_weights(
    cx: np.ndarray, cy: np.ndarray, d: np.ndarray, b: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Ripley isotropic weights for many (centre, radius) pairs, capped to [1, 100]."""
    out = np.empty(d.shape[0])
    for p in numba.prange(d.shape[0]):
        out[p] = _iso_weight(cx[p], cy[p], d[p], b[p], edges)
    return out


@numba.njit(cache=True, nogil=True)
def _bin(r: np.ndarray, d: float, rstep: float) -> int:
    """Histogram index of distance d.

    rstep > 0 (spatstat Krect, even r from 0): ceil(d / rstep), i.e. the first r_k >= d.
    rstep == 0 (spatstat whist on breaks (-dr, r)): the first r_k > d; d == r[-1] -> last.
    """
    if rstep > 0.0:
        k = math.ceil(d / rstep)
    else:
        k = int(np.searchsorted(r, d, side="right"))
    if k >= r.shape[0]:
        k = r.shape[0] - 1
    return k


@numba.njit(cache=True, nogil=True)
def border_top(r: np.ndarray, b: float, rstep: float) -> int:
    """Largest k at which a point with boundary distance b still counts (border correction).

    rstep > 0 (Krect): largest k with r_k < b, i.e. ceil(b / rstep) - 1.
    rstep == 0 (Kount): largest k with r_{k-1} <= b, i.e. #{r_k <= b}.
    May be -1 (never counts); capped at len(r) - 1.
    """
    if rstep > 0.0:
        k = math.ceil(b / rstep) - 1
    else:
        k = int(np.searchsorted(r, b, side="right"))
    if k > r.shape[0] - 1:
        k = r.shape[0] - 1
    return k


@numba.njit(cache=True)
def border_tops(r: np.ndarray, b: np.ndarray, rstep: float) -> np.ndarray:
    out = np.empty(b.shape[0], dtype=np.int64)
    for i in range(b.shape[0]):
        out[i] = border_top(r, b[i], rstep)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _add_pair(h, i, j, dx, dy, d2, x, y, b, tops, u, r, mode, edges, rect_w, rect_h, rstep):
    d = math.sqrt(d2)
    k = _bin(r, d, rstep)
    w = u[i] * u[j]
    if mode == MODE_NONE:
        h[k] += 2.0 * w
    elif mode == MODE_BORDER:
        if d <= b[i] and k <= tops[i]:
            h[k] += w
            h[tops[i] + 1] -= w
        if d <= b[j] and k <= tops[j]:
            h[k] += w
            h[tops[j] + 1] -= w
    elif mode == MODE_ISO:
        h[k] += w * (
            _iso_weight(x[i], y[i], d, b[i], edges) + _iso_weight(x[j], y[j], d, b[j], edges)
        )
    else:
        area = rect_w * rect_h
        ov = (rect_w - abs(dx)) * (rect_h - abs(dy))
        e = MAX_EDGE_WEIGHT if ov * MAX_EDGE_WEIGHT <= area else area / ov
        h[k] += 2.0 * w * e


@numba.njit(cache=True, parallel=True)
def pair_hist(
    x: np.ndarray,
    y: np.ndarray,
    strip_start: np.ndarray,
    strip_of: np.ndarray,
    b: np.ndarray,
    tops: np.ndarray,
    u: np.ndarray,
    r: np.ndarray,
    mode: int,
    edges: np.ndarray,
    rect_w: float,
    rect_h: float,
    rstep: float,
    nchunks: int,
) -> np.ndarray:
    """Sum of pair weights per distance bin, over ordered pairs i != j with d_ij <= r[-1].

    Points are grouped in horizontal strips of height r[-1] (``strip_of``; strip s holds
    rows ``strip_start[s]:strip_start[s + 1]``) and sorted by x within a strip. Each pair is
    visited once: within a strip (j after i, x_j − x_i <= rmax) and with the strip above.
    Returns an array of length ``len(r)`` whose cumulative sum is the estimator's numerator
    at each ``r`` (for ``mode = MODE_BORDER`` a difference array whose cumulative sum is the
    reduced-sample numerator). ``tops`` are the per-point border indices of
    :func:`border_tops`; ``u`` are per-point weights (1 for K, 1/λ for Kinhom): the pair
    weight is ``u_i * u_j * e_ij``.
    """
    n = x.shape[0]
    m = r.shape[0]
    nstrips = strip_start.shape[0] - 1
    rmax = r[m - 1]
    rmax2 = rmax * rmax
    krect = rstep > 0.0
    acc = np.zeros((nchunks, m + 17))  # padded rows: no false sharing between threads
    for c in numba.prange(nchunks):
        h = acc[c]
        for i in range(c, n, nchunks):
            xi = x[i]
            yi = y[i]
            s = strip_of[i]
            end = strip_start[s + 1]
            for j in range(i + 1, end):
                dx = x[j] - xi
                if dx > rmax:
                    break
                dy = y[j] - yi
                d2 = dx * dx + dy * dy
                if d2 > rmax2 or (krect and d2 >= rmax2):  # Krect: d < rmax strictly
                    continue
                _add_pair(
                    h, i, j, dx, dy, d2, x, y, b, tops, u, r, mode, edges, rect_w, rect_h, rstep
                )
            if s + 1 < nstrips:
                lo = strip_start[s + 1]
                hi = strip_start[s + 2]
                j0 = lo + np.searchsorted(x[lo:hi], xi - rmax)
                for j in range(j0, hi):
                    dx = x[j] - xi
                    if dx > rmax:
                        break
                    dy = y[j] - yi
                    d2 = dx * dx + dy * dy
                    if d2 > rmax2 or (krect and d2 >= rmax2):
                        continue
                    _add_pair(
                        h, i, j, dx, dy, d2, x, y, b, tops, u, r, mode, edges, rect_w, rect_h, rstep
                    )
    tot = np.zeros(m + 17)
    for c in range(nchunks):
        tot += acc[c]
    return tot[:m]


def strip_order(
    x: np.ndarray, y: np.ndarray, rmax: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order points by (strip of height rmax, x); return (order, strip_start, strip_of)."""
    ymin = float(y.min()) if len(y) else 0.0
    width = rmax if rmax > 0 else 1.0
    strip = np.floor((y - ymin) / width).astype(np.int64)
    order = np.lexsort((x, strip))
    st = strip[order]
    nstrips = int(st[-1]) + 1 if len(st) else 1
    start = np.searchsorted(st, np.arange(nstrips + 1)).astype(np.int64)
    return order, start, st
