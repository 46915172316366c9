r"""Gaussian kernel density surfaces by linear binning and FFT convolution.

The exact surface at a cell centre c is the sum over points of an isotropic Gaussian kernel,

.. math:: \hat f(c) = \sum_i \frac{w_i}{2\pi h^2} \exp\left(-\frac{\lVert c - x_i\rVert^2}{2h^2}\right),

in points (or weight units) per m², so that it integrates to ``sum(w)`` (= n unweighted) over
the plane. It is computed in O(n + G log G) by linear (bilinear) binning of the points onto the
grid of cell centres and a discrete convolution with the sampled kernel (Wand 1994; Silverman
1982), done with :func:`scipy.signal.fftconvolve`. The sampled kernel is normalised to unit mass
and its variance is reduced by cell²/6 per axis, the mean smoothing that linear binning adds.

References
----------
Silverman B.W. (1982) Kernel density estimation using the fast Fourier transform. *Applied
Statistics* 31(1):93–99.
Wand M.P. (1994) Fast computation of multivariate kernel estimators. *J. Computational and
Graphical Statistics* 3(4):433–445.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import ArrayLike
from scipy.signal import fftconvolve

from clusterscape._validation import PointsLike, WindowLike, as_xy, check_positive
from clusterscape.errors import InvalidInputError

__all__ = ["density_surface", "direct_density"]

#: kernel truncation radius in bandwidths; exp(-6**2 / 2) ~ 1.5e-8 of the peak
_TRUNCATE = 6.0


@njit(cache=True)
def _linear_bin(
    fx: np.ndarray, fy: np.ndarray, w: np.ndarray, gx: int, gy: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Bilinear binning of points at fractional grid coordinates onto a (gy, gx) grid."""
    out = np.zeros((gy, gx))
    for k in range(fx.size):
        x = fx[k]
        y = fy[k]
        if x < 0.0 or y < 0.0 or x >= gx - 1 or y >= gy - 1:
            continue
        ix = int(x)
        iy = int(y)
        tx = x - ix
        ty = y - iy
        wk = w[k]
        out[iy, ix] += wk * (1.0 - tx) * (1.0 - ty)
        out[iy, ix + 1] += wk * tx * (1.0 - ty)
        out[iy + 1, ix] += wk * (1.0 - tx) * ty
        out[iy + 1, ix + 1] += wk * tx * ty
    return out


def _window_bounds(window: Any, caller: str) -> tuple[float, float, float, float]:
    bounds = window.bounds if hasattr(window, "bounds") else window
    if hasattr(bounds, "to_numpy"):  # GeoSeries.bounds / GeoDataFrame.total_bounds
        bounds = getattr(window, "total_bounds", bounds)
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in np.asarray(bounds, dtype=float).ravel())
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{caller}: window must be (xmin, ymin, xmax, ymax) in metres or a geometry with "
            f".bounds, got {window!r}."
        ) from None
    if not (xmax > xmin and ymax > ymin):
        raise InvalidInputError(
            f"{caller}: window ({xmin}, {ymin}, {xmax}, {ymax}) is empty; expected "
            "(xmin, ymin, xmax, ymax) with xmax > xmin and ymax > ymin."
        )
    return xmin, ymin, xmax, ymax


def _grid_inputs(
    xy: Any, bandwidth_m: float, cell_m: float, window: Any, caller: str
) -> tuple[np.ndarray, float, float, int, int]:
    """Checked points and the grid layout: (points, xmin, ymin, nx, ny), cells of ``cell_m``."""
    pts = as_xy(xy, caller=caller)
    check_positive(bandwidth_m, "bandwidth_m", caller=caller)
    check_positive(cell_m, "cell_m", caller=caller)
    xmin, ymin, xmax, ymax = _window_bounds(window, caller)
    nx = math.ceil((xmax - xmin) / cell_m - 1e-9)
    ny = math.ceil((ymax - ymin) / cell_m - 1e-9)
    return pts, xmin, ymin, nx, ny


