"""The dashboard in a real headless Chromium (issue #25): each behaviour a planner relies on.

Basemap switch moves the data (not the tiles) by the GCJ-02 offset, the year slider changes
the counts, a selection links map, card, table row and charts, exports download, and the URL
restores the view. The expected numbers are computed here from the planted fixture, not read
back from the page. Tiles come from a host the test answers itself (no network).
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from clusterscape import results
from clusterscape.coords import convert
from clusterscape.web import create_app
from clusterscape.web.app import VENDOR_DIR
from study_fixture import dashboard_establishments, lifecycle_tables, make_dashboard_study
from test_web import CHROMIUM_ARGS, serve_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"
TILE_HOST = "https://tiles.example.test"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed"),
    pytest.mark.skipif(
        not (VENDOR_DIR / "maplibre-gl.js").exists(), reason="run make install (npm MapLibre)"
    ),
]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dashboard_study(tmp_path_factory.mktemp("dash") / "study")


@pytest.fixture(scope="module")
def server(study: Path) -> Iterator[str]:
    app = create_app(study, basemaps=[f"{TILE_HOST}/{{z}}/{{x}}/{{y}}.png"], basemap_datum="gcj02")
    with serve_app(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """One page of the dashboard, with its console errors and outside requests recorded."""

    def __init__(self, browser: Any, server: str, study: Path) -> None:
        self.errors: list[str] = []
        self.external: list[str] = []
        self.tiles: list[str] = []
        self.server = server
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        png = (study / results.FIGURES / "clusters_map.png").read_bytes()

        def tile(route: Any) -> None:
            self.tiles.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=png)

        self.page.route(f"{TILE_HOST}/**", tile)
        self.page.on(
            "request",
            lambda r: (
                self.external.append(r.url)
                if not r.url.startswith((server, "data:", "blob:", TILE_HOST))
                else None
            ),
        )

    def open(self, hash_: str = "") -> None:
        self.page.goto(f"{self.server}/{hash_}")
        deadline = time.monotonic() + 40
        # Polled with evaluate (DevTools, exempt from CSP); wait_for_function needs 'unsafe-eval'.
        while not self.js("!!(window.__clusterscape && window.__clusterscape.ready)"):
            assert time.monotonic() < deadline, f"dashboard never became ready: {self.errors}"
            self.page.wait_for_timeout(100)

    def js(self, expr: str) -> Any:
        return self.page.evaluate(expr)

    def idle(self) -> None:
        self.page.evaluate(
            "new Promise((r) => { const m = window.__clusterscape.map;"
            " if (m.loaded() && !m.isMoving()) { m.once('idle', r); m.triggerRepaint(); }"
            " else m.once('idle', r); })"
        )

    def source_features(self, name: str) -> list[dict[str, Any]]:
        return self.js(f"window.__clusterscape.map.getSource({name!r}).serialize().data.features")

    def settled_features(self, name: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The map source's features once they hold as many as the page last gave it.

        MapLibre applies ``setData`` asynchronously, so a read right after the page changed the
        data can still see the previous data; polled (``wait_for_function`` needs 'unsafe-eval').
        """
        want = self.js(f"window.__clusterscape.sources[{name!r}].features.length")
        deadline = time.monotonic() + timeout_s
        feats = self.source_features(name)
        while len(feats) != want and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            feats = self.source_features(name)
        return feats

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def page(browser: Any, server: str, study: Path) -> Iterator[Page]:
    p = Page(browser, server, study)
    yield p
    errors, external = p.errors, p.external
    p.close()
    assert errors == []
    assert external == []


def _alive(year: int, cumulative: bool = False, cluster: int | None = None) -> int:
    """Establishments shown in ``year``: opened <= year and (closed NA or > year); undated kept."""
    est = dashboard_establishments()
    opened, closed = est["opened"], est["closed"]
    keep = opened.isna() | (opened <= year)
    if not cumulative:
        keep &= opened.isna() | closed.isna() | (closed > year)
    if cluster is not None:
        keep &= est["cluster"] == cluster
    return int(keep.fillna(False).sum())


def _metres(a: list[float], b: tuple[float, float]) -> float:
    from pyproj import Geod

    return float(Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2])


# --- basemap and datum -----------------------------------------------------------------------------


