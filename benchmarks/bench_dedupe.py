"""find_duplicates and stack_groups on 100,000 establishments with 5,000 planted copies.

Each copy repeats another row's name within about 11 m (normal noise of 1e-4 degree per axis);
300 rows share one coordinate. Copies whose original was itself overwritten, or that landed
over 50 m away, are not found, so "found" is below 5,000 by design of the workload.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from clusterscape.io.dedupe import find_duplicates, stack_groups

pytestmark = pytest.mark.bench

N = 100_000
COPIES = 5_000


@pytest.fixture(scope="module")
def workload() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(0)
    lon = 121.4 + rng.uniform(0, 0.3, N)
    lat = 29.8 + rng.uniform(0, 0.2, N)
    names = np.array([f"甬{i}设计有限公司" for i in range(N)], dtype=object)
    dup = rng.choice(N, COPIES, replace=False)
    src = rng.choice(N, COPIES)
    names[dup] = names[src]
    lon[dup] = lon[src] + rng.normal(0, 1e-4, COPIES)
    lat[dup] = lat[src] + rng.normal(0, 1e-4, COPIES)
    lon[:300], lat[:300] = 121.5, 29.9
    return gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(N)], "name": names},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def test_bench_dedupe(workload: gpd.GeoDataFrame, load_note: str, timed) -> None:
    wall, cpu = timed(find_duplicates, workload, repeat=2)
    s_wall, s_cpu = timed(stack_groups, workload, repeat=2)
    found = len(find_duplicates(workload))
    largest = int(np.bincount(stack_groups(workload)).max())
    assert 0.9 * COPIES < found <= COPIES and largest == 300
    print(
        f"\nfind_duplicates {N:,} rows: wall {wall:.2f} s, CPU {cpu:.2f} s, {found:,} of "
        f"{COPIES:,} planted copies merged; stack_groups: wall {s_wall:.2f} s, CPU {s_cpu:.2f} s, "
        f"largest stack {largest}; {load_note}"
    )
