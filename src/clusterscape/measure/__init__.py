"""What published cluster studies measure: autocorrelation, centrography, kernel density, grid sweeps.

``autocorrelation`` (Moran's I, LISA, bivariate LISA; esda/GeoDa conventions), ``centrography``
(ArcGIS average nearest neighbour and standard deviational ellipse), ``kde`` (ArcGIS kernel
density) and ``sweep`` (the same statistics over grid sizes). See docs/methods_recipe.md.
"""

from __future__ import annotations

from clusterscape.measure._weights import h3_weights
from clusterscape.measure.autocorrelation import (
    MoranResult,
    bivariate_local_moran,
    local_moran,
    moran,
)
from clusterscape.measure.centrography import (
    ANNResult,
    EllipseResult,
    average_nearest_neighbour,
    ellipse_polygon,
    ellipse_shift,
    standard_deviational_ellipse,
)
from clusterscape.measure.kde import KDEResult, kernel_density
from clusterscape.measure.sweep import SweepResult, grid_sweep, plot_grid_sweep

__all__ = [
    "ANNResult",
    "EllipseResult",
    "KDEResult",
    "MoranResult",
    "SweepResult",
    "average_nearest_neighbour",
    "bivariate_local_moran",
    "ellipse_polygon",
    "ellipse_shift",
    "grid_sweep",
    "h3_weights",
    "kernel_density",
    "local_moran",
    "moran",
    "plot_grid_sweep",
    "standard_deviational_ellipse",
]
