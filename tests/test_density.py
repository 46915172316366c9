"""Gaussian KDE by binning + FFT against direct summation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.measure.density import density_surface, direct_density


def _pattern(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack(
        [
            rng.normal((400, 600), 60, (1500, 2)),
            rng.normal((800, 300), 120, (1000, 2)),
            rng.uniform(-200, 1200, (1500, 2)),  # some points outside the window
        ]
    )


def test_within_1e3_of_direct_summation():
    xy = _pattern()
    kw = {"bandwidth_m": 40.0, "cell_m": 4.0, "window": (0, 0, 1000, 1000)}
    fast, extent = density_surface(xy, **kw)
    exact = direct_density(xy, **kw)
    assert fast.shape == exact.shape == (250, 250)
    assert extent == (0, 1000, 0, 1000)
    # measured: 2.1e-4 of the maximum (cell = bandwidth / 10)
    assert np.abs(fast - exact).max() <= 1e-3 * exact.max()
    # relative error cell by cell where the density is not negligible
    mask = exact > 1e-3 * exact.max()
    assert (np.abs(fast - exact)[mask] / exact[mask]).max() <= 1e-3


def test_direct_summation_is_the_formula():
    pts = np.array([[10.0, 20.0], [35.0, 5.0]])
    grid = direct_density(pts, bandwidth_m=7.0, cell_m=5.0, window=(0, 0, 50, 30))
    cx, cy = 2.5 + 5 * 3, 2.5 + 5 * 4  # column 3, row 4 (rows go north)
    expect = sum(
        np.exp(-((cx - x) ** 2 + (cy - y) ** 2) / (2 * 49.0)) / (2 * np.pi * 49.0) for x, y in pts
    )
    assert grid[4, 3] == pytest.approx(expect, rel=1e-12)


def test_integrates_to_n_and_weights():
    rng = np.random.default_rng(1)
    xy = rng.uniform(300, 700, (500, 2))
    grid, _ = density_surface(xy, bandwidth_m=20, cell_m=5, window=(0, 0, 1000, 1000))
    assert grid.sum() * 25 == pytest.approx(500, rel=1e-6)  # kernel truncated at 6 h
    w = rng.uniform(1, 10, 500)
    gw, _ = density_surface(xy, bandwidth_m=20, cell_m=5, window=(0, 0, 1000, 1000), weights=w)
    assert gw.sum() * 25 == pytest.approx(w.sum(), rel=1e-6)
    assert gw.max() > grid.max()


def test_peak_where_the_points_are_and_orientation():
    xy = np.array([[900.0, 100.0]] * 10)  # south-east corner
    grid, _ = density_surface(xy, bandwidth_m=30, cell_m=10, window=(0, 0, 1000, 1000))
    row, col = np.unravel_index(grid.argmax(), grid.shape)
    assert (row, col) in {(9, 89), (9, 90), (10, 89), (10, 90)}


def test_window_geometry_and_geoseries():
    xy = _pattern(2)
    gs = gpd.GeoSeries(gpd.points_from_xy(*xy.T), crs=32651)
    a, ext = density_surface(gs, bandwidth_m=50, cell_m=10, window=shapely.box(0, 0, 1000, 800))
    b, _ = density_surface(xy, bandwidth_m=50, cell_m=10, window=(0, 0, 1000, 800))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (80, 100)
    assert ext == (0, 1000, 0, 800)


def test_errors():
    xy = _pattern()
    with pytest.raises(InvalidInputError, match="bandwidth_m"):
        density_surface(xy, bandwidth_m=0, cell_m=1, window=(0, 0, 10, 10))
    with pytest.raises(InvalidInputError, match="empty"):
        density_surface(xy, bandwidth_m=5, cell_m=1, window=(0, 0, 0, 10))
    with pytest.raises(InvalidInputError, match="too large"):
        density_surface(xy, bandwidth_m=5, cell_m=0.01, window=(0, 0, 1000, 1000))
    geo = gpd.GeoSeries(gpd.points_from_xy([121.5], [29.9]), crs=4326)
    with pytest.raises(CRSError, match="metres"):
        density_surface(geo, bandwidth_m=5, cell_m=1, window=(0, 0, 10, 10))
