"""The shipped code lists, loaded from package data, plus user overrides.

Every list is a small CSV under ``clusterscape/taxonomy/data`` (see ``docs/taxonomy.md`` for what each
row means and where it was checked). :func:`load_taxonomy` reads them once and merges an optional
override file (TOML or CSV) on top, validating every sector and function id.
"""

from __future__ import annotations

import functools
import io
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from clusterscape.errors import InvalidInputError
from clusterscape.taxonomy._matcher import KeywordMatcher, fold

__all__ = [
    "CODE_SYSTEMS",
    "FUNCTIONS",
    "SECTORS",
    "Taxonomy",
    "load_taxonomy",
]

#: Creative sector ids (issue 3). ``""`` means "not creative".
SECTORS: tuple[str, ...] = (
    "advertising_marketing",
    "architecture",
    "design",
    "film_tv_video_photo",
    "animation_games",
    "software_digital",
    "publishing_news",
    "broadcasting",
    "music_performing_visual_arts",
    "crafts",
    "museums_heritage_libraries",
    "creative_services_other",
)

#: Urban function ids; every row gets exactly one.
FUNCTIONS: tuple[str, ...] = (
    "creative",
    "hotel",
    "mall",
    "retail",
    "catering",
    "office_business",
    "finance",
    "industry",
    "logistics",
    "residential",
    "education",
    "health",
    "public_admin",
    "leisure_culture",
    "transport",
    "other",
)

#: Priority of an OSM tag or keyword row that gives none (the middle of the shipped 0-100 range).
DEFAULT_PRIORITY = 50

#: Industry code systems understood in the ``code`` column -> (data file, prefix lengths tried).
CODE_SYSTEMS: dict[str, tuple[str, tuple[int, ...]]] = {
    "gbt4754": ("gbt4754_2017.csv", (4, 3, 2)),
    "uksic2007": ("uksic2007.csv", (4, 3, 2)),
    "isic4": ("isic4.csv", (4, 3, 2)),
    "naics2017": ("naics2017.csv", (6, 5, 4, 3, 2)),
}

_TABLES = ("amap_types", "amap_typecodes", "osm_tags", "keywords", *CODE_SYSTEMS)
_KEY = {
    "amap_types": "path",
    "amap_typecodes": "typecode",
    "osm_tags": "tag",
    "keywords": "keyword",
    **{name: "code" for name in CODE_SYSTEMS},
}


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """All lookup tables, each a DataFrame indexed by its key (code, path, tag or keyword).

    Every table has string columns ``sector`` (``""`` = not creative) and ``function``; the Amap
    and OSM tables add ``strength`` (``strong`` rules beat keywords, ``weak`` ones only fill gaps;
    ``generic`` OSM tags such as ``office=company`` lose to a name keyword of higher priority),
    Amap tables add ``hotel_grade`` and OSM tags and keywords add an integer ``priority``
    (:data:`DEFAULT_PRIORITY` when a row gives none).
    """

    codes: Mapping[str, pd.DataFrame]
    amap_types: pd.DataFrame
    amap_typecodes: pd.DataFrame
    osm_tags: pd.DataFrame
    keywords: pd.DataFrame
    hotel_grades: pd.DataFrame
    source: str
    keyword_matcher: KeywordMatcher
    grade_matcher: KeywordMatcher


def _read_data(name: str) -> pd.DataFrame:
    text = resources.files("clusterscape.taxonomy").joinpath("data", name).read_text("utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _reject_rows(
    origin: str,
    table: str,
    keys: pd.Series,
    values: pd.Series,
    bad: pd.Series,
    *,
    field: str,
    rule: str,
) -> NoReturn:
    """Raise :class:`InvalidInputError` naming the rows whose ``field`` breaks ``rule``."""
    rows = ", ".join(f"{k!r} ({field} {v!r})" for k, v in zip(keys[bad], values[bad], strict=True))
    raise InvalidInputError(
        f"taxonomy {origin}, table {table!r}: {field} must be {rule}; bad row(s): {rows}."
    )


