"""Exact grid DBSCAN in the plane, with the labels of :class:`sklearn.cluster.DBSCAN`.

The plane is cut into square cells of side just under ``eps / sqrt(2)`` (Gunawan 2013; Gan &
Tao 2015), so that any two points of one cell are within ``eps`` and every neighbour of a point
lies in the 5 x 5 block of cells around it. Points are sorted by cell (CSR over the occupied
cells, no dense grid: the extent may be huge); the occupied cells of each column of the block
are found by merging the sorted cell keys with themselves shifted by one or two columns. Then,
in numba, parallel over cells:

* core points: a cell of at least ``min_samples`` points is all core; otherwise each point
  counts the points within ``eps`` over the block, stopping at ``min_samples``;
* core connectivity: the core points of one cell are connected; two cells of a block are
  connected when some pair of their core points is within ``eps`` (stopping at the first);
  a union-find over the connected cell pairs gives the clusters, numbered in the order of
  their lowest-index core point (scikit-learn's scan order);
* border points take the lowest-numbered cluster with a core point within ``eps``.

Distances are compared exactly as scikit-learn's KD-tree does, ``dx*dx + dy*dy <= eps*eps``
in float64 on the input coordinates, so points at exactly ``eps`` count. Every shortcut over a
bounding box (skip a cell whose box is farther than ``eps``, count a whole cell whose box is
within ``eps``) is monotone in the rounding, hence gives the same answer as testing each pair.
Should a cell's points not all be within ``eps`` of each other after rounding, or the grid
exceed 2**30 cells a side (``eps`` a billionth of the extent), the exact KD-tree version runs
instead (:func:`clusterscape.detect.clusters.dbscan_labels`). Memory is linear in n: a few arrays of n and of the occupied cells.

References
----------
Gunawan A. (2013) *A faster algorithm for DBSCAN*. Master's thesis, TU Eindhoven.
Gan J. & Tao Y. (2015) DBSCAN revisited: mis-claimed, un-fixability, and approximation.
*SIGMOD '15*, 519–530.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from clusterscape.detect._mst import _fill_box  # bounding box of a run of sorted points

__all__ = ["dbscan_grid"]

#: cell side as a fraction of eps / sqrt(2): a margin so one cell's diameter stays below eps
_SHRINK = 1.0 - 1e-6
#: at most this many cells a side (cell numbers stay exact in float64 and fit a 64-bit key)
_MAX_CELLS = 2**30
#: cells per scheduling block of the parallel loops
_BLOCK = 64
_NONE = np.iinfo(np.int64).max


@nb.njit(cache=True)
def _gap2(px, py, box, c):  # pragma: no cover - numba
    """Squared distance from (px, py) to box c; no larger than to any point of the box."""
    gx = max(0.0, box[c, 0] - px, px - box[c, 1])
    gy = max(0.0, box[c, 2] - py, py - box[c, 3])
    return gx * gx + gy * gy


@nb.njit(cache=True)
def _far2(px, py, box, c):  # pragma: no cover - numba
    """Squared distance from (px, py) to the far corner of box c; no smaller than to any point."""
    fx = max(px - box[c, 0], box[c, 1] - px)
    fy = max(py - box[c, 2], box[c, 3] - py)
    return fx * fx + fy * fy


@nb.njit(cache=True, parallel=True)
def _boxes(xs, ys, start, eps2):  # pragma: no cover - numba
    """Bounding box of each cell; False if some cell's diagonal exceeds eps after rounding."""
    m = start.size - 1
    box = np.empty((m, 4))
    ok = np.ones(m, np.bool_)
    for c in nb.prange(m):
        x0, x1, y0, y1 = _fill_box(xs, ys, start[c], start[c + 1], box, c)
        dx = x1 - x0
        dy = y1 - y0
        ok[c] = dx * dx + dy * dy <= eps2
    return box, ok.all()


