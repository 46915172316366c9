"""The Dask engine: the per-row and per-cell work of a study as dask graphs.

``clusterscape run --engine dask [--scheduler ADDRESS] [--by city]`` runs here. Row-wise work
(chunked reading, datum conversion, validation, classification, projection, gridding) is a
``map_partitions`` graph over the input's chunks; per-cell work (function counts per grid cell,
FD/CR functional zones, Gi* of creative counts, evaluated tile by tile with a halo) is a
reduction followed by one task per city; clustering and the concentration statistics run as
one task per city. The same functions as the single-machine engine do the work, so the results
are the same (the tests check it on a ``LocalCluster``).

Without ``scheduler`` a ``distributed.LocalCluster`` is started (2 workers, 1 thread each, by
default); with an address such as ``tcp://10.0.0.5:8786`` the same graph goes to that cluster,
whose workers need clusterscape installed.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterscape._validation import import_optional
from clusterscape.coords import convert, local_metric_crs, resolve_datum
from clusterscape.errors import InvalidInputError

__all__ = [
    "PartitionedResult",
    "dask_client",
    "gi_star_tiled",
    "prepare_partitioned",
    "profile_cities",
    "read_establishments_dask",
    "read_partitioned",
]

CANONICAL = (
    "id",
    "name",
    "category",
    "code",
    "lon",
    "lat",
    "opened",
    "closed",
    "employees",
    "city",
)
_KEEP = ("id", "name", "category", "code", "typecode", "opened", "closed", "employees", "city")


_NEEDS_DASK = "--engine dask needs: pip install 'clusterscape[dask]'"


def _require_dask() -> Any:
    return import_optional("dask.dataframe", needs=_NEEDS_DASK)[0]


@contextmanager
def dask_client(
    scheduler: str | None = None, *, n_workers: int = 2, memory_limit: str = "4GB"
) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` if given, else to a fresh ``LocalCluster``."""
    (distributed,) = import_optional("distributed", needs=_NEEDS_DASK)
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
        dashboard_address=":0", host="127.0.0.1",
    )  # fmt: skip
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def read_partitioned(
    source: str | Path, *, columns: Mapping[str, str] | None = None, blocksize: str = "64MB"
) -> Any:
    """Read CSV or Parquet (a file, a directory or a glob) lazily in chunks.

    The dask engine expects canonical column names (``id, name, category, code, lon, lat,
    opened, closed, employees`` and, for ``--by city``, ``city``); ``columns`` maps canonical
    names to the file's (``{"lon": "经度"}``) as ``--columns`` does.
    """
    dd = _require_dask()
    text = str(source)
    lower = text.lower()
    if lower.endswith((".csv", ".tsv", ".txt", ".tab")):
        return _read_text_partitioned(text, columns=columns, blocksize=blocksize)[0]
    try:
        if lower.endswith((".parquet", ".pq")) or Path(text).is_dir():
            ddf = dd.read_parquet(text)
        else:
            raise InvalidInputError(
                f"{text}: the dask engine reads CSV/TSV or Parquet (files, directories or globs); "
                "convert other formats first or use the default engine."
            )
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"{text}: could not be read by the dask engine: {exc}") from exc
    rename = _canonical_names(pd.DataFrame(columns=list(ddf.columns)), columns, Path(text))
    return ddf.rename(columns=rename)


#: a column carrying each record's number in its file (1-based, as ``rejected`` reports it)
ROW = "__row__"
#: a column carrying the reader's reason for a record it could not parse or decode
REJECT = "__reject__"


def _canonical_names(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, path: Path
) -> dict[str, str]:
    """File column -> canonical name, by the file reader's own header mapping."""
    from clusterscape.io import establishments as io

    mapping = io._map_columns(frame, columns, path)
    if not ({"lon", "lat"} <= set(mapping)):
        raise InvalidInputError(
            f"{path.name}: the dask engine needs longitude and latitude columns (lon/lng/经度, "
            f"lat/纬度, ...); map them with --columns lon=COL,lat=COL (columns are: "
            f"{', '.join(map(str, frame.columns))})."
        )
    taken = set(frame.columns)
    out = {}
    for key, col in mapping.items():
        if key in CANONICAL and col != key and key not in taken:
            out[col] = key
    return out


