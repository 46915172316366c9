"""Real context layers of Ningbo shipped as package data (OpenStreetMap, GeoNames, creative parks).

Each source sits in its own folder under ``data/`` with a ``NOTICE.md`` giving its attribution
and licence:

- ``data/osm/``: OpenStreetMap commercial/retail land and malls, hospitals and schools
  (© OpenStreetMap contributors, ODbL 1.0), gathered through ``qingwalashi/nignbohub``;
- ``data/geonames/``: GeoNames populated places (towns, subdistricts) inside Ningbo (CC BY 4.0);
- ``data/creative_parks/``: creative, design and tech parks picked from the OSM commercial
  layer (coordinates: OSM polygon centroids, ODbL 1.0) with their sources per row.

All coordinates are WGS-84 (EPSG:4326). Nothing here is synthetic.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import geopandas as gpd
import pandas as pd

from clusterscape.errors import InvalidInputError

__all__ = ["NINGBO_LAYERS", "UNIVERSITY_PATTERN", "load_ningbo_layer", "ningbo_universities"]

_PACKAGE = "clusterscape.datasets"
_OSM = "© OpenStreetMap contributors, ODbL 1.0 (openstreetmap.org/copyright)"
_GEONAMES = "GeoNames (geonames.org), CC BY 4.0"

#: name -> (folder, file, attribution and licence, what it holds)
NINGBO_LAYERS: dict[str, tuple[str, str, str, str]] = {
    "commercial": (
        "osm",
        "ningbo_osm_commercial.geojson",
        _OSM,
        "landuse=commercial/retail and shop=mall features (352)",
    ),
    "hospitals": ("osm", "ningbo_osm_hospitals.geojson", _OSM, "amenity=hospital features (95)"),
    "schools": (
        "osm",
        "ningbo_osm_schools.geojson",
        _OSM,
        "amenity=school features (560), universities and colleges included",
    ),
    "places": (
        "geonames",
        "ningbo_geonames_places_cities1000.csv",
        _GEONAMES,
        "populated places (towns and subdistricts, 113)",
    ),
    "creative_parks": (
        "creative_parks",
        "ningbo_creative_parks.csv",
        _OSM,
        "creative/design/tech parks with coordinates (16 points; 4 listed parks have none)",
    ),
    "creative_park_polygons": (
        "creative_parks",
        "ningbo_creative_parks_osm.geojson",
        _OSM,
        "the same 16 parks as OSM polygons",
    ),
}

#: a school is a university or college when its name matches this ...
UNIVERSITY_PATTERN = re.compile(r"大学|学院|University|College", re.IGNORECASE)
#: ... and not this: schools attached to a university (附属学校, 附属中学), schools, senior and
#: community colleges, academies (书院) and primary sections
NOT_UNIVERSITY_PATTERN = re.compile(r"附属|中学|小学|实验学校|学校$|书院|老年|社区")


@functools.cache
def _read(name: str) -> gpd.GeoDataFrame:
    folder, file, licence, what = NINGBO_LAYERS[name]
    path = resources.files(_PACKAGE).joinpath("data", folder, file)
    with resources.as_file(path) as p:
        if file.endswith(".csv"):
            frame = pd.read_csv(p, dtype={"district_adcode": "string"})
            lon = pd.to_numeric(frame["lon"], errors="coerce")
            lat = pd.to_numeric(frame["lat"], errors="coerce")
            has = (lon.notna() & lat.notna()).to_numpy()
            missing = frame.loc[~has, "name_zh"].astype(str).tolist() if "name_zh" in frame else []
            frame = frame[has].reset_index(drop=True)
            gdf = gpd.GeoDataFrame(
                frame,
                geometry=gpd.points_from_xy(lon[has], lat[has]),
                crs="EPSG:4326",
            )
            gdf.attrs["without_coordinates"] = missing
        else:
            gdf = gpd.read_file(p)
            if gdf.crs is None:
                gdf = gdf.set_crs("EPSG:4326")
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:  # pragma: no cover - packaging error
        raise InvalidInputError(f"datasets: {file} must be WGS-84.")
    gdf.attrs.update(
        synthetic=False,
        source=f"clusterscape/datasets/data/{folder}/{file}",
        licence=licence,
        content=what,
        notice=f"clusterscape/datasets/data/{folder}/NOTICE.md",
    )
    return gdf


def load_ningbo_layer(name: str) -> gpd.GeoDataFrame:
    """One real context layer of Ningbo (a fresh copy, EPSG:4326).

    Parameters
    ----------
    name : str
        One of ``NINGBO_LAYERS``: ``"commercial"``, ``"hospitals"``, ``"schools"`` (OpenStreetMap,
        ODbL 1.0), ``"places"`` (GeoNames, CC BY 4.0), ``"creative_parks"`` (points) or
        ``"creative_park_polygons"``.

    Returns
    -------
    geopandas.GeoDataFrame
        The features with their fields (OSM: ``name, district, district_adcode,
        osm_query_tags, osm_geom_type, centroid_lon, centroid_lat``; places: ``name, admin1,
        district_zh, district_adcode``; parks: ``name_zh, name_en, category, district, ...``).
        ``attrs`` holds ``source``, ``licence`` (attribution to show with any map of it),
        ``notice`` (the NOTICE file) and ``synthetic`` = False. ``creative_parks`` keeps the
        16 parks with coordinates; ``attrs["without_coordinates"]`` names the others.

    Examples
    --------
    >>> schools = load_ningbo_layer("schools")
    >>> len(schools), schools.crs.to_epsg(), "ODbL" in schools.attrs["licence"]
    (560, 4326, True)
    """
    if name not in NINGBO_LAYERS:
        raise InvalidInputError(
            f"datasets.load_ningbo_layer: unknown layer {name!r}; choose one of "
            f"{', '.join(NINGBO_LAYERS)}."
        )
    gdf = _read(name)
    out = gdf.copy()
    out.attrs = {k: (list(v) if isinstance(v, list) else v) for k, v in gdf.attrs.items()}
    return out


def ningbo_universities() -> gpd.GeoDataFrame:
    """The universities and colleges among the OSM schools of Ningbo.

    A school counts when its name matches :data:`UNIVERSITY_PATTERN` (大学, 学院, University,
    College) and not :data:`NOT_UNIVERSITY_PATTERN` (schools attached to a university, senior
    and community colleges, ...).
    """
    schools = load_ningbo_layer("schools")
    names = schools["name"].fillna("").astype(str)
    keep = names.str.contains(UNIVERSITY_PATTERN) & ~names.str.contains(NOT_UNIVERSITY_PATTERN)
    out = schools[keep.to_numpy()].reset_index(drop=True)
    out.attrs.update(schools.attrs, content="universities and colleges among the OSM schools")
    return out
