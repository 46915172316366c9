"""The published-study recipe is exported at the top level under the issue's names."""

from __future__ import annotations

import clusterscape

RECIPE = {
    "moran",
    "MoranResult",
    "local_moran",
    "bivariate_local_moran",
    "geodetector",
    "GeoDetectorResult",
    "average_nearest_neighbour",
    "ANNResult",
    "standard_deviational_ellipse",
    "EllipseResult",
    "ellipse_shift",
    "kernel_density",
    "KDEResult",
    "gwr",
    "mgwr",
    "GWRFit",
    "grid_sweep",
    "SweepResult",
}


def test_recipe_names_are_exported() -> None:
    assert set(clusterscape.__all__) >= RECIPE
    assert list(clusterscape.__all__) == sorted(clusterscape.__all__)
    for name in RECIPE:
        obj = getattr(clusterscape, name)
        assert obj.__module__.startswith(("clusterscape.measure.", "clusterscape.explain."))
