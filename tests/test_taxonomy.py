"""Tests for clusterscape.taxonomy: classification of firms into creative sectors and functions.

Known answers come from (a) the labelled evaluation set ``tests/data/taxonomy_eval.csv`` (written
by us, see ``tests/data/README.md``), (b) the published code lists (GB/T 4754-2017 classes, the
DCMS creative SIC list, NAICS 2017), checked row by row below, and (c) the synthetic Ningbo
catalogue, whose intended function per template is the truth.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point
from typer.testing import CliRunner

from clusterscape.errors import InvalidInputError
from clusterscape.taxonomy import (
    CODE_SYSTEMS,
    FUNCTIONS,
    OUTPUT_COLUMNS,
    SECTORS,
    classify_establishments,
    load_taxonomy,
)
from clusterscape.taxonomy._matcher import KeywordMatcher

EVAL = Path(__file__).parent / "data" / "taxonomy_eval.csv"


def _prf(expected: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    tp = int((expected & got).sum())
    fp = int((~expected & got).sum())
    fn = int((expected & ~got).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return precision, recall, f1


@pytest.fixture(scope="module")
def evaluation() -> tuple[pd.DataFrame, pd.DataFrame]:
    truth = pd.read_csv(EVAL, dtype=str, keep_default_na=False)
    out = classify_establishments(
        truth.drop(columns=[c for c in truth if c.startswith("expected")])
    )
    return truth, out


# --- the labelled evaluation set -------------------------------------------------------------


def test_eval_set_is_large_and_well_formed() -> None:
    truth = pd.read_csv(EVAL, dtype=str, keep_default_na=False)
    assert len(truth) >= 600
    assert truth["id"].is_unique
    assert set(truth["expected_sector"]) <= {"", *SECTORS}
    assert set(truth["expected_function"]) <= set(FUNCTIONS)
    creative = truth["expected_sector"] != ""
    assert (truth.loc[creative, "expected_function"] == "creative").all()
    assert (truth.loc[~creative, "expected_function"] != "creative").all()
    # every sector and every function is represented, and hard negatives are present
    assert set(truth["expected_sector"]) == {"", *SECTORS}
    assert set(truth["expected_function"]) == set(FUNCTIONS)
    for word in ("装饰材料", "广告牌", "酒店用品", "购物"):
        rows = truth[truth["name"].str.contains(word) & (truth["expected_function"] != "mall")]
        assert len(rows) >= 1, word


def test_creative_precision_and_recall(evaluation: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    truth, out = evaluation
    p, r, _ = _prf((truth["expected_sector"] != "").to_numpy(), out["is_creative"].to_numpy())
    sector_acc = (out["sector"].to_numpy() == truth["expected_sector"].to_numpy()).mean()
    function_acc = (out["function"].to_numpy() == truth["expected_function"].to_numpy()).mean()
    print(
        f"\neval n={len(truth)}: creative precision {p:.3f} recall {r:.3f}; "
        f"sector accuracy {sector_acc:.3f}; function accuracy {function_acc:.3f}"
    )
    for source, idx in truth.groupby("source").groups.items():
        acc = (out.loc[idx, "function"] == truth.loc[idx, "expected_function"]).mean()
        print(f"  {source:45s} n={len(idx):4d} function accuracy {acc:.3f}")
    assert r >= 0.90
    assert p >= 0.95
    assert sector_acc >= 0.95


@pytest.mark.parametrize("function", ["hotel", "mall"])
def test_hotel_and_mall_f1(evaluation: tuple[pd.DataFrame, pd.DataFrame], function: str) -> None:
    truth, out = evaluation
    p, r, f1 = _prf(
        (truth["expected_function"] == function).to_numpy(),
        (out["function"] == function).to_numpy(),
    )
    print(f"\n{function}: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
    assert f1 >= 0.98


def test_hotel_grades_on_eval_set(evaluation: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    truth, out = evaluation
    hotels = (truth["expected_function"] == "hotel") & (out["function"] == "hotel")
    expected = pd.to_numeric(truth["expected_hotel_grade"].replace("", None)).astype("Int64")
    agree = (out.loc[hotels, "hotel_grade"].fillna(0) == expected[hotels].fillna(0)).mean()
    print(f"\nhotel grade agreement on {int(hotels.sum())} hotels: {agree:.3f}")
    assert agree >= 0.98
    assert out.loc[out["function"] != "hotel", "hotel_grade"].isna().all()


# --- output contract ---------------------------------------------------------------------------


def _frame(**cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_output_contract_and_no_mutation() -> None:
    gdf = gpd.GeoDataFrame(
        {
            "name": ["宁波香格里拉大酒店", "宁波甬创工业设计有限公司", "x"],
            "category": ["住宿服务;宾馆酒店;五星级宾馆", "", ""],
            "code": ["", "7491", ""],
        },
        geometry=[Point(121.55, 29.87), Point(121.56, 29.88), Point(121.5, 29.8)],
        crs="EPSG:4326",
        index=[10, 20, 30],
    )
    before = gdf.copy()
    out = classify_establishments(gdf)
    pd.testing.assert_frame_equal(gdf, before)
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.crs == gdf.crs
    assert list(out.index) == [10, 20, 30]
    assert all(c in out.columns for c in OUTPUT_COLUMNS)
    assert out["is_creative"].dtype == bool
    assert out["hotel_grade"].dtype == "Int64"
    assert pd.api.types.is_string_dtype(out["sector"])
    assert set(out["function"]) <= set(FUNCTIONS)
    assert out["sector"].tolist() == ["", "design", ""]
    assert out["function"].tolist() == ["hotel", "creative", "other"]
    assert out["hotel_grade"].tolist()[0] == 5
    assert out["rule"].tolist() == [
        "amap_type:住宿服务;宾馆酒店;五星级宾馆",
        "gbt4754:7491",
        "default:other",
    ]


def test_empty_frame() -> None:
    out = classify_establishments(_frame(name=[]))
    assert len(out) == 0
    assert all(c in out.columns for c in OUTPUT_COLUMNS)


def test_precedence_code_then_amap_then_osm_then_keyword() -> None:
    base = {
        "name": "宁波XX酒店",
        "category": "amenity=cinema",
        "code": "7259",
        "typecode": "050000",
    }
    rows = [
        dict(base),
        dict(base, code=""),
        dict(base, code="", typecode=""),
        dict(base, code="", typecode="", category=""),
    ]
    out = classify_establishments(pd.DataFrame(rows))
    assert out["rule"].tolist() == [
        "gbt4754:7259",
        "amap:05",
        "osm:amenity=cinema",
        "keyword:酒店",
    ]
    assert out["function"].tolist() == ["creative", "catering", "creative", "hotel"]


def test_weak_rules_only_fill_gaps() -> None:
    out = classify_establishments(
        _frame(
            name=["宁波点线面设计有限公司", "宁波海天集团"],
            category=["公司企业;公司;公司", "公司企业;公司;公司"],
        )
    )
    assert out["sector"].tolist() == ["design", ""]
    assert out["function"].tolist() == ["creative", "office_business"]
    assert out["rule"].tolist()[1] == "amap_type:公司企业"


def test_amap_typestring_is_not_keyword_text() -> None:
    # 广告装饰 is an Amap class name, not evidence that the firm is an agency
    out = classify_establishments(
        _frame(name=["宁波佳艺装饰有限公司"], category=["公司企业;公司;广告装饰"])
    )
    assert out["function"].tolist() == ["industry"]


# --- hard negatives and keywords ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("宁波华东酒店用品批发中心", "retail"),
        ("宁波广告标牌制作厂", "industry"),
        ("宁波东方装饰材料商行", "retail"),
        ("宁波网上购物平台有限公司", "office_business"),
        ("宁波易购物流有限公司", "logistics"),
        ("宁波电玩城", "leisure_culture"),
        ("宁波新华书店", "retail"),
        ("宁波五星电器", "retail"),
        ("宁波火车站旅馆", "hotel"),
        ("Ningbo Hotel Supplies Co.", "retail"),
    ],
)
def test_hard_negatives(name: str, function: str) -> None:
    out = classify_establishments(_frame(name=[name]))
    assert out["function"].tolist() == [function]
    assert out["hotel_grade"].isna().all()


def test_english_keywords_match_whole_words_only() -> None:
    out = classify_establishments(
        _frame(name=["Barber Shop", "Blue Note Bar", "Marketing Hub", "MUSEUM of Art"])
    )
    assert out["rule"].tolist() == [
        "keyword:shop",
        "keyword:bar",
        "keyword:marketing",
        "keyword:museum",
    ]


def test_matcher_against_brute_force() -> None:
    """The Aho-Corasick DFA agrees with a plain Python scan on random texts."""
    rng = np.random.default_rng(7)
    words = [
        "酒店",
        "酒店用品",
        "店",
        "广告",
        "广告牌",
        "设计",
        "bar",
        "design studio",
        "用品",
        "a",
    ]
    scores = rng.permutation(len(words)) * 10
    alphabet = list("酒店用品广告牌设计宁波") + list("bar designstudio ")
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 14))) for _ in range(400)]
    got = KeywordMatcher(words, scores).best(texts)
    import re

    for text, g in zip(texts, got, strict=True):
        hits = [
            (scores[i], i)
            for i, w in enumerate(words)
            if (
                re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text.lower())
                if w.isascii()
                else w in text
            )
        ]
        assert g == (max(hits)[1] if hits else -1), text


# --- code systems (checked against the published lists) ----------------------------------------


@pytest.mark.parametrize(
    ("system", "code", "sector", "function"),
    [
        # GB/T 4754-2017 classes (NBS 2018 creative classes and ordinary ones)
        ("gbt4754", "7491", "design", "creative"),  # 工业设计服务
        ("gbt4754", "M7492", "design", "creative"),  # section letter prefix
        ("gbt4754", "7251", "advertising_marketing", "creative"),  # 互联网广告服务
        ("gbt4754", "6572", "animation_games", "creative"),  # 动漫、游戏数字内容服务
        ("gbt4754", "8850", "museums_heritage_libraries", "creative"),  # 博物馆
        ("gbt4754", "8760", "film_tv_video_photo", "creative"),  # 电影放映
        ("gbt4754", "2438", "crafts", "creative"),  # 珠宝首饰及有关物品制造
        ("gbt4754", "6110", "", "hotel"),  # 旅游饭店
        ("gbt4754", "5211", "", "mall"),  # 百货零售
        ("gbt4754", "6520", "", "office_business"),  # 集成电路设计: not creative
        ("gbt4754", "2319", "", "industry"),  # 包装装潢及其他印刷: not a creative sector
        ("gbt4754", "5432", "", "logistics"),  # 冷藏车道路运输 via group 543
        ("gbt4754", "9221", "", "public_admin"),
        # UK SIC 2007: DCMS creative industries
        ("uksic2007", "73.11", "advertising_marketing", "creative"),
        ("uksic2007", "73110", "advertising_marketing", "creative"),
        ("uksic2007", "71.11", "architecture", "creative"),
        ("uksic2007", "59.14", "film_tv_video_photo", "creative"),
        ("uksic2007", "90.01", "music_performing_visual_arts", "creative"),
        ("uksic2007", "55.10", "", "hotel"),
        ("uksic2007", "73.20", "", "office_business"),  # market research: not DCMS creative
        # ISIC Rev.4
        ("isic4", "7310", "advertising_marketing", "creative"),
        ("isic4", "9000", "music_performing_visual_arts", "creative"),
        ("isic4", "5510", "", "hotel"),
        # NAICS 2017
        ("naics2017", "541810", "advertising_marketing", "creative"),
        ("naics2017", "541430", "design", "creative"),
        ("naics2017", "721110", "", "hotel"),
        ("naics2017", "452210", "", "mall"),
        ("naics2017", "722511", "", "catering"),
    ],
)
def test_code_systems(system: str, code: str, sector: str, function: str) -> None:
    out = classify_establishments(_frame(code=[code]), code_system=system)
    assert out["sector"].tolist() == [sector]
    assert out["function"].tolist() == [function]
    assert out["rule"].tolist()[0].startswith(f"{system}:")


def test_numeric_code_columns() -> None:
    out = classify_establishments(pd.DataFrame({"code": [7491, 111, 6110]}))
    assert out["rule"].tolist() == ["gbt4754:7491", "gbt4754:01", "gbt4754:61"]
    out = classify_establishments(pd.DataFrame({"code": [7491.0, np.nan]}))
    assert out["rule"].tolist() == ["gbt4754:7491", "default:other"]


def test_amap_typecode_in_code_column() -> None:
    # io.read_establishments maps a lone `typecode` column to `code`
    out = classify_establishments(_frame(code=["100103"], name=["宁波富邦大酒店"]))
    assert out["rule"].tolist() == ["amap:100103"]
    assert out["hotel_grade"].tolist() == [4]


def test_dcms_list_has_nine_groups() -> None:
    sic = load_taxonomy().codes["uksic2007"]
    creative = sic[sic["dcms_group"] != ""]
    assert creative["dcms_group"].nunique() == 9
    assert len(creative) == 31
    assert (creative["function"] == "creative").all()


def test_shipped_tables_are_consistent() -> None:
    tax = load_taxonomy()
    gb = tax.codes["gbt4754"]
    # every class and group sits under a division that is itself in the table
    assert all(code[:2] in gb.index for code in gb.index)
    for table in [
        *tax.codes.values(),
        tax.amap_types,
        tax.amap_typecodes,
        tax.osm_tags,
        tax.keywords,
    ]:
        assert set(table["sector"]) <= {"", *SECTORS}
        assert set(table["function"]) <= set(FUNCTIONS)
        assert (table.loc[table["sector"] != "", "function"] == "creative").all()
    # NBS 2018 partial flag only on classes mapped as creative or related
    assert set(gb["partial"]) <= {"", "*"}
    assert set(CODE_SYSTEMS) == {"gbt4754", "uksic2007", "isic4", "naics2017"}


def test_data_files_ship_in_package() -> None:
    data = resources.files("clusterscape.taxonomy").joinpath("data")
    names = {p.name for p in data.iterdir()}
    assert {
        "gbt4754_2017.csv",
        "uksic2007.csv",
        "isic4.csv",
        "naics2017.csv",
        "amap_types.csv",
        "amap_typecodes.csv",
        "osm_tags.csv",
        "keywords.csv",
        "hotel_grades.csv",
    } <= names


# --- hotels ------------------------------------------------------------------------------------


def test_hotel_grade_sources() -> None:
    out = classify_establishments(
        pd.DataFrame(
            {
                "name": [
                    "甲",
                    "乙",
                    "宁波五星级国际大酒店",
                    "Ningbo 4-Star Hotel",
                    "如家快捷酒店",
                    "宁波五星电器",
                ],
                "category": [
                    "住宿服务;宾馆酒店;三星级宾馆",
                    "tourism=hotel;stars=4",
                    "",
                    "",
                    "住宿服务;宾馆酒店;经济型连锁酒店",
                    "",
                ],
            }
        )
    )
    assert out["function"].tolist() == ["hotel"] * 5 + ["retail"]
    assert out["hotel_grade"].tolist()[:4] == [3, 4, 5, 4]
    assert out["hotel_grade"].isna().tolist()[4:] == [True, True]


# --- overrides ---------------------------------------------------------------------------------


def test_toml_override(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[codes.gbt4754]\n"7294" = { sector = "publishing_news" }\n'
        '[keywords]\n"众创空间" = { sector = "creative_services_other", priority = 99 }\n'
        '[amap_types]\n"公司企业;公司;广告装饰" = { sector = "advertising_marketing" }\n',
        encoding="utf-8",
    )
    frame = _frame(
        name=["宁波翻译服务有限公司", "宁波众创空间", "宁波佳艺有限公司"],
        code=["7294", "", ""],
        category=["", "", "公司企业;公司;广告装饰"],
    )
    shipped = classify_establishments(frame)
    mine = classify_establishments(frame, taxonomy=path)
    assert shipped["sector"].tolist() == ["", "", ""]
    assert mine["sector"].tolist() == [
        "publishing_news",
        "creative_services_other",
        "advertising_marketing",
    ]


def test_csv_override(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "table,key,sector,function,priority\nkeywords,碧桂园,,residential,60\n", encoding="utf-8"
    )
    out = classify_establishments(_frame(name=["宁波碧桂园"]), taxonomy=path)
    assert out["function"].tolist() == ["residential"]


@pytest.mark.parametrize(
    ("text", "suffix", "match"),
    [
        ('[keywords]\n"x" = { sector = "fashion" }\n', ".toml", "unknown sector"),
        ('[keywords]\n"x" = { function = "shops" }\n', ".toml", "unknown sector id.*or function"),
        ('[planets]\n"x" = { function = "hotel" }\n', ".toml", "unknown table"),
        ("not toml = = =", ".toml", "not valid TOML"),
        ("table,key\n", ".json", "unsupported suffix"),
        ("tab,k\nkeywords,x\n", ".csv", "needs columns table,key"),
        ('[keywords]\n"x" = { function = "hotel", priority = "high" }\n', ".toml", "priority"),
    ],
)
def test_bad_override_files(tmp_path: Path, text: str, suffix: str, match: str) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=match):
        classify_establishments(_frame(name=["x"]), taxonomy=path)


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        classify_establishments(_frame(name=["x"]), taxonomy=tmp_path / "nope.toml")


# --- errors ------------------------------------------------------------------------------------


def test_bad_code_system() -> None:
    with pytest.raises(InvalidInputError, match="code_system='sic'"):
        classify_establishments(_frame(name=["x"]), code_system="sic")


def test_no_usable_columns() -> None:
    with pytest.raises(InvalidInputError, match="none of the columns code, typecode"):
        classify_establishments(pd.DataFrame({"lon": [1.0], "lat": [2.0]}))


def test_not_a_frame() -> None:
    with pytest.raises(InvalidInputError, match="expected a \\(Geo\\)DataFrame"):
        classify_establishments(["宁波博物馆"])  # type: ignore[arg-type]


# --- real Ningbo OSM layers (read-only shared data) ---------------------------------------------

NINGBO_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "ningbo" / "osm"


@pytest.mark.parametrize(("layer", "function"), [("hospitals", "health"), ("schools", "education")])
def test_real_ningbo_osm_layers(layer: str, function: str) -> None:
    path = NINGBO_OSM / f"ningbo_osm_{layer}.geojson"
    if not path.exists():
        pytest.skip(f"shared Ningbo data not available at {path}")
    gdf = gpd.read_file(path).rename(columns={"osm_query_tags": "osm_tags"})
    out = classify_establishments(gdf)
    assert len(out) >= 90
    assert (out["function"] == function).all()
    # the names alone (no tags) still say hospital / school for nearly all of them
    by_name = classify_establishments(gdf[["name"]])
    share = (by_name["function"] == function).mean()
    print(
        f"\n{layer}: {len(gdf)} real OSM features, {share:.3f} classified {function} from the name alone"
    )
    assert share >= 0.9


# --- the synthetic Ningbo catalogue ------------------------------------------------------------


def test_synthetic_ningbo_catalogue_agrees() -> None:
    catalogue = pytest.importorskip("clusterscape.datasets._catalogue")
    rows = []
    for function, spec in catalogue.FUNCTIONS.items():
        for i, template in enumerate(spec.templates):
            brand = catalogue.BRAND_WORDS[i % len(catalogue.BRAND_WORDS)]
            rows.append(
                (
                    brand + template.name_suffix,
                    template.category,
                    template.code,
                    function,
                    template.sector_hint,
                    np.nan,
                )
            )
    for grade, _, category, suffix, _ in catalogue.HOTEL_GRADES:
        rows.append(("宁波" + suffix, category, "", "hotel", "", grade))
    frame = pd.DataFrame(rows, columns=["name", "category", "code", "function", "sector", "grade"])
    out = classify_establishments(frame[["name", "category", "code"]])
    assert out["function"].tolist() == frame["function"].tolist()
    assert out["sector"].tolist() == frame["sector"].tolist()
    graded = frame["grade"].notna()
    assert (
        out.loc[graded, "hotel_grade"].tolist() == frame.loc[graded, "grade"].astype(int).tolist()
    )


# --- CLI ---------------------------------------------------------------------------------------


def _write_points(path: Path) -> None:
    path.write_text(
        "id,name,category,code,lon,lat\n"
        "1,宁波香格里拉大酒店,住宿服务;宾馆酒店;五星级宾馆,,121.55,29.87\n"
        "2,宁波八方广告有限公司,公司企业;公司;公司,7259,121.56,29.88\n"
        "3,宁波天一广场购物中心,购物服务;商场;购物中心,,121.557,29.872\n"
        "4,宁波酒店用品批发部,,,121.54,29.86\n",
        encoding="utf-8",
    )


def test_cli_classify(tmp_path: Path) -> None:
    from clusterscape.cli import app

    src = tmp_path / "firms.csv"
    _write_points(src)
    out = tmp_path / "classified.gpkg"
    result = CliRunner().invoke(app, ["classify", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "by creative sector" in result.output
    assert "advertising_marketing" in result.output
    assert "mall" in result.output
    back = gpd.read_file(out)
    assert back["function"].tolist() == ["hotel", "creative", "mall", "retail"]
    assert back["hotel_grade"].tolist()[0] == 5


def test_cli_classify_errors(tmp_path: Path) -> None:
    from clusterscape.cli import app

    src = tmp_path / "firms.csv"
    _write_points(src)
    result = CliRunner().invoke(app, ["classify", str(src), "--code-system", "sic"])
    assert result.exit_code == 1
    assert "code_system='sic'" in result.output
    result = CliRunner().invoke(app, ["classify", str(src), "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 1
    assert "unsupported suffix" in result.output


def test_cli_classify_subprocess(tmp_path: Path) -> None:
    src = tmp_path / "firms.csv"
    _write_points(src)
    out = tmp_path / "classified.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "clusterscape.cli", "classify", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert table["sector"].tolist() == ["", "advertising_marketing", "", ""]
    assert table["rule"].tolist()[3] == "keyword:酒店用品"
