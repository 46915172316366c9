"""concentration_table: planted clustering is found, the columns are the contract."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from clusterscape import pattern


def test_concentration_table_finds_planted_cluster():
    rng = np.random.default_rng(0)
    win = box(0, 0, 10_000, 10_000)
    pop = rng.uniform(0, 10_000, (5000, 2))
    creative = np.vstack([np.clip(rng.normal(3000, 300, (250, 2)), 1, 9999), pop[:150]])
    df = pattern.concentration_table(
        creative, np.vstack([pop, creative[:250]]), win, r_max_m=2000, nsim=39, seed=1
    )
    assert list(df.columns) == [
        "statistic",
        "null",
        "r_min_m",
        "r_max_m",
        "verdict",
        "value",
        "p_value",
        "n_used",
        "n_total",
        "nsim",
        "note",
    ]
    assert len(df) == 3
    assert (df["verdict"] == "clustered").all()
    assert df.loc[0, "p_value"] <= 0.05
    assert 0 <= df.loc[0, "r_min_m"] <= df.loc[0, "r_max_m"] <= 2000
    assert df.loc[2, "value"] > 1


def test_concentration_table_random_sample_is_not_clustered_relative_to_population():
    rng = np.random.default_rng(1)
    win = box(0, 0, 10_000, 10_000)
    pop = np.clip(rng.normal(5000, 1500, (5000, 2)), 1, 9999)
    creative = pop[rng.choice(5000, 300, replace=False)]
    df = pattern.concentration_table(creative, pop, win, r_max_m=2000, nsim=39, seed=2)
    # inhomogeneous city: clustered against CSR, but not against all establishments
    assert df.loc[0, "verdict"] == "clustered"
    assert df.loc[1, "verdict"] != "clustered" or df.loc[1, "value"] < 1e-5
    assert df.loc[2, "verdict"] == "no departure"
