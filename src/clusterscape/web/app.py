"""FastAPI app that serves one saved study directory, read-only.

Routes: ``/`` (the map page), ``/api/summary``, ``/api/clusters``, ``/api/layers``,
``/api/layers/{name}`` (GeoJSON, paged), ``/api/figures``, ``/figures/{name}`` (PNG),
``/api/config``, ``/openapi.json`` and ``/static/...`` (the page's own JS/CSS and MapLibre GL,
installed from npm by ``make install``). Swagger UI and ReDoc (``/docs``, ``/redoc``) are off:
their assets would come from a CDN.

Safety rules:

* Only names that the study itself lists are served, and only regular files whose resolved path
  stays inside the study directory (a symbolic link out of it, a directory named ``x.png``, any
  path trick get 404). Figures are PNG only, checked by signature.
* Every response carries ``X-Content-Type-Options: nosniff``, a ``Content-Security-Policy``
  (scripts, styles and data from this origin only), ``X-Frame-Options: DENY`` and
  ``Referrer-Policy: no-referrer``.
* The ``Host`` header must name a host the server was started for (``127.0.0.1``,
  ``localhost``, ``::1`` and any ``allowed_hosts``), which defeats DNS rebinding; others get 400.
* Parsed files are cached by file identity (device, inode, size, modification time), so a
  re-run into the same ``--out`` is seen at the next request; each entry is built once even
  under concurrent cold requests (single flight), and the cache is bounded in bytes.
* A damaged file answers 409 (Conflict) with one line naming it; a missing optional file answers empty.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from clusterscape import results
from clusterscape.errors import InvalidInputError
from clusterscape.web.basemaps import Basemap, csp_sources, resolve_basemaps
from clusterscape.web.establishments import (
    ESTABLISHMENTS,
    build_columns,
    build_geojson,
    default_fields,
    years_of,
)

__all__ = ["DEFAULT_PAGE", "LOOPBACK_HOSTS", "MAX_PAGE", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
GEOJSON_MEDIA = "application/geo+json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Host names always accepted in the ``Host`` header.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Features per page of ``/api/layers/{name}`` by default, and at most.
DEFAULT_PAGE = 10_000
MAX_PAGE = 50_000
MAX_FIGURE_BYTES = 64 * 1024 * 1024
CACHE_BYTES = 256 * 1024 * 1024

#: The life-cycle outputs (written by the life-cycle step when a study has it).
LIFECYCLE = "lifecycle.csv"
_TABLE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,100}")
_FORMATS = "^(json|csv|geojson)$"

# 409 Conflict: the request is fine, the study's state is not (a 422 would blame the request).
_DAMAGED: dict[int | str, dict[str, Any]] = {
    409: {"description": "A file of the study is damaged (the detail names it)"}
}


class _Damaged(Exception):
    """A study file exists but cannot be read (raised from the reason of a DamagedFileError)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def _size_of(value: Any) -> int:
    """Bytes a cached value holds (roughly, for frames; 1 KiB for small objects)."""
    if isinstance(value, (bytes, str)):
        return len(value)
    usage = getattr(value, "memory_usage", None)
    if callable(usage):
        try:
            return int(usage(index=True, deep=True).sum()) + 1024
        except (TypeError, ValueError, AttributeError):
            return 1024
    return 1024


