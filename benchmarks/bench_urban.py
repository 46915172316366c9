"""clusterscape.urban: functional zones + centres at 1 M establishments, and grid Gi* vs esda.

Workload (seeded): 1,000,000 establishments in WGS-84 around Ningbo, three Gaussian centres
(50 / 30 / 20 % of the firms; sd 4, 2.5, 2 km) with the 16 functions drawn at random. The
target of issue 8 is zones + centres for 1 M establishments in under 20 s.

Peers: FD/CR has no library implementation, so the peer is the pandas code a user would write
(``groupby`` on integer cell indices, ``unstack``, FD/CR by columns) after the same projection
to UTM (timed with it, as our side is);
the labels must agree. Grid Gi* is compared with esda ``G_Local(star=True, transform="B")``
on a distance band (and with clusterscape.measure.hotspots.gi_star). Run with
``pytest benchmarks/bench_urban.py -m bench -s``.
"""

from __future__ import annotations

import time
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from clusterscape.urban import FUNCTIONS, functional_zones, gi_star_grid, urban_centres
from clusterscape.urban._common import disc_footprint, project_points

pytestmark = pytest.mark.bench


def _best_s(fn, *args, repeat: int = 3, **kwargs) -> float:
    """Best wall time (s) of ``repeat`` calls; local so the shared conftest can evolve."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best


def _workload(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [15_000.0, 5_000.0], [-8_000.0, 12_000.0]])
    sd = np.array([4_000.0, 2_500.0, 2_000.0])
    which = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    xy = centres[which] + rng.normal(0.0, 1.0, (n, 2)) * sd[which, None]
    x = xy[:, 0] + 650_000.0  # UTM 51N near Ningbo (121.55 E, 29.87 N)
    y = xy[:, 1] + 3_305_000.0
    gdf = gpd.GeoDataFrame(
        {"function": rng.choice(np.array(FUNCTIONS), n)},
        geometry=gpd.points_from_xy(x, y),
        crs=32651,
    )
    return gdf.to_crs(4326)


def _pandas_fdcr(xy: np.ndarray, functions: pd.Series, cell_m: float, min_count: int) -> pd.Series:
    """What a user would write: FD/CR with pandas on integer square-cell indices."""
    ij = np.floor(xy / cell_m).astype(np.int64)
    frame = pd.DataFrame({"ix": ij[:, 0], "iy": ij[:, 1], "f": functions.to_numpy()})
    counts = frame.groupby(["ix", "iy", "f"]).size().unstack(fill_value=0)
    fd = counts / counts.sum(axis=0)
    cr = fd.div(fd.sum(axis=1), axis=0)
    cr = cr[[f for f in FUNCTIONS if f in cr.columns]]
    values = cr.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")
    names = np.array(cr.columns, dtype=object)
    cmax = values[np.arange(len(values)), order[:, 0]]
    label = np.where(
        cmax >= 0.5, names[order[:, 0]], "mixed:" + names[order[:, 0]] + "+" + names[order[:, 1]]
    )
    label[counts.sum(axis=1).to_numpy() < min_count] = "sparse"
    return pd.Series(label, index=[f"{a}_{b}" for a, b in cr.index])


def test_bench_zones_and_centres_1m(load_note: str) -> None:
    n = 1_000_000
    pts = _workload(n)
    t0 = time.perf_counter()
    zones = functional_zones(pts, cell_m=500)
    t_zones = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = urban_centres(pts, cell_m=500)
    t_centres = time.perf_counter() - t0
    total = t_zones + t_centres

    t0 = time.perf_counter()
    _, xy, _ = project_points(pts, caller="bench")
    t_proj = time.perf_counter() - t0
    peer = _pandas_fdcr(xy, pts["function"], 500.0, 5)
    t_peer = time.perf_counter() - t0
    ours = pd.Series(
        zones["label"].to_numpy(dtype=object),
        index=[u.split("_", 1)[1] for u in zones["unit_id"]],
    )
    agree = (ours.sort_index() == peer.sort_index().astype(object)).mean()
    print(
        f"\n[urban] n={n:,} zones={len(zones):,} cells {t_zones:.2f} s; centres "
        f"({len(res.centres)} found) {t_centres:.2f} s; total {total:.2f} s (target < 20 s); "
        f"pandas FD/CR peer {t_peer:.2f} s (projection {t_proj:.2f} s of it), "
        f"ratio peer/ours {t_peer / t_zones:.2f}x; "
        f"label agreement {agree:.4%}; {load_note}"
    )
    assert len(peer) == len(zones)
    assert agree == 1.0
    assert len(res.centres) == 3


@pytest.mark.parametrize("side", [60, 120])
def test_bench_gi_star_grid_vs_esda(side: int, load_note: str) -> None:
    esda = pytest.importorskip("esda")
    weights = pytest.importorskip("libpysal.weights")
    from clusterscape.measure.hotspots import gi_star

    rng = np.random.default_rng(side)
    counts = rng.poisson(1.5, (side, side)).astype(float)
    counts[side // 3 : side // 3 + 5, side // 2 : side // 2 + 5] += 10
    mask = np.ones_like(counts, dtype=bool)
    rr, cc = np.nonzero(mask)
    pts = np.column_stack([cc * 500.0, rr * 500.0])
    foot = disc_footprint(1000.0, 500.0)

    z = gi_star_grid(counts, mask, foot)
    t_ours = _best_s(gi_star_grid, counts, mask, foot, repeat=5)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = weights.DistanceBand(pts, threshold=1000.0001, binary=True, silence_warnings=True)
        g = esda.G_Local(counts[mask], w, transform="B", star=True, permutations=0)
    t_esda = time.perf_counter() - t0
    h = gi_star(counts[mask], pts, distance=1000.0, fdr=False)
    t_hot = _best_s(gi_star, counts[mask], pts, distance=1000.0, fdr=False, repeat=3)
    d_esda = float(np.abs(g.Zs - z[mask]).max())
    d_hot = float(np.abs(np.asarray(h.z) - z[mask]).max())
    print(
        f"\n[urban gi*] {side}x{side} cells: ours {t_ours * 1e3:.1f} ms, esda {t_esda * 1e3:.0f} ms "
        f"(ratio {t_esda / t_ours:.0f}x, max|dz| {d_esda:.1e}), hotspots.gi_star "
        f"{t_hot * 1e3:.0f} ms (ratio {t_hot / t_ours:.0f}x, max|dz| {d_hot:.1e}); {load_note}"
    )
    assert d_esda < 1e-9 and d_hot < 1e-9
