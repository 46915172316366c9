"""Density clusters: parity with scikit-learn, planted truth, CSR, profiles, errors."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.cluster import DBSCAN, HDBSCAN
from sklearn.cluster._hdbscan._linkage import mst_from_data_matrix
from sklearn.metrics import DistanceMetric, adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from clusterscape.detect._dbscan import dbscan_grid
from clusterscape.detect._hdbscan import labels_from_mst
from clusterscape.detect._mst import mutual_reachability_mst
from clusterscape.detect.clusters import (
    arcgis_default_eps,
    cluster_profiles,
    csr_default_eps,
    dbscan_labels,
    detect_clusters,
    hdbscan_labels,
)
from clusterscape.errors import CRSError, InvalidInputError

UTM51 = 32651


def _blobs(n: int, seed: int, k: int = 12, noise: float = 0.4) -> np.ndarray:
    """Gaussian blobs of varied spread plus uniform noise, in UTM-sized coordinates."""
    rng = np.random.default_rng(seed)
    cents = rng.uniform(0, 10_000, (k, 2))
    nc = int(n * (1 - noise))
    lab = rng.integers(0, k, nc)
    spread = rng.uniform(50, 300, k)[lab][:, None]
    pts = cents[lab] + rng.normal(0, 1, (nc, 2)) * spread
    pts = np.vstack([pts, rng.uniform(0, 10_000, (n - nc, 2))])
    return pts + np.array([600_000.0, 3_300_000.0])


def _gdf(xy: np.ndarray, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(*xy.T), crs=UTM51)


HDBSCAN_CASES = [(2000, 0, 15, None), (3000, 1, 15, None), (3000, 2, 25, 10), (4000, 3, 10, 5)]


def _sklearn_hdbscan(xy: np.ndarray, mcs: int, ms: int | None) -> HDBSCAN:
    with warnings.catch_warnings():  # sklearn 1.9 FutureWarning about `copy`
        warnings.simplefilter("ignore", FutureWarning)
        return HDBSCAN(min_cluster_size=mcs, min_samples=ms).fit(xy)


def _sklearn_mst(xy: np.ndarray, ms: int) -> np.ndarray:
    """scikit-learn's own mutual-reachability MST, built as its HDBSCAN ``fit`` builds it for
    euclidean 2-D data (``_hdbscan_prims``: k-NN core distances, then Prim on the data matrix)."""
    core = NearestNeighbors(n_neighbors=ms).fit(xy).kneighbors(xy, ms)[0][:, -1]
    metric = DistanceMetric.get_metric("euclidean")
    return mst_from_data_matrix(np.ascontiguousarray(xy), np.ascontiguousarray(core), metric, 1.0)


@pytest.mark.parametrize(("n", "seed", "mcs", "ms"), HDBSCAN_CASES)
def test_hdbscan_tree_stage_on_sklearn_mst_is_sklearn(n, seed, mcs, ms):
    """Our tree stage fed scikit-learn's own MST, sorted by scikit-learn's own (unstable) sort
    in this very process, gives scikit-learn's labels and probabilities exactly: whatever order
    this CPU's ``argsort`` gives tied edges, both tree stages see the same order."""
    xy = _blobs(n, seed)
    sk = _sklearn_hdbscan(xy, mcs, ms)
    mst = _sklearn_mst(xy, mcs if ms is None else ms)
    mst = mst[np.argsort(mst["distance"])]  # as sklearn.cluster._hdbscan.hdbscan._process_mst
    labels, probs = labels_from_mst(
        mst["current_node"], mst["next_node"], mst["distance"], min_cluster_size=mcs
    )
    np.testing.assert_array_equal(labels, sk.labels_)
    np.testing.assert_array_equal(probs, sk.probabilities_)
    assert labels.max() >= 5  # several clusters to get right


@pytest.mark.parametrize(("n", "seed", "mcs", "ms"), HDBSCAN_CASES)
def test_hdbscan_mst_weights_equal_sklearn_mst(n, seed, mcs, ms):
    """Every minimum spanning tree of a graph has the same sorted weight list: ours must equal
    scikit-learn's edge for edge (the trees themselves may differ only among tied edges)."""
    xy = _blobs(n, seed)
    m = mcs if ms is None else ms
    _, _, w, _ = mutual_reachability_mst(xy, m)
    ref = np.sort(_sklearn_mst(xy, m)["distance"])
    assert len(w) == len(ref) == n - 1
    np.testing.assert_allclose(np.sort(w), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("n", "seed", "mcs", "ms"), HDBSCAN_CASES)
