"""Emerging hot spots and ring DiD: ours vs pymannkendall / esda on the same seeded workloads.

Run with ``pytest benchmarks/bench_effects.py -m bench -s``. Figures go to
``benchmarks/results/effects.md``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from clusterscape.measure.emerging import emerging_hotspots, mann_kendall, space_time_weights

pytestmark = pytest.mark.bench


def test_bench_mann_kendall_vs_pymannkendall(timed, load_note) -> None:
    mk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(0)
    x = rng.poisson(3.0, size=(5_000, 20)).astype(float)  # 5,000 cells x 20 steps, many ties
    ours_t = timed(mann_kendall, x, repeat=3)
    t0 = time.perf_counter()
    ref = [mk.original_test(row) for row in x]
    peer_t = time.perf_counter() - t0
    ours = mann_kendall(x)
    dp = max(abs(r.p - p) for r, p in zip(ref, ours.p, strict=True))
    print(
        f"\nMann-Kendall, 5,000 series x 20 steps: ours {ours_t:.3f} s, pymannkendall "
        f"{peer_t:.2f} s, ratio {peer_t / ours_t:.0f}x; max |dp| {dp:.1e}; {load_note}"
    )
    assert dp < 1e-12


def test_bench_space_time_gi_star_vs_esda(timed, load_note) -> None:
    esda = pytest.importorskip("esda")
    import geopandas as gpd
    from libpysal.weights import WSP

    rng = np.random.default_rng(1)
    n = 60_000  # points over 12 years on 40 x 40 cells of 500 m
    gdf = gpd.GeoDataFrame(
        {"opened": rng.integers(2010, 2022, n)},
        geometry=gpd.points_from_xy(rng.uniform(0, 20_000, n), rng.uniform(0, 20_000, n)),
        crs="EPSG:32651",
    )
    emerging_hotspots(gdf.iloc[:2000], cell_m=500)  # warm-up
    ours_t = timed(emerging_hotspots, gdf, cell_m=500, k=1, repeat=3)
    out = emerging_hotspots(gdf, cell_m=500, k=1, fdr=False)
    z = out.attrs["z"]
    nc, nt = z.shape
    # same cube and space-time weights, fed to esda G_Local (Gi*, binary)
    rows, cols = out["row"].to_numpy(), out["col"].to_numpy()
    counts = np.zeros((nc, nt))
    cell = {(r, c): i for i, (r, c) in enumerate(zip(rows, cols, strict=True))}
    ci = np.array(
        [
            cell[(r, c)]
            for r, c in zip(
                (gdf.geometry.y // 500).astype(int),
                (gdf.geometry.x // 500).astype(int),
                strict=True,
            )
        ]
    )
    np.add.at(counts, (ci, gdf["opened"].to_numpy() - 2010), 1.0)
    dr = np.abs(rows[:, None] - rows[None, :]) <= 1
    dc = np.abs(cols[:, None] - cols[None, :]) <= 1
    w = space_time_weights(sp.csr_matrix((dr & dc).astype(float)), nt, 1)
    noself = sp.csr_matrix(w - sp.identity(w.shape[0]))
    noself.eliminate_zeros()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wl = WSP(noself).to_W(silence_warnings=True)
        t0 = time.perf_counter()
        g = esda.G_Local(counts.T.ravel(), wl, transform="B", star=True, permutations=0)
        peer_t = time.perf_counter() - t0
    dz = float(np.abs(g.Zs - z.T.ravel()).max())
    print(
        f"\nSpace-time Gi* + MK + 17 categories, {nc:,} cells x {nt} steps ({n:,} points): ours "
        f"{ours_t:.3f} s end to end; esda G_Local on the same cube (Gi* z only, W prebuilt) "
        f"{peer_t:.3f} s, ratio {peer_t / ours_t:.1f}x; max |dz| {dz:.1e}; {load_note}"
    )
    assert dz < 1e-8


def test_bench_amenity_effects_bootstrap_30_clusters_50k_points(timed, load_note) -> None:
    """The issue's bar: ``amenity_effects`` with the wild bootstrap, 30 clusters, 50,000 points."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from clusterscape.effects.did import amenity_effects

    rng = np.random.default_rng(3)
    side, n = 40_000.0, 50_000
    fn = rng.choice(["hotel", "mall", "other"], size=n, p=[0.08, 0.02, 0.90]).astype(object)
    xy = rng.uniform(0, side, (n, 2))
    year = rng.integers(1995, 2025, n)
    centre = rng.uniform(0.15 * side, 0.85 * side, (30, 2))
    t0 = rng.integers(2005, 2016, 30)
    # planted: 40 extra hotels per cluster within 1 km, opened 0-8 years after the cluster
    k = 40
    ang, d = rng.uniform(0, 2 * np.pi, (30, k)), 100 + 1000 * np.sqrt(rng.uniform(0, 1, (30, k)))
    px = (centre[:, :1] + d * np.cos(ang)).ravel()
    py = (centre[:, 1:] + d * np.sin(ang)).ravel()
    pyr = (t0[:, None] + rng.integers(0, 9, (30, k))).ravel()
    xy = np.vstack([xy[: n - px.size], np.column_stack([px, py])])
    fn = np.concatenate([fn[: n - px.size], np.full(px.size, "hotel", dtype=object)])
    year = np.concatenate([year[: n - px.size], pyr])
    est = gpd.GeoDataFrame(
        {"function": fn, "opened": pd.array(year, dtype="Int64")},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs="EPSG:32651",
    )
    clusters = gpd.GeoDataFrame(
        geometry=[shapely.Point(x, y).buffer(100.0) for x, y in centre], crs="EPSG:32651"
    )
    opened = dict(enumerate(t0.tolist()))
    wall, cpu = timed(amenity_effects, est, clusters, opened=opened, bootstrap=1999, repeat=3)
    res = amenity_effects(est, clusters, opened=opened, bootstrap=1999)
    print(
        f"\namenity_effects, 30 clusters, {len(est):,} establishments "
        f"({int((fn == 'hotel').sum()):,} hotels), wild bootstrap 1,999 draws: wall {wall:.2f} s, "
        f"CPU {cpu:.2f} s; estimate {res.summary['estimate']:.3f}, p {res.summary['p_value']:.4f}, "
        f"radius {res.summary['influence_radius_m']:g} m (planted 1,000 m); {load_note}"
    )
    assert res.summary["p_value"] < 0.01
    assert res.summary["influence_radius_m"] in (500.0, 1000.0, 1500.0)
