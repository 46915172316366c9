"""clusterscape: creative-industry clusters, their forms, and their effects on the city.

The main entry points are re-exported here and imported on first use (PEP 562), so that
``import clusterscape`` and the command line start fast; each lives in its own module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "convert": "clusterscape.coords",
    "local_metric_crs": "clusterscape.coords",
    "to_local_metric": "clusterscape.coords",
    "ClusterResult": "clusterscape.detect",
    "detect_clusters": "clusterscape.detect",
    "amenity_effects": "clusterscape.effects",
    "emerging_hotspots": "clusterscape.effects",
    "size_distribution": "clusterscape.effects",
    "ClusterscapeError": "clusterscape.errors",
    "CRSError": "clusterscape.errors",
    "InvalidInputError": "clusterscape.errors",
    "MissingDependencyError": "clusterscape.errors",
    "GeoDetectorResult": "clusterscape.explain.geodetector",
    "geodetector": "clusterscape.explain.geodetector",
    "GWRFit": "clusterscape.explain.gwr",
    "gwr": "clusterscape.explain.gwr",
    "mgwr": "clusterscape.explain.gwr",
    "MoranResult": "clusterscape.measure.autocorrelation",
    "bivariate_local_moran": "clusterscape.measure.autocorrelation",
    "local_moran": "clusterscape.measure.autocorrelation",
    "moran": "clusterscape.measure.autocorrelation",
    "ANNResult": "clusterscape.measure.centrography",
    "EllipseResult": "clusterscape.measure.centrography",
    "average_nearest_neighbour": "clusterscape.measure.centrography",
    "ellipse_shift": "clusterscape.measure.centrography",
    "standard_deviational_ellipse": "clusterscape.measure.centrography",
    "KDEResult": "clusterscape.measure.kde",
    "kernel_density": "clusterscape.measure.kde",
    "SweepResult": "clusterscape.measure.sweep",
    "grid_sweep": "clusterscape.measure.sweep",
    "GiStarResult": "clusterscape.hotspots",
    "gi_star": "clusterscape.hotspots",
    "grid_hotspots": "clusterscape.hotspots",
    "LoadResult": "clusterscape.io",
    "read_establishments": "clusterscape.io",
    "write_layer": "clusterscape.io",
    "classify_establishments": "clusterscape.taxonomy",
    "assign_forms": "clusterscape.typology",
    "district_profiles": "clusterscape.urban",
    "functional_zones": "clusterscape.urban",
    "urban_centres": "clusterscape.urban",
}

__all__ = [
    "ANNResult",
    "CRSError",
    "ClusterResult",
    "ClusterscapeError",
    "EllipseResult",
    "GWRFit",
    "GeoDetectorResult",
    "GiStarResult",
    "InvalidInputError",
    "KDEResult",
    "LoadResult",
    "MissingDependencyError",
    "MoranResult",
    "SweepResult",
    "__version__",
    "amenity_effects",
    "assign_forms",
    "average_nearest_neighbour",
    "bivariate_local_moran",
    "classify_establishments",
    "convert",
    "detect_clusters",
    "district_profiles",
    "ellipse_shift",
    "emerging_hotspots",
    "functional_zones",
    "geodetector",
    "gi_star",
    "grid_hotspots",
    "grid_sweep",
    "gwr",
    "kernel_density",
    "local_metric_crs",
    "local_moran",
    "mgwr",
    "moran",
    "read_establishments",
    "size_distribution",
    "standard_deviational_ellipse",
    "to_local_metric",
    "urban_centres",
    "write_layer",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from clusterscape.coords import convert, local_metric_crs, to_local_metric
    from clusterscape.detect import ClusterResult, detect_clusters
    from clusterscape.effects import amenity_effects, emerging_hotspots, size_distribution
    from clusterscape.errors import (
        ClusterscapeError,
        CRSError,
        InvalidInputError,
        MissingDependencyError,
    )
    from clusterscape.explain.geodetector import GeoDetectorResult, geodetector
    from clusterscape.explain.gwr import GWRFit, gwr, mgwr
    from clusterscape.hotspots import GiStarResult, gi_star, grid_hotspots
    from clusterscape.io import LoadResult, read_establishments, write_layer
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
        ellipse_shift,
        standard_deviational_ellipse,
    )
    from clusterscape.measure.kde import KDEResult, kernel_density
    from clusterscape.measure.sweep import SweepResult, grid_sweep
    from clusterscape.taxonomy import classify_establishments
    from clusterscape.typology import assign_forms
    from clusterscape.urban import district_profiles, functional_zones, urban_centres


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'clusterscape' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