def test_hdbscan_matches_sklearn_without_ties(n, seed, mcs, ms):
    """End to end against scikit-learn where the answer is unique: continuous coordinates and
    ``min_samples=1`` (core distance 0, so the mutual-reachability weight is the plain distance
    and no weight equals a core distance). With ``min_samples > 1`` many edges weigh exactly a
    core distance; the order of tied edges then decides the tree, and the answers may differ
    (ARI < 1, see docs/architecture.md), so that case is tested on a shared MST above."""
    xy = _blobs(n, seed)
    ours, prob = hdbscan_labels(xy, min_cluster_size=mcs, min_samples=1)
    _, _, w, _ = mutual_reachability_mst(xy, 1)
    assert np.all(np.diff(np.sort(w)) > 0)  # the premise: no tied weights
    sk = _sklearn_hdbscan(xy, mcs, 1)
    assert sk.labels_.max() >= 5
    assert adjusted_rand_score(sk.labels_, ours) >= 0.99
    np.testing.assert_array_equal(ours == -1, sk.labels_ == -1)
    np.testing.assert_allclose(prob, sk.probabilities_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dbscan_identical_to_sklearn(seed):
    xy = _blobs(3000, seed)
    for eps, ms in ((120.0, 10), (arcgis_default_eps(xy, min_samples=15), 15), (60.0, 5)):
        ours, core = dbscan_labels(xy, eps_m=eps, min_samples=ms)
        sk = DBSCAN(eps=eps, min_samples=ms).fit(xy)
        np.testing.assert_array_equal(ours, sk.labels_)
        np.testing.assert_array_equal(np.flatnonzero(core), sk.core_sample_indices_)


def _dbscan_sets() -> dict[str, np.ndarray]:
    """Seeded point sets for exact DBSCAN parity: clustered, uniform, integer lattices with
    duplicates (many distances exactly eps: 1, 2, 5 = 3-4-5), a 0.1 m lattice (distances
    rounded), all at small and at UTM magnitude."""
    rng = np.random.default_rng(42)
    utm = np.array([600_000.0, 3_300_000.0])
    lattice = rng.integers(0, 40, (2500, 2)).astype(float)  # ~1.6 points per node
    tenth = rng.integers(0, 60, (2500, 2)) * 0.1
    return {
        "blobs": _blobs(4000, 7),
        "uniform": rng.uniform(0, 2000, (3000, 2)),
        "uniform_utm": rng.uniform(0, 2000, (3000, 2)) + utm,
        "lattice": lattice,
        "lattice_utm": lattice + utm,
        "tenth": tenth,
        "tenth_utm": tenth + utm,
    }


_SETS = _dbscan_sets()
_EPS = {"blobs": (25.0, 80.0), "uniform": (30.0, 60.0), "uniform_utm": (30.0, 60.0),
        "lattice": (1.0, 2.0, 5.0), "lattice_utm": (1.0, 2.0, 5.0),
        "tenth": (0.1, 0.2, 0.5), "tenth_utm": (0.1, 0.2, 0.5)}  # fmt: skip


def _assert_sklearn(xy: np.ndarray, eps: float, ms: int) -> np.ndarray:
    ours, core = dbscan_labels(xy, eps_m=eps, min_samples=ms)
    sk = DBSCAN(eps=eps, min_samples=ms).fit(xy)
    assert ours.dtype == np.int64 and core.dtype == bool
    np.testing.assert_array_equal(ours, sk.labels_)
    np.testing.assert_array_equal(np.flatnonzero(core), sk.core_sample_indices_)
    return ours


@pytest.mark.parametrize("name", sorted(_SETS))
@pytest.mark.parametrize("ms", [1, 2, 15])
def test_dbscan_grid_identical_to_sklearn(name, ms):
    xy = _SETS[name]
    for eps in _EPS[name]:
        assert dbscan_grid(xy, eps, ms) is not None  # the grid path, not the KD-tree fallback
        _assert_sklearn(xy, eps, ms)


def test_dbscan_grid_extremes():
    xy = _blobs(3000, 8)
    # tiny eps: all noise (min_samples 2), or all singletons numbered in input order (1)
    assert (_assert_sklearn(xy, 1e-3, 2) == -1).all()
    np.testing.assert_array_equal(_assert_sklearn(xy, 1e-3, 1), np.arange(3000))
    # huge eps: one cluster; min_samples above n: all noise
    assert (_assert_sklearn(xy, 1e7, 15) == 0).all()
    assert (_assert_sklearn(xy, 50.0, 5000) == -1).all()
    # far outliers stretch the extent, not the memory (no dense grid)
    far = np.vstack([xy, [[-5e8, 1e8], [9e8, -3e8]]])
    _assert_sklearn(far, 40.0, 10)
    # eps below a billionth of the extent: the KD-tree fallback, same labels
    assert dbscan_grid(xy, 1e-6, 2) is None
    dup = np.vstack([xy, xy[:50]])
    _assert_sklearn(dup, 1e-6, 2)
    # all points in one place
    same = np.full((40, 2), 600_000.0)
    assert (_assert_sklearn(same, 1.0, 40) == 0).all()
    assert (_assert_sklearn(same, 1.0, 41) == -1).all()


def test_arcgis_default_eps_rule():
    xy = _blobs(1000, 4)
    # by hand: core distance = distance to the 15th nearest point, itself included
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    core = np.sort(d, axis=1)[:, 14]
    expect = np.sort(core)[1000 - 10 - 1]  # drop the top 1 % (10 values), take the largest
    assert arcgis_default_eps(xy, min_samples=15) == pytest.approx(expect, rel=1e-12)


def _planted(seed: int) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    cents = np.array([[1000.0, 1000.0], [4000.0, 1500.0], [2500.0, 4000.0]])
    parts = [c + rng.normal(0, 70, (90, 2)) for c in cents]
    noise = rng.uniform(0, 5000, (700, 2))
    xy = np.vstack([*parts, noise])
    truth = np.r_[np.repeat([0, 1, 2], 90), np.full(700, -1)]
    sectors = rng.choice(["design", "media", "software"], len(xy))
    gdf = _gdf(
        xy,
        employees=pd.array(rng.integers(1, 50, len(xy)), dtype="Float64"),
        opened=pd.array(rng.integers(1995, 2020, len(xy)), dtype="Int64"),
        sector=sectors,
    )
    gdf.loc[5, "employees"] = pd.NA
    gdf.index = pd.RangeIndex(100, 100 + len(gdf))  # labels must follow the caller's index
    return gdf, truth


def test_planted_clusters_found_hdbscan():
    gdf, truth = _planted(0)
    before = gdf.copy()
    res = detect_clusters(gdf, stability_draws=5, csr_simulations=9, seed=1, alpha=0.1)
    pd.testing.assert_frame_equal(gdf, before)  # input untouched
    assert res.labels.name == "cluster"
    assert res.labels.index.equals(gdf.index)
    sig = res.clusters[res.clusters["significant"]]
    assert len(sig) == 3
    labels = res.labels.to_numpy()
    prob = res.probabilities.to_numpy()
    for k in range(3):
        members = labels[truth == k]
        best = np.bincount(members[members >= 0]).argmax()
        assert best in sig.index
        assert np.mean(members == best) > 0.95  # recall of the planted cluster
        # HDBSCAN's EOM clusters absorb fringe noise; their cores (probability >= 0.5) are pure
        core = (labels == best) & (prob >= 0.5)
        assert np.mean(truth[core] == k) > 0.9
    assert sig["stability"].min() >= 0.8
    assert sig["density_ratio"].min() > 5
    assert (sig["csr_p"] == 0.1).all()  # 1 / (9 + 1): beats every CSR pattern
    assert res.params["method"] == "hdbscan"
    assert res.clusters.crs.to_epsg() == UTM51
    assert res.clusters.index.name == "cluster_id"


def test_planted_clusters_found_dbscan():
    gdf, truth = _planted(1)
    res = detect_clusters(gdf, method="dbscan", eps_m=60, min_cluster_size=10,
                          stability_draws=5, csr_simulations=9, alpha=0.1)  # fmt: skip
    sig = res.clusters[res.clusters["significant"]]
    assert len(sig) == 3
    labels = res.labels.to_numpy()
    for k in range(3):
        assert np.mean(labels[truth == k] == np.bincount(labels[truth == k] + 1).argmax() - 1) > 0.8
    assert res.params["eps_m"] == 60


def test_csr_gives_no_significant_cluster():
    # HDBSCAN always returns some clusters on random points; none may pass the CSR test.
    # The test is a max-statistic test, so any one CSR pattern fails it with chance <= 5 %;
    # these seeds were not selected.
    for seed in (10, 11):
        rng = np.random.default_rng(seed)
        gdf = _gdf(rng.uniform(0, 5000, (1200, 2)))
        for method in ("hdbscan", "dbscan"):
            res = detect_clusters(gdf, method=method, stability_draws=0, csr_simulations=19)
            assert not res.clusters["significant"].any(), (seed, method)
            assert (res.clusters["density_ratio"] < 2.5).all()


def test_dbscan_default_eps_is_arcgis_rule():
    # ArcGIS's rule is kept on request (eps_rule="arcgis"); the default is the CSR rule
    # (tests/test_realcity.py: ArcGIS's default made a whole real city centre one cluster).
    gdf, _ = _planted(2)
    xy = np.column_stack([gdf.geometry.x, gdf.geometry.y])
    res = detect_clusters(
        gdf,
        method="dbscan",
        eps_rule="arcgis",
        min_cluster_size=15,
        stability_draws=0,
        csr_simulations=0,
    )
    assert res.params["eps_m"] == pytest.approx(arcgis_default_eps(xy, min_samples=15))
    assert "arcgis" in res.params["eps_rule"]
    default = detect_clusters(
        gdf, method="dbscan", min_cluster_size=15, stability_draws=0, csr_simulations=0
    )
    assert default.params["eps_m"] == pytest.approx(csr_default_eps(xy, min_samples=15))
    assert default.params["eps_rule"].startswith("csr")


def test_profiles_by_hand():
    # a 100 m x 20 m rectangle of 30 points, two sectors, known employees and years
    gx, gy = np.meshgrid(np.linspace(0, 100, 10), np.linspace(0, 20, 3))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    emp = np.r_[np.full(29, 2.0), 42.0]
    years = np.arange(1990, 2020)
    sector = np.array(["a"] * 20 + ["b"] * 10)
    gdf = _gdf(xy, employees=emp, opened=years, sector=sector, w=np.ones(30))
    prof = cluster_profiles(gdf, np.zeros(30, dtype=np.int64), np.full(30, 0.8), weight="w")
    row = prof.iloc[0]
    assert row["n"] == 30
    assert row["area_m2"] == pytest.approx(2000.0, rel=1e-9)  # the hull is the rectangle
    assert row["density_per_km2"] == pytest.approx(30 / 0.002)
    assert row["elongation"] == pytest.approx(5.0)
    assert row["compactness"] == pytest.approx(4 * np.pi * 2000 / 240**2)
    assert row["sector_hhi"] == pytest.approx((2 / 3) ** 2 + (1 / 3) ** 2)
    assert row["sector_entropy"] == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    assert row["employees"] == pytest.approx(100.0)
    assert row["top_firm_share"] == pytest.approx(0.42)
    assert row["founding_year_min"] == 1990
    assert row["founding_year_median"] == pytest.approx(2004.5)
    assert row["founding_year_spread"] == pytest.approx(
        np.percentile(years, 75) - np.percentile(years, 25)
    )
    assert row["mean_probability"] == pytest.approx(0.8)
    assert row["weight_density_per_km2"] == pytest.approx(30 / 0.002)
    assert (row["centroid_x"], row["centroid_y"]) == pytest.approx((50.0, 10.0))
    assert isinstance(prof.geometry.iloc[0], shapely.Polygon)


def test_geographic_input_is_projected_and_columns_complete():
    gdf, _ = _planted(3)
    geo = gdf.to_crs(4326)
    res = detect_clusters(geo, stability_draws=2, csr_simulations=0)
    assert res.clusters.crs.is_projected
    for col in ("n", "employees", "area_m2", "density_per_km2", "elongation", "compactness",
                "sector_hhi", "sector_entropy", "founding_year_min", "founding_year_median",
                "founding_year_spread", "top_firm_share", "mean_probability", "stability",
                "centroid_x", "centroid_y"):  # fmt: skip
        assert col in res.clusters.columns, col
    assert res.clusters["csr_p"].isna().all()
    assert res.probabilities is not None and res.probabilities.between(0, 1).all()
    # seeded: same result twice
    again = detect_clusters(geo, stability_draws=2, csr_simulations=0)
    pd.testing.assert_frame_equal(res.clusters.drop(columns="geometry"),
                                  again.clusters.drop(columns="geometry"))  # fmt: skip


def test_bad_inputs():
    gdf, _ = _planted(4)
    with pytest.raises(InvalidInputError, match="method"):
        detect_clusters(gdf, method="kmeans")
    with pytest.raises(InvalidInputError, match="at least 16 points"):
        detect_clusters(gdf.iloc[:10], min_cluster_size=15)
    with pytest.raises(InvalidInputError, match="at least 6 points"):  # data-aware default 5
        detect_clusters(gdf.iloc[:4])
    with pytest.raises(CRSError, match="no CRS"):
        detect_clusters(gdf.set_crs(None, allow_override=True))
    with pytest.raises(InvalidInputError, match="min_cluster_size"):
        detect_clusters(gdf, min_cluster_size=1)
    with pytest.raises(InvalidInputError, match="eps_m"):
        detect_clusters(gdf, method="dbscan", eps_m=-5)
    with pytest.raises(InvalidInputError, match="Point"):
        detect_clusters(gdf.set_geometry(gdf.buffer(5)))
    with pytest.raises(InvalidInputError, match="weight column"):
        detect_clusters(gdf, weight="nope")


def _csv(tmp_path, creative: bool = False):
    gdf, truth = _planted(5)
    ll = gdf.to_crs(4326)
    frame = pd.DataFrame({"id": [f"f{i}" for i in range(len(ll))], "name": "firm",
                          "lon": ll.geometry.x.round(7), "lat": ll.geometry.y.round(7)})  # fmt: skip
    if creative:
        frame["is_creative"] = truth >= 0
    path = tmp_path / "firms.csv"
    frame.to_csv(path, index=False)
    return path, truth


def test_cli_detect_writes_outputs(tmp_path):
    from typer.testing import CliRunner

    from clusterscape.cli import app

    path, _ = _csv(tmp_path)
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["detect", str(path), "--out", str(out), "--seed", "3"])
    assert run.exit_code == 0, run.output
    table = pd.read_csv(out / "clusters.csv", index_col="cluster_id")
    assert table["significant"].sum() == 3
    layers = gpd.list_layers(out / "clusters.gpkg")["name"].tolist()
    assert set(layers) == {"clusters", "establishments"}
    members = gpd.read_file(out / "clusters.gpkg", layer="establishments")
    assert len(members) == 970 and "cluster" in members.columns
    bad = CliRunner().invoke(app, ["detect", str(path), "--out", str(out), "--method", "x"])
    assert bad.exit_code == 1 and "method" in bad.output


