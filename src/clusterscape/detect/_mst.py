"""Exact minimum spanning tree of the HDBSCAN mutual-reachability graph in the plane.

The mutual-reachability distance of points *i* and *j* is ``max(core_i, core_j, d_ij)``
(Campello et al. 2013), where ``core`` is the distance to the ``min_samples``-th nearest point,
the point itself included (scikit-learn's convention). The tree is built by Borůvka's
algorithm over a KD-tree (the single-tree variant of March, Ram & Gray 2010 and McInnes &
Healy 2017), in numba, parallel over points:

* Edges are compared in a strict total order — weight, then the pair's index key — so every
  round adds exactly the unique minimum edge leaving each component and no cycle can form;
  the result is an exact minimum spanning tree (any tie-break gives the same total weight).
* A KD-tree node whose points all belong to the query's component is skipped; a node is
  pruned when ``max(core_q, min core in node, box distance)`` exceeds the best edge found.
* Each point remembers its nearest point outside its component. The set of outside points only
  shrinks as components merge, so a remembered neighbour that is still outside is still the
  nearest and is not searched again; a point whose search was pruned keeps the bound as a
  lower bound and is skipped while its component's best edge is below it.
* Exact duplicate locations are contracted first: every edge leaving a group of identical
  points weighs at least the group's core distance, so joining the group by a chain of edges at
  that weight is part of a minimum spanning tree, and the rest is the tree of the distinct
  locations.

Memory is linear in n: the tree, a few arrays of n floats and ints, and the first round's
``min_samples + 1`` nearest neighbours of every point as int32 (64 MB at a million points).

References
----------
Borůvka O. (1926) O jistém problému minimálním. *Práce Moravské přírodovědecké společnosti* 3.
March W.B., Ram P. & Gray A.G. (2010) Fast Euclidean minimum spanning tree: algorithm,
analysis, and applications. *KDD '10*, 603–612.
McInnes L. & Healy J. (2017) Accelerated hierarchical density based clustering. *ICDMW*,
33–42.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["core_distances", "mutual_reachability_mst"]

#: points per KD-tree leaf
LEAF_SIZE = 16
_NO_KEY = np.iinfo(np.int64).max


# --------------------------------------------------------------------------- KD-tree


@nb.njit(cache=True)
def _select(idx, xs, ys, dim, lo, hi, k):  # pragma: no cover - numba
    """Reorder positions lo..hi-1 of (idx, xs, ys) together so that position k holds the
    element of rank k along dim (quickselect with a median-of-three pivot)."""
    key = xs if dim == 0 else ys
    hi -= 1
    while hi > lo:
        mid = (lo + hi) // 2
        a, b, c = key[lo], key[mid], key[hi]
        if (a <= b <= c) or (c <= b <= a):
            pivot = b
        elif (b <= a <= c) or (c <= a <= b):
            pivot = a
        else:
            pivot = c
        i, j = lo, hi
        while i <= j:
            while key[i] < pivot:
                i += 1
            while key[j] > pivot:
                j -= 1
            if i <= j:
                t = idx[i]
                idx[i] = idx[j]
                idx[j] = t
                u = xs[i]
                xs[i] = xs[j]
                xs[j] = u
                u = ys[i]
                ys[i] = ys[j]
                ys[j] = u
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@nb.njit(cache=True)
def _fill_box(xs, ys, lo, hi, box, row):  # pragma: no cover - numba
    """Bounding box of points ``lo .. hi - 1`` (at least one) into ``box[row]`` as (xmin, xmax,
    ymin, ymax); also returned."""
    x0 = xs[lo]
    x1 = x0
    y0 = ys[lo]
    y1 = y0
    for t in range(lo + 1, hi):
        x0 = min(x0, xs[t])
        x1 = max(x1, xs[t])
        y0 = min(y0, ys[t])
        y1 = max(y1, ys[t])
    box[row, 0] = x0
    box[row, 1] = x1
    box[row, 2] = y0
    box[row, 3] = y1
    return x0, x1, y0, y1


@nb.njit(cache=True)
def _build(x, y, leaf):  # pragma: no cover - numba
    """Balanced KD-tree (median split along the wider side). Returns the permutation to tree
    order, the permuted coordinates, and per node: start, end, children (-1 at leaves), box."""
    n = x.size
    idx = np.arange(n)
    xs = x.copy()
    ys = y.copy()
    cap = 4 * (n // leaf + 2)
    start = np.empty(cap, np.int64)
    end = np.empty(cap, np.int64)
    left = np.full(cap, -1, np.int64)
    right = np.full(cap, -1, np.int64)
    box = np.empty((cap, 4))
    stack = np.empty(cap, np.int64)
    start[0] = 0
    end[0] = n
    nn = 1
    stack[0] = 0
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        lo = start[node]
        hi = end[node]
        x0, x1, y0, y1 = _fill_box(xs, ys, lo, hi, box, node)
        if hi - lo <= leaf:
            continue
        mid = (lo + hi) // 2
        _select(idx, xs, ys, 0 if x1 - x0 >= y1 - y0 else 1, lo, hi, mid)
        lft = nn
        rgt = nn + 1
        nn += 2
        start[lft] = lo
        end[lft] = mid
        start[rgt] = mid
        end[rgt] = hi
        left[node] = lft
        right[node] = rgt
        stack[top] = lft
        stack[top + 1] = rgt
        top += 2
    return idx, xs, ys, start[:nn], end[:nn], left[:nn], right[:nn], box[:nn].copy()


@nb.njit(cache=True)
def _node_min(values, start, end, left, right):  # pragma: no cover - numba
    """Minimum of values over each node (children are numbered after their parent)."""
    m = start.size
    out = np.empty(m)
    for node in range(m - 1, -1, -1):
        if left[node] < 0:
            v = np.inf
            for p in range(start[node], end[node]):
                v = min(v, values[p])
            out[node] = v
        else:
            out[node] = min(out[left[node]], out[right[node]])
    return out


@nb.njit(cache=True)
def _node_comp(comp, start, end, left, right, out):  # pragma: no cover - numba
    """Component shared by all points of each node, -1 when mixed."""
    for node in range(start.size - 1, -1, -1):
        if left[node] < 0:
            c = comp[start[node]]
            for p in range(start[node] + 1, end[node]):
                if comp[p] != c:
                    c = -1
                    break
            out[node] = c
        else:
            a = out[left[node]]
            out[node] = a if a == out[right[node]] else -1


# --------------------------------------------------------------------------- Borůvka


@nb.njit(cache=True)
def _box_dist(px, py, box, node):  # pragma: no cover - numba
    dx = max(box[node, 0] - px, 0.0, px - box[node, 1])
    dy = max(box[node, 2] - py, 0.0, py - box[node, 3])
    return np.sqrt(dx * dx + dy * dy)


@nb.njit(cache=True)
def _push_children(stack, top, px, py, box, lft, rgt):  # pragma: no cover - numba
    """Push both children of a node, the farther first so that the nearer one is searched
    first; return the new top of the stack."""
    if _box_dist(px, py, box, lft) <= _box_dist(px, py, box, rgt):
        stack[top] = rgt
        stack[top + 1] = lft
    else:
        stack[top] = lft
        stack[top + 1] = rgt
    return top + 2


@nb.njit(cache=True)
def _query(i, x, y, core, comp, left, right, start, end, box, ncomp, nmin, bd, bkey, stack):
    """Smallest (weight, key) edge from i to another component strictly below (bd, bkey)."""
    # pragma: no cover - numba
    n = x.size
    xi = x[i]
    yi = y[i]
    ci = comp[i]
    cor = core[i]
    bj = -1
    top = 1
    stack[0] = 0
    while top > 0:
        top -= 1
        node = stack[top]
        if ncomp[node] == ci:
            continue
        lb = max(cor, nmin[node], _box_dist(xi, yi, box, node))
        if lb > bd:
            continue
        lft = left[node]
        if lft < 0:
            for p in range(start[node], end[node]):
                if comp[p] == ci:
                    continue
                cp = core[p]
                if cp > bd:
                    continue
                dx = x[p] - xi
                dy = y[p] - yi
                w = max(cor, cp, np.sqrt(dx * dx + dy * dy))
                if w <= bd:
                    key = min(i, p) * n + max(i, p)
                    if w < bd or key < bkey:
                        bd = w
                        bkey = key
                        bj = p
            continue
        rgt = right[node]
        top = _push_children(stack, top, xi, yi, box, lft, rgt)
    return bj, bd, bkey


@nb.njit(cache=True, parallel=True)
def _search_components(
    todo, ptr, chunks, x, y, core, comp, ncomp, nmin, tree, best, cand, low, depth
):  # pragma: no cover - numba
    """Search the points of each component in order of their lower bound, tightening the
    component's best edge as they go; a point whose lower bound exceeds it is not searched."""
    left, right, start, end, box = tree
    cb_d, cb_key, _, _ = best
    low_d, low_key = low
    for ch in nb.prange(chunks.size - 1):
        stack = np.empty(depth, np.int64)
        for c in range(chunks[ch], chunks[ch + 1]):
            seg = todo[ptr[c] : ptr[c + 1]]
            if seg.size == 0:
                continue
            lb = np.empty(seg.size)
            for t in range(seg.size):
                lb[t] = max(low_d[seg[t]], core[seg[t]])
            order = np.argsort(lb)
            for t in order:
                if lb[t] > cb_d[c]:
                    break
                i = seg[t]
                if _less(cb_d[c], cb_key[c], low_d[i], low_key[i]):
                    continue
                j, d, key = _query(
                    i,
                    x,
                    y,
                    core,
                    comp,
                    left,
                    right,
                    start,
                    end,
                    box,
                    ncomp,
                    nmin,
                    cb_d[c],
                    cb_key[c],
                    stack,
                )
                if j >= 0:
                    _remember(cand, i, j, d, key)
                    _keep_best(best, c, i, j, d, key)
                else:
                    low_d[i] = cb_d[c]
                    low_key[i] = cb_key[c]


