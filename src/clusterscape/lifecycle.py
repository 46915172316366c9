"""Clusters through time: birth, growth, shrinking, merging, splitting and death.

:func:`cluster_lifecycle` detects creative clusters on each year's snapshot of the firms alive
that year, with the same detection parameters every year, links the clusters of consecutive
snapshots into *tracks* and classifies what happens to them.

**Snapshots.** A firm is alive in year ``y`` when ``opened <= y`` and (``closed`` is missing or
``closed > y``): a firm closed in ``y`` is *not* alive in ``y`` (a snapshot is the stock at the
end of the year; a firm opened in ``y`` is alive in ``y``, as ``opened = y`` is year 0 in
:mod:`clusterscape.effects.opening` and the event study). Firms without an ``opened`` year are
left out of every snapshot (counted in ``params["n_undated"]``). Only creative firms
(``is_creative``) are clustered, as the study does. Detection is
:func:`clusterscape.detect.detect_clusters` with one ``min_cluster_size`` for every year (by
default the data-aware rule :func:`~clusterscape.detect.clusters.default_min_cluster_size`
evaluated once, on the final year's snapshot) and no resampling or significance test (they
would be re-drawn every year; the tracks' persistence does that work here).

**Linking.** Cluster ``A`` of one snapshot and ``B`` of the next are linked when they share
members: among the firms alive in both years, ``|A ∩ B| / min(|A|, |B|)`` (``match="overlap"``)
or ``|A ∩ B| / |A ∪ B|`` (``match="jaccard"``) is at least ``threshold`` (0.3). Membership
cannot tell when one of the two has fewer than ``min_cluster_size`` members alive in both
years (a cluster of newly opened firms, or one whose firms have closed); for such pairs the
footprints decide instead: ``area(A ∩ B) / min(area(A), area(B)) >= threshold`` (footprints are
detection's concave hulls).

**Tracks and events.** Each cluster continues the track of its largest linked predecessor
(most creative firms) when it is that predecessor's largest linked successor; otherwise it
starts a new track. Events (with the year of the snapshot where the change is seen):

- ``birth``: a cluster with no predecessor (year: its first snapshot; the clusters of the first
  snapshot start tracks without a birth, which lies before the data);
- ``death``: a cluster with no successor (year: the first snapshot without it);
- ``merge``: a cluster with two or more predecessors (their tracks end in it; the largest
  predecessor's track continues);
- ``split``: a cluster with two or more successors (the largest successor continues the track,
  the others start new tracks) that were one cluster: each part counted had, in each of the
  ``persist`` snapshots before the split, at least ``min_cluster_size`` of its members alive then
  in the parent's cluster, and at least ``threshold`` of them. Other parts are births: a group
  that starts next to a cluster is often taken into that cluster's loose fringe while it is
  too small to stand alone, and stands alone a year later;
- ``growth`` / ``shrink``: a track's *core size* has risen to at least ``(1 + change)`` times
  and ``min_change`` firms more than (fallen to at most ``1 / (1 + change)`` of, and
  ``min_change`` firms fewer than) its core size at its start or at its last event, and stays
  there for ``persist`` snapshots (defaults: 0.5, ``min_cluster_size``, 2). The core size is the
  number of members whose own core density ratio (below) is above the significance floor:
  HDBSCAN returns some years a dense core, other years the same core inside a looser parent
  that takes in background firms, and the member count jumps with it; the core size does not.
  Without significance (``"none"``) the core size is the member count.

**Stability** (``persist``, default 2 snapshots). A track that ends (death or merge) and a track
that starts (birth or split) within ``persist`` snapshots of it are joined into one track when
they match by the rule above (members alive in both years, footprints as fallback): a cluster
that vanishes for a year and comes back is not a death and a birth, a merge that splits again
is not a merge and a split. A track that starts after the first snapshot and ends before the
last one, seen in fewer than ``persist`` snapshots, is *transient*: its rows are kept (flagged)
but it makes no event (a split that re-merges the next year is no split). Births, deaths,
merges and splits in the last ``persist - 1`` snapshots cannot be confirmed yet and are reported
as seen; growth and shrink only once confirmed. The events counted at other thresholds are in
``LifecycleResult.sensitivity``.

**Significance.** Density-based detection finds clusters in random points too, and those come
and go from year to year; only clusters denser than such noise are followed (``significance``,
calibrated once on the final snapshot: see :func:`cluster_lifecycle`). The statistic is a
cluster's *peak* density (median core density of its ``min_cluster_size`` densest members)
over the snapshot's intensity, so a dense core that HDBSCAN returns inside a looser parent
cluster in some year keeps its track.

Every centroid is the mean of the cluster's members, given in WGS-84 (``lon``, ``lat``); an
event's place is the centroid of the clusters on its "many" side (the predecessors of a merge,
the successors of a split) or of its one cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from clusterscape._validation import check_choice, check_columns
from clusterscape.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["EVENTS", "LifecycleResult", "cluster_lifecycle"]

#: Smallest core distance (m) of the significance statistic: about the precision of a geocode.
MIN_CORE_M = 1.0
#: Event kinds, in the order they are counted.
EVENTS = ("birth", "growth", "shrink", "merge", "split", "death")
#: Columns of the per-year cluster table (``lifecycle.csv``); ``transient`` follows them.
CLUSTER_COLUMNS = ("track_id", "year", "cluster_id", "n_creative", "area_m2", "lon", "lat")
#: Columns of the events table (``lifecycle_events.csv``).
EVENT_COLUMNS = ("year", "event", "track_id", "from_tracks", "to_tracks", "lon", "lat")


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    """Clusters through time, from :func:`cluster_lifecycle`.

    Attributes
    ----------
    clusters : pandas.DataFrame
        One row per cluster and year: ``track_id, year, cluster_id`` (detection's id in that
        year), ``n_creative`` (members), ``area_m2`` (footprint), ``lon, lat`` (WGS-84 centroid
        of the members) and ``transient`` (the track makes no event, see the module notes).
    events : pandas.DataFrame
        ``year, event, track_id, from_tracks, to_tracks, lon, lat``: tracks as text, ids joined
        by ``;`` (a merge ``from_tracks="3;7", to_tracks="3"``), sorted by year and event.
    sizes : pandas.DataFrame
        The size distribution per year: ``year, n_alive`` (creative firms alive),
        ``n_clusters, n_clustered, largest_n, largest_area_m2, largest_track, median_n,
        n_large`` (clusters meeting :func:`~clusterscape.effects.size_distribution`'s
        large-scale thresholds) and ``zipf_exponent``.
    sensitivity : pandas.DataFrame
        Events of each kind and tracks at each matching threshold tried (``threshold``, one
        column per event kind, ``n_tracks``).
    footprints : geopandas.GeoDataFrame
        The clusters' footprints per year in EPSG:4326 with ``track_id, year, cluster_id,
        n_creative, transient``.
    params : Mapping
        Everything needed to reproduce the result (years, detection parameters, matching rule,
        threshold, persist, change, seed) and the counts of firms used.
    """

    clusters: pd.DataFrame
    events: pd.DataFrame
    sizes: pd.DataFrame
    sensitivity: pd.DataFrame
    footprints: gpd.GeoDataFrame
    params: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The lifecycle block of a study summary: tracks, events by kind, largest per year."""
        tracks = self.clusters.loc[~self.clusters["transient"], "track_id"]
        counts = self.events["event"].value_counts()
        return {
            "n_tracks": int(tracks.nunique()),
            "years": [int(self.sizes["year"].min()), int(self.sizes["year"].max())]
            if len(self.sizes)
            else [],
            "events": {kind: int(counts.get(kind, 0)) for kind in EVENTS},
            "largest_per_year": {
                str(int(y)): int(n)
                for y, n in zip(self.sizes["year"], self.sizes["largest_n"], strict=True)
            },
            "n_large_per_year": {
                str(int(y)): int(n)
                for y, n in zip(self.sizes["year"], self.sizes["n_large"], strict=True)
            },
            "threshold": self.params.get("threshold"),
            "persist": self.params.get("persist"),
            "change": self.params.get("change"),
            "min_change": self.params.get("min_change"),
            "match": self.params.get("match"),
        }


