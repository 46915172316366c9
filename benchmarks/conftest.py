"""Shared helpers for the benchmarks (run with `make bench`; excluded from the test run)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Module | None:
    """Collect ``bench_*.py`` modules (pytest's default pattern is ``test_*.py``)."""
    if parent.session.isinitpath(file_path):
        return None  # named on the command line: pytest collects it already
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def _timed(
    fn: Callable[..., Any], *args: Any, repeat: int = 3, **kwargs: Any
) -> tuple[float, float]:
    """Best wall time and best process CPU time in seconds over ``repeat`` calls.

    On a shared machine the CPU time (all threads of this process) is the figure that
    says what the code costs; the wall time says what a user waited under that load.
    """
    wall = cpu = float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(*args, **kwargs)
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


@pytest.fixture
def timed() -> Callable[..., tuple[float, float]]:
    """``timed(fn, *args, repeat=3, **kwargs)`` -> (best wall s, best CPU s)."""
    return _timed


@pytest.fixture
def load_note() -> str:
    """A note on machine contention, printed next to every figure."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = " (CONTENDED: load > cores)" if one > cores else ""
    return f"load average {one:.1f}/{five:.1f} on {cores} cores{busy}"
