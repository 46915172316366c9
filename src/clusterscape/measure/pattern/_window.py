"""Observation windows: normalisation, boundary distances, edges and CSR simulation.

A *window* is the region in which a point pattern was observed (spatstat's ``owin``). Any
shapely ``Polygon``/``MultiPolygon`` (holes allowed), a ``(xmin, ymin, xmax, ymax)`` tuple, or a
projected GeoSeries/GeoDataFrame (its union) is accepted. Coordinates are metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from clusterscape._validation import check_projected
from clusterscape.errors import InvalidInputError
from clusterscape.measure.pattern._edgegrid import EdgeGrid

__all__ = ["Window", "as_window", "simulate_csr"]


@dataclass(frozen=True)
class Window:
    """A normalised observation window (internal).

    Attributes
    ----------
    geom : shapely geometry (Polygon or MultiPolygon), metres.
    area_m2 : float, area of the window.
    bounds : tuple, ``(xmin, ymin, xmax, ymax)``.
    is_rect : bool, True when the window is an axis-aligned rectangle.
    edges : ndarray (E, 4), every boundary segment ``x0, y0, x1, y1`` (holes included).
    """

    geom: Any
    area_m2: float
    bounds: tuple[float, float, float, float]
    is_rect: bool
    edges: np.ndarray

    @property
    def short_side_m(self) -> float:
        """Shorter side of the bounding rectangle (spatstat ``shortside(Frame(W))``)."""
        xmin, ymin, xmax, ymax = self.bounds
        return float(min(xmax - xmin, ymax - ymin))

    def boundary_distance(self, xy: np.ndarray) -> np.ndarray:
        """Distance (m) from each point to the window boundary (spatstat ``bdist.points``)."""
        if len(xy) == 0:
            return np.zeros(0)
        if self.is_rect:
            xmin, ymin, xmax, ymax = self.bounds
            return np.minimum.reduce(
                [xy[:, 0] - xmin, xmax - xy[:, 0], xy[:, 1] - ymin, ymax - xy[:, 1]]
            )
        # a uniform grid over the edges (numba): the values shapely's nearest-segment query
        # gives, bit for bit (tests/test_pattern_edgegrid.py), about 10x faster
        return self._edge_grid.distance(np.asarray(xy, dtype=float))

    @cached_property
    def _edge_grid(self) -> EdgeGrid:
        return EdgeGrid(self.edges)

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Boolean mask of points inside or on the boundary of the window."""
        if self.is_rect:
            xmin, ymin, xmax, ymax = self.bounds
            return (xy[:, 0] >= xmin) & (xy[:, 0] <= xmax) & (xy[:, 1] >= ymin) & (xy[:, 1] <= ymax)
        inside = shapely.contains_xy(self.geom, xy[:, 0], xy[:, 1])
        if not inside.all():  # points exactly on the boundary count as inside (spatstat does too)
            out = ~inside
            d = shapely.distance(self.geom, shapely.points(xy[out, 0], xy[out, 1]))
            scale = max(self.bounds[2] - self.bounds[0], self.bounds[3] - self.bounds[1])
            inside = inside.copy()
            inside[out] = d <= 1e-9 * scale
        return np.asarray(inside, dtype=bool)


def _edges(geom: Any) -> np.ndarray:
    rings = []
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    for p in polys:
        rings.append(np.asarray(p.exterior.coords))
        rings.extend(np.asarray(h.coords) for h in p.interiors)
    segs = [np.column_stack([r[:-1], r[1:]]) for r in rings]
    return np.ascontiguousarray(np.vstack(segs), dtype=float)


