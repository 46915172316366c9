"""Reading firm and POI tables into the canonical establishments table, and writing layers.

:func:`read_establishments` is the door every study goes through. It reads CSV/TSV (UTF-8,
UTF-8 with BOM, GBK/GB18030), Excel, GeoJSON, GeoPackage, Shapefile and (Geo)Parquet; maps
English and Chinese headers to the canonical columns of ``docs/architecture.md``; converts
GCJ-02 / BD-09 to WGS-84; and rejects bad rows one by one with a reason a person can act on
(``LoadResult.rejected``), so that the good rows go on and nothing is dropped silently.

The writers (:func:`write_layer`, :func:`atomic_write`, :func:`atomic_directory`) never leave
a half-written file behind: they write to a sibling temporary path and rename it into place.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj

from clusterscape.coords import DATUMS, METRIC_DATUMS, convert, resolve_datum, split_datum_crs
from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.io import _text
from clusterscape.io._registry import apply_registry
from clusterscape.io.writers import atomic_directory, atomic_write, write_layer

__all__ = [
    "CANONICAL",
    "NOTE_COLUMNS",
    "LoadResult",
    "atomic_directory",
    "atomic_write",
    "empty_notes",
    "read_establishments",
    "validate_table",
    "write_layer",
]

CANONICAL = ("id", "name", "category", "code", "opened", "closed", "employees", "geometry")
#: Largest headcount accepted for one establishment (State Grid, China's largest employer, has
#: about 1.5 million staff in all); larger values are rejected as typos.
MAX_EMPLOYEES = 2_000_000
_CALLER = "read_establishments"

# Header aliases in order of preference, compared after _norm_header (lower case, no spaces,
# '-' and ' ' as '_'). Chinese headers are those of Amap/Baidu exports and business registries.
# fmt: off
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "id", "编号", "uid", "poi_id", "poiid", "firm_id", "企业编号", "统一社会信用代码", "信用代码", "注册号",
        "osm_id", "osmid", "objectid", "fid", "序号"
    ),
    "name": (
        "name", "名称", "name_zh", "中文名称", "企业名称", "公司名称", "poi名称", "单位名称", "店名", "title", "company", "firm",
        "firm_name", "company_name"
    ),
    "category": (
        "category", "type", "类型", "行业", "类别", "行业类别", "所属行业", "行业门类", "poi类型", "sector",
        "industry", "osm_tags", "tags", "osm_query_tags"
    ),
    "code": (
        "code", "行业代码", "行业编码", "国民经济行业代码", "国标行业", "国标行业代码", "industry_code", "gb_code", "gbt4754", "sic",
        "nace", "typecode", "类型编码"
    ),
    "lon": (
        "lon", "lng", "long", "longitude", "经度", "x", "gcj_lng", "gcj_lon", "gcj02_lng",
        "gcj02_lon", "lng_gcj02", "lon_gcj02", "bd_lng", "bd_lon", "bd09_lng", "bd09_lon",
        "wgs_lng", "wgs_lon", "wgs84_lng", "wgs84_lon", "centroid_lon", "point_x"
    ),
    "lat": (
        "lat", "latitude", "纬度", "y", "gcj_lat", "gcj02_lat", "lat_gcj02", "bd_lat", "bd09_lat",
        "wgs_lat", "wgs84_lat", "centroid_lat", "point_y"
    ),
    "location": (
        "location", "坐标", "经纬度", "lnglat", "lonlat", "lng_lat", "lon_lat"
    ),
    "opened": (
        "opened", "founded", "成立日期", "成立时间", "成立年份", "开业日期", "开业时间", "注册日期", "核准日期",
        "founding_year", "year_founded", "established", "start_year", "open_date",
        "opening_date", "open_year"
    ),
    "closed": (
        "closed", "注销日期", "注销时间", "吊销日期", "关闭日期", "停业日期", "closing_year", "close_date",
        "closed_year", "end_year", "dissolved"
    ),
    "employees": (
        "employees", "从业人员", "员工数", "从业人数", "从业人员数", "员工人数", "职工人数", "参保人数", "staff",
        "employment", "headcount", "n_employees", "emp"
    ),
}
_KEYS = tuple(_ALIASES)
_PLACEHOLDERS = frozenset({
    "", "#n/a", "-", "--", "n/a", "na", "nan", "nat", "nil", "none", "null", "—", "不详", "无",
    "暂无", "未知"
})
# fmt: on
_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".tab"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".zip"}
_PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}  # Amap/Baidu API responses, one per line
_YEAR_RE = r"^(\d{4})(?:\d{2}|\d{4}|\.0+|[-/.年 T].*)?$"
_US_DATE_RE = r"^\d{1,2}/\d{1,2}/(?P<year>\d{4})$"
_MONTH_DAY_RE = r"^\d{4}[-/.年](?P<month>\d{1,2})(?:[-/.月](?P<day>\d{1,2}))?"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What :func:`read_establishments` read.

    Attributes
    ----------
    establishments : geopandas.GeoDataFrame
        EPSG:4326 points with the canonical columns ``id, name, category, code, opened,
        closed, employees, geometry`` first (see ``docs/architecture.md``), then the file's
        other columns; a fresh RangeIndex.
    rejected : pandas.DataFrame
        One row per rejected data row: ``row`` (1-based data row in the file, header
        excluded), ``id`` (the file's id or ``""``) and ``reason`` (``"<kind>: <detail>"``,
        several joined by ``"; "``).
    source_crs : str
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or the file's/declared CRS (e.g. ``"EPSG:32651"``).
    path : pathlib.Path
        The file read.
    n_rows : int
        Data rows in the file (accepted + rejected).
    columns : Mapping[str, str]
        Which file column fed each canonical field (``lon``/``lat``/``location`` included).
    messages : tuple of str
        File-level things a person should check, e.g. headers that suggest another datum
        than ``datum`` (an Amap export read as WGS-84 is ~500 m off), a header found below a
        title line, the text encoding when it is not UTF-8, a Shapefile without its ``.dbf``.
    notes : pandas.DataFrame
        One row per field that was kept blank or read with a caveat while its firm was kept:
        ``row`` (as in ``rejected``), ``id``, ``field`` (canonical name, or ``"row"`` for an
        exact duplicate row), ``value`` (the file's text) and ``note`` (what was done).
    duplicates : int
        Rows without an id that repeat an earlier row cell for cell; they are kept, and each
        is listed in ``notes`` (``field == "row"``) naming the row it repeats.
    skipped : Mapping[str, int]
        Features of the source not turned into rows, by reason (OpenStreetMap extracts:
        benches, untagged ways, ...); empty for tables, where every row is accepted or rejected.
    source_rows : ndarray of int, optional
        The 1-based data row in the file of each accepted establishment (aligned to it), so a
        later step that sets rows aside (e.g. outside ``--boundary``) can name them.
    """

    establishments: gpd.GeoDataFrame
    rejected: pd.DataFrame
    source_crs: str
    path: Path
    n_rows: int
    columns: Mapping[str, str]
    messages: tuple[str, ...] = ()
    notes: pd.DataFrame = dataclasses.field(default_factory=lambda: empty_notes(), compare=False)
    duplicates: int = 0
    skipped: Mapping[str, int] = dataclasses.field(default_factory=dict, compare=False)
    source_rows: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def reason_counts(self) -> pd.Series:
        """Rejected rows counted by the kind of their first reason (text before ``":"``)."""
        kinds = self.rejected["reason"].str.split(";").str[0].str.split(":").str[0].str.strip()
        return kinds.value_counts().rename("rows")


NOTE_COLUMNS = ("row", "id", "field", "value", "note")


def empty_notes() -> pd.DataFrame:
    """An empty ``notes`` table (``row, id, field, value, note``)."""
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "id": pd.Series(dtype="string"),
            "field": pd.Series(dtype="string"),
            "value": pd.Series(dtype="string"),
            "note": pd.Series(dtype="string"),
        }
    )


# --------------------------------------------------------------------------------------------
# Reading raw tables
# --------------------------------------------------------------------------------------------


def _sniff_delimiter(header_line: str, suffix: str) -> str:
    if suffix in {".tsv", ".tab"}:
        return "\t"
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _header_row(rows: list[list[Any]]) -> int:
    """Index of the header among the first 10 rows.

    Of the rows naming a coordinate column, the one naming the most known columns (the first
    on ties).

    Spreadsheet exports often start with a title line (e.g. "宁波市文创企业名录"); 0 if no
    row names one (the reader then explains that coordinate columns are missing).
    """
    coord = {_norm_header(a) for k in ("lon", "lat", "location") for a in _ALIASES[k]}
    known = {_norm_header(a) for names in _ALIASES.values() for a in names}
    best, best_score = 0, 0
    for i, row in enumerate(rows[:10]):
        cells = [_norm_header(str(c)) for c in row if c is not None]
        if not any(c in coord for c in cells):
            continue
        # a merged group label above the header ("坐标" over 经度/纬度) names one column;
        # the real header names more (distinct names: a data row of 'x' values is no header)
        score = len({c for c in cells if c in known})
        if score > best_score:
            best, best_score = i, score
    return best


