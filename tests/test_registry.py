"""Enterprise registry exports: credit codes, status, capital, industry codes, scope classification."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clusterscape.io import read_establishments
from clusterscape.io._registry import (
    CAPITAL_RATES,
    admin_code_districts,
    parse_capital,
    parse_industry_code,
    parse_status,
    uscc_check_digit,
    uscc_problem,
)
from clusterscape.taxonomy import classify_establishments

DATA = Path(__file__).parent / "data"

# Published credit codes of large firms (Huawei, Tencent, Alibaba, ...) and the GB 32100-2015
# example; each check digit computed independently of the code under test by the registries.
VALID = [
    "914403001922038216",
    "91440300708461136T",
    "91330100716105852F",
    "9144030071526726XG",
    "91110000100006485K",
    "91310000132200821H",
    "91350100M000100Y43",
]


@pytest.mark.parametrize("code", VALID)
def test_valid_credit_codes(code: str) -> None:
    assert uscc_problem(code) == ""


@pytest.mark.parametrize("code", VALID)
def test_every_single_character_change_is_caught(code: str) -> None:
    # a weighted mod-31 check catches every single substitution
    for i in range(18):
        for ch in "0A9Y":
            if ch == code[i]:
                continue
            bad = code[:i] + ch + code[i + 1 :]
            if i in range(2, 8) and not ch.isdigit():
                assert "administrative" in uscc_problem(bad)
            else:
                assert uscc_problem(bad), bad


def test_check_digit_by_hand() -> None:
    # weights 3^i mod 31: 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
    code = "91350100M000100Y4"
    values = [int(c) if c.isdigit() else "0123456789ABCDEFGHJKLMNPQRTUWXY".index(c) for c in code]
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(v * w for v, w in zip(values, weights, strict=True))
    assert uscc_check_digit(code) == "0123456789ABCDEFGHJKLMNPQRTUWXY"[(31 - total % 31) % 31]


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91350100M000100Y44", "check digit"),
        ("91350100M000100Y4", "17 characters"),
        ("91350100M000100YI3", "alphabet"),
        ("330203000012345", "15-digit registration number"),
        ("9135AB00M000100Y43", "administrative code"),
    ],
)
def test_invalid_credit_codes(code: str, why: str) -> None:
    assert why in uscc_problem(code)


@pytest.mark.parametrize(
    ("text", "amount", "currency", "cny"),
    [
        ("500万元人民币", 5e6, "CNY", 5e6),
        ("3.5亿元", 3.5e8, "CNY", 3.5e8),
        ("20万美元", 2e5, "USD", 2e5 * 7.1884),
        ("100万(元)", 1e6, "CNY", 1e6),
        ("1,000万人民币", 1e7, "CNY", 1e7),
        ("50万港元", 5e5, "HKD", 5e5 * 0.92604),
        ("１２０万元", 1.2e6, "CNY", 1.2e6),
        ("美元 30万", 3e5, "USD", 3e5 * 7.1884),
        ("10万欧元", 1e5, "EUR", 1e5 * 7.5257),
        ("8000万日元", 8e7, "JPY", 8e7 * 0.046233),
        ("35.5万", 3.55e5, "CNY", 3.55e5),
    ],
)
def test_capital_table(text: str, amount: float, currency: str, cny: float) -> None:
    got = parse_capital(text)
    assert got.amount == pytest.approx(amount)
    assert got.currency == currency
    assert got.cny == pytest.approx(cny, abs=0.01)
    assert got.note == ""


@pytest.mark.parametrize("text", ["若干", "500万元或300万美元", "abc万"])
def test_capital_unreadable(text: str) -> None:
    got = parse_capital(text)
    assert got.cny is None and got.amount is None and got.note


def test_capital_header_unit_and_unknown_currency() -> None:
    assert parse_capital("500", unit=1e4).cny == 5e6
    got = parse_capital("100万美元", rates={"CNY": 1.0})
    assert got.amount == 1e6 and got.currency == "USD" and got.cny is None and "no rate" in got.note
    assert set(CAPITAL_RATES) >= {"CNY", "USD", "HKD", "EUR", "JPY", "GBP"}


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("存续（在营、开业、在册）", "active"),
        ("在业", "active"),
        ("开业", "active"),
        ("注销", "deregistered"),
        ("吊销，未注销", "revoked"),
        ("吊销，已注销", "deregistered"),
        ("吊销", "revoked"),
        ("迁出", "moved_out"),
        ("停业", "suspended"),
        ("歇业", "suspended"),
        ("撤销", "cancelled"),
        ("清算", "liquidating"),
        ("火星", None),
    ],
)
def test_status(text: str, status: str | None) -> None:
    assert parse_status(text) == status


@pytest.mark.parametrize(
    ("text", "code", "noted"),
    [
        ("C3919 其他计算机制造", "C3919", False),
        ("I6513", "I6513", False),
        ("R8710", "R8710", False),
        ("7491工业设计服务", "7491", False),
        ("C6513", "6513", True),  # 65 is in section I, not C
        ("软件开发", "", False),
        ("7491", "", False),  # a bare number is left as it is
    ],
)
def test_industry_code(text: str, code: str, noted: bool) -> None:
    got, note = parse_industry_code(text)
    assert got == code
    assert bool(note) == noted


def test_admin_codes_match_the_shipped_boundaries() -> None:
    from clusterscape.datasets import ningbo_boundaries

    _, districts = ningbo_boundaries()
    shipped = dict(zip(districts["adcode"], districts["name_zh"], strict=True))
    table = admin_code_districts()
    for code, name in shipped.items():
        assert table[code][0] == name


HEADER = "企业名称,统一社会信用代码,登记状态,注册资本,成立日期,注销日期,吊销日期,经营范围,国标行业,所属区县,经度,纬度\n"


def _registry_file(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "registry.csv"
    p.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8-sig")
    return p


def test_read_registry_export(tmp_path: Path) -> None:
    c_haishu = "91330203" + "MA2H00001"
    c_haishu += uscc_check_digit(c_haishu) or ""
    c_hz = "91330106" + "MA2H00002"
    c_hz += uscc_check_digit(c_hz) or ""
    rows = [
        f"甬江设计有限公司,{c_haishu},存续（在营、开业、在册）,500万元人民币,2015-03-01,,,工业设计,M7491 工业设计服务,海曙区,121.55,29.87",
        f"乙贸易有限公司,{c_hz},注销,20万美元,2010-01-01,2019-05-01,,日用百货销售,,江北区,121.56,29.88",
        "丙科技有限公司,91350100M000100Y44,吊销，未注销,3.5亿元,2012,,2018-02-02,软件开发,,北仑区,121.57,29.89",
        "丁,,注销,若干,2001,,,,,,121.58,29.90",
        "戊,,火星,-,2001,,,,,,121.59,29.91",
    ]
    res = read_establishments(_registry_file(tmp_path, rows))
    est = res.establishments
    assert len(est) == 5 and res.n_rows == 5
    assert est["id"].tolist()[:3] == [c_haishu, c_hz, "91350100M000100Y44"]  # uscc serves as id
    assert est["uscc"].tolist()[:3] == [c_haishu, c_hz, "91350100M000100Y44"]
    assert est["status"].tolist()[:4] == ["active", "deregistered", "revoked", "deregistered"]
    assert pd.isna(est["status"].iloc[4]) and est["status_raw"].iloc[4] == "火星"
    assert est["closed"].tolist()[:3] == [pd.NA, 2019, 2018]  # revoked: from 吊销日期
    assert est["capital_cny"].iloc[0] == 5e6
    assert est["capital_cny"].iloc[1] == pytest.approx(2e5 * CAPITAL_RATES["USD"])
    assert est["capital"].iloc[1] == 2e5 and est["capital_currency"].iloc[1] == "USD"
    assert pd.isna(est["capital_cny"].iloc[3]) and pd.isna(est["capital_cny"].iloc[4])
    assert est["code"].iloc[0] == "M7491"
    assert est["scope"].iloc[2] == "软件开发"
    notes = res.notes
    by = {(int(r.row), str(r.field)): str(r.note) for r in notes.itertuples()}
    assert "杭州市" in by[(2, "uscc")] and "江北区" in by[(2, "uscc")]  # district disagrees
    assert (1, "uscc") not in by  # 330203 is 海曙区
    assert "check digit" in by[(3, "uscc")]  # invalid: kept, noted
    assert "no closing date" in by[(4, "closed")]
    assert "not an amount" in by[(4, "capital")]
    assert "not recognised" in by[(5, "status")]
    assert (5, "capital") not in by  # '-' is blank, not an error


def test_registry_with_its_own_id_keeps_uscc_apart(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text(
        "编号,企业名称,统一社会信用代码,经度,纬度\nA1,甲,914403001922038216,121.5,29.8\n",
        encoding="utf-8",
    )
    est = read_establishments(p).establishments
    assert est["id"].tolist() == ["A1"]
    assert est["uscc"].tolist() == ["914403001922038216"]
    assert "统一社会信用代码" not in est.columns


def test_district_from_address_and_city_codes(tmp_path: Path) -> None:
    city = "91330200" + "MA2H00003"
    city += uscc_check_digit(city) or ""
    merged = "91330204" + "MA2H00004"  # 江东区, merged into 鄞州区 in 2016
    merged += uscc_check_digit(merged) or ""
    other = "91330204" + "MA2H00005"
    other += uscc_check_digit(other) or ""
    p = tmp_path / "r.csv"
    p.write_text(
        "企业名称,统一社会信用代码,地址,经度,纬度\n"
        f"甲,{city},浙江省宁波市北仑区新碶街道1号,121.8,29.9\n"
        f"乙,{merged},宁波市鄞州区中山东路1号,121.6,29.86\n"
        f"丙,{other},宁波市镇海区骆驼街道,121.6,29.95\n",
        encoding="utf-8",
    )
    res = read_establishments(p)
    assert res.notes["row"].tolist() == [3]
    assert "鄞州区" in res.notes["note"].iloc[0] and "镇海区" in res.notes["note"].iloc[0]


def test_plain_tables_are_unchanged(tmp_path: Path) -> None:
    p = tmp_path / "plain.csv"
    p.write_text("name,code,lon,lat\nA,7491,121.5,29.8\nB,73.11,121.6,29.9\n", encoding="utf-8")
    est = read_establishments(p).establishments
    assert est["code"].tolist() == ["7491", "73.11"]
    assert not {"uscc", "status", "capital_cny", "scope"} & set(est.columns)


def test_scope_classification_labelled_set() -> None:
    """44 labelled business scopes (22 creative): recall >= 0.9 and precision >= 0.95.

    Measured: recall 21/22 (演出/文艺表演 is not a creative keyword), precision 21/21.
    """
    data = pd.read_csv(DATA / "registry_scopes.csv")
    assert len(data) >= 40
    frame = pd.DataFrame({"name": ["宁波甬华科技有限公司"] * len(data), "scope": data["scope"]})
    out = classify_establishments(frame)
    pred = out["is_creative"].to_numpy()
    truth = data["creative"].to_numpy(dtype=bool)
    tp = int((pred & truth).sum())
    assert tp / truth.sum() >= 0.9
    assert tp / pred.sum() >= 0.95
    assert out["rule"].str.startswith("scope:keyword:").sum() >= 40


def test_scope_only_where_code_and_name_are_silent() -> None:
    frame = pd.DataFrame(
        {
            "name": ["宁波甬华科技有限公司", "宁波甬华广告有限公司", "宁波甬华科技有限公司"],
            "code": ["", "", "5211"],
            "scope": ["软件开发；日用百货销售", "餐饮服务", "软件开发"],
        }
    )
    out = classify_establishments(frame)
    assert out["rule"].tolist()[:2] == ["scope:keyword:软件", "keyword:广告"]
    assert out["rule"].iloc[2].startswith("gbt4754:")
    # the first item that names a keyword decides, not the strongest anywhere
    first = classify_establishments(
        pd.DataFrame({"name": ["甲"], "scope": ["日用百货销售；软件开发"]})
    )
    assert first["is_creative"].tolist() == [False]


def test_vectorised_check_agrees_with_the_reference() -> None:
    import numpy as np

    from clusterscape.io._registry import _uscc_valid

    rng = np.random.default_rng(0)
    alphabet = [*"0123456789ABCDEFGHJKLMNPQRTUWXY", "I", "O", "Z"]
    codes = [*VALID, None, "", "91350100M000100Y4"]
    for code in VALID:  # one change anywhere
        for _ in range(30):
            i = int(rng.integers(18))
            codes.append(code[:i] + str(rng.choice(alphabet)) + code[i + 1 :])
    got = _uscc_valid(np.array(codes, dtype=object))
    want = [bool(c) and uscc_problem(c) == "" for c in codes]
    assert got.tolist() == want
    assert sum(want) > len(VALID)  # some changes hit the same character
