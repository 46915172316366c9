"""Say what kind of cluster each one is: the four Ningbo forms and Markusen's types.

Each detected cluster gets one of four **forms** seen in Ningbo's creative industries,

``new_park``
    a newly built park filled by a founding wave (Chuangxin 128, Chuang e Hui Gu);
``converted_industrial``
    a creative park in a disused industrial site (Loft 8, Hefeng Creative Square);
``government_street``
    a commercial creative street, usually with government support (the Industrial Design
    Creative Street);
``anchor_enterprise``
    one independent enterprise leading a brand with small firms around it (Tianzhiying);

or ``converted_heritage`` (a creative park in a converted non-industrial heritage building:
prison, school, temple, barracks, ...), or ``unclassified`` when the defining evidence is
missing, weak or contradictory, and one of Markusen's (1996)
types: ``marshallian``, ``hub_and_spoke``, ``satellite_platform``, ``state_anchored`` (or
``unclassified``).

Every decision is made from evidence computed from the members, the footprint, the park
registry and the land-use layer, by a small documented scoring (``docs/typology.md``); the
evidence values are returned next to the labels so a planner can check them. A form needs its
*defining evidence* (a dated registry park for ``new_park``, former industrial land for
``converted_industrial``, government support for ``government_street``, headcounts for
``anchor_enterprise``); shape alone gives only the neutral ``shape`` descriptor
(``linear``, ``elongated``, ``compact``).

References
----------
Markusen, A. (1996). Sticky places in slippery space: a typology of industrial districts.
*Economic Geography* 72(3), 293–313. doi:10.2307/144402.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from clusterscape._validation import check_columns, check_projected
from clusterscape.effects.opening import match_parks
from clusterscape.errors import CRSError, InvalidInputError

__all__ = [
    "ALL_FORMS",
    "FORMS",
    "HERITAGE_USES",
    "INDUSTRIAL_USES",
    "MARKUSEN_TYPES",
    "FormThresholds",
    "assign_forms",
    "former_use_kind",
    "gini",
    "line_fit",
]

FORMS = ("new_park", "converted_industrial", "government_street", "anchor_enterprise")
CONVERTED_HERITAGE = "converted_heritage"
#: Every form a cluster can get besides ``unclassified``: the four Ningbo forms and heritage.
ALL_FORMS = (*FORMS, CONVERTED_HERITAGE)
#: Former uses that make a site former industrial land (English words match whole words, with
#: an optional plural s; Chinese terms match anywhere).
INDUSTRIAL_USES: tuple[str, ...] = (
    "industrial", "industry", "brownfield", "factory", "mill", "works", "plant", "warehouse",
    "depot", "dock", "wharf", "shipyard", "port", "harbour", "harbor", "foundry", "steelworks",
    "gasworks", "power station", "brewery", "distillery", "tannery", "textile", "cotton mill",
    "workshop", "rail yard", "railway yard", "freight", "printing works", "mine", "quarry",
    "refinery", "slaughterhouse", "abattoir", "granary", "silo", "sawmill",
    "工厂", "厂", "仓库", "码头", "车间", "电厂", "纱厂", "工业", "货场", "船厂", "矿",
)  # fmt: skip
#: Former uses of non-industrial heritage buildings: such a conversion is ``converted_heritage``.
HERITAGE_USES: tuple[str, ...] = (
    "prison", "jail", "gaol", "school", "college", "temple", "church", "chapel", "monastery",
    "convent", "abbey", "mosque", "synagogue", "shrine", "barracks", "military", "hospital",
    "palace", "mansion", "manor", "castle", "fort", "courthouse", "town hall", "city hall",
    "market hall", "post office", "bank", "residence", "villa", "embassy", "consulate",
    "railway station", "station", "bathhouse", "theatre", "cinema", "library", "heritage",
    "监狱", "学校", "书院", "寺", "庙", "祠", "教堂", "兵营", "医院", "故居", "会馆", "官邸", "府",
)  # fmt: skip
MARKUSEN_TYPES = ("marshallian", "hub_and_spoke", "satellite_platform", "state_anchored")
UNCLASSIFIED = "unclassified"

_CALLER = "typology.assign_forms"
_COLUMNS = (
    "form", "form_confidence", "shape", "markusen", "evidence", "evidence_source", "data_form",
    "data_evidence", "markusen_evidence", "score_new_park", "score_converted_industrial",
    "score_government_street", "score_anchor_enterprise", "score_converted_heritage", "n_members", "nearest_park",
    "nearest_park_m", "park_matched", "park_opened", "government_support", "registry_form",
    "registry_former_use", "former_use_kind", "government_member_share", "brownfield_overlap", "brownfield_member_share",
    "after_industrial_share", "wave_start_year", "wave_start_source", "founding_wave_share", "founded_before_share", "founding_iqr_years",
    "line_r2", "line_buffer_share", "line_length_m", "elongation", "top_firm_share",
    "size_gini_rest", "median_employees", "anchor_name", "anchor_employees", "anchor_public",
    "branch_share",
)  # fmt: skip
_PARK_COLUMNS = ("name", "opened", "government_support", "former_use", "form")
#: Member columns read as evidence of government support (first present wins).
_SUPPORT_COLUMNS = ("government_supported", "government_support", "support")
_NO = {"", "no", "n", "false", "f", "0", "none", "nan", "<na>", "否", "无"}
_LANDUSE_COLUMNS = ("landuse", "former_use", "industrial_until")
_BRANCH = re.compile(r"分公司|分厂|分部|办事处|分支机构|\bbranch\b", re.IGNORECASE)
_PUBLIC_NAME = re.compile(
    r"大学|学院|学校|研究院|政府|管委会|管理委员会|博物馆|图书馆|文化馆|"
    r"\buniversity\b|\bcollege\b|\bschool\b|\bgovernment\b|\bmuseum\b|\blibrary\b|"
    r"\bpublic institute\b",
    re.IGNORECASE,
)
_PUBLIC_FUNCTION = re.compile(r"public|educat|government|admin|教育|政府|公共", re.IGNORECASE)
#: GB/T 4754-2017 divisions of public institutions: 83 education, 90-95 public administration.
_PUBLIC_CODE_PREFIXES = ("83", "90", "91", "92", "93", "94", "95")


@dataclass(frozen=True, slots=True)
class FormThresholds:
    """Every threshold of :func:`assign_forms`, with its default (justified in docs/typology.md).

    Lower bounds are inclusive (``value >= threshold`` passes), upper bounds strict
    (``value < threshold`` passes).
    """

    park_match_m: float = 1000.0
    """A registry park matches a cluster when it lies within this distance (m) of the footprint."""
    site_match_m: float = 250.0
    """The registry's ``former_use`` describes the cluster's land only within this distance (m)."""
    approximate_match_factor: float = 2.0
    """Match and site distance multiplier for parks whose registry ``location`` is ``approximate``."""
    wave_years: int = 3
    """A firm is in the founding wave when founded 0..wave_years years after the start year."""
    wave_share_min: float = 0.5
    """Founding-wave signature: share of dated members in the wave (>=)."""
    first_year_quantile: float = 0.1
    """Without a registry opening, the cluster's first year is this quantile of founding years."""
    post_opening_share_min: float = 0.8
    """new_park support: share of dated members founded in or after the park's opening (>=)."""
    brownfield_overlap_min: float = 0.3
    """converted signature: share of the footprint area, or of the members, on former industrial
    land (>=)."""
    after_industrial_share_min: float = 0.8
    """converted support: share of members on that land founded after its use ended (>=)."""
    elongation_min: float = 3.0
    """street signature: long/short side of the members' minimum rotated rectangle (>=)."""
    line_buffer_m: float = 75.0
    """Half-width (m) of the buffer around the principal-axis segment."""
    line_buffer_share_min: float = 0.8
    """street signature: share of members inside that buffer (>=)."""
    line_length_min_m: float = 200.0
    """street signature: length (m) of the principal-axis segment (>=)."""
    elongation_trim: float = 0.05
    """Share of members cut from each end of both principal coordinates before the rectangle
    and the length are measured (robust to stray members)."""
    top_share_min: float = 0.3
    """anchor signature: largest firm's share of cluster employment (>=)."""
    anchor_min_employees: float = 100.0
    """anchor signature: the largest firm's headcount (>=), a medium-sized enterprise or more."""
    government_member_share_min: float = 0.5
    """government_street evidence from the members: share of members whose support column
    (``government_supported``, ``government_support`` or ``support``) says yes (>=)."""
    compact_elongation_max: float = 2.0
    """shape descriptor: ``compact`` below this elongation (<), ``elongated`` from it."""
    rest_gini_max: float = 0.5
    """anchor support: Gini of the other firms' employment (<): the rest are alike and small."""
    penalty: float = 0.5
    """Score subtracted from a form for each other form's signature present."""
    score_floor: float = 0.5
    """Top score needed to classify (>=); below it the cluster is unclassified."""
    score_margin: float = 0.2
    """Lead of the top score over the runner-up needed to classify (>=)."""
    branch_share_min: float = 0.3
    """satellite_platform: share of members whose name marks a branch (>=)."""
    new_park_branch_share_min: float = 0.15
    """satellite_platform for a new_park: share of branch members (>=)."""
    marshallian_min_firms: int = 10
    """marshallian: number of members (>=)."""
    marshallian_median_employees_max: float = 50.0
    """marshallian: median headcount of members (<)."""
    marshallian_founding_iqr_min: float = 5.0
    """marshallian: inter-quartile range of founding years (>=), i.e. no single wave."""

    def __post_init__(self) -> None:
        """Refuse thresholds that are negative, not finite, or quantiles/trims out of range."""
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InvalidInputError(
                    f"FormThresholds: {name} must be a finite number >= 0, got {value!r}."
                )
        for name, high in (("first_year_quantile", 1.0), ("elongation_trim", 0.5)):
            if getattr(self, name) >= high:
                raise InvalidInputError(
                    f"FormThresholds: {name} must lie in [0, {high:g}), got {getattr(self, name)!r}."
                )


