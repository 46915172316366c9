"""Fields of Chinese enterprise registry exports (企查查 / 天眼查 / 国家企业信用信息公示系统).

:func:`read_establishments` calls :func:`apply_registry` after the canonical columns are
read. When a table has registry headers it gains these columns (each only when its source
column exists):

``uscc``
    统一社会信用代码 (18 characters), upper-cased, validated by the GB 32100-2015 check digit;
    an invalid code is kept and noted, never rejected. Positions 3-8 (the registering
    authority's administrative code) are compared with ``district`` (or the district named in
    the address) and a disagreement is noted.
``status`` / ``status_raw``
    登记状态 normalised (:data:`STATUSES`) and the file's text.
``capital_cny`` / ``capital`` / ``capital_currency``
    注册资本 in yuan, the amount in its own currency and the ISO code (:func:`parse_capital`).
``scope``
    经营范围, as written (classified by :func:`clusterscape.taxonomy.classify_establishments`
    when no industry code decides).

A 国标行业 / 行业代码 cell such as ``"C3919 其他计算机制造"`` is reduced to the code
``C3919`` (a GB/T 4754 class with its section letter); a letter that is not the section of its
division is noted.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from clusterscape.io.establishments import LoadResult

__all__ = [
    "CAPITAL_RATES",
    "RATES_DATE",
    "STATUSES",
    "admin_code_districts",
    "parse_capital",
    "parse_status",
    "uscc_problem",
]

# fmt: off
#: Header aliases of the registry fields (compared lower-case without spaces, as the reader's).
REGISTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "uscc": ("uscc", "统一社会信用代码", "社会信用代码", "信用代码", "unified_social_credit_code",
             "credit_code"),
    "status": ("status", "登记状态", "经营状态", "企业状态", "企业经营状态", "营业状态", "状态",
               "registration_status"),
    "capital": ("capital", "注册资本", "注册资金", "注册资本(万元)", "注册资本（万元）",
                "registered_capital"),
    "scope": ("scope", "经营范围", "经营业务范围", "business_scope"),
    "district": ("district", "所属区县", "区县", "所在区县", "行政区", "所属区域", "adname"),
    "address": ("address", "地址", "注册地址", "企业地址", "住所", "通信地址", "经营地址"),
    "revoked": ("吊销日期", "吊销时间", "revoked_date"),
    "deregistered": ("注销日期", "注销时间", "deregistered_date"),
}
# fmt: on

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}


def uscc_check_digit(code17: str) -> str | None:
    """The GB 32100-2015 check character of the first 17 characters (``None`` if invalid).

    Examples
    --------
    >>> uscc_check_digit("91350100M000100Y4")
    '3'
    """
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(code17, _USCC_WEIGHTS, strict=True))
    except (KeyError, ValueError):
        return None
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str:
    """Why ``code`` is not a valid unified social credit code, ``""`` when it is.

    The code is compared upper-case without spaces; 18 characters of the alphabet
    ``0-9 A-H J-N P-R T U W-Y``, positions 3-8 six digits (an administrative code), and the
    18th the GB 32100-2015 check character: ``31 - (sum of value_i * 3^i mod 31) mod 31``.

    Examples
    --------
    >>> uscc_problem("91350100M000100Y43")
    ''
    >>> uscc_problem("91350100M000100Y44")
    "check digit '4' does not match (expected '3')"
    """
    c = code
    if re.fullmatch(r"\d{15}", c):
        return "a 15-digit registration number (注册号), not an 18-character credit code"
    if len(c) != 18:
        return f"{len(c)} characters, a credit code has 18"
    bad = sorted({ch for ch in c if ch not in _USCC_VALUE})
    if bad:
        return f"characters {''.join(bad)!r} are not in the code's alphabet (no I, O, S, V, Z)"
    if not c[2:8].isdigit():
        return f"positions 3-8 ({c[2:8]!r}) are not an administrative code"
    expected = uscc_check_digit(c[:17])
    if expected != c[17]:
        return f"check digit {c[17]!r} does not match (expected {expected!r})"
    return ""


_USCC_LUT = np.full(256, 99, dtype=np.int64)
_USCC_LUT[np.frombuffer(_USCC_ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(31)


def _uscc_valid(codes: np.ndarray) -> np.ndarray:
    """Whether each code (object array, None = blank) is valid; vectorised :func:`uscc_problem`."""
    text = pd.Series(codes, dtype="string")
    pattern = r"[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}"
    cand: np.ndarray = text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(codes), dtype=bool)
    if cand.any():
        raw = "".join(text[cand].tolist()).encode("ascii")
        values = _USCC_LUT[np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)]
        total = values[:, :17] @ np.asarray(_USCC_WEIGHTS, dtype=np.int64)
        out[cand] = (31 - total % 31) % 31 == values[:, 17]
    return out


# Administrative codes (GB/T 2260) of Ningbo's districts as they are today, and the codes of
# districts merged since (2016: 江东区 into 鄞州区, 奉化市 became 奉化区, western 鄞州 to 海曙区;
# 鄞县 became 鄞州区 in 2002). A credit code keeps the code of the authority that registered the
# firm, so an old code may name any district its area went to.
# fmt: off
_NINGBO_DISTRICTS = {
    "330203": ("海曙区",), "330205": ("江北区",), "330206": ("北仑区",), "330211": ("镇海区",),
    "330212": ("鄞州区", "海曙区"), "330213": ("奉化区",), "330225": ("象山县",),
    "330226": ("宁海县",), "330281": ("余姚市",), "330282": ("慈溪市",),
    "330204": ("鄞州区",), "330227": ("鄞州区", "海曙区"), "330283": ("奉化区",),
}
#: Zhejiang's prefecture-level cities (first four digits of the administrative code).
_ZHEJIANG_CITIES = {
    "3301": "杭州市", "3302": "宁波市", "3303": "温州市", "3304": "嘉兴市", "3305": "湖州市",
    "3306": "绍兴市", "3307": "金华市", "3308": "衢州市", "3309": "舟山市", "3310": "台州市",
    "3311": "丽水市",
}
# fmt: on
_CURRENT = {
    "330203",
    "330205",
    "330206",
    "330211",
    "330212",
    "330213",
    "330225",
    "330226",
    "330281",
    "330282",
}  # fmt: skip


def admin_code_districts() -> dict[str, tuple[str, ...]]:
    """Ningbo's administrative codes -> the current district names they may name."""
    return dict(_NINGBO_DISTRICTS)


