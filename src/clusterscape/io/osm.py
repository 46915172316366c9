"""OpenStreetMap in: ``.osm.pbf`` extracts (pyosmium) and live Overpass queries (osmnx).

OSM features become establishments with ``id`` ``osm:<type>/<id>``, ``name``, and ``category``
holding the feature's classifying tags as ``key=value`` pairs joined by ``;`` (for example
``tourism=hotel;stars=5``), which :func:`clusterscape.taxonomy.classify_establishments` maps
to sectors and urban functions. Polygons are reduced to a point inside them. A ``start_date``
tag (usually a building's date) gives ``opened`` only when asked (``start_date=True``). OSM
coordinates are WGS-84.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from clusterscape.errors import InvalidInputError, MissingDependencyError

__all__ = [
    "ESTABLISHMENT_KEYS",
    "ESTABLISHMENT_VALUES",
    "OSM_KEYS",
    "establishment_tag",
    "fetch_osm",
    "filter_features",
    "load_osm_pbf",
    "osm_to_establishments",
    "read_osm_pbf",
]

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
    """Tags that pyrosm keeps without their own column, in ``tags`` (a dict or JSON string)."""
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


#: The establishment filter of :func:`read_osm_pbf`: a feature is an establishment when it has
#: one of these keys with any value except those listed in :data:`NOT_ESTABLISHMENT` ...
ESTABLISHMENT_KEYS = ("shop", "office", "craft", "healthcare")
#: ... or one of these key=value pairs (amenity, tourism and leisure also tag street
#: furniture, parks and viewpoints, so only their establishment values count).
ESTABLISHMENT_VALUES: dict[str, frozenset[str]] = {
    "amenity": frozenset({
        "arts_centre", "bank", "bar", "biergarten", "bureau_de_change", "cafe", "car_rental",
        "car_wash", "casino", "childcare", "cinema", "clinic", "college", "community_centre",
        "conference_centre", "coworking_space", "dentist", "doctors", "driving_school",
        "events_venue", "exhibition_centre", "fast_food", "food_court", "fuel", "gambling",
        "hospital", "ice_cream", "kindergarten", "language_school", "library", "marketplace",
        "music_school", "music_venue", "nightclub", "nursing_home", "pharmacy", "post_office",
        "prep_school", "pub", "restaurant", "school", "social_centre", "social_facility",
        "studio", "theatre", "training", "university", "veterinary",
    }),
    "tourism": frozenset({
        "alpine_hut", "apartment", "aquarium", "camp_site", "caravan_site", "chalet", "gallery",
        "guest_house", "hostel", "hotel", "motel", "museum", "theme_park", "zoo",
    }),
    "leisure": frozenset({
        "adult_gaming_centre", "amusement_arcade", "bowling_alley", "dance", "escape_game",
        "fitness_centre", "hackerspace", "sauna", "sports_centre", "sports_hall", "water_park",
    }),
}  # fmt: skip
#: Values that never make an establishment (``shop=vacant``, ``office=no``, ...).
NOT_ESTABLISHMENT = frozenset({"no", "vacant", "disused", "closed", "abandoned", "none"})


def establishment_tag(tags: Any) -> tuple[str | None, str]:
    """(the ``key=value`` that makes ``tags`` an establishment, or None; why not otherwise)."""
    why = ""
    for key in ESTABLISHMENT_KEYS:
        value = tags.get(key)
        if value is None:
            continue
        if value.strip().lower() in NOT_ESTABLISHMENT:
            why = why or f"{key}={value}"
            continue
        return f"{key}={value}", ""
    for key, values in ESTABLISHMENT_VALUES.items():
        value = tags.get(key)
        if value is None:
            continue
        # 'nightclub;restaurant': OSM's multi-value syntax
        if any(v.strip() in values for v in value.split(";")):
            return f"{key}={value}", ""
        why = why or f"{key}={value}"
    return None, (f"not an establishment: {why}" if why else "no establishment tag")


class _Collector:
    """One pass of pyosmium over the extract: establishment rows and skip counts."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.skipped: dict[str, int] = {}
        self.relation_ids: set[int] = set()
        self.area_relations: set[int] = set()

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def wanted(self, tags: Any) -> str | None:
        """The feature's establishment tag, or None (counted as skipped with its reason).

        An object without tags (such as a way's vertex) is not a feature and is not counted.
        """
        if not len(tags):
            return None
        tag, why = establishment_tag(tags)
        if tag is None:
            self.skip(why)
        return tag

    def add(
        self, kind: str, ident: int, tags: Any, tag: str | None, point: Any, area: Any = None
    ) -> None:
        row = {k: tags.get(k) for k in (*OSM_KEYS, "name", "start_date") if tags.get(k)}
        row.update(osm_type=kind, id=ident, primary=tag, geometry=point, area=area)
        self.rows.append(row)


