"""clusterscape.coords against prcoords 1.0.2 (independent implementation) and known values.

Tolerances: 1e-6 degrees (about 0.1 m) against prcoords' published functions in all four
directions over China; 1e-9 degrees against prcoords' iterative inverse run to a tight
epsilon; round trips below 1e-9 degrees (the issue asks for 1e-7).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import prcoords
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from clusterscape.coords import convert, local_metric_crs, to_local_metric
from clusterscape.errors import CRSError, InvalidInputError

# Mainland China and its islands, inside the GCJ-02 rectangle with a margin.
LON = (73.5, 135.0)
LAT = (3.9, 53.5)

PEERS = {
    ("wgs84", "gcj02"): prcoords.wgs_gcj,
    ("gcj02", "wgs84"): prcoords.gcj_wgs_bored,
    ("wgs84", "bd09"): prcoords.wgs_bd,
    ("bd09", "wgs84"): prcoords.bd_wgs_bored,
    ("gcj02", "bd09"): prcoords.gcj_bd,
    ("bd09", "gcj02"): prcoords.bd_gcj_bored,
}


def china_sample() -> tuple[np.ndarray, np.ndarray]:
    """A 40 x 30 grid over China plus 1,000 seeded random points."""
    gx, gy = np.meshgrid(np.linspace(*LON, 40), np.linspace(*LAT, 30))
    rng = np.random.default_rng(42)
    lon = np.concatenate([gx.ravel(), rng.uniform(*LON, 1000)])
    lat = np.concatenate([gy.ravel(), rng.uniform(*LAT, 1000)])
    return lon, lat


def peer(fn, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = [fn((la, lo)) for lo, la in zip(lon, lat, strict=True)]
    return np.array([c.lon for c in out]), np.array([c.lat for c in out])


@pytest.mark.parametrize(("src", "dst"), list(PEERS))
def test_agrees_with_prcoords_over_china(src: str, dst: str) -> None:
    lon, lat = china_sample()
    ours = convert(lon, lat, src=src, dst=dst)
    ref = peer(PEERS[(src, dst)], lon, lat)
    assert np.abs(ours[0] - ref[0]).max() < 1e-6
    assert np.abs(ours[1] - ref[1]).max() < 1e-6
    # the shift itself is real: typically hundreds of metres, not a no-op
    assert np.median(np.hypot(ours[0] - lon, ours[1] - lat)) > 1e-3


@pytest.mark.parametrize(("src", "dst"), [("gcj02", "wgs84"), ("bd09", "wgs84"), ("bd09", "gcj02")])
def test_inverse_matches_prcoords_run_to_tight_epsilon(
    src: str, dst: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prcoords stops its fixed-point iteration at 1e-5 degrees by default (errors ~1e-7);
    # with a tight epsilon it converges to the exact inverse, which ours must match.
    monkeypatch.setattr(prcoords, "PRC_EPS", 1e-13)
    lon, lat = china_sample()
    ours = convert(lon, lat, src=src, dst=dst)
    ref = peer(PEERS[(src, dst)], lon, lat)
    assert np.abs(ours[0] - ref[0]).max() < 1e-9
    assert np.abs(ours[1] - ref[1]).max() < 1e-9


def test_forward_matches_prcoords_to_rounding() -> None:
    lon, lat = china_sample()
    for (src, dst), fn in PEERS.items():
        if src == "wgs84" or (src, dst) == ("gcj02", "bd09"):
            ours = convert(lon, lat, src=src, dst=dst)
            ref = peer(fn, lon, lat)
            assert np.abs(ours[0] - ref[0]).max() < 1e-12
            assert np.abs(ours[1] - ref[1]).max() < 1e-12


china_lon = st.floats(min_value=LON[0], max_value=LON[1], allow_nan=False)
china_lat = st.floats(min_value=LAT[0], max_value=LAT[1], allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_wgs_gcj(lon: float, lat: float) -> None:
    x, y = convert(lon, lat, src="wgs84", dst="gcj02")
    x2, y2 = convert(x, y, src="gcj02", dst="wgs84")
    assert abs(float(x2) - lon) < 1e-9
    assert abs(float(y2) - lat) < 1e-9


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_wgs_bd(lon: float, lat: float) -> None:
    x, y = convert(lon, lat, src="wgs84", dst="bd09")
    x2, y2 = convert(x, y, src="bd09", dst="wgs84")
    assert abs(float(x2) - lon) < 1e-9
    assert abs(float(y2) - lat) < 1e-9


@settings(max_examples=200, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_inverse_first(lon: float, lat: float) -> None:
    # gcj -> wgs -> gcj and bd -> gcj -> bd: the inverse is a true right inverse too
    x, y = convert(lon, lat, src="gcj02", dst="wgs84")
    x2, y2 = convert(x, y, src="wgs84", dst="gcj02")
    assert abs(float(x2) - lon) < 1e-9 and abs(float(y2) - lat) < 1e-9
    x, y = convert(lon, lat, src="bd09", dst="gcj02")
    x2, y2 = convert(x, y, src="gcj02", dst="bd09")
    assert abs(float(x2) - lon) < 1e-9 and abs(float(y2) - lat) < 1e-9


def test_ningbo_known_values() -> None:
    # METHODS.md §6: WGS-84 (29.8746 N, 121.5527 E) -> GCJ-02 (29.872012, 121.556852),
    # BD-09 (29.878370, 121.563255); about 288 m south, 401 m east, ~494 m in total.
    x, y = convert(121.5527, 29.8746, src="wgs84", dst="gcj02")
    assert (round(float(x), 6), round(float(y), 6)) == (121.556852, 29.872012)
    bx, by = convert(121.5527, 29.8746, src="wgs84", dst="bd09")
    assert abs(float(bx) - 121.563255) < 1e-6 and abs(float(by) - 29.878370) < 1e-6
    geod = pyproj.Geod(ellps="WGS84")
    _, _, dist = geod.inv(121.5527, 29.8746, float(x), float(y))
    assert dist == pytest.approx(494, abs=2)
    _, _, south = geod.inv(121.5527, 29.8746, 121.5527, float(y))
    assert south == pytest.approx(288, abs=2)


def test_outside_china_gcj_is_identity_bd_still_rotates() -> None:
    lon = np.array([2.3522, -74.006, 151.2093, 72.0, 121.5])
    lat = np.array([48.8566, 40.7128, -33.8688, 30.0, 56.0])  # Paris, NYC, Sydney, edges
    for src, dst in [("wgs84", "gcj02"), ("gcj02", "wgs84")]:
        x, y = convert(lon, lat, src=src, dst=dst)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)
    bx, by = convert(lon, lat, src="wgs84", dst="bd09")
    ref = peer(prcoords.gcj_bd, lon, lat)  # GCJ step is the identity here
    np.testing.assert_allclose(bx, ref[0], atol=1e-12)
    np.testing.assert_allclose(by, ref[1], atol=1e-12)
    x2, y2 = convert(bx, by, src="bd09", dst="wgs84")
    np.testing.assert_allclose(x2, lon, atol=1e-9)
    np.testing.assert_allclose(y2, lat, atol=1e-9)


def test_edge_band_without_preimage_terminates() -> None:
    # GCJ values just inside the rectangle's west edge have no WGS-84 preimage: the
    # iteration oscillates; it must stop after its cap and return finite numbers.
    x, y = convert([72.0045, 72.006], [30.0, 30.0], src="gcj02", dst="wgs84")
    assert np.isfinite(x).all() and np.isfinite(y).all()
    assert np.abs(x - 72.005).max() < 0.01


def test_nan_shapes_and_inputs_untouched() -> None:
    lon = np.array([[121.55, np.nan], [120.0, 121.0]])
    lat = np.array([[29.87, 30.0], [np.nan, 31.0]])
    keep = lon.copy(), lat.copy()
    for src, dst in PEERS:
        x, y = convert(lon, lat, src=src, dst=dst)
        assert x.shape == y.shape == (2, 2)
        assert np.isnan(x[0, 1]) and np.isnan(y[1, 0])
        assert np.isfinite(x[1, 1]) and np.isfinite(y[0, 0])
    np.testing.assert_array_equal(lon, keep[0])
    np.testing.assert_array_equal(lat, keep[1])
    x, y = convert(121.0, [29.0, 30.0], src="wgs84", dst="gcj02")  # broadcasting
    assert x.shape == (2,)
    x, y = convert(121.0, 29.0, src="wgs84", dst="wgs84")
    assert x.shape == () and float(x) == 121.0
    x, y = convert([], [], src="bd09", dst="wgs84")
    assert x.shape == (0,)


def test_aliases_and_bad_datum() -> None:
    a = convert(121.5, 29.9, src="WGS-84", dst="GCJ-02")
    b = convert(121.5, 29.9, src="epsg:4326", dst="amap")
    assert float(a[0]) == float(b[0])
    c = convert(121.5, 29.9, src="cgcs2000", dst="baidu")
    d = convert(121.5, 29.9, src="wgs84", dst="bd09")
    assert float(c[1]) == float(d[1])
    with pytest.raises(InvalidInputError, match="src='utm'"):
        convert(121.5, 29.9, src="utm", dst="wgs84")


def test_local_metric_crs_ningbo_and_others() -> None:
    assert local_metric_crs(lon=121.55, lat=29.87).to_epsg() == 32651
    # Ningbo's extent crosses the CGCS2000 3-degree boundary at 121.5 E; UTM 51N covers it
    assert local_metric_crs((120.9, 28.85, 122.3, 30.4)).to_epsg() == 32651
    assert local_metric_crs(lon=116.4, lat=39.9).to_epsg() == 32650  # Beijing
    assert local_metric_crs(lon=151.2, lat=-33.9).to_epsg() == 32756  # Sydney
    with pytest.raises(CRSError, match="not in degrees"):
        local_metric_crs(lon=500000.0, lat=3300000.0)
    with pytest.raises(InvalidInputError, match="bounds"):
        local_metric_crs()


def test_to_local_metric() -> None:
    pts = gpd.GeoDataFrame(geometry=[Point(121.5, 29.8), Point(121.6, 29.9)])
    with pytest.raises(CRSError, match="no CRS"):
        to_local_metric(pts)
    geo = pts.set_crs("EPSG:4326")
    metric = to_local_metric(geo)
    assert metric.crs.to_epsg() == 32651
    assert geo.crs.to_epsg() == 4326  # input untouched
    # ~ 14.5 km between the two points, as pyproj's geodesic says (UTM scale error < 0.1 %)
    _, _, dist = pyproj.Geod(ellps="WGS84").inv(121.5, 29.8, 121.6, 29.9)
    assert metric.geometry.iloc[0].distance(metric.geometry.iloc[1]) == pytest.approx(
        dist, rel=1e-3
    )
    assert to_local_metric(metric) is metric
    with pytest.raises(InvalidInputError, match="empty"):
        to_local_metric(geo.iloc[:0])
