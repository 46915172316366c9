"""What clusters do to the city: event-study effects on hotels and malls, co-location, sizes.

``did`` is the staggered difference-in-differences in distance rings (:func:`amenity_effects`);
``cross`` the cross-sectional co-location, distance decay and size distribution; ``opening`` the
one rule for a cluster's opening year, shared with :mod:`clusterscape.typology`.
"""

from __future__ import annotations

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.effects.did": (
            "AmenityEffectResult amenity_effects cluster_opening_years core_footprints "
            "select_clusters"
        ),
        "clusterscape.effects.cross": (
            "SizeDistribution amenity_colocation distance_decay size_distribution"
        ),
        "clusterscape.effects.opening": "founding_year match_parks",
    },
)
