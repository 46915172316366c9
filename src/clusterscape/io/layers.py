"""Read the study's auxiliary layers (boundary, parks registry, land use) in the user's datum.

A GeoJSON exported from an Amap-based workflow is GCJ-02 even though GeoJSON says WGS-84, so
these layers are read in the same ``datum`` as the establishments and converted vertex by vertex,
unless the file declares a projected CRS, which is then trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from clusterscape.coords import convert, normalise_datum, resolve_datum
from clusterscape.errors import InvalidInputError

__all__ = ["convert_geometry", "geometry_to_wgs84", "read_boundary", "read_landuse", "read_parks"]


def geometry_to_wgs84(geoms: Any, *, src: str) -> Any:
    """Convert every vertex of ``geoms`` (shapely array/GeoSeries in degrees) from ``src`` to WGS-84."""
    return convert_geometry(geoms, src=src, dst="wgs84", caller="geometry_to_wgs84")


def convert_geometry(geoms: Any, *, src: str, dst: str, caller: str = "convert_geometry") -> Any:
    """Convert every vertex of ``geoms`` (shapely geometries in degrees) from ``src`` to ``dst``."""
    s = normalise_datum(src, caller=caller, param="src")
    d = normalise_datum(dst, caller=caller, param="dst")
    if s == d:
        return geoms

    def _fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = convert(xy[:, 0], xy[:, 1], src=s, dst=d)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _fn)


def _read_vector(path: Path, datum: str, *, what: str) -> gpd.GeoDataFrame:
    from clusterscape.io.establishments import _check_path

    if not path.exists() and not path.is_symlink():
        raise InvalidInputError(f"{what} file {path} does not exist.")
    _check_path(path, caller=f"{what} file")  # FIFOs, devices, looping links: one clear line
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv", ".txt"}:
        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        lon_col = next(
            (
                c
                for c in frame.columns
                if str(c).lower() in {"lon", "lng", "longitude", "经度", "x"}
            ),
            None,
        )
        lat_col = next(
            (c for c in frame.columns if str(c).lower() in {"lat", "latitude", "纬度", "y"}), None
        )
        if lon_col is None or lat_col is None:
            raise InvalidInputError(
                f"{what} file {path} has no lon/lat columns (have: {', '.join(map(str, frame.columns))}); "
                "add columns named lon and lat, or give a GeoJSON/GeoPackage."
            )
        lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(lon) & np.isfinite(lat))
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise InvalidInputError(
                f"{what} file {path} row {row}: lon/lat missing or not numeric."
            )
        lon, lat = convert(lon, lat, src=datum, dst="wgs84")
        frame = frame.drop(columns=[lon_col, lat_col])
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError
        raise InvalidInputError(f"{what} file {path} could not be read: {exc}") from exc
    if gdf.crs is not None and gdf.crs.is_projected:
        return gdf.to_crs("EPSG:4326")
    if gdf.crs is not None and gdf.crs.to_epsg() not in (None, 4326, 4490):
        gdf = gdf.to_crs("EPSG:4326")
    gdf = gdf.set_crs("EPSG:4326", allow_override=True)
    gdf["geometry"] = geometry_to_wgs84(gdf.geometry.values, src=datum)
    return gdf


def read_boundary(
    path: str | Path, *, datum: str | None = None, crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read a study-area boundary (polygons) and return it dissolved, in EPSG:4326.

    ``datum`` (``wgs84``, the default, ``gcj02`` or ``bd09``) is the datum of degree
    coordinates; a file declaring a projected CRS is reprojected. ``crs=<datum>`` is the
    deprecated spelling of ``datum=`` (a :class:`DeprecationWarning`).
    """
    datum = resolve_datum(datum, crs, caller="read_boundary")
    gdf = _read_vector(Path(path), datum, what="boundary")
    polys = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        raise InvalidInputError(f"boundary file {path} holds no polygons.")
    return gpd.GeoDataFrame({"name": ["study area"]}, geometry=[polys.union_all()], crs="EPSG:4326")


def _year(values: pd.Series) -> pd.Series:
    text = values.astype("string")
    years = pd.to_numeric(text.str.extract(r"(\d{4})", expand=False), errors="coerce")
    return years.astype("Int64")


def read_parks(
    path: str | Path, *, datum: str | None = None, crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read a parks registry; polygons are reduced to representative points.

    Columns: ``name, lon, lat`` or geometry, ``opened``, ``government_support``,
    ``former_use``, optional ``form``. ``datum`` and the deprecated ``crs`` are as in
    :func:`read_boundary`.
    """
    datum = resolve_datum(datum, crs, caller="read_parks")
    gdf = _read_vector(Path(path), datum, what="parks")
    if "name" not in gdf.columns:
        raise InvalidInputError(f"parks file {path} needs a 'name' column.")
    out = gpd.GeoDataFrame(
        {"name": gdf["name"].astype("string")}, geometry=gdf.geometry.values, crs="EPSG:4326"
    )
    out["geometry"] = out.geometry.representative_point()
    out["opened"] = (
        _year(gdf["opened"])
        if "opened" in gdf
        else pd.Series(pd.NA, index=gdf.index, dtype="Int64")
    )
    support = (
        gdf["government_support"]
        if "government_support" in gdf
        else pd.Series(False, index=gdf.index)
    )
    out["government_support"] = (
        support.astype("string").str.lower().isin({"true", "1", "yes", "y", "是"})
    )
    for col in ("former_use", "form"):
        out[col] = gdf[col].fillna("").astype("string") if col in gdf else ""
    out["location"] = (
        gdf["location"].fillna("exact").astype("string") if "location" in gdf else "exact"
    )
    return out


def read_landuse(
    path: str | Path, *, datum: str | None = None, crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read land-use polygons with optional ``landuse``, ``former_use``, ``industrial_until``.

    ``datum`` and the deprecated ``crs`` are as in :func:`read_boundary`.
    """
    datum = resolve_datum(datum, crs, caller="read_landuse")
    gdf = _read_vector(Path(path), datum, what="landuse")
    gdf = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    for col in ("landuse", "former_use"):
        gdf[col] = gdf[col].fillna("").astype("string") if col in gdf else ""
    if "industrial_until" in gdf:
        gdf["industrial_until"] = _year(gdf["industrial_until"])
    else:
        gdf["industrial_until"] = pd.Series(pd.NA, index=gdf.index, dtype="Int64")
    return gdf.reset_index(drop=True)
