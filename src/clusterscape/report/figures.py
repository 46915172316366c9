"""Static figures for the report and dashboard (matplotlib over the study's own boundaries).

Chinese labels use Noto Sans CJK (Debian ``fonts-noto-cjk``, installed by ``make install``);
:data:`CJK_FONT` records the family actually found so tests can check there is no tofu.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backend_bases import FigureCanvasBase

from clusterscape.i18n import current_lang, messages, t, term
from clusterscape.results import SavedStudy, write_figure

FORM_COLOURS = {
    "new_park": "#1f77b4",
    "converted_industrial": "#d62728",
    "government_street": "#2ca02c",
    "anchor_enterprise": "#9467bd",
    "converted_heritage": "#8c564b",
    "unclassified": "#7f7f7f",
}
_CJK_CANDIDATES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "SimHei",
)


def _find_cjk_font() -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in _CJK_CANDIDATES if n in names), None)


CJK_FONT = _find_cjk_font()


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the report: its file, title and caption."""

    name: str  # file name under figures/
    title: str
    caption: str
    section: str


def _finish_figure(
    fig: Any, path: Path, title: str, caption: str, section: str, *, tight: bool = False
) -> Figure:
    """Lay out (``tight_layout`` when ``tight``), save, close and describe one figure."""
    if tight:
        fig.tight_layout()
    write_figure(fig, path)
    plt.close(fig)
    return Figure(path.name, title, caption, section)


def _finish_keyed(
    fig: Any, ax: plt.Axes, path: Path, key: str, section: str, caption: str | None = None
) -> Figure:
    """Title ``ax`` and finish a figure whose texts are the messages ``figure.<key>_*``.

    The axes get ``figure.<key>_axes`` and the figure ``figure.<key>_title``; its caption is
    ``caption``, by default the message ``figure.<key>_caption``.
    """
    ax.set_title(t(f"figure.{key}_axes"))
    if caption is None:
        caption = t(f"figure.{key}_caption")
    return _finish_figure(fig, path, t(f"figure.{key}_title"), caption, section)


def _style() -> None:
    families = [CJK_FONT] if CJK_FONT else []
    plt.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [*families, "DejaVu Sans"],
            "axes.unicode_minus": False,
            "figure.dpi": 110,
            "savefig.bbox": "tight",
        }
    )


def _basemap(ax: plt.Axes, study: SavedStudy) -> None:
    districts = study.layer("districts")
    boundary = study.layer("boundary")
    if districts is not None:
        districts.boundary.plot(ax=ax, color="#888", linewidth=0.6)
        if "name_zh" in districts.columns:
            for row in districts.itertuples():
                p = row.geometry.representative_point()
                ax.annotate(str(row.name_zh), (p.x, p.y), fontsize=7, color="#666", ha="center")
    if boundary is not None:
        boundary.boundary.plot(ax=ax, color="#333", linewidth=1.0)
    ax.set_aspect(1.0 / np.cos(np.radians(29.9)))
    ax.set_xlabel(t("figure.lon"))
    ax.set_ylabel(t("figure.lat"))


def _label_points(
    ax: plt.Axes,
    points: Any,
    text: Callable[[Any], str],
    *,
    fontsize: float,
    offset: tuple[float, float] = (4, 4),
    **style: Any,
) -> None:
    """Write ``text(row)`` next to each point of ``points`` (``offset`` points up and right)."""
    for row in points.itertuples():
        ax.annotate(
            text(row),
            (row.geometry.x, row.geometry.y),
            fontsize=fontsize,
            xytext=offset,
            textcoords="offset points",
            **style,
        )


def _creative_points(study: SavedStudy) -> Any:
    """The creative rows of the ``establishments`` layer, geometry only (None without them).

    Only those rows are read (a few thousand of 150,000 in the built-in study); a missing
    ``is_creative`` counts as creative, as ``astype(bool)`` of a read-back NaN would.
    """
    if "is_creative" not in study.layer_columns("establishments"):
        return None
    return study.layer(
        "establishments", columns=[], where="is_creative IS NULL OR is_creative <> 0"
    )