def test_cli_detect_subprocess_only_creative_rows(tmp_path):
    import subprocess
    import sys

    path, truth = _csv(tmp_path, creative=True)
    out = tmp_path / "o"
    code = "from clusterscape.cli import app; app()"
    proc = subprocess.run([sys.executable, "-c", code, "detect", str(path), "--out", str(out),
                           "--method", "dbscan", "--eps-m", "60"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    members = gpd.read_file(out / "clusters.gpkg", layer="establishments")
    assert len(members) == int((truth >= 0).sum())  # only is_creative rows are clustered


def test_significance_by_random_labelling_among_all_establishments():
    """With population=, the null draws n locations among all establishments: a cluster that
    is dense only because every establishment is dense there is not significant, one denser
    than establishments in general is."""
    import geopandas as gpd

    rng = np.random.default_rng(5)
    centres = [rng.normal(c, 250, (1000, 2)) for c in ((-2500, 0), (2500, 0), (0, 2500))]
    city = np.vstack([*centres, rng.uniform(-4000, 4000, (1000, 2))])  # dense town centres
    creative_idx = rng.choice(len(city), 200, replace=False)  # creative = a random subset
    pop = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*city.T), crs=32651)
    cre = pop.iloc[creative_idx]
    csr = detect_clusters(cre, stability_draws=0, csr_simulations=19)
    rl = detect_clusters(cre, stability_draws=0, csr_simulations=19, population=pop)
    assert csr.clusters["significant"].any()  # against CSR the centre is "a cluster"
    assert not rl.clusters["significant"].any()  # not against all establishments
    assert rl.clusters["csr_p"].isna().all()
    assert rl.params["significance_null"] == "random labelling among all establishments"
    # a planted creative cluster denser than the city is still found
    planted = rng.normal([0, -2500], 15, (40, 2))
    both = np.vstack([city[creative_idx], planted])
    allxy = np.vstack([city, planted])
    pop2 = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*allxy.T), crs=32651)
    cre2 = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*both.T), crs=32651)
    res = detect_clusters(cre2, stability_draws=0, csr_simulations=19, population=pop2)
    sig = res.clusters[res.clusters["significant"]]
    assert len(sig) >= 1 and (sig["p_value"] == 0.05).all()
    with pytest.raises(InvalidInputError, match="population"):
        detect_clusters(cre, stability_draws=0, population=pop.iloc[:100])
