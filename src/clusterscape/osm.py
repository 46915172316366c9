"""OpenStreetMap in: ``.osm.pbf`` extracts (pyrosm) and live Overpass queries (osmnx).

OSM features become establishments with ``id`` ``osm:<type>/<id>``, ``name``, and ``category``
holding the feature's classifying tags as ``key=value`` pairs joined by ``;`` (for example
``tourism=hotel;stars=5``), which :func:`clusterscape.taxonomy.classify_establishments` maps
to sectors and urban functions. Polygons are reduced to a point inside them. A ``start_date``
tag gives ``opened`` (its year). OSM coordinates are WGS-84.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from clusterscape.errors import InvalidInputError, MissingDependencyError

__all__ = ["OSM_KEYS", "fetch_osm", "osm_to_establishments", "read_osm_pbf"]

#: Tags that say what a feature is; their key=value pairs go into ``category``.
OSM_KEYS = (
    "amenity", "shop", "tourism", "office", "craft", "leisure", "healthcare", "historic",
    "building", "landuse", "industrial", "public_transport", "railway", "man_made", "stars",
)  # fmt: skip
_FETCH_TAGS: dict[str, bool | str | list[str]] = {
    "amenity": True, "shop": True, "tourism": True, "office": True, "craft": True, "leisure": True,
    "healthcare": True, "historic": True,
}  # fmt: skip


def _value(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    text = str(v).strip()
    return None if text in {"", "nan", "None", "<NA>"} else text


def _extra_tags(v: Any) -> dict[str, Any]:
    """pyrosm keeps tags without their own column in ``tags`` (a dict or a JSON string)."""
    if isinstance(v, dict):
        return v
    if isinstance(v, str) and v.startswith("{"):
        try:
            parsed = json.loads(v)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def osm_to_establishments(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn OSM features (pyrosm or osmnx layout) into establishment rows in EPSG:4326.

    Features with none of :data:`OSM_KEYS` are dropped (they say nothing about function);
    everything else is kept, named or not.
    """
    if features.crs is not None and features.crs.to_epsg() != 4326:
        features = features.to_crs("EPSG:4326")
    frame = features.reset_index()
    if "element" in frame.columns and "id" in frame.columns:  # osmnx: MultiIndex (element, id)
        kind, ident = frame["element"].astype(str), frame["id"].astype(str)
    else:  # pyrosm
        kind = (
            frame["osm_type"].astype(str)
            if "osm_type" in frame.columns
            else pd.Series("node", index=frame.index)
        )
        ident = frame["id"].astype(str)
    if "tags" in frame.columns:
        extra = pd.DataFrame([_extra_tags(v) for v in frame["tags"]], index=frame.index)
        for col in extra.columns:
            if col not in frame.columns:
                frame[col] = extra[col]
            else:
                frame[col] = frame[col].where(frame[col].map(_value).notna(), extra[col])
    keys = [k for k in OSM_KEYS if k in frame.columns]
    if not keys:
        raise InvalidInputError("OSM features carry none of the tags " + ", ".join(OSM_KEYS) + ".")
    values = frame[keys].map(_value)
    category = values.apply(
        lambda row: ";".join(f"{k}={v}" for k, v in row.items() if pd.notna(v)), axis=1
    )
    keep = category.str.len() > 0
    geoms = gpd.GeoSeries(frame.geometry.values, crs="EPSG:4326")
    points = geoms.where(geoms.geom_type == "Point", geoms.representative_point())
    opened = (
        pd.to_numeric(
            frame["start_date"].astype("string").str.extract(r"(\d{4})", expand=False),
            errors="coerce",
        )
        if "start_date" in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    out = gpd.GeoDataFrame(
        {
            "id": ("osm:" + kind + "/" + ident).to_numpy(),
            "name": frame["name"].map(_value).fillna("").to_numpy() if "name" in frame else "",
            "category": category.to_numpy(),
            "opened": opened.astype("Int64").to_numpy(),
        },
        geometry=points.to_numpy(),
        crs="EPSG:4326",
    )
    return out[keep.to_numpy()].reset_index(drop=True)


def read_osm_pbf(
    path: str | Path, *, bounding_box: tuple[float, float, float, float] | None = None
) -> gpd.GeoDataFrame:
    """Read the POIs of an ``.osm.pbf`` extract as establishment rows (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such .osm.pbf file.")
    try:
        import pyrosm
    except ImportError as exc:  # pragma: no cover - in the osm extra
        raise MissingDependencyError(
            "reading .osm.pbf needs pyrosm: pip install 'clusterscape[osm]'"
        ) from exc
    try:
        osm = pyrosm.OSM(str(path), bounding_box=list(bounding_box) if bounding_box else None)
        pois = osm.get_pois(custom_filter={k: True for k in _FETCH_TAGS})
    except Exception as exc:
        raise InvalidInputError(f"{path}: could not read the OSM extract: {exc}") from exc
    if pois is None or len(pois) == 0:
        raise InvalidInputError(
            f"{path}: the extract holds no POIs (amenity, shop, tourism, office, ...)."
        )
    pois = pois.set_crs("EPSG:4326", allow_override=True)
    return osm_to_establishments(pois)


def fetch_osm(
    place: str, *, tags: dict[str, bool | str | list[str]] | None = None
) -> gpd.GeoDataFrame:
    """Download the POIs of ``place`` from Overpass with osmnx (needs network) as establishment rows."""
    try:
        import osmnx
    except ImportError as exc:  # pragma: no cover - in the osm extra
        raise MissingDependencyError(
            "fetch-osm needs osmnx: pip install 'clusterscape[osm]'"
        ) from exc
    try:
        features = osmnx.features_from_place(place, tags=tags or _FETCH_TAGS)
    except Exception as exc:
        raise InvalidInputError(
            f"fetch-osm: Overpass query for {place!r} failed ({exc}); check the network and the place name."
        ) from exc
    return osm_to_establishments(features)