# --------------------------------------------------------------------------- measures


def gini(values: Any) -> float:
    """Gini coefficient of non-negative sizes (population form), NaN for fewer than 2 values.

    ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))`` (Gini 1912), computed in O(n log n) from
    the sorted values: ``G = sum_i (2i - n - 1) x_(i) / (n sum x)``. Equal sizes give 0; one
    non-zero value among n gives (n - 1) / n; the sizes 1..n give (n - 1) / (3n).

    Parameters
    ----------
    values : array_like
        Sizes, e.g. headcounts (persons); NaN values are dropped.

    Returns
    -------
    float
        In [0, 1); NaN when fewer than two sizes are known or all are zero.

    Examples
    --------
    >>> gini([1, 2, 3, 4])
    0.25
    """
    from clusterscape.measure.indices import _gini_columns

    x = np.asarray(values, dtype=float)
    x = np.sort(x[np.isfinite(x)])
    if len(x) < 2 or x.sum() <= 0:
        return float("nan")
    if x[0] < 0:
        raise InvalidInputError(f"gini: sizes must be >= 0, got {x[0]!r}.")
    return float(_gini_columns(x))


def line_fit(xy: Any, *, buffer_m: float = 75.0, trim: float = 0.05) -> dict[str, float]:
    """How well points lie along one straight line (metres in, metres out).

    The principal axis is the first principal component of the coordinates (PCA through
    their mean); the axis segment spans the points' projections on it.

    Parameters
    ----------
    xy : (n, 2) array_like
        Projected coordinates in metres.
    buffer_m : float
        Half-width of the buffer around the axis segment, in metres.
    trim : float
        Share of points cut from each end of both principal coordinates (quantiles ``trim`` and
        ``1 - trim``) before the rectangle and the length are measured, so a few stray firms
        do not hide a street.

    Returns
    -------
    dict
        ``line_r2``: share of variance along the axis (PCA explained-variance ratio, as
        scikit-learn's ``PCA().explained_variance_ratio_[0]``); ``line_buffer_share``: share of
        points within ``buffer_m`` of the axis segment; ``line_length_m``: extent of the central
        points along the axis; ``elongation``: long / short side of the minimum rotated rectangle
        of the central points (short side floored at 1 m). NaN values for fewer than 3 points.
    """
    pts = np.asarray(xy, dtype=float)
    nan = float("nan")
    out = {"line_r2": nan, "line_buffer_share": nan, "line_length_m": nan, "elongation": nan}
    if len(pts) < 3:
        return out
    centred = pts - pts.mean(axis=0)
    cov = centred.T @ centred / (len(pts) - 1)
    evals, evecs = np.linalg.eigh(cov)  # ascending
    total = float(evals.sum())
    axis = evecs[:, 1]
    along = centred @ axis
    across = centred @ evecs[:, 0]
    out["line_r2"] = float(evals[1] / total) if total > 0 else nan
    out["line_buffer_share"] = float(np.mean(np.abs(across) <= buffer_m))
    lo_a, hi_a = np.quantile(along, [trim, 1.0 - trim])
    lo_c, hi_c = np.quantile(across, [trim, 1.0 - trim])
    central = (along >= lo_a) & (along <= hi_a) & (across >= lo_c) & (across <= hi_c)
    keep = pts[central] if central.sum() >= 3 else pts
    out["line_length_m"] = float(np.ptp(along[central] if central.sum() >= 3 else along))
    rect = shapely.minimum_rotated_rectangle(shapely.multipoints(keep))
    if isinstance(rect, shapely.Polygon):
        ring = np.asarray(rect.exterior.coords)[:4]
        sides = np.hypot(*np.diff(np.vstack([ring, ring[:1]]), axis=0).T)
        long_side, short_side = float(sides.max()), float(sides.min())
    else:  # collinear points: the rectangle degenerates to a segment
        long_side, short_side = float(shapely.length(rect)), 0.0
    out["elongation"] = long_side / max(short_side, 1.0)
    return out


