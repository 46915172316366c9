"""Exact distance from points to a polygon's boundary through a uniform grid over its edges.

Every boundary segment is registered in each grid cell its bounding box touches. For a point,
cells are visited ring by ring around its own cell; once the nearest distance found is no more
than the distance from the point to the outside of the rings visited, no unvisited segment can
be nearer (any point of such a segment lies outside them). Distances use GEOS's point-segment
formula (``Distance::pointToSegment``), so the values are the ones shapely returns.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["EdgeGrid"]


@numba.njit(cache=True, nogil=True)
def _seg_dist(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    if ax == bx and ay == by:
        dx, dy = px - ax, py - ay
        return math.sqrt(dx * dx + dy * dy)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        dx, dy = px - ax, py - ay
        return math.sqrt(dx * dx + dy * dy)
    if r >= 1.0:
        dx, dy = px - bx, py - by
        return math.sqrt(dx * dx + dy * dy)
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


@numba.njit(cache=True, nogil=True)
def _build(
    edges: np.ndarray, x0: float, y0: float, h: float, nx: int, ny: int
) -> tuple[np.ndarray, np.ndarray]:
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    m = edges.shape[0]
    for pass_ in range(2):
        if pass_ == 1:
            for c in range(nx * ny):
                counts[c + 1] += counts[c]
            fill = counts[:-1].copy()
            members = np.empty(counts[nx * ny], dtype=np.int64)
        for e in range(m):
            lo_x = min(edges[e, 0], edges[e, 2])
            hi_x = max(edges[e, 0], edges[e, 2])
            lo_y = min(edges[e, 1], edges[e, 3])
            hi_y = max(edges[e, 1], edges[e, 3])
            i0 = min(max(int((lo_x - x0) / h), 0), nx - 1)
            i1 = min(max(int((hi_x - x0) / h), 0), nx - 1)
            j0 = min(max(int((lo_y - y0) / h), 0), ny - 1)
            j1 = min(max(int((hi_y - y0) / h), 0), ny - 1)
            for j in range(j0, j1 + 1):
                for i in range(i0, i1 + 1):
                    c = j * nx + i
                    if pass_ == 0:
                        counts[c + 1] += 1
                    else:
                        members[fill[c]] = e
                        fill[c] += 1
    return counts, members


@numba.njit(cache=True, nogil=True)
def _query(
    xy: np.ndarray,
    edges: np.ndarray,
    starts: np.ndarray,
    members: np.ndarray,
    x0: float,
    y0: float,
    h: float,
    nx: int,
    ny: int,
) -> np.ndarray:
    n = xy.shape[0]
    out = np.empty(n)
    x1, y1 = x0 + nx * h, y0 + ny * h
    for k in range(n):
        px, py = xy[k, 0], xy[k, 1]
        best = np.inf
        if not (px >= x0 and px < x1 and py >= y0 and py < y1):
            for e in range(edges.shape[0]):
                d = _seg_dist(px, py, edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3])
                if d < best:
                    best = d
            out[k] = best
            continue
        ci = min(int((px - x0) / h), nx - 1)
        cj = min(int((py - y0) / h), ny - 1)
        ring = 0
        while True:
            for j in range(cj - ring, cj + ring + 1):
                if j < 0 or j >= ny:
                    continue
                edge_row = j == cj - ring or j == cj + ring
                step = 1 if edge_row else 2 * ring
                i = ci - ring
                while i <= ci + ring:
                    if 0 <= i < nx:
                        c = j * nx + i
                        for q in range(starts[c], starts[c + 1]):
                            e = members[q]
                            d = _seg_dist(
                                px, py, edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
                            )
                            if d < best:
                                best = d
                    if step == 0:
                        break
                    i += step
            # distance from the point to the outside of the rings visited so far
            bx0 = x0 + (ci - ring) * h
            bx1 = x0 + (ci + ring + 1) * h
            by0 = y0 + (cj - ring) * h
            by1 = y0 + (cj + ring + 1) * h
            reach = min(px - bx0, bx1 - px, py - by0, by1 - py)
            covered = (
                ci - ring <= 0 and cj - ring <= 0 and ci + ring >= nx - 1 and cj + ring >= ny - 1
            )
            if best <= reach or covered:
                break
            ring += 1
        out[k] = best
    return out


class EdgeGrid:
    """Segments ``(E, 4)`` (``x0, y0, x1, y1``) on a uniform grid, for exact nearest distances."""

    def __init__(self, edges: np.ndarray, *, per_cell: float = 4.0) -> None:
        self.edges = np.ascontiguousarray(edges, dtype=np.float64)
        lo = np.minimum(self.edges[:, :2], self.edges[:, 2:]).min(axis=0)
        hi = np.maximum(self.edges[:, :2], self.edges[:, 2:]).max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        # about `per_cell` segments per cell on average, at most 2048 cells a side
        cells = max(len(self.edges) / per_cell, 1.0)
        h = float(max(math.sqrt(span[0] * span[1] / cells), max(span) / 2048, 1e-9))
        self.nx = int(span[0] // h) + 1
        self.ny = int(span[1] // h) + 1
        self.x0, self.y0, self.h = float(lo[0]), float(lo[1]), h
        self.starts, self.members = _build(self.edges, self.x0, self.y0, h, self.nx, self.ny)

    def distance(self, xy: np.ndarray) -> np.ndarray:
        """Distance from each point of ``xy`` (N, 2) to the nearest segment."""
        pts = np.ascontiguousarray(xy, dtype=np.float64).reshape(-1, 2)
        return _query(
            pts, self.edges, self.starts, self.members, self.x0, self.y0, self.h, self.nx, self.ny
        )
