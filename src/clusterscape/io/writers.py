"""Writers: GeoParquet, GeoPackage, CSV and GeoJSON, each written atomically.

Re-exported by :mod:`clusterscape.io.establishments`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from clusterscape.errors import CRSError, InvalidInputError

__all__ = ["atomic_directory", "atomic_write", "write_layer"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    The temporary name keeps the suffix (so GDAL drivers pick the right format). On an
    exception the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise InvalidInputError(
                f"atomic_write: nothing was written to the temporary file for {target}."
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


#: Test hook: name a phase of :func:`atomic_directory` here and the writer stops there (prints
#: ``clusterscape: paused at PHASE pid N`` on stderr and sleeps) so a test can kill it by PID.
PAUSE_ENV = "CLUSTERSCAPE_PAUSE_AT"
PAUSE_PHASES = ("locked", "writing", "written", "linked", "flipped")


def _pause(phase: str) -> None:
    if os.environ.get(PAUSE_ENV) == phase:
        sys.stderr.write(f"clusterscape: paused at {phase} pid {os.getpid()}\n")
        sys.stderr.flush()
        time.sleep(float(os.environ.get("CLUSTERSCAPE_PAUSE_SECONDS", "60")))


def _runs_dir(target: Path) -> Path:
    return target.with_name(f".{target.name}.runs")


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    func = getattr(libc, "renameat2", None)
    if func is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _lock(runs: Path, target: Path) -> int:
    """Take an exclusive, non-blocking lock on the runs directory (released when the fd closes)."""
    fd = os.open(runs, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock (Windows): no cross-process lock
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InvalidInputError(
            f"another run is writing {target}; wait for it to finish or choose another --out."
        ) from None
    return fd


def _current_run(target: Path, runs: Path) -> str | None:
    """Name of the run directory ``target`` points at, if it is one of ours."""
    if not target.is_symlink():
        return None
    dest = Path(os.readlink(target))
    if not dest.is_absolute():
        dest = target.parent / dest
    return dest.name if dest.parent.name == runs.name else None


def _recover(target: Path, runs: Path) -> None:
    """Clean what an interrupted run left behind (called under the lock).

    Removes run directories that ``target`` does not point at, stray link files, and the
    ``.NAME.tmp-*``/``.NAME.old-*`` directories of the earlier rename-based writer; if that
    writer was killed between its two renames (no ``target``), its complete ``.old-*`` is restored.
    """
    parent, name = target.parent, target.name
    if not target.exists() and not target.is_symlink():
        olds = sorted(parent.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds and olds[-1].is_dir():
            os.replace(olds[-1], target)
    keep = _current_run(target, runs)
    for entry in runs.iterdir():
        if entry.name != keep:
            _remove(entry)
    for pattern in (f".{name}.link-*", f".{name}.tmp-*", f".{name}.old-*"):
        for entry in parent.glob(pattern):
            _remove(entry)


_OUTPUT_MARKERS = ("summary.json", "report.html", "results.gpkg", "city_comparison.csv")


def _looks_like_output(path: Path) -> bool:
    """An empty directory, or one holding a file only clusterscape writes."""
    try:
        entries = {p.name for p in path.iterdir()}
    except OSError:
        return False
    return not entries or any(m in entries for m in _OUTPUT_MARKERS)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh run directory; make ``out_dir`` point at it only on success, with no gap.

    ``out_dir`` becomes a symbolic link ``NAME -> .NAME.runs/<run id>`` (relative, so the
    parent directory can be moved). The new run is written in full under ``.NAME.runs/``,
    then a new link is renamed over ``out_dir`` with :func:`os.replace`, which is atomic: at
    every instant ``out_dir`` is either the complete previous study or the complete new one.
    Readers opening ``out_dir/...`` follow the link transparently.

    * An ``out_dir`` that is still a real directory (written by an older version) is swapped
      with the link by Linux ``renameat2(RENAME_EXCHANGE)``, also without a gap; where that is
      unavailable it is renamed aside first (a brief gap, once).
    * A lock (``flock`` on ``.NAME.runs``) makes a second concurrent run on the same
      ``out_dir`` fail at once with "another run is writing DIR".
    * Each run first removes what killed runs left behind (run directories nothing points at,
      stray links, older ``.NAME.tmp-*``/``.NAME.old-*`` directories), and after the switch it
      removes the previous run directory, so at most one study is kept.
    * On an exception (including ``KeyboardInterrupt``) the new run directory is removed and
      ``out_dir`` is untouched.
    * A real directory that clusterscape did not write (not empty, no ``summary.json``,
      ``report.html``, ``results.gpkg``) is refused rather than replaced; so is ``.``.

    Parameters
    ----------
    out_dir : path-like
        The output directory (or link) to replace.

    Yields
    ------
    pathlib.Path
        The new run directory to write into.

    Raises
    ------
    InvalidInputError
        Another run holds the lock, or ``out_dir`` exists and is neither a directory nor a link.
    """
    target = Path(os.path.abspath(out_dir))
    if target.name in {"", ".", ".."} or target == target.parent:
        raise InvalidInputError(f"{out_dir} cannot be an output directory; name a subdirectory.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a directory; choose another --out.")
    if target.is_dir() and not target.is_symlink() and not _looks_like_output(target):
        raise InvalidInputError(
            f"{target} is a directory that clusterscape did not write (no summary.json); it "
            "would be replaced as a whole, so choose another --out or empty it first."
        )
    runs = _runs_dir(target)
    runs.mkdir(exist_ok=True)
    fd = _lock(runs, target)
    try:
        _pause("locked")
        _recover(target, runs)
        run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        new = runs / run_id
        new.mkdir()
        _pause("writing")
        try:
            yield new
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        _pause("written")
        link = target.with_name(f".{target.name}.link-{run_id}")
        os.symlink(f"{runs.name}/{run_id}", link)
        _pause("linked")
        if target.is_symlink() or not target.exists():
            os.replace(link, target)
        elif _rename_exchange(link, target):
            # ``link`` now names the previous real directory.
            os.replace(link, runs / f"previous-{run_id}")
        else:  # pragma: no cover - non-Linux: a one-time gap while migrating a real directory
            os.replace(target, runs / f"previous-{run_id}")
            os.replace(link, target)
        _pause("flipped")
        for entry in runs.iterdir():
            if entry.name != run_id:
                _remove(entry)
    finally:
        os.close(fd)


