"""Duplicates (provider id, name + address, name + distance) and stacked addresses."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from clusterscape.io.dedupe import (
    DUPLICATE_COLUMNS,
    drop_duplicates,
    find_duplicates,
    geocode_coarse,
    normalise_address,
    normalise_name,
    stack_groups,
    stack_view,
)

# 1e-5 degree of latitude is 1.11 m; of longitude at 29.87 N 0.96 m
DLAT_M = 111_195.0


def _firms(rows: list[tuple[str, str, str, float, float]]) -> gpd.GeoDataFrame:
    ids, names, addr, lon, lat = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"id": list(ids), "name": list(names), "address": list(addr)},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("宁波甬江设计有限公司", "甬江设计"),
        ("甬江设计股份有限公司", "甬江设计有限责任公司"),
        ("ＡＢＣ 传媒（宁波）有限公司", "abc传媒宁波"),
        ("甬江设计 分公司", "甬江设计"),
        ("Yongjiang Design Co., Ltd.", "yongjiang design"),
    ],
)
def test_names_that_match(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("宁波银行股份有限公司", "中国银行股份有限公司"), ("甬江设计", "甬江广告"), ("Tesco", "Tes")],
)
def test_names_that_differ(a: str, b: str) -> None:
    assert normalise_name(a) != normalise_name(b)


def test_address_normalisation() -> None:
    assert normalise_address("浙江省宁波市海曙区 中山西路１８号") == normalise_address(
        "海曙区中山西路18号"
    )


def test_duplicate_rules_and_thresholds() -> None:
    lat = 29.87
    firms = _firms(
        [
            ("p1", "甬江设计有限公司", "海曙区中山西路18号", 121.55, lat),
            ("p1#5", "甬江设计", "", 121.56, lat),  # repeated provider id (reader's #row), 1 km
            ("q", "宁波甬江设计", "", 121.55, lat + 40 / DLAT_M),  # same name, 40 m
            ("r", "甬江设计", "", 121.55, lat + 60 / DLAT_M),  # 60 m from p1, 20 m from q
            ("s", "甬江设计工作室", "", 121.55, lat),  # another name at the same point
            ("t", "月湖传媒有限公司", "中山西路88号", 121.50, 29.90),
            ("u", "月湖传媒", "宁波市中山西路88号", 121.51, 29.90),  # same address, ~970 m
            ("v", "月湖传媒", "中山西路88号", 121.60, 29.90),  # same address, 9.7 km: no
            ("row-9", "三江广告", "", 121.40, 29.80),
            ("row-10", "三江文化", "", 121.40, 29.80),  # generated ids never match
        ]
    )
    dups = find_duplicates(firms)
    assert tuple(dups.columns) == DUPLICATE_COLUMNS
    got = {d: (k, r) for d, k, r in dups[["dropped_id", "kept_id", "rule"]].to_numpy()}
    assert got == {
        "p1#5": ("p1", "id"),
        "q": ("p1", "name+distance"),
        "r": ("p1", "name+distance"),  # chained through q (20 m), not 60 m from p1
        "u": ("t", "name+address"),
    }
    dist = dict(zip(dups["dropped_id"], dups["distance_m"], strict=True))
    assert dist["q"] == pytest.approx(40, abs=0.5)
    assert dist["r"] == pytest.approx(20, abs=0.5)  # matched to q
    assert 900 < dist["u"] < 1000
    kept, merged = drop_duplicates(firms)
    assert len(kept) + len(merged) == len(firms)
    assert set(kept["id"]) == set(firms["id"]) - set(got)
    # thresholds are honoured: at 30 m q (40 m) is apart from p1 and keeps r (20 m)
    tight = find_duplicates(firms, name_m=30)
    got = {d: k for d, k in tight[["dropped_id", "kept_id"]].to_numpy()}
    assert got == {"p1#5": "p1", "r": "q", "u": "t"}


def test_chains_and_different_addresses_are_not_merged() -> None:
    lat = 29.87
    firms = _firms(
        [
            ("k1", "R-Kioski", "", 121.55, lat),
            ("k2", "R-Kioski", "", 121.55, lat + 30 / DLAT_M),  # a chain: 30 m is two outlets
            ("k3", "R-Kioski", "", 121.55, lat + 5 / DLAT_M),  # 5 m: the same one
            ("k4", "R-Kioski", "", 121.58, lat),  # 2.9 km away: the name is a chain's
            ("a1", "甬江设计", "中山西路18号", 121.60, lat),
            ("a2", "甬江设计", "中山西路20号", 121.60, lat + 20 / DLAT_M),  # two addresses
        ]
    )
    got = find_duplicates(firms)[["kept_id", "dropped_id"]].to_numpy().tolist()
    assert got == [["k1", "k3"]]
    assert len(find_duplicates(firms, chain_m=50)) == 2


def test_uscc_duplicates_and_empty_input() -> None:
    firms = _firms(
        [
            ("a", "甲", "", 121.5, 29.8),
            ("b", "甲有限公司", "", 121.9, 29.9),
            ("c", "丙", "", 121.7, 29.7),
        ]
    ).assign(uscc=["914403001922038216", "914403001922038216", ""])
    dups = find_duplicates(firms)
    assert dups[["kept_id", "dropped_id", "rule"]].to_numpy().tolist() == [["a", "b", "uscc"]]
    assert len(find_duplicates(firms.iloc[:0])) == 0


def test_stacks_within_one_metre() -> None:
    base = 29.87
    firms = _firms(
        [
            ("a", "甲", "", 121.55, base),
            ("b", "乙", "", 121.55, base + 0.5 / DLAT_M),  # 0.5 m
            ("c", "丙", "", 121.55, base + 0.9 / DLAT_M),  # 0.4 m from b (chained)
            ("d", "丁", "", 121.55, base + 3 / DLAT_M),  # 2.1 m from c: apart
        ]
    )
    groups = stack_groups(firms)
    assert groups.tolist() == [0, 0, 0, 1]
    assert np.bincount(groups)[groups].tolist() == [3, 3, 3, 1]
    view = stack_view(firms, "collapse")
    assert view.rows.tolist() == [0, 3] and view.weights.tolist() == [1, 1]
    assert stack_view(firms, "weight").weights.tolist() == [3, 1]
    assert stack_view(firms, "keep").rows.tolist() == [0, 1, 2, 3]


def test_geocode_precision() -> None:
    frame = pd.DataFrame(
        {
            "level": ["门牌号", "兴趣点", "道路", "区县", "市", "乡镇", "开发区", "", "", None],
            "confidence": [None, None, None, None, None, None, None, 30, 80, None],
        }
    )
    got = geocode_coarse(frame).tolist()
    assert got == [False, False, False, True, True, True, True, True, False, pd.NA]


def _planted_stack(seed: int) -> gpd.GeoDataFrame:
    """300 creative and 1,000 other firms uniform (CSR) on 4 km x 4 km, + 300 creative at one
    address."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4000, size=(1300, 2))
    stack = np.tile([[1234.5, 2345.6]], (300, 1))
    pts = np.vstack([xy, stack])
    creative = np.r_[np.ones(300, bool), np.zeros(1000, bool), np.ones(300, bool)]
    return gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(len(pts))], "is_creative": creative},
        geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]),
        crs="EPSG:32651",
    )