def _draw_clusters(ax: plt.Axes, study: SavedStudy, clusters: Any, *, labels: bool) -> None:
    creative = _creative_points(study)
    if creative is not None:
        ax.scatter(
            creative.geometry.x,
            creative.geometry.y,
            s=0.3,
            color="#999",
            alpha=0.5,
            rasterized=True,
        )
    forms = (
        clusters["form"]
        if "form" in clusters.columns
        else pd.Series("unclassified", index=clusters.index)
    )
    colours = forms.fillna("unclassified").map(FORM_COLOURS).fillna("#7f7f7f")
    clusters.plot(ax=ax, color=colours.tolist(), edgecolor="black", linewidth=0.6, alpha=0.75)
    parks = study.layer("parks")
    if parks is not None:
        ax.scatter(
            parks.geometry.x,
            parks.geometry.y,
            marker="*",
            s=70,
            color="gold",
            edgecolor="black",
            zorder=5,
        )
        if labels:
            _label_points(ax, parks, lambda row: str(row.name), fontsize=7, zorder=6)


def fig_clusters_map(study: SavedStudy, path: Path) -> Figure | None:
    """Two panels: the whole study area, and a zoom on the compact clusters with park names."""
    clusters = study.layer("clusters")
    table = study.table("clusters")
    if clusters is None or table is None or clusters.empty:
        return None
    fig, (ax_all, ax_zoom) = plt.subplots(
        1, 2, figsize=(13, 6.8), gridspec_kw={"width_ratios": [1, 1.25]}
    )
    for ax in (ax_all, ax_zoom):
        _basemap(ax, study)
    _draw_clusters(ax_all, study, clusters, labels=False)
    _zoom_to(ax_all, clusters, pad=0.08)
    ax_all.set_title(t("figure.whole_area"))
    # Zoom on the compact clusters (footprint under 5 km²), where parks are.
    area = clusters.to_crs(clusters.estimate_utm_crs()).area
    compact = clusters[(area < 5e6).to_numpy()]
    focus = compact if len(compact) else clusters
    _draw_clusters(ax_zoom, study, clusters, labels=True)
    _zoom_to(ax_zoom, focus, pad=0.15, margin=0.005)
    ax_zoom.set_title(t("figure.compact"))
    handles = [
        plt.Line2D([], [], marker="s", ls="", color=c, label=term(f))
        for f, c in FORM_COLOURS.items()
    ]
    handles.append(
        plt.Line2D(
            [],
            [],
            marker="*",
            ls="",
            color="gold",
            markeredgecolor="black",
            label=t("figure.registry_park"),
        )
    )
    ax_zoom.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        title=t("figure.cluster_form"),
    )
    return _finish_figure(
        fig,
        path,
        t("figure.clusters_title"),
        t("figure.clusters_caption"),
        "clusters",
        tight=True,
    )


def _amenity(name: str) -> str:
    return (
        t(f"figure.amenity.{name}")
        if f"figure.amenity.{name}" in messages(current_lang())
        else name
    )


def _zoom_to(ax: plt.Axes, gdf: object, *, pad: float, margin: float = 0.02) -> None:
    minx, miny, maxx, maxy = gdf.total_bounds  # type: ignore[attr-defined]
    dx, dy = (maxx - minx) or 0.05, (maxy - miny) or 0.05
    ax.set_xlim(minx - pad * dx - margin, maxx + pad * dx + margin)
    ax.set_ylim(miny - pad * dy - margin, maxy + pad * dy + margin)


