"""The seeded synthetic firm population of the built-in Ningbo study.

Everything here is **synthetic**: real geography (the Amap city and district outlines) and real
anchors (the creative parks in ``data/ningbo_anchors.toml``) carry a made-up population whose
planted truth is known. Every parameter is a module constant, documented in ``docs/ningbo.md``
and copied into ``truth["params"]``.

Layers of the population (all coordinates drawn in UTM 51N metres, EPSG:32651):

1. **Background** (``N_BACKGROUND`` rows): a functional geography (``_geography``). Every
   function's city total is ``FUNCTION_MIX`` x ``N_BACKGROUND``; malls, shops, general hospitals
   and schools are drawn at their real OpenStreetMap places (a fifth of the hospitals and schools
   held out), offices and finance in the business cores, industry and logistics in the port and
   development zones, campuses at the universities, and what is left of every function in the
   towns between: a negative-exponential density ``lambda(r) ~ exp(-r / b)`` around each town
   of ``CENTRES`` (Clark 1951, *JRSS A* 114(4):490–496), sampled as ``r ~ Gamma(2, b)`` with a
   uniform angle, plus the GeoNames places and a uniform share ``UNIFORM_WEIGHT``. Points
   outside the city are rejected and redrawn. About 2.5 % of the rows are creative firms
   scattered with the towns.
2. **Planted clusters** (``CLUSTERS``) at the anchors, one per form: ``new_park`` (compact
   Gaussian, founding wave within 3 years of the opening), ``converted_industrial`` (uniform in a
   former industrial polygon whose ``industrial_until`` precedes every member),
   ``government_street`` (along a 1.25 km line, 20 m across), ``anchor_enterprise`` (one firm with
   at least ``ANCHOR_MIN_SHARE`` of the cluster's employment, small firms around).
3. **Natural bumps** (``BUMPS``): small, loose groups of creative firms that are not planted
   clusters, so detection is not trivial.
4. **Amenity effects** (``AMENITY_EFFECTS``): extra starred hotels and malls that open in the
   years after each planted cluster opens. In ``scenario="planted"`` they lie within ``radius_m`` of
   the cluster's **footprint** (measured as the estimator measures: distance to the footprint
   polygon, 0 inside), with a per-area intensity 1 inside the footprint falling linearly to zero
   at ``R`` (``1 - d/R``); in
   ``scenario="null"`` the same rows (same counts, years, grades, names, sizes) are placed by the
   background density, independently of the clusters. Nothing else differs between scenarios.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import shapely

from clusterscape.datasets import _geography
from clusterscape.datasets._catalogue import (
    BRAND_WORDS,
    FUNCTION_MIX,
    FUNCTIONS,
    HOTEL_GRADES,
    Template,
)
from clusterscape.errors import InvalidInputError

__all__ = [
    "AMENITY_EFFECTS",
    "BUMPS",
    "CENTRES",
    "CLUSTERS",
    "N_BACKGROUND",
    "Population",
    "generate",
    "parameters",
]

YEAR_MIN = 1995
YEAR_MAX = 2024
#: Growth rate of the number of new establishments per year (new firms in year y ~ exp(g (y - 1995))).
FOUNDING_GROWTH_PER_YEAR = 0.06
N_BACKGROUND = 148_800
UNIFORM_WEIGHT = 0.08


@dataclass(frozen=True, slots=True)
class Centre:
    """A centre of the polycentric background density."""

    name: str
    lon: float
    lat: float
    b_km: float  # Clark negative-exponential scale: density ~ exp(-r / b)
    weight: float  # share of the residential-between rows


#: The towns of the residential-between layer, named and placed from GeoNames (cities1000, CC BY
#: 4.0; datasets/data/geonames); the comment says which part of the city each one stands for.
CENTRES: tuple[Centre, ...] = (
    Centre("Ningbo", 121.54945, 29.87819, 1.5, 0.20),  # Sanjiangkou old core
    Centre("Fuming", 121.60186, 29.87316, 1.4, 0.07),  # former Jiangdong, Eastern New Town
    Centre("Zhuangqiao", 121.54833, 29.93000, 1.2, 0.04),  # north Jiangbei
    Centre("Shiqi", 121.50444, 29.82250, 1.4, 0.05),  # south-west Haishu
    Centre("Zhonggongmiao", 121.53750, 29.82611, 1.5, 0.10),  # Yinzhou new centre
    Centre("Xiaying", 121.59139, 29.80472, 2.5, 0.02),  # east Yinzhou (Chuangxin 128 area)
    Centre("Zhaobaoshan", 121.68753, 29.96950, 1.2, 0.04),  # Zhenhai old town
    Centre("Zhuangshi", 121.60962, 29.93306, 1.0, 0.025),  # Zhenhai university area
    Centre("Beilun", 121.83778, 29.91917, 1.7, 0.06),  # Xinqi, Beilun centre
    Centre("Xiapu", 121.88030, 29.88902, 1.5, 0.04),  # port town, Beilun
    Centre("Yuyao", 121.14944, 30.05000, 1.7, 0.06),
    Centre("Xushan", 121.24570, 30.17640, 1.7, 0.07),  # Cixi city centre (Hushan)
    Centre("Fenghua", 121.40640, 29.65628, 1.4, 0.035),
    Centre("Ninghai", 121.42472, 29.28917, 1.2, 0.025),
    Centre("Danxi", 121.86556, 29.47472, 1.2, 0.025),  # Xiangshan county seat
)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """A planted creative cluster at a registry anchor (see ``ningbo_anchors.toml``)."""

    key: str
    form: str
    n_firms: int
    spread_m: float  # Gaussian sd (parks, anchor), across-line sd (street)
    sectors: Mapping[str, float]  # creative sector hint -> share
    rect_m: tuple[float, float, float] = (0.0, 0.0, 0.0)  # converted: width, height, rotation deg
    industrial_until: int | None = None  # converted: last industrial year of the site
    wave_share: float = 0.0  # share founded within WAVE_YEARS of the opening
    employees_median: float = 6.0


WAVE_YEARS = 3  # "founding wave": founded in [opened, opened + WAVE_YEARS - 1]
ANCHOR_MIN_SHARE = 0.45
ANCHOR_MIN_EMPLOYEES = 1500
PLANTED_CLOSURE_HAZARD = 0.03
#: Truth footprints of Gaussian clusters: a disc (or line buffer) of this many sd (~99 % of members).
FOOTPRINT_SD = 3.0


def _read_clusters() -> tuple[ClusterSpec, ...]:
    """Read the planted clusters from ``data/planted_clusters.toml``, in file order."""
    path = resources.files("clusterscape.datasets").joinpath("data", "planted_clusters.toml")
    specs = []
    for entry in tomllib.loads(path.read_text("utf-8"))["cluster"]:
        fields = dict(entry)
        if "rect_m" in fields:
            fields["rect_m"] = tuple(float(v) for v in fields["rect_m"])
        specs.append(ClusterSpec(**fields))
    return tuple(specs)


CLUSTERS: tuple[ClusterSpec, ...] = _read_clusters()


@dataclass(frozen=True, slots=True)
class Bump:
    """A small natural group of creative firms (not a planted cluster)."""

    name: str
    lon: float
    lat: float
    n_firms: int
    b_m: float


BUMPS: tuple[Bump, ...] = (
    Bump("Yinzhou southern business district", 121.548, 29.818, 30, 250.0),
    Bump("Xinqi, Beilun", 121.850, 29.905, 30, 250.0),
    Bump("Yuyao centre", 121.160, 30.045, 30, 250.0),
    Bump("Cixi centre", 121.255, 30.172, 30, 250.0),
)

#: Extra amenities per planted cluster: count, radius R (m), years after opening, grades.
AMENITY_EFFECTS: dict[str, dict[str, Any]] = {
    "hotel": {
        "per_cluster": 20,
        "radius_m": 1500.0,
        "lag_years": (1, 5),
        "grades": (3, 4, 5),
        "grade_shares": (0.5, 0.35, 0.15),
        "profile": "per-area intensity 1 - d/R for footprint distance d < R (1 inside), zero beyond",
    },
    "mall": {
        "per_cluster": 10,
        "radius_m": 1000.0,
        "lag_years": (2, 6),
        "profile": "per-area intensity 1 - d/R for footprint distance d < R (1 inside), zero beyond",
    },
}

#: Former industrial sites that carry no creative cluster (decoys for the typology).
DECOY_LANDUSE: tuple[tuple[str, float, float, float, float, str, str, int | None], ...] = (
    # name, lon, lat, width m, height m, landuse, former_use, industrial_until
    ("Beilun port industrial estate", 121.880, 29.915, 900.0, 600.0, "industrial", "", None),
    ("Zhenhai chemical works", 121.700, 29.960, 700.0, 500.0, "industrial", "", None),
    ("Yuyao appliance works", 121.170, 30.050, 500.0, 400.0, "industrial", "", None),
    ("Cixi electrical works", 121.280, 30.180, 500.0, 400.0, "industrial", "", None),
    (
        "former Jiangbei machine works",
        121.535,
        29.895,
        300.0,
        250.0,
        "residential",
        "machine works",
        2006,
    ),
    (
        "former Haishu textile mill",
        121.540,
        29.868,
        250.0,
        200.0,
        "commercial",
        "textile mill",
        2009,
    ),
    ("former Yinzhou rice mill", 121.575, 29.870, 280.0, 220.0, "residential", "rice mill", 2004),
    ("former Zhenhai shipyard", 121.720, 29.945, 300.0, 200.0, "commercial", "shipyard", 2012),
)


@dataclass(frozen=True, slots=True)
class Population:
    """The generated rows (metric coordinates) and the truth built alongside them."""

    table: dict[str, np.ndarray]  # x, y (EPSG:32651 m), name, category, code, opened, closed, ...
    clusters: (
        pd.DataFrame
    )  # one row per planted cluster with its footprint (metric shapely geometry)
    landuse: pd.DataFrame  # name, landuse, former_use, industrial_until, geometry (metric)


Projector = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------------------- helpers
def _years(rng: np.random.Generator, n: int, lo: int = YEAR_MIN, hi: int = YEAR_MAX) -> np.ndarray:
    """Founding years in [lo, hi] with P(y) ~ exp(g (y - lo))."""
    span = np.arange(lo, hi + 1)
    p = np.exp(FOUNDING_GROWTH_PER_YEAR * (span - lo))
    return rng.choice(span, size=n, p=p / p.sum())


def _closures(rng: np.random.Generator, opened: np.ndarray, hazard: np.ndarray) -> np.ndarray:
    """Closing year (or -1 while active): geometric lifetime with a yearly hazard."""
    closed = np.full(opened.shape, -1, dtype=np.int64)
    has = hazard > 0
    if has.any():
        life = rng.geometric(np.clip(hazard[has], 1e-9, 1.0))
        year = opened[has] + life
        closed[has] = np.where(year <= YEAR_MAX, year, -1)
    return closed


def _names(rng: np.random.Generator, suffix: np.ndarray, firm: np.ndarray) -> np.ndarray:
    brands = np.asarray(BRAND_WORDS)[rng.integers(0, len(BRAND_WORDS), size=len(suffix))]
    base = np.char.add(brands, suffix.astype(str))
    return np.where(firm, np.char.add("宁波", base), base)


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return np.maximum(1.0, np.round(median * np.exp(sigma * rng.standard_normal(n))))


def _rows(
    rng: np.random.Generator,
    function: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    opened: np.ndarray | None = None,
    templates: tuple[Template, ...] | None = None,
    weights: np.ndarray | None = None,
    employees_median: float | None = None,
    hazard: float | None = None,
) -> dict[str, np.ndarray]:
    """Attributes for n establishments of one function at the given metric points."""
    n = len(x)
    spec = FUNCTIONS[function]
    tpl = templates if templates is not None else spec.templates
    w = weights if weights is not None else np.array([t.weight for t in tpl])
    if w.sum() <= 0:  # templates kept out of the generic draws (weight 0) chosen on purpose
        w = np.ones(len(tpl))
    pick = rng.choice(len(tpl), size=n, p=w / w.sum())
    category = np.array([t.category for t in tpl], dtype=object)[pick]
    code = np.array([t.code for t in tpl], dtype=object)[pick]
    suffix = np.array([t.name_suffix for t in tpl], dtype=object)[pick]
    hint = np.array([t.sector_hint for t in tpl], dtype=object)[pick]
    median = employees_median if employees_median is not None else spec.employees_median
    if median is None:
        employees = np.full(n, np.nan)
    else:
        employees = _lognormal(rng, median, spec.employees_sigma, n)
    if function == "hotel":  # starred hotels: Amap 小类 decides the grade
        u = rng.random(n)
        edges = np.cumsum([g[1] for g in HOTEL_GRADES])
        for i, (_grade, _share, cat, name_end, emp) in enumerate(HOTEL_GRADES):
            lo = 0.0 if i == 0 else edges[i - 1]
            sel = (u >= lo) & (u < edges[i])
            category[sel] = cat
            suffix[sel] = name_end
            employees[sel] = _lognormal(rng, emp, 0.3, int(sel.sum()))
    if opened is None:
        opened = _years(rng, n)
    h = spec.closure_hazard if hazard is None else hazard
    closed = _closures(rng, opened, np.full(n, h))
    firm = code != ""
    return {
        "x": x,
        "y": y,
        "function": np.full(n, function, dtype=object),
        "sector_hint": hint,
        "category": category,
        "code": code,
        "name": _names(rng, suffix, firm).astype(object),
        "opened": opened.astype(np.int64),
        "closed": closed,
        "employees": employees.astype(float),
    }


def _concat(blocks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


class _Sampler:
    """Rejection sampling of points inside the study region (metric coordinates)."""

    def __init__(self, region: shapely.Geometry) -> None:
        self.region = region
        shapely.prepare(region)
        self.bounds = region.bounds

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(shapely.contains_xy(self.region, x, y), dtype=bool)

    def draw(
        self,
        rng: np.random.Generator,
        n: int,
        propose: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
        *,
        what: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        have = 0
        for _ in range(200):
            if have >= n:
                break
            m = max(16, int((n - have) * 1.3) + 8)
            x, y = propose(rng, m)
            ok = self.inside(x, y)
            xs.append(x[ok])
            ys.append(y[ok])
            have += int(ok.sum())
        if have < n:
            raise InvalidInputError(
                f"datasets.ningbo: could not place {n} points for {what} inside the city "
                "outline; the packaged boundary file may be damaged (rebuild it with "
                "scripts/build_ningbo_boundaries.py)."
            )
        return np.concatenate(xs)[:n], np.concatenate(ys)[:n]

    def uniform(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        minx, miny, maxx, maxy = self.bounds
        return rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)


def _clark(
    cx: float, cy: float, b_m: float
) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    def propose(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        r = rng.gamma(2.0, b_m, m)
        t = rng.uniform(0.0, 2.0 * np.pi, m)
        return cx + r * np.cos(t), cy + r * np.sin(t)

    return propose


def _rectangle(cx: float, cy: float, w: float, h: float, deg: float) -> shapely.Polygon:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = corners @ np.array([[c, s], [-s, c]])
    return shapely.Polygon(rot + np.array([cx, cy]))


Proposal = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def _gauss(cx: float, cy: float, sd_m: float) -> Proposal:
    """Isotropic Gaussian around (cx, cy) with sd ``sd_m`` metres."""

    def propose(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        return cx + sd_m * rng.standard_normal(m), cy + sd_m * rng.standard_normal(m)

    return propose


def _in_polygon(poly: shapely.Polygon) -> Proposal:
    """Uniform inside ``poly`` (rejection in its bounding box)."""
    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds

    def propose(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        px, py = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(poly, px, py)
        return px[ok], py[ok]

    return propose


def _along(x0: float, y0: float, x1: float, y1: float, sd_m: float) -> Proposal:
    """Uniform along the segment (x0, y0)-(x1, y1), Gaussian across it with sd ``sd_m``."""
    length = float(np.hypot(x1 - x0, y1 - y0))
    ux, uy = (x1 - x0) / length, (y1 - y0) / length

    def propose(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        t = rng.uniform(0.0, length, m)
        off = sd_m * rng.standard_normal(m)
        return x0 + t * ux - off * uy, y0 + t * uy + off * ux

    return propose


# ------------------------------------------------------------------------------------ generator
def _targets(n: int) -> dict[str, int]:
    """Rows per function: ``FUNCTION_MIX`` x n, rounded by largest remainder (sums to n)."""
    names = list(FUNCTION_MIX)
    raw = np.array([FUNCTION_MIX[f] for f in names]) * n / sum(FUNCTION_MIX.values())
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: n - int(out.sum())]] += 1
    return dict(zip(names, out.tolist(), strict=True))


def _templates(function: str, pattern: str, *, exclude: bool = False) -> tuple[Template, ...]:
    """The function's templates whose Amap type matches ``pattern`` (or, excluded, does not)."""
    return tuple(
        t
        for t in FUNCTIONS[function].templates
        if (re.search(pattern, t.category) is None) == exclude
    )


