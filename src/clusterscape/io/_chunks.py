"""Reading one delimited text file in byte ranges, exactly as :func:`read_establishments` does.

An engine that reads a file on several workers (``--engine dask``) plans it here in three steps,
each a pure function of the file and a byte range, so that any worker can run it:

1. :func:`range_stats` — per byte range (cut at line starts): is it valid UTF-8, how many
   UTF-8 lead bytes and undecodable sequences it holds. Summed over the file, these give the
   encoding exactly as :func:`clusterscape.io._text.decode` chooses it from the whole file
   (``\\n`` is never part of a multi-byte UTF-8 or GB18030 character, so decoding restarted at
   a line start is in step with decoding the whole file).
2. :func:`range_bounds` — from a record start, parse records with the exact reader until the
   first record that starts at or after the range's end; that record's start is the next
   range's start. A quoted newline therefore never splits a record. A worker's guess of its
   start (the first line start in its range) is checked against the previous range's result
   and the range re-read from the right start when they differ. The same call says whether
   the fast reader could read the range, so that the file is read the way the single-machine
   reader would read it (fast for the whole file, or exact for the whole file).
3. :func:`parse_range` — the records of a range with their file record numbers and file line
   numbers, undecodable records rejected naming the file's line and byte offset.

UTF-16 files and files whose lines end in CR only are read whole by one worker
(:func:`read_whole`), as are files of a single range.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterscape.io import _text

_BOM = b"\xef\xbb\xbf"


def _line_start(fh: Any, pos: int, size: int) -> int:
    """The first line start at or after byte ``pos`` (``size`` if there is none)."""
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    fh.seek(pos - 1)
    at = pos - 1
    while True:
        block = fh.read(1 << 16)
        if not block:
            return size
        k = block.find(b"\n")
        if k >= 0:
            return at + k + 1
        at += len(block)


def _read(fh: Any, start: int, stop: int) -> bytes:
    fh.seek(start)
    return bytes(fh.read(max(stop - start, 0)))


def range_stats(path: str, a: int, b: int) -> dict[str, Any]:
    """Decoding statistics of the lines starting in bytes ``[a, b)`` of ``path``."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        start, stop = _line_start(fh, a, size), _line_start(fh, b, size)
        raw = _read(fh, start, stop)
    if start == 0 and raw.startswith(_BOM):
        raw = raw[3:]
    valid = _text._valid_utf8(raw)
    arr = np.frombuffer(raw, dtype=np.uint8)
    out: dict[str, Any] = {
        "start": start,
        "stop": stop,
        "valid_utf8": valid,
        "leads": int(np.count_nonzero((arr >= 0xC2) & (arr <= 0xF4))),
        "utf8_errors": 0,
        "newline": b"\n" in raw,
    }
    if not valid:
        out["utf8_errors"] = len(_text._decode_marked(raw, "utf-8")[1])
    return out


def choose_encoding(stats: list[dict[str, Any]], bom: bool) -> str:
    """The encoding :func:`clusterscape.io._text.decode` picks, from :func:`range_stats`."""
    if bom:
        return "utf-8-sig"
    if all(s["valid_utf8"] for s in stats):
        return "utf-8"
    leads = sum(s["leads"] for s in stats)
    errors = sum(s["utf8_errors"] for s in stats)
    return "utf-8" if leads - errors > errors else "gb18030"


@dataclass(frozen=True, slots=True)
class Plan:
    """What every range of one file needs to be parsed as the whole file would be."""

    path: str
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    size: int


def _decode(raw: bytes, encoding: str) -> tuple[str, list[tuple[int, bytes]]]:
    enc = "utf-8" if encoding == "utf-8-sig" else encoding
    return _text._decode_marked(raw, enc)


def _utf8(raw: bytes, text: str, errors: list[tuple[int, bytes]], encoding: str) -> bytes:
    """The bytes the fast reader is given (as ``_read_text`` gives them)."""
    if encoding in ("utf-8", "utf-8-sig") and not errors:
        return raw
    return text.encode("utf-8")


