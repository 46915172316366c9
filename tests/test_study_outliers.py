"""Far outliers without --boundary: listed in rejected.csv, the study area and CRS unmoved."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from clusterscape.study.run import _reject_far_outliers


def _frame(lon: np.ndarray, lat: np.ndarray) -> gpd.GeoDataFrame:
    ids = [f"f{i}" for i in range(len(lon))]
    return gpd.GeoDataFrame({"id": ids}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


EMPTY = pd.DataFrame({"row": pd.array([], dtype="Int64"), "id": [], "reason": []})


def test_a_firm_geocoded_in_beijing_is_rejected_with_its_row() -> None:
    rng = np.random.default_rng(0)
    lon = np.append(rng.normal(121.55, 0.15, 500), 116.40)  # the last one in Beijing
    lat = np.append(rng.normal(29.87, 0.10, 500), 39.90)
    rows = np.arange(1, 502)
    est, rej = _reject_far_outliers(_frame(lon, lat), EMPTY, rows)
    assert len(est) == 500
    assert rej["row"].tolist() == [501] and rej["id"].tolist() == ["f500"]
    reason = rej["reason"].iloc[0]
    assert reason.startswith("far outlier: 1,2") and "--boundary" in reason


def test_a_national_table_keeps_its_spread() -> None:
    rng = np.random.default_rng(1)
    lon = rng.uniform(100, 122, 2000)  # firms all over China
    lat = rng.uniform(22, 41, 2000)
    est, rej = _reject_far_outliers(_frame(lon, lat), EMPTY, None)
    assert len(est) == 2000 and rej.empty


def test_projected_input_is_measured_in_degrees_too() -> None:
    rng = np.random.default_rng(2)
    lon = np.append(rng.normal(121.55, 0.1, 300), 113.26)  # one in Guangzhou
    lat = np.append(rng.normal(29.87, 0.1, 300), 23.13)
    gdf = _frame(lon, lat).to_crs("EPSG:32651")
    est, rej = _reject_far_outliers(gdf, EMPTY, None)
    assert len(est) == 300 and len(rej) == 1 and pd.isna(rej["row"].iloc[0])
