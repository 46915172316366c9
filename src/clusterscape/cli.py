"""The ``clusterscape`` command: a thin Typer adapter over the library functions.

Library errors become one red line and exit code 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from clusterscape import __version__
from clusterscape.errors import ClusterscapeError
from clusterscape.i18n import default_lang, t

#: Language of the help texts: the locale's (LANG/LC_ALL starting with zh -> Chinese).
_HELP = default_lang()

app = typer.Typer(
    name="clusterscape",
    help=t("cli.app", _HELP),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

_STATE: dict[str, bool] = {"debug": False}


def _opt(key: str, *args: Any, **kwargs: Any) -> Any:
    """A ``typer.Option`` whose help is the catalogue message ``key`` in the terminal's language."""
    return typer.Option(*args, help=t(key, _HELP), **kwargs)


def _version(value: bool) -> None:
    if value:
        console.print(f"clusterscape {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = _opt("cli.opt.main.debug", False, "--debug"),
    version: bool = _opt(
        "cli.opt.main.version", False, "--version", callback=_version, is_eager=True
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
                f"[bold red]{t('cli.error', _HELP)}:[/] {escape(message)}",
                highlight=False,
                soft_wrap=True,
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
        help=t("cli.opt.filearg.arg", _HELP),
    ),
]
DatumOpt = Annotated[str | None, _opt("cli.opt.datumopt.datum", "--datum")]
CrsOpt = Annotated[str | None, _opt("cli.opt.crsopt.crs", "--crs")]
ColumnsOpt = Annotated[str | None, _opt("cli.opt.columnsopt.columns", "--columns")]
LayerOpt = Annotated[str | None, _opt("cli.opt.layeropt.layer", "--layer")]
SheetOpt = Annotated[str | None, _opt("cli.opt.sheetopt.sheet", "--sheet")]


def _say(message: str, *, markup: bool = True) -> None:
    """Print one whole message: numbers not highlighted, long paths not wrapped."""
    console.print(message, markup=markup, highlight=False, soft_wrap=True)


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


@dataclasses.dataclass(frozen=True)
class _Source:
    """FILE and the shared reading options of a command that reads one establishments file."""

    file: str
    datum: str | None = None
    crs: str | None = None
    columns: str | None = None
    layer: str | None = None
    sheet: str | None = None

    @property
    def name(self) -> str:
        """The source as shown on the terminal."""
        return _source_name(self.file)

    def read(self) -> Any:
        """The :class:`LoadResult` of the file (a progress bar on slow reads)."""
        return _read(self.file, self.datum, self.crs, self.columns, self.layer, self.sheet)


#: the parameters every file-reading command takes first, in this order
_SOURCE_PARAMETERS = [
    inspect.Parameter(
        name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=inspect.Parameter.empty if name == "file" else None,
        annotation=annotation,
    )
    for name, annotation in (
        ("file", FileArg),
        ("datum", DatumOpt),
        ("crs", CrsOpt),
        ("columns", ColumnsOpt),
        ("layer", LayerOpt),
        ("sheet", SheetOpt),
    )
]