def test_gcj02_basemap_moves_the_data_by_the_gcj02_offset_not_the_tiles(page: Page) -> None:
    page.open("#basemap=blank")
    assert page.js("window.__clusterscape.datum") == "wgs84"
    centre = page.source_features("centres")[0]["geometry"]["coordinates"]
    assert centre == [121.55, 29.87]
    assert page.tiles == []  # blank: no tile request at all
    est0 = dashboard_establishments().geometry.iloc[0]

    page.page.select_option("#basemap", "custom")
    assert page.js("window.__clusterscape.datum") == "gcj02"
    gx, gy = convert(np.array([121.55]), np.array([29.87]), src="wgs84", dst="gcj02")
    moved = page.source_features("centres")[0]["geometry"]["coordinates"]
    assert _metres(moved, (gx[0], gy[0])) < 0.1
    assert 480 < _metres(moved, (121.55, 29.87)) < 510  # the ~494 m GCJ-02 offset in Ningbo
    # Points, clusters and boundaries all move; tiles are requested unchanged from the host.
    ex, ey = convert(np.array([est0.x]), np.array([est0.y]), src="wgs84", dst="gcj02")
    first = next(f for f in page.source_features("establishments") if f["id"] == 0)
    assert _metres(first["geometry"]["coordinates"], (ex[0], ey[0])) < 0.1
    cx, cy = convert(np.array([121.560]), np.array([29.882]), src="wgs84", dst="gcj02")
    ring = page.source_features("clusters")[0]["geometry"]["coordinates"][0]
    assert min(_metres(v, (cx[0], cy[0])) for v in ring) < 0.1
    assert page.js("window.__clusterscape.map.getSource('tiles').tiles") == [
        f"{TILE_HOST}/{{z}}/{{x}}/{{y}}.png"
    ]
    # On the rendered map the centre is drawn at its GCJ-02 place, not at its WGS-84 one.
    page.js(f"window.__clusterscape.map.jumpTo({{center: [{gx[0]}, {gy[0]}], zoom: 15}})")
    page.idle()
    assert page.tiles and all(t.startswith(TILE_HOST) for t in page.tiles)
    hits = page.js(
        "(([a, b]) => { const m = window.__clusterscape.map;"
        " const q = (p) => m.queryRenderedFeatures(m.project(p), {layers: ['centres']}).length;"
        f" return [q(a), q(b)]; }})([[{gx[0]}, {gy[0]}], [121.55, 29.87]])"
    )
    assert hits == [1, 0]
    assert "GCJ-02" in page.page.inner_text("#datum-note")
    page.shot("dashboard_gcj02.png")
    # Back to blank: the data return to WGS-84 exactly.
    page.page.select_option("#basemap", "blank")
    assert page.source_features("centres")[0]["geometry"]["coordinates"] == [121.55, 29.87]


# --- time ---------------------------------------------------------------------------------------------


def test_year_slider_changes_the_counts(page: Page) -> None:
    page.open("#basemap=blank")
    est = dashboard_establishments()
    assert len(page.source_features("establishments")) == len(est)  # no time filter yet
    page.page.check("#use-time")
    slider = page.page.locator("#year")
    slider.focus()
    page.page.keyboard.press("Home")  # keyboard: first year
    first = int(pd.concat([est["opened"], est["closed"]]).min())
    assert page.page.inner_text("#year-out") == str(first)
    for _ in range(2012 - first):
        page.page.keyboard.press("ArrowRight")
    assert page.page.inner_text("#year-out") == "2012"
    counts = page.page.inner_text("#time-counts")
    alive = _alive(2012)
    assert f"{alive} establishments alive in 2012" in counts
    assert len(page.source_features("establishments")) == alive
    hotels = int(((est["function"] == "hotel") & ~(est["opened"] > 2012).fillna(False)).sum())
    malls = int(((est["function"] == "mall") & ~(est["opened"] > 2012).fillna(False)).sum())
    assert f"{hotels} hotels, {malls} malls opened by 2012" in counts
    life = lifecycle_tables()["lifecycle"]
    assert f"{int((life['year'] == 2012).sum())} clusters in 2012" in counts
    assert len(page.source_features("lifecycle")) == 2  # tracks 1 and 3 live in 2012
    page.shot("dashboard_year.png")
    # Cumulative: everything opened by then (closures ignored); tracks seen by then.
    page.page.check("#cumulative")
    assert f"{_alive(2012, cumulative=True)} establishments opened by 2012" in page.page.inner_text(
        "#time-counts"
    )
    assert _alive(2012, cumulative=True) > alive
    page.page.keyboard.press("End")  # (the slider keeps the focus) 2020
    page.js(
        "(() => { const s = document.getElementById('year'); s.value = 2016;"
        " s.dispatchEvent(new Event('input')); })()"
    )
    assert len(page.source_features("lifecycle")) == 3  # track 3 (2010-2013) at its last place
    page.page.uncheck("#cumulative")
    assert len(page.source_features("lifecycle")) == 2  # tracks 1 and 2 live in 2016
    for year in (2016, 2019):
        page.js(
            f"(() => {{ const s = document.getElementById('year'); s.value = {year};"
            " s.dispatchEvent(new Event('input')); })()"
        )
        assert f"{_alive(year)} establishments alive in {year}" in page.page.inner_text(
            "#time-counts"
        )
    # Play steps the year forward.
    page.js(
        "(() => { const s = document.getElementById('year'); s.value = 2010;"
        " s.dispatchEvent(new Event('input')); })()"
    )
    page.page.click("#play")
    page.page.wait_for_timeout(2100)
    page.page.click("#play")
    played = int(page.page.inner_text("#year-out"))
    assert 2011 <= played <= 2013
    assert f"{_alive(played)} establishments alive in {played}" in page.page.inner_text(
        "#time-counts"
    )


