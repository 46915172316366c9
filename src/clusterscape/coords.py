"""Chinese coordinate systems (WGS-84, GCJ-02, BD-09) and the choice of a local metric CRS.

GCJ-02 ("Mars coordinates") is the obfuscated datum that Amap, Tencent and Google China
publish; BD-09 is Baidu's further rotation of it. In Ningbo a GCJ-02 point sits about 494 m
from its WGS-84 position (288 m south, 401 m east of where it should be), which is the size
of a creative cluster, so every table must be converted before distances mean anything.

The forward formula (WGS-84 -> GCJ-02) is the public one (Krasovsky 1940 ellipsoid, a =
6378245 m, e^2 = 0.00669342162296594323), as in prcoords and eviltransform. It has no
closed-form inverse, so GCJ-02 -> WGS-84 and BD-09 -> GCJ-02 are solved by fixed-point
iteration (Caijun 2014, the "bored" method of prcoords) until the last step is below 1e-11
degrees, which leaves a round-trip error below 1e-9 degrees (about 0.1 mm).

**Outside China.** GCJ-02 is only defined inside mainland China. Like Amap's own SDK and
eviltransform, :func:`convert` leaves points outside the rectangle lon 72.004–137.8347,
lat 0.8293–55.8271 unshifted for the GCJ step (GCJ-02 == WGS-84 there); the BD-09 rotation is
still applied, as Baidu does worldwide. Points in that rectangle but outside China's border
(parts of neighbouring countries) are shifted: the rectangle, not the border, is the rule.
Within about 0.01 degrees inside the rectangle's edge (open sea, Pamir, Russia) some GCJ-02
values have no WGS-84 preimage; there the inverse returns its last iterate. NaN in gives NaN out.

**Speed.** The kernels are compiled with numba (single-threaded). The sines and cosines of the
GCJ formula are derived from one polynomial sine/cosine per axis by multiple-angle identities
(all arguments lie within +/-1.8 rad inside the rectangle), so the loops vectorise: on one
core about 40 million points/s forward and about 8 million points/s for the iterative
inverse (CPU time; benchmarks/results/io.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyproj
from numba import njit
from numpy.typing import ArrayLike

from clusterscape._validation import check_choice
from clusterscape.errors import CRSError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

#: A GeoDataFrame or GeoSeries (to_local_metric returns the kind it is given).
GeoFrameOrSeries: TypeAlias = "gpd.GeoDataFrame | gpd.GeoSeries"

__all__ = [
    "DATUMS",
    "convert",
    "is_datum_name",
    "local_metric_crs",
    "normalise_datum",
    "resolve_datum",
    "split_datum_crs",
    "to_local_metric",
]

DATUMS = ("wgs84", "gcj02", "bd09")
_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "cgcs2000": "wgs84",
    "epsg:4490": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "mars": "gcj02",
    "amap": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
}

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_KLAT = (1.0 - _EE) * _A * math.pi / 180.0
_KLON = _A * math.pi / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006
_TOL = 1e-11  # degrees; a last fixed-point step below this leaves an error below ~1e-12
_MAX_ITER = 50

# Taylor coefficients of sin and cos (terms to t^23 / t^22): exact to rounding for |t| <= 1.9.
_S = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(12))
_C = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(12))
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9, _S10, _S11 = _S
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11 = _C


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _horner12(
    u: float,
    k0: float,
    k1: float,
    k2: float,
    k3: float,
    k4: float,
    k5: float,
    k6: float,
    k7: float,
    k8: float,
    k9: float,
    k10: float,
    k11: float,
) -> float:  # pragma: no cover - compiled
    """k0 + k1·u + ... + k11·u¹¹ by Horner's rule (the coefficients are passed as scalars)."""
    p = k11
    p = p * u + k10
    p = p * u + k9
    p = p * u + k8
    p = p * u + k7
    p = p * u + k6
    p = p * u + k5
    p = p * u + k4
    p = p * u + k3
    p = p * u + k2
    p = p * u + k1
    p = p * u + k0
    return p


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _sincos(t: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """sin(t), cos(t) for |t| <= 1.9 rad by Horner's rule (vectorisable, no libm call)."""
    u = t * t
    s = _horner12(u, _S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9, _S10, _S11)
    c = _horner12(u, _C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11)
    return s * t, c


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _sinpi_cospi(u: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """sin(pi*u), cos(pi*u) for any finite u: reduce u mod 2, then a half-angle polynomial."""
    r = u - 2.0 * np.floor(u * 0.5 + 0.5)  # r in [-1, 1)
    s, c = _sincos(r * (math.pi / 2.0))
    return 2.0 * s * c, c * c - s * s


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _angles(t: float) -> tuple[float, float, float, float, float, float]:  # pragma: no cover
    """sin(pi t/30), sin(pi t/12), sin(pi t/3), sin(pi t), sin(2 pi t), sin(6 pi t).

    One sine/cosine of phi = pi t/60 and the identities for 2x, 5x, 2x, 2x, 3x, 2x, 3x the
    angle (the rounding error grows at most 360-fold, to ~4e-14, i.e. ~1e-12 m in the offset).
    """
    s1, c1 = _sincos(t * (math.pi / 60.0))
    s2 = 2.0 * s1 * c1
    s1s = s1 * s1
    c1s = c1 * c1
    s5 = s1 * (5.0 - 20.0 * s1s + 16.0 * s1s * s1s)
    c5 = c1 * (5.0 - 20.0 * c1s + 16.0 * c1s * c1s)
    s10 = 2.0 * s5 * c5
    c10 = c5 * c5 - s5 * s5
    s20 = 2.0 * s10 * c10
    c20 = c10 * c10 - s10 * s10
    s60 = s20 * (3.0 - 4.0 * s20 * s20)
    c60 = c20 * (4.0 * c20 * c20 - 3.0)
    s120 = 2.0 * s60 * c60
    s360 = s120 * (3.0 - 4.0 * s120 * s120)
    return s2, s5, s20, s60, s120, s360


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _gcj_delta(lon: float, lat: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS-84 point (0 outside China)."""
    x = lon - 105.0
    y = lat - 35.0
    xs2, xs5, xs20, xs60, xs120, xs360 = _angles(x)
    ys2, ys5, ys20, ys60, _, _ = _angles(y)
    sq = math.sqrt(abs(x))
    six = 20.0 * xs360 + 20.0 * xs120
    dlat_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sq
        + (six + 20.0 * ys60 + 40.0 * ys20 + 160.0 * ys5 + 320.0 * ys2) * (2.0 / 3.0)
    )
    dlon_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sq
        + (six + 20.0 * xs60 + 40.0 * xs20 + 150.0 * xs5 + 300.0 * xs2) * (2.0 / 3.0)
    )
    sl, cl = _sincos(lat * (math.pi / 180.0))
    magic = 1.0 - _EE * sl * sl
    sm = math.sqrt(magic)
    inside = (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    dlat = dlat_m * (magic * sm) / _KLAT
    dlon = dlon_m * sm / (_KLON * cl)
    return (dlon if inside else 0.0), (dlat if inside else 0.0)


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _gcj_bd1(x: float, y: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """GCJ-02 -> BD-09 for one point, without atan2: rotate (x, y) by a tiny angle b."""
    r = math.sqrt(x * x + y * y)
    sy, _ = _sinpi_cospi(y * (3000.0 / 180.0))
    _, cx = _sinpi_cospi(x * (3000.0 / 180.0))
    z = r + 0.00002 * sy
    b = 0.000003 * cx
    cb = 1.0 - 0.5 * b * b
    sb = b - b * b * b / 6.0
    zero = r == 0.0
    ca = 1.0 if zero else x / r
    sa = 0.0 if zero else y / r
    return z * (ca * cb - sa * sb) + _BD_DLON, z * (sa * cb + ca * sb) + _BD_DLAT


@njit(cache=True, nogil=True, error_model="numpy")
def _k_wgs_gcj(lon, lat, out_lon, out_lat):  # type: ignore[no-untyped-def]  # pragma: no cover
    for i in range(lon.size):
        dx, dy = _gcj_delta(lon[i], lat[i])
        out_lon[i] = lon[i] + dx
        out_lat[i] = lat[i] + dy


@njit(cache=True, nogil=True, error_model="numpy")
def _k_gcj_bd(lon, lat, out_lon, out_lat):  # type: ignore[no-untyped-def]  # pragma: no cover
    for i in range(lon.size):
        out_lon[i], out_lat[i] = _gcj_bd1(lon[i], lat[i])


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _gcj_step(
    x: float, y: float, big_x: float, big_y: float
) -> tuple[float, float]:  # pragma: no cover
    """One fixed-point step of GCJ-02 -> WGS-84: x <- X - delta(x)."""
    dx, dy = _gcj_delta(x, y)
    return big_x - dx, big_y - dy


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _bd_step(
    x: float, y: float, big_x: float, big_y: float
) -> tuple[float, float]:  # pragma: no cover
    """One fixed-point step of BD-09 -> GCJ-02: x <- x - (bd(x) - X)."""
    fx, fy = _gcj_bd1(x, y)
    return x - (fx - big_x), y - (fy - big_y)


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _bd_gcj_guess(big_x: float, big_y: float) -> tuple[float, float]:  # pragma: no cover
    """Baidu's approximate inverse (error ~1e-7 degrees), without atan2."""
    x = big_x - _BD_DLON
    y = big_y - _BD_DLAT
    r = math.sqrt(x * x + y * y)
    sy, _ = _sinpi_cospi(y * (3000.0 / 180.0))
    _, cx = _sinpi_cospi(x * (3000.0 / 180.0))
    z = r - 0.00002 * sy
    b = -0.000003 * cx
    cb = 1.0 - 0.5 * b * b
    sb = b - b * b * b / 6.0
    zero = r == 0.0
    ca = 1.0 if zero else x / r
    sa = 0.0 if zero else y / r
    return z * (ca * cb - sa * sb), z * (sa * cb + ca * sb)


@njit(inline="always", cache=True, nogil=True, error_model="numpy")
def _inverse_step(
    bd: bool, x: float, y: float, big_x: float, big_y: float
) -> tuple[float, float]:  # pragma: no cover
    """One fixed-point step of BD-09 -> GCJ-02 (``bd``) or GCJ-02 -> WGS-84."""
    if bd:
        return _bd_step(x, y, big_x, big_y)
    return _gcj_step(x, y, big_x, big_y)


@njit(cache=True, nogil=True, error_model="numpy")
def _k_inverse(lon, lat, out_lon, out_lat, todo, bd):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Invert GCJ-02 -> WGS-84 or (``bd``) BD-09 -> GCJ-02 by fixed-point iteration.

    GCJ-02: five unrolled steps from x = X (contraction ~6e-3). BD-09: Baidu's approximate
    inverse, then four unrolled steps (contraction ~2e-2). Both vectorise; the points whose last
    step still moved more than the tolerance are finished one by one.
    """
    for i in range(lon.size):
        big_x = lon[i]
        big_y = lat[i]
        if bd:
            x, y = _bd_gcj_guess(big_x, big_y)
        else:
            x, y = _gcj_step(big_x, big_y, big_x, big_y)
        x, y = _inverse_step(bd, x, y, big_x, big_y)
        x, y = _inverse_step(bd, x, y, big_x, big_y)
        px, py = _inverse_step(bd, x, y, big_x, big_y)
        x, y = _inverse_step(bd, px, py, big_x, big_y)
        out_lon[i] = x
        out_lat[i] = y
        todo[i] = (abs(x - px) > _TOL) | (abs(y - py) > _TOL)
    for j in np.flatnonzero(todo):
        big_x = lon[j]
        big_y = lat[j]
        x = out_lon[j]
        y = out_lat[j]
        for _ in range(_MAX_ITER):
            nx, ny = _inverse_step(bd, x, y, big_x, big_y)
            done = abs(nx - x) <= _TOL and abs(ny - y) <= _TOL
            x = nx
            y = ny
            if done:
                break
        out_lon[j] = x
        out_lat[j] = y


def normalise_datum(name: str, *, caller: str = "convert", param: str = "datum") -> str:
    """Map spellings such as ``"GCJ-02"`` or ``"EPSG:4326"`` to ``wgs84``/``gcj02``/``bd09``.

    ``param`` is the parameter named in the error. A projected or other coordinate reference
    system given as ``datum`` (``"EPSG:32651"``) is refused with a message that names ``crs=``.
    """
    key = str(name).strip().lower()
    if key not in _ALIASES:
        if param == "datum" and _is_crs(name):
            raise InvalidInputError(
                f"{caller}: {param}={name!r} is a coordinate reference system, not a datum; "
                f"pass it as crs={name!r}. {param}= is one of {', '.join(DATUMS)} (WGS-84, "
                "GCJ-02 as Amap/Tencent, BD-09 as Baidu)."
            )
        check_choice(key, set(DATUMS), param, caller=caller)
    return _ALIASES[key]


def _is_crs(value: Any) -> bool:
    try:
        pyproj.CRS.from_user_input(value)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        return False
    return True


def is_datum_name(value: Any) -> bool:
    """True for a datum spelling (``"gcj02"``, ``"baidu"``), False for a CRS or EPSG code."""
    if not isinstance(value, str):
        return False
    key = value.strip().lower()
    return key in _ALIASES and not (key.startswith("epsg:") or key.isdigit())


def _deprecated_crs(crs: str, datum: str | None, *, caller: str, stacklevel: int) -> str:
    """The datum named by a deprecated ``crs=<datum>``, warning once (conflicts refused)."""
    import warnings

    key = normalise_datum(crs, caller=caller, param="crs")
    if datum is not None and normalise_datum(datum, caller=caller) != key:
        raise InvalidInputError(
            f"{caller}: datum={datum!r} and crs={crs!r} disagree; give the datum once, as "
            "datum= (crs= is for coordinate reference systems such as 'EPSG:32651')."
        )
    warnings.warn(
        f"{caller}: crs={crs!r} names a datum; pass datum={key!r} instead. crs= is for "
        "coordinate reference systems such as 'EPSG:32651'; datum names given as crs= will "
        "stop working in the next release.",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return key


def resolve_datum(datum: str | None, crs: Any = None, *, caller: str, stacklevel: int = 2) -> str:
    """The datum of a reader that takes degrees only (``datum=``, deprecated ``crs=``).

    ``datum=None`` means WGS-84. A datum name given as ``crs=`` still works with a
    :class:`DeprecationWarning` (``stacklevel`` counts from the caller of this function, so
    the default points at the caller's caller); a real CRS given as ``crs=`` is refused,
    since these readers take longitude/latitude degrees.
    """
    if crs is not None:
        if isinstance(crs, str) and crs.strip().lower() in _ALIASES:
            return _deprecated_crs(crs, datum, caller=caller, stacklevel=stacklevel + 1)
        if _is_crs(crs):
            raise InvalidInputError(
                f"{caller}: crs={crs!r} is not supported here: this reader takes "
                f"longitude/latitude degrees in a datum, datum= one of {', '.join(DATUMS)}."
            )
        raise InvalidInputError(
            f"{caller}: crs={crs!r} is not one of {', '.join(DATUMS)}; give the datum as "
            "datum= (crs= naming a datum is deprecated)."
        )
    return normalise_datum("wgs84" if datum is None else datum, caller=caller)


def split_datum_crs(
    datum: str | None, crs: Any = None, *, caller: str, stacklevel: int = 2
) -> tuple[str, Any]:
    """``(datum, crs)`` for a reader that takes both: a datum for degrees, a CRS for x/y.

    ``crs=<datum name>`` (deprecated) is moved to the datum with a
    :class:`DeprecationWarning`; ``datum=<CRS>`` is refused naming ``crs=``. The returned
    ``crs`` is None or whatever was given (parsed by the reader).
    """
    if is_datum_name(crs):
        return _deprecated_crs(crs, datum, caller=caller, stacklevel=stacklevel + 1), None
    return normalise_datum("wgs84" if datum is None else datum, caller=caller), crs


def _run(kernel: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_x = np.empty_like(x)
    out_y = np.empty_like(y)
    kernel(x, y, out_x, out_y)
    return out_x, out_y


def _run_inverse(x: np.ndarray, y: np.ndarray, *, bd: bool) -> tuple[np.ndarray, np.ndarray]:
    out_x = np.empty_like(x)
    out_y = np.empty_like(y)
    _k_inverse(x, y, out_x, out_y, np.empty(x.size, dtype=np.bool_), bd)
    return out_x, out_y


def convert(lon: ArrayLike, lat: ArrayLike, *, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
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
        Degrees, in the broadcast shape of the inputs (0-d for scalars). Inputs are never
        modified.

    Notes
    -----
    The forward formulas agree with prcoords 1.0.2 (``wgs_gcj``, ``gcj_bd``) to about 1e-13
    degrees. The inverses are iterative and round-trip to better than 1e-9 degrees (about
    0.1 mm). Points outside China's bounding rectangle get no GCJ offset (see the module
    docstring). NaN coordinates stay NaN.

    References
    ----------
    Wang, M. (2016) PRCoords, https://github.com/Artoria2e5/PRCoords (formula and the
    iterative "bored" inverse after Caijun 2014, geoChina).

    Examples
    --------
    >>> lon, lat = convert(121.5527, 29.8746, src="wgs84", dst="gcj02")
    >>> round(float(lon), 6), round(float(lat), 6)
    (121.556852, 29.872012)
    """
    s = normalise_datum(src, param="src")
    d = normalise_datum(dst, param="dst")
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    shape = x.shape
    if s == d:
        return x.copy(), y.copy()
    fx = np.ascontiguousarray(x.ravel())
    fy = np.ascontiguousarray(y.ravel())
    # Route every conversion through GCJ-02.
    if s == "wgs84":
        fx, fy = _run(_k_wgs_gcj, fx, fy)
    elif s == "bd09":
        fx, fy = _run_inverse(fx, fy, bd=True)
    if d == "wgs84":
        fx, fy = _run_inverse(fx, fy, bd=False)
    elif d == "bd09":
        fx, fy = _run(_k_gcj_bd, fx, fy)
    return fx.reshape(shape), fy.reshape(shape)


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
        raise InvalidInputError(
            "local_metric_crs: give bounds=(minx, miny, maxx, maxy) or lon= and lat=."
        )
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise CRSError(
            f"local_metric_crs: centre ({lon}, {lat}) is not in degrees; the data may already be projected."
        )
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return pyproj.CRS.from_epsg(epsg)


def to_local_metric(gdf: GeoFrameOrSeries) -> GeoFrameOrSeries:
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
