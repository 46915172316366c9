"""One call for the whole published-study chain on a set of establishments (a pipeline step).

:func:`published_recipe` runs, on one set of points (e.g. the creative establishments of a
study): average nearest neighbour in the study area, the standard deviational ellipse of all
points and of the cumulative stock per opening year (with the shift of its centre), the ArcGIS
kernel density, Moran's I and the LISA of density on square cells inside the study area, and
GeoDetector (with OPGD) of cell density against the distance from each cell to the nearest
feature of each factor layer (universities, metro stations, commercial centres, parks, ...).

It is self-contained: it reads nothing and writes nothing, so the pipeline (``clusterscape run``)
and the report can call it and lay out its tables and maps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from clusterscape._validation import as_xy, check_positive
from clusterscape.coords import to_local_metric
from clusterscape.errors import InvalidInputError
from clusterscape.explain.factors import FactorLayer
from clusterscape.explain.geodetector import GeoDetectorResult, geodetector
from clusterscape.measure.autocorrelation import MoranResult, local_moran, moran
from clusterscape.measure.centrography import (
    ANNResult,
    EllipseResult,
    average_nearest_neighbour,
    ellipse_shift,
    standard_deviational_ellipse,
)
from clusterscape.measure.kde import KDEResult, kernel_density
from clusterscape.measure.sweep import queen_lattice

__all__ = ["RecipeResult", "RecipeStep", "published_recipe", "recipe_step", "study_methods"]


@dataclass(frozen=True, slots=True)
class RecipeResult:
    """The chain's results (metres, in ``params["crs"]``).

    Attributes
    ----------
    ann : ANNResult
        Average nearest neighbour in the study area (or the minimum enclosing rectangle).
    ellipse : EllipseResult
        Standard deviational ellipse of all points.
    ellipse_path : pandas.DataFrame
        :func:`~clusterscape.measure.centrography.ellipse_shift` of the cumulative stock per
        year (points opened up to that year); empty without a year column.
    kde : KDEResult
        ArcGIS-preset kernel density (per km²).
    cells : geopandas.GeoDataFrame
        Square cells whose centre is inside the study area: ``count``, ``density_per_km2``, the
        LISA columns (``lisa``, ``z``, ``p_sim``, ``quadrant``, ``label``) and one
        ``dist_<factor>_m`` column per factor layer.
    moran : MoranResult
        Global Moran's I of cell density (queen contiguity, row-standardised).
    geodetector : GeoDetectorResult or None
        Cell density against the factor distances; None without factor layers.
    params : Mapping
        cell_m, permutations, seed, crs, year column, factor names.
    """

    ann: ANNResult
    ellipse: EllipseResult
    ellipse_path: pd.DataFrame
    kde: KDEResult
    cells: gpd.GeoDataFrame
    moran: MoranResult
    geodetector: GeoDetectorResult | None
    params: Mapping[str, object] = field(default_factory=dict)


def _years(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.year.astype("Int64")
    return pd.to_numeric(values, errors="coerce").astype("Int64")


def published_recipe(
    points: gpd.GeoDataFrame,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    factors: Mapping[str, gpd.GeoDataFrame | gpd.GeoSeries] | None = None,
    year: str | None = "opened",
    cell_m: float = 500.0,
    permutations: int = 999,
    seed: int | None = 0,
    fdr: bool = False,
    weight: str | None = None,
) -> RecipeResult:
    """Run ANN, SDE per year, kernel density, Moran/LISA on cells and GeoDetector on ``points``.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Point establishments with a CRS (projected to a local UTM zone when geographic).
    area : GeoDataFrame or GeoSeries, optional
        The study area (e.g. the city boundary). Default: the points' minimum enclosing
        rectangle for ANN and their extent for the cells.
    factors : mapping of name -> GeoDataFrame/GeoSeries, optional
        Factor layers (points, lines or polygons; a representative point of each feature is
        used). Each becomes a ``dist_<name>_m`` column, the distance from a cell's centre to the
        nearest feature, and a GeoDetector factor.
    year : str or None, default "opened"
        Column with the opening year (integers or datetimes) for the ellipse path; None or a
        missing column skips it. Rows with no year are left out of the path only.
    cell_m : float, default 500
        Cell size for Moran, LISA and GeoDetector.
    permutations : int, default 999
    seed : int or None, default 0
    fdr : bool, default False
        Benjamini–Hochberg labels for the LISA.
    weight : str, optional
        Column of ``points`` with a count per point (e.g. ``stack_rows``, the rows stacked at
        one address under ``stack="weight"``): the ellipse, the kernel density (ArcGIS
        population field) and the cell counts of Moran/LISA count each point that many
        times; ANN, which has no weighted form, sees each point once.

    Returns
    -------
    RecipeResult
    """
    caller = "published_recipe"
    if not isinstance(points, gpd.GeoDataFrame):
        raise InvalidInputError(
            f"{caller}: points must be a GeoDataFrame, got {type(points).__name__}."
        )
    check_positive(cell_m, "cell_m", caller=caller)
    metric = to_local_metric(points)
    xy = as_xy(metric.geometry, caller=caller, min_points=3)
    crs = metric.crs
    window = None
    if area is not None:
        window = to_local_metric(area).to_crs(crs).union_all()
    wts = None
    if weight is not None:
        wts = pd.to_numeric(metric[weight], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(wts).all() and (wts >= 0).all()):
            raise InvalidInputError(
                f"{caller}: weight column {weight!r} must hold a finite count >= 0 on every row."
            )
    ann = average_nearest_neighbour(xy, window=window)
    ellipse = standard_deviational_ellipse(xy, weights=wts)

    path = pd.DataFrame()
    if year is not None and year in metric.columns:
        yrs = _years(metric[year])
        known = yrs.notna().to_numpy()
        if known.sum() >= 3:
            pts_y, yrs_k = xy[known], yrs[known].to_numpy(dtype=np.int64)
            stock = []
            for y in np.unique(yrs_k):
                sel = yrs_k <= y
                stock.append(pd.DataFrame({"x": pts_y[sel, 0], "y": pts_y[sel, 1], "year": y}))
            path = ellipse_shift(pd.concat(stock, ignore_index=True), year="year")

    if window is not None:
        xmin, ymin, xmax, ymax = window.bounds
    else:
        (xmin, ymin), (xmax, ymax) = xy.min(axis=0), xy.max(axis=0)
    kde = kernel_density(xy, weights=wts, preset="arcgis", extent=(xmin, ymin, xmax, ymax))

    n_cols = max(1, int(np.ceil((xmax - xmin) / cell_m)))
    n_rows = max(1, int(np.ceil((ymax - ymin) / cell_m)))
    c = np.clip(((xy[:, 0] - xmin) // cell_m).astype(np.int64), 0, n_cols - 1)
    r = np.clip(((xy[:, 1] - ymin) // cell_m).astype(np.int64), 0, n_rows - 1)
    counts = np.bincount(r * n_cols + c, weights=wts, minlength=n_rows * n_cols).astype(float)
    rr, cc = np.divmod(np.arange(n_rows * n_cols), n_cols)
    cx, cy = xmin + (cc + 0.5) * cell_m, ymin + (rr + 0.5) * cell_m
    if window is not None:
        import shapely

        keep = shapely.contains_xy(window, cx, cy) | (counts > 0)
    else:
        keep = np.ones(counts.size, dtype=bool)
    w = queen_lattice(n_rows, n_cols)[keep][:, keep]
    idx = np.flatnonzero(keep)
    density = counts[idx] / (cell_m * cell_m / 1e6)
    if idx.size < 9 or np.ptp(density) == 0:
        raise InvalidInputError(
            f"{caller}: {idx.size} cells of {cell_m:g} m with {'no' if np.ptp(density) == 0 else 'some'} "
            "variation in density; use smaller cells or a larger area."
        )
    import shapely

    cells = gpd.GeoDataFrame(
        {"row": rr[idx], "col": cc[idx], "count": counts[idx], "density_per_km2": density},
        geometry=shapely.box(
            cx[idx] - cell_m / 2, cy[idx] - cell_m / 2, cx[idx] + cell_m / 2, cy[idx] + cell_m / 2
        ),
        crs=crs,
    )
    global_i = moran(density, w, permutations=permutations, seed=seed)
    lisa = local_moran(density, w, permutations=permutations, seed=seed, fdr=fdr)
    for col in ("lisa", "z", "p_sim", "quadrant", "label"):
        cells[col] = lisa[col].to_numpy()

    gd = None
    names: list[str] = []
    if factors:
        centres = np.column_stack([cx[idx], cy[idx]])
        for name, layer in factors.items():
            if layer is None or len(layer) == 0:
                raise InvalidInputError(f"{caller}: factor layer {name!r} is empty.")
            geom = to_local_metric(layer).to_crs(crs)
            geom = geom.geometry if hasattr(geom, "geometry") else geom
            fxy = as_xy(geom.representative_point(), caller=caller)
            col = f"dist_{name}_m"
            cells[col] = cKDTree(fxy).query(centres)[0]
            names.append(col)
        gd = geodetector(pd.DataFrame(cells.drop(columns="geometry")), "density_per_km2", names)

    return RecipeResult(
        ann=ann,
        ellipse=ellipse,
        ellipse_path=path,
        kde=kde,
        cells=cells,
        moran=global_i,
        geodetector=gd,
        params={
            "cell_m": cell_m,
            "permutations": permutations,
            "seed": seed,
            "crs": crs.to_string(),
            "year": year,
            "factors": names,
            "fdr": fdr,
        },
    )


# --- the pipeline step (``clusterscape run``) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecipeStep:
    """What :func:`recipe_step` adds to a study: tables, layers (EPSG:4326) and a summary.

    Every part (``nearest_neighbour``, ``ellipse``, ``kernel_density``, ``moran``,
    ``geodetector``) has a status in ``summary``: ``"done"`` with its numbers, or
    ``"skipped: ..."`` / ``"failed: ..."`` with the reason; skipped factors are listed in the
    ``geodetector_factors`` table with their reason.
    """

    tables: Mapping[str, pd.DataFrame]
    layers: Mapping[str, gpd.GeoDataFrame]
    summary: Mapping[str, object]
    params: Mapping[str, object] = field(default_factory=dict)


#: names and categories of establishments that are rail/metro stations (transit factor)
TRANSIT_PATTERN = (
    r"地铁|轨道交通|火车站|高铁站|轻轨|subway|metro|railway station|train station|light rail"
)
#: land-use polygons counted as heritage / former industrial land
HERITAGE_PATTERN = (
    r"industr|heritage|historic|factory|mill|dock|warehouse|工业|工厂|厂|历史|遗产|仓库|码头"
)


def _universities_from(est: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    from clusterscape.datasets._context import NOT_UNIVERSITY_PATTERN, UNIVERSITY_PATTERN

    if "name" not in est.columns:
        return est.iloc[:0]
    names = est["name"].astype("string").fillna("")
    keep = names.str.contains(UNIVERSITY_PATTERN) & ~names.str.contains(NOT_UNIVERSITY_PATTERN)
    if "function" in est.columns:
        keep &= est["function"].astype("string").fillna("") == "education"
    return est[keep.fillna(False).to_numpy(dtype=bool)]


def _transit_from(est: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "synthetic" in est.columns and bool(est["synthetic"].fillna(False).all()):
        return est.iloc[:0]  # synthetic stops are not a transit network
    text = pd.Series("", index=est.index, dtype="string")
    for col in ("name", "category"):
        if col in est.columns:
            text = text + " " + est[col].astype("string").fillna("")
    keep = text.str.contains(TRANSIT_PATTERN, case=False, regex=True).fillna(False)
    return est[keep.to_numpy(dtype=bool)]


def _heritage_land(landuse: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    keep = np.zeros(len(landuse), dtype=bool)
    for col in ("landuse", "former_use"):
        if col in landuse.columns:
            keep |= (
                landuse[col]
                .astype("string")
                .fillna("")
                .str.contains(HERITAGE_PATTERN, case=False, regex=True)
                .to_numpy(dtype=bool)
            )
    if "industrial_until" in landuse.columns:
        keep |= landuse["industrial_until"].notna().to_numpy(dtype=bool)
    return landuse[keep]


def _status(exc: Exception) -> str:
    return f"failed: {' '.join(str(exc).split())}"


def recipe_step(
    establishments: gpd.GeoDataFrame,
    *,
    window: object,
    centres: gpd.GeoDataFrame | None = None,
    parks: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    universities: gpd.GeoDataFrame | None = None,
    commercial: gpd.GeoDataFrame | None = None,
    transit: gpd.GeoDataFrame | None = None,
    user_factors: Sequence[FactorLayer] = (),
    year: str | None = "opened",
    cell_m: float = 1000.0,
    permutations: int = 999,
    seed: int | None = 0,
    weight: str | None = None,
) -> RecipeStep:
    """The published-study chain as a pipeline step, with factors from the study's own layers.

    Runs :func:`published_recipe` on the creative establishments (ANN in the study area, the
    standard deviational ellipse of the cumulative stock per opening year and its centre path,
    ArcGIS kernel density, Moran's I and LISA of creative density on ``cell_m`` cells), then
    GeoDetector (OPGD) of cell density against:

    - ``dist_university_m``: nearest university/college (``universities``, else establishments
      of function ``education`` named 大学/学院/University/College);
    - ``dist_cbd_m``: the main centre (``centres`` row with ``kind == "main"``);
    - ``dist_transit_m``: nearest metro/rail station (``transit``, else establishments whose
      name or category says so; never synthetic stops);
    - ``dist_park_m``: nearest registry park;
    - ``dist_commercial_m``: nearest commercial area or mall (``commercial``, when given);
    - ``heritage_industrial_share``: share of the cell on former industrial / heritage land;
    - ``firm_density_per_km2``: the other (non-creative) establishments per km²;
    - the user's factors (:func:`clusterscape.explain.factors.read_factor_file`).

    A factor whose layer is missing or empty is skipped with the reason (``geodetector_factors``
    table); a part that cannot be computed is recorded as failed, never left out silently.

    Parameters
    ----------
    establishments : geopandas.GeoDataFrame
        All establishments in a metric CRS, with ``is_creative`` (and ``function``, ``name``).
    window : shapely geometry
        The study area in the same CRS.
    centres, parks, landuse, universities, commercial, transit : GeoDataFrame, optional
        Layers in any CRS.
    user_factors : sequence of FactorLayer
    year : str or None, default "opened"
    cell_m : float, default 1000
    permutations : int, default 999
    seed : int or None, default 0
    weight : str, optional
        Count column of the creative rows (see :func:`published_recipe`).

    Returns
    -------
    RecipeStep
        Tables ``nearest_neighbour``, ``ellipse_path``, ``kernel_density``, ``moran``,
        ``lisa_summary``, ``geodetector_factors``, ``geodetector_interaction``,
        ``geodetector_risk``, ``geodetector_ecological``; layers ``lisa_cells``, ``ellipses``,
        ``ellipse_centres`` (see ``docs/outputs.md``).
    """
    import shapely

    from clusterscape.explain.factors import (
        distance_to_nearest,
        polygon_share,
        values_on_cells,
    )

    crs = establishments.crs
    if crs is None or not crs.is_projected:
        raise InvalidInputError("recipe_step: establishments must be in a metric CRS.")
    tables: dict[str, pd.DataFrame] = {}
    layers: dict[str, gpd.GeoDataFrame] = {}
    summary: dict[str, object] = {"cell_m": cell_m, "permutations": permutations}
    creative = establishments[establishments["is_creative"].fillna(False).to_numpy(dtype=bool)]
    try:
        res = published_recipe(
            creative,
            area=gpd.GeoSeries([window], crs=crs),
            factors=None,
            year=year if year in creative.columns else None,
            cell_m=cell_m,
            permutations=permutations,
            seed=seed,
            weight=weight,
        )
    except InvalidInputError as exc:
        reason = _status(exc)
        for part in ("nearest_neighbour", "ellipse", "kernel_density", "moran", "geodetector"):
            summary[part] = {"status": reason}
        return RecipeStep(tables, layers, summary, {"cell_m": cell_m})

    ann = res.ann
    verdict = (
        "clustered"
        if ann.p_value < 0.05 and ann.ratio < 1
        else "dispersed"
        if ann.p_value < 0.05
        else "random (no departure at 0.05)"
    )
    tables["nearest_neighbour"] = pd.DataFrame(
        [
            {
                "points": "creative establishments",
                "n": ann.n,
                "observed_m": ann.observed_m,
                "expected_m": ann.expected_m,
                "ratio": ann.ratio,
                "z": ann.z,
                "p_value": ann.p_value,
                "area_km2": ann.area_m2 / 1e6,
                "area_from": ann.params.get("area_source", ""),
                "verdict": verdict,
            }
        ]
    )
    summary["nearest_neighbour"] = {
        "status": "done",
        **tables["nearest_neighbour"].iloc[0].to_dict(),
    }

    to_wgs = _Projector(crs)
    ell = res.ellipse
    summary["ellipse"] = {
        "status": "done",
        "n": ell.n,
        "centre_lon": to_wgs.lon_lat(ell.centre_x, ell.centre_y)[0],
        "centre_lat": to_wgs.lon_lat(ell.centre_x, ell.centre_y)[1],
        "sigma_x_m": ell.sigma_x,
        "sigma_y_m": ell.sigma_y,
        "rotation_deg": ell.rotation_deg,
        "area_m2": ell.area_m2,
    }
    path = res.ellipse_path
    if path.empty:
        summary["ellipse"]["path"] = (  # type: ignore[index]
            f"skipped: no opening years (column {year!r}) for at least 3 creative establishments"
        )
    else:
        from clusterscape.measure.centrography import EllipseResult, ellipse_polygon

        lon, lat = to_wgs.lon_lat(path["centre_x"].to_numpy(), path["centre_y"].to_numpy())
        path = path.assign(centre_lon=lon, centre_lat=lat)
        tables["ellipse_path"] = path
        polys = [
            ellipse_polygon(
                EllipseResult(
                    float(r["centre_x"]),
                    float(r["centre_y"]),
                    float(r["sigma_x"]),
                    float(r["sigma_y"]),
                    float(r["rotation_deg"]),
                    float(r["area_m2"]),
                    int(r["n"]),
                )
            )
            for r in path.to_dict(orient="records")
        ]
        keep = ["year", "n", "sigma_x", "sigma_y", "rotation_deg", "area_m2"]
        layers["ellipses"] = gpd.GeoDataFrame(
            path[keep].reset_index(drop=True), geometry=polys, crs=crs
        ).to_crs("EPSG:4326")
        layers["ellipse_centres"] = gpd.GeoDataFrame(
            path[["year", "n", "shift_m", "direction_deg", "direction"]].reset_index(drop=True),
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
        )
        first, last = path.iloc[0], path.iloc[-1]
        dx, dy = last["centre_x"] - first["centre_x"], last["centre_y"] - first["centre_y"]
        summary["ellipse"]["path"] = {  # type: ignore[index]
            "first_year": int(first["year"]),
            "last_year": int(last["year"]),
            "net_shift_m": float(np.hypot(dx, dy)),
            "net_direction_deg": float(np.degrees(np.arctan2(dx, dy)) % 360.0),
            "path_length_m": float(np.nansum(path["shift_m"].to_numpy(dtype=float))),
            "area_change_pct": float(100.0 * (last["area_m2"] / first["area_m2"] - 1.0)),
        }

    kde = res.kde
    gx, gy = np.meshgrid(kde.x, kde.y)
    nz = kde.density > 0
    klon, klat = to_wgs.lon_lat(gx[nz], gy[nz])
    tables["kernel_density"] = pd.DataFrame(
        {
            "x_m": gx[nz],
            "y_m": gy[nz],
            "lon": klon,
            "lat": klat,
            "density_per_km2": kde.density[nz],
        }
    )
    summary["kernel_density"] = {
        "status": "done",
        "cell_m": kde.cell_m,
        "radius_m": kde.radius_m,
        "max_per_km2": float(kde.density.max()),
        "cells_nonzero": int(nz.sum()),
        "cells_total": int(kde.density.size),
        "crs": crs.to_string(),
    }

    m = res.moran
    cells = res.cells
    tables["moran"] = pd.DataFrame(
        [
            {
                "variable": "creative establishments per km²",
                "cell_m": int(cell_m) if float(cell_m).is_integer() else cell_m,
                "n_cells": len(cells),
                "weights": "queen contiguity, row-standardised",
                "I": m.I,
                "expected": m.expected,
                "z_norm": m.z_norm,
                "p_norm": m.p_norm,
                "p_sim": m.p_sim,
                "permutations": permutations,
            }
        ]
    )
    summary["moran"] = {"status": "done", **tables["moran"].iloc[0].to_dict()}
    counts = cells["label"].astype(str).value_counts()
    tables["lisa_summary"] = pd.DataFrame(
        {
            "label": ["HH", "LH", "LL", "HL", "not significant"],
            "cells": [int(counts.get(k, 0)) for k in ("HH", "LH", "LL", "HL", "not significant")],
        }
    )
    summary["lisa"] = {str(k): int(v) for k, v in counts.items()}

    # --- factors on the cells ---
    centres_xy = np.column_stack(
        [
            shapely.get_x(shapely.centroid(cells.geometry.values)),
            shapely.get_y(shapely.centroid(cells.geometry.values)),
        ]
    )
    catalogue: list[dict[str, object]] = []

    def distance_factor(
        col: str, label: str, layer: gpd.GeoDataFrame | None, source: str, why: str
    ) -> None:
        if layer is None or len(layer) == 0:
            catalogue.append(
                {
                    "factor": col,
                    "description": label,
                    "source": source,
                    "status": "skipped",
                    "reason": why,
                }
            )
            return
        try:
            cells[col] = distance_to_nearest(centres_xy, layer.to_crs(crs))
        except InvalidInputError as exc:
            catalogue.append(
                {
                    "factor": col,
                    "description": label,
                    "source": source,
                    "status": "skipped",
                    "reason": str(exc),
                }
            )
            return
        catalogue.append(
            {
                "factor": col,
                "description": label,
                "source": f"{source} ({len(layer)} features)",
                "status": "used",
                "reason": "",
            }
        )

    uni_source = "universities layer"
    if universities is None:
        universities, uni_source = (
            _universities_from(establishments),
            "establishments (education, named 大学/学院/University/College)",
        )
    distance_factor(
        "dist_university_m",
        "distance to the nearest university or college",
        universities,
        uni_source,
        "no university or college in the study's layers",
    )
    main = None
    if centres is not None and len(centres) and "kind" in centres.columns:
        main = centres[centres["kind"].astype(str) == "main"]
    distance_factor(
        "dist_cbd_m",
        "distance to the main centre (CBD)",
        main,
        "urban centres (main)",
        "no main centre was found (urban step)",
    )
    t_source = "transit layer"
    if transit is None:
        transit, t_source = (
            _transit_from(establishments),
            "establishments named or typed as metro/rail stations",
        )
    distance_factor(
        "dist_transit_m",
        "distance to the nearest metro/rail station",
        transit,
        t_source,
        "no transit layer: no metro or rail station among the establishments (synthetic bus stops are not used); give one with --factors (factor=transit)",
    )
    distance_factor(
        "dist_park_m",
        "distance to the nearest registry park",
        parks,
        "parks registry",
        "no parks registry (--parks)",
    )
    if commercial is not None:
        distance_factor(
            "dist_commercial_m",
            "distance to the nearest commercial area or mall",
            commercial,
            "OpenStreetMap commercial/retail land and malls",
            "empty commercial layer",
        )
    label = "share of the cell on former industrial or heritage land"
    if landuse is None or len(landuse) == 0:
        catalogue.append(
            {
                "factor": "heritage_industrial_share",
                "description": label,
                "source": "land use",
                "status": "skipped",
                "reason": "no land-use layer (--landuse)",
            }
        )
    else:
        heritage = _heritage_land(landuse).to_crs(crs)
        if len(heritage) == 0:
            catalogue.append(
                {
                    "factor": "heritage_industrial_share",
                    "description": label,
                    "source": "land use",
                    "status": "skipped",
                    "reason": "no land-use polygon is industrial or heritage",
                }
            )
        else:
            cells["heritage_industrial_share"] = polygon_share(cells, heritage)
            catalogue.append(
                {
                    "factor": "heritage_industrial_share",
                    "description": label,
                    "source": f"land use ({len(heritage)} polygons)",
                    "status": "used",
                    "reason": "",
                }
            )
    others = establishments[~establishments["is_creative"].fillna(False).to_numpy(dtype=bool)]
    if len(others) == 0:
        catalogue.append(
            {
                "factor": "firm_density_per_km2",
                "description": "other establishments per km²",
                "source": "establishments",
                "status": "skipped",
                "reason": "every establishment is creative (no population)",
            }
        )
    else:
        b = cells.total_bounds
        # the cells come from a regular grid: count the other establishments per cell by index
        ox, oy = shapely.get_x(others.geometry.values), shapely.get_y(others.geometry.values)
        xmin, ymin = b[0], b[1]
        c = np.floor((ox - xmin) / cell_m).astype(np.int64)
        r = np.floor((oy - ymin) / cell_m).astype(np.int64)
        c0 = (cells["col"] - cells["col"].min()).to_numpy(np.int64)
        r0 = (cells["row"] - cells["row"].min()).to_numpy(np.int64)
        n_cols = int(c0.max()) + 1
        key = pd.Series(np.arange(len(cells)), index=r0 * n_cols + c0)
        ok = (c >= 0) & (c < n_cols) & (r >= 0)
        hit = key.reindex(r[ok] * n_cols + c[ok]).to_numpy()
        hit = hit[~np.isnan(hit)].astype(np.int64)
        cells["firm_density_per_km2"] = np.bincount(hit, minlength=len(cells)) / (
            cell_m * cell_m / 1e6
        )
        catalogue.append(
            {
                "factor": "firm_density_per_km2",
                "description": "other (non-creative) establishments per km²; population is not in the study's layers",
                "source": f"establishments ({len(others):,})",
                "status": "used",
                "reason": "",
            }
        )
    for f in user_factors:
        col = f"dist_{f.name}_m" if f.kind == "distance" else f.name
        src = f"--factors {f.params.get('file', '')}"
        if col in cells.columns:
            catalogue.append(
                {
                    "factor": col,
                    "description": f"user factor {f.name}",
                    "source": src,
                    "status": "skipped",
                    "reason": f"{col} is already a factor",
                }
            )
            continue
        if f.kind == "distance":
            distance_factor(
                col, f"distance to the nearest {f.name} (user layer)", f.layer, src, "empty layer"
            )
        else:
            vals = values_on_cells(
                cells, FactorLayer(f.name, f.kind, f.layer.to_crs(crs), f.column, dict(f.params))
            )
            if np.isfinite(vals).sum() < 10:
                catalogue.append(
                    {
                        "factor": col,
                        "description": f"user value {f.column}",
                        "source": src,
                        "status": "skipped",
                        "reason": f"only {int(np.isfinite(vals).sum())} cells have a value",
                    }
                )
                continue
            cells[col] = vals
            catalogue.append(
                {
                    "factor": col,
                    "description": f"user value {f.column} (cells without a value are left out)",
                    "source": src,
                    "status": "used",
                    "reason": "",
                }
            )

    used = [str(r["factor"]) for r in catalogue if r["status"] == "used"]
    fac = pd.DataFrame(catalogue, columns=["factor", "description", "source", "status", "reason"])
    if not used:
        summary["geodetector"] = {"status": "skipped: no factor layer in the study"}
        tables["geodetector_factors"] = fac.assign(
            q=np.nan, p_value=np.nan, n_strata=np.nan, method=""
        )
    else:
        try:
            gd = geodetector(pd.DataFrame(cells.drop(columns="geometry")), "density_per_km2", used)
        except InvalidInputError as exc:
            summary["geodetector"] = {"status": _status(exc)}
            tables["geodetector_factors"] = fac.assign(
                q=np.nan, p_value=np.nan, n_strata=np.nan, method=""
            )
        else:
            merged = fac.merge(
                gd.factors[["factor", "q", "p_value", "n_strata", "method"]],
                on="factor",
                how="left",
            )
            merged = merged.sort_values(["status", "q"], ascending=[False, False], kind="stable")
            tables["geodetector_factors"] = merged.reset_index(drop=True)
            tables["geodetector_interaction"] = gd.interaction
            tables["geodetector_risk"] = gd.risk_means
            tables["geodetector_ecological"] = gd.ecological
            top = gd.factors.iloc[0]
            summary["geodetector"] = {
                "status": "done",
                "y": "density_per_km2",
                "n_cells": int(str(gd.params.get("rows_used", len(cells)))),
                "rows_dropped": int(str(gd.params.get("rows_dropped", 0))),
                "factors": _records_of(
                    gd.factors[["factor", "q", "p_value", "n_strata", "method"]]
                ),
                "top_factor": str(top["factor"]),
                "top_q": float(top["q"]),
            }
    summary["factors_skipped"] = [
        {"factor": r["factor"], "reason": r["reason"]} for r in catalogue if r["status"] != "used"
    ]
    layers["lisa_cells"] = cells.to_crs("EPSG:4326")
    return RecipeStep(
        tables, layers, summary, {"cell_m": cell_m, "permutations": permutations, "seed": seed}
    )


def _records_of(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


class _Projector:
    """Metric coordinates -> WGS-84 longitude/latitude."""

    def __init__(self, crs: object) -> None:
        from pyproj import Transformer

        self._t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def lon_lat(self, x: Any, y: Any) -> tuple[Any, Any]:
        return self._t.transform(x, y)


def study_methods(
    establishments: gpd.GeoDataFrame,
    *,
    window: object,
    centres: gpd.GeoDataFrame | None = None,
    parks: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    builtin: bool = False,
    factors_file: str | None = None,
    datum: str | None = None,
    crs: str | None = None,
    seed: int | None = 0,
    weight: str | None = None,
    **options: object,
) -> RecipeStep:
    """:func:`recipe_step` with the study's layers, as ``clusterscape run`` calls it.

    ``builtin=True`` (the built-in Ningbo study) adds the real OpenStreetMap layers shipped with
    the package: universities and colleges among the schools, and the commercial/mall polygons.
    ``factors_file`` is read with :func:`clusterscape.explain.factors.read_factor_file`; a file
    that cannot be read is recorded (``summary["factors_file"]``) and the step goes on without
    it, read in ``datum`` (WGS-84 by default; ``crs=<datum>`` is deprecated). ``weight``: the
    creative rows' count column (``stack="weight"``). ``options``:
    ``cell_m``, ``permutations``, ``year`` (the ``[methods]`` table of ``study.toml``).
    """
    from clusterscape.coords import resolve_datum
    from clusterscape.explain.factors import read_factor_file

    datum = resolve_datum(datum, crs, caller="study_methods")
    universities = commercial = None
    sources: list[str] = []
    if builtin:
        from clusterscape.datasets import load_ningbo_layer, ningbo_universities

        universities, commercial = ningbo_universities(), load_ningbo_layer("commercial")
        sources = [
            "universities/colleges among the OpenStreetMap schools and the OpenStreetMap "
            f"commercial/retail land and malls of Ningbo ({commercial.attrs['licence']}), shipped "
            "with clusterscape (datasets/data/osm/NOTICE.md); the package also ships GeoNames "
            "places (GeoNames, CC BY 4.0) and the creative/tech parks (OpenStreetMap, ODbL 1.0)",
            "registry parks, land use and the main centre: the study's own layers",
        ]
    user: list[FactorLayer] = []
    file_status: dict[str, object] = {}
    if factors_file:
        try:
            user = read_factor_file(factors_file, datum=datum)
        except InvalidInputError as exc:
            file_status = {"file": Path(factors_file).name, "status": _status(exc)}
        else:
            file_status = {
                "file": Path(factors_file).name,
                "status": "read",
                "factors": [f.name for f in user],
            }
    known = {"cell_m", "permutations", "year"}
    unknown = set(options) - known
    if unknown:
        raise InvalidInputError(
            f"[methods]: unknown option(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted(known))}."
        )
    step = recipe_step(
        establishments,
        window=window,
        centres=centres,
        parks=parks,
        landuse=landuse,
        universities=universities,
        commercial=commercial,
        user_factors=user,
        seed=seed,
        weight=weight,
        **options,  # type: ignore[arg-type]
    )
    if file_status:
        sources.append(f"user factors from {file_status['file']}")
    summary = dict(step.summary)
    if file_status:
        summary["factors_file"] = file_status
    summary["sources"] = sources
    return replace(step, summary=summary)
