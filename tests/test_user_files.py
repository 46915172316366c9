"""Messy real-world user files (Amap/Baidu exports, Excel, GeoJSON, broken CSVs) end to end.

Tests pin behaviour that works; the last section holds regressions of bugs found by QA.
Every file is made in ``tmp_path``; nothing needs the network.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import clusterscape as cs
from clusterscape.cli import _STATE, app

runner = CliRunner()

HEADER = "编号,名称,类型,经度,纬度,成立日期,注销日期,从业人员\n"
MESSY_ROWS = [
    "1,甲广告设计有限公司,公司企业,121.55,29.87,2015-03-01,,10",
    "2,乙,公司企业,0,0,2015/3/1,,5",  # 0/0 placeholder
    "3,丙,公司企业,,,2015年3月,,5",  # empty coordinates
    "4,丁,公司企业,N/A,N/A,20150301,,5",  # N/A coordinates
    "5,戊,公司企业,121.56,29.88,2015,2010,5",  # closed before opened
    "6,己,公司企业,121.57,29.88,2015,,-3",  # negative employees
    "1,辛,公司企业,121.58,29.89,2015,,3",  # duplicate id (kept as "1#7", noted)
    "8,壬,公司企业,121.58,29.90,2015/3/1,,abc",  # non-numeric employees
    "9,癸,公司企业,121.58,29.90,1/3/15,,2",  # unreadable date
    "10,子,公司企业,29.90,121.58,2015年3月,,2",  # one swapped row: latitude out of range
    "11,丑,公司企业,121.58E,29.90N,20150301,,2",  # text in coordinates
    "12,寅,公司企业,１２１.５８,２９.９０,2015,,2",  # full-width digits (accepted)
]
EXPECTED_REASONS = {
    2: "placeholder coordinates",
    3: "missing coordinates",
    4: "missing coordinates",
    10: "latitude out of range",
    11: "non-numeric coordinates",
}
# Since issue 19 (a field costs a field, not a firm) these rows are kept with the field blank
# and noted; they used to be rejected.
# A duplicate id (row 7) costs the id, not the firm: it used to be rejected.
EXPECTED_NOTES = {5: "closed", 6: "employees", 7: "id", 8: "employees", 9: "opened"}


@pytest.fixture(autouse=True)
def _reset_debug() -> None:
    _STATE["debug"] = False


# ---------------------------------------------------------------------------------------------
# An independent textbook WGS-84 -> GCJ-02 -> BD-09 implementation (not the package's code)
# ---------------------------------------------------------------------------------------------

_A, _EE = 6378245.0, 0.00669342162296594323


def _tlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _tlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def _wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    dlat, dlon = _tlat(lon - 105.0, lat - 35.0), _tlon(lon - 105.0, lat - 35.0)
    rl = lat / 180.0 * math.pi
    m = 1 - _EE * math.sin(rl) ** 2
    s = math.sqrt(m)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (m * s) * math.pi)
    dlon = (dlon * 180.0) / (_A / s * math.cos(rl) * math.pi)
    return lon + dlon, lat + dlat


def _gcj_to_bd(lon: float, lat: float) -> tuple[float, float]:
    xp = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * xp)
    t = math.atan2(lat, lon) + 0.000003 * math.cos(lon * xp)
    return z * math.cos(t) + 0.0065, z * math.sin(t) + 0.006


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    return np.hypot((lon1 - lon2) * 111_320 * math.cos(math.radians(29.9)), (lat1 - lat2) * 110_570)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _truth(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "编号": [f"B{i:04d}" for i in range(n)],
            "名称": [f"店{i}广告设计有限公司" for i in range(n)],
            "lon": 121.40 + rng.random(n) * 0.35,
            "lat": 29.75 + rng.random(n) * 0.25,
        }
    )


def _study_frame(seed: int = 0) -> pd.DataFrame:
    """650 firms in WGS-84: two planted creative clusters, scattered creative, hotels, malls."""
    rng = np.random.default_rng(seed)
    rows = []
    for ci, (cx, cy) in enumerate([(121.55, 29.87), (121.60, 29.90)]):
        for i in range(80):
            rows.append(
                (
                    f"C{ci}{i:03d}广告设计有限公司",
                    "公司企业;公司;广告装饰",
                    cx + rng.normal(0, 0.002),
                    cy + rng.normal(0, 0.002),
                )
            )

    def scatter() -> tuple[float, float]:
        return 121.45 + rng.random() * 0.25, 29.80 + rng.random() * 0.15

    for i in range(60):
        rows.append((f"散{i}文化传媒有限公司", "公司企业;公司;广告装饰", *scatter()))
    for i in range(30):
        rows.append((f"H{i}酒店", "住宿服务;宾馆酒店;四星级宾馆", *scatter()))
    for i in range(20):
        rows.append((f"M{i}购物中心", "购物服务;商场;购物中心", *scatter()))
    while len(rows) < 650:
        rows.append((f"店{len(rows)}餐厅", "餐饮服务;中餐厅;中餐厅", *scatter()))
    frame = pd.DataFrame(rows, columns=["名称", "类型", "经度", "纬度"])
    frame.insert(0, "编号", [f"B{i:05d}" for i in range(len(frame))])
    years = rng.integers(2005, 2021, len(frame))
    forms = rng.integers(0, 4, len(frame))
    frame["成立日期"] = [
        (f"{y}-03-01", f"{y}/3/1", f"{y}年3月", f"{y}0301")[k]
        for y, k in zip(years, forms, strict=True)
    ]
    frame["从业人员"] = rng.integers(1, 200, len(frame))
    return frame


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    """statsmodels warns on tiny effect regressions; pytest's filterwarnings makes that an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _one_line_error(result: object, *needles: str) -> None:
    out = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, out  # type: ignore[attr-defined]
    assert "Traceback" not in out
    assert "error:" in out
    for needle in needles:
        assert needle in out, out