@dataclass(slots=True)
class _Snapshot:
    """The clusters of one year: members (row positions), sizes, centroids, footprints."""

    year: int
    labels: np.ndarray  # cluster of every dated creative firm (-1: noise or not alive)
    n: np.ndarray
    area: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    footprints: np.ndarray  # shapely geometries (metric CRS)
    core: np.ndarray  # members denser than the significance floor (the size of growth/shrink)
    frame: Any = None  # n, employees, area_m2 of the clusters (for the size distribution)


# --------------------------------------------------------------------------- snapshots


def _alive(opened: np.ndarray, closed: np.ndarray, years: np.ndarray) -> np.ndarray:
    """(n_years, n_firms) mask: opened <= y and (closed missing or closed > y)."""
    y = years[:, None].astype(float)
    return (opened[None, :] <= y) & ~(closed[None, :] <= y)


def _labels(xy: np.ndarray, det: Mapping[str, Any]) -> np.ndarray:
    """Detection's labels (:func:`~clusterscape.detect.detect_clusters`, no cluster table)."""
    from clusterscape.detect.clusters import dbscan_labels, hdbscan_labels

    mcs, ms = int(det["min_cluster_size"]), int(det["min_samples"])
    if det["method"] == "hdbscan":
        return hdbscan_labels(xy, min_cluster_size=mcs, min_samples=ms)[0]
    return dbscan_labels(xy, eps_m=float(det["eps_m"]), min_samples=ms)[0]


def _core_ratio(xy: np.ndarray, min_samples: int) -> np.ndarray:
    """Every point's core density over the pattern's intensity.

    The core density of a point is ``min_samples / (pi r^2)``, r the distance to its
    ``min_samples``-th nearest point (itself included, at least ``MIN_CORE_M``: firms registered
    at one address would otherwise be infinitely dense), as in
    :func:`~clusterscape.detect.clusters.core_density`; intensity: points per m² of the convex
    hull.
    """
    from scipy.spatial import cKDTree

    kk = min(int(min_samples), len(xy))
    r = cKDTree(xy).query(xy, k=kk)[0]
    r = r if r.ndim == 1 else r[:, -1]
    dens = kk / (np.pi * np.maximum(r, MIN_CORE_M) ** 2)
    area = float(shapely.convex_hull(shapely.multipoints(xy)).area)
    out: np.ndarray = dens / (len(xy) / area) if area > 0 else np.full(len(xy), np.inf)
    return out


def _peak_ratio(dens: np.ndarray, labels: np.ndarray, *, top: int) -> np.ndarray:
    """Each cluster's peak density ratio (the significance statistic) from :func:`_core_ratio`.

    A cluster's peak is the median over its ``top`` densest members, so a dense core that
    HDBSCAN returns inside a larger, looser parent cluster keeps its density.
    """
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    if k == 0:
        return np.zeros(0)
    members = np.flatnonzero(labels >= 0)
    order = members[np.lexsort((-dens[members], labels[members]))]
    starts = np.searchsorted(labels[order], np.arange(k))
    ends = np.searchsorted(labels[order], np.arange(k), side="right")
    return np.array(
        [np.median(dens[order[a : min(b, a + top)]]) for a, b in zip(starts, ends, strict=True)]
    )


