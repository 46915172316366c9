"""Crawl Amap place search over a study area: a quadtree of polygon queries, resumable.

Amap's polygon search returns at most about 900 POIs per query however many match, so a
city cannot be fetched in one query. :func:`crawl_amap` covers the boundary with square tiles
(GCJ-02, as Amap expects), queries each tile that meets the boundary, and splits a tile into
four when its count reaches ``cap``; a tile already at ``min_tile`` degrees that still
reaches the cap is fetched as far as the API allows and reported as *saturated* (its POIs
beyond the cap are missing). Within a tile every page is fetched (v3 ``page``/``offset``, v5
``page_num``/``page_size``).

Each response of a tile that is fetched (not one that is split) is appended to ``out`` as one
JSON line, with a ``_request`` object naming the tile, page and query (never the key), and
``<out>.manifest.json`` records every tile (``done``, ``pending``, ``split``, ``saturated``),
the pages fetched and the calls made; it is rewritten atomically at most once a second and at
the end (a manifest that lags behind the output is brought up to date from the output's
``_request`` objects on resume). A second
call with the same ``out`` resumes where the first stopped (interrupted, out of quota, or
``max_calls`` reached) without fetching a page twice. :func:`read_establishments` reads the
output as GCJ-02. A POI on the edge two tiles share is written once: the second response's
line lists it in ``_request["repeats"]`` instead.

Calls are spaced to at most ``qps`` a second. HTTP 5xx and 429, time-outs, connection errors,
unreadable bodies and Amap's rate infocodes (10004 too frequent, 10014/10019/10020/10021 QPS
limits, 10015 gateway time-out, 10016 server busy, 20003 unknown error) are retried with
exponential back-off; daily-quota infocodes (10003, 10044, 10045) are retried twice and then
stop the crawl cleanly for a later resume (Amap resets the daily quota at midnight); any other error (a wrong key 10001, a service
not enabled 10002, bad parameters 20000...) stops it with the error. The key is removed from
every message, file and log line.

Amap takes a tile's ``polygon`` in two forms: a rectangle (upper-left|lower-right corners) or
a closed ring (first pair repeated last). ``polygon_form="auto"`` sends rectangles and, when the
first call of a tile is refused as a parameter error (infocode 20000 INVALID_PARAMS or 20001
MISSING_REQUIRED_PARAMS, or HTTP 400), asks it again once as a ring and keeps rings for the
rest of the crawl; the form in use is recorded in the manifest, so a resume goes on with it.
An empty answer is not a refusal (an empty tile is normal). Log lines and the summary are in
``lang`` (the i18n catalogue, keys ``crawl.*``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import box

from clusterscape.errors import ClusterscapeError, InvalidInputError
from clusterscape.i18n import current_lang, normalise_lang, t
from clusterscape.io._redact import REDACTED, redact_text

__all__ = ["DEFAULT_ENDPOINT", "CrawlError", "CrawlReport", "crawl_amap"]

DEFAULT_ENDPOINT = "https://restapi.amap.com/v3/place/polygon"
_CALLER = "fetch-amap"
_VERSION = 1
#: Amap infocodes worth retrying after a pause (rate and transient server conditions).
RETRY_INFOCODES = frozenset(
    {"10004", "10014", "10015", "10016", "10019", "10020", "10021", "20003"}
)
#: Amap infocodes of an exhausted daily quota: retried, then the crawl stops for a later resume.
QUOTA_INFOCODES = frozenset({"10003", "10044", "10045"})
_MAX_BACKOFF = 60.0
#: Retries on a daily-quota infocode before the crawl stops (the quota resets at midnight).
_QUOTA_RETRIES = 2
#: Amap infocodes of a refused parameter (INVALID_PARAMS, MISSING_REQUIRED_PARAMS): with
#: ``polygon_form="auto"`` the first call of a tile is asked again with a closed ring.
PARAM_INFOCODES = frozenset({"20000", "20001"})
POLYGON_FORMS = ("auto", "rect", "ring")


class CrawlError(ClusterscapeError, RuntimeError):
    """The crawl stopped on an error that retrying cannot fix (the manifest is saved)."""


class _ParamError(CrawlError):
    """A call refused as a parameter error (infocode 20000/20001 or HTTP 400)."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class CrawlReport:
    """What :func:`crawl_amap` did and how much of the area is covered.

    Attributes
    ----------
    out, manifest : pathlib.Path
        The JSON Lines file of responses and its manifest.
    complete : bool
        True when no tile is left pending.
    tiles : int
        Tiles queried or to query (meeting the boundary), split ones included.
    tiles_done, tiles_pending, tiles_split, tiles_saturated : int
        Tiles fully fetched, left to fetch, split into four, and fetched while still at the cap
        at the minimum tile size (their POIs beyond the cap are missing).
    calls, calls_total : int
        HTTP calls made by this run, and by all runs on ``out`` (retries included).
    responses : int
        Response lines in ``out``.
    pois : int
        Distinct POI ids in ``out``.
    stopped : str
        Why the run stopped before the end ("" when complete).
    polygon_form : str
        The polygon form the crawl sends (``rect`` or ``ring``).
    """

    out: Path
    manifest: Path
    complete: bool
    tiles: int
    tiles_done: int
    tiles_pending: int
    tiles_split: int
    tiles_saturated: int
    calls: int
    calls_total: int
    responses: int
    pois: int
    stopped: str = ""
    polygon_form: str = "rect"

    def summary(self, lang: str | None = None) -> str:
        """One paragraph for a person: coverage, calls, what is left (in ``lang``)."""
        code = normalise_lang(lang) if lang else current_lang()
        head = (
            t("crawl.complete", code)
            if self.complete
            else t("crawl.incomplete", code, why=self.stopped)
        )
        sat = t("crawl.saturated", code, n=self.tiles_saturated) if self.tiles_saturated else ""
        return t(
            "crawl.summary",
            code,
            head=head,
            pois=f"{self.pois:,}",
            responses=f"{self.responses:,}",
            done=self.tiles_done,
            split=self.tiles_split,
            pending=self.tiles_pending,
            saturated=sat,
            calls=self.calls,
            calls_total=self.calls_total,
            form=self.polygon_form,
        )


