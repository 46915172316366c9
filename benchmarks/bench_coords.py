"""convert() on 10 million points vs prcoords 1.0.2 (the peer a user would otherwise call).

prcoords is scalar pure Python, so it is timed on a 20,000-point sample and extrapolated.
Targets (issue 2): >= 10 M points/s WGS-84 -> GCJ-02 and >= 3 M points/s for the iterative
inverse, on one core (our kernels are single-threaded numba).
"""

from __future__ import annotations

import numpy as np
import prcoords
import pytest

from clusterscape.coords import convert

pytestmark = pytest.mark.bench

N = 10_000_000
N_PEER = 20_000
CASES = [
    ("wgs84", "gcj02", prcoords.wgs_gcj),
    ("gcj02", "wgs84", prcoords.gcj_wgs_bored),
    ("wgs84", "bd09", prcoords.wgs_bd),
    ("bd09", "wgs84", prcoords.bd_wgs_bored),
]


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(73.5, 135.0, N), rng.uniform(3.9, 53.5, N)


@pytest.mark.parametrize(("src", "dst", "peer"), CASES, ids=[f"{s}->{d}" for s, d, _ in CASES])
def test_bench_convert(points, src: str, dst: str, peer, load_note: str, timed) -> None:
    lon, lat = points
    convert(lon[:10], lat[:10], src=src, dst=dst)  # compile / load the numba cache
    wall, cpu = timed(convert, lon, lat, src=src, dst=dst, repeat=3)
    pairs = list(zip(lat[:N_PEER], lon[:N_PEER], strict=True))
    _, peer_cpu = timed(lambda: [peer(p) for p in pairs], repeat=1)
    theirs = peer_cpu * (N / N_PEER)
    print(
        f"\nconvert {src}->{dst}: {N:,} points, CPU {cpu:.3f} s = {N / cpu / 1e6:.1f} M pts/s "
        f"(wall {wall:.3f} s = {N / wall / 1e6:.1f} M pts/s); prcoords CPU (extrapolated from "
        f"{N_PEER:,}) {theirs:.0f} s; ratio {theirs / cpu:.0f}x; {load_note}"
    )
    x, y = convert(lon[:N_PEER], lat[:N_PEER], src=src, dst=dst)
    ref = [peer(p) for p in pairs[:1000]]
    assert np.abs(x[:1000] - [c.lon for c in ref]).max() < 1e-6
    assert np.abs(y[:1000] - [c.lat for c in ref]).max() < 1e-6
