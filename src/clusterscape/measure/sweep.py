"""The grid-size sweep: spatial autocorrelation of point counts over square cells of several sizes.

Published cluster studies pick one grid (often 500 m or 1 km) without showing that the result
does not hinge on it (the modifiable areal unit problem; Openshaw 1984). :func:`grid_sweep`
counts the points in square cells of each size, and for each size reports global Moran's I of the
density (queen contiguity, row-standardised), its normal-approximation z and p, the permutation p,
and the number and share of cells that the LISA labels High-High. ``stable_cell_m`` is the first
size from which Moran's I changes by less than ``tolerance`` (relative) to every larger size: the
scale at which concentration stabilises; None when it never does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from clusterscape._validation import PointsLike, as_xy, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure.autocorrelation import local_moran, moran

__all__ = ["SweepResult", "grid_counts", "grid_sweep", "plot_grid_sweep", "queen_lattice"]

DEFAULT_CELLS_M = (250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """The sweep's table and the size at which Moran's I stabilises.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per cell size: ``cell_m``, ``n_cells``, ``n_occupied``, ``moran_i``, ``z_norm``,
        ``p_norm``, ``p_sim``, ``n_hh``, ``share_hh``.
    stable_cell_m : float or None
        First cell size from which Moran's I stays within ``tolerance`` of its value there.
    params : Mapping
        cell sizes, extent, permutations, seed, tolerance, alpha.
    """

    table: pd.DataFrame
    stable_cell_m: float | None
    params: Mapping[str, object] = field(default_factory=dict)


def queen_lattice(n_rows: int, n_cols: int) -> sp.csr_matrix:
    """Binary queen-contiguity weights of an n_rows x n_cols lattice (cells numbered row by row)."""
    idx = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    rows, cols = [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            src = idx[max(0, -dr) : n_rows - max(0, dr), max(0, -dc) : n_cols - max(0, dc)]
            dst = idx[max(0, dr) : n_rows + min(0, dr), max(0, dc) : n_cols + min(0, dc)]
            rows.append(src.ravel())
            cols.append(dst.ravel())
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = n_rows * n_cols
    return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))


def grid_counts(
    xy: np.ndarray, cell_m: float, extent: tuple[float, float, float, float]
) -> tuple[np.ndarray, int, int]:
    """Point counts per square cell over ``extent`` (row 0 = southern-most), flattened row by row."""
    xmin, ymin, xmax, ymax = extent
    n_cols = max(1, math.ceil((xmax - xmin) / cell_m))
    n_rows = max(1, math.ceil((ymax - ymin) / cell_m))
    c = np.clip(((xy[:, 0] - xmin) // cell_m).astype(np.int64), 0, n_cols - 1)
    r = np.clip(((xy[:, 1] - ymin) // cell_m).astype(np.int64), 0, n_rows - 1)
    counts = np.bincount(r * n_cols + c, minlength=n_rows * n_cols).astype(float)
    return counts, n_rows, n_cols


def grid_sweep(
    xy: PointsLike,
    *,
    cell_sizes_m: Sequence[float] = DEFAULT_CELLS_M,
    extent: tuple[float, float, float, float] | None = None,
    permutations: int = 99,
    seed: int | None = 0,
    alpha: float = 0.05,
    tolerance: float = 0.1,
) -> SweepResult:
    """Moran's I and LISA High-High cells of point density over square grids of several sizes.

    Parameters
    ----------
    xy : (n, 2) array, GeoSeries or GeoDataFrame of points
        Coordinates in metres.
    cell_sizes_m : sequence of float, default 250 m to 2 km
        Cell sizes to try.
    extent : (xmin, ymin, xmax, ymax), optional
        The gridded area; default the points' extent.
    permutations : int, default 99
        Permutations for Moran's p_sim and the LISA.
    seed : int or None, default 0
    alpha : float, default 0.05
        LISA significance for the High-High count.
    tolerance : float, default 0.1
        Relative change of Moran's I below which it counts as stable.

    Returns
    -------
    SweepResult
    """
    caller = "grid_sweep"
    pts = as_xy(xy, caller=caller, min_points=3)
    sizes = sorted(float(s) for s in cell_sizes_m)
    if not sizes:
        raise InvalidInputError(f"{caller}: give at least one cell size.")
    for s in sizes:
        check_positive(s, "cell_sizes_m", caller=caller)
    check_positive(tolerance, "tolerance", caller=caller)
    if extent is None:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        extent = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    rows = []
    for size in sizes:
        counts, n_rows, n_cols = grid_counts(pts, size, extent)
        base = {"cell_m": size, "n_cells": counts.size, "n_occupied": int((counts > 0).sum())}
        if counts.size < 9 or np.ptp(counts) == 0:
            rows.append(
                {
                    **base,
                    "moran_i": np.nan,
                    "z_norm": np.nan,
                    "p_norm": np.nan,
                    "p_sim": np.nan,
                    "n_hh": 0,
                    "share_hh": np.nan,
                }
            )
            continue
        w = queen_lattice(n_rows, n_cols)
        density = counts / (size * size / 1e6)  # per km²
        g = moran(density, w, permutations=permutations, seed=seed)
        lisa = local_moran(density, w, permutations=permutations, seed=seed, alpha=alpha)
        n_hh = int((lisa["label"] == "HH").sum())
        rows.append(
            {
                **base,
                "moran_i": g.I,
                "z_norm": g.z_norm,
                "p_norm": g.p_norm,
                "p_sim": g.p_sim,
                "n_hh": n_hh,
                "share_hh": n_hh / counts.size,
            }
        )
    table = pd.DataFrame(rows)
    stable = None
    vals = table["moran_i"].to_numpy()
    for i in range(len(vals)):
        later = vals[i:]
        if np.isfinite(later).all() and later.size >= 2:
            ref = abs(vals[i]) if vals[i] != 0 else 1.0
            if (np.abs(later - vals[i]) / ref < tolerance).all():
                stable = float(table["cell_m"].iloc[i])
                break
    return SweepResult(
        table=table,
        stable_cell_m=stable,
        params={
            "cell_sizes_m": sizes,
            "extent": extent,
            "permutations": permutations,
            "seed": seed,
            "tolerance": tolerance,
            "alpha": alpha,
        },
    )


def plot_grid_sweep(result: SweepResult) -> Any:
    """A figure of Moran's I (and the High-High share) against cell size, marking the stable size."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t = result.table
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(t["cell_m"], t["moran_i"], marker="o", color="#1f4e79", label="Moran's I")
    ax.set_xlabel("cell size (m)")
    ax.set_ylabel("Moran's I of density")
    ax2 = ax.twinx()
    ax2.plot(t["cell_m"], 100 * t["share_hh"], marker="s", color="#c55a11", label="High-High cells")
    ax2.set_ylabel("High-High cells (%)")
    if result.stable_cell_m is not None:
        ax.axvline(result.stable_cell_m, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            f"stable from {result.stable_cell_m:g} m",
            (result.stable_cell_m, float(np.nanmax(t["moran_i"]))),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
        )
    lines = ax.get_lines()[:1] + ax2.get_lines()[:1]
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="best", fontsize=8)
    fig.tight_layout()
    return fig
