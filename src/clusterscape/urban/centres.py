"""The main centre and the subcentres of a city from a density surface with Gi* significance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage, stats
from scipy.spatial import cKDTree

from clusterscape._validation import check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure.density import density_surface
from clusterscape.measure.hotspots import gi_star_grid
from clusterscape.urban._common import (
    MAX_GRID_CELLS,
    disc_footprint,
    project_points,
    to_lonlat,
)

__all__ = ["CentreResult", "GridSurface", "urban_centres"]

_CALLER = "urban_centres"


@dataclass(frozen=True, slots=True)
class GridSurface:
    """A raster on a square grid in a metric CRS; row ``iy``, column ``ix``.

    Cell ``(iy, ix)`` spans ``[x0 + ix*cell_m, x0 + (ix+1)*cell_m)`` × the same in y.
    """

    x0: float
    y0: float
    cell_m: float
    crs: Any
    counts: np.ndarray  # establishments per cell
    density_per_km2: np.ndarray  # Gaussian kernel density, per km²
    gi_z: np.ndarray  # Gi* z-score, NaN outside the study area
    significant: np.ndarray  # hot and significant after FDR
    centre: np.ndarray  # rank of the centre a cell belongs to, 0 = none

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Metric x and y of every cell centre, each shaped like the rasters."""
        ny, nx = self.counts.shape
        xs = self.x0 + (np.arange(nx) + 0.5) * self.cell_m
        ys = self.y0 + (np.arange(ny) + 0.5) * self.cell_m
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy


@dataclass(frozen=True, slots=True)
class CentreResult:
    """Output of :func:`urban_centres`.

    Attributes
    ----------
    centres : GeoDataFrame
        One row per centre (index 0..k-1, ordered by rank) in the local metric CRS with ``rank``
        (1 = main), ``kind`` (``"main"``/``"sub"``), ``lon``, ``lat`` (WGS-84 degrees of the
        density peak), ``x``, ``y`` (metres), ``n_establishments`` (establishments in the
        centre's cells), ``share`` (of all establishments), ``area_km2``,
        ``peak_density_per_km2``, ``peak_gi_z``, ``prominence`` and point ``geometry``.
    polycentricity : float
        ``1 − n_main / Σ n_centres`` in [0, 1): 0 for a monocentric city, ``1 − 1/k`` for k
        equal centres; NaN when no centre is found.
    surface : GridSurface
        The grid counts, density, Gi* z, significance and centre membership (for figures).
    params : Mapping
        Every option, for reproduction.
    """

    centres: gpd.GeoDataFrame
    polycentricity: float
    surface: GridSurface
    params: Mapping[str, object] = field(default_factory=dict)


