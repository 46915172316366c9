"""The report's "Clusters through time" section: a timeline of the tracks, maps of chosen years.

Reads what the lifecycle step saved (``lifecycle.csv``, ``lifecycle_events.csv``,
``lifecycle_sizes.csv``, the ``lifecycle`` layer and the summary's ``lifecycle`` block) through
:class:`clusterscape.results.SavedStudy`; recomputes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clusterscape.i18n import current_lang, t
from clusterscape.report.figures import Figure, _finish_figure
from clusterscape.results import SavedStudy

__all__ = ["LIFECYCLE_FIGURES", "lifecycle_context"]

#: marker and colour of each event kind on the timeline
MARKERS = {"birth": ("^", "#2ca02c"), "death": ("X", "#222222"), "merge": (">", "#1f77b4"),
           "split": ("<", "#ff7f0e"), "growth": ("+", "#2ca02c"), "shrink": ("_", "#d62728")}  # fmt: skip
#: the events told in the story (growth and shrink are counted only)
STRUCTURAL = ("birth", "merge", "split", "death")
#: the story lists at most this many structural events (all are in the CSV)
STORY_MAX = 14
#: a registry park names an event's place when it lies within this distance (m)
PARK_NAME_M = 1500.0


def _tables(study: SavedStudy) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    clusters, events = study.table("lifecycle"), study.table("lifecycle_events")
    if clusters is None or clusters.empty:
        return None
    if events is None:
        events = pd.DataFrame(columns=["year", "event", "track_id", "from_tracks", "to_tracks"])
    return clusters, events


def _solid(clusters: pd.DataFrame) -> pd.DataFrame:
    if "transient" not in clusters.columns:
        return clusters
    flag = clusters["transient"].astype(str).str.lower().isin({"true", "1"})
    return clusters[~flag.to_numpy()]


def _track_order(clusters: pd.DataFrame) -> dict[int, int]:
    """Tracks bottom to top by first year, then by size (largest lowest)."""
    g = clusters.groupby("track_id").agg(first=("year", "min"), size=("n_creative", "max"))
    g = g.sort_values(["first", "size"], ascending=[True, False])
    return {int(t): i for i, t in enumerate(g.index)}


def _tracks(text: Any) -> list[int]:
    if text is None or (isinstance(text, float) and np.isnan(text)) or str(text) == "":
        return []
    return [int(float(t)) for t in str(text).split(";") if t != ""]


def fig_timeline(study: SavedStudy, path: Path) -> Figure | None:
    """Tracks through the years (line width ~ sqrt of size) with the events marked."""
    got = _tables(study)
    if got is None:
        return None
    clusters, events = got
    clusters = _solid(clusters)
    if clusters.empty:
        return None
    row = _track_order(clusters)
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.28 * len(row) + 1.2)))
    top = float(clusters["n_creative"].max())
    for track, part in clusters.sort_values("year").groupby("track_id"):
        y = np.full(len(part), row[int(str(track))])
        widths = 0.5 + 6.0 * np.sqrt(part["n_creative"].to_numpy(float) / top)
        ax.scatter(part["year"], y, s=widths**2, color="#9ecae1", edgecolor="none", zorder=2)
        ax.plot(part["year"], y, color="#6baed6", linewidth=0.8, zorder=1)
    for kind, (marker, colour) in MARKERS.items():
        sel = events[events["event"] == kind]
        sel = sel[sel["track_id"].astype(int).isin(row)]
        if sel.empty:
            continue
        ys = [row[int(t)] for t in sel["track_id"]]
        ax.scatter(sel["year"], ys, marker=marker, s=60, color=colour,
                   label=t(f"lifecycle.kind.{kind}"), zorder=4)  # fmt: skip
        if kind in ("merge", "split"):  # join the tracks involved
            for _, e in sel.iterrows():
                involved = [row[t] for t in _tracks(e["from_tracks"]) + _tracks(e["to_tracks"])
                            if t in row]  # fmt: skip
                if len(involved) > 1:
                    ax.vlines(e["year"], min(involved), max(involved), color=colour,
                              linewidth=1.2, zorder=3)  # fmt: skip
    ax.set_yticks(range(len(row)))
    ax.set_yticklabels([str(t) for t in sorted(row, key=row.__getitem__)], fontsize=7)
    ax.set_ylabel(t("lifecycle.figure.track"))
    ax.set_xlabel(t("lifecycle.figure.year"))
    ax.set_title(t("lifecycle.figure.axes"))
    ax.legend(loc="upper left", fontsize=7, ncol=3, frameon=False)
    return _finish_figure(
        fig, path, t("lifecycle.figure.title"), t("lifecycle.figure.caption"), "lifecycle"
    )


def _chosen_years(clusters: pd.DataFrame, k: int = 4) -> list[int]:
    years = sorted(int(y) for y in clusters["year"].unique())
    if len(years) <= k:
        return years
    idx = np.unique(np.round(np.linspace(0, len(years) - 1, k)).astype(int))
    return [years[i] for i in idx]


def fig_years_map(study: SavedStudy, path: Path) -> Figure | None:
    """Small multiples: the clusters' footprints in chosen years, coloured by track."""
    got = _tables(study)
    foot = study.layer("lifecycle")
    if got is None or foot is None or foot.empty:
        return None
    clusters = _solid(got[0])
    years = _chosen_years(clusters)
    if not years:
        return None
    foot = foot[foot["year"].astype(int).isin(years)]
    if "transient" in foot.columns:
        foot = foot[~foot["transient"].astype(str).str.lower().isin({"true", "1"}).to_numpy()]
    if foot.empty:
        return None
    cmap = plt.get_cmap("tab20")
    tracks = sorted(int(t) for t in foot["track_id"].unique())
    colour = {t: cmap(i % 20) for i, t in enumerate(tracks)}
    x0, y0, x1, y1 = foot.total_bounds
    pad = 0.08 * max(x1 - x0, y1 - y0, 0.01)
    boundary = study.layer("boundary")
    fig, axes = plt.subplots(1, len(years), figsize=(3.2 * len(years), 3.6), squeeze=False)
    for ax, year in zip(axes[0], years, strict=True):
        if boundary is not None:
            boundary.boundary.plot(ax=ax, color="#999", linewidth=0.6)
        part = foot[foot["year"].astype(int) == year]
        if len(part):
            part.plot(ax=ax, color=[colour[int(t)] for t in part["track_id"]],
                      edgecolor="black", linewidth=0.4)  # fmt: skip
            for _, r in part.iterrows():
                p = r.geometry.representative_point()
                ax.annotate(str(int(r["track_id"])), (p.x, p.y), fontsize=6, ha="center")
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
        ax.set_aspect(1.0 / np.cos(np.radians((y0 + y1) / 2)))
        ax.set_title(t("lifecycle.figure.panel", year=year, n=len(part)), fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=6)
    return _finish_figure(
        fig,
        path,
        t("lifecycle.figure.years_title"),
        t("lifecycle.figure.years_caption", years=t("report.item_sep").join(map(str, years))),
        "lifecycle",
    )