class _Stop(Exception):
    """The crawl stops cleanly (quota, call budget); the manifest says what is left."""


@dataclass
class _Tile:
    id: str
    minx: float
    miny: float
    size: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.minx, self.miny, self.minx + self.size, self.miny + self.size

    def polygon_param(self, form: str = "rect") -> str:
        """Amap's ``polygon`` for this tile, 6 decimals.

        ``rect`` gives the upper-left and lower-right corners, ``ring`` the closed ring SW, SE,
        NE, NW, SW (five pairs, the first repeated last).
        """
        x0, y0, x1, y1 = self.bounds
        if form == "ring":
            ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
            return "|".join(f"{x:.6f},{y:.6f}" for x, y in ring)
        return f"{x0:.6f},{y1:.6f}|{x1:.6f},{y0:.6f}"


def _tile(root: list[float], tid: str) -> _Tile:
    """The tile of quadtree path ``tid`` ("0" is the root; digits 0-3 = SW, SE, NW, NE)."""
    x, y, size = root
    depth = len(tid) - 1
    i = j = 0
    for ch in tid[1:]:
        q = int(ch)
        i, j = 2 * i + (q & 1), 2 * j + (q >> 1)
    s = size / (1 << depth)
    return _Tile(tid, x + i * s, y + j * s, s)


