"""Cross-sectional companions of :mod:`clusterscape.effects.did`: co-location, distance decay, sizes.

Re-exported by :mod:`clusterscape.effects.did`; see the docstrings for definitions and citations.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clusterscape._validation import check_choice, check_columns, check_positive
from clusterscape.errors import CRSError, InvalidInputError

__all__ = ["SizeDistribution", "amenity_colocation", "distance_decay", "size_distribution"]

_M2_PER_KM2 = 1e6


def _metric(gdf: Any, *, caller: str, what: str) -> Any:
    from clusterscape.coords import to_local_metric

    if not hasattr(gdf, "geometry"):
        raise InvalidInputError(
            f"{caller}: {what} must be a GeoDataFrame, got {type(gdf).__name__}."
        )
    return to_local_metric(gdf)


def _clusters_metric(clusters: Any, *, caller: str) -> Any:
    if not hasattr(clusters, "geometry"):
        raise InvalidInputError(
            f"{caller}: clusters must be a GeoDataFrame of footprints (ClusterResult.clusters), "
            f"got {type(clusters).__name__}."
        )
    if clusters.crs is None or not clusters.crs.is_projected:
        raise CRSError(
            f"{caller}: clusters must be in a local metric CRS (metres), as detect_clusters "
            "returns them; project with clusterscape.coords.to_local_metric(clusters)."
        )
    if len(clusters) == 0:
        raise InvalidInputError(f"{caller}: there are no clusters to analyse.")
    return clusters


_SPLIT_CACHE: dict[bytes, tuple[np.ndarray, ...]] = {}


def _nearest_neighbours(xy: np.ndarray) -> tuple[np.ndarray, ...]:
    """The nearest-neighbour split of the pattern module for these points, computed once.

    A run asks for the co-location of each amenity among the same establishments; the
    nearest neighbours depend on the coordinates only, so the last points' split is kept
    (keyed by a digest of the coordinates; callers must not modify the arrays).
    """
    import hashlib

    from clusterscape.measure.pattern._colocation import _nearest_split

    xy = np.ascontiguousarray(xy, dtype=float)
    key = hashlib.blake2b(xy.tobytes(), digest_size=16).digest() + repr(xy.shape).encode()
    if key not in _SPLIT_CACHE:
        _SPLIT_CACHE.clear()
        _SPLIT_CACHE[key] = _nearest_split(xy)
    return _SPLIT_CACHE[key]


def _clq_a_to_b(
    codes: np.ndarray, nn: np.ndarray, ti: np.ndarray, tj: np.ndarray, tw: np.ndarray
) -> float:
    """CLQ of code 0 towards code 1 from the nearest-neighbour split.

    The arithmetic of :func:`clusterscape.measure.pattern.colocation_quotient`, with the
    edges in the same order, so the value is the same to the last bit.
    """
    single = np.flatnonzero(nn >= 0)
    source = np.concatenate([single, ti])
    by_source = np.argsort(source, kind="stable")
    target = np.concatenate([nn[single], tj])[by_source]
    share = np.concatenate([np.ones(single.size), tw])[by_source]
    from_a = codes[source[by_source]] == 0
    c_ab = float((share[from_a] * (codes[target[from_a]] == 1)).sum())
    n, na, nb = len(codes), int((codes == 0).sum()), int((codes == 1).sum())
    return (c_ab / na) / (nb / (n - 1))


def amenity_colocation(
    establishments: Any,
    *,
    amenity: str = "hotel",
    source: str = "creative",
    permutations: int = 99,
    seed: int | None = 0,
) -> dict[str, Any]:
    """Global co-location quotient CLQ(creative -> amenity) with a random-labelling test.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        Classified establishments (any CRS) with ``function`` and ``is_creative`` (for
        ``source="creative"``) or ``cluster`` (for ``source="cluster"``: members, label >= 0).
    amenity : str, default "hotel"
        ``function`` value of the B points.
    source : {"creative", "cluster"}
        The A points: creative firms, or members of detected clusters.
    permutations : int, default 99
        Random relabellings of all points (counts of A and B kept), as ArcGIS's default.
    seed : int or None, default 0

    Returns
    -------
    dict
        ``clq``, ``p_value`` (one-sided, attraction: (1 + #{CLQ_sim >= CLQ}) /
        (permutations + 1)), ``expected`` (1 under independence), ``n_a``, ``n_b``, ``n``.

    Notes
    -----
    CLQ_{A->B} = (C_{A->B} / N_A) / (N_B / (N - 1)) with C_{A->B} the number of A points whose
    nearest neighbour (among all other points) is a B, all ties at the nearest distance split
    fractionally (:func:`clusterscape.measure.pattern.colocation_quotient`, which computes it) (Leslie & Kronenfeld 2011, *Geographical Analysis* 43(3):306–326). The
    asymmetric measure asks: do creative firms have amenities as nearest neighbours more often
    than the amenities' share of all points predicts?
    """
    from clusterscape._validation import as_xy

    caller = "amenity_colocation"
    check_choice(source, {"creative", "cluster"}, "source", caller=caller)
    est = _metric(establishments, caller=caller, what="establishments")
    need = ["function", "is_creative" if source == "creative" else "cluster"]
    check_columns(est, need, caller=caller, what="establishments table")
    if isinstance(permutations, bool) or int(permutations) != permutations or permutations < 0:
        raise InvalidInputError(
            f"{caller}: permutations must be an integer >= 0, got {permutations!r}."
        )
    xy = as_xy(est, caller=caller, min_points=3)
    is_b = (est["function"].astype(str) == amenity).to_numpy()
    if source == "creative":
        is_a = est["is_creative"].fillna(False).to_numpy(dtype=bool)
    else:
        is_a = pd.to_numeric(est["cluster"], errors="coerce").fillna(-1).to_numpy() >= 0
    is_a = is_a & ~is_b
    n, n_a, n_b = len(xy), int(is_a.sum()), int(is_b.sum())
    if n_a == 0 or n_b == 0:
        raise InvalidInputError(
            f"{caller}: needs both kinds of points, got {n_a} {source} and {n_b} {amenity!r}."
        )
    # the global CLQ of the pattern module: every nearest neighbour, ties at the nearest
    # distance sharing the weight (no cap on their number)
    from clusterscape.measure.pattern._colocation import _count_matrix, _perm_counts

    codes = np.where(is_a, 0, np.where(is_b, 1, 2)).astype(np.int64)
    nn, ti, tj, tw, order = _nearest_neighbours(np.asarray(xy, dtype=float))
    obs = _clq_a_to_b(codes, nn, ti, tj, tw)
    if permutations:
        cnt = _count_matrix(codes, 3, nn, ti, tj, tw)
        s = int(np.random.default_rng(seed).integers(0, 2**63 - 1))
        ge, _le, _tot, _sims = _perm_counts(
            codes, nn, ti, tj, tw, order, 3, cnt, int(permutations), s
        )
        p = float((1 + ge[0, 1]) / (permutations + 1))
    else:
        p = float("nan")
    return {
        "clq": obs,
        "p_value": p,
        "expected": 1.0,
        "n_a": n_a,
        "n_b": n_b,
        "n": n,
        "source": source,
        "amenity": amenity,
        "permutations": int(permutations),
        "seed": seed,
    }


def distance_decay(
    establishments: Any,
    clusters: Any,
    *,
    amenity: str = "hotel",
    bins_m: Sequence[float] = (0, 250, 500, 1000, 1500, 2000, 3000, 4000),
    study_area: Any = None,
) -> pd.DataFrame:
    """Amenity density by distance to the nearest cluster, against the city-wide baseline.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        With ``function`` (and ``closed``: rows closed are left out, the stock is the current
        one).
    clusters : geopandas.GeoDataFrame
        Footprints in a local metric CRS.
    amenity : str, default "hotel"
    bins_m : sequence of float
        Distance band edges in metres (distance to the union of footprints, 0 inside).
    study_area : shapely geometry, optional
        The city (same CRS as clusters) for the bands' areas and the baseline. Default: the
        convex hull of all establishments.

    Returns
    -------
    pandas.DataFrame
        ``lower_m, upper_m, n, area_km2, density_per_km2, baseline_per_km2, ratio`` (density /
        baseline; 1 = no concentration near clusters).
    """
    import shapely

    caller = "distance_decay"
    cl = _clusters_metric(clusters, caller=caller)
    est = _metric(establishments, caller=caller, what="establishments")
    check_columns(est, ["function"], caller=caller, what="establishments table")
    edges = np.asarray(bins_m, dtype=float)
    if edges.size < 2 or edges[0] < 0 or np.any(np.diff(edges) <= 0):
        raise InvalidInputError(
            f"{caller}: bins_m must be increasing distances >= 0, got {tuple(bins_m)}."
        )
    est = est.to_crs(cl.crs)
    area = (
        study_area
        if study_area is not None
        else shapely.convex_hull(shapely.union_all(est.geometry.to_numpy()))
    )
    active = est["closed"].isna().to_numpy() if "closed" in est.columns else np.ones(len(est), bool)
    pts = est.geometry.to_numpy()[(est["function"].astype(str) == amenity).to_numpy() & active]
    pts = pts[shapely.intersects_xy(area, shapely.get_x(pts), shapely.get_y(pts))]
    foot = shapely.union_all(cl.geometry.to_numpy())
    d = shapely.distance(foot, pts)
    rings = [shapely.intersection(foot if e == 0 else shapely.buffer(foot, e), area) for e in edges]
    cum = np.array([shapely.area(g) for g in rings]) / _M2_PER_KM2
    ring_area = np.diff(cum)
    ring_area[0] = cum[1] if edges[0] == 0 else ring_area[0]
    n = np.array([((d >= lo) & (d < hi)).sum() for lo, hi in itertools.pairwise(edges)])
    base = pts.size / (shapely.area(area) / _M2_PER_KM2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = n / ring_area
    return pd.DataFrame(
        {
            "lower_m": edges[:-1],
            "upper_m": edges[1:],
            "n": n,
            "area_km2": ring_area,
            "density_per_km2": dens,
            "baseline_per_km2": base,
            "ratio": dens / base if base > 0 else np.nan,
        }
    )


@dataclass(frozen=True, slots=True)
class SizeDistribution:
    """Rank–size table of clusters, Zipf exponent and the large-scale verdict.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per cluster, largest first: ``cluster_id, rank, n, employees, area_m2``, one
        ``meets_<criterion>`` column per threshold and ``large_scale``.
    zipf_exponent : float
        Pareto/Zipf exponent zeta of cluster size (firms), Gabaix–Ibragimov rank-1/2 regression.
    zipf_se : float
        Its standard error, zeta * sqrt(2 / N) (Gabaix & Ibragimov 2011).
    large_scale : bool
        At least one cluster is large-scale.
    n_large : int
    params : Mapping
    """

    table: pd.DataFrame
    zipf_exponent: float
    zipf_se: float
    large_scale: bool
    n_large: int
    params: Mapping[str, Any] = field(default_factory=dict)


def size_distribution(
    clusters: pd.DataFrame,
    *,
    thresholds: Mapping[str, float] | None = None,
    rule: str = "all",
) -> SizeDistribution:
    """Rank–size distribution of clusters and a verdict on "large-scale" clusters.

    Parameters
    ----------
    clusters : pandas.DataFrame or geopandas.GeoDataFrame
        ``ClusterResult.clusters``: index cluster_id, columns ``n`` (firms) and, for their
        thresholds, ``employees`` and ``area_m2``.
    thresholds : mapping, default {"n": 500, "employees": 10000, "area_m2": 2e6}
        Minimum firms, employees and footprint area (m²) of a large-scale cluster. The defaults
        are the project's reading of "large-scale" for a Chinese creative park (hundreds of
        firms, ten thousand jobs, 2 km²); set your own.
    rule : {"all", "any"}, default "all"
        A cluster is large-scale when it meets all (or any) of the thresholds. A criterion whose
        value is missing (NaN) is not met.

    Returns
    -------
    SizeDistribution

    Notes
    -----
    Zipf exponent: OLS of log(rank - 1/2) on log(size) over all clusters, zeta = -slope, with
    standard error zeta sqrt(2/N) (Gabaix X. & Ibragimov R. 2011, *Journal of Business &
    Economic Statistics* 29(1):24–39). zeta near 1 is Zipf's law (rank x size constant).
    NaN with fewer than 3 clusters.
    """
    caller = "size_distribution"
    check_choice(rule, {"all", "any"}, "rule", caller=caller)
    thr = dict(
        {"n": 500.0, "employees": 10000.0, "area_m2": 2e6} if thresholds is None else thresholds
    )
    check_columns(clusters, ["n", *thr.keys()], caller=caller, what="clusters table")
    for k, v in thr.items():
        check_positive(float(v), f"thresholds[{k!r}]", caller=caller)
    cols = ["n", *[k for k in ("employees", "area_m2") if k in clusters.columns and k != "n"]]
    tab = pd.DataFrame(clusters[cols]).copy()
    tab.index.name = "cluster_id"
    tab = tab.reset_index()
    sizes = pd.to_numeric(tab["n"], errors="coerce").to_numpy(dtype=float)
    order = np.argsort(-sizes, kind="stable")
    tab = tab.iloc[order].reset_index(drop=True)
    tab.insert(1, "rank", np.arange(1, len(tab) + 1))
    meets = []
    for k, v in thr.items():
        val = pd.to_numeric(pd.DataFrame(clusters)[k], errors="coerce").to_numpy(dtype=float)[order]
        tab[f"meets_{k}"] = np.nan_to_num(val, nan=-np.inf) >= float(v)
        meets.append(tab[f"meets_{k}"].to_numpy())
    m = np.column_stack(meets) if meets else np.zeros((len(tab), 1), bool)
    verdict = np.asarray(m.all(axis=1) if rule == "all" else m.any(axis=1), dtype=bool)
    tab["large_scale"] = verdict
    s = sizes[order]
    ok = s > 0
    if ok.sum() >= 3:
        slope = np.polyfit(np.log(s[ok]), np.log(np.arange(1, ok.sum() + 1) - 0.5), 1)[0]
        zeta = float(-slope)
        zse = float(zeta * np.sqrt(2.0 / ok.sum()))
    else:
        zeta = zse = float("nan")
    n_large = int(tab["large_scale"].sum())
    return SizeDistribution(
        table=tab,
        zipf_exponent=zeta,
        zipf_se=zse,
        large_scale=n_large > 0,
        n_large=n_large,
        params={"thresholds": thr, "rule": rule, "n_clusters": len(tab)},
    )
