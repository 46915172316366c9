"""Compact forms of the establishments layer for the dashboard (10^5-10^6 points).

The page asks ``/api/establishments`` once; the app reads only the asked-for columns of the
``establishments`` layer (through :func:`clusterscape.results.read_layer_page`) and answers
in one of two forms, built once per file version and cached (gzip-compressed):

* ``columns`` (the page's form): ``{"n", "lon", "lat", "columns": {name: {"values": [...]}
  or {"codes": [...], "labels": [...]}}}`` — coordinates rounded to 1e-6 degrees (0.1 m),
  text columns dictionary-encoded, numbers as numbers, missing values as ``null``. The
  page builds its GeoJSON (with feature ``id`` = row index) from it.
* ``geojson``: a FeatureCollection of points with the same fields and ``id`` = row index.

Per-firm detail (every field, for a popup) is ``/api/establishments/{index}``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_FIELDS", "build_columns", "build_geojson", "default_fields", "years_of"]

ESTABLISHMENTS = "establishments"
#: Fields the page asks for (those the layer has): styling, legend, time and linking.
DEFAULT_FIELDS = ("sector", "function", "is_creative", "cluster", "opened", "closed")


def default_fields(available: list[str]) -> list[str]:
    """The default fields that ``available`` has, in :data:`DEFAULT_FIELDS` order.

    Examples
    --------
    >>> default_fields(["id", "opened", "sector"])
    ['sector', 'opened']
    """
    return [f for f in DEFAULT_FIELDS if f in available]


def _xy(gdf: Any) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of each row (a representative point for non-points; NaN if empty)."""
    geom = gdf.geometry
    if len(geom) and not bool((geom.geom_type == "Point").all()):
        geom = geom.representative_point()
    empty = geom.is_empty.to_numpy() | geom.isna().to_numpy()
    x = np.where(empty, np.nan, geom.x.to_numpy(dtype=float, na_value=np.nan))
    y = np.where(empty, np.nan, geom.y.to_numpy(dtype=float, na_value=np.nan))
    return np.round(x, 6), np.round(y, 6)


def _with_nulls(arr: np.ndarray, missing: np.ndarray) -> list[Any]:
    out = arr.astype(object)
    out[missing] = None
    return list(out.tolist())


def _plain(values: pd.Series) -> list[Any]:
    """A column as JSON-ready Python values (NaN/NA -> None; whole floats stay floats)."""
    missing = values.isna().to_numpy(copy=True)
    if pd.api.types.is_bool_dtype(values.dtype):
        return _with_nulls(values.fillna(False).to_numpy(dtype=bool), missing)
    if pd.api.types.is_integer_dtype(values.dtype):
        return _with_nulls(values.fillna(0).to_numpy(dtype=np.int64), missing)
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        missing |= ~np.isfinite(arr)
        whole = arr[~missing]
        if np.array_equal(whole, np.round(whole)) and (np.abs(whole) < 2**53).all():
            return _with_nulls(np.where(missing, 0, arr).astype(np.int64), missing)  # years
        return _with_nulls(arr, missing)
    return _with_nulls(values.astype(str).to_numpy(), missing)


def _encoded(values: pd.Series) -> dict[str, list[Any]]:
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return {"values": _plain(values)}
    codes, labels = pd.factorize(values.astype("string"), use_na_sentinel=True)
    return {"codes": _with_nulls(codes, codes < 0), "labels": [str(v) for v in labels]}


def build_columns(gdf: Any, fields: list[str]) -> bytes:
    """The ``columns`` form (UTF-8 JSON) of the establishments in ``gdf``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"sector": ["a", None, "a"], "opened": [2001, 2002, None]},
    ...                      geometry=[Point(121.5, 29.8)] * 3, crs="EPSG:4326")
    >>> out = json.loads(build_columns(g, ["sector", "opened"]))
    >>> out["n"], out["columns"]["sector"], out["columns"]["opened"]["values"]
    (3, {'codes': [0, None, 0], 'labels': ['a']}, [2001, 2002, None])
    """
    lon, lat = _xy(gdf)
    out = {
        "n": len(gdf),
        "lon": _with_nulls(lon, np.isnan(lon)),
        "lat": _with_nulls(lat, np.isnan(lat)),
        "columns": {f: _encoded(gdf[f]) for f in fields},
    }
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


def build_geojson(gdf: Any, fields: list[str]) -> bytes:
    """The ``geojson`` form (a FeatureCollection, feature ``id`` = row index)."""
    lon, lat = _xy(gdf)
    cols = {f: _plain(gdf[f]) for f in fields}
    features = []
    for i in range(len(gdf)):
        geometry = None if np.isnan(lon[i]) else {"type": "Point", "coordinates": [lon[i], lat[i]]}
        props = {f: cols[f][i] for f in fields}
        features.append({"type": "Feature", "id": i, "geometry": geometry, "properties": props})
    text = json.dumps(
        {"type": "FeatureCollection", "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return text.encode()


def years_of(frames: list[pd.DataFrame]) -> dict[str, int] | None:
    """First and last year in the ``opened``/``closed``/``year`` columns of ``frames``.

    Examples
    --------
    >>> years_of([pd.DataFrame({"opened": [2003, None], "closed": [2019, None]})])
    {'first': 2003, 'last': 2019}
    >>> years_of([pd.DataFrame({"opened": [None]})]) is None
    True
    """
    found: list[float] = []
    for frame in frames:
        for col in ("opened", "closed", "year"):
            if col in frame.columns:
                vals = pd.to_numeric(frame[col], errors="coerce").dropna()
                vals = vals[(vals > 1000) & (vals < 3000)]
                if len(vals):
                    found += [float(vals.min()), float(vals.max())]
    if not found:
        return None
    return {"first": int(min(found)), "last": int(max(found))}