def fig_lq_map(study: SavedStudy, path: Path) -> Figure | None:
    """Map of the districts' creative location quotients; None without districts."""
    districts = study.layer("districts")
    profiles = study.table("district_profiles")
    if districts is None or profiles is None:
        return None
    key = next(
        (
            c
            for c in ("name_en", "adcode", "district")
            if c in profiles.columns and c in districts.columns
        ),
        None,
    )
    col = next((c for c in profiles.columns if c in ("creative_lq", "lq_creative")), None)
    if key is None or col is None:
        return None
    merged = districts.merge(profiles[[key, col]], on=key, how="left")
    fig, ax = plt.subplots(figsize=(8, 7.5))
    merged.plot(
        column=col,
        ax=ax,
        cmap="RdBu_r",
        vmin=0,
        vmax=2,
        legend=True,
        edgecolor="#555",
        linewidth=0.5,
        legend_kwds={"label": t("figure.lq_label"), "shrink": 0.6},
    )
    _basemap(ax, study)
    return _finish_keyed(fig, ax, path, "lq", "economy")


def fig_concentration(study: SavedStudy, path: Path) -> Figure | None:
    """Each concentration statistic's observed curve against its null and envelope; None without curves."""
    curves = study.table("concentration_curves")
    if curves is None or curves.empty:
        return None
    stats = list(dict.fromkeys(curves["statistic"]))
    fig, axes = plt.subplots(1, len(stats), figsize=(4.2 * len(stats), 3.6), squeeze=False)
    for ax, stat in zip(axes[0], stats, strict=True):
        c = curves[curves["statistic"] == stat]
        r = c["r_m"].to_numpy()
        if {"lo", "hi"} <= set(c.columns):
            ax.fill_between(r, c["lo"], c["hi"], color="#ccc", label=t("figure.envelope"))
        if "theo" in c.columns:
            ax.plot(r, c["theo"], "k--", lw=1, label=t("figure.null"))
        ax.plot(r, c["observed"], color="#c0392b", lw=1.5, label=t("figure.observed"))
        ax.set_title(term(stat))
        ax.set_xlabel(t("figure.distance_r"))
        ax.legend(fontsize=7)
    return _finish_figure(
        fig,
        path,
        t("figure.concentration_title"),
        t("figure.concentration_caption"),
        "concentration",
        tight=True,
    )


#: Map colours of the urban functions (planning-map conventions: offices red, industry purple,
#: logistics brown, retail orange, education blue, health green, residential yellow).
ZONE_COLOURS: dict[str, str] = {
    "office_business": "#d62728",
    "finance": "#8c0a1e",
    "retail": "#ff7f0e",
    "mall": "#ffbb78",
    "catering": "#f2b701",
    "hotel": "#e377c2",
    "industry": "#6a3d9a",
    "logistics": "#8c564b",
    "education": "#1f77b4",
    "health": "#2ca02c",
    "residential": "#f7e08a",
    "public_admin": "#17becf",
    "leisure_culture": "#98df8a",
    "transport": "#7f7f7f",
    "creative": "#000000",
    "other": "#c7c7c7",
}


def _lead_function(label: pd.Series) -> pd.Series:
    """The function naming a zone: its single label or the first of ``mixed:<a>+<b>``."""
    text = label.astype(str)
    lead = text.str.removeprefix("mixed:").str.split("+").str[0]
    return lead.where(~text.isin(["mixed", "sparse"]), text)


def _draw_zones(ax: plt.Axes, zones: Any) -> list[Any]:
    """Cells coloured by their lead function (single-function cells solid, mixed ones pale)."""
    from matplotlib.patches import Patch

    label = zones["label"].astype(str)
    lead = _lead_function(label)
    single = ~label.str.startswith(("mixed", "sparse"))
    plain = zones[(label == "mixed").to_numpy()]
    if len(plain):
        plain.plot(ax=ax, color="#eeeeee", linewidth=0)
    handles: list[Any] = []
    for fn, colour in ZONE_COLOURS.items():
        sel = (lead == fn).to_numpy()
        if not sel.any():
            continue
        for solid, alpha in ((False, 0.45), (True, 1.0)):
            part = zones[sel & (single.to_numpy() == solid)]
            if len(part):
                part.plot(ax=ax, color=colour, alpha=alpha, linewidth=0)
        handles.append(Patch(color=colour, label=f"{term(fn)} ({int(sel.sum())})"))
    handles.append(Patch(color="#eeeeee", label=t("figure.mixed_plain")))
    return handles


