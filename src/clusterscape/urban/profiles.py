"""District profiles (creative LQ, Krugman, diversity) and the urban context of clusters."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from clusterscape._validation import check_columns
from clusterscape.errors import InvalidInputError
from clusterscape.measure.indices import krugman, location_quotient
from clusterscape.urban._common import FUNCTIONS, function_codes, project_points, shannon
from clusterscape.urban.centres import CentreResult

__all__ = ["cluster_context", "district_profiles", "urban_summary"]


#: up to this many polygons, each is tested against the points inside its envelope
_FEW_POLYGONS = 256


def _assign_to_polygons(xy: np.ndarray, polys: gpd.GeoSeries) -> np.ndarray:
    """Index of the first polygon (in ``polys`` order) that each point intersects, else -1.

    A few polygons (districts) are each prepared once and tested against the points inside
    their envelope that no earlier polygon took (GEOS's indexed point-in-area test, the same
    answer as ``point.intersects(polygon)``): an ``STRtree.query(points,
    predicate="intersects")`` over 150,000 establishments in a dozen district polygons took
    seconds. Many polygons (grid cells) go through that tree query.
    """
    geoms = polys.to_numpy()
    out = np.full(len(xy), -1, dtype=np.int64)
    if len(geoms) > _FEW_POLYGONS:
        pi, ui = shapely.STRtree(geoms).query(shapely.points(xy), predicate="intersects")
        order = np.lexsort((ui, pi))
        pi, ui = pi[order], ui[order]
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.array([], dtype=bool)
        out[pi[first]] = ui[first]
        return out
    x, y = xy[:, 0], xy[:, 1]
    for i, poly in enumerate(geoms):
        if poly is None or shapely.is_empty(poly):
            continue
        x0, y0, x1, y1 = shapely.bounds(poly)
        cand = np.flatnonzero((out < 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
        if not len(cand):
            continue
        prepared = bool(shapely.is_prepared(poly))
        shapely.prepare(poly)
        out[cand[shapely.intersects_xy(poly, x[cand], y[cand])]] = i
        if not prepared:  # leave the caller's geometry as it was
            shapely.destroy_prepared(poly)
    return out


def district_profiles(
    establishments: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    *,
    sector_col: str = "sector",
    name_col: str | None = None,
    function_col: str = "function",
    employees_col: str = "employees",
) -> pd.DataFrame:
    """Profile every district: creative LQ by sector, Krugman specialisation, diversity, shares.

    Parameters
    ----------
    establishments : GeoDataFrame
        Classified establishments (points, any CRS) with ``sector`` (``""`` if not creative),
        ``is_creative``, ``function`` and, optionally, ``employees``.
    districts : GeoDataFrame
        District polygons (any CRS). A point on a shared edge counts for the first district.
    sector_col, function_col, employees_col : str
        Column names.
    name_col : str or None
        District column used as the output index; default the districts' own index.

    Returns
    -------
    DataFrame
        One row per district (index = ``name_col`` or the districts' index) with
        ``n_establishments``; ``n_creative``; ``creative_share_establishments``;
        ``employees`` and ``creative_employees`` (sums of known headcounts) and
        ``creative_share_employment`` (NaN when no headcount is known in the district);
        ``lq_<sector>`` for every creative sector present: the LQ of the sector's establishment
        count against **all** establishments, i.e. EconGeo's ``location_quotient`` on the
        district × (creative sectors + one "non-creative" column) matrix;
        ``lq_creative`` (all creative sectors together); ``krugman_sector`` (Krugman index of
        the creative sector mix, district vs city, over creative establishments) and
        ``krugman_function`` (the same over the 16 functions, all establishments);
        ``sector_entropy`` and ``function_entropy`` (Shannon diversity, nats).

    Notes
    -----
    ``LQ = (x_ri / x_r) / (x_i / x)``; ``K_r = Σ_i |s_ri − s_i|`` without the ½ some texts use;
    ``H = −Σ p ln p``. LQ and Krugman come from :mod:`clusterscape.measure.indices` (EconGeo parity).
    Establishments outside every district are left out of all totals (the
    city benchmark is the sum of the districts). Establishments with unknown headcount take no
    part in the employment shares.

    References
    ----------
    Krugman P. 1991. *Geography and Trade*. Balland P.A. 2017, EconGeo (PEEG 1709).
    Shannon C. 1948. *Bell System Technical Journal* 27:379–423.
    """
    caller = "district_profiles"
    gdf, xy, crs = project_points(establishments, caller=caller)
    check_columns(gdf, [sector_col, "is_creative"], caller=caller, what="establishments table")
    if not isinstance(districts, gpd.GeoDataFrame) or districts.crs is None:
        raise InvalidInputError(
            f"{caller}: districts must be a GeoDataFrame of polygons with a CRS "
            "(e.g. datasets.ningbo().districts)."
        )
    if name_col is not None:
        check_columns(districts, [name_col], caller=caller, what="districts table")
    codes = function_codes(gdf, column=function_col, caller=caller)
    polys = districts.geometry.to_crs(crs)
    which = _assign_to_polygons(xy, polys)
    names = pd.Index(
        districts[name_col] if name_col else districts.index, name=name_col or "district"
    )
    nd = len(districts)
    inside = which >= 0

    creative = gdf["is_creative"].fillna(False).to_numpy(dtype=bool)
    sector = gdf[sector_col].astype("string").fillna("").to_numpy(dtype=object)
    sector = np.where(creative, sector, "")
    sectors = sorted({s for s in sector[creative & inside] if s})
    if creative.any() and "" in set(sector[creative]):
        sectors_all = [*sectors, "unspecified"]
        sector = np.where(creative & (sector == ""), "unspecified", sector)
    else:
        sectors_all = sectors
    sec_index = {s: j for j, s in enumerate(sectors_all)}

    w = which[inside]
    n_est = np.bincount(w, minlength=nd).astype(float)
    cr_in = creative[inside]
    n_cr = np.bincount(w[cr_in], minlength=nd).astype(float)

    ks = len(sectors_all)
    sec_codes = np.array([sec_index.get(s, -1) for s in sector[inside]], dtype=np.int64)
    sm = np.zeros((nd, ks + 1))
    if ks:
        ok = cr_in & (sec_codes >= 0)
        np.add.at(sm, (w[ok], sec_codes[ok]), 1.0)
    sm[:, ks] = n_est - sm[:, :ks].sum(axis=1)  # non-creative column
    if n_est.sum() == 0:
        raise InvalidInputError(
            f"{caller}: no establishment falls inside any district; check that both tables "
            "cover the same city and that GCJ-02 data were converted to WGS-84."
        )
    lq = location_quotient(sm).to_numpy()

    fm = np.zeros((nd, len(FUNCTIONS)))
    np.add.at(fm, (w, codes[inside]), 1.0)

    if employees_col in gdf.columns:
        emp = pd.to_numeric(gdf[employees_col], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
    else:
        emp = np.full(len(gdf), np.nan)
    emp_in = emp[inside]
    known = np.isfinite(emp_in)
    emp_tot = np.bincount(w[known], weights=emp_in[known], minlength=nd)
    emp_cr = np.bincount(w[known & cr_in], weights=emp_in[known & cr_in], minlength=nd)
    has_emp = np.bincount(w[known], minlength=nd) > 0

    out = pd.DataFrame(index=names)
    out["n_establishments"] = n_est.astype(np.int64)
    out["n_creative"] = n_cr.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["creative_share_establishments"] = np.where(n_est > 0, n_cr / n_est, np.nan)
        out["employees"] = np.where(has_emp, emp_tot, np.nan)
        out["creative_employees"] = np.where(has_emp, emp_cr, np.nan)
        out["creative_share_employment"] = np.where(
            has_emp & (emp_tot > 0), emp_cr / np.where(emp_tot > 0, emp_tot, 1.0), np.nan
        )
    for s, j in sec_index.items():
        out[f"lq_{s}"] = lq[:, j]
    both = np.column_stack([sm[:, :ks].sum(axis=1), sm[:, ks]])
    out["lq_creative"] = location_quotient(both).to_numpy()[:, 0]
    out["krugman_sector"] = krugman(sm[:, :ks]).to_numpy() if ks else np.nan
    out["krugman_function"] = krugman(fm).to_numpy()
    out["sector_entropy"] = shannon(sm[:, :ks]) if ks else 0.0
    out["function_entropy"] = shannon(fm)
    out.attrs["n_outside_districts"] = int((~inside).sum())
    return out


def _centre_frame(centres: Any) -> gpd.GeoDataFrame:
    frame = centres.centres if isinstance(centres, CentreResult) else centres
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInputError(
            "cluster_context: centres must be a CentreResult or the GeoDataFrame from "
            f"urban_centres(...).centres, got {type(centres).__name__}."
        )
    check_columns(frame, ["rank", "kind"], caller="cluster_context", what="centres table")
    return frame


def cluster_context(
    clusters: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    centres: CentreResult | gpd.GeoDataFrame,
) -> pd.DataFrame:
    """For each cluster: the functional zone it sits in and the nearest urban centre.

    Parameters
    ----------
    clusters : GeoDataFrame
        ``ClusterResult.clusters`` (index ``cluster_id``). The cluster's point is
        (``centroid_x``, ``centroid_y``) when present, else its footprint's representative point.
    zones : GeoDataFrame
        Output of :func:`functional_zones`.
    centres : CentreResult or GeoDataFrame
        Output of :func:`urban_centres` (or its ``centres``).

    Returns
    -------
    DataFrame
        Indexed like ``clusters`` with ``zone_id``, ``zone_label`` (``"outside"`` if the point is
        in no unit), ``centre_rank`` and ``centre_kind`` of the nearest centre (``<NA>`` when
        there is none) and ``distance_to_centre_m`` (Euclidean, metres, in the clusters' CRS).
    """
    caller = "cluster_context"
    if not isinstance(clusters, gpd.GeoDataFrame) or clusters.crs is None:
        raise InvalidInputError(f"{caller}: clusters must be a GeoDataFrame with a CRS.")
    if not clusters.crs.is_projected:
        clusters = clusters.to_crs(zones.crs) if zones.crs is not None else clusters
    check_columns(zones, ["unit_id", "label"], caller=caller, what="zones table")
    crs = clusters.crs
    if {"centroid_x", "centroid_y"} <= set(clusters.columns):
        xy = clusters[["centroid_x", "centroid_y"]].to_numpy(dtype=float)
    else:
        rp = clusters.geometry.representative_point()
        xy = np.column_stack([rp.x.to_numpy(dtype=float), rp.y.to_numpy(dtype=float)])
    zpoly = zones.geometry.to_crs(crs)
    which = _assign_to_polygons(xy, zpoly)
    zid = zones["unit_id"].astype("string").to_numpy(dtype=object)
    zlab = zones["label"].astype("string").to_numpy(dtype=object)
    out = pd.DataFrame(index=clusters.index)
    out["zone_id"] = pd.array([zid[i] if i >= 0 else pd.NA for i in which], dtype="string")
    out["zone_label"] = pd.array([zlab[i] if i >= 0 else "outside" for i in which], dtype="string")
    cf = _centre_frame(centres)
    if len(cf) == 0 or len(clusters) == 0:
        out["centre_rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["centre_kind"] = pd.array([pd.NA] * len(out), dtype="string")
        out["distance_to_centre_m"] = np.nan
        return out
    cg = cf.geometry.to_crs(crs)
    cxy = np.column_stack([cg.x.to_numpy(dtype=float), cg.y.to_numpy(dtype=float)])
    d = np.hypot(xy[:, None, 0] - cxy[None, :, 0], xy[:, None, 1] - cxy[None, :, 1])
    j = np.argmin(d, axis=1)
    out["centre_rank"] = pd.array(cf["rank"].to_numpy()[j], dtype="Int64")
    out["centre_kind"] = pd.array(
        cf["kind"].astype("string").to_numpy(dtype=object)[j], dtype="string"
    )
    out["distance_to_centre_m"] = d[np.arange(len(xy)), j]
    return out


def urban_summary(zones: gpd.GeoDataFrame, centres: CentreResult) -> dict[str, Any]:
    """The ``summary.json`` entries: ``centres`` (list of dicts) and ``functional_zones`` counts.

    ``centres`` holds ``{lon, lat, kind, rank, n_establishments}`` per centre (plus ``share``)
    and ``polycentricity``; ``functional_zones`` maps each label to its number of units.
    """
    cf = centres.centres
    items = [
        {
            "lon": float(r.lon),
            "lat": float(r.lat),
            "kind": str(r.kind),
            "rank": int(r.rank),
            "n_establishments": float(r.n_establishments)
            if not float(r.n_establishments).is_integer()
            else int(r.n_establishments),
            "share": float(r.share),
        }
        for r in cf.itertuples()
    ]
    counts = zones["label"].astype("string").value_counts()
    poly = centres.polycentricity
    return {
        "centres": items,
        "polycentricity": None if not np.isfinite(poly) else float(poly),
        "functional_zones": {str(k): int(v) for k, v in counts.items()},
    }
