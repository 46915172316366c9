"""Fill numba's on-disk cache so the first ``clusterscape run`` does not pay for compilation.

``python -m clusterscape.study._warmup`` (run by ``make install``) runs the default study, built-in
Ningbo and every step, in memory on a random subset of its establishments, then converts a few
coordinates between every pair of datums and runs DBSCAN (``detect --method dbscan``) on a
few hundred points. The subset has the same columns and dtypes as the
full data, so each ``cache=True`` kernel is compiled for the type signature a real run uses and
stored beside its module (``__pycache__/*.nbi, *.nbc``); a later process loads it from there.
Nothing is written outside numba's cache. Compilation takes about a minute; the cached kernels
load in well under a second.

A kernel whose source changes after the warm-up is compiled again on its first call (numba keys
its cache on the source file), so after editing a module, run the warm-up again.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from typing import Any

import numpy as np

__all__ = ["warm_up"]

#: establishments kept from the built-in study: enough for HDBSCAN to find clusters and for
#: every later step (measure, typology, urban, effects) to have clusters to work on
N_WARMUP = 12_000


def _small_ningbo(n: int) -> Any:
    from clusterscape import datasets

    full = datasets.ningbo

    def small(**kwargs: Any) -> Any:
        inputs = full(**kwargs)
        est = inputs.establishments
        keep = np.sort(np.random.default_rng(0).choice(len(est), min(n, len(est)), replace=False))
        return replace(inputs, establishments=est.iloc[keep].reset_index(drop=True))

    return small


def warm_up(n: int = N_WARMUP) -> dict[str, float]:
    """Compile and cache the numba kernels of a default run; return seconds per part.

    Parameters
    ----------
    n : int
        Establishments kept from the built-in Ningbo study.

    Returns
    -------
    dict
        ``{"study": seconds, "coords": seconds, "dbscan": seconds}``.
    """
    from clusterscape import coords, datasets
    from clusterscape.detect.clusters import dbscan_labels
    from clusterscape.study.run import StudyConfig, run_study

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    original = datasets.ningbo
    datasets.ningbo = _small_ningbo(n)  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():  # about the subset's statistics, which nobody reads
            warnings.simplefilter("ignore")
            run_study(StudyConfig())
    finally:
        datasets.ningbo = original  # type: ignore[assignment]
    times["study"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lon = np.array([121.55, 121.56, 121.60])
    lat = np.array([29.87, 29.88, 29.90])
    datums = ("wgs84", "gcj02", "bd09")
    for src in datums:
        for dst in datums:
            if src != dst:
                coords.convert(lon, lat, src=src, dst=dst)
    times["coords"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    xy = np.random.default_rng(0).normal(0.0, 300.0, (400, 2)) + np.array([600_000.0, 3_300_000.0])
    dbscan_labels(xy, eps_m=100.0, min_samples=5)
    times["dbscan"] = time.perf_counter() - t0
    return times


def main() -> None:
    """Entry point of ``python -m clusterscape.study._warmup``."""
    t0 = time.perf_counter()
    times = warm_up()
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
    print(f"numba kernels compiled and cached in {time.perf_counter() - t0:.1f} s ({parts})")


if __name__ == "__main__":
    main()
