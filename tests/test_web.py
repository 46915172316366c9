"""The dashboard: API contract, path safety, OpenAPI (schemathesis) and a real headless Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import pytest
from fastapi.testclient import TestClient

from clusterscape.errors import InvalidInputError
from clusterscape.web import create_app
from clusterscape.web.app import VENDOR_DIR
from study_fixture import make_study_dir

matplotlib.use("Agg")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    return make_study_dir(tmp_path / "study")


@pytest.fixture()
def client(study_dir: Path) -> TestClient:
    return TestClient(create_app(study_dir), base_url="http://127.0.0.1")


def test_api_serves_saved_results(client: TestClient) -> None:
    summary = client.get("/api/summary").json()
    assert summary["synthetic"] is True and summary["clusters"] == 2
    assert summary["note"] is None  # NaN becomes null, JSON stays valid
    clusters = client.get("/api/clusters").json()
    assert [c["form"] for c in clusters] == ["converted_industrial", "new_park"]
    assert set(client.get("/api/layers").json()) == {"clusters", "districts", "centres"}
    layer = client.get("/api/layers/clusters")
    assert layer.headers["content-type"].startswith("application/geo+json")
    assert len(layer.json()["features"]) == 2
    assert client.get("/api/figures").json() == ["clusters_map.png"]
    assert client.get("/figures/clusters_map.png").content[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "path",
    [
        "/api/layers/nope",
        "/api/layers/..%2Fsecret.txt",
        "/api/layers/%2e%2e%2fsecret.txt",
        "/figures/../secret.txt",
        "/figures/..%2Fsecret.txt",
        "/figures/%2e%2e%2fsecret.txt",
        "/figures/..%2F..%2Fetc%2Fpasswd",
        "/static/..%2F..%2Fapp.py",
        "/static/../../secret.txt",
    ],
)
def test_unknown_names_and_path_tricks_get_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"outside" not in response.content


def test_refuses_a_directory_that_is_not_a_study(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"summary\.json"):
        create_app(tmp_path)


def test_openapi_contract_with_schemathesis(study_dir: Path) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    # schemathesis' ASGI client sends Host: testserver, so that name is allowed here.
    app = create_app(study_dir, allowed_hosts=["testserver"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: object) -> None:
            case.call_and_validate()  # type: ignore[attr-defined]

        check()
        checked.append(op.path)
    assert "/api/layers/{name}" in checked and "/api/summary" in checked


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Headless Chromium flags of the browser tests (software GL, no background network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def serve_app(app: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def server(study_dir: Path) -> Iterator[str]:
    with serve_app(create_app(study_dir)) as url:
        yield url


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (make install provides it)"
)
@pytest.mark.skipif(
    not (VENDOR_DIR / "maplibre-gl.js").exists(), reason="run make install (npm MapLibre)"
)
def test_dashboard_in_headless_chromium(server: str) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        external: list[str] = []
        page.on(
            "request",
            lambda r: (
                external.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None
            ),
        )
        page.goto(server + "/")
        # Polled with evaluate (DevTools, exempt from CSP): wait_for_function needs 'unsafe-eval',
        # which the dashboard's Content-Security-Policy rightly forbids.
        deadline = time.monotonic() + 30
        while not page.evaluate("!!(window.__clusterscape && window.__clusterscape.ready)"):
            assert time.monotonic() < deadline, "dashboard never became ready"
            page.wait_for_timeout(100)
        assert "Synthetic" in page.inner_text("#banner")
        n_rendered = page.evaluate(
            "window.__clusterscape.map.queryRenderedFeatures({layers: ['clusters']}).length"
        )
        assert n_rendered >= 2
        # Click the centre of cluster 0 on the map: its card opens with the form and evidence.
        x, y = page.evaluate(
            "(() => { const m = window.__clusterscape.map; const p = m.project([121.566, 29.887]);"
            " const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()"
        )
        page.mouse.click(x, y)
        page.wait_for_selector("#card:not([hidden])", timeout=5000)
        card = page.inner_text("#card")
        assert "converted_industrial" in card and "cotton-mill" in card
        # Filters: choose one form, one cluster stays.
        page.select_option("#filter-form", "new_park")
        assert "1 of 2" in page.inner_text("#filter-count")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        browser.close()
    assert errors == []
    assert external == []
