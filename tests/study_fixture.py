"""A small saved study directory for the report and dashboard tests (what `clusterscape run` writes).

Written through :mod:`clusterscape.results`, the same writer `clusterscape run` uses.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import matplotlib
import pandas as pd
from shapely.geometry import Point, box

from clusterscape import results
from clusterscape.study.run import StudyConfig, StudyResult

matplotlib.use("Agg")


def make_study_dir(root: Path) -> Path:
    """A small saved study: two clusters in Ningbo, districts, a centre and one figure."""
    import matplotlib.pyplot as plt

    root.mkdir(parents=True, exist_ok=True)
    summary = {
        "synthetic": True,
        "input": {"n_rows": 10, "n_accepted": 9, "n_rejected": 1},
        "clusters": 2,
        "crs": {"source": "wgs84", "metric": "EPSG:32651"},
        "note": float("nan"),
    }
    table = pd.DataFrame(
        {
            "cluster_id": [0, 1],
            "n_establishments": [120, 80],
            "n_creative": [60, 40],
            "employees": [900.0, 300.0],
            "lon": [121.5665, 121.6022],
            "lat": [29.8869, 29.8129],
            "area_m2": [250000.0, 180000.0],
            "district": ["Yinzhou", "Yinzhou"],
            "form": ["converted_industrial", "new_park"],
            "form_confidence": [0.8, 0.7],
            "markusen": ["marshallian", "state_anchored"],
            "dominant_sector": ["design", "software_digital"],
            "evidence": [
                "Footprint 85 % on former cotton-mill land (industrial until 2004).",
                "62 % of firms founded within 3 years of the park's 2013 opening.",
            ],
        }
    )
    clusters = gpd.GeoDataFrame(
        {"cluster_id": [0, 1]},
        geometry=[box(121.560, 29.882, 121.572, 29.892), box(121.596, 29.808, 121.608, 29.818)],
        crs="EPSG:4326",
    )
    districts = gpd.GeoDataFrame(
        {"name_en": ["Yinzhou"]}, geometry=[box(121.45, 29.70, 121.75, 29.95)], crs="EPSG:4326"
    )
    centres = gpd.GeoDataFrame(
        {"rank": [1], "kind": ["main"]}, geometry=[Point(121.55, 29.87)], crs="EPSG:4326"
    )
    study = StudyResult(
        config=StudyConfig(),
        synthetic=True,
        establishments=gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"),
        rejected=pd.DataFrame(columns=["row", "id", "reason"]),
        summary=summary,
        layers={"clusters": clusters, "districts": districts, "centres": centres},
        tables={"clusters": table},
    )
    results.write_study(study, root, report=False, atomic=False)
    (root / results.FIGURES).mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(root / results.FIGURES / "clusters_map.png")
    plt.close(fig)
    (root.parent / "secret.txt").write_text("outside", encoding="utf-8")
    return root


def add_analysis_tables(root: Path) -> None:
    """Tables the later steps write: concentration, effects, profiles, rejected rows."""
    tables: dict[str, pd.DataFrame] = {}
    tables["concentration"] = pd.DataFrame(
        {
            "statistic": ["L", "Kd"],
            "null": ["CSR in window", "random labelling"],
            "r_min_m": [100.0, 200.0],
            "r_max_m": [2500.0, 3000.0],
            "verdict": ["clustered", "clustered"],
        }
    )
    tables["effects"] = pd.DataFrame(
        {
            "amenity": ["hotel", "mall"],
            "method": ["ring_did", "ring_did"],
            "estimate": [0.8, 0.1],
            "ci_low": [0.4, -0.2],
            "ci_high": [1.2, 0.4],
            "p_value": [0.001, 0.5],
            "influence_radius_m": [1400.0, None],
        }
    )
    tables["event_study_hotel"] = pd.DataFrame(
        {
            "event_time": [-2, -1, 0, 1, 2],
            "coef": [0.0, 0.05, 0.6, 0.8, 0.9],
            "ci_low": [-0.2, -0.15, 0.3, 0.5, 0.6],
            "ci_high": [0.2, 0.25, 0.9, 1.1, 1.2],
        }
    )
    tables["by_distance_hotel"] = pd.DataFrame(
        {
            "lower_m": [0, 500, 1000, 1500],
            "upper_m": [500, 1000, 1500, 2000],
            "estimate": [1.2, 0.7, 0.2, 0.0],
            "ci_low": [0.8, 0.4, -0.1, -0.3],
            "ci_high": [1.6, 1.0, 0.5, 0.3],
        }
    )
    tables["district_profiles"] = pd.DataFrame(
        {"name_en": ["Yinzhou"], "adcode": [330212], "creative_lq": [1.4]}
    )
    tables["rejected"] = pd.DataFrame(
        {"row": [7], "id": ["f7"], "reason": ["latitude 95.0 is outside [-90, 90]"]}
    )
    results.write_tables(root, tables)


#: Cluster boxes of make_study_dir (lon0, lat0, lon1, lat1) by cluster_id.
CLUSTER_BOXES = {0: (121.560, 29.882, 121.572, 29.892), 1: (121.596, 29.808, 121.608, 29.818)}


def dashboard_establishments(n_noise: int = 30, seed: int = 7) -> gpd.GeoDataFrame:
    """Planted establishments for the dashboard: members of both clusters, noise, hotels, malls.

    Opening years 2005-2020 (some missing), closing years after opening (some), so the year
    slider's counts can be checked against this frame.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    sizes = {0: 14, 1: 9}
    for cid, n in sizes.items():
        x0, y0, x1, y1 = CLUSTER_BOXES[cid]
        for _ in range(n):
            rows.append(
                (
                    rng.uniform(x0, x1),
                    rng.uniform(y0, y1),
                    cid,
                    "creative",
                    True,
                    ("design", "software_digital")[cid],
                )
            )
    for _ in range(n_noise):
        rows.append(
            (rng.uniform(121.46, 121.74), rng.uniform(29.71, 29.94), -1, "other", False, "")
        )
    for fn in ("hotel", "hotel", "hotel", "mall", "mall"):
        rows.append((rng.uniform(121.5, 121.65), rng.uniform(29.8, 29.9), -1, fn, False, ""))
    n = len(rows)
    opened = rng.integers(2005, 2021, n).astype("float")
    opened[rng.choice(n, 4, replace=False)] = np.nan
    closed = np.where(rng.random(n) < 0.3, opened + rng.integers(1, 8, n), np.nan)
    closed[closed > 2020] = np.nan
    frame = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "name": [f"Firm {i} 公司" for i in range(n)],
            "opened": pd.array(opened, dtype="Float64").astype("Int64"),
            "closed": pd.array(closed, dtype="Float64").astype("Int64"),
            "employees": rng.integers(1, 200, n),
            "cluster": [r[2] for r in rows],
            "function": [r[3] for r in rows],
            "is_creative": [r[4] for r in rows],
            "sector": [r[5] or None for r in rows],
        }
    )
    return gpd.GeoDataFrame(frame, geometry=[Point(r[0], r[1]) for r in rows], crs="EPSG:4326")


