"""Reports and the command line in Chinese and English (one catalogue, numbers for people).

The Ningbo report is rendered in both languages from one real run; the Chinese one must have
no untranslated English sentence, no missing glyph (warnings are errors), the same numbers as
the English one, and a PDF whose tables fit their pages.
"""

from __future__ import annotations

import html as html_lib
import re
import string
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clusterscape import i18n
from clusterscape.i18n import default_lang, messages, normalise_lang, t, term, use_lang
from clusterscape.i18n.numbers import count, p_rule, p_value, share, year
from clusterscape.report import METHODS, SECTIONS, write_report
from study_fixture import add_analysis_tables, make_study_dir

SRC = Path(__file__).resolve().parents[1] / "src" / "clusterscape"

# ---------------------------------------------------------------- the catalogue


def _own_keys(lang: str) -> set[str]:
    """The keys every language must have ([term] and [column] exist in Chinese only)."""
    return {k for k in messages(lang) if not k.startswith(("term.", "column."))}


def _missing(reference: set[str], other: set[str]) -> set[str]:
    return reference - other


def test_every_key_is_in_both_languages() -> None:
    en, zh = _own_keys("en"), _own_keys("zh")
    assert _missing(en, zh) == set(), "keys missing in zh.toml"
    assert _missing(zh, en) == set(), "keys missing in en.toml"
    # the check itself fails when a key is dropped
    assert _missing(en, zh - {"report.section.minute"}) == {"report.section.minute"}


def test_placeholders_agree_between_languages() -> None:
    fields = string.Formatter()
    en, zh = messages("en"), messages("zh")
    for key in _own_keys("en"):
        names_en = {f for _, f, _, _ in fields.parse(en[key]) if f}
        names_zh = {f for _, f, _, _ in fields.parse(zh[key]) if f}
        assert names_en == names_zh, key


def test_every_key_the_code_uses_exists() -> None:
    used: set[str] = set()
    for path in [*SRC.rglob("*.py"), *SRC.rglob("*.j2")]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_0-9]+)+)["']""", text))
    used |= {f"report.section.{k}" for k in SECTIONS}
    used |= {f"report.methods.{k}" for k in (*METHODS, "wgs84", "gcj02", "bd09")}
    assert len(used) > 150
    for lang in ("en", "zh"):
        assert used - set(messages(lang)) == set(), lang


def test_a_missing_key_is_an_error_not_english() -> None:
    with pytest.raises(KeyError):
        t("report.no_such_key", "zh")
    with pytest.raises(ValueError, match="zh or en"):
        normalise_lang("fr")
    assert normalise_lang("zh-CN") == "zh" and normalise_lang("EN_gb") == "en"


def test_standard_chinese_terms() -> None:
    zh = messages("zh")
    for form, name in {
        "new_park": "新建园区",
        "converted_industrial": "旧厂房改造",
        "government_street": "政府扶持的商业创意街区",
        "anchor_enterprise": "龙头企业",
    }.items():
        assert term(form, "zh") == name
    text = " ".join(zh.values())
    for word in (
        "核密度",
        "标准差椭圆",
        "平均最近邻",
        "莫兰指数",
        "地理探测器",
        "区位熵",
        "双重差分",
    ):
        assert word in text, word
    glossary = (SRC.parents[1] / "docs" / "glossary.md").read_text(encoding="utf-8")
    for word in ("核密度估计", "标准差椭圆", "随机标记检验", "影响半径", "kernel density"):
        assert word in glossary


def test_generated_phrases_are_translated_clause_by_clause() -> None:
    evidence = (
        "new_park (score 1.00): matched registry park 创新128 (0 m); 84% of firms founded "
        "within 3 years of park opening 2014 (threshold 50%); Markusen unclassified: no "
        "Markusen type fits."
    )
    zh = term(evidence, "zh")
    assert zh.startswith("新建园区（得分1.00）：匹配到名录园区创新128（相距0米）")
    assert "2014年" in zh and "84%" in zh and zh.endswith("。")
    assert not re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", zh.replace("Markusen 类型", ""))
    assert term(evidence, "en") == evidence
    assert term("Acme Studio", "zh") == "Acme Studio"  # a name stays a name
    with use_lang("zh", {"Haishu District": "海曙区"}):
        assert term("Haishu District") == "海曙区"
    assert term("Haishu District", "zh") == "Haishu District"  # only inside that block