def write_layer(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str | None = None
) -> Path:
    """Write a GeoDataFrame atomically as GeoParquet, GeoPackage, CSV or GeoJSON.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any CRS (GeoParquet/GeoPackage keep it; CSV and GeoJSON are written in EPSG:4326).
    path : path-like
        ``.parquet`` (GeoParquet), ``.gpkg`` (the layer is added or replaced, other layers
        are kept), ``.csv`` (points as ``lon``, ``lat`` columns, other geometries as WKT in
        ``geometry_wkt``; UTF-8) or ``.geojson``/``.json``.
    layer : str, optional
        GeoPackage layer name (default: the file stem).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidInputError(f"write_layer: expected a GeoDataFrame, got {type(gdf).__name__}.")
    if suffix in {".csv", ".geojson", ".json"} and gdf.crs is None:
        raise CRSError(
            f"write_layer: {target.name} needs degrees but the data has no CRS; set one first."
        )
    if suffix in {".parquet", ".geoparquet"}:
        with atomic_write(target) as tmp:
            gdf.to_parquet(tmp, index=False)
    elif suffix == ".gpkg":
        name = layer or target.stem
        with atomic_write(target) as tmp:
            if target.exists():
                shutil.copyfile(target, tmp)
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True)
    elif suffix == ".csv":
        geo = gdf.to_crs("EPSG:4326") if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf
        frame = pd.DataFrame(geo.drop(columns=geo.geometry.name))
        geoms = geo.geometry
        if len(geoms) and (geoms.geom_type.dropna() == "Point").all():
            frame["lon"] = geoms.x.to_numpy()
            frame["lat"] = geoms.y.to_numpy()
        else:
            frame["geometry_wkt"] = geoms.to_wkt().to_numpy()
        with atomic_write(target) as tmp:
            frame.to_csv(tmp, index=False, encoding="utf-8")
    elif suffix in {".geojson", ".json"}:
        geo = gdf.to_crs("EPSG:4326") if gdf.crs.to_epsg() != 4326 else gdf
        with atomic_write(target) as tmp:
            geo.to_file(tmp, driver="GeoJSON", engine="pyogrio")
    else:
        raise InvalidInputError(
            f"write_layer: cannot write '{target.suffix}'; use .parquet, .gpkg, .csv or .geojson."
        )
    return target
