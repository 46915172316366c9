"""Numbers for people, per language: the one formatting module of the report.

Counts are grouped in English (419,000) and written in 万/亿 in Chinese (41.9万); shares are
percentages (2.7 %, Chinese 2.7%); p-values keep three significant figures near α so 0.0496
and 0.0504 differ, and carry the rule beside them (p = 0.0496 ≤ 0.05).

Examples
--------
>>> count(419_000, "en"), count(419_000, "zh"), count(3452, "zh")
('419,000', '41.9万', '3452')
>>> share(0.0273, "en"), share(0.0273, "zh")
('2.7 %', '2.7%')
>>> p_rule(0.0496), p_rule(0.0504), p_rule(0.0002)
('p = 0.0496 ≤ 0.05', 'p = 0.0504 > 0.05', 'p < 0.001 ≤ 0.05')
"""

from __future__ import annotations

import math
from typing import Any

from clusterscape.i18n import current_lang

__all__ = ["cell", "count", "is_missing", "number", "p_rule", "p_value", "share", "year"]

DASH = "–"

#: Columns holding codes or ranks: printed as they are (no grouping).
_CODES = frozenset({"adcode", "code", "id", "row", "col", "rank", "centre_rank", "seed", "nsim"})


def is_missing(value: Any) -> bool:
    """True for None, NaN, NA and blank strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN, pd.NA (raises on pd.NA: treated as missing)
    except (TypeError, ValueError):
        return True


def _float(value: Any) -> float | None:
    if is_missing(value) or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def number(value: Any, digits: int = 0, lang: str | None = None) -> str:
    """A measured quantity with ``digits`` decimals, thousands grouped (Chinese: from 10,000).

    Examples
    --------
    >>> number(1234.56, 1, "en"), number(1234.56, 1, "zh"), number(None)
    ('1,234.6', '1234.6', '–')
    """
    v = _float(value)
    if v is None:
        return DASH if is_missing(value) else str(value)
    grouped = abs(v) >= 1e4 or (lang or current_lang()) != "zh"  # Chinese: 2000米, 1.2万
    text = f"{v:,.{digits}f}" if grouped else f"{v:.{digits}f}"
    return "0" if text.strip("-0.,") == "" and digits == 0 else text


def count(value: Any, lang: str | None = None) -> str:
    """A count of things (firms, employees): 419,000 in English; 41.9万 (from 10,000) in Chinese."""
    v = _float(value)
    if v is None:
        return DASH if is_missing(value) else str(value)
    lang = lang or current_lang()
    n = round(v)
    if lang != "zh":
        return f"{n:,}"
    for unit, size in (("亿", 1e8), ("万", 1e4)):
        if abs(n) >= size:
            scaled = n / size
            digits = max(0, 2 - math.floor(math.log10(abs(scaled))))
            text = f"{scaled:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{scaled:.0f}"
            return f"{text}{unit}"
    return str(n)


def share(fraction: Any, lang: str | None = None, digits: int = 1) -> str:
    """A share (0–1) as a percentage: 2.7 % (English) / 2.7% (Chinese)."""
    v = _float(fraction)
    if v is None:
        return DASH
    sep = "" if (lang or current_lang()) == "zh" else " "
    return f"{100.0 * v:.{digits}f}{sep}%"


def p_value(p: Any) -> str:
    """A p-value: three significant figures below 0.1 (0.0496, 0.0500), three decimals above, < 0.001.

    Examples
    --------
    >>> p_value(0.05), p_value(0.0496), p_value(0.31234)
    ('0.0500', '0.0496', '0.312')
    """
    v = _float(p)
    if v is None:
        return DASH
    if v < 0.001:
        return "< 0.001"
    if v >= 0.1:
        return f"{v:.3f}"
    return f"{v:#.3g}"


def p_rule(p: Any, alpha: float = 0.05) -> str:
    """The p-value with the rule it is judged by: ``p = 0.0496 ≤ 0.05`` or ``p = 0.312 > 0.05``."""
    v = _float(p)
    if v is None:
        return "p = –"
    text = p_value(v)
    head = f"p {text}" if text.startswith("<") else f"p = {text}"
    return f"{head} {'≤' if v <= alpha else '>'} {alpha:g}"


def year(value: Any, lang: str | None = None) -> str:
    """A calendar year in prose: 2015 (English), 2015年 (Chinese)."""
    v = _float(value)
    if v is None:
        return DASH if is_missing(value) else str(value)
    return f"{int(v)}年" if (lang or current_lang()) == "zh" else str(int(v))


def cell(value: Any, column: str = "", lang: str | None = None) -> str:
    """A table cell: counts grouped, shares in %, coordinates to 5 decimals, p-values as above."""
    v = _float(value)
    if v is None:
        return DASH if is_missing(value) else str(value)
    name = column.lower()
    if name in ("lon", "lat", "longitude", "latitude", "centre_lon", "centre_lat"):
        return f"{v:.5f}"
    if name in ("year", "opened", "first_year", "last_year", "founded") or name.endswith("_year"):
        return str(int(v))
    if name in _CODES or name.endswith("_id"):
        return str(int(v)) if float(v).is_integer() else str(v)
    if name.startswith("p_") or name.endswith("_p") or name in ("p", "p_value", "p_sim"):
        return p_value(v)
    if "share" in name:
        return share(v, lang)
    if name.endswith(("_m", "_m2")) and abs(v) >= 10:
        return f"{v:,.0f}"
    if float(v).is_integer():
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
