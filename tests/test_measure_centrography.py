"""ANN and the standard deviational ellipse against the ArcGIS formulas computed by hand."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.measure.centrography import (
    average_nearest_neighbour,
    ellipse_polygon,
    ellipse_shift,
    standard_deviational_ellipse,
)


def _rotate(xy: np.ndarray, deg: float) -> np.ndarray:
    t = math.radians(deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return xy @ rot.T


def test_ann_by_hand_on_a_lattice() -> None:
    # 10 x 10 lattice, spacing 100 m: every nearest neighbour is at 100 m
    g = np.arange(10) * 100.0
    xy = np.array([(a, b) for a in g for b in g])
    res = average_nearest_neighbour(xy, area_m2=1_000_000.0)
    n, area = 100, 1_000_000.0
    de = 0.5 / math.sqrt(n / area)  # 50 m
    se = 0.26136 / math.sqrt(n**2 / area)
    assert res.observed_m == pytest.approx(100.0)
    assert res.expected_m == pytest.approx(de)
    assert res.ratio == pytest.approx(100.0 / de)
    assert res.z == pytest.approx((100.0 - de) / se)
    assert res.p_value < 1e-10
    assert res.params["area_source"] == "area_m2"


def test_ann_default_area_is_minimum_rotated_rectangle() -> None:
    rng = np.random.default_rng(0)
    xy = _rotate(rng.uniform(0, [2000, 500], size=(400, 2)), 30.0)
    res = average_nearest_neighbour(xy)
    # the rotated 2000 x 500 rectangle, not the larger axis-aligned extent
    assert res.area_m2 == pytest.approx(2000 * 500, rel=0.02)
    extent = np.ptp(xy[:, 0]) * np.ptp(xy[:, 1])
    assert extent > 1.5 * res.area_m2
    assert res.params["area_source"] == "minimum enclosing rectangle"
    # CSR in that rectangle: ratio near 1 (a little above: no edge correction, as ArcGIS)
    assert 0.95 < res.ratio < 1.15


def test_ann_clustered_and_window() -> None:
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, 5000, size=(10, 2))
    xy = np.repeat(centres, 30, axis=0) + rng.normal(0, 40, size=(300, 2))
    window = shapely.box(0, 0, 5000, 5000)
    res = average_nearest_neighbour(xy, window=window)
    assert res.area_m2 == pytest.approx(25e6)
    assert res.ratio < 0.5 and res.z < -10


def test_ann_refuses_degrees_and_collinear() -> None:
    pts = gpd.GeoSeries(gpd.points_from_xy([121.5, 121.6, 121.7], [29.8, 29.9, 29.7]), crs=4326)
    with pytest.raises(CRSError, match="metres"):
        average_nearest_neighbour(pts)
    with pytest.raises(InvalidInputError, match="collinear"):
        average_nearest_neighbour(np.c_[np.arange(5.0), np.arange(5.0)])


def _arcgis_by_hand(xy: np.ndarray) -> tuple[float, float, float]:
    """ArcGIS Pro's printed formulas, literally (needs Σx̃ỹ != 0)."""
    d = xy - xy.mean(axis=0)
    xt, yt = d[:, 0], d[:, 1]
    a = (xt**2).sum() - (yt**2).sum()
    b = math.sqrt(a**2 + 4 * (xt * yt).sum() ** 2)
    c = 2 * (xt * yt).sum()
    theta = math.atan((a + b) / c)
    n = len(xy)
    sx = math.sqrt(2) * math.sqrt(((xt * math.cos(theta) - yt * math.sin(theta)) ** 2).sum() / n)
    sy = math.sqrt(2) * math.sqrt(((xt * math.sin(theta) + yt * math.cos(theta)) ** 2).sum() / n)
    return sx, sy, math.degrees(theta) % 180


