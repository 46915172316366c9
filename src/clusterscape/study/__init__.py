"""The whole study as one call: configuration, the chain of steps, and the partitioned engine.

``config`` holds :class:`StudyConfig` and the typed, validated options of every step;
``run`` holds :func:`run_study` (writing its result is :func:`clusterscape.results.write_study`);
``dask`` the partitioned engine for work beyond one machine.
"""

from __future__ import annotations

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.study.config": (
            "ClassifyOptions DetectOptions EffectsOptions LifecycleOptions MeasureOptions "
            "StudyConfig UrbanCentresOptions UrbanOptions UrbanZonesOptions"
        ),
        "clusterscape.study.run": "StudyInputs StudyResult run_by_city run_study",
    },
)
