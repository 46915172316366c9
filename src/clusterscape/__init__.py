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
    "CRSError",
    "ClusterResult",
    "ClusterscapeError",
    "GiStarResult",
    "InvalidInputError",
    "LoadResult",
    "MissingDependencyError",
    "__version__",
    "amenity_effects",
    "assign_forms",
    "classify_establishments",
    "convert",
    "detect_clusters",
    "district_profiles",
    "emerging_hotspots",
    "functional_zones",
    "gi_star",
    "grid_hotspots",
    "local_metric_crs",
    "read_establishments",
    "size_distribution",
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
    from clusterscape.hotspots import GiStarResult, gi_star, grid_hotspots
    from clusterscape.io import LoadResult, read_establishments, write_layer
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