def _plan_text(path: Path, columns: Mapping[str, str] | None, blocksize: str) -> dict[str, Any]:
    """Plan the distributed read of one delimited text file (see :mod:`clusterscape.io._chunks`).

    Only the first 256 KiB are read here (for the header); workers compute the encoding
    statistics and the record boundaries of their byte ranges, and parse them.
    """
    import csv

    import dask
    from dask.utils import parse_bytes

    from clusterscape.io import _chunks, _text
    from clusterscape.io import establishments as io

    io._check_path(p := Path(path))
    size = p.stat().st_size
    with p.open("rb") as fh:
        head_raw = fh.read(1 << 18)
    caller = io._CALLER
    if not head_raw.strip():
        raise InvalidInputError(f"{caller}: {p.name} is empty.")
    step = max(parse_bytes(blocksize), 1)
    n_ranges = max(1, math.ceil(size / step))
    whole = (
        n_ranges == 1
        or head_raw.startswith((b"\xff\xfe", b"\xfe\xff"))
        or b"\x00" in head_raw
        or (b"\n" not in head_raw and b"\r" in head_raw)
    )
    if whole:  # UTF-16, CR-only line ends or one range: one worker reads the whole file
        return {"whole": True, "path": str(p)}
    edges = [min(i * step, size) for i in range(n_ranges)] + [size]
    stats = dask.compute(
        *[dask.delayed(_chunks.range_stats)(str(p), a, b) for a, b in itertools.pairwise(edges)]
    )
    if not any(st["newline"] for st in stats):
        return {"whole": True, "path": str(p)}
    bom = head_raw.startswith(_chunks._BOM)
    encoding = _chunks.choose_encoding(list(stats), bom)
    body = head_raw[3:] if bom else head_raw
    text, head_errors = _text._decode_marked(body, "utf-8" if bom else encoding)
    head = text[:65536] if encoding != "utf-8" else body[:65536].decode("utf-8", errors="ignore")
    lines = [ln.rstrip("\r") for ln in head.split("\n")[:10]]
    parsed = []
    for ln in lines:
        d = io._sniff_delimiter(ln, p.suffix.lower())
        parsed.append((d, next(csv.reader([ln], delimiter=d), [])))
    skip = io._header_row([cells for _, cells in parsed])
    delimiter, header = parsed[skip]
    if any(_text.SENTINEL in h for h in header):
        off, bad_bytes = head_errors[0]
        raise InvalidInputError(
            f"{caller}: the header of {p.name} (line {skip + 1}) has bytes that are not "
            f"valid {encoding.upper()} ({bad_bytes!r} at byte offset {off + (3 if bom else 0)}); "
            "re-save the file as UTF-8 CSV."
        )
    header = [h.strip() or f"{io._UNNAMED}{i}" for i, h in enumerate(header)]
    io._check_unique_header(header, p)
    cut = 0
    for _ in range(skip + 1):
        k = head_raw.find(b"\n", cut)
        if k < 0:
            raise InvalidInputError(f"{caller}: {p.name}: the header line is longer than 256 KiB.")
        cut = k + 1
    data_start = cut
    plan = _chunks.Plan(str(p), encoding, delimiter, tuple(header), size)
    starts = [data_start] + [max(st["start"], data_start) for st in stats[1:]]
    stops = [*starts[1:], size]
    bounds = list(
        dask.compute(
            *[
                dask.delayed(_chunks.range_bounds)(plan, a, b)
                for a, b in zip(starts, stops, strict=True)
            ]
        )
    )
    for i in range(1, len(bounds)):  # a record crossed a range's edge: re-read from its end
        if bounds[i]["start"] != bounds[i - 1]["end"]:
            a = bounds[i - 1]["end"]
            bounds[i] = dask.compute(dask.delayed(_chunks.range_bounds)(plan, a, max(a, stops[i])))[
                0
            ]
    exact = _chunks.use_exact(bounds)
    n_errors = sum(b["errors"] for b in bounds)
    messages: list[str] = []
    if encoding not in ("utf-8", "utf-8-sig"):
        messages.append(
            f"read as {'GB18030 (GBK)' if encoding == 'gb18030' else encoding.upper()} text"
        )
    if n_errors:
        messages.append(
            f"{n_errors:,} undecodable byte sequence{'s' if n_errors > 1 else ''} "
            f"(not valid {encoding.upper()}); the rows holding them are rejected"
        )
    frame = pd.DataFrame(columns=header)
    frame.attrs.update(header_line=skip + 1, delimiter=delimiter)
    rename = _canonical_names(frame, columns, p)
    ranges = []
    record0, line0 = 0, skip + 1
    for b in bounds:
        if b["end"] > b["start"]:
            ranges.append((b["start"], b["end"], record0, line0))
        record0 += b["fast_records"] if not exact else b["n_records"]
        line0 += b["n_lines"]
    return {
        "whole": False, "plan": plan, "ranges": ranges, "exact": exact, "rename": rename,
        "messages": messages, "frame": frame, "header": header, "n_records": record0,
    }  # fmt: skip


#: a column carrying a hash of each record's cells (exact duplicate rows are found by it)
KEY = "__key__"


def _row_keys(frame: pd.DataFrame) -> np.ndarray:
    """A 128-bit hash of each record's cells, as hex text (equal cells, equal key)."""
    if frame.empty:
        return np.asarray([], dtype=object)
    cells = frame.astype(object).where(frame.notna(), None)
    h1 = pd.util.hash_pandas_object(cells, index=False).to_numpy()
    h2 = pd.util.hash_pandas_object(cells, index=False, hash_key="clusterscape-key").to_numpy()
    return np.asarray([f"{a:016x}{b:016x}" for a, b in zip(h1, h2, strict=True)], dtype=object)


def _chunk_frame(
    frame: pd.DataFrame, bad: list[tuple[int, str]], rename: Mapping[str, str], delimiter: str
) -> pd.DataFrame:
    """Good records (with ``__row__``, ``__key__``) and rejected ones (with ``__reject__``)."""
    keys = _row_keys(frame)
    frame = frame.rename(columns=dict(rename))
    frame = frame.astype(object).where(frame.notna(), None)
    frame[REJECT] = None
    frame[KEY] = keys
    rows = frame.index.to_numpy(dtype=np.int64)
    if bad:
        extra = pd.DataFrame(
            {c: [None] * len(bad) for c in frame.columns if c != REJECT}
            | {REJECT: [t for _, t in bad]},
            dtype=object,
        )
        frame = pd.concat([frame.reset_index(drop=True), extra], ignore_index=True)
        rows = np.concatenate([rows, np.asarray([r for r, _ in bad], dtype=np.int64)])
    frame[ROW] = rows
    frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
    frame.attrs["delimiter"] = delimiter
    return frame