# ---------------------------------------------------------------------------------------------
# Behaviour that works: datums
# ---------------------------------------------------------------------------------------------


def test_amap_gbk_export_with_chinese_headers_is_converted_to_true_wgs84(tmp_path: Path) -> None:
    t = _truth()
    gcj = np.array([_wgs_to_gcj(x, y) for x, y in zip(t.lon, t.lat, strict=True)])
    frame = pd.DataFrame(
        {
            "名称": t["名称"],
            "类型": "公司企业;公司;广告装饰",
            "地址": "宁波市鄞州区某路1号",
            "经度": gcj[:, 0].round(7),
            "纬度": gcj[:, 1].round(7),
            "电话": "0574-88880000",
            "编号": t["编号"],
        }
    )
    path = tmp_path / "高德 导出.csv"
    path.write_bytes(frame.to_csv(index=False, lineterminator="\r\n").encode("gbk"))
    res = cs.read_establishments(path, datum="gcj02")
    est = res.establishments.set_index("id").loc[t["编号"]]
    assert len(res.rejected) == 0 and res.n_rows == len(t)
    err = _metres(est.geometry.x.to_numpy(), est.geometry.y.to_numpy(), t.lon, t.lat)
    assert err.max() < 0.5  # GCJ-02 is ~500 m off; the inverse must land on the true point
    assert est["电话"].iloc[0] == "0574-88880000"  # other columns kept as text


def test_baidu_bd09_export_is_converted_and_wrong_datum_is_noted(tmp_path: Path) -> None:
    t = _truth(seed=1)
    bd = np.array([_gcj_to_bd(*_wgs_to_gcj(x, y)) for x, y in zip(t.lon, t.lat, strict=True)])
    frame = pd.DataFrame(
        {"uid": t["编号"], "name": t["名称"], "bd_lng": bd[:, 0], "bd_lat": bd[:, 1]}
    )
    path = tmp_path / "baidu.csv"
    frame.to_csv(path, index=False)
    res = cs.read_establishments(path, datum="bd09")
    est = res.establishments
    err = _metres(est.geometry.x.to_numpy(), est.geometry.y.to_numpy(), t.lon, t.lat)
    assert err.max() < 0.5
    wrong = cs.read_establishments(path)  # read as WGS-84 by mistake: a note says so
    assert any("BD09" in n for n in wrong.messages)


def test_projected_gpkg_is_honoured(tmp_path: Path) -> None:
    import geopandas as gpd

    t = _truth(50)
    gdf = gpd.GeoDataFrame(
        t.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(t.lon, t.lat), crs=4326
    ).to_crs(32651)
    path = tmp_path / "utm.gpkg"
    gdf.to_file(path)
    res = cs.read_establishments(path)
    assert res.source_crs == "EPSG:32651"
    assert np.abs(res.establishments.geometry.x.to_numpy() - t.lon.to_numpy()).max() < 1e-9