LIFECYCLE_FIGURES = (
    ("lifecycle_timeline.png", fig_timeline),
    ("lifecycle_years.png", fig_years_map),
)


def _place(study: SavedStudy, lon: float, lat: float) -> str:
    """Where an event happened: the nearest registry park within 1.5 km, else the district."""
    import geopandas as gpd
    from shapely.geometry import Point

    pt = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326")
    parks = study.layer("parks")
    if parks is not None and len(parks) and "name" in parks.columns:
        metric = pt.estimate_utm_crs()
        d = parks.to_crs(metric).distance(pt.to_crs(metric).iloc[0])
        if float(d.min()) <= PARK_NAME_M:
            return t("lifecycle.near", park=parks["name"].iloc[int(np.argmin(d.to_numpy()))])
    districts = study.layer("districts")
    if districts is not None and len(districts):
        hit = districts[districts.contains(pt.iloc[0])]
        order = ("name_zh", "name_en") if current_lang() == "zh" else ("name_en", "name_zh")
        if len(hit):
            name = next((str(hit[c].iloc[0]) for c in order if c in hit.columns), "")
            if name:
                return t("lifecycle.in", district=name)
    return ""


def _story(study: SavedStudy, events: pd.DataFrame) -> list[str]:
    lines = []
    structural = events[events["event"].isin(["birth", "merge", "split", "death"])]
    sep = t("report.item_sep")
    for _, e in structural.head(STORY_MAX).iterrows():
        lon, lat = float(e["lon"]), float(e["lat"])
        at = t("lifecycle.at", lon=f"{lon:.3f}", lat=f"{lat:.3f}") + _place(study, lon, lat)
        kind = str(e["event"])
        parts = sep.join(
            str(x) for x in _tracks(e["to_tracks" if kind == "split" else "from_tracks"])
        )
        lines.append(
            t(
                f"lifecycle.{kind}",
                year=int(e["year"]),
                track=int(e["track_id"]),
                at=at,
                parts=parts,
            )
        )
    if len(structural) > STORY_MAX:
        lines.append(t("lifecycle.more", n=len(structural) - STORY_MAX))
    return lines