def fig_zones(study: SavedStudy, path: Path) -> Figure | None:
    """Map of the functional zones (whole area and the central city); None without zones."""
    zones = study.layer("functional_zones")
    if zones is None or "label" not in zones.columns:
        return None
    centres = study.layer("centres")
    main = None
    if centres is not None and len(centres) and "kind" in centres.columns:
        first = centres[centres["kind"].astype(str) == "main"]
        main = (first if len(first) else centres).geometry.iloc[0]
    fig, axes = plt.subplots(1, 2 if main is not None else 1, figsize=(15 if main else 9, 7.5))
    axes = np.atleast_1d(axes)
    sparse = (zones["label"].astype(str) == "sparse").to_numpy()
    shown = zones[~sparse]
    for k, ax in enumerate(axes):
        pts = zones[sparse].geometry.representative_point()
        ax.scatter(pts.x, pts.y, s=0.5, color="#ddd", rasterized=True)
        handles = _draw_zones(ax, shown) if len(shown) else []
        _basemap(ax, study)
        if centres is not None:
            ax.scatter(
                centres.geometry.x, centres.geometry.y, s=80, c="black", marker="X", zorder=5
            )
            _label_points(
                ax,
                centres,
                lambda row: t("figure.centre_label", kind=term(row.kind), rank=row.rank),
                fontsize=8,
                offset=(5, 5),
            )
        if k == 0:
            _zoom_to(ax, zones, pad=0.02)
            ax.set_title(t("figure.zones_axes"))
        else:  # the central city: 15 km around the main centre
            assert main is not None
            dx, dy = 15_000 / (111_320 * np.cos(np.radians(main.y))), 15_000 / 110_570
            ax.set_xlim(main.x - dx, main.x + dx)
            ax.set_ylim(main.y - dy, main.y + dy)
            ax.set_title(t("figure.zones_central"))
    axes[-1].legend(
        handles=handles,
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        title=t("figure.zones_legend"),
        title_fontsize=7,
    )
    return _finish_figure(
        fig,
        path,
        t("figure.zones_title"),
        t("figure.zones_caption"),
        "urban",
    )


def fig_effects(study: SavedStudy, path: Path, amenity: str) -> Figure | None:
    """Event study and effect by distance for one amenity; None without either table."""
    es = study.table(f"event_study_{amenity}")
    bd = study.table(f"by_distance_{amenity}")
    if es is None and bd is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    if es is not None and not es.empty:
        ax = axes[0]
        ax.errorbar(
            es["event_time"],
            es["coef"],
            yerr=[es["coef"] - es["ci_low"], es["ci_high"] - es["coef"]],
            fmt="o-",
            capsize=3,
        )
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(-0.5, color="grey", ls=":")
        ax.set_xlabel(t("figure.years_since"))
        ax.set_ylabel(t("figure.openings", amenity=_amenity(amenity)))
        ax.set_title(t("figure.event_study", amenity=_amenity(amenity)))
    if bd is not None and not bd.empty:
        ax = axes[1]
        mid = (bd["lower_m"] + bd["upper_m"]) / 2
        ax.errorbar(
            mid,
            bd["estimate"],
            yerr=[bd["estimate"] - bd["ci_low"], bd["ci_high"] - bd["estimate"]],
            fmt="s-",
            capsize=3,
        )
        if {"band_low", "band_high"} <= set(bd.columns):  # the uniform (sup-t) band
            ax.fill_between(mid, bd["band_low"], bd["band_high"], alpha=0.2, step=None)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(t("figure.distance_edge"))
        ax.set_title(t("figure.by_distance", amenity=_amenity(amenity)))
    return _finish_figure(
        fig,
        path,
        t("figure.effects_title", amenity=_amenity(amenity)),
        t("figure.effects_caption"),
        "effects",
        tight=True,
    )