_UNNAMED = "_unnamed_"


def _drop_empty_unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop placeholder-named columns (blank header cells) that hold no value at all."""
    empty = [c for c in frame.columns if str(c).startswith(_UNNAMED) and frame[c].isna().all()]
    return frame.drop(columns=empty) if empty else frame


def _read_bytes(path: Path, progress: _text.Progress | None) -> bytes:
    size = path.stat().st_size
    if progress is None or size < (64 << 20):
        return path.read_bytes()
    buf = bytearray()
    with path.open("rb") as fh:
        while chunk := fh.read(16 << 20):
            buf += chunk
            progress("reading", len(buf), size)
    return bytes(buf)


def _read_text(
    path: Path, progress: _text.Progress | None = None
) -> tuple[pd.DataFrame, list[tuple[int, str]], list[str]]:
    """(good records, rejected (record, reason), messages) of a delimited text file."""
    raw = _read_bytes(path, progress)
    old_mac = b"\n" not in raw and b"\r" in raw
    if old_mac:  # classic Mac OS line ends: CR only (same length, so byte offsets hold)
        raw = raw.replace(b"\r", b"\n")
    dec = _text.decode(raw, path.name, _CALLER)
    head = dec.head()
    blank = not head or head.isspace()
    if blank and (dec.raw is not None or not dec.text or dec.text.isspace()):
        raise InvalidInputError(f"{_CALLER}: {path.name} is empty.")
    lines = [ln.rstrip("\r") for ln in head.split("\n")[:10]]
    parsed = []
    for ln in lines:
        d = _sniff_delimiter(ln, path.suffix.lower())
        parsed.append((d, next(csv.reader([ln], delimiter=d), [])))
    skip = _header_row([cells for _, cells in parsed])
    delimiter, header = parsed[skip]
    if any(_text.SENTINEL in h for h in header):
        off, bad_bytes = dec.errors[0]
        raise InvalidInputError(
            f"{_CALLER}: the header of {path.name} (line {skip + 1}) has bytes that are not "
            f"valid {dec.encoding.upper()} ({bad_bytes!r} at byte offset {off}); re-save the "
            "file as UTF-8 CSV."
        )
    # Blank header cells (e.g. the trailing ",," of an Excel export) get placeholder names; such
    # columns are dropped below when they hold nothing.
    header = [h.strip() or f"{_UNNAMED}{i}" for i, h in enumerate(header)]
    _check_unique_header(header, path)
    messages: list[str] = (
        ["lines end in CR only (classic Mac OS); read as lines"] if old_mac else []
    )
    if dec.encoding not in ("utf-8", "utf-8-sig"):
        label = "GB18030 (GBK)" if dec.encoding == "gb18030" else dec.encoding.upper()
        messages.append(f"read as {label} text")
    if dec.encoding == "utf-8" and not dec.errors:
        data: bytes | memoryview = raw
    elif dec.encoding == "utf-8-sig" and not dec.errors:
        data = memoryview(raw)[3:]
    else:
        data = dec.text.encode("utf-8")
    try:
        rec = _text.parse_fast(data, delimiter, skip, header, progress)
        if dec.errors and not rec.lines_exact:
            raise _text.NeedExact
    except _text.NeedExact:
        rec = _text.parse_exact(dec.text, delimiter, skip, header)
    del data
    if not dec.errors:
        del raw, dec  # the file's bytes are no longer needed
        dec_errors = False
    else:
        dec_errors = True
    frame, bad = rec.frame, list(rec.bad)
    if dec_errors:
        frame, more = _reject_undecodable(frame, rec.lines, dec, raw)
        bad = sorted(bad + more)
        messages.append(
            f"{len(dec.errors):,} undecodable byte sequence{'s' if len(dec.errors) > 1 else ''} "
            f"(not valid {dec.encoding.upper()}); the rows holding them are rejected"
        )
    if len(frame) + len(bad) != rec.n_records:  # pragma: no cover - the invariant of the reader
        raise AssertionError(
            f"{_CALLER}: internal error: {rec.n_records} records but {len(frame)} read and "
            f"{len(bad)} rejected"
        )
    frame = _drop_empty_unnamed(frame)
    frame.attrs.update(header_line=skip + 1, delimiter=delimiter)
    return frame, bad, messages


def _check_unique_header(header: list[str], path: Path) -> None:
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise InvalidInputError(
            f"{_CALLER}: {path.name} has duplicate column names {dup}; rename them so each "
            "header is unique."
        )


def _reject_undecodable(
    frame: pd.DataFrame,
    lines: np.ndarray,
    dec: _text.Decoded,
    raw: bytes,
    *,
    line0: int = 0,
    byte0: int = 0,
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Reject the records holding undecodable bytes, naming line and byte offset.

    For a chunk of a file, ``raw`` and the offsets in ``dec.errors`` are the chunk's;
    ``line0`` lines and ``byte0`` bytes of the file precede it.
    """
    hit = np.zeros(len(frame), dtype=bool)
    counts = np.zeros(len(frame), dtype=np.int64)
    for c in frame.columns:
        col = frame[c].astype("string")
        n = col.str.count(_text.SENTINEL).fillna(0).to_numpy(dtype=np.int64)
        counts += n
        hit |= n > 0
    if not hit.any():
        return frame, []
    err_lines = [
        ln + line0 for ln in _text.byte_line(raw, [o for o, _ in dec.errors], dec.encoding)
    ]
    order = list(zip(err_lines, dec.errors, strict=True))
    pos = 0
    out: list[tuple[int, str]] = []
    rows = frame.index.to_numpy()
    enc = dec.encoding.upper()
    for p in np.flatnonzero(hit).tolist():
        start = int(lines[p])
        while pos < len(order) and order[pos][0] < start:
            pos += 1
        mine = order[pos : pos + int(counts[p])]
        pos += int(counts[p])
        if mine:
            line, (off, b) = mine[0]
            more = f" and {len(mine) - 1} more" if len(mine) > 1 else ""
            why = f"line {line}, byte offset {off + byte0}: {b!r} is not valid {enc}{more}"
        else:  # pragma: no cover - every sentinel comes from an error
            why = f"bytes that are not valid {enc}"
        out.append((int(rows[p]), f"undecodable text: {why}"))
    return frame[~hit], out


def _has_coord_header(rows: list[list[Any]]) -> bool:
    coord = {_norm_header(a) for k in ("lon", "lat", "location") for a in _ALIASES[k]}
    return any(_norm_header(str(c)) in coord for row in rows[:10] for c in row if c is not None)


def _pick_sheet(path: Path, sheet: str | int | None) -> tuple[str | int, list[str]]:
    """The sheet to read and messages: ``sheet`` if given, else the one with coordinates."""
    with pd.ExcelFile(path) as book:
        return _pick_sheet_in(book, path, sheet)


def _chosen_part(
    choice: str | int, names: list[str], *, path: Path, listing: str, kind: str
) -> str:
    """The sheet or layer (``kind``) a caller chose, by its name or by its number from 0."""
    if isinstance(choice, int) or (choice.isdigit() and choice not in names):
        k = int(choice)
        if not 0 <= k < len(names):
            raise InvalidInputError(
                f"{_CALLER}: {path.name} has {len(names)} {kind}(s): {listing}; {kind} {k} "
                f"does not exist ({kind}s are numbered from 0)."
            )
        return names[k]
    if choice not in names:
        raise InvalidInputError(
            f"{_CALLER}: {path.name} has no {kind} {choice!r}; its {kind}s: {listing}."
        )
    return choice


def _pick_sheet_in(
    book: pd.ExcelFile, path: Path, sheet: str | int | None
) -> tuple[str | int, list[str]]:
    names = [str(n) for n in book.sheet_names]
    listing = ", ".join(repr(n) for n in names)
    if sheet is not None:
        return _chosen_part(sheet, names, path=path, listing=listing, kind="sheet"), []
    if len(names) <= 1:
        return 0, []
    heads = pd.read_excel(book, sheet_name=None, header=None, nrows=10, dtype=object)
    found = [
        n
        for n in names
        if _has_coord_header(heads[n].astype(object).where(heads[n].notna(), None).values.tolist())
    ]
    if len(found) == 1:
        msg = (
            []
            if found[0] == names[0]
            else [
                f"data read from sheet {found[0]!r}, the only one of {listing} with coordinate "
                "columns (choose another with sheet= / --sheet)"
            ]
        )
        return found[0], msg
    if len(found) > 1:
        raise InvalidInputError(
            f"{_CALLER}: {path.name} has several sheets with coordinate columns "
            f"({', '.join(repr(n) for n in found)}); choose one with sheet= (CLI: --sheet NAME)."
        )
    return 0, []