def _reads_file(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command(source: _Source, ...)`` the FILE argument and the reading options.

    The command line shows FILE, --datum, --crs, --columns, --layer and --sheet before the
    command's own options; the command gets them as one :class:`_Source`.
    """
    sig = inspect.signature(command, eval_str=True)
    own = [p for name, p in sig.parameters.items() if name != "source"]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        source = _Source(**{p.name: kwargs.pop(p.name) for p in _SOURCE_PARAMETERS})
        return command(source, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=[*_SOURCE_PARAMETERS, *own])  # type: ignore[attr-defined]
    return wrapper


def _file_command(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Register a command that reads one establishments file, with its help and friendly errors."""

    def register(command: Callable[..., Any]) -> Any:
        wrapped = _reads_file(command)
        return app.command(name, help=t(f"cli.{name}_help", _HELP))(friendly_errors(wrapped))

    return register


# --- command: validate ---
@_file_command("validate")
def validate(
    source: _Source,
    out: Path = _opt("cli.opt.validate.out", Path("."), "--out"),
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
    result = source.read()
    est = result.establishments
    table = Table(title=f"clusterscape validate: {source.name}", show_header=True)
    table.add_column(t("cli.msg.item", _HELP))
    table.add_column(t("cli.msg.value", _HELP), overflow="fold")
    table.add_row(t("cli.msg.rows_read", _HELP), f"{result.n_rows:,}")
    table.add_row(t("cli.msg.accepted", _HELP), f"[green]{len(est):,}[/]")
    table.add_row(
        t("cli.msg.rejected", _HELP),
        f"[red]{len(result.rejected):,}[/]" if len(result.rejected) else "0",
    )
    for kind, count in result.reason_counts().items():
        table.add_row(f"  {kind}", f"{count:,}")
    table.add_row(
        t("cli.msg.fields_noted", _HELP),
        f"{len(result.notes):,}" + (t("cli.msg.see_notes", _HELP) if len(result.notes) else ""),
    )
    table.add_row(t("cli.msg.duplicates", _HELP), f"{result.duplicates:,}")
    n_dup_ids = int((result.notes["field"] == "id").sum()) if len(result.notes) else 0
    table.add_row(t("cli.msg.duplicate_ids", _HELP), f"{n_dup_ids:,}")
    for kind, count in dict(result.skipped).items():
        table.add_row("  " + t("cli.msg.skipped", _HELP, kind=kind), f"{count:,}")
    table.add_row(t("cli.msg.source_crs", _HELP), f"{result.source_crs} -> EPSG:4326")
    if len(est):
        minx, miny, maxx, maxy = est.total_bounds
        table.add_row(
            t("cli.msg.bbox", _HELP), f"lon {minx:.5f} .. {maxx:.5f}, lat {miny:.5f} .. {maxy:.5f}"
        )
    else:
        table.add_row(t("cli.msg.bbox", _HELP), t("cli.msg.no_rows", _HELP))
    table.add_row(
        t("cli.msg.columns", _HELP),
        ", ".join(f"{k}<-{v}" for k, v in result.columns.items()) or t("cli.msg.none", _HELP),
    )
    console.print(table)
    for note in result.messages:
        _say(f"[yellow]{t('cli.msg.note', _HELP)}:[/] {escape(note)}")
    target = out / "rejected.csv"
    write_tables(
        out,
        {
            "rejected": result.rejected[["row", "id", "reason"]],
            "notes": result.notes[list(NOTE_COLUMNS)],
        },
    )
    _say(t("cli.msg.validate_written", _HELP, target=target, notes=out / "notes.csv"))


# --- end: validate ---


# --- command: classify ---
@_file_command("classify")
def classify(
    source: _Source,
    code_system: str = _opt("cli.opt.classify.code_system", "gbt4754", "--code-system"),
    taxonomy: Path | None = _opt("cli.opt.classify.taxonomy", None, "--taxonomy"),
    out: Path | None = _opt("cli.opt.classify.out", None, "--out"),
) -> None:
    """Classify FILE into creative sectors and urban functions; print counts by each."""
    from rich.table import Table

    from clusterscape.io.establishments import write_layer
    from clusterscape.taxonomy import classify_establishments

    if out is not None and out.suffix.lower() not in {".parquet", ".geoparquet", ".gpkg", ".csv"}:
        raise ClusterscapeError(
            f"--out {out.name}: unsupported suffix {out.suffix!r}; use .parquet, .gpkg or .csv."
        )
    result = source.read()
    est = classify_establishments(result.establishments, code_system=code_system, taxonomy=taxonomy)
    n = len(est)
    _say(
        t(
            "cli.msg.classified",
            _HELP,
            source=source.name,
            n=f"{n:,}",
            rejected=f"{len(result.rejected):,}",
        )
    )
    for column, title in (
        ("sector", t("cli.msg.by_sector", _HELP)),
        ("function", t("cli.msg.by_function", _HELP)),
    ):
        counts = est[column].replace("", t("cli.msg.not_creative", _HELP)).value_counts(sort=True)
        table = Table(title=title, show_header=True)
        table.add_column(column)
        table.add_column("n", justify="right")
        table.add_column(t("cli.msg.share", _HELP), justify="right")
        for value, count in counts.items():
            table.add_row(str(value), f"{int(count):,}", f"{count / max(n, 1):.1%}")
        console.print(table)
    graded = est["hotel_grade"].dropna()
    if len(graded):
        stars = ", ".join(f"{g}★ {c}" for g, c in graded.value_counts().sort_index().items())
        console.print(t("cli.msg.graded", _HELP, stars=stars), highlight=False)
    if out is not None:
        written = write_layer(est, out)
        _say(t("cli.msg.classified_written", _HELP, path=written))


# --- end: classify ---


# --- command: detect ---
@_file_command("detect")
def detect(
    source: _Source,
    out: Path = _opt("cli.opt.detect.out", Path("."), "--out"),
    method: str = _opt("cli.opt.detect.method", "hdbscan", "--method"),
    min_cluster_size: int | None = _opt(
        "cli.opt.detect.min_cluster_size", None, "--min-cluster-size"
    ),
    eps_m: float | None = _opt("cli.opt.detect.eps_m", None, "--eps-m"),
    seed: int = _opt("cli.opt.detect.seed", 0, "--seed"),
    stack: str = _opt("cli.opt.detect.stack", "keep", "--stack"),
) -> None:
    """Find density clusters in FILE; write DIR/clusters.csv and DIR/clusters.gpkg.

    All rows are clustered, or only the creative ones when the table has an ``is_creative``
    column (classified establishments). ``clusters.csv`` has the columns ``run`` writes at its
    detect step (``cluster_id, n_establishments, n_creative, employees, lon, lat, area_m2,
    district, dominant_sector``, then the detection measures); ``n_establishments`` counts every
    row of FILE inside the footprint. The GeoPackage holds the layers ``clusters`` (footprints)
    and ``establishments`` (the clustered rows, with ``cluster`` and ``probability``), both in
    WGS-84 as in ``run``'s ``results.gpkg``. ``--stack collapse|weight`` clusters one point
    per address (rows within 1 m) as ``run`` does; a stack's rows share its label.
    """
    import numpy as np

    from clusterscape._validation import check_choice
    from clusterscape.io.dedupe import STACK_MODES
    from clusterscape.results import clusters_table, write_clusters
    from clusterscape.study.run import detect_stacked

    check_choice(stack, set(STACK_MODES), "--stack", caller="detect")

    loaded = source.read()
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
    result, row_labels, row_prob, _view = detect_stacked(
        est, stack, method=method, min_cluster_size=min_cluster_size, eps_m=eps_m, seed=seed
    )
    clusters = result.clusters
    members = est.assign(cluster=row_labels, probability=row_prob)
    # clusters.csv as `run` writes it: n_establishments counts every row inside a footprint.
    labels = np.full(len(population), -1, dtype=int)
    labels[keep] = row_labels
    table = clusters_table(population.to_crs(clusters.crs).assign(cluster=labels), clusters)
    write_clusters(out, table, clusters, members)
    n_sig = int(clusters["significant"].sum()) if len(clusters) else 0
    _say(
        t(
            "cli.msg.detected",
            _HELP,
            n=f"{len(est):,}",
            rejected=f"{len(loaded.rejected):,}",
            clusters=len(clusters),
            n_sig=n_sig,
            noise=f"{int((row_labels == -1).sum()):,}",
            out=out,
        )
    )
    if not len(clusters):
        console.print(str(result.params["empty_reason"]), markup=False, highlight=False)


# --- end: detect ---


def _lang(value: str | None) -> str:
    """The ``--lang`` value: ``zh`` or ``en``; without it, the locale's."""
    from clusterscape.i18n import normalise_lang

    if value is None:
        return default_lang()
    try:
        return normalise_lang(value)
    except ValueError:
        raise ClusterscapeError(t("cli.bad_lang", _HELP, value=value)) from None


_LANG_HELP = t("cli.lang", _HELP)


# --- command: run ---
@app.command(help=t("cli.run_help", _HELP))
@friendly_errors
def run(
    establishments: str | None = _opt("cli.opt.run.establishments", None, "--establishments", "-e"),
    datum: str | None = _opt("cli.opt.run.datum", None, "--datum"),
    crs: str | None = _opt("cli.opt.run.crs", None, "--crs"),
    columns: str | None = _opt("cli.opt.run.columns", None, "--columns"),
    boundary: str | None = _opt("cli.opt.run.boundary", None, "--boundary"),
    parks: str | None = _opt("cli.opt.run.parks", None, "--parks"),
    landuse: str | None = _opt("cli.opt.run.landuse", None, "--landuse"),
    factors: str | None = _opt("cli.opt.run.factors", None, "--factors"),
    config: Path | None = _opt("cli.opt.run.config", None, "--config"),
    taxonomy: Path | None = _opt("cli.opt.run.taxonomy", None, "--taxonomy"),
    min_cluster_size: int | None = _opt("cli.opt.run.min_cluster_size", None, "--min-cluster-size"),
    reclassify: bool = _opt("cli.opt.run.reclassify", False, "--reclassify"),
    out: Path = _opt("cli.out", Path("out/ningbo"), "--out", "-o"),
    seed: int | None = _opt("cli.seed", None, "--seed"),
    scenario: str | None = _opt("cli.scenario", None, "--scenario"),
    stack: str | None = _opt("cli.stack", None, "--stack"),
    pdf: bool = _opt("cli.pdf", False, "--pdf"),
    lang: str | None = typer.Option(None, "--lang", help=_LANG_HELP),
    write_postgis: str | None = _opt("cli.opt.run.write_postgis", None, "--write-postgis"),
    schema: str = _opt("cli.opt.run.schema", "clusterscape", "--schema"),
    overwrite: bool = _opt("cli.opt.run.overwrite", False, "--overwrite"),
    append: bool = _opt("cli.opt.run.append", False, "--append"),
    engine: str = _opt("cli.opt.run.engine", "local", "--engine"),
    scheduler: str | None = _opt("cli.opt.run.scheduler", None, "--scheduler"),
    by: str | None = _opt("cli.opt.run.by", None, "--by"),
    quiet: bool = _opt("cli.quiet", False, "--quiet", "-q"),
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
    code = _lang(lang)
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
            seconds = f"{time.perf_counter() - started[step]:.1f}"
            console.print(
                f"[green]✓[/] {t('cli.step_done', code, step=step, seconds=seconds)}",
                highlight=False,
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
    write_study(result, out, pdf=pdf, lang=code)
    progress("write", "done")
    if write_postgis:
        from clusterscape.io.postgis import write_postgis as _write_pg

        progress("postgis", "start")
        tables = {**result.layers, **{f"table_{k}": v for k, v in result.tables.items()}}
        mode = "replace" if overwrite else "append" if append else "fail"
        written = _write_pg(tables, write_postgis, schema=schema, if_exists=mode)
        progress("postgis", "done")
        if not quiet:
            console.print(t("cli.postgis", code, n=len(written), schema=schema))
    if not quiet:
        s = result.summary
        label = (
            f"[bold yellow]{t('cli.synthetic', code)}[/]"
            if s.get("synthetic")
            else t("cli.user_data", code)
        )
        console.print(
            "\n"
            + t(
                "cli.summary",
                code,
                label=label,
                n_analysed=f"{s['input'].get('n_analysed', s['input']['n_accepted']):,}",
                n_rejected=f"{s['input']['n_rejected']:,}",
                clusters=s.get("clusters", 0),
                seconds=f"{time.perf_counter() - t0:.1f}",
            )
        )
        why_none = (s.get("detect") or {}).get("empty_reason")
        if why_none:
            console.print(str(why_none), markup=False, highlight=False)
        classified = s.get("classify", {})
        if classified.get("source"):
            _say(
                t(
                    "cli.classification",
                    code,
                    source=classified["source"],
                    n_creative=f"{classified.get('n_creative', 0):,}",
                ),
                markup=False,
            )
        report = out / "report.html"
        if report.exists():
            console.print(t("cli.report_at", code, path=f"[bold]{report}[/]"))
        console.print(t("cli.dashboard", code, out=f"[bold]{out}[/]"))


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
@app.command(help=t("cli.report_help", _HELP))
@friendly_errors
def report(
    out_dir: Path = typer.Argument(..., help=t("cli.out_dir", _HELP)),
    pdf: bool = _opt("cli.pdf", False, "--pdf"),
    lang: str | None = typer.Option(None, "--lang", help=_LANG_HELP),
) -> None:
    """Redraw the figures and rewrite report.html (and report.pdf) from saved results."""
    from clusterscape.report import write_report

    code = _lang(lang)
    try:
        path = write_report(out_dir, pdf=pdf, lang=code)
    except (ClusterscapeError, OSError, ValueError):
        raise
    except Exception as exc:  # a file that parses but holds nonsense (missing columns, ...)
        if _STATE["debug"]:
            raise
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        raise ClusterscapeError(t("cli.damaged", code, out=out_dir, error=error)) from None
    shown = f"[bold]{path}[/]"
    console.print(
        t("cli.report_and_pdf", code, path=shown, pdf=path.with_suffix(".pdf"))
        if pdf
        else t("cli.report_at", code, path=shown)
    )


# --- end: report ---


# --- command: fetch-osm ---
@app.command("fetch-osm", help=t("cli.fetch_osm_help", _HELP))
@friendly_errors
def fetch_osm_command(
    place: str = _opt("cli.opt.fetch_osm_command.place", ..., "--place"),
    out: Path = _opt("cli.opt.fetch_osm_command.out", ..., "--out", "-o"),
) -> None:
    """Download a place's POIs from OpenStreetMap (needs network) as an establishments table."""
    from clusterscape.io.establishments import write_layer
    from clusterscape.io.osm import fetch_osm

    est = fetch_osm(place)
    write_layer(est, out)
    console.print(t("cli.msg.osm_written", _HELP, n=f"{len(est):,}", out=out))


# --- end: fetch-osm ---


# --- command: fetch-amap ---
@app.command("fetch-amap", help=t("cli.fetch_amap_help", _HELP))
@friendly_errors
def fetch_amap_command(
    boundary: Path = _opt("cli.opt.fetch_amap_command.boundary", ..., "--boundary"),
    types: str = _opt("cli.opt.fetch_amap_command.types", ..., "--types"),
    out: Path = _opt("cli.opt.fetch_amap_command.out", ..., "--out", "-o"),
    key: str | None = _opt(
        "cli.opt.fetch_amap_command.key", None, "--key", envvar="AMAP_KEY", show_envvar=True
    ),
    endpoint: str = _opt(
        "cli.opt.fetch_amap_command.endpoint",
        "https://restapi.amap.com/v3/place/polygon",
        "--endpoint",
    ),
    cap: int = _opt("cli.opt.fetch_amap_command.cap", 900, "--cap"),
    page_size: int = _opt("cli.opt.fetch_amap_command.page_size", 25, "--page-size"),
    qps: float = _opt("cli.opt.fetch_amap_command.qps", 3.0, "--qps"),
    min_tile: float = _opt("cli.opt.fetch_amap_command.min_tile", 0.0005, "--min-tile"),
    max_calls: int | None = _opt("cli.opt.fetch_amap_command.max_calls", None, "--max-calls"),
    retries: int = _opt("cli.opt.fetch_amap_command.retries", 6, "--retries"),
    backoff: float = _opt("cli.opt.fetch_amap_command.backoff", 1.0, "--backoff"),
    datum: str | None = _opt("cli.opt.fetch_amap_command.datum", None, "--datum"),
    polygon_form: str = _opt("cli.opt.fetch_amap_command.polygon_form", "auto", "--polygon-form"),
) -> None:
    """Fetch Amap POIs over a boundary: quadtree of polygon queries, resumable, key never saved."""
    from rich.markup import escape

    from clusterscape.io.crawl import crawl_amap

    if not key:
        raise ClusterscapeError("fetch-amap: give the Amap key with --key or AMAP_KEY.")
    report = crawl_amap(
        key,
        boundary,
        types,
        out,
        endpoint=endpoint,
        cap=cap,
        page_size=page_size,
        qps=qps,
        min_tile=min_tile,
        datum=datum,
        max_calls=max_calls,
        retries=retries,
        backoff=backoff,
        polygon_form=polygon_form,
        lang=_HELP,
        log=lambda line: err_console.print(line, highlight=False, markup=False),
    )
    console.print(
        t("cli.msg.amap_written", _HELP, out=escape(str(report.out)),
          manifest=escape(report.manifest.name), summary=escape(report.summary(_HELP))),
        highlight=False,
    )  # fmt: skip
    if not report.complete:
        console.print(t("cli.msg.amap_resume", _HELP, n=report.tiles_pending))
        raise typer.Exit(code=3)  # stopped early (quota, --max-calls): resumable, not an error


# --- end: fetch-amap ---


# --- command: serve ---
@app.command(help=t("cli.serve_help", _HELP))
@friendly_errors
def serve(
    out_dir: Path = typer.Argument(..., help=t("cli.out_dir", _HELP)),
    host: str = _opt("cli.opt.serve.host", "127.0.0.1", "--host"),
    port: int = _opt("cli.opt.serve.port", 8000, "--port"),
    tile_url: str | None = _opt("cli.opt.serve.tile_url", None, "--tile-url"),
    basemap: list[str] | None = _opt("cli.opt.serve.basemap", None, "--basemap"),
    basemap_datum: str = _opt("cli.opt.serve.basemap_datum", "wgs84", "--basemap-datum"),
    allow_host: list[str] | None = _opt("cli.opt.serve.allow_host", None, "--allow-host"),
    lang: str | None = _opt("cli.lang_serve", None, "--lang"),
) -> None:
    """Serve a saved study as a read-only dashboard (map, clusters, figures, OpenAPI at /openapi.json)."""
    import uvicorn

    from clusterscape.web import create_app

    wildcard = host.strip("[]") in {"0.0.0.0", "::", ""}
    names = [*(allow_host or []), *([] if wildcard else [host.strip("[]")])]
    code = _lang(lang)
    web_app = create_app(
        out_dir,
        tile_url=tile_url,
        basemaps=basemap or (),
        basemap_datum=basemap_datum,
        allowed_hosts=names,
    )
    web_app.state.lang = code  # the dashboard's language (its own message table)
    if wildcard:
        console.print(
            f"[bold yellow]warning:[/] binding {host} serves this study to every network this "
            "machine is on; requests must still name an allowed host "
            f"({', '.join(['127.0.0.1', 'localhost', '::1', *names])}; add more with --allow-host).",
            highlight=False,
        )
    shown = f"[{host}]" if ":" in host else host
    console.print(
        t("cli.serving", code, out=out_dir, host=f"[bold]{shown}", port=f"{port}[/]"),
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