def fig_emerging(study: SavedStudy, path: Path) -> Figure | None:
    """Map of the emerging hot-spot categories; None without them."""
    ehs = study.layer("emerging_hotspots")
    if ehs is None or "category" not in ehs.columns:
        return None
    shown = ehs[~ehs["category"].astype(str).str.startswith("no pattern")]
    fig, ax = plt.subplots(figsize=(8, 7.5))
    _basemap(ax, study)
    if len(shown):
        shown = shown.assign(category=shown["category"].map(term))
        shown.plot(
            column="category",
            ax=ax,
            categorical=True,
            legend=True,
            cmap="tab20",
            legend_kwds={"fontsize": 7, "loc": "lower right"},
        )
        _zoom_to(ax, shown, pad=0.2)
    return _finish_keyed(fig, ax, path, "emerging", "hotspots")


def fig_sizes(study: SavedStudy, path: Path) -> Figure | None:
    """Rank–size plot of the clusters (creative firms per cluster); None without clusters."""
    table = study.table("clusters")
    if table is None or table.empty:
        return None
    n = np.sort(table["n_creative"].to_numpy())[::-1]
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.loglog(np.arange(1, len(n) + 1), n, "o-")
    ax.set_xlabel(t("figure.rank"))
    ax.set_ylabel(t("figure.in_cluster"))
    return _finish_keyed(fig, ax, path, "sizes", "clusters")


def _fig_effects_for(amenity: str, study: SavedStudy, path: Path) -> Figure | None:
    return fig_effects(study, path, amenity)


@contextmanager
def _render_on_save_only() -> Iterator[None]:
    """Each figure is rendered once, when it is saved (:func:`clusterscape.results.write_figure`).

    geopandas' ``plot`` ends with ``canvas.draw_idle()``, which on the non-interactive Agg
    backend renders the whole figure there and then: a map with a basemap and three layers was
    rendered four times before being saved. Nothing reads those renderings (saving lays out and
    renders afresh), so they are skipped; the PNG files are byte for byte the same.
    """
    original = FigureCanvasBase.draw_idle
    FigureCanvasBase.draw_idle = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        FigureCanvasBase.draw_idle = original  # type: ignore[method-assign]


def make_figures(study: SavedStudy, figures_dir: Path) -> list[Figure]:
    """Draw every figure the saved results allow; skip (never fake) the rest."""
    with _render_on_save_only():
        return _make_figures(study, figures_dir)


def _make_figures(study: SavedStudy, figures_dir: Path) -> list[Figure]:
    _style()
    figures_dir.mkdir(parents=True, exist_ok=True)
    makers: list[tuple[str, Callable[[SavedStudy, Path], Figure | None]]] = [
        ("clusters_map.png", fig_clusters_map),
        ("cluster_sizes.png", fig_sizes),
        ("creative_lq_map.png", fig_lq_map),
        ("concentration.png", fig_concentration),
        ("functional_zones.png", fig_zones),
        ("emerging_hotspots.png", fig_emerging),
    ]
    for amenity in ("hotel", "mall"):
        makers.append((f"effects_{amenity}.png", functools.partial(_fig_effects_for, amenity)))
    from clusterscape.report._recipe import RECIPE_FIGURES  # the published-methods section

    makers.extend(RECIPE_FIGURES)
    from clusterscape.report._lifecycle import LIFECYCLE_FIGURES  # clusters through time

    makers.extend(LIFECYCLE_FIGURES)
    out: list[Figure] = []
    for name, maker in makers:
        fig = maker(study, figures_dir / name)
        if fig is not None:
            out.append(fig)
    return out