def _read_excel(path: Path, sheet: str | int | None = None) -> tuple[pd.DataFrame, list[str]]:
    which, messages = _pick_sheet(path, sheet)
    raw = pd.read_excel(path, sheet_name=which, header=None, dtype=object)
    raw = raw.astype(object).where(raw.notna(), None)
    skip = _header_row(raw.head(10).to_numpy().tolist())
    names = [
        f"{_UNNAMED}{j}" if c is None or not str(c).strip() else str(c).strip()
        for j, c in enumerate(raw.iloc[skip].tolist() if len(raw) else [])
    ]
    _check_unique_header(names, path)  # as for CSV: never a silent '.1' rename
    frame = raw.iloc[skip + 1 :].reset_index(drop=True)
    frame.columns = names
    frame = _drop_empty_unnamed(frame)
    frame.attrs["header_line"] = skip + 1
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame, messages


_POINT_TYPES = {"point", "multipoint", "point z", "multipoint z", "3d point", "3d multipoint"}


def _pick_layer(path: Path, layer: str | int | None) -> tuple[str | int | None, list[str]]:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # not a multi-layer source (or unreadable: the read says why)
        return layer, []
    names = [str(n) for n, _ in layers]
    kinds = {str(n): str(t) if t is not None else "no geometry" for n, t in layers}
    listing = ", ".join(f"{n!r} ({kinds[n]})" for n in names)
    if layer is not None:
        return _chosen_part(layer, names, path=path, listing=listing, kind="layer"), []
    if len(names) <= 1:
        return None, []
    points = [n for n in names if kinds[n].lower() in _POINT_TYPES]
    if len(points) == 1:
        return points[0], [
            f"read layer {points[0]!r}, the only point layer of {listing} (choose another with "
            "layer= / --layer)"
        ]
    raise InvalidInputError(
        f"{_CALLER}: {path.name} has {len(names)} layers: {listing}; "
        + ("several hold points" if points else "none holds points")
        + "; choose one with layer= (CLI: --layer NAME)."
    )


def _read_geo(
    path: Path, suffix: str, layer: str | int | None = None
) -> tuple[gpd.GeoDataFrame | pd.DataFrame, list[str]]:
    messages: list[str] = []
    if suffix in _PARQUET_SUFFIXES:
        try:
            frame: gpd.GeoDataFrame | pd.DataFrame = gpd.read_parquet(path)
        except ValueError as exc:  # plain Parquet without 'geo' metadata
            if "geo" not in str(exc).lower():
                raise
            frame = pd.read_parquet(path)
    else:
        if suffix == ".shp":
            messages += _shapefile_parts(path)
        which, messages_layer = _pick_layer(path, layer)
        messages += messages_layer
        frame = gpd.read_file(path, layer=which) if which is not None else gpd.read_file(path)
    frame.columns = [str(c).strip() if c != "geometry" else c for c in frame.columns]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame, messages


def _shapefile_parts(path: Path) -> list[str]:
    """Say which of a Shapefile's sidecar files are missing (never a silent attribute loss)."""
    present = {q.name.lower() for q in path.parent.iterdir()} if path.parent.exists() else set()
    stem = path.stem.lower()
    if f"{stem}.shx" not in present:
        raise InvalidInputError(
            f"{_CALLER}: {path.name} has no {path.stem}.shx beside it (the Shapefile index); copy "
            "all the files of the Shapefile (.shp, .shx, .dbf, .prj) into one folder."
        )
    out = []
    if f"{stem}.dbf" not in present:
        out.append(
            f"{path.name} has no {path.stem}.dbf beside it: its features have no attributes "
            "(no id, name, category, dates); copy the .dbf next to the .shp to keep them"
        )
    if f"{stem}.prj" not in present:
        out.append(
            f"{path.name} has no {path.stem}.prj (its CRS): the coordinates are read as degrees "
            "in the datum given by datum="
        )
    return out


# --------------------------------------------------------------------------------------------
# Column mapping
# --------------------------------------------------------------------------------------------


def _norm_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _map_columns(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, path: Path
) -> dict[str, str]:
    have = [c for c in frame.columns if c != "geometry"]
    mapping: dict[str, str] = {}
    if columns:
        unknown = sorted(set(columns) - set(_KEYS))
        if unknown:
            raise InvalidInputError(
                f"{_CALLER}: columns= has unknown field(s) {unknown}; use any of "
                f"{', '.join(_KEYS)}, e.g. columns={{'lon': '经度', 'lat': '纬度'}}."
            )
        for key, col in columns.items():
            if col not in frame.columns:
                raise InvalidInputError(
                    f"{_CALLER}: columns={{'{key}': '{col}'}} but {path.name} has no column "
                    f"'{col}'; it has: {', '.join(map(str, have))}."
                )
            mapping[key] = col
    used = set(mapping.values())
    normed = {_norm_header(c): c for c in reversed(have)}  # first occurrence wins
    for key in _KEYS:
        if key in mapping:
            continue
        for alias in _ALIASES[key]:
            found = normed.get(_norm_header(alias))
            if found is not None and found not in used:
                mapping[key] = found
                used.add(found)
                break
    return mapping


# --------------------------------------------------------------------------------------------
# Value parsing (vectorised with pyarrow.compute; Python only for the rejected rows)
# --------------------------------------------------------------------------------------------

_PH = pa.array(sorted(_PLACEHOLDERS))