_NAME_TO_CODE = {names[0]: code for code, names in _NINGBO_DISTRICTS.items() if code in _CURRENT}
_SHORT = {name[:-1]: name for name in _NAME_TO_CODE}  # 海曙 -> 海曙区


def _district_name(value: str) -> str | None:
    """A Ningbo district name from a district cell (name, short name or adcode), else None."""
    v = value.strip()
    if v in _NAME_TO_CODE:
        return v
    if v in _SHORT:
        return _SHORT[v]
    if re.fullmatch(r"\d{6}", v):
        names = _NINGBO_DISTRICTS.get(v)
        return names[0] if names else None
    for name in _NAME_TO_CODE:  # "宁波市海曙区"
        if v.endswith(name):
            return name
    return None


def _address_district(address: str) -> str | None:
    """The one Ningbo district named in an address (``None`` for none or several)."""
    found = {name for name in _NAME_TO_CODE if name in address}
    return found.pop() if len(found) == 1 else None


def _admin_note(admin: str, district: str) -> str:
    """The note when the credit code's administrative code disagrees with the district."""
    names = _NINGBO_DISTRICTS.get(admin)
    if names is not None:
        if district in names:
            return ""
        return (
            f"administrative code {admin} in the credit code is {'/'.join(names)}, not {district}"
        )
    if admin[4:] in ("00", "01", "99") and admin[:4] == "3302":
        return ""  # registered by the city (宁波市 / 市辖区 / a city-level zone): any district
    city = _ZHEJIANG_CITIES.get(admin[:4])
    if city is not None and city != "宁波市":
        return f"administrative code {admin} in the credit code is {city}, not {district}"
    return ""  # a code this table does not know: no opinion