@pytest.mark.parametrize("stack", ["keep", "collapse", "weight"])
def test_a_stack_drives_l_only_when_kept(stack: str) -> None:
    """Besag's L (border correction, CSR null, global MAD test, 19 simulations: p >= 0.05)."""
    from clusterscape.measure.pattern import concentration_table

    gdf = _planted_stack(5)
    creative = gdf[gdf["is_creative"]]
    c = creative.iloc[stack_view(creative, stack).rows]
    p = gdf.iloc[stack_view(gdf, stack).rows]
    conc = concentration_table(
        np.column_stack([c.geometry.x, c.geometry.y]),
        np.column_stack([p.geometry.x, p.geometry.y]),
        box(0, 0, 4000, 4000),
        nsim=19,
        seed=1,
    )
    row = conc[conc["statistic"].str.startswith("L (Besag)")].iloc[0]
    assert row["verdict"] == ("clustered" if stack == "keep" else "no departure")
    assert row["n_used"] == (600 if stack == "keep" else 301)


@pytest.mark.parametrize("stack", ["keep", "collapse"])
def test_a_stack_makes_a_cluster_only_when_kept(stack: str) -> None:
    """HDBSCAN with the CSR significance test (19 simulations)."""
    from clusterscape.detect.clusters import detect_clusters

    gdf = _planted_stack(5)
    creative = gdf[gdf["is_creative"]]
    view = stack_view(creative, stack)
    used = creative.iloc[view.rows]
    det = detect_clusters(used, seed=0, csr_simulations=19, stability_draws=0)
    labels = view.spread(det.labels.reindex(used.index).fillna(-1).to_numpy(dtype=int))
    at_stack = labels[-300:]
    assert len(set(at_stack.tolist())) == 1  # a stack's rows share one label
    lab = int(at_stack[0])
    if stack == "keep":
        assert lab >= 0
        assert det.clusters.loc[lab, "n"] >= 300
        assert bool(det.clusters.loc[lab, "significant"])
    else:  # one point among 300 uniform ones: noise, or a small cluster it does not drive
        assert lab < 0 or det.clusters.loc[lab, "n"] < 60


