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

from clusterscape.i18n import t, term
from clusterscape.i18n.numbers import count, number, p_rule, share, year
from clusterscape.report.figures import Figure, _basemap, _finish_keyed, _label_points, _zoom_to
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
    fig.colorbar(sc, ax=ax, shrink=0.6, label=t("figure.kde_label"))
    _basemap(ax, study)
    boundary = study.layer("boundary")
    if boundary is not None and len(boundary):
        _zoom_to(ax, boundary, pad=0.02)
    else:
        pad_lon = 0.02 * float(np.ptp(kde["lon"])) + 0.01
        pad_lat = 0.02 * float(np.ptp(kde["lat"])) + 0.01
        ax.set_xlim(kde["lon"].min() - pad_lon, kde["lon"].max() + pad_lon)
        ax.set_ylim(kde["lat"].min() - pad_lat, kde["lat"].max() + pad_lat)
    peak = kde.iloc[int(np.argmax(d))]
    where = _district_of(study, float(peak["lon"]), float(peak["lat"]))
    caption = t(
        "figure.kde_caption",
        radius=number(info.get("radius_m")),
        cell=number(info.get("cell_m")),
        peak=number(info.get("max_per_km2"), 1),
        lon=f"{float(peak['lon']):.3f}",
        lat=f"{float(peak['lat']):.3f}",
        where=t("figure.kde_where", district=term(where)) if where else "",
    )
    return _finish_keyed(fig, ax, path, "kde", "recipe-kde", caption)


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
    _label_points(ax, centres.iloc[[0, -1]], lambda row: str(row.year), fontsize=8)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(years.min(), years.max()))
    fig.colorbar(sm, ax=ax, shrink=0.6, label=t("figure.ellipse_label"))
    _zoom_to(ax, ellipses, pad=0.1)
    return _finish_keyed(fig, ax, path, "ellipse", "recipe-ellipse")


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
            plt.Line2D(
                [],
                [],
                marker="s",
                ls="",
                color=colour,
                label=t("figure.lisa_item", quad=term(quad), n=len(part)),
            )
        )
    ax.legend(handles=handles, loc="lower right", fontsize=8, title=t("figure.lisa_legend"))
    _zoom_to(ax, sig if len(sig) else cells, pad=0.3)
    info = _methods(study)
    caption = t(
        "figure.lisa_caption",
        cell=number(info.get("cell_m")),
        permutations=count(info.get("permutations")),
    )
    return _finish_keyed(fig, ax, path, "lisa", "recipe-lisa", caption)


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
    """Text and tables of the section (``recipe_*`` names for the template), in the current language."""
    m = _methods(study)
    synthetic = bool(study.summary.get("synthetic"))
    text: dict[str, list[str]] = {"kde": [], "ellipse": [], "lisa": [], "geodetector": []}
    if not m:
        return {"recipe_present": False, "recipe_text": text}

    ann = m.get("nearest_neighbour") or {}
    kde = m.get("kernel_density") or {}
    if ann.get("status") == "done":
        text["kde"].append(
            t(
                "recipe.ann",
                n=count(ann.get("n")),
                observed=number(ann.get("observed_m")),
                expected=number(ann.get("expected_m")),
                area=number(ann.get("area_km2")),
                ratio=number(ann.get("ratio"), 2),
                z=number(ann.get("z"), 1),
                p=p_rule(ann.get("p_value")),
                verdict=term(ann.get("verdict")),
            )
        )
    elif ann:
        text["kde"].append(t("recipe.ann_status", status=term(ann.get("status"))))
    if kde.get("status") == "done":
        frac = float(kde.get("cells_nonzero", 0)) / max(1, int(kde.get("cells_total", 1)))
        text["kde"].append(
            t(
                "recipe.kde",
                peak=number(kde.get("max_per_km2"), 1),
                share=share(frac, digits=0),
                cells=count(kde.get("cells_total")),
                radius=number(kde.get("radius_m")),
                tail=t("recipe.kde_small") if frac < 0.5 else t("recipe.kde_end"),
            )
        )

    ell = m.get("ellipse") or {}
    if ell.get("status") == "done":
        text["ellipse"].append(
            t(
                "recipe.ellipse",
                n=count(ell.get("n")),
                lon=f"{float(ell['centre_lon']):.3f}",
                lat=f"{float(ell['centre_lat']):.3f}",
                rotation=number(ell.get("rotation_deg")),
                a=number(float(ell["sigma_y_m"]) / 1e3, 1),
                b=number(float(ell["sigma_x_m"]) / 1e3, 1),
                area=number(float(ell["area_m2"]) / 1e6),
            )
        )
        p = ell.get("path")
        if isinstance(p, dict):
            change = float(p.get("area_change_pct", float("nan")))
            text["ellipse"].append(
                t(
                    "recipe.ellipse_path",
                    first=year(p.get("first_year")),
                    last=year(p.get("last_year")),
                    shift=number(float(p["net_shift_m"]) / 1e3, 1),
                    bearing=number(p.get("net_direction_deg")),
                    length=number(float(p["path_length_m"]) / 1e3, 1),
                    trend=t("recipe.contracted") if change < 0 else t("recipe.expanded"),
                    change=share(abs(change) / 100.0, digits=0),
                    meaning=t("recipe.more_concentrated") if change < 0 else t("recipe.spread"),
                )
            )
        elif p:
            text["ellipse"].append(t("recipe.ellipse_other", value=term(p)))
    elif ell:
        text["ellipse"].append(t("recipe.ellipse_status", status=term(ell.get("status"))))

    mor = m.get("moran") or {}
    lisa = m.get("lisa") or {}
    if mor.get("status") == "done":
        significant = float(mor.get("p_sim", 1.0)) <= 0.05
        positive = float(mor["I"]) > 0
        text["lisa"].append(
            t(
                "recipe.moran",
                n_cells=count(mor.get("n_cells")),
                cell=number(mor.get("cell_m")),
                I=f"{float(mor['I']):.3f}",
                expected=f"{float(mor['expected']):.4f}",
                z=number(mor.get("z_norm"), 1),
                p=p_rule(mor.get("p_sim")),
                permutations=count(mor.get("permutations")),
                verdict=t("recipe.moran_pos")
                if significant and positive
                else t("recipe.moran_neg")
                if significant
                else t("recipe.moran_ns"),
            )
        )
        hh, lh, hl, ll = (int(lisa.get(k, 0)) for k in ("HH", "LH", "HL", "LL"))
        cells = study.layer("lisa_cells")
        hh_share = ""
        if cells is not None and "count" in cells.columns and cells["count"].sum() > 0:
            in_hh = cells.loc[cells["label"].astype(str) == "HH", "count"].sum()
            hh_share = t("recipe.hh_share", share=share(in_hh / cells["count"].sum(), digits=0))
        text["lisa"].append(t("recipe.lisa", hh=hh, hh_share=hh_share, ll=ll, lh=lh, hl=hl))
    elif mor:
        text["lisa"].append(t("recipe.moran_status", status=term(mor.get("status"))))

    gd = m.get("geodetector") or {}
    factors = study.table("geodetector_factors")
    if gd.get("status") == "done" and factors is not None:
        used = factors[factors["status"] == "used"].sort_values("q", ascending=False)
        top = used.iloc[0]
        sig = used[used["p_value"] <= 0.05]
        text["geodetector"].append(
            t(
                "recipe.geodetector",
                n_cells=count(gd.get("n_cells")),
                top=term(top["factor"]),
                q=f"{float(top['q']):.3f}",
                p=p_rule(top["p_value"]),
                share=share(float(top["q"]), digits=0),
                weakest=term(used.iloc[-1]["factor"]),
                q_min=f"{float(used.iloc[-1]['q']):.3f}",
                n_sig=len(sig),
                n_used=len(used),
            )
        )
        inter = study.table("geodetector_interaction")
        if inter is not None and len(inter):
            best = inter.sort_values("q_interaction", ascending=False).iloc[0]
            types = inter["type"].value_counts()
            text["geodetector"].append(
                t(
                    "recipe.pair",
                    a=term(best["factor_1"]),
                    b=term(best["factor_2"]),
                    q=f"{float(best['q_interaction']):.3f}",
                    kind=term(best["type"]),
                    n=len(inter),
                    types=t("report.item_sep").join(
                        t("recipe.type_item", n=n, kind=term(k)) for k, n in types.items()
                    ),
                )
            )
        skipped = factors[factors["status"] != "used"]
        if len(skipped):
            text["geodetector"].append(
                t(
                    "recipe.not_used",
                    items=t("report.list_sep").join(
                        t("recipe.not_used_item", factor=term(r.factor), reason=term(r.reason))
                        for r in skipped.itertuples()
                    ),
                )
            )
        if synthetic:
            text["geodetector"].append(t("recipe.synthetic"))
    elif gd:
        text["geodetector"].append(t("recipe.geodetector_status", status=term(gd.get("status"))))
    ffile = m.get("factors_file")
    if isinstance(ffile, dict):
        names = t("report.item_sep").join(term(f) for f in ffile.get("factors", []))
        text["geodetector"].append(
            t(
                "recipe.user_factors",
                file=ffile.get("file"),
                status=term(ffile.get("status")),
                factors=f" — {names}" if names else "",
            )
        )
    cols = ["factor", "description", "q", "p_value", "n_strata", "method", "status", "reason"]
    sources = [term(v) for v in m.get("sources", []) or []]
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
