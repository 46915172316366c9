"""The saved study: the one description of the folder ``clusterscape run`` writes, and its I/O.

Everything that writes or reads a study directory goes through this module:
``study.run`` hands its in-memory result to :func:`write_study`; ``clusterscape detect``
writes its clusters with :func:`write_clusters`; the report, the dashboard and the command
line open a study with :func:`load_study` (or, for the dashboard's cached byte-level access,
the single-file readers :func:`parse_summary`, :func:`read_table`, :func:`layer_counts` and
:func:`read_layer_page`). :data:`FILES` lists every file with its kind, the step that writes
it and its contract; docs/outputs.md is its prose form.

JSON is written through :func:`json_safe` / :func:`dumps_json` only: NaN and infinities become
``null`` and the text is strict JSON (``allow_nan=False``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import geopandas as gpd
import numpy as np
import pandas as pd

from clusterscape.errors import InvalidInputError
from clusterscape.io._redact import redact_value

if TYPE_CHECKING:
    from clusterscape.study.run import StudyResult

__all__ = [
    "CLUSTER_COLUMNS",
    "COLUMNS_ZH",
    "FILES",
    "DamagedFileError",
    "SavedStudy",
    "StudyFile",
    "clusters_table",
    "dumps_json",
    "json_safe",
    "layer_columns",
    "layer_counts",
    "load_study",
    "parse_summary",
    "read_layer_page",
    "read_table",
    "records",
    "write_city_study",
    "write_clusters",
    "write_columns_zh",
    "write_figure",
    "write_report_files",
    "write_study",
    "write_tables",
]

SUMMARY = "summary.json"
CLUSTERS = "clusters.csv"
GPKG = "results.gpkg"
FIGURES = "figures"
REPORT = "report.html"
REPORT_PDF = "report.pdf"
#: GeoPackage that ``clusterscape detect`` writes beside its ``clusters.csv``.
DETECT_GPKG = "clusters.gpkg"
#: Largest summary.json read (bytes).
MAX_SUMMARY_BYTES = 64 * 1024 * 1024
#: CRS of every stored layer.
LAYER_CRS = "EPSG:4326"

#: The contract columns of ``clusters.csv``, first and in this order (written by detect, from
#: the members and footprints); the detection measures, form, urban context and opening year
#: follow them.
CLUSTER_COLUMNS = (
    "cluster_id",
    "n_establishments",
    "n_creative",
    "employees",
    "lon",
    "lat",
    "area_m2",
    "district",
    "dominant_sector",
)


@dataclass(frozen=True, slots=True)
class StudyFile:
    """One file (or family of files) of a saved study.

    Attributes
    ----------
    name : str
        File name inside the study; ``{amenity}`` / ``{city}`` stand for a family.
    kind : str
        ``json``, ``csv``, ``gpkg`` (layers, all EPSG:4326), ``html``, ``pdf`` or ``png``.
    written_by : str
        The step whose output it holds (``load``, ``detect``, ``measure``, ...), ``report``,
        ``dask`` (``run --engine dask --by city``) or ``detect command``.
    contract : str
        What it holds.
    columns : tuple of str
        Columns (CSV) or layer names (GeoPackage) always present when the file is written.
    required : bool
        Whether every study has it (a directory without ``summary.json`` is not a study).
    """

    name: str
    kind: str
    written_by: str
    contract: str
    columns: tuple[str, ...] = ()
    required: bool = False


#: Every file of a saved study (the contract; docs/outputs.md describes it in prose).
#: The Chinese dictionary of the output columns (``--lang zh``).
COLUMNS_ZH = "columns_zh.csv"


FILES: tuple[StudyFile, ...] = (
    StudyFile(
        SUMMARY,
        "json",
        "every step",
        "strict JSON (NaN/inf as null, credentials redacted): synthetic, input (n_rows, "
        "n_accepted, n_rejected, n_merged, n_analysed, ...), crs (source, metric), clusters, "
        "one section per step",
        ("synthetic", "input", "crs"),
        required=True,
    ),
    StudyFile("rejected.csv", "csv", "load", "every input row not used", ("row", "id", "reason")),
    StudyFile(
        "notes.csv",
        "csv",
        "load",
        "every field blanked or read with a caveat in a kept row, and every exact duplicate",
        ("row", "id", "field", "value", "note"),
    ),
    StudyFile(
        "duplicates.csv",
        "csv",
        "load",
        "every accepted row merged into another as a duplicate (user files, [study] "
        'duplicates = "drop"), with the row kept, the rule and the distance',
        ("kept_id", "dropped_id", "matched_id", "rule", "distance_m", "kept_row", "dropped_row"),
    ),
    StudyFile(
        CLUSTERS,
        "csv",
        "detect",
        "one row per cluster: the contract columns, detection measures, then form "
        "(typology), urban context (urban) and opening year (effects)",
        CLUSTER_COLUMNS,
    ),
    StudyFile(
        GPKG,
        "gpkg",
        "load, detect, urban, effects, lifecycle, methods",
        "map layers in EPSG:4326 (layers with no rows are not written); ``lifecycle``: the "
        "clusters' footprints per snapshot year with track_id",
        ("establishments", "clusters"),
    ),
    StudyFile("concentration.csv", "csv", "measure", "one row per concentration statistic"),
    StudyFile("concentration_curves.csv", "csv", "measure", "the statistics' curves by r"),
    StudyFile("district_profiles.csv", "csv", "urban", "one row per district"),
    StudyFile("effects.csv", "csv", "effects", "pooled amenity effects, one row per estimate"),
    StudyFile("event_study_{amenity}.csv", "csv", "effects", "event-study coefficients"),
    StudyFile("by_distance_{amenity}.csv", "csv", "effects", "effect by distance ring"),
    StudyFile("effects_by_cluster_{amenity}.csv", "csv", "effects", "per-cluster effects"),
    StudyFile("distance_decay_{amenity}.csv", "csv", "effects", "amenity density by distance"),
    StudyFile("amenity_colocation.csv", "csv", "effects", "co-location quotient per amenity"),
    StudyFile("cluster_sizes.csv", "csv", "effects", "cluster size distribution"),
    StudyFile(
        "lifecycle.csv",
        "csv",
        "lifecycle",
        "creative clusters of every yearly snapshot with the track each belongs to",
        ("track_id", "year", "cluster_id", "n_creative", "area_m2", "lon", "lat"),
    ),
    StudyFile(
        "lifecycle_events.csv",
        "csv",
        "lifecycle",
        "birth, growth, shrink, merge, split and death of the tracks, with year and place",
        ("year", "event", "track_id", "from_tracks", "to_tracks", "lon", "lat"),
    ),
    StudyFile(
        "lifecycle_sizes.csv",
        "csv",
        "lifecycle",
        "the cluster size distribution of every snapshot year (largest cluster, n large-scale)",
        ("year", "n_alive", "n_clusters", "largest_n"),
    ),
    StudyFile(
        "lifecycle_sensitivity.csv",
        "csv",
        "lifecycle",
        "events of each kind at each matching threshold tried",
        ("threshold", "birth", "growth", "shrink", "merge", "split", "death", "n_tracks"),
    ),
    StudyFile("nearest_neighbour.csv", "csv", "methods", "average nearest neighbour test"),
    StudyFile("ellipse_path.csv", "csv", "methods", "standard deviational ellipses by period"),
    StudyFile("kernel_density.csv", "csv", "methods", "kernel density cells (non-zero)"),
    StudyFile("moran.csv", "csv", "methods", "global Moran's I on square cells"),
    StudyFile("lisa_summary.csv", "csv", "methods", "cells per LISA label"),
    StudyFile("geodetector_factors.csv", "csv", "methods", "every factor asked for, q and p"),
    StudyFile("geodetector_interaction.csv", "csv", "methods", "interaction of factor pairs"),
    StudyFile("geodetector_risk.csv", "csv", "methods", "stratum means of each factor"),
    StudyFile("geodetector_ecological.csv", "csv", "methods", "ecological detector F tests"),
    StudyFile(REPORT, "html", "report", "one self-contained file (figures inlined)"),
    StudyFile("report.pdf", "pdf", "report", "the report as PDF (with --pdf)"),
    StudyFile(
        COLUMNS_ZH,
        "csv",
        "report",
        "Chinese names of the output columns (with --lang zh); the files keep the English names",
        ("column", "中文名", "description"),
    ),
    StudyFile(f"{FIGURES}/*.png", "png", "report", "the report's figures"),
    StudyFile(
        "city_comparison.csv", "csv", "dask", "one row per city (run --engine dask --by city)"
    ),
    StudyFile("zones_{city}.csv", "csv", "dask", "functional zones of one city"),
    StudyFile("hotspots_{city}.csv", "csv", "dask", "grid Gi* hot spots of one city"),
    StudyFile("clusters_{city}.csv", "csv", "dask", "clusters of one city"),
    StudyFile(
        DETECT_GPKG,
        "gpkg",
        "detect command",
        "beside clusters.csv: footprints and the clustered rows with cluster and probability, "
        "EPSG:4326",
        ("clusters", "establishments"),
    ),
)


class DamagedFileError(InvalidInputError):
    """A file of a saved study exists but cannot be read.

    ``path`` names it and ``reason`` is one line; the message is the command-line form (it
    names the file and says how to write it again).
    """

    def __init__(self, path: Path, exc: BaseException | str, *, caller: str = "report") -> None:
        text = exc if isinstance(exc, str) else str(exc)
        self.path = Path(path)
        self.reason = " ".join(text.split())[:300] or (
            "unreadable" if isinstance(exc, str) else type(exc).__name__
        )
        super().__init__(
            f"{caller}: {self.path} is damaged ({self.reason[:200]}); re-run "
            f"`clusterscape run --out {self.path.parent}` to write it again."
        )


# --- JSON ----------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """Turn ``value`` into plain JSON types: NaN/inf become None, numpy scalars Python ones.

    Mappings get string keys, tuples become lists, ``pd.NA``/``NaT`` None; any other object its
    ``str``. This is the one conversion every JSON writer and the dashboard's API use.

    Examples
    --------
    >>> json_safe({"a": float("nan"), "b": (np.int64(2), np.float32(0.5)), 3: np.bool_(True)})
    {'a': None, 'b': [2, 0.5], '3': True}
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (str, int)):
        return value
    return str(value)


