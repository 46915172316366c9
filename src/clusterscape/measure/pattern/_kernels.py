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
#: the border correction in squared-distance arithmetic (:func:`pair_hist`; same bits as
#: ``MODE_BORDER``, which it falls back to when :func:`bin_table` cannot be built)
MODE_BORDER_SQ = 4
#: Kernel mode of each edge-correction name (``MODE_TRANS_RECT`` is the translation correction of
#: a rectangular window).
MODES = {
    "none": MODE_NONE,
    "border": MODE_BORDER,
    "isotropic": MODE_ISO,
    "translate": MODE_TRANS_RECT,
}


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

    The reduced-sample estimator at r uses the points with b >= r, evaluated exactly at each
    r_k so that the number does not depend on the grid around it:
    rstep > 0 (Krect): largest k with r_k < b, i.e. ceil(b / rstep) - 1.
    rstep == 0: largest k with r_k <= b, i.e. #{r_k <= b} - 1 (spatstat's whist/Kount
    rule, b >= r_{k-1}, lets points that are nearer the boundary than r_k count at r_k, which
    biases a coarse grid).
    May be -1 (never counts); capped at len(r) - 1.
    """
    if rstep > 0.0:
        k = math.ceil(b / rstep) - 1
    else:
        k = int(np.searchsorted(r, b, side="right")) - 1
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


@numba.njit(cache=True, nogil=True, inline="always")
def strip_range(
    x: np.ndarray, xi: float, i: int, s: int, part: int, strip_start: np.ndarray, rmax: float
) -> tuple[int, int]:
    """Rows ``lo:hi`` of the candidate partners of row ``i`` (strip ``s``) in a strip scan.

    The strip scan of :func:`pair_hist`, :func:`_hist_one` and ``_kd._pair_grid``: points
    sorted by (strip of height >= rmax, x) (:func:`strip_order`) meet each partner once, in
    ``part`` 0 (the rest of their own strip, after i) or ``part`` 1 (the strip above, from
    ``x_i − rmax`` on). A scan of the rows breaks at the first ``x_j − x_i > rmax``. ``part`` 1
    of the top strip is empty.
    """
    if part == 0:
        return i + 1, strip_start[s + 1]
    if s + 2 >= strip_start.shape[0]:
        return 0, 0
    lo = strip_start[s + 1]
    hi = strip_start[s + 2]
    return lo + np.searchsorted(x[lo:hi], xi - rmax), hi


@numba.njit(cache=True, nogil=True, inline="always")
def scan_rows(x, y, xi, yi, lo, hi, reach, lim, capi, cap, js, d2s, cnt):
    """The strip scan over rows ``lo:hi`` (sorted by x) for a point at (xi, yi): appends the
    rows j with squared distance d2 <= ``lim`` and d2 <= max(``capi``, ``cap[j]``) to ``js``
    and ``d2s`` from index ``cnt`` on, stopping at the first ``x_j − xi > reach``; returns the
    new count. ``cap`` (squared border distances, or inf) drops the pairs that neither end
    point can count under the border correction before any work is done on them."""
    for j in range(lo, hi):
        dx = x[j] - xi
        if dx > reach:
            break
        dy = y[j] - yi
        d2 = dx * dx + dy * dy
        if d2 > lim or (d2 > capi and d2 > cap[j]):
            continue
        js[cnt] = j
        d2s[cnt] = d2
        cnt += 1
    return cnt


@numba.njit(cache=True, nogil=True, inline="always")
def strip_partners(
    x: np.ndarray,
    y: np.ndarray,
    i: int,
    s: int,
    strip_start: np.ndarray,
    reach: float,
    lim: float,
    cap: np.ndarray,
    js: np.ndarray,
    d2s: np.ndarray,
) -> int:
    """Partners j of row ``i`` (strip ``s``) with squared distance <= ``lim``.

    Every kernel that visits each pair closer than ``reach`` once (:func:`pair_hist`,
    :func:`_hist_one`, ``_kd._pair_grid``) runs this scan (:func:`scan_rows` over the two parts
    of :func:`strip_range`) and then does its own work per pair: the partners go to
    ``js[:cnt]`` and their squared distances to ``d2s[:cnt]`` (buffers of at least n rows; pairs
    beyond both end points' ``cap`` are left out, see :func:`scan_rows`), in scan order (the order in which the kernels add up their sums); returns ``cnt``. ``lim`` <=
    reach² (the Krect rule d < rmax passes the double below rmax²).
    """
    cnt = 0
    for part in range(2):
        lo, hi = strip_range(x, x[i], i, s, part, strip_start, reach)
        cnt = scan_rows(x, y, x[i], y[i], lo, hi, reach, lim, cap[i], cap, js, d2s, cnt)
    return cnt


@numba.njit(cache=True, nogil=True)
def strip_limit(rmax: float, rstep: float) -> float:
    """Largest squared distance a pair may have: rmax², or for Krect (rstep > 0, d < rmax
    strictly) the double just below it."""
    rmax2 = rmax * rmax
    return np.nextafter(rmax2, -np.inf) if rstep > 0.0 else rmax2


@numba.njit(cache=True, nogil=True, inline="always")
def _add_border_sq(h, i, j, d2, bsq, tops, u, thr, lut, scale):
    """Border pair in squared-distance arithmetic (see :func:`pair_hist`): the same bins and
    float additions, in the same order, as :func:`_add_pair` with ``MODE_BORDER`` (the pairs
    that no end point can count are left out by the scan, with ``bsq`` as its cap)."""
    bi = bsq[i]
    bj = bsq[j]
    k = lut[int(d2 * scale)]
    if d2 > thr[k]:
        k += 1
    w = u[i] * u[j]
    ti = tops[i]
    if d2 <= bi and k <= ti:
        h[k] += w
        h[ti + 1] -= w
    tj = tops[j]
    if d2 <= bj and k <= tj:
        h[k] += w
        h[tj + 1] -= w


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
    weight is ``u_i * u_j * e_ij``. ``mode = MODE_BORDER_SQ`` is the border correction in
    squared-distance arithmetic, used when :func:`bin_table` can be built (the same pairs, bins and float additions in the same
    order, so the same bits: the bin is read from the table instead of ``sqrt`` and a search of
    ``r``, and d <= b_i is d² <= ``_sq_below(b_i)``, exact for a correctly rounded sqrt).
    """
    n = x.shape[0]
    m = r.shape[0]
    rmax = r[m - 1]
    lim = strip_limit(rmax, rstep)
    thr, lut, scale = bin_table(r, rstep)
    table = mode == MODE_BORDER_SQ and lut.shape[0] > 0
    if mode == MODE_BORDER_SQ:
        mode = MODE_BORDER
    bsq = np.full(n, np.inf)  # the scan's cap: no pair is left out but with the table
    if table:
        for i in range(n):
            bsq[i] = _sq_below(b[i])
    acc = np.zeros((nchunks, m + 17))  # padded rows: no false sharing between threads
    for c in numba.prange(nchunks):
        h = acc[c]
        js = np.empty(n, np.int64)
        d2s = np.empty(n)
        for i in range(c, n, nchunks):
            cnt = strip_partners(x, y, i, strip_of[i], strip_start, rmax, lim, bsq, js, d2s)
            for q in range(cnt):
                j = js[q]
                if table:
                    _add_border_sq(h, i, j, d2s[q], bsq, tops, u, thr, lut, scale)
                else:
                    _add_pair(
                        h, i, j, x[j] - x[i], y[j] - y[i], d2s[q], x, y, b, tops, u, r, mode,
                        edges, rect_w, rect_h, rstep,
                    )  # fmt: skip
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


@numba.njit(cache=True, nogil=True)
def _strip_sort(x: np.ndarray, y: np.ndarray, rmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Numba version of :func:`strip_order`: order by strip of height rmax, then by x.

    A counting sort on (strip, x-bucket) with about two points per bucket, then an insertion
    sort of each strip (nearly sorted already: linear time). Returns (order, strip_start)."""
    n = x.shape[0]
    ymin = y.min()
    xmin = x.min()
    width = rmax if rmax > 0.0 else 1.0
    s = np.empty(n, np.int64)
    ns = 1
    for i in range(n):
        s[i] = math.floor((y[i] - ymin) / width)
        if s[i] + 1 > ns:
            ns = s[i] + 1
    ncx = max(1, n // (2 * ns))
    xspan = x.max() - xmin
    cw = xspan / ncx if xspan > 0.0 else 1.0
    key = np.empty(n, np.int64)
    for i in range(n):
        c = int((x[i] - xmin) / cw)
        key[i] = s[i] * ncx + min(max(c, 0), ncx - 1)
    nk = ns * ncx
    pos = np.zeros(nk + 1, np.int64)
    for i in range(n):
        pos[key[i] + 1] += 1
    for k in range(nk):
        pos[k + 1] += pos[k]
    start = np.empty(ns + 1, np.int64)
    for k in range(ns + 1):
        start[k] = pos[k * ncx]
    order = np.empty(n, np.int64)
    for i in range(n):
        order[pos[key[i]]] = i
        pos[key[i]] += 1
    for k in range(ns):  # insertion sort by x inside the strip
        for q in range(start[k] + 1, start[k + 1]):
            v = order[q]
            xv = x[v]
            p = q - 1
            while p >= start[k] and x[order[p]] > xv:
                order[p + 1] = order[p]
                p -= 1
            order[p + 1] = v
    return order, start


@numba.njit(cache=True, nogil=True)
def _sq_below(v: float) -> float:
    """Largest double q >= 0 with sqrt(q) <= v (so sqrt(d2) <= v  <=>  d2 <= q, exactly)."""
    if v < 0.0:
        return -1.0
    q = v * v
    while q > 0.0 and math.sqrt(q) > v:
        q = np.nextafter(q, -np.inf)
    while math.sqrt(np.nextafter(q, np.inf)) <= v:
        q = np.nextafter(q, np.inf)
    return q


@numba.njit(cache=True, nogil=True)
def bin_table(r: np.ndarray, rstep: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact squared-distance thresholds of :func:`_bin` and a lookup table over them.

    thr[k] = largest d2 with _bin(r, sqrt(d2), rstep) <= k (k < m − 1; thr[m − 1] = inf), so
    _bin(sqrt(d2)) = #{k : d2 > thr[k]}. ``lut[int(d2 * scale)]`` is that count at the start of
    the table cell (thresholds in earlier cells), and each cell holds at most one threshold, so
    bin = lut[c] + (d2 > thr[lut[c]]). Returns an empty lut when the thresholds are too close
    for a table of 2¹⁶ cells (callers then use the square root).
    """
    m = r.shape[0]
    rmax = r[m - 1]
    thr = np.empty(m)
    thr[m - 1] = np.inf
    for k in range(m - 1):
        # guess: the distance where the bin index passes k
        g = (k * rstep) ** 2 if rstep > 0.0 else r[k] * r[k]
        g = max(g, 0.0)
        while g > 0.0 and _bin(r, math.sqrt(g), rstep) > k:
            g = np.nextafter(g, -np.inf)
        while _bin(r, math.sqrt(np.nextafter(g, np.inf)), rstep) <= k:
            g = np.nextafter(g, np.inf)
        if _bin(r, math.sqrt(g), rstep) > k:
            g = -1.0  # no d2 >= 0 lies in bins <= k
        thr[k] = g
    top = rmax * rmax
    empty = np.zeros(0, np.int64)
    if not top > 0.0:
        return thr, empty, 0.0
    gap = np.inf
    for k in range(1, m - 1):
        if thr[k - 1] >= 0.0:
            gap = min(gap, thr[k] - thr[k - 1])
    if gap <= 0.0:
        return thr, empty, 0.0
    ncell = 2 if gap == np.inf else min(int(4.0 * top / gap) + 2, 1 << 16)
    scale = ncell / top
    # cell of each threshold; int(d2 * scale) is monotone in d2, so a d2 in a cell after
    # thr[k]'s cell is > thr[k] and a d2 in a cell before it is <= thr[k]
    ck = np.empty(m - 1, np.int64)
    for k in range(m - 1):
        ck[k] = -1 if thr[k] < 0.0 else min(int(thr[k] * scale), ncell + 2)
        if k > 0 and ck[k] >= 0 and ck[k] <= ck[k - 1]:
            return thr, empty, 0.0  # two thresholds in one cell
    # lut[c] = #{k : ck[k] < c}, by a running count of the cells (O(ncell + m))
    at = np.zeros(ncell + 4, np.int64)
    for k in range(m - 1):
        at[ck[k] + 1] += 1  # ck[k] + 1 in 0..ncell + 3
    lut = np.empty(ncell + 2, np.int64)
    run = 0
    for c in range(ncell + 2):
        run += at[c]  # thresholds in cells < c (cell -1 included)
        lut[c] = run
    return thr, lut, scale


@numba.njit(cache=True, nogil=True)
def _count_pairs(x, y, b, tops, start, strip_of, r, rstep, nsub, border, h):
    """Unweighted "none"/"border" histogram (difference form for border, as :func:`pair_hist`),
    in integers (exact: the same numbers as pair_hist's float sums of ones). Strips are of height
    rmax / nsub; strip s + q (q >= 2) is searched only where |dx| can still be <= rmax."""
    n = x.shape[0]
    m = r.shape[0]
    nstrips = start.shape[0] - 1
    rmax = r[m - 1]
    rmax2 = rmax * rmax
    rlim = strip_limit(rmax, rstep)  # Krect: d < rmax strictly
    thr, lut, scale = bin_table(r, rstep)
    if lut.shape[0] == 0:  # thresholds too close for a table: the caller uses the sqrt path
        return False
    width = rmax / nsub
    reach = np.empty(nsub + 1)
    for q in range(nsub + 1):
        gap = max(q - 1, 0) * width  # smallest |dy| to a point in strip s + q
        reach[q] = math.sqrt(max(rmax2 - gap * gap, 0.0)) * (1.0 + 1e-12) + 1e-300
    bsq = np.empty(n)
    tt = np.empty(n, np.int64)
    for i in range(n):
        bsq[i] = _sq_below(b[i]) if border else np.inf
        tt[i] = tops[i] if border else m - 1
    cnt = np.zeros(n, np.int64)
    hi_ = np.zeros(h.shape[0], np.int64)
    js = np.empty(n, np.int64)
    d2s = np.empty(n)
    for i in range(n):
        xi = x[i]
        yi = y[i]
        s = strip_of[i]
        np_ = scan_rows(x, y, xi, yi, i + 1, start[s + 1], rmax, rlim, bsq[i], bsq, js, d2s, 0)
        for q in range(1, nsub + 1):
            if s + q >= nstrips:
                break
            lo = start[s + q]
            hi = start[s + q + 1]
            j0 = lo + np.searchsorted(x[lo:hi], xi - reach[q])
            np_ = scan_rows(x, y, xi, yi, j0, hi, reach[q], rlim, bsq[i], bsq, js, d2s, np_)
        bsqi = bsq[i]
        ti = tt[i]
        ci = 0
        for p in range(np_):
            j = js[p]
            d2 = d2s[p]
            k = lut[int(d2 * scale)]
            if d2 > thr[k]:
                k += 1
            if d2 <= bsqi and k <= ti:
                hi_[k] += 1
                ci += 1
            if d2 <= bsq[j] and k <= tt[j]:
                hi_[k] += 1
                cnt[j] += 1
        cnt[i] += ci
    if border:
        for i in range(n):
            if cnt[i] > 0:
                hi_[tt[i] + 1] -= cnt[i]
    for k in range(h.shape[0]):
        h[k] += hi_[k]
    return True


@numba.njit(cache=True, nogil=True)
def _strip_rows(x0, y0, b0, r, rstep, width, x, y, b, tops, strip_of):
    """Fill x, y, b, tops (:func:`border_top`) and strip_of in the strip order of height
    ``width`` (:func:`_strip_sort`); return the strip starts."""
    order, start = _strip_sort(x0, y0, width)
    for k in range(start.shape[0] - 1):
        for q in range(start[k], start[k + 1]):
            strip_of[q] = k
    for q in range(x0.shape[0]):
        i = order[q]
        x[q] = x0[i]
        y[q] = y0[i]
        b[q] = b0[i]
        tops[q] = border_top(r, b0[i], rstep)
    return start


@numba.njit(cache=True, nogil=True)
def _hist_one(
    x0: np.ndarray,
    y0: np.ndarray,
    b0: np.ndarray,
    r: np.ndarray,
    mode: int,
    edges: np.ndarray,
    rect_w: float,
    rect_h: float,
    rstep: float,
    num: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Unweighted (u = 1) numerator and border counts of one pattern, on one thread.

    Same pairs, bins and weights as :func:`pair_hist` (so the same numbers: integer counts for
    ``"none"`` and ``"border"`` are exact in any order); writes the cumulative numerator into
    ``num`` and #{i : tops_i >= k} into ``counts``.
    """
    n = x0.shape[0]
    m = r.shape[0]
    rmax = r[m - 1]
    fast = (mode == MODE_BORDER) | (mode == MODE_NONE)
    nsub = 2 if fast else 1  # thinner strips: fewer candidate pairs
    x = np.empty(n)
    y = np.empty(n)
    b = np.empty(n)
    tops = np.empty(n, np.int64)
    strip_of = np.empty(n, np.int64)
    ones = np.ones(n)
    start = _strip_rows(x0, y0, b0, r, rstep, rmax / nsub, x, y, b, tops, strip_of)
    ntop = np.zeros(m + 1, np.int64)
    for q in range(n):
        ntop[tops[q] + 1] += 1  # tops >= -1
    # counts[k] = #{i : tops_i >= k}
    acc = 0
    for k in range(m, 0, -1):
        acc += ntop[k]
        counts[k - 1] = acc
    h = np.zeros(m + 1)
    done = False
    if fast:
        done = _count_pairs(x, y, b, tops, start, strip_of, r, rstep, nsub, mode == MODE_BORDER, h)
        if not done:  # unusual r: regroup in strips of height rmax for the general sweep
            start = _strip_rows(x0, y0, b0, r, rstep, rmax, x, y, b, tops, strip_of)
    if not done:
        js = np.empty(n, np.int64)
        d2s = np.empty(n)
        lim = strip_limit(rmax, rstep)
        cap = np.full(n, np.inf)
        for i in range(n):
            cnt = strip_partners(x, y, i, strip_of[i], start, rmax, lim, cap, js, d2s)
            for q in range(cnt):
                j = js[q]
                _add_pair(
                    h, i, j, x[j] - x[i], y[j] - y[i], d2s[q], x, y, b, tops, ones, r, mode,
                    edges, rect_w, rect_h, rstep,
                )  # fmt: skip
    tot = 0.0
    for k in range(m):
        tot += h[k]
        num[k] = tot


@numba.njit(cache=True, parallel=True)
def pair_hist_batch(
    xs: np.ndarray,
    ys: np.ndarray,
    bs: np.ndarray,
    r: np.ndarray,
    mode: int,
    edges: np.ndarray,
    rect_w: float,
    rect_h: float,
    rstep: float,
) -> tuple[np.ndarray, np.ndarray]:
    """K numerators of many unweighted patterns at once, one pattern per thread.

    ``xs, ys, bs`` are (nsim, n): coordinates and boundary distances. Returns (num, counts),
    each (nsim, len(r)): the cumulative numerator (as :func:`pair_hist` followed by a cumulative
    sum) and, for the border correction, the number of points counting at each r.
    """
    nsim = xs.shape[0]
    m = r.shape[0]
    num = np.zeros((nsim, m))
    counts = np.zeros((nsim, m))
    for s in numba.prange(nsim):
        _hist_one(xs[s], ys[s], bs[s], r, mode, edges, rect_w, rect_h, rstep, num[s], counts[s])
    return num, counts