def lifecycle_tables() -> dict[str, pd.DataFrame]:
    """A small ``lifecycle.csv`` / ``lifecycle_events.csv`` pair (the life-cycle step's columns).

    Track 1 appears in 2008 (cluster 0 from 2012 on), track 2 in 2014 and merges into track 1
    in 2018; track 3 lives 2010-2013.
    """
    life = []
    for year in range(2008, 2021):
        life.append((1, year, 0 if year >= 2012 else -1, 5 + year - 2008, 2e5, 121.566, 29.887))
        if 2014 <= year < 2018:
            life.append((2, year, 1, 4, 1e5, 121.602, 29.813))
        if 2010 <= year <= 2013:
            life.append((3, year, -1, 3, 5e4, 121.50, 29.85))
    lifecycle = pd.DataFrame(
        life, columns=["track_id", "year", "cluster_id", "n_creative", "area_m2", "lon", "lat"]
    )
    events = pd.DataFrame(
        [
            (2008, "birth", 1, "", "1", 121.566, 29.887),
            (2010, "birth", 3, "", "3", 121.50, 29.85),
            (2014, "birth", 2, "", "2", 121.602, 29.813),
            (2014, "death", 3, "3", "", 121.50, 29.85),
            (2018, "merge", 1, "1;2", "1", 121.566, 29.887),
        ],
        columns=["year", "event", "track_id", "from_tracks", "to_tracks", "lon", "lat"],
    )
    return {"lifecycle": lifecycle, "lifecycle_events": events}


def make_dashboard_study(root: Path, *, lifecycle: bool = True) -> Path:
    """make_study_dir plus an establishments layer (planted) and, optionally, the life cycle."""
    make_study_dir(root)
    est = dashboard_establishments()
    layers = {
        name: results.read_layer_page(root / results.GPKG, name)
        for name in ("clusters", "districts", "centres")
    }
    (root / results.GPKG).unlink()
    results._write_layers({**layers, "establishments": est}, root / results.GPKG)
    if lifecycle:
        results.write_tables(root, lifecycle_tables())
    return root
