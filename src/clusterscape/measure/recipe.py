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

from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from clusterscape._validation import as_xy, check_positive
from clusterscape.coords import to_local_metric
from clusterscape.errors import InvalidInputError
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

__all__ = ["RecipeResult", "published_recipe"]


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
    ann = average_nearest_neighbour(xy, window=window)
    ellipse = standard_deviational_ellipse(xy)

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
    kde = kernel_density(xy, preset="arcgis", extent=(xmin, ymin, xmax, ymax))

    n_cols = max(1, int(np.ceil((xmax - xmin) / cell_m)))
    n_rows = max(1, int(np.ceil((ymax - ymin) / cell_m)))
    c = np.clip(((xy[:, 0] - xmin) // cell_m).astype(np.int64), 0, n_cols - 1)
    r = np.clip(((xy[:, 1] - ymin) // cell_m).astype(np.int64), 0, n_rows - 1)
    counts = np.bincount(r * n_cols + c, minlength=n_rows * n_cols).astype(float)
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