def _read_range(
    plan: Any, start: int, end: int, record0: int, line0: int, exact: bool,
    rename: Mapping[str, str], columns: list[str],
) -> pd.DataFrame:  # fmt: skip
    from clusterscape.io import _chunks

    frame, bad = _chunks.parse_range(plan, start, end, record0=record0, line0=line0, exact=exact)
    return _chunk_frame(frame, bad, rename, plan.delimiter)[columns]


def _read_whole(path: str, columns: Mapping[str, str] | None) -> pd.DataFrame:
    from clusterscape.io import _chunks

    frame, bad, messages = _chunks.read_whole(path)
    rename = _canonical_names(frame, columns, Path(path))
    out = _chunk_frame(frame, bad, rename, frame.attrs.get("delimiter", ","))
    out.attrs.update(
        messages=messages, header_line=frame.attrs.get("header_line", 1), header=list(frame.columns)
    )
    return out


def _read_text_partitioned(
    source: str, *, columns: Mapping[str, str] | None, blocksize: str
) -> tuple[Any, dict[str, Any]]:
    """CSV/TSV read on the workers, byte range by byte range, as :func:`read_establishments` reads it.

    The same strict decoding (GBK, UTF-16, stray bytes), the same record numbers and line
    numbers and the same rejections of malformed, oversized and undecodable records; records
    never split at a quoted newline (see :mod:`clusterscape.io._chunks`). Rejected records
    travel in the graph with their reason (column ``__reject__``), the good ones with their
    number (``__row__``) and a hash of their cells (``__key__``, for exact duplicates).
    """
    import glob

    import dask

    from clusterscape.io import establishments as io

    dd = _require_dask()
    paths = sorted(glob.glob(source)) if any(c in source for c in "*?[") else [source]
    if not paths:
        raise InvalidInputError(f"{source}: no file matches.")
    parts = []
    meta_cols: list[str] | None = None
    info: dict[str, Any] = {"messages": [], "mapping": {}, "head": None}
    offset = 0
    for name in paths:
        plan = _plan_text(Path(name), columns, blocksize)
        if plan["whole"]:
            frame = dask.compute(dask.delayed(_read_whole)(plan["path"], columns))[0]
            cols = [c for c in frame.columns if c not in (ROW, REJECT, KEY)]
            info["messages"] += list(frame.attrs.get("messages", []))
            head = pd.DataFrame(columns=frame.attrs["header"])
            head.attrs["header_line"] = int(frame.attrs.get("header_line", 1))
            head.attrs["delimiter"] = frame.attrs.get("delimiter", ",")
            frame[ROW] = frame[ROW] + offset
            n_records = len(frame)
            meta_cols = meta_cols or [*cols, REJECT, KEY, ROW]
            parts.append(dask.delayed(frame.reindex(columns=meta_cols)))
        else:
            cols = [plan["rename"].get(h, h) for h in plan["header"]]
            meta_cols = meta_cols or [*cols, REJECT, KEY, ROW]
            info["messages"] += plan["messages"]
            head = plan["frame"]
            for a, b, r0, l0 in plan["ranges"]:
                parts.append(
                    dask.delayed(_read_range)(
                        plan["plan"],
                        a,
                        b,
                        r0 + offset,
                        l0,
                        plan["exact"],
                        plan["rename"],
                        meta_cols,
                    )
                )
            n_records = plan["n_records"]
        offset += n_records
        if info["head"] is None:
            info["head"] = head
            info["mapping"] = dict(io._map_columns(head, columns, Path(name)))
            info["path"] = Path(name)
    meta = pd.DataFrame({c: pd.Series(dtype=object) for c in meta_cols or []})
    meta[ROW] = meta[ROW].astype("int64")
    return dd.from_delayed(parts, meta=meta, verify_meta=False), info


