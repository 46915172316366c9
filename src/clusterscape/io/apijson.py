"""Amap and Baidu place-search API responses read as establishment tables.

:func:`read_establishments` hands a ``.json`` file holding an API response (or a list of
them) and a ``.jsonl``/``.ndjson`` file of responses, one per line (what ``fetch-amap``
writes), to :func:`read_api_responses`:

* **Amap Web Service** place search, v3 (``place/text``, ``place/around``, ``place/polygon``)
  and v5: ``{"status": "1", "count": "..", "pois": [{"id", "name", "type", "typecode",
  "location": "lng,lat", "address", "pname", "cityname", "adname", ...}]}``. Coordinates are
  GCJ-02. A multi-valued ``typecode`` (``"141201|170000"``) gives its first code as ``code``
  and keeps all of them in ``codes``; ``type`` (``"科教文化服务;博物馆;博物馆"``) gives
  ``category`` (its first group when several are joined by ``|``). The v3 habit of writing an
  empty field as ``[]`` reads as blank; v5 ``business`` fields become columns.
* **Baidu Place API** v2/v3: ``{"status": 0, "results": [{"name", "location": {"lat", "lng"},
  "address", "uid", "detail_info": {"tag", "type", ...}}]}`` (``result`` for a detail
  query). Coordinates are BD-09 (BD-09MC when they are metres).

Every POI becomes one row, numbered from 1 in the order read; the rows then go through the
same checks as a CSV (:func:`clusterscape.io.establishments.read_establishments`). An error
response (Amap ``status`` ``"0"`` with ``info``/``infocode``, Baidu non-zero ``status``), a
line that is not JSON or not a place response is named in ``messages`` and counted in
``skipped``; when nothing but errors is read, the file is refused in one line naming the first
error. A POI repeated across pages or responses (same provider id) is kept once: the kept row
gets a note (``field == "row"``) naming the other responses, and the repeats are counted in
``skipped``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj

from clusterscape.errors import InvalidInputError

__all__ = ["JSONL_SUFFIXES", "looks_like_api_response", "read_api_responses"]

_CALLER = "read_establishments"
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
#: The datum each provider's API returns by default.
PROVIDER_DATUM = {"amap": "gcj02", "baidu": "bd09"}
_PROVIDER_NAME = {"amap": "Amap", "baidu": "Baidu"}
_REPEATED = "repeated POI (same provider id in another page or response)"
_LABEL = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09", "bd09mc": "BD-09MC"}
#: Keys of an Amap POI read into named columns (the rest are kept as they are).
_AMAP_SKIP = frozenset({"photos", "children", "indoor_data"})


def looks_like_api_response(path: str | os.PathLike[str]) -> bool:
    """True when a ``.json`` file holds an Amap/Baidu response rather than GeoJSON."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if not text.startswith(("{", "[")):
        return False
    if '"FeatureCollection"' in text or '"Feature"' in text:
        return False
    if any(k in text for k in ('"pois"', '"results"', '"infocode"', '"result"')):
        return True
    return '"status"' in text and ('"message"' in text or '"info"' in text)


@dataclass
class _Collected:
    """POI rows and what was said about the responses holding them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    providers: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    responses: int = 0
    metres: bool = False

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def _scalar(value: Any) -> Any:
    """A cell's text: Amap's ``[]`` for empty is blank, other lists joined, dicts as JSON."""
    if isinstance(value, list):
        parts = [str(v) for v in value if v not in (None, "", [])]
        return ";".join(parts) if parts else None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    # text throughout, so a column never mixes numbers and text (writers need one type)
    return None if value is None else str(value)


def _location(value: Any) -> Any:
    """Amap's ``"lng,lat"``; a ``{"lng", "lat"}`` object (as SDKs write it) reads the same."""
    if isinstance(value, dict):
        lng = value.get("lng", value.get("lon", value.get("longitude")))
        lat = value.get("lat", value.get("latitude"))
        return None if lng is None and lat is None else f"{lng},{lat}"
    return _scalar(value)


def _amap_row(poi: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    typecode = _scalar(poi.get("typecode"))
    codes = str(typecode).strip() if typecode not in (None, "") else ""
    kind = _scalar(poi.get("type"))
    kind = str(kind).strip() if kind not in (None, "") else ""
    row.update(
        id=_scalar(poi.get("id")),
        name=_scalar(poi.get("name")),
        category=kind.split("|")[0].strip(),
        code=codes.split("|")[0].strip(),
        codes=codes,
        types=kind,
        location=_location(poi.get("location")),
    )
    for key, value in poi.items():
        if key in row or key in _AMAP_SKIP or key in ("typecode", "type"):
            continue
        if key == "business" and isinstance(value, dict):  # v5 show_fields=business
            for k, v in value.items():
                name = k if k in ("business_area", "tel") else f"business_{k}"
                if row.get(name) in (None, ""):
                    row[name] = _scalar(v)
            continue
        row[key] = _scalar(value)
    return row


def _baidu_row(poi: dict[str, Any]) -> dict[str, Any]:
    loc: dict[str, Any] = poi["location"] if isinstance(poi.get("location"), dict) else {}
    detail: dict[str, Any] = poi["detail_info"] if isinstance(poi.get("detail_info"), dict) else {}
    tag = _scalar(detail.get("tag")) or _scalar(poi.get("tag")) or ""
    row: dict[str, Any] = {
        "id": _scalar(poi.get("uid")),
        "name": _scalar(poi.get("name")),
        "category": str(tag).strip(),
        "code": "",
        "lng": loc.get("lng"),
        "lat": loc.get("lat"),
    }
    for key, value in poi.items():
        if key in ("uid", "name", "location", "detail_info") or key in row:
            continue
        row[key] = _scalar(value)
    for key, value in detail.items():
        if key != "tag":
            row[f"detail_{key}"] = _scalar(value)
    return row


def _provider(resp: dict[str, Any]) -> str | None:
    if "pois" in resp or "infocode" in resp:
        return "amap"
    if "results" in resp or "result" in resp or isinstance(resp.get("status"), int):
        return "baidu"
    return None


def _error(provider: str, resp: dict[str, Any]) -> str | None:
    """The error a response reports, or None when it is a success."""
    status = resp.get("status")
    if provider == "amap":
        if str(status).strip() == "1" or (status is None and "pois" in resp):
            return None
        return (
            f"Amap error {resp.get('info', 'without info')!s} "
            f"(status {status!r}, infocode {resp.get('infocode', '?')!s})"
        )
    if status is None or str(status).strip() == "0":
        return None
    return (
        f"Baidu error {resp.get('message', resp.get('msg', 'without message'))!s} (status {status})"
    )


def _collect(resp: Any, where: str, got: _Collected, meta: dict[str, Any]) -> None:
    if not isinstance(resp, dict):
        got.messages.append(f"{where}: not a place-search response (a JSON {type(resp).__name__})")
        got.skip("not a place-search response")
        return
    provider = _provider(resp)
    if provider is None:
        keys = ", ".join(sorted(map(str, resp))[:8])
        got.messages.append(
            f"{where}: not an Amap or Baidu place-search response (keys: {keys}); skipped"
        )
        got.skip("not a place-search response")
        return
    got.responses += 1
    err = _error(provider, resp)
    if err is not None:
        got.errors.append(f"{where}: {err}")
        got.messages.append(f"{where}: {err}; no POIs read from it")
        got.skip("error response")
        return
    if provider == "baidu" and resp.get("result_type") == "city_type":
        got.messages.append(
            f"{where}: a Baidu city list (result_type 'city_type': matches counted by city, no "
            "POIs); query within one city (region=..., city_limit=true) to get POIs"
        )
        got.skip("Baidu city list")
        return
    got.providers[provider] = got.providers.get(provider, 0) + 1
    if provider == "amap":
        pois = resp.get("pois") or []
        make = _amap_row
    else:
        pois = resp.get("results", resp.get("result")) or []
        if isinstance(pois, dict):  # a detail query: one POI
            pois = [pois]
        make = _baidu_row
    if not isinstance(pois, list):
        got.messages.append(f"{where}: its POI list is a {type(pois).__name__}; skipped")
        got.skip("malformed POI list")
        return
    for poi in pois:
        if not isinstance(poi, dict):
            got.messages.append(f"{where}: a POI that is not an object ({poi!r:.40}); skipped")
            got.skip("malformed POI")
            continue
        row = make(poi)
        row["provider"] = provider
        row.update(meta)
        got.rows.append(row)


def _request_meta(resp: Any, response: int) -> dict[str, Any]:
    """Columns naming where a POI came from (``fetch-amap`` adds ``_request`` to responses)."""
    meta: dict[str, Any] = {"response": response}
    req = resp.get("_request") if isinstance(resp, dict) else None
    if isinstance(req, dict):
        if "tile" in req:
            meta["tile"] = str(req["tile"])
        if "page" in req:
            meta["page"] = req["page"]
    return meta


def _read_responses(path: Path) -> _Collected:
    got = _Collected()
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{_CALLER}: {path.name} is not UTF-8 text (byte offset {exc.start}); API responses "
            "are UTF-8 JSON - save the responses as they came."
        ) from None
    if path.suffix.lower() in JSONL_SUFFIXES:
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                resp = json.loads(line)
            except json.JSONDecodeError as exc:
                got.messages.append(
                    f"line {i}: not valid JSON ({exc.msg} at column {exc.colno}); skipped - "
                    "a line cut short by an interrupted download?"
                )
                got.skip("unreadable line")
                continue
            _collect(resp, f"line {i}", got, _request_meta(resp, i))
            req = resp.get("_request") if isinstance(resp, dict) else None
            if isinstance(req, dict) and isinstance(req.get("repeats"), list) and req["repeats"]:
                # left out by fetch-amap: already written from a neighbouring tile
                got.skip(_REPEATED, len(req["repeats"]))
        return got
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{_CALLER}: {path.name} is not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); is the download complete?"
        ) from None
    if isinstance(doc, list):
        for i, resp in enumerate(doc, start=1):
            _collect(resp, f"response {i}", got, _request_meta(resp, i))
    else:
        _collect(doc, "the response", got, _request_meta(doc, 1))
    return got


