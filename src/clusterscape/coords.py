"""Chinese coordinate systems (WGS-84, GCJ-02, BD-09) and the choice of a local metric CRS.

GCJ-02 ("Mars coordinates") is the obfuscated datum that Amap, Tencent and Google China
publish; BD-09 is Baidu's further rotation of it. In Ningbo a GCJ-02 point sits about 494 m
from its WGS-84 position (288 m south, 401 m east of where it should be), which is the size
of a creative cluster, so every table must be converted before distances mean anything.

The forward formula (WGS-84 -> GCJ-02) is the public one (Krasovsky 1940 ellipsoid, a =
6378245 m, e^2 = 0.00669342162296594323). It has no closed-form inverse, so GCJ-02 ->
WGS-84 and BD-09 -> GCJ-02 are solved by fixed-point iteration to 1e-12 degrees.

**Outside China.** GCJ-02 is only defined inside mainland China. Like Amap's own SDK and
eviltransform, :func:`convert` leaves points outside the rectangle lon 72.004–137.8347,
lat 0.8293–55.8271 unshifted for the GCJ step (GCJ-02 == WGS-84 there); the BD-09 rotation is
still applied, as Baidu does worldwide. Points in that rectangle but outside China's border
(parts of neighbouring countries) are shifted: the rectangle, not the border, is the rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyproj

from clusterscape._validation import check_choice
from clusterscape.errors import CRSError, InvalidInputError

__all__ = ["DATUMS", "convert", "local_metric_crs", "to_local_metric"]

DATUMS = ("wgs84", "gcj02", "bd09")
_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84",
    "cgcs2000": "wgs84", "epsg:4490": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOL = 1e-12
_MAX_ITER = 50


def normalise_datum(name: str, *, caller: str = "convert") -> str:
    """Map spellings such as ``"GCJ-02"`` or ``"EPSG:4326"`` to ``wgs84``/``gcj02``/``bd09``."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        check_choice(key, set(DATUMS), "crs", caller=caller)
    return _ALIASES[key]


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS-84 point."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    six = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += six * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += six * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(radlat) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(
    forward: Any, lon: np.ndarray, lat: np.ndarray, guess: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x) = target by fixed-point iteration x <- x - (forward(x) - target)."""
    x, y = guess
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x = x - ex
        y = y - ey
        if np.all(np.abs(ex) < _TOL) and np.all(np.abs(ey) < _TOL):
            break
    return x, y


def _gcj_to_wgs(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_delta(lon, lat)
    return _invert(_wgs_to_gcj, lon, lat, (lon - dlon, lat - dlat))


def _bd_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(_gcj_to_bd, lon, lat, (z * np.cos(theta), z * np.sin(theta)))


def convert(lon: Any, lat: Any, *, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert longitudes and latitudes between WGS-84, GCJ-02 and BD-09.

    Parameters
    ----------
    lon, lat : array_like
        Degrees, broadcastable to the same shape.
    src, dst : {"wgs84", "gcj02", "bd09"}
        Source and target datum (aliases such as ``"GCJ-02"``, ``"amap"``, ``"baidu"``,
        ``"EPSG:4326"`` and ``"cgcs2000"`` are accepted; CGCS2000 is treated as WGS-84, from
        which it differs by less than a metre).

    Returns
    -------
    (lon, lat) : tuple of float64 ndarrays

    Notes
    -----
    The inverses are iterative and round-trip to better than 1e-9 degrees (about 0.1 mm).
    Points outside China's bounding rectangle get no GCJ offset (see the module docstring).

    Examples
    --------
    >>> lon, lat = convert(121.5527, 29.8746, src="wgs84", dst="gcj02")
    >>> round(float(lon), 6), round(float(lat), 6)
    (121.556852, 29.872012)
    """
    s = normalise_datum(src)
    d = normalise_datum(dst)
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    if s == d:
        return x.copy(), y.copy()
    # Route every conversion through GCJ-02.
    if s == "wgs84":
        x, y = _wgs_to_gcj(x, y)
    elif s == "bd09":
        x, y = _bd_to_gcj(x, y)
    if d == "wgs84":
        return _gcj_to_wgs(x, y)
    if d == "bd09":
        return _gcj_to_bd(x, y)
    return x, y


def local_metric_crs(
    bounds: tuple[float, float, float, float] | None = None,
    *,
    lon: float | None = None,
    lat: float | None = None,
) -> pyproj.CRS:
    """Choose a metric CRS (WGS-84 / UTM) for a study area.

    Give either ``bounds`` (minx, miny, maxx, maxy in WGS-84 degrees) or a central ``lon``
    and ``lat``. The UTM zone of the centre is used: one 6-degree zone covers a whole Chinese
    city, whereas CGCS2000 3-degree Gauss–Krüger zones often split one (Ningbo straddles the
    121.5°E boundary between EPSG:4549 and EPSG:4550). Ningbo gives EPSG:32651.

    Examples
    --------
    >>> local_metric_crs(lon=121.55, lat=29.87).to_epsg()
    32651
    """
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        lon, lat = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    if lon is None or lat is None or not (np.isfinite(lon) and np.isfinite(lat)):
        raise InvalidInputError("local_metric_crs: give bounds=(minx, miny, maxx, maxy) or lon= and lat=.")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise CRSError(
            f"local_metric_crs: centre ({lon}, {lat}) is not in degrees; the data may already be projected."
        )
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return pyproj.CRS.from_epsg(epsg)


def to_local_metric(gdf: Any) -> Any:
    """Return ``gdf`` in metres: projected input as is, geographic input in its UTM zone.

    A GeoDataFrame or GeoSeries without a CRS is refused, since it is impossible to tell
    degrees from metres safely.
    """
    if gdf.crs is None:
        raise CRSError(
            "to_local_metric: the data has no CRS. Set it, e.g. gdf.set_crs('EPSG:4326') for "
            "WGS-84 degrees (convert GCJ-02/BD-09 first with clusterscape.coords.convert)."
        )
    if gdf.crs.is_projected:
        return gdf
    if len(gdf) == 0:
        raise InvalidInputError("to_local_metric: the data is empty; nothing to project.")
    geo = gdf.to_crs("EPSG:4326") if gdf.crs.to_epsg() != 4326 else gdf
    return gdf.to_crs(local_metric_crs(tuple(geo.total_bounds)))
