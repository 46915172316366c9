"""Measuring concentration: point patterns, hot spots, densities, indices and the published recipe.

``pattern`` (K/L/Kinhom/Kd/M, envelopes, co-location; spatstat/dbmss conventions), ``hotspots``
(Gi*), ``emerging`` (space-time hot spots), ``density`` and ``kde`` (kernel density, ArcGIS
preset), ``indices`` (Gini, location quotients), ``autocorrelation`` (Moran's I, LISA, bivariate
LISA; esda/GeoDa conventions), ``centrography`` (ArcGIS average nearest neighbour and standard
deviational ellipse), ``sweep`` (the same statistics over grid sizes), ``recipe`` (them all in
the order published studies use). See docs/methods_recipe.md.
"""

from __future__ import annotations

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.measure._weights": "h3_weights",
        "clusterscape.measure.autocorrelation": (
            "MoranResult bivariate_local_moran local_moran moran"
        ),
        "clusterscape.measure.centrography": (
            "ANNResult EllipseResult average_nearest_neighbour ellipse_polygon ellipse_shift "
            "standard_deviational_ellipse"
        ),
        "clusterscape.measure.kde": "KDEResult kernel_density",
        "clusterscape.measure.sweep": "SweepResult grid_sweep plot_grid_sweep",
    },
)
