"""The few checks every step starts with: choices, columns, ranges, projected CRS."""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from clusterscape.errors import CRSError, InvalidInputError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import libpysal
    import pandas as pd
    import scipy.sparse as sp
    from shapely import MultiPolygon, Polygon

#: Points in metres: an (n, 2) array or sequence, or a projected GeoSeries/GeoDataFrame (as_xy).
PointsLike: TypeAlias = "ArrayLike | gpd.GeoSeries | gpd.GeoDataFrame"
#: An observation window in metres: a polygon, (xmin, ymin, xmax, ymax), or projected geometries.
WindowLike: TypeAlias = (
    "Polygon | MultiPolygon | tuple[float, float, float, float] | gpd.GeoSeries | gpd.GeoDataFrame"
)
#: Spatial weights: a libpysal Graph or W, or an (n, n) scipy.sparse matrix (row i: i's neighbours).
WeightsLike: TypeAlias = "libpysal.graph.Graph | libpysal.weights.W | sp.sparray | sp.spmatrix"
#: A regions x industries table: a DataFrame or a 2-D array.
TableLike: TypeAlias = "pd.DataFrame | ArrayLike"

__all__ = [
    "PointsLike",
    "TableLike",
    "WeightsLike",
    "WindowLike",
    "as_values",
    "as_xy",
    "check_choice",
    "check_columns",
    "check_positive",
    "check_projected",
]


def import_optional(*modules: str, needs: str) -> list[Any]:
    """Import optional modules; if one is missing, :class:`MissingDependencyError` ``needs``."""
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError as exc:
        raise MissingDependencyError(needs) from exc


def check_table_factors(table: Any, factors: Iterable[str], *, caller: str, kind: str) -> list[str]:
    """``table`` must be a pandas DataFrame (``kind`` names it in the message) and ``factors``
    a non-empty list of its column names; returns the factors as a list."""
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise InvalidInputError(f"{caller}: table must be {kind}, got {type(table).__name__}.")
    factors = list(factors)
    if not factors:
        raise InvalidInputError(f"{caller}: give at least one factor column.")
    return factors


def check_choice(value: Any, choices: Collection[Any], name: str, *, caller: str) -> None:
    """Raise :class:`InvalidInputError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in sorted(choices, key=str))
        raise InvalidInputError(f"{caller}: {name}={value!r} is not one of {options}.")


def check_columns(frame: Any, columns: Iterable[str], *, caller: str, what: str = "table") -> None:
    """Raise :class:`InvalidInputError` naming every missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise InvalidInputError(
            f"{caller}: the {what} lacks column(s) {', '.join(missing)}; it has: {have}."
        )


def check_positive(value: float, name: str, *, caller: str, allow_zero: bool = False) -> None:
    """Raise :class:`InvalidInputError` unless ``value`` is a finite positive number."""
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidInputError(f"{caller}: {name} must be a finite number {bound}, got {value!r}.")


def check_projected(gdf: Any, *, caller: str) -> None:
    """Raise :class:`CRSError` unless a GeoDataFrame/GeoSeries has a projected (metric) CRS."""
    crs = getattr(gdf, "crs", None)
    if crs is None:
        raise CRSError(
            f"{caller} needs coordinates in metres, but the data has no CRS. Set one "
            "(gdf.set_crs(...)) or project with clusterscape.coords.to_local_metric(gdf)."
        )
    if not crs.is_projected:
        raise CRSError(
            f"{caller} needs coordinates in metres, but the CRS {crs.to_string()} is geographic "
            "(degrees). Project first, e.g. clusterscape.coords.to_local_metric(gdf)."
        )


def as_xy(points: Any, *, caller: str, min_points: int = 0) -> np.ndarray:
    """Return an (n, 2) float64 array of metre coordinates from an array, GeoSeries or GeoDataFrame.

    Geographic GeoSeries are refused (:class:`CRSError`); plain arrays are trusted to be metres.
    """
    if hasattr(points, "geometry") or hasattr(points, "crs"):
        geoms = points.geometry if hasattr(points, "geometry") else points
        if getattr(geoms, "crs", None) is not None:
            check_projected(geoms, caller=caller)
        xy = np.column_stack([np.asarray(geoms.x, dtype=float), np.asarray(geoms.y, dtype=float)])
    else:
        xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InvalidInputError(
            f"{caller}: expected an (n, 2) array of x, y, got shape {xy.shape}."
        )
    if not np.isfinite(xy).all():
        bad = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
        raise InvalidInputError(f"{caller}: coordinate row {bad} is not finite ({xy[bad]}).")
    if len(xy) < min_points:
        raise InvalidInputError(f"{caller}: needs at least {min_points} points, got {len(xy)}.")
    return xy


def as_values(
    values: Any, name: str = "values", *, caller: str, fix: str, constant: str
) -> np.ndarray:
    """Return a 1-D float64 array of at least 3 finite, varying values, or say which one is wrong.

    ``fix`` ends the message about a non-finite value (what to do about it); ``constant`` is the
    sentence that explains why constant values are refused.
    """
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size < 3:
        raise InvalidInputError(f"{caller}: {name} needs at least 3 values, got {arr.size}.")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InvalidInputError(
            f"{caller}: {name} row {bad} is not finite ({arr[bad]}); drop or fill missing values{fix}."
        )
    if np.ptp(arr) == 0:
        raise InvalidInputError(
            f"{caller}: {name} is constant (all {arr.size} equal {arr[0]}); {constant}"
        )
    return arr