def _boundary_gcj(boundary: Any, datum: str | None) -> shapely.Geometry:
    """The boundary as one GCJ-02 (multi)polygon."""
    from clusterscape.coords import normalise_datum
    from clusterscape.io.layers import convert_geometry

    if isinstance(boundary, (str, os.PathLike)):
        from clusterscape.io.layers import read_boundary

        geom = read_boundary(Path(boundary), datum=datum).geometry.iloc[0]
        src = "wgs84"
    elif isinstance(boundary, shapely.Geometry):
        geom, src = boundary, normalise_datum(datum or "wgs84", caller="crawl_amap")
    else:  # a GeoDataFrame / GeoSeries
        gs = boundary.geometry if hasattr(boundary, "geometry") else boundary
        if gs.crs is not None and not gs.crs.equals("EPSG:4326"):
            gs = gs.to_crs("EPSG:4326")
        geom, src = gs.union_all(), normalise_datum(datum or "wgs84", caller="crawl_amap")
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError(f"{_CALLER}: the boundary holds no polygon.")
    return convert_geometry(geom, src=src, dst="gcj02", caller="crawl_amap")


def _api_version(endpoint: str) -> str:
    return "v5" if "/v5/" in urllib.parse.urlsplit(endpoint).path else "v3"


def _safe_endpoint(endpoint: str, key: str) -> str:
    """The endpoint with any key in it hidden (it is written to the manifest)."""
    parts = urllib.parse.urlsplit(endpoint)
    query = [
        (k, REDACTED if k.lower() in ("key", "sig") else v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    clean = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return redact_text(clean, secrets=[key])


class _Client:
    """HTTP GETs at most ``qps`` a second, retried with exponential back-off."""

    def __init__(
        self,
        key: str,
        *,
        qps: float,
        retries: int,
        backoff: float,
        timeout: float,
        max_calls: int | None,
        sleep: Callable[[float], None],
        log: Callable[[str], None],
        lang: str = "en",
    ) -> None:
        self.key = key
        self.lang = lang
        self.interval = 1.0 / qps if qps > 0 else 0.0
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.max_calls = max_calls
        self.sleep = sleep
        self.log = log
        self.calls = 0
        self.before = 0  # calls made by earlier runs on the same output
        self._last = -math.inf

    def _redact(self, text: str) -> str:
        return redact_text(text, secrets=[self.key, urllib.parse.quote(self.key, safe="")])

    def _get(self, url: str) -> tuple[int, bytes]:
        if self.max_calls is not None and self.calls >= self.max_calls:
            raise _Stop(t("crawl.budget", self.lang, max_calls=self.max_calls))
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last = time.monotonic()
        self.calls += 1
        req = urllib.request.Request(url, headers={"User-Agent": "clusterscape fetch-amap"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read() if exc.fp is not None else b""

    def fetch(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        """The decoded response of a successful call (status "1")."""
        query = urllib.parse.urlencode({**params, "key": self.key})
        url = f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
        attempt = 0
        while True:
            doc, problem, infocode = self._try(url, endpoint)
            if doc is not None:
                return doc
            quota = infocode in QUOTA_INFOCODES
            if attempt >= (min(self.retries, _QUOTA_RETRIES) if quota else self.retries):
                break
            attempt += 1
            delay = min(self.backoff * 2 ** (attempt - 1), _MAX_BACKOFF)
            fill = {"attempt": attempt, "retries": self.retries, "delay": f"{delay:.2g}"}
            self.log(t("crawl.retry", self.lang, problem=problem, **fill))
            self.sleep(delay)
        if quota:
            raise _Stop(t("crawl.quota", self.lang, problem=problem))
        raise _Stop(t("crawl.persisted", self.lang, problem=problem, attempts=attempt))

    def _try(self, url: str, endpoint: str) -> tuple[dict[str, Any] | None, str, str]:
        """(response, "", "") on success, else (None, the problem, Amap's infocode or "")."""
        lang = self.lang
        try:
            code, body = self._get(url)
        except TimeoutError as exc:
            why = self._redact(str(exc)) or t("crawl.problem.no_answer", lang)
            return None, t("crawl.problem.timeout", lang, why=why), ""
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = self._redact(str(getattr(exc, "reason", exc)))
            return None, t("crawl.problem.connection", lang, why=reason), ""
        if code >= 500 or code == 429:
            return None, f"HTTP {code}", ""
        if code >= 400:
            where = f"{_CALLER}: HTTP {code} from {_safe_endpoint(endpoint, self.key)}"
            if code == 400:
                raise _ParamError(f"{where}; check --endpoint and --polygon-form.", f"HTTP {code}")
            raise CrawlError(f"{where}; check --endpoint.")
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None, t("crawl.problem.not_json", lang), ""
        if not isinstance(doc, dict):
            return None, t("crawl.problem.not_object", lang), ""
        status, infocode = str(doc.get("status", "")), str(doc.get("infocode", ""))
        if status == "1":
            return doc, "", ""
        info = self._redact(str(doc.get("info", "")))
        problem = t("crawl.problem.amap", lang, info=info, infocode=infocode)
        if infocode in RETRY_INFOCODES or infocode in QUOTA_INFOCODES:
            return None, problem, infocode
        if infocode in PARAM_INFOCODES:
            raise _ParamError(
                f"{_CALLER}: {problem}; the crawl stopped (check --types, --page-size and "
                "--polygon-form).",
                problem,
            )
        raise CrawlError(
            f"{_CALLER}: {problem}; the crawl stopped (check the key, that the Web Service "
            "API is enabled for it, and --types)."
        )


def _load_manifest(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(
            f"{_CALLER}: cannot read the manifest {path.name} ({exc}); move it away to start over."
        ) from None
    for k, v in settings.items():
        if man.get("settings", {}).get(k) != v:
            raise InvalidInputError(
                f"{_CALLER}: {path.name} was made with {k}={man.get('settings', {}).get(k)!r}, "
                f"not {v!r}; resume with the same options or give another --out."
            )
    return man


def _save_manifest(path: Path, man: dict[str, Any]) -> None:
    from clusterscape.io.writers import atomic_write

    tiles = man["tiles"]
    man["summary"] = {s: sum(1 for t in tiles.values() if t["state"] == s) for s in _STATES}
    man["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(man, ensure_ascii=False, indent=1), encoding="utf-8")


_STATES = ("pending", "done", "split", "saturated")
_SAVE_EVERY = 1.0  # seconds between manifest saves during a crawl (and always at its end)
_LAST_SAVE: dict[Path, float] = {}


def _save_soon(path: Path, man: dict[str, Any]) -> None:
    """Save the manifest if the last save is over ``_SAVE_EVERY`` seconds old."""
    now = time.monotonic()
    if now - _LAST_SAVE.get(path, -math.inf) >= _SAVE_EVERY:
        _save_manifest(path, man)
        _LAST_SAVE[path] = now


def _scan_output(out: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """The ``_request`` of every line of ``out`` and its distinct POI ids; a cut last line goes."""
    if not out.exists():
        return [], set()
    raw = out.read_bytes()
    if raw and not raw.endswith(b"\n"):  # a line cut short by an interruption
        cut = raw.rfind(b"\n") + 1
        with out.open("r+b") as fh:
            fh.truncate(cut)
        raw = raw[:cut]
    requests: list[dict[str, Any]] = []
    ids: set[str] = set()
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            doc = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("_request"), dict):
            requests.append(doc["_request"])
        ids.update(str(p.get("id")) for p in doc.get("pois") or [] if p.get("id"))
    return requests, ids


def _reconcile(man: dict[str, Any], requests: list[dict[str, Any]], geom: shapely.Geometry) -> None:
    """Bring a manifest that lags behind ``out`` up to date (it is saved at most once a second).

    A page in ``out`` counts as fetched; a tile in ``out`` that the manifest does not know
    means its ancestors were split. A tile whose last page shows it complete is settled.
    """
    tiles = man["tiles"]
    settings = man["settings"]
    touched: dict[str, int] = {}
    for req in requests:
        tid = str(req.get("tile", ""))
        if not tid.startswith("0") or not tid.isdigit():
            continue
        for k in range(1, len(tid)):  # ancestors first: each must be split
            anc = tid[:k]
            if tiles.get(anc, {}).get("state") != "split":
                _split(man, anc, geom, lambda _m: None, "seen split in the output")
        tile = tiles.setdefault(tid, _new_tile())
        if tile["state"] == "split":
            continue
        page = int(req.get("page", 0))
        if page in tile["pages"]:
            continue
        tile["pages"] = sorted([*tile["pages"], page])
        if "total" in req and tile.get("total") is None:
            tile["total"] = int(req["total"])
        tile["n"] = tile.get("n", 0) + int(req.get("n", 0))
        if page == max(tile["pages"]):
            touched[tid] = int(req.get("n", 0))
    for tid, last_n in touched.items():
        tile = tiles[tid]
        if tile["state"] != "pending":
            continue
        page, total = max(tile["pages"]), tile.get("total")
        full = (
            settings["api"] == "v3" and total is not None and page * settings["page_size"] >= total
        )
        if full or last_n < settings["page_size"]:
            seen = total if settings["api"] == "v3" and total is not None else tile["n"]
            tile["state"] = "saturated" if seen >= settings["cap"] else "done"


def _new_tile() -> dict[str, Any]:
    return {"state": "pending", "pages": [], "total": None, "n": 0}


def crawl_amap(
    key: str,
    boundary: Any,
    types: str,
    out: str | os.PathLike[str],
    *,
    endpoint: str = DEFAULT_ENDPOINT,
    cap: int = 900,
    page_size: int = 25,
    qps: float = 3.0,
    min_tile: float = 0.0005,
    datum: str | None = None,
    max_pages: int = 100,
    max_calls: int | None = None,
    retries: int = 6,
    backoff: float = 1.0,
    timeout: float = 15.0,
    extensions: str = "base",
    polygon_form: str = "auto",
    lang: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] | None = None,
) -> CrawlReport:
    """Fetch every POI of ``types`` inside ``boundary`` from Amap polygon search.

    Parameters
    ----------
    key : str
        The Amap Web Service key (never written anywhere).
    boundary : path, shapely geometry or GeoDataFrame
        The study area; a file is read with :func:`clusterscape.io.read_boundary`.
    types : str
        Amap type codes or names, separated by ``|`` or ``,`` (``"141201|170000"``).
    out : path
        JSON Lines output (one response per line); ``<out>.manifest.json`` beside it.
    endpoint : str
        Polygon-search URL: v3 ``.../v3/place/polygon`` (default) or v5
        ``.../v5/place/polygon`` (a test server's URL works the same way).
    cap : int
        A tile whose count reaches this is split (Amap returns at most about 900).
    page_size : int
        POIs per page (``offset`` in v3, ``page_size`` in v5; Amap allows at most 25).
    qps : float
        Calls per second at most.
    min_tile : float
        Side in degrees below which a tile is not split further (0.0005 is about 50 m).
    datum : str, optional
        Datum of the boundary's degrees (``wgs84`` by default).
    max_pages : int
        Pages fetched per tile at most (Amap serves at most 100).
    max_calls : int, optional
        Stop after this many calls (a daily budget); run again to go on.
    retries, backoff, timeout : int, float, float
        Retries per call, the first back-off in seconds (doubled each retry, at most 60 s),
        and the HTTP time-out in seconds.
    extensions : str
        v3 ``extensions`` (``"base"`` or ``"all"``); ignored for v5.
    polygon_form : {"auto", "rect", "ring"}
        How a tile is sent: ``rect`` (two corners), ``ring`` (closed ring of five pairs), or
        ``auto`` (rectangles, switching to rings for good when the first call of a tile is
        refused as a parameter error). A resume with ``auto`` keeps the manifest's form.
    lang : str, optional
        Language of the log lines and stop reasons (``en``/``zh``; default: the current one).
    sleep, log : callable, optional
        The pause function (tests pass a fake) and a line logger.

    Returns
    -------
    CrawlReport
        Coverage and calls; ``complete`` is False when the run stopped early (quota, budget,
        repeated failures), and a second call with the same ``out`` resumes it.

    Raises
    ------
    CrawlError
        On an error retrying cannot fix (bad key, service not enabled, bad parameters); the
        manifest is saved first, so a corrected run resumes.
    """
    if not key or not str(key).strip():
        raise InvalidInputError(f"{_CALLER}: give the Amap key (--key or AMAP_KEY).")
    key = str(key).strip()
    code_list = [t.strip() for t in str(types).replace(",", "|").split("|") if t.strip()]
    if not code_list:
        raise InvalidInputError(f"{_CALLER}: --types is empty; give Amap type codes, e.g. 141201.")
    if cap < 1 or page_size < 1 or max_pages < 1 or min_tile <= 0:
        raise InvalidInputError(
            f"{_CALLER}: cap, page size, max pages and min tile must be positive."
        )
    mode = str(polygon_form).strip().lower()
    if mode not in POLYGON_FORMS:
        raise InvalidInputError(
            f"{_CALLER}: --polygon-form is {polygon_form!r}; choose auto, rect or ring."
        )
    code = normalise_lang(lang) if lang else current_lang()
    say = log or (lambda _msg: None)
    out_p = Path(out)
    man_p = out_p.with_name(out_p.name + ".manifest.json")
    api = _api_version(endpoint)
    geom = _boundary_gcj(boundary, datum)
    shapely.prepare(geom)
    digest = hashlib.sha256(shapely.to_wkb(shapely.set_precision(geom, 1e-7))).hexdigest()[:16]
    settings = {
        "endpoint": _safe_endpoint(endpoint, key),
        "api": api,
        "types": "|".join(code_list),
        "cap": int(cap),
        "page_size": int(page_size),
        "min_tile": float(min_tile),
        "boundary": digest,
    }
    man = _load_manifest(man_p, settings)
    requests, ids = _scan_output(out_p)
    if man is None:
        if requests:
            raise InvalidInputError(
                f"{_CALLER}: {out_p.name} holds responses but has no manifest "
                f"({man_p.name}); give another --out, or restore the manifest to resume."
            )
        x0, y0, x1, y1 = geom.bounds
        size = max(x1 - x0, y1 - y0) * (1 + 1e-9) + 1e-9
        man = {
            "version": _VERSION,
            "settings": settings,
            "root": [x0, y0, size],
            "tiles": {"0": _new_tile()},
            "calls": 0,
            "polygon": _polygon_state(None, mode, []),
        }
        _save_manifest(man_p, man)  # before any call: an output never exists without it
    else:
        _reconcile(man, requests, geom)
    man["polygon"] = _polygon_state(man.get("polygon"), mode, requests)
    client = _Client(
        key,
        qps=qps,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        max_calls=max_calls,
        sleep=sleep,
        log=lambda m: say(redact_text(m, secrets=[key])),
        lang=code,
    )
    client.before = int(man.get("calls", 0))
    out_p.parent.mkdir(parents=True, exist_ok=True)
    stopped = ""
    try:
        with out_p.open("a", encoding="utf-8") as fh:
            _run(man, man_p, fh, client, endpoint, api, settings, geom, ids,
                 int(max_pages), extensions, say)  # fmt: skip
    except _Stop as stop:
        stopped = str(stop)
        say(t("crawl.stopped", code, why=stopped))
    except CrawlError:
        _save_manifest(man_p, _count(man, client))
        raise
    except BaseException:  # interrupted (Ctrl-C): what was fetched is kept for a resume
        _save_manifest(man_p, _count(man, client))
        raise
    report = _report(_count(man, client), out_p, man_p, client.calls, ids, stopped)
    report = dataclasses.replace(report, polygon_form=man["polygon"]["form"])
    man["report"] = {
        k: v for k, v in dataclasses.asdict(report).items() if k not in ("out", "manifest")
    }
    _save_manifest(man_p, man)
    return report


def _polygon_state(
    saved: dict[str, Any] | None, mode: str, requests: list[dict[str, Any]]
) -> dict[str, Any]:
    """The manifest's ``polygon`` entry: the form asked for (``mode``) and the form in use.

    ``auto`` goes on with the form of an earlier run: the manifest's, or ``ring`` when the
    output already holds a ring (a manifest saved before the switch); a new crawl starts with
    ``rect``. ``rect`` and ``ring`` are used as given.
    """
    state = dict(saved) if isinstance(saved, dict) else {}
    if mode != "auto":
        form = mode
    elif state.get("form") in ("rect", "ring"):
        form = state["form"]
    else:
        form = "rect"
    rings = any(str(r.get("polygon", "")).count("|") >= 4 for r in requests)
    if mode == "auto" and form == "rect" and rings:
        form = "ring"
    state.update(mode=mode, form=form)
    return state


def _fetch_page(
    poly: dict[str, Any],
    client: _Client,
    endpoint: str,
    params: dict[str, str],
    first: _Tile | None,
) -> dict[str, Any]:
    """One data call; in ``auto`` form a tile's refused ``first`` call is asked again as a ring.

    On success the ring is kept for the rest of the crawl (``poly["form"]``, the manifest's
    ``polygon``; a resume also sees it in the output's ``_request.polygon``);
    ``params["polygon"]`` is the polygon that was answered.
    """
    try:
        return client.fetch(endpoint, params)
    except _ParamError as exc:
        if first is None or poly["mode"] != "auto" or poly["form"] != "rect":
            raise
        problem = exc.problem
    client.log(t("crawl.ring", client.lang, tile=first.id, problem=problem))
    params["polygon"] = first.polygon_param("ring")
    try:
        doc = client.fetch(endpoint, params)
    except _ParamError as exc:
        raise CrawlError(f"{exc} (refused as a rectangle and as a closed ring)") from None
    poly.update(form="ring", switched={"tile": first.id, "why": problem})
    return doc


def _count(man: dict[str, Any], client: _Client) -> dict[str, Any]:
    man["calls"] = client.before + client.calls
    return man


def _run(
    man: dict[str, Any],
    man_p: Path,
    fh: Any,
    client: _Client,
    endpoint: str,
    api: str,
    settings: dict[str, Any],
    geom: shapely.Geometry,
    ids: set[str],
    max_pages: int,
    extensions: str,
    say: Callable[[str], None],
) -> None:
    cap, page_size = settings["cap"], settings["page_size"]
    tiles = man["tiles"]
    while True:
        todo = sorted(t for t, v in tiles.items() if v["state"] == "pending")
        if not todo:
            return
        tid = todo[0]
        tile, state = _tile(man["root"], tid), tiles[tid]
        at_min = tile.size / 2 < settings["min_tile"]
        buffered: list[dict[str, Any]] = []  # v5: pages held until the tile's size is known
        page = max(state["pages"], default=0) + 1
        while True:
            params = {
                "polygon": tile.polygon_param(man["polygon"]["form"]),
                "types": settings["types"],
            }
            if api == "v5":
                params.update(page_size=str(page_size), page_num=str(page))
            else:
                params.update(offset=str(page_size), page=str(page), extensions=extensions)
            first = tile if page == 1 else None
            doc = _fetch_page(man["polygon"], client, endpoint, params, first)
            pois = doc.get("pois") or []
            n = len(pois) if isinstance(pois, list) else 0
            total = _int(doc.get("count")) if api == "v3" and page == 1 else None
            req = {"tile": tid, "page": page, "polygon": params["polygon"], "n": n}
            if total is not None:
                req["total"] = total
            if api == "v3" and page == 1 and total is not None and total >= cap and not at_min:
                why = t("crawl.why_count", client.lang, total=total, cap=cap)
                _split(man, tid, geom, say, why, client.lang)
                break
            if api == "v3" and page == 1 and total is None:
                state["no_count"] = True  # a v3 answer without a count: page to the cap, as v5
            if api == "v5" or state.get("no_count"):
                buffered.append({**doc, "_request": {**req, "api": api}})
                seen = sum(int(b["_request"]["n"]) for b in buffered) + state.get("n", 0)
                if seen >= cap and not at_min:
                    why = t("crawl.why_seen", client.lang, seen=seen, cap=cap)
                    _split(man, tid, geom, say, why, client.lang)
                    break
                last = n < page_size or page >= max_pages
                if last:
                    for b in buffered:
                        _write(fh, b, client.key, ids)
                        state["pages"].append(b["_request"]["page"])
                    state["n"] = seen
                    state["state"] = "saturated" if seen >= cap else "done"
                    break
                page += 1
                continue
            if state.get("total") is None and total is not None:
                state["total"] = total
            _write(fh, {**doc, "_request": {**req, "api": "v3"}}, client.key, ids)
            state["pages"].append(page)
            state["n"] = state.get("n", 0) + n
            want = state.get("total")
            if (
                n < page_size
                or (want is not None and page * page_size >= want)
                or page >= max_pages
            ):
                state["state"] = "saturated" if (want or 0) >= cap else "done"
                break
            _save_soon(man_p, _count(man, client))
            page += 1
        if state["state"] == "saturated":
            say(t("crawl.tile_saturated", client.lang, tile=tid))
        _save_soon(man_p, _count(man, client))


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _split(
    man: dict[str, Any],
    tid: str,
    geom: shapely.Geometry,
    say: Callable[[str], None],
    why: str,
    lang: str = "en",
) -> None:
    man["tiles"][tid] = {"state": "split", "pages": [], "total": None, "n": 0, "why": why}
    kids = 0
    for q in range(4):
        child = _tile(man["root"], tid + str(q))
        if geom.intersects(box(*child.bounds)):
            man["tiles"].setdefault(child.id, _new_tile())
            kids += 1
    say(t("crawl.split", lang, tile=tid, kids=kids, why=why))


def _write(fh: Any, doc: dict[str, Any], key: str, ids: set[str]) -> None:
    """Append one response line; POIs already written (on a shared tile edge) are left out.

    The ids left out are listed in ``_request["repeats"]``, so the file holds each POI once and
    says what it dropped.
    """
    pois = doc.get("pois")
    if isinstance(pois, list):
        fresh, repeats = [], []
        for poi in pois:
            pid = str(poi.get("id") or "") if isinstance(poi, dict) else ""
            if pid and pid in ids:
                repeats.append(pid)
                continue
            fresh.append(poi)
            if pid:
                ids.add(pid)
        if repeats:
            doc = {**doc, "pois": fresh, "_request": {**doc["_request"], "repeats": repeats}}
    line = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    if key in line:  # never write the key, even if a server echoed it back
        line = line.replace(key, REDACTED)
    fh.write(line + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def _report(
    man: dict[str, Any], out: Path, man_p: Path, calls: int, ids: set[str], stopped: str
) -> CrawlReport:
    tiles = man["tiles"].values()
    by = {s: sum(1 for t in tiles if t["state"] == s) for s in _STATES}
    responses = sum(len(t["pages"]) for t in tiles)
    return CrawlReport(
        out=out,
        manifest=man_p,
        complete=by["pending"] == 0,
        tiles=len(man["tiles"]),
        tiles_done=by["done"],
        tiles_pending=by["pending"],
        tiles_split=by["split"],
        tiles_saturated=by["saturated"],
        calls=calls,
        calls_total=int(man.get("calls", calls)),
        responses=responses,
        pois=len(ids),
        stopped=stopped if by["pending"] else "",
    )
