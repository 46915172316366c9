r"""Getis–Ord Gi* hot spots with ArcGIS-style FDR bins, on points or on a grid.

The statistic follows Getis & Ord (1992) and Ord & Getis (1995) with binary weights that
include the focal feature itself (the "star" form), as ArcGIS *Hot Spot Analysis* does with a
fixed distance band and as R ``spdep::localG`` does with ``include.self()``:

.. math::

    z_i = \frac{\sum_j w_{ij} x_j - \bar x W_i}
               {S \sqrt{(n S_{1i} - W_i^2)/(n - 1)}},\qquad
    S = \sqrt{\tfrac{1}{n}\sum_j x_j^2 - \bar x^2},

with :math:`W_i = \sum_j w_{ij}` and :math:`S_{1i} = \sum_j w_{ij}^2` (= :math:`W_i` for binary
weights), j running over all features including i. This is the z-score under the randomisation
null, the same number as esda ``G_Local(star=True, transform="B").Zs``.

References
----------
Getis A. & Ord J.K. (1992) The analysis of spatial association by use of distance statistics.
*Geographical Analysis* 24(3):189–206.
Ord J.K. & Getis A. (1995) Local spatial autocorrelation statistics: distributional issues and
an application. *Geographical Analysis* 27(4):286–306.
Benjamini Y. & Hochberg Y. (1995) Controlling the false discovery rate. *JRSS B* 57:289–300.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree
from scipy.special import ndtr

from clusterscape._validation import PointsLike, WeightsLike, as_values, as_xy, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure.density import density_surface

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "GiStarResult",
    "benjamini_hochberg",
    "density_surface",
    "distance_band_weights",
    "gi_star",
    "gi_star_from_weights",
    "gi_star_grid",
    "grid_hotspots",
    "hotspot_bins",
]

#: ArcGIS ``Gi_Bin`` levels: (bin magnitude, two-sided significance level).
_BIN_LEVELS: tuple[tuple[int, float], ...] = ((1, 0.10), (2, 0.05), (3, 0.01))


@dataclass(frozen=True, slots=True)
class GiStarResult:
    """Result of a Getis–Ord Gi* analysis; arrays are aligned with the input values.

    Attributes
    ----------
    z : numpy.ndarray
        Gi* z-score under the randomisation null (uncorrected, as ArcGIS ``GiZScore``).
    p : numpy.ndarray
        Two-sided normal p-value of ``z`` (uncorrected, as ArcGIS ``GiPValue``).
    p_sim : numpy.ndarray or None
        Two-sided conditional-permutation pseudo p-value, ``min(1, 2 * p_sim_folded)``: the
        test that the ArcGIS ±1/±2/±3 bins need (a hot *or* cold spot); ``None`` without
        permutations.
    p_sim_folded : numpy.ndarray or None
        esda's folded one-sided pseudo p-value (esda ``G_Local.p_sim``):
        ``(m + 1) / (permutations + 1)`` with m = #{permuted sums >= observed}, replaced by
        #{permuted sums < observed} when that is smaller. One-sided in the observed direction:
        under a true null P(p_sim_folded <= 0.05) is about 0.10. ``None`` without
        permutations.
    bin : numpy.ndarray
        ArcGIS ``Gi_Bin``: ±3 / ±2 / ±1 for 99 / 95 / 90 % confidence, 0 otherwise, sign of z.
        With ``fdr=True`` the cut-offs are Benjamini–Hochberg corrected (only the bins; z and p
        are never corrected). Bins are taken from ``p_sim`` when permutations were run, else
        from ``p``.
    params : Mapping
        Everything needed to reproduce the result (permutations, seed, fdr, alpha, ...).
    """

    z: np.ndarray
    p: np.ndarray
    p_sim: np.ndarray | None
    bin: np.ndarray
    params: Mapping[str, Any] = field(default_factory=dict)
    p_sim_folded: np.ndarray | None = None

    @property
    def significant(self) -> np.ndarray:
        """Boolean mask: significant at ``params['alpha']`` (BH-corrected when ``fdr``)."""
        pv = self.p if self.p_sim is None else self.p_sim
        alpha = float(self.params.get("alpha", 0.05))
        if self.params.get("fdr", True):
            return benjamini_hochberg(pv, alpha=alpha)
        return np.asarray(pv <= alpha)


def benjamini_hochberg(p: ArrayLike, *, alpha: float) -> np.ndarray:
    """Benjamini–Hochberg step-up test: which p-values are significant at FDR ``alpha``.

    Parameters
    ----------
    p : array_like
        p-values; NaN is treated as not significant.
    alpha : float
        False discovery rate, in (0, 1).

    Returns
    -------
    numpy.ndarray of bool
        ``p <= p_(k)`` where ``k`` is the largest rank with ``p_(k) <= k alpha / m``
        (Benjamini & Hochberg 1995); all False when no rank qualifies.
    """
    pv = np.asarray(p, dtype=float)
    ok = np.isfinite(pv)
    m = int(ok.sum())
    out = np.zeros(pv.shape, dtype=bool)
    if m == 0:
        return out
    srt = np.sort(pv[ok])
    passed = srt <= alpha * np.arange(1, m + 1) / m
    if not passed.any():
        return out
    cutoff = srt[np.flatnonzero(passed)[-1]]
    out[ok] = pv[ok] <= cutoff
    return out


def hotspot_bins(z: ArrayLike, p: ArrayLike, *, fdr: bool = True) -> np.ndarray:
    """ArcGIS ``Gi_Bin`` from z-scores and p-values: ±3/±2/±1 for 99/95/90 % confidence.

    Parameters
    ----------
    z : array_like
        z-scores (only their sign is used).
    p : array_like
        p-values compared with 0.01 / 0.05 / 0.10.
    fdr : bool, default True
        Replace the fixed cut-offs by Benjamini–Hochberg cut-offs at each level, as the
        ArcGIS "Apply False Discovery Rate (FDR) Correction" option does.

    Returns
    -------
    numpy.ndarray of int8
    """
    zz = np.asarray(z, dtype=float)
    pv = np.asarray(p, dtype=float)
    level = np.zeros(zz.shape, dtype=np.int8)
    for mag, a in _BIN_LEVELS:
        sig = benjamini_hochberg(pv, alpha=a) if fdr else (np.nan_to_num(pv, nan=1.0) <= a)
        level[sig] = mag
    out: np.ndarray = (np.sign(np.nan_to_num(zz)) * level).astype(np.int8)
    return out


def _check_weights(weights: WeightsLike, n: int, caller: str) -> sp.csr_matrix:
    if not sp.issparse(weights):
        raise InvalidInputError(
            f"{caller}: weights must be a scipy.sparse matrix, got {type(weights).__name__}. "
            "Build one with scipy.sparse.csr_matrix or use clusterscape.measure.hotspots.gi_star."
        )
    w = sp.csr_matrix(weights, dtype=float)
    if w.shape != (n, n):
        raise InvalidInputError(
            f"{caller}: weights are {w.shape[0]} x {w.shape[1]} but there are {n} values."
        )
    w.sum_duplicates()
    w.eliminate_zeros()
    if w.nnz and not np.all(w.data == 1.0):
        raise InvalidInputError(
            f"{caller}: weights must be binary (0/1) for Gi* with ArcGIS parity; found values "
            f"{np.unique(w.data)[:5]}. Use a 0/1 adjacency matrix."
        )
    if not np.all(w.diagonal() == 1.0):
        bad = int(np.flatnonzero(w.diagonal() != 1.0)[0])
        raise InvalidInputError(
            f"{caller}: Gi* weights must include each feature itself (w_ii = 1), but w[{bad},"
            f"{bad}] = 0. Add the identity: weights + scipy.sparse.identity(n) on a matrix "
            "without self-links."
        )
    return w


def _check_values(values: Any, caller: str) -> np.ndarray:
    return as_values(
        values,
        caller=caller,
        fix=" first",
        constant="Gi* needs variation in the values (as ArcGIS Hot Spot Analysis does). For "
        "incident points, aggregate to a grid with grid_hotspots so cells carry counts.",
    )


def _permutation_counts(
    x: np.ndarray, card: np.ndarray, lag: np.ndarray, permutations: int, seed: int | None
) -> np.ndarray:
    """Count permuted neighbour sums >= the observed one, for every feature at once.

    Conditional randomisation: feature i keeps its value; its ``card[i]`` neighbours are a
    uniform sample without replacement of the other n - 1 values. As in esda's ``crand``, one
    set of random draws is shared by all features: each permutation row holds ``k_max + 1``
    distinct indices of all n features, in random order; for feature i the sample is the first
    ``card[i]`` indices of the row that are not i. Its sum is a prefix sum of the row, or the
    next prefix sum minus x_i when i falls inside the first ``card[i]`` positions. Counting
    "sum >= observed" over rows is then a binary search in the sorted prefix sums, with an exact
    correction for the (rare) rows containing i: O(n log permutations) instead of
    O(n * permutations * k), and nothing of size n x permutations is stored.
    """
    n = x.size
    kmax = int(card.max())
    depth = min(kmax + 1, n)
    rng = np.random.default_rng(seed)
    rows = np.empty((permutations, depth), dtype=np.int64)
    for r in range(permutations):
        rows[r] = rng.choice(n, size=depth, replace=False)
    prefix = np.zeros((permutations, depth + 1))
    np.cumsum(x[rows], axis=1, out=prefix[:, 1:])
    # count of rows with prefix[:, k] >= obs, for every feature, via sorted columns
    larger = np.zeros(n, dtype=np.int64)
    sorted_prefix = np.sort(prefix, axis=0)
    for k in np.unique(card):
        idx = np.flatnonzero(card == k)
        col = sorted_prefix[:, k]
        larger[idx] = permutations - np.searchsorted(col, lag[idx], side="left")
    # corrections: row r contains feature i at position m < card[i]
    r_idx, m_idx = np.nonzero(np.ones_like(rows, dtype=bool))
    feat = rows.ravel()
    hit = m_idx < card[feat]
    r_idx, feat = r_idx[hit], feat[hit]
    k = card[feat]
    old = prefix[r_idx, k] >= lag[feat]
    new = (prefix[r_idx, np.minimum(k + 1, depth)] - x[feat]) >= lag[feat]
    np.add.at(larger, feat, new.astype(np.int64) - old.astype(np.int64))
    return larger


def _gi_star_z(wx: np.ndarray, w: np.ndarray, n: int, xbar: float, s: float) -> np.ndarray:
    """Gi* z-scores with binary weights, self included (Ord & Getis 1995 eq. 14, star form).

    ``z_i = (Σ_j w_ij x_j − x̄ W_i) / (S sqrt((n W_i − W_i²) / (n − 1)))`` with ``wx`` the
    neighbourhood sums Σ_j w_ij x_j, ``w`` the neighbourhood sizes W_i (= Σ_j w_ij², binary),
    ``n`` the number of observations, ``x̄`` their mean and ``S`` their population standard
    deviation. A zero denominator (the neighbourhood is all n features, or S = 0) gives z = 0.
    The one Gi* formula of the package: weights matrices, grids and tiled grids all use it.
    """
    denom = s * np.sqrt(np.maximum((n * w - w * w) / (n - 1), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (wx - xbar * w) / np.where(denom > 0, denom, 1.0), 0.0)


def gi_star_grid(
    counts: ArrayLike,
    mask: ArrayLike | None,
    footprint: ArrayLike,
    *,
    tile_cells: int | None = None,
) -> np.ndarray:
    """Getis–Ord Gi* z-scores of grid values with binary distance weights, self included.

    Parameters
    ----------
    counts : array_like, shape (ny, nx)
        Value per cell (e.g. establishments).
    mask : array_like of bool, shape (ny, nx), or None
        Cells of the study area; only they are observations (n = mask.sum()) and neighbours.
        None: every cell.
    footprint : array_like of bool, shape (m, m), m odd
        Binary neighbourhood (cells within the distance band, the centre included).
    tile_cells : int, optional
        Evaluate the neighbourhood sums in square tiles of this many cells, each with a halo of
        half the footprint, so that a large grid never needs more than one tile's temporaries;
        the numbers are the same as in one piece (n, mean and S always come from the whole
        grid). Default: one piece.

    Returns
    -------
    numpy.ndarray, shape (ny, nx)
        ``z_i = (Σ_j w_ij x_j − x̄ W_i) / (S sqrt((n Σ_j w_ij² − W_i²)/(n − 1)))`` with
        ``W_i = Σ_j w_ij``, ``S = sqrt(Σ x²/n − x̄²)``, j over the study area including i;
        NaN outside the mask (and everywhere when fewer than two cells are in it); 0 when the
        values are constant. Matches esda ``G_Local(star=True, transform="B")`` and ArcGIS
        Hot Spot Analysis with a fixed distance band.

    References
    ----------
    Getis A. & Ord J.K. 1992. *Geographical Analysis* 24(3):189–206.
    Ord J.K. & Getis A. 1995. *Geographical Analysis* 27(4):286–306.

    Examples
    --------
    One cell of 9 in a 5 x 5 grid, queen neighbours: n = 25, x̄ = 0.36, S² = 3.24 − 0.36² =
    3.1104. The centre has W = 9 and Σ w x = 9, so z = 5.76 / (S √6) = 4/3; the corner has
    W = 4 and no value nearby, z = −1.44 / (S √3.5) = −0.436.

    >>> import numpy as np
    >>> grid = np.zeros((5, 5))
    >>> grid[2, 2] = 9.0
    >>> z = gi_star_grid(grid, None, np.ones((3, 3), dtype=bool))
    >>> round(float(z[2, 2]), 6), round(float(z[0, 0]), 3)
    (1.333333, -0.436)
    """
    from scipy import ndimage

    vals = np.asarray(counts, dtype=float)
    m = np.ones(vals.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    x = np.where(m, vals, 0.0)
    n = int(m.sum())
    z = np.full(x.shape, np.nan)
    if n < 2:
        return z
    k = np.asarray(footprint, dtype=float)
    xbar = x.sum() / n
    s = float(np.sqrt(max((x * x).sum() / n - xbar * xbar, 0.0)))
    if s == 0.0:
        z[m] = 0.0
        return z
    nrow, ncol = x.shape
    tile = max(nrow, ncol) if tile_cells is None else int(tile_cells)
    if tile < 1:
        raise InvalidInputError(f"gi_star_grid: tile_cells must be >= 1, got {tile_cells}.")
    halo = max(k.shape) // 2
    mf = m.astype(float)
    for r0 in range(0, nrow, tile):
        for c0 in range(0, ncol, tile):
            r1, c1 = min(r0 + tile, nrow), min(c0 + tile, ncol)
            a0, b0 = max(r0 - halo, 0), max(c0 - halo, 0)
            a1, b1 = min(r1 + halo, nrow), min(c1 + halo, ncol)
            inner = (slice(r0 - a0, r1 - a0), slice(c0 - b0, c1 - b0))
            w = ndimage.correlate(mf[a0:a1, b0:b1], k, mode="constant", cval=0.0)[inner]
            wx = ndimage.correlate(x[a0:a1, b0:b1], k, mode="constant", cval=0.0)[inner]
            zz = _gi_star_z(wx, w, n, xbar, s)
            sel = m[r0:r1, c0:c1]
            z[r0:r1, c0:c1][sel] = zz[sel]
    return z


class GiStarOptions(TypedDict, total=False):
    """Keyword options of :func:`gi_star` passed on to :func:`gi_star_from_weights`."""

    permutations: int
    seed: int | None
    fdr: bool
    alpha: float


def gi_star_from_weights(
    values: ArrayLike,
    weights: WeightsLike,
    *,
    permutations: int = 0,
    seed: int | None = None,
    fdr: bool = True,
    alpha: float = 0.05,
) -> GiStarResult:
    """Getis–Ord Gi* from a binary weights matrix that already includes self.

    Parameters
    ----------
    values : array_like, shape (n,)
        The variable, e.g. counts of establishments per cell. Needs variation.
    weights : scipy.sparse matrix, shape (n, n)
        Binary (0/1) weights with ``w_ii = 1`` (the Gi* "star" form); need not be symmetric
        (row i defines the neighbourhood of i).
    permutations : int, default 0
        Number of conditional permutations for ``p_sim`` (999 is usual); 0 skips them.
    seed : int or None
        Seed of the permutation draws (``numpy.random.default_rng``).
    fdr : bool, default True
        Benjamini–Hochberg-correct the bins (z and p stay uncorrected, as in ArcGIS).
    alpha : float, default 0.05
        Level of :attr:`GiStarResult.significant`; the bins always use 90/95/99 %.

    Returns
    -------
    GiStarResult
        ``z`` (randomisation z-score, Ord & Getis 1995 eq. 14 in the star form), ``p``
        (two-sided normal), ``p_sim`` (two-sided pseudo p), ``p_sim_folded`` (esda's folded
        one-sided pseudo p) and ``bin``.
        A feature whose neighbourhood is all n features has 0/0: it gets z = 0 and p = 1.

    Raises
    ------
    InvalidInputError
        Fewer than 3 values, non-finite or constant values, or weights that are not binary,
        not n x n, or lack self-links.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> w = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]]))
    >>> res = gi_star_from_weights([10.0, 8.0, 1.0, 0.0], w)
    >>> np.round(res.z, 3).tolist()
    [1.703, 1.099, -1.214, -1.703]
    """
    caller = "gi_star_from_weights"
    x = _check_values(values, caller)
    n = x.size
    w = _check_weights(weights, n, caller)
    if int(permutations) != permutations or permutations < 0:
        raise InvalidInputError(
            f"{caller}: permutations must be an integer >= 0, got {permutations}."
        )
    permutations = int(permutations)
    if not 0 < alpha < 1:
        raise InvalidInputError(f"{caller}: alpha must lie in (0, 1), got {alpha}.")

    wx = w @ x
    wi = np.diff(w.indptr).astype(float)  # binary: W_i = S1_i = row count
    xbar = x.mean()
    s = np.sqrt(np.mean(x * x) - xbar * xbar)
    z = _gi_star_z(wx, wi, n, xbar, s)
    p = 2.0 * ndtr(-np.abs(z))

    p_sim: np.ndarray | None = None
    p_folded: np.ndarray | None = None
    if permutations > 0:
        card = (wi - 1).astype(np.int64)
        lag = wx - x  # neighbour sum without self; self value is held fixed
        larger = _permutation_counts(x, card, lag, permutations, seed)
        low = (permutations - larger) < larger
        larger = np.where(low, permutations - larger, larger)
        p_folded = (larger + 1.0) / (permutations + 1.0)
        p_folded[card == n - 1] = 1.0
        # two-sided: the bins and "significant" ask "hot or cold", so double the folded tail
        p_sim = np.minimum(1.0, 2.0 * p_folded)
    bins = hotspot_bins(z, p if p_sim is None else p_sim, fdr=fdr)
    params = {
        "permutations": permutations,
        "seed": seed,
        "fdr": fdr,
        "alpha": alpha,
        "n": n,
        "weights": "binary, self included",
        "bins_from": "p" if p_sim is None else "p_sim",
        "p_sim": "two-sided, min(1, 2 * folded)",
    }
    return GiStarResult(z=z, p=p, p_sim=p_sim, bin=bins, params=params, p_sim_folded=p_folded)


def distance_band_weights(xy: np.ndarray, distance_m: float) -> sp.csr_matrix:
    """Binary fixed-distance weights: w_ij = 1 when d_ij <= ``distance_m`` (self included).

    Parameters
    ----------
    xy : numpy.ndarray, shape (n, 2)
        Coordinates in metres.
    distance_m : float
        Band radius in metres, inclusive (``<=``, as ArcGIS and ``spdep::dnearneigh``).
    """
    tree = cKDTree(xy)
    # a tiny relative slack makes the band inclusive against rounding of exact ties
    w = tree.sparse_distance_matrix(tree, distance_m * (1 + 1e-12), output_type="coo_matrix")
    n = len(xy)
    mat = sp.csr_matrix((np.ones(w.nnz), (w.row, w.col)), shape=(n, n))
    mat = mat + sp.identity(n, format="csr") - sp.diags(mat.diagonal())
    mat.data[:] = 1.0
    return sp.csr_matrix(mat)


def gi_star(
    values: ArrayLike,
    xy: PointsLike,
    *,
    distance: float,
    **options: Unpack[GiStarOptions],
) -> GiStarResult:
    """Getis–Ord Gi* with a fixed distance band (binary weights, self included, ``d <= distance``).

    Parameters
    ----------
    values : array_like, shape (n,)
        The variable at each location (needs variation).
    xy : array_like (n, 2) or GeoSeries/GeoDataFrame of points
        Locations in metres; geographic (degree) GeoSeries are refused.
    distance : float
        Distance band in metres (inclusive), e.g. 500.
    permutations, seed, fdr, alpha
        As in :func:`gi_star_from_weights`.

    Returns
    -------
    GiStarResult

    Notes
    -----
    Parity: ArcGIS *Hot Spot Analysis* (fixed distance band, FDR option) and R
    ``spdep::localG(x, nb2listw(include.self(dnearneigh(xy, 0, d)), style = "B"))``.
    """
    caller = "gi_star"
    pts = as_xy(xy, caller=caller, min_points=3)
    check_positive(distance, "distance", caller=caller)
    x = _check_values(values, caller)
    if x.size != len(pts):
        raise InvalidInputError(f"{caller}: {x.size} values but {len(pts)} locations.")
    w = distance_band_weights(pts, float(distance))
    res = gi_star_from_weights(x, w, **options)
    params = dict(res.params)
    params.update({"distance_m": float(distance), "weights": "fixed distance band <=, self"})
    return replace(res, params=params)


def _square_cells(
    xy: np.ndarray, cell_m: float, caller: str
) -> tuple[np.ndarray, np.ndarray, int, int, float, float]:
    """Cell of each point on a square grid anchored at the rounded lower-left corner."""
    x0 = np.floor(xy[:, 0].min() / cell_m) * cell_m
    y0 = np.floor(xy[:, 1].min() / cell_m) * cell_m
    col = np.floor((xy[:, 0] - x0) / cell_m).astype(np.int64)
    row = np.floor((xy[:, 1] - y0) / cell_m).astype(np.int64)
    ncol, nrow = int(col.max()) + 1, int(row.max()) + 1
    if ncol * nrow > 5_000_000:
        raise InvalidInputError(
            f"{caller}: a {ncol} x {nrow} grid of {cell_m} m cells is too large; "
            "use a larger cell_m or a smaller area."
        )
    return row, col, nrow, ncol, x0, y0


def grid_hotspots(
    establishments: gpd.GeoDataFrame,
    *,
    cell_m: float = 250.0,
    h3_resolution: int | None = None,
    distance_m: float | None = None,
    value: str | None = None,
    permutations: int = 0,
    seed: int | None = 0,
    fdr: bool = True,
) -> Any:
    """Aggregate points to a square or H3 grid, then run Gi* on the cell totals.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame of points
        Any CRS; geographic input is projected with
        :func:`clusterscape.coords.to_local_metric`.
    cell_m : float, default 250
        Side of the square cells in metres (ignored when ``h3_resolution`` is given).
    h3_resolution : int, optional
        Use H3 hexagons of this resolution (e.g. 9: ~0.1 km², 174 m edges) instead of squares.
    distance_m : float, optional
        Gi* distance band between cell centres, inclusive. Default: ``1.5 * cell_m`` for squares
        (queen neighbours: the 8 surrounding cells plus self) and 1.2 x the H3 centre spacing
        (the 6 ring neighbours plus self) for hexagons.
    value : str, optional
        Column to sum per cell (e.g. ``"employees"``; NA counts as 0). Default: counts.
    permutations, seed, fdr
        As in :func:`gi_star_from_weights`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell in the local metric CRS: ``cell_id`` (``"r<row>c<col>"`` or the H3
        index), ``count``, ``value`` (the analysed total), ``z``, ``p``, ``p_sim`` (two-sided; NaN
        without permutations), ``p_sim_folded`` (esda's folded one-sided p), ``bin``, geometry = the cell polygon. Square grids cover the whole
        bounding box of the points, zero cells included; H3 grids cover the H3 cells whose
        centres lie in the bounding box plus every occupied cell.
    """
    import geopandas as gpd
    import shapely

    from clusterscape.coords import to_local_metric

    caller = "grid_hotspots"
    if not hasattr(establishments, "geometry"):
        raise InvalidInputError(
            f"{caller}: expected a GeoDataFrame of points, got {type(establishments).__name__}."
        )
    gdf = to_local_metric(establishments)
    if value is not None and value not in gdf.columns:
        raise InvalidInputError(
            f"{caller}: value column {value!r} not found; columns are {list(gdf.columns)}."
        )
    xy = as_xy(gdf, caller=caller, min_points=3)
    vals = (
        np.ones(len(xy))
        if value is None
        else pd.to_numeric(gdf[value], errors="coerce").astype(float).fillna(0.0).to_numpy()
    )
    if h3_resolution is None:
        check_positive(cell_m, "cell_m", caller=caller)
        row, col, nrow, ncol, x0, y0 = _square_cells(xy, float(cell_m), caller)
        flat = row * ncol + col
        counts = np.bincount(flat, minlength=nrow * ncol).astype(float)
        totals = np.bincount(flat, weights=vals, minlength=nrow * ncol)
        rr, cc = np.divmod(np.arange(nrow * ncol), ncol)
        cx = x0 + (cc + 0.5) * cell_m
        cy = y0 + (rr + 0.5) * cell_m
        geoms = shapely.box(cx - cell_m / 2, cy - cell_m / 2, cx + cell_m / 2, cy + cell_m / 2)
        ids = np.char.add(np.char.add("r", rr.astype(str)), np.char.add("c", cc.astype(str)))
        band = 1.5 * float(cell_m) if distance_m is None else float(distance_m)
        params: dict[str, Any] = {"grid": "square", "cell_m": float(cell_m)}
    else:
        import h3

        if int(h3_resolution) != h3_resolution or not 0 <= h3_resolution <= 15:
            raise InvalidInputError(
                f"{caller}: h3_resolution must be an integer 0..15, got {h3_resolution}."
            )
        res = int(h3_resolution)
        ll = gdf.geometry.to_crs(4326)
        occ = [h3.latlng_to_cell(la, lo, res) for lo, la in zip(ll.x, ll.y, strict=True)]
        b = ll.total_bounds
        box = h3.LatLngPoly([(b[1], b[0]), (b[1], b[2]), (b[3], b[2]), (b[3], b[0])])
        cells = sorted(set(h3.h3shape_to_cells(box, res)) | set(occ))
        pos = {c: k for k, c in enumerate(cells)}
        flat = np.fromiter((pos[c] for c in occ), dtype=np.int64, count=len(occ))
        counts = np.bincount(flat, minlength=len(cells)).astype(float)
        totals = np.bincount(flat, weights=vals, minlength=len(cells))
        polys = [shapely.Polygon([(lo, la) for la, lo in h3.cell_to_boundary(c)]) for c in cells]
        geoms = gpd.GeoSeries(polys, crs=4326).to_crs(gdf.crs).to_numpy()
        cent = shapely.centroid(geoms)
        cx, cy = shapely.get_x(cent), shapely.get_y(cent)
        ids = np.asarray(cells)
        spacing = h3.average_hexagon_edge_length(res, unit="m") * np.sqrt(3.0)
        band = 1.2 * spacing if distance_m is None else float(distance_m)
        params = {"grid": "h3", "h3_resolution": res}
    check_positive(band, "distance_m", caller=caller)
    result = gi_star(
        totals,
        np.column_stack([cx, cy]),
        distance=band,
        permutations=permutations,
        seed=seed,
        fdr=fdr,
    )
    out = gpd.GeoDataFrame(
        {
            "cell_id": ids,
            "count": counts.astype(np.int64),
            "value": totals,
            "z": result.z,
            "p": result.p,
            "p_sim": np.full(len(ids), np.nan) if result.p_sim is None else result.p_sim,
            "p_sim_folded": (
                np.full(len(ids), np.nan) if result.p_sim_folded is None else result.p_sim_folded
            ),
            "bin": result.bin,
        },
        geometry=np.asarray(geoms),
        crs=gdf.crs,
    )
    params.update(dict(result.params))
    params.update({"distance_m": band, "value": value})
    out.attrs["params"] = params
    return out
