"""clusterscape: creative-industry clusters, their forms, and their effects on the city.

The main entry points are re-exported here and imported on first use (PEP 562), so that
``import clusterscape`` and the command line start fast; each lives in its own module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"


def _lazy_exports(
    package: str, table: dict[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``__all__``, ``__getattr__`` and ``__dir__`` for a package that imports on first use.

    ``table`` maps each module to the public names it provides, written as one
    whitespace-separated string (``"clusterscape.coords": "convert to_local_metric"``); it is
    the one place where a package lists its public names (``__all__`` is made from it). The
    rule: every module keeps its own ``__all__``, and a package's table names, for each module,
    a subset of it (checked by ``tests/test_exports.py``); the table is kept, split into
    tuples, as the package's ``_EXPORT_TABLE``.
    """
    split = {module: tuple(names.split()) for module, names in table.items()}
    where = {name: module for module, names in split.items() for name in names}
    namespace = sys.modules[package].__dict__
    namespace["_EXPORT_TABLE"] = split

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    # A name that is also the name of its own submodule (explain.geodetector.geodetector) is
    # bound now: importing the submodule later sets the package attribute to the module, and
    # __getattr__ would never be asked again.
    for name, module in where.items():
        if module == f"{package}.{name}":
            namespace[name] = getattr(importlib.import_module(module), name)

    return sorted(where), __getattr__, __dir__


__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.coords": "convert local_metric_crs to_local_metric",
        "clusterscape.detect.clusters": "ClusterResult detect_clusters",
        "clusterscape.effects.did": "amenity_effects",
        "clusterscape.effects.cross": "size_distribution",
        "clusterscape.errors": (
            "ClusterscapeError CRSError InvalidInputError MissingDependencyError"
        ),
        "clusterscape.explain.geodetector": "GeoDetectorResult geodetector",
        "clusterscape.explain.gwr": "GWRFit gwr mgwr",
        "clusterscape.io.establishments": "LoadResult read_establishments",
        "clusterscape.io.writers": "write_layer",
        "clusterscape.lifecycle": "LifecycleResult cluster_lifecycle",
        "clusterscape.measure.autocorrelation": (
            "MoranResult bivariate_local_moran local_moran moran"
        ),
        "clusterscape.measure.centrography": (
            "ANNResult EllipseResult average_nearest_neighbour ellipse_shift "
            "standard_deviational_ellipse"
        ),
        "clusterscape.measure.emerging": "emerging_hotspots",
        "clusterscape.measure.hotspots": "GiStarResult gi_star grid_hotspots",
        "clusterscape.measure.kde": "KDEResult kernel_density",
        "clusterscape.measure.sweep": "SweepResult grid_sweep",
        "clusterscape.results": "SavedStudy load_study write_study",
        "clusterscape.taxonomy": "classify_establishments",
        "clusterscape.typology": "assign_forms",
        "clusterscape.urban": "district_profiles functional_zones urban_centres",
    },
)
__all__ = sorted([*__all__, "__version__"])
