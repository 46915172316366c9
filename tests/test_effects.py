"""Cluster -> amenity effects: ring DiD, event study, Butts rings, influence radius, companions.

The simulation follows the design of Butts (2023, *J. Urban Econ.* 133:103493, section 4): a
planted effect whose intensity falls linearly with distance to the cluster footprint and reaches
zero at a known radius, on top of a heterogeneous, growing background. Its ring averages are known
in closed form (``_true_ring_effect``), so estimates are checked against numbers, not signs only.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from clusterscape.effects.cross import amenity_colocation, distance_decay, size_distribution
from clusterscape.effects.did import amenity_effects, cluster_opening_years
from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.measure.emerging import emerging_hotspots

CRS = "EPSG:32651"
R0_M = 100.0  # footprint radius


def simulate_city(
    seed: int,
    *,
    n_clusters: int = 12,
    effects: dict[str, float] | None = None,
    radius_m: float = 1500.0,
    base_per_km2: float = 0.15,
    growth: float = 0.04,
    side_m: float = 30_000.0,
    years: tuple[int, int] = (1995, 2024),
    profile: str = "linear",
    post_years: int = 9,
    centres: np.ndarray | None = None,
    opening_years: np.ndarray | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[int, int]]:
    """A synthetic city: amenity openings per year plus planted openings after each cluster opens.

    ``effects`` maps amenity -> planted openings per cluster per post year (event years
    0..post_years-1, the default window's post years), at the city's mean yearly rate: the
    planted count of year t is scaled by the background's growth g(t) / mean g, the scale the
    estimator divides out (``detrend``). Every amenity also has a background: Poisson, 60 %
    around a Gaussian centre (sd = side/6), 40 % uniform, growing by ``growth`` per year.
    ``profile="linear"``: planted openings at footprint distance d with density (d + R0)(R - d)
    on [0, R], i.e. a per-area intensity falling linearly to 0 at R; ``"step"``: a uniform
    per-area intensity up to R. Each cluster has 20 creative members founded 0-2 years after
    its opening year.
    """
    rng = np.random.default_rng(seed)
    effects = {"hotel": 3.0} if effects is None else effects
    centre = (
        rng.uniform(0.2 * side_m, 0.8 * side_m, (n_clusters, 2))
        if centres is None
        else np.asarray(centres, dtype=float)
    )
    n_clusters = len(centre)
    span = np.arange(years[0], years[1] + 1)
    g_rel = np.exp(growth * (span - years[0]))
    g_rel = g_rel / g_rel.mean()
    t0 = (
        rng.integers(2005, 2016, n_clusters)
        if opening_years is None
        else np.asarray(opening_years, dtype=int)
    )
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    yrs: list[np.ndarray] = []
    fn: list[np.ndarray] = []

    def add(x: np.ndarray, y: np.ndarray, year: int | np.ndarray, f: str) -> None:
        xs.append(np.asarray(x, float))
        ys.append(np.asarray(y, float))
        yrs.append(np.broadcast_to(year, np.shape(x)).astype(int))
        fn.append(np.full(np.shape(x), f, dtype=object))

    area_km2 = side_m**2 / 1e6
    for amenity, per_year in effects.items():
        for year in range(years[0], years[1] + 1):
            n = rng.poisson(base_per_km2 * area_km2 * np.exp(growth * (year - years[0])))
            near = rng.random(n) < 0.6
            p = np.where(
                near[:, None],
                rng.normal(side_m / 2, side_m / 6, (n, 2)),
                rng.uniform(0, side_m, (n, 2)),
            )
            add(p[:, 0], p[:, 1], year, amenity)
        if per_year <= 0:
            continue
        for c in range(n_clusters):
            for e in range(post_years):
                year = int(t0[c] + e)
                if year > years[1]:
                    continue
                k = rng.poisson(per_year * g_rel[year - years[0]])
                d = np.empty(0)
                while d.size < k:
                    cand = rng.uniform(0, radius_m, 4 * k)
                    if profile == "step":  # uniform per area: density (d + R0) on [0, R]
                        keep = rng.uniform(0, radius_m + R0_M, cand.size) < cand + R0_M
                        d = np.append(d, cand[keep])
                        continue
                    keep = rng.uniform(0, (radius_m / 2 + R0_M) ** 2, cand.size)
                    d = np.append(d, cand[keep < (cand + R0_M) * (radius_m - cand)])
                d = d[:k] + R0_M
                ang = rng.uniform(0, 2 * np.pi, k)
                add(
                    centre[c, 0] + d * np.cos(ang),
                    centre[c, 1] + d * np.sin(ang),
                    t0[c] + e,
                    amenity,
                )
    for c in range(n_clusters):
        add(
            centre[c, 0] + rng.normal(0, 30, 20),
            centre[c, 1] + rng.normal(0, 30, 20),
            t0[c] + rng.integers(0, 3, 20),
            "creative",
        )
    est = gpd.GeoDataFrame(
        {
            "function": np.concatenate(fn),
            "opened": pd.array(np.concatenate(yrs), dtype="Int64"),
        },
        geometry=gpd.points_from_xy(np.concatenate(xs), np.concatenate(ys)),
        crs=CRS,
    )
    est["is_creative"] = est["function"] == "creative"
    clusters = gpd.GeoDataFrame(
        {"n": np.full(n_clusters, 20)},
        geometry=gpd.points_from_xy(centre[:, 0], centre[:, 1]).buffer(R0_M, quad_segs=16),
        crs=CRS,
    )
    clusters.index.name = "cluster_id"
    return est, clusters, {i: int(t) for i, t in enumerate(t0)}


def _share(lo: float, hi: float, radius_m: float, profile: str = "linear") -> float:
    """Share of planted openings at footprint distance in [lo, hi): integral of (d + R0)(R - d)
    (linear profile) or of (d + R0) (step profile)."""

    def prim(d: float) -> float:
        d = min(max(d, 0.0), radius_m)
        if profile == "step":
            return R0_M * d + d**2 / 2
        return R0_M * radius_m * d + (radius_m - R0_M) * d**2 / 2 - d**3 / 3

    return (prim(hi) - prim(lo)) / prim(radius_m)


def _ring_area_km2(lo: float, hi: float) -> float:
    return np.pi * ((R0_M + hi) ** 2 - (R0_M + lo) ** 2 if lo > 0 else (R0_M + hi) ** 2) / 1e6


def _true_ring_effect(
    lo: float, hi: float, per_year: float, radius_m: float = 1500.0, profile: str = "linear"
) -> float:
    """Planted openings per km² per year in the ring [lo, hi) (footprint distance)."""
    return per_year * _share(lo, hi, radius_m, profile) / _ring_area_km2(lo, hi)


@pytest.fixture(scope="module")
def city() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[int, int]]:
    return simulate_city(7, n_clusters=30, side_m=60_000.0, effects={"hotel": 3.0, "mall": 0.0})


@pytest.fixture(scope="module")
def planted(city):
    est, clusters, t0 = city
    before = est.copy()
    res = amenity_effects(est, clusters, amenity="hotel", opened=t0)
    pd.testing.assert_frame_equal(est, before)  # inputs untouched
    return res


def test_planted_effect_is_recovered_with_its_radius(planted) -> None:
    res = planted
    s = res.summary
    assert s["method"] == "ring_did" and s["status"] == "estimated" and s["n_clusters"] == 30
    assert s["inference"].startswith("wild cluster bootstrap")
    # linear profile reaching 1500 m: bins [0, 500) and [500, 1000) carry most of it; the last
    # significant bin's upper edge lies within one ring width (500 m) of the reach
    assert 1000 <= s["influence_radius_m"] <= 2000
    lo, hi = s["influence_radius_ci"]
    assert lo <= 1500 <= hi and lo < s["influence_radius_m"] <= hi
    assert s["influence_radius_from_centre_m"] == pytest.approx(
        s["influence_radius_m"] + R0_M, rel=0.01
    )
    # the pooled treated ring is the one the curve chose, and its estimate matches the closed form
    assert s["treated_m"] == s["influence_radius_m"]
    assert s["treated_source"].startswith("influence radius")
    truth = _true_ring_effect(0, s["treated_m"], 3.0)
    assert s["estimate"] > 0 and s["p_value"] < 0.001
    assert abs(s["estimate"] - truth) < 3 * s["se"]
    assert s["ci_low"] < truth < s["ci_high"]
    # MDE at 80 % power: (t_0.975 + t_0.8) with G - 1 = 29 degrees of freedom, times the SE
    from scipy import stats

    assert s["mde"] == pytest.approx((stats.t.ppf(0.975, 29) + stats.t.ppf(0.8, 29)) * s["se"])
    # tau(d) per ring against the closed form, within its pointwise interval (x 1.5)
    bd = res.by_distance
    for row in bd.itertuples():
        want = _true_ring_effect(row.lower_m, row.upper_m, 3.0)
        half = (row.ci_high - row.ci_low) / 2
        assert abs(row.estimate - want) < 1.5 * half, (row.lower_m, row.estimate, want)
        assert row.band_low <= row.ci_low and row.band_high >= row.ci_high  # uniform is wider
    assert list(bd["lower_m"]) == [0, 500, 1000, 1500]
    assert not bd["significant"].iloc[-1]  # 1500-2000 m: nothing planted
    # event study: flat before, positive after
    es = res.event_study.set_index("event_time")
    assert es.loc[-1, "coef"] == 0.0
    pre = es.loc[[-5, -4, -3, -2]]
    post = es.loc[list(range(9)), "coef"]
    assert ((pre["ci_low"] < 0) & (pre["ci_high"] > 0)).all()  # no pre-trend
    assert post.min() > 0
    assert post.mean() - pre["coef"].mean() == pytest.approx(truth, rel=0.3)
    assert res.rows["method"].tolist() == ["ring_did"]
    assert s["window_used"] == (-5, 8)
    # per-cluster table: each cluster's own post-minus-pre contrast
    bc = res.by_cluster.set_index("cluster_id")
    assert len(bc) == 30 and (bc["n_amenities"] > 0).all()
    assert bc["estimate"].mean() == pytest.approx(bc["estimate"].mean())
    assert (bc["ci_low"] < bc["estimate"]).all() and (bc["estimate"] < bc["ci_high"]).all()
    assert abs(bc["estimate"].median() - truth) < 0.5 * truth


def test_step_effect_radius_is_the_bin_edge_not_a_midpoint() -> None:
    """A uniform effect up to 1,000 m: the radius is 1,000 m (the old midpoint rule gave 1,250)."""
    est, clusters, t0 = simulate_city(
        11, n_clusters=20, side_m=40_000.0, radius_m=1000.0, profile="step", effects={"hotel": 3}
    )
    res = amenity_effects(est, clusters, opened=t0)
    s = res.summary
    assert s["influence_radius_m"] == 1000.0
    assert s["influence_radius_ci"] == (500.0, 1500.0)
    assert res.by_distance["significant"].tolist() == [True, True, False, False]
    truth = _true_ring_effect(0, 1000, 3.0, 1000.0, "step")
    assert abs(s["estimate"] - truth) < 3 * s["se"]
    # given treated ring: used as is, and said so
    fixed = amenity_effects(est, clusters, opened=t0, treated_m=500)
    assert fixed.summary["treated_m"] == 500 and fixed.summary["treated_source"] == "given"
    # clusters opened before the data's first year have no pre years: not estimable
    early = amenity_effects(est, clusters, amenity="hotel", opened={c: 1990 for c in t0})
    assert early.summary["status"] == "not estimable"
    assert early.summary["reason"].startswith("0 cluster(s) have an opening year")


def test_no_effect_for_the_amenity_without_one(city) -> None:
    est, clusters, t0 = city
    res = amenity_effects(est, clusters, amenity="mall", opened=t0)
    assert res.summary["p_value"] > 0.05
    assert res.summary["ci_low"] < 0 < res.summary["ci_high"]
    assert np.isnan(res.summary["influence_radius_m"])
    assert np.isnan(res.summary["influence_radius_from_centre_m"])
    assert res.summary["treated_source"] == "all rings (no bin significant)"
    assert res.summary["treated_m"] == 2000
    assert not res.by_distance["significant"].any()


def test_control_rings_are_masked_from_other_clusters() -> None:
    """Pairs of clusters 3 km apart: unmasked, each control ring holds the other's effect."""
    centres = np.array([[x, y] for x in (5_000.0, 8_000.0) for y in np.arange(5, 45, 8) * 1e3])
    est, clusters, t0 = simulate_city(
        3,
        effects={"hotel": 6.0},
        side_m=50_000.0,
        profile="step",
        centres=centres,
        opening_years=np.tile([2006, 2008, 2010, 2012, 2014], 2),  # pairs open together
    )
    kw = {"opened": t0, "rings_m": (0, 1500), "control_m": (1500, 3000)}
    masked = amenity_effects(est, clusters, **kw)
    raw = amenity_effects(est, clusters, mask=False, **kw)
    truth = _true_ring_effect(0, 1500, 6.0, profile="step")
    assert abs(masked.summary["estimate"] - truth) < 3 * masked.summary["se"]
    assert raw.summary["estimate"] < masked.summary["estimate"] - 2 * raw.summary["se"]
    assert raw.summary["control_masked_share"] == 0
    # masked share by hand for cluster 0: the annulus minus the other footprint's 1.5 km disk
    g0, g1 = clusters.geometry[0], clusters.geometry[5]
    ann = g0.buffer(3000, quad_segs=16).difference(g0.buffer(1500, quad_segs=16))
    share = ann.intersection(g1.buffer(1500, quad_segs=16)).area / ann.area
    assert masked.params["control_masked_share"][0] == pytest.approx(share, rel=1e-6)
    assert masked.summary["control_masked_share"] == pytest.approx(
        np.mean(list(masked.params["control_masked_share"].values()))
    )
    # amenities in the masked area are not counted in cluster 0's control ring
    hotels = est[est["function"] == "hotel"]
    d0 = shapely.distance(g0, hotels.geometry.to_numpy())
    d_other = np.min(
        [shapely.distance(g, hotels.geometry.to_numpy()) for g in clusters.geometry[1:]], axis=0
    )
    yr = hotels["opened"].to_numpy(dtype=int)
    want = ((d0 >= 1500) & (d0 < 3000) & (d_other >= 1500) & (yr == t0[0])).sum()
    p = masked.panel
    got = p[(p["cluster_id"] == 0) & (p["ring"] == 1) & (p["event_time"] == 0)]["count"]
    assert int(got.iloc[0]) == int(want)


def test_wild_bootstrap_t_equals_an_explicit_refit(city) -> None:
    """The bootstrap's closed form against an explicit restricted wild refit by statsmodels."""
    import statsmodels.api as sm

    from clusterscape.effects.did import WEBB_WEIGHTS, _Contrast

    rng = np.random.default_rng(0)
    g, t = 7, 10
    cid = np.repeat(np.arange(g), t)
    post = np.tile((np.arange(t) >= 4).astype(float), g)
    y = rng.normal(size=g * t) + 0.3 * post + cid * 0.5
    d = post - 0.6
    onehot = np.eye(g)[cid].T
    con = _Contrast(
        a=(onehot @ (d * y))[:, None],
        q=(onehot @ d**2)[:, None],
        f=g / (g - 1) * (g * t - 1) / (g * t - g - 1),
    )
    x = np.column_stack([np.eye(g)[cid], post])
    fit = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": cid}, use_t=True)
    assert con.beta[0] == pytest.approx(fit.params[-1], rel=1e-10)
    assert con.se()[0] == pytest.approx(fit.bse[-1], rel=1e-8)
    w = WEBB_WEIGHTS[rng.integers(0, 6, size=(3, g))]
    mean_c = (onehot @ y / t)[cid]
    for b in range(3):
        ystar = mean_c + w[b, cid] * (y - mean_c)  # the null imposed: cluster means only
        ref = sm.OLS(ystar, x).fit(cov_type="cluster", cov_kwds={"groups": cid})
        assert con.boot_t(w[b : b + 1])[0, 0] == pytest.approx(ref.tvalues[-1], rel=1e-8)
    assert sorted(np.round(WEBB_WEIGHTS**2, 12)) == sorted([0.5, 0.5, 1, 1, 1.5, 1.5])


def test_not_estimable_says_why_with_counts(city) -> None:
    est, clusters, t0 = city
    few = amenity_effects(est, clusters.iloc[:3], opened=t0)
    assert few.summary["status"] == "not estimable"
    assert "3 cluster(s)" in few.summary["reason"] and "at least 4" in few.summary["reason"]
    assert np.isnan(few.summary["estimate"]) and np.isnan(few.summary["influence_radius_m"])
    sparse = est[(est["function"] != "hotel") | (est.index % 40 == 0)]
    thin = amenity_effects(sparse, clusters, opened=t0, min_amenities=500)
    assert thin.summary["status"] == "not estimable"
    assert "dated hotel opening(s)" in thin.summary["reason"]
    assert thin.rows.loc[0, "status"] == "not estimable"
    # clusters whose opening is after the data's coverage have no post years: dropped, said why
    late = amenity_effects(est, clusters, opened={c: 2030 if c < 5 else y for c, y in t0.items()})
    assert late.params["dropped"][0].startswith("no year both before and after")
    assert late.summary["n_clusters"] == 25


def test_ring_did_equals_the_two_by_two_means_by_hand(city) -> None:
    est, clusters, t0 = city
    res = amenity_effects(est, clusters, opened=t0, treated_m=2000, detrend=False)
    p = res.panel
    inner = p[p["ring"] < 4].groupby(["cluster_id", "event_time"])[["count", "area_km2"]].sum()
    ctrl = p[p["ring"] == 4].set_index(["cluster_id", "event_time"])
    diff = (inner["count"] / inner["area_km2"] - ctrl["density_per_km2"]).reset_index(name="d")
    diff["post"] = diff["event_time"] >= 0
    # with cluster fixed effects the OLS slope is the within-cluster post-pre contrast
    dm = diff["d"] - diff.groupby("cluster_id")["d"].transform("mean")
    pm = diff["post"] - diff.groupby("cluster_id")["post"].transform("mean")
    beta = float((dm * pm).sum() / (pm * pm).sum())
    assert res.summary["estimate"] == pytest.approx(beta, rel=1e-10)
    # CR1 cluster-robust SE by hand: G/(G-1) (N-1)/(N-K) sum_g (sum_i x_i u_i)^2 / (sum x^2)^2
    u = dm - beta * pm
    score = (pm * u).groupby(diff["cluster_id"]).sum()
    g, n, k = score.size, len(diff), 30 + 1
    se = np.sqrt(g / (g - 1) * (n - 1) / (n - k) * (score**2).sum()) / (pm * pm).sum()
    assert float(res.rows.loc[0, "se"]) == pytest.approx(se, rel=1e-8)
    # per-cluster estimate: that cluster's own slope
    one = diff[diff["cluster_id"] == 4]
    b4 = float(
        ((one["d"] - one["d"].mean()) * (one["post"] - one["post"].mean())).sum()
        / ((one["post"] - one["post"].mean()) ** 2).sum()
    )
    assert res.by_cluster.set_index("cluster_id").loc[4, "estimate"] == pytest.approx(b4)


def test_too_narrow_and_too_wide_rings_bias_towards_zero(city) -> None:
    est, clusters, t0 = city
    right = amenity_effects(est, clusters, rings_m=(0, 1500), control_m=(2000, 4000), opened=t0)
    clean = amenity_effects(est, clusters, rings_m=(0, 500), control_m=(2000, 4000), opened=t0)
    narrow = amenity_effects(est, clusters, rings_m=(0, 500), control_m=(500, 2000), opened=t0)
    wide = amenity_effects(est, clusters, rings_m=(0, 3000), control_m=(3000, 5000), opened=t0)
    t_right = _true_ring_effect(0, 1500, 3.0)
    t_narrow_inner = _true_ring_effect(0, 500, 3.0)
    # Butts (2023) prop. 1: the ring DiD identifies tau(inner) - tau(control)
    t_narrow = t_narrow_inner - _true_ring_effect(500, 2000, 3.0)
    t_wide = _true_ring_effect(0, 3000, 3.0)  # diluted: unaffected area in the inner ring
    for res, want in ((right, t_right), (narrow, t_narrow), (wide, t_wide)):
        se = float(res.rows.loc[0, "se"])
        assert abs(res.summary["estimate"] - want) < 3 * se, (res.params["rings_m"], want)
    # the biases have the sign theory says. Too narrow: the same inner ring against a clean
    # control gives more, by the effect that leaked into the contaminated control ring.
    leak = clean.summary["estimate"] - narrow.summary["estimate"]
    assert leak == pytest.approx(_true_ring_effect(500, 2000, 3.0), rel=0.35)
    assert abs(clean.summary["estimate"] - t_narrow_inner) < 3 * float(clean.rows.loc[0, "se"])
    # too wide: diluted well below the effect within the true radius
    assert wide.summary["estimate"] < t_right - 2 * float(wide.rows.loc[0, "se"])


def test_poisson_model_recovers_the_rate_ratio(city) -> None:
    est, clusters, t0 = city
    res = amenity_effects(est, clusters, rings_m=(0, 1500), opened=t0, model="poisson")
    assert res.summary["method"] == "ring_did_poisson"
    assert res.summary["unit"] == "log rate ratio"
    assert res.summary["estimate"] > 0 and res.summary["p_value"] < 0.001
    null = amenity_effects(est, clusters, amenity="mall", opened=t0, model="poisson")
    assert null.summary["p_value"] > 0.05


def test_opening_years_25_percent_rule_and_registry(city) -> None:
    est, clusters, t0 = city
    years = cluster_opening_years(est, clusters)
    # by hand: members inside the footprint, sorted founding years, the ceil(25 %)-th value
    for cid in [0, 5, 17]:
        inside = est[est["is_creative"] & est.within(clusters.geometry[cid])]
        ys = np.sort(inside["opened"].to_numpy(dtype=int))
        assert years.loc[cid, "opening_year"] == ys[int(np.ceil(0.25 * ys.size)) - 1]
        assert years.loc[cid, "opening_year_source"] == "25% of firms"
        assert t0[cid] <= years.loc[cid, "opening_year"] <= t0[cid] + 2
    park = gpd.GeoDataFrame(
        {"opened": pd.array([1990], dtype="Int64")},
        geometry=[clusters.geometry[3].centroid],
        crs=CRS,
    ).to_crs("EPSG:4326")
    reg = cluster_opening_years(est, clusters, parks=park)
    assert reg.loc[3, "opening_year"] == 1990 and reg.loc[3, "opening_year_source"] == "registry"
    assert reg.loc[4, "opening_year_source"] == "25% of firms"
    # with a membership column the labels define members
    lab = est.assign(cluster=-1)
    lab.loc[lab.index[-3:], "cluster"] = 2
    by_label = cluster_opening_years(lab, clusters)
    assert by_label.loc[2, "n_members"] == 3 and by_label.loc[0, "n_members"] == 0
    assert pd.isna(by_label.loc[0, "opening_year"])


def test_one_opening_rule_for_typology_and_effects(city) -> None:
    """Nearest park within 1 km of the footprint; a park opens only its closest cluster."""
    from clusterscape.typology import assign_forms

    est, clusters, _ = city
    c3 = clusters.geometry[3].centroid
    c7 = clusters.geometry[7].centroid
    parks = gpd.GeoDataFrame(
        {
            "name": ["near", "earlier but farther", "too far", "at 7"],
            "opened": pd.array([2001, 1950, 1960, 2004], dtype="Int64"),
            "government_support": [False] * 4,
            "former_use": [""] * 4,
            "form": [""] * 4,
            "location": ["exact", "exact", "exact", "approximate"],
        },
        geometry=[
            shapely.Point(c3.x + 300, c3.y),  # 200 m from the footprint
            shapely.Point(c3.x, c3.y + 700),  # 600 m: the old "earliest within 500 m" missed it
            shapely.Point(c3.x - 1300, c3.y),  # 1200 m: no match
            shapely.Point(c7.x + 1600, c7.y),  # 1500 m, approximate location: 2 km allowed
        ],
        crs=CRS,
    )
    reg = cluster_opening_years(est, clusters, parks=parks)
    assert reg.loc[3, "opening_year"] == 2001 and reg.loc[3, "park"] == "near"
    assert reg.loc[3, "park_distance_m"] == pytest.approx(200, abs=1)
    assert reg.loc[7, "opening_year"] == 2004 and reg.loc[7, "opening_year_source"] == "registry"
    labelled = est.assign(cluster=-1)
    forms = assign_forms(clusters, labelled, parks=parks)
    matched = forms["park_matched"]
    assert set(matched[matched].index) == set(reg.index[reg["opening_year_source"] == "registry"])
    assert forms.loc[3, "park_opened"] == 2001 and forms.loc[7, "park_opened"] == 2004
    # one park, two clusters within 1 km: the closer one claims it, the other falls back
    pair = clusters.iloc[[0, 1]].copy()
    pair.geometry = [shapely.Point(0, 0).buffer(100), shapely.Point(1200, 0).buffer(100)]
    one = parks.iloc[[0]].copy()
    one.geometry = [shapely.Point(400, 0)]
    both = cluster_opening_years(est, pair, parks=one)
    assert both["opening_year_source"].tolist() == ["registry", ""]
    f2 = assign_forms(pair, labelled, parks=one)
    assert f2["park_matched"].tolist() == [True, False]


def test_default_opening_rule_is_used_without_registry(city) -> None:
    est, clusters, _ = city
    res = amenity_effects(est, clusters)
    assert set(res.params["opening_source"].values()) == {"25% of firms"}
    assert res.summary["p_value"] < 0.01


def test_amenity_effects_errors(city) -> None:
    est, clusters, _t0 = city
    with pytest.raises(InvalidInputError, match="rings_m"):
        amenity_effects(est, clusters, rings_m=(500, 0))
    with pytest.raises(InvalidInputError, match="control ring must lie"):
        amenity_effects(est, clusters, rings_m=(0, 1000), control_m=(500, 3000))
    with pytest.raises(InvalidInputError, match="window_years"):
        amenity_effects(est, clusters, window_years=(0, 5))
    with pytest.raises(InvalidInputError, match="functions present"):
        amenity_effects(est, clusters, amenity="cinema")
    with pytest.raises(InvalidInputError, match="model"):
        amenity_effects(est, clusters, model="probit")
    with pytest.raises(CRSError, match="metres"):
        amenity_effects(est, clusters.to_crs("EPSG:4326"))
    with pytest.raises(InvalidInputError, match="lacks column"):
        amenity_effects(est.drop(columns="function"), clusters)
    with pytest.raises(InvalidInputError, match="treated_m"):
        amenity_effects(est, clusters, treated_m=700)
    with pytest.raises(InvalidInputError, match="bootstrap"):
        amenity_effects(est, clusters, bootstrap=10)


def test_geographic_establishments_are_projected(city, planted) -> None:
    est, clusters, t0 = city
    b = amenity_effects(est.to_crs("EPSG:4326"), clusters, opened=t0)
    assert b.summary["estimate"] == pytest.approx(planted.summary["estimate"], rel=1e-6)


def test_colocation_quotient_by_hand_and_planted() -> None:
    # A at 0 and 10; B at 1 (nearest of A0) ; C at 12 and 8 (tie for A10: 8 (C) and 12 (C))
    pts = [(0, 0), (10, 0), (1, 0), (12, 0), (8, 0), (30, 0)]
    fun = ["creative", "creative", "hotel", "other", "other", "hotel"]
    gdf = gpd.GeoDataFrame(
        {"function": fun, "is_creative": [f == "creative" for f in fun]},
        geometry=[shapely.Point(p) for p in pts],
        crs=CRS,
    )
    r = amenity_colocation(gdf, permutations=0)
    # C(A->B) = 1 (A0 -> B1) + 0 (A10 -> tie 8/12, both other); N_A = 2, N_B = 2, N = 6
    assert r["clq"] == pytest.approx((1 / 2) / (2 / 5))
    # tie split: move one of A10's tied neighbours to hotel -> A10 contributes 1/2
    gdf2 = gdf.copy()
    gdf2.loc[3, "function"] = "hotel"
    r2 = amenity_colocation(gdf2, permutations=0)
    assert r2["clq"] == pytest.approx((1.5 / 2) / (3 / 5))
    # planted co-location: hotels right next to creative firms -> CLQ >> 1, small p
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 10_000, (200, 2))
    b = a[:60] + rng.normal(0, 5, (60, 2))
    o = rng.uniform(0, 10_000, (800, 2))
    xy = np.vstack([a, b, o])
    f = ["creative"] * 200 + ["hotel"] * 60 + ["other"] * 800
    g = gpd.GeoDataFrame(
        {"function": f, "is_creative": [v == "creative" for v in f]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )
    res = amenity_colocation(g, permutations=99, seed=1)
    assert res["clq"] > 3 and res["p_value"] == pytest.approx(0.01)
    with pytest.raises(InvalidInputError, match="needs both"):
        amenity_colocation(g, amenity="mall")


def test_colocation_counts_every_tie_not_nine() -> None:
    """A creative firm with 12 neighbours at exactly 5 m (3-4-5 lattice), 4 of them hotels."""
    ring = [(3, 4), (4, 3), (5, 0), (4, -3), (3, -4), (0, -5)]
    ring += [(-3, -4), (-4, -3), (-5, 0), (-4, 3), (-3, 4), (0, 5)]
    fun = ["creative"] + ["hotel" if i % 3 == 0 else "other" for i in range(12)]
    pts = [(0, 0), *ring]
    pts += [(1000 + 10 * i, 0) for i in range(6)]  # a far group of others
    fun += ["other"] * 6
    gdf = gpd.GeoDataFrame(
        {"function": fun, "is_creative": [f == "creative" for f in fun]},
        geometry=[shapely.Point(p) for p in pts],
        crs=CRS,
    )
    r = amenity_colocation(gdf, permutations=0)
    # C(A->B) = 4/12 (all 12 tied neighbours share the weight); N_A = 1, N_B = 4, N = 19
    assert r["clq"] == pytest.approx((4 / 12) / (4 / 18))


def test_colocation_reuses_the_nearest_neighbours_and_matches_the_pattern_module() -> None:
    """The CLQ of amenity_colocation is colocation_quotient's to the last bit (ties with
    shares 1/2, 1/3, 1/4 on a lattice), and the split is computed once per set of points."""
    from clusterscape.effects import cross
    from clusterscape.measure.pattern import colocation_quotient

    rng = np.random.default_rng(4)
    lattice = np.stack(np.meshgrid(np.arange(40.0), np.arange(30.0)), -1).reshape(-1, 2)
    lattice = np.vstack([lattice, [[0.5, 0.5], [10.5, 20.0], [3.5, 3.5]]])
    scattered = rng.uniform(0, 5_000, (3_000, 2))
    for xy in (lattice, scattered):
        codes = rng.integers(0, 3, len(xy)).astype(np.int64)
        split = cross._nearest_neighbours(xy)
        assert cross._nearest_neighbours(xy.copy()) is split  # same points: reused
        assert cross._clq_a_to_b(codes, *split[:4]) == float(colocation_quotient(xy, codes, 0, 1))
    moved = scattered.copy()
    moved[0] += 1.0
    assert cross._nearest_neighbours(moved) is not cross._nearest_neighbours(scattered)
    f = rng.choice(["creative", "hotel", "mall", "other"], len(scattered))
    g = gpd.GeoDataFrame(
        {"function": f, "is_creative": f == "creative"},
        geometry=gpd.points_from_xy(scattered[:, 0], scattered[:, 1]),
        crs=CRS,
    )
    for amenity in ("hotel", "mall"):
        codes = np.where(f == "creative", 0, np.where(f == amenity, 1, 2))
        got = amenity_colocation(g, amenity=amenity, permutations=9, seed=2)
        assert got["clq"] == float(colocation_quotient(scattered, codes, 0, 1))


def test_distance_decay_against_baseline(city) -> None:
    est, clusters, _ = city
    dd = distance_decay(est, clusters, amenity="hotel", bins_m=(0, 500, 1000, 2000, 4000))
    assert list(dd.columns) == [
        "lower_m",
        "upper_m",
        "n",
        "area_km2",
        "density_per_km2",
        "baseline_per_km2",
        "ratio",
    ]
    assert dd["ratio"].iloc[0] > 1.5 and dd["ratio"].iloc[0] > dd["ratio"].iloc[-1]
    # counts by hand for the first band
    hotels = est[est["function"] == "hotel"]
    d = shapely.distance(
        shapely.union_all(clusters.geometry.to_numpy()), hotels.geometry.to_numpy()
    )
    hull = shapely.convex_hull(shapely.union_all(est.geometry.to_numpy()))
    assert dd["n"].iloc[0] == int((d < 500).sum())
    assert dd["baseline_per_km2"].iloc[0] == pytest.approx(len(hotels) / (hull.area / 1e6))


def test_size_distribution_zipf_and_verdict() -> None:
    rng = np.random.default_rng(2)
    n = (50 * (1 - rng.random(400)) ** (-1.0)).round()  # Pareto, zeta = 1
    table = pd.DataFrame(
        {"n": n, "employees": n * 20, "area_m2": n * 4000.0},
        index=pd.RangeIndex(400, name="cluster_id"),
    )
    sd = size_distribution(table)
    assert abs(sd.zipf_exponent - 1.0) < 3 * sd.zipf_se + 0.05
    want = (n >= 500) & (n * 20 >= 10000) & (n * 4000 >= 2e6)
    assert sd.n_large == int(want.sum()) and sd.large_scale == bool(want.any())
    assert sd.table["n"].is_monotonic_decreasing and sd.table["rank"].iloc[0] == 1
    anyrule = size_distribution(table, thresholds={"n": 1000, "area_m2": 1e6}, rule="any")
    assert anyrule.n_large == int(((n >= 1000) | (n * 4000 >= 1e6)).sum())
    with pytest.raises(InvalidInputError, match="lacks column"):
        size_distribution(table[["n"]])


def test_emerging_hotspots_is_re_exported() -> None:
    from clusterscape.measure import emerging

    assert emerging_hotspots is emerging.emerging_hotspots


def test_no_radius_is_claimed_without_a_pooled_effect() -> None:
    # A null city (no planted effect, 6 clusters) where one distance bin clears the uniform
    # band while the pooled ring's bootstrap p is 0.32: the verdict is "no effect", so no
    # radius either (found by scanning seeds; before the rule this reported 2,000 m).
    est, clusters, t0 = simulate_city(
        17, n_clusters=6, side_m=40_000.0, effects={"hotel": 0.0, "mall": 0.0}
    )
    res = amenity_effects(est, clusters, amenity="hotel", opened=t0)
    assert res.by_distance["significant"].any()
    assert res.summary["p_value"] > 0.05
    assert np.isnan(res.summary["influence_radius_m"])
    assert np.isnan(res.summary["influence_radius_from_centre_m"])
    assert np.isnan(res.summary["influence_radius_ci"][0])
    assert "pooled effect is not" in res.params["radius_withheld"]
    assert np.isnan(res.rows["influence_radius_m"].iloc[0])


def _halo_city(seed: int, *, halo_m: float = 1200.0, n_halo: int = 60):
    """simulate_city with every cluster's members labelled (``cluster``) and a loose halo of
    further members out to ``halo_m`` around the compact core, as a density-based detection
    returns them; the clusters' footprints are the hulls of all members (detected)."""
    est, clusters, t0 = simulate_city(
        seed, n_clusters=12, side_m=40_000.0, radius_m=1500.0, effects={"hotel": 3.0}
    )
    rng = np.random.default_rng(seed)
    label = np.full(len(est), -1)
    creative = est["function"].to_numpy() == "creative"
    xy = np.column_stack([est.geometry.x.to_numpy(), est.geometry.y.to_numpy()])
    centres = np.column_stack([clusters.geometry.centroid.x, clusters.geometry.centroid.y])
    label[creative] = np.argmin(
        ((xy[creative, None, :] - centres[None, :, :]) ** 2).sum(-1), axis=1
    )
    # a denser core (sd 60 m, 100 members) and the halo, uniform in a disc of radius halo_m
    extra_xy, extra_lab = [], []
    for c, (cx, cy) in enumerate(centres):
        extra_xy.append(rng.normal([cx, cy], 60.0, (100, 2)))
        r = halo_m * np.sqrt(rng.random(n_halo))
        a = rng.uniform(0, 2 * np.pi, n_halo)
        extra_xy.append(np.column_stack([cx + r * np.cos(a), cy + r * np.sin(a)]))
        extra_lab += [c] * (100 + n_halo)
    exy = np.vstack(extra_xy)
    extra = gpd.GeoDataFrame(
        {
            "function": np.full(len(exy), "creative", dtype=object),
            "opened": pd.array(np.full(len(exy), 2000), dtype="Int64"),
            "is_creative": np.ones(len(exy), dtype=bool),
        },
        geometry=gpd.points_from_xy(exy[:, 0], exy[:, 1]),
        crs=CRS,
    )
    est = pd.concat([est, extra], ignore_index=True)
    est["cluster"] = np.concatenate([label, extra_lab])
    hulls = [
        shapely.concave_hull(
            shapely.multipoints(
                np.column_stack(
                    [est.geometry.x[est["cluster"] == c], est.geometry.y[est["cluster"] == c]]
                )
            ),
            ratio=0.3,
        )
        for c in range(len(clusters))
    ]
    detected = gpd.GeoDataFrame({"n": np.full(len(hulls), 180)}, geometry=hulls, crs=CRS)
    detected.index.name = "cluster_id"
    return est, detected, clusters, t0


def test_core_footprint_is_the_dense_part_of_a_detected_cluster() -> None:
    from clusterscape.effects.did import core_footprints

    est, detected, planted_fp, _ = _halo_city(5)
    core = core_footprints(est, detected)
    assert (core["footprint_source"] == "core").all()
    for c in range(len(detected)):
        big, small = detected.geometry[c].area, core.geometry[c].area
        # the halo makes the detected hull 1.2-2.8 km²; the core is the dense part (sd 60 m:
        # the contour at 1/8 of the peak lies near 2 sd = 120 m, a disc of ~0.05 km²)
        assert big > 1.2e6
        assert 0.02e6 < small < 0.15e6, small
        assert core.geometry[c].distance(planted_fp.geometry.centroid[c]) == 0
        assert core["footprint_km2"].iloc[c] == pytest.approx(small / 1e6)
    # without labels nothing changes, and the result says why
    plain = core_footprints(est.drop(columns="cluster"), detected)
    assert plain.geometry.equals(detected.geometry)
    assert plain["footprint_source"].str.startswith("detected: no cluster labels").all()


def test_radius_from_the_core_footprint_matches_the_plant_and_the_hull_does_not() -> None:
    """The plant's reach (1,500 m) is measured from the compact cluster; a detected hull that
    also takes in a 1.2 km halo of loose members starts the rings beyond most of the effect."""
    est, detected, _, t0 = _halo_city(5)
    core = amenity_effects(est, detected, opened=t0, bootstrap=999)
    hull = amenity_effects(est, detected, opened=t0, bootstrap=999, footprint="detected")
    assert core.params["footprint"] == "core"
    assert abs(core.summary["influence_radius_m"] - 1500.0) <= 500.0
    assert not hull.summary["influence_radius_m"] >= 1000.0  # NaN or too short
    assert core.by_cluster["footprint_km2"].max() < 0.2
    assert hull.by_cluster["footprint_km2"].min() > 1.2


def test_randomisation_panel_equals_the_observed_panel_at_any_assignment(city) -> None:
    """The placebo-openings statistic is rebuilt from counts by calendar year; at the true
    years it must equal the observed t of every bin, and at permuted years the t of a fresh
    estimate with those years given."""
    from clusterscape.effects.did import _city_trend, _ri_t

    est, clusters, t0 = city
    sub = clusters.iloc[:6]
    years = {c: t0[c] for c in sub.index}
    perm = dict(zip(sub.index, np.roll([years[c] for c in sub.index], 2), strict=True))
    kw = {"amenity": "hotel", "bootstrap": 199, "detrend": False}
    a = amenity_effects(est, sub, opened=years, **kw)
    b = amenity_effects(est, sub, opened=perm, **kw)
    cover = a.params["coverage_years"]
    n_bins = len(a.params["rings_m"]) - 1
    both = pd.concat([a.panel, b.panel])
    counts = np.zeros((len(sub), cover[1] - cover[0] + 1, n_bins + 1))
    areas = np.zeros((len(sub), n_bins + 1))
    for i, c in enumerate(sub.index):
        p = both[both["cluster_id"] == c]
        counts[i, p["year"] - cover[0], p["ring"]] = p["count"]
        areas[i, p["ring"]] = p["area_km2"]
    trend = _city_trend(np.zeros(0, dtype=np.int64), np.zeros(0, bool), cover, False)
    for res, yrs in ((a, years), (b, perm)):
        t = _ri_t(
            counts, areas, np.array([yrs[c] for c in sub.index]), cover, (-5, 8), trend, n_bins
        )
        bd = res.by_distance
        np.testing.assert_allclose(t[:n_bins], bd["estimate"] / bd["se"], rtol=1e-9)
    ri = amenity_effects(est, sub, opened=years, inference="randomisation", placebos=720, **kw)
    assert ri.params["placebo_draws"] == 720  # 6! permutations, enumerated
    assert ri.summary["inference"].startswith("randomisation inference (placebo openings")
    assert ri.summary["estimate"] == pytest.approx(a.summary["estimate"]) or np.isfinite(
        ri.summary["p_value"]
    )
    assert 1 / 721 <= ri.summary["p_value"] <= 1


def test_control_ring_too_small_is_not_estimated_from_slivers() -> None:
    # cluster 0 ringed by 6 neighbours 4 km away: their 2 km treated rings cover 96 % of its
    # 2-4 km control ring (1.6 km² left)
    ang = np.arange(6) * np.pi / 3
    centres = np.vstack([[20_000.0, 20_000.0], 20_000.0 + 4000.0 * np.c_[np.cos(ang), np.sin(ang)]])
    est, clusters, t0 = simulate_city(
        4, centres=centres, side_m=40_000.0, opening_years=2005 + np.arange(7)
    )
    ok = amenity_effects(est, clusters, opened=t0, bootstrap=199, min_control_km2=0.0)
    assert ok.params["control_masked_by"][0] == list(range(1, 7))  # which rings mask it
    assert ok.params["control_masked_share"][0] > 0.9
    left = ok.params["control_km2"][0]
    assert left == pytest.approx(ok.by_cluster.set_index("cluster_id").loc[0, "control_km2"])
    some = amenity_effects(est, clusters, opened=t0, bootstrap=199, min_control_km2=left + 0.5)
    assert "control ring too small" in some.params["dropped"][0]
    assert 0 not in set(some.by_cluster["cluster_id"])
    assert some.summary["n_clusters"] == ok.summary["n_clusters"] - 1
    thin = amenity_effects(est, clusters, opened=t0, bootstrap=199, min_control_km2=1000.0)
    assert thin.summary["status"] == "not estimable"
    assert "control ring too small" in thin.summary["reason"]
    with pytest.raises(InvalidInputError):
        amenity_effects(est, clusters, opened=t0, inference="exact")
    with pytest.raises(InvalidInputError):
        amenity_effects(est, clusters, opened=t0, model="poisson", inference="randomisation")