def _normalise(table: str, frame: pd.DataFrame, *, origin: str) -> pd.DataFrame:
    """Validate ids and types of one table; return it indexed by its key."""
    key = _KEY[table]
    frame = frame.copy()
    for col in ("sector", "function"):
        if col not in frame.columns:
            frame[col] = ""
        frame[col] = frame[col].fillna("").astype(str).str.strip()
    # a creative sector implies the creative function
    frame.loc[frame["sector"] != "", "function"] = "creative"
    bad_sector = sorted(set(frame["sector"]) - {"", *SECTORS})
    bad_function = sorted(set(frame["function"]) - set(FUNCTIONS))
    if bad_sector or bad_function:
        raise InvalidInputError(
            f"taxonomy {origin}, table {table!r}: unknown sector id(s) {bad_sector} or function "
            f"id(s) {bad_function}. Use sectors from {', '.join(SECTORS)} and functions from "
            f"{', '.join(FUNCTIONS)}."
        )
    empty = frame["function"] == ""
    if empty.any():
        raise InvalidInputError(
            f"taxonomy {origin}, table {table!r}: row(s) {frame.loc[empty, key].tolist()[:5]} have "
            "neither a sector nor a function; give at least one."
        )
    frame[key] = frame[key].astype(str).str.strip()
    if table in CODE_SYSTEMS:  # "62.01" or "M 7491" in an override means 6201 / 7491
        frame[key] = frame[key].str.upper().str.replace(r"^[A-Z]|[\s.\-]", "", regex=True)
    if table == "keywords":
        frame[key] = frame[key].where(~frame[key].str.isascii(), frame[key].str.lower())
    if table in ("osm_tags", "keywords"):
        raw = frame.get("priority", pd.Series("", index=frame.index)).fillna("").astype(str)
        raw = raw.str.strip().replace("", str(DEFAULT_PRIORITY))
        prio = pd.to_numeric(raw, errors="coerce")
        bad = prio.isna() | (prio != prio.round())
        if bad.any():
            rule = f"an integer (higher wins; leave it out for the default {DEFAULT_PRIORITY})"
            _reject_rows(origin, table, frame[key], raw, bad, field="priority", rule=rule)
        frame["priority"] = prio.astype(int)
    if table in ("amap_types", "amap_typecodes", "osm_tags"):
        strength = frame.get("strength", pd.Series("strong", index=frame.index))
        strength = strength.fillna("").astype(str).str.strip().replace("", "strong")
        allowed = ["strong", "generic", "weak"] if table == "osm_tags" else ["strong", "weak"]
        bad = ~strength.isin(allowed)
        if bad.any():
            rule = f"one of {', '.join(allowed)}"
            _reject_rows(origin, table, frame[key], strength, bad, field="strength", rule=rule)
        frame["strength"] = strength
    if table in ("amap_types", "amap_typecodes"):
        grade = frame.get("hotel_grade", pd.Series("", index=frame.index)).replace("", None)
        frame["hotel_grade"] = pd.to_numeric(grade, errors="raise").astype("Int64")
    if table == "keywords":  # "Café" in an override replaces the shipped "cafe": same folded word
        folded = frame[key].map(lambda word: fold(word.strip()))
        keep = ~folded.duplicated(keep="last")
        return frame[keep.to_numpy()].set_index(key)
    return frame.drop_duplicates(key, keep="last").set_index(key)


def _read_overrides(path: Path) -> dict[str, pd.DataFrame]:
    """Read a TOML or CSV override file into one frame per table."""
    if not path.exists():
        raise InvalidInputError(
            f"classify_establishments: taxonomy file {str(path)!r} does not exist. Pass the path "
            "of a .toml or .csv override file (see docs/taxonomy.md)."
        )
    suffix = path.suffix.lower()
    out: dict[str, list[dict[str, Any]]] = {}
    if suffix == ".toml":
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"taxonomy file {path}: not valid TOML ({exc}).") from exc
        for table, entries in data.items():
            if table == "codes" and isinstance(entries, dict):
                for system, rows in entries.items():
                    out.setdefault(system, []).extend(_toml_rows(system, rows, path))
            else:
                out.setdefault(table, []).extend(_toml_rows(table, entries, path))
    elif suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"table", "key"} - set(frame.columns)
        if missing:
            raise InvalidInputError(
                f"taxonomy file {path}: a CSV override needs columns table,key (plus sector, "
                f"function, priority, hotel_grade, strength as needed); missing {sorted(missing)}."
            )
        for table_name in frame["table"].unique().tolist():
            name = str(table_name)
            group = frame[frame["table"] == table_name].drop(columns="table")
            rows = group.rename(columns={"key": _KEY.get(name, "key")})
            out.setdefault(name, []).extend(
                {str(k): v for k, v in rec.items()} for rec in rows.to_dict("records")
            )
    else:
        raise InvalidInputError(
            f"taxonomy file {path}: unsupported suffix {suffix!r}; use .toml or .csv."
        )
    unknown = sorted(set(out) - set(_TABLES))
    if unknown:
        raise InvalidInputError(
            f"taxonomy file {path}: unknown table(s) {unknown}; known: {', '.join(_TABLES)}."
        )
    return {table: pd.DataFrame(rows, dtype=str).fillna("") for table, rows in out.items()}


