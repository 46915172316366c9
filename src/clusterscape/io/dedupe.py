"""Duplicate establishments and stacked addresses.

*Duplicates* are one firm listed twice (two exports joined, a POI and its registry entry, the
same branch under two ids). :func:`find_duplicates` links two rows when

1. ``id``: they have the same provider id (``id`` with the reader's ``#<row>`` suffix for a
   repeated id removed; generated ``row-N`` ids never match) or the same ``uscc`` (rule
   ``uscc``), unless the rows sharing it carry different normalised names (an id typo: then
   only rows of the same name are linked);
2. ``name+address``: the same normalised name and the same normalised address, at most
   ``address_m`` (default 2,000 m, so two geocoders of one address still match) apart;
3. ``name+distance``: the same normalised name at most ``name_m`` (default 50 m) apart, unless
   both rows have addresses and they differ; the rows of a name spread over more than 1 km
   (a chain's outlets across the city) need ``chain_m`` (default 10 m).

Linked rows form groups; the first row of a group in table order is kept and every other row
is reported with the rule and distance of the link that brought it in
(:func:`drop_duplicates`). Names are normalised by :func:`normalise_name` (NFKC, so full-width
characters become half-width; lower case; spaces and punctuation removed; a leading 中国 /
浙江省 / 宁波市 removed when four or more characters remain, so 宁波银行 stays itself; trailing
legal forms such as 股份有限公司, 有限责任公司, 分公司 removed);
addresses by :func:`normalise_address`.

*Stacks* are many rows at one coordinate (an incubator, hollow registrations at an agent's
address, a geocoder that fell back to a district centroid). :func:`stack_groups` joins rows
within ``tol_m`` (default 1 m) of each other; ``stacked`` is the size of a row's group.
:func:`geocode_coarse` reads the geocoder's precision fields (Amap ``level``, Baidu
``level``/``precise``/``confidence``) and flags matches coarser than a street or a door.
:func:`stack_view` gives the points a statistic sees under ``stack="keep"|"collapse"|"weight"``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from clusterscape._validation import check_choice
from clusterscape.errors import InvalidInputError

__all__ = [
    "DUPLICATE_COLUMNS",
    "STACK_MODES",
    "StackView",
    "drop_duplicates",
    "find_duplicates",
    "geocode_coarse",
    "normalise_address",
    "normalise_name",
    "stack_groups",
    "stack_view",
]

#: Columns of the duplicates table (``duplicates.csv``).
DUPLICATE_COLUMNS = (
    "kept_id",
    "dropped_id",
    "matched_id",
    "rule",
    "distance_m",
    "kept_row",
    "dropped_row",
)
STACK_MODES = ("keep", "collapse", "weight")
#: a name whose rows spread wider than this (m, bounding-box diagonal) is a chain's (``chain_m``)
CHAIN_SPAN_M = 1000.0
_EARTH_M = 6_371_008.8
_PUNCT = re.compile(r"[\s\u3000·•.,，。、;；:：'\"‘’“”()（）\[\]【】{}<>《》\-_/\\|#&@!！?？*+~]+")
_PREFIX = re.compile(r"^(?:中国|浙江省|浙江|宁波市|宁波)+")
_SUFFIX = re.compile(
    r"(?:股份有限公司|有限责任公司|有限公司|股份公司|分公司|总公司|集团|公司|有限|股份)$"
)
# Latin legal forms only as words of their own (Tesco and Interasco keep their "co")
_LATIN_SUFFIX = re.compile(
    r"(?:^|[\s,.])(?:co|ltd|limited|inc|llc|corp|corporation|company|gmbh|plc)\.?[\s,.]*$"
)
#: a region prefix is removed only when at least this many characters remain
_MIN_REST = 4
_ADDR_PREFIX = re.compile(r"^(?:中国|浙江省|浙江|宁波市|宁波)+")


def _fold(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def _strip_all(pattern: re.Pattern[str], text: str) -> str:
    """``text`` with ``pattern`` removed from its end as often as it matches (never to "")."""
    while True:
        stripped = pattern.sub("", text)
        if stripped == text or not stripped:
            return text
        text = stripped


def normalise_name(name: str) -> str:
    """The comparison key of a firm name (see the module docstring).

    Examples
    --------
    >>> normalise_name("宁波市 甬江设计（工作室）有限公司"), normalise_name("甬江设计工作室")
    ('甬江设计工作室', '甬江设计工作室')
    """
    t = _strip_all(_LATIN_SUFFIX, unicodedata.normalize("NFKC", name).lower().strip())
    t = _strip_all(_SUFFIX, _fold(t))
    rest = _PREFIX.sub("", t)
    return rest if len(rest) >= _MIN_REST else t  # 宁波银行 stays itself, not 银行


def normalise_address(address: str) -> str:
    """The comparison key of an address: NFKC, lower case, no spaces or punctuation, no 中国/浙江省/宁波市.

    Examples
    --------
    >>> normalise_address("浙江省宁波市海曙区 中山西路１８号")
    '海曙区中山西路18号'
    """
    return _ADDR_PREFIX.sub("", _fold(address))


def _metres(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """(n, 2) planar metres: the frame's own for a projected CRS, else equirectangular."""
    if gdf.crs is not None and not gdf.crs.is_geographic:
        return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])
    lon, lat = gdf.geometry.x.to_numpy(float), gdf.geometry.y.to_numpy(float)
    lat0 = float(np.nanmedian(lat)) if len(lat) else 0.0
    x = np.radians(lon) * _EARTH_M * np.cos(np.radians(lat0))
    return np.column_stack([x, np.radians(lat) * _EARTH_M])


