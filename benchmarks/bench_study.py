"""Whole default run (`clusterscape run`, the Ningbo study): wall time, CPU time, peak memory,
and the time of each step as the run reports it.

Targets: under 60 s and 4 GB on the 2-core machine, whole process (issue 4); warm, under 15 s
(issue 16). The numba cache is warm (`make install` fills it). Run with `make bench`.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.bench
def test_whole_default_run(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "clusterscape"
    runs = []
    for i in range(2):  # the first fills the bytecode and OS file caches
        load_start = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(exe), "run", "--out", str(tmp_path / f"ningbo{i}")],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert proc.returncode == 0, proc.stderr
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        steps = dict(re.findall(r"✓ (\w+) \(([\d.]+) s\)", proc.stdout + proc.stderr))
        runs.append((wall, cpu, steps, (load_start, os.getloadavg()[0])))
    wall, cpu, steps, load = runs[-1]
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    line = (
        f"whole default run, warm: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak_gb:.2f} GB "
        f"(targets: 15 s warm, 4 GB); load average {load[0]:.1f} -> {load[1]:.1f} on "
        f"{os.cpu_count()} cores (wall times mean little above the core count: compare CPU)"
    )
    step_line = "steps (wall): " + ", ".join(f"{k} {v} s" for k, v in steps.items())
    print(line, step_line, sep="\n")
    (Path(__file__).parent / "results").mkdir(exist_ok=True)
    (Path(__file__).parent / "results" / "study.md").write_text(
        "# Whole run\n\n" + line + "\n\n" + step_line + "\n", encoding="utf-8"
    )
