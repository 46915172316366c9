"""Explanatory factors on grid cells, built from a study's own layers or a user's factor file.

Two kinds of factor:

- **distance** factors, ``dist_<name>_m``: metres from a cell's centre to the nearest feature of
  a layer (points, lines or polygons; 0 inside a polygon);
- **value** factors: a number per cell, e.g. the share of the cell covered by former industrial
  or heritage land, the density of other establishments, or a column of the user's table.

``clusterscape run --factors FILE`` reads a user's factors with :func:`read_factor_file`
(format in ``docs/outputs.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from clusterscape.errors import InvalidInputError

__all__ = [
    "FactorLayer",
    "distance_to_nearest",
    "factor_name",
    "polygon_share",
    "read_factor_file",
    "values_on_cells",
]

_RESERVED = {"factor", "name", "id", "lon", "lat", "lng", "longitude", "latitude", "x", "y"}


@dataclass(frozen=True, slots=True)
class FactorLayer:
    """One user factor: a layer to measure distance to, or values to put on cells.

    Attributes
    ----------
    name : str
        Column name of the factor in the cells (``dist_<name>_m`` or ``<name>``).
    kind : {"distance", "value"}
    layer : geopandas.GeoDataFrame
        The features (EPSG:4326).
    column : str or None
        For a value factor, the column holding the values.
    params : Mapping
        Where it came from (file, rows used).
    """

    name: str
    kind: str
    layer: gpd.GeoDataFrame
    column: str | None = None
    params: dict[str, object] = field(default_factory=dict)


def factor_name(text: str) -> str:
    """A safe lower-case column stem: ``"Metro stations"`` -> ``"metro_stations"``."""
    stem = re.sub(r"\W+", "_", str(text).strip(), flags=re.UNICODE).strip("_").lower()
    return stem or "factor"


def read_factor_file(
    path: str | Path, *, datum: str | None = None, crs: str | None = None
) -> list[FactorLayer]:
    """Read the user's factors (``run --factors FILE``).

    Parameters
    ----------
    path : str or Path
        A vector layer (GeoJSON, GeoPackage, Shapefile, ...) or a CSV table with ``lon, lat``.
    datum : {"wgs84", "gcj02", "bd09"}, optional
        Datum of the file's degree coordinates (WGS-84 by default), as ``--datum``.
    crs : str, optional
        Deprecated spelling of ``datum`` (a :class:`DeprecationWarning`).

    Returns
    -------
    list of FactorLayer
        - With a ``factor`` column: one distance factor per distinct value (e.g. ``metro``,
          ``university``): distance from each cell to the nearest feature with that value.
        - Else, each numeric column (other than ids and coordinates) is a value factor: on
          polygons the value of the polygon holding the cell's centre; on points (a table of
          cells, one row per cell centre) the mean of the rows falling in the cell.
        - Else the whole layer is one distance factor named after the file.
    """
    from clusterscape.coords import resolve_datum
    from clusterscape.io.layers import _read_vector

    datum = resolve_datum(datum, crs, caller="read_factor_file")
    path = Path(path)
    gdf = _read_vector(path, datum, what="factors")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].reset_index(drop=True)
    if gdf.empty:
        raise InvalidInputError(f"factors file {path} has no features with a geometry.")
    source = {"file": path.name, "rows": len(gdf)}
    if "factor" in gdf.columns:
        labels = gdf["factor"].astype("string").fillna("").str.strip()
        out = []
        for value in sorted(v for v in labels.unique() if v):
            sel = gdf[(labels == value).to_numpy()].reset_index(drop=True)
            out.append(
                FactorLayer(factor_name(value), "distance", sel, None, {**source, "n": len(sel)})
            )
        if not out:
            raise InvalidInputError(f"factors file {path}: the factor column is empty.")
        return out
    numeric = [
        c
        for c in gdf.columns
        if c != gdf.geometry.name
        and str(c).lower() not in _RESERVED
        and pd.api.types.is_numeric_dtype(gdf[c])
        and not pd.api.types.is_bool_dtype(gdf[c])
    ]
    if numeric:
        return [
            FactorLayer(factor_name(c), "value", gdf[[c, gdf.geometry.name]], c, dict(source))
            for c in numeric
        ]
    return [FactorLayer(factor_name(path.stem), "distance", gdf, None, dict(source))]


def distance_to_nearest(centres: np.ndarray, layer: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """Metres from each centre (``(n, 2)``, in ``layer``'s metric CRS) to the nearest feature."""
    geoms = np.asarray(layer.geometry if hasattr(layer, "geometry") else layer)
    geoms = geoms[~shapely.is_empty(geoms) & ~pd.isna(geoms)]
    if geoms.size == 0:
        raise InvalidInputError("distance_to_nearest: the layer has no geometry.")
    tree = shapely.STRtree(geoms)
    pts = shapely.points(centres)
    (i_pt, _), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(centres), np.nan)
    out[i_pt] = dist
    return out


def polygon_share(cells: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> np.ndarray:
    """Share (0–1) of each cell's area covered by the union of ``polygons`` (same CRS)."""
    share = np.zeros(len(cells))
    if len(polygons) == 0:
        return share
    union = shapely.union_all(np.asarray(polygons.geometry))
    cell_geoms = np.asarray(cells.geometry)
    hit = shapely.intersects(cell_geoms, union)
    if hit.any():
        inter = shapely.intersection(cell_geoms[hit], union)
        share[hit] = shapely.area(inter) / shapely.area(cell_geoms[hit])
    return np.clip(share, 0.0, 1.0)


def values_on_cells(cells: gpd.GeoDataFrame, factor: FactorLayer) -> np.ndarray:
    """A value factor on the cells (same CRS): polygon holding the centre, or mean of points."""
    if factor.column is None:
        raise InvalidInputError(f"values_on_cells: factor {factor.name!r} has no value column.")
    layer = factor.layer
    values = pd.to_numeric(layer[factor.column], errors="coerce").to_numpy(float)
    centres = shapely.centroid(np.asarray(cells.geometry))
    out = np.full(len(cells), np.nan)
    polys = layer.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if polys.any():
        tree = shapely.STRtree(np.asarray(layer.geometry)[polys])
        i_cell, i_poly = tree.query(centres, predicate="within")
        vals = values[polys][i_poly]
        # first polygon per cell (overlapping polygons: the first in file order)
        order = np.lexsort((i_poly, i_cell))
        i_cell, vals = i_cell[order], vals[order]
        first = np.r_[True, i_cell[1:] != i_cell[:-1]] if i_cell.size else np.array([], bool)
        out[i_cell[first]] = vals[first]
    pts = ~polys
    if pts.any():
        tree = shapely.STRtree(np.asarray(cells.geometry))
        geoms = shapely.centroid(np.asarray(layer.geometry)[pts])
        i_pt, i_cell = tree.query(geoms, predicate="within")
        v = values[pts][i_pt]
        ok = np.isfinite(v)
        sums = np.bincount(i_cell[ok], weights=v[ok], minlength=len(cells))
        counts = np.bincount(i_cell[ok], minlength=len(cells))
        has = counts > 0
        out[has] = sums[has] / counts[has]
    return out
