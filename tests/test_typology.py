"""Tests of clusterscape.typology: planted forms, ambiguous clusters, every threshold both sides.

Independent checks: Gini against its closed form and the O(n^2) definition, PCA line fit
against scikit-learn, rectangle aspect and overlap areas against hand geometry, park
distances against hand geometry; planted clusters placed at the real Ningbo park positions
from /work/shared/data/ningbo/creative_parks.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from clusterscape import typology
from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.typology import FORMS, FormThresholds, assign_forms, gini, line_fit

CRS = "EPSG:32651"  # UTM 51N, Ningbo
X0, Y0 = 360_000.0, 3_305_000.0
TH = FormThresholds()
PARKS_CSV = Path("/work/shared/data/ningbo/creative_parks/ningbo_creative_parks.csv")


# ----------------------------------------------------------------------------- builders


def blob(rng, n, centre=(0.0, 0.0), sd_m=80.0):
    return rng.normal(0.0, sd_m, (n, 2)) + np.asarray(centre)


def street(rng, n, centre=(0.0, 0.0), length_m=1000.0, angle_deg=37.0, jitter_m=15.0):
    t = rng.uniform(-length_m / 2, length_m / 2, n)
    a = math.radians(angle_deg)
    xy = np.column_stack([t * math.cos(a), t * math.sin(a)])
    return xy + rng.normal(0, jitter_m, (n, 2)) + np.asarray(centre)


def group(xy, cluster, opened, employees=None, names=None):
    n = len(xy)
    emp = np.full(n, 10.0) if employees is None else np.asarray(employees, dtype=float)
    return pd.DataFrame(
        {
            "x": xy[:, 0] + X0,
            "y": xy[:, 1] + Y0,
            "cluster": cluster,
            "opened": pd.array(np.broadcast_to(opened, n), dtype="Int64"),
            "employees": pd.array(emp, dtype="Float64"),
            "name": names if names is not None else [f"firm {cluster}-{i}" for i in range(n)],
        }
    )


def scenario(*groups, wgs84=True, buffer_m=30.0):
    """Establishments (WGS-84 by default) and clusters (metric, convex hull + buffer)."""
    df = pd.concat(groups, ignore_index=True)
    pts = gpd.points_from_xy(df["x"], df["y"])
    est = gpd.GeoDataFrame(df.drop(columns=["x", "y"]), geometry=pts, crs=CRS)
    ids = sorted(c for c in df["cluster"].unique() if c >= 0)
    hulls = [
        est[est["cluster"] == c].geometry.union_all().convex_hull.buffer(buffer_m) for c in ids
    ]
    clusters = gpd.GeoDataFrame(geometry=hulls, index=pd.Index(ids, name="cluster_id"), crs=CRS)
    return clusters, (est.to_crs("EPSG:4326") if wgs84 else est)


def registry(*rows, crs=CRS):
    """Parks registry rows: (name, x, y, opened, government_support, former_use, form[, location])."""
    cols = ["name", "x", "y", "opened", "government_support", "former_use", "form", "location"]
    df = pd.DataFrame([r if len(r) == 8 else (*r, "exact") for r in rows], columns=cols)
    df["opened"] = pd.array(df["opened"], dtype="Int64")
    df["government_support"] = df["government_support"].astype(bool)
    shift = (X0, Y0) if crs == CRS else (0.0, 0.0)
    geom = gpd.points_from_xy(df["x"] + shift[0], df["y"] + shift[1])
    return gpd.GeoDataFrame(df.drop(columns=["x", "y"]), geometry=geom, crs=crs).to_crs("EPSG:4326")


def land(*rows):
    """Landuse rows: (landuse, former_use, industrial_until, shapely box in local metres)."""
    df = pd.DataFrame([r[:3] for r in rows], columns=["landuse", "former_use", "industrial_until"])
    df["industrial_until"] = pd.array(df["industrial_until"], dtype="Int64")
    geoms = [shapely.affinity.translate(r[3], X0, Y0) for r in rows]
    return gpd.GeoDataFrame(df, geometry=geoms, crs=CRS).to_crs("EPSG:4326")


def square(clusters, half_m=100.0):
    """A 2 half_m x 2 half_m footprint centred on the local origin, for each cluster."""
    box = shapely.box(X0 - half_m, Y0 - half_m, X0 + half_m, Y0 + half_m)
    return gpd.GeoSeries([box] * len(clusters), index=clusters.index, crs=CRS)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def planted(rng):
    """One clean cluster of each form, 3 km apart, with a registry (no forms) and a mill site."""
    new = group(blob(rng, 40), 0, rng.integers(2012, 2016, 40), rng.integers(3, 30, 40))
    conv = group(blob(rng, 40, (3000, 0)), 1, rng.integers(2004, 2021, 40), rng.integers(3, 30, 40))
    strt = group(
        street(rng, 50, (0, 3000)), 2, rng.integers(1995, 2021, 50), rng.integers(3, 30, 50)
    )
    emp = np.r_[2500.0, rng.integers(3, 30, 29)]
    anch = group(blob(rng, 30, (3000, 3000)), 3, rng.integers(1995, 2021, 30), emp)
    clusters, est = scenario(new, conv, strt, anch)
    parks = registry(
        ("Chuangxin 128", 50, 0, 2012, True, "", ""),
        ("Hefeng", 3000, 0, 2008, True, "cotton mill", ""),
        ("Design Street", 0, 3000, 2010, True, "", "", "approximate"),
    )
    mill = land(("brownfield", "cotton mill", 2002, shapely.box(2600, -400, 3400, 400)))
    return clusters, est, parks, mill


# ----------------------------------------------------------------------------- planted forms


def test_planted_forms_recovered_from_data(planted):
    clusters, est, parks, mill = planted
    out = assign_forms(clusters, est, parks=parks, landuse=mill)
    assert list(out.index) == list(clusters.index)
    assert list(out["form"]) == list(FORMS)
    assert (out["evidence_source"] == "data").all()
    assert (out["form_confidence"] >= 0.6).all()
    assert out.loc[0, "evidence"].startswith("new_park")
    assert "2012" in out.loc[0, "evidence"] and "Chuangxin 128" in out.loc[0, "evidence"]
    assert (
        "100% of the footprint and 100% of firms on former industrial land"
        in out.loc[1, "evidence"]
    )
    assert out.loc[2, "elongation"] > 10 and out.loc[2, "line_buffer_share"] == 1.0
    assert out.loc[3, "anchor_name"] == "firm 3-0" and out.loc[3, "top_firm_share"] > 0.7
    # Markusen: registry government support -> state-anchored; the private anchor -> hub
    assert list(out["markusen"]) == ["state_anchored"] * 3 + ["hub_and_spoke"]


def test_forms_without_registry_or_landuse(planted):
    clusters, est, _, _ = planted
    out = assign_forms(clusters, est)
    # A founding wave alone is not a new park: the form needs a dated registry park.
    assert out.loc[0, "form"] == "unclassified"
    assert out.loc[0, "wave_start_source"] == "cluster's first year"
    assert "new_park needs a matched registry park" in out.loc[0, "evidence"]
    assert out.loc[1, "form"] == "unclassified"  # no land evidence: organic spread of years
    assert out.loc[1, "form_confidence"] == 0.0
    # A street without evidence of government support is only a linear shape.
    assert out.loc[2, "form"] == "unclassified" and out.loc[2, "shape"] == "linear"
    assert "needs evidence of government support" in out.loc[2, "evidence"]
    assert out.loc[3, "form"] == "anchor_enterprise"  # headcounts are the evidence
    assert out.loc[1, "markusen"] == "marshallian"


def test_registry_form_overrides(planted):
    clusters, est, parks, mill = planted
    parks = parks.assign(form=["anchor_enterprise", "", ""])
    out = assign_forms(clusters, est, parks=parks, landuse=mill)
    assert out.loc[0, "form"] == "anchor_enterprise"
    assert out.loc[0, "evidence"] == "registry"
    assert out.loc[0, "form_confidence"] == 1.0
    assert out.loc[0, "data_form"] == "new_park"  # the data's own view is kept
    assert out.loc[0, "registry_form"] == "anchor_enterprise"


def test_registry_park_claims_only_its_nearest_cluster(rng):
    a = group(blob(rng, 30, (0, 0), 40), 0, 2015)
    b = group(blob(rng, 30, (600, 0), 40), 1, 2015)
    clusters, est = scenario(a, b)
    parks = registry(("P", 150, 0, 2012, True, "mill", "converted_industrial"))
    out = assign_forms(clusters, est, parks=parks)
    assert (out["nearest_park"] == "P").all() and (out["nearest_park_m"] < 1000).all()
    assert list(out["park_matched"]) == [True, False]
    assert list(out["evidence_source"]) == ["registry", "data"]
    # the farther cluster gets none of the park's facts: no opening year, support, former use
    assert out.loc[0, "government_support"] and not out.loc[1, "government_support"]
    assert out.loc[0, "park_opened"] == 2012 and np.isnan(out.loc[1, "park_opened"])
    assert out.loc[1, "registry_former_use"] == "" and out.loc[1, "form"] == "unclassified"


@pytest.mark.parametrize(("distance_m", "location", "applies"), [
    (249.0, "exact", True), (251.0, "exact", False),
    (499.0, "approximate", True), (501.0, "approximate", False),
])  # fmt: skip
def test_registry_former_use_site_distance_both_sides(rng, distance_m, location, applies):
    g = group(rng.uniform(-50, 50, (20, 2)), 0, rng.integers(1995, 2021, 20))
    clusters, est = scenario(g)
    clusters = clusters.set_geometry(square(clusters))
    parks = registry(("P", 100 + distance_m, 0, pd.NA, False, "depot", "", location))
    out = assign_forms(clusters, est, parks=parks)
    assert out.loc[0, "park_matched"]
    assert (out.loc[0, "registry_former_use"] == "depot") == applies
    assert (out.loc[0, "form"] == "converted_industrial") == applies


def test_unknown_registry_form_is_refused(planted):
    clusters, est, parks, _ = planted
    with pytest.raises(InvalidInputError, match=r"science_park.*not one of"):
        assign_forms(clusters, est, parks=parks.assign(form=["science_park", "", ""]))


# ----------------------------------------------------------------------------- ambiguous


def test_brownfield_with_dominant_anchor_is_ambiguous(rng):
    emp = np.r_[3000.0, rng.integers(3, 30, 29)]
    g = group(blob(rng, 30), 0, rng.integers(2003, 2006, 30), emp)  # a founding wave too
    clusters, est = scenario(g)
    mill = land(("brownfield", "", 2001, shapely.box(-500, -500, 500, 500)))
    out = assign_forms(clusters, est, landuse=mill)
    row = out.loc[0]
    assert row["form"] == "unclassified" and row["form_confidence"] == 0.0
    # converted 0.6 + 0.2 (after use) + 0.2 (wave) - 0.5; anchor 0.6 + 0.2 + 0.2 - 0.5
    assert row["score_converted_industrial"] == 0.5 and row["score_anchor_enterprise"] == 0.5
    assert "within 0.2" in row["evidence"] and "industrial land" in row["evidence"]
    assert row["markusen"] == "hub_and_spoke"


def test_no_signature_is_unclassified_with_low_confidence(rng):
    g = group(blob(rng, 40), 0, rng.integers(1990, 2021, 40), rng.integers(3, 30, 40))
    out = assign_forms(*scenario(g))
    assert out.loc[0, "form"] == "unclassified"
    assert out.loc[0, "form_confidence"] == 0.0
    assert "no form reaches" in out.loc[0, "evidence"]


def test_empty_cluster_and_index_alignment(rng):
    g = group(blob(rng, 30), 7, 2015)
    clusters, est = scenario(g)
    extra = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 5e3, Y0, X0 + 5.1e3, Y0 + 100)], crs=CRS)
    clusters = pd.concat([clusters, extra.set_axis(pd.Index([3], name="cluster_id"))])
    out = assign_forms(clusters, est)
    assert list(out.index) == [7, 3]
    assert out.loc[3, "form"] == "unclassified" and out.loc[3, "n_members"] == 0
    assert out.loc[7, "form"] == "unclassified"  # a wave but no registry park
    empty = assign_forms(clusters.iloc[0:0], est)
    assert len(empty) == 0 and {"form", "evidence", "elongation"} <= set(empty.columns)


# ----------------------------------------------------------------------------- decision thresholds


def base_row(**changes):
    """Evidence of a cluster where no indicator fires."""
    row = {
        "n_members": 40, "park_matched": False, "nearest_park": None, "nearest_park_m": np.nan,
        "park_opened": np.nan, "government_support": False, "registry_form": "",
        "registry_former_use": "", "brownfield_overlap": 0.0, "brownfield_member_share": 0.0,
        "after_industrial_share": np.nan,
        "wave_start_year": 2000.0, "wave_start_source": "cluster's first year",
        "founding_wave_share": 0.2, "founded_before_share": 0.1, "founding_iqr_years": 8.0,
        "line_r2": 0.5, "line_buffer_share": 0.5, "line_length_m": 300.0, "elongation": 1.2,
        "top_firm_share": 0.05, "size_gini_rest": 0.6, "median_employees": 10.0,
        "anchor_name": "A", "anchor_employees": 500.0, "anchor_public": False, "branch_share": 0.0,
    }  # fmt: skip
    row.update(changes)
    return row


LINE = {"elongation": 5.0, "line_buffer_share": 0.95, "line_length_m": 800.0}
PARK = {"wave_start_source": "park opening", "park_matched": True, "park_opened": 2000.0}

# (indicator, changes below the threshold, changes at / past it, context that makes it matter)
THRESHOLDS = [
    ("wave", {"founding_wave_share": 0.49}, {"founding_wave_share": 0.5}, {}),
    ("post_opening", {"founded_before_share": 0.21}, {"founded_before_share": 0.2}, PARK),
    ("brownfield", {"brownfield_overlap": 0.29}, {"brownfield_overlap": 0.3}, {}),
    ("brownfield", {"brownfield_member_share": 0.29}, {"brownfield_member_share": 0.3}, {}),
    ("after_industrial", {"after_industrial_share": 0.79}, {"after_industrial_share": 0.8}, {}),
    ("line", {"elongation": 2.99}, {"elongation": 3.0}, LINE),
    ("line", {"line_buffer_share": 0.79}, {"line_buffer_share": 0.8}, LINE),
    ("line", {"line_length_m": 199.0}, {"line_length_m": 200.0}, LINE),
    ("dominant", {"top_firm_share": 0.29}, {"top_firm_share": 0.3}, {}),
    ("dominant", {"anchor_employees": 99.0}, {"anchor_employees": 100.0}, {"top_firm_share": 0.5}),
    ("rest_alike", {"size_gini_rest": 0.5}, {"size_gini_rest": 0.49}, {}),
]


@pytest.mark.parametrize(("flag", "below", "above", "ctx"), THRESHOLDS)
def test_indicator_thresholds_both_sides(flag, below, above, ctx):
    assert not typology._indicators(base_row(**{**ctx, **below}), TH)[flag]
    assert typology._indicators(base_row(**{**ctx, **above}), TH)[flag]


def test_post_opening_needs_a_park_opening():
    row = base_row(founded_before_share=0.0)  # start = cluster's first year
    assert not typology._indicators(row, TH)["post_opening"]


def test_registry_former_use_alone_is_brownfield():
    assert typology._indicators(base_row(registry_former_use="depot"), TH)["brownfield"]


@pytest.mark.parametrize(
    ("changes", "form", "score"),
    [
        ({"founding_wave_share": 0.9, **PARK, "founded_before_share": 0.3}, "new_park", 0.8),
        ({"founding_wave_share": 0.9, "founded_before_share": 0.0, **PARK}, "new_park", 1.0),
        ({"brownfield_overlap": 0.5}, "converted_industrial", 0.6),
        ({**LINE, "government_support": True}, "government_street", 1.0),
        ({**LINE, "government_member_share": 0.5}, "government_street", 1.0),
        ({"top_firm_share": 0.5}, "anchor_enterprise", 0.8),  # + independent (no support)
        ({"top_firm_share": 0.5, "size_gini_rest": 0.2}, "anchor_enterprise", 1.0),
    ],
)
def test_each_signature_alone_classifies(changes, form, score):
    form_, conf, why, scores, _ = typology._decide(base_row(**changes), TH)
    assert (form_, scores[form]) == (form, pytest.approx(score))
    assert conf == pytest.approx(score * score)  # runner-up scores 0
    assert why.startswith(form)


def test_wave_does_not_make_a_brownfield_a_new_park():
    row = base_row(founding_wave_share=0.9, brownfield_overlap=0.8, after_industrial_share=0.95)
    form, conf, _, scores, _ = typology._decide(row, TH)
    assert form == "converted_industrial" and scores["new_park"] == 0.0 and conf == 1.0


def test_score_floor_both_sides():
    # brownfield + after-use + wave (1.0) minus the anchor penalty -> 0.5; anchor (0.6+0.2) - 0.5 = 0.3
    row = base_row(
        brownfield_overlap=0.8, after_industrial_share=0.9, founding_wave_share=0.9,
        top_firm_share=0.5, government_support=True, size_gini_rest=0.2,
    )  # fmt: skip
    form, conf, *_ = typology._decide(row, TH)
    assert form == "converted_industrial" and conf == pytest.approx(0.5 * 0.2)  # top = floor
    form, _, why, *_ = typology._decide(row, replace(TH, score_floor=0.51))
    assert form == "unclassified" and "no form reaches score 0.51" in why


def test_score_margin_both_sides():
    row = base_row(
        brownfield_overlap=0.8,
        after_industrial_share=0.9,
        founding_wave_share=0.9,
        top_firm_share=0.5,
        government_support=True,
        size_gini_rest=0.2,
    )  # fmt: skip  -> lead 0.5 - 0.3 = 0.2, exactly the default margin
    assert typology._decide(row, TH)[0] == "converted_industrial"
    assert typology._decide(row, replace(TH, score_margin=0.21))[0] == "unclassified"
    tie = base_row(brownfield_overlap=0.8, top_firm_share=0.5, founding_wave_share=0.9)
    form, conf, *_ = typology._decide(tie, TH)  # 0.3 vs 0.3 (converted vs anchor)
    assert form == "unclassified" and conf == 0.0


# ----------------------------------------------------------------------------- Markusen thresholds


def markusen(form="unclassified", **changes):
    row = base_row(**changes)
    return typology._markusen(row, form, typology._indicators(row, TH), TH)[0]


def test_markusen_rules_both_sides():
    assert markusen(top_firm_share=0.3) == "hub_and_spoke"
    assert markusen(top_firm_share=0.3, anchor_public=True) == "state_anchored"
    assert markusen(top_firm_share=0.29, anchor_public=True) == "marshallian"
    assert markusen(branch_share=0.3) == "satellite_platform"
    assert markusen(branch_share=0.29) == "marshallian"
    assert markusen(government_support=True, nearest_park="P") == "state_anchored"
    assert markusen("new_park", branch_share=0.15, founding_iqr_years=2.0) == "satellite_platform"
    assert markusen("new_park", branch_share=0.14, founding_iqr_years=2.0) == "unclassified"
    assert (
        markusen("government_street", branch_share=0.15, founding_iqr_years=2.0) == "unclassified"
    )


@pytest.mark.parametrize(
    ("field", "fails", "passes"),
    [("n_members", 9, 10), ("median_employees", 50.0, 49.9), ("founding_iqr_years", 4.9, 5.0)],
)
def test_marshallian_thresholds_both_sides(field, fails, passes):
    assert markusen(**{field: fails}) == "unclassified"
    assert markusen(**{field: passes}) == "marshallian"


def test_public_anchor_and_branches_detected_from_members(rng):
    emp = np.r_[1500.0, rng.integers(3, 30, 19)]
    names = ["宁波大学科技园"] + [f"设计公司{i}" for i in range(19)]
    uni = group(blob(rng, 20), 0, rng.integers(1995, 2021, 20), emp, names)
    names = [f"某某科技宁波分公司{i}" for i in range(8)] + [f"设计{i}" for i in range(12)]
    sat = group(blob(rng, 20, (3000, 0)), 1, rng.integers(1995, 2021, 20), None, names)
    out = assign_forms(*scenario(uni, sat))
    assert out.loc[0, "anchor_public"] and out.loc[0, "markusen"] == "state_anchored"
    assert out.loc[1, "branch_share"] == pytest.approx(0.4)
    assert out.loc[1, "markusen"] == "satellite_platform"
    code = uni.assign(name=[f"firm{i}" for i in range(20)], code=["8341"] + ["7491"] * 19)
    assert assign_forms(*scenario(code)).loc[0, "anchor_public"]


# ----------------------------------------------------------------------------- measured evidence


def test_gini_against_closed_forms_and_definition(rng):
    for n in (2, 5, 50):
        assert gini(np.arange(1, n + 1)) == pytest.approx((n - 1) / (3 * n), abs=1e-12)
        assert gini(np.r_[np.zeros(n - 1), 7.0]) == pytest.approx((n - 1) / n, abs=1e-12)
    x = rng.lognormal(2, 1, 200)
    brute = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert gini(x) == pytest.approx(brute, rel=1e-12)
    assert gini([5, 5, 5]) == 0.0 and math.isnan(gini([3.0])) and math.isnan(gini([0, 0]))
    with pytest.raises(InvalidInputError, match=">= 0"):
        gini([-1, 2, 3])


def test_line_fit_matches_sklearn_pca_and_rectangle(rng):
    from sklearn.decomposition import PCA

    xy = street(rng, 200, length_m=900, jitter_m=30)
    fit = line_fit(xy, buffer_m=75.0, trim=0.0)
    assert fit["line_r2"] == pytest.approx(PCA(2).fit(xy).explained_variance_ratio_[0], abs=1e-12)
    # corners of a 600 m x 100 m rectangle rotated by 30 degrees: aspect 6 exactly
    rect = np.array([[0, 0], [600, 0], [600, 100], [0, 100], [300, 50]], dtype=float)
    rot = np.array([[math.cos(0.5236), -math.sin(0.5236)], [math.sin(0.5236), math.cos(0.5236)]])
    fit = line_fit(rect @ rot.T, trim=0.0)
    assert fit["elongation"] == pytest.approx(6.0, rel=1e-9)
    assert fit["line_length_m"] == pytest.approx(600.0, rel=1e-9)
    assert math.isnan(line_fit(xy[:2])["elongation"])
    collinear = np.column_stack([np.arange(5.0) * 100, np.zeros(5)])
    assert line_fit(collinear, trim=0.0)["elongation"] == 400.0  # degenerate rectangle


def test_line_buffer_both_sides():
    # 30 firms on the axis and 5 pairs mirrored across it at +-offset: the axis stays y = 0
    t = np.r_[np.linspace(-500, 500, 30), np.repeat([-400.0, -200.0, 0.0, 200.0, 400.0], 2)]
    for offset, share in ((74.9, 1.0), (75.1, 0.75)):
        across = np.r_[np.zeros(30), np.tile([offset, -offset], 5)]
        fit = line_fit(np.column_stack([t, across]), buffer_m=75.0, trim=0.0)
        assert fit["line_buffer_share"] == pytest.approx(share)


def test_elongation_trim_ignores_a_stray_firm():
    t = np.linspace(-400, 400, 40)
    xy = np.column_stack([t, np.zeros(40)])
    xy[0] = [0.0, 300.0]  # one firm 300 m off the street
    assert line_fit(xy, trim=0.0)["elongation"] < 3.0
    assert line_fit(xy, trim=0.05)["elongation"] >= 3.0


@pytest.mark.parametrize(("distance_m", "location", "matched"), [
    (999.0, "exact", True), (1001.0, "exact", False),
    (1999.0, "approximate", True), (2001.0, "approximate", False),
])  # fmt: skip
def test_park_match_distance_both_sides(rng, distance_m, location, matched):
    g = group(rng.uniform(-50, 50, (20, 2)), 0, 2015)
    clusters, est = scenario(g, buffer_m=0.0)
    clusters = clusters.set_geometry(square(clusters))
    parks = registry(("P", 100 + distance_m, 0, 2015, True, "", "", location))
    out = assign_forms(clusters, est, parks=parks)
    assert out.loc[0, "nearest_park_m"] == pytest.approx(distance_m, abs=0.01)
    assert out.loc[0, "park_matched"] == matched
    assert out.loc[0, "government_support"] == matched


@pytest.mark.parametrize(("founded", "share"), [(2013, 1.0), (2014, 0.0), (2009, 0.0)])
def test_wave_years_both_sides(rng, founded, share):
    g = group(blob(rng, 20, sd_m=40), 0, founded)
    parks = registry(("P", 0, 0, 2010, False, "", ""))
    out = assign_forms(*scenario(g), parks=parks)
    assert out.loc[0, "wave_start_year"] == 2010
    assert out.loc[0, "founding_wave_share"] == share
    assert out.loc[0, "founded_before_share"] == (1.0 if founded < 2010 else 0.0)


def test_first_year_is_robust_to_one_old_firm(rng):
    years = np.r_[1985, np.full(19, 2016)]
    out = assign_forms(*scenario(group(blob(rng, 20, sd_m=40), 0, years)))
    assert out.loc[0, "wave_start_year"] == 2016 and out.loc[0, "founding_wave_share"] == 0.95
    strict = replace(TH, first_year_quantile=0.0)
    out = assign_forms(*scenario(group(blob(rng, 20, sd_m=40), 0, years)), thresholds=strict)
    assert out.loc[0, "wave_start_year"] == 1985 and out.loc[0, "form"] == "unclassified"


@pytest.mark.parametrize(("covered_m", "overlap"), [(58.0, 0.29), (62.0, 0.31)])
def test_brownfield_overlap_by_area_both_sides(rng, covered_m, overlap):
    g = group(rng.uniform(50, 90, (30, 2)), 0, rng.integers(2005, 2021, 30))  # firms off the site
    clusters, est = scenario(g)
    clusters = clusters.set_geometry(square(clusters))
    # a mill polygon covering the westmost covered_m of the 200 m square (hand area ratio)
    mill = land(("brownfield", "", 2000, shapely.box(-400, -400, -100 + covered_m, 400)))
    out = assign_forms(clusters, est, landuse=mill)
    assert out.loc[0, "brownfield_overlap"] == pytest.approx(overlap, abs=1e-9)
    assert out.loc[0, "brownfield_member_share"] == 0.0
    assert (out.loc[0, "form"] == "converted_industrial") == (overlap >= 0.3)


@pytest.mark.parametrize(("on_site", "converted"), [(5, False), (6, True)])
def test_brownfield_member_share_both_sides(rng, on_site, converted):
    # 20 firms; on_site of them inside a small mill polygon that covers < 10% of the footprint
    xy = np.r_[rng.uniform(-10, 10, (on_site, 2)), rng.uniform(30, 90, (20 - on_site, 2))]
    clusters, est = scenario(group(xy, 0, rng.integers(2005, 2021, 20)))
    clusters = clusters.set_geometry(square(clusters))
    out = assign_forms(
        clusters, est, landuse=land(("brownfield", "", 2000, shapely.box(-20, -20, 20, 20)))
    )
    assert out.loc[0, "brownfield_overlap"] == pytest.approx(0.04)
    assert out.loc[0, "brownfield_member_share"] == on_site / 20
    assert (out.loc[0, "form"] == "converted_industrial") == converted


@pytest.mark.parametrize(
    ("kind", "former", "until", "counted"),
    [
        ("brownfield", "", None, True),
        ("industrial", "", 2001, True),
        ("commercial", "textile mill", None, True),
        ("industrial", "", None, False),  # active industrial zoning: not former industrial land
        ("commercial", "", None, False),
    ],
)
def test_which_land_counts_as_former_industrial(rng, kind, former, until, counted):
    g = group(blob(rng, 20, sd_m=40), 0, 2010)
    out = assign_forms(
        *scenario(g), landuse=land((kind, former, until, shapely.box(-500, -500, 500, 500)))
    )
    assert out.loc[0, "brownfield_overlap"] == (1.0 if counted else 0.0)
    assert out.loc[0, "brownfield_member_share"] == (1.0 if counted else 0.0)


def test_after_industrial_share_counts_firms_on_the_site(rng):
    years = np.r_[np.full(6, 1998), np.full(14, 2006)]  # 6 predate the end of use (2001)
    on_site = group(rng.uniform(-80, 80, (20, 2)), 0, years)
    mill = land(("industrial", "dye works", 2001, shapely.box(-100, -100, 100, 100)))
    out = assign_forms(*scenario(on_site), landuse=mill)
    assert out.loc[0, "after_industrial_share"] == pytest.approx(0.7)
    mill = land(("industrial", "dye works", 1997, shapely.box(-100, -100, 100, 100)))
    out = assign_forms(*scenario(on_site), landuse=mill)
    assert out.loc[0, "after_industrial_share"] == 1.0
    assert "100% of firms there founded after" in out.loc[0, "evidence"]


def test_dominance_values_by_hand(rng):
    emp = [100.0, 20.0, 20.0, 40.0, 20.0]
    out = assign_forms(*scenario(group(blob(rng, 5, sd_m=30), 0, 2010, emp)))
    assert out.loc[0, "top_firm_share"] == pytest.approx(0.5)
    assert out.loc[0, "anchor_employees"] == 100.0
    assert out.loc[0, "size_gini_rest"] == pytest.approx(gini([20, 20, 40, 20]))
    assert out.loc[0, "median_employees"] == 20.0


# ----------------------------------------------------------------------------- contracts and errors


def test_inputs_are_not_mutated(planted):
    clusters, est, parks, mill = planted
    before = [x.copy() for x in (clusters, est, parks, mill)]
    assign_forms(clusters, est, parks=parks, landuse=mill)
    for b, a in zip(before, (clusters, est, parks, mill), strict=True):
        pd.testing.assert_frame_equal(b, a)


def test_errors_are_actionable(planted):
    clusters, est, parks, _ = planted
    with pytest.raises(CRSError, match="metres"):
        assign_forms(clusters.to_crs("EPSG:4326"), est)
    with pytest.raises(CRSError, match="no CRS"):
        assign_forms(clusters, est.set_crs(None, allow_override=True))
    with pytest.raises(InvalidInputError, match=r"lack.*cluster"):
        assign_forms(clusters, est.drop(columns="cluster"))
    with pytest.raises(InvalidInputError, match=r"parks registry lacks.*former_use"):
        assign_forms(clusters, est, parks=parks.drop(columns="former_use"))
    with pytest.raises(InvalidInputError, match="penalty must be"):
        FormThresholds(penalty=-1.0)
    with pytest.raises(InvalidInputError, match=r"first_year_quantile must lie in \[0, 1\)"):
        FormThresholds(first_year_quantile=1.0)
    with pytest.raises(InvalidInputError, match=r"elongation_trim must lie in \[0, 0.5\)"):
        FormThresholds(elongation_trim=0.5)


# ----------------------------------------------------------------------------- real Ningbo park sites


@pytest.mark.skipif(not PARKS_CSV.exists(), reason="shared Ningbo data not mounted")
def test_planted_forms_at_real_ningbo_park_sites(rng):
    """Plant each form at a real park position (WGS-84) and type it with a registry built there."""
    real = pd.read_csv(PARKS_CSV).dropna(subset=["lon"]).set_index("name_en")
    sites = {
        "new_park": real.loc["Chuangxin 128 (Innovation 128) park"],
        "converted_industrial": real.loc["Hefeng Creative Square"],
        "government_street": real.loc["Ningbo Old Bund"],
        "anchor_enterprise": real.loc["Yinzhou Sci-Tech Information Incubator"],
    }
    ll = gpd.GeoSeries(
        gpd.points_from_xy([s.lon for s in sites.values()], [s.lat for s in sites.values()]),
        crs=4326,
    )
    centres = np.column_stack([ll.to_crs(CRS).x - X0, ll.to_crs(CRS).y - Y0])
    groups = [
        group(blob(rng, 40, centres[0]), 0, rng.integers(2012, 2016, 40), rng.integers(3, 30, 40)),
        group(blob(rng, 40, centres[1]), 1, rng.integers(2011, 2021, 40), rng.integers(3, 30, 40)),
        group(street(rng, 40, centres[2], length_m=800), 2, rng.integers(1995, 2021, 40)),
        group(
            blob(rng, 30, centres[3]),
            3,
            rng.integers(2000, 2021, 30),
            np.r_[2000.0, np.full(29, 12.0)],
        ),
    ]
    clusters, est = scenario(*groups)
    parks = gpd.GeoDataFrame(
        {
            "name": list(sites),
            "opened": pd.array([2012, 2011, 2009, pd.NA], dtype="Int64"),
            "government_support": [True, True, True, False],
            "former_use": ["", "cotton mill", "", ""],
            "form": ["", "", "", ""],
            "location": ["exact"] * 4,
        },
        geometry=ll.to_numpy(),
        crs=4326,
    )
    out = assign_forms(clusters, est, parks=parks)
    assert list(out["data_form"]) == list(FORMS)
    assert (out["nearest_park_m"] < 1.0).all()


# ----------------------------------------------------------------------------- built-in Ningbo study


@pytest.fixture(scope="module")
def ningbo_study():
    datasets = pytest.importorskip("clusterscape.datasets")
    return datasets.ningbo(seed=0)


def test_ningbo_planted_forms_recovered_from_true_membership(ningbo_study):
    """Perfect detection: the planted members and footprints; the typology must name each form."""
    s = ningbo_study
    truth = s.truth["clusters"]
    keys = list(truth.index)
    label = s.truth["membership"]["planted_cluster"].map({k: i for i, k in enumerate(keys)})
    # the hotels and malls a cluster attracts carry its key but are not its members
    attracted = s.truth["membership"]["role"].astype(str).str.startswith("amenity_effect")
    label = label.where(~attracted)
    est = s.establishments.assign(cluster=label.fillna(-1).astype(int).to_numpy())
    clusters = truth[["geometry"]].to_crs(CRS).reset_index(drop=True)
    out = assign_forms(clusters, est, parks=s.parks, landuse=s.landuse)
    assert list(out["data_form"]) == list(truth["form"])
    assert (out["form"] == truth["form"].to_numpy()).all()
    assert (out["park_matched"]).all()
    # without the registry the land layer alone still identifies the converted sites (and
    # headcounts the anchor); new parks and streets need the registry's evidence
    out = assign_forms(clusters, est, landuse=s.landuse)
    kept = truth["form"].isin(["converted_industrial", "anchor_enterprise"]).to_numpy()
    assert list(out["data_form"][kept]) == list(truth["form"][kept])
    assert (out["data_form"][~kept] == "unclassified").all()
    # with no registry and no land layer only headcounts remain as evidence: the anchor is
    # still found; parks, converted sites and streets are left unclassified, not guessed
    out = assign_forms(clusters, est)
    anchor = (truth["form"] == "anchor_enterprise").to_numpy()
    assert (out["data_form"][~anchor] == "unclassified").all()
    assert (out["data_form"][anchor] == "anchor_enterprise").all()


@pytest.mark.slow
def test_ningbo_planted_forms_recovered_after_detection(ningbo_study):
    """The pipeline path: classify, HDBSCAN, typology; background clusters stay unclassified."""
    from clusterscape.detect.clusters import detect_clusters
    from clusterscape.taxonomy import classify_establishments

    s = ningbo_study
    est = classify_establishments(s.establishments).to_crs(CRS)
    det = detect_clusters(est[est["is_creative"]], seed=0, stability_draws=0)
    est = est.assign(cluster=det.labels.reindex(est.index, fill_value=-1).to_numpy())
    out = assign_forms(det.clusters, est, parks=s.parks, landuse=s.landuse)
    truth = s.truth["clusters"].to_crs(CRS)
    matched = set()
    for key, site in truth.iterrows():
        cid = det.clusters.geometry.intersection(site.geometry).area.idxmax()
        matched.add(cid)
        assert out.loc[cid, "data_form"] == site["form"], (key, out.loc[cid, "data_evidence"])
    others = out.drop(index=list(matched))
    assert (others["data_form"] == "unclassified").mean() >= 0.8


def test_optional_columns_missing_make_facts_unknown(rng):
    """Only geometry and membership: founding and size facts are NaN, geometry still decides."""
    clusters, est = scenario(group(street(rng, 40), 0, 2015))
    est = est[["cluster", "geometry"]]
    parks = registry(("P", 0, 0, 2010, True, "", "")).drop(columns="location")
    parks["government_support"] = pd.array([pd.NA], dtype="boolean")
    out = assign_forms(clusters, est, parks=parks)
    row = out.loc[0]
    assert np.isnan(row["founding_wave_share"]) and np.isnan(row["top_firm_share"])
    assert row["park_matched"] and not row["government_support"]
    # the line is a shape, not a government street (no support); the dated registry park
    # with no founding years against it is the evidence of a new park
    assert row["shape"] == "linear" and row["score_government_street"] == 0.0
    assert row["form"] == "new_park" and row["form_confidence"] == pytest.approx(0.36)
    assert "founding years unknown" not in row["evidence"]  # not a deciding fact here
