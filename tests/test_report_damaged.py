"""`clusterscape report` on a damaged study directory: one clear line naming the file (issue #20, 7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clusterscape.cli import app
from study_fixture import make_study_dir


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    return make_study_dir(tmp_path / "study")


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("corrupt_gpkg", "results.gpkg"),
        ("truncated_gpkg", "results.gpkg"),
        ("gpkg_is_dir", "results.gpkg"),
        ("corrupt_summary", "summary.json"),
        ("summary_list", "summary.json"),
        ("binary_clusters", "clusters.csv"),
        ("wrong_columns", "study"),
    ],
)
def test_report_on_damaged_files_prints_one_line(study_dir: Path, damage: str, named: str) -> None:
    gpkg = study_dir / "results.gpkg"
    if damage == "corrupt_gpkg":
        gpkg.write_bytes(b"SQLite format 3\x00" + os.urandom(20000))
    elif damage == "truncated_gpkg":
        gpkg.write_bytes(gpkg.read_bytes()[:3000])
    elif damage == "gpkg_is_dir":
        gpkg.unlink()
        gpkg.mkdir()
    elif damage == "corrupt_summary":
        (study_dir / "summary.json").write_text('{"synthetic": tr')
    elif damage == "summary_list":
        (study_dir / "summary.json").write_text("[]")
    elif damage == "binary_clusters":
        (study_dir / "clusters.csv").write_bytes(b"\xff\xfe" + os.urandom(5000))
    elif damage == "wrong_columns":
        (study_dir / "clusters.csv").write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["report", str(study_dir)])
    if damage == "wrong_columns" and result.exit_code == 0:
        return  # the report copes with unknown columns: also fine, no traceback
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(" ".join(lines)) < 600 and text.startswith("error:"), text
    assert named in " ".join(lines), text


def test_report_redacts_credentials_of_an_old_summary(study_dir: Path) -> None:
    summary = json.loads((study_dir / "summary.json").read_text())
    summary["synthetic"] = False
    summary["input"]["source"] = "postgresql://me:p@ss@db/x?table=t&password=s3cret&sslpassword=k"
    (study_dir / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(app, ["report", str(study_dir)])
    assert result.exit_code == 0, result.output
    html = (study_dir / "report.html").read_text(encoding="utf-8")
    assert "s3cret" not in html and "p@ss" not in html and "sslpassword=k" not in html
    assert "me:***@db" in html