def test_default_language_follows_the_locale() -> None:
    assert default_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert default_lang({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}) == "zh"
    assert default_lang({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == "en"  # LC_ALL wins
    assert default_lang({}) == "en"


# ---------------------------------------------------------------- numbers


def test_numbers_for_people() -> None:
    assert count(419_000, "en") == "419,000" and count(419_000, "zh") == "41.9万"
    assert count(4.19e5, "en") == "419,000"  # never 4.19e+05
    assert count(150_121, "zh") == "15万" and count(3_452, "zh") == "3452"
    assert count(123_456_789, "zh") == "1.23亿"
    assert share(0.0273, "en") == "2.7 %" and share(0.0273, "zh") == "2.7%"
    assert p_value(0.0496) != p_value(0.0504)  # three significant figures near alpha
    assert p_rule(0.05) == "p = 0.0500 ≤ 0.05"
    assert p_rule(0.0504) == "p = 0.0504 > 0.05" and p_rule(0.0496) == "p = 0.0496 ≤ 0.05"
    assert p_rule(0.0) == "p < 0.001 ≤ 0.05" and p_rule(0.312) == "p = 0.312 > 0.05"
    assert year(2015, "zh") == "2015年" and year(2015.0, "en") == "2015"


# ---------------------------------------------------------------- rendering


def _visible_text(page: str) -> str:
    """The text a reader sees (no style sheet, no inlined images, no tooltips)."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    page = re.sub(r'(?:src|title|alt)="[^"]*"', "", page)
    page = re.sub(r"<[^>]+>", "\n", page)
    return html_lib.unescape(page)


#: English runs a Chinese report may keep: citations ("Wang et al.").
ALLOWED_ENGLISH = (re.compile(r"\bet al\b"),)
#: A run of three or more English words (names of one or two words, codes, column names
#: such as nearest_neighbour.csv and units pass; a sentence does not).
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’\-]*(?:[ ,;:()]+[A-Za-z][A-Za-z'’\-]*){2,}")


def english_runs(page: str) -> list[str]:
    """Runs of 3+ English words in the visible text, minus the allowed ones."""
    runs = ENGLISH_RUN.findall(_visible_text(page))
    return [r for r in runs if not any(a.search(r) for a in ALLOWED_ENGLISH)]


_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])-?\d[\d,]*(?:\.\d+)?(?:万|亿)?")


def numbers_in(text: str) -> list[float]:
    """Every number of a text, 万 and 亿 expanded (41.9万 -> 419000)."""
    out = []
    for token in _NUMBER.findall(text):
        scale = {"万": 1e4, "亿": 1e8}.get(token[-1], 1.0)
        digits = token.rstrip("万亿").replace(",", "")
        out.append(float(digits) * scale)
    return out


def _same_numbers(a: list[float], b: list[float], rel: float = 0.005) -> bool:
    """Every number of ``a`` has a partner in ``b`` within ``rel`` (万 rounds to 3 figures)."""
    rest = sorted(b)
    for x in sorted(a):
        hit = next((y for y in rest if abs(x - y) <= rel * max(abs(x), abs(y)) + 1e-12), None)
        if hit is None:
            return False
        rest.remove(hit)
    return not rest


def test_the_comparison_of_numbers_catches_a_change() -> None:
    assert numbers_in("从业人员41.9万人，2015年，p = 0.0496") == [419000.0, 2015.0, 0.0496]
    assert _same_numbers(numbers_in("419,000 and 2.7 %"), numbers_in("41.9万，2.7%"))
    assert not _same_numbers(numbers_in("419,000 and 2.7 %"), numbers_in("42.9万，2.7%"))


def _minute_html(page: str) -> str:
    return page.split('<section id="minute"', 1)[1].split("</section>", 1)[0]


def _numeric_cells(page: str) -> list[str]:
    return re.findall(r'<td class="num">([^<]*)</td>', page)


@pytest.fixture(scope="module")
def ningbo_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The built-in Ningbo study run once and its report rendered in both languages."""
    import shutil

    from clusterscape.results import write_study
    from clusterscape.study.run import StudyConfig, run_study

    base = tmp_path_factory.mktemp("ningbo_i18n")
    out = write_study(run_study(StudyConfig(seed=0)), base / "run", report=False)
    dirs = {}
    for lang in ("en", "zh"):
        target = base / lang
        shutil.copytree(out.resolve(), target)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a missing glyph in a figure is an error
            write_report(target, lang=lang)
        dirs[lang] = target
    return dirs


def test_chinese_report_has_no_untranslated_english(ningbo_reports: dict[str, Path]) -> None:
    zh = (ningbo_reports["zh"] / "report.html").read_text(encoding="utf-8")
    en = (ningbo_reports["en"] / "report.html").read_text(encoding="utf-8")
    assert english_runs(zh) == []
    assert len(english_runs(en)) > 100  # the check finds English where there is English
    assert '<html lang="zh-CN">' in zh and "一分钟速览" in zh
    for word in ("核密度估计", "标准差椭圆", "平均最近邻", "莫兰指数", "地理探测器", "区位熵"):
        assert word in zh, word


def test_both_reports_carry_the_same_numbers(ningbo_reports: dict[str, Path]) -> None:
    pages = {
        lang: (d / "report.html").read_text(encoding="utf-8") for lang, d in ningbo_reports.items()
    }
    minutes = {lang: _visible_text(_minute_html(p)) for lang, p in pages.items()}
    assert _same_numbers(numbers_in(minutes["en"]), numbers_in(minutes["zh"]))
    cells = {lang: _numeric_cells(p) for lang, p in pages.items()}
    assert len(cells["en"]) > 300
    assert [c.replace(" %", "%") for c in cells["en"]] == cells["zh"]  # 2.7 % / 2.7%
    # counts for people: grouped in English, 万 in Chinese; never scientific notation
    assert "e+0" not in " ".join(cells["en"])
    n = pd.read_csv(ningbo_reports["en"] / "district_profiles.csv")["employees"].iloc[0]
    assert f"{int(n):,}" in cells["en"]
    assert re.search(r"共分析企业（机构）\d+(?:\.\d+)?万家", minutes["zh"])


def test_two_verdicts_are_explained_where_both_appear(ningbo_reports: dict[str, Path]) -> None:
    clusters = pd.read_csv(ningbo_reports["en"] / "clusters.csv")
    n_sig = int(clusters["significant"].sum())
    assert n_sig < len(clusters)  # some clusters fail random labelling while L says clustered
    en = _visible_text((ningbo_reports["en"] / "report.html").read_text(encoding="utf-8"))
    zh = _visible_text((ningbo_reports["zh"] / "report.html").read_text(encoding="utf-8"))
    assert "complete spatial randomness" in en and "random labelling" in en
    assert f"{n_sig} of {len(clusters)} clusters pass" in en
    assert "完全空间随机" in zh and "随机标记检验" in zh
    assert f"{len(clusters)}个集群中有{n_sig}个通过" in zh
    for lang in ("en", "zh"):  # said again where the concentration verdicts are shown
        page = (ningbo_reports[lang] / "report.html").read_text(encoding="utf-8")
        section = page[page.index('id="concentration"') : page.index('id="urban"')]
        assert 'id="two-tests"' in section, lang


def test_columns_zh_dictionary(ningbo_reports: dict[str, Path]) -> None:
    zh_dir, en_dir = ningbo_reports["zh"], ningbo_reports["en"]
    assert not (en_dir / "columns_zh.csv").exists()
    table = pd.read_csv(zh_dir / "columns_zh.csv")
    assert list(table.columns) == ["column", "中文名", "description"]
    header = list(pd.read_csv(zh_dir / "clusters.csv", nrows=0).columns)
    assert header == list(pd.read_csv(en_dir / "clusters.csv", nrows=0).columns)  # still English
    names = dict(zip(table["column"], table["中文名"], strict=True))
    assert all(isinstance(names.get(c), str) and names[c] for c in header), "unnamed column"
    assert names["employees"] == "从业人数"


def _overflow(page: str) -> tuple[float, int]:
    """Worst overflow (CSS px) of a table or image past the right margin, and landscape pages."""
    import weasyprint

    doc = weasyprint.HTML(string=page).render()

    def walk(box):  # type: ignore[no-untyped-def]
        yield box
        for child in getattr(box, "children", None) or []:
            yield from walk(child)

    worst = 0.0
    for p in doc.pages:
        root = p._page_box
        right = root.margin_width() - root.margin_right - root.padding_right
        for box in walk(root):
            if type(box).__name__ in ("TableBox", "InlineReplacedBox", "BlockReplacedBox"):
                worst = max(worst, box.position_x + box.margin_width() - right)
    return worst, sum(p.width > p.height for p in doc.pages)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_tables_fit_their_pages(ningbo_reports: dict[str, Path], lang: str) -> None:
    pytest.importorskip("weasyprint")
    page = (ningbo_reports[lang] / "report.html").read_text(encoding="utf-8")
    assert 'class="table wide"' in page  # the district table is a wide one
    worst, landscape = _overflow(page)
    assert worst <= 0.5, f"a table or figure runs {worst:.0f} px off the page"
    assert landscape >= 1


def test_pdf_overflow_check_sees_a_wide_table() -> None:
    pytest.importorskip("weasyprint")
    wide = "<table><tr>" + "".join(f"<td>column_{i}_wide_value</td>" for i in range(40)) + "</tr>"
    worst, landscape = _overflow(f"<html><body>{wide}</table></body></html>")
    assert worst > 100 and landscape == 0


# ---------------------------------------------------------------- fixture study, CLI


def _small_study(tmp_path: Path) -> Path:
    """The report tests' small saved study, with the later steps' tables."""
    add_analysis_tables(make_study_dir(tmp_path / "study"))
    return tmp_path / "study"


def test_fixture_report_in_chinese(tmp_path: Path) -> None:
    study_dir = _small_study(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = write_report(study_dir, lang="zh")
    page = path.read_text(encoding="utf-8")
    # the fixture's two evidence sentences are free text (not clusterscape's): quoted as given
    quoted = " ".join(pd.read_csv(study_dir / "clusters.csv")["evidence"])
    assert [r for r in english_runs(page) if r not in quoted] == []
    assert "旧厂房改造" in page and "0号集群" in page
    assert "原假设" in page or "包络" in page or "集聚检验" in page
    # figures carry Chinese titles (their captions are in the page)
    assert "集群分布" in page and "集群规模" in page
    with pytest.raises(Exception, match="zh or en"):
        write_report(study_dir, lang="fr")


def test_cli_lang_on_report_and_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clusterscape.cli import app

    study_dir = _small_study(tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["report", str(study_dir), "--lang", "zh"])
    assert done.exit_code == 0, done.output
    assert "报告" in done.output and "一分钟速览" in (study_dir / "report.html").read_text("utf-8")
    assert (study_dir / "columns_zh.csv").exists()
    bad = runner.invoke(app, ["report", str(study_dir), "--lang", "fr"])
    assert bad.exit_code == 1 and "--lang fr" in bad.output
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    done = runner.invoke(app, ["report", str(study_dir)])
    assert done.exit_code == 0 and "报告：" in done.output  # the locale's language
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    done = runner.invoke(app, ["report", str(study_dir)])
    assert "In one minute" in (study_dir / "report.html").read_text("utf-8")

    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda web_app, **kw: seen.update(lang=web_app.state.lang))
    done = runner.invoke(app, ["serve", str(study_dir), "--lang", "zh"])
    assert done.exit_code == 0, done.output
    assert seen == {"lang": "zh"} and "正在发布" in done.output


def test_catalogue_module_is_the_only_source_of_report_sentences() -> None:
    """No English sentence is left as a literal in the report's Python and templates."""
    sentence = re.compile(r"""["'][A-Z][a-z]+(?: [a-z]+){3,}""")
    hits = Counter()
    for path in [*(SRC / "report").glob("*.py"), *(SRC / "report").glob("*.j2")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("#", '"""', "raise", "Returns", "Parameters")):
                continue
            if sentence.search(stripped) and "MissingDependencyError" not in stripped:
                hits[f"{path.name}: {stripped[:60]}"] += 1
    allowed = {k for k in hits if '"""' in k or "--pdf needs weasyprint" in k}
    assert set(hits) - allowed == set()
    assert i18n.LANGS == ("en", "zh")


def test_cli_help_in_the_locale_language(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import clusterscape.cli as cli

    texts = {}
    for locale in ("zh_CN.UTF-8", "C.UTF-8"):
        monkeypatch.setenv("LC_ALL", locale)
        module = importlib.reload(cli)
        texts[locale] = {
            name: CliRunner()
            .invoke(module.app, [*name.split(), "--help"], terminal_width=200)
            .output
            for name in ("run", "report", "serve", "validate", "detect")
        }
    importlib.reload(cli)
    zh, en = texts["zh_CN.UTF-8"], texts["C.UTF-8"]
    assert (
        "运行完整研究" in zh["run"]
        and "--lang" in zh["run"]
        and "报告和提示信息的语言" in zh["run"]
    )
    assert "Run a whole study" in en["run"] and "Language of the report" in en["run"]
    click_own = ("Show this message", "Usage:")  # Click's own words around the help
    for name, text in zh.items():
        runs = [r for r in ENGLISH_RUN.findall(text) if not any(c in r for c in click_own)]
        assert runs == [], (name, runs)
