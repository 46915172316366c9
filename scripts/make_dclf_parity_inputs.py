"""Write the seeded patterns behind the spatstat dclf.test / mad.test parity numbers.

    PYTHONPATH=src .venv/bin/python scripts/make_dclf_parity_inputs.py   # then
    Rscript scripts/ref_spatstat_dclf.R                                   # writes the JSON

Each case is an observed pattern and 39 binomial CSR patterns in its window, written as CSV
(``sim`` = 0 for the observed pattern) to tests/data/dclf_parity/, with the window as WKT.
The test (tests/test_pattern_envelope.py) passes the same patterns to
``dclf_test(..., simulated=...)`` and compares with spatstat's statistic and p-value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box

from clusterscape.measure.pattern import simulate_csr

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "dclf_parity"
NSIM = 39


def _mild_cluster(win, n, rng):
    """7/8 CSR, 1/8 around 6 parents (sd 60 m): p-values away from the extremes."""
    xy = list(simulate_csr(win, n - n // 8, seed=int(rng.integers(2**31)))[0])
    parents = simulate_csr(win, 6, seed=int(rng.integers(2**31)))[0]
    while len(xy) < n:
        p = parents[rng.integers(6)] + rng.normal(0, 60, 2)
        if shapely.contains_xy(win, p[0], p[1]):
            xy.append(p)
    return np.asarray(xy)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    cases = {
        "rect": box(0, 0, 1000, 600),
        "holed": box(0, 0, 1000, 1000).difference(box(300, 300, 600, 700)),
    }
    for name, win in cases.items():
        obs = _mild_cluster(win, 80, rng)
        sims = simulate_csr(win, 80, nsim=NSIM, seed=int(rng.integers(2**31)))
        rows = [(0, x, y) for x, y in obs]
        rows += [(s + 1, x, y) for s in range(NSIM) for x, y in sims[s]]
        with open(OUT / f"{name}.csv", "w") as fh:
            fh.write("sim,x,y\n")
            for s, x, y in rows:
                fh.write(f"{s},{float(x)!r},{float(y)!r}\n")
        (OUT / f"{name}.wkt").write_text(win.wkt + "\n")


if __name__ == "__main__":
    main()
