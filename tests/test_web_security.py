"""The dashboard under attack and on damaged or re-written study directories (issue #20, items 2-5, 7)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from clusterscape.errors import InvalidInputError
from clusterscape.io.establishments import atomic_directory
from clusterscape.web import create_app
from clusterscape.web.app import MAX_PAGE
from study_fixture import make_study_dir

BASE = "http://127.0.0.1"


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    return make_study_dir(tmp_path / "study")


def _client(root: Path, **kwargs: object) -> TestClient:
    return TestClient(create_app(root, **kwargs), base_url=BASE)  # type: ignore[arg-type]


# --- item 2: file serving -------------------------------------------------------------------


def test_figures_are_only_regular_png_files_inside_the_study(study_dir: Path) -> None:
    figs = study_dir / "figures"
    (figs / "passwd.png").symlink_to("/etc/passwd")
    (figs / "secret.png").symlink_to(study_dir.parent / "secret.txt")
    (figs / "evil.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    )
    (figs / "x.png").mkdir()
    (figs / "fake.png").write_text("<html><script>alert(1)</script></html>")
    (figs / "inside.png").symlink_to("clusters_map.png")  # a link that stays inside is fine
    client = _client(study_dir)
    assert client.get("/api/figures").json() == ["clusters_map.png", "inside.png"]
    for name in ("passwd.png", "secret.png", "evil.svg", "x.png", "fake.png", "..%2Fsummary.json"):
        response = client.get(f"/figures/{name}")
        assert response.status_code == 404, name
        assert b"root:" not in response.content and b"outside" not in response.content
    ok = client.get("/figures/inside.png")
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    assert ok.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_study_files_linked_out_of_the_study_are_not_read(study_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "clusters.csv").write_text("cluster_id,secret\n0,outside\n")
    gpd.GeoDataFrame({"secret": ["outside"]}, geometry=[Point(0, 0)], crs="EPSG:4326").to_file(
        outside / "x.gpkg", layer="stolen", driver="GPKG"
    )
    (study_dir / "clusters.csv").unlink()
    (study_dir / "clusters.csv").symlink_to(outside / "clusters.csv")
    (study_dir / "results.gpkg").unlink()
    (study_dir / "results.gpkg").symlink_to(outside / "x.gpkg")
    (study_dir / "figures").rename(study_dir / "figs-real")
    (study_dir / "figures").symlink_to(Path("/usr/share"))
    client = _client(study_dir)
    assert client.get("/api/clusters").json() == []
    assert client.get("/api/layers").json() == []
    assert client.get("/api/layers/stolen").status_code == 404
    assert client.get("/api/figures").json() == []


def test_security_headers_on_every_response(study_dir: Path) -> None:
    (study_dir / "clusters.csv").write_bytes(b"\xff\xfe\x00garbage\n\x00\x00")
    client = _client(study_dir)
    paths = [
        "/",
        "/api/summary",
        "/api/clusters",
        "/api/layers",
        "/api/layers/clusters",
        "/static/app.js",
        "/figures/clusters_map.png",
        "/openapi.json",
        "/nope",
        "/api/layers/clusters?limit=0",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-frame-options"] == "DENY"
    rejected = TestClient(create_app(study_dir)).get(
        "/api/summary", headers={"host": "evil.example"}
    )
    assert rejected.status_code == 400 and rejected.headers["x-content-type-options"] == "nosniff"


def test_tile_url_origin_enters_the_csp_and_bad_urls_are_refused(study_dir: Path) -> None:
    client = _client(study_dir, tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    csp = client.get("/").headers["content-security-policy"]
    hosts = " ".join(f"https://{s}.tile.example.org" for s in "abc")
    assert f"img-src 'self' data: blob: {hosts};" in csp
    for bad in ("javascript:alert(1)", "https://a.org; script-src *", "file:///etc/passwd"):
        with pytest.raises(InvalidInputError, match="tile-url"):
            create_app(study_dir, tile_url=bad)


# --- item 3: DNS rebinding ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8000", 200),
        ("localhost", 200),
        ("LOCALHOST.:8000", 200),
        ("[::1]:8000", 200),
        ("evil.example", 400),
        ("evil.example:8000", 400),
        ("127.0.0.1.evil.example", 400),
        ("localhost@evil.example", 400),
        ("", 400),
        ("myhost.lan:8000", 200),  # given with allowed_hosts
    ],
)
def test_host_header_allow_list(study_dir: Path, host: str, status: int) -> None:
    client = TestClient(create_app(study_dir, allowed_hosts=["myhost.lan"]))
    response = client.get("/api/summary", headers={"host": host})
    assert response.status_code == status
    if status == 400:
        assert b"synthetic" not in response.content


def test_cli_serve_warns_on_all_interfaces_and_allows_the_given_host(
    study_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from clusterscape.cli import app as cli

    seen: dict[str, object] = {}

    def fake_run(web_app: object, **kwargs: object) -> None:
        seen["app"], seen["kwargs"] = web_app, kwargs

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(
        cli, ["serve", str(study_dir), "--host", "0.0.0.0", "--allow-host", "box.lan"]
    )
    assert result.exit_code == 0, result.output
    assert "warning" in result.output.lower() and "0.0.0.0" in result.output
    client = TestClient(seen["app"])  # type: ignore[arg-type]
    assert client.get("/api/summary", headers={"host": "box.lan:8000"}).status_code == 200
    assert client.get("/api/summary", headers={"host": "evil.example"}).status_code == 400
    result = CliRunner().invoke(cli, ["serve", str(study_dir), "--host", "10.1.2.3"])
    assert result.exit_code == 0 and "warning" not in result.output.lower()
    client = TestClient(seen["app"])  # type: ignore[arg-type]
    assert client.get("/api/summary", headers={"host": "10.1.2.3:8000"}).status_code == 200


# --- item 4: no CDN -------------------------------------------------------------------------------


def test_no_cdn_docs_and_no_external_assets(study_dir: Path) -> None:
    client = _client(study_dir)
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "clusterscape dashboard"
    page = client.get("/").text
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


# --- item 5: stale caches, single flight, paging --------------------------------------------------


def _write_study(tmp: Path, n_clusters: int) -> None:
    make_study_dir(tmp)
    gpd.GeoDataFrame(
        {"cluster_id": list(range(n_clusters))},
        geometry=[box(121.5 + i / 100, 29.8, 121.505 + i / 100, 29.805) for i in range(n_clusters)],
        crs="EPSG:4326",
    ).to_file(tmp / "results.gpkg", layer="clusters", driver="GPKG")


def test_rerun_into_the_same_out_is_served_fresh(tmp_path: Path) -> None:
    out = tmp_path / "out" / "ningbo"
    with atomic_directory(out) as tmp:
        _write_study(tmp, 2)
    client = _client(out)
    assert len(client.get("/api/layers/clusters").json()["features"]) == 2
    with atomic_directory(out) as tmp:  # a re-run: new files behind the same path
        _write_study(tmp, 3)
    assert len(client.get("/api/layers/clusters").json()["features"]) == 3
    # An in-place rewrite (same path, same inode possible) is seen too: size/mtime change.
    _write_study(out, 5)
    assert len(client.get("/api/layers/clusters").json()["features"]) == 5
    clusters = out / "clusters.csv"
    clusters.write_text("cluster_id,form\n7,new_park\n")
    assert client.get("/api/clusters").json() == [{"cluster_id": 7, "form": "new_park"}]


def test_concurrent_cold_requests_build_each_layer_once(study_dir: Path) -> None:
    app = create_app(study_dir)
    results: list[int] = []
    barrier = threading.Barrier(8)
    import uvicorn

    from test_web import _free_port

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        threading.Event().wait(0.05)
    try:

        def hit() -> None:
            barrier.wait()
            r = httpx.get(f"http://127.0.0.1:{port}/api/layers/districts", timeout=30)
            results.append(len(r.json()["features"]))

        threads = [threading.Thread(target=hit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
    assert results == [1] * 8
    assert app.state.cache.builds == 2  # the layer list once, the page once


def test_big_layers_are_paged(study_dir: Path) -> None:
    n = 25
    gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(n)]},
        geometry=[Point(121.5 + i / 1000, 29.8) for i in range(n)],
        crs="EPSG:32651" if False else "EPSG:4326",
    ).to_file(study_dir / "results.gpkg", layer="establishments", driver="GPKG")
    client = _client(study_dir)
    url: str | None = "/api/layers/establishments?limit=10"
    ids: list[str] = []
    sizes = []
    while url:
        page = client.get(url).json()
        assert page["type"] == "FeatureCollection" and page["numberMatched"] == n
        assert page["numberReturned"] == len(page["features"])
        ids += [f["properties"]["id"] for f in page["features"]]
        sizes.append(page["numberReturned"])
        url = page.get("next")
    assert sizes == [10, 10, 5]
    assert ids == [f"f{i}" for i in range(n)]
    whole = client.get("/api/layers/establishments").json()
    assert whole["numberReturned"] == n and "next" not in whole
    past = client.get("/api/layers/establishments?offset=1000").json()
    assert past["features"] == [] and past["numberMatched"] == n
    for bad in ("limit=0", f"limit={MAX_PAGE + 1}", "offset=-1", "limit=abc"):
        assert client.get(f"/api/layers/establishments?{bad}").status_code == 422


# --- item 7: damaged directory --------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        "empty_clusters",
        "header_only_clusters",
        "binary_clusters",
        "corrupt_gpkg",
        "empty_gpkg",
        "corrupt_summary",
        "summary_list",
        "gpkg_is_dir",
        "no_figures",
        "summary_gone",
    ],
)
def test_damaged_study_gives_4xx_or_empty_never_500(study_dir: Path, damage: str) -> None:
    client = _client(study_dir)  # started while the study was fine
    if damage == "empty_clusters":
        (study_dir / "clusters.csv").write_text("")
    elif damage == "header_only_clusters":
        (study_dir / "clusters.csv").write_text("cluster_id,form\n")
    elif damage == "binary_clusters":
        (study_dir / "clusters.csv").write_bytes(os.urandom(4096))
    elif damage == "corrupt_gpkg":
        (study_dir / "results.gpkg").write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    elif damage == "empty_gpkg":
        (study_dir / "results.gpkg").write_bytes(b"")
    elif damage == "corrupt_summary":
        (study_dir / "summary.json").write_text('{"synthetic": tru')
    elif damage == "summary_list":
        (study_dir / "summary.json").write_text("[1, 2]")
    elif damage == "gpkg_is_dir":
        (study_dir / "results.gpkg").unlink()
        (study_dir / "results.gpkg").mkdir()
    elif damage == "no_figures":
        import shutil

        shutil.rmtree(study_dir / "figures")
    elif damage == "summary_gone":
        (study_dir / "summary.json").unlink()
    for path in [
        "/api/summary",
        "/api/clusters",
        "/api/layers",
        "/api/layers/clusters",
        "/api/figures",
        "/figures/clusters_map.png",
        "/",
    ]:
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code, response.text)
        if response.status_code == 409:
            detail = response.json()["detail"]
            assert "damaged" in detail and "\n" not in detail
            assert any(f in detail for f in ("clusters.csv", "results.gpkg", "summary.json"))
    if damage in {"empty_clusters", "header_only_clusters"}:
        assert client.get("/api/clusters").json() == []
    if damage == "corrupt_gpkg":
        assert "results.gpkg" in client.get("/api/layers").json()["detail"]


def test_summary_credentials_are_redacted_in_the_api(study_dir: Path) -> None:
    summary = json.loads((study_dir / "summary.json").read_text())
    summary["input"]["source"] = "postgresql://me:p@ss@db/x?table=t&password=s3cret"
    (study_dir / "summary.json").write_text(json.dumps(summary))
    text = _client(study_dir).get("/api/summary").text
    assert "s3cret" not in text and "p@ss" not in text and "me:***@db" in text


@pytest.mark.parametrize("damage", ["corrupt_gpkg", "empty_clusters_and_no_figures"])
def test_openapi_contract_holds_on_a_damaged_study(study_dir: Path, damage: str) -> None:
    import shutil

    import schemathesis
    from hypothesis import HealthCheck, given, settings

    if damage == "corrupt_gpkg":
        (study_dir / "results.gpkg").write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    else:
        (study_dir / "clusters.csv").write_text("")
        shutil.rmtree(study_dir / "figures")
    app = create_app(study_dir, allowed_hosts=["testserver"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: object) -> None:
            case.call_and_validate()  # type: ignore[attr-defined]

        check()


def test_study_directory_removed_while_serving(study_dir: Path) -> None:
    import shutil

    client = _client(study_dir)
    shutil.rmtree(study_dir)
    for path in [
        "/api/summary",
        "/api/clusters",
        "/api/layers",
        "/api/layers/clusters",
        "/api/figures",
        "/figures/clusters_map.png",
    ]:
        response = client.get(path)
        assert 400 <= response.status_code < 500, path
    assert client.get("/").status_code == 200  # the page itself still loads