def _int_text(v: object) -> object:
    if isinstance(v, float) and np.isfinite(v) and v.is_integer():
        return str(int(v))
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _arrow_text(values: pd.Series) -> pa.Array:
    """Trimmed UTF-8 strings, null for blanks and placeholders ('-', 'NA', '暂无', ...)."""
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values):
        arr = pa.array(values)
    elif pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        arr = pc.cast(pa.array(values), pa.string())
    else:  # object (Excel, geo files) or floats: integer-valued floats lose their '.0'
        arr = pa.array([_int_text(v) for v in values.astype(object)], type=pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(
        pc.is_in(pc.utf8_lower(arr), value_set=_PH), pa.nulls(len(arr), arr.type), arr
    )


def _text_series(arr: pa.Array, index: pd.Index, fill: str | None = None) -> pd.Series:
    out = pd.Series(arr, index=index, dtype=pd.StringDtype("pyarrow"))
    return out if fill is None else out.fillna(fill)


#: a whole number written with thousands separators: 1.200 / 1,200 / 1 200 / 1'200
_GROUPED_COUNT = "\\s*\\d{1,3}(?:[.,' \u00a0\u202f]\\d{3})+\\s*"


def _parse_numbers(
    values: pd.Series, *, decimal_comma: bool = False, count: bool = False
) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(float64 values, blank mask, text) of a raw column; unparseable entries are NaN.

    Thousands separators ("1,200") are removed; with ``decimal_comma`` (a file delimited by
    ';', tab or '|', as European spreadsheets export) "121,55" reads as 121.55 instead. A
    ``count`` (a headcount) is a whole number, so digits grouped in threes by a dot, comma,
    space or apostrophe ("1.200", "1,200", "1 200") read as thousands in either convention.
    """
    if count and not pd.api.types.is_numeric_dtype(values.dtype):
        text = values.astype(pd.StringDtype("pyarrow"))
        arr = pa.array(text)
        grouped = pc.fill_null(pc.match_substring_regex(arr, f"^(?:{_GROUPED_COUNT})$"), False)
        if pc.any(grouped).as_py():
            digits = pc.replace_substring_regex(arr, r"\D", "")
            values = pd.Series(pc.if_else(grouped, digits, arr), index=values.index).astype(
                pd.StringDtype("pyarrow")
            )
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        return arr, np.isnan(arr), values.astype("string")
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values):
        try:  # fast path: clean numeric text (blank cells are null already)
            raw = pc.utf8_trim_whitespace(pa.array(values))
            fast = pc.cast(
                pc.if_else(pc.equal(raw, ""), pa.nulls(len(raw), raw.type), raw), pa.float64()
            )
            nums = np.asarray(fast.to_numpy(zero_copy_only=False), dtype=float)
            return nums, np.isnan(nums), values.astype("string")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    text = _arrow_text(values)
    blank = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)
    series = _text_series(text, values.index)
    try:
        nums = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        wide = _text_series(pc.utf8_normalize(text, "NFKC"), values.index)  # full-width digits
        if decimal_comma:
            cleaned = wide.astype(object).str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
        else:
            cleaned = wide.astype(object).str.replace(r"(?<=\d),(?=\d{3}\b)", "", regex=True)
        nums = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    nums = np.where(blank, np.nan, np.asarray(nums, dtype=float))
    return nums, blank, series


def _int_field(matches: Any, k: int) -> np.ndarray:
    """Group ``k`` of ``pc.extract_regex`` matches as float64 (NaN where absent)."""
    arr = pc.struct_field(matches, [k])
    arr = pc.if_else(pc.equal(arr, ""), pa.nulls(len(arr), pa.string()), arr)
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _parse_years(values: pd.Series) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """Years (Int64, 1800-2100) from dates, years, '2010年5月', '20100501', '5/1/2010'."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.year.astype("Int64"), np.zeros(len(values), bool), values.astype("string")
    if pd.api.types.is_object_dtype(values.dtype) and len(values):
        stamps = [v.year if hasattr(v, "year") and not isinstance(v, str) else None for v in values]
        if any(s is not None for s in stamps):  # Excel cells holding dates
            values = pd.Series(
                [s if s is not None else v for s, v in zip(stamps, values, strict=True)],
                index=values.index,
                dtype=object,
            )
    text = _arrow_text(values)
    first = pc.match_substring_regex(text, _YEAR_RE)
    year = pc.if_else(first, pc.utf8_slice_codeunits(text, 0, 4), pa.nulls(len(text), pa.string()))
    us = pc.struct_field(pc.extract_regex(text, _US_DATE_RE), [0])
    year = pc.coalesce(year, pc.if_else(pc.is_valid(us), us, pa.nulls(len(text), pa.string())))
    years = pd.Series(pc.cast(year, pa.int64()), index=values.index, dtype="Int64")
    in_range = years.between(1800, 2100).fillna(False).to_numpy(dtype=bool)
    # A date with a month or day that cannot exist ('2015-13-45') is not a year of 2015.
    md = pc.extract_regex(text, _MONTH_DAY_RE)
    month, day = _int_field(md, 0), _int_field(md, 1)
    with np.errstate(invalid="ignore"):
        impossible = ((month < 1) | (month > 12)) | ((day < 1) | (day > 31))
    float_year = np.asarray(
        pc.fill_null(pc.match_substring_regex(text, r"^\d{4}\.0+$"), False), bool
    )
    in_range &= ~(np.nan_to_num(impossible, nan=0).astype(bool) & ~float_year)
    bad = pc.is_valid(text).to_numpy(zero_copy_only=False) & ~in_range
    return (
        years.where(in_range, pd.NA).astype("Int64"),
        np.asarray(bad, bool),
        _text_series(text, values.index),
    )


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class _Reasons:
    """Reasons per row position; text is only built for the rows it applies to."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.text: dict[int, str] = {}

    def add(
        self, mask: np.ndarray, what: str | pd.Series | np.ndarray, template: str = "{}"
    ) -> None:
        pos = np.flatnonzero(mask)
        if not len(pos):
            return
        self.bad[pos] = True
        if isinstance(what, str):
            texts = [what] * len(pos)
        else:
            picked = what[pos] if isinstance(what, np.ndarray) else what.iloc[pos]
            texts = [template.format(_fmt(v)) for v in picked.tolist()]
        for p, t in zip(pos.tolist(), texts, strict=True):
            self.text[p] = f"{self.text[p]}; {t}" if p in self.text else t


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------


def _resolve_crs(
    datum: str | None, crs: str | pyproj.CRS | None, *, stacklevel: int = 3
) -> tuple[str, pyproj.CRS | None]:
    """``(datum, None)`` for degrees in a datum, else ``("wgs84", the declared CRS)``.

    ``stacklevel`` points the deprecation warning of ``crs=<datum>`` at the public caller
    (3: the caller of the function that calls this one).
    """
    datum, crs = split_datum_crs(datum, crs, caller=_CALLER, stacklevel=stacklevel)
    if crs is None:
        return datum, None
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InvalidInputError(
            f"{_CALLER}: crs={crs!r} is not a CRS pyproj knows (e.g. 'EPSG:32651' for x/y "
            f"columns in metres). The datum of longitude/latitude columns is datum=, one of "
            f"{', '.join(DATUMS)}: Amap/Tencent exports are 'gcj02', Baidu 'bd09', GPS and "
            "OpenStreetMap 'wgs84'."
        ) from None
    if parsed.is_geographic and parsed.to_epsg() in (4326, 4490):
        return datum, None
    if datum != "wgs84":
        raise InvalidInputError(
            f"{_CALLER}: datum={datum!r} applies to longitude/latitude degrees, but crs={crs!r} "
            f"declares {parsed.name}; give datum= for degrees or crs= for other coordinates, "
            "not both."
        )
    return "wgs84", parsed


def _raw_coordinates(
    frame: pd.DataFrame, mapping: dict[str, str], path: Path
) -> tuple[pd.Series, pd.Series, pd.Series | None]:
    """Raw lon and lat columns (and geometry-missing mask for geo files)."""
    geom = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else None
    if geom is not None and "lon" not in mapping and "location" not in mapping:
        missing = geom.isna() | geom.is_empty
        pts = geom.where(missing | (geom.geom_type == "Point"), geom.representative_point())
        xs = pd.Series(np.nan, index=frame.index, dtype=object)
        ys = pd.Series(np.nan, index=frame.index, dtype=object)
        ok = ~missing.to_numpy()
        xs[ok] = pts[ok].x.to_numpy()
        ys[ok] = pts[ok].y.to_numpy()
        return (
            xs.where(ok, None),
            ys.where(ok, None),
            pd.Series(missing.to_numpy(), index=frame.index),
        )
    if "lon" in mapping and "lat" in mapping:
        return frame[mapping["lon"]], frame[mapping["lat"]], None
    if "location" in mapping:
        loc = _text_series(_arrow_text(frame[mapping["location"]]), frame.index)
        parts = loc.astype(object).str.split(r"\s*[,，;]\s*", n=1, expand=True, regex=True)
        if parts.shape[1] < 2:
            parts[1] = None
        # A blank cell is a missing coordinate pair, not a non-numeric value.
        parts = parts.astype(object).where(parts.notna(), None)
        return parts[0], parts[1], None
    found = ", ".join(map(str, (c for c in frame.columns if c != "geometry")))
    half = (
        "only a longitude column"
        if "lon" in mapping
        else ("only a latitude column" if "lat" in mapping else "no coordinate columns")
    )
    raise InvalidInputError(
        f"{_CALLER}: {path.name} has {half}. Expected lon/lng/longitude/经度 and "
        f"lat/latitude/纬度 (or 'location' holding 'lon,lat'); the file has: {found}. Name them "
        "with columns=, e.g. columns={'lon': 'X坐标', 'lat': 'Y坐标'} (CLI: --columns lon=X坐标,lat=Y坐标)."
    )


def _check_axes(lon: np.ndarray, lat: np.ndarray, mapping: dict[str, str], path: Path) -> None:
    """Fail the whole file when lat/lon look swapped or the numbers are metres, not degrees."""
    ok = np.isfinite(lon) & np.isfinite(lat) & ~((lon == 0) & (lat == 0))
    if ok.sum() < 3:
        return
    lat_out = np.mean(np.abs(lat[ok]) > 90.0)
    lon_fits_lat = np.mean(np.abs(lon[ok]) <= 90.0)
    lo, la = mapping.get("lon", "lon"), mapping.get("lat", "lat")
    if lat_out > 0.5 and lon_fits_lat > 0.5:
        if "location" in mapping and "lon" not in mapping:
            fix = (
                f"the column '{mapping['location']}' seems to hold 'lat,lon' instead of "
                "'lon,lat'; split it into two columns and pass columns={'lon': ..., 'lat': ...}."
            )
        else:
            fix = (
                f"if the headers are swapped, pass columns={{'lon': '{la}', 'lat': '{lo}'}} "
                f"(CLI: --columns lon={la},lat={lo})."
            )
        raise InvalidInputError(
            f"{_CALLER}: the latitude and longitude columns of {path.name} look swapped: "
            f"{lat_out:.0%} of the values read as latitude are outside [-90, 90] while "
            f"{lon_fits_lat:.0%} of those read as longitude fit as latitudes; {fix}"
        )
    if np.mean((np.abs(lon[ok]) > 180.0) | (np.abs(lat[ok]) > 90.0)) > 0.5:
        med = f"{np.median(lon[ok]):.0f}, {np.median(lat[ok]):.0f}"
        raise CRSError(
            f"{_CALLER}: most coordinates of {path.name} are outside the range of degrees "
            f"(median {med}); they look like metres in a projected CRS. Pass it as crs=, e.g. "
            "crs='EPSG:32651' (UTM 51N) or crs='EPSG:4550' (CGCS2000 3-degree zone 41, CM "
            "123E) (CLI: --crs EPSG:32651)."
        )


def _blank_cell(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or bool(pd.isna(v))


def _drop_trailing_blank(frame: pd.DataFrame, after: int = 0) -> tuple[pd.DataFrame, int]:
    """Drop the rows after the last one with any content; (frame, number dropped).

    Blank rows inside the table stay and are rejected with a reason: they may be a record
    whose cells were lost. Only the tail, which spreadsheets pad with ',,,' lines, is cut.
    """
    if isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        return frame, 0
    n = len(frame)
    k = 0
    rows = frame.index.to_numpy()
    while (
        k < n
        and rows[n - 1 - k] > after
        and all(_blank_cell(v) for v in frame.iloc[n - 1 - k].tolist())
    ):
        k += 1
    if k == 0:
        return frame, 0
    out = frame.iloc[: n - k]
    out.attrs = dict(frame.attrs)
    return out, k


def _notes(
    frame: pd.DataFrame, mapping: dict[str, str], datum: str, declared: bool
) -> tuple[str, ...]:
    notes: list[str] = []
    line = int(frame.attrs.get("header_line", 1))
    if line > 1:
        notes.append(
            f"the header is on line {line} (title lines above it were skipped); rejected rows "
            "are numbered from the first line below the header"
        )
    if declared or (isinstance(frame, gpd.GeoDataFrame) and "lon" not in mapping):
        return tuple(notes)
    heads = " ".join(_norm_header(mapping.get(k, "")) for k in ("lon", "lat", "location"))
    cols = {_norm_header(c) for c in frame.columns}
    hint = None
    if re.search(r"gcj|mars|amap|高德", heads) or (
        "location" in mapping and ("typecode" in cols or "adname" in cols or "pname" in cols)
    ):
        hint = "gcj02"
    elif re.search(r"bd09|bd_|baidu|百度", heads):
        hint = "bd09"
    elif re.search(r"wgs", heads):
        hint = "wgs84"
    if hint is not None and hint != datum and (hint, datum) != ("bd09", "bd09mc"):
        notes.append(
            f"the coordinate columns look like {hint.upper()} (headers {heads.strip()!r}) but "
            f"were read as {datum.upper()}; if they are {hint.upper()}, pass datum='{hint}' "
            f"(CLI: --datum {hint}) - the two differ by about 500 m in China"
        )
    return tuple(notes)


def read_establishments(
    path: str | os.PathLike[str],
    *,
    datum: str | None = None,
    crs: str | pyproj.CRS | None = None,
    columns: Mapping[str, str] | None = None,
    layer: str | int | None = None,
    sheet: str | int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> LoadResult:
    r"""Read a firm or POI table into the canonical establishments table.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV/TXT (UTF-8 with or without BOM, GBK/GB18030, UTF-16 with or without BOM,
        decoded strictly, never by a guessed code page; delimiter ``,``, tab, ``;`` or
        ``|``, sniffed), Excel (.xlsx), GeoJSON, GeoPackage, Shapefile, FlatGeobuf,
        (Geo)Parquet, an OpenStreetMap ``.osm.pbf`` extract (see
        :func:`clusterscape.io.osm.read_osm_pbf`), or Amap/Baidu place-search API responses:
        a ``.json`` response or ``.jsonl`` lines of them (see
        :func:`clusterscape.io.apijson.read_api_responses`). In CSV and Excel, title lines above the
        header (up to 9) are skipped: the header is the row naming a coordinate column and
        the most known columns.
    datum : {"wgs84", "gcj02", "bd09", "bd09mc"}, optional
        Datum of longitude/latitude coordinates: ``"wgs84"`` (the default; GPS,
        OpenStreetMap, CGCS2000), ``"gcj02"`` (Amap, Tencent) or ``"bd09"`` (Baidu);
        ``"bd09mc"`` for Baidu Mercator x/y metres. Degree files (EPSG:4326 is what GeoJSON
        always claims) are read in this datum. Amap and Baidu API responses (``.json``/
        ``.jsonl``, see :mod:`clusterscape.io.apijson`) default to their provider's datum.
    crs : str or pyproj.CRS, optional
        A coordinate reference system for coordinates that are not WGS-84 degrees, such as
        ``"EPSG:32651"`` for x/y columns in metres. A projected CRS declared inside a
        GeoPackage, GeoJSON, Shapefile or GeoParquet file is honoured and reprojected to
        EPSG:4326 without it. A datum name given as ``crs`` (``crs="gcj02"``) still works
        for one release and emits a :class:`DeprecationWarning`; use ``datum=``.
    columns : mapping, optional
        Canonical field -> file column, overriding the automatic header mapping. Fields:
        ``id, name, category, code, opened, closed, employees, lon, lat, location`` (the last
        one a column holding ``"lon,lat"`` text, as Amap exports).
    layer : str or int, optional
        GeoPackage/GeoJSON layer (name or 0-based number). By default the only layer, or
        the only point layer of several; otherwise the file is refused listing its layers.
    sheet : str or int, optional
        Excel sheet (name or 0-based number). By default the first sheet, or the only sheet
        with a coordinate header; several such sheets are refused with their names.
    progress : callable, optional
        ``progress(stage, done, total)`` called while reading (bytes read for files over
        64 MB, then bytes parsed); the CLI draws a bar from it once a read takes > 1 s.

    Returns
    -------
    LoadResult
        ``.establishments`` (EPSG:4326 GeoDataFrame, canonical columns first), ``.rejected``
        (``row, id, reason``), ``.notes`` (``row, id, field, value, note``),
        ``.duplicates``, ``.messages``, ``.source_crs``, ``.path``, ``.n_rows`` (always
        accepted + rejected), ``.columns``.

    Raises
    ------
    InvalidInputError
        When the file cannot be read at all: missing, a FIFO/device/directory, a looping or
        dangling symbolic link, unsupported type, binary content, undecodable header,
        duplicate column names, an ambiguous layer/sheet, no coordinate columns, or
        latitude/longitude that look swapped (the message says how to fix it).

    Notes
    -----
    Rows are rejected, never dropped silently, for: malformed records (wrong field count; a
    quote that does not close costs its line only, reading goes on with the next line),
    cells over 1 MiB, undecodable bytes (named by line and byte offset), missing or
    non-numeric coordinates, latitude outside [-90, 90] or longitude outside [-180, 180],
    0/0 placeholders and a longitude or latitude of exactly 0 (a blank cell exported as 0).
    A duplicate id costs the id, not the firm: the first occurrence among otherwise valid
    rows keeps it, a later row is kept as ``"<id>#<row>"`` (its file row) and listed in
    ``notes`` (``field == "id"``, the original id as ``value``). A bad field
    costs the field, not the firm: headcounts that are not numbers, negative or implausible,
    dates that are not dates, years outside 1800–2100 and a closing year before the opening
    year are left blank and listed in ``notes``; ``"50人"``, ``"约50"``, Excel date serials,
    ``"March 2015"``, ``"1.3.2015"``, ``"3/2015"`` and ``"二〇一五年三月"`` are read. Rows
    without an id that repeat an earlier row cell for cell are kept and counted
    (``duplicates``, listed in ``notes``). Dates are reduced to years (1800–2100). Blank values and placeholders such as ``"-"``, ``"NA"``,
    ``"暂无"`` count as missing. Numbers may use thousands separators (``"1,200"``), full-
    width digits, or decimal commas in files delimited by ``;``/tab/``|``. Non-point
    geometries are reduced to a representative point. Points outside the study area are
    kept; clipping is the study's job. Headers that suggest another datum than ``datum`` (e.g.
    an Amap export read as WGS-84) are reported in ``LoadResult.messages``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "firms.csv"
    >>> _ = p.write_text("名称,经度,纬度\n甲,121.55,29.87\n乙,,29.9\n", encoding="gbk")
    >>> res = read_establishments(p, datum="gcj02")
    >>> len(res.establishments), res.rejected.loc[0, "reason"]
    (1, 'missing coordinates: longitude is empty')
    """
    p = Path(path)
    _check_path(p)
    suffix = p.suffix.lower()
    if p.name.lower().endswith(".osm.pbf"):
        from clusterscape.io.osm import load_osm_pbf

        res = load_osm_pbf(p, columns=columns)
        given, declared = _resolve_crs(datum, crs)
        if (given, declared) != ("wgs84", None):
            what = f"crs={crs!r}" if declared is not None else f"datum={given!r}"
            res = dataclasses.replace(
                res,
                messages=(
                    *res.messages,
                    f"OpenStreetMap coordinates are WGS-84; {what} was not applied",
                ),
            )
        return res
    if suffix in _JSONL_SUFFIXES or (suffix == ".json" and _api_json(p)):
        from clusterscape.io.apijson import read_api_responses

        return read_api_responses(p, datum=datum, crs=crs, columns=columns, progress=progress)
    datum, declared = _resolve_crs(datum, crs)
    if layer is not None and suffix not in _GEO_SUFFIXES:
        raise InvalidInputError(
            f"{_CALLER}: layer={layer!r} applies to GeoPackage/GeoJSON/Shapefile files, not "
            f"{p.name}."
        )
    if sheet is not None and suffix not in _EXCEL_SUFFIXES:
        raise InvalidInputError(f"{_CALLER}: sheet={sheet!r} applies to Excel files, not {p.name}.")
    bad_rows: list[tuple[int, str]] = []
    messages: list[str] = []
    try:
        if suffix in _TEXT_SUFFIXES:
            frame, bad_rows, messages = _read_text(p, progress)
        elif suffix in _EXCEL_SUFFIXES:
            frame, messages = _read_excel(p, sheet)
        elif suffix in _GEO_SUFFIXES | _PARQUET_SUFFIXES:
            frame, messages = _read_geo(p, suffix, layer)
        else:
            raise InvalidInputError(
                f"{_CALLER}: cannot read {p.name}: unsupported file type '{p.suffix}'. Use CSV/"
                "TSV, Excel .xlsx, GeoJSON, GeoPackage, Shapefile, (Geo)Parquet or .osm.pbf."
            )
    except InvalidInputError:
        raise
    except MemoryError:
        raise InvalidInputError(
            f"{_CALLER}: {p.name} does not fit in memory; split it or use --engine dask."
        ) from None
    except Exception as exc:
        raise InvalidInputError(
            f"{_CALLER}: cannot read {p.name} as a {suffix.lstrip('.') or 'data'} file "
            f"({type(exc).__name__}: {_short(exc)}). Is the file complete and of the type its "
            "name says?"
        ) from exc

    return _validate(
        frame,
        columns=columns,
        datum=datum,
        declared=declared,
        path=p,
        bad_rows=bad_rows,
        messages=messages,
        progress=progress,
    )


def validate_frame_core(
    frame: pd.DataFrame,
    *,
    datum: str | None = None,
    crs: str | pyproj.CRS | None = None,
    columns: Mapping[str, str] | None = None,
    source: str = "table",
) -> LoadResult:
    """Validate a table already in memory through the file reader's checks (no temporary file).

    ``frame`` is a DataFrame or GeoDataFrame as a reader would have parsed it from a file; its
    rows are numbered from 1, and a GeoDataFrame's geometry and declared CRS are honoured
    exactly as in a GeoPackage or GeoParquet file. ``datum`` and ``crs`` are as in
    :func:`read_establishments`.
    """
    datum, declared = _resolve_crs(datum, crs)
    frame = frame.copy(deep=False)
    frame.columns = [str(c).strip() if c != "geometry" else c for c in frame.columns]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return _validate(
        frame,
        columns=columns,
        datum=datum,
        declared=declared,
        path=Path(source),
        bad_rows=[],
        messages=[],
        progress=None,
    )


def _validate(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None,
    datum: str,
    declared: pyproj.CRS | None,
    path: Path,
    bad_rows: list[tuple[int, str]],
    messages: list[str],
    progress: Callable[[str, int, int], None] | None,
) -> LoadResult:
    """The validation core shared by files and in-memory tables: map, check, assemble."""
    p = path
    if progress is not None:
        progress("validating", 0, max(len(frame), 1))
    mapping = _map_columns(frame, columns, p)
    explicit = set(columns or ())
    if isinstance(frame, gpd.GeoDataFrame) and not explicit & {"lon", "lat", "location"}:
        # A geometry column wins over attribute columns such as centroid_lon/centroid_lat,
        # which are then kept as ordinary columns.
        for key in ("lon", "lat", "location"):
            mapping.pop(key, None)
    source_crs = datum if declared is None else declared.to_string()
    target_crs = declared
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None and "lon" not in mapping:
        file_crs = frame.crs
        if not (file_crs.is_geographic and file_crs.to_epsg() in (4326, 4490, None)):
            if datum != "wgs84":
                raise CRSError(
                    f"{_CALLER}: {p.name} declares CRS {file_crs.to_string()}, so datum={datum!r} "
                    "(a GCJ-02/BD-09 degree datum) cannot apply. Drop datum= to use the file's "
                    "CRS."
                )
            source_crs, target_crs = file_crs.to_string(), file_crs
    # blank lines after the last record (rejected ones included) are padding, not rows
    frame, trailing = _drop_trailing_blank(frame, after=max((r for r, _ in bad_rows), default=0))
    notes = tuple(messages) + _notes(
        frame, mapping, datum, declared is not None or target_crs is not None
    )
    if trailing:
        notes += (
            f"{trailing} empty line{'s' if trailing > 1 else ''} at the end of the file "
            "(every cell blank, as spreadsheets export) ignored",
        )
    result = _assemble(
        frame,
        mapping,
        bad_rows,
        datum=datum,
        target_crs=target_crs,
        source_crs=source_crs,
        path=p,
    )
    result = apply_registry(result, frame, mapping)  # registry exports: uscc, status, capital
    if progress is not None:
        progress("validating", max(len(frame), 1), max(len(frame), 1))
    return dataclasses.replace(result, messages=notes) if notes else result


def _api_json(p: Path) -> bool:
    from clusterscape.io.apijson import looks_like_api_response

    return looks_like_api_response(p)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _check_path(p: Path, caller: str = _CALLER) -> None:
    """Refuse what is not a readable regular file, with one clear line (never block)."""
    try:
        st = p.stat()
    except OSError as exc:
        if p.is_symlink():
            if exc.errno == errno.ELOOP:
                raise InvalidInputError(
                    f"{caller}: {p} is a symbolic link that loops back on itself (ELOOP); "
                    "point it at the real file."
                ) from None
            raise InvalidInputError(
                f"{caller}: {p} is a symbolic link to {os.readlink(p)}, which does not exist."
            ) from None
        if exc.errno == errno.ELOOP:
            raise InvalidInputError(
                f"{caller}: {p}: a symbolic link in the path loops (ELOOP)."
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InvalidInputError(f"{caller}: {p}: permission denied.") from None
        raise InvalidInputError(f"{caller}: {p} does not exist. Check the path.") from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{caller}: {p} is a directory; give a file.")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
        )
        raise InvalidInputError(
            f"{caller}: {p} is {kind}, not a regular file; reading it could block forever. "
            "Save the data to a file first."
        )
    if not os.access(p, os.R_OK):
        raise InvalidInputError(f"{caller}: {p}: permission denied.")


def validate_table(
    frame: pd.DataFrame,
    *,
    datum: str | None = None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    first_row: int = 1,
    source: str = "table",
    rows: np.ndarray | None = None,
    duplicates: bool = True,
) -> LoadResult:
    """Validate rows already in memory exactly as :func:`read_establishments` validates a file's.

    For engines that read the file themselves (the dask engine, chunk by chunk): the same
    column mapping, parsing, checks, datum conversion and ``rejected`` reasons, without a
    temporary file. ``first_row`` is the 1-based data row of the table's first row, so that a
    chunk's rejected rows carry their row in the whole file; ``rows`` instead gives each row's
    number (a chunk of a file whose malformed records were set aside). ``datum`` is the
    degree datum (``wgs84``, the default, ``gcj02``, ``bd09``; ``crs=<datum>`` is the
    deprecated spelling). Duplicate ids and exact duplicate rows are only
    found within the table; ``duplicates=False`` leaves both to the caller (an engine that
    reads a file in chunks settles them over the whole file, see
    :func:`duplicate_id_label`).
    """
    datum = resolve_datum(datum, crs, caller=_CALLER)
    path = Path(source)
    frame = frame.copy(deep=False)
    if rows is not None:
        frame.index = pd.Index(np.asarray(rows, dtype=np.int64), name="row")
    else:
        frame.index = pd.RangeIndex(first_row, first_row + len(frame), name="row")
    mapping = _map_columns(frame, columns, path)
    result = _assemble(
        frame,
        mapping,
        [],
        datum=datum,
        target_crs=None,
        source_crs=datum,
        path=path,
        unique_ids=duplicates,
        exact_duplicates=duplicates,
    )
    return apply_registry(result, frame, mapping)


def duplicate_id_label(old_id: str, row: int) -> str:
    """The id a row gets when its id is already used by an earlier row: ``"<id>#<row>"``.

    ``row`` is the row's 1-based data row in the file, so the new id is unique in the file and
    says where the row is; the original id is kept in ``notes`` (``field == "id"``).
    """
    return f"{old_id}#{row}"


def duplicate_id_note(old_id: str, first_row: int, new_id: str) -> str:
    """The ``notes`` text for a duplicate id (see :func:`duplicate_id_label`)."""
    return f"duplicate id: '{old_id}' is already used by row {first_row}; kept as '{new_id}'"


def _assemble(
    frame: pd.DataFrame,
    mapping: dict[str, str],
    bad_rows: list[tuple[int, str]],
    *,
    datum: str,
    target_crs: pyproj.CRS | None,
    source_crs: str,
    path: Path,
    unique_ids: bool = True,
    exact_duplicates: bool = True,
) -> LoadResult:
    n = len(frame)
    rows = frame.index.to_numpy()
    why = _Reasons(n)

    raw_lon, raw_lat, geom_missing = _raw_coordinates(frame, mapping, path)
    comma = frame.attrs.get("delimiter", ",") != ","
    lon, lon_blank, lon_txt = _parse_numbers(raw_lon, decimal_comma=comma)
    lat, lat_blank, lat_txt = _parse_numbers(raw_lat, decimal_comma=comma)
    if geom_missing is not None:
        why.add(geom_missing.to_numpy(), "missing coordinates: the feature has no geometry")
    else:
        both = lon_blank & lat_blank
        if both.any():
            cells = frame.iloc[np.flatnonzero(both)].drop(columns="geometry", errors="ignore")
            empty = np.zeros(n, dtype=bool)
            empty[np.flatnonzero(both)] = (
                (cells.isna() | cells.map(lambda v: isinstance(v, str) and not v.strip()))
                .all(axis=1)
                .to_numpy()
            )
            why.add(empty, "empty row: every cell is blank")
            both &= ~empty
        why.add(both, "missing coordinates: longitude and latitude are empty")
        why.add(lon_blank & ~lat_blank, "missing coordinates: longitude is empty")
        why.add(lat_blank & ~lon_blank, "missing coordinates: latitude is empty")
    why.add(~lon_blank & ~np.isfinite(lon), lon_txt, "non-numeric coordinates: longitude '{}'")
    why.add(~lat_blank & ~np.isfinite(lat), lat_txt, "non-numeric coordinates: latitude '{}'")
    coord_ok = np.isfinite(lon) & np.isfinite(lat)
    if datum in METRIC_DATUMS and target_crs is None:
        lon, lat, datum = _from_baidu_mercator(lon, lat, coord_ok, path)
    if target_crs is not None and coord_ok.any():
        tr = pyproj.Transformer.from_crs(target_crs, "EPSG:4326", always_xy=True)
        lon, lat = lon.copy(), lat.copy()
        lon[coord_ok], lat[coord_ok] = tr.transform(lon[coord_ok], lat[coord_ok])
        bad_proj = coord_ok & ~(np.isfinite(lon) & np.isfinite(lat))
        why.add(bad_proj, f"coordinates outside {source_crs}: they do not project to degrees")
        coord_ok &= ~bad_proj
    else:
        _check_axes(lon, lat, mapping, path)
    zero = coord_ok & (lon == 0) & (lat == 0)
    why.add(zero, "placeholder coordinates: longitude and latitude are 0/0")
    # A blank cell exported as 0 puts a firm on the equator or the prime meridian.
    lon0 = coord_ok & ~zero & (lon == 0)
    lat0 = coord_ok & ~zero & (lat == 0)
    why.add(lon0, "placeholder coordinates: longitude is exactly 0 (a blank cell exported as 0?)")
    why.add(lat0, "placeholder coordinates: latitude is exactly 0 (a blank cell exported as 0?)")
    why.add(
        coord_ok & ~zero & (np.abs(lat) > 90),
        lat,
        "latitude out of range: {} is outside [-90, 90]",
    )
    why.add(
        coord_ok & ~zero & (np.abs(lon) > 180),
        lon,
        "longitude out of range: {} is outside [-180, 180]",
    )

    # A field costs a field, not a firm: what cannot be read is left blank and noted.
    notes = _Notes()
    employees = np.full(n, np.nan)
    if "employees" in mapping:
        employees, emp_blank, emp_txt = _parse_numbers(
            frame[mapping["employees"]], decimal_comma=comma, count=True
        )
        employees = employees.copy()
        emp_bad = ~emp_blank & ~np.isfinite(employees)
        for p in np.flatnonzero(emp_bad).tolist():
            value = str(emp_txt.iloc[p])
            got, note = _headcount_fallback(value)
            if got is not None:
                employees[p] = got
            notes.add(p, "employees", value, note)
        neg = np.isfinite(employees) & (employees < 0)
        for p in np.flatnonzero(neg).tolist():
            notes.add(p, "employees", _fmt(float(employees[p])), "negative headcount; left blank")
        # More staff than the largest employers in China have in total is a typo or a unit slip.
        huge = np.isfinite(employees) & (employees > MAX_EMPLOYEES)
        for p in np.flatnonzero(huge).tolist():
            notes.add(
                p,
                "employees",
                _fmt(float(employees[p])),
                f"implausible headcount (more than {MAX_EMPLOYEES:,}); left blank",
            )
        employees = np.where(neg | huge, np.nan, employees)
    years: dict[str, pd.Series] = {}
    for key in ("opened", "closed"):
        if key in mapping:
            y, bad, txt = _parse_years(frame[mapping[key]])
            if bad.any():
                y = y.copy()
                for p in np.flatnonzero(bad).tolist():
                    value = str(txt.iloc[p])
                    got, note = _year_fallback(value)
                    if got is not None:
                        y.iloc[p] = got
                    if note:
                        notes.add(p, key, value, note)
            years[key] = y
        else:
            years[key] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    before = (years["closed"] < years["opened"]).fillna(False).to_numpy(dtype=bool)
    if before.any():
        for p in np.flatnonzero(before).tolist():
            cy, oy = int(years["closed"].iloc[p]), int(years["opened"].iloc[p])
            notes.add(p, "closed", str(cy), f"closed {cy} is before opened {oy}; closed left blank")
        years["closed"] = years["closed"].mask(pd.Series(before, index=frame.index))

    if "id" in mapping:
        ids = _text_series(_arrow_text(frame[mapping["id"]]), frame.index)
    else:
        ids = pd.Series(pd.NA, index=frame.index, dtype=pd.StringDtype("pyarrow"))
    has_id = ids.notna().to_numpy()
    cand = ~why.bad & has_id
    dup = np.zeros(n, dtype=bool)
    cand_ids = pa.array(ids[cand])
    if unique_ids and pc.count_distinct(cand_ids).as_py() < len(cand_ids):
        dup[cand] = ids[cand].duplicated(keep="first").to_numpy()
    if dup.any():
        # A repeated id costs the id, not the firm: the later row is kept under a new id.
        first = ids[cand & ~dup]
        first_row = pd.Series(rows[cand & ~dup], index=first.to_numpy())
        ids = ids.copy()
        for p in np.flatnonzero(dup).tolist():
            old_id = str(ids.iloc[p])
            new_id = duplicate_id_label(old_id, int(rows[p]))
            notes.add(p, "id", old_id, duplicate_id_note(old_id, int(first_row[old_id]), new_id))
            ids.iloc[p] = new_id
    ok = ~why.bad
    # Rows without an id that repeat an earlier row cell for cell are kept, counted and noted.
    same = _exact_duplicates(frame, ok & ~has_id) if exact_duplicates else {}
    for p, q in same.items():
        notes.add(
            p, "row", "", f"exact duplicate of row {rows[q]} (no id to tell them apart); kept"
        )

    bad_pos = np.flatnonzero(~ok)
    rejected = pd.DataFrame(
        {
            "row": np.concatenate([rows[bad_pos], [r for r, _ in bad_rows]]).astype("int64"),
            "id": [*ids.iloc[bad_pos].fillna("").tolist(), *[""] * len(bad_rows)],
            "reason": [*(why.text[p] for p in bad_pos.tolist()), *(t for _, t in bad_rows)],
        }
    )
    rejected = rejected.sort_values("row", kind="stable").reset_index(drop=True)
    rejected = rejected.astype({"id": "string", "reason": "string"})

    if datum != "wgs84" and ok.any():
        lon, lat = lon.copy(), lat.copy()
        lon[ok], lat[ok] = convert(lon[ok], lat[ok], src=datum, dst="wgs84")
    sel = np.flatnonzero(ok)
    all_ok = len(sel) == n

    def take(col: pd.Series) -> pd.Series:
        return (col if all_ok else col.iloc[sel]).reset_index(drop=True)

    text_dtype = pd.StringDtype("pyarrow")
    out_ids = take(ids)
    no_id = out_ids.isna().to_numpy()
    if no_id.any():
        labels = pd.Series(["row-" + str(r) for r in rows[sel][no_id]], index=np.flatnonzero(no_id))
        out_ids = out_ids.fillna(labels.astype(text_dtype))
    data: dict[str, pd.Series] = {"id": out_ids.astype(text_dtype)}
    for key in ("name", "category", "code"):
        if key in mapping:
            data[key] = take(_text_series(_arrow_text(frame[mapping[key]]), frame.index, fill=""))
        else:
            data[key] = pd.Series("", index=pd.RangeIndex(len(sel)), dtype=text_dtype)
    data["opened"] = take(years["opened"]).astype("Int64")
    data["closed"] = take(years["closed"]).astype("Int64")
    data["employees"] = pd.Series(employees[sel], dtype="Float64")
    out = pd.DataFrame(data)
    consumed = {c for k, c in mapping.items() if k != "code" or _norm_header(c) != "typecode"}
    others = [
        c for c in frame.columns if c not in consumed and c != "geometry" and c not in CANONICAL
    ]
    for c in others:
        out[c] = take(frame[c])
    gdf = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs="EPSG:4326")
    n_rows = n + len(bad_rows)
    if len(gdf) + len(rejected) != n_rows:  # pragma: no cover - the reader's invariant
        raise AssertionError(
            f"{_CALLER}: internal error: {n_rows} rows but {len(gdf)} accepted and "
            f"{len(rejected)} rejected"
        )
    return LoadResult(
        establishments=gdf[[*CANONICAL, *others]],
        rejected=rejected,
        source_crs=source_crs,
        path=path,
        n_rows=n_rows,
        columns=dict(mapping),
        notes=notes.frame(ok, rows, np.cumsum(ok) - 1, out_ids),
        duplicates=len(same),
        source_rows=rows[sel].astype("int64"),
    )


def _from_baidu_mercator(
    x: np.ndarray, y: np.ndarray, ok: np.ndarray, path: Path
) -> tuple[np.ndarray, np.ndarray, str]:
    """BD-09MC metres to BD-09 degrees (0 and non-finite values kept for the checks)."""
    live = ok & (x != 0) & (y != 0)
    if live.sum() >= 3 and np.mean((np.abs(x[live]) <= 180) & (np.abs(y[live]) <= 90)) > 0.5:
        raise InvalidInputError(
            f"{_CALLER}: datum='bd09mc' takes Baidu Mercator metres, but most coordinates of "
            f"{path.name} look like degrees; pass datum='bd09' (Baidu longitude/latitude)."
        )
    x, y = x.copy(), y.copy()
    if live.any():
        x[live], y[live] = convert(x[live], y[live], src="bd09mc", dst="bd09")
    return x, y, "bd09"


class _Notes:
    """Field-level notes by row position (kept rows only end up in the table)."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str, str, str]] = []

    def add(self, pos: int, field: str, value: str, note: str) -> None:
        self.items.append((pos, field, value, note))

    def frame(
        self, ok: np.ndarray, rows: np.ndarray, out_pos: np.ndarray, out_ids: pd.Series
    ) -> pd.DataFrame:
        kept = [it for it in self.items if ok[it[0]]]
        if not kept:
            return empty_notes()
        kept.sort(key=lambda it: (it[0], CANONICAL.index(it[1]) if it[1] in CANONICAL else 99))
        ids = out_ids.to_numpy(dtype=object)
        return pd.DataFrame(
            {
                "row": np.asarray([rows[p] for p, *_ in kept], dtype="int64"),
                "id": pd.array([str(ids[out_pos[p]]) for p, *_ in kept], dtype="string"),
                "field": pd.array([f for _, f, _, _ in kept], dtype="string"),
                "value": pd.array([v for _, _, v, _ in kept], dtype="string"),
                "note": pd.array([t for *_, t in kept], dtype="string"),
            }
        )