def _null_ratio(
    xy: np.ndarray, population: np.ndarray | None, det: Mapping[str, Any], *, sims: int
) -> float:
    """Highest cluster density ratio reached by any of ``sims`` null patterns of ``len(xy)``.

    The null patterns are uniform in the convex hull of ``xy`` (CSR) or, with ``population``,
    ``len(xy)`` locations drawn without replacement among all establishments alive (random
    labelling); each is clustered as the data are and the highest :func:`_peak_ratio` of its
    clusters kept.
    """
    rng = np.random.default_rng(None if det["seed"] is None else int(det["seed"]) + 104729)
    hull = shapely.convex_hull(shapely.multipoints(xy))
    shapely.prepare(hull)
    x0, y0, x1, y1 = hull.bounds
    best = 0.0
    for _ in range(sims):
        if population is not None and len(population) > len(xy):
            sim = population[rng.choice(len(population), len(xy), replace=False)]
        else:
            got: list[np.ndarray] = []
            have = 0
            while have < len(xy):
                cand = np.column_stack([rng.uniform(x0, x1, len(xy)), rng.uniform(y0, y1, len(xy))])
                cand = cand[shapely.contains_xy(hull, cand[:, 0], cand[:, 1])]
                got.append(cand)
                have += len(cand)
            sim = np.vstack(got)[: len(xy)]
        dens = _core_ratio(sim, det["min_samples"])
        ratio = _peak_ratio(dens, _labels(sim, det), top=det["min_cluster_size"])
        best = max(best, float(ratio.max()) if len(ratio) else 0.0)
    return best


