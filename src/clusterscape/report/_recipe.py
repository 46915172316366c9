"""The report's "Published methods" section: kernel density, ellipse path, LISA map, Moran, GeoDetector.

Figures and text are made from the saved tables and layers of the run (``nearest_neighbour``,
``ellipse_path``, ``kernel_density``, ``moran``, ``lisa_cells``, ``geodetector_*``) and the
``methods`` entry of ``summary.json``; every sentence quotes the numbers of the study at hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clusterscape.report.figures import Figure, _basemap, _finish_figure, _zoom_to
from clusterscape.results import SavedStudy

__all__ = ["RECIPE_FIGURES", "recipe_context"]

LISA_COLOURS = {"HH": "#d7191c", "LH": "#abd9e9", "LL": "#2c7bb6", "HL": "#fdae61"}
_ABBREV = {
    "enhance-bi": "bi",
    "enhance-nonlinear": "nl",
    "weaken-uni": "wu",
    "weaken-nonlinear": "wn",
    "independent": "ind",
}


def _f(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{float(value):,.{digits}f}"
    return str(value)


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    v = float(value)
    if v < 1e-16:  # below double precision next to 1: the noncentral F's tail underflows
        return "< 1e-16"
    return f"{v:.2g}" if v >= 1e-3 else f"{v:.1e}"


def _eq(value: Any) -> str:
    text = _p(value)
    return text if text.startswith("<") else f"= {text}"


def _methods(study: SavedStudy) -> dict[str, Any]:
    m = study.summary.get("methods")
    return m if isinstance(m, dict) else {}


def _district_of(study: SavedStudy, lon: float, lat: float) -> str:
    districts = study.layer("districts")
    if districts is None or not len(districts):
        return ""
    from shapely.geometry import Point

    hit = districts[districts.geometry.contains(Point(lon, lat))]
    if not len(hit):
        return ""
    for col in ("name_en", "name_zh", "name"):
        if col in hit.columns:
            return str(hit.iloc[0][col])
    return ""


def fig_kernel_density(study: SavedStudy, path: Path) -> Figure | None:
    kde = study.table("kernel_density")
    info = _methods(study).get("kernel_density") or {}
    if kde is None or kde.empty or info.get("status") != "done":
        return None
    fig, ax = plt.subplots(figsize=(8, 7.5))
    d = kde["density_per_km2"].to_numpy(float)
    order = np.argsort(d)
    sc = ax.scatter(
        kde["lon"].to_numpy()[order],
        kde["lat"].to_numpy()[order],
        c=d[order],
        s=1.2,
        marker="s",
        cmap="magma_r",
        linewidths=0,
        rasterized=True,
    )
    fig.colorbar(sc, ax=ax, shrink=0.6, label="creative establishments per km²")
    _basemap(ax, study)
    boundary = study.layer("boundary")
    if boundary is not None and len(boundary):
        _zoom_to(ax, boundary, pad=0.02)
    else:
        pad_lon = 0.02 * float(np.ptp(kde["lon"])) + 0.01
        pad_lat = 0.02 * float(np.ptp(kde["lat"])) + 0.01
        ax.set_xlim(kde["lon"].min() - pad_lon, kde["lon"].max() + pad_lon)
        ax.set_ylim(kde["lat"].min() - pad_lat, kde["lat"].max() + pad_lat)
    ax.set_title("Kernel density of creative establishments (ArcGIS preset)")
    peak = kde.iloc[int(np.argmax(d))]
    where = _district_of(study, float(peak["lon"]), float(peak["lat"]))
    return _finish_figure(
        fig,
        path,
        "Kernel density",
        f"Quartic kernel, search radius {_f(info.get('radius_m'))} m (ArcGIS's default rule), "
        f"{_f(info.get('cell_m'))} m cells; peak {_f(info.get('max_per_km2'), 1)} per km² at "
        f"({float(peak['lon']):.3f}, {float(peak['lat']):.3f}){' in ' + where if where else ''}.",
        "recipe-kde",
    )


def fig_ellipse_path(study: SavedStudy, path: Path) -> Figure | None:
    ellipses = study.layer("ellipses")
    centres = study.layer("ellipse_centres")
    if ellipses is None or centres is None or not len(ellipses):
        return None
    fig, ax = plt.subplots(figsize=(8, 7.5))
    _basemap(ax, study)
    years = ellipses["year"].to_numpy()
    cmap = plt.get_cmap("viridis")
    span = max(1, int(years.max() - years.min()))
    for row in ellipses.itertuples():
        colour = cmap((row.year - years.min()) / span)
        ax.plot(*row.geometry.exterior.xy, color=colour, lw=0.8, alpha=0.8)
    ax.plot(centres.geometry.x, centres.geometry.y, "-", color="black", lw=1.0)
    ax.scatter(
        centres.geometry.x, centres.geometry.y, c=centres["year"], cmap="viridis", s=14, zorder=5
    )
    for row in centres.iloc[[0, -1]].itertuples():
        ax.annotate(
            str(row.year),
            (row.geometry.x, row.geometry.y),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(years.min(), years.max()))
    fig.colorbar(sm, ax=ax, shrink=0.6, label="year (stock opened up to then)")
    _zoom_to(ax, ellipses, pad=0.1)
    ax.set_title("Standard deviational ellipses per year and the path of their centre")
    return _finish_figure(
        fig,
        path,
        "Ellipse path",
        "One standard deviational ellipse (1σ, ArcGIS Pro's √2 convention) of the creative "
        "establishments open by each year, and the path of their mean centre (black line).",
        "recipe-ellipse",
    )


def fig_lisa_map(study: SavedStudy, path: Path) -> Figure | None:
    cells = study.layer("lisa_cells")
    if cells is None or "label" not in cells.columns:
        return None
    fig, ax = plt.subplots(figsize=(8, 7.5))
    label = cells["label"].astype(str)
    sig = cells[(label != "not significant").to_numpy()]
    _basemap(ax, study)
    handles = []
    for quad, colour in LISA_COLOURS.items():
        part = sig[sig["label"].astype(str) == quad]
        if len(part):
            part.plot(ax=ax, color=colour, linewidth=0)
        handles.append(
            plt.Line2D([], [], marker="s", ls="", color=colour, label=f"{quad} ({len(part)})")
        )
    ax.legend(handles=handles, loc="lower right", fontsize=8, title="LISA, p < 0.05")
    _zoom_to(ax, sig if len(sig) else cells, pad=0.3)
    ax.set_title("LISA clusters of creative density")
    info = _methods(study)
    return _finish_figure(
        fig,
        path,
        "LISA cluster map",
        f"Local Moran's I of creative establishments per km² on {_f(info.get('cell_m'))} m cells "
        f"(queen contiguity, {_f(info.get('permutations'))} conditional permutations, two-sided "
        "p < 0.05). HH: a dense cell among dense "
        "neighbours; LH/HL: outliers; not significant cells are not drawn.",
        "recipe-lisa",
    )


RECIPE_FIGURES = (
    ("kernel_density.png", fig_kernel_density),
    ("ellipse_path.png", fig_ellipse_path),
    ("lisa_map.png", fig_lisa_map),
)


def _interaction_matrix(
    inter: pd.DataFrame | None, factors: pd.DataFrame | None
) -> pd.DataFrame | None:
    if inter is None or inter.empty:
        return None
    names = list(dict.fromkeys([*inter["factor_1"], *inter["factor_2"]]))
    if factors is not None and "factor" in factors.columns:
        ranked = [f for f in factors["factor"] if f in names]
        names = ranked + [n for n in names if n not in ranked]
    rows = inter.to_dict(orient="records")
    q1: dict[str, float] = {}
    for r in rows:
        q1[str(r["factor_1"])], q1[str(r["factor_2"])] = float(r["q_1"]), float(r["q_2"])
    cells: dict[str, dict[str, str]] = {str(a): {} for a in names}
    for a in cells:
        cells[a][a] = f"{q1.get(a, float('nan')):.3f}"
    for r in rows:
        a, b, kind = str(r["factor_1"]), str(r["factor_2"]), str(r["type"])
        text = f"{float(r['q_interaction']):.3f} {_ABBREV.get(kind, kind)}"
        cells[a][b] = text
        cells[b][a] = text
    names = [str(a) for a in names]
    return (
        pd.DataFrame(
            [[cells[a].get(b, "") for b in names] for a in names], index=names, columns=names
        )
        .rename_axis("q(A∩B)")
        .reset_index()
    )


def recipe_context(study: SavedStudy) -> dict[str, Any]:
    """Text and tables of the section (``recipe_*`` names for the template)."""
    m = _methods(study)
    synthetic = bool(study.summary.get("synthetic"))
    text: dict[str, list[str]] = {"kde": [], "ellipse": [], "lisa": [], "geodetector": []}
    if not m:
        return {"recipe_present": False, "recipe_text": text}

    ann = m.get("nearest_neighbour") or {}
    kde = m.get("kernel_density") or {}
    if ann.get("status") == "done":
        text["kde"].append(
            f"Average nearest neighbour: the {_f(ann.get('n'))} creative establishments lie "
            f"{_f(ann.get('observed_m'))} m from their nearest neighbour on average, against "
            f"{_f(ann.get('expected_m'))} m expected for the same number spread at random over the "
            f"study area ({_f(ann.get('area_km2'))} km²): ratio "
            f"{_f(ann.get('ratio'), 2)}, z = {_f(ann.get('z'), 1)}, p = {_p(ann.get('p_value'))}, "
            f"so the pattern is {ann.get('verdict')}."
        )
    elif ann:
        text["kde"].append(f"Average nearest neighbour: {ann.get('status')}.")
    if kde.get("status") == "done":
        share = 100.0 * float(kde.get("cells_nonzero", 0)) / max(1, int(kde.get("cells_total", 1)))
        text["kde"].append(
            f"The kernel density peaks at {_f(kde.get('max_per_km2'), 1)} establishments per km² "
            f"and is non-zero on {share:.0f} % of the {_f(kde.get('cells_total'))} raster cells; "
            f"the rest lie farther than the {_f(kde.get('radius_m'))} m search radius from any "
            "creative establishment"
            + (": creative firms occupy a small part of the area." if share < 50 else ".")
        )

    ell = m.get("ellipse") or {}
    if ell.get("status") == "done":
        text["ellipse"].append(
            f"The ellipse of all {_f(ell.get('n'))} creative establishments is centred at "
            f"({float(ell['centre_lon']):.3f}° E, {float(ell['centre_lat']):.3f}° N), its long axis "
            f"runs at {_f(ell.get('rotation_deg'))}° clockwise from north with semi-axes "
            f"{_f(float(ell['sigma_y_m']) / 1e3, 1)} km and {_f(float(ell['sigma_x_m']) / 1e3, 1)} km "
            f"({_f(float(ell['area_m2']) / 1e6)} km²)."
        )
        p = ell.get("path")
        if isinstance(p, dict):
            change = float(p.get("area_change_pct", float("nan")))
            trend = "contracted" if change < 0 else "expanded"
            meaning = (
                "the stock has become more concentrated as firms were added"
                if change < 0
                else "the stock has spread over a wider area as firms were added"
            )
            text["ellipse"].append(
                f"From {p.get('first_year')} to {p.get('last_year')} the centre of the cumulative "
                f"stock moved {_f(float(p['net_shift_m']) / 1e3, 1)} km net (bearing "
                f"{_f(p.get('net_direction_deg'))}°; path length "
                f"{_f(float(p['path_length_m']) / 1e3, 1)} km) and the ellipse {trend} by "
                f"{abs(change):.0f} %: {meaning}."
            )
        elif p:
            text["ellipse"].append(f"Ellipse path: {p}.")
    elif ell:
        text["ellipse"].append(f"Standard deviational ellipse: {ell.get('status')}.")

    mor = m.get("moran") or {}
    lisa = m.get("lisa") or {}
    if mor.get("status") == "done":
        significant = float(mor.get("p_sim", 1.0)) < 0.05
        sign = "positive" if float(mor["I"]) > 0 else "negative"
        text["lisa"].append(
            f"Global Moran's I of creative density on {_f(mor.get('n_cells'))} cells of "
            f"{_f(mor.get('cell_m'))} m is {float(mor['I']):.3f} (expected {float(mor['expected']):.4f}; "
            f"z = {_f(mor.get('z_norm'), 1)}, permutation p {_eq(mor.get('p_sim'))} with "
            f"{_f(mor.get('permutations'))} permutations): "
            + (
                f"{sign} and significant, so dense cells sit next to dense cells."
                if significant and sign == "positive"
                else "significant and negative: dense cells sit among sparse ones."
                if significant
                else "not significant: no spatial autocorrelation at this cell size."
            )
        )
        hh, lh, hl, ll = (int(lisa.get(k, 0)) for k in ("HH", "LH", "HL", "LL"))
        cells = study.layer("lisa_cells")
        hh_share = ""
        if cells is not None and "count" in cells.columns and cells["count"].sum() > 0:
            in_hh = cells.loc[cells["label"].astype(str) == "HH", "count"].sum()
            hh_share = f", which hold {100.0 * in_hh / cells['count'].sum():.0f} % of the creative establishments"
        text["lisa"].append(
            f"The LISA finds {hh} high–high cells (cores of clusters){hh_share}, {ll} low–low, {lh} "
            f"low–high and {hl} high–low outliers; the other cells are not significant at 0.05."
        )
    elif mor:
        text["lisa"].append(f"Moran's I: {mor.get('status')}.")

    gd = m.get("geodetector") or {}
    factors = study.table("geodetector_factors")
    if gd.get("status") == "done" and factors is not None:
        used = factors[factors["status"] == "used"].sort_values("q", ascending=False)
        top = used.iloc[0]
        sig = used[used["p_value"] < 0.05]
        text["geodetector"].append(
            f"GeoDetector on {_f(gd.get('n_cells'))} cells: the strongest factor is "
            f"{top['factor']} (q = {float(top['q']):.3f}, p {_eq(top['p_value'])}; it stratifies "
            f"{100 * float(top['q']):.0f} % of the variance of creative density), the weakest "
            f"{used.iloc[-1]['factor']} (q = {float(used.iloc[-1]['q']):.3f}); {len(sig)} of "
            f"{len(used)} factors are significant at 0.05."
        )
        inter = study.table("geodetector_interaction")
        if inter is not None and len(inter):
            best = inter.sort_values("q_interaction", ascending=False).iloc[0]
            types = inter["type"].value_counts()
            text["geodetector"].append(
                f"The strongest pair is {best['factor_1']} ∩ {best['factor_2']} (q = "
                f"{float(best['q_interaction']):.3f}, {best['type']}); of {len(inter)} pairs, "
                + ", ".join(f"{n} {t}" for t, n in types.items())
                + ". Enhance means two factors together explain more than either alone."
            )
        skipped = factors[factors["status"] != "used"]
        if len(skipped):
            text["geodetector"].append(
                "Not used: "
                + "; ".join(f"{r.factor} ({r.reason})" for r in skipped.itertuples())
                + "."
            )
        if synthetic:
            text["geodetector"].append(
                "In the built-in study the firms are synthetic and the clusters were planted at "
                "the registry parks and on the former industrial footprints, so high q for those "
                "factors shows the detector recovering the plant, not a finding about Ningbo."
            )
    elif gd:
        text["geodetector"].append(f"GeoDetector: {gd.get('status')}.")
    ffile = m.get("factors_file")
    if isinstance(ffile, dict):
        text["geodetector"].append(
            f"User factors ({ffile.get('file')}): {ffile.get('status')}"
            + (f" — {', '.join(ffile.get('factors', []))}" if ffile.get("factors") else "")
            + "."
        )
    cols = ["factor", "description", "q", "p_value", "n_strata", "method", "status", "reason"]
    sources = [str(v) for v in m.get("sources", []) or []]
    return {
        "recipe_present": True,
        "recipe_text": text,
        "recipe_sources": sources,
        "recipe_ann": study.table("nearest_neighbour"),
        "recipe_moran": study.table("moran"),
        "recipe_factors": factors[[c for c in cols if c in factors.columns]]
        if factors is not None
        else None,
        "recipe_interaction": _interaction_matrix(study.table("geodetector_interaction"), factors),
    }
