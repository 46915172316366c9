"""cluster_lifecycle: 30 yearly snapshots of 150,000 establishments (5,000 creative).

No peer tool follows clusters across years, so there is no ratio; the target (issue 24) is
under 20 s for the whole call: snapshot selection, one HDBSCAN per year on the creative firms
alive, the null calibration (19 random-labelling patterns among all establishments), linking,
events and the sensitivity at three thresholds. The city: 145,000 non-creative establishments
around five centres and 5,000 creative ones (40 % scattered with the city, 60 % in twelve
clusters that open in different years), founding years 1995-2024 and a 3 % yearly closure
hazard. Writes benchmarks/results/lifecycle.md.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from clusterscape.lifecycle import cluster_lifecycle

pytestmark = pytest.mark.bench

N_ALL = 150_000
N_CREATIVE = 5_000
YEARS = range(1995, 2025)


def _city(seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(5_000, 35_000, (5, 2))
    n_other = N_ALL - N_CREATIVE
    pick = rng.integers(0, len(centres), n_other)
    other = centres[pick] + rng.gamma(2.0, 1_500.0, (n_other, 1)) * _unit(rng, n_other)
    n_scatter = int(0.4 * N_CREATIVE)
    scatter = centres[rng.integers(0, 5, n_scatter)] + rng.gamma(
        2.0, 1_500.0, (n_scatter, 1)
    ) * _unit(rng, n_scatter)
    n_clustered = N_CREATIVE - n_scatter
    hubs = rng.uniform(5_000, 35_000, (12, 2))
    which = rng.integers(0, 12, n_clustered)
    clustered = hubs[which] + rng.normal(0.0, 150.0, (n_clustered, 2))
    hub_open = rng.integers(1995, 2020, 12)
    xy = np.vstack([other, scatter, clustered])
    opened = np.r_[
        rng.integers(1990, 2025, n_other),
        rng.integers(1990, 2025, n_scatter),
        hub_open[which] + rng.integers(0, 5, n_clustered),
    ]
    life = rng.geometric(0.03, N_ALL)
    closed = np.where(opened + life <= 2024, opened + life, np.nan)
    creative = np.r_[np.zeros(n_other, bool), np.ones(N_CREATIVE, bool)]
    return gpd.GeoDataFrame(
        {"opened": opened, "closed": closed, "is_creative": creative},
        geometry=gpd.points_from_xy(xy[:, 0] + 500_000, xy[:, 1] + 3_300_000),
        crs=32651,
    )


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    t = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.column_stack([np.cos(t), np.sin(t)])


def test_bench_lifecycle(load_note: str, timed) -> None:
    est = _city()
    cluster_lifecycle(
        est.sample(20_000, random_state=0), years=range(2020, 2025)
    )  # numba cache / imports
    holder: dict[str, object] = {}

    def call() -> None:
        holder["res"] = cluster_lifecycle(est, years=YEARS)

    wall, cpu = timed(call, repeat=2)
    res = holder["res"]
    summary = res.summary()  # type: ignore[attr-defined]
    line = (
        f"cluster_lifecycle: {len(YEARS)} snapshots of {N_ALL:,} establishments "
        f"({N_CREATIVE:,} creative): wall {wall:.2f} s, CPU {cpu:.2f} s (target < 20 s); "
        f"{summary['n_tracks']} tracks, events {summary['events']}; {load_note}"
    )
    from clusterscape import coords, datasets
    from clusterscape.taxonomy import classify_establishments

    ningbo = coords.to_local_metric(classify_establishments(datasets.ningbo().establishments))

    def call_ningbo() -> None:
        holder["ningbo"] = cluster_lifecycle(ningbo, seed=0)

    n_wall, n_cpu = timed(call_ningbo, repeat=2)
    nb = holder["ningbo"].summary()  # type: ignore[attr-defined]
    line += (
        f"\n- built-in Ningbo (the default run's lifecycle step, {int(ningbo['is_creative'].sum()):,}"
        f" creative of {len(ningbo):,} firms): wall {n_wall:.2f} s, CPU {n_cpu:.2f} s; "
        f"{nb['n_tracks']} tracks, events {nb['events']}"
    )
    print("\n" + line)
    out = Path(__file__).parent / "results" / "lifecycle.md"
    out.write_text(
        "# lifecycle: clusters through time\n\n"
        "`benchmarks/bench_lifecycle.py` (best of 2 calls after a warm-up call; no peer tool "
        "tracks clusters across years, so no ratio):\n\n"
        f"- {line}\n",
        encoding="utf-8",
    )
    assert summary["n_tracks"] >= 10
