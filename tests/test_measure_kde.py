"""ArcGIS-preset kernel density against the quartic formula and the default rules by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.measure.kde import arcgis_search_radius, kernel_density


@pytest.fixture(scope="module")
def pts() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.r_[rng.normal([2000, 3000], 300, (400, 2)), rng.uniform(0, [5000, 4000], (200, 2))]


def test_default_radius_by_hand(pts: np.ndarray) -> None:
    centre = pts.mean(axis=0)
    d = np.hypot(*(pts - centre).T)
    sd = math.sqrt(((pts - centre) ** 2).sum(axis=1).mean())  # ArcGIS standard distance
    expected = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * np.median(d)) * len(pts) ** -0.2
    assert arcgis_search_radius(pts) == pytest.approx(expected, rel=1e-12)


def test_density_equals_quartic_formula_by_hand(pts: np.ndarray) -> None:
    res = kernel_density(pts)
    xmin, ymin = pts.min(axis=0)
    xmax, ymax = pts.max(axis=0)
    assert res.cell_m == pytest.approx(min(xmax - xmin, ymax - ymin) / 250)
    assert res.radius_m == pytest.approx(arcgis_search_radius(pts))
    r = res.radius_m
    rng = np.random.default_rng(1)
    for i, j in zip(
        rng.integers(0, res.density.shape[0], 25),
        rng.integers(0, res.density.shape[1], 25),
        strict=True,
    ):
        d = np.hypot(pts[:, 0] - res.x[j], pts[:, 1] - res.y[i])
        inside = d < r
        by_hand = (3 / math.pi * (1 - (d[inside] / r) ** 2) ** 2).sum() / r**2 * 1e6  # per km²
        assert res.density[i, j] == pytest.approx(by_hand, rel=1e-9, abs=1e-12)
    assert res.y[0] > res.y[-1]  # row 0 is the north


def test_mass_is_the_number_of_points(pts: np.ndarray) -> None:
    # with the extent padded by the radius, the surface integrates to n (per km² -> x cell²/1e6)
    r = 250.0
    xmin, ymin = pts.min(axis=0) - r
    xmax, ymax = pts.max(axis=0) + r
    res = kernel_density(pts, radius_m=r, cell_m=10.0, extent=(xmin, ymin, xmax, ymax))
    assert res.density.sum() * res.cell_m**2 / 1e6 == pytest.approx(len(pts), rel=0.01)
    w = np.full(len(pts), 3.0)
    heavy = kernel_density(
        pts, weights=w, radius_m=r, cell_m=10.0, extent=(xmin, ymin, xmax, ymax), units="m2"
    )
    np.testing.assert_allclose(heavy.density * 1e6, 3 * res.density, rtol=1e-12)


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="preset"):
        kernel_density(np.random.default_rng(0).uniform(size=(10, 2)), preset="qgis")
    with pytest.raises(InvalidInputError, match="on a line"):
        kernel_density(np.c_[np.arange(5.0), np.zeros(5)])