def _exact_duplicates(frame: pd.DataFrame, cand: np.ndarray) -> dict[int, int]:
    """{position: position of the first row it repeats} among the ``cand`` rows."""
    pos = np.flatnonzero(cand)
    if len(pos) < 2:
        return {}
    cells = pd.DataFrame(frame.iloc[pos].drop(columns="geometry", errors="ignore"))
    if isinstance(frame, gpd.GeoDataFrame):
        cells["__geometry__"] = frame.geometry.iloc[pos].to_wkb().to_numpy()
    try:
        h = pd.util.hash_pandas_object(cells, index=False).to_numpy()
    except TypeError:
        h = pd.util.hash_pandas_object(cells.astype(str), index=False).to_numpy()
    hs = pd.Series(h)
    dup = hs.duplicated(keep="first").to_numpy()
    if not dup.any():
        return {}
    first = pd.Series(np.arange(len(h))[~dup], index=h[~dup])
    out: dict[int, int] = {}
    for j in np.flatnonzero(dup).tolist():
        i = int(first[h[j]])
        a, b = cells.iloc[j].tolist(), cells.iloc[i].tolist()
        if all((x == y) or (_blank_cell(x) and _blank_cell(y)) for x, y in zip(a, b, strict=True)):
            out[int(pos[j])] = int(pos[i])
    return out