# --------------------------------------------------------------------------- inputs


def _use_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    ascii_terms = sorted((t for t in terms if t.isascii()), key=len, reverse=True)
    other = [re.escape(t) for t in terms if not t.isascii()]
    words = r"\b(?:" + "|".join(re.escape(t) for t in ascii_terms) + r")s?\b"
    return re.compile("|".join([words, *other]), re.IGNORECASE)


_INDUSTRIAL_RE = _use_pattern(INDUSTRIAL_USES)
_HERITAGE_RE = _use_pattern(HERITAGE_USES)


def former_use_kind(text: Any) -> str:
    """Classify a registry or land-use ``former_use`` text.

    Parameters
    ----------
    text : str
        Free text such as ``"cotton mill"``, ``"prison"`` or ``"和丰纱厂"``.

    Returns
    -------
    str
        ``"industrial"`` when a term of :data:`INDUSTRIAL_USES` occurs (checked first: a
        "school furniture factory" was a factory), ``"heritage"`` for a term of
        :data:`HERITAGE_USES`, ``"unknown"`` for other text and ``""`` for no text.

    Examples
    --------
    >>> [former_use_kind(t) for t in ("cotton mill", "Warehouses", "prison", "bakery", "")]
    ['industrial', 'industrial', 'heritage', 'unknown', '']
    """
    value = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    value = value.strip()
    if not value:
        return ""
    if _INDUSTRIAL_RE.search(value):
        return "industrial"
    if _HERITAGE_RE.search(value):
        return "heritage"
    return "unknown"


