"""Co-location quotients: global CLQ (Leslie & Kronenfeld 2011) and local LCLQ (Wang et al. 2017).

Global: CLQ_{A→B} = (C_{A→B} / N_A) / (N'_B / (N − 1)), where C_{A→B} counts, over the A
points, the share of each point's nearest neighbour(s) that are B (ties at the nearest distance
split equally), and N'_B = N_B − 1 when A = B (a point is not its own neighbour).

Local (ArcGIS "Colocation Analysis" defaults): for each A point i, its k nearest neighbours
(itself excluded) get Gaussian weights w_ij = exp(−0.5 d_ij² / d_ik²), d_ik the distance to the
k-th neighbour; LCLQ_i = [Σ_j w_ij 1{j ∈ B} / Σ_j w_ij] / (N'_B / (N − 1)). Significance by
conditional permutation: the focal point keeps its label and its k neighbours' labels are drawn
without replacement from the other N − 1 points.

CLQ > 1: B is over-represented next to A (co-location); < 1: isolation. CLQ is asymmetric.

References
----------
Leslie T.F. & Kronenfeld B.J. 2011, Geographical Analysis 43(3):306–326. Wang F., Hu Y., Wang
S. & Li X. 2017, Professional Geographer 69(1):22–31. Cromley R.G., Hanink D.M. & Bentley G.C.
2014, Geographical Analysis 46(3):277–298.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from clusterscape._validation import PointsLike, as_xy
from clusterscape.errors import InvalidInputError

__all__ = ["colocation_matrix", "colocation_quotient", "local_colocation_quotient"]


def _labels(labels: Any, n: int, caller: str) -> np.ndarray:
    lab = np.asarray(labels, dtype=object).ravel()
    if lab.shape != (n,):
        raise InvalidInputError(
            f"{caller}: labels must have one entry per point ({n}), got {lab.shape}."
        )
    if pd.isna(pd.Series(lab)).any():
        raise InvalidInputError(
            f"{caller}: labels contain missing values; fill or drop them first."
        )
    return lab


def _check_label(lab: np.ndarray, v: Any, name: str, caller: str) -> None:
    if not (lab == v).any():
        have = sorted({str(x) for x in lab})[:10]
        raise InvalidInputError(
            f"{caller}: no point has {name} label {v!r}; labels present: {have}."
        )


@numba.njit(cache=True, parallel=True)
def _grid_nearest(x, y, order, cell_start, cx, cy, ncx, ncy, size):
    """Nearest other point of every point by a ring search over a uniform cell grid.

    Returns per point (original index) one nearest point, the squared nearest distance and
    the number of points at exactly that squared distance (> 1: ties)."""
    n = x.shape[0]
    nn = np.empty(n, dtype=np.int64)
    best2 = np.empty(n)
    cnt = np.zeros(n, dtype=np.int64)
    kmax = max(ncx, ncy)
    for q in numba.prange(n):
        i = order[q]  # cell order: neighbouring queries touch the same memory
        xi = x[i]
        yi = y[i]
        b = np.inf
        c = 0
        arg = -1
        k = 0
        while True:
            for gy in range(max(cy[i] - k, 0), min(cy[i] + k, ncy - 1) + 1):
                edge = gy == cy[i] - k or gy == cy[i] + k
                step = 1 if edge or k == 0 else 2 * k
                for gx in range(cx[i] - k, cx[i] + k + 1, step):
                    if gx < 0 or gx >= ncx:
                        continue
                    cell = gy * ncx + gx
                    for t in range(cell_start[cell], cell_start[cell + 1]):
                        j = order[t]
                        if j == i:
                            continue
                        dx = x[j] - xi
                        dy = y[j] - yi
                        d2 = dx * dx + dy * dy
                        if d2 < b:
                            b = d2
                            c = 1
                            arg = j
                        elif d2 == b:
                            c += 1
            # points not searched yet lie in rings >= k + 1, farther than k cell sizes
            lb = (k - 1e-6) * size
            if (c > 0 and lb > 0.0 and b < lb * lb) or k > kmax:
                break
            k += 1
        nn[i] = arg
        best2[i] = b
        cnt[i] = c
    return nn, best2, cnt


@numba.njit(cache=True)
def _grid_ties(pts, x, y, order, cell_start, cx, cy, ncx, ncy, size, best2, cnt):
    """All nearest points of the points ``pts`` (those with ties) as directed edges."""
    tot = 0
    for p in pts:
        tot += cnt[p]
    ei = np.empty(tot, dtype=np.int64)
    ej = np.empty(tot, dtype=np.int64)
    ew = np.empty(tot)
    e = 0
    for p in pts:
        reach = int(math.sqrt(best2[p]) / size) + 2
        for gy in range(max(cy[p] - reach, 0), min(cy[p] + reach, ncy - 1) + 1):
            for gx in range(max(cx[p] - reach, 0), min(cx[p] + reach, ncx - 1) + 1):
                cell = gy * ncx + gx
                for t in range(cell_start[cell], cell_start[cell + 1]):
                    j = order[t]
                    if j == p:
                        continue
                    dx = x[j] - x[p]
                    dy = y[j] - y[p]
                    if dx * dx + dy * dy == best2[p]:
                        ei[e] = p
                        ej[e] = j
                        ew[e] = 1.0 / cnt[p]
                        e += 1
    return ei, ej, ew


def _nearest_split(
    xy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest neighbours with ties: (nn, ti, tj, tw, order) where ``nn[i]`` is the single
    nearest other point of i, or -1 when several points tie at the nearest distance; the tied
    points are the directed edges (ti, tj) with shares tw = 1 / #ties (Leslie & Kronenfeld
    2011); ``order`` sorts the points by grid cell."""
    x = np.ascontiguousarray(xy[:, 0], dtype=float)
    y = np.ascontiguousarray(xy[:, 1], dtype=float)
    n = len(x)
    x0, y0 = float(x.min()), float(y.min())
    wx, wy = float(x.max()) - x0, float(y.max()) - y0
    if wx > 0 and wy > 0:
        size = math.sqrt(wx * wy / n)
    else:
        size = max(wx, wy) / n or 1.0
    ncx = min(int(wx / size) + 1, 4 * n)
    ncy = min(int(wy / size) + 1, max(4 * n // ncx, 1))
    size = max(size, wx / ncx * (1 + 1e-12), wy / ncy * (1 + 1e-12))
    cx = np.minimum((x - x0) / size, ncx - 1).astype(np.int64)
    cy = np.minimum((y - y0) / size, ncy - 1).astype(np.int64)
    cell = cy * ncx + cx
    order = np.argsort(cell, kind="stable").astype(np.int64)
    cell_start = np.searchsorted(cell[order], np.arange(ncx * ncy + 1)).astype(np.int64)
    args = (x, y, order, cell_start, cx, cy, ncx, ncy, size)
    nn, best2, cnt = _grid_nearest(*args)
    tied = np.flatnonzero(cnt > 1)
    ti, tj, tw = _grid_ties(tied, *args, best2, cnt)
    nn[tied] = -1
    return nn, ti, tj, tw, order


def _nearest_with_ties(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed nearest-neighbour edges (i, j, share): every point's nearest other point(s),
    ties at the nearest distance sharing weight equally (Leslie & Kronenfeld 2011)."""
    nn, ti, tj, tw, _order = _nearest_split(np.asarray(xy, dtype=float))
    single = np.flatnonzero(nn >= 0)
    i = np.concatenate([single, ti])
    j = np.concatenate([nn[single], tj])
    w = np.concatenate([np.ones(single.size), tw])
    o = np.argsort(i, kind="stable")
    return i[o], j[o], w[o]


def colocation_quotient(xy: PointsLike, labels: ArrayLike, a: Any, b: Any) -> float:
    """Global co-location quotient CLQ_{A→B} (Leslie & Kronenfeld 2011).

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres.
    labels : array of length n (category of each point).
    a, b : the focal category A and the neighbour category B (may be equal).

    Returns
    -------
    float
        CLQ_{A→B}; 1 means B is as frequent next to A as overall.
    """
    caller = "pattern.colocation_quotient"
    pts = as_xy(xy, caller=caller, min_points=3)
    lab = _labels(labels, len(pts), caller)
    _check_label(lab, a, "a", caller)
    _check_label(lab, b, "b", caller)
    i, j, w = _nearest_with_ties(pts)
    sel = lab[i] == a
    c_ab = float((w[sel] * (lab[j[sel]] == b)).sum())
    n, na, nb = len(pts), int((lab == a).sum()), int((lab == b).sum())
    nbp = nb - 1 if a == b else nb
    if nbp <= 0:
        raise InvalidInputError(
            f"{caller}: category {b!r} has a single point; CLQ {a!r}->{b!r} is undefined."
        )
    return (c_ab / na) / (nbp / (n - 1))


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True, inline="always")
def _splitmix(z):
    z = z + np.uint64(0x9E3779B97F4A7C15)
    r = z
    r = (r ^ (r >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    r = (r ^ (r >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z, r ^ (r >> np.uint64(31))


@numba.njit(cache=True)
def _seed_state(seed, stream):
    """xoshiro256** state of stream ``stream`` for ``seed`` (splitmix64 expansion)."""
    z = np.uint64(seed) ^ (np.uint64(stream) * np.uint64(0xD1B54A32D192ED03))
    z, s0 = _splitmix(z)
    z, s1 = _splitmix(z)
    z, s2 = _splitmix(z)
    z, s3 = _splitmix(z)
    return s0, s1, s2, s3


@numba.njit(cache=True)
def _shuffle(lab, seed, stream):
    """Fisher–Yates shuffle of ``lab`` in place: xoshiro256** (Blackman & Vigna 2018) and
    Lemire's (2019) unbiased bounded integers, two 32-bit draws per 64-bit output."""
    s0, s1, s2, s3 = _seed_state(seed, stream)
    m32 = np.uint64(0xFFFFFFFF)
    sh = np.uint64(32)
    half = np.uint64(0)
    have = False
    for t in range(lab.shape[0] - 1, 0, -1):
        b = np.uint64(t + 1)
        while True:
            if have:
                r = half
                have = False
            else:
                out = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
                tt = s1 << np.uint64(17)
                s2 ^= s0
                s3 ^= s1
                s1 ^= s2
                s0 ^= s3
                s2 ^= tt
                s3 = _rotl(s3, 45)
                r = out >> sh
                half = out & m32
                have = True
            m = r * b
            low = m & m32
            if low >= b or low >= (np.uint64(0x100000000) - b) % b:
                break
        u = np.int64(m >> sh)
        tmp = lab[t]
        lab[t] = lab[u]
        lab[u] = tmp


@numba.njit(cache=True, parallel=True)
def _perm_stats(codes, nn, ti, tj, tw, ncat, obs, nperm, seed, nchunks, keep):
    """Random relabellings of all points (uniform permutations).

    Permutation p shuffles the labels with its own random stream seeded by (seed, p), so
    results do not depend on the number of threads. Each permutation's count matrix
    C[a, b] = Σ_i share_ij [label(i) = a][label(j) = b] over the nearest-neighbour edges is
    compared with ``obs``; returns (#C >= obs, #C <= obs, ΣC) and, if ``keep``, every C."""
    n = codes.shape[0]
    ge = np.zeros((nchunks, ncat, ncat), dtype=np.int64)
    le = np.zeros((nchunks, ncat, ncat), dtype=np.int64)
    tot = np.zeros((nchunks, ncat, ncat))
    sims = np.zeros((nperm if keep else 0, ncat, ncat))
    for ch in numba.prange(nchunks):
        lab = codes.copy()
        ic = np.zeros((ncat, ncat), dtype=np.int64)
        c = np.zeros((ncat, ncat))
        for p in range(ch, nperm, nchunks):
            lab[:] = codes
            _shuffle(lab, seed, p)
            ic[:, :] = 0
            for i in range(n):
                j = nn[i]
                if j >= 0:
                    ic[lab[i], lab[j]] += 1
            for a in range(ncat):
                for b in range(ncat):
                    c[a, b] = ic[a, b]
            for e in range(ti.shape[0]):
                c[lab[ti[e]], lab[tj[e]]] += tw[e]
            for a in range(ncat):
                for b in range(ncat):
                    v = c[a, b]
                    if v >= obs[a, b] - 1e-9:
                        ge[ch, a, b] += 1
                    if v <= obs[a, b] + 1e-9:
                        le[ch, a, b] += 1
                    tot[ch, a, b] += v
                    if keep:
                        sims[p, a, b] = v
    return ge.sum(axis=0), le.sum(axis=0), tot.sum(axis=0), sims


def _perm_counts(codes, nn, ti, tj, tw, order, ncat, obs, nperm, seed, keep=False):
    """Permutation statistics of the count matrix (see :func:`_perm_stats`). Points are
    renumbered in grid-cell order first (the null is invariant to renumbering) so that each
    point and its nearest neighbour sit close in memory."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    nn_o = nn[order]
    nn_o = np.where(nn_o >= 0, rank[np.maximum(nn_o, 0)], -1).astype(np.int32)
    small = codes[order].astype(np.int8 if ncat <= 127 else np.int32)
    nchunks = min(int(nperm), 4 * numba.get_num_threads())
    return _perm_stats(
        small, nn_o, rank[ti], rank[tj], tw, ncat, obs, int(nperm), np.uint64(seed), nchunks, keep
    )


def _count_matrix(
    codes: np.ndarray, ncat: int, nn: np.ndarray, ti: np.ndarray, tj: np.ndarray, tw: np.ndarray
) -> np.ndarray:
    """Count matrix C[a, b] = Σ_i share_ij [code(i) = a][code(j) = b] over the nearest-neighbour
    edges of :func:`_nearest_split` (single nearest neighbours and shared ties), (ncat, ncat)."""
    single = nn >= 0
    m2 = ncat * ncat
    cnt = np.bincount(codes[single] * ncat + codes[nn[single]], minlength=m2).astype(float)
    cnt += np.bincount(codes[ti] * ncat + codes[tj], weights=tw, minlength=m2)
    return cnt.reshape(ncat, ncat)


def colocation_matrix(
    xy: PointsLike, labels: ArrayLike, *, permutations: int = 0, seed: int | None = 0
) -> pd.DataFrame:
    """Global CLQ for every ordered pair of categories (ArcGIS's global relationship table).

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres.
    labels : array of length n.
    permutations : int, default 0
        If > 0, random relabellings of all points give pseudo p-values: the one-sided
        ``p_one_sided = (1 + min(#{CLQ_sim >= CLQ}, #{CLQ_sim <= CLQ})) / (permutations + 1)``
        (in the observed direction, as esda's folded ``p_sim``; exact ties between the data and
        simulations are broken at random, seeded, as spatstat's ``tie.rule = "randomise"``, so
        the discrete CLQ keeps its size) and the two-sided
        ``p_value = min(1, 2 * p_one_sided)`` (co-location *or* isolation).
    seed : int or None, default 0

    Returns
    -------
    DataFrame
        Columns ``a, b, clq`` (and ``p_value``, ``p_one_sided`` with permutations), one row per
        ordered pair.
    """
    caller = "pattern.colocation_matrix"
    pts = as_xy(xy, caller=caller, min_points=3)
    lab = _labels(labels, len(pts), caller)
    cats, codes = np.unique(lab.astype(str), return_inverse=True)
    codes = codes.astype(np.int64)
    ncat, n = len(cats), len(pts)
    nn, ti, tj, tw, order = _nearest_split(pts)
    cnt = _count_matrix(codes, ncat, nn, ti, tj, tw)
    nk = np.bincount(codes, minlength=ncat).astype(float)
    nbp = nk[None, :] - np.eye(ncat)
    with np.errstate(invalid="ignore", divide="ignore"):
        clq = (cnt / nk[:, None]) / (nbp / (n - 1))
    a_idx, b_idx = np.meshgrid(np.arange(ncat), np.arange(ncat), indexing="ij")
    df = pd.DataFrame({"a": cats[a_idx.ravel()], "b": cats[b_idx.ravel()], "clq": clq.ravel()})
    if permutations > 0:
        s = int(np.random.default_rng(seed).integers(0, 2**63 - 1))
        ge, le, _tot, _sims = _perm_counts(codes, nn, ti, tj, tw, order, ncat, cnt, permutations, s)
        # Exact ties are frequent (C counts nearest-neighbour pairs): as spatstat's
        # tie.rule = "randomise", the data take a uniformly random place among the tied
        # simulations, so the rank of the data is uniform under the null and the test holds its
        # size; without ties this is (1 + min(#>=, #<=)) / (permutations + 1).
        ties = ge + le - permutations
        above = int(permutations) - le  # simulations strictly above the data
        k = np.floor(np.random.default_rng(s).random(ties.shape) * (ties + 1)).astype(np.int64)
        r_top = 1 + above + k  # rank of the data from the top, in 1..permutations + 1
        one = (np.minimum(r_top, permutations + 2 - r_top) / (permutations + 1)).ravel()
        df["p_value"] = np.minimum(1.0, 2.0 * one)
        df["p_one_sided"] = one
    return df


@numba.njit(cache=True)
def _lclq_perm(wts, isb_all, focal, nperm, seed):
    """Conditional permutation: each focal point keeps its label; its k neighbour labels are
    drawn without replacement from the other N − 1 points. Returns (nfocal, nperm) shares."""
    np.random.seed(seed)  # noqa: NPY002 - numba's own per-process RNG, seeded here
    nf, k = wts.shape
    n = isb_all.shape[0]
    out = np.empty((nf, nperm))
    pick = np.empty(k, dtype=np.int64)
    for f in range(nf):
        wsum = wts[f].sum()
        for p in range(nperm):
            m = 0
            while m < k:
                c = np.random.randint(0, n - 1)  # noqa: NPY002
                if c >= focal[f]:
                    c += 1
                dup = False
                for q in range(m):
                    if pick[q] == c:
                        dup = True
                        break
                if not dup:
                    pick[m] = c
                    m += 1
            s = 0.0
            for q in range(k):
                s += wts[f, q] * isb_all[pick[q]]
            out[f, p] = s / wsum
    return out


def local_colocation_quotient(
    xy: PointsLike,
    labels: ArrayLike,
    a: Any,
    b: Any,
    *,
    k: int = 8,
    permutations: int = 99,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Local co-location quotient LCLQ_{A_i→B} of every A point (Wang et al. 2017; ArcGIS).

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres.
    labels : array of length n.
    a, b : focal and neighbour categories.
    k : int, default 8
        Number of nearest neighbours (itself excluded), ArcGIS's default.
    permutations : int, default 99
        Conditional permutations for the pseudo p-value (0 to skip).
    alpha : float, default 0.05
        Level of the two-sided test behind the ``type`` column (``p_value <= alpha``).
    seed : int or None, default 0

    Returns
    -------
    DataFrame
        Indexed by the row number of each A point in ``xy``, columns ``lclq``, ``p_value``
        (two-sided pseudo p, ``min(1, 2 * p_one_sided)``), ``p_one_sided`` ((1 + min(#sim >=
        obs, #sim <= obs)) / (permutations + 1), one-sided in the observed direction) and
        ``type`` ("colocated" or "isolated" where ``p_value <= alpha``, else "not
        significant").
    """
    caller = "pattern.local_colocation_quotient"
    pts = as_xy(xy, caller=caller, min_points=3)
    lab = _labels(labels, len(pts), caller)
    _check_label(lab, a, "a", caller)
    _check_label(lab, b, "b", caller)
    n = len(pts)
    if not 1 <= k < n:
        raise InvalidInputError(f"{caller}: k must be between 1 and n - 1 = {n - 1}, got {k}.")
    focal = np.flatnonzero(lab == a)
    d, idx = cKDTree(pts).query(pts[focal], k=k + 1)
    # remove the focal point itself (it may not be in column 0 when points coincide)
    is_self = idx == focal[:, None]
    keep = ~is_self
    no_self = keep.sum(axis=1) == k + 1  # self not found among k+1: drop the farthest
    keep[no_self, -1] = False
    d = d[keep].reshape(len(focal), k)
    idx = idx[keep].reshape(len(focal), k)
    dk = d[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        wts = np.where(dk > 0, np.exp(-0.5 * d**2 / np.where(dk > 0, dk, 1.0) ** 2), 1.0)
    isb = (lab == b).astype(float)
    nbp = isb.sum() - (1 if a == b else 0)
    if nbp <= 0:
        raise InvalidInputError(f"{caller}: category {b!r} has a single point; LCLQ is undefined.")
    expected = nbp / (n - 1)
    share = (wts * isb[idx]).sum(axis=1) / wts.sum(axis=1)
    out = pd.DataFrame({"lclq": share / expected}, index=pd.Index(focal, name="point"))
    if permutations > 0:
        s = int(np.random.default_rng(seed).integers(0, 2**31 - 1))
        sims = _lclq_perm(
            np.ascontiguousarray(wts), isb, focal.astype(np.int64), int(permutations), s
        )
        ge = (sims >= share[:, None] - 1e-12).sum(axis=1)
        le = (sims <= share[:, None] + 1e-12).sum(axis=1)
        one = (1 + np.minimum(ge, le)) / (permutations + 1)
        p = np.minimum(1.0, 2.0 * one)
        out["p_value"] = p
        out["p_one_sided"] = one
        sig = p <= alpha
        out["type"] = np.where(
            sig & (out["lclq"] > 1),
            "colocated",
            np.where(sig & (out["lclq"] < 1), "isolated", "not significant"),
        )
    return out
