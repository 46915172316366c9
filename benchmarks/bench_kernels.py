"""The strip-scan pair kernels on the default run's workload (built-in Ningbo).

Run: ``.venv/bin/pytest benchmarks/bench_kernels.py -m bench -s``. Times (best of 5, wall and
process CPU) the users of the one strip scan (``_kernels.scan_rows``): the weighted border
numerator of Kinhom (``pair_hist`` with ``MODE_BORDER_SQ``, 20 of the default run's 100 calls
on 2,000 points), the isotropic K numerator, the binned Kd pair grid and the unweighted border
counts of the L envelope (``pair_hist_batch``, one pattern a thread); and prints a checksum of
each result, so that two versions of the kernels can be compared number for number.
"""

from __future__ import annotations

import numpy as np
import pytest

from clusterscape import coords, datasets
from clusterscape.measure.pattern import _kernels as kern
from clusterscape.measure.pattern._envelope import _default_r
from clusterscape.measure.pattern._kd import _kd_core
from clusterscape.measure.pattern._kfunc import _weighted_numerator
from clusterscape.measure.pattern._window import as_window

pytestmark = pytest.mark.bench


def _workload():
    inp = datasets.ningbo()
    est = coords.to_local_metric(inp.establishments)
    win = as_window(inp.boundary.to_crs(est.crs).union_all(), caller="bench")
    xy = np.column_stack([est.geometry.x, est.geometry.y])
    xy = xy[win.contains(xy)]
    rng = np.random.default_rng(0)
    subsets = [xy[rng.choice(len(xy), 2000, replace=False)] for _ in range(20)]
    return win, xy, subsets, rng.uniform(0.5, 2.0, 2000)


def test_strip_scan_kernels(timed, load_note):
    win, xy, subsets, u = _workload()
    r = _default_r(win, 3000, None, caller="bench", nr=129)  # the default run's L/Kinhom r

    def kinhom():
        return [_weighted_numerator(p, win, r, "border", u)[0] for p in subsets]

    def iso():
        return _weighted_numerator(subsets[0], win, r, "isotropic", u)[0]

    big = xy[np.random.default_rng(1).choice(len(xy), 20_000, replace=False)]

    def kd():
        return _kd_core(big, np.ones(len(big)), np.linspace(0, 5000, 101), 150.0, True)

    csr = np.stack([xy[np.random.default_rng(s).choice(len(xy), 3000, replace=False)]
                    for s in range(20)])  # fmt: skip
    bcsr = np.stack([win.boundary_distance(p) for p in csr])

    def batch():  # the L envelope's kernel: unweighted border counts, one pattern a thread
        return kern.pair_hist_batch(
            np.ascontiguousarray(csr[:, :, 0]), np.ascontiguousarray(csr[:, :, 1]), bcsr, r,
            kern.MODE_BORDER, win.edges, 0.0, 0.0, 0.0,
        )[0]  # fmt: skip

    kinhom(), iso(), kd(), batch()  # compile / load the cache
    print(f"\n{load_note}; r up to {r[-1]:.0f} m")
    for name, fn in (("Kinhom border x20 (2,000 pts)", kinhom), ("isotropic K (2,000 pts)", iso),
                     ("Kd binned (20,000 pts)", kd),
                     ("L envelope counts x20 (3,000 pts)", batch)):  # fmt: skip
        wall, cpu = timed(fn, repeat=5)
        out = np.asarray(fn(), dtype=float)
        print(f"{name}: wall {wall:.3f} s, CPU {cpu:.3f} s, checksum {out.sum()!r}")
