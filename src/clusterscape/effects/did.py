"""Do clusters bring hotels and malls? Ring difference-in-differences around cluster openings.

The main question: after a creative cluster opens, do amenities (starred hotels, malls) open
more often near it than farther away, and how far does the effect reach?

**Which clusters.** The ones passed in; the study passes :func:`select_clusters`: clusters
significant under detection's test and, when a parks registry is given, matched to a park.
Opening years T_c: ``opened`` when given, else :func:`cluster_opening_years` (one rule, shared
with the typology: the registry park the footprint claims within 1 km, else the year its
member firms reached 25 % of their count).

**Footprint.** Rings are measured from each cluster's **core footprint**
(``footprint="core"``, :func:`core_footprints`): the concave hull of the members whose local
density is at least a quarter of the cluster's median member density, when the establishments
carry the detection's ``cluster`` labels; else (or with ``footprint="detected"``) from the
footprint as given. A detected footprint also takes in the loose members at a cluster's edge
(Ningbo, seed 0: Chuang E Hui Gu 6.5 km² detected, 0.72 km² planted, core 0.33 km²), so
distances from its edge start beyond most of an effect that reaches 1-1.5 km from the
concentration itself; the core is comparable to a planted or registry footprint (on Ningbo
seeds 0 and 2 every core of a planted cluster lies inside its planted footprint, within 420 m
of its edge).

**Panel.** For every cluster c, distance bin b of ``rings_m`` (distance to the core
footprint, 0 inside) and the control ring ``control_m``, the outcome is the number of amenity
*openings* (``function == amenity`` and ``opened`` = year) per km² of ring per year, for event
years e = year - T_c in ``window_years`` (default -5..+8). Years outside the data's coverage
(the range of ``opened`` over all establishments) are dropped, never filled with zeros;
``window_used`` reports the event years kept. Ring areas are buffer differences of the
footprint, clipped to ``study_area`` when given. **Masking** (``mask=True``): each cluster's
control ring loses the area, and the amenities, within ``rings_m[-1]`` of any other cluster's
footprint (the other clusters' treated rings), so amenities another cluster attracted are not
counted as control; ring areas are recomputed and ``control_masked_share`` reports the share
of the control ring removed (``params["control_masked_by"]``: which other clusters' rings
overlap it; ``params["control_km2"]``: what is left). A cluster whose control ring keeps less
than ``min_control_km2`` (default 2 km²) is dropped ("not estimable: control ring too small",
with the area left and the share masked) rather than estimated from a sliver; when that leaves
fewer than ``min_clusters`` the result is not estimable and says so. In the treated bins each
amenity counts for its nearest footprint only.

**Estimator.** For each outcome y_ce (a bin's density minus the control ring's density, or the
pooled treated ring [0, r) minus the control) the ring DiD y_ce = a_c + beta * post_e + u_ce
with cluster fixed effects (Linden & Rockoff 2008; Butts 2023); beta is the within-cluster
post-minus-pre contrast, in openings per km² per year. tau(b), beta per bin, is Butts' (2023,
section 3) partition-based nonparametric estimator of the effect curve.

**Inference** with few clusters (5-20), ``inference="wild"`` (default): the restricted wild
cluster bootstrap of the t statistic (WCR-t; Cameron, Gelbach & Miller 2008) with Webb's
six-point weights (Webb 2014), ``bootstrap`` draws, CR1 standard errors.
``inference="randomisation"``: Fisher randomisation inference with placebo openings, the
opening years permuted among the clusters (every permutation when there are at most
``placebos``, else ``placebos`` random ones), the panel rebuilt and the same t statistics
computed for each; exact under the null that which cluster opened when is unrelated to its
amenity openings (exchangeable opening years), at the cost of power with few clusters (on 200
null cities with 6-12 clusters its false-positive rate at 0.05 was 0.020, conservative; on the
8 Ningbo clusters it found the planted hotels in 7 of 10 seeds, the wild bootstrap in 10). The
``inference`` text of the result says which was used; every later step (band, radius, pooled
p) uses the chosen reference distribution. The **uniform band** of tau(d) uses the bootstrap
quantile of max_b |t*_b| (a sup-t band); a bin is *significant* when its t exceeds that
critical value (familywise size alpha over all bins).

**Influence radius** (Butts 2023, read from tau(d)): the upper edge of the last bin whose
effect is significantly positive under the uniform band (``influence_radius_m``, from the
footprint edge; ``influence_radius_from_centre_m`` adds the mean equal-area radius of the
footprints). NaN when no bin is significant, and NaN when the pooled effect is not
significant (one verdict: no effect, no radius; ``params["radius_withheld"]`` says which bin
cleared the band). Its interval: from the lower edge of that bin
(the effect is significantly present beyond it) to the upper edge of the next bin (the
resolution of the rings; the control ring's inner edge when there is no next bin).

**Pooled effect.** The treated ring is [0, ``treated_m``) when given, else [0, influence
radius), else (no bin significant) all rings, and ``treated_source`` says which. Its p-value
is the WCR-t bootstrap p with the choice of the ring repeated in every bootstrap draw, so the
data-driven choice does not inflate the size; the interval is estimate +- the bootstrap
critical value x SE. ``mde`` is the minimum detectable effect at 80 % power and size alpha,
(t_{1-alpha/2,G-1} + t_{0.8,G-1}) * SE. Per-cluster estimates (``by_cluster``) are each
cluster's own post-minus-pre contrast with a t(n_years - 2) interval from its yearly residuals.
With ``model="poisson"`` the pooled ring's counts follow a Poisson FE model (conditional
binomial logit, log area ratio offset; beta is a log rate ratio) with cluster-robust t(G-1)
inference. The event study (one coefficient per event year, e = -1 omitted) uses the pooled
ring and cluster-robust t(G-1) intervals.

**Not estimable.** Fewer than ``min_clusters`` clusters with an opening year and years both
before and after it, or fewer than ``min_amenities`` dated openings in the panel: the result
says so (``status``, ``reason`` with the counts) and holds no estimate.

References
----------
Butts K. (2023) Difference-in-differences with geocoded microdata. *Journal of Urban
Economics* 133:103493, doi:10.1016/j.jue.2022.103493.
Linden L. & Rockoff J. (2008) Estimates of the impact of crime risk on property values from
Megan's laws. *American Economic Review* 98(3):1103–1127.
Cattaneo M., Crump R., Farrell M. & Feng Y. (2019) On binscatter. arXiv:1902.09608.
Cameron A.C., Gelbach J. & Miller D. (2008) Bootstrap-based improvements for inference with
clustered errors. *Review of Economics and Statistics* 90(3):414–427.
Webb M. (2014) Reworking wild bootstrap based inference for clustered errors. Queen's
Economics Department Working Paper 1315.
MacKinnon J. & Webb M. (2017) Wild bootstrap inference for wildly different cluster sizes.
*Journal of Applied Econometrics* 32(2):233–254.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from clusterscape._validation import check_choice, check_columns, check_positive
from clusterscape.effects.cross import (
    _clusters_metric,
    _metric,
)
from clusterscape.effects.opening import (
    APPROXIMATE_FACTOR,
    FOUNDING_SHARE,
    MATCH_M,
    founding_year,
    match_parks,
)
from clusterscape.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    from shapely import MultiPolygon, Polygon

__all__ = [
    "WEBB_WEIGHTS",
    "AmenityEffectResult",
    "amenity_effects",
    "cluster_opening_years",
    "core_footprints",
    "select_clusters",
]

_M2_PER_KM2 = 1e6


@dataclass(frozen=True, slots=True)
class AmenityEffectResult:
    """Effect of cluster openings on nearby amenity openings (see the module docstring).

    Attributes
    ----------
    summary : dict
        ``amenity, method, status, estimate, se, ci_low, ci_high, p_value, mde, inference,
        influence_radius_m, influence_radius_ci`` (a (low, high) tuple in metres),
        ``influence_radius_from_centre_m, treated_m, treated_source, n_clusters, n_amenities,
        window_used, control_masked_share, unit, reason``.
    rows : pandas.DataFrame
        The summary as one row (``influence_radius_ci_low`` / ``_high`` columns).
    event_study : pandas.DataFrame
        ``event_time, coef, ci_low, ci_high, p_value`` (event_time -1 is the reference, 0).
    by_distance : pandas.DataFrame
        tau(d) per bin: ``lower_m, upper_m, estimate, se, ci_low, ci_high`` (pointwise),
        ``band_low, band_high`` (uniform band), ``p_value`` (pointwise), ``p_uniform``,
        ``significant``, ``n_clusters``.
    panel : pandas.DataFrame
        The cluster x ring x event-year panel: ``cluster_id, ring, lower_m, upper_m,
        event_time, year, count, area_km2, density_per_km2`` (the control ring is the last ring,
        after masking).
    by_cluster : pandas.DataFrame
        Per-cluster effect on the pooled ring: ``cluster_id, opening_year,
        opening_year_source, estimate, se, ci_low, ci_high, n_amenities, n_treated, n_control,
        n_pre_years, n_post_years, control_masked_share, control_km2`` (control ring left after
        masking) and ``footprint_km2`` (the footprint the rings are measured from).
    params : Mapping
        Every option, the opening years used and the clusters dropped (with reasons).
    """

    summary: dict[str, Any]
    rows: pd.DataFrame
    event_study: pd.DataFrame
    by_distance: pd.DataFrame
    panel: pd.DataFrame
    by_cluster: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: Mapping[str, Any] = field(default_factory=dict)


def _years(series: Any) -> np.ndarray:
    return np.asarray(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan))


def cluster_opening_years(
    establishments: gpd.GeoDataFrame,
    clusters: gpd.GeoDataFrame,
    *,
    parks: Any = None,
    match_m: float = MATCH_M,
    approximate_factor: float = APPROXIMATE_FACTOR,
    share: float = FOUNDING_SHARE,
) -> pd.DataFrame:
    """Opening year of each cluster, with its source: one rule for typology and effects.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        With ``opened``; membership from a ``cluster`` column (cluster_id, -1 = noise) when
        present, else the points inside each footprint (only ``is_creative`` rows when that
        column exists).
    clusters : geopandas.GeoDataFrame
        Footprints in a local metric CRS, index = cluster_id.
    parks : geopandas.GeoDataFrame, optional
        The parks registry (points, any CRS) with an integer ``opened`` (and optionally
        ``name`` and ``location``; ``"approximate"`` locations get ``approximate_factor``
        times the match distance).
    match_m : float, default 1000
        A park matches a cluster when it is the park nearest to the footprint and lies within
        this distance of it; a park matched by several clusters belongs to the closest one
        (the rule of :mod:`clusterscape.effects.opening`, also used by
        :func:`clusterscape.typology.assign_forms`).
    approximate_factor : float, default 2
    share : float, default 0.25
        The founding rule for clusters without a matched park: the first year by which at
        least ``share`` of the members (with a known ``opened``) had opened.

    Returns
    -------
    pandas.DataFrame
        Index cluster_id; ``opening_year`` (Int64, NA when neither rule applies),
        ``opening_year_source`` (``"registry"``, ``"25% of firms"`` or ``""``), ``park`` (the
        matched park's name, or ""), ``park_distance_m`` (to the nearest park, NaN without a
        registry), ``n_members``.
    """
    import shapely

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
    park_name = np.full(len(cl), "", dtype=object)
    n_members = np.zeros(len(cl), dtype=np.int64)
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
        n_members[pos] = int(member.sum())
        year = founding_year(years[member], share)
        if year is not None:
            opened[pos] = year
            source[pos] = f"{share:.0%} of firms"
    dist = np.full(len(cl), np.nan)
    if parks is not None and len(parks):
        pk = _metric(parks, caller=caller, what="parks")
        check_columns(pk, ["opened"], caller=caller, what="parks registry")
        pk = pk.to_crs(cl.crs)
        pyear = _years(pk["opened"])
        approx = (
            (pk["location"].astype(str).str.strip().str.lower() == "approximate").to_numpy()
            if "location" in pk.columns
            else None
        )
        names = (
            pk["name"].astype(str).to_numpy()
            if "name" in pk.columns
            else np.array([str(i) for i in pk.index], dtype=object)
        )
        claimed, dist = match_parks(
            cl.geometry.to_numpy(),
            pk.geometry.to_numpy(),
            approximate=approx,
            match_m=match_m,
            approximate_factor=approximate_factor,
        )
        for pos, j in enumerate(claimed):
            if j >= 0 and np.isfinite(pyear[j]):
                opened[pos] = int(pyear[j])
                source[pos] = "registry"
                park_name[pos] = names[j]
    out["opening_year"] = opened
    out["opening_year_source"] = source
    out["park"] = park_name
    out["park_distance_m"] = dist
    out["n_members"] = n_members
    return out


#: Core footprint: neighbours of the local density (the k-th nearest fellow member) and the
#: share of the members' median local density a core member must reach.
CORE_NEIGHBOURS = 10
CORE_DENSITY_SHARE = 0.25


def core_footprints(
    establishments: gpd.GeoDataFrame,
    clusters: gpd.GeoDataFrame,
    *,
    neighbours: int = CORE_NEIGHBOURS,
    share: float = CORE_DENSITY_SHARE,
) -> Any:
    """Each cluster's core footprint: the concave hull of its densely packed members.

    A detected footprint (the hull of every member) also takes in the looser members at the
    cluster's edge, so it can be many times the concentration's area (Ningbo, seed 0: Chuang E
    Hui Gu 6.5 km² detected against 0.72 km² planted) and distances measured from its edge start
    far beyond the concentration. The core keeps the members whose local density
    ``1 / d_k²`` (``d_k`` the distance to the ``neighbours``-th nearest member of the same
    cluster) is at least ``share`` of the members' median local density, and takes their
    concave hull (the detection's ratio, 0.3). For a Gaussian cluster the median member
    density is half the peak, so the core's edge is the contour at 1/8 of the peak, about 2
    standard deviations.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        With a ``cluster`` column (the detection's labels, -1 = noise), in any CRS.
    clusters : geopandas.GeoDataFrame
        Footprints in a local metric CRS, index = cluster_id (the labels' values).
    neighbours : int, default 10
    share : float, default 0.25

    Returns
    -------
    geopandas.GeoDataFrame
        ``clusters`` with the core footprints as geometry and ``footprint_source``: ``"core"``,
        or ``"detected"`` with the reason (no ``cluster`` labels, fewer than
        ``neighbours + 2`` members, or a degenerate core); ``footprint_km2`` the area used.
    """
    import shapely
    from scipy.spatial import cKDTree

    caller = "core_footprints"
    cl = _clusters_metric(clusters, caller=caller)
    if int(neighbours) < 1 or not 0 < share <= 1:
        raise InvalidInputError(
            f"{caller}: neighbours must be >= 1 and share in (0, 1], got {neighbours}, {share}."
        )
    out = cl.copy()
    geoms = list(cl.geometry.to_numpy())
    source = ["detected: no cluster labels"] * len(cl)
    if "cluster" in establishments.columns:
        est = _metric(establishments, caller=caller, what="establishments")
        if est.crs != cl.crs:
            est = est.to_crs(cl.crs)
        label = pd.to_numeric(est["cluster"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        pts = est.geometry.to_numpy()
        px, py = shapely.get_x(pts), shapely.get_y(pts)
        for pos, cid in enumerate(cl.index):
            member = label == float(cid) if isinstance(cid, int | np.integer) else None
            if member is None or member.sum() < int(neighbours) + 2:
                source[pos] = f"detected: fewer than {int(neighbours) + 2} labelled members"
                continue
            xy = np.column_stack([px[member], py[member]])
            ok = np.isfinite(xy).all(axis=1)
            xy = xy[ok]
            d_k = cKDTree(xy).query(xy, k=int(neighbours) + 1)[0][:, -1]
            dens = 1.0 / np.maximum(d_k, 1e-9) ** 2
            core = xy[dens >= share * np.median(dens)]
            hull = shapely.concave_hull(shapely.multipoints(core), ratio=0.3)
            if hull.geom_type != "Polygon" or hull.area <= 0:
                source[pos] = "detected: the core is degenerate (collinear members)"
                continue
            geoms[pos] = hull
            source[pos] = "core"
    out = out.set_geometry(geoms, crs=cl.crs)
    out["footprint_source"] = source
    out["footprint_km2"] = shapely.area(np.asarray(geoms, dtype=object)) / _M2_PER_KM2
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


def _areas_km2(geom: Any, edges: np.ndarray, study_area: Any) -> np.ndarray:
    """Area (km²) of each ring [edges[i], edges[i+1]) around a footprint."""
    import shapely

    disks = [geom if e == 0 else shapely.buffer(geom, float(e), quad_segs=16) for e in edges]
    if study_area is not None:
        disks = [shapely.intersection(d, study_area) for d in disks]
    areas = np.array([shapely.area(d) for d in disks])
    inner = np.where(edges[:-1] == 0, 0.0, areas[:-1])
    return np.maximum(areas[1:] - inner, 0.0) / _M2_PER_KM2


def _and(a: Any, b: Any) -> Any:
    import shapely

    return b if a is None else shapely.intersection(a, b)


def _nearest_cells(footprints: list[Any], reach_m: float, step_m: float = 25.0) -> list[Any]:
    """The region closer to each footprint than to any other (within ``reach_m`` of it).

    The Voronoi cells of points every ``step_m`` metres along the footprints' boundaries,
    merged per footprint (a discretised nearest-footprint partition).
    """
    import shapely

    pts, owner = [], []
    for i, g in enumerate(footprints):
        ring = shapely.boundary(g)
        n = max(int(np.ceil(shapely.length(ring) / step_m)), 8)
        p = shapely.line_interpolate_point(
            ring, np.linspace(0, 1, n, endpoint=False), normalized=True
        )
        pts.append(shapely.get_coordinates(p))
        owner.append(np.full(len(p), i))
    xy = np.vstack(pts)
    own = np.concatenate(owner)
    xy, first = np.unique(np.round(xy, 3), axis=0, return_index=True)
    own = own[first]
    hull = shapely.buffer(shapely.union_all(footprints), 2 * reach_m + 10_000.0)
    vor = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=hull, ordered=True)
    parts = shapely.get_parts(vor)
    out = []
    for i, g in enumerate(footprints):
        cell = shapely.union_all(parts[own == i])
        out.append(shapely.intersection(shapely.union(cell, g), shapely.buffer(g, reach_m + 1.0)))
    return out


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python value (for params and JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _tq(q: float, g: int) -> float:
    return float(stats.t.ppf(q, max(g - 1, 1)))


def _design(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    fe = pd.get_dummies(frame["cluster_id"].astype(str), prefix="c", dtype=float)
    return pd.concat(
        [fe.reset_index(drop=True), frame[cols].reset_index(drop=True).astype(float)], axis=1
    )


def _within_ols(fr: pd.DataFrame, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """OLS with cluster fixed effects (within transformation) and CR1 cluster-robust SEs.

    The small-sample factor is G/(G-1) (N-1)/(N-K) with K = G + len(terms), as statsmodels'
    ``cov_type="cluster"``.
    """
    yy = (
        (fr["count_t"] / fr["area_km2_t"] - fr["count_c"] / fr["area_km2_c"]) / fr["scale"]
    ).to_numpy()
    x = fr[terms].to_numpy(dtype=float)
    gid = pd.factorize(fr["cluster_id"])[0]
    n_g = int(gid.max()) + 1
    cnt = np.bincount(gid, minlength=n_g).astype(float)

    def demean(a: np.ndarray) -> np.ndarray:
        a2 = a.reshape(len(gid), -1)
        sums = np.zeros((n_g, a2.shape[1]))
        np.add.at(sums, gid, a2)
        return np.asarray(a2 - (sums / cnt[:, None])[gid])

    xd, yd = demean(x), demean(yy)[:, 0]
    xtx_inv = np.linalg.pinv(xd.T @ xd)
    b = xtx_inv @ (xd.T @ yd)
    u = yd - xd @ b
    score = np.zeros((n_g, x.shape[1]))
    np.add.at(score, gid, xd * u[:, None])
    n, k = len(gid), n_g + x.shape[1]
    f = n_g / max(n_g - 1, 1) * (n - 1) / max(n - k, 1)
    v = f * xtx_inv @ (score.T @ score) @ xtx_inv
    return b, np.sqrt(np.maximum(np.diag(v), 0.0))


#: Webb's (2014) six-point weights: +-sqrt(1/2), +-1, +-sqrt(3/2), each with probability 1/6.
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


@dataclass(frozen=True, slots=True)
class _Contrast:
    """Within-cluster post-pre contrasts of several outcomes y (columns) on one panel."""

    a: np.ndarray  # (G, k): sum_e d_ce y_ce per cluster and outcome
    q: np.ndarray  # (G, k): sum_e d_ce^2 (0 where the outcome is not defined)
    f: float  # CR1 factor G/(G-1) (N-1)/(N-K)

    @property
    def beta(self) -> np.ndarray:
        return np.asarray(self.a.sum(0) / self.q.sum(0))

    def se(self) -> np.ndarray:
        s = self.a - self.beta * self.q
        return np.asarray(np.sqrt(self.f * (s**2).sum(0)) / self.q.sum(0))

    def boot_t(self, w: np.ndarray) -> np.ndarray:
        """The t statistics of the restricted (beta = 0) wild cluster bootstrap, weights w (B, G)."""
        qs = self.q.sum(0)
        wa = w @ self.a
        b = wa / qs
        ss = (w**2) @ (self.a**2) - 2 * b * (w @ (self.a * self.q)) + b**2 * (self.q**2).sum(0)
        se = np.sqrt(self.f * np.maximum(ss, 0.0)) / qs
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(se > 0, b / se, 0.0))


def _city_trend(years: np.ndarray, far: np.ndarray, cover: tuple[int, int], detrend: bool) -> Any:
    """Yearly scale s(t) of the city's amenity openings (see ``detrend``).

    The openings beyond the control rings in the three years centred on t, relative to their
    mean over the covered years.
    """
    if not detrend:
        return lambda t: np.ones(np.shape(t))
    use = years[far] if far.sum() >= 100 else years
    t = np.arange(cover[0], cover[1] + 1)
    n = np.bincount(use - cover[0], minlength=t.size)[: t.size].astype(float)
    if t.size < 3 or n.sum() == 0:
        return lambda tt: np.ones(np.shape(tt))
    pad = np.concatenate([[n[0]], n, [n[-1]]])
    smooth = (pad[:-2] + pad[1:-1] + pad[2:]) / 3 + 0.5
    scale = smooth / smooth.mean()

    def s(tt: Any) -> np.ndarray:
        idx = np.clip(np.asarray(tt, dtype=np.int64) - cover[0], 0, t.size - 1)
        return np.asarray(scale[idx])

    return s


def _placebo_orders(g: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Return placebo assignments of the opening years.

    Every permutation of the ``g`` clusters when there are at most ``n`` (the identity
    included), else ``n`` random permutations.
    """
    import itertools
    import math

    if math.factorial(g) <= n:
        return [np.asarray(p) for p in itertools.permutations(range(g))]
    return [rng.permutation(g) for _ in range(n)]


def _ri_t(
    counts: np.ndarray,
    areas: np.ndarray,
    opened: np.ndarray,
    cover: tuple[int, int],
    window: tuple[int, int],
    trend: Any,
    n_bins: int,
) -> np.ndarray:
    """Return the t statistic of every outcome (bins, cumulative rings) for one assignment.

    The panel of :func:`amenity_effects` is rebuilt from the counts by calendar year
    (``counts`` (G, years, rings + control), ``areas`` (G, rings + control)) for the given
    opening years, so at the true years it equals the observed t.
    """
    e = np.arange(window[0], window[1] + 1)
    yr = opened[:, None] + e[None, :]  # (G, E)
    ok = (yr >= cover[0]) & (yr <= cover[1])
    post = (e >= 0)[None, :] & ok
    pre = (e < 0)[None, :] & ok
    both = np.asarray(post.any(axis=1) & pre.any(axis=1), dtype=bool)
    ok &= both[:, None]
    idx = np.clip(yr - cover[0], 0, counts.shape[1] - 1)
    c = np.take_along_axis(counts, idx[:, :, None], axis=1)  # (G, E, R+1)
    a = areas[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ctrl = c[..., n_bins] / a[..., n_bins]
        y_bin = np.where(a[..., :n_bins] > 0, c[..., :n_bins] / a[..., :n_bins], 0.0)
        cum_a = np.cumsum(a[..., :n_bins], axis=-1)
        y_cum = np.where(cum_a > 0, np.cumsum(c[..., :n_bins], axis=-1) / cum_a, 0.0)
    y = np.concatenate([y_bin, y_cum], axis=-1) - ctrl[..., None]
    y = y / trend(yr)[..., None]
    defined = np.concatenate([areas[:, :n_bins] > 0, np.cumsum(areas[:, :n_bins], 1) > 0], 1)
    n_e = ok.sum(axis=1)
    pbar = np.divide((post & ok).sum(axis=1), n_e, out=np.zeros(len(n_e)), where=n_e > 0)
    dd = np.where(ok, post - pbar[:, None], 0.0)
    y = np.where(ok[..., None], y, 0.0)
    q = (dd**2).sum(axis=1)[:, None] * defined
    a_c = np.einsum("ge,gek->gk", dd, y) * defined
    g = int((n_e > 0).sum())
    n_obs = int(n_e.sum())
    f = g / max(g - 1, 1) * (n_obs - 1) / max(n_obs - g - 1, 1)
    con = _Contrast(a=a_c, q=q, f=f)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta, se = con.beta, con.se()
        return np.asarray(np.where(se > 0, beta / se, 0.0))


def _boot_p(stat: float, boot: np.ndarray) -> float:
    """Two-sided bootstrap p: (1 + #{|t*| >= |t|}) / (B + 1)."""
    return float((1 + (np.abs(boot) >= abs(stat) - 1e-12).sum()) / (boot.size + 1))


_RESULT_COLUMNS = [
    "amenity",
    "method",
    "status",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "mde",
    "inference",
    "influence_radius_m",
    "influence_radius_ci_low",
    "influence_radius_ci_high",
    "influence_radius_from_centre_m",
    "treated_m",
    "treated_source",
    "n_clusters",
    "n_amenities",
    "window_used",
    "control_masked_share",
    "unit",
    "reason",
]
#: The keys of ``AmenityEffectResult.summary``, in order: the row's, with the radius interval
#: as one pair.
_SUMMARY_KEYS = tuple(
    "influence_radius_ci" if c == "influence_radius_ci_low" else c
    for c in _RESULT_COLUMNS
    if c != "influence_radius_ci_high"
)
_BY_DISTANCE = [
    "lower_m",
    "upper_m",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "band_low",
    "band_high",
    "p_value",
    "p_uniform",
    "significant",
    "n_clusters",
]
_BY_CLUSTER = [
    "cluster_id",
    "opening_year",
    "opening_year_source",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n_amenities",
    "n_treated",
    "n_control",
    "n_pre_years",
    "n_post_years",
    "control_masked_share",
    "control_km2",
    "footprint_km2",
]


def amenity_effects(
    establishments: gpd.GeoDataFrame,
    clusters: gpd.GeoDataFrame,
    *,
    amenity: str = "hotel",
    rings_m: Sequence[float] = (0, 500, 1000, 1500, 2000),
    control_m: Sequence[float] = (2000, 4000),
    treated_m: float | None = None,
    opened: Mapping[Any, Any] | pd.Series | None = None,
    window_years: tuple[int, int] = (-5, 8),
    model: str = "ols",
    alpha: float = 0.05,
    study_area: Polygon | MultiPolygon | None = None,
    mask: bool = True,
    others: gpd.GeoDataFrame | None = None,
    bootstrap: int = 1999,
    seed: int | None = 0,
    min_clusters: int = 4,
    min_amenities: int = 20,
    detrend: bool = True,
    footprint: str = "core",
    min_control_km2: float = 2.0,
    inference: str = "wild",
    placebos: int = 999,
) -> AmenityEffectResult:
    """Effect of cluster openings on amenity openings by distance: ring DiD, event study, radius.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        Classified establishments (any CRS) with ``function`` and ``opened``; ``cluster`` /
        ``is_creative`` are used for the founding rule when ``opened`` is not given.
    clusters : geopandas.GeoDataFrame
        Footprints (local metric CRS, index = cluster_id) of the clusters to estimate on
        (e.g. the significant, registry-matched ones: :func:`select_clusters`).
    amenity : str, default "hotel"
        The ``function`` value of the amenity (e.g. ``"hotel"``, ``"mall"``).
    rings_m : sequence of float, default (0, 500, 1000, 1500, 2000)
        Edges in metres of the distance bins of tau(d) (distance to the footprint, 0 inside).
    control_m : (float, float), default (2000, 4000)
        Inner and outer edge in metres of the control ring.
    treated_m : float, optional
        Outer edge of the pooled treated ring (one of ``rings_m[1:]``). Default: chosen from
        the data, the influence radius (the upper edge of the last significant bin); when no
        bin is significant, all rings (and the result says so in ``treated_source``).
    opened : mapping or Series cluster_id -> year, optional
        Opening years (e.g. ``cluster_opening_years(..., parks=registry)["opening_year"]``);
        missing entries fall back to the founding rule of :func:`cluster_opening_years`.
    window_years : (int, int), default (-5, 8)
        First and last event year (year - opening year); must include -1 and 0. Years outside
        the data's coverage are dropped; ``window_used`` reports the event years kept.
    model : {"ols", "poisson"}, default "ols"
        Ring DiD on densities (openings per km² per year) or Poisson FE on counts (log rate ratio).
    alpha : float, default 0.05
        Size of the tests and 1 - level of the intervals and of the uniform band.
    study_area : shapely geometry, optional
        Polygon (same CRS as clusters) the ring areas are clipped to, e.g. land only.
    mask : bool, default True
        Remove from each cluster's control ring the area (and the amenities) within
        ``rings_m[-1]`` of any other cluster's footprint (of ``clusters`` and ``others``).
    others : geopandas.GeoDataFrame, optional
        Further footprints whose treated rings are masked (e.g. detected clusters not
        estimated on).
    bootstrap : int, default 1999
        Wild cluster bootstrap draws (Webb weights).
    seed : int or None, default 0
    min_clusters : int, default 4
        Fewer clusters with an opening year and years both before and after it: not estimable.
    min_amenities : int, default 20
        Fewer dated amenity openings in the panel (rings and control ring, window years): not
        estimable.
    detrend : bool, default True
        Divide each year's densities by the city's trend in openings (a log-linear Poisson fit
        of the yearly openings beyond ``control_m[1]`` of every footprint, relative to its mean
        over the covered years), so that common growth does not bias the DiD near dense cores.
    footprint : {"core", "detected"}, default "core"
        Measure the rings from each cluster's core footprint (:func:`core_footprints`; needs
        the detection's ``cluster`` labels on the establishments, else the given footprint is
        used and ``params["footprint_source"]`` says why) or from the footprint as given.
    min_control_km2 : float, default 2.0
        A cluster whose control ring keeps less area after masking is dropped (not estimable:
        control ring too small).
    inference : {"wild", "randomisation"}, default "wild"
        Wild cluster bootstrap (WCR-t, Webb weights) or randomisation inference with placebo
        openings (``model="ols"`` only).
    placebos : int, default 999
        Placebo assignments for ``inference="randomisation"`` (all permutations when fewer).

    Returns
    -------
    AmenityEffectResult
        ``summary["status"]`` is ``"estimated"`` or ``"not estimable"`` (with ``reason`` and
        the counts; estimates NaN).

    Raises
    ------
    InvalidInputError
        Bad rings, window, treated_m, model or bootstrap; no amenity rows.
    CRSError
        Clusters not in a metric CRS, or establishments without a CRS.

    Notes
    -----
    Every rule (panel, masking, inference, radius) is in the module docstring.

    Examples
    --------
    The built-in Ningbo study (planted scenario: extra malls within 1 km of each planted
    cluster's footprint after it opens), at the planted clusters with the registry's years; the
    generated ``function`` stands in for ``taxonomy.classify_establishments`` here.

    >>> from clusterscape.datasets import ningbo
    >>> study = ningbo(scenario="planted", seed=0)
    >>> fn = study.truth["membership"]["function"].to_numpy()
    >>> est = study.establishments.assign(function=fn)
    >>> clusters = study.truth["clusters"].to_crs(32651)
    >>> res = amenity_effects(est, clusters, amenity="mall", opened=clusters["opened"])
    >>> res.summary["p_value"] < 0.05, res.summary["influence_radius_m"]
    (True, 1000.0)
    >>> res.by_distance["significant"].tolist()  # 0-500 and 500-1,000 m: the planted 1 km
    [True, True, False, False]

    The planted hotels (20 per cluster within 1.5 km) give a significant effect on this seed
    (p about 0.02), but no influence radius is claimed (NaN).
    """
    import shapely

    caller = "amenity_effects"
    check_choice(model, {"ols", "poisson"}, "model", caller=caller)
    check_choice(footprint, {"core", "detected"}, "footprint", caller=caller)
    check_choice(inference, {"wild", "randomisation"}, "inference", caller=caller)
    check_positive(min_control_km2, "min_control_km2", caller=caller, allow_zero=True)
    if not 0 < alpha < 1:
        raise InvalidInputError(f"{caller}: alpha must lie in (0, 1), got {alpha}.")
    edges, (c_in, c_out) = _check_rings(rings_m, control_m, caller)
    n_bins = edges.size - 1
    w0, w1 = (int(v) for v in window_years)
    if not w0 <= -1 < 0 <= w1:
        raise InvalidInputError(
            f"{caller}: window_years must include -1 and 0 (before and after), got {window_years}."
        )
    if isinstance(bootstrap, bool) or int(bootstrap) != bootstrap or bootstrap < 99:
        raise InvalidInputError(f"{caller}: bootstrap must be an integer >= 99, got {bootstrap!r}.")
    if treated_m is not None and not np.any(np.isclose(edges[1:], float(treated_m))):
        raise InvalidInputError(
            f"{caller}: treated_m must be one of the ring edges {tuple(edges[1:])}, got {treated_m}."
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

    # opening years: given, else the founding rule
    rule = cluster_opening_years(est, cl)
    given = pd.Series(opened) if opened is not None else pd.Series(dtype=float)
    years_used: dict[Any, int] = {}
    source_used: dict[Any, str] = {}
    dropped: dict[Any, str] = {}
    for cid in cl.index:
        v = given.get(cid, np.nan) if len(given) else np.nan
        src = "given"
        if v is None or pd.isna(v):
            v, src = rule.loc[cid, "opening_year"], str(rule.loc[cid, "opening_year_source"])
        if v is None or pd.isna(v):
            dropped[cid] = "no opening year"
        else:
            years_used[cid] = int(v)
            source_used[cid] = src

    # distances of amenities to every footprint (and to the masked ones)
    # footprints the rings are measured from: the core (densely packed members) or as detected
    fp = (
        core_footprints(est, cl)
        if footprint == "core"
        else cl.assign(footprint_source="detected", footprint_km2=cl.geometry.area / _M2_PER_KM2)
    )
    geoms = list(fp.geometry.to_numpy())
    mask_geoms = list(geoms)
    mask_ids: list[Any] = list(cl.index)
    if others is not None:
        oth = _clusters_metric(others, caller=caller).to_crs(cl.crs)
        given_fp = list(cl.geometry.to_numpy())
        # a footprint of ``others`` that is one of ``clusters`` (the same polygon) is not added
        same = [any(g_o.equals(h) for h in given_fp) for g_o in oth.geometry.to_numpy()]
        if footprint == "core":
            oth = core_footprints(est, oth)
        for oid, g_o, dup in zip(oth.index, oth.geometry.to_numpy(), same, strict=True):
            if dup:
                continue
            mask_geoms.append(g_o)
            mask_ids.append(oid)
    am_x, am_y = shapely.get_x(am_pts), shapely.get_y(am_pts)
    dist = np.full((am_pts.size, len(mask_geoms)), np.inf)
    for j, gm in enumerate(mask_geoms):  # only amenities near the footprint's bounding box
        bx0, by0, bx1, by1 = gm.bounds
        near_j = np.flatnonzero(
            (am_x >= bx0 - c_out)
            & (am_x <= bx1 + c_out)
            & (am_y >= by0 - c_out)
            & (am_y <= by1 + c_out)
        )
        dist[near_j, j] = shapely.distance(gm, am_pts[near_j])
    treated_out = float(edges[-1])
    trend = _city_trend(am_year, dist.min(axis=1) >= c_out, cover, detrend)

    all_edges = np.append(edges, [c_in, c_out])
    cells = _nearest_cells(mask_geoms, float(edges[-1])) if mask and len(mask_geoms) > 1 else []
    lo = np.append(edges[:-1], c_in)
    hi = np.append(edges[1:], c_out)
    records = []
    masked_share: dict[Any, float] = {}
    masked_by: dict[Any, list[Any]] = {}
    control_km2: dict[Any, float] = {}
    calendar: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    for pos, cid in enumerate(cl.index):
        if cid not in years_used:
            continue
        t0 = years_used[cid]
        geom = geoms[pos]
        d = dist[:, pos]
        in_ctrl = (d >= c_in) & (d < c_out)
        in_bins = np.ones(d.size, dtype=bool)
        if mask and len(mask_geoms) > 1:
            other = np.delete(dist, pos, axis=1).min(axis=1)
            in_ctrl &= other >= treated_out
            in_bins = d <= other  # bins: each amenity counts for its nearest footprint only
            areas = np.delete(_areas_km2(geom, all_edges, _and(study_area, cells[pos])), n_bins)
        else:
            areas = np.delete(_areas_km2(geom, all_edges, study_area), n_bins)
        if mask and len(mask_geoms) > 1:
            annulus = shapely.difference(
                shapely.buffer(geom, c_out, quad_segs=16), shapely.buffer(geom, c_in, quad_segs=16)
            )
            near_idx = [
                j
                for j, g in enumerate(mask_geoms)
                if j != pos and shapely.distance(g, geom) < c_out + treated_out
            ]
            near = [mask_geoms[j] for j in near_idx]
            kept = (
                shapely.difference(
                    annulus,
                    shapely.union_all([shapely.buffer(g, treated_out, quad_segs=16) for g in near]),
                )
                if near
                else annulus
            )
            if study_area is not None:
                kept = shapely.intersection(kept, study_area)
                annulus = shapely.intersection(annulus, study_area)
            full = float(shapely.area(annulus))
            areas[n_bins] = float(shapely.area(kept)) / _M2_PER_KM2
            masked_share[cid] = 1.0 - areas[n_bins] * _M2_PER_KM2 / full if full > 0 else 1.0
            masked_by[cid] = [
                _plain(mask_ids[j])
                for j in near_idx
                if shapely.intersects(
                    annulus, shapely.buffer(mask_geoms[j], treated_out, quad_segs=16)
                )
            ]
        else:
            masked_share[cid] = 0.0
            masked_by[cid] = []
        control_km2[cid] = float(areas[n_bins])
        if control_km2[cid] < min_control_km2:
            dropped[cid] = (
                f"not estimable: control ring too small ({control_km2[cid]:.2f} km² left after "
                f"masking {masked_share[cid]:.0%}; at least {min_control_km2:g} km² needed)"
            )
            continue
        # counts by calendar year (bins and control ring): the placebo openings' panel
        n_cover = cover[1] - cover[0] + 1
        cal = np.zeros((n_cover, n_bins + 1))
        yi = am_year - cover[0]
        for b in range(n_bins):
            in_b = in_bins & (d >= lo[b]) & (d < hi[b])
            cal[:, b] = np.bincount(yi[in_b], minlength=n_cover)[:n_cover]
        cal[:, n_bins] = np.bincount(yi[in_ctrl], minlength=n_cover)[:n_cover]
        calendar[cid] = (cal, np.asarray(areas, dtype=float))
        for e in range(w0, w1 + 1):
            yr = t0 + e
            if not cover[0] <= yr <= cover[1]:
                continue
            now = am_year == yr
            sel = d[now & in_bins]
            for b in range(n_bins):
                n_b = int(((sel >= lo[b]) & (sel < hi[b])).sum())
                records.append((cid, b, lo[b], hi[b], e, yr, n_b, areas[b]))
            records.append(
                (cid, n_bins, c_in, c_out, e, yr, int(in_ctrl[now].sum()), areas[n_bins])
            )
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
    with np.errstate(divide="ignore", invalid="ignore"):
        panel["density_per_km2"] = np.where(
            panel["area_km2"] > 0, panel["count"] / panel["area_km2"], np.nan
        )

    present = set(panel["cluster_id"])
    for cid in years_used:
        if cid not in present and cid not in dropped:
            dropped[cid] = "no year both before and after the opening within the data's coverage"
    # the cluster-year table: counts and areas per bin and the control ring
    cnt = panel.pivot_table(
        index=["cluster_id", "event_time"], columns="ring", values="count", aggfunc="sum"
    )
    area = panel.pivot_table(
        index=["cluster_id", "event_time"], columns="ring", values="area_km2", aggfunc="sum"
    )
    ok_ctrl = (area[n_bins] > 0) if len(area) else pd.Series(dtype=bool)
    for cid in pd.unique(area.index.get_level_values(0)[~ok_ctrl.to_numpy()]) if len(area) else []:
        dropped[cid] = "control ring has no area left (masked or outside the study area)"
    cnt, area = cnt[ok_ctrl.to_numpy()], area[ok_ctrl.to_numpy()]
    post = (cnt.index.get_level_values("event_time") >= 0).astype(float)
    cid_row = cnt.index.get_level_values("cluster_id").to_numpy()
    frame = pd.DataFrame({"cluster_id": cid_row, "post": post})
    has_pre = frame.groupby("cluster_id")["post"].transform("min") == 0
    has_post = frame.groupby("cluster_id")["post"].transform("max") == 1
    informative = (has_pre & has_post).to_numpy()
    for cid in pd.unique(cid_row[~informative]):
        dropped[cid] = "no year both before and after the opening within the data's coverage"
    cnt, area, frame = cnt[informative], area[informative], frame[informative]
    cid_row = cid_row[informative]
    groups = pd.unique(cid_row)
    g = int(groups.size)
    n_am_panel = int(cnt.to_numpy().sum()) if len(cnt) else 0
    window_used = (
        (
            int(cnt.index.get_level_values("event_time").min()),
            int(cnt.index.get_level_values("event_time").max()),
        )
        if len(cnt)
        else (w0, w1)
    )
    unit = "openings per km2 per year" if model == "ols" else "log rate ratio"
    method = "ring_did" if model == "ols" else "ring_did_poisson"
    if model == "poisson" and inference == "randomisation":
        raise InvalidInputError(
            f"{caller}: inference='randomisation' is for model='ols'; the Poisson model uses "
            "cluster-robust t(G-1) inference."
        )
    if inference == "randomisation" and (
        isinstance(placebos, bool) or int(placebos) != placebos or placebos < 99
    ):
        raise InvalidInputError(f"{caller}: placebos must be an integer >= 99, got {placebos!r}.")
    inference_text = (
        "cluster-robust (CR1) t(G-1)"
        if model == "poisson"
        else f"wild cluster bootstrap (restricted, WCR-t, Webb six-point weights, {int(bootstrap)} draws)"
        if inference == "wild"
        else "randomisation inference (placebo openings: the opening years permuted among the "
        f"clusters, up to {int(placebos)} permutations)"
    )
    params: dict[str, Any] = {
        "amenity": amenity,
        "rings_m": tuple(float(v) for v in edges),
        "control_m": (c_in, c_out),
        "treated_m": treated_m,
        "window_years": (w0, w1),
        "window_used": window_used,
        "model": model,
        "alpha": alpha,
        "bootstrap": int(bootstrap),
        "inference": inference if model == "ols" else "cluster-robust",
        "placebos": int(placebos),
        "seed": seed,
        "mask": mask,
        "coverage_years": cover,
        "opening_years": years_used,
        "opening_source": source_used,
        "dropped": dropped,
        "control_masked_share": masked_share,
        "control_masked_by": masked_by,
        "control_km2": control_km2,
        "min_control_km2": float(min_control_km2),
        "footprint": footprint,
        "footprint_source": {
            _plain(c): str(v) for c, v in zip(fp.index, fp["footprint_source"], strict=True)
        },
        "footprint_km2": {
            _plain(c): float(v) for c, v in zip(fp.index, fp["footprint_km2"], strict=True)
        },
        "study_area": study_area is not None,
        "n_amenities": int(is_am.sum()),
        "n_amenities_panel": n_am_panel,
        "min_clusters": int(min_clusters),
        "min_amenities": int(min_amenities),
    }
    reasons = []
    if g < min_clusters:
        thin = sum("control ring too small" in str(v) for v in dropped.values())
        reasons.append(
            f"{g} cluster(s) have an opening year and data before and after it "
            f"(of {len(cl)}; at least {min_clusters} needed)"
            + (
                f"; not estimable: control ring too small at {thin} cluster(s) "
                f"(under {min_control_km2:g} km² left after masking)"
                if thin
                else ""
            )
        )
    if n_am_panel < min_amenities:
        reasons.append(
            f"{n_am_panel} dated {amenity} opening(s) in the rings and control ring within the "
            f"window (at least {min_amenities} needed)"
        )
    if reasons:
        return _not_estimable(
            amenity, method, unit, inference_text, "; ".join(reasons), g, n_am_panel, params, panel
        )

    # outcomes: per-bin density minus control density, and the cumulative rings [0, edge_k+1)
    c_arr = cnt.to_numpy(dtype=float)
    a_arr = area.to_numpy(dtype=float)
    ctrl = c_arr[:, n_bins] / a_arr[:, n_bins]
    valid_bin = a_arr[:, :n_bins] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        y_bin = np.where(valid_bin, c_arr[:, :n_bins] / a_arr[:, :n_bins], 0.0) - ctrl[:, None]
        cum_c = np.cumsum(c_arr[:, :n_bins], axis=1)
        cum_a = np.cumsum(a_arr[:, :n_bins], axis=1)
        valid_cum = cum_a > 0
        y_cum = np.where(valid_cum, cum_c / cum_a, 0.0) - ctrl[:, None]
    y = np.column_stack([y_bin, y_cum])
    yr_row = np.array([years_used[c] for c in cnt.index.get_level_values("cluster_id")]) + (
        cnt.index.get_level_values("event_time").to_numpy()
    )
    y = y / trend(yr_row)[:, None]
    valid = np.column_stack([valid_bin, valid_cum])
    pbar = frame.groupby("cluster_id")["post"].transform("mean").to_numpy()
    dd = frame["post"].to_numpy() - pbar
    gi = pd.Index(groups).get_indexer(cid_row)
    onehot = np.zeros((g, len(gi)))
    onehot[gi, np.arange(len(gi))] = 1.0
    # within a cluster, an outcome undefined in some years (no area) is left out for that cluster
    vcl = (onehot @ (~valid).astype(float)) == 0  # (G, k): defined every year
    a_c = (onehot @ (dd[:, None] * y)) * vcl
    q_c = (onehot @ (dd[:, None] ** 2 * np.ones_like(y))) * vcl
    n_obs = len(gi)
    f_cr1 = g / (g - 1) * (n_obs - 1) / max(n_obs - g - 1, 1)
    con = _Contrast(a=a_c, q=q_c, f=f_cr1)
    beta, se = con.beta, con.se()
    with np.errstate(divide="ignore", invalid="ignore"):
        t_obs = np.where(se > 0, beta / se, 0.0)
    rng = np.random.default_rng(seed)
    if inference == "wild":
        w = WEBB_WEIGHTS[rng.integers(0, 6, size=(int(bootstrap), g))]
        t_boot = con.boot_t(w)
    else:
        counts_cal = np.stack([calendar[c][0] for c in groups])
        areas_cal = np.stack([calendar[c][1] for c in groups])
        t_true = np.array([years_used[c] for c in groups], dtype=np.int64)
        perms = _placebo_orders(g, int(placebos), rng)
        t_boot = np.vstack(
            [
                _ri_t(counts_cal, areas_cal, t_true[order], cover, (w0, w1), trend, n_bins)
                for order in perms
            ]
        )
        params["placebo_draws"] = len(perms)
    tb_bin, tb_cum = t_boot[:, :n_bins], t_boot[:, n_bins:]

    # tau(d): per-bin estimates, pointwise and uniform (sup-t) bootstrap critical values
    c_unif = float(np.quantile(np.abs(tb_bin).max(axis=1), 1 - alpha))
    c_point = np.quantile(np.abs(tb_bin), 1 - alpha, axis=0)
    b_bin, s_bin, t_bin = beta[:n_bins], se[:n_bins], t_obs[:n_bins]
    sig = t_bin > c_unif
    max_boot = np.abs(tb_bin).max(axis=1)
    by_distance = pd.DataFrame(
        {
            "lower_m": edges[:-1],
            "upper_m": edges[1:],
            "estimate": b_bin,
            "se": s_bin,
            "ci_low": b_bin - c_point * s_bin,
            "ci_high": b_bin + c_point * s_bin,
            "band_low": b_bin - c_unif * s_bin,
            "band_high": b_bin + c_unif * s_bin,
            "p_value": [_boot_p(t_bin[b], tb_bin[:, b]) for b in range(n_bins)],
            "p_uniform": [_boot_p(t_bin[b], max_boot) for b in range(n_bins)],
            "significant": sig,
            "n_clusters": (q_c[:, :n_bins] > 0).sum(axis=0),
        },
        columns=_BY_DISTANCE,
    )
    r_eq = float(
        np.mean([np.sqrt(shapely.area(geoms[cl.index.get_loc(c)]) / np.pi) for c in groups])
    )
    if sig.any():
        k = int(np.flatnonzero(sig)[-1])
        radius = float(edges[k + 1])
        r_lo = float(edges[k])
        r_hi = float(edges[k + 2]) if k + 2 <= n_bins else c_in
    else:
        k = -1
        radius = r_lo = r_hi = float("nan")

    # the pooled treated ring and its test (the selection is repeated in every bootstrap draw)
    if treated_m is not None:
        k_t = int(np.flatnonzero(np.isclose(edges[1:], float(treated_m)))[0])
        t_source = "given"
        sel_boot = np.full(t_boot.shape[0], k_t)
    else:
        k_t = k if k >= 0 else n_bins - 1
        t_source = (
            "influence radius (upper edge of the last significant bin)"
            if k >= 0
            else "all rings (no bin significant)"
        )
        sig_b = tb_bin > c_unif
        last = n_bins - 1 - np.argmax(sig_b[:, ::-1], axis=1)
        sel_boot = np.where(sig_b.any(axis=1), last, n_bins - 1)
    t_pool_boot = tb_cum[np.arange(t_boot.shape[0]), sel_boot]
    est_pool, se_pool, t_pool = (
        float(beta[n_bins + k_t]),
        float(se[n_bins + k_t]),
        float(t_obs[n_bins + k_t]),
    )
    p_pool = _boot_p(t_pool, t_pool_boot)
    c_pool = float(np.quantile(np.abs(t_pool_boot), 1 - alpha))
    ci_pool = (est_pool - c_pool * se_pool, est_pool + c_pool * se_pool)
    mde = float((_tq(1 - alpha / 2, g) + _tq(0.8, g)) * se_pool)
    t_edge = float(edges[k_t + 1])

    # per-cluster estimates on the pooled treated ring
    col = n_bins + k_t
    resid = y[:, col] - (onehot.T @ (onehot @ y[:, col] / onehot.sum(1)))
    bc = np.divide(a_c[:, col], q_c[:, col], out=np.full(g, np.nan), where=q_c[:, col] > 0)
    resid = resid - bc[gi] * dd
    n_e = onehot.sum(1)
    s2 = (onehot @ resid**2) / np.maximum(n_e - 2, 1)
    se_c = np.sqrt(np.divide(s2, q_c[:, col], out=np.full(g, np.nan), where=q_c[:, col] > 0))
    tq_c = stats.t.ppf(1 - alpha / 2, np.maximum(n_e - 2, 1))
    n_tr = onehot @ c_arr[:, : k_t + 1].sum(1)
    n_co = onehot @ c_arr[:, n_bins]
    by_cluster = pd.DataFrame(
        {
            "cluster_id": groups,
            "opening_year": [years_used[c] for c in groups],
            "opening_year_source": [source_used[c] for c in groups],
            "estimate": bc,
            "se": se_c,
            "ci_low": bc - tq_c * se_c,
            "ci_high": bc + tq_c * se_c,
            "n_amenities": (n_tr + n_co).astype(int),
            "n_treated": n_tr.astype(int),
            "n_control": n_co.astype(int),
            "n_pre_years": (onehot @ (1 - frame["post"].to_numpy())).astype(int),
            "n_post_years": (onehot @ frame["post"].to_numpy()).astype(int),
            "control_masked_share": [masked_share[c] for c in groups],
            "control_km2": [control_km2[c] for c in groups],
            "footprint_km2": [float(fp.loc[c, "footprint_km2"]) for c in groups],
        },
        columns=_BY_CLUSTER,
    )

    # the cluster-year pair frame of the pooled ring: Poisson model and event study
    pair = pd.DataFrame(
        {
            "cluster_id": cid_row,
            "event_time": cnt.index.get_level_values("event_time").to_numpy(),
            "count_t": c_arr[:, : k_t + 1].sum(1),
            "area_km2_t": a_arr[:, : k_t + 1].sum(1),
            "count_c": c_arr[:, n_bins],
            "area_km2_c": a_arr[:, n_bins],
            "post": frame["post"].to_numpy(),
            "scale": trend(yr_row),
        }
    )
    kept = pair
    if model == "poisson":
        tot_t = pair.groupby("cluster_id")["count_t"].transform("sum")
        tot_c = pair.groupby("cluster_id")["count_c"].transform("sum")
        for cid in pair.loc[(tot_t == 0) | (tot_c == 0), "cluster_id"].unique():
            dropped[cid] = "no amenity opening in the treated or in the control ring (Poisson FE)"
        kept = pair[
            (tot_t > 0) & (tot_c > 0) & (pair["count_t"] + pair["count_c"] > 0)
        ].reset_index(drop=True)
        if kept["cluster_id"].nunique() < 2:
            return _not_estimable(
                amenity,
                method,
                unit,
                inference_text,
                "fewer than 2 clusters see the amenity in both rings (Poisson FE); use model='ols'",
                g,
                n_am_panel,
                params,
                panel,
            )

    def fit_terms(fr: pd.DataFrame, terms: list[str]) -> Any:
        import statsmodels.api as sm

        x = _design(fr, terms)
        kw = {
            "cov_type": "cluster",
            "cov_kwds": {"groups": fr["cluster_id"].astype(str).to_numpy()},
            "use_t": True,
        }
        if model == "ols":
            yy = (
                (fr["count_t"] / fr["area_km2_t"] - fr["count_c"] / fr["area_km2_c"]) / fr["scale"]
            ).to_numpy()
            return sm.OLS(yy, x).fit(**kw)
        yy = fr["count_t"].to_numpy(dtype=float)
        n = (fr["count_t"] + fr["count_c"]).to_numpy(dtype=float)
        off = np.log(fr["area_km2_t"].to_numpy() / fr["area_km2_c"].to_numpy())
        return sm.GLM(
            np.column_stack([yy, n - yy]), x, family=sm.families.Binomial(), offset=off
        ).fit(**kw)

    g_k = int(kept["cluster_id"].nunique())
    tcrit = _tq(1 - alpha / 2, g_k)
    if model == "poisson":
        res = fit_terms(kept, ["post"])
        est_pool, se_pool = float(res.params["post"]), float(res.bse["post"])
        p_pool = float(res.pvalues["post"])
        ci_pool = (est_pool - tcrit * se_pool, est_pool + tcrit * se_pool)
        mde = float((_tq(1 - alpha / 2, g_k) + _tq(0.8, g_k)) * se_pool)
    ev = kept.copy()
    times = [e for e in sorted(ev["event_time"].unique()) if e != -1]
    for e in times:
        ev[f"e{e}"] = (ev["event_time"] == e).astype(float)
    terms = [f"e{e}" for e in times]
    if model == "ols":
        b_ev, s_ev = _within_ols(ev, terms)
        p_ev = 2 * stats.t.sf(np.abs(b_ev / s_ev), max(g_k - 1, 1))
    else:
        res_ev = fit_terms(ev, terms)
        b_ev = res_ev.params[terms].to_numpy()
        s_ev = res_ev.bse[terms].to_numpy()
        p_ev = res_ev.pvalues[terms].to_numpy()
    coef = dict(zip(times, zip(b_ev, s_ev, p_ev, strict=True), strict=True))
    es_rows = []
    for e in sorted([*times, -1]):
        if e == -1:
            es_rows.append((e, 0.0, 0.0, 0.0, np.nan))
            continue
        b_e, s_e, p_e = (float(v) for v in coef[e])
        es_rows.append((e, b_e, b_e - tcrit * s_e, b_e + tcrit * s_e, p_e))
    event_study = pd.DataFrame(
        es_rows, columns=["event_time", "coef", "ci_low", "ci_high", "p_value"]
    )
    if np.isfinite(radius) and not p_pool <= alpha:
        # One verdict: no radius is claimed for an effect the pooled test does not find
        # (a bin can clear the uniform band while the pooled ring's p exceeds alpha).
        params["radius_withheld"] = (
            f"bin up to {radius:.0f} m significant under the uniform band, but the pooled "
            f"effect is not (p {p_pool:.3g} > {alpha})"
        )
        radius = r_lo = r_hi = float("nan")
    mean_masked = float(np.mean([masked_share[c] for c in groups]))
    params.update(
        uniform_critical_value=c_unif,
        footprint_equivalent_radius_m=r_eq,
        dropped=dropped,
    )
    summary = _summary(
        amenity,
        method,
        "estimated",
        estimate=est_pool,
        se=se_pool,
        ci_low=ci_pool[0],
        ci_high=ci_pool[1],
        p_value=p_pool,
        mde=mde,
        inference=inference_text,
        influence_radius_m=radius,
        influence_radius_ci=(r_lo, r_hi),
        influence_radius_from_centre_m=radius + r_eq,
        treated_m=t_edge,
        treated_source=t_source,
        n_clusters=g if model == "ols" else g_k,
        n_amenities=n_am_panel,
        window_used=window_used,
        control_masked_share=mean_masked,
        unit=unit,
    )
    return _effect_result(summary, params, panel, event_study, by_distance, by_cluster)


def _summary_row(summary: Mapping[str, Any]) -> pd.DataFrame:
    """The one-row ``rows`` table of a summary.

    The radius interval is split into two columns and the window written as ``first..last``.
    """
    row = {k: summary[k] for k in _RESULT_COLUMNS if k in summary}
    lo, hi = summary["influence_radius_ci"]
    first, last = summary["window_used"]
    row.update(
        influence_radius_ci_low=lo, influence_radius_ci_high=hi, window_used=f"{first}..{last}"
    )
    return pd.DataFrame([row], columns=_RESULT_COLUMNS)


def _not_estimable(
    amenity: str,
    method: str,
    unit: str,
    inference: str,
    reason: str,
    g: int,
    n_am: int,
    params: dict[str, Any],
    panel: pd.DataFrame,
) -> AmenityEffectResult:
    summary = _summary(
        amenity,
        method,
        "not estimable",
        inference=inference,
        n_clusters=g,
        n_amenities=n_am,
        window_used=params["window_used"],
        unit=unit,
        reason=reason,
    )
    return _effect_result(summary, params, panel)


def _effect_result(
    summary: dict[str, Any],
    params: dict[str, Any],
    panel: pd.DataFrame,
    event_study: pd.DataFrame | None = None,
    by_distance: pd.DataFrame | None = None,
    by_cluster: pd.DataFrame | None = None,
) -> AmenityEffectResult:
    """The result around ``summary``; tables not given are empty with their columns."""
    if event_study is None:
        event_study = pd.DataFrame(columns=["event_time", "coef", "ci_low", "ci_high", "p_value"])
    return AmenityEffectResult(
        summary=summary,
        rows=_summary_row(summary),
        event_study=event_study,
        by_distance=pd.DataFrame(columns=_BY_DISTANCE) if by_distance is None else by_distance,
        panel=panel,
        by_cluster=pd.DataFrame(columns=_BY_CLUSTER) if by_cluster is None else by_cluster,
        params=params,
    )


def _summary(amenity: str, method: str, status: str, **values: Any) -> dict[str, Any]:
    """A result's ``summary`` in its documented key order; what is not given is NaN or blank."""
    nan = float("nan")
    out: dict[str, Any] = dict.fromkeys(_SUMMARY_KEYS, nan)
    out.update(amenity=amenity, method=method, status=status, inference="", treated_source="")
    out.update(influence_radius_ci=(nan, nan), unit="", reason="")
    unknown = set(values) - set(_SUMMARY_KEYS)
    if unknown:  # pragma: no cover - a programming error, not an input one
        raise KeyError(f"_summary: unknown keys {sorted(unknown)}")
    out.update(values)
    return out


def select_clusters(clusters: Any, *, parks: Any = None, opening: Any = None) -> Any:
    """The clusters effects are estimated on: significant, and registry-matched when a registry is given.

    Parameters
    ----------
    clusters : geopandas.GeoDataFrame
        ``ClusterResult.clusters`` (with ``significant`` when detection tested it).
    parks : geopandas.GeoDataFrame, optional
        The parks registry; with one, only clusters matched to a park are kept.
    opening : pandas.DataFrame, optional
        :func:`cluster_opening_years` of these clusters (``opening_year_source``).

    Returns
    -------
    geopandas.GeoDataFrame
        The selected rows, with ``params``-style reasons in ``attrs["selection"]``.
    """
    keep = np.ones(len(clusters), dtype=bool)
    why = []
    if "significant" in clusters.columns:
        keep &= clusters["significant"].fillna(False).to_numpy(dtype=bool)
        why.append("significant")
    if parks is not None and opening is not None and len(parks):
        src = opening["opening_year_source"].reindex(clusters.index).fillna("")
        keep &= (src == "registry").to_numpy()
        why.append("matched to the registry")
    out = clusters[keep]
    out.attrs["selection"] = " and ".join(why) if why else "all clusters"
    return out
