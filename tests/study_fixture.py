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
    results.write_study_files(study, root)
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
