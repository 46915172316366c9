"""Emerging hot spots: space-time Gi*, Mann–Kendall trends and ESRI's 17 categories.

This is the method of ArcGIS *Emerging Hot Spot Analysis* (EHSA) on a square space-time cube
built from point events (e.g. the founding years of creative firms):

1. **Cube.** Points are binned to square cells of ``cell_m`` metres (anchored at the rounded
   lower-left corner of the data, as :func:`clusterscape.measure.hotspots.grid_hotspots`) and to time
   steps of ``step_years`` years. Steps are aligned to *end* at the last year in the data, so the
   final step is complete and only the first may be partial (ArcGIS aligns to the end by
   default). As in ArcGIS, the locations analysed are the cells with at least one point in at
   least one step; empty cells are not part of the cube.
2. **Space-time Gi*.** Every bin (cell i, step t) is compared with the whole cube: its
   neighbourhood is the cells within queen contiguity of i (the 8 surrounding cells, when
   analysed, plus i itself) in steps t - k, ..., t (the ArcGIS "neighborhood time step" k,
   sfdep's ``k``), binary weights, self included. The z-score is the Getis–Ord Gi* under the
   randomisation null with the mean and variance of all bins of the cube
   (:func:`clusterscape.measure.hotspots.gi_star_from_weights`). Significance is the Benjamini–Hochberg
   FDR at ``alpha`` over all bins (ArcGIS Pro applies FDR), or ``p <= alpha`` with
   ``fdr=False``; with ``permutations`` the conditional-permutation pseudo p-values are used.
3. **Trend.** A Mann–Kendall test (Mann 1945; Kendall 1975) with the tie-corrected variance
   and continuity correction, as ``pymannkendall.original_test``, on each cell's series of z
   scores (used by the categories) and, for information, on its series of counts.
4. **Categories.** The 17 ESRI patterns (``CATEGORIES``), see :func:`classify_series`.

References
----------
Esri, *How Emerging Hot Spot Analysis works*, ArcGIS Pro documentation (Space Time Pattern
Mining toolbox).
Parry J., sfdep, ``R/emerging-hostpot-classifications.R`` (an executable version of the rules).
Getis A. & Ord J.K. (1992) *Geographical Analysis* 24(3):189–206.
Mann H.B. (1945) Nonparametric tests against trend. *Econometrica* 13(3):245–259.
Kendall M.G. (1975) *Rank Correlation Methods*, 4th ed. Griffin, London.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.special import ndtr

from clusterscape._validation import as_xy, check_columns, check_positive
from clusterscape.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "CATEGORIES",
    "MannKendallResult",
    "classify_series",
    "emerging_hotspots",
    "mann_kendall",
    "space_time_weights",
]

#: The 17 ESRI Emerging Hot Spot Analysis patterns, in ESRI's wording.
CATEGORIES: tuple[str, ...] = (
    "new hot spot",
    "consecutive hot spot",
    "intensifying hot spot",
    "persistent hot spot",
    "diminishing hot spot",
    "sporadic hot spot",
    "oscillating hot spot",
    "historical hot spot",
    "new cold spot",
    "consecutive cold spot",
    "intensifying cold spot",
    "persistent cold spot",
    "diminishing cold spot",
    "sporadic cold spot",
    "oscillating cold spot",
    "historical cold spot",
    "no pattern detected",
)

#: ESRI's "ninety percent of the time-step intervals".
_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class MannKendallResult:
    """Mann–Kendall trend test of each row of a (m, T) array (or of one series).

    Attributes
    ----------
    s : numpy.ndarray
        Kendall's S = sum over i < j of sign(x_j - x_i).
    var_s : numpy.ndarray
        Var(S) with the tie correction n(n-1)(2n+5)/18 - sum_t t(t-1)(2t+5)/18.
    z : numpy.ndarray
        (S - sign(S)) / sqrt(Var S) (continuity correction); 0 when S = 0 or Var S = 0.
    p : numpy.ndarray
        Two-sided normal p-value of z.
    tau : numpy.ndarray
        S / (n(n-1)/2), as ``pymannkendall`` reports it.
    """

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    tau: np.ndarray


def mann_kendall(x: ArrayLike) -> MannKendallResult:
    """Mann–Kendall trend test with tie-corrected variance, vectorised over rows.

    Parameters
    ----------
    x : array_like, shape (T,) or (m, T)
        One series, or m series of equal length T >= 3 along the last axis. Must be finite.

    Returns
    -------
    MannKendallResult
        Arrays of shape (m,) (shape () for a single series). Same numbers as
        ``pymannkendall.original_test`` (Hussain & Mahmud 2019) and R ``Kendall::MannKendall``'s
        S and normal-approximation p-value.

    References
    ----------
    Mann H.B. (1945) *Econometrica* 13(3):245–259; Kendall M.G. (1975) *Rank Correlation
    Methods*; Gilbert R.O. (1987) *Statistical Methods for Environmental Pollution Monitoring*,
    eq. 16.4 (tie correction).

    Examples
    --------
    >>> r = mann_kendall([1.0, 2.0, 2.0, 3.0, 5.0])
    >>> float(r.s), round(float(r.p), 4)
    (9.0, 0.0433)
    """
    arr = np.asarray(x, dtype=float)
    single = arr.ndim == 1
    a = np.atleast_2d(arr)
    if a.ndim != 2 or a.shape[1] < 3:
        raise InvalidInputError(
            f"mann_kendall: needs series of at least 3 values along the last axis, got shape "
            f"{arr.shape}."
        )
    if not np.isfinite(a).all():
        raise InvalidInputError("mann_kendall: the series contain NaN or inf; drop them first.")
    m, n = a.shape
    iu, ju = np.triu_indices(n, k=1)
    s = np.sign(a[:, ju] - a[:, iu]).sum(axis=1)
    # tie groups per row: run lengths of equal values in the sorted row
    srt = np.sort(a, axis=1)
    start = np.ones((m, n), dtype=bool)
    start[:, 1:] = srt[:, 1:] != srt[:, :-1]
    run_id = np.cumsum(start.ravel()) - 1
    t = np.bincount(run_id).astype(float)
    row_of_run = np.repeat(np.arange(m), start.sum(axis=1))
    ties = np.bincount(row_of_run, weights=t * (t - 1) * (2 * t + 5), minlength=m)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(np.maximum(var_s, 0)), 0.0)
    p = 2.0 * ndtr(-np.abs(z))
    tau = s / (0.5 * n * (n - 1))
    if single:
        return MannKendallResult(s=s[0], var_s=var_s[0], z=z[0], p=p[0], tau=tau[0])
    return MannKendallResult(s=s, var_s=var_s, z=z, p=p, tau=tau)


def _final_run(flags: np.ndarray) -> int:
    """Length of the run of True values ending at the last element."""
    if not flags[-1]:
        return 0
    falses = np.flatnonzero(~flags)
    return int(flags.size - 1 - falses[-1]) if falses.size else int(flags.size)


def _side(
    mine: np.ndarray, other: np.ndarray, sig: np.ndarray, up: bool, trend_sig: bool
) -> dict[str, bool]:
    """Predicates of one side (hot: mine = significant & z > 0, up = tau > 0)."""
    n = mine.size
    share = mine.sum() / n
    last = bool(mine[-1])
    run = _final_run(mine)
    before = sig[: n - run] if run else sig
    return {
        "new": bool(sig.sum() == 1 and last),
        "consecutive": bool(last and run >= 2 and not before.any() and share < _SHARE),
        "intensifying": bool(share >= _SHARE and last and up and trend_sig),
        "persistent": bool(share >= _SHARE and not trend_sig),
        "diminishing": bool(share >= _SHARE and last and not up and trend_sig),
        "oscillating": bool(last and other[:-1].any() and share < _SHARE),
        "historical": bool(share >= _SHARE and not last),
        "sporadic": bool(share < _SHARE and mine.any() and not other.any()),
    }


#: Precedence of the predicates (sfdep's order; the first that holds wins).
_ORDER = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "oscillating",
    "historical",
    "sporadic",
)


def classify_series(
    z: ArrayLike, significant: ArrayLike, *, tau: float, tau_p: float, alpha: float = 0.05
) -> str:
    """ESRI Emerging Hot Spot category of one location's series of space-time Gi* results.

    Parameters
    ----------
    z : array_like, shape (T,)
        Gi* z-scores of the location, oldest step first (only their signs are used).
    significant : array_like of bool, shape (T,)
        Whether each bin is a statistically significant hot or cold spot.
    tau, tau_p : float
        Mann–Kendall tau and two-sided p-value of the z series (:func:`mann_kendall`).
    alpha : float, default 0.05
        Level of the trend test ("statistically significant increase").

    Returns
    -------
    str
        One of :data:`CATEGORIES`. With H = significant and z > 0 (hot bins), C = significant
        and z < 0 (cold bins), share = fraction of the T steps that are hot, the hot rules are
        (cold mirrored; ESRI wording in quotes):

        - *new*: the final bin is hot and it is the only significant bin ("never been a
          statistically significant hot spot before"; sfdep also excludes earlier cold bins);
        - *consecutive*: a single run of at least two hot bins ends at the final step, no
          significant bin precedes the run, share < 90 %;
        - *intensifying*: share >= 90 %, final bin hot, tau > 0 with p <= alpha;
        - *persistent*: share >= 90 % and no significant trend (p > alpha);
        - *diminishing*: share >= 90 %, final bin hot, tau < 0 with p <= alpha;
        - *oscillating*: final bin hot, a cold bin earlier, share < 90 %;
        - *historical*: share >= 90 % but the final bin is not hot;
        - *sporadic*: share < 90 %, at least one hot bin and no cold bin ("on-again then
          off-again");
        - otherwise *no pattern detected*.

        The predicates overlap, so the first that holds in sfdep's order wins: new, consecutive,
        intensifying, persistent, diminishing, oscillating, historical, sporadic; each checked
        for hot, then cold. Deviations from sfdep, where its code departs from ESRI's text:
        share-of-hot (not share-of-significant) for intensifying hot, "final bin not hot" (not
        "z < 0") for historical, strict "< 90 %" for oscillating hot, and a final *hot* run
        (not any significant run) for consecutive.

    Examples
    --------
    >>> z = [0.1, 0.2, 0.3, 0.2, 2.9]
    >>> classify_series(z, [False, False, False, False, True], tau=0.6, tau_p=0.14)
    'new hot spot'
    """
    zz = np.asarray(z, dtype=float)
    sig = np.asarray(significant, dtype=bool)
    if zz.ndim != 1 or zz.shape != sig.shape or zz.size < 1:
        raise InvalidInputError(
            f"classify_series: z and significant must be 1-D of equal length, got {zz.shape} "
            f"and {sig.shape}."
        )
    hot = sig & (zz > 0)
    cold = sig & (zz < 0)
    trend_sig = bool(np.isfinite(tau_p) and tau_p <= alpha)
    hot_rules = _side(hot, cold, sig, bool(tau > 0), trend_sig)
    cold_rules = _side(cold, hot, sig, bool(tau < 0), trend_sig)
    for name in _ORDER:
        if hot_rules[name]:
            return f"{name} hot spot"
        if cold_rules[name]:
            return f"{name} cold spot"
    return "no pattern detected"


def _steps(years: np.ndarray, step_years: int) -> tuple[np.ndarray, int, int]:
    """Step index of each year with steps aligned to end at the last year."""
    end = int(years.max())
    start = int(years.min())
    n_steps = -(-(end - start + 1) // step_years)
    first = end - n_steps * step_years + 1
    return ((years - first) // step_years).astype(np.int64), n_steps, first


@dataclass(frozen=True, slots=True)
class _Cube:
    counts: np.ndarray  # (n_cells, T)
    rows: np.ndarray
    cols: np.ndarray
    x0: float
    y0: float
    first_year: int
    params: Mapping[str, Any] = field(default_factory=dict)


def _cube(xy: np.ndarray, years: np.ndarray, cell_m: float, step_years: int) -> _Cube:
    x0 = float(np.floor(xy[:, 0].min() / cell_m) * cell_m)
    y0 = float(np.floor(xy[:, 1].min() / cell_m) * cell_m)
    col = np.floor((xy[:, 0] - x0) / cell_m).astype(np.int64)
    row = np.floor((xy[:, 1] - y0) / cell_m).astype(np.int64)
    key = row * (int(col.max()) + 1) + col
    uniq, cell = np.unique(key, return_inverse=True)
    step, n_steps, first = _steps(years, step_years)
    counts = np.zeros((uniq.size, n_steps))
    np.add.at(counts, (cell, step), 1.0)
    ncol = int(col.max()) + 1
    return _Cube(counts, uniq // ncol, uniq % ncol, x0, y0, first)


def _queen(rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    """Binary queen adjacency (self included) among the analysed cells."""
    n = rows.size
    ncol = int(cols.max()) + 3
    key = (rows + 1) * ncol + (cols + 1)
    order = np.argsort(key)
    skey = key[order]
    ii, jj = [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            target = key + dr * ncol + dc
            pos = np.searchsorted(skey, target)
            pos = np.minimum(pos, n - 1)
            hit = skey[pos] == target
            ii.append(np.flatnonzero(hit))
            jj.append(order[pos[hit]])
    i = np.concatenate(ii)
    j = np.concatenate(jj)
    return sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n))


def space_time_weights(spatial: sp.spmatrix, n_steps: int, k: int) -> sp.csr_matrix:
    """Binary space-time weights: bin (i, t) sees (j, s) for j in N(i) and t - k <= s <= t.

    Node index = t * n_cells + i. ``spatial`` must include self-links.
    """
    lag = sp.csr_matrix(
        sum(sp.eye(n_steps, k=-d, format="csr") for d in range(min(k, n_steps - 1) + 1))
    )
    w = sp.kron(lag, sp.csr_matrix(spatial), format="csr")
    w.data[:] = 1.0
    return w


def emerging_hotspots(
    establishments: gpd.GeoDataFrame,
    *,
    cell_m: float = 500.0,
    time: str = "opened",
    k: int = 1,
    step_years: int = 1,
    permutations: int = 0,
    seed: int | None = 0,
    alpha: float = 0.05,
    fdr: bool = True,
) -> Any:
    """Emerging Hot Spot Analysis of point events on a square space-time cube.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame of points
        Any CRS (projected with :func:`clusterscape.coords.to_local_metric`); one event per row
        at the year in column ``time``. Rows with a missing year are ignored. Filter first
        (e.g. creative firms only) to analyse one kind of event.
    cell_m : float, default 500
        Side of the square cells in metres.
    time : str, default "opened"
        Integer year column.
    k : int, default 1
        Neighbourhood time step: bins of the k previous steps are neighbours (0 = per-slice).
    step_years : int, default 1
        Length of a time step in years.
    permutations : int, default 0
        Conditional permutations for pseudo p-values (0 = analytical normal p-values). The
        focal bin keeps its value and only its neighbours are permuted (esda/spdep), so a burst
        in one cell whose neighbours are ordinary is not significant, unlike with the
        analytical z; with FDR, few permutations (e.g. 99, minimum p = 0.01) rarely pass.
    seed : int or None, default 0
        Seed of the permutations.
    alpha : float, default 0.05
        Level for significant bins and for the Mann–Kendall trend.
    fdr : bool, default True
        Benjamini–Hochberg correct the bin significance over the whole cube.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per analysed cell (local metric CRS, square polygons): ``cell_id``
        (``"r<row>c<col>"``), ``row``, ``col``, ``n_total`` (events), ``n_hot`` / ``n_cold``
        (significant hot / cold steps), ``final_z``, ``trend_tau`` / ``trend_p`` (Mann–Kendall on
        the Gi* z series; used by the categories), ``count_tau`` / ``count_p`` (on the counts),
        ``category`` (one of :data:`CATEGORIES`). ``attrs["params"]`` records every option,
        the step years and the z-score matrix is in ``attrs["z"]`` (cells x steps).

    Notes
    -----
    See the module docstring for the cube, the neighbourhoods and the significance rule, and
    :func:`classify_series` for the categories.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.uniform(0, 5000, (400, 2))
    >>> gdf = gpd.GeoDataFrame({"opened": rng.integers(2000, 2010, 400)},
    ...                        geometry=gpd.points_from_xy(*xy.T), crs="EPSG:32651")
    >>> out = emerging_hotspots(gdf, cell_m=1000)
    >>> set(out["category"]) <= set(CATEGORIES)
    True
    """
    import geopandas as gpd
    import shapely

    from clusterscape.coords import to_local_metric
    from clusterscape.measure.hotspots import gi_star_from_weights

    caller = "emerging_hotspots"
    if not hasattr(establishments, "geometry"):
        raise InvalidInputError(
            f"{caller}: expected a GeoDataFrame of points, got {type(establishments).__name__}."
        )
    check_columns(establishments, [time], caller=caller, what="establishments table")
    check_positive(cell_m, "cell_m", caller=caller)
    for name, v, lo in (
        ("k", k, 0),
        ("step_years", step_years, 1),
        ("permutations", permutations, 0),
    ):
        if isinstance(v, bool) or int(v) != v or v < lo:
            raise InvalidInputError(f"{caller}: {name} must be an integer >= {lo}, got {v!r}.")
    if not 0 < alpha < 1:
        raise InvalidInputError(f"{caller}: alpha must lie in (0, 1), got {alpha}.")
    gdf = to_local_metric(establishments)
    yr = pd.to_numeric(gdf[time], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    keep = np.isfinite(yr)
    if keep.sum() < 3:
        raise InvalidInputError(
            f"{caller}: only {int(keep.sum())} rows have a year in {time!r}; need at least 3."
        )
    xy = as_xy(gdf.geometry[keep], caller=caller)
    years = yr[keep].astype(np.int64)
    cube = _cube(xy, years, float(cell_m), int(step_years))
    n_cells, n_steps = cube.counts.shape
    if n_steps < 3:
        raise InvalidInputError(
            f"{caller}: the years span only {n_steps} time step(s) of {step_years} year(s); the "
            "Mann–Kendall trend needs at least 3 (ESRI needs 10). Use a smaller step_years."
        )
    if n_cells < 3:
        raise InvalidInputError(
            f"{caller}: only {n_cells} cell(s) of {cell_m} m hold points; use a smaller cell_m."
        )
    w = space_time_weights(_queen(cube.rows, cube.cols), n_steps, int(k))
    values = cube.counts.T.ravel()  # node = t * n_cells + i
    res = gi_star_from_weights(
        values, w, permutations=int(permutations), seed=seed, fdr=fdr, alpha=alpha
    )
    z = res.z.reshape(n_steps, n_cells).T
    sig = res.significant.reshape(n_steps, n_cells).T
    trend = mann_kendall(z)
    count_trend = mann_kendall(cube.counts)
    cats = [
        classify_series(z[i], sig[i], tau=float(trend.tau[i]), tau_p=float(trend.p[i]), alpha=alpha)
        for i in range(n_cells)
    ]
    x = cube.x0 + cube.cols * float(cell_m)
    y = cube.y0 + cube.rows * float(cell_m)
    out = gpd.GeoDataFrame(
        {
            "cell_id": [f"r{r}c{c}" for r, c in zip(cube.rows, cube.cols, strict=True)],
            "row": cube.rows,
            "col": cube.cols,
            "n_total": cube.counts.sum(axis=1).astype(np.int64),
            "n_hot": (sig & (z > 0)).sum(axis=1),
            "n_cold": (sig & (z < 0)).sum(axis=1),
            "final_z": z[:, -1],
            "trend_tau": trend.tau,
            "trend_p": trend.p,
            "count_tau": count_trend.tau,
            "count_p": count_trend.p,
            "category": pd.Categorical(cats, categories=list(CATEGORIES)),
        },
        geometry=shapely.box(x, y, x + cell_m, y + cell_m),
        crs=gdf.crs,
    )
    out.attrs["params"] = {
        "cell_m": float(cell_m),
        "time": time,
        "k": int(k),
        "step_years": int(step_years),
        "first_year": cube.first_year,
        "n_steps": n_steps,
        "step_start_years": [cube.first_year + t * int(step_years) for t in range(n_steps)],
        "permutations": int(permutations),
        "seed": seed,
        "alpha": alpha,
        "fdr": fdr,
        "spatial_neighbours": "queen (8 surrounding analysed cells) + self",
        "gi_reference": "whole cube",
        "n_events": int(keep.sum()),
        "n_ignored_no_year": int((~keep).sum()),
    }
    out.attrs["z"] = z
    return out