# ----------------------------------------------------------------------------------------------
# Status
# ----------------------------------------------------------------------------------------------

#: Normalised ``status`` values, and the statuses that end a firm (``closed`` expected).
STATUSES = (
    "active",
    "deregistered",
    "revoked",
    "cancelled",
    "moved_out",
    "suspended",
    "liquidating",
)
CLOSED_STATUSES = frozenset({"deregistered", "revoked", "cancelled"})
# (pattern, status) tried in order on the NFKC text; 吊销，未注销 is revoked, 吊销，已注销 deregistered
_STATUS_RULES = (
    (r"吊销.*未注销|未注销.*吊销", "revoked"),
    (r"注销|deregistered|dissolved", "deregistered"),
    (r"吊销|责令关闭|revoked", "revoked"),
    (r"撤销|cancelled|canceled", "cancelled"),
    (r"迁出|迁往|迁移|moved", "moved_out"),
    (r"停业|歇业|暂停|suspended", "suspended"),
    (r"清算|liquidat", "liquidating"),
    (r"存续|在业|开业|在营|在册|正常|迁入|营业|成立|active|existing|registered|open", "active"),
)


def parse_status(text: str) -> str | None:
    """The normalised status of a 登记状态 text, ``None`` when it is not recognised.

    Examples
    --------
    >>> [parse_status(t) for t in ("存续（在营、开业、在册）", "吊销，未注销", "注销", "迁出")]
    ['active', 'revoked', 'deregistered', 'moved_out']
    """
    t = unicodedata.normalize("NFKC", text).strip().lower()
    for pattern, status in _STATUS_RULES:
        if re.search(pattern, t):
            return status
    return None


# ----------------------------------------------------------------------------------------------
# Registered capital
# ----------------------------------------------------------------------------------------------

#: Date of :data:`CAPITAL_RATES`.
RATES_DATE = "2024-12-31"
#: Yuan per unit of foreign currency: the People's Bank of China central parity rates of
#: 31 December 2024 (rounded; JPY and KRW per single unit). A fixed table, so a study is
#: reproducible; capital is a registration figure, not a market value.
# fmt: off
CAPITAL_RATES: Mapping[str, float] = {
    "CNY": 1.0, "USD": 7.1884, "HKD": 0.92604, "EUR": 7.5257, "GBP": 9.0765, "JPY": 0.046233,
    "AUD": 4.5070, "CAD": 5.0498, "SGD": 5.3214, "CHF": 8.0134, "KRW": 0.0049, "TWD": 0.2194,
    "MOP": 0.8990, "NZD": 4.0800,
}
_CURRENCY_WORDS: tuple[tuple[str, str], ...] = (
    ("人民币", "CNY"), ("rmb", "CNY"), ("cny", "CNY"), ("美元", "USD"), ("美金", "USD"),
    ("usd", "USD"), ("us$", "USD"), ("港元", "HKD"), ("港币", "HKD"), ("hkd", "HKD"),
    ("欧元", "EUR"), ("eur", "EUR"), ("英镑", "GBP"), ("gbp", "GBP"), ("日元", "JPY"),
    ("jpy", "JPY"), ("澳元", "AUD"), ("澳大利亚元", "AUD"), ("aud", "AUD"), ("加元", "CAD"),
    ("加拿大元", "CAD"), ("cad", "CAD"), ("新加坡元", "SGD"), ("sgd", "SGD"),
    ("瑞士法郎", "CHF"), ("chf", "CHF"), ("韩元", "KRW"), ("krw", "KRW"), ("新台币", "TWD"),
    ("台币", "TWD"), ("twd", "TWD"), ("澳门元", "MOP"), ("澳门币", "MOP"), ("mop", "MOP"),
    ("新西兰元", "NZD"), ("nzd", "NZD"), ("$", "USD"), ("¥", "CNY"),
)
# fmt: on
_CURRENCY_WORDS = tuple(sorted(_CURRENCY_WORDS, key=lambda w: -len(w[0])))
_MULTIPLIERS = {"": 1.0, "万": 1e4, "亿": 1e8, "千": 1e3, "百万": 1e6, "万亿": 1e12}
_AMOUNT_RE = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?P<mult>万亿|百万|万|亿|千)?")