@pytest.mark.parametrize("bearing", [20.0, 60.0, 135.0, 170.0])
def test_sde_equals_arcgis_formulas_and_planted_axes(bearing: float) -> None:
    rng = np.random.default_rng(int(bearing))
    local = rng.normal(0, [100.0, 300.0], size=(20000, 2))  # long axis along local y
    xy = _rotate(local, -bearing) + np.array(
        [5000.0, 8000.0]
    )  # clockwise by the bearing from north
    res = standard_deviational_ellipse(xy)
    sx, sy, rot = _arcgis_by_hand(xy)
    assert res.sigma_x == pytest.approx(sx, rel=1e-9)
    assert res.sigma_y == pytest.approx(sy, rel=1e-9)
    assert res.rotation_deg == pytest.approx(rot, abs=1e-9)
    # planted truth: √2 σ along each axis, the long one at the bearing
    assert res.sigma_y == pytest.approx(math.sqrt(2) * 300, rel=0.02)
    assert res.sigma_x == pytest.approx(math.sqrt(2) * 100, rel=0.02)
    assert res.rotation_deg == pytest.approx(bearing, abs=1.0)
    assert res.area_m2 == pytest.approx(math.pi * res.sigma_x * res.sigma_y)
    # the √2 convention: one standard deviation holds 1 − e^−1 ≈ 63 % of a bivariate normal
    inside = shapely.contains_xy(ellipse_polygon(res, 360), xy[:, 0], xy[:, 1]).mean()
    assert inside == pytest.approx(1 - math.exp(-1), abs=0.015)
    assert (res.centre_x, res.centre_y) == pytest.approx((5000, 8000), abs=10)


def test_sde_std_and_weights() -> None:
    rng = np.random.default_rng(3)
    xy = rng.normal(0, [50, 200], size=(500, 2))
    one = standard_deviational_ellipse(xy)
    two = standard_deviational_ellipse(xy, std=2.0)
    assert two.sigma_y == pytest.approx(2 * one.sigma_y)
    # integer weights = repeated points
    w = rng.integers(1, 4, size=500)
    weighted = standard_deviational_ellipse(xy, weights=w)
    repeated = standard_deviational_ellipse(np.repeat(xy, w, axis=0))
    for attr in ("centre_x", "centre_y", "sigma_x", "sigma_y", "rotation_deg"):
        assert getattr(weighted, attr) == pytest.approx(getattr(repeated, attr), rel=1e-9)
    with pytest.raises(InvalidInputError, match="non-negative"):
        standard_deviational_ellipse(xy, weights=-w)


def test_ellipse_shift_direction_distance_area() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(0, 100, size=(3000, 2))
    b = rng.normal(0, 200, size=(3000, 2)) + np.array(
        [1000.0, 1000.0]
    )  # moved north-east, 4x the area
    table = pd.DataFrame(np.r_[a, b], columns=["x", "y"]).assign(year=[2015] * 3000 + [2020] * 3000)
    out = ellipse_shift(table)
    assert list(out["year"]) == [2015, 2020]
    last = out.iloc[1]
    assert last["shift_m"] == pytest.approx(math.hypot(1000, 1000), rel=0.02)
    assert last["direction_deg"] == pytest.approx(45, abs=2)
    assert last["direction"] == "NE"
    assert last["area_change_pct"] == pytest.approx(300, rel=0.1)
    assert np.isnan(out.iloc[0]["shift_m"])
    gdf = gpd.GeoDataFrame(
        table[["year"]], geometry=gpd.points_from_xy(table.x, table.y), crs=32651
    )
    pd.testing.assert_frame_equal(ellipse_shift(gdf), out)


def test_ellipse_shift_missing_year_is_refused() -> None:
    table = pd.DataFrame(
        {"x": [0.0, 1, 2, 3], "y": [0.0, 2, 1, 3], "year": [2000, None, 2000, 2000]}
    )
    with pytest.raises(InvalidInputError, match="1 rows have no year"):
        ellipse_shift(table)