_CN_DIGITS = str.maketrans("〇零○Ｏ一二三四五六七八九", "0000123456789")
_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"
)  # fmt: skip


def _year_fallback(text: str) -> tuple[int | None, str]:
    """(year, note) for the date forms the vectorised pass does not read; note '' if clean.

    Excel day serials (``42064`` -> 2015), month names (``March 2015``), day-first and
    month/year forms (``1.3.2015``, ``3/2015``), Chinese numerals (``二〇一五年三月``).
    Years before 1800 or after 2100 are left blank with a note.
    """
    t = text.strip()
    low = t.lower()
    m = re.fullmatch(r"(\d{1,5})(?:\.0+)?", t)
    if m and len(m.group(1)) != 4:
        days = int(m.group(1))
        if 1 <= days <= 73050:  # Excel serials 1900-01-01 .. 2099-12-31
            d = pd.Timestamp("1899-12-30") + pd.Timedelta(days=days)
            return d.year, f"read as an Excel date serial ({d.date()})"
        return None, "not a date or a year; left blank"
    if re.fullmatch(r"\d{4}(?:\.0+)?", t):
        return None, f"year {int(float(t))} is outside 1800-2100; left blank"
    cn = t.translate(_CN_DIGITS)
    m = re.match(r"^(\d{4})\s*年", cn)
    if m and t != cn:
        y = int(m.group(1))
        return (
            (y, "") if 1800 <= y <= 2100 else (None, f"year {y} is outside 1800-2100; left blank")
        )
    m = re.fullmatch(r"\d{1,2}[./\-]\d{1,2}[./\-](\d{4})|\d{1,2}[./\-](\d{4})", t)
    if m:
        y = int(m.group(1) or m.group(2))
        return (
            (y, "") if 1800 <= y <= 2100 else (None, f"year {y} is outside 1800-2100; left blank")
        )
    if any(mon in low for mon in _MONTHS):
        m = re.search(r"(?<!\d)(\d{4})(?!\d)", t)
        if m and re.fullmatch(r"[a-z.,\s\d]+", low):
            y = int(m.group(1))
            if 1800 <= y <= 2100:
                return y, ""
    m = re.match(r"^(\d{4})", t)
    if m and not 1800 <= int(m.group(1)) <= 2100:
        return None, f"year {m.group(1)} is outside 1800-2100; left blank"
    return None, "not a date or a year; left blank"


_HEADCOUNT_RE = re.compile(
    r"(约|大约|近|超过|~|≈|about|approx\.?|ca\.?|c\.)?\s*"
    r"(\d{1,3}(?:,\d{3})+|\d+)\s*(?:人|名|位|people|persons|staff|employees)?\s*"
    r"(以上|左右|余|多|\+)?",
    re.IGNORECASE,
)


def _headcount_fallback(text: str) -> tuple[float | None, str]:
    """(headcount, note) for '50人', '约50', '100+'; (None, note) for 'many', ranges."""
    import unicodedata

    t = unicodedata.normalize("NFKC", text).strip()
    m = _HEADCOUNT_RE.fullmatch(t)
    if m:
        value = float(m.group(2).replace(",", ""))
        if m.group(1) or m.group(3):
            return value, f"approximate headcount read as {value:g}"
        return value, f"read as {value:g}"
    if re.fullmatch(r"\d+\s*[-~～至到]\s*\d+\s*(人|名)?", t):
        return None, "a headcount range, not a number; left blank"
    return None, "not a number; left blank"
