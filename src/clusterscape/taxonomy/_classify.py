"""Vectorised classification of establishments into creative sectors and urban functions.

Rules apply in a fixed order of precedence (the first that decides a row wins):

1. an industry code in ``code`` (GB/T 4754-2017 by default; ``code_system=`` for UK SIC 2007,
   ISIC Rev.4 or NAICS 2017), longest existing prefix first;
2. an Amap typecode (``typecode``) or Amap type string ``大类;中类;小类`` (in ``category``);
3. OpenStreetMap tags ``key=value`` (in ``osm_tags`` or ``category``) of a specific kind
   (``amenity=cinema``, ``shop=books``, ``office=architect``);
4. keywords in ``name`` and a free-text ``category`` (Chinese, English, the main European
   languages; the highest-priority keyword found wins, so hard negatives such as 酒店用品 beat
   酒店). A *generic* OSM tag (``office=company``, ``shop=yes``, ``shop=art``) decides only when
   no keyword of higher priority than the tag's is found, so "BOTH Design Services" with
   ``office=company`` is design;
   then, where they find none, keywords in a business scope ``scope`` (经营范围 of registry
   exports): its first item naming a keyword decides, recorded as ``scope:keyword:<word>``;
5. generic OSM tags, then "weak" Amap/OSM rules (classes such as 公司企业 or
   ``building=residential``);
6. otherwise ``function="other"``.

Every column is factorised first and every rule runs once per *distinct* value; keyword matching
runs as one Aho-Corasick automaton over all distinct texts at once (``_matcher``). Nothing loops
over rows in Python.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from clusterscape._validation import check_choice
from clusterscape.errors import InvalidInputError
from clusterscape.taxonomy._tables import CODE_SYSTEMS, Taxonomy, load_taxonomy

__all__ = ["OUTPUT_COLUMNS", "classify_establishments"]

#: Columns added by :func:`classify_establishments`.
OUTPUT_COLUMNS = ("sector", "is_creative", "function", "hotel_grade", "rule")
_INPUT_COLUMNS = ("code", "typecode", "category", "name", "osm_tags", "scope")
#: Longest code accepted per system (GB/T and ISIC classes have 4 digits, UK SIC subclasses 5).
_MAX_DIGITS = {"gbt4754": 4, "isic4": 4, "uksic2007": 5, "naics2017": 6}


class _Factor:
    """A column as integer codes into an object array of distinct strings (``""`` = missing)."""

    def __init__(self, codes: np.ndarray, uniques: np.ndarray, numeric: bool = False) -> None:
        self.codes = codes
        self.uniques = uniques
        self.numeric = numeric

    @classmethod
    def of(cls, frame: pd.DataFrame, column: str) -> _Factor:
        n = len(frame)
        if column not in frame.columns:
            return cls(np.zeros(n, dtype=np.int64), np.array([""], dtype=object))
        col = frame[column]
        numeric = bool(pd.api.types.is_numeric_dtype(col)) and not pd.api.types.is_bool_dtype(col)
        if numeric:
            col = pd.to_numeric(col, errors="coerce").round().astype("Int64").astype("string")
        codes, uniq = pd.factorize(col, use_na_sentinel=True)
        values = np.empty(len(uniq) + 1, dtype=object)
        values[:-1] = np.asarray(uniq, dtype=object)
        values[-1] = ""
        if not (pd.api.types.is_string_dtype(col) and not pd.api.types.is_object_dtype(col)):
            values = np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)
        codes = np.where(codes < 0, len(values) - 1, codes).astype(np.int64)
        return cls(codes, values, numeric)

    @classmethod
    def from_values(cls, values: np.ndarray) -> _Factor:
        codes, uniq = pd.factorize(values, use_na_sentinel=False)
        return cls(codes.astype(np.int64), np.asarray(uniq, dtype=object))


class _Labels:
    """Distinct outcomes (sector, function, rule, strength, grade); rows carry integer ids.

    Id 0 is "no rule matched". Working with ids keeps every per-row step an integer take.
    """

    def __init__(self) -> None:
        self._index: dict[tuple[str, str, str, str, float], int] = {}
        self.rows: list[tuple[str, str, str, str, float]] = []
        self.add("", "", "", "", np.nan)

    def add(self, sector: str, function: str, rule: str, strength: str, grade: float) -> int:
        """Id of an outcome (grades are stored as -1.0 when unknown so keys compare equal)."""
        g = -1.0 if grade is None or np.isnan(grade) else float(grade)
        key = (sector, function, rule, strength or "strong", g) if rule else ("", "", "", "", -1.0)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.rows)
            self.rows.append(key)
        return found

    def column(self, i: int) -> np.ndarray:
        if i == 4:
            g = np.array([r[4] for r in self.rows], dtype=float)
            return np.where(g < 0, np.nan, g)
        return np.array([r[i] for r in self.rows], dtype=object)


def _lookup(table: pd.DataFrame, matched: np.ndarray, prefix: str, labels: _Labels) -> np.ndarray:
    """Label ids for matched table keys (``""`` = unmatched -> 0)."""
    ids = np.zeros(len(matched), dtype=np.int64)
    keys, inverse = np.unique(matched.astype(str), return_inverse=True)
    per_key = np.zeros(len(keys), dtype=np.int64)
    for j, key in enumerate(keys):
        if key == "":
            continue
        row = table.loc[key]
        grade = row["hotel_grade"] if "hotel_grade" in row.index else np.nan
        per_key[j] = labels.add(
            row["sector"],
            row["function"],
            prefix + key,
            row["strength"] if "strength" in row.index else "strong",
            np.nan if pd.isna(grade) else float(grade),
        )
    ids[:] = per_key[inverse.ravel()]
    return ids


def _prefix_match(keys: pd.Series, index: pd.Index, lengths: tuple[int, ...]) -> np.ndarray:
    """For each key the longest prefix (of the given lengths) found in ``index``, else ``""``."""
    matched = np.full(len(keys), "", dtype=object)
    lens = keys.str.len().to_numpy()
    for length in lengths:
        cand = keys.str[:length]
        ok = (lens >= length) & (matched == "") & cand.isin(index).to_numpy()
        matched[ok] = cand.to_numpy(dtype=object)[ok]
    return matched


def _code_stage(
    keys: np.ndarray, system: str, tax: Taxonomy, numeric: bool, labels: _Labels
) -> np.ndarray:
    """Industry-code rules for the distinct codes."""
    table = tax.codes[system]
    k = pd.Series(keys, dtype=object).astype(str).str.strip().str.upper()
    if system != "uksic2007":  # "7491.0" from a float column; SIC uses dots ("74.10")
        k = k.str.replace(r"\.0+$", "", regex=True)
    k = k.str.replace(r"^[A-Z]\s*", "", regex=True).str.replace(r"[\s.\-]", "", regex=True)
    if numeric and system != "naics2017":
        k = k.where(k.str.len() != 3, "0" + k)  # integer columns lose leading zeros (0111 -> 111)
    k = k.where(k.str.fullmatch(rf"\d{{2,{_MAX_DIGITS[system]}}}").fillna(False), "")
    _, lengths = CODE_SYSTEMS[system]
    return _lookup(table, _prefix_match(k, table.index, lengths), f"{system}:", labels)


def _amap_type_stage(keys: np.ndarray, tax: Taxonomy, labels: _Labels) -> np.ndarray:
    """Amap type strings ``大类;中类;小类`` (first of ``a|b`` alternatives), longest path first."""
    big_names = {p for p in tax.amap_types.index if ";" not in p}
    s = pd.Series(keys, dtype=object).astype(str).str.replace("；", ";", regex=False)
    first = s.str.split("|").str[0].str.strip()
    parts = first.str.split(";")
    p1 = parts.str[0].astype(object).fillna("").str.strip()
    is_amap = (p1.isin(big_names) & ~first.str.contains("=", regex=False)).to_numpy()
    p2 = p1 + ";" + parts.str[1].astype(object).fillna("").str.strip()
    p3 = p2 + ";" + parts.str[2].astype(object).fillna("").str.strip()
    matched = np.full(len(s), "", dtype=object)
    for cand in (p3, p2, p1):
        ok = is_amap & (matched == "") & cand.isin(tax.amap_types.index).to_numpy()
        matched[ok] = cand.to_numpy(dtype=object)[ok]
    return _lookup(tax.amap_types, matched, "amap_type:", labels)


def _amap_code_stage(
    keys: np.ndarray, tax: Taxonomy, numeric: bool, labels: _Labels
) -> tuple[np.ndarray, np.ndarray]:
    """Amap typecodes: label ids of (exact six-digit matches, 大类/中类 prefix matches)."""
    k = pd.Series(keys, dtype=object).astype(str).str.split("|").str[0].str.strip()
    if numeric:
        k = k.where(k.str.len() != 5, "0" + k)  # 060101 read as an integer
    k = k.where(k.str.fullmatch(r"\d{6}").fillna(False), "")
    index = tax.amap_typecodes.index
    exact = np.where(k.isin(index).to_numpy(), k.to_numpy(dtype=object), "")
    rest = pd.Series(np.where(exact == "", k.to_numpy(dtype=object), ""), dtype=object)
    prefix = _prefix_match(rest, index, (4, 2))
    table = tax.amap_typecodes
    return _lookup(table, exact, "amap:", labels), _lookup(table, prefix, "amap:", labels)


def _osm_stage(
    keys: np.ndarray, tax: Taxonomy, labels: _Labels
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OSM ``key=value`` tags (``;`` or ``,`` separated): (label ids, ``stars=`` grades, priority).

    The highest-priority known tag decides; a specific tag beats a generic one of equal priority.
    """
    table = tax.osm_tags
    known = {
        tag: (r.sector, r.function, r.strength, int(r.priority)) for tag, r in table.iterrows()
    }
    ids = np.zeros(len(keys), dtype=np.int64)
    stars = np.full(len(keys), np.nan)
    prio = np.zeros(len(keys), dtype=np.int64)
    for i, text in enumerate(keys):  # distinct tag strings only
        if "=" not in text:
            continue
        best: tuple[str, str, str, int] | None = None
        best_tag = ""
        for token in text.replace(",", ";").split(";"):
            if "=" not in token:
                continue
            key, value = (part.strip() for part in token.split("=", 1))
            key = key.lower()
            if key == "stars":
                digit = next((ch for ch in value if ch.isdigit()), "")
                if digit and 1 <= int(digit) <= 5:
                    stars[i] = float(digit)
                continue
            for tag in (f"{key}={value.lower()}", f"{key}=*"):
                hit = known.get(tag)
                if hit is not None:
                    if best is None or (hit[3], hit[2] != "generic") > (
                        best[3],
                        best[2] != "generic",
                    ):
                        best, best_tag = hit, tag
                    break
        if best is not None:
            ids[i] = labels.add(best[0], best[1], f"osm:{best_tag}", best[2], np.nan)
            prio[i] = best[3]
    return ids, stars, prio