def test_run_merges_duplicates_and_counts_stacks(tmp_path: Path) -> None:
    from clusterscape.study.config import StudyConfig
    from clusterscape.study.run import _load, _mark_stacks

    rng = np.random.default_rng(0)
    n = 60
    lon = 121.5 + rng.uniform(0, 0.05, n)
    lat = 29.8 + rng.uniform(0, 0.05, n)
    names = [f"甲{i}设计有限公司" for i in range(n)]
    lon[10:15], lat[10:15] = 121.52, 29.82  # a stack of 5
    rows = [f"{names[i]},{lon[i]:.7f},{lat[i]:.7f}" for i in range(n)]
    rows.append(f"宁波甲3设计,{lon[3]:.7f},{lat[3] + 10 / DLAT_M:.7f}")  # 10 m from row 4
    p = tmp_path / "firms.csv"
    p.write_text("名称,经度,纬度\n" + "\n".join(rows) + "\n", encoding="utf-8")
    inputs = _load(StudyConfig(establishments=str(p)))
    assert len(inputs.establishments) == n
    merged = inputs.merged
    assert merged is not None and len(merged) == 1
    assert merged[["kept_row", "dropped_row", "rule"]].to_numpy().tolist() == [
        [4, n + 1, "name+distance"]
    ]
    assert inputs.n_rows == len(inputs.establishments) + len(inputs.rejected) + len(merged)
    est, info = _mark_stacks(inputs.establishments, "keep")
    assert est["stacked"].iloc[10:15].tolist() == [5] * 5 and info["largest"] == 5
    keep = _load(StudyConfig(establishments=str(p), duplicates="keep"))
    assert len(keep.establishments) == n + 1 and keep.merged is None


def test_a_shared_id_with_two_names_is_a_typo() -> None:
    firms = _firms(
        [
            ("F4", "甲设计", "", 121.50, 29.80),
            ("F4#6", "乙广告", "", 121.51, 29.81),  # same id, another firm
            ("F4#9", "甲设计有限公司", "", 121.52, 29.82),  # same id, same firm, 2.9 km
        ]
    )
    got = find_duplicates(firms)[["kept_id", "dropped_id", "rule"]].to_numpy().tolist()
    assert got == [["F4", "F4#9", "id"]]


def test_study_stack_option_reaches_detect_and_measure(tmp_path: Path) -> None:
    """run_study on a file with 150 creative rows at one address among 450 spread rows."""
    from clusterscape.errors import InvalidInputError
    from clusterscape.study.config import StudyConfig
    from clusterscape.study.run import run_study

    with pytest.raises(InvalidInputError, match="stack"):
        StudyConfig(stack="sum")
    rng = np.random.default_rng(0)
    n = 600
    lon, lat = 121.5 + rng.uniform(0, 0.1, n), 29.8 + rng.uniform(0, 0.1, n)
    kind = rng.choice(["设计", "贸易", "餐饮"], n, p=[0.3, 0.4, 0.3])
    kind[:150] = "设计"
    lon[:150], lat[:150] = 121.55, 29.85
    rows = [f"甬{i}{kind[i]}有限公司,{lon[i]:.7f},{lat[i]:.7f}" for i in range(n)]
    p = tmp_path / "firms.csv"
    p.write_text("名称,经度,纬度\n" + "\n".join(rows) + "\n", encoding="utf-8")
    fast = {"measure": {"nsim": 19}, "detect": {"csr_simulations": 19, "stability_draws": 0}}
    out = {}
    for stack in ("keep", "collapse"):
        res = run_study(StudyConfig(establishments=str(p), stack=stack, **fast))  # type: ignore[arg-type]
        conc = res.tables["concentration"].set_index("statistic")
        out[stack] = (conc.iloc[0]["verdict"], res.summary["detect"]["n_points"], res)
    assert out["keep"][:2] == ("clustered", int((kind == "设计").sum()))
    assert out["collapse"][:2] == ("no departure", int((kind == "设计").sum()) - 149)
    kept = out["keep"][2]
    assert (
        kept.summary["stacks"]["largest"] == 150 and "collapse" in kept.summary["stacks"]["message"]
    )
    collapsed = out["collapse"][2].establishments
    assert collapsed["stacked"].iloc[:150].eq(150).all()
    assert collapsed["cluster"].iloc[:150].nunique() == 1  # the stack's rows share one label