# --- linked views -------------------------------------------------------------------------------------


def test_selecting_a_cluster_links_map_card_row_charts_and_firms(page: Page) -> None:
    page.open("#basemap=blank")
    row = page.page.locator("#cluster-table tbody tr[data-cluster='1']")
    row.click()
    card = page.page.inner_text("#card")
    assert "Cluster 1" in card and "new_park" in card and "62 %" in card
    assert row.get_attribute("aria-selected") == "true"
    assert (
        page.page.locator("#cluster-table tbody tr[data-cluster='0']").get_attribute(
            "aria-selected"
        )
        == "false"
    )
    assert page.js(
        "[...document.querySelectorAll('svg circle.sel')].map((c) => c.dataset.cluster)"
    ) == ["1", "1"]  # its dot in the rank-size chart and on the concentration curve
    assert page.js("window.__clusterscape.map.getFilter('clusters-selected')") == [
        "==",
        ["get", "cluster_id"],
        1,
    ]
    members = int((dashboard_establishments()["cluster"] == 1).sum())
    assert len(page.source_features("selected-firms")) == members
    assert f"{members} of its establishments highlighted" in card
    page.shot("dashboard_selection.png")
    # Keyboard: Tab to the other row and press Enter.
    page.page.locator("#cluster-table tbody tr[data-cluster='0']").focus()
    page.page.keyboard.press("Enter")
    assert "Cluster 0" in page.page.inner_text("#card")
    # A chart dot selects too.
    page.page.locator("#chart-rank circle[data-cluster='1']").click()
    assert row.get_attribute("aria-selected") == "true"
    # The map: click cluster 0's footprint.
    page.js(
        "window.scrollTo(0, 0); window.__clusterscape.map.jumpTo({center: [121.566, 29.887], zoom: 13})"
    )
    page.idle()
    x, y = page.js(
        "(() => { const m = window.__clusterscape.map; const p = m.project([121.566, 29.887]);"
        " const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()"
    )
    page.page.mouse.click(x, y)
    page.page.wait_for_timeout(300)
    assert page.js("window.__clusterscape.selected") == 0
    assert (
        page.page.locator("#cluster-table tbody tr[data-cluster='0']").get_attribute(
            "aria-selected"
        )
        == "true"
    )


def test_brushing_the_table_filters_the_map(page: Page) -> None:
    page.open("#basemap=blank")
    page.page.locator("#cluster-table tbody tr[data-cluster='0'] input[type=checkbox]").check()
    assert page.js("window.__clusterscape.map.getFilter('clusters')") == [
        "in",
        ["get", "cluster_id"],
        ["literal", [0]],
    ]
    est = dashboard_establishments()
    shown = page.source_features("establishments")
    assert len(shown) == int((est["cluster"] == 0).sum())
    assert {f["properties"]["cluster"] for f in shown} == {0}
    assert "1 of 2 clusters shown" in page.page.inner_text("#filter-count")
    page.page.click("#brush-clear")
    assert len(page.source_features("establishments")) == len(est)


# --- export -----------------------------------------------------------------------------------------


