"""The weighted border-correction kernel (Kinhom's hot loop) gives pair_hist's numbers exactly.

``_kernels.pair_hist(mode=MODE_BORDER_SQ)`` replaces ``sqrt`` and a search of ``r`` by a squared-distance
threshold table and skips pairs neither end point can count; it must return the very bits of the
general kernel ``_kernels.pair_hist(mode=MODE_BORDER)`` (same pairs, same float additions in
the same order), on polygon windows (spatstat's whist/Kount rule) and on rectangles with an even
grid from 0 (Krect rule), with uneven weights and with points on the boundary.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from clusterscape.measure.pattern import _kernels as kern
from clusterscape.measure.pattern._kfunc import _krect_step, _weighted_numerator
from clusterscape.measure.pattern._window import as_window

L_SHAPE = Polygon([(0, 0), (3000, 0), (3000, 1200), (1300, 1200), (1300, 2500), (0, 2500)])


def _inputs(win, xy, r, u):
    rstep = _krect_step(win, r)
    pts = xy - np.array(win.bounds[:2]) if rstep > 0 else xy
    if rstep > 0:
        xmin, ymin, xmax, ymax = win.bounds
        w, h = xmax - xmin, ymax - ymin
        b = np.minimum(np.minimum(pts[:, 0], w - pts[:, 0]), np.minimum(pts[:, 1], h - pts[:, 1]))
    else:
        b = win.boundary_distance(pts)
    tops = kern.border_tops(r, np.ascontiguousarray(b), rstep)
    order, start, strip_of = kern.strip_order(pts[:, 0], pts[:, 1], float(r[-1]))
    return (
        np.ascontiguousarray(pts[order, 0]),
        np.ascontiguousarray(pts[order, 1]),
        start,
        strip_of,
        np.ascontiguousarray(b[order]),
        np.ascontiguousarray(tops[order]),
        np.ascontiguousarray(u[order]),
        r,
        rstep,
    )


def _points(geom, n, rng):
    x0, y0, x1, y1 = geom.bounds
    out = []
    while len(out) < n:
        p = rng.uniform([x0, y0], [x1, y1], size=(4 * n, 2))
        keep = as_window(geom, caller="test").contains(p)
        out.extend(p[keep].tolist())
    xy = np.array(out[:n])
    xy[:5] = np.round(xy[:5], -2)  # a few on a 100 m lattice, some on the boundary
    return xy


@pytest.mark.parametrize(
    ("geom", "r"),
    [
        (L_SHAPE, np.linspace(0.0, 700.0, 57)),  # polygon: whist rule
        (L_SHAPE, np.array([0.0, 35.0, 90.0, 160.0, 333.3, 500.0, 812.0])),  # uneven r
        (box(0, 0, 2500, 1800), np.linspace(0.0, 450.0, 46)),  # rectangle, even r: Krect
    ],
)
def test_weighted_border_kernel_equals_pair_hist_bit_for_bit(geom, r):
    rng = np.random.default_rng(7)
    win = as_window(geom, caller="test")
    xy = _points(geom, 700, rng)
    xy = np.vstack([xy, xy[:3]])  # coincident points: d = 0
    u = rng.gamma(2.0, 0.5, size=len(xy))
    x, y, start, strip_of, b, tops, uu, rr, rstep = _inputs(win, xy, r, u)
    xmin, ymin, xmax, ymax = win.bounds
    edges = win.edges - np.array([xmin, ymin, xmin, ymin]) if rstep > 0 else win.edges
    nchunks = numba.get_num_threads()
    ref = kern.pair_hist(
        x, y, start, strip_of, b, tops, uu, rr, kern.MODE_BORDER, edges,
        xmax - xmin, ymax - ymin, rstep, nchunks,
    )  # fmt: skip
    got = kern.pair_hist(
        x, y, start, strip_of, b, tops, uu, rr, kern.MODE_BORDER_SQ, edges,
        xmax - xmin, ymax - ymin, rstep, nchunks,
    )  # fmt: skip
    assert np.cumsum(ref)[-1] != 0.0  # the case does count pairs
    np.testing.assert_array_equal(got, ref)


def test_weighted_numerator_falls_back_when_no_threshold_table():
    """r values too close for the lookup table: the general kernel answers, same numbers as a
    brute-force reduced-sample sum."""
    rng = np.random.default_rng(3)
    win = as_window(L_SHAPE, caller="test")
    xy = _points(L_SHAPE, 300, rng)
    r = np.array([0.0, 250.0, 250.0 + 1e-9, 400.0])
    assert kern.bin_table(r, 0.0)[1].shape[0] == 0  # no table: the fallback path is taken
    u = rng.uniform(0.5, 2.0, size=len(xy))
    num, counts = _weighted_numerator(xy, win, r, "border", u)
    b = win.boundary_distance(xy)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    w = u[:, None] * u[None, :]
    # point i counts at r_k when b_i >= r_k; a pair (i, j) when also d_ij < r_k
    # (spatstat breaks (-dr, r); the last r includes ties)
    brute = np.array(
        [
            (w * ((d < rk) | ((k == len(r) - 1) & (d == rk))) * (b[:, None] >= rk)).sum()
            for k, rk in enumerate(r)
        ]
    )
    np.testing.assert_allclose(num, brute, rtol=1e-12)
    np.testing.assert_allclose(counts, [(u * (b >= rk)).sum() for rk in r], rtol=1e-12)


@pytest.mark.parametrize(
    ("r", "rstep"),
    [
        (np.linspace(0.0, 700.0, 57), 0.0),
        (np.linspace(0.0, 1500.0, 129), 0.0),  # the default run's grid size
        (np.linspace(0.0, 450.0, 46), 10.0),  # Krect
        (np.array([0.0, 35.0, 90.0, 160.0, 333.3, 500.0, 812.0]), 0.0),
        (np.array([3.0, 35.0, 90.0]), 0.0),  # no r at 0
    ],
)
def test_bin_table_reads_the_bin_of_every_squared_distance(r, rstep):
    """The threshold table gives _bin's bin for every d²: the table cell's count plus one
    comparison, at and next to every threshold and at random distances."""
    thr, lut, scale = kern.bin_table(r, rstep)
    assert lut.shape[0] > 0
    # lut[c] = number of thresholds in cells before c (a threshold below 0 counts everywhere)
    cells = np.where(thr[:-1] < 0, -1, np.minimum((thr[:-1] * scale).astype(np.int64), len(lut)))
    np.testing.assert_array_equal(lut, [(cells < c).sum() for c in range(len(lut))])
    rmax2 = r[-1] ** 2
    t = thr[:-1][thr[:-1] >= 0]
    d2 = np.concatenate(
        [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf),
         np.random.default_rng(0).uniform(0, rmax2, 5000), [0.0, rmax2]]
    )  # fmt: skip
    d2 = d2[(d2 >= 0) & (d2 <= rmax2)]
    for v in d2:
        k = lut[int(v * scale)]
        k += v > thr[k]
        assert k == kern._bin(r, np.sqrt(v), rstep), v
