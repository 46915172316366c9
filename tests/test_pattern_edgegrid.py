"""The edge-grid boundary distance equals shapely's (GEOS) distance to the boundary."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from clusterscape.coords import to_local_metric
from clusterscape.datasets import ningbo_boundaries
from clusterscape.measure.pattern._edgegrid import EdgeGrid
from clusterscape.measure.pattern._window import as_window


def _reference(win, xy: np.ndarray) -> np.ndarray:
    """Nearest boundary segment by shapely's STRtree (the implementation this replaced)."""
    segs = shapely.linestrings(win.edges.reshape(-1, 2, 2))
    tree = shapely.STRtree(segs)
    idx, dist = tree.query_nearest(
        shapely.points(xy[:, 0], xy[:, 1]), return_distance=True, all_matches=False
    )
    out = np.empty(len(xy))
    out[idx[0]] = dist
    return out


def test_ningbo_multipolygon_distances_equal_shapely() -> None:
    city, _ = ningbo_boundaries()
    win = as_window(to_local_metric(city), caller="test")
    assert win.geom.geom_type == "MultiPolygon" and len(win.edges) > 1000
    rng = np.random.default_rng(7)
    xmin, ymin, xmax, ymax = win.bounds
    xy = np.column_stack([rng.uniform(xmin, xmax, 40_000), rng.uniform(ymin, ymax, 40_000)])
    inside = xy[win.contains(xy)]
    got = win.boundary_distance(inside)
    np.testing.assert_array_equal(got, _reference(win, inside))
    # and against the boundary as one geometry (not segment by segment)
    np.testing.assert_allclose(
        got, shapely.distance(win.geom.boundary, shapely.points(inside)), rtol=0, atol=1e-9
    )
    # points outside the window and far outside the grid
    out = np.array([[xmin - 5e4, ymin - 5e4], [xmax + 1.0, ymax + 1.0], *xy[:200]])
    np.testing.assert_array_equal(win.boundary_distance(out), _reference(win, out))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_polygons_with_holes_and_degenerate_edges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ang = np.sort(rng.uniform(0, 2 * np.pi, 300))
    rad = rng.uniform(500, 1000, 300)
    shell = np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])
    shell = np.vstack([shell, shell[:1], shell[:1]])  # a repeated vertex: a zero-length edge
    hole = [(-50, -50), (50, -50), (50, 50), (-50, 50)]
    poly = Polygon(shell, [hole]).buffer(0)
    win = as_window(poly, caller="test")
    xy = rng.uniform(-1000, 1000, (5000, 2))
    grid = EdgeGrid(np.vstack([win.edges, [[10.0, 10.0, 10.0, 10.0]]]))
    np.testing.assert_array_equal(
        grid.distance(xy)[: len(xy)],
        np.minimum(_reference(win, xy), np.sqrt((xy[:, 0] - 10) ** 2 + (xy[:, 1] - 10) ** 2)),
    )
    np.testing.assert_array_equal(win.boundary_distance(xy), _reference(win, xy))
