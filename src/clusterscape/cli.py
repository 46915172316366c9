"""The ``clusterscape`` command: a thin Typer adapter over the library functions.

Library errors become one red line and exit code 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from clusterscape import __version__
from clusterscape.errors import ClusterscapeError

app = typer.Typer(
    name="clusterscape",
    help="Find creative-industry clusters in a city, type them, and measure their effects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

_STATE: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"clusterscape {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """clusterscape: creative clusters, their forms, and what they do to the city."""
    _STATE["debug"] = debug


def friendly_errors(func: F) -> F:
    """Turn library and file errors into one red line and exit code 1 (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except (ClusterscapeError, OSError, ValueError) as exc:
            if _STATE["debug"]:
                raise
            from rich.markup import escape

            from clusterscape.io._redact import redact_text

            message = redact_text(str(exc))  # never a database password on the terminal
            # escaped: "[detect]" in a message is text, not Rich markup
            err_console.print(
                f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def parse_columns(spec: str | None) -> dict[str, str] | None:
    """Parse ``name=col,lon=经度`` into a mapping canonical -> file column."""
    if not spec:
        return None
    out: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise ClusterscapeError(
                f"--columns: {part!r} is not of the form canonical=column, e.g. lon=经度"
            )
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


# Each command below lives in its own block; keep the markers so blocks can be added safely.


#: options shared by the commands that read one establishments file
FileArg = Annotated[
    str,
    typer.Argument(
        metavar="FILE",
        help="Firm/POI table: CSV/TSV, .xlsx, GeoJSON, GPKG, SHP, Parquet, an .osm.pbf extract "
        "or a PostGIS URL postgresql://user@host/db?table=NAME.",
    ),
]
DatumOpt = Annotated[
    str | None,
    typer.Option(
        "--datum",
        help="Datum of longitude/latitude: wgs84 (default), gcj02 (Amap, Tencent) or bd09 (Baidu).",
    ),
]
CrsOpt = Annotated[
    str | None,
    typer.Option(
        "--crs",
        help="Projected CRS of x/y columns, e.g. EPSG:32651 (a datum name here is deprecated: "
        "use --datum).",
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option("--columns", help="Override header mapping, e.g. lon=经度,lat=纬度,id=编号."),
]
LayerOpt = Annotated[
    str | None,
    typer.Option("--layer", help="GeoPackage/GeoJSON layer to read (name or 0-based number)."),
]
SheetOpt = Annotated[
    str | None,
    typer.Option("--sheet", help="Excel sheet to read (name or 0-based number)."),
]


def _source_name(source: str) -> str:
    """A source as shown on the terminal: a file's name, a database URL without its password."""
    from clusterscape.io.source import source_kind

    if source_kind(source) == "postgis":
        from clusterscape.io.postgis import redact_url

        return redact_url(source)
    return Path(source).name


def _datum_option(datum: str | None, crs: str | None) -> tuple[str | None, str | None]:
    """``(--datum, --crs)`` with a datum given as ``--crs`` moved to ``--datum`` (a warning line)."""
    from clusterscape.coords import is_datum_name, normalise_datum

    if crs is None or not is_datum_name(crs):
        return datum, crs
    key = normalise_datum(crs, caller="--crs", param="--crs")
    if datum is not None and normalise_datum(datum, caller="clusterscape", param="--datum") != key:
        raise ClusterscapeError(
            f"--datum {datum} and --crs {crs} disagree; give the datum once, as --datum."
        )
    err_console.print(
        f"[bold yellow]warning:[/] --crs {crs} names a datum; use --datum {key} (--crs is for "
        "projected CRSs such as EPSG:32651; datums given as --crs stop working in the next "
        "release)."
    )
    return key, None


def _read(
    file: str,
    datum: str | None,
    crs: str | None,
    columns: str | None,
    layer: str | None,
    sheet: str | None,
) -> Any:
    """read_source with the shared options; a progress bar when a file read takes > 1 s."""
    import time

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from clusterscape.io.source import read_source

    t0 = time.monotonic()
    bar: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if "p" not in bar:
            if time.monotonic() - t0 < 1.0:
                return
            bar["p"] = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                console=err_console, transient=True,
            )  # fmt: skip
            bar["p"].start()
            bar["t"] = bar["p"].add_task(stage, total=total)
        bar["p"].update(
            bar["t"], description=f"{_source_name(file)}: {stage}", completed=done, total=total
        )

    try:
        datum, crs = _datum_option(datum, crs)
        return read_source(
            file,
            datum=datum,
            crs=crs,
            columns=parse_columns(columns),
            layer=layer,
            sheet=sheet,
            progress=progress if err_console.is_terminal else None,
        )
    finally:
        if "p" in bar:
            bar["p"].stop()


# --- command: validate ---
@app.command("validate")
@friendly_errors
def validate(
    file: FileArg,
    datum: DatumOpt = None,
    crs: CrsOpt = None,
    columns: ColumnsOpt = None,
    layer: LayerOpt = None,
    sheet: SheetOpt = None,
    out: Path = typer.Option(Path("."), "--out", help="Directory for rejected.csv and notes.csv."),
) -> None:
    """Read FILE as establishments and report what was accepted, rejected and noted.

    Writes rejected.csv (rows set aside) and notes.csv (fields left blank in rows kept).
    """
    from rich.markup import escape
    from rich.table import Table

    from clusterscape.io.establishments import NOTE_COLUMNS
    from clusterscape.results import write_tables

    if out.exists() and not out.is_dir():
        raise ClusterscapeError(f"--out {out} is a file; give a directory for rejected.csv.")
    result = _read(file, datum, crs, columns, layer, sheet)
    est = result.establishments
    table = Table(title=f"clusterscape validate: {_source_name(file)}", show_header=True)
    table.add_column("item")
    table.add_column("value", overflow="fold")
    table.add_row("rows read", f"{result.n_rows:,}")
    table.add_row("accepted", f"[green]{len(est):,}[/]")
    table.add_row("rejected", f"[red]{len(result.rejected):,}[/]" if len(result.rejected) else "0")
    for kind, count in result.reason_counts().items():
        table.add_row(f"  {kind}", f"{count:,}")
    table.add_row(
        "fields noted", f"{len(result.notes):,}" + (" (see notes.csv)" if len(result.notes) else "")
    )
    table.add_row("exact duplicate rows", f"{result.duplicates:,}")
    n_dup_ids = int((result.notes["field"] == "id").sum()) if len(result.notes) else 0
    table.add_row("duplicate ids (kept as id#row)", f"{n_dup_ids:,}")
    for kind, count in dict(result.skipped).items():
        table.add_row(f"  skipped: {kind}", f"{count:,}")
    table.add_row("source CRS", f"{result.source_crs} -> EPSG:4326")
    if len(est):
        minx, miny, maxx, maxy = est.total_bounds
        table.add_row("bounding box", f"lon {minx:.5f} .. {maxx:.5f}, lat {miny:.5f} .. {maxy:.5f}")
    else:
        table.add_row("bounding box", "(no accepted rows)")
    table.add_row("columns", ", ".join(f"{k}<-{v}" for k, v in result.columns.items()) or "(none)")
    console.print(table)
    for note in result.messages:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    target = out / "rejected.csv"
    write_tables(
        out,
        {
            "rejected": result.rejected[["row", "id", "reason"]],
            "notes": result.notes[list(NOTE_COLUMNS)],
        },
    )
    console.print(
        f"rejected rows written to {target}, field notes to {out / 'notes.csv'}",
        highlight=False,
        soft_wrap=True,
    )


# --- end: validate ---


# --- command: classify ---
@app.command("classify")
@friendly_errors
def classify(
    file: FileArg,
    datum: DatumOpt = None,
    crs: CrsOpt = None,
    columns: ColumnsOpt = None,
    layer: LayerOpt = None,
    sheet: SheetOpt = None,
    code_system: str = typer.Option(
        "gbt4754",
        "--code-system",
        help="Classification of the code column: gbt4754, uksic2007, isic4 or naics2017.",
    ),
    taxonomy: Path | None = typer.Option(
        None, "--taxonomy", help="TOML/CSV file of overrides merged onto the shipped code lists."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Write the classified table here (.parquet GeoParquet, .gpkg or .csv by suffix).",
    ),
) -> None:
    """Classify FILE into creative sectors and urban functions; print counts by each."""
    from rich.table import Table

    from clusterscape.io.establishments import write_layer
    from clusterscape.taxonomy import classify_establishments

    if out is not None and out.suffix.lower() not in {".parquet", ".geoparquet", ".gpkg", ".csv"}:
        raise ClusterscapeError(
            f"--out {out.name}: unsupported suffix {out.suffix!r}; use .parquet, .gpkg or .csv."
        )
    result = _read(file, datum, crs, columns, layer, sheet)
    est = classify_establishments(result.establishments, code_system=code_system, taxonomy=taxonomy)
    n = len(est)
    console.print(
        f"{_source_name(file)}: {n:,} establishments classified ({len(result.rejected):,} rows rejected "
        "while reading; see `clusterscape validate`).",
        highlight=False,
        soft_wrap=True,
    )
    for column, title in (("sector", "creative sector"), ("function", "urban function")):
        counts = est[column].replace("", "(not creative)").value_counts(sort=True)
        table = Table(title=f"by {title}", show_header=True)
        table.add_column(column)
        table.add_column("n", justify="right")
        table.add_column("share", justify="right")
        for value, count in counts.items():
            table.add_row(str(value), f"{int(count):,}", f"{count / max(n, 1):.1%}")
        console.print(table)
    graded = est["hotel_grade"].dropna()
    if len(graded):
        stars = ", ".join(f"{g}★ {c}" for g, c in graded.value_counts().sort_index().items())
        console.print(f"hotels with a known grade: {stars}", highlight=False)
    if out is not None:
        written = write_layer(est, out)
        console.print(f"classified table written to {written}", highlight=False, soft_wrap=True)


# --- end: classify ---


# --- command: detect ---
@app.command("detect")
@friendly_errors
def detect(
    file: FileArg,
    datum: DatumOpt = None,
    crs: CrsOpt = None,
    columns: ColumnsOpt = None,
    layer: LayerOpt = None,
    sheet: SheetOpt = None,
    out: Path = typer.Option(Path("."), "--out", help="Directory for clusters.csv/.gpkg."),
    method: str = typer.Option("hdbscan", "--method", help="hdbscan or dbscan."),
    min_cluster_size: int | None = typer.Option(
        None,
        "--min-cluster-size",
        help="Smallest cluster (default: round(sqrt(n)/2) clipped to 5..15 for n points).",
    ),
    eps_m: float | None = typer.Option(
        None,
        "--eps-m",
        help="DBSCAN search distance in metres (default: 5 % of random points would be core).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the resampling and CSR tests."),
) -> None:
    """Find density clusters in FILE; write DIR/clusters.csv and DIR/clusters.gpkg.

    All rows are clustered, or only the creative ones when the table has an ``is_creative``
    column (classified establishments). ``clusters.csv`` has the columns ``run`` writes at its
    detect step (``cluster_id, n_establishments, n_creative, employees, lon, lat, area_m2,
    district, dominant_sector``, then the detection measures); ``n_establishments`` counts every
    row of FILE inside the footprint. The GeoPackage holds the layers ``clusters`` (footprints)
    and ``establishments`` (the clustered rows, with ``cluster`` and ``probability``), both in
    WGS-84 as in ``run``'s ``results.gpkg``.
    """
    import numpy as np

    from clusterscape.detect.clusters import detect_clusters
    from clusterscape.results import clusters_table, write_clusters

    loaded = _read(file, datum, crs, columns, layer, sheet)
    population = loaded.establishments
    keep = np.ones(len(population), dtype=bool)
    if "is_creative" in population.columns:
        flag = population["is_creative"]
        if flag.dtype == bool:
            keep = flag.to_numpy()
        else:  # read back from a text file: "True"/"1"/"yes" mark creative rows
            text = flag.astype("string").str.strip().str.lower()
            keep = text.isin(["true", "1", "yes", "y", "t"]).fillna(False).to_numpy(dtype=bool)
    est = population[keep]
    result = detect_clusters(
        est, method=method, min_cluster_size=min_cluster_size, eps_m=eps_m, seed=seed
    )
    clusters = result.clusters
    members = est.assign(cluster=result.labels, probability=result.probabilities)
    # clusters.csv as `run` writes it: n_establishments counts every row inside a footprint.
    labels = np.full(len(population), -1, dtype=int)
    labels[keep] = result.labels.to_numpy()
    table = clusters_table(population.to_crs(clusters.crs).assign(cluster=labels), clusters)
    write_clusters(out, table, clusters, members)
    n_sig = int(clusters["significant"].sum()) if len(clusters) else 0
    console.print(
        f"{len(est):,} establishments ({len(loaded.rejected):,} rejected rows), "
        f"{len(clusters)} clusters ({n_sig} significant against CSR), "
        f"{int((result.labels == -1).sum()):,} noise; written to {out}/clusters.csv and "
        f"{out}/clusters.gpkg",
        highlight=False,
        soft_wrap=True,
    )
    if not len(clusters):
        console.print(str(result.params["empty_reason"]), markup=False, highlight=False)


# --- end: detect ---


# --- command: run ---
@app.command()
@friendly_errors
def run(
    establishments: str | None = typer.Option(
        None,
        "--establishments",
        "-e",
        help="Firm/POI table (CSV, Excel, GeoJSON, GPKG, Parquet) or a PostGIS URL "
        "postgresql://user@host/db?table=NAME (or ?query=SELECT...). Without it, the built-in Ningbo study runs (real geography, synthetic firms).",
    ),
    datum: str | None = typer.Option(
        None, "--datum", help="Datum of the input: wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)."
    ),
    crs: str | None = typer.Option(
        None, "--crs", help="Deprecated spelling of --datum (a warning is printed)."
    ),
    columns: str | None = typer.Option(
        None, "--columns", help="Column mapping, e.g. name=名称,lon=经度,lat=纬度."
    ),
    boundary: str | None = typer.Option(
        None, "--boundary", help="Study-area polygons (same --datum)."
    ),
    parks: str | None = typer.Option(
        None, "--parks", help="Parks registry: name, lon, lat, opened, ..."
    ),
    landuse: str | None = typer.Option(
        None, "--landuse", help="Land-use polygons (former industrial sites)."
    ),
    factors: str | None = typer.Option(
        None,
        "--factors",
        help="Factor layer(s) for GeoDetector: points/lines/polygons with a 'factor' column "
        "(distance to each), or numeric columns on polygons or a lon/lat table of cells "
        "(docs/outputs.md).",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="study.toml: \\[study] keys (the options above) and step options in \\[classify], "
        "\\[detect], \\[measure], \\[urban.zones], \\[urban.centres], \\[effects] and \\[methods]; see the README. "
        "Command-line options win over the file.",
    ),
    taxonomy: Path | None = typer.Option(
        None,
        "--taxonomy",
        help="TOML/CSV file of overrides merged onto the shipped code lists (as in classify).",
    ),
    min_cluster_size: int | None = typer.Option(
        None,
        "--min-cluster-size",
        help="Smallest cluster (default: data-aware, see detect; \\[detect] min_cluster_size).",
    ),
    reclassify: bool = typer.Option(
        False,
        "--reclassify",
        help="Classify again an input that already has sector, is_creative and function columns "
        "(by default they are kept).",
    ),
    out: Path = typer.Option(
        Path("out/ningbo"), "--out", "-o", help="Output directory (replaced atomically)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for every random step (default 0)."),
    scenario: str | None = typer.Option(
        None, "--scenario", help="Built-in study only: planted or null."
    ),
    stack: str | None = typer.Option(
        None,
        "--stack",
        help="Rows stacked at one coordinate: keep, collapse (one point per location) or "
        "weight (\\[study] stack).",
    ),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf (weasyprint)."),
    write_postgis: str | None = typer.Option(
        None,
        "--write-postgis",
        help="Also write the result layers to this PostGIS URL (postgresql://...).",
    ),
    schema: str = typer.Option("clusterscape", "--schema", help="Schema for --write-postgis."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="With --write-postgis: replace tables that already exist."
    ),
    append: bool = typer.Option(
        False, "--append", help="With --write-postgis: append rows to tables that already exist."
    ),
    engine: str = typer.Option(
        "local", "--engine", help="local (one process) or dask (a dask cluster)."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786); default: a LocalCluster.",
    ),
    by: str | None = typer.Option(
        None, "--by", help="With --engine dask: 'city' profiles every city of the table."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run a whole study: load, classify, detect, measure, type, urban structure, effects, write."""
    import time

    from clusterscape.results import write_study
    from clusterscape.study.run import StudyConfig, run_study

    if overwrite and append:
        raise ClusterscapeError("--overwrite and --append exclude each other; choose one.")
    if (overwrite or append) and not write_postgis:
        raise ClusterscapeError("--overwrite and --append go with --write-postgis.")
    if by is not None and (by != "city" or engine != "dask"):
        raise ClusterscapeError("--by takes 'city' and needs --engine dask.")
    datum, crs = _datum_option(datum, crs)
    overrides: dict[str, Any] = {
        "engine": engine if engine != "local" else None,
        "scheduler": scheduler,
        "establishments": establishments,
        "datum": datum,
        "crs": crs,
        "columns": parse_columns(columns),
        "boundary": boundary,
        "parks": parks,
        "landuse": landuse,
        "factors": factors,
        "seed": seed,
        "scenario": scenario,
        "stack": stack,
    }
    if config is not None:
        cfg = StudyConfig.from_toml(config, **overrides)
    else:
        cfg = StudyConfig(**{k: v for k, v in overrides.items() if v is not None})
    cfg = _step_overrides(
        cfg, taxonomy=taxonomy, min_cluster_size=min_cluster_size, reclassify=reclassify
    )
    started: dict[str, float] = {}

    def progress(step: str, state: str) -> None:
        if quiet:
            return
        if state == "start":
            started[step] = time.perf_counter()
            console.print(f"[cyan]▶[/] {step}…", highlight=False)
        else:
            console.print(
                f"[green]✓[/] {step} ({time.perf_counter() - started[step]:.1f} s)", highlight=False
            )

    t0 = time.perf_counter()
    if by == "city":
        from clusterscape.study.run import run_by_city

        comparison = run_by_city(cfg, out, progress=progress)
        if not quiet:
            console.print(
                f"{len(comparison)} cities profiled; comparison in [bold]{out / 'city_comparison.csv'}[/]."
            )
        return
    result = run_study(cfg, progress=progress)
    progress("write", "start")
    write_study(result, out, pdf=pdf)
    progress("write", "done")
    if write_postgis:
        from clusterscape.io.postgis import write_postgis as _write_pg

        progress("postgis", "start")
        tables = {**result.layers, **{f"table_{k}": v for k, v in result.tables.items()}}
        mode = "replace" if overwrite else "append" if append else "fail"
        written = _write_pg(tables, write_postgis, schema=schema, if_exists=mode)
        progress("postgis", "done")
        if not quiet:
            console.print(f"PostGIS: wrote {len(written)} tables into schema {schema}.")
    if not quiet:
        s = result.summary
        label = (
            "[bold yellow]SYNTHETIC firms[/] — a demonstration, not findings"
            if s.get("synthetic")
            else "user data"
        )
        console.print(
            f"\n{label}: {s['input']['n_accepted']:,} establishments ({s['input']['n_rejected']:,} rejected), "
            f"{s.get('clusters', 0)} clusters, {time.perf_counter() - t0:.1f} s."
        )
        why_none = (s.get("detect") or {}).get("empty_reason")
        if why_none:
            console.print(str(why_none), markup=False, highlight=False)
        classified = s.get("classify", {})
        if classified.get("source"):
            console.print(
                f"Classification: {classified['source']}; "
                f"{classified.get('n_creative', 0):,} creative establishments.",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        report = out / "report.html"
        if report.exists():
            console.print(f"Report: [bold]{report}[/]")
        console.print(
            f"Dashboard: [bold]clusterscape serve {out}[/] then open http://127.0.0.1:8000/"
        )


def _step_overrides(
    cfg: Any, *, taxonomy: Path | None, min_cluster_size: int | None, reclassify: bool
) -> Any:
    """``run``'s step options (``--taxonomy``, ``--min-cluster-size``, ``--reclassify``) over the config."""
    from dataclasses import replace

    from clusterscape.errors import InvalidInputError

    classify: dict[str, Any] = {}
    if taxonomy is not None:
        classify["taxonomy"] = str(taxonomy)
    if reclassify:
        classify["reclassify"] = True
    try:
        if classify:
            cfg = replace(cfg, classify=replace(cfg.classify, **classify))
        if min_cluster_size is not None:
            cfg = replace(cfg, detect=replace(cfg.detect, min_cluster_size=min_cluster_size))
    except InvalidInputError as exc:
        raise ClusterscapeError(f"options: {str(exc).removeprefix('config ')}") from None
    return cfg


# --- end: run ---


# --- command: report ---
@app.command()
@friendly_errors
def report(
    out_dir: Path = typer.Argument(..., help="A directory written by `clusterscape run`."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf (weasyprint)."),
) -> None:
    """Redraw the figures and rewrite report.html (and report.pdf) from saved results."""
    from clusterscape.report import write_report

    try:
        path = write_report(out_dir, pdf=pdf)
    except (ClusterscapeError, OSError, ValueError):
        raise
    except Exception as exc:  # a file that parses but holds nonsense (missing columns, ...)
        if _STATE["debug"]:
            raise
        raise ClusterscapeError(
            f"report: {out_dir} looks damaged ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); re-run `clusterscape run --out {out_dir}`."
        ) from None
    console.print(f"Report: [bold]{path}[/]" + (f" and {path.with_suffix('.pdf')}" if pdf else ""))


# --- end: report ---


# --- command: fetch-osm ---
@app.command("fetch-osm")
@friendly_errors
def fetch_osm_command(
    place: str = typer.Option(
        ..., "--place", help='Place name for Overpass/Nominatim, e.g. "Ningbo, China".'
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output file (.parquet, .gpkg, .geojson or .csv)."
    ),
) -> None:
    """Download a place's POIs from OpenStreetMap (needs network) as an establishments table."""
    from clusterscape.io.establishments import write_layer
    from clusterscape.io.osm import fetch_osm

    est = fetch_osm(place)
    write_layer(est, out)
    console.print(
        f"Wrote {len(est):,} OSM features to [bold]{out}[/] (WGS-84; run with --datum wgs84)."
    )


# --- end: fetch-osm ---


# --- command: serve ---
@app.command()
@friendly_errors
def serve(
    out_dir: Path = typer.Argument(..., help="A directory written by `clusterscape run`."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (loopback by default)."
    ),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    tile_url: str | None = typer.Option(
        None,
        "--tile-url",
        help="Optional XYZ raster tile URL for a basemap (the default needs no network).",
    ),
    allow_host: list[str] | None = typer.Option(
        None,
        "--allow-host",
        help="Also accept this name in the Host header (repeatable), e.g. the machine's name when "
        "binding a network interface. 127.0.0.1, localhost, ::1 and --host are always accepted.",
    ),
) -> None:
    """Serve a saved study as a read-only dashboard (map, clusters, figures, OpenAPI at /openapi.json)."""
    import uvicorn

    from clusterscape.web import create_app

    wildcard = host.strip("[]") in {"0.0.0.0", "::", ""}
    names = [*(allow_host or []), *([] if wildcard else [host.strip("[]")])]
    web_app = create_app(out_dir, tile_url=tile_url, allowed_hosts=names)
    if wildcard:
        console.print(
            f"[bold yellow]warning:[/] binding {host} serves this study to every network this "
            "machine is on; requests must still name an allowed host "
            f"({', '.join(['127.0.0.1', 'localhost', '::1', *names])}; add more with --allow-host).",
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"Serving {out_dir} at [bold]http://{shown}:{port}/[/] (OpenAPI at /openapi.json). "
        "Ctrl+C stops.",
        highlight=False,
    )
    uvicorn.run(
        web_app,
        host=host,
        port=port,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=5,
        limit_concurrency=256,
    )


# --- end: serve ---


def _entry() -> None:  # pragma: no cover - console-script shim for `python -m`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

_ = Path  # re-exported for command blocks