@nb.njit(cache=True, parallel=True)
def _core(xs, ys, start, keys, box, lo, ms, eps2, nchunks):  # pragma: no cover - numba
    """Core flag of each point (sorted order): at least ms points within eps, itself included."""
    m = start.size - 1
    core = np.zeros(xs.size, np.bool_)
    nblk = (m + _BLOCK - 1) // _BLOCK
    for ch in nb.prange(nchunks):
        for blk in range(ch, nblk, nchunks):
            for c in range(blk * _BLOCK, min(m, (blk + 1) * _BLOCK)):
                s = start[c]
                e = start[c + 1]
                if e - s >= ms:
                    core[s:e] = True
                    continue
                for i in range(s, e):
                    px = xs[i]
                    py = ys[i]
                    cnt = e - s
                    for k in range(5):
                        for b in range(lo[k, c], _end(keys, lo, k, c)):
                            if b == c or _gap2(px, py, box, b) > eps2:
                                continue
                            if _far2(px, py, box, b) <= eps2:
                                cnt += start[b + 1] - start[b]
                            else:
                                for j in range(start[b], start[b + 1]):
                                    dx = px - xs[j]
                                    dy = py - ys[j]
                                    if dx * dx + dy * dy <= eps2:
                                        cnt += 1
                            if cnt >= ms:
                                break
                        if cnt >= ms:
                            break
                    core[i] = cnt >= ms
    return core


@nb.njit(cache=True, parallel=True)
def _core_boxes(xs, ys, start, core):  # pragma: no cover - numba
    """Bounding box of the core points of each cell (NaN where it has none)."""
    m = start.size - 1
    cbox = np.full((m, 4), np.nan)
    has = np.zeros(m, np.bool_)
    for c in nb.prange(m):
        x0 = np.inf
        x1 = -np.inf
        y0 = np.inf
        y1 = -np.inf
        for i in range(start[c], start[c + 1]):
            if core[i]:
                has[c] = True
                x0 = min(x0, xs[i])
                x1 = max(x1, xs[i])
                y0 = min(y0, ys[i])
                y1 = max(y1, ys[i])
        if has[c]:
            cbox[c, 0] = x0
            cbox[c, 1] = x1
            cbox[c, 2] = y0
            cbox[c, 3] = y1
    return cbox, has


@nb.njit(cache=True)
def _cells_touch(a, b, xs, ys, start, core, cbox, eps2):  # pragma: no cover - numba
    """True if some core point of cell a is within eps of some core point of cell b."""
    gx = max(0.0, cbox[b, 0] - cbox[a, 1], cbox[a, 0] - cbox[b, 1])
    gy = max(0.0, cbox[b, 2] - cbox[a, 3], cbox[a, 2] - cbox[b, 3])
    if gx * gx + gy * gy > eps2:
        return False
    for i in range(start[a], start[a + 1]):
        if not core[i]:
            continue
        px = xs[i]
        py = ys[i]
        if _gap2(px, py, cbox, b) > eps2:
            continue
        if _far2(px, py, cbox, b) <= eps2:
            return True
        for j in range(start[b], start[b + 1]):
            if core[j]:
                dx = px - xs[j]
                dy = py - ys[j]
                if dx * dx + dy * dy <= eps2:
                    return True
    return False


@nb.njit(cache=True, parallel=True)
def _links(xs, ys, start, keys, core, cbox, has, lo, eps2, nchunks):  # pragma: no cover - numba
    """For each cell, which of the later cells of its block (at most 12: columns +1, +2 and
    the two rows above in its own column, in key order) it is joined to by a core pair within
    eps, as a bit mask."""
    m = start.size - 1
    out = np.zeros(m, np.uint16)
    nblk = (m + _BLOCK - 1) // _BLOCK
    for ch in nb.prange(nchunks):
        for blk in range(ch, nblk, nchunks):
            for a in range(blk * _BLOCK, min(m, (blk + 1) * _BLOCK)):
                if not has[a]:
                    continue
                t = 0
                mask = 0
                for k in range(2, 5):
                    for b in range(max(lo[k, a], a + 1), _end(keys, lo, k, a)):
                        if has[b] and _cells_touch(a, b, xs, ys, start, core, cbox, eps2):
                            mask |= 1 << t
                        t += 1
                out[a] = mask
    return out