def _dedupe(rows: list[dict[str, Any]]) -> tuple[list[int], dict[int, list[int]]]:
    """(positions kept, {kept position: positions of its repeats}) by provider and id."""
    first: dict[tuple[str, str], int] = {}
    keep: list[int] = []
    repeats: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        pid = row.get("id")
        if pid in (None, ""):
            keep.append(i)
            continue
        key = (str(row.get("provider")), str(pid).strip())
        if key in first:
            repeats.setdefault(first[key], []).append(i)
        else:
            first[key] = i
            keep.append(i)
    return keep, repeats


def _where(row: dict[str, Any]) -> str:
    page = f" page {row['page']}" if row.get("page") not in (None, "") else ""
    return f"response {row.get('response')}{page}"


def read_api_responses(
    path: str | os.PathLike[str],
    *,
    datum: str | None = None,
    crs: str | pyproj.CRS | None = None,
    columns: Mapping[str, str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """Read Amap/Baidu place-search responses (a ``.json`` file or ``.jsonl`` lines).

    Parameters
    ----------
    path : str or path-like
        A response, a JSON list of responses, or JSON Lines with one response per line.
    datum : {"gcj02", "bd09", "bd09mc"}, optional
        The coordinates' datum. By default, and when ``"wgs84"`` is given (the default of a
        study, never what these APIs return), the provider's: GCJ-02 for Amap, BD-09 for
        Baidu (BD-09MC when its coordinates are metres). Give it for a Baidu query made with
        ``ret_coordtype=gcj02ll``.
    crs, columns, progress
        As in :func:`clusterscape.io.establishments.read_establishments`.

    Returns
    -------
    LoadResult
        As :func:`~clusterscape.io.establishments.read_establishments`; ``source_crs`` is the
        datum used, ``skipped`` counts repeated POIs, error responses and unreadable lines,
        ``n_rows`` counts the POIs read once each.
    """
    from clusterscape.coords import normalise_datum
    from clusterscape.io.establishments import _validate, empty_notes

    p = Path(path)
    got = _read_responses(p)
    if not got.rows and got.errors and not got.providers:
        more = f" (and {len(got.errors) - 1} more error responses)" if len(got.errors) > 1 else ""
        raise InvalidInputError(
            f"{_CALLER}: {p.name}: {got.errors[0]}{more}; no POIs to read. Check the key, its "
            "quota and the query parameters, then fetch again."
        )
    if not got.responses and not got.rows:
        why = got.messages[0] if got.messages else "it holds no response"
        raise InvalidInputError(
            f"{_CALLER}: {p.name} holds no Amap or Baidu place-search response ({why})."
        )
    keep, repeats = _dedupe(got.rows)
    rows = [got.rows[i] for i in keep]
    n_rep = sum(len(v) for v in repeats.values())
    if n_rep:
        got.skip(_REPEATED, n_rep)
    providers = sorted(got.providers) or ["amap"]
    provider = providers[0]
    name = " and ".join(_PROVIDER_NAME[q] for q in providers)
    messages = [
        f"read {got.responses:,} {name} response{'s' if got.responses != 1 else ''} "
        f"({len(got.rows):,} POIs, {len(rows):,} distinct)"
    ]
    if len(providers) > 1:
        messages.append(
            "the file mixes Amap (GCJ-02) and Baidu (BD-09) responses; all were read as "
            f"{_LABEL[PROVIDER_DATUM[provider]]} - keep one provider per file"
        )
    given = None if datum is None else normalise_datum(datum, caller=_CALLER)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame({"id": [], "name": [], "lng": [], "lat": []}, dtype=object)
    base = (
        "lng" in frame.columns
        and "lat" in frame.columns
        and "location" not in frame.columns
        and _metres(frame)
    )
    default = "bd09mc" if provider == "baidu" and base else PROVIDER_DATUM[provider]
    if given in (None, "wgs84") and crs is None:
        use = default
        messages.append(
            f"coordinates read as {_LABEL[use]}, the datum of {name} place-search responses, "
            "and converted to WGS-84"
        )
    else:
        use = given or "wgs84"
        if use != default:
            messages.append(
                f"coordinates read as {_LABEL[use]} as given (datum=), although {name} "
                f"responses are {_LABEL[default]} unless the query asked for another"
            )
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    frame = frame.astype(object).where(frame.notna(), None)
    result = _validate(
        frame,
        columns=columns,
        datum=use,
        declared=None,
        path=p,
        bad_rows=[],
        messages=[*got.messages[:20], *messages]
        + (
            [f"... and {len(got.messages) - 20} more lines about responses"]
            if len(got.messages) > 20
            else []
        ),
        progress=progress,
    )
    notes = result.notes
    if repeats:
        add = _repeat_notes(rows, keep, repeats, got.rows, result)
        notes = pd.concat([notes if len(notes) else empty_notes(), add], ignore_index=True)
        notes = notes.sort_values("row", kind="stable").reset_index(drop=True)
    skipped = dict(result.skipped)
    skipped.update(got.skipped)
    result.establishments.attrs["source_datum"] = use
    return replace(result, notes=notes, skipped=skipped, source_crs=use)


def _metres(frame: pd.DataFrame) -> bool:
    lon = pd.to_numeric(frame["lng"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & (lon != 0)
    return bool(ok.any() and np.mean(np.abs(lon[ok]) > 180.0) > 0.5)


def _repeat_notes(
    rows: list[dict[str, Any]],
    keep: list[int],
    repeats: dict[int, list[int]],
    all_rows: list[dict[str, Any]],
    result: Any,
) -> pd.DataFrame:
    """One note per kept POI that was repeated, on its row (rejected rows carry none)."""
    from clusterscape.io.establishments import empty_notes

    src = np.asarray(result.source_rows if result.source_rows is not None else [], dtype=int)
    ids = dict(zip(src.tolist(), result.establishments["id"].astype(str).tolist(), strict=True))
    pos_to_row = {orig: k + 1 for k, orig in enumerate(keep)}
    out = []
    for orig, others in repeats.items():
        row = pos_to_row[orig]
        if row not in ids:
            continue
        where = ", ".join(_where(all_rows[j]) for j in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        first = _where(all_rows[orig])
        out.append(
            (
                row,
                str(ids[row]),
                "row",
                str(rows[row - 1]["id"]),
                f"the same {_PROVIDER_NAME.get(str(rows[row - 1]['provider']), '')} POI is also in "
                f"{where}{more}; kept once (from {first})",
            )
        )
    if not out:
        return empty_notes()
    frame = pd.DataFrame(out, columns=["row", "id", "field", "value", "note"])
    return frame.astype(
        {"row": "int64", "id": "string", "field": "string", "value": "string", "note": "string"}
    )