def _toml_rows(table: str, entries: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(entries, dict):
        raise InvalidInputError(
            f"taxonomy file {path}: [{table}] must map keys to tables, e.g. "
            '"7491" = { sector = "design" }.'
        )
    key = _KEY.get(table, "key")
    rows = []
    for k, v in entries.items():
        if not isinstance(v, dict):
            raise InvalidInputError(
                f"taxonomy file {path}: [{table}] entry {k!r} must be an inline table such as "
                '{ function = "hotel" }.'
            )
        rows.append({key: str(k), **{name: str(val) for name, val in v.items()}})
    return rows


@functools.lru_cache(maxsize=8)
def _load(path_str: str | None, mtime_ns: int = 0) -> Taxonomy:
    base = {name: _read_data(file) for name, (file, _) in CODE_SYSTEMS.items()}
    base.update(
        amap_types=_read_data("amap_types.csv"),
        amap_typecodes=_read_data("amap_typecodes.csv"),
        osm_tags=_read_data("osm_tags.csv"),
        keywords=_read_data("keywords.csv"),
    )
    origin = "shipped lists"
    if path_str is not None:
        overrides = _read_overrides(Path(path_str))
        for table, rows in overrides.items():
            base[table] = pd.concat([base[table], rows], ignore_index=True).fillna("")
        origin = path_str
    tables = {name: _normalise(name, frame, origin=origin) for name, frame in base.items()}
    grades = _read_data("hotel_grades.csv")
    grades["keyword"] = grades["keyword"].str.lower()
    grades["grade"] = grades["grade"].astype(int)
    keywords = tables["keywords"]
    # higher priority wins; among equal priorities the keyword listed first wins
    kw_scores = keywords["priority"].to_numpy(dtype=np.int64) * 100_000 - np.arange(len(keywords))
    grade_scores = grades["grade"].to_numpy(dtype=np.int64) * 1_000 - np.arange(len(grades))
    return Taxonomy(
        keyword_matcher=KeywordMatcher(keywords.index.tolist(), kw_scores),
        grade_matcher=KeywordMatcher(grades["keyword"].tolist(), grade_scores),
        codes={name: tables[name] for name in CODE_SYSTEMS},
        amap_types=tables["amap_types"],
        amap_typecodes=tables["amap_typecodes"],
        osm_tags=tables["osm_tags"],
        keywords=tables["keywords"],
        hotel_grades=grades,
        source=origin,
    )


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load the shipped code lists, with a user's overrides merged on top.

    Parameters
    ----------
    path : str or Path, optional
        A ``.toml`` file with tables ``[codes.gbt4754]``, ``[codes.uksic2007]``,
        ``[codes.isic4]``, ``[codes.naics2017]``, ``[amap_types]``, ``[amap_typecodes]``,
        ``[osm_tags]`` and ``[keywords]`` mapping a key to
        ``{ sector = ..., function = ..., priority = ..., hotel_grade = ..., strength = ... }``,
        or a ``.csv`` with columns ``table,key,sector,function,...``. Override rows replace
        shipped rows with the same key and add new ones.

    Returns
    -------
    Taxonomy
        The merged, validated tables (cached per path).

    Raises
    ------
    InvalidInputError
        If the file is missing, malformed, or uses unknown sector/function ids.
    """
    if path is None:
        return _load(None)
    resolved = Path(path).resolve()
    mtime = resolved.stat().st_mtime_ns if resolved.exists() else 0
    return _load(str(resolved), mtime)
