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
import numpy as np
import pandas as pd
from markupsafe import Markup

from clusterscape import __version__
from clusterscape.errors import InvalidInputError, MissingDependencyError
from clusterscape.i18n import (
    column_name,
    current_lang,
    messages,
    normalise_lang,
    t,
    term,
    use_lang,
)
from clusterscape.i18n.numbers import cell, count, is_missing, number, p_rule
from clusterscape.report.figures import CJK_FONT, FORM_COLOURS, Figure, make_figures
from clusterscape.results import SavedStudy, load_study, write_columns_zh, write_report_files

__all__ = ["CJK_FONT", "load_study", "write_report"]

#: The report's sections in order: the ``[report.section]`` keys of the catalogue.
SECTIONS = tuple(
    key.removeprefix("report.section.")
    for key in messages("en")
    if key.startswith("report.section.")
)

#: The methods paragraphs (catalogue keys ``report.methods.*``) after the datum sentence.
METHODS = (
    "sectors",
    "clusters",
    "hotspots",
    "concentration",
    "forms",
    "zones",
    "effects",
    "recipe",
)

#: Tables with more columns than this are set on a landscape page of the PDF.
WIDE_COLUMNS = 9


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _table(
    frame: pd.DataFrame | None,
    columns: list[str] | None = None,
    *,
    why: str,
    max_rows: int = 40,
) -> Markup:
    """A table, or "Not computed in this run: <why>." (every empty table says why).

    Headers are the columns' display names in the current language (the CSV keeps the English
    names); cells are formatted by :func:`clusterscape.i18n.numbers.cell` and text values go
    through :func:`clusterscape.i18n.term`. A table wider than :data:`WIDE_COLUMNS` columns
    is marked ``wide`` (a landscape page in the PDF).
    """
    if frame is None or frame.empty:
        reason = why
        for prefix in ("not computed: ", "skipped: "):
            if reason.lower().startswith(prefix):
                reason = reason[len(prefix) :]
        if why.startswith("0 ") or why.startswith(t("report.minute.none").split("{")[0]):
            text = why.rstrip(".。")
            return Markup('<p class="muted">{}{}</p>').format(text, t("report.stop"))
        return Markup('<p class="muted">{}</p>').format(
            t("report.not_computed", reason=term(reason.rstrip(".")))
        )
    shown = frame[[c for c in (columns or list(frame.columns)) if c in frame.columns]].head(
        max_rows
    )
    head = "".join(
        Markup('<th title="{}">{}</th>').format(c, column_name(str(c))) for c in shown.columns
    )
    rows = []
    for values in shown.itertuples(index=False):
        cells = []
        for c, v in zip(shown.columns, values, strict=True):
            if isinstance(v, (bool, np.bool_)):
                v = str(bool(v))
            text = term(v) if isinstance(v, str) else cell(v, str(c))
            numeric = not isinstance(v, str) and not is_missing(v)
            cells.append(
                Markup('<td class="num">{}</td>' if numeric else "<td>{}</td>").format(text)
            )
        rows.append(Markup("<tr>{}</tr>").format(Markup("").join(cells)))
    wide = " wide" if len(shown.columns) > WIDE_COLUMNS else ""
    out = Markup(
        '<div class="table{}"><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
    ).format(wide, Markup(head), Markup("\n").join(rows))
    if len(frame) > max_rows:
        out += Markup('<p class="muted">{}</p>').format(
            t("report.first_rows", shown=max_rows, total=len(frame))
        )
    return out + Markup("</div>")


def _sentence(text: str) -> str:
    """``text`` ending with a full stop of the language (unless it ends with punctuation)."""
    return text if text.endswith((".", "?", "!", "。", "？", "！")) else text + t("report.stop")


def _without(frame: pd.DataFrame | None, column: str) -> pd.DataFrame | None:
    """``frame`` without ``column`` (the Chinese report shows districts by their Chinese names)."""
    if frame is None or column not in frame.columns:
        return frame
    return frame.drop(columns=[column])


def _evidence(value: Any) -> str:
    """A card's evidence sentence; ``registry`` (the form was read from the parks registry) in words."""
    text = _text(value)
    if text == "registry":
        return t("report.card.from_registry")
    return term(text)


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
        return t("report.minute.not_run")
    reason = det.get("empty_reason") or det.get("status")
    if reason:
        return term(reason)
    return t(
        "report.minute.none",
        n_creative=count(summary.get("classify", {}).get("n_creative")),
        mcs=det.get("min_cluster_size"),
    )


def _amenity(name: Any) -> str:
    """An amenity's plural display name (``Hotels`` / ``酒店``)."""
    return messages(current_lang()).get(f"report.amenity.{name}", f"{name}s")


