"""Explaining where clusters form: GeoDetector (with OPGD) and (M)GWR. See docs/methods_recipe.md.

``gwr``/``mgwr`` need the optional dependency mgwr (``pip install "clusterscape[gwr]"``); they are
imported on first use so that GeoDetector works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clusterscape.explain.geodetector import GeoDetectorResult, geodetector

__all__ = ["GWRFit", "GeoDetectorResult", "geodetector", "gwr", "mgwr"]

if TYPE_CHECKING:  # pragma: no cover
    from clusterscape.explain.gwr import GWRFit, gwr, mgwr


def __getattr__(name: str) -> Any:
    if name in {"GWRFit", "gwr", "mgwr"}:
        from clusterscape.explain import gwr as module

        return getattr(module, name)
    raise AttributeError(f"module 'clusterscape.explain' has no attribute {name!r}")
