"""Cluster detection: HDBSCAN (exact MST), grid DBSCAN and their significance.

``clusters`` holds the public entry point :func:`detect_clusters`; ``_mst``, ``_hdbscan`` and
``_dbscan`` are the numba kernels behind it.
"""

from __future__ import annotations

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.detect.clusters": (
            "ClusterResult arcgis_default_eps cluster_profiles core_density csr_default_eps "
            "dbscan_labels default_min_cluster_size detect_clusters hdbscan_labels why_no_clusters"
        ),
    },
)
