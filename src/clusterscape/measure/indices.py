"""Zonal concentration and specialisation indices, Ellison–Glaeser γ, and centrography.

Zonal indices take a regions × industries table of counts or employment (EconGeo's incidence
matrix: regions in rows, industries in columns) as a DataFrame or 2-D array:

* :func:`location_quotient` LQ_ri = (x_ri / x_r) / (x_i / x) (EconGeo ``location_quotient``);
* :func:`krugman` K_r = Σ_i |s_ri − s_i|, s_ri = x_ri/x_r, s_i = x_i/x, without the ½ that
  some texts use (EconGeo ``krugman_index``; Krugman 1991), range [0, 2];
* :func:`hoover` H = ½ Σ_r |x_ri/x_i − p_r/p| (Hoover 1936), range [0, 1];
* :func:`gini` of each industry's distribution over regions (EconGeo ``Gini``);
* :func:`herfindahl` Σ_r (x_ri / x_i)² (EconGeo ``Herfindahl``).

Plant-level: :func:`ellison_glaeser` γ and :func:`ellison_glaeser_coagglomeration` γ^c (Ellison &
Glaeser 1997, JPE 105(5):889–927). Centrography (ArcGIS Mean Center / Standard Distance /
Directional Distribution; CrimeStat ch. 4): :func:`mean_center`, :func:`standard_distance`,
:func:`standard_deviational_ellipse`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from clusterscape._validation import PointsLike, TableLike, as_xy, check_choice
from clusterscape.errors import InvalidInputError

__all__ = [
    "Ellipse",
    "ellison_glaeser",
    "ellison_glaeser_coagglomeration",
    "gini",
    "herfindahl",
    "hoover",
    "krugman",
    "location_quotient",
    "mean_center",
    "standard_deviational_ellipse",
    "standard_distance",
]


def _matrix(mat: Any, *, caller: str) -> pd.DataFrame:
    df = mat.copy() if isinstance(mat, pd.DataFrame) else pd.DataFrame(np.asarray(mat, dtype=float))
    try:
        df = df.astype(float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{caller}: the regions × industries table must be numeric (counts or employment); "
            f"{exc}. Build it with pd.crosstab(df['district'], df['sector'])."
        ) from exc
    if df.ndim != 2 or df.size == 0:
        raise InvalidInputError(f"{caller}: expected a non-empty regions × industries table.")
    v = df.to_numpy()
    if not np.isfinite(v).all() or (v < 0).any():
        raise InvalidInputError(f"{caller}: the table must hold finite values >= 0 (no NaN).")
    if v.sum() <= 0:
        raise InvalidInputError(f"{caller}: the table sums to 0; there is nothing to measure.")
    return df


def location_quotient(mat: TableLike, *, binary: bool = False) -> pd.DataFrame:
    """Location quotient LQ_ri = (x_ri / x_r) / (x_i / x) of every region and industry.

    Parameters
    ----------
    mat : DataFrame or 2-D array
        Regions in rows, industries in columns (counts or employment).
    binary : bool, default False
        Return 1 where LQ >= 1, else 0 (EconGeo ``binary = TRUE``).

    Returns
    -------
    DataFrame
        Same shape and labels as ``mat``; NaN for regions or industries with no activity.
    """
    df = _matrix(mat, caller="indices.location_quotient")
    x = df.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        lq = (x / x.sum(axis=1, keepdims=True)) / (x.sum(axis=0, keepdims=True) / x.sum())
    out = pd.DataFrame(lq, index=df.index, columns=df.columns)
    return (out >= 1).astype(int) if binary else out


def krugman(mat: TableLike) -> pd.Series:
    """Krugman specialisation index of each region, K_r = Σ_i |x_ri/x_r − x_i/x| (EconGeo, no ½).

    0 = same industry mix as the whole area, 2 = no industry in common.
    """
    df = _matrix(mat, caller="indices.krugman")
    x = df.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.abs(x / x.sum(axis=1, keepdims=True) - x.sum(axis=0) / x.sum()).sum(axis=1)
    return pd.Series(k, index=df.index, name="krugman")


def hoover(mat: TableLike, reference: ArrayLike | None = None) -> pd.Series:
    """Hoover (1936) concentration index of each industry, ½ Σ_r |x_ri/x_i − p_r/p|.

    Parameters
    ----------
    mat : DataFrame or 2-D array, regions × industries.
    reference : array of length n_regions, optional
        The benchmark distribution p_r (e.g. population or area, m²); default each region's
        total over all industries.

    Returns
    -------
    Series
        One value per industry in [0, 1]; 0 = distributed like the reference.
    """
    caller = "indices.hoover"
    df = _matrix(mat, caller=caller)
    x = df.to_numpy()
    p = x.sum(axis=1) if reference is None else np.asarray(reference, dtype=float).ravel()
    if p.shape != (x.shape[0],) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise InvalidInputError(
            f"{caller}: reference must give one value >= 0 per region ({x.shape[0]}), got shape "
            f"{p.shape}."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        h = 0.5 * np.abs(x / x.sum(axis=0) - (p / p.sum())[:, None]).sum(axis=0)
    return pd.Series(h, index=df.columns, name="hoover")


def _gini_columns(x: np.ndarray) -> np.ndarray:
    """Gini coefficient of each column of the non-negative array ``x`` (population form).

    ``G = Σ_k (2k − n − 1) x_(k) / (n Σ x)`` over the column sorted ascending (k = 1..n), the
    O(n log n) form of ``Σ_i Σ_j |x_i − x_j| / (2 n² mean(x))`` (Gini 1912); equal values give
    exactly 0, a column summing to 0 gives NaN. The one Gini of the package
    (:func:`clusterscape.typology.gini` uses it too).
    """
    xs = np.sort(np.asarray(x, dtype=float), axis=0)
    n = xs.shape[0]
    k = np.arange(1, n + 1).reshape((n,) + (1,) * (xs.ndim - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum((2 * k - n - 1) * xs, axis=0) / (n * xs.sum(axis=0))


def gini(mat: TableLike) -> pd.Series:
    """Gini coefficient of each industry's distribution over regions (EconGeo ``Gini``).

    G = 2 Σ_k k x_(k) / (n Σ x) − (n + 1)/n with x sorted ascending (k = 1..n regions),
    computed as Σ_k (2k − n − 1) x_(k) / (n Σ x) (the same value, without the cancellation).
    A 1-D input is treated as a single industry.
    """
    arr = np.asarray(mat, dtype=float)
    if arr.ndim == 1:
        mat = pd.DataFrame({"value": arr})
    df = _matrix(mat, caller="indices.gini")
    return pd.Series(_gini_columns(df.to_numpy()), index=df.columns, name="gini")


def herfindahl(mat: TableLike) -> pd.Series:
    """Herfindahl index of each industry over regions, Σ_r (x_ri / x_i)² (EconGeo)."""
    arr = np.asarray(mat, dtype=float)
    if arr.ndim == 1:
        mat = pd.DataFrame({"value": arr})
    df = _matrix(mat, caller="indices.herfindahl")
    x = df.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        h = ((x / x.sum(axis=0)) ** 2).sum(axis=0)
    return pd.Series(h, index=df.columns, name="herfindahl")


def _plants(area, employment, caller):
    a = np.asarray(area, dtype=object).ravel()
    e = np.asarray(employment, dtype=float).ravel()
    if a.shape != e.shape:
        raise InvalidInputError(f"{caller}: area and employment must have one entry per plant.")
    if not np.isfinite(e).all() or (e < 0).any() or e.sum() <= 0:
        raise InvalidInputError(
            f"{caller}: employment must be finite and >= 0 for every plant (fill unknown "
            "headcounts first), with a positive total."
        )
    codes = pd.factorize(pd.Series(a))[0]
    if (codes < 0).any():
        raise InvalidInputError(f"{caller}: area has missing values; assign every plant an area.")
    x = np.bincount(codes, weights=e) / e.sum()
    return codes, e, x


def _eg_parts(codes, e, x, mask):
    ei = e[mask]
    if ei.sum() <= 0:
        raise InvalidInputError("indices.ellison_glaeser: the industry has no employment.")
    s = np.bincount(codes[mask], weights=ei, minlength=len(x)) / ei.sum()
    g = float(((s - x) ** 2).sum())
    h = float(((ei / ei.sum()) ** 2).sum())
    return g, h


def ellison_glaeser(area: ArrayLike, employment: ArrayLike, in_industry: ArrayLike) -> float:
    """Ellison & Glaeser (1997) agglomeration index γ of one industry.

    γ = [G − (1 − Σ_r x_r²) H] / [(1 − Σ_r x_r²)(1 − H)], with G = Σ_r (s_r − x_r)², s_r the
    industry's employment share in area r, x_r the area's share of all employment, and
    H = Σ_k z_k² the Herfindahl of the industry's plant employment shares. γ = 0 under the
    dartboard null; γ > 0.05 is conventionally "highly concentrated", < 0.02 "weakly".

    Parameters
    ----------
    area : array of length n_plants
        Area (e.g. district) of every plant, all industries.
    employment : array of float
        Employment of every plant.
    in_industry : array of bool
        True for the plants of the industry studied.

    Returns
    -------
    float
        γ (dimensionless).
    """
    caller = "indices.ellison_glaeser"
    codes, e, x = _plants(area, employment, caller)
    mask = np.asarray(in_industry, dtype=bool).ravel()
    if mask.shape != e.shape or not mask.any():
        raise InvalidInputError(f"{caller}: in_industry must be one bool per plant, some True.")
    g, h = _eg_parts(codes, e, x, mask)
    sx2 = float((x**2).sum())
    if h >= 1 or sx2 >= 1:
        raise InvalidInputError(
            f"{caller}: γ is undefined with a single plant (H = 1) or a single area; got "
            f"H = {h:.3f}, Σx² = {sx2:.3f}."
        )
    return (g - (1 - sx2) * h) / ((1 - sx2) * (1 - h))


def ellison_glaeser_coagglomeration(
    area: ArrayLike,
    employment: ArrayLike,
    industry: ArrayLike,
    industries: Sequence[Any],
) -> float:
    """Ellison & Glaeser (1997, eq. 11) co-agglomeration index γ^c of a group of industries.

    γ^c = [G/(1 − Σ x²) − H − Σ_j γ_j w_j² (1 − H_j)] / (1 − Σ_j w_j²), with G and H those of
    the group pooled, w_j industry j's share of group employment, γ_j and H_j its own γ and
    plant Herfindahl. γ^c = 0 when the industries locate independently.

    Parameters
    ----------
    area, employment : arrays of length n_plants (all plants)
    industry : array of length n_plants, the industry label of each plant
    industries : list of at least two labels forming the group
    """
    caller = "indices.ellison_glaeser_coagglomeration"
    codes, e, x = _plants(area, employment, caller)
    ind = np.asarray(industry, dtype=object).ravel()
    group = list(industries)
    if len(group) < 2:
        raise InvalidInputError(f"{caller}: industries must name at least two industries.")
    sx2 = float((x**2).sum())
    pooled = np.isin(ind, group)
    g, h = _eg_parts(codes, e, x, pooled)
    tot = e[pooled].sum()
    acc, w2 = 0.0, 0.0
    for j in group:
        m = ind == j
        if not m.any():
            raise InvalidInputError(f"{caller}: no plant has industry {j!r}.")
        gj, hj = _eg_parts(codes, e, x, m)
        gam = (gj - (1 - sx2) * hj) / ((1 - sx2) * (1 - hj))
        wj = e[m].sum() / tot
        acc += gam * wj**2 * (1 - hj)
        w2 += wj**2
    return (g / (1 - sx2) - h - acc) / (1 - w2)


# ------------------------------------------------------------------------ centrography
def _w(weights, n, caller):
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InvalidInputError(
            f"{caller}: weights must be one value >= 0 per point, positive sum."
        )
    return w


def mean_center(xy: PointsLike, *, weights: ArrayLike | None = None) -> tuple[float, float]:
    """(Weighted) mean centre (x̄, ȳ) in metres (ArcGIS Mean Center)."""
    pts = as_xy(xy, caller="indices.mean_center", min_points=1)
    w = _w(weights, len(pts), "indices.mean_center")
    c = np.average(pts, axis=0, weights=w)
    return float(c[0]), float(c[1])


def standard_distance(xy: PointsLike, *, weights: ArrayLike | None = None) -> float:
    """Standard distance sqrt(Σ w[(x − x̄)² + (y − ȳ)²] / Σ w) in metres (ArcGIS, pointpats)."""
    pts = as_xy(xy, caller="indices.standard_distance", min_points=1)
    w = _w(weights, len(pts), "indices.standard_distance")
    c = np.average(pts, axis=0, weights=w)
    return float(np.sqrt((w * ((pts - c) ** 2).sum(axis=1)).sum() / w.sum()))


@dataclass(frozen=True)
class Ellipse:
    """Standard deviational ellipse: centre (m), semi-axes (m), orientation.

    ``angle_rad`` is the anticlockwise angle of the major axis from the x (east) axis in
    [0, π); ``rotation_deg`` is ArcGIS's clockwise angle from north in [0, 180).
    """

    center_x: float
    center_y: float
    major_m: float
    minor_m: float
    angle_rad: float

    @property
    def rotation_deg(self) -> float:
        """Rotation of the major axis clockwise from north, degrees in [0, 180)."""
        return float((90.0 - np.degrees(self.angle_rad)) % 180.0)

    def to_polygon(self, *, n_vertices: int = 64) -> Any:
        """The ellipse as a shapely Polygon."""
        from shapely.geometry import Polygon

        t = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
        ca, sa = np.cos(self.angle_rad), np.sin(self.angle_rad)
        u, v = self.major_m * np.cos(t), self.minor_m * np.sin(t)
        return Polygon(
            np.column_stack([self.center_x + u * ca - v * sa, self.center_y + u * sa + v * ca])
        )


def standard_deviational_ellipse(
    xy: PointsLike, *, weights: ArrayLike | None = None, method: str = "crimestat"
) -> Ellipse:
    """Standard deviational ellipse (Lefever 1926; CrimeStat ch. 4; ArcGIS Directional Distribution).

    The axes are the principal directions of the (weighted) covariance of the coordinates;
    the semi-axes are the standard deviations along them, scaled by √2 (so the ellipse holds
    about 63 % of a bivariate normal), and for ``"crimestat"`` also by √(n/(n−2)) (its degrees-
    of-freedom correction; pointpats ``ellipse`` default).

    Parameters
    ----------
    xy : (n, 2) array or projected GeoSeries, metres (n >= 3).
    weights : array, optional
    method : {"crimestat", "arcgis", "raw"}, default "crimestat"
        Scaling of the axes: √2·√(n/(n−2)), √2, or 1.

    Returns
    -------
    Ellipse
    """
    caller = "indices.standard_deviational_ellipse"
    check_choice(method, {"crimestat", "arcgis", "raw"}, "method", caller=caller)
    pts = as_xy(xy, caller=caller, min_points=3)
    w = _w(weights, len(pts), caller)
    c = np.average(pts, axis=0, weights=w)
    d = pts - c
    cov = (d * w[:, None]).T @ d / w.sum()
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 0, None)
    major, minor = np.sqrt(vals[1]), np.sqrt(vals[0])
    n = len(pts)
    f = {"crimestat": np.sqrt(2.0) * np.sqrt(n / (n - 2.0)), "arcgis": np.sqrt(2.0), "raw": 1.0}[
        method
    ]
    ang = float(np.arctan2(vecs[1, 1], vecs[0, 1]) % np.pi)
    return Ellipse(float(c[0]), float(c[1]), float(major * f), float(minor * f), ang)
