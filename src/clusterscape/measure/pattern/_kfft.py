"""Raster/FFT approximation of Ripley's K for very large patterns (opt-in, ``method="fft"``).

The points are counted on a grid of square pixels of side ``cell`` covering the window. The
ordered-pair count at every lag vector h (in pixels) is the autocorrelation of the count raster,
A(h) = Σ_u N(u) N(u + h), obtained with one zero-padded real FFT (no wrap-around for the lags
used); the n self-pairs are removed at h = 0. Assuming the points are uniform inside their pixels,
the displacement of a pair counted at lag h is c·(h + e) with e = (s, t), s and t independent
triangular on (−1, 1) (the difference of two uniforms), so the pair contributes
P_k(h) = P(|h + e| < r_k / c) to K(r_k). P_k(h) is computed by integrating the triangular density
in closed form along one axis and by Gauss–Legendre quadrature along the other.

The translation edge correction uses the window's set covariance γ(h) = |W ∩ (W + c·h)|, exact for
rectangles and, for polygons, the FFT autocorrelation of the raster of pixel coverage fractions
(exact polygon ∩ pixel areas along the boundary), so

    K(r_k) ≈ |W| / (n(n−1)) Σ_h (A(h) − n·1{h=0}) · P_k(h) · min(|W| / γ(h), 100).

Cost: two FFTs of a grid of about (extent / cell + rmax / cell)² pixels, independent of n apart
from the O(n) rasterisation. The documented error against the exact translation estimator is in
docs/concentration.md.

References
----------
Ohser J. & Mücklich F. 2000, *Statistical Analysis of Microstructures in Materials Science*,
Wiley, ch. 4 (FFT estimation of second-order characteristics on images). Baddeley A., Rubak E. &
Turner R. 2015, *Spatial Point Patterns*, CRC, §7.4 (translation correction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import scipy.fft as sfft
import shapely

from clusterscape.errors import InvalidInputError
from clusterscape.measure.pattern._kernels import MAX_EDGE_WEIGHT
from clusterscape.measure.pattern._window import Window

__all__ = ["FFT_CORRECTIONS", "FftGrid", "default_cell", "fft_grid", "k_fft", "k_fft_counts"]

FFT_CORRECTIONS = ("translate", "none")
CELLS_PER_RMAX = 64  # default cell = rmax / 64
MAX_GRID_SIDE = 4096  # the default cell is enlarged so the grid stays <= 4096 pixels a side


def default_cell(win: Window, rmax: float) -> float:
    """Default pixel size: rmax / 64, enlarged if the window would need more than 4,096 pixels
    on a side (then cell = longest side / 4,096)."""
    xmin, ymin, xmax, ymax = win.bounds
    side = max(xmax - xmin, ymax - ymin)
    return float(max(rmax / CELLS_PER_RMAX, side / MAX_GRID_SIDE))


@dataclass(frozen=True)
class FftGrid:
    """Pixel grid of a window for the FFT estimator (internal).

    Attributes
    ----------
    x0, y0 : lower-left corner (m). cell : pixel side (m). nx, ny : pixels covering the window.
    lag : largest lag (pixels) needed on each axis. shape : padded FFT shape (rows, columns).
    coverage : (ny, nx) fraction of each pixel inside the window.
    gamma : (2 lag + 1, 2 lag + 1) set covariance |W ∩ (W + c·h)| (m²) at lag h = (col, row)
    offsets from the centre. prob : (len(r), (2 lag + 1)²) P_k(h). edge : translation weights.
    """

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    lag: int
    shape: tuple[int, int]
    coverage: np.ndarray
    gamma: np.ndarray
    prob: np.ndarray
    edge: np.ndarray


_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


@numba.njit(cache=True, nogil=True)
def _tri_cdf(s: float) -> float:
    """CDF of the triangular density 1 − |s| on (−1, 1)."""
    if s <= -1.0:
        return 0.0
    if s >= 1.0:
        return 1.0
    if s <= 0.0:
        return 0.5 * (1.0 + s) * (1.0 + s)
    return 1.0 - 0.5 * (1.0 - s) * (1.0 - s)


@numba.njit(cache=True, nogil=True)
def _p_within(a: float, b: float, rho: float, gx: np.ndarray, gw: np.ndarray, nsub: int) -> float:
    """P(|(a + s, b + t)| < rho) for s, t iid triangular on (−1, 1).

    Closed form in s for each t; composite Gauss–Legendre in t on 2·nsub panels over (−1, 1)
    (the integrand is continuous, piecewise smooth).
    """
    rho2 = rho * rho
    total = 0.0
    h = 1.0 / nsub
    for p in range(2 * nsub):
        lo = -1.0 + p * h
        mid = lo + 0.5 * h
        for q in range(gx.shape[0]):
            t = mid + 0.5 * h * gx[q]
            y = b + t
            rem = rho2 - y * y
            if rem <= 0.0:
                continue
            w = math.sqrt(rem)
            f = _tri_cdf(w - a) - _tri_cdf(-w - a)
            total += 0.5 * h * gw[q] * (1.0 - abs(t)) * f
    return total


@numba.njit(cache=True, parallel=True)
def _lag_probabilities(rho: np.ndarray, lag: int, gx: np.ndarray, gw: np.ndarray) -> np.ndarray:
    """P_k(h) for every lag h = (a, b), |a|, |b| <= lag, flattened row-major (b, a)."""
    m = rho.shape[0]
    side = 2 * lag + 1
    out = np.zeros((m, side * side))
    sq2 = math.sqrt(2.0)
    for idx in numba.prange(side * side):
        b = idx // side - lag
        a = idx % side - lag
        dist = math.sqrt(float(a * a + b * b))
        for k in range(m):
            if rho[k] <= dist - sq2:
                continue  # too far even in the best case: 0
            if rho[k] >= dist + sq2:
                out[k, idx] = 1.0  # every displacement is shorter
            else:
                out[k, idx] = _p_within(float(a), float(b), rho[k], gx, gw, 4)
    return out


def _coverage(win: Window, x0: float, y0: float, cell: float, nx: int, ny: int) -> np.ndarray:
    """Fraction of each pixel inside the window: exact (shapely) in pixels the boundary
    crosses, 0/1 from the pixel centre elsewhere."""
    if win.is_rect:
        xmax, ymax = win.bounds[2], win.bounds[3]
        lx = x0 + cell * np.arange(nx)
        ly = y0 + cell * np.arange(ny)
        ex = np.clip(np.minimum(lx + cell, xmax) - lx, 0, cell)
        ey = np.clip(np.minimum(ly + cell, ymax) - ly, 0, cell)
        return np.asarray(np.outer(ey, ex) / cell**2)
    cx = x0 + cell * (np.arange(nx) + 0.5)
    cy = y0 + cell * (np.arange(ny) + 0.5)
    mx, my = np.meshgrid(cx, cy)
    cov = shapely.contains_xy(win.geom, mx.ravel(), my.ravel()).reshape(ny, nx).astype(float)
    # pixels the boundary passes through: densify the boundary to cell/4 and take the 3x3
    # neighbourhood of every vertex's pixel, then compute exact overlaps there
    bnd = shapely.segmentize(win.geom.boundary, cell / 4.0)
    xy = shapely.get_coordinates(bnd)
    ix = np.floor((xy[:, 0] - x0) / cell).astype(np.int64)
    iy = np.floor((xy[:, 1] - y0) / cell).astype(np.int64)
    near = set()
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            jx, jy = ix + di, iy + dj
            ok = (jx >= 0) & (jx < nx) & (jy >= 0) & (jy < ny)
            near.update((jy[ok] * nx + jx[ok]).tolist())
    flat = np.fromiter(near, dtype=np.int64)
    py, px = np.divmod(flat, nx)
    boxes = shapely.box(x0 + px * cell, y0 + py * cell, x0 + (px + 1) * cell, y0 + (py + 1) * cell)
    cov.ravel()[flat] = shapely.area(shapely.intersection(boxes, win.geom)) / cell**2
    return cov


def _padded_shape(ny: int, nx: int, lag: int) -> tuple[int, int]:
    return (
        sfft.next_fast_len(ny + lag + 1, real=True),
        sfft.next_fast_len(nx + lag + 1, real=True),
    )


def _autocorr_block(raster: np.ndarray, shape: tuple[int, int], lag: int) -> np.ndarray:
    """Σ_u R(u) R(u + h) for |h_x|, |h_y| <= lag; rows are h_y, columns h_x, centre at lag."""
    f = sfft.rfft2(raster, s=shape, workers=-1)
    ac = sfft.irfft2(f.real**2 + f.imag**2, s=shape, workers=-1)
    rows = np.r_[np.arange(-lag, 0) + shape[0], np.arange(lag + 1)]
    cols = np.r_[np.arange(-lag, 0) + shape[1], np.arange(lag + 1)]
    return np.asarray(ac[np.ix_(rows, cols)])


def fft_grid(win: Window, r: np.ndarray, cell: float, correction: str) -> FftGrid:
    """Grid, pixel-displacement probabilities and translation weights for ``r`` (internal)."""
    xmin, ymin, xmax, ymax = win.bounds
    nx = max(1, math.ceil((xmax - xmin) / cell - 1e-9))
    ny = max(1, math.ceil((ymax - ymin) / cell - 1e-9))
    if nx * ny > 64_000_000:
        raise InvalidInputError(
            f"k_function(method='fft'): cell = {cell:g} m gives a {nx} x {ny} grid; use a larger "
            "cell (e.g. the default, rmax / 64)."
        )
    rho = np.asarray(r, dtype=float) / cell
    lag = math.ceil(rho[-1] + math.sqrt(2.0))
    shape = _padded_shape(ny, nx, lag)
    cov = _coverage(win, xmin, ymin, cell, nx, ny)
    side = 2 * lag + 1
    h = np.arange(-lag, lag + 1) * cell
    if win.is_rect:
        w, hh = xmax - xmin, ymax - ymin
        gamma = np.outer(np.clip(hh - np.abs(h), 0, None), np.clip(w - np.abs(h), 0, None))
    else:
        gamma = _autocorr_block(cov, shape, lag) * cell**2
    if correction == "translate":
        with np.errstate(divide="ignore"):
            edge = np.where(
                gamma * MAX_EDGE_WEIGHT <= win.area_m2, MAX_EDGE_WEIGHT, win.area_m2 / gamma
            )
    else:
        edge = np.ones((side, side))
    prob = _lag_probabilities(rho, lag, _GL_X, _GL_W)
    edge = np.asarray(edge, dtype=float)
    return FftGrid(xmin, ymin, float(cell), nx, ny, lag, shape, cov, gamma, prob, edge)


def rasterise(pts: np.ndarray, g: FftGrid) -> np.ndarray:
    """Point counts per pixel, (ny, nx)."""
    ix = np.clip(np.floor((pts[:, 0] - g.x0) / g.cell).astype(np.int64), 0, g.nx - 1)
    iy = np.clip(np.floor((pts[:, 1] - g.y0) / g.cell).astype(np.int64), 0, g.ny - 1)
    counts = np.bincount(iy * g.nx + ix, minlength=g.nx * g.ny)
    return counts.reshape(g.ny, g.nx).astype(float)


def k_fft_counts(counts: np.ndarray, n: int, win: Window, g: FftGrid) -> np.ndarray:
    """FFT K estimate from a raster of point counts (n points in total)."""
    pairs = np.rint(_autocorr_block(counts, g.shape, g.lag))  # integer pair counts
    pairs[g.lag, g.lag] -= n  # self-pairs
    num = g.prob @ (pairs * g.edge).ravel()
    return np.asarray(num * win.area_m2 / (n * (n - 1.0)))


def k_fft(pts: np.ndarray, win: Window, r: np.ndarray, cell: float, correction: str) -> np.ndarray:
    """FFT approximation of K (translation or no edge correction) at ``r``."""
    g = fft_grid(win, r, cell, correction)
    return k_fft_counts(rasterise(pts, g), len(pts), win, g)
