"""Amap/Baidu place-search responses read by ``read_establishments``, and BD-09MC in ``convert``.

The fixtures are written here from the documented response formats (Amap Web Service place
search v3 and v5, Baidu Place API v2/v3). Independent checks: every POI's WGS-84 position
equals what a GCJ-02 (BD-09) CSV of the same coordinates gives, and that equals prcoords'
inverse to 1e-6 degrees; BD-09MC is checked against Baidu's published pair for Tiananmen
(BD-09 116.403874, 39.914889 = BD-09MC 12958160.97, 4825907.72, to the published rounding),
against Baidu's ``MC2LL`` table evaluated directly here (a separate fit, which agrees to 3.2e-7
degrees below 45 N), and by round trips to 1e-9 degrees.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import prcoords
import pytest

from clusterscape.coords import DATUMS, bd09_to_bd09mc, bd09mc_to_bd09, convert, normalise_datum
from clusterscape.errors import InvalidInputError
from clusterscape.io import read_establishments

AMAP_V3 = {
    "status": "1",
    "count": "4",
    "info": "OK",
    "infocode": "10000",
    "suggestion": {"keywords": [], "cities": []},
    "pois": [
        {
            "id": "B023B0A1LH",
            "parent": [],
            "name": "宁波博物馆",
            "type": "科教文化服务;博物馆;博物馆",
            "typecode": "140100",
            "biz_type": [],
            "address": "首南中路1000号",
            "location": "121.547153,29.819524",
            "tel": "0574-82815588",
            "distance": [],
            "pname": "浙江省",
            "cityname": "宁波市",
            "adname": "鄞州区",
            "business_area": "鄞州中心区",
        },
        {
            "id": "B0FFHJ3M5B",
            "parent": [],
            "name": "和丰创意广场",
            "type": "商务住宅;产业园区;产业园区|公司企业;公司;广告装饰",
            "typecode": "120100|170208",
            "address": [],
            "location": "121.5722,29.8855",
            "tel": [],
            "pname": "浙江省",
            "cityname": "宁波市",
            "adname": "江北区",
            "business_area": [],
        },
        {
            "id": "B0FFKQ0001",
            "name": "无坐标设计工作室",
            "type": "公司企业;公司;公司",
            "typecode": "170200",
            "location": [],
            "pname": "浙江省",
        },
        {
            "id": "B0FFKQ0002",
            "name": "坐标坏了",
            "type": "公司企业;公司;公司",
            "typecode": "170200",
            "location": "abc,29.9",
            "pname": "浙江省",
        },
    ],
}

AMAP_V5 = {
    "status": "1",
    "info": "OK",
    "infocode": "10000",
    "count": "2",
    "pois": [
        {
            "name": "天一阁博物院",
            "id": "B023B05QX7",
            "location": "121.540186,29.872185",
            "type": "风景名胜;风景名胜;国家级景点",
            "typecode": "110201",
            "pname": "浙江省",
            "pcode": "330000",
            "cityname": "宁波市",
            "citycode": "0574",
            "adname": "海曙区",
            "adcode": "330203",
            "address": "天一街10号",
            "parent": "",
            "distance": "",
            "business": {
                "business_area": "天一广场",
                "tel": "0574-87293856",
                "rating": "4.8",
                "opentime_today": "08:30-17:30",
            },
            "photos": [{"title": "", "url": "http://store.is.autonavi.com/x.jpg"}],
        },
        {
            "name": "宁波文化广场",
            "id": "B0FFFAB6J8",
            "location": "121.613361,29.880372",
            "type": "科教文化服务;文化宫;文化宫",
            "typecode": "141000",
            "pname": "浙江省",
            "cityname": "宁波市",
            "adname": "鄞州区",
            "address": "宁穿路1901号",
        },
    ],
}

BAIDU_V2 = {
    "status": 0,
    "message": "ok",
    "result_type": "poi_type",
    "results": [
        {
            "name": "宁波美术馆",
            "location": {"lat": 29.884186, "lng": 121.566217},
            "address": "浙江省宁波市江北区人民路122号",
            "province": "浙江省",
            "city": "宁波市",
            "area": "江北区",
            "street_id": "b6e8b4a3f1d3c4e5a6b7c8d9",
            "telephone": "(0574)87669050",
            "detail": 1,
            "uid": "b6e8b4a3f1d3c4e5a6b7c8d9",
            "detail_info": {
                "tag": "文化传媒;美术馆",
                "type": "life",
                "detail_url": "http://api.map.baidu.com/place/detail?uid=b6e8",
                "overall_rating": "4.7",
            },
        },
        {
            "name": "宁波大剧院",
            "location": {"lat": 29.888562, "lng": 121.567908},
            "address": "江北区中马路1000号",
            "uid": "c1d2e3f4a5b6c7d8e9f0a1b2",
            "detail_info": {"tag": "休闲娱乐;剧院", "type": "life"},
        },
    ],
}


def _dump(tmp_path: Path, name: str, doc: object) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return p


def _lines(tmp_path: Path, name: str, docs: list[object], raw: tuple[str, ...] = ()) -> Path:
    p = tmp_path / name
    text = "\n".join([json.dumps(d, ensure_ascii=False) for d in docs] + list(raw)) + "\n"
    p.write_text(text, encoding="utf-8")
    return p


def _xy(res, ident: str) -> tuple[float, float]:
    est = res.establishments.set_index("id")
    g = est.geometry[ident]
    return float(g.x), float(g.y)


def test_amap_v3_response_fields_codes_and_gcj02(tmp_path: Path) -> None:
    res = read_establishments(_dump(tmp_path, "resp.json", AMAP_V3))
    est = res.establishments.set_index("id")
    # rows in = accepted + rejected: the POI without coordinates and the bad one are rejected
    assert res.n_rows == 4 and len(est) == 2 and len(res.rejected) == 2
    assert res.rejected["row"].tolist() == [3, 4]
    assert res.rejected["reason"].str.startswith(("missing coordinates", "non-numeric")).all()
    assert res.source_crs == "gcj02"
    assert est.loc["B0FFHJ3M5B", "code"] == "120100"
    assert est.loc["B0FFHJ3M5B", "codes"] == "120100|170208"
    assert est.loc["B0FFHJ3M5B", "category"] == "商务住宅;产业园区;产业园区"
    assert est.loc["B023B0A1LH", "code"] == "140100"
    assert est.loc["B023B0A1LH", "name"] == "宁波博物馆"
    assert est.loc["B023B0A1LH", "adname"] == "鄞州区"
    # Amap's [] for an empty field is blank, never the text "[]"
    assert pd.isna(est.loc["B0FFHJ3M5B", "address"]) and pd.isna(est.loc["B0FFHJ3M5B", "tel"])
    # converted from GCJ-02 exactly as prcoords' inverse does, to 1e-6 degrees (0.1 m)
    for ident, (lon, lat) in {
        "B023B0A1LH": (121.547153, 29.819524),
        "B0FFHJ3M5B": (121.5722, 29.8855),
    }.items():
        want_lat, want_lon = prcoords.gcj_wgs_bored((lat, lon))
        got_lon, got_lat = _xy(res, ident)
        assert abs(got_lon - want_lon) < 1e-6 and abs(got_lat - want_lat) < 1e-6
        # and about 500 m from where the GCJ-02 numbers would put it
        assert abs(got_lon - lon) > 1e-3
    assert any("GCJ-02" in m for m in res.messages)


def test_same_place_as_a_gcj02_csv(tmp_path: Path) -> None:
    res = read_establishments(_dump(tmp_path, "resp.json", AMAP_V3))
    csv = tmp_path / "same.csv"
    pd.DataFrame(
        {
            "id": ["B023B0A1LH", "B0FFHJ3M5B"],
            "lng": [121.547153, 121.5722],
            "lat": [29.819524, 29.8855],
        }
    ).to_csv(csv, index=False)
    ref = read_establishments(csv, datum="gcj02").establishments.set_index("id")
    for ident in ref.index:
        assert _xy(res, ident) == (float(ref.geometry[ident].x), float(ref.geometry[ident].y))
    # a study's default datum='wgs84' does not override the provider's GCJ-02
    again = read_establishments(_dump(tmp_path, "r2.json", AMAP_V3), datum="wgs84")
    assert _xy(again, "B023B0A1LH") == _xy(res, "B023B0A1LH")
    # an explicit other datum is honoured, with a message
    odd = read_establishments(_dump(tmp_path, "r3.json", AMAP_V3), datum="bd09")
    assert odd.source_crs == "bd09" and any("as given" in m for m in odd.messages)
    assert _xy(odd, "B023B0A1LH") != _xy(res, "B023B0A1LH")


def test_amap_v5_business_fields(tmp_path: Path) -> None:
    res = read_establishments(_dump(tmp_path, "v5.json", AMAP_V5))
    est = res.establishments.set_index("id")
    assert len(est) == 2 and res.rejected.empty
    assert est.loc["B023B05QX7", "business_area"] == "天一广场"
    assert est.loc["B023B05QX7", "tel"] == "0574-87293856"
    assert est.loc["B023B05QX7", "business_rating"] == "4.8"
    assert "photos" not in est.columns
    assert est.loc["B0FFFAB6J8", "code"] == "141000"


def test_baidu_results_bd09(tmp_path: Path) -> None:
    res = read_establishments(_dump(tmp_path, "baidu.json", BAIDU_V2))
    assert res.source_crs == "bd09" and len(res.establishments) == 2
    est = res.establishments.set_index("id")
    assert est.loc["b6e8b4a3f1d3c4e5a6b7c8d9", "category"] == "文化传媒;美术馆"
    assert est.loc["b6e8b4a3f1d3c4e5a6b7c8d9", "detail_type"] == "life"
    want_lat, want_lon = prcoords.bd_wgs_bored((29.884186, 121.566217))
    lon, lat = _xy(res, "b6e8b4a3f1d3c4e5a6b7c8d9")
    assert abs(lon - want_lon) < 1e-6 and abs(lat - want_lat) < 1e-6


def test_baidu_mercator_coordinates_found_by_their_size(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(BAIDU_V2))
    for poi in doc["results"]:
        x, y = bd09_to_bd09mc(poi["location"]["lng"], poi["location"]["lat"])
        poi["location"] = {"lng": round(float(x), 2), "lat": round(float(y), 2)}
    res = read_establishments(_dump(tmp_path, "mc.json", doc))
    ref = read_establishments(_dump(tmp_path, "ll.json", BAIDU_V2))
    assert res.source_crs == "bd09mc"
    a = np.array([_xy(res, i) for i in ref.establishments["id"]])
    b = np.array([_xy(ref, i) for i in ref.establishments["id"]])
    assert np.abs(a - b).max() < 2e-7  # 0.01 m rounding of the metres


def test_error_responses_are_one_clear_line(tmp_path: Path) -> None:
    err = {"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"}
    with pytest.raises(InvalidInputError, match=r"INVALID_USER_KEY.*infocode 10001") as ei:
        read_establishments(_dump(tmp_path, "bad.json", err))
    assert "\n" not in str(ei.value)
    berr = {"status": 302, "message": "天配额超限，限制访问"}
    with pytest.raises(InvalidInputError, match=r"Baidu error 天配额超限.*status 302"):
        read_establishments(_dump(tmp_path, "bbad.json", berr))
    # mixed with good responses: the error is a message, the good POIs are read
    p = _lines(tmp_path, "mixed.jsonl", [AMAP_V5, err])
    res = read_establishments(p)
    assert len(res.establishments) == 2
    assert any("line 2: Amap error INVALID_USER_KEY" in m for m in res.messages)
    assert res.skipped["error response"] == 1


def test_empty_pois_is_fine(tmp_path: Path) -> None:
    empty = {"status": "1", "count": "0", "info": "OK", "infocode": "10000", "pois": []}
    res = read_establishments(_dump(tmp_path, "empty.json", empty))
    assert len(res.establishments) == 0 and res.n_rows == 0 and res.rejected.empty
    assert res.source_crs == "gcj02"


def test_jsonl_pages_with_repeats_and_a_cut_line(tmp_path: Path) -> None:
    page1 = {**AMAP_V3, "pois": AMAP_V3["pois"][:2]}
    page2 = {**AMAP_V3, "pois": [AMAP_V3["pois"][1], *AMAP_V5["pois"]]}
    p = _lines(tmp_path, "pages.jsonl", [page1, page2, page2], raw=('{"status":"1","po',))
    res = read_establishments(p)
    est = res.establishments
    assert sorted(est["id"]) == sorted(["B023B0A1LH", "B0FFHJ3M5B", "B023B05QX7", "B0FFFAB6J8"])
    assert est["id"].is_unique
    # the repeats are counted, not rows: rows in = accepted + rejected holds for the rest
    assert res.skipped["repeated POI (same provider id in another page or response)"] == 4
    assert res.n_rows == len(est) + len(res.rejected) == 4
    assert res.skipped["unreadable line"] == 1
    assert any("line 4: not valid JSON" in m for m in res.messages)
    note = res.notes[res.notes["id"] == "B0FFHJ3M5B"]
    assert (
        len(note) == 1
        and note["field"].iloc[0] == "row"
        and "also in response 2, response 3" in note["note"].iloc[0]
    )
    assert (est.set_index("id").loc["B0FFHJ3M5B", "response"]) == 1


def test_list_of_responses_and_geojson_still_geojson(tmp_path: Path) -> None:
    res = read_establishments(_dump(tmp_path, "list.json", [AMAP_V3, AMAP_V5]))
    assert len(res.establishments) == 4
    gj = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "a", "results": 1},
                "geometry": {"type": "Point", "coordinates": [121.55, 29.87]},
            }
        ],
    }
    res = read_establishments(_dump(tmp_path, "pts.geojson.json", gj))
    assert res.source_crs == "wgs84" and len(res.establishments) == 1


def test_not_a_response(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no Amap or Baidu place-search response"):
        read_establishments(_lines(tmp_path, "x.jsonl", [{"hello": 1}]))


# ---------------------------------------------------------------------------------------------
# BD-09MC
# ---------------------------------------------------------------------------------------------

# Baidu's published MC2LL table (its JavaScript API), evaluated directly as an independent fit.
_MC_BAND = [12890594.86, 8362377.87, 5591021.0, 3481989.83, 1678043.12, 0.0]
_MC2LL_ROWS = {
    3: [-1.981981304930552e-8, 8.983055099779535e-6, 0.03278182852591, 40.31678527705744,
        0.65659298677277, -4.44255534477492, 0.85341911805263, 0.12923347998204,
        -0.04625736007561, 4482777.06],
    4: [3.09191371068437e-9, 8.983055096812155e-6, 6.995724062e-5, 23.10934304144901,
        -2.3663490511e-4, -0.6321817810242, -0.00663494467273, 0.03430082397953,
        -0.00466043876332, 2555164.4],
    5: [2.890871144776878e-9, 8.983055095805407e-6, -3.068298e-8, 7.47137025468032,
        -3.53937994e-6, -0.02145144861037, -1.234426596e-5, 1.0322952773e-4,
        -3.23890364e-6, 826088.5],
}  # fmt: skip


def _mc2ll(x: float, y: float) -> tuple[float, float]:
    band = next(i for i, b in enumerate(_MC_BAND) if y >= b)
    c = _MC2LL_ROWS[band]
    t = y / c[9]
    lat = sum(c[2 + k] * t**k for k in range(7))
    return c[0] + c[1] * x, lat


def test_bd09mc_published_landmark() -> None:
    x, y = convert(116.403874, 39.914889, src="bd09", dst="bd09mc")
    assert (round(float(x), 2), round(float(y), 2)) == (12958160.97, 4825907.72)
    lon, lat = convert(12958160.97, 4825907.72, src="bd09mc", dst="bd09")
    assert abs(lon - 116.403874) < 1e-6 and abs(lat - 39.914889) < 1e-6


def test_bd09mc_agrees_with_baidus_mc2ll_table_in_china() -> None:
    rng = np.random.default_rng(3)
    lon = rng.uniform(73.7, 134.8, 400)
    lat = rng.uniform(3.9, 44.9, 400)  # the MC2LL bands typed above (below 45 N)
    x, y = bd09_to_bd09mc(lon, lat)
    ref = np.array([_mc2ll(a, b) for a, b in zip(x, y, strict=True)])
    back_lon, back_lat = bd09mc_to_bd09(x, y)
    assert np.abs(ref[:, 0] - back_lon).max() < 1e-7
    assert np.abs(ref[:, 1] - back_lat).max() < 3.2e-7  # the two published fits' disagreement
    assert np.abs(back_lat - lat).max() < 1e-9 and np.abs(back_lon - lon).max() < 1e-9


@pytest.mark.parametrize("src", ["wgs84", "gcj02", "bd09"])
def test_bd09mc_round_trips(src: str) -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(75.0, 134.0, 2000)
    lat = rng.uniform(18.0, 53.0, 2000)
    x, y = convert(lon, lat, src=src, dst="bd09mc")
    assert np.all(np.abs(x) > 8e6) and np.all(y > 2e6)
    back_lon, back_lat = convert(x, y, src="bd09mc", dst=src)
    assert np.abs(back_lon - lon).max() < 1e-9 and np.abs(back_lat - lat).max() < 1e-9
    # the route through BD-09 is the same as converting step by step
    b_lon, b_lat = convert(lon, lat, src=src, dst="bd09")
    sx, sy = bd09_to_bd09mc(b_lon, b_lat)
    assert np.allclose(sx, x, atol=1e-6, rtol=0) and np.allclose(sy, y, atol=1e-6, rtol=0)


def test_bd09mc_names_shapes_and_southern_hemisphere() -> None:
    assert "bd09mc" in DATUMS
    assert normalise_datum("BD-09MC") == normalise_datum("baidu_mercator") == "bd09mc"
    x, y = convert([[116.403874, -116.403874]], [[39.914889, -39.914889]], src="bd09", dst="bd09mc")
    assert x.shape == (1, 2)
    assert np.allclose(x[0, 1], -x[0, 0]) and np.allclose(y[0, 1], -y[0, 0])
    lon, _lat = convert(np.nan, 4825907.72, src="bd09mc", dst="wgs84")
    assert np.isnan(lon)


def test_read_establishments_datum_bd09mc(tmp_path: Path) -> None:
    lon = np.array([121.566217, 121.567908, 121.55])
    lat = np.array([29.884186, 29.888562, 29.87])
    x, y = bd09_to_bd09mc(lon, lat)
    mc = tmp_path / "mc.csv"
    pd.DataFrame({"name": ["a", "b", "c"], "x": x, "y": y}).to_csv(mc, index=False)
    ll = tmp_path / "ll.csv"
    pd.DataFrame({"name": ["a", "b", "c"], "lng": lon, "lat": lat}).to_csv(ll, index=False)
    a = read_establishments(mc, datum="bd09mc").establishments
    b = read_establishments(ll, datum="bd09").establishments
    assert np.abs(a.geometry.x.to_numpy() - b.geometry.x.to_numpy()).max() < 1e-9
    assert np.abs(a.geometry.y.to_numpy() - b.geometry.y.to_numpy()).max() < 1e-9
    with pytest.raises(InvalidInputError, match="look like degrees; pass datum='bd09'"):
        read_establishments(ll, datum="bd09mc")


def test_api_rows_write_to_parquet_and_gpkg(tmp_path: Path) -> None:
    from clusterscape.io import write_layer

    for name, doc in (("a.json", [AMAP_V3, AMAP_V5]), ("b.json", BAIDU_V2)):
        est = read_establishments(_dump(tmp_path, name, doc)).establishments
        for suffix in (".parquet", ".gpkg"):
            out = tmp_path / f"{name}{suffix}"
            write_layer(est, out)
            back = read_establishments(out)
            assert sorted(back.establishments["id"]) == sorted(est["id"])


def test_baidu_city_list_is_not_pois(tmp_path: Path) -> None:
    cities = {
        "status": 0,
        "message": "ok",
        "result_type": "city_type",
        "results": [{"name": "宁波市", "num": 120}, {"name": "杭州市", "num": 310}],
    }
    p = _lines(tmp_path, "c.jsonl", [cities, BAIDU_V2])
    res = read_establishments(p)
    assert len(res.establishments) == 2 and res.rejected.empty
    assert res.skipped["Baidu city list"] == 1
    assert any("city_type" in m for m in res.messages)


def test_dask_engine_refuses_bd09mc(tmp_path: Path) -> None:
    pytest.importorskip("dask")
    from clusterscape.study.dask import read_establishments_dask

    p = tmp_path / "mc.csv"
    pd.DataFrame({"name": ["a"], "x": [13532000.0], "y": [3460000.0]}).to_csv(p, index=False)
    with pytest.raises(InvalidInputError, match="default engine only"):
        read_establishments_dask(p, datum="bd09mc")


def test_study_records_the_providers_datum(tmp_path: Path) -> None:
    from clusterscape.study.config import StudyConfig
    from clusterscape.study.run import _load

    p = _dump(tmp_path, "resp.json", AMAP_V5)
    loaded = _load(StudyConfig(establishments=str(p)))
    # the run's datum (for boundary, parks, factors) stays wgs84; the establishments' is GCJ-02
    assert loaded.source_crs == "wgs84" and loaded.read_datum == "gcj02"
    csv = tmp_path / "plain.csv"
    pd.DataFrame({"name": ["a"], "lng": [121.55], "lat": [29.87]}).to_csv(csv, index=False)
    assert _load(StudyConfig(establishments=str(csv))).read_datum == ""


def test_amap_location_as_object_or_list(tmp_path: Path) -> None:
    pois = [
        {
            "id": "A1",
            "name": "a",
            "typecode": "140100",
            "location": {"lng": 121.5722, "lat": 29.8855},
        },
        {"id": "A2", "name": "b", "typecode": "140100", "location": ["121.5722", "29.8855"]},
        {"id": "A3", "name": "c", "typecode": "140100", "location": "121.5722,29.8855"},
    ]
    res = read_establishments(_dump(tmp_path, "o.json", {"status": "1", "pois": pois}))
    assert len(res.establishments) == 3
    assert _xy(res, "A1") == _xy(res, "A2") == _xy(res, "A3")