@dataclasses.dataclass(frozen=True, slots=True)
class Capital:
    """A parsed registered capital: ``amount`` in ``currency``, ``cny`` in yuan; ``note``."""

    amount: float | None
    currency: str | None
    cny: float | None
    note: str = ""


def parse_capital(
    text: str, *, unit: float = 1.0, rates: Mapping[str, float] | None = None
) -> Capital:
    """Read a 注册资本 cell: ``"500万元人民币"``, ``"3.5亿元"``, ``"20万美元"``, ``"100万(元)"``.

    Parameters
    ----------
    text : str
        The cell. Thousands separators, full-width characters, ``元`` and brackets are allowed;
        the currency may come before or after the amount (no currency = yuan).
    unit : float, default 1.0
        Multiplier of an amount written without 万/亿 (1e4 for a header ``注册资本(万元)``).
    rates : mapping, optional
        Yuan per unit of each currency (ISO code); default :data:`CAPITAL_RATES`.

    Returns
    -------
    Capital
        ``amount`` (in its currency, 万/亿 applied), ``currency`` (ISO), ``cny``; all ``None``
        with a ``note`` when the text is not an amount. A currency outside ``rates`` keeps
        ``amount`` and ``currency`` with ``cny=None`` and a note.

    Examples
    --------
    >>> parse_capital("500万元人民币").cny, parse_capital("3.5亿元").cny
    (5000000.0, 350000000.0)
    >>> c = parse_capital("20万美元"); (c.amount, c.currency, c.cny)
    (200000.0, 'USD', 1437680.0)
    """
    rates = CAPITAL_RATES if rates is None else rates
    t = unicodedata.normalize("NFKC", text).strip().lower()
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t).replace(" ", "")
    currency = None
    rest = t
    for word, code in _CURRENCY_WORDS:
        if word in rest:
            if currency is not None and currency != code:
                return Capital(None, None, None, "two currencies in one amount; left blank")
            currency = code
            rest = rest.replace(word, "")
    rest = re.sub(r"[()（）\[\]【】]", "", rest).replace("元", "")
    m = _AMOUNT_RE.fullmatch(rest)
    if m is None:
        return Capital(None, None, None, "not an amount of money; left blank")
    mult = m.group("mult") or ""
    amount = float(m.group("num")) * (_MULTIPLIERS[mult] if mult else unit)
    currency = currency or "CNY"
    rate = rates.get(currency)
    if rate is None:
        return Capital(amount, currency, None, f"no rate for {currency}; capital_cny left blank")
    return Capital(amount, currency, round(amount * rate, 2))


# ----------------------------------------------------------------------------------------------
# Industry codes
# ----------------------------------------------------------------------------------------------

#: GB/T 4754-2017 sections: letter -> (first, last) division (two-digit code).
_SECTIONS = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50), "F": (51, 52),
    "G": (53, 60), "H": (61, 62), "I": (63, 65), "J": (66, 69), "K": (70, 70), "L": (71, 72),
    "M": (73, 75), "N": (76, 79), "O": (80, 82), "P": (83, 83), "Q": (84, 85), "R": (86, 90),
    "S": (91, 97), "T": (98, 98),
}  # fmt: skip
_CODE_HINT = r"^\s*[A-Ta-t]\s*\d{2,4}|^\s*\d{2,4}\s*[\u3400-\u9fff]"
_CODE_RE = re.compile(r"^\s*([A-Ta-t])?\s*(\d{2,4})\s*([\u3400-\u9fff].*)?$")


def parse_industry_code(text: str) -> tuple[str, str]:
    """(code, note) of a 国标行业 cell: ``"C3919 其他计算机制造"`` -> ``("C3919", "")``.

    A section letter that does not hold the division is noted and dropped (the digits decide);
    text without a code gives ``("", "")`` (the cell is left as it is).
    """
    t = unicodedata.normalize("NFKC", text)
    m = _CODE_RE.match(t)
    if m is None:
        return "", ""
    letter, digits = (m.group(1) or "").upper(), m.group(2)
    if not letter and not m.group(3):
        return "", ""  # a bare number: the classifier reads it as it is
    if letter:
        lo, hi = _SECTIONS[letter]
        if not lo <= int(digits[:2]) <= hi:
            return digits, (
                f"section {letter} does not hold division {digits[:2]}; read as {digits}"
            )
    return letter + digits, ""