def _distinct(codes: np.ndarray, size: int) -> np.ndarray:
    """Sorted distinct values of non-negative integer codes below ``size`` (O(n), no sort)."""
    seen = np.zeros(size, dtype=bool)
    seen[codes] = True
    return np.flatnonzero(seen)


def _string_column(values: np.ndarray, ids: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[ids]`` as a pandas string array, built from the few distinct values."""
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    return pd.array(np.asarray(uniq, dtype=object), dtype="string").take(codes[ids])


def _keyword_ids(tax: Taxonomy, labels: _Labels, prefix: str) -> np.ndarray:
    """Label id of each keyword (index + 1; 0 = none), its rule named ``prefix + keyword``."""
    kw = tax.keywords
    return np.array(
        [0]
        + [
            labels.add(sec, fun, prefix + word, "strong", np.nan)
            for word, sec, fun in zip(kw.index, kw["sector"], kw["function"], strict=True)
        ],
        dtype=np.int64,
    )


# Boilerplate of business scopes: the licensing clause and the item headings.
_SCOPE_BOILERPLATE = re.compile(
    r"[(（][^()（）]*(?:依法须经批准|凭营业执照|许可证件|审批结果|不含|除外)[^()（）]*[)）]"
    r"|除依法须经批准的项目外[^;；。]*|依法须经批准的项目[^;；。]*"
    r"|(?:一般|许可|经营)项目[:：]|[一二三四五六七八九十\d]+[、.．)）]"
)
_SCOPE_SPLIT = re.compile(r"[;；。、,，:：\n]+")


def scope_items(scope: str) -> list[str]:
    """The items of a business scope (经营范围), boilerplate removed, in their order.

    Examples
    --------
    >>> scope_items("一般项目：广告设计、代理；软件开发（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）")
    ['广告设计', '代理', '软件开发']
    """
    text = _SCOPE_BOILERPLATE.sub(";", scope)
    return [t.strip() for t in _SCOPE_SPLIT.split(text) if t.strip()]


def scope_keywords(scopes: list[str], tax: Taxonomy) -> np.ndarray:
    """Keyword index (into ``tax.keywords``) deciding each scope, ``-1`` where none is found.

    A scope lists the main business first, so its first item naming a keyword decides (within
    that item, the keyword of highest priority, as for names).
    """
    items = [scope_items(s) for s in scopes]
    flat = [t for it in items for t in it]
    best = tax.keyword_matcher.best(flat) if flat else np.zeros(0, dtype=np.int64)
    out = np.full(len(scopes), -1, dtype=np.int64)
    start = 0
    for i, it in enumerate(items):
        found = best[start : start + len(it)]
        hits = np.flatnonzero(found >= 0)
        if len(hits):
            out[i] = found[hits[0]]
        start += len(it)
    return out


def classify_establishments(
    establishments: pd.DataFrame,
    *,
    code_system: str = "gbt4754",
    taxonomy: str | Path | None = None,
) -> pd.DataFrame:
    """Give every establishment a creative sector (or none) and an urban function.

    Parameters
    ----------
    establishments : GeoDataFrame or DataFrame
        Rows following the establishments contract (``docs/architecture.md``). Uses whichever of
        ``code``, ``typecode``, ``category``, ``name`` and ``osm_tags`` exist (at least one must).
        ``category`` may hold an Amap type string ``大类;中类;小类``, OSM tags
        ``key=value;key=value`` or a free-text label. A six-digit value in ``code`` (with the
        default ``code_system``) is read as an Amap typecode.
    code_system : {"gbt4754", "uksic2007", "isic4", "naics2017"}, default "gbt4754"
        The classification of the ``code`` column: GB/T 4754-2017 (China, four digits), UK SIC
        2007 (``73.11`` or ``73110``), ISIC Rev.4 (four digits) or NAICS 2017 (six digits).
    taxonomy : str or Path, optional
        A ``.toml`` or ``.csv`` file of overrides merged onto the shipped lists
        (see :func:`clusterscape.taxonomy.load_taxonomy` and ``docs/taxonomy.md``).

    Returns
    -------
    GeoDataFrame or DataFrame
        A copy of the input with ``sector`` (a sector id or ``""``), ``is_creative`` (bool),
        ``function`` (one of the 16 function ids), ``hotel_grade`` (Int64 star level 1-5 for
        hotels when known, else ``<NA>``) and ``rule`` (what decided, e.g. ``gbt4754:7491``,
        ``amap_type:住宿服务;宾馆酒店;四星级宾馆``, ``osm:tourism=hotel``, ``keyword:广告``,
        ``default:other``). Existing columns of those names are replaced in the copy; the input
        is never modified.

    Raises
    ------
    InvalidInputError
        If ``code_system`` is unknown, no usable input column exists, or the taxonomy file is
        invalid.

    Notes
    -----
    Sectors follow the NBS 《文化及相关产业分类(2018)》 (a derived classification of GB/T
    4754-2017) and the UK DCMS Creative Industries SIC list (creative intensity >= 30 %;
    Bakhshi, Freeman & Higgs 2013); the crosswalk is in ``docs/taxonomy.md``. Hotel grades come
    from the Amap 小类 (五星级宾馆 = 5, 四星级 = 4, 三星级 = 3; 奢华酒店 taken as 5), OSM
    ``stars=`` and names (五星级, "5-star"), in that order.

    Examples
    --------
    >>> import pandas as pd
    >>> from clusterscape.taxonomy import classify_establishments
    >>> firms = pd.DataFrame({"name": ["甬江工业设计有限公司", "宁波酒店用品批发部"],
    ...                       "code": ["7491", ""]})
    >>> classify_establishments(firms)[["sector", "function", "rule"]].to_numpy().tolist()
    [['design', 'creative', 'gbt4754:7491'], ['', 'retail', 'keyword:酒店用品']]
    """
    check_choice(code_system, set(CODE_SYSTEMS), "code_system", caller="classify_establishments")
    if not isinstance(establishments, pd.DataFrame):
        raise InvalidInputError(
            "classify_establishments: expected a (Geo)DataFrame of establishments, got "
            f"{type(establishments).__name__}. Load a file with clusterscape.io.establishments.read_establishments."
        )
    if not any(c in establishments.columns for c in _INPUT_COLUMNS):
        have = ", ".join(map(str, establishments.columns)) or "(none)"
        raise InvalidInputError(
            "classify_establishments: the table has none of the columns code, typecode, category, "
            f"name, osm_tags, so nothing can be classified; it has: {have}. Rename the relevant "
            "columns (e.g. read_establishments(..., columns={'name': '名称'}))."
        )
    tax = load_taxonomy(taxonomy)
    frame = establishments
    n = len(frame)
    labels = _Labels()
    state = np.zeros(n, dtype=np.int64)  # label id per row; 0 = undecided

    def apply(ids: np.ndarray, mask: np.ndarray) -> None:
        take = mask & (state == 0)
        state[take] = ids[take]

    code = _Factor.of(frame, "code")
    typecode = _Factor.of(frame, "typecode")
    category = _Factor.of(frame, "category")
    name = _Factor.of(frame, "name")
    osm_col = _Factor.of(frame, "osm_tags")

    # 1. industry codes. A six-digit value in ``code`` cannot be a GB/T class: it is an Amap
    #    typecode (io.read_establishments maps a lone ``typecode`` column to ``code``).
    if code_system == "gbt4754":
        six_u = pd.Series(code.uniques).str.strip().str.fullmatch(r"\d{6}").to_numpy(dtype=bool)
        six = six_u[code.codes]
        borrow = six & (typecode.uniques[typecode.codes] == "")
        if borrow.any():
            values = np.where(borrow, code.uniques[code.codes], typecode.uniques[typecode.codes])
            typecode = _Factor.from_values(values)
        code = _Factor(code.codes, np.where(six_u, "", code.uniques), code.numeric)
    if "code" in frame.columns:
        ids = _code_stage(code.uniques, code_system, tax, code.numeric, labels)[code.codes]
        apply(ids, ids > 0)

    # 2. Amap: exact six-digit typecode > type string (longest path) > typecode prefix
    by_type_u = _amap_type_stage(category.uniques, tax, labels)
    exact_u, prefix_u = _amap_code_stage(typecode.uniques, tax, typecode.numeric, labels)
    amap = by_type_u[category.codes]
    prefix = prefix_u[typecode.codes]
    amap = np.where(amap == 0, prefix, amap)
    exact = exact_u[typecode.codes]
    amap = np.where(exact > 0, exact, amap)
    strong = np.array([r[3] == "strong" for r in labels.rows], dtype=bool)
    apply(amap, (amap > 0) & strong[amap])

    # 3. OSM tags: the osm_tags column, else key=value text in category
    osm_ids_u, osm_stars_u, osm_prio_u = _osm_stage(osm_col.uniques, tax, labels)
    has_eq_u = np.array(["=" in c for c in category.uniques], dtype=bool)
    cat_tags_u = np.where(has_eq_u & (by_type_u == 0), category.uniques, "")
    cat_ids_u, cat_stars_u, cat_prio_u = _osm_stage(cat_tags_u, tax, labels)
    use_col = osm_col.uniques[osm_col.codes] != ""
    osm = np.where(use_col, osm_ids_u[osm_col.codes], cat_ids_u[category.codes])
    osm_stars = np.where(use_col, osm_stars_u[osm_col.codes], cat_stars_u[category.codes])
    strong = np.array([r[3] == "strong" for r in labels.rows], dtype=bool)
    apply(osm, (osm > 0) & strong[osm])
    generic = np.array([r[3] == "generic" for r in labels.rows], dtype=bool)
    osm_prio = np.where(use_col, osm_prio_u[osm_col.codes], cat_prio_u[category.codes])
    # a generic tag's priority is the bar a name keyword must clear; elsewhere any keyword does
    bar = np.where((state == 0) & (osm > 0) & generic[osm], osm_prio, np.iinfo(np.int64).min)

    # 4. keywords in the name and a free-text category (not Amap type strings or OSM tags, whose
    #    words describe the class, not the firm), only where nothing strong decided
    free = _Factor.from_values(np.where((by_type_u == 0) & ~has_eq_u, category.uniques, ""))
    width = len(free.uniques)
    pair_codes, pair_u = pd.factorize(name.codes * width + free.codes[category.codes])
    texts_u = name.uniques[pair_u // width]
    cat_u = free.uniques[pair_u % width]
    with_cat = np.flatnonzero(cat_u != "")
    texts_u[with_cat] = [
        f"{t} {c}".strip() for t, c in zip(texts_u[with_cat], cat_u[with_cat], strict=True)
    ]
    todo = state == 0
    if todo.any():
        wanted = _distinct(pair_codes[todo], len(texts_u))
        best = np.full(len(texts_u), -1, dtype=np.int64)
        best[wanted] = tax.keyword_matcher.best(texts_u[wanted].tolist())
        kw = tax.keywords
        kw_ids = _keyword_ids(tax, labels, "keyword:")
        kw_prio = np.concatenate([[np.iinfo(np.int64).min], kw["priority"].to_numpy(np.int64)])
        row_best = best[pair_codes] + 1
        apply(kw_ids[row_best], kw_prio[row_best] > bar)

    # 4b. the business scope (经营范围) of registry rows where neither code nor name decided
    if "scope" in frame.columns and (state == 0).any():
        scope = _Factor.of(frame, "scope")
        todo = state == 0
        wanted = _distinct(scope.codes[todo], len(scope.uniques))
        hit = np.full(len(scope.uniques), -1, dtype=np.int64)
        hit[wanted] = scope_keywords(scope.uniques[wanted].tolist(), tax)
        scope_ids = _keyword_ids(tax, labels, "scope:keyword:")
        row_hit = hit[scope.codes] + 1
        apply(scope_ids[row_hit], row_hit > 0)

    # 5. generic OSM tags, weak Amap / OSM rules, 6. default
    apply(osm, (osm > 0) & generic[osm])
    apply(amap, amap > 0)
    apply(osm, osm > 0)
    apply(np.full(n, labels.add("", "other", "default:other", "strong", np.nan)), state == 0)

    function = labels.column(1)
    # hotel grade: Amap class > OSM stars > name
    is_hotel = function[state] == "hotel"
    grade = np.where(is_hotel, labels.column(4)[amap], np.nan)
    fill = is_hotel & np.isnan(grade)
    grade[fill] = osm_stars[fill]
    need = is_hotel & np.isnan(grade)
    if need.any():
        wanted = _distinct(pair_codes[need], len(texts_u))
        grades = tax.hotel_grades["grade"].to_numpy(dtype=float)
        found = tax.grade_matcher.best(texts_u[wanted].tolist())
        by_pair = np.full(len(texts_u), np.nan)
        by_pair[wanted] = np.where(found >= 0, grades[np.maximum(found, 0)], np.nan)
        grade[need] = by_pair[pair_codes[need]]

    sector = labels.column(0)
    out = establishments.copy()
    out["sector"] = _string_column(sector, state)
    out["is_creative"] = (sector != "")[state]
    out["function"] = _string_column(function, state)
    out["hotel_grade"] = pd.array(grade, dtype="Float64").astype("Int64")  # NaN -> <NA>
    out["rule"] = _string_column(labels.column(2), state)
    return out
