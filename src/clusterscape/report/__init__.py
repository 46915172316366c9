"""The HTML (and PDF) report: one self-contained file built from a saved study directory.

The report reads saved results only (``summary.json``, the CSV tables, ``results.gpkg``), all
through :mod:`clusterscape.results`; it recomputes nothing, so it shows exactly what the run
wrote.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from clusterscape import __version__
from clusterscape.errors import MissingDependencyError
from clusterscape.report.figures import CJK_FONT, FORM_COLOURS, Figure, make_figures
from clusterscape.results import SavedStudy, load_study

__all__ = ["CJK_FONT", "load_study", "write_report"]

SECTIONS = (
    ("minute", "In one minute"),
    ("data", "Data"),
    ("economy", "Sectors & districts"),
    ("clusters", "Clusters"),
    ("concentration", "Concentration"),
    ("urban", "Zones & centres"),
    ("effects", "Effects"),
    ("hotspots", "Emerging hot spots"),
    ("lifecycle", "Through time"),
    ("recipe", "Published methods"),
    ("methods", "Methods"),
)

#: The coordinates sentence of the methods, by the run's input datum.
DATUM_METHODS = {
    "wgs84": "Coordinates: WGS-84 as given (OpenStreetMap and GPS data are WGS-84); distances in "
    "the local UTM zone ({metric}).",
    "gcj02": "Coordinates: GCJ-02 (Amap) converted to WGS-84 with the public forward formula and an "
    "iterative inverse; distances in the local UTM zone ({metric}).",
    "bd09": "Coordinates: BD-09 (Baidu) converted to WGS-84 with the public forward formula and an "
    "iterative inverse; distances in the local UTM zone ({metric}).",
}

METHODS = (
    "Creative sectors: NBS 文化及相关产业分类(2018) over GB/T 4754-2017, UK DCMS SIC 2007 creative industries "
    "(Bakhshi, Freeman & Higgs 2013), Amap POI types, OSM tags and keywords.",
    "Clusters: HDBSCAN (Campello, Moulavi & Sander 2013; McInnes, Healy & Astels 2017) on creative establishments; "
    "footprints are concave hulls; stability by resampling (Arribas-Bel, Garcia-López & Viladecans-Marsal 2021).",
    "Hot spots: Getis–Ord Gi* (Getis & Ord 1992; Ord & Getis 1995) with Benjamini–Hochberg FDR (1995).",
    "Concentration: Ripley K/L with spatstat's conventions (Ripley 1977; Baddeley, Rubak & Turner 2015), "
    "inhomogeneous K (Baddeley, Møller & Waagepetersen 2000), Duranton & Overman (2005) Kd, Marcon & Puech (2010) M, "
    "co-location quotients (Leslie & Kronenfeld 2011; Wang et al. 2017), Ellison & Glaeser (1997) γ.",
    "Cluster forms: new park, converted industrial site, converted heritage building, government-backed street, "
    "anchor enterprise, each only with its defining evidence (a dated registry park, former industrial land, a "
    "heritage former use, government support, headcounts); shape alone gives only a descriptor (linear, "
    "elongated, compact); Markusen (1996) types.",
    "Functional zones: frequency density and category ratio (池娇, 焦利民, 董婷 等 2016, 测绘地理信息 41(2)); centres "
    "from density peaks with significance and minimum-mass cut-offs (Giuliano & Small 1991; McMillen 2001).",
    "Effects: ring difference-in-differences and event study around cluster openings (Linden & Rockoff 2008) and "
    "the nonparametric rings estimator (Butts 2023); emerging hot spots with space-time Gi* and Mann–Kendall in "
    "ESRI's 17 categories.",
    "Published methods: average nearest neighbour (Clark & Evans 1954, ArcGIS's formulas), kernel density "
    "(quartic kernel, ArcGIS's search radius), standard deviational ellipse (Lefever 1926; ArcGIS Pro's √2 "
    "convention), global and local Moran's I (Moran 1950; Anselin 1995), GeoDetector (Wang et al. 2010; "
    "q-statistic p from the noncentral F, Wang, Zhang & Fu 2016) with optimal discretisation (Song et al. 2020).",
)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


#: Columns shown with 5 decimals (about 1 m): coordinates in degrees.
_COORDINATE_COLUMNS = ("lon", "lat", "longitude", "latitude")


def _table(
    frame: pd.DataFrame | None,
    columns: list[str] | None = None,
    *,
    why: str,
    max_rows: int = 40,
) -> Markup:
    """A table, or "Not computed in this run: <why>." (every empty table says why)."""
    if frame is None or frame.empty:
        reason = why
        for prefix in ("not computed: ", "skipped: "):
            if reason.lower().startswith(prefix):
                reason = reason[len(prefix) :]
        text = why if why.startswith("0 ") else f"Not computed in this run: {reason}"
        return Markup('<p class="muted">{}.</p>').format(text.rstrip("."))
    shown = frame[[c for c in (columns or list(frame.columns)) if c in frame.columns]].head(
        max_rows
    )

    def coordinate(v: Any) -> str:
        return "–" if pd.isna(v) else f"{float(v):.5f}"

    formatters: dict[Any, Any] = {c: coordinate for c in _COORDINATE_COLUMNS if c in shown}
    out = shown.to_html(
        index=False,
        escape=True,
        float_format=lambda v: f"{v:,.3g}",
        formatters=formatters,
        na_rep="–",
        border=0,
    )
    if len(frame) > max_rows:
        out += f'<p class="muted">First {max_rows} of {len(frame)} rows; all in the CSV.</p>'
    return Markup(out)


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _matched(row: pd.Series) -> bool:
    """True when the cluster was matched to a registry park (typology's one-to-one match)."""
    name = row.get("nearest_park")
    matched = row.get("park_matched", False)
    return isinstance(name, str) and bool(matched) and not pd.isna(matched)


def _text(value: Any) -> str:
    """A table cell as text: "" for missing values (never "nan")."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def _why(summary: dict[str, Any], key: str, default: str) -> str:
    """The run's own reason for a step it skipped (summary["skipped"]), else ``default``."""
    reason = (summary.get("skipped") or {}).get(key)
    return str(reason) if reason else default


def _clusters_none(summary: dict[str, Any]) -> str:
    """What the report says when detection found no cluster."""
    det = summary.get("detect") or {}
    if not det:
        return "clustering was not run"
    reason = det.get("empty_reason") or det.get("status")
    if reason:
        return str(reason)
    return (
        f"0 clusters found ({_fmt(summary.get('classify', {}).get('n_creative'))} creative "
        f"establishments, min_cluster_size {det.get('min_cluster_size')})"
    )


def _effects_why(summary: dict[str, Any]) -> str:
    parts = []
    for eff in summary.get("effects") or []:
        if eff.get("status", "estimated") != "estimated":
            reason = f": {eff['reason']}" if eff.get("reason") else ""
            parts.append(f"{eff.get('amenity')}: {eff['status']}{reason}")
    if parts:
        return "; ".join(parts)
    return _why(summary, "effects", "no effect was estimated")


def _minute(study: SavedStudy) -> list[str]:
    s = study.summary
    lines: list[str] = []
    inp = s.get("input", {})
    cls = s.get("classify", {})
    lines.append(
        f"{_fmt(inp.get('n_accepted'))} establishments were analysed, {_fmt(cls.get('n_creative'))} of them creative."
    )
    table = study.table("clusters")
    if table is not None and len(table):
        forms = table["form"].value_counts().to_dict() if "form" in table.columns else {}
        form_text = ", ".join(f"{n} {f}" for f, n in forms.items()) if forms else "forms not typed"
        typed = (
            table[table["form"].astype(str) != "unclassified"]
            if "form" in table.columns
            else table.iloc[:0]
        )
        listed = "; ".join(
            f"{r['nearest_park'] if _matched(r) else 'cluster ' + str(r['cluster_id'])}"
            + (f" ({_text(r.get('district'))})" if _text(r.get("district")) else "")
            + f": {r['form']}"
            for _, r in typed.sort_values("n_creative", ascending=False).iterrows()
        )
        n_sig = (
            int(table["significant"].astype(str).str.lower().isin({"true", "1"}).sum())
            if "significant" in table.columns
            else None
        )
        sig_text = f", {n_sig} of them significant" if n_sig is not None else ""
        lines.append(f"{len(table)} creative clusters were found{sig_text} ({form_text}).")
        if listed:
            lines.append(f"Typed clusters: {listed}.")
        rest = len(table) - len(typed)
        if rest:
            shapes = (
                table.loc[table["form"].astype(str) == "unclassified", "shape"]
                .map(_text)
                .replace("", pd.NA)
                .dropna()
                .value_counts()
                .to_dict()
                if "shape" in table.columns and "form" in table.columns
                else {}
            )
            shape_text = (
                " (shapes: " + ", ".join(f"{n} {k}" for k, n in shapes.items()) + ")"
                if shapes
                else ""
            )
            lines.append(
                f"{rest} cluster(s) stay unclassified: no form had its defining evidence in "
                f"this study's inputs{shape_text}; each card says what was missing."
            )
    else:
        lines.append(_clusters_none(s).rstrip(".") + ".")
    large = s.get("large_scale")
    if isinstance(large, dict) and "verdict" in large:
        lines.append(f"Large-scale cluster question: {large['verdict']}")
    for row in s.get("measure", {}).get("statistics", [])[:4]:
        pv = row.get("p_value")
        p_text = f" (p = {_fmt(pv, 3)})" if isinstance(pv, (int, float)) and pv == pv else ""
        lines.append(
            f"{row.get('statistic')}: {row.get('verdict')} against {row.get('null')}{p_text}"
            + (
                f" between {_fmt(row.get('r_min_m'))} and {_fmt(row.get('r_max_m'))} m."
                if row.get("r_min_m") is not None
                else "."
            )
        )
    sel = s.get("effects_clusters") or {}
    if sel:
        lines.append(
            f"Effects are estimated on {sel.get('n_selected')} of {sel.get('n_detected')} clusters "
            f"({sel.get('rule')}); the treated rings of every significant cluster are masked from the "
            "control rings."
        )
    for eff in s.get("effects", []) or []:
        if eff.get("status", "estimated") != "estimated":
            why = f": {eff['reason']}" if eff.get("reason") else ""
            lines.append(f"{eff.get('amenity')}s near clusters: {eff['status']}{why}.")
            continue
        radius = eff.get("influence_radius_m")
        ci = eff.get("influence_radius_ci") or [None, None]
        lines.append(
            f"{eff.get('amenity')}s near clusters ({eff.get('method')}, {eff.get('n_clusters')} clusters, "
            f"treated ring 0–{_fmt(eff.get('treated_m'))} m): effect {_fmt(eff.get('estimate'), 3)} "
            f"{eff.get('unit', '')} "
            f"(95 % CI {_fmt(eff.get('ci_low'), 3)} to {_fmt(eff.get('ci_high'), 3)}, p = {_fmt(eff.get('p_value'), 3)}; "
            f"minimum detectable effect {_fmt(eff.get('mde'), 3)}; {eff.get('inference', '')})"
            + (
                f", influence radius {_fmt(radius)} m from the footprint edge "
                f"({_fmt(ci[0])}–{_fmt(ci[1])} m; ≈ {_fmt(eff.get('influence_radius_from_centre_m'))} m "
                "from the centre)."
                if radius is not None
                else ", no distance bin significant under the uniform band: no influence radius."
            )
        )
    if s.get("synthetic"):
        lines.append(
            "What the data can and cannot say: the firms are synthetic, so these numbers show that the methods recover "
            "planted clusters and effects — not what happened in Ningbo."
        )
    else:
        source = str(inp.get("source", "")).lower()
        if source.endswith((".osm.pbf", ".osm")) or "overpass" in source:
            lines.append(
                "What the data can and cannot say: OpenStreetMap maps venues (museums, galleries, "
                "theatres, shops) far better than firms (studios, agencies, offices without a "
                "sign), so clusters here are cultural quarters of venues, not creative-industry "
                "clusters of firms; it has no headcounts, founding years or registry, so forms "
                "need a parks registry or land-use layer."
            )
        lines.append(
            "What the data can and cannot say: co-location and timing, not causation beyond the ring design's "
            "assumptions; establishments missing from the input are missing from every result."
        )
    return lines


def _cards(table: pd.DataFrame | None) -> list[dict[str, Any]]:
    if table is None:
        return []
    cards = []
    for _, r in table.iterrows():
        form = (
            str(r.get("form", "unclassified")) if pd.notna(r.get("form", None)) else "unclassified"
        )
        park = r.get("nearest_park")
        matched = r.get("park_matched", True)
        cards.append(
            {
                "cluster_id": int(r["cluster_id"]),
                "form": form,
                "colour": FORM_COLOURS.get(form, "#7f7f7f"),
                "confidence": float(r["form_confidence"])
                if pd.notna(r.get("form_confidence", None))
                else None,
                "markusen": r.get("markusen") if pd.notna(r.get("markusen", None)) else "",
                "evidence": r.get("evidence") if pd.notna(r.get("evidence", None)) else "",
                "park": park if isinstance(park, str) and bool(matched) else "",
                "district": _text(r.get("district")),
                "shape": _text(r.get("shape")),
                "n_creative": _fmt(r.get("n_creative")),
                "employees": _fmt(r.get("employees")) if pd.notna(r.get("employees", None)) else "",
                "area_km2": _fmt(float(r.get("area_m2", 0.0)) / 1e6, 2),
            }
        )
    return cards


def render_html(study: SavedStudy, figures: list[Figure]) -> str:
    """Render the report's HTML text (images inlined)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("clusterscape.report", "."),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    by_section: dict[str, list[Figure]] = {}
    for f in figures:
        by_section.setdefault(f.section, []).append(f)
    fig_dir = study.root / "figures"

    def figure(section: str) -> Markup:
        parts = []
        for f in by_section.get(section, []):
            parts.append(
                f'<figure><img alt="{html.escape(f.title)}" src="{_img(fig_dir / f.name)}">'
                f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>"
            )
        return Markup("".join(parts))

    s = study.summary
    rejected = study.table("rejected")
    reasons = (
        list(rejected["reason"].astype(str).str.split(":").str[0].value_counts().head(12).items())
        if rejected is not None and "reason" in rejected.columns and len(rejected)
        else []
    )
    zones = s.get("functional_zones") or {}
    zones_frame = (
        pd.DataFrame(sorted(zones.items(), key=lambda kv: -kv[1]), columns=["zone label", "cells"])
        if zones
        else None
    )
    hotspots: dict[str, int] = {
        str(k): int(v) for k, v in (s.get("emerging_hotspots") or {}).items() if isinstance(v, int)
    }
    hot_rows: list[tuple[str, int]] = sorted(hotspots.items(), key=lambda kv: kv[1], reverse=True)
    hot_frame = pd.DataFrame(hot_rows, columns=["pattern", "cells"]) if hot_rows else None
    centres = pd.DataFrame(s.get("centres") or [])
    cluster_cols = [
        "cluster_id",
        "district",
        "form",
        "form_confidence",
        "markusen",
        "n_creative",
        "n_establishments",
        "employees",
        "area_m2",
        "lon",
        "lat",
        "shape",
    ]
    from clusterscape.report._recipe import recipe_context

    recipe = recipe_context(study)
    raw_steps = s.get("methods")
    steps: dict[str, Any] = raw_steps if isinstance(raw_steps, dict) else {}
    step_of = {
        "recipe_ann": "nearest_neighbour",
        "recipe_moran": "moran",
        "recipe_factors": "geodetector",
        "recipe_interaction": "geodetector",
    }

    def recipe_why(key: str) -> str:
        status = (steps.get(step_of.get(key, ""), {}) or {}).get("status")
        return str(status) if status and status != "done" else "no rows for this table"

    recipe_tables = {
        f"{k}_html": _table(v, max_rows=60, why=recipe_why(k))
        for k, v in recipe.items()
        if k.startswith("recipe_") and (v is None or isinstance(v, pd.DataFrame))
    }
    from clusterscape.report._lifecycle import lifecycle_context

    template = env.get_template("template.html.j2")
    return template.render(
        **lifecycle_context(study),
        recipe_present=recipe["recipe_present"],
        recipe_text=recipe["recipe_text"],
        recipe_sources=recipe.get("recipe_sources", []),
        **recipe_tables,
        title="Ningbo (built-in study)"
        if s.get("synthetic")
        else str(s.get("input", {}).get("source", "study")),
        synthetic=bool(s.get("synthetic")),
        sections=SECTIONS,
        minute=_minute(study),
        n_rows=_fmt(s.get("input", {}).get("n_rows")),
        n_accepted=_fmt(s.get("input", {}).get("n_accepted")),
        n_rejected=_fmt(s.get("input", {}).get("n_rejected")),
        crs_source=s.get("crs", {}).get("source", "?"),
        crs_metric=s.get("crs", {}).get("metric", "?"),
        source=s.get("input", {}).get("source", ""),
        rejected_reasons=reasons,
        sectors=sorted(
            (s.get("classify", {}).get("by_sector") or {}).items(), key=lambda kv: -kv[1]
        ),
        profiles_html=_table(
            study.table("district_profiles"),
            why=_why(s, "district_profiles", "no district boundaries were given"),
        ),
        clusters_html=_table(study.table("clusters"), cluster_cols, why=_clusters_none(s)),
        cards=_cards(study.table("clusters")),
        concentration_html=_table(
            study.table("concentration"),
            why=_why(s, "measure", str((s.get("measure") or {}).get("status", "not run"))),
        ),
        zones_html=_table(zones_frame, why="no establishments to zone"),
        centres_html=_table(
            centres if len(centres) else None,
            why=_why(s, "centres", "no centre passed the significance and mass cut-offs"),
        ),
        effects_html=_table(study.table("effects"), why=_effects_why(s)),
        hotspots_html=_table(
            hot_frame,
            why=str(
                (s.get("emerging_hotspots") or {}).get("status")
                or _why(s, "emerging_hotspots", "no emerging hot spot analysis in this run")
            ),
        ),
        methods=(
            DATUM_METHODS.get(
                str(s.get("crs", {}).get("source", "")).lower(), DATUM_METHODS["wgs84"]
            ).format(metric=s.get("crs", {}).get("metric", "?")),
            *METHODS,
        ),
        figure=figure,
        version=__version__,
    )


def write_report(out_dir: str | Path, *, pdf: bool = False) -> Path:
    """Draw the figures into ``out_dir/figures`` and write ``out_dir/report.html`` (and ``report.pdf``).

    Returns the path of the HTML report.
    """
    study = load_study(out_dir)
    figures = make_figures(study, study.root / "figures")
    text = render_html(study, figures)
    path = study.root / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    if pdf:
        try:
            import weasyprint
        except ImportError as exc:  # pragma: no cover - weasyprint is in the pdf extra
            raise MissingDependencyError(
                "--pdf needs weasyprint: pip install 'clusterscape[pdf]'"
            ) from exc
        weasyprint.HTML(string=text, base_url=str(study.root)).write_pdf(study.root / "report.pdf")
    return path
