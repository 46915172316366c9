"""Explaining where clusters form: GeoDetector (with OPGD) and (M)GWR. See docs/methods_recipe.md.

``gwr``/``mgwr`` need the optional dependency mgwr (``pip install "clusterscape[gwr]"``); they are
imported on first use so that GeoDetector works without it.
"""

from __future__ import annotations

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.explain.geodetector": "GeoDetectorResult geodetector",
        "clusterscape.explain.gwr": "GWRFit gwr mgwr",
    },
)
