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

from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from clusterscape._validation import as_xy
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


def _nearest_with_ties(
    xy: np.ndarray, *, rtol: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed nearest-neighbour edges (i, j, share): every point's nearest other point(s),
    ties at the nearest distance sharing weight equally (Leslie & Kronenfeld 2011)."""
    n = len(xy)
    tree = cKDTree(xy)
    k = min(n, 4)
    rows_i, rows_j, rows_w = [], [], []
    todo = np.arange(n)
    while todo.size:
        d, idx = tree.query(xy[todo], k=k)
        d = np.atleast_2d(d)
        idx = np.atleast_2d(idx)
        # drop self (first column of identical point may be another coincident point)
        is_self = idx == todo[:, None]
        d = np.where(is_self, np.inf, d)
        dmin = d.min(axis=1)
        tie = d <= dmin[:, None] * (1 + rtol)
        # a tie may extend beyond the k queried: last column tied and not exhausted
        overflow = tie[:, -1] & (k < n)
        done = ~overflow
        ti, tj = np.nonzero(tie[done])
        cnt = tie[done].sum(axis=1)
        rows_i.append(todo[done][ti])
        rows_j.append(idx[done][ti, tj])
        rows_w.append(1.0 / cnt[ti])
        todo = todo[overflow]
        k = min(n, 2 * k)
    return np.concatenate(rows_i), np.concatenate(rows_j), np.concatenate(rows_w)


def colocation_quotient(xy: Any, labels: Any, a: Any, b: Any) -> float:
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


@numba.njit(cache=True)
def _perm_counts(li, lj, w, codes, ncat, nperm, seed):
    """Counts C[a, b] for ``nperm`` random relabellings (Fisher–Yates, numba RNG)."""
    np.random.seed(seed)  # noqa: NPY002 - numba's own per-process RNG, seeded here
    out = np.zeros((nperm, ncat, ncat))
    lab = codes.copy()
    n = lab.shape[0]
    for p in range(nperm):
        for t in range(n - 1, 0, -1):
            s = np.random.randint(0, t + 1)  # noqa: NPY002
            tmp = lab[t]
            lab[t] = lab[s]
            lab[s] = tmp
        for e in range(li.shape[0]):
            out[p, lab[li[e]], lab[lj[e]]] += w[e]
    return out


def colocation_matrix(
    xy: Any, labels: Any, *, permutations: int = 0, seed: int | None = 0
) -> pd.DataFrame:
    """Global CLQ for every ordered pair of categories (ArcGIS's global relationship table).

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres.
    labels : array of length n.
    permutations : int, default 0
        If > 0, random relabellings of all points give two-sided pseudo p-values
        p = (1 + min(#{CLQ_sim >= CLQ}, #{CLQ_sim <= CLQ})) / (permutations + 1).
    seed : int or None, default 0

    Returns
    -------
    DataFrame
        Columns ``a, b, clq`` (and ``p_value`` with permutations), one row per ordered pair.
    """
    caller = "pattern.colocation_matrix"
    pts = as_xy(xy, caller=caller, min_points=3)
    lab = _labels(labels, len(pts), caller)
    cats, codes = np.unique(lab.astype(str), return_inverse=True)
    codes = codes.astype(np.int64)
    ncat, n = len(cats), len(pts)
    i, j, w = _nearest_with_ties(pts)
    cnt = np.zeros((ncat, ncat))
    np.add.at(cnt, (codes[i], codes[j]), w)
    nk = np.bincount(codes, minlength=ncat).astype(float)
    nbp = nk[None, :] - np.eye(ncat)
    with np.errstate(invalid="ignore", divide="ignore"):
        clq = (cnt / nk[:, None]) / (nbp / (n - 1))
    a_idx, b_idx = np.meshgrid(np.arange(ncat), np.arange(ncat), indexing="ij")
    df = pd.DataFrame({"a": cats[a_idx.ravel()], "b": cats[b_idx.ravel()], "clq": clq.ravel()})
    if permutations > 0:
        s = int(np.random.default_rng(seed).integers(0, 2**31 - 1))
        sims = _perm_counts(
            i.astype(np.int64), j.astype(np.int64), w, codes, ncat, int(permutations), s
        )
        ge = (sims >= cnt[None] - 1e-9).sum(axis=0)
        le = (sims <= cnt[None] + 1e-9).sum(axis=0)
        df["p_value"] = ((1 + np.minimum(ge, le)) / (permutations + 1)).ravel()
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
    xy: Any,
    labels: Any,
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
        Level for the ``type`` column.
    seed : int or None, default 0

    Returns
    -------
    DataFrame
        Indexed by the row number of each A point in ``xy``, columns ``lclq``, ``p_value``
        (two-sided folded pseudo p: (1 + min(#sim >= obs, #sim <= obs)) / (permutations + 1))
        and ``type`` ("colocated", "isolated" or "not significant").
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
        p = (1 + np.minimum(ge, le)) / (permutations + 1)
        out["p_value"] = p
        sig = p < alpha
        out["type"] = np.where(
            sig & (out["lclq"] > 1),
            "colocated",
            np.where(sig & (out["lclq"] < 1), "isolated", "not significant"),
        )
    return out
