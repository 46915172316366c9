"""Centrography as ArcGIS computes it: average nearest neighbour and the standard deviational ellipse.

* **Average Nearest Neighbor** (ArcGIS; Clark & Evans 1954 without edge correction): D_o = mean
  distance of every point to its nearest neighbour; D_e = 0.5 / √(n/A); ratio = D_o / D_e;
  SE = 0.26136 / √(n²/A); z = (D_o − D_e)/SE, p two-sided normal. A is the window's area if
  given, else the area of the **minimum-area enclosing rectangle** of the points — ArcGIS's
  documented default ("Unlike the extent, a minimum enclosing rectangle will not necessarily
  align with the x- and y-axes", ArcGIS 9.3–Pro "Average Nearest Neighbor" usage notes), not the
  axis-aligned extent.
* **Directional Distribution (Standard Deviational Ellipse)** (ArcGIS Pro; Yuill 1971): with
  x̃, ỹ the deviations from the (weighted) mean centre, A = Σx̃² − Σỹ², B = √(A² + 4(Σx̃ỹ)²),
  C = 2Σx̃ỹ, tan θ = (A + B)/C; σ_x = √2 · √(Σ(x̃ cos θ − ỹ sin θ)²/n),
  σ_y = √2 · √(Σ(x̃ sin θ + ỹ cos θ)²/n) (weighted sums over Σw with weights). The √2 is ArcGIS
  Pro's convention ("How Directional Distribution works": 1, 2 and 3 standard deviations are
  drawn with 1.41, 2.83 and 4.24 times the standard deviations, so one standard deviation holds
  ~63 % of a bivariate normal's points); CrimeStat and pointpats use other corrections. θ is the
  rotation of the ellipse's y axis clockwise from north, in [0°, 180°); σ_y lies along it and is
  the long axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from scipy.spatial import cKDTree

from clusterscape._validation import (
    PointsLike,
    WindowLike,
    as_xy,
    check_columns,
    check_positive,
    check_projected,
)
from clusterscape.errors import InvalidInputError

__all__ = [
    "ANNResult",
    "EllipseResult",
    "average_nearest_neighbour",
    "ellipse_polygon",
    "ellipse_shift",
    "standard_deviational_ellipse",
]

_SE_CONSTANT = 0.26136  # ArcGIS's printed constant (Clark & Evans: sqrt((4 - pi)/(4 pi)) ~ 0.26136)


@dataclass(frozen=True, slots=True)
class ANNResult:
    """Average nearest neighbour, as ArcGIS reports it (distances in metres).

    Attributes
    ----------
    observed_m, expected_m : float
        Observed mean nearest-neighbour distance and its expectation under CSR in area A.
    ratio : float
        Nearest neighbour index observed/expected (< 1 clustered, > 1 dispersed).
    z, p_value : float
        z-score and two-sided normal p-value.
    area_m2 : float
        The area A used.
    n : int
        Number of points.
    params : Mapping
        ``area_source`` ("area_m2", "window" or "minimum enclosing rectangle").
    """

    observed_m: float
    expected_m: float
    ratio: float
    z: float
    p_value: float
    area_m2: float
    n: int
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EllipseResult:
    """A standard deviational ellipse (ArcGIS Pro convention, metres and degrees).

    Attributes
    ----------
    centre_x, centre_y : float
        The (weighted) mean centre.
    sigma_x, sigma_y : float
        Semi-axes along the rotated x and y axes (σ_y is the long one), times ``std``.
    rotation_deg : float
        Clockwise angle from north of the ellipse's y (long) axis, in [0, 180).
    area_m2 : float
        π · σ_x · σ_y.
    n : int
        Number of points.
    params : Mapping
        std, weighted.
    """

    centre_x: float
    centre_y: float
    sigma_x: float
    sigma_y: float
    rotation_deg: float
    area_m2: float
    n: int
    params: Mapping[str, object] = field(default_factory=dict)


def _window_area(window: WindowLike, *, caller: str) -> float:
    geom = window
    if hasattr(window, "crs"):
        if window.crs is not None:
            check_projected(window, caller=caller)
        geom = window.union_all() if hasattr(window, "union_all") else window
    area = float(getattr(geom, "area", float("nan")))
    if not np.isfinite(area) or area <= 0:
        raise InvalidInputError(f"{caller}: the window must be a polygon with a positive area.")
    return area


def _mer_area(xy: np.ndarray) -> float:
    import shapely

    hull = shapely.convex_hull(shapely.multipoints(xy))
    rect = shapely.minimum_rotated_rectangle(hull)
    return float(rect.area)


def average_nearest_neighbour(
    xy: PointsLike, *, area_m2: float | None = None, window: WindowLike | None = None
) -> ANNResult:
    """Average Nearest Neighbor ratio, z and p as ArcGIS (Clark & Evans 1954).

    Parameters
    ----------
    xy : (n, 2) array, GeoSeries or GeoDataFrame of points
        Coordinates in metres (a geographic CRS is refused).
    area_m2 : float, optional
        The study area A in m².
    window : shapely polygon, GeoSeries or GeoDataFrame, optional
        The study area as a polygon (its area is A); ignored when ``area_m2`` is given.
        Without either, A is the area of the minimum-area enclosing (rotated) rectangle.

    Returns
    -------
    ANNResult

    References
    ----------
    Clark P.J. & Evans F.C. (1954) Distance to nearest neighbor as a measure of spatial
    relationships in populations. *Ecology* 35(4):445–453.
    """
    caller = "average_nearest_neighbour"
    pts = as_xy(xy, caller=caller, min_points=2)
    n = len(pts)
    if area_m2 is not None:
        check_positive(area_m2, "area_m2", caller=caller)
        area, source = float(area_m2), "area_m2"
    elif window is not None:
        area, source = _window_area(window, caller=caller), "window"
    else:
        area, source = _mer_area(pts), "minimum enclosing rectangle"
        if area <= 0:
            raise InvalidInputError(
                f"{caller}: the points are collinear, so their enclosing rectangle has no area; "
                "give area_m2 or window."
            )
    dist, _ = cKDTree(pts).query(pts, k=2)
    observed = float(dist[:, 1].mean())
    expected = 0.5 / math.sqrt(n / area)
    se = _SE_CONSTANT / math.sqrt(n * n / area)
    z = (observed - expected) / se
    return ANNResult(
        observed_m=observed,
        expected_m=expected,
        ratio=observed / expected,
        z=z,
        p_value=float(2.0 * stats.norm.sf(abs(z))),
        area_m2=area,
        n=n,
        params={"area_source": source},
    )


def standard_deviational_ellipse(
    xy: PointsLike, *, weights: ArrayLike | None = None, std: float = 1.0
) -> EllipseResult:
    """Standard deviational ellipse (ArcGIS Pro "Directional Distribution", √2 convention).

    Parameters
    ----------
    xy : (n, 2) array, GeoSeries or GeoDataFrame of points
        Coordinates in metres.
    weights : array-like of shape (n,), optional
        Non-negative weights (e.g. employees); weighted centre and sums.
    std : float, default 1.0
        Number of standard deviations (ArcGIS offers 1, 2, 3).

    Returns
    -------
    EllipseResult

    References
    ----------
    Yuill R.S. (1971) The standard deviational ellipse; an updated tool for spatial description.
    *Geografiska Annaler B* 53(1):28–39. Esri, "How Directional Distribution (Standard
    Deviational Ellipse) works", ArcGIS Pro documentation.
    """
    caller = "standard_deviational_ellipse"
    pts = as_xy(xy, caller=caller, min_points=3)
    check_positive(std, "std", caller=caller)
    if weights is None:
        w = np.ones(len(pts))
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.size != len(pts):
            raise InvalidInputError(f"{caller}: {w.size} weights for {len(pts)} points.")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise InvalidInputError(
                f"{caller}: weights must be finite, non-negative and not all zero."
            )
    sw = float(w.sum())
    cx, cy = float(w @ pts[:, 0] / sw), float(w @ pts[:, 1] / sw)
    dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
    sxx, syy, sxy = float(w @ (dx * dx)), float(w @ (dy * dy)), float(w @ (dx * dy))
    # major axis angle from the x axis (anticlockwise) is atan2(2 Sxy, Sxx - Syy) / 2; ArcGIS's
    # tan θ = (A + B)/C is the same axis as a clockwise angle from north (and stays defined at C = 0)
    phi = 0.5 * math.atan2(2.0 * sxy, sxx - syy)
    theta = math.radians((90.0 - math.degrees(phi)) % 180.0)
    c, s = math.cos(theta), math.sin(theta)
    sig_x = math.sqrt(2.0) * math.sqrt(float(w @ (dx * c - dy * s) ** 2) / sw) * std
    sig_y = math.sqrt(2.0) * math.sqrt(float(w @ (dx * s + dy * c) ** 2) / sw) * std
    return EllipseResult(
        centre_x=cx,
        centre_y=cy,
        sigma_x=sig_x,
        sigma_y=sig_y,
        rotation_deg=math.degrees(theta) % 180.0,
        area_m2=math.pi * sig_x * sig_y,
        n=len(pts),
        params={"std": std, "weighted": weights is not None},
    )


def ellipse_polygon(ellipse: EllipseResult, n_vertices: int = 72) -> Any:
    """The ellipse as a shapely Polygon (same coordinates as the points), for maps."""
    import shapely

    t = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    ex, ey = ellipse.sigma_x * np.cos(t), ellipse.sigma_y * np.sin(t)  # in the rotated frame
    th = math.radians(ellipse.rotation_deg)
    # rotated frame -> map: x axis = (cos θ, −sin θ), y axis = (sin θ, cos θ)
    x = ellipse.centre_x + ex * math.cos(th) + ey * math.sin(th)
    y = ellipse.centre_y - ex * math.sin(th) + ey * math.cos(th)
    return shapely.Polygon(np.column_stack([x, y]))


_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def ellipse_shift(
    table: pd.DataFrame,
    *,
    year: str = "year",
    x: str = "x",
    y: str = "y",
    weights: str | None = None,
    std: float = 1.0,
    min_points: int = 3,
) -> pd.DataFrame:
    """Standard deviational ellipse per year and the shift of its centre from year to year.

    Parameters
    ----------
    table : GeoDataFrame of points (projected) or DataFrame with ``x`` and ``y`` columns
        One row per establishment, with a ``year`` column (e.g. the opening year; use cumulative
        stocks by repeating rows per year if that is what the study maps).
    year, x, y : str
        Column names (x and y are ignored for a GeoDataFrame, whose geometry is used).
    weights : str, optional
        Column of weights.
    std : float, default 1.0
        Standard deviations of the ellipses.
    min_points : int, default 3
        Years with fewer points are skipped (listed in ``params`` of no row; they are absent).

    Returns
    -------
    pandas.DataFrame
        One row per year (ascending): ``year``, ``n``, ``centre_x``, ``centre_y``, ``sigma_x``,
        ``sigma_y``, ``rotation_deg``, ``area_m2``, ``shift_m`` (distance from the previous
        year's centre), ``direction_deg`` (bearing of that move clockwise from north),
        ``direction`` (8-point compass), ``area_change_m2`` and ``area_change_pct``.
    """
    caller = "ellipse_shift"
    if not isinstance(table, pd.DataFrame):
        raise InvalidInputError(
            f"{caller}: table must be a (Geo)DataFrame, got {type(table).__name__}."
        )
    check_columns(table, [year] + ([weights] if weights else []), caller=caller)
    if hasattr(table, "geometry") and "geometry" in getattr(table, "columns", []):
        pts = as_xy(table.geometry, caller=caller)
    else:
        check_columns(table, [x, y], caller=caller)
        pts = as_xy(table[[x, y]].to_numpy(dtype=float), caller=caller)
    years = table[year]
    if years.isna().any():
        raise InvalidInputError(
            f"{caller}: {int(years.isna().sum())} rows have no {year}; drop or fill them first."
        )
    rows: list[dict[str, object]] = []
    for yr in sorted(years.unique()):
        mask = (years == yr).to_numpy()
        if mask.sum() < min_points:
            continue
        wts = table.loc[mask, weights].to_numpy(dtype=float) if weights else None
        e = standard_deviational_ellipse(pts[mask], weights=wts, std=std)
        rows.append(
            {
                "year": yr,
                "n": e.n,
                "centre_x": e.centre_x,
                "centre_y": e.centre_y,
                "sigma_x": e.sigma_x,
                "sigma_y": e.sigma_y,
                "rotation_deg": e.rotation_deg,
                "area_m2": e.area_m2,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "year",
            "n",
            "centre_x",
            "centre_y",
            "sigma_x",
            "sigma_y",
            "rotation_deg",
            "area_m2",
        ],
    )
    dx = out["centre_x"].diff()
    dy = out["centre_y"].diff()
    out["shift_m"] = np.hypot(dx, dy)
    bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
    out["direction_deg"] = bearing
    out["direction"] = [
        None if not np.isfinite(b) else _COMPASS[int(((b + 22.5) % 360) // 45)] for b in bearing
    ]
    out["area_change_m2"] = out["area_m2"].diff()
    out["area_change_pct"] = 100.0 * out["area_m2"].pct_change()
    return out