def _to_crs(gdf: gpd.GeoDataFrame, crs: Any, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidInputError(
            f"{_CALLER}: {what} must be a GeoDataFrame, got {type(gdf).__name__}."
        )
    if gdf.crs is None:
        raise CRSError(
            f"{_CALLER}: the {what} have no CRS, so their positions cannot be compared with the "
            "clusters in metres. Set it, e.g. gdf.set_crs('EPSG:4326')."
        )
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


def _year(series: pd.Series) -> np.ndarray:
    return np.asarray(
        pd.to_numeric(series, errors="coerce").astype("Float64").to_numpy(na_value=np.nan),
        dtype=float,
    )


def _text(series: pd.Series) -> pd.Series:
    return series.astype("object").where(series.notna(), "").astype(str).str.strip()


def _flag(series: pd.Series) -> np.ndarray:
    """Booleans from a bool / 0-1 / yes-no column; missing is False."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return np.asarray(series.astype("Float64").fillna(0).to_numpy(dtype=float) != 0)
    text = _text(series).str.lower()
    return np.asarray(text.isin({"true", "yes", "y", "1", "t", "是"}))


def _prepare_parks(parks: gpd.GeoDataFrame | None, crs: Any) -> pd.DataFrame | None:
    if parks is None or len(parks) == 0:
        return None
    check_columns(parks, _PARK_COLUMNS, caller=_CALLER, what="parks registry")
    parks_m = _to_crs(parks, crs, "parks")
    form = _text(parks_m["form"])
    bad = sorted(set(form) - set(ALL_FORMS) - {"", UNCLASSIFIED})
    if bad:
        raise InvalidInputError(
            f"{_CALLER}: parks registry form {bad[0]!r} is not one of {', '.join(ALL_FORMS)} "
            "(or empty for no override). Fix the registry's form column."
        )
    location = (
        _text(parks_m["location"]).str.lower()
        if "location" in parks_m.columns
        else pd.Series("exact", index=parks_m.index)
    )
    return pd.DataFrame(
        {
            "name": _text(parks_m["name"]).to_numpy(),
            "opened": _year(parks_m["opened"]),
            "government_support": _flag(parks_m["government_support"]),
            "former_use": _text(parks_m["former_use"]).to_numpy(),
            "form": form.to_numpy(),
            "approximate": (location == "approximate").to_numpy(),
            "geometry": parks_m.geometry.to_numpy(),
        }
    )


def _prepare_landuse(landuse: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame | None:
    """Former industrial land: brownfield, or industrial/anything whose use has ended."""
    if landuse is None or len(landuse) == 0:
        return None
    check_columns(landuse, _LANDUSE_COLUMNS, caller=_CALLER, what="landuse layer")
    lu = _to_crs(landuse, crs, "landuse polygons")
    kind = _text(lu["landuse"]).str.lower()
    until = _year(lu["industrial_until"])
    former = _text(lu["former_use"])
    former_kind = np.array([former_use_kind(v) for v in former], dtype=object)
    heritage = (former_kind == "heritage") & ~kind.isin({"brownfield", "industrial"}).to_numpy()
    is_former = (
        (kind == "brownfield") | (former != "").to_numpy() | np.isfinite(until)
    ) & ~heritage
    out = gpd.GeoDataFrame(
        {"industrial_until": until[np.asarray(is_former)]},
        geometry=lu.geometry.to_numpy()[np.asarray(is_former)],
        crs=crs,
    )
    out = out[~out.geometry.is_empty & out.geometry.notna()]
    return out if len(out) else None


# --------------------------------------------------------------------------- evidence


def _dominance(emp: np.ndarray, names: np.ndarray, public: np.ndarray) -> dict[str, Any]:
    known = np.isfinite(emp)
    out: dict[str, Any] = {
        "top_firm_share": float("nan"),
        "size_gini_rest": float("nan"),
        "median_employees": float(np.median(emp[known])) if known.any() else float("nan"),
        "anchor_name": "",
        "anchor_employees": float("nan"),
        "anchor_public": False,
    }
    if known.sum() < 2 or emp[known].sum() <= 0:
        return out
    idx = np.flatnonzero(known)
    top = idx[np.argmax(emp[idx])]
    out["top_firm_share"] = float(emp[top] / emp[known].sum())
    out["size_gini_rest"] = gini(np.delete(emp, top))
    out["anchor_name"] = str(names[top])
    out["anchor_employees"] = float(emp[top])
    out["anchor_public"] = bool(public[top])
    return out


def _member_support_share(members: pd.DataFrame) -> float:
    """Share of members whose support column says yes (NaN when no such column)."""
    for col in _SUPPORT_COLUMNS:
        if col in members.columns and len(members):
            series = members[col]
            if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
                return float(_flag(series).mean())
            text = _text(series).str.lower()
            return float((~text.isin(_NO)).mean())
    return float("nan")


def _members_public(members: pd.DataFrame) -> np.ndarray:
    public = np.zeros(len(members), dtype=bool)
    if "name" in members.columns:
        public |= _text(members["name"]).str.contains(_PUBLIC_NAME).to_numpy()
    if "function" in members.columns:
        public |= _text(members["function"]).str.contains(_PUBLIC_FUNCTION).to_numpy()
    if "code" in members.columns:
        public |= _text(members["code"]).str.startswith(_PUBLIC_CODE_PREFIXES).to_numpy()
    return public


def _nearest_park(
    footprint: Any, centroid: Any, parks: pd.DataFrame | None, th: FormThresholds
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "nearest_park": None,
        "nearest_park_m": float("nan"),
        "park_matched": False,
        "park_opened": float("nan"),
        "government_support": False,
        "registry_form": "",
        "registry_former_use": "",
    }
    if parks is None:
        return out
    geoms = parks["geometry"].to_numpy()
    dist = shapely.distance(footprint, geoms)
    tie = shapely.distance(centroid, geoms)
    i = int(np.lexsort((tie, dist))[0])
    limit = th.park_match_m * (th.approximate_match_factor if parks["approximate"].iat[i] else 1.0)
    out["nearest_park"] = parks["name"].iat[i]
    out["nearest_park_m"] = float(dist[i])
    if dist[i] <= limit:
        out["_park_index"] = i
    return out


def _brownfield(
    footprint: Any, xy: np.ndarray, opened: np.ndarray, land: gpd.GeoDataFrame | None
) -> dict[str, float]:
    """Share of footprint area and of members on former industrial land; founding after its end."""
    out = {
        "brownfield_overlap": 0.0,
        "brownfield_member_share": 0.0,
        "after_industrial_share": float("nan"),
    }
    if land is None or len(xy) == 0:
        return out
    polys = land.geometry.to_numpy()
    until = land["industrial_until"].to_numpy(dtype=float)
    area = float(shapely.area(footprint))
    hits = np.flatnonzero(shapely.intersects(footprint, polys))
    if area > 0 and len(hits):
        covered = shapely.intersection(footprint, shapely.union_all(polys[hits]))
        out["brownfield_overlap"] = float(shapely.area(covered) / area)
    pts = shapely.points(xy)
    inside = np.zeros(len(xy), dtype=bool)
    after, dated = 0, 0
    for poly, end in zip(polys, until, strict=True):
        on = shapely.covers(poly, pts)
        inside |= on
        if np.isfinite(end):  # members whose founding year and the end of use are both known
            on &= np.isfinite(opened)
            dated += int(on.sum())
            after += int((opened[on] >= end).sum())
    out["brownfield_member_share"] = float(inside.mean())
    if dated:
        out["after_industrial_share"] = after / dated
    return out


def _founding(opened: np.ndarray, park_opened: float, th: FormThresholds) -> dict[str, Any]:
    years = opened[np.isfinite(opened)]
    nan = float("nan")
    out: dict[str, Any] = {
        "wave_start_year": nan,
        "wave_start_source": "",
        "founding_wave_share": nan,
        "founded_before_share": nan,
        "founding_iqr_years": nan,
    }
    if len(years) == 0:
        return out
    q25, q75 = np.quantile(years, [0.25, 0.75])
    out["founding_iqr_years"] = float(q75 - q25)
    if np.isfinite(park_opened):
        start, source = float(park_opened), "park opening"
    else:
        start = float(np.quantile(years, th.first_year_quantile, method="lower"))
        source = "cluster's first year"
    delta = years - start
    out.update(
        wave_start_year=start,
        wave_start_source=source,
        founding_wave_share=float(np.mean((delta >= 0) & (delta <= th.wave_years))),
        founded_before_share=float(np.mean(delta < 0)),
    )
    return out


def _apply_park(row: dict[str, Any], i: int, parks: pd.DataFrame, th: FormThresholds) -> None:
    """Registry facts of park ``i``, which this cluster claims (it is the park's nearest cluster)."""
    site_m = th.site_match_m * (th.approximate_match_factor if parks["approximate"].iat[i] else 1.0)
    row.update(
        park_matched=True,
        park_opened=float(parks["opened"].to_numpy(dtype=float)[i]),
        government_support=bool(parks["government_support"].iat[i]),
        registry_form=parks["form"].iat[i],
        registry_former_use=parks["former_use"].iat[i] if row["nearest_park_m"] <= site_m else "",
    )


def _evidence_row(
    footprint: Any,
    members: pd.DataFrame,
    parks: pd.DataFrame | None,
    land: gpd.GeoDataFrame | None,
    th: FormThresholds,
) -> dict[str, Any]:
    xy = np.column_stack([members.geometry.x.to_numpy(), members.geometry.y.to_numpy()])
    if footprint is None or shapely.is_empty(footprint):
        footprint = shapely.convex_hull(shapely.multipoints(xy)) if len(xy) else shapely.Point()
    opened = _year(members["opened"]) if "opened" in members.columns else np.full(len(xy), np.nan)
    emp = (
        _year(members["employees"]) if "employees" in members.columns else np.full(len(xy), np.nan)
    )
    names = _text(members["name"]).to_numpy() if "name" in members.columns else np.full(len(xy), "")
    row: dict[str, Any] = {"n_members": len(members)}
    row.update(_nearest_park(footprint, shapely.centroid(footprint), parks, th))
    row.update(_brownfield(footprint, xy, opened, land))
    row["_opened"] = opened
    row.update(line_fit(xy, buffer_m=th.line_buffer_m, trim=th.elongation_trim))
    row.update(_dominance(emp, names, _members_public(members)))
    row["government_member_share"] = _member_support_share(members)
    is_branch = pd.Series(names).str.contains(_BRANCH).to_numpy()
    row["branch_share"] = float(is_branch.mean()) if len(names) else float("nan")
    return row


# --------------------------------------------------------------------------- decisions


def _ge(value: Any, threshold: float) -> bool:
    return bool(np.isfinite(value) and value >= threshold)


def _lt(value: Any, threshold: float) -> bool:
    return bool(np.isfinite(value) and value < threshold)


def _indicators(r: dict[str, Any], th: FormThresholds) -> dict[str, bool]:
    kind = former_use_kind(r["registry_former_use"])
    line = (
        _ge(r["elongation"], th.elongation_min)
        and _ge(r["line_buffer_share"], th.line_buffer_share_min)
        and _ge(r["line_length_m"], th.line_length_min_m)
    )
    government = bool(r["government_support"]) or _ge(
        r.get("government_member_share", float("nan")), th.government_member_share_min
    )
    return {
        "wave": _ge(r["founding_wave_share"], th.wave_share_min),
        "dated": bool(np.isfinite(r["founding_wave_share"])),
        "park": bool(r["park_matched"]),
        "park_dated": bool(r["park_matched"]) and bool(np.isfinite(r["park_opened"])),
        "post_opening": r["wave_start_source"] == "park opening"
        and _ge(1.0 - r["founded_before_share"], th.post_opening_share_min),
        "brownfield": _ge(r["brownfield_overlap"], th.brownfield_overlap_min)
        or _ge(r["brownfield_member_share"], th.brownfield_overlap_min)
        or kind == "industrial",
        "heritage": kind == "heritage",
        "after_industrial": _ge(r["after_industrial_share"], th.after_industrial_share_min),
        "line": line,
        "government": government,
        "street": line and government,
        "headcounts": bool(np.isfinite(r["top_firm_share"])),
        "dominant": _ge(r["top_firm_share"], th.top_share_min)
        and _ge(r["anchor_employees"], th.anchor_min_employees),
        "rest_alike": _lt(r["size_gini_rest"], th.rest_gini_max),
    }


def _scores(f: dict[str, bool], th: FormThresholds) -> dict[str, float]:
    """Scores of every form; a form without its defining evidence scores 0.

    new_park: a matched registry park with an opening year, and (when founding years are
    known) a founding wave; converted_industrial: former industrial land; converted_heritage:
    a registry former use in HERITAGE_USES; government_street: a line *and* government
    support; anchor_enterprise: headcounts with a dominant firm.
    """
    b, h, st, d, w = f["brownfield"], f["heritage"], f["street"], f["dominant"], f["wave"]
    p = th.penalty
    park_new = f["park_dated"] and (w or not f["dated"])
    raw = {
        "new_park": (park_new and not (b or h or st or d))
        * (0.6 + 0.2 * w + 0.2 * f["post_opening"]),
        "converted_industrial": b * (0.6 + 0.2 * f["after_industrial"] + 0.2 * w) - p * (st + d),
        "government_street": st * 1.0 - p * (b + h + d),
        "anchor_enterprise": d * (0.6 + 0.2 * f["rest_alike"] + 0.2 * (not f["government"]))
        - p * (b + h + st),
        CONVERTED_HERITAGE: (h and not b) * (0.6 + 0.2 * w + 0.2 * f["park"]) - p * (st + d),
    }
    return {k: round(max(0.0, float(v)), 10) for k, v in raw.items()}


def _shape(r: dict[str, Any], f: dict[str, bool], th: FormThresholds) -> str:
    """Neutral shape descriptor: ``linear``, ``elongated``, ``compact`` or ``""`` (< 3 members)."""
    if f["line"]:
        return "linear"
    if not np.isfinite(r["elongation"]):
        return ""
    return "compact" if r["elongation"] < th.compact_elongation_max else "elongated"


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _facts(r: dict[str, Any], th: FormThresholds) -> dict[str, str]:
    """One phrase per indicator, with its value and threshold."""
    park = f"{r['nearest_park']} ({r['nearest_park_m']:.0f} m)" if r["nearest_park"] else "none"
    land = (
        f"{_pct(r['brownfield_overlap'])} of the footprint and "
        f"{_pct(r['brownfield_member_share'])} of firms on former industrial land"
        + (
            f", registry former use {r['registry_former_use']!r}"
            if r["registry_former_use"]
            else ""
        )
        + f" (threshold {_pct(th.brownfield_overlap_min)})"
    )
    wave = (
        f"{_pct(r['founding_wave_share'])} of firms founded within {th.wave_years} years of "
        f"{r['wave_start_source']} {r['wave_start_year']:.0f} (threshold {_pct(th.wave_share_min)})"
        if np.isfinite(r["founding_wave_share"])
        else "founding years unknown"
    )
    return {
        "wave": wave,
        "park": f"matched registry park {park}" if r["park_matched"] else f"nearest park {park}",
        "post_opening": f"{_pct(1 - r['founded_before_share'])} founded after the park opened"
        if np.isfinite(r["founded_before_share"])
        else "",
        "brownfield": land,
        "after_industrial": f"{_pct(r['after_industrial_share'])} of firms there founded after "
        "the industrial use ended"
        if np.isfinite(r["after_industrial_share"])
        else "",
        "line": f"elongation {r['elongation']:.1f} (>= {th.elongation_min:g}), "
        f"{_pct(r['line_buffer_share'])} within {th.line_buffer_m:g} m of a "
        f"{r['line_length_m']:.0f} m axis"
        if np.isfinite(r["elongation"])
        else "too few members for a line fit",
        "government": "government support in the registry"
        if r["government_support"]
        else f"{_pct(r.get('government_member_share', float('nan')))} of members marked as "
        "government-supported",
        "street": "",
        "heritage": f"registry former use {r['registry_former_use']!r} (heritage, not industrial)",
        "independent": "no registry government support",
        "dominant": f"largest firm {r['anchor_name'] or '(unnamed)'} ({r['anchor_employees']:.0f} "
        f"staff) holds {_pct(r['top_firm_share'])} of employment (threshold "
        f"{_pct(th.top_share_min)})"
        if np.isfinite(r["top_firm_share"])
        else "employment unknown",
        "rest_alike": f"Gini of the other firms' sizes {r['size_gini_rest']:.2f}"
        if np.isfinite(r["size_gini_rest"])
        else "",
    }


_SUPPORT = {
    "new_park": ("park", "wave", "post_opening"),
    "converted_industrial": ("brownfield", "after_industrial", "wave"),
    "government_street": ("line", "government"),
    "anchor_enterprise": ("dominant", "rest_alike", "independent"),
    CONVERTED_HERITAGE: ("heritage", "wave", "park"),
}
_SIGNATURE = {
    "new_park": "wave",
    "converted_industrial": "brownfield",
    "government_street": "line",
    "anchor_enterprise": "dominant",
    CONVERTED_HERITAGE: "heritage",
}


def _missing(r: dict[str, Any], f: dict[str, bool], facts: dict[str, str]) -> list[str]:
    """What each form lacks, in words (for an unclassified cluster)."""
    needs: list[str] = []
    if not f["park_dated"]:
        needs.append(
            "new_park needs a matched registry park with an opening year ("
            + (facts["park"] if r["nearest_park"] else "no park registry")
            + ")"
        )
    elif f["dated"] and not f["wave"]:
        needs.append(f"new_park needs a founding wave ({facts['wave']})")
    if not f["brownfield"]:
        needs.append(
            "converted_industrial needs former industrial land ("
            + (facts["heritage"] if f["heritage"] else facts["brownfield"])
            + ")"
        )
    if not f["government"]:
        needs.append(
            "government_street needs evidence of government support (registry "
            "government_support or a members' support column): none"
            + (f", although the members lie along a line ({facts['line']})" if f["line"] else "")
        )
    elif not f["line"]:
        needs.append(f"government_street needs a linear shape ({facts['line']})")
    if not f["headcounts"]:
        needs.append("anchor_enterprise needs headcounts (employment unknown)")
    elif not f["dominant"]:
        needs.append(f"anchor_enterprise needs a dominant firm ({facts['dominant']})")
    return needs


def _decide(
    r: dict[str, Any], th: FormThresholds
) -> tuple[str, float, str, dict[str, float], dict[str, bool]]:
    f = _indicators(r, th)
    scores = _scores(f, th)
    facts = _facts(r, th)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], ALL_FORMS.index(kv[0])))
    (top_form, top), (second_form, second) = ranked[0], ranked[1]
    confidence = round(top * (top - second), 10)
    signatures = [facts[s] for k, s in _SIGNATURE.items() if f[s] and k != "new_park"]
    if top < th.score_floor:
        shape = _shape(r, f, th)
        needs = _missing(r, f, facts)
        extra = [fact for fact in signatures if not any(fact in need for need in needs)]
        seen = "; ".join([*needs, *extra]) or facts["wave"]
        why = (
            f"unclassified: no form reaches score {th.score_floor:g} (best {top_form} {top:.2f})"
            + (f"; shape {shape}" if shape else "")
            + f"; {seen}"
        )
        return UNCLASSIFIED, confidence, why, scores, f
    if round(top - second, 10) < th.score_margin:
        why = (
            f"unclassified: {top_form} ({top:.2f}) and {second_form} ({second:.2f}) are within "
            f"{th.score_margin:g}; " + "; ".join(signatures or [facts["wave"]])
        )
        return UNCLASSIFIED, confidence, why, scores, f
    f_used = {**f, "independent": not f["government"]}
    if top_form == "new_park":
        f_used["park"] = f["park_dated"]
    used = [facts[k] for k in _SUPPORT[top_form] if f_used[k] and facts[k]]
    against = [s for k, s in _SIGNATURE.items() if f[s] and k != top_form and k != "new_park"]
    why = f"{top_form} (score {top:.2f}): " + "; ".join(used)
    if against:
        why += "; despite " + "; ".join(facts[s] for s in against)
    return top_form, confidence, why, scores, f


