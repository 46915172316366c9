"""What a synthetic Ningbo establishment can be: function mix, codes, Amap types, names, sizes.

Every GB/T 4754-2017 class used here was checked against the published class list (门类/大类/
中类/小类 with names; e.g. 7251 互联网广告服务, 7259 其他广告服务, 7484 工程设计活动, 7491 工业设计
服务, 7492 专业设计服务, 6572 动漫、游戏数字内容服务, 8626 数字出版, 8730 影视节目制作, 8810 文艺
创作与表演, 8060 摄影扩印服务, 6110 旅游饭店, 6621 商业银行服务, 3670 汽车零部件及配件制造). The
Amap type strings follow Amap's published ``大类;中类;小类`` POI classification (e.g.
``住宿服务;宾馆酒店;五星级宾馆``, ``购物服务;商场;购物中心``).

Rows that look like registered firms carry a ``code`` and the Amap company type; rows that look
like map POIs (shops, restaurants, hotels, malls, schools ...) carry an Amap type string and an
empty ``code``, as an Amap POI export would.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

__all__ = ["BRAND_WORDS", "FUNCTIONS", "FUNCTION_MIX", "HOTEL_GRADES", "FunctionSpec", "Template"]


@dataclass(frozen=True, slots=True)
class Template:
    """One kind of establishment: its Amap type string, GB/T code, name ending and share."""

    category: str
    code: str
    name_suffix: str
    weight: float
    sector_hint: str = ""  # the creative sector we intend (documentation and truth only)


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """Templates, employee distribution (lognormal median, sigma; None = unknown) and closure hazard."""

    templates: tuple[Template, ...]
    employees_median: float | None
    employees_sigma: float
    closure_hazard: float  # probability per year that an open establishment closes


_PACKAGE = "clusterscape.datasets"
_FUNCTIONS_FILE = "function_catalogue.csv"

#: Two-character trade names ("字号") used in synthetic firm names. Chosen to carry no sector
#: keyword (no 设计/广告/酒店/购物 ...), so names never decide a classification by accident.
BRAND_WORDS: tuple[str, ...] = (
    "恒达",
    "华信",
    "永泰",
    "东方",
    "金海",
    "瑞丰",
    "甬江",
    "三江",
    "天一",
    "明州",
    "鼎盛",
    "博远",
    "新宇",
    "汇通",
    "宏图",
    "信达",
    "佳禾",
    "正元",
    "海天",
    "诚信",
    "万邦",
    "百川",
    "长河",
    "顺发",
    "中和",
    "嘉盛",
    "星河",
    "远航",
    "卓越",
    "蓝海",
    "润泽",
    "锦程",
    "富达",
    "安泰",
    "和盛",
    "聚源",
    "协力",
    "精诚",
    "立信",
    "君安",
    "启明",
    "光华",
    "德润",
    "荣昌",
    "凯旋",
    "泰和",
    "元通",
    "丰源",
    "银丰",
    "隆兴",
    "华茂",
    "雅戈",
    "奥克",
    "力邦",
    "贝发",
    "杉杉",
    "太平",
    "维科",
    "宁远",
    "四明",
)


def _read_functions() -> dict[str, FunctionSpec]:
    """Read ``data/function_catalogue.csv``: one row a template, its function's sizes repeated.

    Rows keep their order (functions in order of first appearance, templates in file order).
    For hotels the grade is decided separately (see :data:`HOTEL_GRADES`); their rows are the
    non-starred kinds.
    """
    text = resources.files(_PACKAGE).joinpath("data", _FUNCTIONS_FILE).read_text("utf-8")
    sizes: dict[str, tuple[float | None, float, float]] = {}
    templates: dict[str, list[Template]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        function = row["function"]
        median = row["employees_median"]
        sizes.setdefault(
            function,
            (
                float(median) if median else None,
                float(row["employees_sigma"]),
                float(row["closure_hazard"]),
            ),
        )
        templates.setdefault(function, []).append(
            Template(
                row["category"],
                row["code"],
                row["name_suffix"],
                float(row["weight"]),
                row["sector_hint"],
            )
        )
    return {
        function: FunctionSpec(tuple(templates[function]), *sizes[function])
        for function in templates
    }


#: The functions an establishment can have (templates, sizes, closure hazard), in catalogue order.
FUNCTIONS: dict[str, FunctionSpec] = _read_functions()

#: Share of each function among background establishments (sums to 1). Loosely modelled on the
#: composition of Amap POI extracts of Chinese prefecture-level cities; documented in docs/ningbo.md.
FUNCTION_MIX: dict[str, float] = {
    "retail": 0.240,
    "catering": 0.170,
    "office_business": 0.100,
    "industry": 0.100,
    "other": 0.071,
    "residential": 0.070,
    "logistics": 0.040,
    "leisure_culture": 0.035,
    "transport": 0.035,
    "finance": 0.025,
    "education": 0.025,
    "health": 0.025,
    "creative": 0.025,
    "hotel": 0.020,
    "public_admin": 0.015,
    "mall": 0.004,
}

#: Hotel grades among background hotels: (star level, share, Amap 小类, name ending, employees median).
HOTEL_GRADES: tuple[tuple[int, float, str, str, float], ...] = (
    (5, 0.02, "住宿服务;宾馆酒店;五星级宾馆", "国际大酒店", 320.0),
    (4, 0.05, "住宿服务;宾馆酒店;四星级宾馆", "大酒店", 160.0),
    (3, 0.10, "住宿服务;宾馆酒店;三星级宾馆", "酒店", 70.0),
)