def dumps_json(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of ``value`` after :func:`json_safe` (UTF-8 characters kept).

    Examples
    --------
    >>> dumps_json([1.0, float("inf"), "宁波"])
    '[1.0, null, "宁波"]'
    """
    return json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, indent=indent)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-safe dictionaries (missing values as None)."""
    return [
        {str(k): json_safe(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


# --- the cluster table ---------------------------------------------------------------------------


def clusters_table(
    est_m: gpd.GeoDataFrame,
    clusters_m: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """``clusters.csv`` as detection leaves it: :data:`CLUSTER_COLUMNS`, then detection measures.

    Parameters
    ----------
    est_m : geopandas.GeoDataFrame
        All establishments (points, metric CRS) with ``cluster`` (-1 for rows in no cluster);
        ``employees`` and ``sector`` are used when present.
    clusters_m : geopandas.GeoDataFrame
        The footprints of :func:`clusterscape.detect.detect_clusters`, indexed by cluster id,
        in the same CRS.
    districts : geopandas.GeoDataFrame, optional
        District polygons with ``name_en`` (else the first column names them).

    Returns
    -------
    pandas.DataFrame
        One row per cluster. ``n_establishments`` counts every establishment inside the
        footprint, ``n_creative`` the members; ``lon``/``lat`` is the members' centroid in
        WGS-84; ``district`` and ``dominant_sector`` are ``""`` when unknown.
    """
    members = est_m[est_m["cluster"] >= 0]
    grouped = members.groupby("cluster")
    cx = grouped.geometry.apply(lambda g: g.x.mean())
    cy = grouped.geometry.apply(lambda g: g.y.mean())
    centroids = gpd.GeoSeries(gpd.points_from_xy(cx, cy), index=cx.index, crs=est_m.crs).to_crs(
        LAYER_CRS
    )
    emp = (
        grouped["employees"].sum(min_count=1) if "employees" in members else pd.Series(dtype=float)
    )
    # All establishments (creative or not) inside each footprint.
    footprints = gpd.GeoDataFrame(
        {"fp_cluster": clusters_m.index.to_numpy()},
        geometry=clusters_m.geometry.to_numpy(),
        crs=clusters_m.crs,
    )
    joined = gpd.sjoin(est_m[["geometry"]], footprints, predicate="intersects", how="inner")
    n_all = joined.groupby("fp_cluster").size()
    table = pd.DataFrame(index=clusters_m.index.rename("cluster_id"))
    table["n_establishments"] = n_all.reindex(table.index).fillna(0).astype(int)
    table["n_creative"] = grouped.size().reindex(table.index).fillna(0).astype(int)
    # blank (NaN) when no member has a headcount: unknown, not zero
    table["employees"] = emp.reindex(table.index).round(1)
    table["lon"] = centroids.x.reindex(table.index).round(6)
    table["lat"] = centroids.y.reindex(table.index).round(6)
    table["area_m2"] = clusters_m.geometry.area.round(1)
    table["district"] = ""
    if districts is not None and len(districts):
        pts = gpd.GeoDataFrame(geometry=centroids.reindex(table.index), crs=LAYER_CRS)
        name_col = "name_en" if "name_en" in districts.columns else districts.columns[0]
        hit = gpd.sjoin(
            pts,
            districts[[name_col, "geometry"]].to_crs(LAYER_CRS),
            predicate="within",
            how="left",
        )
        hit = hit[~hit.index.duplicated()]
        table["district"] = hit[name_col].reindex(table.index).fillna("").astype(str)
    table["dominant_sector"] = ""
    if "sector" in members.columns:
        modal = (
            members[members["sector"].astype(str) != ""]
            .groupby("cluster")["sector"]
            .agg(lambda v: v.value_counts().index[0])
        )
        table["dominant_sector"] = modal.reindex(table.index).fillna("").astype(str)
    # Per-cluster shape and mix measures from detection, after the contract columns.
    extra = [c for c in clusters_m.columns if c not in table.columns and c != "geometry"]
    return table.join(clusters_m[extra]).reset_index()


# --- writing -------------------------------------------------------------------------------------


_SQLITE_SYNC = "OGR_SQLITE_SYNCHRONOUS"  # GDAL option: SQLite PRAGMA synchronous


def _gpkg_safe(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GeoPackage columns must be scalar: lists/dicts become JSON text; stored in EPSG:4326."""
    out = layer.copy()
    if out.crs is not None and out.crs.to_epsg() != 4326:
        out = out.to_crs(LAYER_CRS)
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].dtype == object:
            out[col] = out[col].map(
                lambda v: (
                    json.dumps(json_safe(v), ensure_ascii=False)
                    if isinstance(v, (list, dict))
                    else v
                )
            )
    return out


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, encoding="utf-8")


def _write_layers(
    layers: Mapping[str, gpd.GeoDataFrame | None], path: Path, *, keep_empty: bool = False
) -> None:
    """Append each layer to the GeoPackage ``path``; empty ones only with ``keep_empty``.

    SQLite's per-transaction syncs are turned off while the layers are written (each layer
    otherwise waits for the disk several times) and the finished file is synced once instead,
    so it is as durable when this returns; the file contents are the same.
    """
    import pyogrio

    previous = pyogrio.get_gdal_config_option(_SQLITE_SYNC)
    pyogrio.set_gdal_config_options({_SQLITE_SYNC: "OFF"})
    try:
        for name, layer in layers.items():
            if layer is None or (len(layer) == 0 and not keep_empty):
                continue
            # Arrow path: columns handed to GDAL in batches, not row by row (same contents).
            _gpkg_safe(layer).to_file(
                path, layer=name, driver="GPKG", engine="pyogrio", use_arrow=len(layer) > 0
            )
    finally:
        pyogrio.set_gdal_config_options({_SQLITE_SYNC: previous})
    if path.exists():
        with path.open("rb+") as fh:
            os.fsync(fh.fileno())


def _write_summary(summary: Mapping[str, Any], path: Path) -> None:
    path.write_text(dumps_json(summary, indent=2), encoding="utf-8")


def _write_files(result: StudyResult, root: Path, report: bool, pdf: bool, lang: str) -> None:
    """Write the files of a study into ``root``, an existing empty directory."""
    _write_table(result.rejected, root / "rejected.csv")
    for name, table in result.tables.items():
        _write_table(table, root / f"{name}.csv")
    # Nothing reads the directory yet (it is swapped in whole, or a fresh empty one), so the
    # layers are appended in place.
    _write_layers(result.layers, root / GPKG)
    _write_summary(result.summary, root / SUMMARY)
    if report:
        from clusterscape.report import write_report

        write_report(root, pdf=pdf, lang=lang)


def write_columns_zh(directory: str | Path) -> Path:
    """Write ``columns_zh.csv``: every column of the study's CSV files and layers with its Chinese name.

    The CSV/GPKG files keep their English column names (they are the contract); this table
    (``column``, ``中文名``, ``description``: the files that hold the column) lets a Chinese
    reader find them. Columns without a Chinese name in the catalogue keep an empty ``中文名``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from clusterscape.i18n import messages
    from clusterscape.io.writers import atomic_write

    root = Path(directory)
    where: dict[str, list[str]] = {}
    for path in sorted(root.glob("*.csv")):
        if path.name == COLUMNS_ZH:
            continue
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        for column in header:
            where.setdefault(column, []).append(path.name)
    if (root / GPKG).exists():
        import pyogrio

        for layer in pyogrio.list_layers(root / GPKG)[:, 0]:
            for column in pyogrio.read_info(root / GPKG, layer=str(layer))["fields"]:
                where.setdefault(str(column), []).append(f"{GPKG}:{layer}")
    zh = messages("zh")
    frame = pd.DataFrame(
        [
            (column, zh.get(f"column.{column}", ""), "出现于：" + "、".join(files))
            for column, files in sorted(where.items())
        ],
        columns=["column", "中文名", "description"],
    )
    with atomic_write(root / COLUMNS_ZH) as tmp:
        _write_table(frame, tmp)
    return root / COLUMNS_ZH


def write_report_files(
    directory: str | Path, *, html: str | None = None, pdf: bytes | None = None
) -> Path:
    """Write ``report.html`` and/or ``report.pdf`` into a study, each file atomically.

    Parameters
    ----------
    directory : path
        The study directory.
    html : str, optional
        The report's HTML text (UTF-8), written as ``report.html``.
    pdf : bytes, optional
        The rendered PDF, written as ``report.pdf``.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    from clusterscape.io.writers import atomic_write

    root = Path(directory)
    if html is not None:
        with atomic_write(root / REPORT) as tmp:
            tmp.write_text(html, encoding="utf-8")
    if pdf is not None:
        with atomic_write(root / REPORT_PDF) as tmp:
            tmp.write_bytes(pdf)
    return root / REPORT


def write_figure(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG at ``path`` (under the study's ``figures/``), atomically.

    With ``savefig.bbox`` set to ``"tight"`` (the report's style), the figure is laid out once:
    it is drawn on its own canvas, the tight box (``savefig.pad_inches`` around everything
    drawn) is measured on that drawing and the image is cropped to it, where ``savefig`` would
    lay it out twice. The picture is the same up to the sub-pixel placement of the crop. A
    figure whose drawing reaches outside its canvas is left to ``savefig``, which widens it.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.image import imsave

    from clusterscape.io.writers import atomic_write

    target = Path(path)
    with atomic_write(target) as tmp:
        canvas = fig.canvas
        if not isinstance(canvas, FigureCanvasAgg) or plt.rcParams["savefig.bbox"] != "tight":
            fig.savefig(tmp, format="png")
            return target
        canvas.draw()
        dpi = fig.dpi
        box = fig.get_tightbbox(canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
        width, height = fig.bbox.width, fig.bbox.height
        x0, x1 = box.x0 * dpi, box.x1 * dpi
        top, bottom = height - box.y1 * dpi, height - box.y0 * dpi  # image rows from the top
        if x0 < 0 or top < 0 or x1 > width or bottom > height:
            fig.savefig(tmp, format="png")
            return target
        col, row = round(x0), round(top)
        image = np.asarray(canvas.buffer_rgba())[
            row : row + round(box.height * dpi), col : col + round(box.width * dpi)
        ]
        imsave(tmp, image, format="png", dpi=dpi)
    return target


def write_tables(directory: str | Path, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    """Add or replace CSV tables (``NAME.csv``) of a saved study, each file atomically.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from clusterscape.io.writers import atomic_write

    written = []
    for name, table in tables.items():
        with atomic_write(Path(directory) / f"{name}.csv") as tmp:
            _write_table(table, tmp)
        written.append(Path(directory) / f"{name}.csv")
    return written


def write_study(
    result: StudyResult,
    out_dir: str | Path,
    *,
    report: bool = True,
    pdf: bool = False,
    lang: str = "en",
    atomic: bool = True,
) -> Path:
    """Write a study run into ``out_dir`` (atomically unless told) and return its path.

    Parameters
    ----------
    result : clusterscape.study.run.StudyResult
        What :func:`clusterscape.study.run.run_study` returned.
    out_dir : path
        The output directory; it becomes a link to a complete run directory only when all is
        written (:func:`clusterscape.io.writers.atomic_directory`: lock, no gap, cleanup).
        The study's ``rejected``, ``tables`` (``NAME.csv`` each), ``layers`` (``results.gpkg``,
        EPSG:4326; empty layers are left out) and ``summary`` (``summary.json``) are written.
    report : bool, default True
        Also draw the figures and write ``report.html``.
    pdf : bool, default False
        Also write ``report.pdf`` (needs weasyprint).
    lang : {"en", "zh"}, default "en"
        Language of the report; ``zh`` also writes ``columns_zh.csv``.
    atomic : bool, default True
        False writes straight into ``out_dir``, an existing empty directory that nothing reads
        yet (a test fixture, a scratch copy).

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    if not atomic:
        _write_files(result, Path(out_dir), report, pdf, lang)
        return Path(out_dir)
    with _swapped_in(out_dir) as tmp:
        _write_files(result, tmp, report, pdf, lang)
    return Path(out_dir)


@contextmanager
def _swapped_in(out_dir: str | Path) -> Iterator[Path]:
    """A fresh run directory that replaces ``out_dir`` atomically when the block ends.

    See :func:`clusterscape.io.writers.atomic_directory`.
    """
    from clusterscape.io.writers import atomic_directory

    with atomic_directory(Path(out_dir)) as tmp:
        yield Path(tmp)


def write_city_study(
    out_dir: str | Path,
    *,
    summary: Mapping[str, Any],
    comparison: pd.DataFrame,
    per_city: Mapping[str, Mapping[str, pd.DataFrame]],
    rejected: pd.DataFrame,
) -> Path:
    """Write a ``run --engine dask --by city`` study atomically into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        The output directory (replaced atomically, as by :func:`write_study`).
    summary : mapping
        Written as ``summary.json``.
    comparison : pandas.DataFrame
        ``city_comparison.csv``.
    per_city : mapping
        ``{"zones": {city: frame}, "hotspots": ..., "clusters": ...}``, written as
        ``NAME_<city>.csv`` (the city name made safe for a file name).
    rejected : pandas.DataFrame
        ``rejected.csv``.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    with _swapped_in(out_dir) as tmp:
        _write_table(comparison, tmp / "city_comparison.csv")
        for name, tables in per_city.items():
            for city, table in tables.items():
                _write_table(table, tmp / f"{name}_{_safe_name(city)}.csv")
        _write_table(rejected, tmp / "rejected.csv")
        _write_summary(summary, tmp / SUMMARY)
    return Path(out_dir)


def _safe_name(city: str) -> str:
    import re

    return re.sub(r"[^\w.-]+", "_", city, flags=re.UNICODE).strip("_") or "city"


def write_clusters(
    out_dir: str | Path,
    table: pd.DataFrame,
    footprints: gpd.GeoDataFrame,
    members: gpd.GeoDataFrame,
) -> tuple[Path, Path]:
    """Write ``clusters.csv`` and ``clusters.gpkg`` (``clusterscape detect``), each atomically.

    The CSV is written as :func:`write_study` writes it (the same columns when ``table`` comes
    from :func:`clusters_table`), the layers ``clusters`` and ``establishments`` in EPSG:4326.
    The other files of ``out_dir`` are left alone (it may be any directory, even ``.``).

    Returns
    -------
    tuple of pathlib.Path
        The CSV and the GeoPackage written.
    """
    from clusterscape.io.writers import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / CLUSTERS) as tmp:
        _write_table(table, tmp)
    with atomic_write(out / DETECT_GPKG) as tmp:
        # Both layers always, even with no cluster (as the command always wrote them).
        _write_layers({"clusters": footprints, "establishments": members}, tmp, keep_empty=True)
    return out / CLUSTERS, out / DETECT_GPKG


# --- reading -------------------------------------------------------------------------------------


def parse_summary(raw: bytes, path: Path, *, caller: str = "report") -> dict[str, Any]:
    """``summary.json`` from its bytes, JSON-safe and with credentials redacted.

    Raises
    ------
    DamagedFileError
        Not UTF-8 JSON, or not a JSON object.
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DamagedFileError(path, exc, caller=caller) from None
    if not isinstance(data, dict):
        raise DamagedFileError(path, "not a JSON object", caller=caller)
    # Credentials never reach a reader, even from a summary written by an older version.
    return dict(json_safe(redact_value(data)))


def read_table(path: str | Path, *, caller: str = "report") -> pd.DataFrame | None:
    """One CSV of a study; None when it is missing, empty or has no columns.

    Raises
    ------
    DamagedFileError
        The file exists but cannot be parsed as CSV.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DamagedFileError(path, exc, caller=caller) from None


def _layer_names(path: Path, *, caller: str, counts: bool = False) -> dict[str, int]:
    """Layers of a GeoPackage in stored order (with feature counts when ``counts``, else -1)."""
    import pyogrio

    try:
        with warnings.catch_warnings():  # GDAL's warnings about a damaged file
            warnings.simplefilter("ignore", RuntimeWarning)
            names = [str(n) for n, _ in pyogrio.list_layers(path)]
            if not counts:
                return dict.fromkeys(names, -1)
            return {n: int(pyogrio.read_info(path, layer=n)["features"]) for n in names}
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise DamagedFileError(path, exc, caller=caller) from None


def layer_counts(path: str | Path, *, caller: str = "report") -> dict[str, int]:
    """Layer names of a study GeoPackage and their feature counts, in stored order.

    Raises
    ------
    DamagedFileError
        GDAL cannot open the file.
    """
    return _layer_names(Path(path), caller=caller, counts=True)


def layer_columns(path: str | Path, name: str, *, caller: str = "report") -> list[str]:
    """Attribute column names of one layer of a study GeoPackage (the geometry not included).

    Raises
    ------
    DamagedFileError
        GDAL cannot open the file or the layer.
    """
    import pyogrio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return [str(f) for f in pyogrio.read_info(Path(path), layer=name)["fields"]]
    except Exception as exc:  # pyogrio raises its own DataSourceError family
        raise DamagedFileError(Path(path), exc, caller=caller) from None


def read_layer_page(
    path: str | Path,
    name: str,
    *,
    offset: int = 0,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
    caller: str = "report",
    where: str | None = None,
) -> gpd.GeoDataFrame:
    """Features ``offset`` to ``offset + limit`` of one layer (all with ``limit=None``), EPSG:4326.

    ``columns`` reads only those attribute columns (and the geometry); all by default.
    ``where`` (an OGR SQL filter such as ``"is_creative <> 0"``, applied before
    ``offset``/``limit``) reads only the matching features.

    Raises
    ------
    DamagedFileError
        The layer cannot be read.
    """
    path = Path(path)
    subset: dict[str, Any] = {"columns": list(columns) if columns is not None else None}
    if where is not None:
        subset["where"] = where
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if limit is None and offset == 0:
                gdf = gpd.read_file(path, layer=name, engine="pyogrio", use_arrow=True, **subset)
            else:
                gdf = gpd.read_file(
                    path,
                    layer=name,
                    engine="pyogrio",
                    skip_features=offset,
                    max_features=limit,
                    **subset,
                )
        if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
            gdf = gdf.to_crs(LAYER_CRS)
    except Exception as exc:  # pyogrio/GDAL errors of a damaged file
        raise DamagedFileError(path, exc, caller=caller) from None
    return gdf


_T = TypeVar("_T")


class _Part(Generic[_T]):
    """A named table or layer of a :class:`SavedStudy`, read by ``read(study, name)``."""

    def __init__(self, read: Callable[[SavedStudy, str], _T], name: str, doc: str) -> None:
        self.read = read
        self.name = name
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Part[_T]: ...
    @overload
    def __get__(self, obj: SavedStudy, owner: type | None = None) -> _T: ...
    def __get__(self, obj: SavedStudy | None, owner: type | None = None) -> _T | _Part[_T]:
        return self if obj is None else self.read(obj, self.name)


@dataclass(frozen=True, slots=True)
class SavedStudy:
    """A study directory opened by :func:`load_study`; tables and layers are read on request.

    Attributes
    ----------
    root : pathlib.Path
        The directory.
    summary : dict
        ``summary.json`` (JSON-safe, credentials redacted).
    layer_names : tuple of str
        Layers of ``results.gpkg`` (empty when there is none).

    Tables (``table(name)``, ``clusters``, ``rejected``, ``notes``) and layers (``layer(name)``,
    ``establishments``, ``footprints``, ``zones``, ``centres``) are read once, when first asked
    for, and cached; callers must not mutate them. A damaged file raises
    :class:`DamagedFileError`.
    """

    root: Path
    summary: dict[str, Any]
    layer_names: tuple[str, ...] = ()
    caller: str = "report"
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False, compare=False)
    _layers: dict[Any, gpd.GeoDataFrame] = field(default_factory=dict, repr=False, compare=False)

    def table(self, name: str) -> pd.DataFrame | None:
        """``NAME.csv`` (None when missing or empty)."""
        if name not in self._tables:
            self._tables[name] = read_table(self.root / f"{name}.csv", caller=self.caller)
        return self._tables[name]

    def layer(
        self, name: str, *, columns: Sequence[str] | None = None, where: str | None = None
    ) -> gpd.GeoDataFrame | None:
        """A layer of ``results.gpkg`` in EPSG:4326 (None when the study has no such layer).

        ``columns`` and ``where`` (OGR SQL) read a part of it, as :func:`read_layer_page`;
        each distinct request is read once.
        """
        if name not in self.layer_names:
            return None
        key: Any = (
            name if columns is None and where is None else (name, tuple(columns or ()), where)
        )
        if key not in self._layers:
            self._layers[key] = read_layer_page(
                self.root / GPKG, name, caller=self.caller, columns=columns, where=where
            )
        return self._layers[key]

    def layer_columns(self, name: str) -> tuple[str, ...]:
        """The attribute columns of a layer (empty when the study has no such layer)."""
        if name not in self.layer_names:
            return ()
        return tuple(layer_columns(self.root / GPKG, name, caller=self.caller))

    @property
    def table_names(self) -> tuple[str, ...]:
        """Names of the CSV tables in the directory (sorted)."""
        try:
            return tuple(sorted(p.stem for p in self.root.glob("*.csv") if p.is_file()))
        except OSError:
            return ()

    @property
    def tables(self) -> dict[str, pd.DataFrame | None]:
        """Every CSV table, by name (read now)."""
        return {name: self.table(name) for name in self.table_names}

    @property
    def figures(self) -> tuple[Path, ...]:
        """The PNG figures (sorted by name)."""
        folder = self.root / FIGURES
        if not folder.is_dir():
            return ()
        return tuple(sorted(p for p in folder.glob("*.png") if p.is_file()))

    # the named parts: attribute = _Part(reader, table or layer name, docstring)
    clusters = _Part(table, "clusters", "``clusters.csv``.")
    rejected = _Part(table, "rejected", "``rejected.csv``.")
    notes = _Part(table, "notes", "``notes.csv``.")
    establishments = _Part(
        layer, "establishments", "The ``establishments`` layer (large: read when asked for)."
    )
    footprints = _Part(layer, "clusters", "The ``clusters`` layer (cluster footprints).")
    zones = _Part(layer, "functional_zones", "The ``functional_zones`` layer.")
    centres = _Part(layer, "centres", "The ``centres`` layer.")


def load_study(out_dir: str | Path, *, caller: str = "report") -> SavedStudy:
    """Open a directory written by ``clusterscape run``.

    Parameters
    ----------
    out_dir : path
        The study directory (or the link ``run`` maintains).
    caller : str, default "report"
        The command named in error messages.

    Returns
    -------
    SavedStudy
        The summary read now; tables and layers on request.

    Raises
    ------
    InvalidInputError
        The directory has no ``summary.json``.
    DamagedFileError
        ``summary.json`` or ``results.gpkg`` cannot be read (one line naming the file).
    """
    root = Path(out_dir)
    path = root / SUMMARY
    if not path.is_file():
        raise InvalidInputError(
            f"{caller}: {root} has no summary.json; run `clusterscape run --out {root}` first."
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DamagedFileError(path, exc, caller=caller) from None
    summary = parse_summary(raw, path, caller=caller)
    gpkg = root / GPKG
    names = tuple(_layer_names(gpkg, caller=caller)) if gpkg.exists() else ()
    return SavedStudy(root=root, summary=summary, layer_names=names, caller=caller)
