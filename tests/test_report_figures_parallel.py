"""Figures drawn in two processes: the same list, in order, and the same errors as drawn in one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clusterscape.report.figures import Figure, _draw, _draw_in_two_processes


def _maker(tag: str):
    def make(study, path: Path) -> Figure | None:
        if tag == "none":
            return None
        path.write_text(f"{tag} drawn by {os.getpid()}")
        return Figure(path.name, tag, f"caption {tag}", "clusters")

    return make


def _jobs(tmp_path: Path, tags: list[str]):
    return [(tmp_path / f"{i}_{t}.png", _maker(t)) for i, t in enumerate(tags)]


def test_same_figures_in_order_as_one_process(tmp_path):
    tags = ["a", "b", "none", "c", "d", "e", "none"]
    jobs = _jobs(tmp_path, tags)
    got = _draw_in_two_processes(None, jobs)  # type: ignore[arg-type]
    assert got == _draw(None, jobs, range(len(jobs)))  # type: ignore[arg-type]
    assert [f.title if f else None for f in got] == [t if t != "none" else None for t in tags]
    for path, _ in jobs:
        assert path.exists() == ("none" not in path.name)


def test_both_processes_draw(tmp_path):
    jobs = _jobs(tmp_path, ["a", "b", "c", "d"])
    _draw_in_two_processes(None, jobs)  # type: ignore[arg-type]
    pids = {p.read_text().split()[-1] for p, _ in jobs}
    if (os.cpu_count() or 1) >= 2:
        assert len(pids) == 2
        assert str(os.getpid()) in pids


def test_failure_in_the_copy_is_redrawn_here(tmp_path):
    here = os.getpid()

    def only_here(study, path: Path) -> Figure | None:
        if os.getpid() != here:
            raise RuntimeError("copy failed")
        path.write_text("here")
        return Figure(path.name, "late", "drawn after the copy failed", "clusters")

    jobs = [*_jobs(tmp_path, ["a"]), (tmp_path / "late.png", only_here)]
    got = _draw_in_two_processes(None, jobs)  # type: ignore[arg-type]
    assert [f.title for f in got if f] == ["a", "late"]
    assert (tmp_path / "late.png").read_text() == "here"


def test_error_in_a_maker_is_raised_as_without_the_copy(tmp_path):
    def broken(study, path: Path) -> Figure | None:
        raise ValueError("no such column")

    jobs = [*_jobs(tmp_path, ["a", "b"]), (tmp_path / "x.png", broken)]  # broken here
    with pytest.raises(ValueError, match="no such column"):
        _draw_in_two_processes(None, jobs)  # type: ignore[arg-type]
    jobs = [*_jobs(tmp_path, ["a"]), (tmp_path / "x.png", broken)]  # broken in the copy
    with pytest.raises(ValueError, match="no such column"):
        _draw_in_two_processes(None, jobs)  # type: ignore[arg-type]