def test_exports_download(page: Page, study: Path) -> None:
    page.open("#basemap=blank")
    stored = results.read_table(study / "clusters.csv")

    def download(selector: str) -> tuple[str, bytes]:
        with page.page.expect_download() as info:
            page.page.click(selector)
        d = info.value
        return d.suggested_filename, Path(d.path()).read_bytes()

    name, body = download("#exports a[href='/api/clusters?format=csv']")
    assert name == "clusters.csv"
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(body)), stored)
    name, body = download("#exports a[href='/api/clusters?format=geojson']")
    assert name == "clusters.geojson" and b'"FeatureCollection"' in body
    name, body = download("#exports a[href='/api/tables/lifecycle?format=csv']")
    assert name == "lifecycle.csv" and body.startswith(b"track_id,year,cluster_id")
    page.page.locator("#cluster-table tbody tr[data-cluster='1']").click()
    name, body = download("#card a[href$='format=csv&cluster_id=1']")
    assert name == "cluster_1.csv"
    card_rows = pd.read_csv(io.BytesIO(body))
    assert card_rows["cluster_id"].tolist() == [1] and card_rows["form"].tolist() == ["new_park"]
    name, body = download("#figure-grid a[download]")
    assert name == "clusters_map.png" and body[:8] == b"\x89PNG\r\n\x1a\n"
    name, body = download("#export-map")
    assert name == "map.png" and body[:8] == b"\x89PNG\r\n\x1a\n" and len(body) > 1000
    name, body = download(".svg-dl[data-chart='chart-conc']")
    assert name == "chart-conc.svg" and b"<svg" in body and b"circle" in body


# --- the shareable URL and the language -----------------------------------------------------------------


def test_the_url_restores_year_layers_basemap_selection_and_language(page: Page) -> None:
    page.open(
        "#lang=zh&basemap=custom&year=2012&cumulative=1&layers=clusters,establishments&cluster=1&brush=1"
    )
    st = "window.__clusterscape"
    assert page.js(
        f"[{st}.lang, {st}.datum, {st}.year, {st}.useTime, {st}.cumulative, {st}.selected]"
    ) == [
        "zh",
        "gcj02",
        2012,
        True,
        True,
        1,
    ]
    assert page.js("document.documentElement.lang") == "zh-CN"
    assert page.page.input_value("#basemap") == "custom" and page.page.input_value("#lang") == "zh"
    vis = page.js(
        "['districts', 'centres', 'clusters', 'est-points', 'est-groups', 'lifecycle', 'amenities']"
        ".map((id) => window.__clusterscape.map.getLayoutProperty(id, 'visibility') || 'visible')"
    )
    assert vis == ["none", "none", "visible", "visible", "visible", "none", "none"]
    assert page.page.is_checked("#cumulative") and page.page.input_value("#year") == "2012"
    assert "集群 1" in page.page.inner_text("#card")
    counts = page.page.inner_text("#time-counts")
    assert f"截至 2012 年开业企业 {_alive(2012, cumulative=True, cluster=1)} 家" in counts
    assert "企业" in page.page.inner_text("#headline") and "年份" in page.page.inner_text("#time")
    page.shot("dashboard_zh.png")
    # The page writes the same view back into its URL (so "Copy link" shares it).
    shared = page.page.input_value("#share-url")
    for part in ("year=2012", "cumulative=1", "cluster=1", "brush=1", "basemap=custom", "lang=zh"):
        assert part in shared
    # Switching the language re-labels the page in place.
    page.page.select_option("#lang", "en")
    assert "Cluster 1" in page.page.inner_text("#card")
    assert "lang=en" in page.page.input_value("#share-url")


def test_lifecycle_events_of_the_year_on_the_map_and_in_the_panel(page: Page) -> None:
    page.open("#basemap=blank")
    page.page.check("#use-time")
    events = lifecycle_tables()["lifecycle_events"]

    def go(year: int) -> None:
        page.js(
            f"(() => {{ const s = document.getElementById('year'); s.value = {year};"
            " s.dispatchEvent(new Event('input')); })()"
        )

    go(2014)  # track 2 is born, track 3 is gone
    feats = page.settled_features("lifecycle-events")
    assert sorted(f["properties"]["event"] for f in feats) == ["birth", "death"]
    panel = page.page.inner_text("#events-list")
    assert "Birth of track 2" in panel and "Track 3 ends (gone in 2014)" in panel
    assert page.page.inner_text("#events-title") == "Life-cycle events in 2014"
    go(2018)
    feats = page.settled_features("lifecycle-events")
    assert [f["properties"]["event"] for f in feats] == ["merge"]
    assert "Tracks 1, 2 merge into track 1" in page.page.inner_text("#events-list")
    assert "merge" in page.page.inner_text("#legend-events")
    page.shot("dashboard_events.png")
    go(2016)
    assert page.settled_features("lifecycle-events") == []
    assert "no births, merges, splits or deaths" in page.page.inner_text("#events-list")
    page.page.check("#cumulative")  # all up to 2016: the fixture's events before 2017
    assert len(page.settled_features("lifecycle-events")) == int((events["year"] <= 2016).sum())
