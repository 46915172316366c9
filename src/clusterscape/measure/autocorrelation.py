"""Global and local Moran's I (univariate and bivariate), as esda and GeoDa compute them.

Definitions (Moran 1950; Anselin 1995; Anselin, Syabri & Smirnov 2002 for the bivariate form),
with z the values standardised by their mean and population standard deviation and W the
weights (row-standardised by default, as esda's ``transformation="r"`` and GeoDa):

* global I = (n / S0) · Σ_ij w_ij z_i z_j / Σ_i z_i², E[I] = −1/(n − 1); z_norm and p_norm use
  the variance under the normality assumption (Cliff & Ord 1981), p_norm two-sided.
* local I_i = (n − 1) · z_i · Σ_j w_ij z_j / Σ_k z_k² (esda's ``Moran_Local`` scaling, which uses
  n − 1; GeoDa's is the same up to that factor n/(n − 1)).
* bivariate local I_i = (n − 1) · x_i · Σ_j w_ij y_j / Σ_k x_k² (esda ``Moran_Local_BV``).

Inference is by conditional randomisation (Anselin 1995): for site i the value at i stays and the
values at its neighbours are drawn without replacement from the other n − 1 sites, from one table
of ``permutations`` x max-cardinality indices shared by all sites, as esda does. With
``draws="esda"`` the table is esda's own (numba's ``np.random.seed(seed)`` then
``np.random.choice(n - 1, k, replace=False)``), so for the same ``seed`` our simulated statistics
equal esda's; the default ``draws="fast"`` draws the same distribution without esda's full
shuffle of n − 1 indices per permutation. A simulated value within 1e-10
(relative) of the observed one counts as a tie, i.e. as >= (esda compares the raw floats, so with
discrete values such as counts its tie counts depend on summation order). esda's ``p_sim`` is *directed*
(one-sided in the tail the observed value falls in): (min(#{sim ≥ obs}, M − #{sim ≥ obs}) + 1)/(M + 1).
Ours is reported as ``p_sim`` = min(1, 2 · that), the two-sided pseudo p-value, with esda's own
figure in ``p_directed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import numpy as np
import pandas as pd
from numba import njit
from numpy.typing import ArrayLike
from scipy import stats

from clusterscape._validation import WeightsLike, as_values, check_choice, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure._weights import as_csr_weights

__all__ = [
    "MoranResult",
    "benjamini_hochberg_cutoff",
    "bivariate_local_moran",
    "local_moran",
    "moran",
]

QUADRANTS = np.array(["HH", "LH", "LL", "HL"], dtype=object)
NOT_SIGNIFICANT = "not significant"


@dataclass(frozen=True, slots=True)
class MoranResult:
    """Global Moran's I with its normal-approximation and permutation inference.

    Attributes
    ----------
    I : float
        Moran's I.
    expected : float
        E[I] = −1/(n − 1) under no autocorrelation.
    z_norm, p_norm : float
        z-score and two-sided p-value under the normality assumption (esda ``z_norm``, ``p_norm``).
    p_sim : float
        Two-sided permutation pseudo p-value, min(1, 2 · p_directed); NaN without permutations.
    p_directed : float
        esda's ``p_sim``: one-sided in the tail where I falls, (min(G, M − G) + 1)/(M + 1) with G
        the number of permuted I ≥ the observed one.
    z_sim : float
        (I − mean of the permuted I) / their standard deviation.
    params : Mapping
        n, permutations, seed, transform.
    """

    I: float  # noqa: E741 - the statistic's conventional name
    expected: float
    z_norm: float
    p_norm: float
    p_sim: float
    p_directed: float = float("nan")
    z_sim: float = float("nan")
    params: Mapping[str, object] = field(default_factory=dict)


def _values(values: Any, name: str, *, caller: str) -> np.ndarray:
    return as_values(
        values,
        name,
        caller=caller,
        fix=" and build the weights on the remaining observations",
        constant="autocorrelation is undefined.",
    )


def _standardise(arr: np.ndarray) -> np.ndarray:
    z = arr - arr.mean()
    return z / arr.std()


def _check_permutations(permutations: int, *, caller: str) -> int:
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)):
        raise InvalidInputError(f"{caller}: permutations must be an integer, got {permutations!r}.")
    if permutations < 0:
        raise InvalidInputError(f"{caller}: permutations must be >= 0, got {permutations}.")
    return int(permutations)


def _directed_p(
    larger: np.ndarray | int, permutations: int, smaller: np.ndarray | int | None = None
) -> np.ndarray:
    """(min(#sim >= obs, #sim <= obs) + 1)/(M + 1); without ``smaller``, #sim <= obs = M − #sim >= obs.

    That is esda's directed p when no simulated value ties with the observed one; with ties
    (counts), counting them on both sides keeps p = 1 when every simulated value equals it.
    """
    larger = np.asarray(larger, dtype=np.int64)
    other = permutations - larger if smaller is None else np.asarray(smaller, dtype=np.int64)
    folded = np.minimum(larger, other)
    return (folded + 1.0) / (permutations + 1.0)


def moran(
    values: ArrayLike,
    weights: WeightsLike,
    *,
    permutations: int = 999,
    seed: int | None = 0,
    transform: str = "r",
) -> MoranResult:
    """Global Moran's I (Moran 1950) with normal and permutation inference, as esda ``Moran``.

    Parameters
    ----------
    values : array-like of shape (n,)
        The variable (e.g. creative establishments per km² in each cell).
    weights : libpysal.graph.Graph, libpysal.weights.W or scipy.sparse matrix
        Spatial weights over the same n observations, in the same order.
    permutations : int, default 999
        Random permutations of the values for ``p_sim`` (0 skips them).
    seed : int or None, default 0
        Seed of the permutations.
    transform : {"r", "b", "o"}, default "r"
        Row-standardise (esda/GeoDa default), binary, or use the weights as given.

    Returns
    -------
    MoranResult

    References
    ----------
    Moran P.A.P. (1950) Notes on continuous stochastic phenomena. *Biometrika* 37:17–23.
    Cliff A.D. & Ord J.K. (1981) *Spatial Processes*. Pion, London.
    """
    caller = "moran"
    y = _values(values, "values", caller=caller)
    permutations = _check_permutations(permutations, caller=caller)
    n = y.size
    w = as_csr_weights(weights, n, transform=transform, caller=caller)
    z = y - y.mean()
    s0 = float(w.sum())
    if s0 == 0:
        raise InvalidInputError(f"{caller}: the weights have no neighbours at all (S0 = 0).")
    z2ss = float(z @ z)
    stat = n / s0 * float(z @ (w @ z)) / z2ss
    expected = -1.0 / (n - 1)
    wt = w + w.T
    s1 = 0.5 * float(wt.multiply(wt).sum())
    row = np.asarray(w.sum(axis=1)).ravel()
    col = np.asarray(w.sum(axis=0)).ravel()
    s2 = float(((row + col) ** 2).sum())
    var_norm = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n * n - 1) * s0 * s0) - expected**2
    z_norm = (stat - expected) / np.sqrt(var_norm)
    p_norm = float(2.0 * stats.norm.sf(abs(z_norm)))
    p_sim = p_directed = z_sim = float("nan")
    if permutations:
        rng = np.random.default_rng(seed)
        sims = np.empty(permutations)
        block = max(1, min(permutations, 2_000_000 // n))  # bound memory to ~16 MB per block
        for start in range(0, permutations, block):
            m = min(block, permutations - start)
            zp = np.column_stack([rng.permutation(z) for _ in range(m)])  # (n, m)
            sims[start : start + m] = np.einsum("ij,ij->j", zp, w @ zp) * (n / s0 / z2ss)
        larger = int((sims >= stat).sum())
        p_directed = float(_directed_p(larger, permutations))
        p_sim = min(1.0, 2.0 * p_directed)
        z_sim = float((stat - sims.mean()) / sims.std())
    return MoranResult(
        I=float(stat),
        expected=expected,
        z_norm=float(z_norm),
        p_norm=p_norm,
        p_sim=p_sim,
        p_directed=p_directed,
        z_sim=z_sim,
        params={"n": n, "permutations": permutations, "seed": seed, "transform": transform},
    )


@njit(cache=True)
def _draw_ids(max_card: int, n: int, permutations: int, seed: int) -> np.ndarray:
    # The same draws as esda.crand.vec_permutations (numba's generator, same calls in order).
    np.random.seed(seed)  # noqa: NPY002 - numba-local generator, as esda
    out = np.empty((permutations, max_card), dtype=np.int64)
    for k in range(permutations):
        out[k] = np.random.choice(n - 1, size=max_card, replace=False)  # noqa: NPY002
    return out


@njit(cache=True)
def _draw_ids_fast(max_card: int, n: int, permutations: int, seed: int) -> np.ndarray:
    # The same distribution (k distinct of the n - 1 other sites, in random order) in O(M k):
    # rejection of repeats instead of esda's full shuffle of n - 1 indices per permutation.
    np.random.seed(seed)  # noqa: NPY002 - numba-local generator
    out = np.empty((permutations, max_card), dtype=np.int64)
    m = n - 1
    for k in range(permutations):
        c = 0
        while c < max_card:
            r = np.random.randint(0, m)  # noqa: NPY002
            repeated = False
            for q in range(c):
                if out[k, q] == r:
                    repeated = True
                    break
            if not repeated:
                out[k, c] = r
                c += 1
    return out


@njit(cache=True)
def _conditional_permutations(
    zx: np.ndarray,
    zy: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    ids: np.ndarray,
    observed: np.ndarray,
    scaling: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per site: #{sim >= observed}, #{sim <= observed}, mean and sd of the simulated statistics.

    Neighbour slot c of site i takes the value at other-site index ids[k, c], where other-site
    index r maps to site r if r < i else r + 1 (the n − 1 sites other than i), as esda does by
    dropping site i from the array; here no array is copied, so a site costs O(M · k_i), not O(n).
    """
    n = zx.shape[0]
    m, kmax = ids.shape
    larger = np.zeros(n, dtype=np.int64)
    smaller = np.zeros(n, dtype=np.int64)
    mean = np.zeros(n)
    sd = np.zeros(n)
    wbuf = np.empty(kmax + 1)
    # the value other-site index r stands for is zy[r] below site i and zy[r + 1] from it on:
    # gather both once, so the loop over sites reads small tables in order, not zy at random
    below = np.empty((m, kmax))
    above = np.empty((m, kmax))
    for k in range(m):
        for c in range(kmax):
            r = ids[k, c]
            below[k, c] = zy[r]
            above[k, c] = zy[r + 1]
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        self_w = 0.0
        card = 0
        for p in range(start, stop):
            if indices[p] == i:
                self_w = data[p]
            else:
                wbuf[card] = data[p]
                card += 1
        obs = observed[i]
        # ties (common with counts) count on both sides, whatever the summation order's rounding
        tol = 1e-10 * max(1.0, abs(obs))
        floor = obs - tol
        ceil = obs + tol
        base = self_w * zy[i]
        s = 0.0
        ss = 0.0
        cnt = 0
        cnt_le = 0
        for k in range(m):
            acc = 0.0
            for c in range(card):
                v = above[k, c] if ids[k, c] >= i else below[k, c]
                acc += v * wbuf[c]
            stat = zx[i] * (acc + base) * scaling
            if stat >= floor:
                cnt += 1
            if stat <= ceil:
                cnt_le += 1
            s += stat
            ss += stat * stat
        larger[i] = cnt
        smaller[i] = cnt_le
        mu = s / m
        mean[i] = mu
        var = ss / m - mu * mu
        sd[i] = np.sqrt(var) if var > 0 else 0.0
    return larger, smaller, mean, sd


def benjamini_hochberg_cutoff(p_values: ArrayLike, alpha: float = 0.05) -> float:
    """The Benjamini–Hochberg false-discovery-rate cut-off, as esda ``fdr``.

    Returns k·α/n for the largest k with p_(k) < k·α/n, else the Bonferroni α/n; p-values below
    the cut-off are significant.

    References
    ----------
    Benjamini Y. & Hochberg Y. (1995) Controlling the false discovery rate. *JRSS B* 57:289–300.
    """
    p = np.sort(np.asarray(p_values, dtype=float).ravel())
    n = p.size
    if n == 0:
        return alpha
    thresholds = np.arange(1, n + 1) * alpha / n
    passed = np.flatnonzero(p < thresholds)
    return float(thresholds[passed[-1]]) if passed.size else alpha / n


class LocalMoranOptions(TypedDict, total=False):
    """Keyword options of :func:`local_moran` and :func:`bivariate_local_moran` (see there)."""

    permutations: int
    seed: int | None
    alpha: float
    fdr: bool
    transform: str
    draws: str


def _local(
    x: np.ndarray,
    y: np.ndarray,
    weights: WeightsLike,
    *,
    caller: str,
    index: Any,
    permutations: int = 999,
    seed: int | None = 0,
    alpha: float = 0.05,
    fdr: bool = False,
    transform: str = "r",
    draws: str = "fast",
) -> pd.DataFrame:
    check_positive(alpha, "alpha", caller=caller)
    check_choice(draws, {"fast", "esda"}, "draws", caller=caller)
    if alpha >= 1:
        raise InvalidInputError(f"{caller}: alpha must be below 1, got {alpha}.")
    permutations = _check_permutations(permutations, caller=caller)
    n = x.size
    w = as_csr_weights(weights, n, transform=transform, caller=caller)
    zx, zy = _standardise(x), _standardise(y)
    lag = np.asarray(w @ zy).ravel()
    scaling = (n - 1) / float(zx @ zx)
    lisa = scaling * zx * lag
    quad = np.where(zx > 0, np.where(lag > 0, 0, 3), np.where(lag > 0, 1, 2))
    out = pd.DataFrame(
        {
            "lisa": lisa,
            "z": np.nan,
            "p_sim": np.nan,
            "p_directed": np.nan,
            "quadrant": QUADRANTS[quad],
            "label": NOT_SIGNIFICANT,
            "value_z": zx,
            "lag_z": lag,
        },
        index=index,
    )
    if permutations:
        if seed is None:
            seed = int(np.random.default_rng().integers(12345, 12345000))
        self_free = w.copy()
        self_free.setdiag(0)
        self_free.eliminate_zeros()
        max_card = max(int(np.diff(self_free.indptr).max()), 1)
        if max_card > n - 1:
            raise InvalidInputError(f"{caller}: a site has more neighbours than other sites.")
        if draws == "esda" or 2 * max_card > n - 1:
            ids = _draw_ids(max_card, n, permutations, int(seed))
        else:
            ids = _draw_ids_fast(max_card, n, permutations, int(seed))
        larger, smaller, mean, sd = _conditional_permutations(
            zx,
            zy,
            w.indptr.astype(np.int64),
            w.indices.astype(np.int64),
            w.data,
            ids,
            lisa,
            scaling,
        )
        p_directed = _directed_p(larger, permutations, smaller)
        # a site with no neighbours (and no self-weight) has no local statistic to test
        island = np.diff(w.indptr) == 0
        p_directed[island] = np.nan
        p_sim = np.minimum(1.0, 2.0 * p_directed)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["z"] = (lisa - mean) / sd
        out["p_sim"] = p_sim
        out["p_directed"] = p_directed
        cutoff = benjamini_hochberg_cutoff(p_sim[np.isfinite(p_sim)], alpha) if fdr else alpha
        sig = np.nan_to_num(p_sim, nan=1.0) < cutoff
        out.loc[sig, "label"] = out.loc[sig, "quadrant"]
    return out


def local_moran(
    values: ArrayLike,
    weights: WeightsLike,
    **options: Unpack[LocalMoranOptions],
) -> pd.DataFrame:
    """Local Moran's I (LISA; Anselin 1995) with conditional-randomisation inference, as esda.

    Parameters
    ----------
    values : array-like or pandas.Series of shape (n,)
        The variable; a Series keeps its index on the output.
    weights : libpysal.graph.Graph, libpysal.weights.W or scipy.sparse matrix
        Spatial weights over the same n observations, in the same order.
    permutations : int, default 999
        Conditional permutations per site (0 skips inference: every label is "not significant").
    seed : int or None, default 0
        Seed of the permutation table; with the same seed the simulated statistics are esda's.
    alpha : float, default 0.05
        Significance level for ``label`` (a site is significant when ``p_sim < alpha``).
    fdr : bool, default False
        Use the Benjamini–Hochberg cut-off at ``alpha`` over the two-sided ``p_sim`` instead.
    transform : {"r", "b", "o"}, default "r"
        Row-standardise (esda/GeoDa default), binary, or use the weights as given.
    draws : {"fast", "esda"}, default "fast"
        How the permutation table is drawn. "esda" draws esda's own table (the same seed gives
        esda's simulated statistics exactly) at esda's cost, O(permutations · n); "fast" draws
        from the same distribution (distinct other sites in random order) in
        O(permutations · max neighbours).

    Returns
    -------
    pandas.DataFrame
        One row per observation: ``lisa`` (I_i), ``z`` ((I_i − mean of its permuted values)/their
        sd, esda's ``z_sim``), ``p_sim`` (two-sided pseudo p), ``p_directed`` (esda's ``p_sim``),
        ``quadrant`` (HH, LH, LL or HL from the value and its spatial lag), ``label`` (the
        quadrant where significant, else "not significant"), ``value_z`` and ``lag_z`` (the
        standardised value and its spatial lag, the Moran scatter plot's axes).

    References
    ----------
    Anselin L. (1995) Local indicators of spatial association — LISA. *Geographical Analysis*
    27(2):93–115.
    """
    caller = "local_moran"
    y = _values(values, "values", caller=caller)
    index = values.index if isinstance(values, pd.Series) else None
    return _local(y, y, weights, caller=caller, index=index, **options)


def bivariate_local_moran(
    x: ArrayLike,
    y: ArrayLike,
    weights: WeightsLike,
    **options: Unpack[LocalMoranOptions],
) -> pd.DataFrame:
    """Bivariate local Moran's I of ``x`` at a site against the spatial lag of ``y``, as esda.

    I_i = (n − 1) · x_i · Σ_j w_ij y_j / Σ_k x_k² on standardised x and y (esda
    ``Moran_Local_BV``; GeoDa's bivariate LISA). The permutations move the y values of the
    neighbours, keeping x_i fixed. Parameters and output columns as :func:`local_moran`; the
    quadrant reads "x high/low, lag of y high/low".

    References
    ----------
    Anselin L., Syabri I. & Smirnov O. (2002) Visualizing multivariate spatial correlation with
    dynamically linked windows. In *New Tools for Spatial Data Analysis*, CSISS, Santa Barbara.
    """
    caller = "bivariate_local_moran"
    xv = _values(x, "x", caller=caller)
    yv = _values(y, "y", caller=caller)
    if xv.size != yv.size:
        raise InvalidInputError(f"{caller}: x has {xv.size} values but y has {yv.size}.")
    index = x.index if isinstance(x, pd.Series) else None
    return _local(xv, yv, weights, caller=caller, index=index, **options)
