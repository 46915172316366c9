"""Shared helpers of :mod:`clusterscape.urban`: function ids, projection, grids, entropy."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from clusterscape._validation import check_columns
from clusterscape.coords import local_metric_crs, to_local_metric
from clusterscape.errors import InvalidInputError
from clusterscape.taxonomy import FUNCTIONS

__all__ = ["FUNCTIONS"]

# FUNCTIONS (the 16 urban function ids, in the order used for columns and for breaking ties) is
# the taxonomy's own list, re-exported here.

#: Largest grid (cells) a density surface may have before the caller is asked for a coarser cell.
MAX_GRID_CELLS = 25_000_000


def project_points(
    establishments: Any, *, caller: str
) -> tuple[gpd.GeoDataFrame, np.ndarray, pyproj.CRS]:
    """Return ``(establishments, xy, metric_crs)`` for points in any CRS (never mutates).

    Geographic input is projected to its local UTM zone (as
    :func:`clusterscape.coords.to_local_metric` does) on the raw coordinate arrays, without
    building new geometries, which matters at a million points.
    """
    if not isinstance(establishments, gpd.GeoDataFrame):
        raise InvalidInputError(
            f"{caller}: expected a GeoDataFrame of establishments, got "
            f"{type(establishments).__name__}. Read one with clusterscape.io.establishments.read_establishments."
        )
    if len(establishments) == 0:
        raise InvalidInputError(f"{caller}: the establishments table is empty.")
    if establishments.crs is None:
        to_local_metric(establishments)  # raises the project's CRSError with its advice
    geoms = establishments.geometry.array
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        bad = int(np.flatnonzero(missing)[0])
        raise InvalidInputError(
            f"{caller}: establishment row {bad} has no geometry; drop or geocode it first."
        )
    types = shapely.get_type_id(geoms)
    if (types != 0).any():
        kinds = sorted(set(establishments.geom_type.unique()))
        raise InvalidInputError(
            f"{caller}: establishments must be Points, found {kinds}. "
            "Use gdf.representative_point() for polygons first."
        )
    xy = shapely.get_coordinates(geoms)
    crs = pyproj.CRS.from_user_input(establishments.crs)
    if not crs.is_projected:
        if crs.to_epsg() != 4326:
            to84 = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            lon, lat = to84.transform(xy[:, 0], xy[:, 1])
        else:
            lon, lat = xy[:, 0], xy[:, 1]
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        metric = local_metric_crs((lon.min(), lat.min(), lon.max(), lat.max()))
        tr = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
        x, y = tr.transform(lon, lat)
        xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
        crs = metric
    if not np.isfinite(xy).all():
        bad = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
        raise InvalidInputError(f"{caller}: establishment row {bad} has non-finite coordinates.")
    return establishments, xy, crs


def function_codes(gdf: pd.DataFrame, *, column: str, caller: str) -> np.ndarray:
    """Codes 0..15 into :data:`FUNCTIONS` for the ``function`` column; unknown ids raise."""
    check_columns(gdf, [column], caller=caller, what="establishments table")
    values = gdf[column]
    idx, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = pd.Index(list(FUNCTIONS)).get_indexer(pd.Index(np.asarray(uniques, dtype=object)))
    codes = np.where(idx >= 0, np.append(lookup, -1)[idx], -1).astype(np.int64)
    if (codes < 0).any():
        bad = pd.unique(values[codes < 0].astype("string").fillna("<NA>").to_numpy())[:5]
        raise InvalidInputError(
            f"{caller}: column {column!r} has value(s) {list(bad)} that are not one of the 16 "
            f"function ids ({', '.join(FUNCTIONS)}). Classify the rows first with "
            "clusterscape.taxonomy.classify_establishments, or map them to 'other'."
        )
    return codes


def shannon(counts: np.ndarray) -> np.ndarray:
    """Row-wise Shannon entropy ``-sum p ln p`` (nats) of a non-negative count matrix; 0 for empty rows."""
    counts = np.asarray(counts, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 0.0)
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.asarray(terms.sum(axis=1))


def to_lonlat(x: np.ndarray, y: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Metric coordinates in ``crs`` to WGS-84 longitude and latitude (degrees)."""
    tr = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def square_cells(xy: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Absolute square-grid indices ``(ix, iy) = floor(xy / cell_m)`` (grid anchored at 0, 0)."""
    ij = np.floor(xy / cell_m).astype(np.int64)
    return ij[:, 0], ij[:, 1]


def disc_footprint(radius_m: float, cell_m: float) -> np.ndarray:
    """Boolean disc of grid offsets whose centre distance is <= ``radius_m`` (self included)."""
    r = int(np.floor(radius_m / cell_m + 1e-9))
    off = np.arange(-r, r + 1)
    dx, dy = np.meshgrid(off, off)
    return np.asarray(np.hypot(dx, dy) * cell_m <= radius_m * (1.0 + 1e-9))