def _counts(row: Any, kinds: tuple[str, ...]) -> str:
    return t("report.item_sep").join(
        t("lifecycle.count", n=int(row.get(k, 0)), kind=t(f"lifecycle.kind.{k}")) for k in kinds
    )


def lifecycle_context(study: SavedStudy) -> dict[str, Any]:
    """Text of the section (``lifecycle_*`` names for the template)."""
    block = study.summary.get("lifecycle")
    if not isinstance(block, dict):
        return {"lifecycle_present": False, "lifecycle_status": "not run", "lifecycle_text": []}
    got = _tables(study)
    if block.get("status") != "computed" or got is None:
        status = str(block.get("status", "no clusters in any year"))
        return {"lifecycle_present": False, "lifecycle_status": status, "lifecycle_text": []}
    _, events = got
    counts = block.get("events") or {}
    years = block.get("years") or []
    text = [
        t(
            "lifecycle.overview",
            first=years[0],
            last=years[-1],
            tracks=block.get("n_tracks"),
            counts=_counts(counts, STRUCTURAL),
            growth=counts.get("growth", 0),
            shrink=counts.get("shrink", 0),
            threshold=block.get("threshold"),
            persist=block.get("persist"),
            change=f"{float(block.get('change') or 0.5):.0%}",
            min_change=block.get("min_change", "?"),
        ),
        *_story(study, events),
    ]
    largest = {int(y): int(n) for y, n in (block.get("largest_per_year") or {}).items()}
    grown = {y: n for y, n in largest.items() if n > 0}
    if grown:
        y0, y1 = min(grown), max(largest)
        text.append(t("lifecycle.largest", n0=grown[y0], y0=y0, n1=largest[y1], y1=y1))
    sens = study.table("lifecycle_sensitivity")
    if sens is not None and len(sens) > 1:
        parts = t("report.list_sep").join(
            t(
                "lifecycle.threshold_part",
                threshold=f"{float(r['threshold']):g}",
                counts=_counts(r, STRUCTURAL),
            )
            for _, r in sens.iterrows()
        )
        text.append(t("lifecycle.threshold", parts=parts))
    large = {int(y): int(n) for y, n in (block.get("n_large_per_year") or {}).items()}
    hit = sorted(y for y, n in large.items() if n > 0)
    text.append(t("lifecycle.large_first", year=hit[0]) if hit else t("lifecycle.large_none"))
    return {"lifecycle_present": True, "lifecycle_status": "", "lifecycle_text": text}