def _prepare_partition(
    part: pd.DataFrame,
    *,
    datum: str,
    cell_m: float,
    epsg: Mapping[str, int],
    offsets: Mapping[int, int] | None = None,
    delimiter: str = ",",
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Validate, convert, classify, project and grid one chunk (a pure function of its rows).

    Validation is :func:`clusterscape.io.establishments.validate_table`, the single-machine reader's own, so
    both engines accept and reject the same rows for the same reasons.
    """
    from clusterscape.io.establishments import validate_table
    from clusterscape.taxonomy import classify_establishments

    part = part.reset_index(drop=True)
    start = (offsets or {}).get(int(partition_info["number"]) if partition_info else 0, 0)
    if part.empty:
        return _meta()
    pre = pd.DataFrame({"row": pd.Series(dtype="int64"), "id": pd.Series(dtype="string"),
                        "reason": pd.Series(dtype="string")})  # fmt: skip
    rows = None
    if ROW in part.columns:  # read by the file reader: its record numbers and rejections
        rows_all = part[ROW].to_numpy(dtype=np.int64)
        refused = (
            part[REJECT].notna().to_numpy() if REJECT in part.columns else np.zeros(len(part), bool)
        )
        pre = pd.DataFrame(
            {
                "row": rows_all[refused],
                "id": pd.array([""] * int(refused.sum()), dtype="string"),
                "reason": pd.array(part.loc[refused, REJECT].astype(str).tolist(), dtype="string"),
            }
        )
        part = part[~refused].drop(columns=[ROW, REJECT], errors="ignore").reset_index(drop=True)
        rows = rows_all[~refused]
        start = int(rows[0]) - 1 if len(rows) else start
    # a hash of each record's cells (text files: of the file's cells, before any renaming)
    keys = part.pop(KEY).to_numpy(dtype=object) if KEY in part.columns else _row_keys(part)
    raw = part.astype(object).where(part.notna(), None)
    raw.attrs["delimiter"] = delimiter
    # Duplicate ids and exact duplicate rows are settled over the whole file (_settle).
    res = validate_table(
        raw, datum=datum, first_row=start + 1, source=f"chunk from row {start + 1}", rows=rows,
        duplicates=False,
    )  # fmt: skip
    if len(pre):
        import dataclasses

        rejected_all = pd.concat([res.rejected, pre], ignore_index=True)
        rejected_all = rejected_all.sort_values("row", kind="stable").reset_index(drop=True)
        res = dataclasses.replace(res, rejected=rejected_all)
    est = res.establishments
    good = pd.DataFrame(
        {c: est[c].astype("string") for c in ("id", "name", "category", "code")}
        | {
            "city": est["city"].astype("string").fillna("")
            if "city" in est
            else pd.Series("", index=est.index, dtype="string"),
            "opened": est["opened"].astype("Int64"),
            "closed": est["closed"].astype("Int64"),
            "employees": est["employees"].astype("Float64"),
            "lon": est.geometry.x.to_numpy(),
            "lat": est.geometry.y.to_numpy(),
            "reason": "",
            "row": np.asarray(res.source_rows, dtype=np.int64),
        }
    )
    classified = classify_establishments(est)
    for col in ("sector", "is_creative", "function", "hotel_grade", "rule"):
        good[col] = classified[col].to_numpy()
    numbers = np.arange(start + 1, start + 1 + len(part)) if rows is None else np.asarray(rows)
    pos = pd.Index(numbers).get_indexer(pd.Index(np.asarray(res.source_rows, dtype=np.int64)))
    if "id" in raw.columns:
        from clusterscape.io.establishments import _arrow_text

        given = pc_is_valid(_arrow_text(raw["id"]))
    else:
        given = np.zeros(len(raw), dtype=bool)
    good["id_given"] = given[pos] if len(pos) else np.zeros(0, dtype=bool)
    good["dup_key"] = (
        keys[pos] if keys is not None and len(pos) else np.full(len(pos), None, dtype=object)
    )
    good["notes"] = _notes_by_row(res.notes, good["row"].to_numpy())
    rej = res.rejected
    bad = pd.DataFrame(
        {
            "id": rej["id"].astype("string"),
            "name": pd.Series("", index=rej.index, dtype="string"),
            "category": pd.Series("", index=rej.index, dtype="string"),
            "code": pd.Series("", index=rej.index, dtype="string"),
            "city": _city_of(part, rows, start, rej["row"].to_numpy()),
            "opened": pd.array([pd.NA] * len(rej), dtype="Int64"),
            "closed": pd.array([pd.NA] * len(rej), dtype="Int64"),
            "employees": pd.array([pd.NA] * len(rej), dtype="Float64"),
            "lon": np.nan,
            "lat": np.nan,
            "reason": rej["reason"].astype(object).to_numpy(),
            "row": rej["row"].to_numpy(dtype=np.int64),
            "sector": "",
            "is_creative": False,
            "function": "",
            "hotel_grade": pd.array([pd.NA] * len(rej), dtype="Int64"),
            "rule": "",
            "id_given": False,
            "dup_key": None,
            "notes": "",
        }
    )
    out = pd.concat([good, bad], ignore_index=True).sort_values("row", kind="stable")
    out = out.reset_index(drop=True)
    n = len(out)
    ok = (out["reason"] == "").to_numpy()
    wlon, wlat = out["lon"].to_numpy(float), out["lat"].to_numpy(float)
    # Project into each city's own metric CRS (the one the single-machine engine would pick).
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    import pyproj

    cities = out["city"].to_numpy(dtype=object)
    for city, code in epsg.items():
        sel = ok & (cities == city)
        if sel.any():
            tr = pyproj.Transformer.from_crs("EPSG:4326", f"EPSG:{code}", always_xy=True)
            x[sel], y[sel] = tr.transform(wlon[sel], wlat[sel])
    out["x"], out["y"] = x, y
    with np.errstate(invalid="ignore"):
        out["ix"] = pd.array(np.where(ok, np.floor(x / cell_m), np.nan), dtype="Float64").astype(
            "Int64"
        )
        out["iy"] = pd.array(np.where(ok, np.floor(y / cell_m), np.nan), dtype="Float64").astype(
            "Int64"
        )
    return out[list(_meta().columns)]


def pc_is_valid(arr: Any) -> np.ndarray:
    """Which entries of a pyarrow array are not null."""
    import pyarrow.compute as pc

    return np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _notes_by_row(notes: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Each row's field notes as JSON (``[[field, value, note], ...]``), '' for none."""
    import json

    out = np.full(len(rows), "", dtype=object)
    if notes.empty:
        return out
    where = pd.Series(np.arange(len(rows)), index=rows)
    for row, grp in notes.groupby("row", sort=False):
        out[int(where[row])] = json.dumps(
            grp[["field", "value", "note"]].astype(object).to_numpy().tolist(), ensure_ascii=False
        )
    return out


def _city_of(part: pd.DataFrame, rows: Any, start: int, wanted: np.ndarray) -> Any:
    """The ``city`` of each rejected row (by its file row number), '' when unknown."""
    if "city" not in part:
        return ""
    city = part["city"].astype("string").fillna("").to_numpy()
    numbers = np.arange(start + 1, start + 1 + len(part)) if rows is None else np.asarray(rows)
    where = pd.Series(np.arange(len(numbers)), index=numbers)
    pos = where.reindex(wanted).to_numpy()
    return np.array([city[int(i)] if np.isfinite(i) else "" for i in pos], dtype=object)


def _meta() -> pd.DataFrame:
    cols = {
        "id": "string", "name": "string", "category": "string", "code": "string", "city": "string",
        "opened": "Int64", "closed": "Int64", "employees": "Float64", "lon": "float64", "lat": "float64",
        "reason": "object",
        "row": "int64", "sector": "object", "is_creative": "bool", "function": "object",
        "hotel_grade": "Int64", "rule": "object", "x": "float64", "y": "float64", "ix": "Int64", "iy": "Int64",
        "id_given": "bool", "dup_key": "object", "notes": "object",
    }  # fmt: skip
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in cols.items()})


