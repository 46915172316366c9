"""Atomic study directories: kills by PID at every phase, a lock against concurrent runs, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.io.establishments import atomic_directory
from clusterscape.io.writers import PAUSE_ENV, PAUSE_PHASES

N_FILES = 5

# A writer that puts a complete "study" (a manifest and the files it lists) into OUT.
WRITER = textwrap.dedent(
    """
    import json, sys
    from clusterscape.io.establishments import atomic_directory
    out, tag = sys.argv[1], sys.argv[2]
    with atomic_directory(out) as tmp:
        names = []
        for i in range({n}):
            (tmp / f"part{{i}}.txt").write_text(tag * 1000)
            names.append(f"part{{i}}.txt")
        (tmp / "summary.json").write_text(json.dumps({{"tag": tag, "files": names}}))
    """
).format(n=N_FILES)


def _study_tag(out: Path) -> str:
    """The tag of the complete study in ``out``; fails if ``out`` is missing or partial."""
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["files"]) == N_FILES
    for name in summary["files"]:
        assert (out / name).read_text() == summary["tag"] * 1000
    return str(summary["tag"])


def _run(out: Path, tag: str, pause: str | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), tag],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def _complete(out: Path, tag: str) -> int:
    """Run a writer to the end; its exit code."""
    proc = _run(out, tag)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return proc.returncode


def _leftovers(parent: Path, out: Path) -> list[str]:
    """Everything next to ``out`` and in its runs directory except the run ``out`` points at."""
    runs = parent / f".{out.name}.runs"
    current = Path(os.readlink(out)).name if out.is_symlink() else None
    extra = [p.name for p in parent.iterdir() if p.name not in {out.name, runs.name}]
    if runs.exists():
        extra += [f"runs/{p.name}" for p in runs.iterdir() if p.name != current]
    return sorted(extra)


@pytest.mark.parametrize("legacy", [False, True], ids=["link", "legacy-dir"])
@pytest.mark.parametrize("phase", PAUSE_PHASES)
def test_kill_by_pid_at_every_phase_leaves_a_complete_study(
    tmp_path: Path, phase: str, legacy: bool
) -> None:
    out = tmp_path / "ningbo"
    if legacy:  # a real directory written by the earlier rename-based writer
        out.mkdir()
        (out / "summary.json").write_text(
            json.dumps({"tag": "a", "files": [f"part{i}.txt" for i in range(N_FILES)]})
        )
        for i in range(N_FILES):
            (out / f"part{i}.txt").write_text("a" * 1000)
    else:
        _complete(out, "a")
    assert _study_tag(out) == "a"
    proc = _run(out, "b", pause=phase)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert f"paused at {phase} pid {proc.pid}" in line
    # Mid-run, readers see the complete previous study.
    assert _study_tag(out) in {"a", "b"}
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    tag = _study_tag(out)
    # Before the switch the old study stays; after it the new one is complete.
    assert tag == ("b" if phase == "flipped" else "a")
    # The next run recovers: it cleans every leftover and leaves only the new study.
    _complete(out, "c")
    assert _study_tag(out) == "c"
    assert _leftovers(tmp_path, out) == []


def test_second_concurrent_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ningbo"
    first = _run(out, "a", pause="writing")
    assert first.stderr is not None
    assert "paused at writing" in first.stderr.readline()
    try:
        with (
            pytest.raises(InvalidInputError, match=f"another run is writing {out}"),
            atomic_directory(out),
        ):
            pass  # pragma: no cover - never entered
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        first.stderr.close()
    assert not out.exists()  # the killed first run never switched anything in
    with atomic_directory(out) as tmp:  # the lock died with its process
        (tmp / "summary.json").write_text("{}")
    assert (out / "summary.json").read_text() == "{}"
    assert _leftovers(tmp_path, out) == []


def test_failed_run_keeps_previous_and_old_writer_leftovers_are_recovered(tmp_path: Path) -> None:
    out = tmp_path / "ningbo"
    # The earlier writer killed between its two renames: no `out`, a complete .old-X, a .tmp-X.
    old = tmp_path / ".ningbo.old-1234abcd"
    old.mkdir()
    (old / "summary.json").write_text('{"run": "old"}')
    (tmp_path / ".ningbo.tmp-1234abcd").mkdir()
    (tmp_path / ".ningbo.tmp-1234abcd" / "big.bin").write_bytes(b"x" * 1000)
    with pytest.raises(KeyboardInterrupt), atomic_directory(out) as tmp:
        (tmp / "summary.json").write_text("partial")
        raise KeyboardInterrupt
    assert (out / "summary.json").read_text() == '{"run": "old"}'  # restored, not lost
    assert out.is_dir() and not out.is_symlink()
    assert _leftovers(tmp_path, out) == []
    with atomic_directory(out) as tmp:
        (tmp / "summary.json").write_text('{"run": "new"}')
    assert out.is_symlink() and (out / "summary.json").read_text() == '{"run": "new"}'
    assert _leftovers(tmp_path, out) == []


def test_refuses_a_file_in_place_of_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "ningbo"
    out.write_text("not a directory")
    with pytest.raises(InvalidInputError, match="not a directory"), atomic_directory(out):
        pass  # pragma: no cover
    assert out.read_text() == "not a directory"


def test_refuses_to_replace_a_directory_it_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "my_data"
    mine.mkdir()
    (mine / "firms.csv").write_text("precious")
    with pytest.raises(InvalidInputError, match="did not write"), atomic_directory(mine):
        pass  # pragma: no cover
    assert (mine / "firms.csv").read_text() == "precious"
    monkeypatch.chdir(mine)
    for bad in (".", "/"):
        with pytest.raises(InvalidInputError), atomic_directory(bad):
            pass  # pragma: no cover
    assert (mine / "firms.csv").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_data"]
    # An empty directory is fine, and a trailing slash names the same output.
    (tmp_path / "empty").mkdir()
    with atomic_directory(f"{tmp_path / 'empty'}/") as tmp:
        (tmp / "summary.json").write_text("{}")
    assert (tmp_path / "empty").is_symlink() and (tmp_path / "empty" / "summary.json").exists()


@pytest.mark.slow
def test_real_cli_run_killed_by_pid_keeps_a_complete_study(tmp_path: Path) -> None:
    """`clusterscape run` itself: killed after writing, racing a second run, then recovering."""
    from fastapi.testclient import TestClient

    from clusterscape.web import create_app
    from test_user_files import _study_frame

    firms = tmp_path / "firms.csv"
    _study_frame().to_csv(firms, index=False)
    config = tmp_path / "study.toml"
    config.write_text("[measure]\nnsim = 19\n", encoding="utf-8")
    out = tmp_path / "out" / "city"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])
    env["PYTHONWARNINGS"] = "ignore"
    cmd = [
        sys.executable,
        "-m",
        "clusterscape.cli",
        "run",
        "-e",
        str(firms),
        "--datum",
        "wgs84",
        "--config",
        str(config),
        "--out",
        str(out),
        "-q",
    ]

    def cli(pause: str | None = None) -> subprocess.Popen[str]:
        e = dict(env, **({PAUSE_ENV: pause} if pause else {}))
        return subprocess.Popen(
            cmd, env=e, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    first = cli()
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    before = (out / "summary.json").read_text(encoding="utf-8")
    run_dir = out.resolve()

    killed = cli(pause="written")  # the whole new study is written, the switch not yet done
    assert killed.stderr is not None
    assert "paused at written" in killed.stderr.readline()
    racer = cli()  # a second run on the same --out while the first is writing
    _, racer_err = racer.communicate(timeout=600)
    assert racer.returncode == 1
    assert f"another run is writing {out}" in " ".join(racer_err.split())
    assert "Traceback" not in racer_err
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)

    # The previous study is intact and usable by every reader.
    assert out.resolve() == run_dir
    assert (out / "summary.json").read_text(encoding="utf-8") == before
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    assert client.get("/api/summary").json()["input"]["n_accepted"] == 650
    assert "clusters" in client.get("/api/layers").json()
    leftovers = [p.name for p in (out.parent / ".city.runs").iterdir() if p != run_dir]
    assert len(leftovers) == 1  # the killed run's directory, until the next run

    again = cli()
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert out.resolve() != run_dir and not run_dir.exists()
    assert [p.name for p in (out.parent / ".city.runs").iterdir()] == [out.resolve().name]
    assert sorted(p.name for p in out.parent.iterdir()) == [".city.runs", "city"]
    assert client.get("/api/summary").json()["input"]["n_accepted"] == 650  # the new run
