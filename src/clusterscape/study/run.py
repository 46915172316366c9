"""The pipeline: load -> classify -> detect -> measure -> typology -> urban structure -> effects -> write.

``run_study`` returns a :class:`StudyResult` held in memory;
:func:`clusterscape.results.write_study` puts it on disk atomically (an interrupted run leaves
the previous outputs intact). Steps never import this module; this module only calls the steps'
public functions.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from clusterscape._validation import check_choice
from clusterscape.coords import local_metric_crs, normalise_datum
from clusterscape.errors import InvalidInputError
from clusterscape.io.layers import read_boundary, read_landuse, read_parks
from clusterscape.results import clusters_table as _clusters_table
from clusterscape.results import json_safe as _jsonable
from clusterscape.results import records as _records
from clusterscape.results import write_city_study

__all__ = ["StudyConfig", "StudyResult", "run_by_city", "run_study"]

STEPS = ("load", "classify", "detect", "measure", "typology", "urban", "effects", "write")


@dataclass(frozen=True, slots=True)
class StudyConfig:
    """Everything a study run needs; ``establishments=None`` means the built-in Ningbo study.

    A ``study.toml`` gives the same keys under ``[study]`` (paths relative to the TOML file), and
    step options under ``[detect]``, ``[measure]``, ``[effects]``, ``[urban]`` and ``[methods]``
    (``cell_m``, ``permutations``, ``year`` of :func:`clusterscape.measure.recipe.study_methods`;
    ``factors`` in ``[study]`` is the ``--factors`` file). ``[effects]``
    takes the keyword options of :func:`clusterscape.effects.did.amenity_effects`, ``amenities``
    (default ``["hotel", "mall"]``) and ``select``: ``"registry"`` (default: significant
    clusters matched to the parks registry when one is given), ``"significant"`` or ``"all"``.
    """

    establishments: str | None = None
    crs: str = "wgs84"
    columns: Mapping[str, str] | None = None
    boundary: str | None = None
    parks: str | None = None
    landuse: str | None = None
    factors: str | None = None
    seed: int = 0
    scenario: str = "planted"
    engine: str = "local"
    scheduler: str | None = None
    detect: Mapping[str, Any] = field(default_factory=dict)
    measure: Mapping[str, Any] = field(default_factory=dict)
    urban: Mapping[str, Any] = field(default_factory=dict)
    effects: Mapping[str, Any] = field(default_factory=dict)
    methods: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> StudyConfig:
        """Read a ``study.toml``; keyword ``overrides`` that are not None win over the file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInputError(f"config {path}: {exc}") from exc
        study = dict(data.get("study", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(study) - known
        if unknown:
            raise InvalidInputError(
                f"config {path}: unknown key(s) in [study]: {', '.join(sorted(unknown))}; "
                f"known keys: {', '.join(sorted(known))}."
            )
        for key in ("establishments", "boundary", "parks", "landuse", "factors"):
            value = study.get(key)
            if value and "://" not in str(value) and not Path(value).is_absolute():
                study[key] = str((path.parent / value).resolve())
        for section in ("detect", "measure", "urban", "effects", "methods"):
            if section in data:
                study[section] = dict(data[section])
        config = cls(**study)
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True, slots=True)
class _Loaded:
    establishments: gpd.GeoDataFrame
    rejected: pd.DataFrame
    n_rows: int


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


def _load(config: StudyConfig) -> dict[str, Any]:
    """Step 1: establishments + study inputs (built-in Ningbo or the user's files)."""
    if config.establishments is None:
        from clusterscape.datasets import ningbo

        inputs = ningbo(scenario=config.scenario, seed=config.seed)
        est = inputs.establishments
        return {
            "establishments": est,
            "rejected": pd.DataFrame(
                {
                    "row": pd.Series(dtype="Int64"),
                    "id": pd.Series(dtype="string"),
                    "reason": pd.Series(dtype="string"),
                }
            ),
            "n_rows": len(est),
            "boundary": inputs.boundary,
            "districts": inputs.districts,
            "parks": inputs.parks,
            "landuse": inputs.landuse,
            "truth": inputs.truth,
            "synthetic": True,
            "source_crs": "wgs84",
        }
    from clusterscape.io.establishments import read_establishments
    from clusterscape.io.postgis import is_database_url, read_establishments_postgis

    datum = normalise_datum(config.crs, caller="run")
    columns = dict(config.columns or {}) or None
    source = config.establishments
    if config.engine == "dask":
        from clusterscape.study.dask import dask_client, load_classified

        with dask_client(config.scheduler):
            est, rejected, n_rows = load_classified(source, crs=datum, columns=columns)
        loaded: Any = _Loaded(est, rejected, n_rows)
    elif is_database_url(source):
        loaded = read_establishments_postgis(source, crs=datum, columns=columns)
    else:  # files, .osm.pbf extracts included
        loaded = read_establishments(source, crs=datum, columns=columns)
    est = loaded.establishments
    if est.empty:
        raise InvalidInputError(
            f"{_redact(config.establishments)}: no usable rows ({len(loaded.rejected)} rejected); list them with "
            f"`clusterscape validate {_redact(config.establishments)} --out DIR`, which lists every row with its reason."
        )
    boundary = read_boundary(config.boundary, crs=datum) if config.boundary else None
    rejected = loaded.rejected
    if boundary is None:
        est, rejected = _reject_far_outliers(est, rejected, getattr(loaded, "source_rows", None))
    if boundary is not None:
        # Rows outside the study boundary are not analysed; they are listed, not dropped silently.
        inside = est.geometry.within(boundary.geometry.iloc[0].buffer(1e-9))
        if not inside.all():
            source_rows = getattr(loaded, "source_rows", None)
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
            est = est[inside.to_numpy()].reset_index(drop=True)
            if est.empty:
                raise InvalidInputError(
                    f"{_redact(config.establishments)}: no row lies inside {config.boundary}; check --crs for both files."
                )
    return {
        "establishments": est,
        "rejected": rejected,
        "n_rows": int(getattr(loaded, "n_rows", len(est) + len(rejected))),
        "notes": _loaded_notes(loaded),
        "duplicates": int(getattr(loaded, "duplicates", 0)),
        "messages": list(getattr(loaded, "messages", ())),
        "boundary": boundary,
        "districts": None,
        "parks": read_parks(config.parks, crs=datum) if config.parks else None,
        "landuse": read_landuse(config.landuse, crs=datum) if config.landuse else None,
        "truth": None,
        "synthetic": bool(est["synthetic"].any()) if "synthetic" in est.columns else False,
        "source_crs": datum,
    }


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


def run_study(config: StudyConfig, *, progress: Progress | None = None) -> StudyResult:
    """Run every available step of the study and return the results in memory."""
    progress = progress or _noop
    check_choice(config.engine, {"local", "dask"}, "engine", caller="run")
    summary: dict[str, Any] = {}
    with _step(progress, "load"):
        loaded = _load(config)
    est: gpd.GeoDataFrame = loaded["establishments"]
    centre = est.geometry.to_crs("EPSG:4326") if not est.crs.is_geographic else est.geometry
    metric = local_metric_crs(lon=float(centre.x.median()), lat=float(centre.y.median()))
    summary["synthetic"] = loaded["synthetic"]
    summary["input"] = {
        "source": _redact(config.establishments)
        or "built-in Ningbo (synthetic firms, real geography)",
        "n_rows": int(loaded["n_rows"]),
        "n_accepted": len(est),
        "n_rejected": len(loaded["rejected"]),
        "n_noted": len(loaded.get("notes", ())),
        "duplicates": int(loaded.get("duplicates", 0)),
        "messages": loaded.get("messages", []),
    }
    summary["crs"] = {"source": loaded["source_crs"], "metric": f"EPSG:{metric.to_epsg()}"}
    result = StudyResult(
        config=config,
        synthetic=loaded["synthetic"],
        establishments=est,
        rejected=loaded["rejected"],
        summary=summary,
        metric_crs=metric,
    )
    for key in ("boundary", "districts", "parks", "landuse"):
        if loaded[key] is not None:
            result.layers[key] = loaded[key]
    result.tables["notes"] = loaded.get("notes", _loaded_notes(None))  # notes.csv

    with _step(progress, "classify"):
        from clusterscape.taxonomy import classify_establishments

        if not (config.engine == "dask" and "function" in est.columns):  # dask classified per chunk
            est = classify_establishments(est)
        summary["classify"] = {
            "n_creative": int(est["is_creative"].sum()),
            "by_sector": {
                str(k): int(v)
                for k, v in est.loc[est["is_creative"], "sector"].value_counts().items()
            },
            "by_function": {str(k): int(v) for k, v in est["function"].value_counts().items()},
        }

    est_m = est.to_crs(metric)
    window = _study_window(est, loaded["boundary"], metric)
    creative = est_m[est_m["is_creative"]]
    # A registry of creative firms only has no population to compare them with.
    creative_only = bool(est_m["is_creative"].all())
    with _step(progress, "detect"):
        from clusterscape.detect.clusters import detect_clusters

        # min_cluster_size: the data-aware default of detect_clusters unless configured
        det_opts = {"method": "hdbscan", **dict(config.detect)}
        # significance by random labelling among all establishments (not CSR in the hull)
        if not creative_only:
            det_opts.setdefault("population", est_m)
        try:
            detected = detect_clusters(creative, seed=config.seed, **det_opts)
        except InvalidInputError as exc:
            if "needs at least" not in str(exc):
                raise
            raise InvalidInputError(
                f"run: clustering needs more creative establishments than the {len(creative):,} "
                f"found among {len(est_m):,} accepted rows ({exc}); check the code/category "
                "columns with `clusterscape classify FILE`."
            ) from None
        labels = pd.Series(-1, index=est.index, name="cluster", dtype=int)
        labels.loc[detected.labels.index] = detected.labels.to_numpy()
        est = est.assign(cluster=labels)
        est_m = est_m.assign(cluster=labels)
        clusters_m = detected.clusters
        summary["clusters"] = len(clusters_m)
        summary["detect"] = {k: _jsonable(v) for k, v in detected.params.items()}
        summary["detect"]["n_noise"] = int((detected.labels < 0).sum())
        if not len(clusters_m):
            why = str(detected.params["empty_reason"])
            summary["detect"]["status"] = why
            skipped_steps = summary.setdefault("skipped", {})
            for step, what in (
                ("typology", "no clusters to type"),
                ("effects", "no clusters to measure effects around"),
                ("emerging_hotspots", "run only with clusters"),
            ):
                skipped_steps[step] = f"skipped: {what} ({why})"
    result.establishments = est
    table = _clusters_table(est_m, clusters_m, loaded["districts"])
    result.tables["clusters"] = table
    result.layers["clusters"] = clusters_m.to_crs("EPSG:4326")

    if creative_only:
        reason = (
            "skipped: every establishment is creative (a creative-only registry), so the "
            "statistics that compare creative firms with all establishments (concentration, "
            "co-location, relative K) have no population; give a table of all firms for them"
        )
        summary["measure"] = {"status": reason}
        summary.setdefault("skipped", {})["measure"] = reason
    else:
        with _step(progress, "measure"):
            from clusterscape.measure.pattern import concentration_table

            opts = {"nsim": 99, **dict(config.measure)}  # r_max: the window rules
            conc = concentration_table(
                np.column_stack([creative.geometry.x, creative.geometry.y]),
                np.column_stack([est_m.geometry.x, est_m.geometry.y]),
                window,
                seed=config.seed,
                **opts,
            )
            result.tables["concentration"] = conc
            if isinstance(conc.attrs.get("curves"), pd.DataFrame):
                result.tables["concentration_curves"] = conc.attrs["curves"]
            summary["measure"] = {"statistics": _records(conc)}

    if len(clusters_m):
        with _step(progress, "typology"):
            from clusterscape.typology import assign_forms

            forms = assign_forms(
                clusters_m, est_m, parks=loaded["parks"], landuse=loaded["landuse"]
            )
            table = table.merge(
                forms,
                left_on="cluster_id",
                right_index=True,
                how="left",
                suffixes=("", "_typology"),
            )
            result.tables["clusters"] = table
            result.layers["clusters"] = result.layers["clusters"].join(
                forms[["form", "form_confidence", "markusen"]]
            )
            summary["typology"] = {
                "forms": {str(k): int(v) for k, v in forms["form"].value_counts().items()},
                "markusen": {str(k): int(v) for k, v in forms["markusen"].value_counts().items()},
            }

    with _step(progress, "urban"):
        from clusterscape import urban

        zones = urban.functional_zones(est_m, **dict(config.urban.get("zones", {})))
        centres = urban.urban_centres(est_m, **dict(config.urban.get("centres", {})))
        result.layers["functional_zones"] = zones.to_crs("EPSG:4326")
        result.layers["centres"] = centres.centres.to_crs("EPSG:4326")
        urban_sum = urban.urban_summary(zones, centres)
        summary["functional_zones"] = urban_sum["functional_zones"]
        summary["centres"] = urban_sum["centres"]
        summary["urban"] = {"polycentricity": urban_sum["polycentricity"]}
        if not len(centres.centres):
            sig = centres.surface.significant
            cp = centres.params
            summary.setdefault("skipped", {})["centres"] = (
                f"no centre found: {int(sig.sum()):,} of {sig.size:,} grid cells of "
                f"{cp['cell_m']:g} m are significant Gi* hot spots (distance band "
                f"{cp['gi_distance_m']:g} m, FDR {cp['alpha']:g}) holding at least "
                f"{cp['min_share']:.0%} of the establishments; for a small extract try a "
                "smaller [urban.centres] cell_m and gi_distance_m"
            )
        if loaded["districts"] is None:
            summary.setdefault("skipped", {})["district_profiles"] = (
                "not computed: no district boundaries were given (--boundary)"
            )
        else:
            districts_m = loaded["districts"].to_crs(metric)
            profiles = urban.district_profiles(est_m, districts_m)
            names = [c for c in ("adcode", "name_zh", "name_en") if c in districts_m.columns]
            profiles = pd.DataFrame(districts_m[names]).join(profiles, how="right")
            result.tables["district_profiles"] = profiles
        if len(clusters_m):
            context = urban.cluster_context(clusters_m, zones, centres)
            result.tables["clusters"] = result.tables["clusters"].merge(
                context, left_on="cluster_id", right_index=True, how="left", suffixes=("", "_urban")
            )

    if len(clusters_m):
        with _step(progress, "effects"):
            from clusterscape import effects
            from clusterscape.measure import emerging

            years = effects.cluster_opening_years(est_m, clusters_m, parks=loaded["parks"])
            opened = years["opening_year"]
            result.tables["clusters"] = result.tables["clusters"].merge(
                years[["opening_year", "opening_year_source"]],
                left_on="cluster_id",
                right_index=True,
                how="left",
            )
            eff_opts = dict(config.effects)
            # which clusters: significant and (with a registry, by default) registry-matched;
            # every detected cluster's treated rings are masked from the control rings
            select = str(eff_opts.pop("select", "registry"))
            if select not in {"registry", "significant", "all"}:
                raise InvalidInputError(
                    f"[effects] select must be 'registry', 'significant' or 'all', got {select!r}."
                )
            chosen = (
                clusters_m
                if select == "all"
                else effects.select_clusters(
                    clusters_m,
                    parks=loaded["parks"] if select == "registry" else None,
                    opening=years,
                )
            )
            masked = (
                clusters_m[clusters_m["significant"].fillna(False).to_numpy(dtype=bool)]
                if "significant" in clusters_m.columns
                else clusters_m
            )
            summary["effects_clusters"] = {
                "select": select,
                "rule": chosen.attrs.get("selection", "all clusters"),
                "n_selected": len(chosen),
                "n_detected": len(clusters_m),
                "n_masked": len(masked),
                "cluster_ids": [_jsonable(c) for c in chosen.index],
            }
            rows = []
            colocation: list[dict[str, Any]] = []
            skipped: list[dict[str, Any]] = []
            for amenity in eff_opts.pop("amenities", ("hotel", "mall")):
                if not (est_m["function"] == amenity).any():
                    # Nothing to estimate: say so instead of failing the run.
                    skipped.append(
                        {
                            "amenity": amenity,
                            "status": f"skipped: no establishment has function {amenity!r}",
                        }
                    )
                    continue
                if len(chosen) == 0:
                    skipped.append(
                        {
                            "amenity": amenity,
                            "status": "not estimable",
                            "reason": f"no cluster is {summary['effects_clusters']['rule']}",
                        }
                    )
                    continue
                try:
                    eff_opts.setdefault("seed", config.seed)
                    res = effects.amenity_effects(
                        est_m,
                        chosen,
                        amenity=amenity,
                        opened=opened,
                        others=masked,
                        study_area=window,
                        **eff_opts,
                    )
                except InvalidInputError as exc:
                    skipped.append({"amenity": amenity, "status": f"skipped: {exc}"})
                    continue
                except (KeyError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                    # The data cannot identify the design (e.g. every firm opened the same year).
                    skipped.append(
                        {
                            "amenity": amenity,
                            "status": f"not estimable on these data ({type(exc).__name__}: {exc})",
                        }
                    )
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
                result.tables[f"event_study_{amenity}"] = res.event_study
                result.tables[f"by_distance_{amenity}"] = res.by_distance
                result.tables[f"effects_by_cluster_{amenity}"] = res.by_cluster
                # Cross-sectional companions: co-location and distance decay around clusters.
                clq = effects.amenity_colocation(est_m, amenity=amenity, seed=config.seed)
                colocation.append({"amenity": amenity, **clq})
                result.tables[f"distance_decay_{amenity}"] = effects.distance_decay(
                    est_m, clusters_m, amenity=amenity, study_area=window
                )
                summary.setdefault("effects", []).append(
                    {"status": "estimated", **{k: _jsonable(v) for k, v in res.summary.items()}}
                )
            summary.setdefault("effects", []).extend(skipped)
            if rows:
                result.tables["effects"] = pd.concat(rows, ignore_index=True)
            if colocation:
                result.tables["amenity_colocation"] = pd.DataFrame(colocation)
                summary["amenity_colocation"] = _records(result.tables["amenity_colocation"])
            sizes = effects.size_distribution(
                clusters_m.assign(employees=table.set_index("cluster_id")["employees"])
            )
            summary["large_scale"] = {
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
            result.tables["cluster_sizes"] = sizes.table
            try:
                ehs = emerging.emerging_hotspots(est_m[est_m["is_creative"]], seed=config.seed)
            except InvalidInputError as exc:
                summary["emerging_hotspots"] = {"status": f"skipped: {exc}"}
            else:
                result.layers["emerging_hotspots"] = ehs.to_crs("EPSG:4326")
                summary["emerging_hotspots"] = {
                    str(k): int(v) for k, v in ehs["category"].value_counts().items()
                }

    with _step(progress, "methods"):  # the published-study chain (docs/methods_recipe.md)
        from clusterscape.measure.recipe import study_methods

        methods = study_methods(
            est_m,
            window=window,
            centres=result.layers.get("centres"),
            parks=loaded["parks"],
            landuse=loaded["landuse"],
            builtin=config.establishments is None,
            factors_file=config.factors,
            crs=loaded["source_crs"],
            seed=config.seed,
            **dict(config.methods),
        )
        result.tables.update(methods.tables)
        result.layers.update(methods.layers)
        summary["methods"] = dict(methods.summary)

    result.establishments = est
    result.layers["establishments"] = est
    return result


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
    datum = normalise_datum(config.crs, caller="run")
    with _step(progress, "dask"), dask_client(config.scheduler) as client:
        result = profile_cities(
            config.establishments,
            crs=datum,
            columns=dict(config.columns or {}) or None,
            cell_m=cell_m,
            client=client,
            min_cluster_size=int(dict(config.detect).get("min_cluster_size", 15)),
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
