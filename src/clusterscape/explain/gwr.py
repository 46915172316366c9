"""Geographically weighted regression (GWR, MGWR) through the ``mgwr`` package.

A thin, validated adapter over the field's implementation (Oshan, Li, Kang, Wolf & Fotheringham
2019): the bandwidth is searched with ``mgwr.sel_bw.Sel_BW`` (golden section on AICc by default;
adaptive bisquare = number of nearest neighbours, fixed = metres), then the model is fitted with
``mgwr.gwr.GWR`` / ``MGWR``. ``family="poisson"`` fits the geographically weighted Poisson
regression (Nakaya et al. 2005) that suits counts of establishments per cell, with an optional
``offset`` column (e.g. log of cell area or population exposure, as mgwr expects: the offset
column is the exposure itself, mgwr takes its log internally).

Needs the optional dependency ``mgwr`` (``pip install "clusterscape[gwr]"``).

References
----------
Fotheringham A.S., Brunsdon C. & Charlton M. (2002) *Geographically Weighted Regression*. Wiley.
Fotheringham A.S., Yang W. & Kang W. (2017) Multiscale geographically weighted regression (MGWR).
*Annals of the AAG* 107(6):1247–1265.
Nakaya T., Fotheringham A.S., Brunsdon C. & Charlton M. (2005) Geographically weighted Poisson
regression for disease association mapping. *Statistics in Medicine* 24(17):2695–2717.
Oshan T.M., Li Z., Kang W., Wolf L.J. & Fotheringham A.S. (2019) mgwr: A Python implementation of
multiscale geographically weighted regression. *ISPRS IJGI* 8(6):269.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clusterscape._validation import (
    as_xy,
    check_choice,
    check_columns,
    check_table_factors,
    import_optional,
)
from clusterscape.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from mgwr.gwr import GWRResults, MGWRResults

__all__ = ["GWRFit", "gwr", "mgwr"]


@dataclass(frozen=True, slots=True)
class GWRFit:
    """A fitted (M)GWR.

    Attributes
    ----------
    bandwidth : float or tuple of float
        The searched bandwidth (MGWR: one per column, intercept first); neighbours when
        adaptive, metres when fixed.
    coefficients : pandas.DataFrame
        Local coefficients, one row per observation (index = the table's), columns
        ``intercept`` and the factors.
    t_values : pandas.DataFrame
        Their local t-values.
    significant : pandas.DataFrame
        True where |t| exceeds mgwr's critical t (corrected for multiple tests, da Silva &
        Fotheringham 2016).
    local_r2 : pandas.Series or None
        Local R² (Gaussian GWR only).
    summary : Mapping
        aicc, aic, r2 (or deviance-based pseudo R² for Poisson), enp, n.
    params : Mapping
        family, kernel, fixed, criterion, factors.
    model : object
        The mgwr results object, for anything else mgwr reports.
    """

    bandwidth: float | tuple[float, ...]
    coefficients: pd.DataFrame
    t_values: pd.DataFrame
    significant: pd.DataFrame
    local_r2: pd.Series | None
    summary: Mapping[str, float]
    params: Mapping[str, object] = field(default_factory=dict)
    model: GWRResults | MGWRResults | None = None


def _import_mgwr() -> Any:
    return import_optional(
        "mgwr.gwr", "mgwr.sel_bw", "spglm.family",
        needs="gwr/mgwr need the optional package mgwr: pip install 'clusterscape[gwr]'.",
    )  # fmt: skip


def _prepare(
    table: Any,
    y: str,
    factors: Sequence[str],
    coords: tuple[str, str] | None,
    offset: str | None,
    family: str,
    kernel: str,
    criterion: str,
    caller: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    check_choice(family, {"gaussian", "poisson"}, "family", caller=caller)
    check_choice(kernel, {"bisquare", "gaussian", "exponential"}, "kernel", caller=caller)
    check_choice(criterion, {"AICc", "AIC", "BIC", "CV"}, "criterion", caller=caller)
    factors = check_table_factors(table, factors, caller=caller, kind="a (Geo)DataFrame")
    check_columns(table, [y, *factors, *([offset] if offset else [])], caller=caller)
    if coords is not None:
        check_columns(table, list(coords), caller=caller)
        xy = as_xy(table[list(coords)].to_numpy(dtype=float), caller=caller)
    elif "geometry" in table.columns:
        geom = table.geometry
        if not (geom.geom_type == "Point").all():
            geom = geom.representative_point()  # cells -> one point inside each
        xy = as_xy(geom, caller=caller)
    else:
        raise InvalidInputError(
            f"{caller}: give coords=(x_column, y_column) or a GeoDataFrame of cells or points."
        )
    cols = [y, *factors, *([offset] if offset else [])]
    values = table[cols].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float)).all(axis=1)
    if bad.any():
        first = table.index[np.flatnonzero(bad)[0]]
        raise InvalidInputError(
            f"{caller}: {int(bad.sum())} rows have a missing or non-numeric value (first: index "
            f"{first!r}); drop or fill them first."
        )
    yv = values[y].to_numpy(dtype=float).reshape(-1, 1)
    if family == "poisson" and ((yv < 0).any() or (yv != np.round(yv)).any()):
        raise InvalidInputError(
            f"{caller}: family='poisson' needs non-negative integer counts in {y!r}."
        )
    xv = values[factors].to_numpy(dtype=float)
    if (np.ptp(xv, axis=0) == 0).any():
        const = [f for f, p in zip(factors, np.ptp(xv, axis=0), strict=True) if p == 0]
        raise InvalidInputError(f"{caller}: factor(s) {const} are constant; drop them.")
    off = values[offset].to_numpy(dtype=float).reshape(-1, 1) if offset else None
    if off is not None and (off <= 0).any():
        raise InvalidInputError(f"{caller}: the offset (exposure) {offset!r} must be > 0.")
    return yv, xv, xy, off, factors


def _scalar(value: Any) -> float:
    return float(np.asarray(value, dtype=float).ravel()[0])


def _frame(arr: np.ndarray, names: list[str], index: Any) -> pd.DataFrame:
    return pd.DataFrame(arr, columns=names, index=index)


def gwr(
    table: pd.DataFrame,
    y: str,
    factors: Sequence[str],
    *,
    coords: tuple[str, str] | None = None,
    family: str = "gaussian",
    kernel: str = "bisquare",
    fixed: bool = False,
    criterion: str = "AICc",
    offset: str | None = None,
    bandwidth: float | None = None,
    n_jobs: int = 1,
) -> GWRFit:
    """Geographically weighted regression of ``y`` on ``factors``, bandwidth searched by mgwr.

    Parameters
    ----------
    table : GeoDataFrame (cells or points, projected) or DataFrame with ``coords`` columns
        One row per unit.
    y : str
        The response (counts for ``family="poisson"``).
    factors : sequence of str
        Explanatory columns (an intercept is added).
    coords : (str, str), optional
        x and y columns in metres; by default the geometry (a point inside each cell).
    family : {"gaussian", "poisson"}, default "gaussian"
        Poisson GWR for counts.
    kernel : {"bisquare", "gaussian", "exponential"}, default "bisquare"
    fixed : bool, default False
        Fixed bandwidth in metres, else adaptive (number of nearest neighbours).
    criterion : {"AICc", "AIC", "BIC", "CV"}, default "AICc"
        Bandwidth-search criterion (golden section search).
    offset : str, optional
        Exposure column for Poisson GWR (mgwr takes its log).
    bandwidth : float, optional
        Skip the search and use this bandwidth.
    n_jobs : int, default 1
        Processes mgwr may use.

    Returns
    -------
    GWRFit
    """
    caller = "gwr"
    yv, xv, xy, off, factors = _prepare(
        table, y, factors, coords, offset, family, kernel, criterion, caller
    )
    mgwr_gwr, mgwr_sel, families = _import_mgwr()
    fam = families.Poisson() if family == "poisson" else families.Gaussian()
    if bandwidth is None:
        selector = mgwr_sel.Sel_BW(
            xy, yv, xv, family=fam, offset=off, kernel=kernel, fixed=fixed, n_jobs=n_jobs
        )
        bw = float(selector.search(criterion=criterion))
    else:
        bw = float(bandwidth)
    res = mgwr_gwr.GWR(
        xy, yv, xv, bw, family=fam, offset=off, kernel=kernel, fixed=fixed, n_jobs=n_jobs
    ).fit()
    names = ["intercept", *factors]
    index = table.index
    critical = res.critical_tval()
    summary = {
        "aicc": _scalar(res.aicc),
        "aic": _scalar(res.aic),
        "enp": _scalar(res.ENP),
        "n": len(yv),
    }
    if family == "gaussian":
        summary["r2"] = _scalar(res.R2)
        local_r2 = pd.Series(np.asarray(res.localR2).ravel(), index=index, name="local_r2")
    else:
        summary["pseudo_r2"] = _scalar(res.pDev)
        local_r2 = None
    return GWRFit(
        bandwidth=bw,
        coefficients=_frame(res.params, names, index),
        t_values=_frame(res.tvalues, names, index),
        significant=_frame(np.abs(res.tvalues) > critical, names, index),
        local_r2=local_r2,
        summary=summary,
        params={
            "family": family,
            "kernel": kernel,
            "fixed": fixed,
            "criterion": criterion,
            "factors": factors,
            "offset": offset,
        },
        model=res,
    )


def mgwr(
    table: pd.DataFrame,
    y: str,
    factors: Sequence[str],
    *,
    coords: tuple[str, str] | None = None,
    kernel: str = "bisquare",
    fixed: bool = False,
    criterion: str = "AICc",
    standardise: bool = True,
    n_jobs: int = 1,
) -> GWRFit:
    """Multiscale GWR (one bandwidth per factor) through mgwr's back-fitting search.

    Gaussian only (mgwr's MGWR). ``standardise=True`` centres and scales y and the factors as
    the MGWR authors recommend, so that the bandwidths are comparable; the coefficients are then
    in standard-deviation units. Other parameters as :func:`gwr`.
    """
    caller = "mgwr"
    yv, xv, xy, _, factors = _prepare(
        table, y, factors, coords, None, "gaussian", kernel, criterion, caller
    )
    mgwr_gwr, mgwr_sel, _ = _import_mgwr()
    if standardise:
        yv = (yv - yv.mean()) / yv.std()
        xv = (xv - xv.mean(axis=0)) / xv.std(axis=0)
    selector = mgwr_sel.Sel_BW(xy, yv, xv, multi=True, kernel=kernel, fixed=fixed, n_jobs=n_jobs)
    bws = selector.search(criterion=criterion)
    res = mgwr_gwr.MGWR(xy, yv, xv, selector, kernel=kernel, fixed=fixed, n_jobs=n_jobs).fit()
    names = ["intercept", *factors]
    index = table.index
    critical = np.asarray(res.critical_tval())
    return GWRFit(
        bandwidth=tuple(float(b) for b in np.asarray(bws).ravel()),
        coefficients=_frame(res.params, names, index),
        t_values=_frame(res.tvalues, names, index),
        significant=_frame(np.abs(res.tvalues) > critical, names, index),
        local_r2=None,
        summary={
            "aicc": _scalar(res.aicc),
            "aic": _scalar(res.aic),
            "r2": _scalar(res.R2),
            "enp": _scalar(res.ENP),
            "n": len(yv),
        },
        params={
            "family": "gaussian",
            "kernel": kernel,
            "fixed": fixed,
            "criterion": criterion,
            "factors": factors,
            "standardise": standardise,
        },
        model=res,
    )