def density_surface(
    xy: PointsLike,
    *,
    bandwidth_m: float,
    cell_m: float,
    window: WindowLike,
    weights: ArrayLike | None = None,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Gaussian kernel density of points on a regular grid (points per m²).

    Parameters
    ----------
    xy : array_like (n, 2) or GeoSeries/GeoDataFrame of points
        Locations in metres (degree GeoSeries are refused).
    bandwidth_m : float
        Gaussian standard deviation h in metres.
    cell_m : float
        Grid cell size in metres. Accuracy depends on ``cell_m / bandwidth_m``: at a ratio of
        1/10 the surface is within 2e-5 of direct summation relative to its maximum and within
        5e-4 cell by cell where it exceeds 1e-3 of the maximum (measured).
    window : tuple (xmin, ymin, xmax, ymax) or geometry with ``.bounds``
        Extent of the grid in metres. Points outside it still contribute (up to 6 h away).
    weights : array_like (n,), optional
        Per-point weights (e.g. employees); the surface is then in weight units per m².

    Returns
    -------
    grid : numpy.ndarray, shape (ny, nx)
        Density at cell centres; row 0 is the *southern* row (plot with ``origin="lower"``).
    extent : tuple (xmin, xmax, ymin, ymax)
        Edges of the grid in metres, matplotlib ``imshow(extent=...)`` order. The grid covers
        ``nx = ceil((xmax - xmin) / cell_m)`` columns from xmin (likewise rows).

    Notes
    -----
    ``grid.sum() * cell_m**2`` approximates the number (or weight) of points whose kernel
    mass falls inside the window; it equals n for points far from the edges.

    Examples
    --------
    >>> import numpy as np
    >>> g, ext = density_surface(np.array([[50.0, 50.0]]), bandwidth_m=10, cell_m=1,
    ...                          window=(0, 0, 100, 100))
    >>> g.shape, round(float(g.sum()), 4)
    ((100, 100), 1.0)
    """
    caller = "density_surface"
    pts, xmin, ymin, nx, ny = _grid_inputs(xy, bandwidth_m, cell_m, window, caller)
    if nx * ny > 50_000_000:
        raise InvalidInputError(
            f"{caller}: a {nx} x {ny} grid is too large; use a larger cell_m "
            f"(now {cell_m} m) or a smaller window."
        )
    if weights is None:
        wts = None
    else:
        wts = np.asarray(weights, dtype=float).ravel()
        if wts.size != len(pts) or not np.isfinite(wts).all():
            raise InvalidInputError(
                f"{caller}: weights must be {len(pts)} finite numbers, got {wts.size}."
            )
    extent = (xmin, xmin + nx * cell_m, ymin, ymin + ny * cell_m)
    pad = math.ceil(_TRUNCATE * bandwidth_m / cell_m)
    gx, gy = nx + 2 * pad, ny + 2 * pad
    # fractional grid coordinates of the points, 0 = first (padded) cell centre
    fx = (pts[:, 0] - xmin) / cell_m - 0.5 + pad
    fy = (pts[:, 1] - ymin) / cell_m - 0.5 + pad
    w0 = np.ones(len(pts)) if wts is None else wts
    binned = _linear_bin(fx, fy, w0, gx, gy)
    offs = np.arange(-pad, pad + 1) * cell_m
    # Linear binning acts on average like a convolution with variance cell_m**2 / 6 per axis
    # (the mean interpolation error (cell²/12) f''), so the kernel's variance is reduced by
    # that much; this cuts the error against direct summation about 25-fold.
    h_eff = np.sqrt(max(bandwidth_m**2 - cell_m**2 / 6.0, 0.25 * bandwidth_m**2))
    k1 = np.exp(-0.5 * (offs / h_eff) ** 2)
    k1 /= k1.sum()
    kernel = np.outer(k1, k1) / cell_m**2
    dens = fftconvolve(binned, kernel, mode="same")
    grid = np.clip(dens[pad : pad + ny, pad : pad + nx], 0.0, None)
    return np.ascontiguousarray(grid), extent


def direct_density(
    xy: PointsLike,
    *,
    bandwidth_m: float,
    cell_m: float,
    window: WindowLike,
    weights: ArrayLike | None = None,
) -> np.ndarray:
    """Exact Gaussian kernel sum at the cell centres of :func:`density_surface` (O(n G)).

    The reference that :func:`density_surface` is tested against; use it only for small
    inputs. Same parameters and grid layout.
    """
    caller = "direct_density"
    pts, xmin, ymin, nx, ny = _grid_inputs(xy, bandwidth_m, cell_m, window, caller)
    cx = xmin + (np.arange(nx) + 0.5) * cell_m
    cy = ymin + (np.arange(ny) + 0.5) * cell_m
    wts = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=float)
    # separable Gaussian: sum_i w_i g(cx - x_i) g(cy - y_i)
    ex = np.exp(-0.5 * ((cx[None, :] - pts[:, :1]) / bandwidth_m) ** 2)  # (n, nx)
    ey = np.exp(-0.5 * ((cy[None, :] - pts[:, 1:2]) / bandwidth_m) ** 2)  # (n, ny)
    out: np.ndarray = (ey * wts[:, None]).T @ ex / (2 * np.pi * bandwidth_m**2)
    return out
