"""Strict decoding and record-exact parsing of delimited text files (CSV/TSV/TXT).

Two rules hold here, whatever the bytes:

* **Nothing is guessed.** A file is read as UTF-8 (with or without BOM), UTF-16 (BOM, or
  detected from its NUL bytes), or GB18030 (a superset of GBK). Bytes that do not decode are
  never silently turned into another code page: the record holding them is rejected, naming
  the line and the byte offset.
* **Nothing vanishes.** Every record is either returned or listed as rejected with its record
  number and line. A quote that never closes does not swallow the rest of the file: the line
  that opens it is rejected and reading goes on with the next line. A cell over
  :data:`MAX_CELL` characters rejects its record, not the file.

The fast path is pyarrow's CSV reader (serial, so that rejected records keep their number);
any problem it cannot describe exactly (a quote spanning lines it should not, a record larger
than a block) sends the file through the exact record-by-record reader below.
"""

from __future__ import annotations

import codecs
import csv
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from clusterscape.errors import InvalidInputError

#: Longest cell accepted, in characters (1 MiB); a longer one rejects its record.
MAX_CELL = 1 << 20
#: A quoted value spanning more physical lines than this is taken for an unclosed quote.
MAX_CELL_LINES = 50
#: Marks where undecodable bytes were (a private-use code point no real text carries).
SENTINEL = "\U0010fffd"
_MARK = "clusterscape-mark"
_LOCAL = threading.local()


def _mark_errors(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):  # pragma: no cover - only registered for decoding
        raise exc
    _LOCAL.errors.append((exc.start, bytes(exc.object[exc.start : exc.end])))
    return SENTINEL, exc.end


codecs.register_error(_MARK, _mark_errors)

Progress = Callable[[str, int, int], None]


@dataclass
class Decoded:
    """Text of a file and where its undecodable bytes were."""

    _text: str
    encoding: str
    #: (byte offset, the bytes) of each undecodable span, in file order
    errors: list[tuple[int, bytes]] = field(default_factory=list)
    #: the bytes, for valid UTF-8 whose text is decoded lazily (saves a copy of the file)
    raw: bytes | None = None

    @property
    def text(self) -> str:
        if self.raw is not None and not self._text:
            self._text = self.raw.decode("utf-8")
        return self._text

    def head(self, n: int = 65536) -> str:
        """The first ``n`` bytes' worth of text (for sniffing the header)."""
        if self.raw is not None and not self._text:
            return self.raw[:n].decode("utf-8", errors="ignore")
        return self._text[:n]


def _valid_utf8(raw: bytes, chunk: int = 1 << 24) -> bool:
    """Whether ``raw`` is valid UTF-8, checked in chunks (never a full-size copy)."""
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        for i in range(0, len(raw), chunk):
            dec.decode(raw[i : i + chunk], final=False)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decode_marked(raw: bytes | memoryview, encoding: str) -> tuple[str, list[tuple[int, bytes]]]:
    _LOCAL.errors = []
    try:
        text = bytes(raw).decode(encoding, errors=_MARK)
        return text, list(_LOCAL.errors)
    finally:
        _LOCAL.errors = []