# ----------------------------------------------------------------------------------------------
# The reader's hook
# ----------------------------------------------------------------------------------------------


def _find(columns: list[str], key: str, norm: object) -> str | None:
    normed = {norm(c): c for c in reversed(columns)}  # type: ignore[operator]
    for alias in REGISTRY_ALIASES[key]:
        found = normed.get(norm(alias))  # type: ignore[operator]
        if found is not None:
            return str(found)
    return None


def _text(values: pd.Series) -> pd.Series:
    """Cells as stripped text, ``""`` for blanks and placeholders (the reader's list)."""
    from clusterscape.io.establishments import _PLACEHOLDERS

    s = values.astype("string").fillna("").str.strip()
    return s.mask(s.str.lower().isin(_PLACEHOLDERS), "").astype(object)


def _object_years(years: pd.Series) -> np.ndarray:
    """An Int64 year column as an object array of ints and ``None``."""
    return np.asarray(years.astype(object).where(years.notna(), None), dtype=object)


def _by_value(values: Any, parse: Callable[[str], Any]) -> np.ndarray:
    """``parse`` of every non-blank value, computed once per distinct value (None for blanks)."""
    codes, uniq = pd.factorize(np.asarray(values, dtype=object))
    done = np.empty(len(uniq) + 1, dtype=object)  # the last slot: missing values
    for i, u in enumerate(uniq):
        done[i] = parse(u) if u != "" else None
    return done[codes]