def _collect(path: Path) -> _Collector:
    import osmium
    import shapely

    col = _Collector()

    class Handler(osmium.SimpleHandler):  # type: ignore[misc]
        def node(self, n: Any) -> None:
            tag = col.wanted(n.tags)
            if tag is None:
                return
            if not n.location.valid():
                col.skip("node without a valid location")
                return
            col.add("node", n.id, n.tags, tag, shapely.Point(n.location.lon, n.location.lat))

        def way(self, w: Any) -> None:
            tag = col.wanted(w.tags)
            if tag is None:
                return
            try:
                xy = [(nd.lon, nd.lat) for nd in w.nodes]
            except osmium.InvalidLocationError:
                xy = []
            if not xy:
                col.skip("way whose nodes are not in the extract")
                return
            if len(xy) >= 4 and xy[0] == xy[-1]:
                geom = shapely.Polygon(xy)
                if not geom.is_valid:
                    geom = shapely.make_valid(geom)
            elif len(xy) >= 2:
                geom = shapely.LineString(xy)
            else:
                geom = shapely.Point(xy[0])
            col.add("way", w.id, w.tags, tag, geom.representative_point(), geom)

        def relation(self, r: Any) -> None:
            tag = col.wanted(r.tags)
            if tag is None:
                return
            col.relation_ids.add(r.id)

        def area(self, a: Any) -> None:
            if a.from_way() or a.orig_id() not in col.relation_ids:
                return
            try:
                wkb = osmium.geom.WKBFactory().create_multipolygon(a)
            except RuntimeError:
                return
            geom = shapely.from_wkb(bytes.fromhex(wkb))
            col.area_relations.add(a.orig_id())
            tag, _ = establishment_tag(a.tags)  # accepted when its relation was read
            col.add("relation", a.orig_id(), a.tags, tag, geom.representative_point(), geom)

    Handler().apply_file(str(path), locations=True)
    missing = len(col.relation_ids - col.area_relations)
    if missing:
        col.skipped["relation that is not an area (no geometry to place it)"] = missing
    return col