@nb.njit(cache=True)
def _less(d1, k1, d2, k2):  # pragma: no cover - numba
    return d1 < d2 or (d1 == d2 and k1 < k2)


@nb.njit(cache=True)
def _remember(cand, i, j, d, key):  # pragma: no cover - numba
    """Record (j, d, key) as point i's nearest edge to another component."""
    cand_j, cand_d, cand_key = cand
    cand_j[i] = j
    cand_d[i] = d
    cand_key[i] = key


@nb.njit(cache=True)
def _keep_best(best, c, i, j, d, key):  # pragma: no cover - numba
    """Record edge (i, j) of weight d and order key as component c's best edge."""
    cb_d, cb_key, cb_i, cb_j = best
    cb_d[c] = d
    cb_key[c] = key
    cb_i[c] = i
    cb_j[c] = j


@nb.njit(cache=True)
def _find(parent, a):  # pragma: no cover - numba
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@nb.njit(cache=True, parallel=True)
def _knn(x, y, left, right, start, end, box, k, ms, depth, nchunks):  # pragma: no cover
    """The k nearest points of every point (itself included), in tree order.

    Returns their positions (n, k), nearest first, and three squared distances per point:
    to the second nearest (0 for a duplicate), the ms-th (the core distance) and the k-th.
    """
    n = x.size
    nbr = np.empty((n, k), np.int32)
    dd = np.empty((n, 3))
    step = (n + nchunks - 1) // nchunks
    for ch in nb.prange(nchunks):
        best = np.empty(k)
        bidx = np.empty(k, np.int64)
        stack = np.empty(depth, np.int64)
        for i in range(ch * step, min(n, (ch + 1) * step)):
            best[:] = np.inf
            bidx[:] = -1
            xi = x[i]
            yi = y[i]
            top = 1
            stack[0] = 0
            while top > 0:
                top -= 1
                node = stack[top]
                dx = max(box[node, 0] - xi, 0.0, xi - box[node, 1])
                dy = max(box[node, 2] - yi, 0.0, yi - box[node, 3])
                if dx * dx + dy * dy > best[k - 1]:
                    continue
                lft = left[node]
                if lft < 0:
                    for p in range(start[node], end[node]):
                        ex = x[p] - xi
                        ey = y[p] - yi
                        d2 = ex * ex + ey * ey
                        if d2 < best[k - 1]:
                            m = k - 1
                            while m > 0 and best[m - 1] > d2:
                                best[m] = best[m - 1]
                                bidx[m] = bidx[m - 1]
                                m -= 1
                            best[m] = d2
                            bidx[m] = p
                    continue
                rgt = right[node]
                top = _push_children(stack, top, xi, yi, box, lft, rgt)
            for m in range(k):
                nbr[i, m] = bidx[m]
            dd[i, 0] = best[min(1, k - 1)]
            dd[i, 1] = best[ms - 1]
            dd[i, 2] = best[k - 1]
    return nbr, dd


