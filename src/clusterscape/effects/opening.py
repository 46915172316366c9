"""One rule for a cluster's opening year.

Shared by :mod:`clusterscape.typology` and :mod:`clusterscape.effects.did`.

**Registry match.** A park of the registry matches a cluster when it is the park nearest to
the cluster's footprint (distance to the polygon, 0 inside; ties broken by the distance to the
footprint's centroid) and lies within ``match_m`` metres of it (``match_m`` times
``approximate_factor`` for parks whose registry ``location`` is ``"approximate"``). When
several clusters have the same park as their nearest, the park belongs to the closest of them
only (a park opens one cluster). A matched cluster's opening year is the park's ``opened``
(source ``"registry"``).

**Founding rule.** A cluster without a matched park (or whose park has no year) opens in the
first year by which ``share`` (default 25 %) of its dated member firms had opened (source
``"25% of firms"``); without dated members it has no opening year (source ``""``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["APPROXIMATE_FACTOR", "FOUNDING_SHARE", "MATCH_M", "founding_year", "match_parks"]

MATCH_M = 1000.0
"""A registry park matches a cluster within this distance (m) of the footprint."""
APPROXIMATE_FACTOR = 2.0
"""Multiplier of the match distance for parks whose registry location is approximate."""
FOUNDING_SHARE = 0.25
"""Without a registry match: the year by which this share of dated members had opened."""


def match_parks(
    footprints: gpd.GeoDataFrame,
    parks: Any,
    *,
    approximate: Any = None,
    match_m: float = MATCH_M,
    approximate_factor: float = APPROXIMATE_FACTOR,
) -> tuple[np.ndarray, np.ndarray]:
    """The registry park each footprint claims (the rule in the module docstring).

    Parameters
    ----------
    footprints : sequence of shapely geometries (metric CRS)
    parks : sequence of shapely geometries (same CRS)
    approximate : array of bool, optional
        Parks whose location is approximate (their match distance is scaled).
    match_m, approximate_factor : float

    Returns
    -------
    (park, distance) : two arrays of length len(footprints)
        ``park`` is the index of the claimed park (-1 when none), ``distance`` the distance in
        metres from the footprint to its nearest park (NaN when there are no parks).
    """
    foot = np.asarray(list(footprints), dtype=object)
    pk = np.asarray(list(parks), dtype=object)
    n = foot.size
    park = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if n == 0 or pk.size == 0:
        return park, dist
    approx = (
        np.zeros(pk.size, dtype=bool)
        if approximate is None
        else np.asarray(approximate, dtype=bool)
    )
    nearest = np.full(n, -1, dtype=np.int64)
    for i, geom in enumerate(foot):
        if geom is None or shapely.is_empty(geom):
            continue
        d = shapely.distance(geom, pk)
        tie = shapely.distance(shapely.centroid(geom), pk)
        j = int(np.lexsort((tie, d))[0])
        dist[i] = float(d[j])
        limit = match_m * (approximate_factor if approx[j] else 1.0)
        if d[j] <= limit:
            nearest[i] = j
    for j in np.unique(nearest[nearest >= 0]):
        cand = np.flatnonzero(nearest == j)
        park[cand[np.argmin(dist[cand])]] = j  # first of equals: stable
    return park, dist


def founding_year(years: np.ndarray, share: float = FOUNDING_SHARE) -> int | None:
    """First year by which ``share`` of the finite ``years`` had occurred (None when empty)."""
    y = np.sort(np.asarray(years, dtype=float)[np.isfinite(np.asarray(years, dtype=float))])
    if y.size == 0:
        return None
    return int(y[int(np.ceil(share * y.size)) - 1])