# ---------------------------------------------------------------------------------------------
# Behaviour that works: messy rows are rejected one by one with a reason
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_messy_rows_are_rejected_with_reasons(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "messy.csv"
    path.write_bytes((HEADER + "\n".join(MESSY_ROWS) + "\n").replace("\n", newline).encode("gbk"))
    res = cs.read_establishments(path)
    reasons = dict(zip(res.rejected["row"], res.rejected["reason"], strict=True))
    assert set(reasons) == set(EXPECTED_REASONS)
    for row, kind in EXPECTED_REASONS.items():
        assert reasons[row].startswith(kind), (row, reasons[row])
    notes = res.notes.set_index("row")
    assert notes.loc[7, "note"] == "duplicate id: '1' is already used by row 1; kept as '1#7'"
    assert res.n_rows == len(MESSY_ROWS) == len(res.establishments) + len(res.rejected)
    assert res.establishments["id"].tolist() == ["1", "5", "6", "1#7", "8", "9", "12"]
    assert res.establishments["opened"].tolist()[:5] == [2015] * 5
    assert pd.isna(res.establishments["opened"].iloc[5])  # '1/3/15': two-digit year
    assert dict(zip(res.notes["row"], res.notes["field"], strict=True)) == EXPECTED_NOTES


def test_mixed_date_formats_all_read_as_years(tmp_path: Path) -> None:
    dates = ["2015-03-01", "2015/3/1", "2015年3月", "20150301", "2015", "3/1/2015", "2015.0"]
    text = "名称,经度,纬度,成立日期\n" + "".join(
        f"x{i},121.55,29.87,{d}\n" for i, d in enumerate(dates)
    )
    path = tmp_path / "dates.csv"
    path.write_text(text, encoding="utf-8")
    res = cs.read_establishments(path)
    assert len(res.rejected) == 0
    assert res.establishments["opened"].tolist() == [2015] * len(dates)


def test_validate_cli_writes_rejected_csv_for_messy_file(tmp_path: Path) -> None:
    path = tmp_path / "带 空格 目录" / "企业 名录.csv"
    path.parent.mkdir()
    path.write_bytes((HEADER + "\n".join(MESSY_ROWS) + "\n").encode("gbk"))
    out = tmp_path / "checked"
    result = runner.invoke(app, ["validate", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rejected = pd.read_csv(out / "rejected.csv")
    assert list(rejected.columns) == ["row", "id", "reason"]
    assert sorted(rejected["row"]) == sorted(EXPECTED_REASONS)
    notes = pd.read_csv(out / "notes.csv")
    assert list(notes.columns) == ["row", "id", "field", "value", "note"]
    assert sorted(notes["row"]) == sorted(EXPECTED_NOTES)


def test_title_row_in_csv_and_excel_is_skipped(tmp_path: Path) -> None:
    csv_path = tmp_path / "title.csv"
    csv_path.write_text(
        "宁波市文创企业名录,,,\n名称,类型,经度,纬度\n甲,公司,121.55,29.87\n乙,公司,N/A,29.88\n",
        encoding="utf-8",
    )
    res = cs.read_establishments(csv_path)
    assert len(res.establishments) == 1 and res.rejected["row"].tolist() == [2]
    assert any("line 2" in n for n in res.messages)

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["宁波市文创企业名录（2023）"])
    ws.merge_cells("A1:E1")
    ws.append(["名称", "类型", "经度", "纬度", "成立日期"])
    ws.append(["甲广告设计有限公司", "公司企业", 121.55, 29.87, datetime.datetime(2015, 3, 1)])
    ws.append(["乙", "公司企业", 121.56, 29.88, "2015年3月"])
    ws.append(["丙", "公司企业", "N/A", 29.88, 2015])
    xlsx = tmp_path / "title.xlsx"
    wb.save(xlsx)
    res = cs.read_establishments(xlsx)
    assert res.establishments["opened"].tolist() == [2015, 2015]
    assert res.rejected["reason"].tolist() == ["missing coordinates: longitude is empty"]


def test_geojson_null_and_empty_geometries_are_rejected(tmp_path: Path) -> None:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "甲"},
                "geometry": {"type": "Point", "coordinates": [121.55, 29.87]},
            },
            {"type": "Feature", "properties": {"name": "乙"}, "geometry": None},
            {
                "type": "Feature",
                "properties": {"name": "丙"},
                "geometry": {"type": "Point", "coordinates": [0, 0]},
            },
        ],
    }
    path = tmp_path / "pois.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    res = cs.read_establishments(path)
    assert len(res.establishments) == 1
    assert res.rejected["reason"].tolist() == [
        "missing coordinates: the feature has no geometry",
        "placeholder coordinates: longitude and latitude are 0/0",
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_bom_files_are_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes((HEADER + MESSY_ROWS[0] + "\n").encode(encoding))
    res = cs.read_establishments(path)
    assert res.establishments["name"].tolist() == ["甲广告设计有限公司"]


def test_semicolon_file_with_decimal_commas_reads_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("编号;名称;经度;纬度\n1;甲;121,55;29,87\n2;乙;121,56;29,88\n", encoding="utf-8")
    res = cs.read_establishments(path)
    assert res.establishments.geometry.x.round(6).tolist() == [121.55, 121.56]


def test_header_only_file_gives_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER, encoding="utf-8")
    res = cs.read_establishments(path)
    assert res.n_rows == 0 and len(res.establishments) == 0 and len(res.rejected) == 0


