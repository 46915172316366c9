"""The HTML report: sections, self-contained (no external URL), CJK labels, PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.report import CJK_FONT, write_report
from study_fixture import add_analysis_tables, make_study_dir


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    root = make_study_dir(tmp_path / "study")
    add_analysis_tables(root)
    return root


def test_report_is_self_contained_with_every_section(study_dir: Path) -> None:
    path = write_report(study_dir)
    text = path.read_text(encoding="utf-8")
    for section in (
        "minute",
        "data",
        "economy",
        "clusters",
        "concentration",
        "urban",
        "effects",
        "hotspots",
        "methods",
    ):
        assert f'id="{section}"' in text
    assert 'id="synthetic-banner"' in text
    # Nothing is loaded from the network: no http(s) URL in src/href, no @import, no CDN.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
    assert "@import" not in text
    assert text.count("data:image/png;base64,") >= 3
    # Cluster cards carry the form and the evidence sentence.
    assert "converted_industrial" in text and "cotton-mill" in text
    assert "latitude 95.0 is outside" in text or "latitude 95.0 is outside [-90, 90]" in text
    assert (study_dir / "figures" / "clusters_map.png").exists()
    assert (study_dir / "figures" / "effects_hotel.png").exists()


def test_chinese_labels_use_a_cjk_font(study_dir: Path) -> None:
    # With filterwarnings=error, a missing glyph ("Glyph ... missing from font") would fail the render.
    assert CJK_FONT is not None and "CJK" in CJK_FONT
    write_report(study_dir)


def test_pdf_report(study_dir: Path) -> None:
    pytest.importorskip("weasyprint")
    write_report(study_dir, pdf=True)
    assert (study_dir / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_report_refuses_a_directory_without_a_study(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"summary\.json"):
        write_report(tmp_path)


def test_concentration_sentence_carries_the_p_value_of_its_verdict():
    from clusterscape.report import _minute
    from clusterscape.results import SavedStudy

    row = {"statistic": "L (Besag), border correction", "verdict": "clustered",
           "null": "CSR in window", "p_value": 0.01, "r_min_m": 100.0, "r_max_m": 900.0}  # fmt: skip
    study = SavedStudy(root=Path("."), summary={"measure": {"statistics": [row]}})
    text = " ".join(_minute(study))
    assert "clustered against CSR in window (p = 0.0100 ≤ 0.05) between 100 and 900 m." in text