def _markusen(
    r: dict[str, Any], form: str, f: dict[str, bool], th: FormThresholds
) -> tuple[str, str]:
    share = f"{_pct(r['top_firm_share'])}" if np.isfinite(r["top_firm_share"]) else "unknown"
    branch = r["branch_share"]
    if f["dominant"] and r["anchor_public"]:
        return (
            "state_anchored",
            f"the largest employer {r['anchor_name']} is a public institution ({share} of employment)",
        )
    if f["dominant"]:
        return "hub_and_spoke", f"the largest firm {r['anchor_name']} holds {share} of employment"
    if _ge(branch, th.branch_share_min):
        return (
            "satellite_platform",
            f"{_pct(branch)} of members are branches (names with 分公司/分厂/branch)",
        )
    if f["government"] and r["government_support"]:
        return "state_anchored", f"the registry park {r['nearest_park']} has government support"
    if f["government"]:
        return "state_anchored", (
            f"{_pct(r['government_member_share'])} of members are marked as government-supported"
        )
    if form == "new_park" and _ge(branch, th.new_park_branch_share_min):
        return "satellite_platform", f"a new park with {_pct(branch)} branch establishments"
    if (
        r["n_members"] >= th.marshallian_min_firms
        and _lt(r["median_employees"], th.marshallian_median_employees_max)
        and _ge(r["founding_iqr_years"], th.marshallian_founding_iqr_min)
        and _lt(r["top_firm_share"], th.top_share_min)
    ):
        return "marshallian", (
            f"{r['n_members']} firms, median size {r['median_employees']:.0f}, largest {share}, "
            f"founding years spread over an IQR of {r['founding_iqr_years']:.0f} years"
        )
    return UNCLASSIFIED, "no Markusen type fits"