def _min_on_segment(dens: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
    """Lowest density on the straight line of cells between two peaks (inclusive)."""
    steps = max(abs(a[0] - b[0]), abs(a[1] - b[1])) * 2 + 1
    rr = np.rint(np.linspace(a[0], b[0], steps)).astype(int)
    cc = np.rint(np.linspace(a[1], b[1], steps)).astype(int)
    return float(dens[rr, cc].min())


def urban_centres(
    establishments: gpd.GeoDataFrame,
    *,
    cell_m: float = 500.0,
    bandwidth_m: float = 1000.0,
    gi_distance_m: float = 1000.0,
    alpha: float = 0.05,
    min_share: float = 0.01,
    min_separation_m: float = 3000.0,
    min_prominence: float = 0.25,
    weight_col: str | None = None,
) -> CentreResult:
    """Find the main centre and the subcentres of a city from establishment density.

    Parameters
    ----------
    establishments : GeoDataFrame
        Establishments (points, any CRS); projected with
        :func:`clusterscape.coords.to_local_metric`.
    cell_m : float
        Grid cell side, metres. Default 500 m.
    bandwidth_m : float
        Standard deviation of the Gaussian kernel that smooths grid counts into the density
        surface, metres. Default 1,000 m.
    gi_distance_m : float
        Radius of the binary Gi* neighbourhood (cell centres within it, self included), metres.
    alpha : float
        False discovery rate (Benjamini–Hochberg) for the one-sided Gi* hot-spot test.
    min_share : float
        Minimum mass of a centre as a share of all establishments (the Giuliano & Small total
        cut-off, expressed relative to the city). Default 0.01 (1 %).
    min_separation_m : float
        Two density peaks closer than this are one centre (the lower is suppressed). 3,000 m.
    min_prominence : float
        A lower peak must stand out from the col that joins it to any higher peak:
        ``(peak − col) / peak >= min_prominence``; the col is the lowest density on the straight
        line between the two peaks. Stops shoulders of one centre becoming "subcentres". 0.25.
    weight_col : str or None
        Optional column of non-negative weights (e.g. ``employees``) to count instead of
        establishments; ``n_establishments`` then holds weight sums.

    Returns
    -------
    CentreResult

    Notes
    -----
    The procedure follows the spirit of Giuliano & Small (1991) — a centre is a contiguous
    area of significantly high density holding a minimum total — with McMillen's (2001) idea
    that a subcentre must stand out from the surface around it, here as a density prominence:

    1. Count establishments on a ``cell_m`` grid; the density surface is the Gaussian kernel
       density of :func:`clusterscape.measure.density.density_surface` (``bandwidth_m``, per km²).
    2. Gi* z on the raw counts with a binary ``gi_distance_m`` band; the study area is the
       convex hull of the establishments (plus every occupied cell). One-sided p-values are
       adjusted by Benjamini–Hochberg; hot cells with q < ``alpha`` are *significant*.
    3. Candidate peaks: significant cells that are the density maximum within
       ``min_separation_m``; greedy suppression of lower peaks within that distance.
    4. Peaks with prominence below ``min_prominence`` are dropped (the highest peak has 1).
    5. Each connected (8-neighbour) region of significant cells is split between its surviving
       peaks by nearest peak; a centre's mass is the establishments in its cells.
    6. Centres with mass below ``min_share`` are dropped and their cells go to the nearest
       surviving centre of the same region. The main centre is the largest mass; ranks follow
       mass.

    Polycentricity is ``1 − n_main / Σ n_centres`` (the main centre's share of all centre
    employment, subtracted from 1), a simple mass-based index in the family reviewed by
    Burger & Meijers (2012); it is 0 for a monocentric city.

    References
    ----------
    Giuliano G. & Small K. 1991. *Regional Science and Urban Economics* 21:163–182.
    McMillen D. 2001. *Journal of Urban Economics* 50:448–473.
    Getis A. & Ord J.K. 1992. *Geographical Analysis* 24(3):189–206.
    Benjamini Y. & Hochberg Y. 1995. *JRSS B* 57:289–300.
    Burger M. & Meijers E. 2012. *Urban Studies* 49(5):1127–1149.
    """
    for name, value in (
        ("cell_m", cell_m),
        ("bandwidth_m", bandwidth_m),
        ("gi_distance_m", gi_distance_m),
        ("min_separation_m", min_separation_m),
    ):
        check_positive(value, name, caller=_CALLER)
    if gi_distance_m < cell_m:
        raise InvalidInputError(
            f"{_CALLER}: gi_distance_m={gi_distance_m} is smaller than cell_m={cell_m}, so "
            "every cell would be its own only neighbour; use gi_distance_m >= cell_m."
        )
    for name, value in (
        ("alpha", alpha),
        ("min_share", min_share),
        ("min_prominence", min_prominence),
    ):
        if not (0.0 <= value < 1.0) or (name == "alpha" and value == 0.0):
            raise InvalidInputError(f"{_CALLER}: {name} must be in [0, 1), got {value!r}.")
    gdf, xy, crs = project_points(establishments, caller=_CALLER)
    if weight_col is None:
        wts = np.ones(len(xy))
    else:
        if weight_col not in gdf.columns:
            raise InvalidInputError(f"{_CALLER}: weight_col {weight_col!r} is not a column.")
        wts = pd.to_numeric(gdf[weight_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(wts).all() or (wts < 0).any():
            raise InvalidInputError(
                f"{_CALLER}: column {weight_col!r} must be finite and >= 0 in every row; "
                "fill missing values (e.g. with 1) first."
            )
    total = float(wts.sum())
    if total <= 0:
        raise InvalidInputError(f"{_CALLER}: total weight is zero; nothing to find centres in.")

    pad = int(np.ceil((4.0 * bandwidth_m + gi_distance_m) / cell_m)) + 1
    x0 = np.floor(xy[:, 0].min() / cell_m) * cell_m - pad * cell_m
    y0 = np.floor(xy[:, 1].min() / cell_m) * cell_m - pad * cell_m
    ix = np.floor((xy[:, 0] - x0) / cell_m).astype(np.int64)
    iy = np.floor((xy[:, 1] - y0) / cell_m).astype(np.int64)
    nx = int(ix.max()) + pad + 1
    ny = int(iy.max()) + pad + 1
    if nx * ny > MAX_GRID_CELLS:
        raise InvalidInputError(
            f"{_CALLER}: the study area needs a {nx} x {ny} grid at cell_m={cell_m}; use a larger "
            "cell_m or clip the establishments to the city."
        )
    counts = np.bincount(iy * nx + ix, weights=wts, minlength=nx * ny).reshape(ny, nx)

    density = (
        1e6
        * density_surface(
            xy,
            bandwidth_m=bandwidth_m,
            cell_m=cell_m,
            window=(x0, y0, x0 + nx * cell_m, y0 + ny * cell_m),
            weights=None if weight_col is None else wts,
        )[0]
    )

    # Study area: convex hull of the establishments, buffered by half a cell diagonal.
    xs = x0 + (np.arange(nx) + 0.5) * cell_m
    ys = y0 + (np.arange(ny) + 0.5) * cell_m
    gx, gy = np.meshgrid(xs, ys)
    occupied = np.bincount(iy * nx + ix, minlength=nx * ny).reshape(ny, nx) > 0
    occ_y, occ_x = np.nonzero(occupied)
    occ_xy = np.column_stack([x0 + (occ_x + 0.5) * cell_m, y0 + (occ_y + 0.5) * cell_m])
    hull_xy = shapely.convex_hull(shapely.multipoints(occ_xy)).buffer(cell_m * 0.75)
    mask = shapely.contains_xy(hull_xy, gx, gy) | occupied

    foot = disc_footprint(gi_distance_m, cell_m)
    z = gi_star_grid(counts, mask, foot)
    zin = z[mask]
    p = stats.norm.sf(zin)
    q = stats.false_discovery_control(p, method="bh")
    sig = np.zeros_like(mask)
    sig[mask] = (q < alpha) & (zin > 0)

    # Candidate peaks: significant local maxima of density, greedy non-maximum suppression.
    sep_foot = disc_footprint(min_separation_m, cell_m)
    local_max = density >= ndimage.maximum_filter(density, footprint=sep_foot, mode="constant")
    cand = np.flatnonzero((sig & local_max & (density > 0)).ravel())
    cand = cand[np.argsort(-density.ravel()[cand], kind="stable")]
    peaks: list[tuple[int, int]] = []
    prominence: list[float] = []
    all_higher: list[tuple[int, int]] = []
    for flat in cand:
        r, c = divmod(int(flat), nx)
        if any(np.hypot(r - a, c - b) * cell_m < min_separation_m for a, b in all_higher):
            continue
        d = float(density[r, c])
        col = max((_min_on_segment(density, (r, c), h) for h in all_higher), default=0.0)
        prom = (d - col) / d
        all_higher.append((r, c))
        if prom >= min_prominence:
            peaks.append((r, c))
            prominence.append(prom)

    region, _ = ndimage.label(sig, structure=np.ones((3, 3), dtype=int))

    def assign(keep: list[int]) -> np.ndarray:
        """Centre index (position in ``peaks``) per cell, -1 for none."""
        owner = np.full(counts.shape, -1, dtype=np.int64)
        by_region: dict[int, list[int]] = {}
        for i in keep:
            by_region.setdefault(int(region[peaks[i]]), []).append(i)
        for reg, members in by_region.items():
            rr, cc = np.nonzero(region == reg)
            pts = np.array([peaks[i] for i in members], dtype=float)
            _, nearest = cKDTree(pts).query(np.column_stack([rr, cc]).astype(float))
            owner[rr, cc] = np.asarray(members)[np.atleast_1d(nearest)]
        return owner

    keep = list(range(len(peaks)))
    owner = assign(keep)
    mass = np.bincount(owner[owner >= 0], weights=counts[owner >= 0], minlength=len(peaks))
    keep = [i for i in keep if mass[i] >= min_share * total and mass[i] > 0]
    owner = assign(keep)
    mass = np.bincount(owner[owner >= 0], weights=counts[owner >= 0], minlength=len(peaks))
    ncell = np.bincount(owner[owner >= 0], minlength=len(peaks))

    order = sorted(keep, key=lambda i: (-mass[i], -density[peaks[i]]))
    rank_of = {i: r + 1 for r, i in enumerate(order)}
    centre_raster = np.zeros(counts.shape, dtype=np.int64)
    has = owner >= 0
    centre_raster[has] = np.array([rank_of.get(int(o), 0) for o in owner[has]], dtype=np.int64)

    px = np.array([x0 + (peaks[i][1] + 0.5) * cell_m for i in order], dtype=float)
    py = np.array([y0 + (peaks[i][0] + 0.5) * cell_m for i in order], dtype=float)
    lon, lat = to_lonlat(px, py, crs) if order else (np.array([]), np.array([]))
    n_est = np.array([mass[i] for i in order], dtype=float)
    centres = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(order) + 1, dtype=np.int64),
            "kind": pd.array(
                ["main" if r == 0 else "sub" for r in range(len(order))], dtype="string"
            ),
            "lon": lon,
            "lat": lat,
            "x": px,
            "y": py,
            "n_establishments": n_est if weight_col else n_est.round().astype(np.int64),
            "share": n_est / total,
            "area_km2": np.array([ncell[i] for i in order], dtype=float) * cell_m * cell_m / 1e6,
            "peak_density_per_km2": np.array([density[peaks[i]] for i in order], dtype=float),
            "peak_gi_z": np.array([z[peaks[i]] for i in order], dtype=float),
            "prominence": np.array([prominence[i] for i in order], dtype=float),
        },
        geometry=gpd.points_from_xy(px, py),
        crs=crs,
    )
    poly = float(1.0 - n_est[0] / n_est.sum()) if len(order) else float("nan")
    surface = GridSurface(
        x0=float(x0),
        y0=float(y0),
        cell_m=float(cell_m),
        crs=crs,
        counts=counts,
        density_per_km2=density,
        gi_z=z,
        significant=sig,
        centre=centre_raster,
    )
    params = {
        "cell_m": float(cell_m),
        "bandwidth_m": float(bandwidth_m),
        "gi_distance_m": float(gi_distance_m),
        "alpha": float(alpha),
        "min_share": float(min_share),
        "min_separation_m": float(min_separation_m),
        "min_prominence": float(min_prominence),
        "weight_col": weight_col,
        "n_candidates": len(all_higher),
        "crs": crs.to_string(),
    }
    return CentreResult(centres=centres, polycentricity=poly, surface=surface, params=params)