# ---------------------------------------------------------------------------------------------
# Behaviour that works: unreadable inputs give one red line and exit code 1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.csv", b"", "is empty"),
        ("binary.csv", bytes(range(256)) * 40, "holds NUL bytes but is not UTF-16 text"),
        ("broken.geojson", b'{"type":"FeatureCollection","features":[{"type":', "cannot read"),
        ("firms.xls.txt.doc", b"x", "unsupported file type"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "classify", "detect"])
def test_unreadable_files_fail_with_one_line(
    tmp_path: Path, name: str, content: bytes, needle: str, command: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(app, [command, str(path), "--out", str(tmp_path / "o.parquet")])
    _one_line_error(result, name, needle)


def test_directory_and_missing_file_fail_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "firms.csv"
    folder.mkdir()
    _one_line_error(runner.invoke(app, ["validate", str(folder)]), "is a directory")
    missing = tmp_path / "没有 这个.csv"
    result = runner.invoke(app, ["run", "-e", str(missing), "--out", str(tmp_path / "o"), "-q"])
    _one_line_error(result, "没有 这个.csv", "does not exist")
    assert not (tmp_path / "o").exists()


def test_swapped_lat_lon_file_fails_with_fix(tmp_path: Path) -> None:
    t = _truth(20)
    path = tmp_path / "swapped.csv"
    pd.DataFrame({"名称": t["名称"], "经度": t.lat, "纬度": t.lon}).to_csv(path, index=False)
    result = runner.invoke(app, ["validate", str(path), "--out", str(tmp_path)])
    _one_line_error(result, "swapped.csv", "look swapped", "--columns lon=纬度,lat=经度")


def test_duplicate_headers_fail_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("名称,经度,纬度,名称\n甲,121.55,29.87,x\n", encoding="utf-8")
    _one_line_error(runner.invoke(app, ["validate", str(path)]), "duplicate column names")


def test_run_with_header_only_file_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER, encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "-e", str(path), "--out", str(out), "-q"])
    _one_line_error(result, "no usable rows")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Behaviour that works: classify, detect, serve
# ---------------------------------------------------------------------------------------------


