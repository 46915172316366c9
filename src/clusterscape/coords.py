"""Chinese coordinate systems (WGS-84, GCJ-02, BD-09, BD-09MC) and the choice of a local metric CRS.

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

**BD-09MC.** Baidu Mercator ("bd09mc", metres) is what Baidu's map tiles, its JavaScript API
(``lngLatToMercator``) and some of its web responses use. It is not a true Mercator projection
but Baidu's piecewise polynomial fit on BD-09 degrees, in six latitude bands (0, 15, 30, 45, 60,
75 degrees; |y| bands at 0, 1678043.12, 3481989.83, 5591021, 8362377.87, 12890594.86 m), as
published in Baidu's JavaScript API (the ``LL2MC`` and ``MC2LL`` tables). BD-09 -> BD-09MC is
Baidu's ``LL2MC`` table; BD-09MC -> BD-09 starts from Baidu's ``MC2LL`` table and is refined by
Newton steps to the exact inverse of ``LL2MC`` (the two published tables are separate fits that
disagree by up to 6e-8 degrees below 30 degrees N, 3e-7 below 45, 2.4e-6 below 60), so a round
trip returns the input to about 1e-10 degrees. Tiananmen, BD-09 (116.403874, 39.914889), is
BD-09MC (12958160.97, 4825907.72) in Baidu's own converter.

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
    "METRIC_DATUMS",
    "bd09_to_bd09mc",
    "bd09mc_to_bd09",
    "convert",
    "is_datum_name",
    "local_metric_crs",
    "normalise_datum",
    "resolve_datum",
    "split_datum_crs",
    "to_local_metric",
]

DATUMS = ("wgs84", "gcj02", "bd09", "bd09mc")
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
    "bd09mc": "bd09mc",
    "bd-09mc": "bd09mc",
    "bd09_mc": "bd09mc",
    "bd-09-mc": "bd09mc",
    "bdmc": "bd09mc",
    "baidu_mercator": "bd09mc",
    "baidu-mercator": "bd09mc",
}
#: Datums in metres (Baidu Mercator); the others are longitude/latitude degrees.
METRIC_DATUMS = frozenset({"bd09mc"})

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


# Baidu Mercator (BD-09MC): Baidu's published band tables (JavaScript API, ``MCBAND``/``LLBAND``,
# ``MC2LL``/``LL2MC``). Row i applies from band[i] upwards (|lat| in degrees, |y| in metres);
# columns: x0, x1 (x = x0 + x1*|x_in|), then y = sum c[2+k] t^k (k = 0..6) with t = |y_in|/c[9].
_MC_BAND = np.array([12890594.86, 8362377.87, 5591021.0, 3481989.83, 1678043.12, 0.0])
_LL_BAND = np.array([75.0, 60.0, 45.0, 30.0, 15.0, 0.0])
# fmt: off
_MC2LL = np.array([
    [1.410526172116255e-8, 8.98305509648872e-6, -1.9939833816331, 200.9824383106796,
     -187.2403703815547, 91.6087516669843, -23.38765649603339, 2.57121317296198,
     -0.03801003308653, 17337981.2],
    [-7.435856389565537e-9, 8.983055097726239e-6, -0.78625201886289, 96.32687599759846,
     -1.85204757529826, -59.36935905485877, 47.40033549296737, -16.50741931063887,
     2.28786674699375, 10260144.86],
    [-3.030883460898826e-8, 8.98305509983578e-6, 0.30071316287616, 59.74293618442277,
     7.357984074871, -25.38371002664745, 13.45380521110908, -3.29883767235584,
     0.32710905363475, 6856817.37],
    [-1.981981304930552e-8, 8.983055099779535e-6, 0.03278182852591, 40.31678527705744,
     0.65659298677277, -4.44255534477492, 0.85341911805263, 0.12923347998204,
     -0.04625736007561, 4482777.06],
    [3.09191371068437e-9, 8.983055096812155e-6, 6.995724062e-5, 23.10934304144901,
     -2.3663490511e-4, -0.6321817810242, -0.00663494467273, 0.03430082397953,
     -0.00466043876332, 2555164.4],
    [2.890871144776878e-9, 8.983055095805407e-6, -3.068298e-8, 7.47137025468032,
     -3.53937994e-6, -0.02145144861037, -1.234426596e-5, 1.0322952773e-4,
     -3.23890364e-6, 826088.5],
])
_LL2MC = np.array([
    [-0.0015702102444, 111320.7020616939, 1704480524535203.0, -10338987376042340.0,
     26112667856603880.0, -35149669176653700.0, 26595700718403920.0, -10725012454188240.0,
     1800819912950474.0, 82.5],
    [8.277824516172526e-4, 111320.7020463578, 6.477955746671607e8, -4.082003173641316e9,
     1.077490566351142e10, -1.517187553151559e10, 1.205306533862167e10, -5.124939663577472e9,
     9.133119359512032e8, 67.5],
    [0.00337398766765, 111320.7020202162, 4481351.045890365, -2.339375119931662e7,
     7.968221547186455e7, -1.159649932797253e8, 9.723671115602145e7, -4.366194633752821e7,
     8477230.501135234, 52.5],
    [0.00220636496208, 111320.7020209128, 51751.86112841131, 3796837.749470245,
     992013.7397791013, -1221952.21711287, 1340652.697009075, -620943.6990984312,
     144416.9293806241, 37.5],
    [-3.441963504368392e-4, 111320.7020576856, 278.2353980772752, 2485758.690035394,
     6070.750963243378, 54821.18345352118, 9540.606633304236, -2710.55326746645,
     1405.483844121726, 22.5],
    [-3.218135878613132e-4, 111320.7020701615, 0.00369383431289, 823725.6402795718,
     0.46104986909093, 2351.343141331292, 1.58060784298199, 8.77738589078284,
     0.37238884252424, 7.45],
])
# fmt: on


def _band_rows(value: np.ndarray, bands: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The table row of each |value| (the first band it reaches, bands in descending order)."""
    idx = np.sum(np.abs(value)[:, None] < bands[None, :], axis=1)
    return table[np.minimum(idx, len(bands) - 1)]


