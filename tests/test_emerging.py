"""Emerging hot spots: Mann–Kendall vs pymannkendall, space-time Gi* vs esda, the 17 categories."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from clusterscape.errors import InvalidInputError
from clusterscape.measure.emerging import (
    CATEGORIES,
    classify_series,
    emerging_hotspots,
    mann_kendall,
    space_time_weights,
)

T = 10
F = False
S = True

# (z signs, significant flags, tau, tau_p) -> expected category; T = 10 steps, alpha = 0.05.
# Hot series use z = +2 where significant (else +0.5), cold mirrored; tau/p are the trend.
_H, _C, _N = (2.0, S), (-2.0, S), (0.5, F)


def _series(*bins: tuple[float, bool]) -> tuple[list[float], list[bool]]:
    return [b[0] for b in bins], [b[1] for b in bins]


CASES = {
    "new hot spot": (_series(*[_N] * 9, _H), 0.3, 0.3),
    "consecutive hot spot": (_series(*[_N] * 7, _H, _H, _H), 0.5, 0.06),
    "intensifying hot spot": (_series(*[_H] * 10), 0.8, 0.001),
    "persistent hot spot": (_series(_N, *[_H] * 9), 0.1, 0.7),
    "diminishing hot spot": (_series(*[_H] * 10), -0.8, 0.001),
    "sporadic hot spot": (_series(_N, _H, _N, _H, _N, _N, _H, _N, _N, _N), 0.0, 1.0),
    "oscillating hot spot": (_series(_C, _N, _C, _N, _N, _H, _N, _N, _N, _H), 0.2, 0.4),
    "historical hot spot": (_series(*[_H] * 9, _N), -0.6, 0.01),
    "new cold spot": (_series(*[(-0.5, F)] * 9, _C), -0.3, 0.3),
    "consecutive cold spot": (_series(*[(-0.5, F)] * 8, _C, _C), -0.4, 0.1),
    "intensifying cold spot": (_series(*[_C] * 10), -0.8, 0.001),
    "persistent cold spot": (_series(*[_C] * 9, _N), 0.0, 0.9),
    "diminishing cold spot": (_series(*[_C] * 10), 0.8, 0.001),
    "sporadic cold spot": (_series(_C, _N, _N, _C, _N, _N, _N, _N, _N, _N), 0.1, 0.7),
    "oscillating cold spot": (_series(_H, _N, _N, _N, _N, _N, _N, _N, _N, _C), -0.2, 0.5),
    "historical cold spot": (_series(*[_C] * 9, _N), 0.6, 0.01),
    "no pattern detected": (_series(*[_N] * 10), 0.0, 1.0),
}


def test_every_category_has_a_case() -> None:
    assert set(CASES) == set(CATEGORIES)
    assert len(CATEGORIES) == 17


@pytest.mark.parametrize("expected", list(CASES))
def test_constructed_series_lands_in_its_category(expected: str) -> None:
    (z, sig), tau, tau_p = CASES[expected]
    assert len(z) == T
    assert classify_series(z, sig, tau=tau, tau_p=tau_p, alpha=0.05) == expected


def test_category_boundaries_follow_esri_rules() -> None:
    # 8 of 10 hot (< 90 %) with a final hot run preceded by hot bins -> sporadic, not persistent
    z, sig = _series(_H, _H, _H, _H, _H, _N, _N, _H, _H, _H)
    assert classify_series(z, sig, tau=0.1, tau_p=0.8) == "sporadic hot spot"
    # a single final hot bin after an earlier cold bin -> oscillating (sfdep: new needs 1 sig bin)
    z, sig = _series(_C, *[_N] * 8, _H)
    assert classify_series(z, sig, tau=0.1, tau_p=0.8) == "oscillating hot spot"
    # 9 of 10 hot with a final hot bin and no trend -> persistent
    z, sig = _series(_N, *[_H] * 9)
    assert classify_series(z, sig, tau=0.0, tau_p=1.0) == "persistent hot spot"
    # trend at exactly alpha counts as significant (p <= alpha)
    z, sig = _series(*[_H] * 10)
    assert classify_series(z, sig, tau=0.5, tau_p=0.05) == "intensifying hot spot"


def test_classify_series_rejects_mismatched_lengths() -> None:
    with pytest.raises(InvalidInputError, match="equal length"):
        classify_series([1.0, 2.0], [True], tau=0.0, tau_p=1.0)


def test_mann_kendall_matches_pymannkendall_with_ties() -> None:
    mk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(40, 15)).astype(float)  # many ties
    x[0] = np.arange(15.0)
    x[1] = 1.0  # constant: S = 0, var from ties only
    res = mann_kendall(x)
    for i in range(x.shape[0]):
        ref = mk.original_test(x[i])
        assert res.s[i] == pytest.approx(ref.s, abs=1e-12)
        assert res.var_s[i] == pytest.approx(ref.var_s, rel=1e-12, abs=1e-12)
        assert res.z[i] == pytest.approx(ref.z, rel=1e-10, abs=1e-12)
        assert res.p[i] == pytest.approx(ref.p, rel=1e-10, abs=1e-12)
        assert res.tau[i] == pytest.approx(ref.Tau, rel=1e-12)


def test_mann_kendall_by_hand() -> None:
    # x = 1 2 2 3 5: S = 4 + 2 + 2 + 1 = 9 with one tie pair; Var = (5*4*15 - 1*0*... ) / 18
    r = mann_kendall([1.0, 2.0, 2.0, 3.0, 5.0])
    assert float(r.s) == 9.0
    assert float(r.var_s) == pytest.approx((5 * 4 * 15 - 2 * 1 * 9) / 18)
    assert float(r.z) == pytest.approx(8.0 / np.sqrt(r.var_s))


def test_space_time_weights_structure() -> None:
    spatial = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=float))
    w = space_time_weights(spatial, 4, 1).toarray()
    n = 3
    # node (i=1, t=2) sees cells 0,1,2 at t=1 and t=2
    row = w[2 * n + 1]
    assert set(np.flatnonzero(row)) == {n + 0, n + 1, n + 2, 2 * n + 0, 2 * n + 1, 2 * n + 2}
    # first step has no past; k=0 is per-slice
    assert set(np.flatnonzero(w[0])) == {0, 1}
    assert space_time_weights(spatial, 4, 0).nnz == 4 * spatial.nnz


def _grid_events(rng: np.random.Generator) -> gpd.GeoDataFrame:
    """10 x 10 cells of 1 km, 10 years: background plus a burst and a persistent cell."""
    xs, ys, yrs = [], [], []
    for year in range(2010, 2020):
        n = rng.poisson(300)
        xs.extend(rng.uniform(0, 10_000, n))
        ys.extend(rng.uniform(0, 10_000, n))
        yrs.extend([year] * n)
        # persistent hot cell at (5.5 km, 5.5 km): 40 extra events every year
        xs.extend(rng.uniform(5_000, 6_000, 40))
        ys.extend(rng.uniform(5_000, 6_000, 40))
        yrs.extend([year] * 40)
    # new hot cell at (1.5 km, 8.5 km): a burst in the final year only
    xs.extend(rng.uniform(1_000, 2_000, 60))
    ys.extend(rng.uniform(8_000, 9_000, 60))
    yrs.extend([2019] * 60)
    return gpd.GeoDataFrame(
        {"opened": np.asarray(yrs)},
        geometry=gpd.points_from_xy(xs, ys),
        crs="EPSG:32651",
    )


def test_emerging_hotspots_finds_planted_new_and_persistent_cells() -> None:
    gdf = _grid_events(np.random.default_rng(11))
    out = emerging_hotspots(gdf, cell_m=1000, k=1)
    assert len(out) == 100
    cat = out.set_index("cell_id")["category"]
    assert cat["r8c1"] == "new hot spot"
    assert cat["r5c5"] in {"persistent hot spot", "intensifying hot spot"}
    # most background cells show no pattern
    assert (out["category"] == "no pattern detected").mean() > 0.5
    assert out.attrs["params"]["n_steps"] == 10
    assert out.crs.to_epsg() == 32651


def test_space_time_gi_star_matches_esda_on_the_cube() -> None:
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    rng = np.random.default_rng(5)
    n = 300
    gdf = gpd.GeoDataFrame(
        {"opened": rng.integers(2000, 2006, n)},
        geometry=gpd.points_from_xy(rng.uniform(0, 3000, n), rng.uniform(0, 3000, n)),
        crs="EPSG:32651",
    )
    out = emerging_hotspots(gdf, cell_m=1000, k=1, fdr=False)
    z = out.attrs["z"]  # cells x steps
    # rebuild the cube independently and run esda G_Local (Gi*, binary) on it
    nc, nt = z.shape
    cells = list(zip(out["row"], out["col"], strict=True))
    counts = np.zeros((nc, nt))
    col = np.floor(gdf.geometry.x / 1000).astype(int)
    row = np.floor(gdf.geometry.y / 1000).astype(int)
    lookup = {rc: i for i, rc in enumerate(cells)}
    for r, c, y in zip(row, col, gdf["opened"], strict=True):
        counts[lookup[(r, c)], y - 2000] += 1
    neigh: dict[int, list[int]] = {}
    for t in range(nt):
        for i, (r, c) in enumerate(cells):
            node = t * nc + i
            neigh[node] = [
                s * nc + j
                for s in range(max(0, t - 1), t + 1)
                for j, (r2, c2) in enumerate(cells)
                if abs(r2 - r) <= 1 and abs(c2 - c) <= 1 and (s, j) != (t, i)
            ]
    w = libpysal.weights.W(neigh, silence_warnings=True)
    g = esda.G_Local(counts.T.ravel(), w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(z.T.ravel(), g.Zs, rtol=1e-9, atol=1e-9)


def test_emerging_hotspots_errors() -> None:
    gdf = gpd.GeoDataFrame(
        {"opened": [2000, 2001, 2000, 2001]},
        geometry=gpd.points_from_xy([0, 10, 2000, 3000], [0, 10, 2000, 3000]),
        crs="EPSG:32651",
    )
    with pytest.raises(InvalidInputError, match="at least 3"):
        emerging_hotspots(gdf, cell_m=500)
    with pytest.raises(InvalidInputError, match="lacks column"):
        emerging_hotspots(gdf, time="founded")
    with pytest.raises(InvalidInputError, match="k must be"):
        emerging_hotspots(gdf, k=-1)


def test_emerging_hotspots_with_permutations_is_seeded() -> None:
    # conditional permutation holds the focal bin fixed, so plant a burst over a 3 x 3 block
    # (r1..r3, c6..c8) in the final year: the centre's neighbours are then high too
    rng = np.random.default_rng(11)
    base = _grid_events(rng)
    xy = rng.uniform([6_000, 1_000], [9_000, 4_000], (270, 2))
    burst = gpd.GeoDataFrame(
        {"opened": np.full(270, 2019)}, geometry=gpd.points_from_xy(*xy.T), crs="EPSG:32651"
    )
    gdf = pd.concat([base, burst], ignore_index=True)
    # without FDR: 999 permutations give p >= 0.001, too coarse for BH over 1,000 bins
    a = emerging_hotspots(gdf, cell_m=1000, permutations=999, seed=3, fdr=False)
    b = emerging_hotspots(gdf, cell_m=1000, permutations=999, seed=3, fdr=False)
    assert a["category"].tolist() == b["category"].tolist()
    assert a.set_index("cell_id").loc["r2c7", "category"] == "new hot spot"
    assert a.attrs["params"]["permutations"] == 999
