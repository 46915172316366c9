"""`clusterscape validate`: through typer's CliRunner and once as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clusterscape.cli import _STATE, app
from clusterscape.errors import InvalidInputError

runner = CliRunner()

ROWS = (
    "编号,名称,经度,纬度,从业人员\n"
    "A,甲,121.55,29.87,10\n"
    "B,乙,,29.88,5\n"  # row 2: missing longitude
    "C,丙,121.56,95,5\n"  # row 3: latitude out of range
    "A,丁,121.57,29.89,3\n"  # row 4: duplicate id (kept as "A#4", noted)
    "E,戊,121.58,29.90,-2\n"  # row 5: negative employees (kept, headcount blank, noted)
    "F,己,121.59,29.91,\n"
)


@pytest.fixture(autouse=True)
def _reset_debug() -> None:
    _STATE["debug"] = False


@pytest.fixture
def gbk_file(tmp_path: Path) -> Path:
    p = tmp_path / "firms.csv"
    p.write_bytes(ROWS.encode("gbk"))
    return p


def test_validate_reports_and_writes_rejected(gbk_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["validate", str(gbk_file), "--datum", "gcj02", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for expected in (
        "rows read │ 6",
        "accepted │ 4",
        "rejected │ 2",
        "fields noted │ 2",
        "duplicate ids (kept as id#row) │ 1",
        "missing coordinates │ 1",
        "gcj02 -> EPSG:4326",
        "bounding box",
    ):
        assert expected in text, expected
    rejected = pd.read_csv(out / "rejected.csv", dtype={"id": str})
    assert list(rejected.columns) == ["row", "id", "reason"]
    # issue 19: a bad headcount costs the field, not the firm (row 5 used to be rejected)
    # issue 19: a duplicate id costs the id, not the firm (row 4 used to be rejected)
    assert rejected["row"].tolist() == [2, 3]
    assert rejected["id"].tolist() == ["B", "C"]
    notes = pd.read_csv(out / "notes.csv", dtype={"id": str, "value": str})
    assert notes.to_dict("records") == [
        {
            "row": 4,
            "id": "A#4",
            "field": "id",
            "value": "A",
            "note": "duplicate id: 'A' is already used by row 1; kept as 'A#4'",
        },
        {
            "row": 5,
            "id": "E",
            "field": "employees",
            "value": "-2",
            "note": "negative headcount; left blank",
        },
    ]


def test_validate_prints_datum_note(tmp_path: Path) -> None:
    p = tmp_path / "amap.csv"
    p.write_text('name,typecode,location\na,170200,"121.55,29.87"\n', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(p), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "--datum gcj02" in " ".join(result.output.split())


def test_validate_columns_option(tmp_path: Path) -> None:
    p = tmp_path / "odd.csv"
    p.write_text("code,X坐标,Y坐标\n7491,121.5,29.8\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(p), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        "no coordinate columns" in result.output
        and "--columns lon=X坐标,lat=Y坐标" in result.output
    )
    result = runner.invoke(
        app, ["validate", str(p), "--columns", "lon=X坐标,lat=Y坐标", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "rejected.csv").empty
    bad = runner.invoke(app, ["validate", str(p), "--columns", "lonX坐标"])
    assert bad.exit_code == 1 and "canonical=column" in bad.output


def test_unreadable_file_one_line_and_nonzero_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default --out is the working directory
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.xlsx")])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: read_establishments:")
    assert "Traceback" not in result.output
    corrupt = tmp_path / "broken.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    result = runner.invoke(app, ["validate", str(corrupt)])
    assert result.exit_code == 1 and "cannot read broken.xlsx" in result.output
    assert not (tmp_path / "rejected.csv").exists()  # nothing written on failure


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInputError)


def test_swapped_columns_message(tmp_path: Path) -> None:
    p = tmp_path / "swapped.csv"
    p.write_text("lon,lat\n29.8,121.5\n29.9,121.6\n30.0,121.7\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(p), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "look swapped" in result.output and "--columns lon=lat,lat=lon" in result.output
    assert not (tmp_path / "rejected.csv").exists()


def test_real_subprocess(gbk_file: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "clusterscape"
    out = tmp_path / "sub"
    done = subprocess.run(
        [str(exe), "validate", str(gbk_file), "--datum", "gcj02", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout
    # rows 4 (duplicate id) and 5 (bad headcount) are kept since issue 19
    assert len(pd.read_csv(out / "rejected.csv")) == 2
    failed = subprocess.run(
        [str(exe), "validate", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().count("\n") == 0 and "does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_progress_bar_is_drawn_in_a_real_terminal(tmp_path: Path) -> None:
    """issue 19: a read over 1 s draws a bar on a terminal (a pty, not a callback)."""
    import os
    import select

    import numpy as np

    n = 600_000  # a read of a few seconds on any machine here
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(n).astype(str),
            "name": "宁波文创设计有限公司",
            "lon": np.round(121.5 + rng.random(n) * 0.1, 6),
            "lat": np.round(29.8 + rng.random(n) * 0.1, 6),
            "opened": "2015-03-01",
            "employees": rng.integers(1, 99, n),
        }
    )
    p = tmp_path / "big.csv"
    frame.to_csv(p, index=False)
    master, slave = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    env.pop("CI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterscape.cli", "validate", str(p), "--out", str(tmp_path / "o")],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=120)
    os.close(master)
    text = out.decode("utf-8", errors="replace")
    assert proc.returncode == 0, text[-2000:]
    # the bar's description (file: stage) is only ever printed by the bar
    stages = ("big.csv: reading", "big.csv: parsing", "big.csv: validating")
    assert any(s in text for s in stages), text[-2000:]
    assert "accepted" in text