def as_window(window: Any, *, caller: str) -> Window:
    """Normalise a user window to :class:`Window`, with actionable errors.

    Parameters
    ----------
    window : shapely Polygon/MultiPolygon, (xmin, ymin, xmax, ymax), GeoSeries or GeoDataFrame
        The observation window in metres. A GeoSeries/GeoDataFrame must have a projected CRS;
        its geometries are unioned.
    caller : str
        Name of the public function, for error messages.
    """
    if isinstance(window, Window):
        return window
    geom: Any
    if hasattr(window, "union_all"):
        if getattr(window, "crs", None) is not None:
            check_projected(window, caller=caller)
        geoms = window.geometry if hasattr(window, "geometry") else window
        geom = geoms.union_all()
    elif isinstance(window, tuple | list | np.ndarray) and len(window) == 4:
        xmin, ymin, xmax, ymax = (float(v) for v in window)
        if not (xmax > xmin and ymax > ymin):
            raise InvalidInputError(
                f"{caller}: window bounds {tuple(window)} must be (xmin, ymin, xmax, ymax) with "
                "xmax > xmin and ymax > ymin."
            )
        geom = box(xmin, ymin, xmax, ymax)
    else:
        geom = window
    if not isinstance(geom, Polygon | MultiPolygon):
        raise InvalidInputError(
            f"{caller}: window must be a shapely Polygon or MultiPolygon (or a (xmin, ymin, xmax, "
            f"ymax) tuple or a projected GeoSeries), got {type(window).__name__}. Build one with "
            "shapely.geometry.box(...) or take a district polygon from a projected GeoDataFrame."
        )
    if geom.is_empty or geom.area <= 0:
        raise InvalidInputError(
            f"{caller}: the window is empty (area 0); pass a polygon with area."
        )
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
        if not isinstance(geom, Polygon | MultiPolygon):
            raise InvalidInputError(
                f"{caller}: the window polygon is invalid and could not be repaired into a "
                "polygon; fix it with shapely.make_valid or buffer(0)."
            )
    geom = shapely.normalize(geom)
    shapely.prepare(geom)
    bounds = tuple(float(v) for v in geom.bounds)
    bbox_area = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
    is_rect = (
        isinstance(geom, Polygon)
        and len(geom.interiors) == 0
        and abs(geom.area - bbox_area) <= 1e-12 * bbox_area
    )
    return Window(
        geom=geom,
        area_m2=float(geom.area),
        bounds=bounds,  # type: ignore[arg-type]
        is_rect=bool(is_rect),
        edges=_edges(geom),
    )


def check_inside(xy: np.ndarray, win: Window, *, caller: str, what: str = "points") -> None:
    """Raise :class:`InvalidInputError` if any point lies outside the window."""
    if len(xy) == 0:
        return
    inside = win.contains(xy)
    if not inside.all():
        bad = np.flatnonzero(~inside)
        raise InvalidInputError(
            f"{caller}: {bad.size} of {len(xy)} {what} lie outside the window (first: row "
            f"{bad[0]} at ({xy[bad[0], 0]:.3f}, {xy[bad[0], 1]:.3f})). Clip the points to the window "
            "(e.g. keep gdf[gdf.within(window)]) or pass the window they were observed in."
        )


def simulate_csr(
    window: Any, n: int, *, nsim: int = 1, seed: int | np.random.Generator | None = 0
) -> np.ndarray:
    """Simulate complete spatial randomness (binomial process) in a window.

    Points are drawn uniformly in the bounding box and kept when inside the window (rejection
    sampling), which gives exactly uniform points in any polygon (spatstat ``runifpoint``).

    Parameters
    ----------
    window : Polygon, MultiPolygon, bounds tuple or projected GeoSeries
        The window, metres.
    n : int
        Number of points per pattern.
    nsim : int, default 1
        Number of independent patterns.
    seed : int, Generator or None, default 0
        Randomness source.

    Returns
    -------
    ndarray of shape (nsim, n, 2), metres.
    """
    win = as_window(window, caller="simulate_csr")
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = win.bounds
    out = np.empty((nsim, n, 2))
    if win.is_rect:
        out[..., 0] = rng.uniform(xmin, xmax, size=(nsim, n))
        out[..., 1] = rng.uniform(ymin, ymax, size=(nsim, n))
        return out
    frac = win.area_m2 / ((xmax - xmin) * (ymax - ymin))
    for s in range(nsim):
        got = 0
        while got < n:
            m = int((n - got) / frac * 1.1) + 16
            cand = np.column_stack([rng.uniform(xmin, xmax, m), rng.uniform(ymin, ymax, m)])
            keep = cand[shapely.contains_xy(win.geom, cand[:, 0], cand[:, 1])]
            take = min(n - got, len(keep))
            out[s, got : got + take] = keep[:take]
            got += take
    return out