def apply_registry(
    result: LoadResult, frame: pd.DataFrame, mapping: Mapping[str, str]
) -> LoadResult:
    """Add the registry columns to a read table (see the module docstring); notes appended.

    ``frame`` is the table as parsed (index = 1-based file row), ``mapping`` the reader's
    canonical field -> column. Tables without registry headers are returned unchanged.
    """
    from clusterscape.io.establishments import _norm_header, _parse_years

    est = result.establishments
    rows = result.source_rows
    have = [str(c) for c in frame.columns if c != "geometry"]
    cols = {k: _find(have, k, _norm_header) for k in REGISTRY_ALIASES}
    wanted = ("uscc", "status", "capital", "scope")
    cand = np.zeros(len(est), dtype=bool)
    if "code" in mapping:  # a section letter or a title after the digits: "C3919 其他计算机制造"
        codes = est["code"].astype("string").fillna("")
        cand = codes.str.contains(_CODE_HINT, regex=True).to_numpy(dtype=bool)
    if not any(cols[k] for k in wanted) and not cand.any():
        return result
    if rows is None or len(rows) != len(est):  # pragma: no cover - every table reader sets it
        return result
    raw = frame.loc[rows, list(dict.fromkeys(c for c in cols.values() if c))]
    ids = est["id"].astype(str).to_numpy()
    notes: list[tuple[int, str, str, str, str]] = []

    def note(p: int, field: str, value: str, text: str) -> None:
        notes.append((int(rows[p]), ids[p], field, value, text))

    out = est.copy()
    new: dict[str, object] = {}
    drop: list[str] = []

    if cand.any():
        values = codes.to_numpy(dtype=object).copy()
        for p in np.flatnonzero(cand).tolist():
            code, why = parse_industry_code(values[p])
            if why:
                note(p, "code", values[p], why)
            values[p] = code or values[p]
        out["code"] = pd.array(values, dtype="string")

    district = np.full(len(est), None, dtype=object)
    if cols["district"]:
        district = _by_value(_text(raw[cols["district"]]), _district_name)
    elif cols["address"]:
        district = _by_value(_text(raw[cols["address"]]), _address_district)

    if cols["uscc"]:
        text = _text(raw[cols["uscc"]]).to_numpy(dtype=object)
        uscc = _by_value(text, lambda v: unicodedata.normalize("NFKC", v).replace(" ", "").upper())
        problem = np.full(len(uscc), None, dtype=object)
        bad = (text != "") & ~_uscc_valid(uscc)
        problem[bad] = _by_value(uscc[bad], uscc_problem)
        for p in np.flatnonzero(text != "").tolist():
            if problem[p]:
                note(p, "uscc", text[p], f"invalid credit code ({problem[p]}); kept")
            elif district[p]:
                why = _admin_note(uscc[p][2:8], str(district[p]))
                if why:
                    note(p, "uscc", uscc[p], why)
        new["uscc"] = pd.array(uscc, dtype="string")
        if cols["uscc"] != mapping.get("id"):
            drop.append(cols["uscc"])

    if cols["status"]:
        status_raw = _text(raw[cols["status"]]).to_numpy(dtype=object)
        status = _by_value(status_raw, parse_status)
        for p in np.flatnonzero((status_raw != "") & pd.isna(status)).tolist():
            note(
                p,
                "status",
                status_raw[p],
                "status not recognised; status left blank (kept in status_raw)",
            )
        new["status"] = pd.array(status, dtype="string")
        new["status_raw"] = pd.array(
            [v if v != "" else None for v in status_raw.tolist()], dtype="string"
        )
        drop.append(cols["status"])
        closed = out["closed"].astype("Int64").to_numpy(dtype=object, na_value=None)
        ended = pd.Series(status).isin(CLOSED_STATUSES).to_numpy() & pd.isna(closed)
        # a revoked firm's year is its 吊销日期 first, any other closed firm's its 注销日期 first
        revoked = status == "revoked"
        years = {
            key: _object_years(_parse_years(raw[c])[0])
            for key in ("revoked", "deregistered")
            if (c := cols[key]) is not None and c != mapping.get("closed")
        }
        for primary in (True, False):
            for key, year in years.items():
                own = revoked if key == "revoked" else ~revoked
                fill = ended & (own if primary else ~own) & ~pd.isna(year) & pd.isna(closed)
                closed[fill] = year[fill]
        for p in np.flatnonzero(ended & pd.isna(closed)).tolist():
            note(
                p, "closed", "", f"status '{status_raw[p]}' but no closing date; closed left blank"
            )
        out["closed"] = pd.array(closed, dtype="Int64")

    if cols["capital"]:
        head = cols["capital"]
        unit = 1e4 if "万" in head else 1.0
        cap_txt = _text(raw[head]).to_numpy(dtype=object)
        caps = _by_value(cap_txt, lambda v: parse_capital(v, unit=unit))
        blank = Capital(None, None, None)
        caps = np.array([c if c is not None else blank for c in caps], dtype=object)
        for p in np.flatnonzero(cap_txt != "").tolist():
            if caps[p].note:
                note(p, "capital", cap_txt[p], caps[p].note)
        new["capital_cny"] = pd.array([c.cny for c in caps], dtype="Float64")
        new["capital"] = pd.array([c.amount for c in caps], dtype="Float64")
        new["capital_currency"] = pd.array([c.currency for c in caps], dtype="string")
        drop.append(head)

    if cols["scope"]:
        new["scope"] = pd.array([v or "" for v in _text(raw[cols["scope"]])], dtype="string")
        drop.append(cols["scope"])

    for name in new:
        if name in out.columns and name not in drop:
            drop.append(name)
    out = out.drop(columns=[c for c in drop if c in out.columns])
    from clusterscape.io.establishments import CANONICAL

    order = [*CANONICAL, *new, *(c for c in out.columns if c not in CANONICAL)]
    for name, values in new.items():
        out[name] = values
    out = out[order]
    if notes:
        extra_notes = pd.DataFrame(notes, columns=["row", "id", "field", "value", "note"]).astype(
            {"row": "int64", "id": "string", "field": "string", "value": "string", "note": "string"}
        )
        merged = pd.concat([result.notes, extra_notes], ignore_index=True)
        merged = merged.sort_values("row", kind="stable").reset_index(drop=True)
    else:
        merged = result.notes
    return dataclasses.replace(result, establishments=out, notes=merged)
