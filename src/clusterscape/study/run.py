"""The pipeline: load -> classify -> detect -> measure -> typology -> urban structure -> effects -> write.

``run_study`` returns a :class:`StudyResult` held in memory;
:func:`clusterscape.results.write_study` puts it on disk atomically (an interrupted run leaves
the previous outputs intact). Steps never import this module; this module only calls the steps'
public functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from clusterscape.coords import is_datum_name, local_metric_crs, normalise_datum
from clusterscape.errors import InvalidInputError
from clusterscape.io._registry import RATES_DATE
from clusterscape.io.layers import read_boundary, read_landuse, read_parks
from clusterscape.results import clusters_table as _clusters_table
from clusterscape.results import json_safe as _jsonable
from clusterscape.results import records as _records
from clusterscape.results import write_city_study
from clusterscape.study.config import StudyConfig

__all__ = ["StudyConfig", "StudyInputs", "StudyResult", "run_by_city", "run_study"]


@dataclass(frozen=True, slots=True)
class StudyInputs:
    """What the load step hands on: the accepted establishments and the study's other inputs.

    Layers are in the source datum as read (EPSG:4326 for establishments). ``truth`` is the
    planted truth of the built-in synthetic study, ``None`` for user data. Item access
    (``inputs["rejected"]``) reads the attribute of that name.
    """

    establishments: gpd.GeoDataFrame
    rejected: pd.DataFrame
    n_rows: int
    boundary: gpd.GeoDataFrame | None
    districts: gpd.GeoDataFrame | None
    parks: gpd.GeoDataFrame | None
    landuse: gpd.GeoDataFrame | None
    truth: Any
    synthetic: bool
    source_crs: str
    notes: pd.DataFrame | None = None
    duplicates: int = 0
    messages: tuple[str, ...] = ()
    merged: pd.DataFrame | None = None
    #: the datum the establishments were read in when the reader chose it (API responses carry
    #: their provider's), else "" (the run's datum, ``source_crs``)
    read_datum: str = ""

    def __getitem__(self, key: str) -> Any:
        """Read the attribute ``key`` (``inputs["rejected"]`` is ``inputs.rejected``)."""
        return getattr(self, key)


@dataclass(slots=True)
class StudyResult:
    """What a run produced, in memory. ``layers`` are GeoDataFrames; ``tables`` DataFrames."""

    config: StudyConfig
    synthetic: bool
    establishments: gpd.GeoDataFrame
    rejected: pd.DataFrame
    summary: dict[str, Any]
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metric_crs: Any = None


Progress = Callable[[str, str], None]


def _noop(step: str, message: str) -> None:
    return None


@contextmanager
def _step(progress: Progress, name: str) -> Iterator[None]:
    progress(name, "start")
    yield
    progress(name, "done")


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="Int64"),
            "id": pd.Series(dtype="string"),
            "reason": pd.Series(dtype="string"),
        }
    )


def _load(config: StudyConfig) -> StudyInputs:
    """Step 1: establishments + study inputs (built-in Ningbo or the user's files)."""
    if config.establishments is None:
        from clusterscape.datasets import ningbo

        inputs = ningbo(scenario=config.scenario, seed=config.seed)
        est = inputs.establishments
        return StudyInputs(
            establishments=est,
            rejected=_empty_rejected(),
            n_rows=len(est),
            boundary=inputs.boundary,
            districts=inputs.districts,
            parks=inputs.parks,
            landuse=inputs.landuse,
            truth=inputs.truth,
            synthetic=True,
            source_crs="wgs84",
        )
    from clusterscape.io.source import read_source

    datum = normalise_datum(config.datum, caller="run")
    columns = dict(config.columns or {}) or None
    source = config.establishments
    if config.engine == "dask":
        from clusterscape.study.dask import dask_client, read_establishments_dask

        with dask_client(config.scheduler):
            loaded: Any = read_establishments_dask(source, datum=datum, columns=columns)
    else:  # a file, an .osm.pbf extract or a PostGIS URL
        loaded = read_source(source, datum=datum, columns=columns)
    est = loaded.establishments
    if est.empty:
        raise InvalidInputError(
            f"{_redact(config.establishments)}: no usable rows ({len(loaded.rejected)} rejected); list them with "
            f"`clusterscape validate {_redact(config.establishments)} --out DIR`, which lists every row with its reason."
        )
    boundary = read_boundary(config.boundary, datum=datum) if config.boundary else None
    rejected = loaded.rejected
    source_rows = getattr(loaded, "source_rows", None)
    if config.capital_rates:
        from clusterscape.io import convert_capital

        est = convert_capital(est, config.capital_rates)
    est, merged, source_rows = _merge_duplicates(est, source_rows, config.duplicates)
    if boundary is None:
        est, rejected = _reject_far_outliers(est, rejected, source_rows)
    else:
        est, rejected = _reject_outside(est, rejected, source_rows, boundary)
        if est.empty:
            raise InvalidInputError(
                f"{_redact(config.establishments)}: no row lies inside {config.boundary}; check --datum for both files."
            )
    return StudyInputs(
        establishments=est,
        rejected=rejected,
        n_rows=int(getattr(loaded, "n_rows", len(est) + len(rejected))),
        notes=_loaded_notes(loaded),
        duplicates=int(getattr(loaded, "duplicates", 0)),
        messages=tuple(getattr(loaded, "messages", ())),
        merged=merged,
        boundary=boundary,
        districts=None,
        parks=read_parks(config.parks, datum=datum) if config.parks else None,
        landuse=read_landuse(config.landuse, datum=datum) if config.landuse else None,
        truth=None,
        synthetic=bool(est["synthetic"].any()) if "synthetic" in est.columns else False,
        source_crs=datum,
        read_datum=_read_datum(loaded, datum),
    )


def _merge_duplicates(
    est: gpd.GeoDataFrame, source_rows: Any, mode: str
) -> tuple[gpd.GeoDataFrame, pd.DataFrame | None, Any]:
    """Rows listing an establishment already listed are merged into it (``duplicates.csv``).

    ``kept_row``/``dropped_row`` are file rows when the reader gave them (else positions among
    the accepted rows); accepted rows = kept + merged.
    """
    if mode != "drop":
        return est, None, source_rows
    from clusterscape.io.dedupe import drop_duplicates

    kept, dups = drop_duplicates(est)
    if source_rows is not None and len(source_rows) == len(est):
        rows = np.asarray(source_rows)
        keep = np.ones(len(est), dtype=bool)
        keep[dups["dropped_row"].to_numpy(dtype=np.int64)] = False
        dups = dups.assign(
            kept_row=rows[dups["kept_row"].to_numpy(dtype=np.int64)],
            dropped_row=rows[dups["dropped_row"].to_numpy(dtype=np.int64)],
        )
        source_rows = rows[keep]
    return kept, dups, source_rows


def _read_datum(loaded: Any, datum: str) -> str:
    """The reader's datum when it differs from the run's (Amap responses are GCJ-02), else ""."""
    got = str(getattr(loaded, "source_crs", datum))
    return got if got != datum and is_datum_name(got) else ""


def _reject_outside(
    est: gpd.GeoDataFrame, rejected: pd.DataFrame, source_rows: Any, boundary: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Rows outside the study boundary are not analysed; they are listed, not dropped silently."""
    inside = est.geometry.within(boundary.geometry.iloc[0].buffer(1e-9))
    if inside.all():
        return est, rejected
    outside = (~inside).to_numpy()
    out_rows = pd.DataFrame(
        {
            "row": pd.array(
                source_rows[outside]
                if source_rows is not None and len(source_rows) == len(est)
                else [pd.NA] * int(outside.sum()),
                dtype="Int64",
            ),
            "id": est.loc[~inside, "id"].astype("string").to_numpy(),
            "reason": "outside the study boundary (--boundary)",
        }
    )
    rejected = pd.concat([rejected, out_rows], ignore_index=True)
    return est[inside.to_numpy()].reset_index(drop=True), rejected


def _loaded_notes(loaded: Any) -> pd.DataFrame:
    """The reader's field notes (``row, id, field, value, note``), empty when there are none."""
    from clusterscape.io.establishments import empty_notes

    notes = getattr(loaded, "notes", None)
    return notes if isinstance(notes, pd.DataFrame) else empty_notes()


#: without --boundary, a row farther from the median centre than FAR_FACTOR times the radius
#: holding 99 % of the rows (and at least FAR_MIN_KM) is a far outlier (a mis-geocoded firm)
FAR_FACTOR = 4.0
FAR_MIN_KM = 50.0


def _reject_far_outliers(
    est: gpd.GeoDataFrame, rejected: pd.DataFrame, source_rows: Any
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Move far outliers to the rejected rows, with their distance and the fix.

    Without a boundary the study area is the establishments' extent, so one firm geocoded in
    another province would stretch the window of every concentration statistic and move the
    metric CRS. The rule adapts to the scale of the data (a national table keeps its spread).
    """
    if len(est) < 20:
        return est, rejected
    geo = (
        est.geometry.to_crs("EPSG:4326")
        if est.crs is not None and not est.crs.is_geographic
        else est.geometry
    )
    lon, lat = geo.x.to_numpy(), geo.y.to_numpy()
    lon0, lat0 = float(np.median(lon)), float(np.median(lat))
    # equirectangular distance: exact enough to tell tens from hundreds of kilometres
    dx = np.radians(lon - lon0) * np.cos(np.radians(lat0))
    dy = np.radians(lat - lat0)
    km = 6371.0 * np.hypot(dx, dy)
    limit = max(FAR_FACTOR * float(np.quantile(km, 0.99)), FAR_MIN_KM)
    far = km > limit
    if not far.any():
        return est, rejected
    rows = (
        source_rows[far]
        if source_rows is not None and len(source_rows) == len(est)
        else [pd.NA] * int(far.sum())
    )
    out_rows = pd.DataFrame(
        {
            "row": pd.array(rows, dtype="Int64"),
            "id": est.loc[far, "id"].astype("string").to_numpy(),
            "reason": [
                f"far outlier: {d:,.0f} km from the median centre of the establishments "
                f"({lon0:.3f}, {lat0:.3f}), more than {limit:,.0f} km; a wrong geocode or "
                "datum? Pass --boundary to set the study area yourself"
                for d in km[far]
            ],
        }
    )
    return est[~far].reset_index(drop=True), pd.concat([rejected, out_rows], ignore_index=True)


def _study_window(
    establishments: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame | None, crs: Any
) -> Any:
    """The study area in metres: the boundary, or the establishments' extent (convex hull + 1 %)."""
    if boundary is not None:
        return boundary.to_crs(crs).union_all()
    pts = establishments.to_crs(crs).geometry
    hull = pts.union_all().convex_hull
    return hull.buffer(max(math.sqrt(hull.area) * 0.01, 1.0))


@dataclass(slots=True)
class _Run:
    """The state one step hands to the next (the data contract of :func:`run_study`).

    ``est`` is WGS-84 (classified after ``classify``, with ``cluster`` after ``detect``);
    ``est_m`` the same rows in the local metric CRS ``metric``; ``window`` the study area in
    metres; ``clusters_m`` the detected footprints (metric CRS, index = cluster id). Steps
    that add per-cluster columns append ``(frame, suffix)`` to ``cluster_columns`` (frames
    indexed by cluster id); they are joined onto ``clusters.csv`` once, after the last step.
    """

    config: StudyConfig
    inputs: StudyInputs
    result: StudyResult
    metric: Any
    est: gpd.GeoDataFrame
    est_m: gpd.GeoDataFrame | None = None
    window: Any = None
    clusters_m: gpd.GeoDataFrame | None = None
    cluster_columns: list[tuple[pd.DataFrame, str]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    @property
    def has_clusters(self) -> bool:
        return self.clusters_m is not None and len(self.clusters_m) > 0


def run_study(config: StudyConfig, *, progress: Progress | None = None) -> StudyResult:
    """Run every available step of the study and return the results in memory.

    The steps, in order: ``load`` (inputs), ``classify``, ``detect``, ``measure`` (skipped for
    a creative-only registry), then, when clusters were found, ``typology``; ``urban``;
    ``effects`` when clusters were found; ``lifecycle`` (clusters through time, when the
    firms have founding years); and ``methods`` (the published-study chain). Every option was checked when ``config`` was built.
    """
    progress = progress or _noop
    _preflight(config)
    with _step(progress, "load"):
        inputs = _load(config)
    run = _start(config, inputs)
    with _step(progress, "classify"):
        _classify(run)
    _project(run)
    with _step(progress, "detect"):
        _detect(run)
    if bool(run.est_m["is_creative"].all()):  # type: ignore[index]
        # A registry of creative firms only has no population to compare them with.
        reason = (
            "skipped: every establishment is creative (a creative-only registry), so the "
            "statistics that compare creative firms with all establishments (concentration, "
            "co-location, relative K) have no population; give a table of all firms for them"
        )
        run.summary["measure"] = {"status": reason}
        run.summary.setdefault("skipped", {})["measure"] = reason
    else:
        with _step(progress, "measure"):
            _measure(run)
    if run.has_clusters:
        with _step(progress, "typology"):
            _typology(run)
    with _step(progress, "urban"):
        _urban(run)
    if run.has_clusters:
        with _step(progress, "effects"):
            _effects(run)
    with _step(progress, "lifecycle"):
        _lifecycle(run)
    with _step(progress, "methods"):
        _methods(run)
    _finish(run)
    return run.result


def _preflight(config: StudyConfig) -> None:
    """Checks that need a file, before the first step: the taxonomy overrides must load."""
    if config.classify.taxonomy:
        from clusterscape.taxonomy import load_taxonomy

        load_taxonomy(config.classify.taxonomy)  # cached: classify reuses it


def _start(config: StudyConfig, inputs: StudyInputs) -> _Run:
    """The run's state after loading: input summary, metric CRS, the input layers."""
    est, stacks = _mark_stacks(inputs.establishments, config.stack)
    centre = est.geometry.to_crs("EPSG:4326") if not est.crs.is_geographic else est.geometry
    metric = local_metric_crs(lon=float(centre.x.median()), lat=float(centre.y.median()))
    notes = inputs.notes if inputs.notes is not None else _loaded_notes(None)
    n_merged = len(inputs.merged) if inputs.merged is not None else 0
    summary: dict[str, Any] = {
        "synthetic": inputs.synthetic,
        "input": {
            "source": _redact(config.establishments)
            or "built-in Ningbo (synthetic firms, real geography)",
            # rows read = accepted + rejected; accepted = analysed + merged into another row
            "n_rows": int(inputs.n_rows),
            "n_accepted": len(est) + n_merged,
            "n_rejected": len(inputs.rejected),
            "n_noted": len(inputs.notes) if inputs.notes is not None else 0,
            "duplicates": int(inputs.duplicates),
            "n_merged": n_merged,
            "n_analysed": len(est),
            "messages": list(inputs.messages),
        },
        "crs": {
            "source": inputs.read_datum or inputs.source_crs,
            "metric": f"EPSG:{metric.to_epsg()}",
        },
        "stacks": stacks,
        "capital_rates": (
            {"source": "[study] capital_rates over the built-in table", **config.capital_rates}
            if config.capital_rates
            else {"source": "built-in approximate reference rates", "date": RATES_DATE}
        ),
    }
    result = StudyResult(
        config=config,
        synthetic=inputs.synthetic,
        establishments=est,
        rejected=inputs.rejected,
        summary=summary,
        metric_crs=metric,
    )
    for key in ("boundary", "districts", "parks", "landuse"):
        layer = getattr(inputs, key)
        if layer is not None:
            result.layers[key] = layer
    result.tables["notes"] = notes  # notes.csv
    if inputs.merged is not None:
        result.tables["duplicates"] = inputs.merged  # duplicates.csv
    return _Run(config=config, inputs=inputs, result=result, metric=metric, est=est)


#: what ``stack = "weight"`` means for each statistic (summary.json ``measure.stack_note``)
STACK_WEIGHT_NOTE = (
    "L: multiset K (pairs between different stacks weighted by their row counts, pairs inside "
    "a stack excluded) against CSR of the stack locations with their sizes kept; Kd: pairs "
    "weighted by row counts (Kemp), sizes shuffled over the drawn sites; CLQ and L_inhom: "
    "each stack counted once (as collapse); clustering: one point per stack, cluster totals "
    "count every row"
)

#: a stack this large under ``stack="keep"`` earns a message in the summary
BIG_STACK = 20


def _mark_stacks(est: gpd.GeoDataFrame, mode: str) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """``stacked`` (rows at the row's location, within 1 m) and ``geocode_coarse`` columns."""
    from clusterscape.io.dedupe import geocode_coarse, stack_groups

    groups = stack_groups(est)
    size = np.bincount(groups)[groups] if len(groups) else np.zeros(0, dtype=np.int64)
    est = est.assign(stacked=size.astype("int64"))
    info: dict[str, Any] = {
        "mode": mode,
        "tolerance_m": 1.0,
        "locations_stacked": int((np.bincount(groups) > 1).sum()) if len(groups) else 0,
        "rows_stacked": int((size > 1).sum()),
        "largest": int(size.max()) if len(size) else 0,
    }
    if {"level", "confidence"} & set(est.columns):
        coarse = geocode_coarse(est)
        est = est.assign(geocode_coarse=coarse.to_numpy())
        info["geocode_coarse"] = int(coarse.fillna(False).sum())
    if mode == "keep" and info["largest"] >= BIG_STACK:
        info["message"] = (
            f'{info["largest"]} rows share one coordinate; with stack = "keep" such a stack can '
            'drive clustering and K on its own; consider stack = "collapse" (--stack collapse)'
        )
    return est, info


#: the columns that make a table classified (kept unless ``[classify] reclassify``)
CLASSIFIED_COLUMNS = ("sector", "is_creative", "function")


def _classify(run: _Run) -> None:
    """Step: creative sector and urban function of every establishment.

    A table that already has ``sector``, ``is_creative`` and ``function`` keeps them unless
    ``[classify] reclassify`` is set; the summary says which was used.
    """
    from clusterscape.taxonomy import classify_establishments

    opts = run.config.classify
    est = run.est
    given = all(c in est.columns for c in CLASSIFIED_COLUMNS)
    if given and not opts.reclassify:
        est = _given_classification(est)
        source = "input: the table's own sector, is_creative and function columns (kept)"
    else:
        est = classify_establishments(est, **opts.kwargs())
        source = (
            "re-classified (the input's own columns were replaced)"
            if given
            else "classified by clusterscape's taxonomy"
        )
        if opts.taxonomy:
            source += f" with overrides from {Path(opts.taxonomy).name}"
    run.est = est
    run.summary["classify"] = {
        "source": source,
        "n_creative": int(est["is_creative"].sum()),
        "by_sector": {
            str(k): int(v) for k, v in est.loc[est["is_creative"], "sector"].value_counts().items()
        },
        "by_function": {str(k): int(v) for k, v in est["function"].value_counts().items()},
    }


_TRUE = frozenset({"true", "1", "yes", "y", "t"})


def _given_classification(est: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The input's own classification in the classifier's dtypes (text files give strings)."""
    from clusterscape.taxonomy import OUTPUT_COLUMNS

    flag = est["is_creative"]
    if flag.dtype != bool:
        text = flag.astype("string").str.strip().str.lower()
        flag = text.isin(_TRUE).fillna(False).astype(bool)
    out = est.assign(
        is_creative=flag.to_numpy(dtype=bool),
        sector=est["sector"].astype("string").fillna("").astype(str).to_numpy(),
        function=est["function"].astype("string").fillna("").astype(str).to_numpy(),
    )
    for col in OUTPUT_COLUMNS:
        if col not in out.columns:
            out[col] = pd.NA if col == "hotel_grade" else "input"
    return out


def _project(run: _Run) -> None:
    """The classified rows in the local metric CRS, and the study window in metres."""
    run.est_m = run.est.to_crs(run.metric)
    run.window = _study_window(run.est, run.inputs.boundary, run.metric)


def _detect(run: _Run) -> None:
    """Step: density clusters of the creative establishments, their table and layer."""
    est, est_m = run.est, run.est_m
    assert est_m is not None
    from clusterscape.io.dedupe import stack_view

    creative_all = est_m[est_m["is_creative"]]
    # min_cluster_size: the data-aware default of detect_clusters unless configured
    det_opts: dict[str, Any] = {"method": "hdbscan"}
    det_opts.update(run.config.detect.kwargs())
    # significance by random labelling among all establishments (not CSR in the hull)
    if not bool(est_m["is_creative"].all()):
        pop = stack_view(est_m, run.config.stack)
        det_opts["population"] = est_m.iloc[pop.rows]
    try:
        detected, row_labels, _prob, view = detect_stacked(
            creative_all, run.config.stack, seed=run.config.seed, **det_opts
        )
    except InvalidInputError as exc:
        if "needs at least" not in str(exc):
            raise
        n_used = len(stack_view(creative_all, run.config.stack).rows)
        raise InvalidInputError(
            f"run: clustering needs more creative establishments than the {n_used:,} "
            f"found among {len(est_m):,} accepted rows ({exc}); check the code/category "
            "columns with `clusterscape classify FILE`."
        ) from None
    labels = pd.Series(-1, index=est.index, name="cluster", dtype=int)
    labels.loc[creative_all.index] = row_labels  # a stack's rows share its label
    run.est = est.assign(cluster=labels)
    run.est_m = est_m.assign(cluster=labels)
    run.clusters_m = detected.clusters
    run.summary["clusters"] = len(detected.clusters)
    run.summary["detect"] = {k: _jsonable(v) for k, v in detected.params.items()}
    run.summary["detect"]["n_noise"] = int((labels.loc[creative_all.index] < 0).sum())
    run.summary["detect"]["stack"] = view.mode
    run.summary["detect"]["n_points"] = len(view.rows)
    if not len(detected.clusters):
        why = str(detected.params["empty_reason"])
        run.summary["detect"]["status"] = why
        skipped_steps = run.summary.setdefault("skipped", {})
        for step, what in (
            ("typology", "no clusters to type"),
            ("effects", "no clusters to measure effects around"),
            ("emerging_hotspots", "run only with clusters"),
        ):
            skipped_steps[step] = f"skipped: {what} ({why})"
    run.result.establishments = run.est
    run.result.tables["clusters"] = _clusters_table(
        run.est_m, detected.clusters, run.inputs.districts
    )
    run.result.layers["clusters"] = detected.clusters.to_crs("EPSG:4326")


def detect_stacked(
    points: gpd.GeoDataFrame, stack: str, *, seed: int | None, **options: Any
) -> tuple[Any, np.ndarray, np.ndarray, Any]:
    """:func:`~clusterscape.detect.clusters.detect_clusters` under a stack mode.

    ``collapse`` and ``weight`` cluster one point per stack (:func:`clusterscape.io.dedupe.
    stack_view`); with ``weight`` (and no ``weight`` option given) the stack sizes are the
    detection weight, so cluster totals count every stacked row. Returns the detection, the
    label and membership probability of every row of ``points`` (a stack's rows share them)
    and the stack view.
    """
    from clusterscape.detect.clusters import detect_clusters
    from clusterscape.io.dedupe import stack_view

    view = stack_view(points, stack)
    used = points.iloc[view.rows]
    if view.mode == "weight" and "weight" not in options:
        used = used.assign(stack_rows=view.weights)
        options = {**options, "weight": "stack_rows"}
    detected = detect_clusters(used, seed=seed, **options)
    lab = detected.labels.reindex(used.index).fillna(-1).to_numpy(dtype=int)
    given = detected.probabilities
    prob = (
        np.zeros(len(used)) if given is None else given.reindex(used.index).fillna(0.0).to_numpy()
    )
    return detected, view.spread(lab), view.spread(prob), view


def _measure(run: _Run) -> None:
    """Step: concentration statistics of the creative firms among all establishments."""
    from clusterscape.measure.pattern import concentration_table

    est_m = run.est_m
    assert est_m is not None
    from clusterscape.io.dedupe import stack_view

    creative = est_m[est_m["is_creative"]]
    view = stack_view(creative, run.config.stack)
    creative = creative.iloc[view.rows]
    population = est_m.iloc[stack_view(est_m, run.config.stack).rows]
    conc = concentration_table(  # r_max: the window rules
        np.column_stack([creative.geometry.x, creative.geometry.y]),
        np.column_stack([population.geometry.x, population.geometry.y]),
        run.window,
        seed=run.config.seed,
        creative_weights=view.weights if view.mode == "weight" else None,
        **run.config.measure.kwargs(),
    )
    run.result.tables["concentration"] = conc
    if isinstance(conc.attrs.get("curves"), pd.DataFrame):
        run.result.tables["concentration_curves"] = conc.attrs["curves"]
    run.summary["measure"] = {"statistics": _records(conc), "stack": view.mode}
    if view.mode == "weight":
        run.summary["measure"]["stack_note"] = STACK_WEIGHT_NOTE


def _typology(run: _Run) -> None:
    """Step: the form (and Markusen type) of every cluster."""
    from clusterscape.typology import assign_forms

    assert run.clusters_m is not None and run.est_m is not None
    forms = assign_forms(
        run.clusters_m, run.est_m, parks=run.inputs.parks, landuse=run.inputs.landuse
    )
    run.cluster_columns.append((forms, "_typology"))
    run.result.layers["clusters"] = run.result.layers["clusters"].join(
        forms[["form", "form_confidence", "markusen"]]
    )
    run.summary["typology"] = {
        "forms": {str(k): int(v) for k, v in forms["form"].value_counts().items()},
        "markusen": {str(k): int(v) for k, v in forms["markusen"].value_counts().items()},
    }


def _urban(run: _Run) -> None:
    """Step: functional zones, centres, district profiles and each cluster's urban context."""
    from clusterscape import urban

    est_m = run.est_m
    assert est_m is not None
    opts = run.config.urban
    zones = urban.functional_zones(est_m, **opts.zones.kwargs())
    centres = urban.urban_centres(est_m, **opts.centres.kwargs())
    run.result.layers["functional_zones"] = zones.to_crs("EPSG:4326")
    run.result.layers["centres"] = centres.centres.to_crs("EPSG:4326")
    urban_sum = urban.urban_summary(zones, centres)
    run.summary["functional_zones"] = urban_sum["functional_zones"]
    run.summary["centres"] = urban_sum["centres"]
    run.summary["urban"] = {"polycentricity": urban_sum["polycentricity"]}
    if not len(centres.centres):
        sig = centres.surface.significant
        cp = centres.params
        run.summary.setdefault("skipped", {})["centres"] = (
            f"no centre found: {int(sig.sum()):,} of {sig.size:,} grid cells of "
            f"{cp['cell_m']:g} m are significant Gi* hot spots (distance band "
            f"{cp['gi_distance_m']:g} m, FDR {cp['alpha']:g}) holding at least "
            f"{cp['min_share']:.0%} of the establishments; for a small extract try a "
            "smaller [urban.centres] cell_m and gi_distance_m"
        )
    if run.inputs.districts is None:
        run.summary.setdefault("skipped", {})["district_profiles"] = (
            "not computed: no district boundaries were given (--boundary)"
        )
    else:
        districts_m = run.inputs.districts.to_crs(run.metric)
        profiles = urban.district_profiles(est_m, districts_m)
        names = [c for c in ("adcode", "name_zh", "name_en") if c in districts_m.columns]
        run.result.tables["district_profiles"] = pd.DataFrame(districts_m[names]).join(
            profiles, how="right"
        )
    if run.has_clusters:
        assert run.clusters_m is not None
        context = urban.cluster_context(run.clusters_m, zones, centres)
        run.cluster_columns.append((context, "_urban"))


def _effects(run: _Run) -> None:
    """Step: amenity effects (ring DiD), co-location, distance decay, sizes, emerging hot spots."""
    from clusterscape import effects
    from clusterscape.measure import emerging

    est_m, clusters_m, summary = run.est_m, run.clusters_m, run.summary
    assert est_m is not None and clusters_m is not None
    opts = run.config.effects
    years = effects.cluster_opening_years(est_m, clusters_m, parks=run.inputs.parks)
    run.cluster_columns.append((years[["opening_year", "opening_year_source"]], ""))
    # which clusters: significant and (with a registry, by default) registry-matched;
    # every detected cluster's treated rings are masked from the control rings
    chosen = (
        clusters_m
        if opts.select == "all"
        else effects.select_clusters(
            clusters_m,
            parks=run.inputs.parks if opts.select == "registry" else None,
            opening=years,
        )
    )
    masked = (
        clusters_m[clusters_m["significant"].fillna(False).to_numpy(dtype=bool)]
        if "significant" in clusters_m.columns
        else clusters_m
    )
    rule = chosen.attrs.get("selection", "all clusters")
    summary["effects_clusters"] = {
        "select": opts.select,
        "rule": rule,
        "n_selected": len(chosen),
        "n_detected": len(clusters_m),
        "n_masked": len(masked),
        "cluster_ids": [_jsonable(c) for c in chosen.index],
    }
    did_opts = {"seed": run.config.seed, **opts.kwargs()}
    rows = []
    colocation: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for amenity in opts.amenities:
        reason = _effects_not_estimable(est_m, amenity, chosen, rule)
        if reason is not None:  # nothing to estimate: say so instead of failing the run
            skipped.append({"amenity": amenity, **reason})
            continue
        try:
            res = effects.amenity_effects(
                est_m,
                chosen,
                amenity=amenity,
                opened=years["opening_year"],
                others=masked,
                study_area=run.window,
                **did_opts,
            )
        except InvalidInputError as exc:  # the data lack what the design needs (one line why)
            skipped.append({"amenity": amenity, "status": f"skipped: {exc}"})
            continue
        rows.append(res.rows)
        if res.summary["status"] != "estimated":
            skipped.append(
                {
                    "amenity": amenity,
                    "status": "not estimable",
                    "reason": res.summary["reason"],
                    "n_clusters": res.summary["n_clusters"],
                    "n_amenities": res.summary["n_amenities"],
                }
            )
            continue
        run.result.tables[f"event_study_{amenity}"] = res.event_study
        run.result.tables[f"by_distance_{amenity}"] = res.by_distance
        run.result.tables[f"effects_by_cluster_{amenity}"] = res.by_cluster
        # Cross-sectional companions: co-location and distance decay around clusters.
        clq = effects.amenity_colocation(est_m, amenity=amenity, seed=run.config.seed)
        colocation.append({"amenity": amenity, **clq})
        run.result.tables[f"distance_decay_{amenity}"] = effects.distance_decay(
            est_m, clusters_m, amenity=amenity, study_area=run.window
        )
        summary.setdefault("effects", []).append(
            {"status": "estimated", **{k: _jsonable(v) for k, v in res.summary.items()}}
        )
    summary.setdefault("effects", []).extend(skipped)
    if rows:
        run.result.tables["effects"] = pd.concat(rows, ignore_index=True)
    if colocation:
        run.result.tables["amenity_colocation"] = pd.DataFrame(colocation)
        summary["amenity_colocation"] = _records(run.result.tables["amenity_colocation"])
    _large_scale(run)
    try:
        ehs = emerging.emerging_hotspots(est_m[est_m["is_creative"]], seed=run.config.seed)
    except InvalidInputError as exc:
        summary["emerging_hotspots"] = {"status": f"skipped: {exc}"}
    else:
        run.result.layers["emerging_hotspots"] = ehs.to_crs("EPSG:4326")
        summary["emerging_hotspots"] = {
            str(k): int(v) for k, v in ehs["category"].value_counts().items()
        }


def _effects_not_estimable(
    est_m: gpd.GeoDataFrame, amenity: str, chosen: gpd.GeoDataFrame, rule: str
) -> dict[str, str] | None:
    """Why the effect of ``amenity`` cannot be estimated before trying, or ``None``."""
    if not (est_m["function"] == amenity).any():
        return {"status": f"skipped: no establishment has function {amenity!r}"}
    if len(chosen) == 0:
        return {"status": "not estimable", "reason": f"no cluster is {rule}"}
    return None


def _large_scale(run: _Run) -> None:
    """Whether a large-scale cluster has formed (thresholds and Zipf exponent of the sizes)."""
    from clusterscape import effects

    assert run.clusters_m is not None
    table = run.result.tables["clusters"]
    sizes = effects.size_distribution(
        run.clusters_m.assign(employees=table.set_index("cluster_id")["employees"])
    )
    run.summary["large_scale"] = {
        "large_scale": bool(sizes.large_scale),
        "n_large": int(sizes.n_large),
        "zipf_exponent": _jsonable(sizes.zipf_exponent),
        "zipf_se": _jsonable(sizes.zipf_se),
        "thresholds": _jsonable(dict(sizes.params).get("thresholds", {})),
        "verdict": (
            f"{sizes.n_large} cluster(s) meet the large-scale thresholds."
            if sizes.large_scale
            else "No cluster meets the large-scale thresholds: no large-scale cluster has formed."
        ),
    }
    run.result.tables["cluster_sizes"] = sizes.table


def _finish(run: _Run) -> None:
    """Join the steps' per-cluster columns onto clusters.csv (once) and set the final layers."""
    table = run.result.tables.get("clusters")
    if table is not None and run.cluster_columns:
        have = set(table.columns)
        parts = []
        for frame, suffix in run.cluster_columns:
            renamed = frame.rename(columns={c: f"{c}{suffix}" for c in frame.columns if c in have})
            have |= set(renamed.columns)
            parts.append(renamed)
        extra = pd.concat(parts, axis=1)
        run.result.tables["clusters"] = table.join(extra, on="cluster_id")
    run.result.establishments = run.est
    run.result.layers["establishments"] = run.est


#: the lifecycle runs when at least this share of the creative firms has an ``opened`` year
LIFECYCLE_MIN_DATED = 0.5


def _lifecycle(run: _Run) -> None:
    """Step: creative clusters through time (tracks and events), when the firms have years."""
    from clusterscape.lifecycle import cluster_lifecycle

    est_m = run.est_m
    assert est_m is not None
    opts = run.config.lifecycle
    skipped = run.summary.setdefault("skipped", {})
    if not opts.enabled:
        run.summary["lifecycle"] = {"status": "skipped: [lifecycle] enabled = false"}
        skipped["lifecycle"] = run.summary["lifecycle"]["status"]
        return
    creative = est_m[est_m["is_creative"]]
    years = (
        pd.to_numeric(creative["opened"], errors="coerce")
        if "opened" in creative.columns
        else pd.Series(dtype=float)
    )
    share = float(years.notna().mean()) if len(creative) else 0.0
    if share < LIFECYCLE_MIN_DATED or years.nunique() < 2:
        why = (
            f"skipped: {share:.0%} of the {len(creative):,} creative firms have an opening "
            f"year (needs {LIFECYCLE_MIN_DATED:.0%} and two or more years); give 'opened' "
            "(成立日期) to follow the clusters through time"
        )
        run.summary["lifecycle"] = {"status": why}
        skipped["lifecycle"] = why
        return
    kwargs: dict[str, Any] = {"seed": run.config.seed, **opts.kwargs()}
    det = run.config.detect
    if det.method is not None:
        kwargs.setdefault("method", det.method)
    if det.min_cluster_size is not None:
        kwargs.setdefault("min_cluster_size", det.min_cluster_size)
    try:
        res = cluster_lifecycle(est_m, **kwargs)
    except InvalidInputError as exc:  # too few firms in every year: say so, keep the run
        run.summary["lifecycle"] = {"status": f"skipped: {exc}"}
        skipped["lifecycle"] = run.summary["lifecycle"]["status"]
        return
    run.result.tables["lifecycle"] = res.clusters
    run.result.tables["lifecycle_events"] = res.events
    run.result.tables["lifecycle_sizes"] = res.sizes
    run.result.tables["lifecycle_sensitivity"] = res.sensitivity
    run.result.layers["lifecycle"] = res.footprints
    keep = ("years", "method", "min_cluster_size", "significance", "n_undated")
    run.summary["lifecycle"] = {
        "status": "computed",
        **_jsonable(res.summary()),
        "params": {k: _jsonable(res.params[k]) for k in keep},
    }


def _methods(run: _Run) -> None:
    """Step: the published-study chain (docs/methods_recipe.md) on the creative establishments."""
    from clusterscape.measure.recipe import study_methods

    assert run.est_m is not None
    points, weight = _stacked_points(run.est_m, run.config.stack)
    methods = study_methods(
        points,
        window=run.window,
        weight=weight,
        centres=run.result.layers.get("centres"),
        parks=run.inputs.parks,
        landuse=run.inputs.landuse,
        builtin=run.config.establishments is None,
        factors_file=run.config.factors,
        datum=run.inputs.source_crs,
        seed=run.config.seed,
        **run.config.methods.kwargs(),
    )
    run.result.tables.update(methods.tables)
    run.result.layers.update(methods.layers)
    run.summary["methods"] = {**methods.summary, "stack": run.config.stack}
    if run.config.stack != "keep":
        run.summary["methods"]["stack_note"] = METHODS_STACK_NOTE[run.config.stack]


#: what ``stack`` means in the methods step (summary.json ``methods.stack_note``)
METHODS_STACK_NOTE = {
    "collapse": "one point per stack (within 1 m) for ANN, ellipse, kernel density, Moran/LISA "
    "and GeoDetector; the other establishments collapsed alike",
    "weight": "ANN sees one point per stack (no weighted form); the all-points ellipse, the "
    "kernel density and the Moran/LISA/GeoDetector cell counts weight each stack by its rows",
}


def _stacked_points(est_m: gpd.GeoDataFrame, mode: str) -> tuple[gpd.GeoDataFrame, str | None]:
    """The establishments a method sees under ``stack`` and the weight column (or None).

    Creative and other rows are collapsed to one per stack separately (``collapse``/``weight``);
    with ``weight`` the creative rows carry their stack size in ``stack_rows``.
    """
    from clusterscape.io.dedupe import stack_view

    if mode == "keep":
        return est_m, None
    flag = est_m["is_creative"].fillna(False).to_numpy(dtype=bool)
    parts = []
    for sel in (flag, ~flag):
        sub = est_m[sel]
        view = stack_view(sub, mode) if len(sub) else None
        if view is None:
            continue
        parts.append(sub.iloc[view.rows].assign(stack_rows=view.weights))
    out = gpd.GeoDataFrame(pd.concat(parts), crs=est_m.crs)
    return out, ("stack_rows" if mode == "weight" else None)


def _redact(source: str | None) -> str | None:
    """Hide a database password in what is written to disk."""
    from clusterscape.io.postgis import redact_url

    return None if source is None else redact_url(source)


def run_by_city(
    config: StudyConfig,
    out_dir: str | Path,
    *,
    cell_m: float = 500.0,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """``clusterscape run --engine dask --by city``: profile every city of one table on a dask cluster.

    Writes ``city_comparison.csv`` (one row per city), ``zones_<city>.csv``,
    ``hotspots_<city>.csv``, ``clusters_<city>.csv``, ``rejected.csv`` and ``summary.json``
    atomically into ``out_dir``, and returns the comparison table.
    """
    from clusterscape.study.dask import dask_client, profile_cities

    progress = progress or _noop
    if config.establishments is None:
        raise InvalidInputError(
            "--by city needs --establishments with a 'city' column (CSV or Parquet)."
        )
    datum = normalise_datum(config.datum, caller="run")
    with _step(progress, "dask"), dask_client(config.scheduler) as client:
        result = profile_cities(
            config.establishments,
            datum=datum,
            columns=dict(config.columns or {}) or None,
            cell_m=cell_m,
            client=client,
            min_cluster_size=config.detect.min_cluster_size or 15,
            seed=config.seed,
        )
    summary = {
        "synthetic": False,
        "engine": "dask",
        "input": {
            "source": _redact(config.establishments),
            "n_rows": result.n_rows,
            "n_accepted": int(result.comparison["n_establishments"].sum()),
            "n_rejected": len(result.rejected) if result.rejected is not None else 0,
            "n_merged": 0,
            "n_analysed": int(result.comparison["n_establishments"].sum()),
        },
        "crs": {"source": datum, "metric": {c: f"EPSG:{e}" for c, e in result.epsg.items()}},
        "cities": _records(result.comparison),
    }
    rejected = (
        result.rejected
        if result.rejected is not None
        else pd.DataFrame(columns=["row", "id", "reason"])
    )
    with _step(progress, "write"):
        write_city_study(
            out_dir,
            summary=summary,
            comparison=result.comparison,
            per_city={
                "zones": result.zones,
                "hotspots": result.hotspots,
                "clusters": result.clusters,
            },
            rejected=rejected,
        )
    return result.comparison