def _utf16_without_bom(raw: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the NUL bytes say so (ASCII-range text), else None."""
    head = np.frombuffer(raw[: 1 << 16], dtype=np.uint8)
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    n = min(len(even), len(odd))
    z_even, z_odd = float(np.mean(even[:n] == 0)), float(np.mean(odd[:n] == 0))
    if z_odd > 0.3 and z_even < 0.05:
        return "utf-16-le"
    if z_even > 0.3 and z_odd < 0.05:
        return "utf-16-be"
    return None


def _control_share(head: bytes) -> float:
    arr = np.frombuffer(head, dtype=np.uint8)
    ctrl = ((arr < 32) & ~np.isin(arr, [9, 10, 13])) | (arr == 127)
    return float(np.mean(ctrl)) if len(arr) else 0.0


def decode(raw: bytes, name: str, caller: str) -> Decoded:
    """Decode ``raw`` strictly (see the module docstring); never a silent code-page guess."""
    if raw.startswith(b"\xef\xbb\xbf"):
        text, errors = _decode_marked(memoryview(raw)[3:], "utf-8")
        return Decoded(text, "utf-8-sig", [(o + 3, b) for o, b in errors])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode Text" exports
        text, errors = _decode_marked(raw, "utf-16")
        return Decoded(text, "utf-16", errors)
    head = raw[: 1 << 16]
    if b"\x00" in head and (  # a stray NUL is corrupted text; many, or control bytes, are not
        head.count(b"\x00") > max(1, len(head) // 100) or _control_share(head) > 0.05
    ):
        enc = _utf16_without_bom(raw)
        if enc is None:
            raise InvalidInputError(
                f"{caller}: {name} holds NUL bytes but is not UTF-16 text; it looks like a "
                "binary file (a spreadsheet or database saved with a .csv/.txt name?). Export it "
                "as CSV UTF-8."
            )
        text, errors = _decode_marked(raw, enc)
        return Decoded(text, enc, errors)
    if _valid_utf8(raw):
        return Decoded("", "utf-8", raw=raw)  # text decoded only when needed
    text8, err8 = _decode_marked(raw, "utf-8")
    arr = np.frombuffer(raw, dtype=np.uint8)
    leads = int(np.count_nonzero((arr >= 0xC2) & (arr <= 0xF4)))
    # Valid multi-byte UTF-8 sequences are rare in GBK text, so many of them mean UTF-8 with a
    # few stray bytes; otherwise the file is GBK/GB18030 (whose own stray bytes are marked).
    if leads - len(err8) > len(err8):
        return Decoded(text8, "utf-8", err8)
    del text8
    text, errors = _decode_marked(raw, "gb18030")
    return Decoded(text, "gb18030", errors)


def byte_line(raw: bytes, offsets: list[int], encoding: str) -> list[int]:
    """1-based physical line of each byte offset."""
    if encoding.startswith("utf-16"):
        out = []
        for o in offsets:
            out.append(raw[: o - (o % 2)].decode(encoding, errors="replace").count("\n") + 1)
        return out
    nl = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    return [int(np.searchsorted(nl, o, side="left")) + 1 for o in offsets]


def _looks_like_rows(value: str, delimiter: str, width: int) -> bool:
    """A value spanning lines that carry whole records (an unclosed quote swallowed them)."""
    parts = value.split("\n")
    if len(parts) > MAX_CELL_LINES:
        return True
    need = max(1, width - 1)
    return any(p.count(delimiter) >= need for p in parts[1:])


@dataclass
class Parsed:
    """Records of a text file: the good ones (index = record number) and the rejected ones."""

    frame: pd.DataFrame
    bad: list[tuple[int, str]]
    n_records: int
    #: physical line (1-based) where each good record starts, aligned to ``frame``
    lines: np.ndarray
    #: False when some value spans lines and ``lines`` is only approximate (fast path)
    lines_exact: bool = True
    #: the line index (0-based, in the text given) where the next record would start
    next_line: int = 0


class _Lines:
    """Physical lines with a movable position, so reading can restart on the next line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.i >= len(self.lines):
            raise StopIteration
        s = self.lines[self.i]
        self.i += 1
        return s if self.i == len(self.lines) else s + "\n"


def _cell_problem(rec: list[str], header: list[str]) -> str | None:
    for j, v in enumerate(rec):
        if len(v) > MAX_CELL:
            col = header[j] if j < len(header) else f"#{j + 1}"
            return (
                f"oversized cell: column '{col}' holds {len(v):,} characters (limit "
                f"{MAX_CELL:,}); a cell that long is not an establishment's value"
            )
    return None


class NeedMore(Exception):
    """A record runs past the end of the text given (a chunk): give more text."""


def parse_exact(
    text: str,
    delimiter: str,
    skip: int,
    header: list[str],
    line0: int = 0,
    *,
    record0: int = 0,
    stop_line: int | None = None,
    eof: bool = True,
) -> Parsed:
    """Record-by-record parse that names the line of every problem and resynchronises.

    ``skip`` physical lines precede the header (title lines); record numbers start at 1 on
    the first record after the header. For a chunk of a file that starts at a record
    (``skip=-1``): ``line0`` physical lines and ``record0`` records precede it, records that
    start at or after line ``stop_line`` (0-based, in ``text``) are left to the next chunk,
    and ``eof=False`` says the text is cut: a record reaching its end raises
    :class:`NeedMore`.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    width = len(header)
    it = _Lines(lines)
    it.i = skip + 1
    stop = len(lines) if stop_line is None else min(stop_line, len(lines))
    old_limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        reader = csv.reader(it, delimiter=delimiter)
        good: list[list[str | None]] = []
        rows: list[int] = []
        starts: list[int] = []
        bad: list[tuple[int, str]] = []
        k = record0
        while it.i < stop:
            start = it.i
            err = None
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rec, err = [], str(exc)
                reader = csv.reader(it, delimiter=delimiter)
            if not eof and it.i >= len(lines):
                raise NeedMore
            used = it.i - start
            k += 1
            line = start + 1 + line0
            spans = used > 1
            swallowed = spans and (
                err is not None
                or len(rec) != width
                or any("\n" in v and _looks_like_rows(v, delimiter, width) for v in rec)
            )
            if swallowed:
                bad.append(
                    (
                        k,
                        f'malformed row: line {line} opens a quote (") that does not close '
                        f"where it should (it would swallow lines {line + 1}-{line + used - 1}); "
                        "only this line is rejected and reading goes on with the next line",
                    )
                )
                it.i = start + 1
                reader = csv.reader(it, delimiter=delimiter)
                continue
            if err is not None:
                bad.append((k, f"malformed row: line {line}: {err}"))
                continue
            if not rec:
                good.append([None] * width)
                rows.append(k)
                starts.append(line)
                continue
            if len(rec) != width:
                bad.append(
                    (
                        k,
                        f"malformed row: line {line} has {len(rec)} fields but the header has "
                        f"{width} (an unquoted delimiter inside a value?)",
                    )
                )
                continue
            big = _cell_problem(rec, header)
            if big is not None:
                bad.append((k, f"{big} (line {line})"))
                continue
            good.append([v if v != "" else None for v in rec])
            rows.append(k)
            starts.append(line)
    finally:
        csv.field_size_limit(old_limit)
    frame = pd.DataFrame(good, columns=header, dtype=object)
    if len(frame):
        frame = frame.astype(pd.StringDtype("pyarrow"))
    frame.index = pd.Index(rows, name="row", dtype="int64")
    return Parsed(frame, bad, k - record0, np.asarray(starts, dtype=np.int64), next_line=it.i)


class NeedExact(Exception):
    """The fast reader met something only the exact reader can describe."""


def parse_fast(
    data: bytes | memoryview,
    delimiter: str,
    skip: int,
    header: list[str],
    progress: Progress | None = None,
    *,
    line0: int = 0,
    record0: int = 0,
) -> Parsed:
    """pyarrow's reader, serial, rejecting ragged records by number; raises :class:`NeedExact`.

    ``line0``/``record0``: physical lines and records before ``data`` (a chunk, ``skip=-1``).
    """
    width = len(header)
    bad_raw: list[tuple[int, int, str]] = []
    multi = False

    exact = False

    def on_invalid(row: Any) -> str:
        nonlocal exact
        text = row.text or ""
        if "\n" in text or "\r" in text or row.number is None:
            exact = True  # (an exception raised here would be swallowed by pyarrow)
            return "skip"
        bad_raw.append((int(row.number), int(row.actual_columns), text))
        return "skip"

    total = len(data)
    try:
        reader = pacsv.open_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=1 << 24, skip_rows=skip + 1, column_names=header
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        batches = []
        done = 0
        for batch in reader:
            batches.append(batch)
            done += batch.nbytes
            if progress is not None:
                progress("parsing", min(done, total), total)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowInvalid, ValueError) as exc:
        raise NeedExact from exc
    if exact:
        raise NeedExact
    n_good = table.num_rows
    # pyarrow numbers records from the first line of the file (title lines and header included)
    bad_nums = [num - skip - 1 for num, _, _ in bad_raw]
    lengths_bad = np.zeros(n_good, dtype=bool)
    for name in table.column_names:
        col = table.column(name)
        if col.null_count == len(col):
            continue
        nl = pc.fill_null(pc.match_substring(col, "\n"), False)
        if pc.any(nl).as_py():
            multi = True
            vals = pc.filter(col, nl).to_pylist()
            if any(_looks_like_rows(v, delimiter, width) for v in vals):
                raise NeedExact
        long = pc.fill_null(pc.greater(pc.utf8_length(col), MAX_CELL), False)
        if pc.any(long).as_py():
            lengths_bad |= np.asarray(long.to_numpy(zero_copy_only=False), dtype=bool)
    if multi and bad_raw:
        raise NeedExact  # line numbers differ from record numbers: let the exact reader name them
    n = n_good + len(bad_raw)
    keep = np.ones(n, dtype=bool)
    bad_idx = np.asarray(bad_nums, dtype=np.int64) - 1
    keep[bad_idx] = False
    rows = np.flatnonzero(keep) + 1
    bad: list[tuple[int, str]] = []
    for (_, ncols, _), r in zip(bad_raw, bad_nums, strict=True):
        line = r + skip + 1 + line0
        bad.append(
            (
                r + record0,
                f"malformed row: line {line} has {ncols} fields but the header has {width} "
                "(an unquoted delimiter inside a value?)",
            )
        )
    if lengths_bad.any():
        if multi:
            raise NeedExact
        pos = np.flatnonzero(lengths_bad)
        for p in pos.tolist():
            r = int(rows[p])
            cells = [table.column(c)[p].as_py() or "" for c in table.column_names]
            big = _cell_problem(cells, header) or "oversized cell"
            bad.append((r + record0, f"{big} (line {r + skip + 1 + line0})"))
        table = table.filter(pa.array(~lengths_bad))
        rows = rows[~lengths_bad]
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    frame.index = pd.Index(rows.astype("int64") + record0, name="row")
    bad.sort()
    return Parsed(frame, bad, n, rows.astype(np.int64) + skip + 1 + line0, lines_exact=not multi)