def _band_poly(c: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, derivative) of the band polynomial in |a| for rows ``c``."""
    t = a / c[:, 9]
    y = c[:, 8]
    dy = np.zeros_like(t)
    for k in range(7, 1, -1):
        dy = dy * t + y
        y = y * t + c[:, k]
    return y, dy / c[:, 9]


def _as_pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    ax, ay = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return ax.ravel(), ay.ravel(), ax.shape


def bd09_to_bd09mc(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 degrees to Baidu Mercator metres (Baidu's ``LL2MC`` band table).

    Examples
    --------
    >>> x, y = bd09_to_bd09mc(116.403874, 39.914889)  # Tiananmen, as in Baidu's converter
    >>> round(float(x), 2), round(float(y), 2)
    (12958160.97, 4825907.72)
    """
    x, y, shape = _as_pair(lon, lat)
    c = _band_rows(y, _LL_BAND, _LL2MC)
    mx = c[:, 0] + c[:, 1] * np.abs(x)
    my, _ = _band_poly(c, np.abs(y))
    return np.copysign(mx, x).reshape(shape), np.copysign(my, y).reshape(shape)


def bd09mc_to_bd09(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Baidu Mercator metres to BD-09 degrees: the inverse of :func:`bd09_to_bd09mc`.

    Baidu's ``MC2LL`` table gives the first estimate; Newton steps on the ``LL2MC`` polynomial
    then make it the inverse of :func:`bd09_to_bd09mc` to about 1e-10 degrees.

    Examples
    --------
    >>> lon, lat = bd09mc_to_bd09(12958160.97, 4825907.72)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.403874, 39.914889)
    """
    mx, my, shape = _as_pair(x, y)
    ax, ay = np.abs(mx), np.abs(my)
    c = _band_rows(ay, _MC_BAND, _MC2LL)
    lat, _ = _band_poly(c, ay)
    lat = np.abs(lat)
    for _ in range(30):
        rows = _band_rows(lat, _LL_BAND, _LL2MC)
        f, df = _band_poly(rows, lat)
        step = (f - ay) / np.where(df > 0, df, np.inf)
        lat = np.maximum(lat - step, 0.0)
        if not np.any(np.abs(step) > 1e-12):
            break
    rows = _band_rows(lat, _LL_BAND, _LL2MC)
    lon = (ax - rows[:, 0]) / rows[:, 1]
    return np.copysign(lon, mx).reshape(shape), np.copysign(lat, my).reshape(shape)


def normalise_datum(name: str, *, caller: str = "convert", param: str = "datum") -> str:
    """Map spellings such as ``"GCJ-02"`` or ``"EPSG:4326"`` to a name in :data:`DATUMS`.

    ``"bd09mc"`` (``"baidu_mercator"``) is Baidu Mercator in metres. ``param`` is the
    parameter named in the error. A projected or other coordinate reference
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
    """Convert coordinates between WGS-84, GCJ-02, BD-09 and BD-09MC (Baidu Mercator).

    Parameters
    ----------
    lon, lat : array_like
        Degrees (metres x, y for ``"bd09mc"``), broadcastable to the same shape.
    src, dst : {"wgs84", "gcj02", "bd09", "bd09mc"}
        Source and target datum (aliases such as ``"GCJ-02"``, ``"amap"``, ``"baidu"``,
        ``"baidu_mercator"``,
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
    docstring). NaN coordinates stay NaN. ``"bd09mc"`` goes through BD-09 with Baidu's band
    tables (:func:`bd09_to_bd09mc`, :func:`bd09mc_to_bd09`).

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
    if s == "bd09mc":  # Baidu Mercator metres -> BD-09 degrees, then on as BD-09
        fx, fy = bd09mc_to_bd09(fx, fy)
        s = "bd09"
        if d == "bd09":
            return fx.reshape(shape), fy.reshape(shape)
    to_mc = d == "bd09mc"
    if to_mc:
        d = "bd09"
        if s == "bd09":
            mx, my = bd09_to_bd09mc(fx, fy)
            return mx.reshape(shape), my.reshape(shape)
    # Route every conversion through GCJ-02.
    if s == "wgs84":
        fx, fy = _run(_k_wgs_gcj, fx, fy)
    elif s == "bd09":
        fx, fy = _run_inverse(fx, fy, bd=True)
    if d == "wgs84":
        fx, fy = _run_inverse(fx, fy, bd=False)
    elif d == "bd09":
        fx, fy = _run(_k_gcj_bd, fx, fy)
    if to_mc:
        fx, fy = bd09_to_bd09mc(fx, fy)
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