def _check_points(gdf: object, caller: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidInputError(
            f"{caller}: expected a GeoDataFrame of establishments, got {type(gdf).__name__}."
        )
    return gdf


_ADDRESS_COLUMNS = ("address", "地址", "注册地址", "企业地址", "住所", "经营地址", "通信地址")


def _text_column(gdf: pd.DataFrame, names: Sequence[str]) -> np.ndarray | None:
    for c in names:
        if c in gdf.columns:
            return gdf[c].astype("string").fillna("").to_numpy(dtype=object)
    return None


def find_duplicates(
    establishments: gpd.GeoDataFrame,
    *,
    name_m: float = 50.0,
    address_m: float = 2000.0,
    chain_m: float = 10.0,
    address: str | None = None,
) -> pd.DataFrame:
    """Rows that list an establishment already listed (see the module docstring for the rules).

    Parameters
    ----------
    establishments : GeoDataFrame
        Points (any CRS; degrees are measured equirectangularly, exact to well under 1 % over a
        city) with ``id`` and ``name``; ``uscc`` and an address column are used when present.
    name_m : float, default 50
        Largest distance (m) between two rows of the same normalised name.
    address_m : float, default 2000
        Largest distance (m) between two rows of the same normalised name and address.
    chain_m : float, default 10
        Largest distance (m) under ``name+distance`` for a name whose rows spread over more
        than ``CHAIN_SPAN_M`` (1 km): a chain's outlets (R-Kioski, 中国石化) may stand 30 m
        apart.
    address : str, optional
        The address column; by default the first of ``address, 地址, 注册地址, 企业地址, 住所,
        经营地址, 通信地址`` present.

    Returns
    -------
    DataFrame
        One row per row to drop: ``kept_id``, ``dropped_id``, ``matched_id`` (the row it was
        linked to), ``rule`` (``id``, ``uscc``, ``name+address``, ``name+distance``),
        ``distance_m`` to the matched row, and the positions ``kept_row``/``dropped_row``
        (0-based, in the input's order).

    Examples
    --------
    >>> import geopandas as gpd
    >>> firms = gpd.GeoDataFrame(
    ...     {"id": ["a", "b", "c"], "name": ["甬江设计有限公司", "宁波甬江设计", "甬江广告"]},
    ...     geometry=gpd.points_from_xy([121.55, 121.5503, 121.5501], [29.87, 29.87, 29.87]),
    ...     crs="EPSG:4326")
    >>> find_duplicates(firms)[["kept_id", "dropped_id", "rule"]].to_numpy().tolist()
    [['a', 'b', 'name+distance']]
    """
    gdf = _check_points(establishments, "find_duplicates")
    for label, v in (("name_m", name_m), ("address_m", address_m), ("chain_m", chain_m)):
        if not (np.isfinite(v) and v >= 0):
            raise InvalidInputError(f"find_duplicates: {label} must be >= 0 m, got {v!r}.")
    n = len(gdf)
    xy = _metres(gdf)
    edges: list[tuple[np.ndarray, np.ndarray, str]] = []

    def same_key(
        keys: np.ndarray, rule: str, limit: float | None, apart: np.ndarray | None = None
    ) -> None:
        key = pd.Series(keys)
        ok = key.ne("") & key.notna()
        dup = ok & key.duplicated(keep=False)
        if not dup.any():
            return
        pos = np.flatnonzero(dup.to_numpy())
        codes, _ = pd.factorize(key.iloc[pos])
        order = np.argsort(codes, kind="stable")
        pos, codes = pos[order], codes[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        ends = np.r_[starts[1:], len(pos)]
        a_all, b_all = [], []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            group = pos[s:e]
            if limit is None:  # chain the group to its first row
                a_all.append(np.full(len(group) - 1, group[0]))
                b_all.append(group[1:])
                continue
            radius = limit
            if apart is not None and len(group) > 2:
                # a name whose rows spread over more than CHAIN_SPAN_M is a chain's (outlets
                # across the city): two of its rows are one only within chain_m
                span = np.hypot(*(xy[group].max(axis=0) - xy[group].min(axis=0)))
                radius = min(limit, chain_m) if span > CHAIN_SPAN_M else limit
            pairs = cKDTree(xy[group]).query_pairs(radius, output_type="ndarray")
            if apart is not None and len(pairs):  # two different addresses are two places
                aa, ab = apart[group[pairs[:, 0]]], apart[group[pairs[:, 1]]]
                pairs = pairs[(aa == "") | (ab == "") | (aa == ab)]
            if len(pairs):
                a_all.append(group[pairs[:, 0]])
                b_all.append(group[pairs[:, 1]])
        if a_all:
            edges.append((np.concatenate(a_all), np.concatenate(b_all), rule))

    names = _text_column(gdf, ("name",))
    key_name = (
        np.array([normalise_name(v) if v else "" for v in names], dtype=object)
        if names is not None
        else np.full(n, "", dtype=object)
    )
    # an id shared by rows of two different names is a typo, not one firm: the key gets the name
    ids = gdf["id"].astype("string").fillna("").to_numpy(dtype=object) if "id" in gdf else None
    if ids is not None:
        provider = pd.Series(ids).str.replace(r"#\d+$", "", regex=True)
        provider = provider.mask(provider.str.fullmatch(r"row-\d+"), "")
        same_key(_with_name(provider.to_numpy(dtype=object), key_name), "id", None)
    if "uscc" in gdf.columns:
        uscc = gdf["uscc"].astype("string").fillna("").str.upper().to_numpy(dtype=object)
        same_key(_with_name(uscc, key_name), "uscc", None)
    if names is not None:
        addr = _text_column(gdf, (address,) if address else _ADDRESS_COLUMNS)
        if address and addr is None:
            raise InvalidInputError(f"find_duplicates: no column {address!r}.")
        if addr is not None:
            key_addr = np.array([normalise_address(v) if v else "" for v in addr], dtype=object)
            both = np.where((key_name != "") & (key_addr != ""), key_name + "\x00" + key_addr, "")
            same_key(both, "name+address", address_m)
        else:
            key_addr = np.full(len(key_name), "", dtype=object)
        same_key(key_name, "name+distance", name_m, key_addr)
    return _groups_to_table(gdf, xy, edges, n)


def _with_name(keys: np.ndarray, names: np.ndarray) -> np.ndarray:
    """``key + name`` where the rows of a key name one firm (or none); else the key alone.

    Rows sharing a key whose non-blank names differ get the name in the key, so they link only
    to rows of their own name (or, when blank-named, to nothing but each other).
    """
    frame = pd.DataFrame({"k": keys, "n": names})
    named = frame[(frame["k"] != "") & (frame["n"] != "")]
    mixed = named.groupby("k")["n"].nunique()
    clash = frame["k"].isin(mixed.index[mixed > 1]).to_numpy()
    out = np.asarray(keys, dtype=object).copy()
    out[clash] = frame["k"].to_numpy(dtype=object)[clash] + "\x00" + names[clash]
    return out


def _groups_to_table(
    gdf: gpd.GeoDataFrame,
    xy: np.ndarray,
    edges: list[tuple[np.ndarray, np.ndarray, str]],
    n: int,
) -> pd.DataFrame:
    """Connected groups of the links: the first row kept, each other row with its first link."""
    empty = pd.DataFrame({c: pd.Series(dtype="string") for c in DUPLICATE_COLUMNS[:4]})
    empty["distance_m"] = pd.Series(dtype="float64")
    empty["kept_row"] = pd.Series(dtype="int64")
    empty["dropped_row"] = pd.Series(dtype="int64")
    if not edges or n == 0:
        return empty
    a = np.concatenate([e[0] for e in edges])
    b = np.concatenate([e[1] for e in edges])
    rule = np.concatenate([np.full(len(e[0]), e[2], dtype=object) for e in edges])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    first = pd.Series(np.arange(n)).groupby(comp).transform("min").to_numpy()
    dropped = np.flatnonzero(first != np.arange(n))
    # each dropped row's link: the first rule (in order of precedence) joining it to any row
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    links = pd.DataFrame({"row": np.r_[hi, lo], "other": np.r_[lo, hi], "rule": np.r_[rule, rule]})
    links["order"] = np.arange(len(links)) % len(a)
    links = links.sort_values(["row", "order"], kind="stable").drop_duplicates("row")
    link = links.set_index("row").reindex(dropped)
    other = link["other"].to_numpy(dtype=np.int64)
    dist = np.hypot(*(xy[dropped] - xy[other]).T)
    ids = gdf["id"].astype(str).to_numpy() if "id" in gdf else np.arange(n).astype(str)
    return pd.DataFrame(
        {
            "kept_id": pd.array(ids[first[dropped]], dtype="string"),
            "dropped_id": pd.array(ids[dropped], dtype="string"),
            "matched_id": pd.array(ids[other], dtype="string"),
            "rule": pd.array(link["rule"].to_numpy(dtype=object), dtype="string"),
            "distance_m": np.round(dist, 1),
            "kept_row": first[dropped].astype("int64"),
            "dropped_row": dropped.astype("int64"),
        }
    )


def drop_duplicates(
    establishments: gpd.GeoDataFrame, **options: float | str | None
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The establishments without the rows :func:`find_duplicates` finds, and those rows.

    Returns ``(kept, duplicates)``: ``len(kept) + len(duplicates) == len(establishments)``;
    ``kept`` keeps the input's order and gets a fresh RangeIndex.
    """
    dups = find_duplicates(establishments, **options)  # type: ignore[arg-type]
    keep = np.ones(len(establishments), dtype=bool)
    keep[dups["dropped_row"].to_numpy(dtype=np.int64)] = False
    return establishments[keep].reset_index(drop=True), dups


# ----------------------------------------------------------------------------------------------
# Stacks and geocode precision
# ----------------------------------------------------------------------------------------------


def stack_groups(establishments: gpd.GeoDataFrame, *, tol_m: float = 1.0) -> np.ndarray:
    """Group number of each row; rows within ``tol_m`` metres (chained) share a group.

    Groups are numbered by their first row in table order (0, 1, 2, ...), so the first row of
    each group is its representative. ``np.bincount(groups)[groups]`` is the ``stacked`` count.
    """
    gdf = _check_points(establishments, "stack_groups")
    if not (np.isfinite(tol_m) and tol_m >= 0):
        raise InvalidInputError(f"stack_groups: tol_m must be >= 0 m, got {tol_m!r}.")
    n = len(gdf)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    xy = _metres(gdf)
    pairs = cKDTree(xy).query_pairs(tol_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    _, first_idx, inverse = np.unique(comp, return_index=True, return_inverse=True)
    rank = np.empty(len(first_idx), dtype=np.int64)
    rank[np.argsort(first_idx, kind="stable")] = np.arange(len(first_idx))
    return rank[inverse.ravel()]


#: Amap geocoder ``level`` values at street or door precision (finer than 道路 is also fine).
FINE_LEVELS = frozenset(
    {"门牌号", "门址", "兴趣点", "poi", "楼栋", "单元", "楼层", "房间", "住宅区", "地产小区",
     "商务大厦", "道路", "道路交叉路口", "交叉路口", "公交站台", "公交地铁站点", "地铁站",
     "热点商圈", "商圈", "门牌", "建筑", "地产", "小区"}
)  # fmt: skip
#: Levels coarser than a street: the point is a centroid of an area.
COARSE_LEVELS = frozenset(
    {"国家", "省", "省份", "市", "城市", "区县", "区", "县", "乡镇", "街道", "村庄", "开发区",
     "未知", "unknown", "country", "province", "city", "district", "town", "village"}
)  # fmt: skip
#: Baidu ``confidence`` below this (an error above about 1 km) is coarse.
MIN_CONFIDENCE = 50


def geocode_coarse(establishments: pd.DataFrame) -> pd.Series:
    """Whether each row's geocode is coarser than street or door level (``<NA>`` if unknown).

    Reads ``level`` (Amap geocoder: 门牌号/兴趣点/道路 are fine; 乡镇/区县/市/省/开发区/未知
    coarse; Baidu: 门址/道路/POI classes fine, 区县/城市/乡镇/村庄 coarse), then Baidu
    ``confidence`` (< 50, an error over about 1 km, is coarse; >= 50 fine) where ``level`` is
    blank or unknown. Baidu ``precise = 0`` alone is not coarse (it marks an interpolated point
    on the right street).
    """
    n = len(establishments)
    out = pd.Series(pd.NA, index=establishments.index, dtype="boolean", name="geocode_coarse")
    if "level" in establishments.columns:
        lv = establishments["level"].astype("string").str.strip().str.lower()
        out = out.mask(lv.isin(COARSE_LEVELS).fillna(False), True)
        out = out.mask(lv.isin(FINE_LEVELS).fillna(False), False)
    if "confidence" in establishments.columns:
        conf = pd.to_numeric(establishments["confidence"], errors="coerce")
        todo = out.isna() & conf.notna()
        out = out.mask(todo & (conf < MIN_CONFIDENCE), True)
        out = out.mask(todo & (conf >= MIN_CONFIDENCE), False)
    return out if n else out.astype("boolean")


@dataclass(frozen=True, slots=True)
class StackView:
    """The points a statistic sees under a stack mode.

    ``rows`` are the positions (into the input) of the points used; ``weights`` the number of
    input rows each stands for (1 under ``keep``); ``member`` maps every input row to the
    position in ``rows`` of the point standing for it (to hand labels back).
    """

    rows: np.ndarray
    weights: np.ndarray
    member: np.ndarray
    mode: str

    def spread(self, values: np.ndarray | pd.Series) -> np.ndarray:
        """Values of the used points (aligned to ``rows``) handed to every input row."""
        return np.asarray(values)[self.member]


def stack_view(
    establishments: gpd.GeoDataFrame, stack: str = "keep", *, tol_m: float = 1.0
) -> StackView:
    """The points a statistic sees under ``stack`` (``keep``, ``collapse`` or ``weight``).

    ``keep``: every row; ``collapse``: one point per location; ``weight``: one point per
    location carrying its number of rows as a weight. Under ``collapse`` and ``weight`` a location (rows within ``tol_m``, see
    :func:`stack_groups`) is one point, its first row; ``weight`` also returns the stack sizes
    for the statistics that take weights (cluster totals), ``collapse`` weights of 1.

    Examples
    --------
    >>> import geopandas as gpd
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 0, 5], [0, 0, 5]), crs="EPSG:32651")
    >>> v = stack_view(pts, "weight"); v.rows.tolist(), v.weights.tolist(), v.member.tolist()
    ([0, 2], [2, 1], [0, 0, 1])
    """
    check_choice(stack, set(STACK_MODES), "stack", caller="stack_view")
    n = len(establishments)
    if stack == "keep":
        idx = np.arange(n)
        return StackView(idx, np.ones(n, dtype=np.int64), idx, stack)
    groups = stack_groups(establishments, tol_m=tol_m)
    _, rows = np.unique(groups, return_index=True)
    size = np.bincount(groups, minlength=len(rows)).astype(np.int64)
    weights = size if stack == "weight" else np.ones(len(rows), dtype=np.int64)
    return StackView(rows.astype(np.int64), weights, groups, stack)