@nb.njit(cache=True)
def _find(parent, a):  # pragma: no cover - numba
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@nb.njit(cache=True)
def _cluster_cells(links, keys, lo, has, start, core, perm):  # pragma: no cover - numba
    """Cluster number of each cell with core points (-1 elsewhere), numbered in the order of
    the lowest input index among each cluster's core points."""
    m = has.size
    parent = np.arange(m)
    for a in range(m):
        if links[a] == 0:
            continue
        t = 0
        for k in range(2, 5):
            for b in range(max(lo[k, a], a + 1), _end(keys, lo, k, a)):
                if links[a] >> t & 1:
                    ra = _find(parent, a)
                    rb = _find(parent, b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
                t += 1
    first = np.full(m, _NONE, np.int64)
    for c in range(m):
        if has[c]:
            r = _find(parent, c)
            for i in range(start[c], start[c + 1]):
                if core[i] and perm[i] < first[r]:
                    first[r] = perm[i]
    roots = np.flatnonzero(first != _NONE)
    order = np.argsort(first[roots])
    num = np.full(m, -1, np.int64)
    for k in range(order.size):
        num[roots[order[k]]] = k
    clab = np.full(m, -1, np.int64)
    for c in range(m):
        if has[c]:
            clab[c] = num[_find(parent, c)]
    return clab


@nb.njit(cache=True, parallel=True)
def _labels(xs, ys, start, keys, core, cbox, clab, lo, eps2, nchunks):  # pragma: no cover
    """Label of each point (sorted order): its cell's cluster if core, else the lowest-numbered
    cluster with a core point within eps, else -1."""
    m = start.size - 1
    lab = np.full(xs.size, -1, np.int64)
    nblk = (m + _BLOCK - 1) // _BLOCK
    for ch in nb.prange(nchunks):
        for blk in range(ch, nblk, nchunks):
            for c in range(blk * _BLOCK, min(m, (blk + 1) * _BLOCK)):
                for i in range(start[c], start[c + 1]):
                    if core[i]:
                        lab[i] = clab[c]
                        continue
                    px = xs[i]
                    py = ys[i]
                    best = _NONE
                    for k in range(5):
                        for b in range(lo[k, c], _end(keys, lo, k, c)):
                            if clab[b] < 0 or clab[b] >= best:
                                continue
                            if _gap2(px, py, cbox, b) > eps2:
                                continue
                            if _far2(px, py, cbox, b) <= eps2:
                                best = clab[b]
                                continue
                            for j in range(start[b], start[b + 1]):
                                if core[j]:
                                    dx = px - xs[j]
                                    dy = py - ys[j]
                                    if dx * dx + dy * dy <= eps2:
                                        best = clab[b]
                                        break
                    if best != _NONE:
                        lab[i] = best
    return lab


@nb.njit(cache=True, parallel=True)
def _extent(xy):  # pragma: no cover - numba
    """Lower left corner and upper right corner of the points."""
    n = xy.shape[0]
    x0 = np.inf
    x1 = -np.inf
    y0 = np.inf
    y1 = -np.inf
    for i in nb.prange(n):
        x0 = min(x0, xy[i, 0])
        x1 = max(x1, xy[i, 0])
        y0 = min(y0, xy[i, 1])
        y1 = max(y1, xy[i, 1])
    return x0, y0, x1, y1


@nb.njit(cache=True, parallel=True)
def _keys(xy, x0, y0, side):  # pragma: no cover - numba
    """Cell key of each point: column in the high 32 bits, row in the low ones."""
    n = xy.shape[0]
    key = np.empty(n, np.int64)
    for i in nb.prange(n):
        cx = np.int64(np.floor((xy[i, 0] - x0) / side))
        cy = np.int64(np.floor((xy[i, 1] - y0) / side))
        key[i] = (cx << 32) | cy
    return key


@nb.njit(cache=True, parallel=True)
def _gather(xy, key, perm):  # pragma: no cover - numba
    """Coordinates and keys in sorted order."""
    n = perm.size
    xs = np.empty(n)
    ys = np.empty(n)
    ks = np.empty(n, np.int64)
    for t in nb.prange(n):
        i = perm[t]
        xs[t] = xy[i, 0]
        ys[t] = xy[i, 1]
        ks[t] = key[i]
    return xs, ys, ks


@nb.njit(cache=True)
def _cells(ks):  # pragma: no cover - numba
    """Start of each occupied cell in the sorted points (and the end), and its key."""
    n = ks.size
    m = 1
    for t in range(1, n):
        if ks[t] != ks[t - 1]:
            m += 1
    start = np.empty(m + 1, np.int64)
    keys = np.empty(m, np.int64)
    start[0] = 0
    keys[0] = ks[0]
    c = 1
    for t in range(1, n):
        if ks[t] != ks[t - 1]:
            start[c] = t
            keys[c] = ks[t]
            c += 1
    start[m] = n
    return start, keys


@nb.njit(cache=True, parallel=True)
def _blocks(keys):  # pragma: no cover - numba
    """For each column dx = -2..2 of the 5 x 5 block of each cell, the first occupied cell in
    rows -2..2 (a merge of the sorted keys with the shifted keys); the range ends at the first
    cell beyond row +2 (see :func:`_end`)."""
    m = keys.size
    lo = np.empty((5, m), np.int64)
    for k in nb.prange(5):
        shift = np.int64(k - 2) << 32
        p = 0
        for c in range(m):
            q = keys[c] + shift - 2
            while p < m and keys[p] < q:
                p += 1
            lo[k, c] = p
    return lo


@nb.njit(cache=True)
def _end(keys, lo, k, c):  # pragma: no cover - numba
    """One past the last occupied cell in column dx = k - 2, rows -2..2, of the block of c."""
    last = keys[c] + (np.int64(k - 2) << 32) + 2
    b = lo[k, c]
    while b < keys.size and keys[b] <= last:
        b += 1
    return b


def _grid(xy: np.ndarray, eps: float) -> tuple | None:
    """Points sorted by cell: permutation, coordinates, cell starts, and for each cell and
    each of the 5 columns of its block the range of occupied cells; None if the grid is too
    fine for exact cell numbers."""
    side = eps / np.sqrt(2.0) * _SHRINK
    if len(xy) == 0 or not side > 0:
        return None
    x0, y0, x1, y1 = _extent(xy)
    if not ((x1 - x0) / side < _MAX_CELLS and (y1 - y0) / side < _MAX_CELLS):
        return None  # also catches NaN and infinite coordinates
    key = _keys(xy, x0, y0, side)
    perm = np.argsort(key)
    xs, ys, ks = _gather(xy, key, perm)
    del key
    start, keys = _cells(ks)
    del ks
    lo = _blocks(keys)
    return perm, xs, ys, start, keys, lo


def dbscan_grid(
    xy: np.ndarray, eps: float, min_samples: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """DBSCAN labels (int64, -1 = noise) and core mask of planar points by the grid; None when
    the grid cannot be used exactly (see the module notes)."""
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    n = len(xy)
    eps = float(eps)
    eps2 = eps * eps
    grid = _grid(xy, eps)
    if grid is None:
        return None
    perm, xs, ys, start, keys, lo = grid
    box, ok = _boxes(xs, ys, start, eps2)
    if not ok:
        return None
    nchunks = 8 * nb.get_num_threads()
    core = _core(xs, ys, start, keys, box, lo, max(int(min_samples), 1), eps2, nchunks)
    del box
    cbox, has = _core_boxes(xs, ys, start, core)
    links = _links(xs, ys, start, keys, core, cbox, has, lo, eps2, nchunks)
    clab = _cluster_cells(links, keys, lo, has, start, core, perm)
    del links
    lab = _labels(xs, ys, start, keys, core, cbox, clab, lo, eps2, nchunks)
    labels = np.empty(n, np.int64)
    labels[perm] = lab
    core_in = np.empty(n, np.bool_)
    core_in[perm] = core
    return labels, core_in