def _snapshots(
    gdf: gpd.GeoDataFrame, alive: np.ndarray, years: np.ndarray, det: Mapping[str, Any],
    floor: float,
) -> list[_Snapshot]:  # fmt: skip
    """The significant clusters of every snapshot: labels, sizes, footprints, centroids.

    Only what the lifecycle needs is computed (detection's labels, then per cluster its size,
    known employees, footprint and centroid), not the full cluster profiles; the footprint is
    the study's (:func:`clusterscape.detect.clusters.cluster_profiles`' concave hull).
    """
    from clusterscape.detect.clusters import _hull

    out = []
    xy = np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])
    emp = (
        pd.to_numeric(gdf["employees"], errors="coerce").astype(float).fillna(0.0).to_numpy()
        if "employees" in gdf.columns
        else np.zeros(len(gdf))
    )
    need = max(int(det["min_cluster_size"]), int(det["min_samples"])) + 1
    empty = np.zeros(0)
    for t, year in enumerate(years):
        idx = np.flatnonzero(alive[t])
        labels = np.full(len(gdf), -1, dtype=np.int64)
        if idx.size < need:
            out.append(_Snapshot(int(year), labels, empty.astype(np.int64), empty, empty, empty,
                                 np.zeros(0, dtype=object), empty.astype(np.int64)))  # fmt: skip
            continue
        pts = xy[idx]
        lab = _labels(pts, det)
        dens = _core_ratio(pts, det["min_samples"])
        keep = _peak_ratio(dens, lab, top=det["min_cluster_size"]) > floor
        new_id = np.full(keep.size + 1, -1, dtype=np.int64)  # last slot: noise stays -1
        new_id[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
        lab = new_id[lab]
        labels[idx] = lab
        k = int(keep.sum())
        ok = lab >= 0
        n = np.bincount(lab[ok], minlength=k).astype(np.int64)
        core = np.bincount(lab[ok & (dens > floor)], minlength=k).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = np.bincount(lab[ok], weights=pts[ok, 0], minlength=k) / n
            cy = np.bincount(lab[ok], weights=pts[ok, 1], minlength=k) / n
        foot = np.array([_hull(pts[lab == c]) for c in range(k)], dtype=object)
        area = shapely.area(foot) if k else empty
        frame = pd.DataFrame(
            {"n": n, "employees": np.bincount(lab[ok], weights=emp[idx][ok], minlength=k),
             "area_m2": area}
        )  # fmt: skip
        out.append(_Snapshot(int(year), labels, n, area, cx, cy, foot, core, frame))
    return out


# --------------------------------------------------------------------------- matching


def _links(
    a: _Snapshot,
    b: _Snapshot,
    both: np.ndarray,
    *,
    match: str,
    threshold: float,
    min_members: int,
) -> dict[tuple[int, int], float]:
    """Linked pairs (cluster of ``a``, cluster of ``b``) -> score, by the module's rule."""
    ka, kb = a.n.size, b.n.size
    if ka == 0 or kb == 0:
        return {}
    la, lb = a.labels[both], b.labels[both]
    size_a = np.bincount(la[la >= 0], minlength=ka).astype(float)
    size_b = np.bincount(lb[lb >= 0], minlength=kb).astype(float)
    ok = (la >= 0) & (lb >= 0)
    table = np.zeros((ka, kb))
    np.add.at(table, (la[ok], lb[ok]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if match == "overlap":
            share = table / np.minimum(size_a[:, None], size_b[None, :])
        else:
            share = table / (size_a[:, None] + size_b[None, :] - table)
    share = np.nan_to_num(share)
    thin = np.minimum(size_a[:, None], size_b[None, :]) < min_members
    out: dict[tuple[int, int], float] = {}
    for i, j in zip(*np.nonzero((share >= threshold) & ~thin), strict=True):
        out[int(i), int(j)] = float(share[i, j])
    # footprints where membership cannot tell
    tree = shapely.STRtree(b.footprints)
    ia, jb = tree.query(a.footprints, predicate="intersects")
    if ia.size:
        keep = thin[ia, jb]
        ia, jb = ia[keep], jb[keep]
        inter = shapely.area(shapely.intersection(a.footprints[ia], b.footprints[jb]))
        fshare = inter / np.minimum(a.area[ia], b.area[jb])
        for i, j, s in zip(ia, jb, fshare, strict=True):
            if s >= threshold:
                out[int(i), int(j)] = float(s)
    return out


# --------------------------------------------------------------------------- tracks


@dataclass(slots=True)
class _Event:
    kind: str
    k: int  # snapshot index where the event is seen
    from_refs: list[tuple[int, int]]
    to_refs: list[tuple[int, int]]


def _tracks(
    snaps: list[_Snapshot],
    alive: np.ndarray,
    *,
    match: str,
    threshold: float,
    min_members: int,
    persist: int,
    change: float,
    min_change: int,
) -> tuple[list[np.ndarray], list[_Event], set[int]]:
    """Track id of every cluster of every snapshot, the events and the transient tracks."""
    track = [np.full(s.n.size, -1, dtype=np.int64) for s in snaps]
    nxt = 0
    events: list[_Event] = []
    for i in range(snaps[0].n.size):
        track[0][i] = nxt
        nxt += 1
    for k in range(1, len(snaps)):
        a, b = snaps[k - 1], snaps[k]
        links = _links(
            a, b, alive[k - 1] & alive[k], match=match, threshold=threshold,
            min_members=min_members,
        )  # fmt: skip
        succ: dict[int, list[int]] = {}
        pred: dict[int, list[int]] = {}
        for i, j in sorted(links):
            succ.setdefault(i, []).append(j)
            pred.setdefault(j, []).append(i)
        # largest first (most members; then the stronger link, then the lower id)
        for i, js in succ.items():
            js.sort(key=lambda j, i=i: (-int(b.n[j]), -links[i, j], j))  # type: ignore[misc]
        for j, is_ in pred.items():
            is_.sort(key=lambda i, j=j: (-int(a.n[i]), -links[i, j], i))  # type: ignore[misc]
        for j in range(b.n.size):
            ps = pred.get(j, [])
            if ps and succ[ps[0]][0] == j:
                track[k][j] = track[k - 1][ps[0]]
            else:
                track[k][j] = nxt
                nxt += 1
            if not ps:
                events.append(_Event("birth", k, [], [(k, j)]))
            elif len(ps) >= 2:
                events.append(_Event("merge", k, [(k - 1, i) for i in ps], [(k, j)]))
        for i in range(a.n.size):
            js = succ.get(i, [])
            if not js:
                events.append(_Event("death", k, [(k - 1, i)], []))
            elif len(js) >= 2:
                events.append(_Event("split", k, [(k - 1, i)], [(k, j) for j in js]))
    track, events = _bridge(
        snaps, alive, track, events, match=match, threshold=threshold,
        min_members=min_members, persist=persist,
    )  # fmt: skip
    transient = _transient(track, events, persist=persist)
    events = [e for e in events if _keep(e, track, transient)]
    events = _settled_splits(events, snaps, alive, track, persist=persist, threshold=threshold,
                             min_members=min_members)  # fmt: skip
    events += _size_events(snaps, track, events, transient, persist=persist, change=change,
                           min_change=min_change)  # fmt: skip
    return track, events, transient


def _ends_and_starts(
    track: list[np.ndarray],
) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """Tracks that end (death, merged away) at their last ref, and start (birth, split-off)."""
    last: dict[int, tuple[int, int]] = {}
    first: dict[int, tuple[int, int]] = {}
    for k, ids in enumerate(track):
        for c, t in enumerate(ids):
            last[int(t)] = (k, c)
            first.setdefault(int(t), (k, c))
    n_snap = len(track)
    ends = {t: r for t, r in last.items() if r[0] < n_snap - 1}
    starts = {t: r for t, r in first.items() if r[0] > 0}
    return ends, starts


def _bridge(
    snaps: list[_Snapshot],
    alive: np.ndarray,
    track: list[np.ndarray],
    events: list[_Event],
    *,
    match: str,
    threshold: float,
    min_members: int,
    persist: int,
) -> tuple[list[np.ndarray], list[_Event]]:
    """Join a track that ends with one that starts within ``persist`` snapshots and matches."""
    if persist < 2:
        return track, events
    ends, starts = _ends_and_starts(track)
    by_start: dict[int, list[tuple[int, int, int]]] = {}
    for t, (k, c) in starts.items():
        by_start.setdefault(k, []).append((t, k, c))
    joins: list[tuple[int, int, tuple[int, int], tuple[int, int]]] = []
    used_start: set[int] = set()
    for t_end, (k0, c0) in sorted(ends.items(), key=lambda kv: (kv[1], kv[0])):
        best: tuple[float, int, tuple[int, int]] | None = None
        for g in range(2, persist + 1):
            for t_new, k1, c1 in by_start.get(k0 + g, []):
                if t_new in used_start:
                    continue
                links = _links(
                    _only(snaps[k0], c0), _only(snaps[k1], c1), alive[k0] & alive[k1],
                    match=match, threshold=threshold, min_members=min_members,
                )  # fmt: skip
                if links and (best is None or links[0, 0] > best[0]):
                    best = (links[0, 0], t_new, (k1, c1))
            if best is not None:
                break
        if best is not None:
            used_start.add(best[1])
            joins.append((t_end, best[1], (k0, c0), best[2]))
    if not joins:
        return track, events
    relabel = {t_new: t_end for t_end, t_new, _, _ in joins}
    # a joined track may itself be joined on later: follow the chain to its first id
    for t_new in list(relabel):
        root = relabel[t_new]
        while root in relabel:
            root = relabel[root]
        relabel[t_new] = root
    track = [np.array([relabel.get(int(t), int(t)) for t in ids], dtype=np.int64) for ids in track]
    gone_end = {r for _, _, r, _ in joins}
    gone_start = {r for _, _, _, r in joins}
    kept = []
    for e in events:
        if e.kind == "death" and e.from_refs[0] in gone_end:
            continue
        if e.kind == "birth" and e.to_refs[0] in gone_start:
            continue
        if e.kind == "merge":
            e.from_refs = [r for r in e.from_refs if r not in gone_end]
        if e.kind == "split":
            e.to_refs = [r for r in e.to_refs if r not in gone_start]
        kept.append(e)
    return track, kept


def _only(s: _Snapshot, c: int) -> _Snapshot:
    """Snapshot ``s`` reduced to its cluster ``c`` (relabelled 0)."""
    labels = np.where(s.labels == c, 0, -1)
    sl = slice(c, c + 1)
    return _Snapshot(
        s.year, labels, s.n[sl], s.area[sl], s.cx[sl], s.cy[sl], s.footprints[sl], s.core[sl]
    )


def _transient(track: list[np.ndarray], events: list[_Event], *, persist: int) -> set[int]:
    """Tracks that start after the first snapshot and end before the last, seen < persist."""
    ends, starts = _ends_and_starts(track)
    return {t for t in set(ends) & set(starts) if ends[t][0] - starts[t][0] + 1 < persist}


def _keep(e: _Event, track: list[np.ndarray], transient: set[int]) -> bool:
    """Drop transient tracks from an event; whether anything is left of it."""

    def solid(r: tuple[int, int]) -> bool:
        return int(track[r[0]][r[1]]) not in transient

    if e.kind in ("birth", "death"):
        return solid((e.to_refs or e.from_refs)[0])
    if e.kind == "merge":
        e.from_refs = [r for r in e.from_refs if solid(r)]
        return len(e.from_refs) >= 2
    if e.kind == "split":
        e.to_refs = [r for r in e.to_refs if solid(r)]
        return len(e.to_refs) >= 2
    return True


def _settled_splits(
    events: list[_Event], snaps: list[_Snapshot], alive: np.ndarray, track: list[np.ndarray],
    *, persist: int, threshold: float, min_members: int,
) -> list[_Event]:  # fmt: skip
    """Keep a split's part only when it was in the parent's track for ``persist`` snapshots.

    A part counts when, in each of the ``persist`` snapshots before the split (those that exist),
    at least ``min_members`` of its members alive then were in the parent's cluster and made up
    at least ``threshold`` of them. A group that starts next to a cluster is often taken into the
    cluster's loose fringe in its first year (it is too small to stand alone yet) and stands
    alone from the next: that is a birth, not a split. A split left with fewer than two parts is
    no split; its other parts are births.
    """
    out = []
    for e in events:
        if e.kind != "split":
            out.append(e)
            continue
        k0, c0 = e.from_refs[0]
        t = int(track[k0][c0])
        parts: list[tuple[int, int]] = []
        born: list[tuple[int, int]] = []
        for k, j in e.to_refs:
            mine = snaps[k].labels == j
            settled = int(track[k][j]) == t
            for g in range(1, persist + 1):
                if settled or k - g < 0:
                    break
                where = np.flatnonzero(track[k - g] == t)
                if where.size == 0:
                    break
                inside = int((mine & (snaps[k - g].labels == where[0])).sum())
                alive_then = int((mine & alive[k - g]).sum())
                if inside < min_members or inside < threshold * max(alive_then, 1):
                    break
            else:
                settled = True
            (parts if settled else born).append((k, j))
        if len(parts) >= 2:
            out.append(_Event("split", e.k, e.from_refs, parts))
        else:
            born = [r for r in e.to_refs if int(track[r[0]][r[1]]) != t]
        out += [_Event("birth", e.k, [], [r]) for r in born]
    return out


def _size_events(
    snaps: list[_Snapshot],
    track: list[np.ndarray],
    events: list[_Event],
    transient: set[int],
    *,
    persist: int,
    change: float,
    min_change: int,
) -> list[_Event]:
    """Growth and shrink events of every track (ratchet on its core size, see the module notes)."""
    series: dict[int, list[tuple[int, int]]] = {}
    for k, ids in enumerate(track):
        for c, t in enumerate(ids):
            series.setdefault(int(t), []).append((k, c))
    reset = {r for e in events if e.kind in ("merge", "split") for r in e.to_refs}
    out = []
    up, down = 1.0 + change, 1.0 / (1.0 + change)
    for t, refs in series.items():
        if t in transient:
            continue
        sizes = np.array([snaps[k].core[c] for k, c in refs], dtype=float)
        ref = sizes[0]
        for p in range(1, len(refs)):
            if refs[p] in reset:
                ref = sizes[p]
                continue
            window = sizes[p : p + persist]
            if window.size < persist:  # not confirmed yet
                break
            if (window >= max(up * ref, ref + min_change)).all():
                out.append(_Event("growth", refs[p][0], [refs[p - 1]], [refs[p]]))
                ref = sizes[p]
            elif (window <= min(down * ref, ref - min_change)).all():
                out.append(_Event("shrink", refs[p][0], [refs[p - 1]], [refs[p]]))
                ref = sizes[p]
    return out


# --------------------------------------------------------------------------- assembly


def _ids(refs: list[tuple[int, int]], track: list[np.ndarray]) -> str:
    ids = sorted({int(track[k][c]) for k, c in refs})
    return ";".join(str(i) for i in ids)


def _event_table(
    events: list[_Event], snaps: list[_Snapshot], track: list[np.ndarray], to_wgs: Any
) -> pd.DataFrame:
    rows = []
    for e in events:
        place = e.from_refs if e.kind in ("death", "merge") else e.to_refs
        n = np.array([snaps[k].n[c] for k, c in place], dtype=float)
        x = float(np.dot(n, [snaps[k].cx[c] for k, c in place]) / n.sum())
        y = float(np.dot(n, [snaps[k].cy[c] for k, c in place]) / n.sum())
        main = e.from_refs[0] if e.kind in ("death", "split") else e.to_refs[0]
        rows.append(
            {
                "year": snaps[e.k].year,
                "event": e.kind,
                "track_id": int(track[main[0]][main[1]]),
                "from_tracks": _ids(e.from_refs, track) if e.kind != "birth" else "",
                "to_tracks": _ids(e.to_refs, track) if e.kind != "death" else "",
                "x": x,
                "y": y,
            }
        )
    frame = pd.DataFrame(rows, columns=[*EVENT_COLUMNS[:5], "x", "y"])
    lon, lat = to_wgs(frame["x"].to_numpy(float), frame["y"].to_numpy(float))
    frame = frame.drop(columns=["x", "y"]).assign(lon=lon, lat=lat)
    frame["year"] = frame["year"].astype(np.int64)
    frame["track_id"] = frame["track_id"].astype(np.int64)
    order = {k: i for i, k in enumerate(EVENTS)}
    frame = frame.assign(_o=frame["event"].map(order)).sort_values(
        ["year", "_o", "track_id"], kind="stable"
    )
    return frame.drop(columns="_o").reset_index(drop=True)


def _check_int(value: Any, name: str, lo: int, caller: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < lo:
        raise InvalidInputError(f"{caller}: {name} must be an integer >= {lo}, got {value!r}.")
    return int(value)


def _year_values(frame: Any, column: str, caller: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    raw = frame[column]
    if pd.api.types.is_datetime64_any_dtype(raw):  # dates: their year
        return raw.dt.year.astype(float).to_numpy()
    values = pd.to_numeric(raw, errors="coerce").astype(float).to_numpy().copy()
    text = raw.notna().to_numpy() & np.isnan(values)
    if text.any():  # "2012-05-01", "2012/5/1": the year of the date
        dates = pd.to_datetime(raw[text].astype(str), errors="coerce", format="mixed")
        values[text] = dates.dt.year.astype(float).to_numpy()
    bad = np.isfinite(values) & (values != np.round(values))
    if bad.any():
        raise InvalidInputError(
            f"{caller}: {column!r} must hold whole years; row {int(np.flatnonzero(bad)[0])} has "
            f"{values[bad][0]!r}."
        )
    return values


def cluster_lifecycle(
    establishments: gpd.GeoDataFrame,
    *,
    years: Sequence[int] | None = None,
    step: int = 1,
    method: str = "hdbscan",
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    eps_m: float | None = None,
    match: str = "overlap",
    threshold: float = 0.3,
    persist: int = 2,
    change: float = 0.5,
    min_change: int | None = None,
    thresholds: Sequence[float] = (0.2, 0.3, 0.5),
    significance: str = "auto",
    simulations: int = 19,
    seed: int | None = 0,
) -> LifecycleResult:
    """Detect creative clusters year by year and follow them: births, merges, splits, deaths.

    The rules (snapshots, linking, tracks, events, stability) are in the module docstring of
    :mod:`clusterscape.lifecycle`.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame of points
        With ``opened`` (year; rows without one are in no snapshot), optionally ``closed``
        (year; missing = still open) and ``is_creative`` (only those rows are clustered;
        without the column every row is taken as creative). Any CRS.
    years : sequence of int, optional
        Snapshot years (increasing). Default: every ``step`` years back from the last year in
        the data (largest ``opened`` or ``closed``) to the first year in which more than
        ``max(min_cluster_size, min_samples)`` dated creative firms are alive.
    step : int, default 1
        Years between snapshots when ``years`` is not given.
    method : {"hdbscan", "dbscan"}
        Detection method (:func:`clusterscape.detect.detect_clusters`).
    min_cluster_size, min_samples : int, optional
        Detection parameters, the same every year. Default ``min_cluster_size``: the
        data-aware rule (:func:`~clusterscape.detect.clusters.default_min_cluster_size`)
        evaluated once on the final snapshot; ``min_samples`` defaults to it.
    eps_m : float, optional
        DBSCAN distance; default the CSR rule evaluated once on the final snapshot.
    match : {"overlap", "jaccard"}, default "overlap"
        Share of shared members: over the smaller cluster, or Jaccard.
    threshold : float, default 0.3
        Smallest share (members, or footprints as fallback) that links two clusters, in (0, 1].
    persist : int, default 2
        Snapshots an event must persist (1: no smoothing).
    change : float, default 0.5
        Relative change in a track's core size that makes a ``growth`` or ``shrink`` event.
    min_change : int, optional
        Absolute change in core size (firms) needed too; default ``min_cluster_size``.
    thresholds : sequence of float, default (0.2, 0.3, 0.5)
        Thresholds whose event counts are reported in ``sensitivity`` (``threshold`` is added).
    significance : {"auto", "population", "csr", "none"}, default "auto"
        Which clusters count. Density-based methods find clusters in random points too, and
        such clusters come and go from year to year. A cluster counts when its
        ``density_ratio`` (median core density over the snapshot's intensity in its convex
        hull, :func:`~clusterscape.detect.detect_clusters`) exceeds the highest reached by any
        cluster of ``simulations`` null patterns of the final snapshot's size, clustered the
        same way: ``"population"`` draws them among all establishments alive in the final year
        (random labelling, as the study does; needs non-creative rows), ``"csr"`` uniformly in
        the convex hull; ``"auto"`` is ``"population"`` when there are non-creative rows, else
        ``"csr"``; ``"none"`` keeps every cluster. The ratio does not depend on the number of
        points sampled, so the one calibration holds for every year.
    simulations : int, default 19
        Null patterns of the calibration (19: the family-wise 5 % level).
    seed : int or None, default 0
        Seed of the null patterns (and of detection); the result is the same on every run.

    Returns
    -------
    LifecycleResult

    Raises
    ------
    InvalidInputError
        Not a GeoDataFrame, no ``opened`` column, bad options, no dated creative firms.
    CRSError
        The input has no CRS.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> rng = np.random.default_rng(1)
    >>> xy = np.vstack([rng.normal((0, 0), 60, (80, 2)), rng.uniform(-3000, 3000, (80, 2))])
    >>> opened = np.r_[np.full(80, 2005), np.full(80, 2000)]
    >>> gdf = gpd.GeoDataFrame({"opened": opened}, geometry=gpd.points_from_xy(*xy.T),
    ...                        crs=32651)
    >>> res = cluster_lifecycle(gdf, years=range(2000, 2011), min_cluster_size=10)
    >>> res.events.loc[res.events["event"] == "birth", "year"].tolist()
    [2005]
    """
    caller = "cluster_lifecycle"
    if not hasattr(establishments, "geometry"):
        raise InvalidInputError(
            f"{caller}: expected a GeoDataFrame of points, got {type(establishments).__name__}."
        )
    check_columns(establishments, ["opened"], caller=caller, what="establishments table")
    check_choice(method, {"hdbscan", "dbscan"}, "method", caller=caller)
    check_choice(match, {"overlap", "jaccard"}, "match", caller=caller)
    step = _check_int(step, "step", 1, caller)
    persist = _check_int(persist, "persist", 1, caller)
    for name, val in (("min_cluster_size", min_cluster_size), ("min_samples", min_samples)):
        if val is not None:
            _check_int(val, name, 2, caller)
    tried = sorted({float(t) for t in (*thresholds, threshold)})
    for t in tried:
        if not 0 < t <= 1:
            raise InvalidInputError(f"{caller}: thresholds must lie in (0, 1], got {t!r}.")
    check_choice(significance, {"auto", "population", "csr", "none"}, "significance",
                 caller=caller)  # fmt: skip
    simulations = _check_int(simulations, "simulations", 1, caller)
    if not change > 0:
        raise InvalidInputError(f"{caller}: change must be > 0, got {change!r}.")
    from clusterscape.coords import to_local_metric

    est = establishments
    creative = np.ones(len(est), dtype=bool)
    if "is_creative" in est.columns:
        creative = est["is_creative"].fillna(False).to_numpy(dtype=bool)
        est = est[creative]
    null = significance
    if null == "auto":
        null = "csr" if creative.all() else "population"
    if null == "population" and creative.all():
        raise InvalidInputError(
            f"{caller}: significance='population' needs the non-creative establishments too "
            "(an is_creative column with False rows); use 'csr' for a creative-only table."
        )
    opened = _year_values(est, "opened", caller)
    closed = _year_values(est, "closed", caller)
    dated = np.isfinite(opened)
    if not dated.any():
        raise InvalidInputError(
            f"{caller}: no creative establishment has an 'opened' year; the lifecycle needs "
            "founding years (e.g. 成立日期)."
        )
    gdf = to_local_metric(est[dated])
    opened, closed = opened[dated], closed[dated]
    last = int(np.nanmax(np.r_[opened, closed]))
    if years is None:
        span = np.arange(last, int(opened.min()) - 1, -step)[::-1]
    else:
        span = np.asarray(list(years), dtype=float)
        if span.size < 2 or (span != np.round(span)).any() or (np.diff(span) <= 0).any():
            raise InvalidInputError(
                f"{caller}: years must be two or more increasing whole years, got {list(years)!r}."
            )
        span = span.astype(np.int64)
    alive = _alive(opened, closed, span)
    from clusterscape.detect.clusters import csr_default_eps, default_min_cluster_size

    final_n = int(alive[-1].sum())
    mcs = default_min_cluster_size(final_n) if min_cluster_size is None else int(min_cluster_size)
    ms = mcs if min_samples is None else int(min_samples)
    if years is None:  # drop the leading years too small to cluster at all
        enough = np.flatnonzero(alive.sum(axis=1) > max(mcs, ms))
        first = int(enough[0]) if enough.size else len(span) - 1
        span, alive = span[first:], alive[first:]
        if span.size < 2:
            raise InvalidInputError(
                f"{caller}: fewer than two years with more than {max(mcs, ms)} creative firms "
                "alive; pass years= or a smaller min_cluster_size."
            )
    eps = eps_m
    if method == "dbscan" and eps is None:
        final = np.column_stack([gdf.geometry.x, gdf.geometry.y])[alive[-1]]
        eps = csr_default_eps(final, min_samples=ms)
    det = {"method": method, "min_cluster_size": mcs, "min_samples": ms, "eps_m": eps,
           "seed": seed}  # fmt: skip
    final_xy = np.column_stack([gdf.geometry.x, gdf.geometry.y])[alive[-1]]
    floor = 0.0
    if null != "none" and len(final_xy) > max(mcs, ms) + 1:
        pop = None
        if null == "population":
            everyone = to_local_metric(establishments.to_crs(gdf.crs))
            p_open = _year_values(everyone, "opened", caller)
            p_close = _year_values(everyone, "closed", caller)
            now = ~(p_open > span[-1]) & ~(p_close <= span[-1])  # undated rows count as alive
            pop = np.column_stack([everyone.geometry.x, everyone.geometry.y])[now]
        floor = _null_ratio(final_xy, pop, det, sims=simulations)
    snaps = _snapshots(gdf, alive, span, det, floor)
    grow = mcs if min_change is None else int(min_change)
    opts = {"match": match, "min_members": mcs, "persist": persist, "change": change,
            "min_change": grow}  # fmt: skip
    sens = []
    chosen = None
    for t in tried:
        track, events, transient = _tracks(snaps, alive, threshold=t, **opts)  # type: ignore[arg-type]
        kinds = pd.Series([e.kind for e in events], dtype=object).value_counts()
        solid = {int(x) for ids in track for x in ids} - transient
        sens.append({"threshold": t, **{k: int(kinds.get(k, 0)) for k in EVENTS},
                     "n_tracks": len(solid)})  # fmt: skip
        if t == float(threshold):
            chosen = (track, events, transient)
    assert chosen is not None
    track, events, transient = chosen
    from pyproj import Transformer

    tf = Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True)

    def to_wgs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = tf.transform(x, y)
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    clusters, footprints = _cluster_tables(snaps, track, transient, to_wgs, gdf.crs)
    params = {
        "years": [int(y) for y in span],
        "step": step if years is None else None,
        "method": method,
        "min_cluster_size": mcs,
        "min_cluster_size_rule": "given"
        if min_cluster_size is not None
        else f"round(sqrt(n) / 2) in [5, 15] on the final snapshot ({final_n} firms)",
        "min_samples": ms,
        "eps_m": eps,
        "match": match,
        "threshold": float(threshold),
        "persist": persist,
        "change": change,
        "min_change": grow,
        "seed": seed,
        "significance": null,
        "simulations": simulations if null != "none" else 0,
        "density_ratio_floor": floor,
        "alive_rule": "opened <= year and (closed missing or closed > year)",
        "n_creative": len(est),
        "n_undated": int((~dated).sum()),
        "transient_tracks": sorted(int(t) for t in transient),
        "crs": gdf.crs.to_string(),
    }
    return LifecycleResult(
        clusters=clusters,
        events=_event_table(events, snaps, track, to_wgs),
        sizes=_sizes(snaps, alive, track),
        sensitivity=pd.DataFrame(sens),
        footprints=footprints,
        params=params,
    )


def _cluster_tables(
    snaps: list[_Snapshot],
    track: list[np.ndarray],
    transient: set[int],
    to_wgs: Any,
    crs: Any,
) -> tuple[pd.DataFrame, Any]:
    import geopandas as gpd

    parts = []
    for k, s in enumerate(snaps):
        parts.append(
            pd.DataFrame(
                {
                    "track_id": track[k],
                    "year": np.full(s.n.size, s.year, dtype=np.int64),
                    "cluster_id": np.arange(s.n.size, dtype=np.int64),
                    "n_creative": s.n,
                    "area_m2": s.area,
                    "x": s.cx,
                    "y": s.cy,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    lon, lat = to_wgs(frame["x"].to_numpy(float), frame["y"].to_numpy(float))
    frame = frame.drop(columns=["x", "y"]).assign(lon=lon, lat=lat)
    frame["transient"] = frame["track_id"].isin(transient).to_numpy(dtype=bool)
    geoms = np.concatenate([s.footprints for s in snaps]) if snaps else np.zeros(0, object)
    foot = gpd.GeoDataFrame(
        frame[["track_id", "year", "cluster_id", "n_creative", "transient"]].copy(),
        geometry=gpd.GeoSeries(list(geoms), crs=crs),
    ).to_crs("EPSG:4326")
    return frame, foot


def _sizes(snaps: list[_Snapshot], alive: np.ndarray, track: list[np.ndarray]) -> pd.DataFrame:
    from clusterscape.effects.cross import size_distribution

    rows = []
    for k, s in enumerate(snaps):
        row: dict[str, Any] = {
            "year": s.year,
            "n_alive": int(alive[k].sum()),
            "n_clusters": int(s.n.size),
            "n_clustered": int(s.n.sum()),
            "largest_n": int(s.n.max()) if s.n.size else 0,
            "largest_area_m2": float(s.area[np.argmax(s.n)]) if s.n.size else np.nan,
            "largest_track": int(track[k][np.argmax(s.n)]) if s.n.size else -1,
            "median_n": float(np.median(s.n)) if s.n.size else np.nan,
            "n_large": 0,
            "zipf_exponent": np.nan,
        }
        if s.frame is not None and len(s.frame):
            dist = size_distribution(s.frame)
            row["n_large"], row["zipf_exponent"] = int(dist.n_large), dist.zipf_exponent
        rows.append(row)
    return pd.DataFrame(rows)