def _effects_why(summary: dict[str, Any]) -> str:
    parts = []
    for eff in summary.get("effects") or []:
        if eff.get("status", "estimated") != "estimated":
            reason = f"{t('report.colon')}{term(eff['reason'])}" if eff.get("reason") else ""
            parts.append(
                f"{_amenity(eff.get('amenity'))}{t('report.colon')}{term(eff['status'])}{reason}"
            )
    if parts:
        return t("report.list_sep").join(parts)
    return _why(summary, "effects", "no effect was estimated")


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() in {"true", "1", "1.0"}


def _minute(study: SavedStudy) -> list[str]:
    """The one-minute summary, in the current language (:func:`clusterscape.i18n.use_lang`)."""
    s = study.summary
    lines: list[str] = []
    inp = s.get("input", {})
    cls = s.get("classify", {})
    sep, items = t("report.list_sep"), t("report.item_sep")
    lines.append(
        t(
            "report.minute.analysed",
            n_analysed=count(inp.get("n_analysed", inp.get("n_accepted"))),
            n_creative=count(cls.get("n_creative")),
        )
    )
    table = study.table("clusters")
    n_sig = _n_significant(table)
    if table is not None and len(table):
        forms = table["form"].value_counts().to_dict() if "form" in table.columns else {}
        form_text = (
            items.join(t("report.minute.form_item", n=n, form=term(f)) for f, n in forms.items())
            if forms
            else t("report.minute.forms_untyped")
        )
        typed = (
            table[table["form"].astype(str) != "unclassified"]
            if "form" in table.columns
            else table.iloc[:0]
        )
        listed = sep.join(
            t(
                "report.minute.typed_item",
                name=r["nearest_park"]
                if _matched(r)
                else t("report.minute.cluster_name", id=r["cluster_id"]),
                district=t("report.open") + term(_text(r.get("district"))) + t("report.close")
                if _text(r.get("district"))
                else "",
                form=term(r["form"]),
            )
            for _, r in typed.sort_values("n_creative", ascending=False).iterrows()
        )
        sig_text = t("report.minute.significant", n=n_sig) if n_sig is not None else ""
        lines.append(
            t("report.minute.clusters", n=len(table), significant=sig_text, forms=form_text)
        )
        if listed:
            lines.append(t("report.minute.typed", listed=listed))
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
                t(
                    "report.minute.shapes",
                    shapes=items.join(
                        t("report.minute.shape_item", n=n, shape=term(k)) for k, n in shapes.items()
                    ),
                )
                if shapes
                else ""
            )
            lines.append(t("report.minute.unclassified", n=rest, shapes=shape_text))
    else:
        lines.append(_clusters_none(s).rstrip(".。") + t("report.stop"))
    large = s.get("large_scale")
    if isinstance(large, dict) and "verdict" in large:
        lines.append(t("report.minute.large", verdict=term(large["verdict"])))
    for row in s.get("measure", {}).get("statistics", [])[:4]:
        pv = row.get("p_value")
        has_p = isinstance(pv, (int, float)) and pv == pv
        has_range = row.get("r_min_m") is not None
        fields = {
            "statistic": term(row.get("statistic")),
            "verdict": term(row.get("verdict")),
            "null": term(row.get("null")),
            "range": t(
                "report.minute.range",
                r_min=number(row.get("r_min_m")),
                r_max=number(row.get("r_max_m")),
            )
            if has_range
            else t("report.stop"),
        }
        if has_p:
            lines.append(t("report.minute.statistic", p=p_rule(pv), **fields))
        else:
            lines.append(t("report.minute.statistic_nop", **fields))
    two = _two_tests(study)
    if two:
        lines.append(two)
    lines.extend(_effect_lines(s))
    if s.get("synthetic"):
        lines.append(t("report.minute.synthetic"))
    else:
        source = str(inp.get("source", "")).lower()
        if source.endswith((".osm.pbf", ".osm")) or "overpass" in source:
            lines.append(t("report.minute.osm"))
        lines.append(t("report.minute.limits"))
    return lines


def _n_significant(table: pd.DataFrame | None) -> int | None:
    """Clusters significant under random labelling (None without the column)."""
    if table is None or not len(table) or "significant" not in table.columns:
        return None
    return int(table["significant"].map(_is_true).sum())


