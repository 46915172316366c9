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

from dataclasses import dataclass

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


_FIRM = "公司企业;公司;公司"
_FACTORY = "公司企业;工厂;工厂"

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

FUNCTIONS: dict[str, FunctionSpec] = {
    "creative": FunctionSpec(
        templates=(
            Template(_FIRM, "7259", "广告有限公司", 0.22, "advertising_marketing"),
            Template(_FIRM, "7251", "网络广告有限公司", 0.06, "advertising_marketing"),
            Template(_FIRM, "7491", "工业设计有限公司", 0.16, "design"),
            Template(_FIRM, "7492", "室内设计有限公司", 0.12, "design"),
            Template(_FIRM, "7492", "服装设计工作室", 0.05, "design"),
            Template(_FIRM, "7484", "建筑设计院有限公司", 0.08, "architecture"),
            Template(_FIRM, "6572", "动漫科技有限公司", 0.08, "animation_games"),
            Template(_FIRM, "8730", "影视文化有限公司", 0.08, "film_tv_video_photo"),
            Template(_FIRM, "8060", "摄影工作室", 0.05, "film_tv_video_photo"),
            Template(_FIRM, "8626", "数字出版有限公司", 0.04, "publishing_news"),
            Template(_FIRM, "8810", "文化艺术有限公司", 0.06, "music_performing_visual_arts"),
        ),
        employees_median=6.0,
        employees_sigma=0.8,
        closure_hazard=0.05,
    ),
    "hotel": FunctionSpec(
        # grade is decided separately (see HOTEL_GRADES); these are the non-starred kinds
        templates=(
            Template("住宿服务;宾馆酒店;经济型连锁酒店", "", "快捷酒店", 0.45),
            Template("住宿服务;旅馆招待所;旅馆招待所", "", "宾馆", 0.55),
        ),
        employees_median=12.0,
        employees_sigma=0.5,
        closure_hazard=0.03,
    ),
    "mall": FunctionSpec(
        templates=(
            Template("购物服务;商场;购物中心", "", "购物中心", 0.55),
            Template("购物服务;商场;购物中心", "", "广场", 0.15),
            Template("购物服务;商场;普通商场", "", "百货商场", 0.30),
        ),
        employees_median=350.0,
        employees_sigma=0.5,
        closure_hazard=0.015,
    ),
    "retail": FunctionSpec(
        templates=(
            Template("购物服务;便民商店/便利店;便民商店/便利店", "", "便利店", 0.35),
            Template("购物服务;超级市场;超市", "", "超市", 0.15),
            Template("购物服务;服装鞋帽皮具店;品牌服装店", "", "服饰", 0.20),
            Template("购物服务;家电电子卖场;家电电子卖场", "", "电器商行", 0.10),
            Template("购物服务;家居建材市场;建材五金市场", "", "装饰材料商行", 0.10),
            Template("购物服务;综合市场;水果市场", "", "水果店", 0.10),
        ),
        employees_median=3.0,
        employees_sigma=0.6,
        closure_hazard=0.07,
    ),
    "catering": FunctionSpec(
        templates=(
            Template("餐饮服务;中餐厅;中餐厅", "", "餐厅", 0.35),
            Template("餐饮服务;中餐厅;浙江菜", "", "海鲜楼", 0.15),
            Template("餐饮服务;快餐厅;快餐厅", "", "快餐", 0.25),
            Template("餐饮服务;咖啡厅;咖啡厅", "", "咖啡", 0.10),
            Template("餐饮服务;中餐厅;中餐厅", "", "面馆", 0.15),
        ),
        employees_median=6.0,
        employees_sigma=0.6,
        closure_hazard=0.09,
    ),
    "office_business": FunctionSpec(
        templates=(
            Template(_FIRM, "7211", "企业管理有限公司", 0.25),
            Template(_FIRM, "7231", "律师事务所", 0.15),
            Template(_FIRM, "7241", "会计师事务所", 0.15),
            Template(_FIRM, "7243", "经济咨询有限公司", 0.20),
            Template(_FIRM, "7294", "翻译服务有限公司", 0.05),
            Template(_FIRM, "7262", "人力资源有限公司", 0.20),
        ),
        employees_median=12.0,
        employees_sigma=0.9,
        closure_hazard=0.05,
    ),
    "finance": FunctionSpec(
        templates=(
            Template("金融保险服务;银行;银行", "6621", "农村商业银行", 0.7),
            Template(_FIRM, "6635", "小额贷款有限公司", 0.3),
        ),
        employees_median=25.0,
        employees_sigma=0.7,
        closure_hazard=0.02,
    ),
    "industry": FunctionSpec(
        templates=(
            Template(_FACTORY, "3670", "汽车零部件有限公司", 0.25),
            Template(_FACTORY, "3734", "船舶配件有限公司", 0.10),
            Template(_FACTORY, "3812", "电机有限公司", 0.20),
            Template(_FACTORY, "3851", "电器有限公司", 0.25),
            Template(_FACTORY, "3831", "电线电缆有限公司", 0.20),
        ),
        employees_median=45.0,
        employees_sigma=1.0,
        closure_hazard=0.04,
    ),
    "logistics": FunctionSpec(
        templates=(
            Template(_FIRM, "5431", "物流有限公司", 0.45),
            Template(_FIRM, "5821", "国际货运代理有限公司", 0.25),
            Template(_FIRM, "5920", "仓储有限公司", 0.20),
            Template(_FIRM, "5532", "港口服务有限公司", 0.10),
        ),
        employees_median=20.0,
        employees_sigma=0.9,
        closure_hazard=0.05,
    ),
    "residential": FunctionSpec(
        templates=(
            Template("商务住宅;住宅区;住宅小区", "", "小区", 0.7),
            Template("商务住宅;住宅区;住宅小区", "", "花园", 0.3),
        ),
        employees_median=None,
        employees_sigma=0.0,
        closure_hazard=0.0,
    ),
    "education": FunctionSpec(
        templates=(
            Template("科教文化服务;学校;小学", "", "小学", 0.40),
            Template("科教文化服务;学校;中学", "", "中学", 0.25),
            Template("科教文化服务;培训机构;培训机构", "", "培训学校", 0.35),
        ),
        employees_median=60.0,
        employees_sigma=0.7,
        closure_hazard=0.01,
    ),
    "health": FunctionSpec(
        templates=(
            Template("医疗保健服务;综合医院;综合医院", "", "医院", 0.15),
            Template("医疗保健服务;诊所;诊所", "", "诊所", 0.55),
            Template("医疗保健服务;专科医院;口腔医院", "", "口腔门诊", 0.30),
        ),
        employees_median=15.0,
        employees_sigma=1.1,
        closure_hazard=0.02,
    ),
    "public_admin": FunctionSpec(
        templates=(
            Template("政府机构及社会团体;政府机关;乡镇级政府及事业单位", "", "街道办事处", 0.5),
            Template("政府机构及社会团体;公检法机构;公安警察", "", "派出所", 0.5),
        ),
        employees_median=40.0,
        employees_sigma=0.6,
        closure_hazard=0.0,
    ),
    "leisure_culture": FunctionSpec(
        templates=(
            Template("体育休闲服务;运动场馆;健身中心", "", "健身会所", 0.40),
            Template("体育休闲服务;娱乐场所;KTV", "", "KTV", 0.30),
            Template("风景名胜;公园广场;公园", "", "公园", 0.30),
        ),
        employees_median=8.0,
        employees_sigma=0.7,
        closure_hazard=0.06,
    ),
    "transport": FunctionSpec(
        templates=(
            Template("交通设施服务;公交车站;公交车站相关", "", "公交站", 0.6),
            Template("交通设施服务;停车场;停车场相关", "", "停车场", 0.4),
        ),
        employees_median=None,
        employees_sigma=0.0,
        closure_hazard=0.0,
    ),
    "other": FunctionSpec(
        templates=(
            Template("生活服务;美容美发店;美容美发店", "", "美发沙龙", 0.45),
            Template("生活服务;洗衣店;洗衣店", "", "洗衣店", 0.20),
            Template("汽车维修;汽车综合维修;汽车综合维修", "", "汽车维修", 0.35),
        ),
        employees_median=4.0,
        employees_sigma=0.6,
        closure_hazard=0.06,
    ),
}

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