def _tree(xy: np.ndarray) -> tuple:
    centred = xy - xy.mean(axis=0)
    return _build(
        np.ascontiguousarray(centred[:, 0]), np.ascontiguousarray(centred[:, 1]), LEAF_SIZE
    )


@nb.njit(cache=True)
def _depth(n):  # pragma: no cover - numba
    """Stack size of a KD-tree search over n points."""
    return 4 * (int(np.log2(n + 1)) + 4)


def core_distances(xy: np.ndarray, min_samples: int) -> np.ndarray:
    """Distance of each point to its ``min_samples``-th nearest point, itself included."""
    xy = np.ascontiguousarray(xy, dtype=float)
    n = len(xy)
    k = min(int(min_samples), n)
    if k <= 1:
        return np.zeros(n)
    idx, xs, ys, start, end, left, right, box = _tree(xy)
    _, dd = _knn(xs, ys, left, right, start, end, box, k, k, _depth(n), 8 * nb.get_num_threads())
    core = np.empty(n)
    core[idx] = np.sqrt(dd[:, 1])
    return core


@nb.njit(cache=True, parallel=True)
def _first_round(
    x, y, core, nbr, dd, k, tree, nmin, depth, nchunks, cand
):  # pragma: no cover - numba
    """Every point's lightest edge, from its k-NN list where that is provably the lightest."""
    left, right, start, end, box = tree
    n = x.size
    comp = np.arange(n)
    ncomp = np.empty(start.size, np.int64)
    _node_comp(comp, start, end, left, right, ncomp)
    step = (n + nchunks - 1) // nchunks
    for ch in nb.prange(nchunks):
        stack = np.empty(depth, np.int64)
        for i in range(ch * step, min(n, (ch + 1) * step)):
            ci = core[i]
            bd = np.inf
            bkey = _NO_KEY
            bj = -1
            for m in range(min(k, nbr.shape[1])):
                j = nbr[i, m]
                if j == i or j < 0:
                    continue
                ex = x[j] - x[i]
                ey = y[j] - y[i]
                w = max(ci, core[j], np.sqrt(ex * ex + ey * ey))
                key = min(i, j) * n + max(i, j)
                if _less(w, key, bd, bkey):
                    bd = w
                    bkey = key
                    bj = j
            # the list holds every point within the core distance when the next one is
            # strictly farther; then an edge at the core distance cannot be beaten
            exact = bj >= 0 and bd == ci and (k >= nbr.shape[1] or dd[i, 2] > ci * ci)
            if not exact:
                j2, d2, key2 = _query(
                    i, x, y, core, comp, left, right, start, end, box, ncomp, nmin, bd, bkey, stack
                )
                if j2 >= 0:
                    bj = j2
                    bd = d2
                    bkey = key2
            _remember(cand, i, bj, bd, bkey)


