"""clusterscape.io.establishments: every format, every rejection reason, header mapping, datums, writers.

Files are made by the tests in tmp_path; the expected values are planted in them. Datum
conversion is checked against prcoords (independent) and reprojection against pyproj.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pyproj
import pytest
from shapely.geometry import Point, Polygon

from clusterscape.coords import convert
from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.io.establishments import (
    CANONICAL,
    LoadResult,
    atomic_directory,
    atomic_write,
    read_establishments,
    write_layer,
)

NINGBO = Path("/work/shared/data/ningbo")

CHINESE = pd.DataFrame(
    {
        "编号": ["N1", "N2", "N3"],
        "名称": ["和丰创意广场", "创新128", "宁波慧谷"],
        "行业": ["设计", "软件", "动漫"],
        "行业代码": ["7491", "6513", "8710"],
        "经度": [121.5664862, 121.602225, 121.6073774],
        "纬度": [29.8869293, 29.8129012, 29.9187258],
        "成立日期": ["2011-10-20", "2012/5/1", "2008年2月12日"],
        "注销日期": ["", "2020-01-01", ""],
        "从业人员": ["120", "35", ""],
        "区县": ["鄞州区", "鄞州区", "镇海区"],
    }
)


def check_canonical(res: LoadResult, n: int) -> gpd.GeoDataFrame:
    est = res.establishments
    assert list(est.columns[: len(CANONICAL)]) == list(CANONICAL)
    assert est.crs.to_epsg() == 4326
    assert len(est) == n
    assert isinstance(est.index, pd.RangeIndex) and est.index.start == 0
    assert str(est["id"].dtype) == "string" and str(est["opened"].dtype) == "Int64"
    assert str(est["employees"].dtype) == "Float64" and str(est["code"].dtype) == "string"
    assert list(res.rejected.columns) == ["row", "id", "reason"]
    assert res.n_rows == n + len(res.rejected)
    return est


def check_chinese(est: gpd.GeoDataFrame) -> None:
    assert est["id"].tolist() == ["N1", "N2", "N3"]
    assert est["name"].tolist() == CHINESE["名称"].tolist()
    assert est["category"].tolist() == ["设计", "软件", "动漫"]
    assert est["code"].tolist() == ["7491", "6513", "8710"]
    assert est["opened"].tolist() == [2011, 2012, 2008]
    assert est["closed"].isna().tolist() == [True, False, True]
    assert est["closed"].iloc[1] == 2020
    assert est["employees"].iloc[0] == 120 and pd.isna(est["employees"].iloc[2])
    np.testing.assert_allclose(est.geometry.x, CHINESE["经度"], atol=1e-12)
    np.testing.assert_allclose(est.geometry.y, CHINESE["纬度"], atol=1e-12)
    assert est["区县"].tolist() == ["鄞州区", "鄞州区", "镇海区"]  # other columns kept


# ------------------------------------------------------------------------------ formats


def test_gbk_csv_with_chinese_headers_loads_without_options(tmp_path: Path) -> None:
    p = tmp_path / "firms_gbk.csv"
    p.write_bytes(CHINESE.to_csv(index=False).encode("gbk"))
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("utf-8")  # really not UTF-8
    res = read_establishments(p)
    check_chinese(check_canonical(res, 3))
    assert res.rejected.empty and res.source_crs == "wgs84"
    assert res.columns["lon"] == "经度" and res.columns["employees"] == "从业人员"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    frame = CHINESE.copy()
    frame.loc[0, "名称"] = "𠀀创意"  # a character GBK lacks: GB18030 and UTF-8 only
    p = tmp_path / f"firms_{encoding}.csv"
    p.write_bytes(frame.to_csv(index=False).encode(encoding))
    est = check_canonical(read_establishments(p), 3)
    assert est["name"].iloc[0] == "𠀀创意"
    assert est["id"].iloc[0] == "N1"  # the BOM did not stick to the first header


@pytest.mark.parametrize(("suffix", "sep"), [(".tsv", "\t"), (".csv", ";"), (".txt", "|")])
def test_delimiters(tmp_path: Path, suffix: str, sep: str) -> None:
    p = tmp_path / f"firms{suffix}"
    CHINESE.to_csv(p, index=False, sep=sep)
    check_chinese(check_canonical(read_establishments(p), 3))


def test_xlsx_loads_without_options(tmp_path: Path) -> None:
    frame = CHINESE.copy()
    frame["成立日期"] = [
        dt.datetime(2011, 10, 20),
        dt.datetime(2012, 5, 1),
        dt.datetime(2008, 2, 12),
    ]
    frame["行业代码"] = [7491, 6513, 8710]  # numbers in Excel, strings out
    frame["从业人员"] = [120, 35, None]
    p = tmp_path / "firms.xlsx"
    frame.to_excel(p, index=False)
    check_chinese(check_canonical(read_establishments(p), 3))


def chinese_gdf(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    attrs = CHINESE.drop(columns=["经度", "纬度"])
    g = gpd.GeoDataFrame(
        attrs, geometry=gpd.points_from_xy(CHINESE["经度"], CHINESE["纬度"]), crs=4326
    )
    return g.to_crs(crs)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp", ".parquet"])
def test_geo_formats(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"firms{suffix}"
    g = chinese_gdf()
    if suffix == ".shp":
        # DBF field names are 10 bytes (3 Chinese characters in UTF-8), so shapefiles carry
        # short English names; values are GBK, as Chinese GIS exports usually are (.cpg file).
        short = ["id", "name", "type", "code", "founded", "closed", "employees", "区县"]
        g = g.set_axis([*short, "geometry"], axis=1).rename(columns={"区县": "district"})
        g.to_file(p, encoding="gbk")
        est = check_canonical(read_establishments(p), 3)
        assert est["name"].tolist() == CHINESE["名称"].tolist()
        assert est["opened"].tolist() == [2011, 2012, 2008]
        assert est["district"].tolist() == ["鄞州区", "鄞州区", "镇海区"]
        return
    elif suffix == ".parquet":
        g.to_parquet(p)
    else:
        g.to_file(p)
    check_chinese(check_canonical(read_establishments(p), 3))


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".geojson"])
def test_projected_crs_declared_in_file_is_honoured(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"utm{suffix}"
    g = chinese_gdf("EPSG:32651")
    if suffix == ".parquet":
        g.to_parquet(p)
    else:
        g.to_file(p)
    res = read_establishments(p)
    assert res.source_crs == "EPSG:32651"
    check_chinese(check_canonical(res, 3))
    with pytest.raises(CRSError, match="declares CRS EPSG:32651"):
        read_establishments(p, datum="gcj02")


def test_plain_parquet_with_lon_lat_columns(tmp_path: Path) -> None:
    p = tmp_path / "plain.parquet"
    CHINESE.to_parquet(p)
    check_chinese(check_canonical(read_establishments(p), 3))


def test_projected_crs_argument_for_xy_in_metres(tmp_path: Path) -> None:
    tr = pyproj.Transformer.from_crs(4326, 32651, always_xy=True)
    x, y = tr.transform(CHINESE["经度"].to_numpy(), CHINESE["纬度"].to_numpy())
    frame = CHINESE.drop(columns=["经度", "纬度"]).assign(x=x, y=y)
    p = tmp_path / "metres.csv"
    frame.to_csv(p, index=False)
    res = read_establishments(p, crs="EPSG:32651")
    assert res.source_crs == "EPSG:32651"
    check_chinese(check_canonical(res, 3))


def test_geometry_wins_over_attribute_coordinates_and_polygons_become_points(
    tmp_path: Path,
) -> None:
    sq = Polygon([(121.5, 29.8), (121.52, 29.8), (121.52, 29.82), (121.5, 29.82)])
    g = gpd.GeoDataFrame(
        {"name": ["park", "empty"], "centroid_lon": [0.0, 0.0], "centroid_lat": [0.0, 0.0]},
        geometry=[sq, None],
        crs=4326,
    )
    p = tmp_path / "polys.geojson"
    g.to_file(p)
    res = read_establishments(p)
    est = check_canonical(res, 1)
    assert est.geometry.iloc[0].within(sq)
    assert "centroid_lon" in est.columns  # unused attribute coordinates are kept
    assert res.rejected.to_dict("records") == [
        {"row": 2, "id": "", "reason": "missing coordinates: the feature has no geometry"}
    ]


# ------------------------------------------------------------------------------ datums


@pytest.mark.parametrize(
    ("datum", "peer"), [("gcj02", prcoords.gcj_wgs_bored), ("bd09", prcoords.bd_wgs_bored)]
)
def test_chinese_datums_are_converted_to_wgs84(tmp_path: Path, datum: str, peer) -> None:
    p = tmp_path / "amap.csv"
    CHINESE.to_csv(p, index=False)
    res = read_establishments(p, datum=datum)
    assert res.source_crs == datum
    est = check_canonical(res, 3)
    for i, (lo, la) in enumerate(zip(CHINESE["经度"], CHINESE["纬度"], strict=True)):
        ref = peer((la, lo))
        assert abs(est.geometry.x.iloc[i] - ref.lon) < 1e-6
        assert abs(est.geometry.y.iloc[i] - ref.lat) < 1e-6
    # ~ 500 m (GCJ) to ~ 1.2 km (BD) away from the unconverted position
    geod = pyproj.Geod(ellps="WGS84")
    _, _, d = geod.inv(
        est.geometry.x.to_numpy(), est.geometry.y.to_numpy(), CHINESE["经度"], CHINESE["纬度"]
    )
    assert (d > 300).all() and (d < 1500).all()


def test_unknown_crs_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    CHINESE.to_csv(p, index=False)
    with pytest.raises(InvalidInputError, match="gcj02"):
        read_establishments(p, crs="mars-ish")


def test_amap_export_location_type_typecode(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["B0FFG1", "B0FFG2"],
            "name": ["宁波美术馆", "某设计公司"],
            "type": ["科教文化服务;美术馆;美术馆", "公司企业;公司;公司"],
            "typecode": ["140400", "170200"],
            "location": ["121.556852,29.872012", "121.6,29.9"],
            "adname": ["江北区", "鄞州区"],
        }
    )
    p = tmp_path / "amap.csv"
    frame.to_csv(p, index=False)
    res = read_establishments(p, datum="gcj02")
    est = check_canonical(res, 2)
    assert est["category"].iloc[0] == "科教文化服务;美术馆;美术馆"
    assert est["code"].tolist() == ["140400", "170200"]
    assert est["typecode"].tolist() == ["140400", "170200"]  # kept for the taxonomy
    assert "location" not in est.columns and "adname" in est.columns
    # METHODS.md §6 known point: GCJ (121.556852, 29.872012) is WGS (121.5527, 29.8746)
    assert abs(est.geometry.x.iloc[0] - 121.5527) < 2e-6
    assert abs(est.geometry.y.iloc[0] - 29.8746) < 2e-6


# ------------------------------------------------------------------------------ rejections

GOOD = {
    "id": "G",
    "name": "ok",
    "lon": "121.55",
    "lat": "29.87",
    "opened": "2010",
    "closed": "",
    "employees": "5",
}
CASES = [
    ({"lon": ""}, "missing coordinates: longitude is empty"),
    ({"lat": ""}, "missing coordinates: latitude is empty"),
    ({"lon": "", "lat": ""}, "missing coordinates: longitude and latitude are empty"),
    ({"lon": "121.5E"}, "non-numeric coordinates: longitude '121.5E'"),
    ({"lat": "北纬29"}, "non-numeric coordinates: latitude '北纬29'"),
    ({"lat": "95.5"}, "latitude out of range: 95.5 is outside [-90, 90]"),
    ({"lon": "-181"}, "longitude out of range: -181 is outside [-180, 180]"),
    ({"lon": "0", "lat": "0"}, "placeholder coordinates: longitude and latitude are 0/0"),
    ({"lon": "0"}, "placeholder coordinates: longitude is exactly 0 (a blank cell exported as 0?)"),
    ({"lat": "0"}, "placeholder coordinates: latitude is exactly 0 (a blank cell exported as 0?)"),
]
# A field costs a field, not a firm (issue 19 item 4; these rows used to be rejected): the firm
# is kept with the field blank and the value recorded in ``notes``.
FIELD_CASES = [
    ({"employees": "many"}, "employees", "many", "not a number; left blank"),
    (
        {"employees": "50-99人"},
        "employees",
        "50-99人",
        "a headcount range, not a number; left blank",
    ),
    ({"employees": "-3"}, "employees", "-3", "negative headcount; left blank"),
    (
        {"opened": "2015", "closed": "2001-06-30"},
        "closed",
        "2001",
        "closed 2001 is before opened 2015; closed left blank",
    ),
    ({"opened": "someday"}, "opened", "someday", "not a date or a year; left blank"),
    ({"opened": "1750"}, "opened", "1750", "year 1750 is outside 1800-2100; left blank"),
]


@pytest.mark.parametrize(
    ("change", "field", "value", "note"), FIELD_CASES, ids=[c[3][:20] for c in FIELD_CASES]
)
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_bad_field_keeps_the_firm_and_is_noted(
    tmp_path: Path, change: dict, field: str, value: str, note: str, suffix: str
) -> None:
    rows = [{**GOOD, "id": "G1"}, {**GOOD, "id": "BAD", **change}, {**GOOD, "id": "G3"}]
    frame = pd.DataFrame(rows)
    p = tmp_path / f"bad{suffix}"
    if suffix == ".csv":
        frame.to_csv(p, index=False)
    else:
        frame.replace({"": None}).to_excel(p, index=False)
    res = read_establishments(p)
    assert res.rejected.empty
    est = check_canonical(res, 3)
    assert est["id"].tolist() == ["G1", "BAD", "G3"]
    assert pd.isna(est[field].iloc[1])
    assert res.notes.to_dict("records") == [
        {"row": 2, "id": "BAD", "field": field, "value": value, "note": note}
    ]


@pytest.mark.parametrize(("change", "reason"), CASES, ids=[c[1].split(":")[0] for c in CASES])
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_each_rejection_reason(tmp_path: Path, change: dict, reason: str, suffix: str) -> None:
    rows = [
        {**GOOD, "id": "G1"},
        {**GOOD, "id": "G2"},
        {**GOOD, "id": "BAD", **change},
        {**GOOD, "id": "G4"},
    ]
    frame = pd.DataFrame(rows)
    p = tmp_path / f"bad{suffix}"
    if suffix == ".csv":
        frame.to_csv(p, index=False)
    else:
        frame.replace({"": None}).to_excel(p, index=False)
    res = read_establishments(p)
    est = check_canonical(res, 3)
    bad_id = change.get("id", "BAD")
    assert res.rejected.to_dict("records") == [{"row": 3, "id": bad_id, "reason": reason}]
    assert est["id"].tolist() == ["G1", "G2", "G4"]  # the good rows go on


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_duplicate_id_keeps_the_firm_under_a_new_id(tmp_path: Path, suffix: str) -> None:
    # issue 19: a repeated id costs the id, not the firm (this row used to be rejected with
    # "duplicate id: 'G1' is already used by row 1"); the later row becomes "<id>#<row>"
    rows = [
        {**GOOD, "id": "G1"},
        {**GOOD, "id": "G2"},
        {**GOOD, "id": "G1", "name": "later"},
        {**GOOD, "id": "G4"},
    ]
    frame = pd.DataFrame(rows)
    p = tmp_path / f"dup{suffix}"
    if suffix == ".csv":
        frame.to_csv(p, index=False)
    else:
        frame.replace({"": None}).to_excel(p, index=False)
    res = read_establishments(p)
    assert res.rejected.empty
    est = check_canonical(res, 4)
    assert est["id"].tolist() == ["G1", "G2", "G1#3", "G4"]
    assert est["name"].iloc[2] == "later"
    assert est["id"].is_unique
    assert res.notes.to_dict("records") == [
        {
            "row": 3,
            "id": "G1#3",
            "field": "id",
            "value": "G1",
            "note": "duplicate id: 'G1' is already used by row 1; kept as 'G1#3'",
        }
    ]


def test_several_reasons_are_joined_and_counted(tmp_path: Path) -> None:
    frame = pd.DataFrame([{**GOOD, "lat": "95", "lon": "0"}, GOOD, {**GOOD, "id": "H", "lon": "x"}])
    p = tmp_path / "multi.csv"
    frame.to_csv(p, index=False)
    res = read_establishments(p)
    assert res.rejected["reason"].iloc[0] == (
        "placeholder coordinates: longitude is exactly 0 (a blank cell exported as 0?); "
        "latitude out of range: 95 is outside [-90, 90]"
    )
    assert res.reason_counts().to_dict() == {
        "placeholder coordinates": 1,
        "non-numeric coordinates": 1,
    }
    # the first row with id G was rejected, so the second one (row 2) is not a duplicate
    assert res.establishments["id"].tolist() == ["G"]


def test_malformed_and_blank_rows_keep_row_numbers(tmp_path: Path) -> None:
    text = (
        "id,name,lon,lat\n"
        "A,one,121.5,29.8\n"
        "B,two,has,comma,121.5,29.8\n"  # row 2: too many fields
        "\n"  # row 3: blank line
        'C,"multi\nline name",121.6,29.9\n'  # row 4 spans two lines
        "D,four,121.7\n"  # row 5: too few fields
        "D,five,121.7,30.0\n"  # row 6
    )
    p = tmp_path / "broken.csv"
    p.write_text(text, encoding="utf-8")
    res = read_establishments(p)
    rej = res.rejected.set_index("row")["reason"]
    assert list(rej.index) == [2, 3, 5]
    # reasons name the physical line (row 4 spans lines 5-6, so row 5 is on line 7)
    assert rej[2].startswith("malformed row: line 3 has 6 fields but the header has 4")
    assert rej[3] == "empty row: every cell is blank"
    assert rej[5].startswith("malformed row: line 7 has 3 fields")
    est = check_canonical(res, 3)
    assert est["id"].tolist() == ["A", "C", "D"]
    assert est["name"].iloc[1] == "multi\nline name"


def test_unseen_messy_inputs(tmp_path: Path) -> None:
    # Excel "Unicode Text" export: UTF-16 with BOM, tab-separated
    p = tmp_path / "unicode.txt"
    p.write_bytes(CHINESE.to_csv(index=False, sep="\t").encode("utf-16"))
    check_chinese(check_canonical(read_establishments(p), 3))
    # full-width digits, non-breaking spaces, an empty spreadsheet row, a name-only row
    text = "名称,经度,纬度\n甲,１２１．５５,２９．８７\n乙,\u00a0121.6\u00a0,29.9\n,,\n丙,,\n"
    p = tmp_path / "messy.csv"
    p.write_text(text, encoding="utf-8")
    res = read_establishments(p)
    est = check_canonical(res, 2)
    np.testing.assert_allclose(est.geometry.x, [121.55, 121.6])
    assert res.rejected["reason"].tolist() == [
        "empty row: every cell is blank",
        "missing coordinates: longitude and latitude are empty",
    ]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_title_rows_above_the_header_are_skipped(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"titled{suffix}"
    title = pd.DataFrame([["宁波市文创企业名录（2024）", *[None] * 9], [None] * 10])
    body = pd.DataFrame([CHINESE.columns.tolist(), *CHINESE.astype(object).to_numpy().tolist()])
    sheet = pd.concat([title, body], ignore_index=True)
    if suffix == ".csv":
        sheet.to_csv(p, index=False, header=False)
    else:
        sheet.to_excel(p, index=False, header=False)
    res = read_establishments(p)
    check_chinese(check_canonical(res, 3))
    assert res.rejected.empty
    assert res.messages == (
        "the header is on line 3 (title lines above it were skipped); rejected rows are "
        "numbered from the first line below the header",
    )


def test_notes_flag_a_likely_datum_mistake(tmp_path: Path) -> None:
    amap = tmp_path / "amap.csv"
    amap.write_text(
        'name,type,typecode,location\na,公司企业,170200,"121.55,29.87"\n', encoding="utf-8"
    )
    res = read_establishments(amap)  # an Amap export read with the default datum="wgs84"
    assert len(res.messages) == 1 and "datum='gcj02'" in res.messages[0]
    assert read_establishments(amap, datum="gcj02").messages == ()
    bd = tmp_path / "baidu.csv"
    bd.write_text("bd_lng,bd_lat\n121.56,29.88\n", encoding="utf-8")
    assert "datum='bd09'" in read_establishments(bd, datum="gcj02").messages[0]
    plain = tmp_path / "plain.csv"
    plain.write_text("lon,lat\n121.56,29.88\n", encoding="utf-8")
    assert read_establishments(plain).messages == ()


def test_metres_read_as_degrees_fail_with_fix(tmp_path: Path) -> None:
    p = tmp_path / "metres.csv"
    p.write_text("x,y\n358000,3306000\n359000,3307000\n360000,3308000\n", encoding="utf-8")
    with pytest.raises(CRSError, match=r"look like metres.*crs='EPSG:32651'"):
        read_establishments(p)
    assert len(read_establishments(p, crs="EPSG:32651").establishments) == 3


def test_location_holding_lat_lon_fails_with_fix(tmp_path: Path) -> None:
    p = tmp_path / "latlon.csv"
    p.write_text(
        'name,location\na,"29.87,121.55"\nb,"29.9,121.6"\nc,"29.8,121.5"\n', encoding="utf-8"
    )
    with pytest.raises(InvalidInputError, match="seems to hold 'lat,lon'"):
        read_establishments(p)


def test_dates_reduced_to_years(tmp_path: Path) -> None:
    values = [
        "2010",
        "2010.0",
        "2010-05-01",
        "2010/5/1",
        "2010年5月",
        "20100501",
        "201005",
        "5/1/2010",
        "2010-05-01 08:00:00",
        "暂无",
        "-",
        "",
    ]
    frame = pd.DataFrame({"lon": 121.5, "lat": 29.8, "founded": values})
    p = tmp_path / "dates.csv"
    frame.to_csv(p, index=False)
    est = read_establishments(p).establishments
    assert est["opened"].iloc[:9].tolist() == [2010] * 9
    assert est["opened"].iloc[9:].isna().all()  # placeholders are missing, not errors


def test_rows_without_id_get_row_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"编号": ["", "X", ""], "lng": [121.5, 121.6, 121.7], "lat": [29.8, 29.9, 30.0]}
    )
    p = tmp_path / "ids.csv"
    frame.to_csv(p, index=False)
    assert read_establishments(p).establishments["id"].tolist() == ["row-1", "X", "row-3"]


def test_employee_thousands_separator_and_decimal_comma(tmp_path: Path) -> None:
    p = tmp_path / "emp.csv"
    p.write_text('lon,lat,employees\n121.5,29.8,"1,200"\n121.5,29.8,7\n', encoding="utf-8")
    assert read_establishments(p).establishments["employees"].tolist() == [1200.0, 7.0]
    # European spreadsheet export: ';'-delimited with decimal commas
    p = tmp_path / "euro.csv"
    p.write_text("id;lon;lat;employees\n1;121,55;29,87;3\n2;121,56;29,88;4,5\n", encoding="utf-8")
    est = read_establishments(p).establishments
    np.testing.assert_allclose(est.geometry.x, [121.55, 121.56])
    np.testing.assert_allclose(est.geometry.y, [29.87, 29.88])
    assert est["employees"].tolist() == [3.0, 4.5]


# ------------------------------------------------------------------------------ whole-file errors


def test_swapped_lat_lon_fails_with_fix(tmp_path: Path) -> None:
    frame = CHINESE.rename(columns={"经度": "纬度", "纬度": "经度"})
    p = tmp_path / "swapped.csv"
    frame.to_csv(p, index=False)
    with pytest.raises(InvalidInputError, match="look swapped") as info:
        read_establishments(p)
    assert "columns={'lon': '纬度', 'lat': '经度'}" in str(info.value)
    fixed = read_establishments(p, columns={"lon": "纬度", "lat": "经度"})
    check_chinese(check_canonical(fixed, 3))


def test_no_coordinate_columns_fails_with_fix(tmp_path: Path) -> None:
    p = tmp_path / "nocoords.csv"
    CHINESE.rename(columns={"经度": "X坐标", "纬度": "Y坐标"}).to_csv(p, index=False)
    with pytest.raises(InvalidInputError, match=r"no coordinate columns.*columns="):
        read_establishments(p)
    res = read_establishments(p, columns={"lon": "X坐标", "lat": "Y坐标"})
    check_chinese(check_canonical(res, 3))
    only_lon = tmp_path / "onlylon.csv"
    CHINESE.drop(columns=["纬度"]).to_csv(only_lon, index=False)
    with pytest.raises(InvalidInputError, match="only a longitude column"):
        read_establishments(only_lon)


def test_columns_override_errors(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    CHINESE.to_csv(p, index=False)
    with pytest.raises(InvalidInputError, match="unknown field"):
        read_establishments(p, columns={"longitude": "经度"})
    with pytest.raises(InvalidInputError, match="has no column '经度2'"):
        read_establishments(p, columns={"lon": "经度2"})
    res = read_establishments(p, columns={"name": "区县"})
    assert res.establishments["name"].tolist() == ["鄞州区", "鄞州区", "镇海区"]
    assert "名称" in res.establishments.columns  # no longer mapped, so kept as is


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.csv", None, "does not exist"),
        ("firms.dbx", b"x", "unsupported file type"),
        ("empty.csv", b"", "is empty"),
        ("corrupt.xlsx", b"PK\x03\x04 not really a zip", "cannot read corrupt.xlsx"),
        ("corrupt.gpkg", b"SQLite format 3\x00garbage", "cannot read corrupt.gpkg"),
        ("dup.csv", b"lon,lon,lat\n1,2,3\n", "duplicate column names"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes | None, match: str) -> None:
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InvalidInputError, match=match):
        read_establishments(p)


# ------------------------------------------------------------------------------ real data


@pytest.mark.skipif(not NINGBO.exists(), reason="shared Ningbo data not available")
def test_real_ningbo_files() -> None:
    parks = read_establishments(NINGBO / "creative_parks" / "ningbo_creative_parks.csv")
    # README: 20 parks, 4 of them without coordinates
    assert parks.n_rows == 20 and len(parks.establishments) == 16
    assert parks.rejected["reason"].str.startswith("missing coordinates").all()
    assert parks.establishments["name"].iloc[0] == "和丰创意广场"
    x, y = parks.establishments.geometry.x.iloc[0], parks.establishments.geometry.y.iloc[0]
    assert (x, y) == pytest.approx((121.5664862, 29.8869293), abs=1e-9)
    osm = read_establishments(NINGBO / "osm" / "ningbo_osm_commercial.geojson")
    assert len(osm.establishments) == 352 and osm.rejected.empty  # README: 352 features
    b = osm.establishments.total_bounds
    assert 120.5 < b[0] < b[2] < 122.5 and 28.5 < b[1] < b[3] < 30.5


# ------------------------------------------------------------------------------ writers


def points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["a", "b"], "名称": ["甲", "乙"], "n": [1, 2]},
        geometry=[Point(121.5, 29.8), Point(121.6, 29.9)],
        crs=4326,
    )


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg", ".geojson"])
def test_write_layer_round_trip(tmp_path: Path, suffix: str) -> None:
    g = points().to_crs(32651) if suffix != ".geojson" else points()
    out = write_layer(g, tmp_path / f"out{suffix}")
    back = gpd.read_parquet(out) if suffix == ".parquet" else gpd.read_file(out)
    assert back.crs.equals(g.crs)
    assert back["名称"].tolist() == ["甲", "乙"]
    assert back.geometry.geom_equals_exact(g.geometry.reset_index(drop=True), tolerance=1e-6).all()
    assert [f.name for f in tmp_path.iterdir()] == [f"out{suffix}"]  # no temp files left


def test_write_layer_gpkg_keeps_other_layers(tmp_path: Path) -> None:
    p = tmp_path / "results.gpkg"
    write_layer(points(), p, layer="establishments")
    poly = gpd.GeoDataFrame({"k": [1]}, geometry=[Point(121.5, 29.8).buffer(0.01)], crs=4326)
    write_layer(poly, p, layer="clusters")
    write_layer(points().iloc[:1], p, layer="establishments")  # replace one layer
    import pyogrio

    assert sorted(pyogrio.list_layers(p)[:, 0]) == ["clusters", "establishments"]
    assert len(gpd.read_file(p, layer="establishments")) == 1


def test_write_layer_csv_lon_lat_in_degrees(tmp_path: Path) -> None:
    p = write_layer(points().to_crs(32651), tmp_path / "pts.csv")
    back = pd.read_csv(p)
    assert list(back.columns) == ["id", "名称", "n", "lon", "lat"]
    np.testing.assert_allclose(back[["lon", "lat"]], [[121.5, 29.8], [121.6, 29.9]], atol=1e-9)
    res = read_establishments(p)  # our own output reads back
    assert res.establishments["id"].tolist() == ["a", "b"]
    poly = gpd.GeoDataFrame({"k": [1]}, geometry=[Point(121.5, 29.8).buffer(0.01)], crs=4326)
    back = pd.read_csv(write_layer(poly, tmp_path / "poly.csv"))
    assert back["geometry_wkt"].iloc[0].startswith("POLYGON")


def test_write_layer_refuses(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"cannot write '\.xyz'"):
        write_layer(points(), tmp_path / "a.xyz")
    with pytest.raises(CRSError, match="no CRS"):
        write_layer(points().set_crs(None, allow_override=True), tmp_path / "a.csv")


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "summary.json"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["summary.json"]
    with atomic_write(p) as tmp:
        assert tmp.parent == p.parent and tmp.suffix == ".json"
        tmp.write_text("new")
    assert p.read_text() == "new"


def test_atomic_directory_swaps_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "ningbo"
    out.mkdir()
    (out / "report.html").write_text("previous run")
    with pytest.raises(KeyboardInterrupt), atomic_directory(out) as tmp:
        (tmp / "report.html").write_text("partial")
        raise KeyboardInterrupt
    assert (out / "report.html").read_text() == "previous run"
    # Besides `ningbo` only the (empty) runs directory that holds the lock.
    assert sorted(f.name for f in tmp_path.iterdir()) == [".ningbo.runs", "ningbo"]
    assert list((tmp_path / ".ningbo.runs").iterdir()) == []
    with atomic_directory(out) as tmp:
        (tmp / "summary.json").write_text("{}")
    assert sorted(f.name for f in out.iterdir()) == ["summary.json"]
    # `ningbo` is now a link to the one run kept; the previous directory is gone.
    assert sorted(f.name for f in tmp_path.iterdir()) == [".ningbo.runs", "ningbo"]
    assert [p.name for p in (tmp_path / ".ningbo.runs").iterdir()] == [out.resolve().name]
    with atomic_directory(tmp_path / "fresh" / "out") as tmp:
        (tmp / "a.txt").write_text("x")
    assert (tmp_path / "fresh" / "out" / "a.txt").exists()


def test_inputs_not_mutated_and_convert_consistency(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    CHINESE.to_csv(p, index=False)
    before = p.read_bytes()
    res = read_establishments(p, datum="bd09")
    assert p.read_bytes() == before
    x, y = convert(CHINESE["经度"], CHINESE["纬度"], src="bd09", dst="wgs84")
    np.testing.assert_allclose(res.establishments.geometry.x, x, atol=1e-12)
    np.testing.assert_allclose(res.establishments.geometry.y, y, atol=1e-12)