@dataclass(slots=True)
class _Demand:
    """Rows of one function wanted by one layer: exact places, or a proposal for ``count`` rows."""

    function: str
    count: int
    propose: Proposal | None = None
    xy: np.ndarray | None = None  # exact places (one row each), used instead of propose
    templates: tuple[Template, ...] | None = None
    what: str = ""


def _polygon_m(geom: Any, project: Projector) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.column_stack(project(c[:, 0], c[:, 1])))


def _place_demands(project: Projector, n_total: int) -> list[_Demand]:
    """Layers 1 and 2 of ``_geography``: the real places and the functional profiles."""
    places = _geography.real_places()
    scale = n_total / 148_800  # real-place counts are set for the full population
    out: list[_Demand] = []
    com = places["commercial"]
    geoms = [_polygon_m(g, project) for g in com.geometry]
    mall_xy, mall_props = [], []
    for geom, is_mall in zip(geoms, com["is_mall"], strict=True):
        area = float(geom.area)
        k_retail = int(
            np.clip(
                round(area / _geography.RETAIL_M2_PER_ROW),
                _geography.RETAIL_MIN_ROWS,
                _geography.RETAIL_MAX_ROWS,
            )
            * scale
        )
        zone = geom.buffer(_geography.RETAIL_FRONTAGE_M)
        out.append(_Demand("retail", k_retail, _in_polygon(zone), what="a commercial area"))
        if is_mall:
            k = int(
                np.clip(np.ceil(area / _geography.MALL_M2_PER_ROW), 1, _geography.MALL_MAX_ROWS)
            )
            if area < 100.0:  # a point (or a degenerate ring): the mall rows at its centroid
                c = geom.centroid
                mall_xy.append(np.repeat([[c.x, c.y]], k, axis=0))
            else:
                mall_props.append((k, _in_polygon(geom)))
    for k, prop in mall_props:
        out.append(_Demand("mall", k, prop, what="a mall"))
    if mall_xy:
        out.append(_Demand("mall", sum(len(a) for a in mall_xy), xy=np.concatenate(mall_xy)))
    for kind, function, row_pat, around_pat, per, sd in (
        (
            "hospitals",
            "health",
            "综合医院",
            "综合医院",
            _geography.CLINICS_PER_HOSPITAL,
            _geography.CLINIC_SD_M,
        ),
        (
            "schools",
            "education",
            "学校;(小学|中学)",
            "培训机构",
            _geography.TRAINING_PER_SCHOOL,
            _geography.TRAINING_SD_M,
        ),
    ):
        layer = places[kind]
        use = layer[~layer["held_out"].to_numpy()]
        x, y = project(use["centroid_lon"].to_numpy(float), use["centroid_lat"].to_numpy(float))
        xy = np.column_stack([x, y])
        if kind == "schools":  # a primary school where the name says so, else a middle school
            primary = use["name"].astype(str).str.contains("小学").to_numpy()
            for sel, pat in ((primary, "小学"), (~primary, "中学")):
                out.append(
                    _Demand(
                        function, int(sel.sum()), xy=xy[sel], templates=_templates(function, pat)
                    )
                )
        else:
            out.append(_Demand(function, len(xy), xy=xy, templates=_templates(function, row_pat)))
        out.append(
            _Demand(
                function,
                int(per * len(xy) * scale),
                _around(xy, sd),
                templates=_templates(function, around_pat, exclude=kind == "hospitals"),
                what=f"the {kind}",
            )
        )
    campus = _templates("education", "高等院校")
    for p in _geography.profiles():
        (cx,), (cy,) = project(np.array([p.lon]), np.array([p.lat]))
        n = p.share * n_total
        prop = _gauss(cx, cy, _geography.SD_PER_RADIUS * p.radius_m)
        for f, share in p.functions.items():
            tpl = campus if f == "education" else None
            out.append(_Demand(f, round(n * share), prop, templates=tpl, what=p.name))
    return out