# --------------------------------------------------------------------------- public API


def assign_forms(
    clusters: gpd.GeoDataFrame,
    establishments: gpd.GeoDataFrame,
    *,
    parks: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    thresholds: FormThresholds | None = None,
) -> pd.DataFrame:
    """Type each cluster as one of the four Ningbo forms and one of Markusen's types.

    Parameters
    ----------
    clusters : GeoDataFrame
        Footprints in a projected (metric) CRS, indexed by cluster id (``detect_clusters``).
    establishments : GeoDataFrame
        Points in any CRS with a ``cluster`` membership column (-1 = noise) and, when known,
        ``opened`` (year), ``employees`` (persons), ``name``, ``code``, ``function``.
    parks : GeoDataFrame, optional
        Park registry: points with ``name``, ``opened``, ``government_support``,
        ``former_use``, ``form`` and optionally ``location`` (``exact``/``approximate``).
    landuse : GeoDataFrame, optional
        Polygons with ``landuse``, ``former_use``, ``industrial_until`` (year).
    thresholds : FormThresholds, optional
        Every threshold; defaults are justified in ``docs/typology.md``.

    Returns
    -------
    DataFrame
        Indexed like ``clusters``. ``form`` (one of :data:`ALL_FORMS` or ``unclassified``;
        a form only with its defining evidence, see Notes), ``shape`` (neutral descriptor:
        ``linear``, ``elongated``, ``compact``; ``""`` with fewer than 3 members),
        ``form_confidence`` (0–1: top score x its lead over the runner-up; 1.0 for a registry
        form), ``markusen`` (one of :data:`MARKUSEN_TYPES` or ``unclassified``), ``evidence``
        (one sentence with the deciding facts and values; ``"registry"`` when the registry's
        form decided), ``evidence_source`` (``registry``/``data``), ``data_form`` and
        ``data_evidence`` (what the data alone say), ``markusen_evidence``, the four
        ``score_<form>`` values, and the evidence: ``n_members``, ``nearest_park``,
        ``nearest_park_m`` (m from the footprint), ``park_matched``, ``park_opened``,
        ``government_support``, ``registry_form``, ``registry_former_use``,
        ``former_use_kind`` (:func:`former_use_kind`), ``government_member_share`` (share of
        members whose ``government_supported``/``government_support``/``support`` column says
        yes; NaN without such a column),
        ``brownfield_overlap`` (share of footprint area), ``brownfield_member_share``,
        ``after_industrial_share``,
        ``wave_start_year``, ``wave_start_source``, ``founding_wave_share``,
        ``founded_before_share``, ``founding_iqr_years``, ``line_r2``, ``line_buffer_share``,
        ``line_length_m``, ``elongation``, ``top_firm_share``, ``anchor_employees``,
        ``size_gini_rest``,
        ``median_employees`` (persons), ``anchor_name``, ``anchor_public``, ``branch_share``.

    Raises
    ------
    CRSError
        When the clusters are not in metres or an input has no CRS.
    InvalidInputError
        When a required column is missing or the registry names an unknown form.

    Notes
    -----
    A form needs its defining evidence, otherwise it scores 0: ``new_park`` a matched
    registry park with an opening year (and a founding wave when founding years are known);
    ``converted_industrial`` former industrial land (land-use overlap or a registry
    ``former_use`` in :data:`INDUSTRIAL_USES`); ``converted_heritage`` a registry
    ``former_use`` in :data:`HERITAGE_USES`; ``government_street`` a line *and* government
    support (registry or members); ``anchor_enterprise`` headcounts with a dominant firm.
    Each form has one signature fact (score 0.6) and supporting facts (0.2 or 0.4); every
    other form's signature present costs ``penalty``. A cluster is classified when the top
    score is at least ``score_floor`` and leads the runner-up by ``score_margin``; otherwise it
    is ``unclassified``. A registry park within the match distance with a ``form`` overrides.
    Markusen (1996) types follow first-match rules on dominance, branch share, government
    support and the size and age structure. See ``docs/typology.md``.
    """
    th = thresholds if thresholds is not None else FormThresholds()
    if not isinstance(clusters, gpd.GeoDataFrame):
        raise InvalidInputError(
            f"{_CALLER}: clusters must be a GeoDataFrame, got {type(clusters).__name__}."
        )
    check_projected(clusters, caller=_CALLER)
    check_columns(establishments, ["cluster"], caller=_CALLER, what="establishments")
    if clusters.index.has_duplicates:
        raise InvalidInputError(f"{_CALLER}: the clusters' index (cluster ids) has duplicates.")
    crs = clusters.crs
    members_only = establishments[establishments["cluster"].isin(clusters.index)]
    est = _to_crs(members_only, crs, "establishments")
    park_table = _prepare_parks(parks, crs)
    land = _prepare_landuse(landuse, crs)
    groups = {k: g for k, g in est.groupby(est["cluster"], sort=False) if pd.notna(k)}

    rows: list[dict[str, Any]] = []
    for cid, footprint in zip(clusters.index, clusters.geometry.to_numpy(), strict=True):
        members = groups.get(cid, est.iloc[0:0])
        r = _evidence_row(footprint, members, park_table, land, th)
        r["cluster_id"] = cid
        rows.append(r)
    # the registry match shared with effects.cluster_opening_years (clusterscape.effects.opening)
    claimed = np.full(len(rows), -1)
    if park_table is not None:
        claimed, _ = match_parks(
            clusters.geometry.to_numpy(),
            park_table["geometry"].to_numpy(),
            approximate=park_table["approximate"].to_numpy(),
            match_m=th.park_match_m,
            approximate_factor=th.approximate_match_factor,
        )

    out_rows = []
    for pos, r in enumerate(rows):
        r.pop("_park_index", None)
        if park_table is not None and claimed[pos] >= 0:
            _apply_park(r, int(claimed[pos]), park_table, th)
        r.update(_founding(r.pop("_opened"), r["park_opened"], th))
        r["former_use_kind"] = former_use_kind(r["registry_former_use"])
        shape = ""
        if r["n_members"] == 0:
            form, conf, why = UNCLASSIFIED, 0.0, "no member establishments"
            scores: dict[str, float] = {}
            mk, mk_why = UNCLASSIFIED, "no member establishments"
        else:
            form, conf, why, scores, ind = _decide(r, th)
            shape = _shape(r, ind, th)
        registry = r["registry_form"] in ALL_FORMS
        if r["n_members"]:
            mk, mk_why = _markusen(r, r["registry_form"] if registry else form, ind, th)
        out_rows.append(
            {
                "form": r["registry_form"] if registry else form,
                "form_confidence": 1.0 if registry else conf,
                "shape": shape,
                "markusen": mk,
                "evidence": "registry" if registry else f"{why}; Markusen {mk}: {mk_why}.",
                "evidence_source": "registry" if registry else "data",
                "data_form": form,
                "data_evidence": why,
                "markusen_evidence": mk_why,
                **{f"score_{k}": scores.get(k, 0.0) for k in ALL_FORMS},
                **r,
            }
        )
    return pd.DataFrame(out_rows, index=clusters.index, columns=list(_COLUMNS))
