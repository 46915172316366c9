"""Seeded point patterns in polygon windows shared by tests/test_pattern_*.py and
scripts/ref_spatstat.R (which calls :func:`write_r_inputs` to hand them to R).

The Ningbo window is rebuilt from the read-only shared data every time (never copied into the
repository): Jiangbei District, projected to EPSG:32651, simplified at 100 m, shifted so its
bounding box starts at whole metres near (0, 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon, box

DISTRICTS = Path("/work/shared/data/ningbo/boundaries/ningbo_districts_amap_wgs84_derived.geojson")


def ningbo_window() -> Polygon:
    import geopandas as gpd

    g = gpd.read_file(DISTRICTS).to_crs(32651)
    geom = g.loc[g["name_en"] == "Jiangbei District", "geometry"].iloc[0]
    geom = max(getattr(geom, "geoms", [geom]), key=lambda p: p.area)
    geom = geom.simplify(100.0, preserve_topology=True)
    xmin, ymin = np.floor(geom.bounds[0]), np.floor(geom.bounds[1])
    geom = shapely.transform(geom, lambda c: np.round(c - np.array([xmin, ymin]), 3))
    return shapely.normalize(geom)


def holed_window() -> Polygon:
    return box(0, 0, 1000, 1000).difference(box(400, 300, 650, 600))


def pattern_in(window, n: int, seed: int, n_clusters: int = 6, sd: float = 400.0) -> np.ndarray:
    """Half uniform, half Thomas-clustered points inside ``window`` (seeded)."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = window.bounds
    pts: list[np.ndarray] = []
    centres = None
    while sum(len(p) for p in pts) < n:
        if centres is None:
            c = rng.uniform([xmin, ymin], [xmax, ymax], size=(200, 2))
            centres = c[shapely.contains_xy(window, c[:, 0], c[:, 1])][:n_clusters]
        m = n // 2
        u = rng.uniform([xmin, ymin], [xmax, ymax], size=(4 * n, 2))
        u = u[shapely.contains_xy(window, u[:, 0], u[:, 1])][:m]
        cl = centres[rng.integers(0, len(centres), 4 * n)] + rng.normal(0, sd, size=(4 * n, 2))
        cl = cl[shapely.contains_xy(window, cl[:, 0], cl[:, 1])][: n - m]
        pts = [u, cl]
    return np.round(np.vstack(pts)[:n], 3)


def cases() -> dict[str, tuple[Polygon, np.ndarray, np.ndarray]]:
    """name -> (window, xy, r)."""
    out = {}
    w = ningbo_window()
    out["ningbo_jiangbei"] = (w, pattern_in(w, 300, seed=20261128), np.linspace(0, 2000, 21))
    h = holed_window()
    out["holed_square"] = (
        h,
        pattern_in(h, 150, seed=7, n_clusters=3, sd=60),
        np.linspace(0, 200, 21),
    )
    return out


def write_r_inputs(outdir: str) -> None:
    """Write <name>_points.csv and <name>_window.csv (ring id, hole flag, x, y) for R."""
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)
    for name, (win, xy, r) in cases().items():
        np.savetxt(
            d / f"{name}_points.csv", xy, delimiter=",", header="x,y", comments="", fmt="%.6f"
        )
        np.savetxt(d / f"{name}_r.csv", r, header="r", comments="", fmt="%.10g")
        rows = []
        polys = list(getattr(win, "geoms", [win]))
        ring_id = 0
        for p in polys:
            for hole, ring in [(0, p.exterior)] + [(1, h) for h in p.interiors]:
                c = np.asarray(ring.coords)[:-1]
                # spatstat: outer boundary anticlockwise, holes clockwise
                ccw = shapely.LinearRing(c).is_ccw
                if (hole == 0) != ccw:
                    c = c[::-1]
                rows += [(ring_id, hole, x, y) for x, y in c]
                ring_id += 1
        np.savetxt(
            d / f"{name}_window.csv",
            np.array(rows),
            delimiter=",",
            header="ring,hole,x,y",
            comments="",
            fmt=["%d", "%d", "%.6f", "%.6f"],
        )