class _Cache:
    """A byte-bounded LRU cache whose entries are built once even when requested concurrently."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._flights: dict[tuple[Any, ...], threading.Lock] = {}
        self.builds = 0  # how many times a value was built (tests check single flight)

    def get(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key][0]
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key][0]
            try:
                value = build()
                self.builds += 1
                size = _size_of(value)
                with self._lock:
                    if size <= self.max_bytes:
                        self._data[key] = (value, size)
                        self._bytes += size
                        while self._bytes > self.max_bytes and self._data:
                            _, (_, old) = self._data.popitem(last=False)
                            self._bytes -= old
            finally:
                with self._lock:
                    self._flights.pop(key, None)
        return value


def _download(content: bytes, media: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media,
        headers={
            "cache-control": "no-cache",
            "content-disposition": f'attachment; filename="{filename}"',
        },
    )


def _table_geojson(frame: Any, footprints: Any) -> bytes:
    """A table as GeoJSON: joined onto the cluster footprints by cluster_id, else points at lon/lat."""
    import geopandas as gpd

    if frame is None:
        return b'{"type": "FeatureCollection", "features": []}'
    if footprints is not None and "cluster_id" in frame.columns and "cluster_id" in footprints:
        shapes = footprints[["cluster_id", footprints.geometry.name]].drop_duplicates("cluster_id")
        joined = shapes.merge(frame, on="cluster_id", how="right")
        gdf = gpd.GeoDataFrame(joined, geometry=footprints.geometry.name, crs=footprints.crs)
    elif {"lon", "lat"} <= set(frame.columns):
        lon = pd.to_numeric(frame["lon"], errors="coerce")
        lat = pd.to_numeric(frame["lat"], errors="coerce")
        gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=results.LAYER_CRS)
    else:
        gdf = gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=results.LAYER_CRS)
    return str(gdf.to_json(na="null", drop_id=True, to_wgs84=False)).encode()


def _host_name(raw: str) -> str:
    """The host part of a Host header (no port, lower case, IPv6 brackets removed)."""
    raw = raw.strip().lower()
    if raw.startswith("["):
        return raw[1 : raw.find("]")] if "]" in raw else raw
    if raw.count(":") == 1:
        raw = raw.split(":", 1)[0]
    return raw.rstrip(".")


def _security_headers(basemaps: list[Basemap]) -> list[tuple[bytes, bytes]]:
    tiles = csp_sources(basemaps)
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'{tiles}; "
        "worker-src 'self' blob:; child-src 'self' blob:; font-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


class _Guard:
    """ASGI middleware: refuse unknown Host headers; add the security headers to every response."""

    def __init__(self, app: Any, *, allowed: frozenset[str], headers: list[tuple[bytes, bytes]]):
        self.app = app
        self.allowed = allowed
        self.headers = headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"]
        extra = self.headers

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        if len(hosts) != 1 or _host_name(hosts[0]) not in self.allowed:
            body = json.dumps(
                {"detail": "host not allowed: start the server with --allow-host NAME"}
            ).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)


def create_app(
    out_dir: str | Path,
    *,
    tile_url: str | None = None,
    basemaps: Iterable[str] = (),
    basemap_datum: str = "wgs84",
    allowed_hosts: Iterable[str] = (),
) -> FastAPI:
    """Build the dashboard app for the study saved in ``out_dir``.

    Parameters
    ----------
    out_dir : path
        A directory written by ``clusterscape run`` (needs ``summary.json``). It may be the link
        that ``run`` maintains; it is followed at every request, so a re-run is picked up.
    tile_url : str, optional
        An XYZ raster tile URL template (http/https) for a basemap (the older form of
        ``basemaps=[url]``), offered first.
    basemaps : iterable of str
        Basemaps the page offers besides ``blank``: built-in names (``osm``, ``amap``; see
        :mod:`clusterscape.web.basemaps`) or XYZ URL templates; the first is shown at start. By
        default the map shows only the study's own layers (no network needed). Only these tile
        hosts enter the CSP.
    basemap_datum : {"wgs84", "gcj02"}
        Datum of the URL templates in ``basemaps`` (built-in names carry their own).
    allowed_hosts : iterable of str, optional
        Host names accepted in the ``Host`` header besides ``127.0.0.1``, ``localhost`` and
        ``::1`` (e.g. the machine's name when serving on a network interface).

    Returns
    -------
    fastapi.FastAPI
        The app (serve it with uvicorn, or ``clusterscape serve``).
    """
    root = Path(out_dir).absolute()
    if not (root / results.SUMMARY).is_file():
        raise InvalidInputError(
            f"serve: {root} has no summary.json; point it at a directory written by `clusterscape run`."
        )
    if tile_url:
        resolve_basemaps([tile_url], option="--tile-url")  # its own error message
    offered = resolve_basemaps([*([tile_url] if tile_url else []), *basemaps], datum=basemap_datum)
    headers = _security_headers(offered)
    allowed = frozenset(_host_name(h) for h in (*LOOPBACK_HOSTS, *allowed_hosts) if h and h.strip())
    cache = _Cache(CACHE_BYTES)

    app = FastAPI(
        title="clusterscape dashboard",
        version="1",
        description="Read-only access to one clusterscape study: summary, clusters, map layers, figures.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.cache = cache

    def base() -> Path:
        try:
            return root.resolve(strict=True)
        except OSError:
            raise HTTPException(status_code=404, detail="the study directory is gone") from None

    def regular(rel: str) -> tuple[Path, os.stat_result] | None:
        """A regular file of the study (resolved inside it) and its stat, or None."""
        top = base()
        try:
            path = (top / rel).resolve(strict=True)
            st = os.stat(path)
        except (OSError, RuntimeError):
            return None
        if not path.is_relative_to(top) or not stat.S_ISREG(st.st_mode):
            return None
        return path, st

    def identity(st: os.stat_result) -> tuple[int, int, int, int]:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def read_bytes(path: Path, limit: int) -> bytes:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                raise OSError("not a regular file of acceptable size")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                return fh.read(limit + 1)
        finally:
            os.close(fd)

    def cached(rel: str, kind: str, build: Callable[[Path], Any], *extra: Any) -> Any:
        for attempt in (0, 1):
            found = regular(rel)
            if found is None:
                return None
            path, st = found
            try:
                return cache.get((kind, str(path), identity(st), *extra), partial(build, path))
            except _Damaged as exc:
                # A re-run switched the study and removed the old files mid-read: once more.
                if attempt == 0 and not path.exists():
                    continue
                raise HTTPException(status_code=409, detail=f"{rel} is damaged: {exc}") from None
        return None  # pragma: no cover - the loop always returns or raises

    # --- builders: the files are parsed by clusterscape.results (each raises _Damaged) ---
    def build_summary(path: Path) -> bytes:
        try:
            raw = read_bytes(path, results.MAX_SUMMARY_BYTES)
            data = results.parse_summary(raw, path, caller="serve")
        except OSError as exc:
            raise _Damaged(_one_line(exc)) from None
        except results.DamagedFileError as exc:
            raise _Damaged(exc.reason) from None
        return results.dumps_json(data).encode()

    def build_clusters(path: Path) -> bytes:
        try:
            frame = results.read_table(path, caller="serve")
        except results.DamagedFileError as exc:
            raise _Damaged(exc.reason) from None
        if frame is None:
            return b"[]"
        return results.dumps_json(results.records(frame)).encode()

    def build_layer_info(path: Path) -> dict[str, int]:
        try:
            return results.layer_counts(path, caller="serve")
        except results.DamagedFileError as exc:
            raise _Damaged(exc.reason) from None

    def layer_info() -> dict[str, int]:
        info = cached(results.GPKG, "layers", build_layer_info)
        return info or {}

    def build_page(path: Path, name: str, offset: int, limit: int, total: int) -> bytes:
        import geopandas as gpd

        try:
            if offset >= total:
                gdf = gpd.GeoDataFrame(geometry=[], crs=results.LAYER_CRS)
            else:
                gdf = results.read_layer_page(
                    path, name, offset=offset, limit=limit, caller="serve"
                )
            text = gdf.to_json(na="null", drop_id=True, to_wgs84=False)
        except results.DamagedFileError as exc:
            raise _Damaged(exc.reason) from None
        except Exception as exc:
            raise _Damaged(_one_line(exc)) from None
        returned = len(gdf)
        more: dict[str, Any] = {
            "numberMatched": total,
            "numberReturned": returned,
            "offset": offset,
        }
        if offset + returned < total:
            more["next"] = f"/api/layers/{quote(name)}?offset={offset + returned}&limit={limit}"
        # Append the paging members to the FeatureCollection object without re-parsing it.
        body = text.rstrip()
        assert body.endswith("}")
        return (body[:-1] + ", " + json.dumps(more)[1:]).encode()

    def figure_names() -> list[str]:
        top = base()
        try:
            figdir = (top / results.FIGURES).resolve(strict=True)
        except (OSError, RuntimeError):
            return []
        if not figdir.is_relative_to(top) or not figdir.is_dir():
            return []
        names = []
        for entry in sorted(figdir.iterdir()):
            if not entry.name.lower().endswith(".png") or "/" in entry.name:
                continue
            found = regular(f"{results.FIGURES}/{entry.name}")
            if found is None:
                continue
            try:
                with open(found[0], "rb") as fh:
                    if fh.read(8) != PNG_SIGNATURE:
                        continue
            except OSError:
                continue
            names.append(entry.name)
        return names

    def json_bytes(content: bytes) -> Response:
        return Response(
            content, media_type="application/json", headers={"cache-control": "no-cache"}
        )

    @app.get("/api/summary", summary="The study summary (summary.json)", responses=_DAMAGED)
    def summary() -> Response:
        content = cached(results.SUMMARY, "summary", build_summary)
        if content is None:
            raise HTTPException(status_code=404, detail="summary.json is missing")
        return json_bytes(content)

    @app.get(
        "/api/clusters",
        summary="One record per cluster (clusters.csv) as JSON, CSV or GeoJSON (footprints)",
        responses={
            200: {"content": {"application/json": {}, "text/csv": {}, GEOJSON_MEDIA: {}}},
            **_DAMAGED,
        },
    )
    def clusters(
        format: str = Query("json", pattern=_FORMATS),
        cluster_id: int | None = Query(
            None, ge=-(2**31), le=2**31, description="Only this cluster (a card's download)."
        ),
    ) -> Response:
        if format == "json" and cluster_id is None:
            content = cached(results.CLUSTERS, "clusters", build_clusters)
            return json_bytes(content if content is not None else b"[]")
        geo = None
        if format == "geojson" and "clusters" in layer_info():
            geo = cached(
                results.GPKG,
                "footprints",
                lambda path: results.read_layer_page(path, "clusters", caller="serve"),
            )
        frame = read_csv(results.CLUSTERS)
        name = "clusters"
        if cluster_id is not None and frame is not None and "cluster_id" in frame.columns:
            frame = frame[pd.to_numeric(frame["cluster_id"], errors="coerce") == cluster_id]
            name = f"cluster_{cluster_id}"
        return frame_response(frame, name, format, geo)

    @app.get("/api/layers", summary="Names of the map layers in results.gpkg", responses=_DAMAGED)
    def layers() -> list[str]:
        return list(layer_info())

    @app.get(
        "/api/layers/{name}",
        summary="One map layer as GeoJSON (WGS-84), one page of features",
        description=(
            "A FeatureCollection of at most `limit` features starting at `offset` (in the "
            "layer's stored order), with `numberMatched` (all features), `numberReturned`, "
            "`offset` and, when more remain, `next` (the URL of the next page). Small layers "
            "come whole in the first page."
        ),
        responses={
            200: {"content": {GEOJSON_MEDIA: {}}},
            404: {"description": "Unknown layer"},
            **_DAMAGED,
        },
    )
    def layer(
        name: str,
        offset: int = Query(0, ge=0, le=2**31, description="Index of the first feature."),
        limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Features per page."),
    ) -> Response:
        info = layer_info()
        if name not in info:
            raise HTTPException(status_code=404, detail="unknown layer")
        total = info[name]
        content = cached(
            results.GPKG,
            "page",
            lambda path: build_page(path, name, offset, limit, total),
            name,
            offset,
            limit,
        )
        if content is None:
            raise HTTPException(status_code=404, detail="unknown layer")
        return Response(content, media_type=GEOJSON_MEDIA, headers={"cache-control": "no-cache"})

    app.get("/api/figures", summary="File names of the study's figures (PNG)", name="figures")(
        figure_names
    )

    @app.get(
        "/figures/{name}",
        summary="One figure image (PNG)",
        responses={200: {"content": {"image/png": {}}}, 404: {"description": "Unknown figure"}},
    )
    def figure(name: str) -> Response:
        if name not in figure_names():
            raise HTTPException(status_code=404, detail="unknown figure")
        found = regular(f"{results.FIGURES}/{name}")
        if found is None:
            raise HTTPException(status_code=404, detail="unknown figure")
        try:
            content = read_bytes(found[0], MAX_FIGURE_BYTES)
        except OSError:
            raise HTTPException(status_code=404, detail="unknown figure") from None
        if not content.startswith(PNG_SIGNATURE):
            raise HTTPException(status_code=404, detail="unknown figure")
        return Response(content, media_type="image/png", headers={"cache-control": "no-cache"})

    # --- establishments (compact, cached gzip), years, tables and exports ---
    def establishment_fields() -> list[str]:
        if ESTABLISHMENTS not in layer_info():
            return []

        def build(path: Path) -> list[str]:
            try:
                return results.layer_columns(path, ESTABLISHMENTS, caller="serve")
            except results.DamagedFileError as exc:
                raise _Damaged(exc.reason) from None

        return list(cached(results.GPKG, "est-fields", build) or [])

    def read_establishments(
        path: Path, fields: list[str] | None, offset: int = 0, limit: int | None = None
    ) -> Any:
        try:
            return results.read_layer_page(
                path, ESTABLISHMENTS, offset=offset, limit=limit, columns=fields, caller="serve"
            )
        except results.DamagedFileError as exc:
            raise _Damaged(exc.reason) from None

    def build_establishments(path: Path, fields: list[str], fmt: str) -> bytes:
        gdf = read_establishments(path, fields)
        raw = (build_columns if fmt == "columns" else build_geojson)(gdf, fields)
        return gzip.compress(raw, compresslevel=5, mtime=0)

    def read_csv(rel: str) -> Any:
        def build(path: Path) -> Any:
            try:
                return results.read_table(path, caller="serve")
            except results.DamagedFileError as exc:
                raise _Damaged(exc.reason) from None

        return cached(rel, "frame", build)

    def table_names() -> list[str]:
        try:
            names = sorted(p.stem for p in base().glob("*.csv"))
        except OSError:
            return []
        return [n for n in names if _TABLE_NAME.fullmatch(n) and regular(f"{n}.csv")]

    def study_years() -> dict[str, int] | None:
        # Only the (first, last) pair is cached, never the establishments' frame.
        spans: list[pd.DataFrame] = []
        cols: list[str] = [c for c in ("opened", "closed") if c in establishment_fields()]
        if cols:
            span = cached(
                results.GPKG, "years", lambda path: years_of([read_establishments(path, cols)])
            )
            if span is not None:
                spans.append(pd.DataFrame({"year": [span["first"], span["last"]]}))
        life = read_csv(LIFECYCLE)
        if life is not None:
            spans.append(life)
        return years_of(spans)

    def gzip_response(request: Request, body: bytes, media: str, filename: str | None) -> Response:
        extra = {"cache-control": "no-cache", "vary": "accept-encoding"}
        if filename:
            extra["content-disposition"] = f'attachment; filename="{filename}"'
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            return Response(body, media_type=media, headers={**extra, "content-encoding": "gzip"})
        return Response(gzip.decompress(body), media_type=media, headers=extra)

    def frame_response(frame: Any, name: str, fmt: str, geo: Any = None) -> Response:
        if fmt == "csv":
            text = "" if frame is None else frame.to_csv(index=False)
            return _download(text.encode(), "text/csv; charset=utf-8", f"{name}.csv")
        if fmt == "geojson":
            return _download(_table_geojson(frame, geo), GEOJSON_MEDIA, f"{name}.geojson")
        rows = [] if frame is None else results.records(frame)
        return json_bytes(results.dumps_json(rows).encode())

    @app.get(
        "/api/establishments",
        summary="Every establishment, compact (columns or GeoJSON), for the map",
        description=(
            "`fields` is a comma-separated list of the layer's columns (default: sector, "
            "function, is_creative, cluster, opened, closed when present). `format=columns` "
            "gives {n, lon, lat, columns} with text dictionary-encoded (codes, labels); "
            "`format=geojson` a FeatureCollection with feature id = row index. Coordinates "
            "are WGS-84, rounded to 1e-6 degrees. Empty when the study has no establishments."
        ),
        responses={200: {"content": {"application/json": {}, GEOJSON_MEDIA: {}}}, **_DAMAGED},
    )
    def establishments(
        request: Request,
        fields: str | None = Query(None, max_length=2000, description="Comma-separated columns."),
        format: str = Query("columns", pattern="^(columns|geojson)$"),
    ) -> Response:
        available = establishment_fields()
        wanted = (
            default_fields(available)
            if fields is None
            else [f.strip() for f in fields.split(",") if f.strip()]
        )
        unknown = [f for f in wanted if f not in available]
        if unknown and available:
            raise HTTPException(
                status_code=422,
                detail=f"unknown field(s) {', '.join(unknown)[:200]}; the layer has {', '.join(available)[:600]}",
            )
        wanted = list(dict.fromkeys(wanted))
        media = "application/json" if format == "columns" else GEOJSON_MEDIA
        body = None
        if available:
            body = cached(
                results.GPKG,
                "establishments",
                lambda path: build_establishments(path, wanted, format),
                tuple(wanted),
                format,
            )
        if body is None:
            empty = (
                {"n": 0, "lon": [], "lat": [], "columns": {}}
                if format == "columns"
                else {
                    "type": "FeatureCollection",
                    "features": [],
                }
            )
            body = gzip.compress(json.dumps(empty).encode(), mtime=0)
        name = f"{ESTABLISHMENTS}.geojson" if format == "geojson" else None
        return gzip_response(request, body, media, name)

    @app.get(
        "/api/establishments/{index}",
        summary="Every field of one establishment (row `index` of the layer)",
        responses={404: {"description": "No such row"}, **_DAMAGED},
    )
    def establishment(index: int) -> Response:
        total = layer_info().get(ESTABLISHMENTS, 0)
        if not 0 <= index < total:
            raise HTTPException(status_code=404, detail="no such establishment")

        def build(path: Path) -> bytes:
            gdf = read_establishments(path, None, offset=index, limit=1)
            if not len(gdf):
                raise _Damaged("row not found")
            lon, lat = gdf.geometry.iloc[0].x, gdf.geometry.iloc[0].y
            row = results.records(gdf.drop(columns=gdf.geometry.name))[0]
            return results.dumps_json({"index": index, **row, "lon": lon, "lat": lat}).encode()

        content = cached(results.GPKG, "est-row", build, index)
        if content is None:
            raise HTTPException(status_code=404, detail="no such establishment")
        return json_bytes(content)

    app.get("/api/tables", summary="Names of the study's CSV tables", name="tables")(table_names)

    @app.get(
        "/api/tables/{name}",
        summary="One CSV table as JSON records, CSV or GeoJSON (rows with lon/lat)",
        responses={
            200: {"content": {"application/json": {}, "text/csv": {}, GEOJSON_MEDIA: {}}},
            404: {"description": "Unknown table"},
            **_DAMAGED,
        },
    )
    def table(name: str, format: str = Query("json", pattern=_FORMATS)) -> Response:
        if name not in table_names():
            raise HTTPException(status_code=404, detail="unknown table")
        return frame_response(read_csv(f"{name}.csv"), name, format)

    @app.get("/api/config", summary="Settings for the page: basemaps, years, tables")
    def config() -> dict[str, Any]:
        damaged: list[str] = []

        def tolerant(get: Callable[[], Any], empty: Any) -> Any:
            # A damaged file costs its part of the settings (named in `damaged`), not the page.
            try:
                return get()
            except HTTPException as exc:
                damaged.append(str(exc.detail))
                return empty

        return {
            "tile_url": tile_url,
            "lang": "zh" if getattr(app.state, "lang", "en") == "zh" else "en",
            "basemaps": [b.to_json() for b in offered],
            "basemap": offered[1].name if len(offered) > 1 else "blank",
            "years": tolerant(study_years, None),
            "lifecycle": tolerant(lambda: read_csv(LIFECYCLE) is not None, False),
            "establishments": tolerant(lambda: layer_info().get(ESTABLISHMENTS, 0), 0),
            "tables": table_names(),
            "damaged": list(dict.fromkeys(damaged)),
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Last resort: never a traceback to the client, and the same safety headers.
        return JSONResponse(
            {"detail": "internal error"},
            status_code=500,
            headers={k.decode(): v.decode() for k, v in headers},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_Guard, allowed=allowed, headers=headers)
    return app