def test_classify_and_detect_amap_style_file(tmp_path: Path) -> None:
    path = tmp_path / "amap.csv"
    path.write_bytes(_study_frame().to_csv(index=False).encode("gbk"))
    out = tmp_path / "firms_classified.parquet"
    result = runner.invoke(app, ["classify", str(path), "--datum", "gcj02", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "hotels with a known grade: 4★ 30" in result.output
    import geopandas as gpd

    est = gpd.read_parquet(out)
    assert int(est["is_creative"].sum()) == 220
    assert (est.loc[est["name"].str.endswith("购物中心"), "function"] == "mall").all()
    result = runner.invoke(app, ["detect", str(out), "--out", str(tmp_path / "det")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("220 establishments")
    clusters = pd.read_csv(tmp_path / "det" / "clusters.csv")
    assert len(clusters) >= 2


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("study")
    path = base / "高德 firms.csv"
    path.write_bytes(_study_frame().to_csv(index=False).encode("gbk"))
    out = base / "out dir"
    config = base / "study.toml"
    config.write_text("[measure]\nnsim = 19\n", encoding="utf-8")  # keep the run short
    with _quiet_warnings():
        result = runner.invoke(
            app,
            [
                *("run", "-e", str(path), "--datum", "gcj02", "--config", str(config)),
                "--out",
                str(out),
                "-q",
            ],
        )
    assert result.exit_code == 0, result.output
    return out


def test_run_counts_and_outputs(study_dir: Path) -> None:
    summary = json.loads((study_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["synthetic"] is False
    assert summary["input"]["source"].endswith("高德 firms.csv")
    assert {k: v for k, v in summary["input"].items() if k != "source"} == {
        "n_rows": 650,
        "n_accepted": 650,
        "n_rejected": 0,
        "n_noted": 0,  # issue 19: field notes, exact duplicates and file-level messages
        "duplicates": 0,
        "n_merged": 0,  # rows merged as duplicates of another (duplicates.csv)
        "n_analysed": 650,  # accepted rows less the merged ones
        "messages": ["read as GB18030 (GBK) text"],
    }
    assert summary["crs"]["source"] == "gcj02"
    assert summary["classify"]["n_creative"] == 220
    for name in (
        "clusters.csv",
        "results.gpkg",
        "report.html",
        "rejected.csv",
        "notes.csv",
        "duplicates.csv",
    ):
        assert (study_dir / name).exists()
    assert not list(study_dir.parent.glob(f".{study_dir.name}.tmp-*"))


def test_serve_api_and_path_tricks(study_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from clusterscape.web import create_app

    # The dashboard answers only host names it serves (DNS rebinding); TestClient's default
    # "testserver" is not one of them.
    client = TestClient(create_app(study_dir), base_url="http://127.0.0.1")
    assert client.get("/api/summary").json()["input"]["n_accepted"] == 650
    assert isinstance(client.get("/api/clusters").json(), list)
    layers = client.get("/api/layers").json()
    assert "clusters" in layers
    for url in (
        "/api/layers/..%2f..%2fetc%2fpasswd",
        "/api/layers/%2e%2e%2fsummary.json",
        "/figures/..%2fsummary.json",
        "/figures/..%5creport.html",
        "/api/layers/results.gpkg",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "root:" not in response.text


# ---------------------------------------------------------------------------------------------
# Regressions of bugs found by QA
# ---------------------------------------------------------------------------------------------


def test_excel_two_level_header_with_coordinate_group(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["基本信息", None, None, "坐标", None, "其他"])
    ws.merge_cells("A1:C1")
    ws.merge_cells("D1:E1")
    ws.append(["名称", "类型", "地址", "经度", "纬度", "成立日期"])
    ws.append(["甲广告设计有限公司", "公司企业", "某路", 121.55, 29.87, 2015])
    ws.append(["乙", "公司企业", "某路", 121.56, 29.88, 2016])
    path = tmp_path / "merged.xlsx"
    wb.save(path)
    res = cs.read_establishments(path)
    assert len(res.establishments) == 2


def test_blank_location_cell_reason(tmp_path: Path) -> None:
    path = tmp_path / "amap_location.csv"
    path.write_text(
        'name,location,typecode\n甲,"121.55,29.87",170200\n乙,,170200\n', encoding="utf-8"
    )
    res = cs.read_establishments(path, datum="gcj02")
    reason = res.rejected["reason"].iloc[0]
    assert "<NA>" not in reason and "non-numeric" not in reason


def test_trailing_empty_columns(tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_text("名称,经度,纬度,,\n甲,121.55,29.87,,\n乙,121.56,29.88,,\n", encoding="utf-8")
    res = cs.read_establishments(path)
    assert len(res.establishments) == 2


def test_decimal_comma_file_thousands_dot(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text(
        "编号;名称;经度;纬度;从业人员\n1;甲;121,55;29,87;1.200\n2;乙;121,56;29,88;3\n",
        encoding="utf-8",
    )
    res = cs.read_establishments(path)
    assert res.establishments["employees"].tolist()[0] == 1200
    # the coordinates of the same file keep their decimal commas
    assert res.establishments.geometry.x.round(2).tolist() == [121.55, 121.56]


@pytest.mark.parametrize("cell", ["1,200", "1 200", "1\u00a0200", "1'200", "1.200"])
def test_grouped_headcounts_read_as_thousands(tmp_path: Path, cell: str) -> None:
    path = tmp_path / "grouped.csv"
    path.write_text(f'名称,经度,纬度,从业人员\n甲,121.55,29.87,"{cell}"\n', encoding="utf-8")
    res = cs.read_establishments(path)
    assert res.establishments["employees"].tolist() == [1200]


def test_huge_employees_blank_and_noted(tmp_path: Path) -> None:
    # issue 19: the firm is kept (it used to be rejected), the headcount left blank and noted
    path = tmp_path / "huge.csv"
    path.write_text(
        "名称,经度,纬度,从业人员\n甲,121.55,29.87,99999999999999999999\n", encoding="utf-8"
    )
    res = cs.read_establishments(path)
    assert res.rejected.empty and pd.isna(res.establishments["employees"].iloc[0])
    assert res.notes["field"].tolist() == ["employees"]
    assert "implausible headcount" in res.notes["note"].iloc[0]


def test_impossible_date_blank_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("名称,经度,纬度,成立日期\n甲,121.55,29.87,2015-13-45\n", encoding="utf-8")
    res = cs.read_establishments(path)
    assert res.rejected.empty and pd.isna(res.establishments["opened"].iloc[0])
    assert res.notes[["field", "value"]].values.tolist() == [["opened", "2015-13-45"]]


def test_validate_out_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("名称,经度,纬度\n甲,121.55,29.87\n", encoding="utf-8")
    target = tmp_path / "afile"
    target.write_text("")
    result = runner.invoke(app, ["validate", str(path), "--out", str(target)])
    _one_line_error(result, "--out")
    assert "Errno" not in result.output


def test_all_rejected_run_points_to_existing_rejected_csv(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("名称,经度,纬度\n甲,0,0\n乙,N/A,N/A\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "-e", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 1
    assert "rejected.csv" not in result.output or (out / "rejected.csv").exists()


def test_hotel_management_company_is_not_a_hotel() -> None:
    import geopandas as gpd

    g = gpd.GeoDataFrame(
        {
            "id": ["1"],
            "name": ["寅酒店管理有限公司"],
            "category": ["公司企业;公司;公司"],
            "code": [""],
            "opened": pd.array([pd.NA], dtype="Int64"),
            "closed": pd.array([pd.NA], dtype="Int64"),
            "employees": pd.array([pd.NA], dtype="Float64"),
        },
        geometry=gpd.points_from_xy([121.55], [29.87]),
        crs=4326,
    )
    assert cs.classify_establishments(g)["function"].iloc[0] != "hotel"


def test_clusters_csv_n_establishments_not_below_n_creative(study_dir: Path) -> None:
    clusters = pd.read_csv(study_dir / "clusters.csv")
    assert (clusters["n_establishments"] >= clusters["n_creative"]).all()


def test_run_with_boundary_and_point_outside(tmp_path: Path) -> None:
    frame = _study_frame()
    frame.loc[0, ["经度", "纬度"]] = [116.40, 39.90]  # one creative firm in Beijing
    path = tmp_path / "firms.csv"
    frame.to_csv(path, index=False)
    boundary = tmp_path / "city.geojson"
    ring = [[121.38, 29.73], [121.77, 29.73], [121.77, 30.02], [121.38, 30.02], [121.38, 29.73]]
    boundary.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "study"},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    with _quiet_warnings():
        result = runner.invoke(
            app,
            ["run", "-e", str(path), "--boundary", str(boundary), "--out", str(out), "-q"],
        )
    assert result.exit_code == 0, result.output
    assert (pd.read_csv(out / "rejected.csv")["row"] == 1).any()


def test_run_when_every_firm_opened_the_same_year(tmp_path: Path) -> None:
    frame = _study_frame()
    frame["成立日期"] = "2015-03-01"
    path = tmp_path / "same_year.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    with _quiet_warnings():
        result = runner.invoke(app, ["run", "-e", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output


def test_trailing_blank_lines_are_not_rejected_rows(tmp_path: Path) -> None:
    path = tmp_path / "padded.csv"
    path.write_text("名称,经度,纬度\n甲,121.55,29.87\n,,\n乙,,\n,,\n,,\n\n", encoding="utf-8")
    res = cs.read_establishments(path)
    # the blank line inside the table and the name-only row stay visible; the padding goes
    assert res.rejected["row"].tolist() == [2, 3]
    assert any("3 empty lines at the end" in note for note in res.messages)
