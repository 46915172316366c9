"""First `clusterscape run` on a fresh install against the warm run (issue 16, item 4).

A fresh clone has no numba cache. Each run here gets its own empty cache directory
(``NUMBA_CACHE_DIR``) and bytecode prefix (``PYTHONPYCACHEPREFIX``), so nothing compiled by
earlier runs on this machine is reused and nothing of the developer's own cache is touched:

* cold: the first run with no warm-up (what a fresh clone paid before ``make install`` warmed up);
* warm-up: ``python -m clusterscape.study._warmup`` (the last step of ``make install``);
* first: the first run after the warm-up, sharing its cache (a fresh clone's first ``make run``);
* warm: the run after that.

Target: first run at most 1.5 x the warm run. Wall and process CPU time (children's user +
system) are both recorded: on the shared 2-core machine, wall time includes waiting for the
other users' processes.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NUMBA_CACHE_DIR": str(root / "numba"),
        "PYTHONPYCACHEPREFIX": str(root / "pyc"),
    }


@pytest.mark.bench
def test_first_run_after_warmup(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "clusterscape")
    run = [exe, "run", "--quiet", "--out"]
    cold = _run([*run, str(tmp_path / "out-cold")], _env(tmp_path / "cold"))
    env = _env(tmp_path / "installed")
    warmup = _run([sys.executable, "-m", "clusterscape.study._warmup"], env)
    first = _run([*run, str(tmp_path / "out-first")], env)
    warm = _run([*run, str(tmp_path / "out-warm")], env)
    rows = [
        ("cold run, no warm-up (before this change)", cold),
        ("warm-up (`python -m clusterscape.study._warmup`, in `make install`)", warmup),
        ("first run after the warm-up (fresh clone's first `make run`)", first),
        ("warm run", warm),
    ]
    ratio_wall = first[0] / warm[0]
    ratio_cpu = first[1] / warm[1]
    lines = [
        "# First run after install (numba warm-up)",
        "",
        "Default `clusterscape run` (built-in Ningbo), each run with an empty numba cache of its own "
        "(benchmarks/bench_warmup.py).",
        "",
        "| run | wall | CPU |",
        "| --- | --- | --- |",
        *(f"| {name} | {w:.1f} s | {c:.1f} s |" for name, (w, c) in rows),
        "",
        f"First run / warm run: **{ratio_wall:.2f}x** wall, {ratio_cpu:.2f}x CPU (target: at most 1.5x); "
        f"cold / warm without the warm-up: {cold[0] / warm[0]:.2f}x wall, {cold[1] / warm[1]:.2f}x CPU.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).parent / "results").mkdir(exist_ok=True)
    (Path(__file__).parent / "results" / "warmup.md").write_text(text, encoding="utf-8")