@nb.njit(cache=True)
def _boruvka(
    x, y, core, start, end, left, right, box, nmin, cand_j, cand_d, cand_key, nthreads
):  # pragma: no cover - numba
    """Borůvka rounds in tree order; cand_* may hold each point's lightest edge already."""
    n = x.size
    depth = _depth(n)
    comp = np.arange(n)
    ncomp = np.empty(start.size, np.int64)
    low_d = np.zeros(n)
    low_key = np.zeros(n, np.int64)
    cb_d = np.empty(n)
    cb_key = np.empty(n, np.int64)
    cb_i = np.empty(n, np.int64)
    cb_j = np.empty(n, np.int64)
    parent = np.arange(n)
    ea = np.empty(n - 1, np.int64)
    eb = np.empty(n - 1, np.int64)
    ne = 0
    ncomps = n
    todo_buf = np.empty(n, np.int64)
    label = np.empty(n, np.int64)
    tree = (left, right, start, end, box)
    best = (cb_d, cb_key, cb_i, cb_j)
    cand = (cand_j, cand_d, cand_key)
    low = (low_d, low_key)
    while ncomps > 1:
        _node_comp(comp, start, end, left, right, ncomp)
        cb_d[:ncomps] = np.inf
        cb_key[:ncomps] = _NO_KEY
        cb_i[:ncomps] = -1
        # remembered neighbours still outside the component stay the nearest
        for i in range(n):
            j = cand_j[i]
            if j >= 0:
                c = comp[i]
                if comp[j] != c:
                    if _less(cand_d[i], cand_key[i], cb_d[c], cb_key[c]):
                        _keep_best(best, c, i, j, cand_d[i], cand_key[i])
                else:
                    # absorbed: the old edge stays a lower bound of the new nearest
                    low_d[i] = cand_d[i]
                    low_key[i] = cand_key[i]
                    cand_j[i] = -1
        # points without a remembered neighbour, grouped by component (counting sort)
        ptr = np.zeros(ncomps + 1, np.int64)
        for i in range(n):
            if cand_j[i] < 0:
                ptr[comp[i] + 1] += 1
        for c in range(ncomps):
            ptr[c + 1] += ptr[c]
        fill = ptr[:-1].copy()
        for i in range(n):
            if cand_j[i] < 0:
                todo_buf[fill[comp[i]]] = i
                fill[comp[i]] += 1
        nt = ptr[ncomps]
        if nt > 0:
            # chunks of whole components with about equal numbers of points
            nch = 16 * nthreads
            chunks = np.empty(nch + 1, np.int64)
            chunks[0] = 0
            chunks[nch] = ncomps
            for q in range(1, nch):
                chunks[q] = np.searchsorted(ptr, (nt * q) // nch)
            _search_components(
                todo_buf,
                ptr,
                chunks,
                x,
                y,
                core,
                comp,
                ncomp,
                nmin,
                tree,
                best,
                cand,
                low,
                depth,
            )
        for c in range(ncomps):
            i = cb_i[c]
            if i < 0:
                continue
            ra = _find(parent, i)
            rb = _find(parent, cb_j[c])
            if ra != rb:
                parent[ra] = rb
                ea[ne] = i
                eb[ne] = cb_j[c]
                ne += 1
        # relabel components 0..k-1
        label[:] = -1
        k = 0
        for i in range(n):
            r = _find(parent, i)
            if label[r] < 0:
                label[r] = k
                k += 1
            comp[i] = label[r]
        if k == ncomps:  # pragma: no cover - cannot happen for a connected complete graph
            break
        ncomps = k
    return ea[:ne], eb[:ne]


def _mst_positions(xy: np.ndarray, ms: int, core: np.ndarray | None) -> tuple:
    """Edges (input rows) of the MST of distinct points xy, and their core distances."""
    n = len(xy)
    nthreads = nb.get_num_threads()
    idx, xs, ys, start, end, left, right, box = _tree(xy)
    depth = _depth(n)
    cand_j = np.full(n, -1, np.int64)
    cand_d = np.full(n, np.inf)
    cand_key = np.full(n, _NO_KEY, np.int64)
    if core is None:
        k = min(ms + 1, n)  # one beyond the core neighbour, to know the ball is complete
        nbr, dd = _knn(xs, ys, left, right, start, end, box, k, ms, depth, 8 * nthreads)
        core_t = np.sqrt(dd[:, 1]) if ms > 1 else np.zeros(n)
        if not dd[:, 0].all():  # a point has a twin at distance 0: contract duplicates first
            core_in = np.empty(n)
            core_in[idx] = core_t
            return None, None, core_in
        nmin = _node_min(core_t, start, end, left, right)
        tree = (left, right, start, end, box)
        cand = (cand_j, cand_d, cand_key)
        _first_round(xs, ys, core_t, nbr, dd, min(ms, n), tree, nmin, depth, 8 * nthreads, cand)
        del nbr, dd
    else:
        core_t = np.ascontiguousarray(core[idx], dtype=float)
        nmin = _node_min(core_t, start, end, left, right)
    ea, eb = _boruvka(
        xs, ys, core_t, start, end, left, right, box, nmin, cand_j, cand_d, cand_key, nthreads
    )
    core_in = np.empty(n)
    core_in[idx] = core_t
    return idx[ea], idx[eb], core_in


def mutual_reachability_mst(
    xy: np.ndarray, min_samples: int, *, core: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact minimum spanning tree of the mutual-reachability graph of planar points.

    Parameters
    ----------
    xy : numpy.ndarray, shape (n, 2)
        Coordinates (metres), finite.
    min_samples : int
        Neighbourhood of the core distance, the point itself included (scikit-learn).
    core : numpy.ndarray, optional
        Core distances if already known.

    Returns
    -------
    a, b : numpy.ndarray of intp
        End points of the n - 1 edges (input row numbers).
    weight : numpy.ndarray of float64
        Mutual-reachability distance of each edge, ``max(core_a, core_b, |a - b|)``.
    core : numpy.ndarray of float64
        Core distance of every point.
    """
    xy = np.ascontiguousarray(xy, dtype=float)
    n = len(xy)
    ms = max(1, min(int(min_samples), max(n, 1)))
    if n < 2:
        empty = np.empty(0, np.intp)
        return empty, empty, np.empty(0), np.zeros(n) if core is None else core
    a, b, core_all = _mst_positions(xy, ms, core)
    if a is None:
        # exact duplicates: every edge leaving a group of identical points weighs at least the
        # group's core distance, so a chain through the group at that weight is part of a
        # minimum spanning tree, and the rest is the tree of the distinct locations
        core = core_all
        order = np.lexsort((xy[:, 1], xy[:, 0]))
        sx, sy = xy[order, 0], xy[order, 1]
        same = (sx[1:] == sx[:-1]) & (sy[1:] == sy[:-1])
        chain_a = order[1:][same]
        chain_b = order[:-1][same]
        reps = np.sort(order[np.concatenate(([True], ~same))])
        if len(reps) > 1:
            ra, rb, _ = _mst_positions(xy[reps], ms, core[reps])
            a = np.concatenate((reps[ra], chain_a))
            b = np.concatenate((reps[rb], chain_b))
        else:
            a, b = chain_a, chain_b
    else:
        core = core_all
    # exact float64 weights in input coordinates (the same arithmetic as scikit-learn)
    dx = xy[a, 0] - xy[b, 0]
    dy = xy[a, 1] - xy[b, 1]
    weight = np.maximum(np.maximum(core[a], core[b]), np.sqrt(dx * dx + dy * dy))
    return a.astype(np.intp), b.astype(np.intp), weight, core