def prepare_partitioned(
    ddf: Any,
    *,
    datum: str | None = None,
    crs: str | None = None,
    cell_m: float = 500.0,
    delimiter: str = ",",
) -> tuple[Any, dict[str, int]]:
    """The row-wise graph: returns (prepared dask frame, metric EPSG per city).

    One small reduction first finds each city's bounding box (converted to WGS-84), from which
    its local metric CRS is chosen exactly as :func:`clusterscape.coords.to_local_metric` would. ``datum`` is the degree datum (WGS-84 by default; ``crs=<datum>`` is deprecated).
    """
    datum = resolve_datum(datum, crs, caller="run --engine dask")
    if datum == "bd09mc":
        raise InvalidInputError(
            "run --engine dask: datum='bd09mc' (Baidu Mercator metres) is read by the default "
            "engine only; run without --engine dask, or convert the file to BD-09 degrees first."
        )
    if "city" not in ddf.columns:
        ddf = ddf.assign(city="")

    def _bounds(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
        number = int(partition_info["number"]) if partition_info else 0
        lon = pd.to_numeric(part["lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(part["lat"], errors="coerce").to_numpy(float)
        ok = (
            np.isfinite(lon)
            & np.isfinite(lat)
            & (np.abs(lat) <= 90)
            & (np.abs(lon) <= 180)
            & ~((lon == 0) & (lat == 0))
        )
        wl, wa = convert(lon[ok], lat[ok], src=datum, dst="wgs84")
        frame = pd.DataFrame(
            {"city": part["city"].astype("string").fillna("").to_numpy()[ok], "lon": wl, "lat": wa}
        )
        out = frame.groupby("city").agg(
            minx=("lon", "min"), miny=("lat", "min"), maxx=("lon", "max"), maxy=("lat", "max")
        )
        # The partition's length rides along (on the first row) for 1-based file row numbers.
        out["partition"] = number
        out["n_rows"] = 0
        if len(out):
            out["n_rows"] = np.where(np.arange(len(out)) == 0, len(part), 0)
        else:
            out = pd.DataFrame(
                {"minx": [np.nan], "miny": [np.nan], "maxx": [np.nan], "maxy": [np.nan],
                 "partition": [number], "n_rows": [len(part)]},
                index=pd.Index([""], name="city", dtype="string"),
            )  # fmt: skip
        return out

    meta = pd.DataFrame(
        {k: pd.Series(dtype="float64") for k in ("minx", "miny", "maxx", "maxy")}
        | {"partition": pd.Series(dtype="int64"), "n_rows": pd.Series(dtype="int64")},
        index=pd.Index([], name="city", dtype="string"),
    )
    parts = ddf.map_partitions(_bounds, meta=meta).compute()
    lengths = parts.groupby("partition")["n_rows"].sum().sort_index()
    offsets = dict(
        zip(
            lengths.index.astype(int),
            np.concatenate([[0], np.cumsum(lengths.to_numpy())[:-1]]).astype(int),
            strict=True,
        )
    )
    parts = parts.dropna(subset=["minx"])
    bounds = parts.groupby(level=0).agg(
        minx=("minx", "min"), miny=("miny", "min"), maxx=("maxx", "max"), maxy=("maxy", "max")
    )
    epsg = {
        str(city): int(local_metric_crs(tuple(row)).to_epsg() or 0)
        for city, row in bounds.iterrows()
    }
    prepared = ddf.map_partitions(
        _prepare_partition,
        datum=datum,
        cell_m=float(cell_m),
        epsg=epsg,
        offsets=offsets,
        delimiter=delimiter,
        meta=_meta(),
    )
    return prepared, epsg


def gi_star_tiled(
    grid: np.ndarray, *, halo: int = 1, tile: int = 256, radius_cells: float = 1.5
) -> np.ndarray:
    """Gi* z of a full 2-D count grid, evaluated tile by tile with a ``halo``.

    Binary weights within ``radius_cells`` cell centres, self included; the same numbers as the
    whole grid at once.

    The global mean, standard deviation and n come from the whole grid (Ord & Getis 1995), and each
    tile's neighbourhood sums are complete thanks to the halo (``halo >= radius_cells``). The
    grid Gi* of :func:`clusterscape.measure.hotspots.gi_star_grid`, which does the tiling.
    """
    from clusterscape.measure.hotspots import gi_star_grid
    from clusterscape.urban._common import disc_footprint

    if halo < math.floor(radius_cells):
        raise InvalidInputError(
            f"gi_star_tiled: halo {halo} is smaller than the radius {radius_cells} cells."
        )
    kernel = disc_footprint(radius_cells, 1.0)
    return gi_star_grid(grid, None, kernel, tile_cells=tile)


@dataclass(slots=True)
class PartitionedResult:
    """What ``profile_cities`` computed: one row per city plus per-city detail."""

    comparison: pd.DataFrame
    zones: dict[str, pd.DataFrame] = field(default_factory=dict)
    hotspots: dict[str, pd.DataFrame] = field(default_factory=dict)
    clusters: dict[str, pd.DataFrame] = field(default_factory=dict)
    rejected: pd.DataFrame | None = None
    epsg: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0
    #: field notes (``row, id, field, value, note``) as :func:`read_establishments` gives them
    notes: pd.DataFrame | None = None
    #: exact duplicate rows without an id (kept, listed in ``notes``)
    duplicates: int = 0


def _city_zones(counts: pd.DataFrame) -> pd.DataFrame:
    from clusterscape.urban import zones
    from clusterscape.urban._common import FUNCTIONS

    wide = counts.pivot_table(
        index=["ix", "iy"], columns="function", values="n", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(columns=list(FUNCTIONS), fill_value=0).sort_index()
    mat = wide.to_numpy(dtype=np.int64)
    n = mat.sum(axis=1)
    # functional_zones' FD/CR rule with its defaults
    label, c_max, _, _ = zones._fdcr_labels(
        mat, n, zones.MIN_COUNT, zones.THRESHOLD, zones.MIN_SUPPORT, zones.MIN_SHARE
    )
    return pd.DataFrame({"n": n, "label": label, "c_max": c_max}, index=wide.index).reset_index()


def _city_hotspots(creative_counts: pd.DataFrame, *, distance_cells: float = 1.5) -> pd.DataFrame:
    if creative_counts.empty:
        return pd.DataFrame(columns=["ix", "iy", "count", "z"])
    ix0, iy0 = int(creative_counts["ix"].min()), int(creative_counts["iy"].min())
    ncol = int(creative_counts["ix"].max()) - ix0 + 1
    nrow = int(creative_counts["iy"].max()) - iy0 + 1
    grid = np.zeros((nrow, ncol))
    grid[creative_counts["iy"].to_numpy(int) - iy0, creative_counts["ix"].to_numpy(int) - ix0] = (
        creative_counts["n"].to_numpy(float)
    )
    z = gi_star_tiled(grid, halo=max(1, math.ceil(distance_cells)), radius_cells=distance_cells)
    rr, cc = np.indices(grid.shape)
    return pd.DataFrame(
        {"ix": (cc + ix0).ravel(), "iy": (rr + iy0).ravel(), "count": grid.ravel(), "z": z.ravel()}
    )


def _city_clusters(
    frame: pd.DataFrame, epsg: int, min_cluster_size: int, seed: int
) -> pd.DataFrame:
    import geopandas as gpd

    from clusterscape.detect.clusters import detect_clusters

    if len(frame) < max(min_cluster_size, 3):
        return pd.DataFrame(columns=["cluster_id", "n", "area_m2"])
    gdf = gpd.GeoDataFrame(
        frame.drop(columns=["x", "y"]),
        geometry=gpd.points_from_xy(frame["x"], frame["y"]),
        crs=epsg,
    )
    found = detect_clusters(gdf, min_cluster_size=min_cluster_size, seed=seed)
    cols = [c for c in ("n", "employees", "area_m2") if c in found.clusters.columns]
    return pd.DataFrame(found.clusters[cols]).reset_index()


def _run_per_city(client: Any, jobs: list[tuple[Any, ...]]) -> dict[str, Any]:
    """One task per city.

    The per-city tables are scattered to the workers first, so the task graph carries
    references, not data (a 300-city graph would otherwise weigh hundreds of MB).
    """
    if not jobs:
        return {}
    if client is None:
        return {city: func(frame) for func, city, frame in jobs}
    # A list, not a dict: dict keys would become the data's keys on the cluster and collide
    # between the zones, hot-spot and cluster jobs of the same city.
    data = client.scatter([frame for _, _, frame in jobs])
    futures = {
        city: client.submit(func, fut, pure=False)
        for (func, city, _), fut in zip(jobs, data, strict=True)
    }
    return dict(zip(futures, client.gather(list(futures.values())), strict=True))


def profile_cities(
    source: str | Path,
    *,
    datum: str | None = None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    cell_m: float = 500.0,
    client: Any = None,
    clusters: bool = True,
    min_cluster_size: int = 15,
    seed: int = 0,
    blocksize: str = "64MB",
) -> PartitionedResult:
    """Convert, classify, grid and profile every city of ``source`` on a dask cluster.

    Returns a :class:`PartitionedResult` whose ``comparison`` has one row per city: ``city``,
    ``n_establishments``, ``n_creative``, ``creative_share``, ``creative_lq`` (city share over the
    all-city share), ``employees``, ``n_cells``, the count of single-function and mixed zones,
    ``n_hot_cells`` (creative Gi* z >= 1.96) and, with ``clusters=True``, ``n_clusters`` and
    ``largest_cluster_n``. ``datum`` is the degree datum of the coordinates (WGS-84 by
    default; ``crs=<datum>`` is its deprecated spelling).
    """
    import dask

    datum = resolve_datum(datum, crs, caller="run --engine dask")
    ddf, info = _read_any(source, columns=columns, blocksize=blocksize)
    prepared, epsg = prepare_partitioned(
        ddf, datum=datum, cell_m=cell_m, delimiter=_delimiter_of(info)
    )
    prepared = prepared.persist() if client is not None else prepared
    ok = prepared[prepared["reason"] == ""]
    # what needs the whole file (duplicates, notes, trailing blank lines): a few small columns
    rejected = prepared[["row", "id", "city", "reason", "id_given", "dup_key", "notes"]]
    counts = ok.groupby(["city", "ix", "iy", "function"]).size().rename("n").reset_index()
    creative = ok[ok["is_creative"]].groupby(["city", "ix", "iy"]).size().rename("n").reset_index()
    per_city = ok.groupby("city").agg(
        n_establishments=("id", "count"),
        n_creative=("is_creative", "sum"),
        employees=("employees", "sum"),
    )
    counts_pd, creative_pd, per_city_pd, records_pd = dask.compute(
        counts, creative, per_city, rejected
    )
    settled = _settle(records_pd)
    rejected_pd = settled.frame.loc[
        settled.frame["reason"] != "", ["row", "id", "city", "reason"]
    ].reset_index(drop=True)
    cities = sorted(per_city_pd.index.astype(str))
    by_city_counts = {str(c): f for c, f in counts_pd.groupby("city")}
    by_city_creative = {str(c): f for c, f in creative_pd.groupby("city")}
    empty = creative_pd.iloc[:0]
    jobs: dict[str, list[tuple[Any, ...]]] = {"zones": [], "hotspots": [], "clusters": []}
    for c in cities:
        jobs["zones"].append((_city_zones, c, by_city_counts[c]))
        jobs["hotspots"].append((_city_hotspots, c, by_city_creative.get(c, empty)))
    if clusters:
        # The creative rows are a small share of all rows: gather them once, then one task per city.
        creative_rows = ok[ok["is_creative"]][
            ["id", "city", "x", "y", "employees", "opened", "sector"]
        ].compute()
        by_city_rows = {str(c): f for c, f in creative_rows.groupby("city")}
        for c in cities:
            rows_c = by_city_rows.get(c, creative_rows.iloc[:0])
            jobs["clusters"].append((functools.partial(_city_clusters, epsg=epsg[c], min_cluster_size=min_cluster_size,
                                                       seed=seed), c, rows_c))  # fmt: skip
    zones, hots, cls = (_run_per_city(client, jobs[k]) for k in ("zones", "hotspots", "clusters"))
    total_share = per_city_pd["n_creative"].sum() / max(per_city_pd["n_establishments"].sum(), 1)
    rows = []
    for c in cities:
        p = per_city_pd.loc[c]
        share = float(p["n_creative"]) / max(float(p["n_establishments"]), 1.0)
        z = zones[c]
        row = {
            "city": c, "n_establishments": int(p["n_establishments"]), "n_creative": int(p["n_creative"]),
            "creative_share": share, "creative_lq": share / total_share if total_share > 0 else float("nan"),
            "employees": float(p["employees"]) if pd.notna(p["employees"]) else 0.0,
            "n_cells": len(z), "n_single_zones": int((~z["label"].astype(str).str.startswith(("mixed", "sparse"))).sum()),
            "n_mixed_zones": int(z["label"].astype(str).str.startswith("mixed").sum()),
            "n_hot_cells": int((hots[c]["z"] >= 1.96).sum()), "metric_epsg": epsg[c],
        }  # fmt: skip
        if clusters:
            row["n_clusters"] = len(cls[c])
            row["largest_cluster_n"] = int(cls[c]["n"].max()) if len(cls[c]) else 0
        rows.append(row)
    return PartitionedResult(
        comparison=pd.DataFrame(rows), zones=zones, hotspots=hots, clusters=cls,
        rejected=rejected_pd.reset_index(drop=True), epsg=epsg,
        n_rows=int(per_city_pd["n_establishments"].sum()) + len(rejected_pd),
        notes=settled.notes, duplicates=settled.duplicates,
    )  # fmt: skip


_EMPTY_ROW = "empty row: every cell is blank"


@dataclass(frozen=True, slots=True)
class Settled:
    """The whole-file rules applied to a gathered frame (see :func:`_settle`)."""

    frame: pd.DataFrame
    notes: pd.DataFrame
    duplicates: int
    trailing: int


def _settle(frame: pd.DataFrame) -> Settled:
    """Apply the rules that need the whole file, as :func:`read_establishments` applies them.

    ``frame`` holds every record (``row, id, reason, id_given, dup_key, notes``). Blank records
    after the last record with content are padding and dropped; a repeated id (among
    otherwise valid rows, first occurrence wins) is kept as ``"<id>#<row>"`` and noted; rows
    without an id repeating an earlier one cell for cell (same ``dup_key``) are counted and
    noted; the chunks' field notes are joined into one ``notes`` table in the reader's order.
    """
    import json

    from clusterscape.io.establishments import (
        CANONICAL as IO_CANONICAL,
    )
    from clusterscape.io.establishments import (
        duplicate_id_label,
        duplicate_id_note,
        empty_notes,
    )

    frame = frame.sort_values("row", kind="stable").reset_index(drop=True)
    reason = frame["reason"].astype(str).to_numpy()
    k = 0
    while k < len(frame) and reason[len(frame) - 1 - k] == _EMPTY_ROW:
        k += 1
    if k:
        frame = frame.iloc[: len(frame) - k].reset_index(drop=True)
    ok = (frame["reason"] == "").to_numpy()
    rows = frame["row"].to_numpy(dtype=np.int64)
    ids = frame["id"].astype(object).to_numpy().copy()
    given = frame["id_given"].fillna(False).to_numpy(dtype=bool)
    items: list[tuple[int, int, int, str, str, str]] = []  # (row, rank, order, field, value, note)
    cand = np.flatnonzero(ok & given)
    first: dict[str, int] = {}
    for p in cand.tolist():
        old = str(ids[p])
        if old in first:
            new_id = duplicate_id_label(old, int(rows[p]))
            items.append(
                (int(rows[p]), 0, 1, "id", old, duplicate_id_note(old, first[old], new_id))
            )
            ids[p] = new_id
        else:
            first[old] = int(rows[p])
    seen: dict[Any, int] = {}
    same = 0
    for p in np.flatnonzero(ok & ~given).tolist():
        key = frame["dup_key"].iat[p]
        if key is None or (isinstance(key, float) and math.isnan(key)):
            continue
        if key in seen:
            same += 1
            items.append((int(rows[p]), 99, 1, "row", "",
                          f"exact duplicate of row {seen[key]} (no id to tell them apart); kept"))  # fmt: skip
        else:
            seen[key] = int(rows[p])
    rank = {f: i for i, f in enumerate(IO_CANONICAL)}
    for p in np.flatnonzero(frame["notes"].astype(str).to_numpy() != "").tolist():
        for fld, value, note in json.loads(str(frame["notes"].iat[p])):
            items.append((int(rows[p]), rank.get(fld, 99), 0, fld, value, note))
    frame = frame.copy()
    frame["id"] = pd.array(ids, dtype="string")
    if not items:
        return Settled(frame, empty_notes(), same, k)
    # within a row: by field (the reader's order), the chunk's notes before the whole file's
    items.sort(key=lambda it: (it[0], it[1], it[2]))
    id_of = pd.Series(ids, index=rows)
    notes = pd.DataFrame(
        {
            "row": np.asarray([it[0] for it in items], dtype="int64"),
            "id": pd.array([str(id_of[it[0]]) for it in items], dtype="string"),
            "field": pd.array([it[3] for it in items], dtype="string"),
            "value": pd.array([it[4] for it in items], dtype="string"),
            "note": pd.array([it[5] for it in items], dtype="string"),
        }
    )
    return Settled(frame, notes, same, k)


def _messages(info: Mapping[str, Any], datum: str, trailing: int) -> tuple[str, ...]:
    """The file-level messages :func:`read_establishments` gives for the same file."""
    from clusterscape.io import establishments as io

    out = list(info.get("messages", ()))
    head = info.get("head")
    if head is not None:
        out += io._notes(head, dict(info.get("mapping", {})), datum, False)
    if trailing:
        out.append(
            f"{trailing} empty line{'s' if trailing > 1 else ''} at the end of the file "
            "(every cell blank, as spreadsheets export) ignored"
        )
    return tuple(out)


def _read_any(
    source: str | Path, *, columns: Mapping[str, str] | None, blocksize: str
) -> tuple[Any, dict[str, Any]]:
    """(lazy frame, what the text reader found: messages, header, mapping, path)."""
    text = str(source)
    if text.lower().endswith((".csv", ".tsv", ".txt", ".tab")):
        return _read_text_partitioned(text, columns=columns, blocksize=blocksize)
    return read_partitioned(source, columns=columns, blocksize=blocksize), {}


def _delimiter_of(info: Mapping[str, Any]) -> str:
    head = info.get("head")
    return "," if head is None else str(head.attrs.get("delimiter", ","))


def read_establishments_dask(
    source: str | Path,
    *,
    datum: str | None = None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    blocksize: str = "64MB",
) -> Any:
    """:func:`read_establishments` on a dask cluster: the same :class:`LoadResult`.

    CSV/TSV are parsed on the workers, byte range by byte range (see
    :mod:`clusterscape.io._chunks`), validated and classified per chunk; what needs the whole
    file (duplicate ids, exact duplicate rows, trailing blank lines) is settled on the gathered
    result. ``establishments`` also carries the classification columns (``sector``,
    ``is_creative``, ``function``, ``hotel_grade``, ``rule``). ``datum`` is as in
    :func:`read_establishments` (``crs=<datum>`` deprecated).
    """
    import geopandas as gpd

    from clusterscape.io.establishments import LoadResult

    datum = resolve_datum(datum, crs, caller="run --engine dask")
    text = str(source)
    ddf, info = _read_any(source, columns=columns, blocksize=blocksize)
    prepared, _ = prepare_partitioned(ddf, datum=datum, delimiter=_delimiter_of(info))
    settled = _settle(prepared.compute())
    frame = settled.frame
    bad = frame["reason"] != ""
    rejected = frame.loc[bad, ["row", "id", "reason"]].reset_index(drop=True)
    rejected = rejected.astype({"row": "int64", "id": "string", "reason": "string"})
    ok = frame[~bad].reset_index(drop=True)
    est = gpd.GeoDataFrame(
        ok.drop(columns=["lon", "lat", "x", "y", "ix", "iy", "reason", "row", "id_given",
                         "dup_key", "notes"]),
        geometry=gpd.points_from_xy(ok["lon"], ok["lat"]),
        crs="EPSG:4326",
    )  # fmt: skip
    return LoadResult(
        establishments=est,
        rejected=rejected,
        source_crs=datum,
        path=Path(info.get("path", text)),
        n_rows=len(frame),
        columns=dict(info.get("mapping", {})),
        messages=_messages(info, datum, settled.trailing),
        notes=settled.notes,
        duplicates=settled.duplicates,
        source_rows=ok["row"].to_numpy(dtype=np.int64),
    )