def _two_tests(study: SavedStudy) -> str:
    """Why L (against CSR) can say clustered while clusters fail random labelling; "" if moot.

    Said wherever both verdicts appear (the one-minute summary and the concentration section):
    when a CSR statistic finds clustering and some clusters are not significant.
    """
    table = study.table("clusters")
    n_sig = _n_significant(table)
    if table is None or n_sig is None or n_sig >= len(table):
        return ""
    for row in (study.summary.get("measure") or {}).get("statistics", []) or []:
        if str(row.get("null", "")).startswith("CSR") and row.get("verdict") == "clustered":
            return t(
                "report.minute.two_tests",
                statistic=term(row.get("statistic")),
                n_sig=n_sig,
                n=len(table),
            )
    return ""


def _effect_lines(s: dict[str, Any]) -> list[str]:
    """The minute's sentences on the amenity effects."""
    lines = []
    sel = s.get("effects_clusters") or {}
    if sel:
        lines.append(
            t(
                "report.minute.selection",
                n_selected=sel.get("n_selected"),
                n_detected=sel.get("n_detected"),
                rule=term(sel.get("rule")),
            )
        )
    for eff in s.get("effects", []) or []:
        amenity = _amenity(eff.get("amenity"))
        if eff.get("status", "estimated") != "estimated":
            why = t("report.colon") + term(eff["reason"]) if eff.get("reason") else ""
            lines.append(
                t(
                    "report.minute.effect_status",
                    amenity=amenity,
                    status=term(eff["status"]),
                    why=why,
                )
            )
            continue
        radius = eff.get("influence_radius_m")
        ci = eff.get("influence_radius_ci") or [None, None]
        radius_text = (
            t(
                "report.minute.radius",
                radius=number(radius),
                ci_low=number(ci[0]),
                ci_high=number(ci[1]),
                centre=number(eff.get("influence_radius_from_centre_m")),
            )
            if radius is not None
            else t("report.minute.no_radius")
        )
        lines.append(
            t(
                "report.minute.effect",
                amenity=amenity,
                method=term(eff.get("method")),
                n_clusters=eff.get("n_clusters"),
                treated=number(eff.get("treated_m")),
                estimate=number(eff.get("estimate"), 3),
                unit=term(eff.get("unit", "")),
                ci_low=number(eff.get("ci_low"), 3),
                ci_high=number(eff.get("ci_high"), 3),
                p=p_rule(eff.get("p_value")),
                mde=number(eff.get("mde"), 3),
                inference=term(eff.get("inference", "")),
                radius=radius_text,
            )
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
                "form": term(form),
                "colour": FORM_COLOURS.get(form, "#7f7f7f"),
                "confidence": float(r["form_confidence"])
                if pd.notna(r.get("form_confidence", None))
                else None,
                "markusen": term(r.get("markusen")) if pd.notna(r.get("markusen", None)) else "",
                "evidence": _evidence(r.get("evidence")),
                "park": park if isinstance(park, str) and bool(matched) else "",
                "district": term(_text(r.get("district"))),
                "shape": term(_text(r.get("shape"))),
                "n_creative": count(r.get("n_creative")),
                "employees": count(r.get("employees"))
                if pd.notna(r.get("employees", None))
                else "",
                "area_km2": number(float(r.get("area_m2", 0.0)) / 1e6, 2),
            }
        )
    return cards


def study_terms(study: SavedStudy) -> dict[str, str]:
    """Names this study translates itself: its districts' ``name_en`` -> ``name_zh``."""
    districts = study.layer("districts")
    if districts is None or not {"name_en", "name_zh"} <= set(districts.columns):
        return {}
    pairs = districts[["name_en", "name_zh"]].dropna()
    return {str(en): str(zh) for en, zh in zip(pairs["name_en"], pairs["name_zh"], strict=True)}


def render_html(study: SavedStudy, figures: list[Figure], lang: str = "en") -> str:
    """Render the report's HTML text (images inlined) in ``lang`` (``en`` or ``zh``)."""
    with use_lang(lang, study_terms(study)):
        return _render_html(study, figures)