def range_bounds(plan: Plan, start: int, stop: int) -> dict[str, Any]:
    """Parse from ``start`` (a record start) to the first record starting at or after ``stop``.

    Returns ``start``, ``end`` (the next range's start), ``n_records``, ``n_lines`` and the
    fast reader's verdict on ``[start, end)``: ``fast`` (it could read it), ``multi`` (some
    value spans lines), ``ragged`` (it rejected malformed records), ``oversized`` and
    ``errors`` (undecodable sequences in the range) and ``fast_records``.
    """
    header = list(plan.header)
    if start >= stop or start >= plan.size:
        return {"start": start, "end": max(start, min(stop, plan.size)), "n_records": 0,
                "n_lines": 0, "fast": True, "multi": False, "ragged": False,
                "oversized": False, "errors": 0, "fast_records": 0}  # fmt: skip
    rec, raw, hi = _exact_from(plan, start, stop)
    nl = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], nl + 1])
    end = start + int(starts[rec.next_line]) if rec.next_line < len(starts) else hi
    end = min(end, hi)
    chunk = raw[: end - start]
    text, errors = _decode(chunk, plan.encoding)
    out = {"start": start, "end": end, "n_records": rec.n_records, "n_lines": rec.next_line,
           "fast": True, "multi": False, "ragged": False, "oversized": False,
           "errors": len(errors), "fast_records": 0}  # fmt: skip
    if any(_resynced(t) for _, t in rec.bad):
        # A quote that does not close: read whole, the fast reader runs on past this range's
        # end and gives up on the file; alone, the range would end the quote at its end.
        out["fast"] = False
        return out
    try:
        fast = _text.parse_fast(
            _utf8(chunk, text, errors, plan.encoding), plan.delimiter, -1, header
        )
    except _text.NeedExact:
        out["fast"] = False
        return out
    out["multi"] = not fast.lines_exact
    out["ragged"] = any(t.startswith("malformed row") for _, t in fast.bad)
    out["oversized"] = any(t.startswith("oversized cell") for _, t in fast.bad)
    out["fast_records"] = fast.n_records
    return out


def _exact_from(
    plan: Plan, start: int, stop: int, *, record0: int = 0, line0: int = 0
) -> tuple[_text.Parsed, bytes, int]:
    """The exact reader from ``start`` over the records starting before byte ``stop``, given
    as much text after ``stop`` as the last of them needs (a quote that does not close reads
    on to the end of the file, as it does when the whole file is read)."""
    header = list(plan.header)
    extra = 1 << 16
    with open(plan.path, "rb") as fh:
        while True:
            hi = min(stop + extra, plan.size)
            hi = _line_start(fh, hi, plan.size) if hi < plan.size else plan.size
            raw = _read(fh, start, hi)
            eof = hi >= plan.size
            text, _ = _decode(raw, plan.encoding)
            stop_line = raw.count(b"\n", 0, stop - start)
            try:
                rec = _text.parse_exact(
                    text, plan.delimiter, -1, header, line0,
                    record0=record0, stop_line=stop_line, eof=eof,
                )  # fmt: skip
                return rec, raw, hi
            except _text.NeedMore:
                extra *= 4


def _resynced(reason: str) -> bool:
    """Whether the exact reader had to resynchronise on this record (unclosed quote, csv error)."""
    return "opens a quote" in reason or re.match(r"malformed row: line \d+: ", reason) is not None


def use_exact(bounds: list[dict[str, Any]]) -> bool:
    """Whether the single-machine reader would read the whole file with the exact reader."""
    multi = any(b["multi"] for b in bounds)
    return (
        not all(b["fast"] for b in bounds)
        or (multi and any(b["ragged"] or b["oversized"] for b in bounds))
        or (multi and any(b["errors"] for b in bounds))
    )


def parse_range(
    plan: Plan, start: int, end: int, *, record0: int, line0: int, exact: bool
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Good records (index = record number in the file) and rejected ``(record, reason)``."""
    from clusterscape.io.establishments import _reject_undecodable

    header = list(plan.header)
    with open(plan.path, "rb") as fh:
        raw = _read(fh, start, end)
    text, errors = _decode(raw, plan.encoding)
    rec = None
    if not exact:
        try:
            rec = _text.parse_fast(
                _utf8(raw, text, errors, plan.encoding), plan.delimiter, -1, header,
                line0=line0, record0=record0,
            )  # fmt: skip
        except _text.NeedExact:  # pragma: no cover - range_bounds said it could
            rec = None
    if rec is None:
        rec, wide, _ = _exact_from(plan, start, end, record0=record0, line0=line0)
        text, errors = _decode(wide, plan.encoding)
        raw = wide
    frame, bad = rec.frame, list(rec.bad)
    if errors:
        dec = _text.Decoded(text, plan.encoding, errors)
        frame, more = _reject_undecodable(frame, rec.lines, dec, raw, line0=line0, byte0=start)
        bad = sorted(bad + more)
    if len(frame) + len(bad) != rec.n_records:  # pragma: no cover - the invariant of the reader
        raise AssertionError(
            f"internal error: {rec.n_records} records but {len(frame)} read and {len(bad)} rejected"
        )
    if frame.empty:
        frame = pd.DataFrame(
            {h: pd.Series(dtype=pd.StringDtype("pyarrow")) for h in header},
            index=pd.Index([], name="row", dtype="int64"),
        )
    return frame, bad


def read_whole(path: str) -> tuple[pd.DataFrame, list[tuple[int, str]], list[str]]:
    """The single-machine reader's records of the whole file (UTF-16, CR-only, one range)."""
    from clusterscape.io.establishments import _read_text

    return _read_text(Path(path))