def _dedupe(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """Drop a way/relation that repeats a node inside it (same name, or same tag if unnamed)."""
    if frame.empty:
        return frame, 0
    nodes = frame[frame["osm_type"] == "node"]
    areas = frame[(frame["osm_type"] != "node") & frame["area"].notna()]
    if nodes.empty or areas.empty:
        return frame, 0
    area_geoms = gpd.GeoSeries(areas["area"].to_numpy(), crs="EPSG:4326")
    a_idx, n_idx = gpd.GeoSeries(nodes.geometry.to_numpy(), crs="EPSG:4326").sindex.query(
        area_geoms, predicate="intersects"
    )
    drop = set()
    names_n = (
        nodes["name"].fillna("").str.strip().str.lower().to_numpy() if "name" in nodes else None
    )
    names_a = (
        areas["name"].fillna("").str.strip().str.lower().to_numpy() if "name" in areas else None
    )
    prim_n, prim_a = nodes["primary"].to_numpy(), areas["primary"].to_numpy()
    for i, j in zip(a_idx.tolist(), n_idx.tolist(), strict=True):
        na = names_a[i] if names_a is not None else ""
        nn = names_n[j] if names_n is not None else ""
        same = (na and na == nn) or (not na and not nn and prim_a[i] == prim_n[j])
        if same:
            drop.add(areas.index[i])
    keep = ~frame.index.isin(list(drop))
    return frame[keep], len(drop)


def read_osm_pbf(
    path: str | Path,
    *,
    bounding_box: tuple[float, float, float, float] | None = None,
    start_date: bool = False,
) -> gpd.GeoDataFrame:
    """Read the establishments of an ``.osm.pbf`` extract with pyosmium, one row per feature.

    A feature is an establishment when it passes the filter :data:`ESTABLISHMENT_KEYS` /
    :data:`ESTABLISHMENT_VALUES` (benches, waste baskets, vending machines, parks and gardens
    do not); nodes are placed where they are, ways and multipolygon relations at a point
    inside them. A way or relation that repeats a node inside it (same name, or the same
    establishment tag when both are unnamed: a shop node inside its building) is dropped, so
    each establishment is one row. Relations that are not areas (streets, routes) are never
    establishments. ``start_date`` is usually a building's date, so it becomes ``opened``
    only with ``start_date=True``. Skipped features are counted by reason in
    ``.attrs["skipped"]`` (vertices without tags are not features and are not counted).

    Parameters
    ----------
    path : str or Path
        The extract.
    bounding_box : (min_lon, min_lat, max_lon, max_lat), optional
        Keep only establishments inside it (others are counted as skipped).
    start_date : bool, default False
        Use the ``start_date`` tag's year as the founding year ``opened``.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such .osm.pbf file.")
    try:
        import osmium  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "reading .osm.pbf needs pyosmium: pip install 'clusterscape[osm]'"
        ) from exc
    try:
        col = _collect(path)
    except Exception as exc:
        raise InvalidInputError(f"{path}: could not read the OSM extract: {exc}") from exc
    skipped = dict(col.skipped)
    frame = (
        gpd.GeoDataFrame(pd.DataFrame(col.rows), geometry="geometry", crs="EPSG:4326")
        if col.rows
        else None
    )
    if frame is None or frame.empty:
        raise InvalidInputError(
            f"{path}: the extract holds no establishments (shop, office, craft, healthcare, "
            "amenity=restaurant/cafe/..., tourism=hotel/museum/..., leisure=fitness_centre/...)."
        )
    if bounding_box is not None:
        x0, y0, x1, y1 = bounding_box
        inside = frame.geometry.x.between(x0, x1) & frame.geometry.y.between(y0, y1)
        if (~inside).any():
            skipped["outside the bounding box"] = int((~inside).sum())
        frame = frame[inside.to_numpy()]
    frame, n_dup = _dedupe(frame.reset_index(drop=True))
    if n_dup:
        skipped["way/relation repeating a node inside it"] = n_dup
    frame = frame.drop(columns=["area", "primary"])
    if not start_date:
        frame = frame.drop(columns=["start_date"], errors="ignore")
    out = osm_to_establishments(frame)
    out.attrs["skipped"] = dict(sorted(skipped.items(), key=lambda kv: -kv[1]))
    return out


def load_osm_pbf(path: str | Path, *, columns: Any = None, start_date: bool = False) -> Any:
    """:func:`read_osm_pbf` validated as a table (a ``LoadResult`` with ``skipped`` counts)."""
    import dataclasses

    from clusterscape.io._frames import validate_frame

    est = read_osm_pbf(path, start_date=start_date)
    res = validate_frame(est, datum="wgs84", columns=columns)
    return dataclasses.replace(res, path=Path(path), skipped=dict(est.attrs.get("skipped", {})))


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
    return filter_features(features)


def filter_features(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Apply the establishment filter and de-duplication of :func:`read_osm_pbf` to osmnx features.

    ``features`` has the MultiIndex ``element, id``; skipped features are counted in ``.attrs``.
    """
    frame = features.reset_index()
    if "element" not in frame.columns:
        frame["element"] = "node"
    keys = [k for k in (*ESTABLISHMENT_KEYS, *ESTABLISHMENT_VALUES) if k in frame.columns]
    tags = frame[keys].map(_value) if keys else pd.DataFrame(index=frame.index)
    found = [
        establishment_tag({k: v for k, v in row.items() if isinstance(v, str)})
        for row in tags.to_dict("records")
    ] if keys else [(None, "no establishment tag")] * len(frame)  # fmt: skip
    primary = pd.Series([t for t, _ in found], index=frame.index, dtype=object)
    skipped: dict[str, int] = {}
    for tag, why in found:
        if tag is None:
            skipped[why] = skipped.get(why, 0) + 1
    keep = primary.notna().to_numpy()
    frame = frame[keep].copy()
    frame["primary"] = primary[keep]
    frame["osm_type"] = frame["element"].astype(str)
    geoms = gpd.GeoSeries(frame.geometry.values, crs=features.crs or "EPSG:4326")
    frame["area"] = geoms.where(geoms.geom_type != "Point", None).to_numpy()
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=features.crs or "EPSG:4326")
    frame, n_dup = _dedupe(frame.reset_index(drop=True))
    if n_dup:
        skipped["way/relation repeating a node inside it"] = n_dup
    out = osm_to_establishments(frame.drop(columns=["area", "primary", "osm_type"]))
    out.attrs["skipped"] = dict(sorted(skipped.items(), key=lambda kv: -kv[1]))
    return out
