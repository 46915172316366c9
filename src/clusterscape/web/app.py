"""FastAPI app that serves one saved study directory, read-only.

Routes: ``/`` (the map page), ``/api/summary``, ``/api/clusters``, ``/api/layers``,
``/api/layers/{name}`` (GeoJSON), ``/api/figures``, ``/figures/{name}``, ``/api/config``, and
``/static/...`` (the page's own JS/CSS and MapLibre GL, installed from npm by ``make install``).
Only names that the study itself lists are served: unknown layers, figures and any path trick
(``..``, encoded slashes) get 404, never a file outside the output directory.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from clusterscape.errors import InvalidInputError

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
GEOJSON_MEDIA = "application/geo+json"


def _clean(value: Any) -> Any:
    """JSON cannot hold NaN/inf: turn them into null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def create_app(out_dir: str | Path, *, tile_url: str | None = None) -> FastAPI:
    """Build the dashboard app for the study saved in ``out_dir``.

    Parameters
    ----------
    out_dir : path
        A directory written by ``clusterscape run`` (needs ``summary.json``).
    tile_url : str, optional
        An XYZ raster tile URL template for a basemap; by default the map shows only the
        study's own boundaries (no network needed).
    """
    root = Path(out_dir).resolve()
    if not (root / "summary.json").is_file():
        raise InvalidInputError(
            f"serve: {root} has no summary.json; point it at a directory written by `clusterscape run`."
        )
    gpkg = root / "results.gpkg"
    figures_dir = root / "figures"

    app = FastAPI(
        title="clusterscape dashboard",
        version="1",
        description="Read-only access to one clusterscape study: summary, clusters, map layers, figures.",
    )

    @lru_cache(maxsize=1)
    def layer_names() -> tuple[str, ...]:
        if not gpkg.is_file():
            return ()
        import pyogrio

        return tuple(str(name) for name, _ in pyogrio.list_layers(gpkg))

    @lru_cache(maxsize=16)
    def layer_geojson(name: str) -> bytes:
        import geopandas as gpd

        gdf = gpd.read_file(gpkg, layer=name)
        if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
            gdf = gdf.to_crs("EPSG:4326")
        return gdf.to_json(na="null", drop_id=True, to_wgs84=False).encode("utf-8")

    def figure_names() -> list[str]:
        if not figures_dir.is_dir():
            return []
        return sorted(p.name for p in figures_dir.iterdir() if p.suffix.lower() in {".png", ".svg"})

    @app.get("/api/summary", summary="The study summary (summary.json)")
    def summary() -> JSONResponse:
        data = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        return JSONResponse(_clean(data))

    @app.get("/api/clusters", summary="One record per cluster (clusters.csv)")
    def clusters() -> JSONResponse:
        path = root / "clusters.csv"
        if not path.is_file():
            return JSONResponse([])
        frame = pd.read_csv(path)
        records = json.loads(frame.to_json(orient="records", force_ascii=False))
        return JSONResponse(_clean(records))

    @app.get("/api/layers", summary="Names of the map layers in results.gpkg")
    def layers() -> list[str]:
        return list(layer_names())

    @app.get(
        "/api/layers/{name}",
        summary="One map layer as GeoJSON (WGS-84)",
        responses={200: {"content": {GEOJSON_MEDIA: {}}}, 404: {"description": "Unknown layer"}},
    )
    def layer(name: str) -> Response:
        if name not in layer_names():
            raise HTTPException(status_code=404, detail=f"unknown layer {name!r}")
        return Response(layer_geojson(name), media_type=GEOJSON_MEDIA)

    @app.get("/api/figures", summary="File names of the study's figures")
    def figures() -> list[str]:
        return figure_names()

    @app.get(
        "/figures/{name}",
        summary="One figure image",
        responses={200: {"content": {"image/png": {}}}, 404: {"description": "Unknown figure"}},
    )
    def figure(name: str) -> FileResponse:
        if name not in figure_names():
            raise HTTPException(status_code=404, detail=f"unknown figure {name!r}")
        return FileResponse(figures_dir / name)

    @app.get("/api/config", summary="Settings for the page (basemap tile URL)")
    def config() -> dict[str, Any]:
        return {"tile_url": tile_url}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