def _around(xy: np.ndarray, sd_m: float) -> Proposal:
    """Gaussian (sd ``sd_m``) around a place drawn uniformly from ``xy``."""

    def propose(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        i = rng.integers(0, len(xy), m)
        return xy[i, 0] + sd_m * rng.standard_normal(m), xy[i, 1] + sd_m * rng.standard_normal(m)

    return propose


def _between(
    rng: np.random.Generator, sampler: _Sampler, centre_xy: np.ndarray, towns_xy: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Layer 3: n places from the Clark towns, the GeoNames places and the uniform share."""
    w_centres = np.array([c.weight for c in CENTRES])
    w_centres = w_centres / w_centres.sum() * (1.0 - UNIFORM_WEIGHT - _geography.TOWN_WEIGHT)
    weights = np.concatenate([w_centres, [_geography.TOWN_WEIGHT, UNIFORM_WEIGHT]])
    counts = rng.multinomial(n, weights / weights.sum())
    xs, ys = [], []
    for i, k in enumerate(counts):
        if i < len(CENTRES):
            prop = _clark(centre_xy[i, 0], centre_xy[i, 1], CENTRES[i].b_km * 1000.0)
            what = CENTRES[i].name
        elif i == len(CENTRES):
            b_m = _geography.TOWN_B_KM * 1000.0

            def prop(
                r: np.random.Generator, m: int, b_m: float = b_m
            ) -> tuple[np.ndarray, np.ndarray]:
                j = r.integers(0, len(towns_xy), m)
                rad, t = r.gamma(2.0, b_m, m), r.uniform(0.0, 2.0 * np.pi, m)
                return towns_xy[j, 0] + rad * np.cos(t), towns_xy[j, 1] + rad * np.sin(t)

            what = "the GeoNames places"
        else:
            prop, what = sampler.uniform, "the uniform background"
        x, y = sampler.draw(rng, int(k), prop, what=what)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _background(
    rng: np.random.Generator, sampler: _Sampler, centre_xy: np.ndarray, project: Projector
) -> dict[str, np.ndarray]:
    """The ``N_BACKGROUND`` rows in their functional geography (``_geography``)."""
    target = _targets(N_BACKGROUND)
    demands = _place_demands(project, N_BACKGROUND)
    # The exact real places come first; the rows drawn around them and in the profiles share
    # what is left of each city total (scaled down together only if they would exceed it).
    exact = {f: 0 for f in target}
    drawn = {f: 0 for f in target}
    for d in demands:
        (exact if d.xy is not None else drawn)[d.function] += d.count
    total = dict(target)
    blocks = []
    for d in demands:
        k = d.count
        room = total[d.function] - (0 if d.xy is not None else exact[d.function])
        wanted = exact[d.function] if d.xy is not None else drawn[d.function]
        if wanted > room:
            k = int(k * max(room, 0) / wanted)
        if k <= 0:
            continue
        if d.xy is not None:
            xy = d.xy if k == len(d.xy) else d.xy[np.sort(rng.choice(len(d.xy), k, replace=False))]
            x, y = xy[:, 0], xy[:, 1]
        else:
            assert d.propose is not None
            x, y = sampler.draw(rng, k, d.propose, what=d.what)
        blocks.append(_rows(rng, d.function, x, y, templates=d.templates))
        target[d.function] -= k
    # malls sit only at real malls: a mall total they cannot hold goes to the shops
    target["retail"] += target.pop("mall")
    towns = _geography.real_places()["places"]
    tx, ty = project(towns["lon"].to_numpy(float), towns["lat"].to_numpy(float))
    n_between = sum(target.values())
    x, y = _between(rng, sampler, centre_xy, np.column_stack([tx, ty]), n_between)
    fn = rng.permutation(np.repeat(np.arange(len(target)), list(target.values())))
    no_sites = {  # schools and hospitals sit only at the real ones
        "education": _templates("education", "培训机构"),
        "health": _templates("health", "综合医院", exclude=True),
    }
    for j, f in enumerate(target):
        sel = fn == j
        if sel.any():
            blocks.append(_rows(rng, f, x[sel], y[sel], templates=no_sites.get(f)))
    rows = _concat(blocks)
    rows["role"] = np.full(len(rows["x"]), "background", dtype=object)
    rows["planted_cluster"] = np.full(len(rows["x"]), "", dtype=object)
    return rows


def _creative_templates(sectors: Mapping[str, float]) -> tuple[tuple[Template, ...], np.ndarray]:
    tpl = tuple(t for t in FUNCTIONS["creative"].templates if t.sector_hint in sectors)
    per_hint: dict[str, float] = {}
    for t in tpl:
        per_hint[t.sector_hint] = per_hint.get(t.sector_hint, 0.0) + t.weight
    w = np.array([sectors[t.sector_hint] * t.weight / per_hint[t.sector_hint] for t in tpl])
    return tpl, w


def _planted(
    rng: np.random.Generator,
    sampler: _Sampler,
    anchors: Mapping[str, Mapping[str, Any]],
    project: Projector,
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]], list[dict[str, Any]]]:
    blocks: list[dict[str, np.ndarray]] = []
    clusters: list[dict[str, Any]] = []
    landuse: list[dict[str, Any]] = []
    for spec in CLUSTERS:
        park = anchors[spec.key]
        opened_park = int(park["opened"])
        (cx,), (cy,) = project(np.array([park["lon"]]), np.array([park["lat"]]))
        n = spec.n_firms
        tpl, w = _creative_templates(spec.sectors)
        extra: dict[str, Any] = {}
        if spec.form == "new_park":
            x, y = sampler.draw(rng, n, _gauss(cx, cy, spec.spread_m), what=spec.key)
            footprint = shapely.Point(cx, cy).buffer(FOOTPRINT_SD * spec.spread_m)
        elif spec.form == "converted_industrial":
            wid, hei, deg = spec.rect_m
            site = _rectangle(cx, cy, wid, hei, deg)
            inner = _rectangle(cx, cy, wid - 20.0, hei - 20.0, deg)  # 10 m inside the site edge
            x, y = sampler.draw(rng, n, _in_polygon(inner), what=spec.key)
            footprint = site
            landuse.append(
                {
                    "name": f"{park['name']} site",
                    "landuse": "creative_park",
                    "former_use": str(park["former_use"]),
                    "industrial_until": spec.industrial_until,
                    "geometry": site,
                    "planted_cluster": spec.key,
                }
            )
            extra["industrial_until"] = spec.industrial_until
        elif spec.form == "government_street":
            (x0, x1), (y0, y1) = project(
                np.array([p[0] for p in park["line"]]), np.array([p[1] for p in park["line"]])
            )
            x, y = sampler.draw(rng, n, _along(x0, y0, x1, y1, spec.spread_m), what=spec.key)
            footprint = shapely.LineString([(x0, y0), (x1, y1)]).buffer(
                FOOTPRINT_SD * spec.spread_m
            )
            extra["length_m"] = float(np.hypot(x1 - x0, y1 - y0))
        else:  # anchor_enterprise
            x, y = sampler.draw(rng, n, _gauss(cx, cy, spec.spread_m), what=spec.key)
            footprint = shapely.Point(cx, cy).buffer(FOOTPRINT_SD * spec.spread_m)
        # founding years: a wave right after the opening, the rest spread until YEAR_MAX
        opened = rng.integers(opened_park, YEAR_MAX + 1, size=n)
        if spec.wave_share > 0:
            wave = rng.random(n) < spec.wave_share
            opened[wave] = rng.integers(opened_park, opened_park + WAVE_YEARS, size=int(wave.sum()))
        block = _rows(
            rng,
            "creative",
            x,
            y,
            opened=opened,
            templates=tpl,
            weights=w,
            employees_median=spec.employees_median,
            hazard=PLANTED_CLOSURE_HAZARD,
        )
        role = np.full(n, "cluster_member", dtype=object)
        if spec.form == "anchor_enterprise":
            others = float(np.nansum(block["employees"]))
            anchor_emp = max(
                ANCHOR_MIN_EMPLOYEES,
                int(np.ceil(others * ANCHOR_MIN_SHARE / (1 - ANCHOR_MIN_SHARE))),
            )
            a = _rows(
                rng,
                "creative",
                np.array([cx]),
                np.array([cy]),
                opened=np.array([opened_park]),
                templates=(tpl[0],),
                weights=np.array([1.0]),
                hazard=0.0,
            )
            a["employees"] = np.array([float(anchor_emp)])
            a["name"] = np.array([f"宁波{park['name']}文化创意集团有限公司"], dtype=object)
            block = _concat([a, block])
            role = np.concatenate([np.array(["cluster_anchor"], dtype=object), role])
            extra["anchor_employees"] = anchor_emp
        block["role"] = role
        block["planted_cluster"] = np.full(len(role), spec.key, dtype=object)
        blocks.append(block)
        emp = block["employees"]
        clusters.append(
            {
                "key": spec.key,
                "name": park["name"],
                "name_en": park["name_en"],
                "form": spec.form,
                "opened": opened_park,
                "n_establishments": len(role),
                "employees": float(np.nansum(emp)),
                "top_firm_share": float(np.nanmax(emp) / np.nansum(emp)),
                "founding_wave_share": float(np.mean(block["opened"] < opened_park + WAVE_YEARS)),
                "lon": float(park["lon"]),
                "lat": float(park["lat"]),
                "location": park["location"],
                "geometry": footprint,
                **extra,
            }
        )
    return _concat(blocks), clusters, landuse


def _bumps(
    rng: np.random.Generator, sampler: _Sampler, project: Projector
) -> dict[str, np.ndarray]:
    blocks = []
    for i, b in enumerate(BUMPS):
        (cx,), (cy,) = project(np.array([b.lon]), np.array([b.lat]))
        x, y = sampler.draw(rng, b.n_firms, _clark(cx, cy, b.b_m), what=b.name)
        block = _rows(rng, "creative", x, y)
        block["role"] = np.full(b.n_firms, "bump", dtype=object)
        block["planted_cluster"] = np.full(b.n_firms, f"bump{i}", dtype=object)
        blocks.append(block)
    return _concat(blocks)


def _amenity_rows(
    rng: np.random.Generator, clusters: list[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """Attributes (not places) of the extra hotels and malls: identical in both scenarios."""
    blocks = []
    for amenity, eff in AMENITY_EFFECTS.items():
        k = int(eff["per_cluster"])
        lo, hi = eff["lag_years"]
        for c in clusters:
            years = np.minimum(c["opened"] + rng.integers(lo, hi + 1, size=k), YEAR_MAX)
            nan = np.full(k, np.nan)
            if amenity == "hotel":
                grade = rng.choice(np.array(eff["grades"]), size=k, p=np.array(eff["grade_shares"]))
                lookup = {g[0]: g for g in HOTEL_GRADES}
                tpl = tuple(Template(lookup[int(g)][2], "", lookup[int(g)][3], 1.0) for g in grade)
                block = _rows(
                    rng,
                    "hotel",
                    nan,
                    nan,
                    opened=years,
                    templates=tpl,
                    weights=np.ones(k),
                    hazard=0.0,
                )
                # _rows re-draws grades for background hotels; put the planted grade back
                block["category"] = np.array([t.category for t in tpl], dtype=object)
                block["employees"] = np.array(
                    [_lognormal(rng, lookup[int(g)][4], 0.3, 1)[0] for g in grade]
                )
                block["name"] = _names(
                    rng,
                    np.array([t.name_suffix for t in tpl], dtype=object),
                    np.zeros(k, dtype=bool),
                ).astype(object)
            else:
                block = _rows(rng, "mall", nan, nan, opened=years, hazard=0.0)
            block["role"] = np.full(k, f"amenity_effect_{amenity}", dtype=object)
            block["planted_cluster"] = np.full(k, c["key"], dtype=object)
            blocks.append(block)
    return _concat(blocks)


def _place_amenities(
    rng: np.random.Generator,
    sampler: _Sampler,
    rows: dict[str, np.ndarray],
    clusters: list[dict[str, Any]],
    centre_xy: np.ndarray,
    *,
    scenario: str,
) -> None:
    n = len(rows["x"])
    x, y = np.empty(n), np.empty(n)
    if scenario == "planted":
        foot = {c["key"]: c["geometry"] for c in clusters}
        for i in range(n):
            amenity = str(rows["role"][i]).removeprefix("amenity_effect_")
            radius = float(AMENITY_EFFECTS[amenity]["radius_m"])
            f = foot[str(rows["planted_cluster"][i])]

            def near(
                r: np.random.Generator, m: int, f: Any = f, radius: float = radius
            ) -> tuple[np.ndarray, np.ndarray]:
                # intensity (1 - d / R) for footprint distance d < R (1 inside the footprint):
                # uniform proposals around the footprint, kept with that probability
                x0, y0, x1, y1 = f.bounds
                px = r.uniform(x0 - radius, x1 + radius, 4 * m)
                py = r.uniform(y0 - radius, y1 + radius, 4 * m)
                d = shapely.distance(f, shapely.points(px, py))
                keep = r.uniform(0.0, 1.0, px.size) < 1.0 - d / radius
                return px[keep], py[keep]

            (x[i],), (y[i],) = sampler.draw(rng, 1, near, what="an amenity")
    else:  # null: the background density, independent of the clusters
        weights = np.array([c.weight for c in CENTRES] + [UNIFORM_WEIGHT])
        comp = rng.choice(len(weights), size=n, p=weights / weights.sum())
        for i in range(n):
            if comp[i] < len(CENTRES):
                prop = _clark(
                    centre_xy[comp[i], 0], centre_xy[comp[i], 1], CENTRES[comp[i]].b_km * 1000.0
                )
            else:
                prop = sampler.uniform
            (x[i],), (y[i],) = sampler.draw(rng, 1, prop, what="an amenity")
    rows["x"], rows["y"] = x, y


def generate(
    *,
    scenario: str,
    seed: int,
    region_m: shapely.Geometry,
    anchors: Mapping[str, Mapping[str, Any]],
    project: Projector,
) -> Population:
    """Draw the synthetic population (see the module docstring). Metric coordinates throughout.

    Independent random streams (``numpy.random.SeedSequence(seed).spawn``) feed the background,
    the planted clusters, the bumps, the amenity attributes, the amenity places and the final
    shuffle, so the two scenarios share every row except the places of the extra amenities.
    """
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    sampler = _Sampler(region_m)
    cx, cy = project(np.array([c.lon for c in CENTRES]), np.array([c.lat for c in CENTRES]))
    centre_xy = np.column_stack([cx, cy])
    background = _background(streams[0], sampler, centre_xy, project)
    planted, clusters, landuse = _planted(streams[1], sampler, anchors, project)
    bumps = _bumps(streams[2], sampler, project)
    amenities = _amenity_rows(streams[3], clusters)
    place_rng = streams[4] if scenario == "planted" else streams[5]
    _place_amenities(place_rng, sampler, amenities, clusters, centre_xy, scenario=scenario)
    rows = _concat([background, planted, bumps, amenities])
    order = streams[6].permutation(len(rows["x"]))
    table = {k: v[order] for k, v in rows.items()}
    for name, lon, lat, wid, hei, lu, former, until in DECOY_LANDUSE:
        (dx,), (dy,) = project(np.array([lon]), np.array([lat]))
        landuse.append(
            {
                "name": name,
                "landuse": lu,
                "former_use": former,
                "industrial_until": until,
                "geometry": _rectangle(dx, dy, wid, hei, 0.0),
                "planted_cluster": "",
            }
        )
    return Population(table=table, clusters=pd.DataFrame(clusters), landuse=pd.DataFrame(landuse))


def parameters() -> dict[str, Any]:
    """Every parameter of the synthetic population, for ``truth["params"]`` and the docs."""
    return {
        "years": (YEAR_MIN, YEAR_MAX),
        "founding_growth_per_year": FOUNDING_GROWTH_PER_YEAR,
        "n_background": N_BACKGROUND,
        "uniform_weight": UNIFORM_WEIGHT,
        "centres": [c.__repr__() for c in CENTRES],
        "profiles": _geography.profile_table(N_BACKGROUND).to_dict("records"),
        "real_places": {
            "mall_m2_per_row": _geography.MALL_M2_PER_ROW,
            "mall_max_rows": _geography.MALL_MAX_ROWS,
            "retail_m2_per_row": _geography.RETAIL_M2_PER_ROW,
            "retail_rows": (_geography.RETAIL_MIN_ROWS, _geography.RETAIL_MAX_ROWS),
            "retail_frontage_m": _geography.RETAIL_FRONTAGE_M,
            "clinics_per_hospital": _geography.CLINICS_PER_HOSPITAL,
            "clinic_sd_m": _geography.CLINIC_SD_M,
            "training_per_school": _geography.TRAINING_PER_SCHOOL,
            "training_sd_m": _geography.TRAINING_SD_M,
            "holdout_every": _geography.HOLDOUT_EVERY,
            "town_weight": _geography.TOWN_WEIGHT,
            "town_b_km": _geography.TOWN_B_KM,
        },
        "function_mix": dict(FUNCTION_MIX),
        "hotel_grades": [(g[0], g[1], g[2]) for g in HOTEL_GRADES],
        "closure_hazard": {f: s.closure_hazard for f, s in FUNCTIONS.items()},
        "employees_lognormal": {
            f: (s.employees_median, s.employees_sigma) for f, s in FUNCTIONS.items()
        },
        "clusters": [c.__repr__() for c in CLUSTERS],
        "wave_years": WAVE_YEARS,
        "anchor_min_share": ANCHOR_MIN_SHARE,
        "anchor_min_employees": ANCHOR_MIN_EMPLOYEES,
        "planted_closure_hazard": PLANTED_CLOSURE_HAZARD,
        "footprint_sd": FOOTPRINT_SD,
        "bumps": [b.__repr__() for b in BUMPS],
        "amenity_effects": {k: dict(v) for k, v in AMENITY_EFFECTS.items()},
        "decoy_landuse": [d[0] for d in DECOY_LANDUSE],
    }
