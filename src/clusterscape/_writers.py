"""Writers: GeoParquet, GeoPackage, CSV and GeoJSON, each written atomically.

Re-exported by :mod:`clusterscape.io`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from clusterscape.errors import CRSError, InvalidInputError

__all__ = ["atomic_directory", "atomic_write", "write_layer"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    The temporary name keeps the suffix (so GDAL drivers pick the right format). On an
    exception the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise InvalidInputError(
                f"atomic_write: nothing was written to the temporary file for {target}."
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a sibling temporary directory; swap it in for ``out_dir`` only on success.

    An interrupted or failing run leaves the previous ``out_dir`` intact. On success the
    old directory is renamed aside, the new one renamed into place, then the old one removed.
    """
    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = target.with_name(f".{target.name}.tmp-{tag}")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old-{tag}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def write_layer(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str | None = None
) -> Path:
    """Write a GeoDataFrame atomically as GeoParquet, GeoPackage, CSV or GeoJSON.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any CRS (GeoParquet/GeoPackage keep it; CSV and GeoJSON are written in EPSG:4326).
    path : path-like
        ``.parquet`` (GeoParquet), ``.gpkg`` (the layer is added or replaced, other layers
        are kept), ``.csv`` (points as ``lon``, ``lat`` columns, other geometries as WKT in
        ``geometry_wkt``; UTF-8) or ``.geojson``/``.json``.
    layer : str, optional
        GeoPackage layer name (default: the file stem).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidInputError(f"write_layer: expected a GeoDataFrame, got {type(gdf).__name__}.")
    if suffix in {".csv", ".geojson", ".json"} and gdf.crs is None:
        raise CRSError(
            f"write_layer: {target.name} needs degrees but the data has no CRS; set one first."
        )
    if suffix in {".parquet", ".geoparquet"}:
        with atomic_write(target) as tmp:
            gdf.to_parquet(tmp, index=False)
    elif suffix == ".gpkg":
        name = layer or target.stem
        with atomic_write(target) as tmp:
            if target.exists():
                shutil.copyfile(target, tmp)
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", use_arrow=True)
    elif suffix == ".csv":
        geo = gdf.to_crs("EPSG:4326") if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf
        frame = pd.DataFrame(geo.drop(columns=geo.geometry.name))
        geoms = geo.geometry
        if len(geoms) and (geoms.geom_type.dropna() == "Point").all():
            frame["lon"] = geoms.x.to_numpy()
            frame["lat"] = geoms.y.to_numpy()
        else:
            frame["geometry_wkt"] = geoms.to_wkt().to_numpy()
        with atomic_write(target) as tmp:
            frame.to_csv(tmp, index=False, encoding="utf-8")
    elif suffix in {".geojson", ".json"}:
        geo = gdf.to_crs("EPSG:4326") if gdf.crs.to_epsg() != 4326 else gdf
        with atomic_write(target) as tmp:
            geo.to_file(tmp, driver="GeoJSON", engine="pyogrio")
    else:
        raise InvalidInputError(
            f"write_layer: cannot write '{target.suffix}'; use .parquet, .gpkg, .csv or .geojson."
        )
    return target