def _render_html(study: SavedStudy, figures: list[Figure]) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("clusterscape.report", "."),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    by_section: dict[str, list[Figure]] = {}
    for f in figures:
        by_section.setdefault(f.section, []).append(f)
    fig_dir = study.root / "figures"

    gap = "" if current_lang() == "zh" else " "  # no space after a Chinese full stop

    def figure(section: str) -> Markup:
        parts = []
        for f in by_section.get(section, []):
            parts.append(
                f'<figure><img alt="{html.escape(f.title)}" src="{_img(fig_dir / f.name)}">'
                f"<figcaption><b>{html.escape(_sentence(f.title))}</b>{gap}"
                f"{html.escape(f.caption)}</figcaption></figure>"
            )
        return Markup("".join(parts))

    s = study.summary
    rejected = study.table("rejected")
    reasons = (
        [
            (term(k), cell(v, "n"))
            for k, v in rejected["reason"]
            .astype(str)
            .str.split(":")
            .str[0]
            .value_counts()
            .head(12)
            .items()
        ]
        if rejected is not None and "reason" in rejected.columns and len(rejected)
        else []
    )
    zones = s.get("functional_zones") or {}
    zones_frame = (
        pd.DataFrame(sorted(zones.items(), key=lambda kv: -kv[1]), columns=["zone_label", "cells"])
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
        return str(status) if status and status != "done" else t("recipe.no_rows")

    recipe_tables = {
        f"{k}_html": _table(v, max_rows=60, why=recipe_why(k))
        for k, v in recipe.items()
        if k.startswith("recipe_") and (v is None or isinstance(v, pd.DataFrame))
    }
    crs = s.get("crs", {})
    datum = str(crs.get("source", "")).lower()
    from clusterscape.report._lifecycle import lifecycle_context

    template = env.get_template("template.html.j2")
    return template.render(
        **lifecycle_context(study),
        t=t,
        lang=current_lang(),
        recipe_present=recipe["recipe_present"],
        recipe_text=recipe["recipe_text"],
        recipe_sources=recipe.get("recipe_sources", []),
        **recipe_tables,
        title=t("report.title_builtin")
        if s.get("synthetic")
        else str(s.get("input", {}).get("source") or t("report.title_default")),
        synthetic=bool(s.get("synthetic")),
        sections=[(key, t(f"report.section.{key}")) for key in SECTIONS],
        minute=_minute(study),
        data_line=t(
            "report.data.rows",
            # exact here (rows read = accepted + rejected), grouped from 10,000 in Chinese
            n_rows=number(s.get("input", {}).get("n_rows")),
            n_accepted=number(s.get("input", {}).get("n_accepted")),
            n_rejected=number(s.get("input", {}).get("n_rejected")),
            merged=t("report.data.merged", n=number(s["input"]["n_merged"]))
            if s.get("input", {}).get("n_merged")
            else "",
            crs_source=term(crs.get("source", "?")),
            crs_metric=crs.get("metric", "?"),
            source=term(s.get("input", {}).get("source", "")) or "–",
        ),
        rejected_reasons=reasons,
        sectors=[
            (term(k), cell(v, "n"))
            for k, v in sorted(
                (s.get("classify", {}).get("by_sector") or {}).items(), key=lambda kv: -kv[1]
            )
        ],
        profiles_html=_table(
            _without(study.table("district_profiles"), "name_en" if current_lang() == "zh" else ""),
            why=_why(s, "district_profiles", "no district boundaries were given"),
        ),
        clusters_html=_table(study.table("clusters"), cluster_cols, why=_clusters_none(s)),
        cards=_cards(study.table("clusters")),
        two_tests=_two_tests(study),
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
            t(
                f"report.methods.{datum if datum in ('gcj02', 'bd09', 'bd09mc') else 'wgs84'}",
                metric=crs.get("metric", "?"),
            ),
            *(t(f"report.methods.{key}") for key in METHODS),
        ),
        figure=figure,
        version=__version__,
    )


def write_report(out_dir: str | Path, *, pdf: bool = False, lang: str = "en") -> Path:
    """Draw the figures into ``out_dir/figures`` and write ``out_dir/report.html`` (and ``report.pdf``).

    Parameters
    ----------
    out_dir : path
        A directory written by ``clusterscape run``.
    pdf : bool, default False
        Also write ``report.pdf`` (needs weasyprint); wide tables are set on landscape pages.
    lang : {"en", "zh"}, default "en"
        Language of every sentence, table header and figure label (``zh-CN`` and the like are
        accepted). Numbers are the same in both; CSV/GPKG column names stay English, and
        ``zh`` adds ``columns_zh.csv`` (their Chinese names).

    Returns
    -------
    pathlib.Path
        The path of the HTML report.
    """
    try:
        code = normalise_lang(lang)
    except ValueError as exc:
        raise InvalidInputError(f"write_report: {exc}") from None
    study = load_study(out_dir)
    with use_lang(code, study_terms(study)):
        figures = make_figures(study, study.root / "figures")
    text = render_html(study, figures, code)
    path = write_report_files(study.root, html=text)
    if code == "zh":
        write_columns_zh(study.root)
    if pdf:
        try:
            import weasyprint
        except ImportError as exc:  # pragma: no cover - weasyprint is in the pdf extra
            raise MissingDependencyError(
                "--pdf needs weasyprint: pip install 'clusterscape[pdf]'"
            ) from exc
        pdf_bytes = weasyprint.HTML(string=text, base_url=str(study.root)).write_pdf()
        write_report_files(study.root, pdf=pdf_bytes)
    return path
