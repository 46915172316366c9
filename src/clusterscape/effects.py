"""Do clusters bring hotels and malls? Ring difference-in-differences around cluster openings.

The main question: after a creative cluster opens, do amenities (starred hotels, malls) open
more often near it than farther away, and how far does the effect reach? Two estimators, both
on the same panel:

**Panel.** For every cluster c with an opening year T_c (:func:`cluster_opening_years`: the
parks registry's ``opened`` when the cluster matches a park, else the year its member firms
reached 25 % of their count), and every distance ring b around its footprint (the rings
``rings_m``, and the control ring ``control_m``; distance to the footprint polygon, 0 inside
it), the outcome is the number of amenity *openings* (rows with ``function == amenity`` and
``opened`` = year) per km² of ring per year, for event years e = year - T_c in
``window_years`` (default -5..+5). Post = e >= 0. Years outside the data's coverage (the range
of ``opened`` over all establishments) are dropped, never filled with zeros. Each cluster is
its own stack: an amenity counts in the rings of every cluster it lies near (overlapping
clusters share amenities; ``params["overlapping_pairs"]`` counts cluster pairs closer than the
control ring's outer edge). Closures are not used. Ring areas are the buffer differences of the
footprint, clipped to ``study_area`` when given.

**Ring DiD** (Linden & Rockoff 2008; Butts 2023 section 2). The treated ring is the union of
``rings_m`` (from ``rings_m[0]`` to ``rings_m[-1]``). With ``model="ols"`` the regression is
Y_cbe = a_cb + g_ce + beta * treated_b * post_e, with cluster x ring and cluster x year fixed
effects; with two rings per cluster-year it equals (Frisch–Waugh) the regression of the
ring difference Y_c,treated,e - Y_c,control,e on cluster dummies and post, which is what is
fitted (statsmodels OLS). ``beta`` is in openings per km² per year. With ``model="poisson"``
the counts follow a Poisson FE model with log ring area as offset; conditional on the
cluster-year total it is the binomial logit of "treated ring" with offset log(area ratio),
cluster dummies and post (statsmodels GLM), and ``beta`` is a log rate ratio. Clusters that
never see an amenity in one of the two rings carry no information on beta and are dropped.
Standard errors are cluster-robust by cluster (``cov_type="cluster"``) with t(G - 1)
inference, G = number of clusters.

**Event study.** The same regression with one coefficient per event year (e = -1 omitted).

**Nonparametric rings** (Butts 2023, section 3: partition-based least squares, Cattaneo et al.
2019). For each cluster and ring bin b of ``rings_m``, Delta_cb = mean post density - mean
pre density; tau(b) = mean over clusters of (Delta_cb - Delta_c,control), with the cluster-
robust (CR1, t(G-1)) band. The curve tau(d) through the bin midpoints, anchored at 0 at the
control ring's inner edge, gives the **influence radius**: starting at the first bin whose
effect is significantly positive, the first distance where the curve falls to zero (linear
interpolation), with bins whose effect is not significant at ``alpha`` set to zero (hard
thresholding: without it, noise in the unaffected bins beyond the true radius pushes the
crossing to the control ring half of the time). The radius is therefore resolved to about one
ring width; it is NaN when no bin is significantly positive. Its confidence interval is the
zero crossing of the lower pointwise band (from the same start) and of the upper band (band
inversion; the upper end is the control ring's inner edge when the data cannot exclude an
effect up to it). Too-narrow rings (a control ring that still holds affected
area) and too-wide rings (an inner ring diluted by unaffected area) both bias the ring DiD
towards zero, as Butts (2023) shows.

References
----------
Butts K. (2023) Difference-in-differences with geocoded microdata. *Journal of Urban
Economics* 133:103493, doi:10.1016/j.jue.2022.103493.
Linden L. & Rockoff J. (2008) Estimates of the impact of crime risk on property values from
Megan's laws. *American Economic Review* 98(3):1103–1127.
Cattaneo M., Crump R., Farrell M. & Feng Y. (2019) On binscatter. arXiv:1902.09608.
Cameron A.C. & Miller D. (2015) A practitioner's guide to cluster-robust inference. *Journal
of Human Resources* 50(2):317–372.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterscape._effects_cross import (
    SizeDistribution,
    _clusters_metric,
    _metric,
    amenity_colocation,
    distance_decay,
    size_distribution,
)
from clusterscape._validation import check_choice, check_columns, check_positive
from clusterscape.emerging import emerging_hotspots
from clusterscape.errors import InvalidInputError

__all__ = [
    "AmenityEffectResult",
    "SizeDistribution",
    "amenity_colocation",
    "amenity_effects",
    "cluster_opening_years",
    "distance_decay",
    "emerging_hotspots",
    "size_distribution",
]

_M2_PER_KM2 = 1e6


@dataclass(frozen=True, slots=True)
class AmenityEffectResult:
    """Effect of cluster openings on nearby amenity openings (see the module docstring).

    Attributes
    ----------
    summary : dict
        ``amenity, method, estimate, ci_low, ci_high, p_value, influence_radius_m,
        influence_radius_ci`` (a (low, high) tuple in metres), ``n_clusters``, ``unit``.
    rows : pandas.DataFrame
        One row per method (``ring_did`` with the chosen model, ``butts_rings``): ``amenity,
        method, estimate, se, ci_low, ci_high, p_value, influence_radius_m,
        influence_radius_ci_low, influence_radius_ci_high, n_clusters, unit``.
    event_study : pandas.DataFrame
        ``event_time, coef, ci_low, ci_high, p_value`` (event_time -1 is the reference, 0).
    by_distance : pandas.DataFrame
        ``lower_m, upper_m, estimate, ci_low, ci_high, p_value, n_clusters``: tau(d) per ring.
    panel : pandas.DataFrame
        The cluster x ring x event-year panel: ``cluster_id, ring, lower_m, upper_m,
        event_time, year, count, area_km2, density_per_km2``.
    params : Mapping
        Every option, the opening years used and the clusters dropped (with reasons).
    """

    summary: dict[str, Any]
    rows: pd.DataFrame
    event_study: pd.DataFrame
    by_distance: pd.DataFrame
    panel: pd.DataFrame
    params: Mapping[str, Any] = field(default_factory=dict)


def _years(series: Any) -> np.ndarray:
    return np.asarray(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan))


def cluster_opening_years(
    establishments: Any,
    clusters: Any,
    *,
    parks: Any = None,
    match_m: float = 500.0,
    share: float = 0.25,
) -> pd.DataFrame:
    """Opening year of each cluster: the registry's, else when it reached 25 % of its firms.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        With ``opened``; membership from a ``cluster`` column (cluster_id, -1 = noise) when
        present, else the points inside each footprint (only ``is_creative`` rows when that
        column exists).
    clusters : geopandas.GeoDataFrame
        Footprints in a local metric CRS, index = cluster_id.
    parks : geopandas.GeoDataFrame, optional
        The parks registry (points, any CRS) with an integer ``opened``. A park matches a
        cluster when it lies within ``match_m`` metres of the footprint; with several matches
        the earliest ``opened`` is used.
    match_m : float, default 500
        Matching distance in metres.
    share : float, default 0.25
        The founding rule: the first year by which at least ``share`` of the members (with a
        known ``opened``) had opened.

    Returns
    -------
    pandas.DataFrame
        Index cluster_id; ``opened`` (Int64, NA when neither rule applies), ``source``
        (``"registry"``, ``"25% of firms"`` (with the actual share), or ``""``), ``n_members``.
    """
    caller = "cluster_opening_years"
    cl = _clusters_metric(clusters, caller=caller)
    est = _metric(establishments, caller=caller, what="establishments")
    check_columns(est, ["opened"], caller=caller, what="establishments table")
    check_positive(match_m, "match_m", caller=caller, allow_zero=True)
    if not 0 < share <= 1:
        raise InvalidInputError(f"{caller}: share must lie in (0, 1], got {share}.")
    if est.crs != cl.crs:
        est = est.to_crs(cl.crs)
    years = _years(est["opened"])
    out = pd.DataFrame(index=cl.index.copy())
    opened = pd.array([pd.NA] * len(cl), dtype="Int64")
    source = np.full(len(cl), "", dtype=object)
    n_members = np.zeros(len(cl), dtype=np.int64)
    import shapely

    pts = est.geometry.to_numpy()
    px, py = shapely.get_x(pts), shapely.get_y(pts)
    creative = (
        est["is_creative"].fillna(False).to_numpy(dtype=bool)
        if "is_creative" in est.columns
        else np.ones(len(est), dtype=bool)
    )
    label = (
        pd.to_numeric(est["cluster"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if "cluster" in est.columns
        else None
    )
    for pos, (cid, geom) in enumerate(zip(cl.index, cl.geometry, strict=True)):
        if label is not None:
            member = (
                label == float(cid)
                if isinstance(cid, int | np.integer)
                else np.zeros(len(est), bool)
            )
        else:
            member = creative & shapely.contains_xy(geom, px, py)
        y = years[member & np.isfinite(years)]
        n_members[pos] = int(member.sum())
        if y.size:
            ys = np.sort(y)
            opened[pos] = int(ys[int(np.ceil(share * ys.size)) - 1])
            source[pos] = f"{share:.0%} of firms"
    if parks is not None:
        pk = _metric(parks, caller=caller, what="parks")
        check_columns(pk, ["opened"], caller=caller, what="parks registry")
        pk = pk.to_crs(cl.crs)
        pyear = _years(pk["opened"])
        for pos, geom in enumerate(cl.geometry):
            d = shapely.distance(geom, pk.geometry.to_numpy())
            ok = (d <= match_m) & np.isfinite(pyear)
            if ok.any():
                opened[pos] = int(pyear[ok].min())
                source[pos] = "registry"
    out["opened"] = opened
    out["source"] = source
    out["n_members"] = n_members
    return out


def _check_rings(
    rings_m: Sequence[float], control_m: Sequence[float], caller: str
) -> tuple[np.ndarray, tuple[float, float]]:
    r = np.asarray(rings_m, dtype=float)
    if (
        r.ndim != 1
        or r.size < 2
        or not np.all(np.isfinite(r))
        or r[0] < 0
        or np.any(np.diff(r) <= 0)
    ):
        raise InvalidInputError(
            f"{caller}: rings_m must be at least two increasing distances >= 0 in metres, "
            f"e.g. (0, 500, 1000), got {tuple(rings_m)}."
        )
    c = tuple(float(v) for v in control_m)
    if len(c) != 2 or not c[0] < c[1] or c[0] < r[-1]:
        raise InvalidInputError(
            f"{caller}: control_m must be (inner, outer) metres with rings_m[-1] <= inner < outer; "
            f"got control_m={tuple(control_m)} with rings_m[-1]={r[-1]:g}. The control ring must lie "
            "beyond the treated rings."
        )
    return r, (c[0], c[1])


def _ring_areas_km2(geom: Any, edges: np.ndarray, study_area: Any) -> np.ndarray:
    """Area (km²) of each ring [edges[i], edges[i+1]) around a footprint."""
    import shapely

    disks = [geom if e == 0 else shapely.buffer(geom, float(e), quad_segs=16) for e in edges]
    if study_area is not None:
        disks = [shapely.intersection(d, study_area) for d in disks]
    areas = np.array([shapely.area(d) for d in disks])
    inner = np.where(edges[:-1] == 0, 0.0, areas[:-1])
    return np.maximum(areas[1:] - inner, 0.0) / _M2_PER_KM2


def _tcrit(alpha: float, g: int) -> float:
    return float(stats.t.ppf(1 - alpha / 2, max(g - 1, 1)))


def _fit(
    y: np.ndarray,
    x: pd.DataFrame,
    groups: np.ndarray,
    *,
    model: str,
    trials: np.ndarray | None,
    offset: np.ndarray | None,
) -> Any:
    import statsmodels.api as sm

    kw = {"cov_type": "cluster", "cov_kwds": {"groups": groups}, "use_t": True}
    if model == "ols":
        return sm.OLS(y, x).fit(**kw)
    endog = np.column_stack([y, trials - y])  # type: ignore[operator]
    return sm.GLM(endog, x, family=sm.families.Binomial(), offset=offset).fit(**kw)


def _design(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    fe = pd.get_dummies(frame["cluster_id"].astype(str), prefix="c", dtype=float)
    return pd.concat(
        [fe.reset_index(drop=True), frame[cols].reset_index(drop=True).astype(float)], axis=1
    )


def _crossing(mid: np.ndarray, curve: np.ndarray, end_m: float, start: int = 0) -> float:
    """First distance past ``mid[start]`` where the piecewise-linear curve through (mid, curve),
    then (end_m, 0), is <= 0."""
    xs = np.append(mid, end_m)
    ys = np.append(curve, 0.0)
    if ys[start] <= 0:
        return float(xs[start])
    for i in range(start + 1, xs.size):
        if ys[i] <= 0:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return float(x0 + (x1 - x0) * y0 / (y0 - y1))
    return float(end_m)  # pragma: no cover - the anchor is 0


def amenity_effects(
    establishments: Any,
    clusters: Any,
    *,
    amenity: str = "hotel",
    rings_m: Sequence[float] = (0, 500, 1000, 1500, 2000),
    control_m: Sequence[float] = (2000, 4000),
    opened: Mapping[Any, Any] | pd.Series | None = None,
    window_years: tuple[int, int] = (-5, 5),
    model: str = "ols",
    alpha: float = 0.05,
    study_area: Any = None,
) -> AmenityEffectResult:
    """Effect of cluster openings on amenity openings by distance: ring DiD, event study, radius.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        Classified establishments (any CRS) with ``function`` and ``opened``; ``cluster`` /
        ``is_creative`` are used for the founding rule when ``opened`` is not given.
    clusters : geopandas.GeoDataFrame
        Cluster footprints in a local metric CRS, index = cluster_id.
    amenity : str, default "hotel"
        The ``function`` value of the amenity (e.g. ``"hotel"``, ``"mall"``).
    rings_m : sequence of float, default (0, 500, 1000, 1500, 2000)
        Edges in metres of the treated distance bins (distance to the footprint, 0 inside).
    control_m : (float, float), default (2000, 4000)
        Inner and outer edge in metres of the control ring.
    opened : mapping or Series cluster_id -> year, optional
        Opening years (e.g. from the parks registry via :func:`cluster_opening_years`); missing
        or NA entries fall back to the 25 % founding rule. Default: the rule for every cluster.
    window_years : (int, int), default (-5, 5)
        First and last event year (year - opening year); must include -1 and 0.
    model : {"ols", "poisson"}, default "ols"
        Ring DiD on densities (openings per km² per year) or Poisson FE on counts (log rate ratio).
    alpha : float, default 0.05
        Level of the confidence intervals (1 - alpha).
    study_area : shapely geometry, optional
        Polygon (same CRS as clusters) the ring areas are clipped to, e.g. land only.

    Returns
    -------
    AmenityEffectResult

    Raises
    ------
    InvalidInputError
        Bad rings, window or model; fewer than 2 clusters with an opening year; no amenity rows.
    CRSError
        Clusters not in a metric CRS, or establishments without a CRS.

    Notes
    -----
    Every rule (panel, windows, rings, overlaps, inference) is in the module docstring.

    Examples
    --------
    The built-in Ningbo study (planted scenario: extra starred hotels within 1.5 km of each
    planted cluster after it opens), at the planted clusters with the registry's years; the
    generated ``function`` stands in for ``taxonomy.classify_establishments`` here.

    >>> from clusterscape.datasets import ningbo
    >>> study = ningbo(scenario="planted", seed=0)
    >>> fn = study.truth["membership"]["function"].to_numpy()
    >>> est = study.establishments.assign(function=fn)
    >>> clusters = study.truth["clusters"].to_crs(32651)
    >>> res = amenity_effects(est, clusters, amenity="hotel", opened=clusters["opened"])
    >>> res.summary["method"], round(res.summary["estimate"], 3), res.summary["p_value"] < 0.05
    ('ring_did', 0.089, True)
    >>> res.event_study.columns.tolist()
    ['event_time', 'coef', 'ci_low', 'ci_high', 'p_value']
    """
    import shapely

    caller = "amenity_effects"
    check_choice(model, {"ols", "poisson"}, "model", caller=caller)
    if not 0 < alpha < 1:
        raise InvalidInputError(f"{caller}: alpha must lie in (0, 1), got {alpha}.")
    edges, (c_in, c_out) = _check_rings(rings_m, control_m, caller)
    w0, w1 = (int(v) for v in window_years)
    if not w0 <= -1 < 0 <= w1:
        raise InvalidInputError(
            f"{caller}: window_years must include -1 and 0 (before and after), got {window_years}."
        )
    cl = _clusters_metric(clusters, caller=caller)
    est = _metric(establishments, caller=caller, what="establishments")
    check_columns(est, ["function", "opened"], caller=caller, what="establishments table")
    if est.crs != cl.crs:
        est = est.to_crs(cl.crs)
    all_years = _years(est["opened"])
    if not np.isfinite(all_years).any():
        raise InvalidInputError(f"{caller}: no establishment has an 'opened' year.")
    cover = (int(np.nanmin(all_years)), int(np.nanmax(all_years)))
    is_am = (est["function"].astype(str) == amenity).to_numpy() & np.isfinite(all_years)
    if not is_am.any():
        have = sorted(est["function"].dropna().astype(str).unique())[:20]
        raise InvalidInputError(
            f"{caller}: no establishment has function == {amenity!r} and an opening year; "
            f"functions present: {have}."
        )
    am_pts = est.geometry.to_numpy()[is_am]
    am_year = all_years[is_am].astype(np.int64)
    am_x, am_y = shapely.get_x(am_pts), shapely.get_y(am_pts)

    # opening years: given, else the founding rule
    rule = cluster_opening_years(est, cl)
    years_used: dict[Any, int] = {}
    dropped: dict[Any, str] = {}
    given = pd.Series(opened) if opened is not None else pd.Series(dtype=float)
    for cid in cl.index:
        v = given.get(cid, np.nan) if len(given) else np.nan
        if v is None or pd.isna(v):
            v = rule.loc[cid, "opened"]
        if v is None or pd.isna(v):
            dropped[cid] = "no opening year"
        else:
            years_used[cid] = int(v)

    all_edges = np.append(edges, [c_in, c_out])
    n_bins = edges.size - 1
    records = []
    for cid, geom in zip(cl.index, cl.geometry, strict=True):
        if cid not in years_used:
            continue
        t0 = years_used[cid]
        areas = _ring_areas_km2(geom, all_edges, study_area)
        areas = np.delete(areas, n_bins)  # drop the gap [rings_m[-1], control_m[0])
        bx0, by0, bx1, by1 = geom.bounds
        near = (
            (am_x >= bx0 - c_out)
            & (am_x <= bx1 + c_out)
            & (am_y >= by0 - c_out)
            & (am_y <= by1 + c_out)
        )
        d = np.full(am_x.size, np.inf)
        d[near] = shapely.distance(geom, am_pts[near])
        lo = np.append(edges[:-1], c_in)
        hi = np.append(edges[1:], c_out)
        for e in range(w0, w1 + 1):
            yr = t0 + e
            if not cover[0] <= yr <= cover[1]:
                continue
            sel = d[am_year == yr]
            for b in range(n_bins + 1):
                cnt = int(((sel >= lo[b]) & (sel < hi[b])).sum())
                records.append((cid, b, lo[b], hi[b], e, yr, cnt, areas[b]))
    panel = pd.DataFrame(
        records,
        columns=[
            "cluster_id",
            "ring",
            "lower_m",
            "upper_m",
            "event_time",
            "year",
            "count",
            "area_km2",
        ],
    )
    panel = panel[panel["area_km2"] > 0].reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        panel["density_per_km2"] = panel["count"] / panel["area_km2"]
    control = n_bins
    g_all = sorted(panel["cluster_id"].unique(), key=str)
    if len(g_all) < 2:
        raise InvalidInputError(
            f"{caller}: only {len(g_all)} cluster(s) have an opening year and data in the window; "
            "cluster-robust inference needs at least 2. Pass opened= from the parks registry or "
            "widen window_years."
        )

    # treated (pooled rings) vs control, per cluster-year
    tr = (
        panel[panel["ring"] < control]
        .groupby(["cluster_id", "event_time"], sort=True)[["count", "area_km2"]]
        .sum()
    )
    co = panel[panel["ring"] == control].set_index(["cluster_id", "event_time"])[
        ["count", "area_km2"]
    ]
    pair = tr.add_suffix("_t").join(co.add_suffix("_c"), how="inner").reset_index()
    pair["post"] = (pair["event_time"] >= 0).astype(float)
    kept = pair
    if model == "poisson":
        tot_t = pair.groupby("cluster_id")["count_t"].transform("sum")
        tot_c = pair.groupby("cluster_id")["count_c"].transform("sum")
        for cid in pair.loc[(tot_t == 0) | (tot_c == 0), "cluster_id"].unique():
            dropped[cid] = "no amenity opening in the treated or in the control ring (Poisson FE)"
        kept = pair[
            (tot_t > 0) & (tot_c > 0) & (pair["count_t"] + pair["count_c"] > 0)
        ].reset_index(drop=True)
    groups_k = kept["cluster_id"].astype(str).to_numpy()
    n_g = int(pd.unique(groups_k).size)
    if n_g < 2:
        raise InvalidInputError(
            f"{caller}: fewer than 2 clusters carry information for model={model!r}; try model='ols'."
        )

    def fit_terms(frame: pd.DataFrame, terms: list[str]) -> Any:
        x = _design(frame, terms)
        if model == "ols":
            y = (
                frame["count_t"] / frame["area_km2_t"] - frame["count_c"] / frame["area_km2_c"]
            ).to_numpy()
            return _fit(
                y,
                x,
                frame["cluster_id"].astype(str).to_numpy(),
                model=model,
                trials=None,
                offset=None,
            )
        y = frame["count_t"].to_numpy(dtype=float)
        n = (frame["count_t"] + frame["count_c"]).to_numpy(dtype=float)
        off = np.log(frame["area_km2_t"].to_numpy() / frame["area_km2_c"].to_numpy())
        return _fit(
            y, x, frame["cluster_id"].astype(str).to_numpy(), model=model, trials=n, offset=off
        )

    res = fit_terms(kept, ["post"])
    tcrit = _tcrit(alpha, n_g)
    beta, se = float(res.params["post"]), float(res.bse["post"])
    p_did = float(res.pvalues["post"])

    # event study
    ev = kept.copy()
    times = [e for e in sorted(ev["event_time"].unique()) if e != -1]
    for e in times:
        ev[f"e{e}"] = (ev["event_time"] == e).astype(float)
    res_ev = fit_terms(ev, [f"e{e}" for e in times])
    es_rows = []
    for e in sorted([*times, -1]):
        if e == -1:
            es_rows.append((e, 0.0, 0.0, 0.0, np.nan))
            continue
        b_e, s_e = float(res_ev.params[f"e{e}"]), float(res_ev.bse[f"e{e}"])
        es_rows.append(
            (e, b_e, b_e - tcrit * s_e, b_e + tcrit * s_e, float(res_ev.pvalues[f"e{e}"]))
        )
    event_study = pd.DataFrame(
        es_rows, columns=["event_time", "coef", "ci_low", "ci_high", "p_value"]
    )

    # nonparametric rings (Butts 2023): per-bin change minus control change, mean over clusters
    pp = panel.assign(post=panel["event_time"] >= 0)
    means = pp.groupby(["cluster_id", "ring", "post"])["density_per_km2"].mean().unstack("post")
    delta = (means[True] - means[False]).unstack("ring")  # clusters x rings
    delta = delta.dropna(subset=[control])
    diff = delta.drop(columns=control).sub(delta[control], axis=0)
    g_b = int(diff.shape[0])
    tcrit_b = _tcrit(alpha, g_b)
    tau = diff.mean(axis=0).to_numpy()
    cnt_b = diff.notna().sum(axis=0).to_numpy()
    se_b = (diff.std(axis=0, ddof=1) / np.sqrt(cnt_b)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        p_b = 2 * stats.t.sf(np.abs(tau / se_b), np.maximum(cnt_b - 1, 1))
    by_distance = pd.DataFrame(
        {
            "lower_m": edges[:-1],
            "upper_m": edges[1:],
            "estimate": tau,
            "ci_low": tau - tcrit_b * se_b,
            "ci_high": tau + tcrit_b * se_b,
            "p_value": p_b,
            "n_clusters": cnt_b,
        }
    )
    mid = (edges[:-1] + edges[1:]) / 2
    sig_pos = np.flatnonzero((tau > 0) & (p_b <= alpha))
    if sig_pos.size:
        first = int(sig_pos[0])
        radius = _crossing(mid, np.where(p_b <= alpha, tau, 0.0), c_in, first)
        r_lo = _crossing(mid, tau - tcrit_b * se_b, c_in, first)
        r_hi = _crossing(mid, tau + tcrit_b * se_b, c_in)
    else:
        radius = r_lo = r_hi = float("nan")
    # area-weighted mean of tau over the treated rings (same estimand as the pooled ring DiD)
    w_area = (
        panel[panel["ring"] < control]
        .groupby("ring")["area_km2"]
        .mean()
        .reindex(range(n_bins))
        .to_numpy()
    )
    w = w_area / np.nansum(w_area)
    comb = diff.to_numpy() @ np.nan_to_num(w)
    b_est = float(np.nanmean(comb))
    b_se = float(np.nanstd(comb, ddof=1) / np.sqrt(np.isfinite(comb).sum()))
    b_p = float(2 * stats.t.sf(abs(b_est / b_se), max(g_b - 1, 1))) if b_se > 0 else float("nan")

    unit = "openings per km2 per year" if model == "ols" else "log rate ratio"
    method = "ring_did" if model == "ols" else "ring_did_poisson"
    rows = pd.DataFrame(
        [
            (
                amenity,
                method,
                beta,
                se,
                beta - tcrit * se,
                beta + tcrit * se,
                p_did,
                radius,
                r_lo,
                r_hi,
                n_g,
                unit,
            ),
            (
                amenity,
                "butts_rings",
                b_est,
                b_se,
                b_est - tcrit_b * b_se,
                b_est + tcrit_b * b_se,
                b_p,
                radius,
                r_lo,
                r_hi,
                g_b,
                "openings per km2 per year",
            ),
        ],
        columns=[
            "amenity",
            "method",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "p_value",
            "influence_radius_m",
            "influence_radius_ci_low",
            "influence_radius_ci_high",
            "n_clusters",
            "unit",
        ],
    )
    summary = {
        "amenity": amenity,
        "method": method,
        "estimate": beta,
        "ci_low": beta - tcrit * se,
        "ci_high": beta + tcrit * se,
        "p_value": p_did,
        "influence_radius_m": radius,
        "influence_radius_ci": (r_lo, r_hi),
        "n_clusters": n_g,
        "unit": unit,
    }
    cent = np.column_stack([cl.geometry.centroid.x, cl.geometry.centroid.y])
    dd = np.hypot(*(cent[:, None, :] - cent[None, :, :]).transpose(2, 0, 1))
    params = {
        "amenity": amenity,
        "rings_m": tuple(float(v) for v in edges),
        "control_m": (c_in, c_out),
        "window_years": (w0, w1),
        "model": model,
        "alpha": alpha,
        "coverage_years": cover,
        "opening_years": years_used,
        "opening_source": {
            cid: (
                "given"
                if opened is not None and cid in given.index and not pd.isna(given[cid])
                else str(rule.loc[cid, "source"])
            )
            for cid in years_used
        },
        "dropped": dropped,
        "overlapping_pairs": int((np.triu(dd < c_out, k=1)).sum()),
        "study_area": study_area is not None,
        "n_amenities": int(is_am.sum()),
    }
    return AmenityEffectResult(
        summary=summary,
        rows=rows,
        event_study=event_study,
        by_distance=by_distance,
        panel=panel,
        params=params,
    )
