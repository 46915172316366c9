"""Whole default run (`clusterscape run`, the Ningbo study): wall time and peak memory.

Target (issue 4): under 60 s and 4 GB on the 2-core machine, whole process. Run with `make bench`.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.bench
def test_whole_default_run(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "clusterscape"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "run", "--out", str(tmp_path / "ningbo"), "--quiet"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    line = f"whole default run: {wall:.1f} s wall, peak RSS {peak_gb:.2f} GB (targets: 60 s, 4 GB)"
    print(line)
    (Path(__file__).parent / "results").mkdir(exist_ok=True)
    (Path(__file__).parent / "results" / "study.md").write_text(
        "# Whole run\n\n" + line + "\n", encoding="utf-8"
    )
