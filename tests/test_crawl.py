"""``crawl_amap`` / ``clusterscape fetch-amap`` against a local fake Amap service (no network).

The fake service (``http.server`` in a thread) holds a planted set of GCJ-02 POIs and answers
polygon searches with Amap's semantics: v3 ``count`` is the number of matches capped at
``cap``, pages of ``offset`` POIs (``page`` from 1) within the first ``cap``; v5 pages by
``page_num``/``page_size`` with ``count`` the page's length. It can be told to fail chosen
calls (HTTP 500, infocodes 10004/10003, a body that is not JSON) and it logs every call.
``forms`` makes it accept one polygon form only, as a service written from either half of
Amap's documentation might: ``"ring"`` refuses two-pair rectangles and ``"rect"`` refuses
rings, with the documented parameter error (status "0", infocode 20000 INVALID_PARAMS) or,
with ``refusal="400"``, HTTP 400; a ring must be closed (first pair == last pair).

Checked: every planted POI inside the boundary reaches the output exactly once (edge POIs, in
two tiles, are read once by ``read_establishments``), except where the report says a tile is
saturated at the minimum tile size; saturated tiles are split; an interrupted crawl resumes
without fetching a page twice; the key is in no file, log line or error; the output read by
``read_establishments`` puts each POI at the WGS-84 position of its GCJ-02 coordinates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, box
from typer.testing import CliRunner

from clusterscape.cli import app
from clusterscape.coords import convert
from clusterscape.errors import InvalidInputError
from clusterscape.io import CrawlError, crawl_amap, read_establishments

KEY = "k3y-SECRET-0123456789abcdef"
runner = CliRunner()

# The study area (WGS-84) and the planted POIs (GCJ-02, 6 decimals as Amap gives them).
AREA_WGS = Polygon([(121.50, 29.84), (121.62, 29.83), (121.64, 29.92), (121.52, 29.93)])


def _plant(seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = AREA_WGS.bounds
    spread = np.column_stack(
        [rng.uniform(x0 - 0.03, x1 + 0.03, 900), rng.uniform(y0 - 0.03, y1 + 0.03, 900)]
    )
    dense = np.column_stack(  # a dense quarter forcing several levels of splits
        [rng.normal(121.57, 0.004, 700), rng.normal(29.88, 0.003, 700)]
    )
    wgs = np.vstack([spread, dense])
    lon, lat = convert(wgs[:, 0], wgs[:, 1], src="wgs84", dst="gcj02")
    pois = [
        {"id": f"B0{i:08d}", "lon": round(float(a), 6), "lat": round(float(b), 6)}
        for i, (a, b) in enumerate(zip(lon, lat, strict=True))
    ]
    # one address holding more POIs than the cap: it cannot be split apart
    gx, gy = convert(121.60, 29.85, src="wgs84", dst="gcj02")
    for k in range(130):
        pois.append({"id": f"B9{k:08d}", "lon": round(float(gx), 6), "lat": round(float(gy), 6)})
    return pois


POIS = _plant()


class FakeAmap:
    """Amap polygon search over ``pois``; ``faults`` maps a call number (from 1) to a failure."""

    def __init__(self, pois: list[dict[str, Any]], *, cap: int = 100) -> None:
        self.pois = sorted(pois, key=lambda p: p["id"])
        self.xy = np.array([(p["lon"], p["lat"]) for p in self.pois])
        self.cap = cap
        self.faults: dict[int, str] = {}
        self.kill_at: tuple[int, int] | None = None  # (call number, pid to SIGKILL)
        self.no_count = False  # answer v3 without "count"
        self.forms = "both"  # or "ring" / "rect": the only polygon form accepted
        self.refusal = "20000"  # how a refused form is answered: infocode 20000 or HTTP "400"
        self.refused: list[str] = []  # polygons refused for their form
        self.calls: list[dict[str, str]] = []
        self.ok: list[tuple[str, str, str]] = []  # (version, polygon, page) answered with data
        self.lock = threading.Lock()

    def _inside(self, polygon: str) -> list[dict[str, Any]]:
        pts = [tuple(map(float, p.split(","))) for p in polygon.split("|")]
        if len(pts) == 2:  # upper-left and lower-right corners
            (xa, ya), (xb, yb) = pts
            x0, x1, y0, y1 = min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)
            m = (self.xy[:, 0] >= x0) & (self.xy[:, 0] <= x1)
            m &= (self.xy[:, 1] >= y0) & (self.xy[:, 1] <= y1)
        else:
            poly = Polygon(pts)
            m = shapely.covers(poly, shapely.points(self.xy))
        return [self.pois[i] for i in np.flatnonzero(m)]

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            self.calls.append({k: v for k, v in q.items() if k != "key"})
            n = len(self.calls)
            fault = self.faults.get(n)
            if self.kill_at is not None and n == self.kill_at[0]:
                os.kill(self.kill_at[1], signal.SIGKILL)
                time.sleep(0.2)
        if fault == "slow":  # longer than the client's time-out
            time.sleep(0.8)
        if fault == "500":
            return 500, b"<html>internal error</html>"
        if fault == "garbage":
            return 200, b"<html>not json"
        if fault in ("10004", "10003"):
            name = "ACCESS_TOO_FREQUENT" if fault == "10004" else "DAILY_QUERY_OVER_LIMIT"
            # a server that echoes the key back must not get it written anywhere
            return 200, _body(
                {"status": "0", "info": f"{name} key={q.get('key')}", "infocode": fault}
            )
        if q.get("key") != KEY:
            return 200, _body({"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"})
        if "polygon" not in q:
            return 200, _body(
                {"status": "0", "info": "MISSING_REQUIRED_PARAMS", "infocode": "20001"}
            )
        pairs = q["polygon"].split("|")
        ring = len(pairs) >= 4 and pairs[0] == pairs[-1]
        if (self.forms == "ring" and not ring) or (self.forms == "rect" and len(pairs) != 2):
            with self.lock:
                self.refused.append(q["polygon"])
            if self.refusal == "400":
                return 400, b"<html>bad request</html>"
            return 200, _body({"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"})
        if int(q.get("offset", q.get("page_size", "20"))) > 25:  # Amap's documented maximum
            return 200, _body({"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"})
        hits = self._inside(q["polygon"])[: self.cap]
        v5 = "/v5/" in path
        size = int(q.get("page_size" if v5 else "offset", "20"))
        page = int(q.get("page_num" if v5 else "page", "1"))
        items = hits[(page - 1) * size : page * size]
        pois = [
            {
                "id": p["id"],
                "name": f"POI {p['id']}",
                "type": "科教文化服务;文化宫;文化宫",
                "typecode": "141000|170000",
                "location": f"{p['lon']:.6f},{p['lat']:.6f}",
                "address": [],
                "pname": "浙江省",
                "cityname": "宁波市",
                "adname": "鄞州区",
            }
            for p in items
        ]
        count = len(pois) if v5 else len(hits)
        with self.lock:
            if self.no_count:
                count = None
            self.ok.append(("v5" if v5 else "v3", q["polygon"], str(page)))
        doc = {"status": "1", "info": "OK", "infocode": "10000", "count": str(count), "pois": pois}
        if count is None:
            del doc["count"]
        return 200, _body(doc)


def _body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


@pytest.fixture
def fake() -> Iterator[tuple[FakeAmap, str]]:
    service = FakeAmap(POIS)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            code, body = service.answer(parts.path, dict(parse_qsl(parts.query)))
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def boundary(tmp_path: Path) -> Path:
    p = tmp_path / "area.geojson"
    feature = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(AREA_WGS)}
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return p


def _inside_ids() -> set[str]:
    """Planted POIs whose WGS-84 position lies inside the study area."""
    xy = np.array([(p["lon"], p["lat"]) for p in POIS])
    lon, lat = convert(xy[:, 0], xy[:, 1], src="gcj02", dst="wgs84")
    inside = shapely.contains_xy(AREA_WGS, lon, lat)
    return {p["id"] for p, m in zip(POIS, inside, strict=True) if m}


SATURATED = {p["id"] for p in POIS if p["id"].startswith("B9")}


def _crawl(out: Path, boundary: Path, url: str, **kw: Any) -> Any:
    logs: list[str] = kw.pop("logs", [])
    return crawl_amap(
        KEY,
        boundary,
        "141000|170000",
        out,
        endpoint=url + kw.pop("path", "/v3/place/polygon"),
        cap=100,
        page_size=20,
        qps=0,
        min_tile=0.002,
        backoff=0.0,
        sleep=lambda _s: None,
        log=logs.append,
        **kw,
    )


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]


def _on_an_edge(lon: float, lat: float, polygons: list[str]) -> bool:
    for poly in polygons:
        pts = [tuple(map(float, p.split(","))) for p in poly.split("|")]
        if len(pts) == 2:
            (xa, ya), (xb, yb) = pts
            shape = box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
        else:
            shape = Polygon(pts)
        if shape.boundary.distance(Point(lon, lat)) < 1e-9:
            return True
    return False


def _check_complete(out: Path, service: FakeAmap) -> None:
    lines = _lines(out)
    got = Counter(p["id"] for doc in lines for p in doc["pois"])
    inside = _inside_ids()
    # every POI inside the area is fetched, except those beyond the cap at the stacked address
    assert inside - SATURATED <= set(got)
    assert len(SATURATED & set(got)) == 100  # the cap, at the saturated tile
    # each POI is written once; one served again by a second tile lies on their shared edge
    assert max(got.values()) == 1
    polys = [doc["_request"]["polygon"] for doc in lines]
    where = {p["id"]: (p["lon"], p["lat"]) for p in POIS}
    again = [i for doc in lines for i in doc["_request"].get("repeats", [])]
    assert set(again) <= set(got)
    assert all(_on_an_edge(*where[i], polys) for i in again)
    # no page was written twice
    pages = Counter((d["_request"]["tile"], d["_request"]["page"]) for d in lines)
    assert max(pages.values()) == 1


def test_crawl_covers_the_area_splits_saturated_tiles_and_reads_back(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    service.faults = {2: "500", 5: "10004", 9: "garbage", 12: "10003"}
    out = tmp_path / "amap.jsonl"
    logs: list[str] = []
    rep = _crawl(out, boundary, url, logs=logs)
    assert rep.complete and rep.tiles_pending == 0
    assert rep.tiles_split >= 4  # the root and the dense quarter were split
    assert rep.tiles_saturated == 1  # the stacked address, at the minimum tile size
    assert rep.calls == len(service.calls) == rep.calls_total
    assert any("retry 1/6" in line and "HTTP 500" in line for line in logs)
    _check_complete(out, service)
    # every split tile had a count at the cap; every leaf fits (or is the saturated one)
    man = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert man["report"]["tiles_saturated"] == 1 and man["report"]["pois"] == rep.pois
    assert man["summary"]["pending"] == 0 and man["calls"] == rep.calls
    states = Counter(t["state"] for t in man["tiles"].values())
    assert states["split"] == rep.tiles_split and states["done"] == rep.tiles_done
    assert all(t["total"] < 100 for t in man["tiles"].values() if t["state"] == "done")
    # read back: GCJ-02 set, each POI once, at the WGS-84 place of its GCJ-02 coordinates
    res = read_establishments(out)
    est = res.establishments
    assert res.source_crs == "gcj02" and est["id"].is_unique
    # POIs on shared tile edges (planted data: two) were left out of the second line, counted
    again = sum(len(d["_request"].get("repeats", [])) for d in _lines(out))
    assert again >= 1
    assert res.skipped["repeated POI (same provider id in another page or response)"] == again
    assert set(est["id"]) >= _inside_ids() - SATURATED
    where = {p["id"]: (p["lon"], p["lat"]) for p in POIS}
    gx = np.array([where[i][0] for i in est["id"]])
    gy = np.array([where[i][1] for i in est["id"]])
    wx, wy = convert(gx, gy, src="gcj02", dst="wgs84")
    assert np.abs(est.geometry.x.to_numpy() - wx).max() < 1e-9
    assert np.abs(est.geometry.y.to_numpy() - wy).max() < 1e-9
    assert (est["code"] == "141000").all() and (est["codes"] == "141000|170000").all()
    _no_key(tmp_path, logs)


def _no_key(folder: Path, logs: list[str], *more: str) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            assert KEY not in f.read_text(encoding="utf-8", errors="replace"), f.name
    for text in [*logs, *more]:
        assert KEY not in text


def test_resume_after_interruption_fetches_nothing_twice(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    out = tmp_path / "amap.jsonl"
    first = _crawl(out, boundary, url, max_calls=15)
    assert not first.complete and first.tiles_pending > 0 and first.calls == 15
    assert "call budget" in first.stopped
    man_p = out.with_name(out.name + ".manifest.json")
    # an interruption between the line and the manifest: one more page, then the old manifest
    saved = man_p.read_text()
    _crawl(out, boundary, url, max_calls=1)
    man_p.write_text(saved)
    # and a line cut short by the interruption
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"status":"1","pois":[{"id":"B0')
    second = _crawl(out, boundary, url)
    assert second.complete
    assert second.calls_total == 15 + second.calls  # the restored manifest lost one call
    _check_complete(out, service)
    # no data page asked for twice over the three runs, apart from a split tile's probe
    data_pages = Counter(service.ok)
    lines = _lines(out)
    written = {(d["_request"]["polygon"], str(d["_request"]["page"])) for d in lines}
    assert all(n == 1 for (v, poly, page), n in data_pages.items() if (poly, page) in written)
    # a third run has nothing left to do and makes no call
    before = len(service.calls)
    third = _crawl(out, boundary, url)
    assert third.complete and third.calls == 0 and len(service.calls) == before
    _no_key(tmp_path, [])


def test_resume_refuses_other_options(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    out = tmp_path / "amap.jsonl"
    _crawl(out, boundary, fake[1], max_calls=3)
    url = fake[1]
    with pytest.raises(InvalidInputError, match=r"was made with types='141000\|170000'"):
        crawl_amap(KEY, boundary, "050000", out, endpoint=url + "/v3/place/polygon", cap=100,
                   page_size=20, min_tile=0.002, sleep=lambda _s: None)  # fmt: skip


def test_daily_quota_stops_cleanly_then_resumes(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    service.faults = {k: "10003" for k in range(4, 4 + 3)}  # the first try and both retries
    out = tmp_path / "amap.jsonl"
    logs: list[str] = []
    rep = _crawl(out, boundary, url, logs=logs)
    assert not rep.complete and "daily quota" in rep.stopped and "10003" in rep.stopped
    assert rep.calls == 6
    rep2 = _crawl(out, boundary, url)
    assert rep2.complete
    _check_complete(out, service)
    _no_key(tmp_path, logs, rep.stopped)


def test_wrong_key_is_an_error_without_the_key(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    _service, url = fake
    out = tmp_path / "amap.jsonl"
    with pytest.raises(CrawlError, match=r"INVALID_USER_KEY.*infocode 10001") as ei:
        crawl_amap("wrong-key-98765", boundary, "141000", out,
                   endpoint=url + "/v3/place/polygon", sleep=lambda _s: None)  # fmt: skip
    assert "wrong-key-98765" not in str(ei.value)
    man = out.with_name(out.name + ".manifest.json")
    assert man.exists() and "wrong-key-98765" not in man.read_text()


def test_v5_paging(tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path) -> None:
    service, url = fake
    out = tmp_path / "v5.jsonl"
    rep = _crawl(out, boundary, url, path="/v5/place/polygon")
    assert rep.complete and rep.tiles_saturated == 1 and rep.tiles_split >= 4
    assert all(c.get("page_num") and c.get("page_size") == "20" for c in service.calls)
    _check_complete(out, service)
    res = read_establishments(out)
    assert res.establishments["id"].is_unique
    assert set(res.establishments["id"]) >= _inside_ids() - SATURATED


def test_qps_is_respected(tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path) -> None:
    _service, url = fake
    waits: list[float] = []
    crawl_amap(KEY, boundary, "141000", tmp_path / "q.jsonl", endpoint=url + "/v3/place/polygon",
               cap=100, page_size=20, qps=2.0, min_tile=0.002, max_calls=6,
               sleep=waits.append)  # fmt: skip
    # five gaps between six calls, each padded to about 1/qps (the calls themselves are fast)
    assert len(waits) == 5 and all(0.3 < w <= 0.5 for w in waits)


def _cli_args(boundary: Path, url: str, out: Path, types: str) -> list[str]:
    """The fetch-amap options of these tests (the fake's cap, small pages, no pauses)."""
    return [
        "--boundary", str(boundary), "--types", types, "--endpoint", url + "/v3/place/polygon",
        "--cap", "100", "--page-size", "20", "--qps", "0", "--min-tile", "0.002", "--out", str(out),
    ]  # fmt: skip


def test_cli_fetch_amap(tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path) -> None:
    service, url = fake
    out = tmp_path / "cli.jsonl"
    args = ["fetch-amap", "--key", KEY, *_cli_args(boundary, url, out, "141000,170000")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "complete." in result.output and "1 tile(s) still at the cap" in result.output
    assert KEY not in result.output
    _check_complete(out, service)
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 this run" in again.output
    other = [*args[:2], "nope-key-123", *args[3:-1], str(tmp_path / "bad.jsonl")]
    bad = runner.invoke(app, other)
    assert bad.exit_code == 1 and "INVALID_USER_KEY" in bad.output
    _no_key(tmp_path, [], result.output, again.output)


def test_cli_stops_early_with_code_3_and_resumes(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    out = tmp_path / "cli.jsonl"
    args = ["fetch-amap", *_cli_args(boundary, url, out, "141000")]
    first = runner.invoke(app, [*args, "--max-calls", "7"], env={"AMAP_KEY": KEY})
    assert first.exit_code == 3 and "incomplete" in first.output and "resume" in first.output
    rest = runner.invoke(app, args, env={"AMAP_KEY": KEY})
    assert rest.exit_code == 0 and "complete." in rest.output
    _check_complete(out, service)
    # no request made twice over the two runs (no faults here, so no retries)
    assert max(Counter(json.dumps(c, sort_keys=True) for c in service.calls).values()) == 1
    nokey = runner.invoke(app, args, env={"AMAP_KEY": ""})
    assert nokey.exit_code == 1 and "--key or AMAP_KEY" in nokey.output
    _no_key(tmp_path, [], first.output, rest.output)


def test_time_out_is_retried(tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path) -> None:
    service, url = fake
    service.faults = {1: "slow"}
    logs: list[str] = []
    rep = _crawl(tmp_path / "t.jsonl", boundary, url, timeout=0.3, max_calls=4, logs=logs)
    assert rep.calls == 4 and "call budget" in rep.stopped
    assert any("time-out" in line for line in logs), logs
    # the slow first call was asked again: the probe of the root tile, then its children
    assert service.calls[0] == service.calls[1]


def test_resume_from_a_manifest_far_behind_the_output(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    out = tmp_path / "amap.jsonl"
    _crawl(out, boundary, url, max_calls=4)
    man_p = out.with_name(out.name + ".manifest.json")
    early = man_p.read_text()
    _crawl(out, boundary, url, max_calls=40)  # splits and pages the manifest of 4 calls lacks
    n_before = len(_lines(out))
    man_p.write_text(early)
    done = _crawl(out, boundary, url)
    assert done.complete
    _check_complete(out, service)
    # the 40 calls' pages were taken from the output, not fetched again
    written = Counter((d["_request"]["polygon"], str(d["_request"]["page"])) for d in _lines(out))
    assert max(written.values()) == 1 and len(written) >= n_before
    asked = Counter((c["polygon"], c["page"]) for c in service.calls)
    assert all(asked[k] == 1 for k in written)
    # and the splits it lacked were seen in the output: no tile was probed again either, except
    # the probes made after the early manifest that led to no written page yet
    probes_again = [k for k, n in asked.items() if n > 1]
    assert len(probes_again) <= 1, probes_again


def test_killed_process_resumes_without_refetching(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    """SIGKILL in the middle of a crawl (no clean-up at all), then the same command again."""
    out = tmp_path / "kill.jsonl"
    service, url = fake
    args = ["fetch-amap", *_cli_args(boundary, url, out, "141000")]
    env = {**os.environ, "AMAP_KEY": KEY, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterscape.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service.kill_at = (35, proc.pid)  # the fake kills the client while serving call 35
    assert proc.wait(timeout=120) == -signal.SIGKILL
    killed_calls = len(service.calls)
    assert killed_calls >= 35
    rest = runner.invoke(app, args, env={"AMAP_KEY": KEY})
    assert rest.exit_code == 0, rest.output
    _check_complete(out, service)
    # only the call in flight when the process died is asked again
    asked = Counter(json.dumps(c, sort_keys=True) for c in service.calls)
    assert sum(n - 1 for n in asked.values()) <= 1
    _no_key(tmp_path, [], rest.output)


def test_v3_without_count_pages_to_the_cap(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    service.no_count = True
    out = tmp_path / "nc.jsonl"
    rep = _crawl(out, boundary, url)
    assert rep.complete and rep.tiles_saturated == 1 and rep.tiles_split >= 4
    _check_complete(out, service)


# ---------------------------------------------------------------- the polygon form


def _manifest(out: Path) -> dict[str, Any]:
    return json.loads(out.with_name(out.name + ".manifest.json").read_text(encoding="utf-8"))


def _is_ring(polygon: str) -> bool:
    pairs = polygon.split("|")
    return len(pairs) == 5 and pairs[0] == pairs[-1] and len(set(pairs)) == 4


@pytest.mark.parametrize(("refusal", "old_manifest"), [("20000", False), ("400", True)])
def test_auto_switches_to_rings_on_a_ring_only_service_and_resumes_with_them(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path, refusal: str, old_manifest: bool
) -> None:
    service, url = fake
    service.forms, service.refusal = "ring", refusal
    out = tmp_path / "ring.jsonl"
    logs: list[str] = []
    first = _crawl(out, boundary, url, max_calls=12, logs=logs)
    assert not first.complete and first.polygon_form == "ring"
    # one rectangle asked, refused, asked again as a ring: no other call was refused
    assert len(service.refused) == 1 and service.refused[0].count("|") == 1
    assert service.calls[1]["polygon"] == "|".join(
        ["{0},{1}", "{2},{1}", "{2},{3}", "{0},{3}", "{0},{1}"]
    ).format(*_corners(service.calls[0]["polygon"]))
    man = _manifest(out)
    assert man["polygon"]["form"] == "ring" and man["polygon"]["switched"]["tile"] == "0"
    assert any("closed ring" in line and "tile 0" in line for line in logs)
    if old_manifest:  # a manifest without the form (older runs): the rings in the output tell
        man_p = out.with_name(out.name + ".manifest.json")
        man_p.write_text(json.dumps({k: v for k, v in man.items() if k != "polygon"}))
    # the resume keeps rings: not one rectangle more
    second = _crawl(out, boundary, url, logs=logs)
    assert second.complete and second.polygon_form == "ring"
    assert len(service.refused) == 1
    assert all(_is_ring(c["polygon"]) for c in service.calls[1:])
    _check_complete(out, service)  # every POI inside the area once, no page twice
    assert all(_is_ring(d["_request"]["polygon"]) for d in _lines(out))
    assert set(read_establishments(out).establishments["id"]) >= _inside_ids() - SATURATED
    assert _manifest(out)["polygon"]["form"] == "ring"
    _no_key(tmp_path, logs, first.stopped)


def _corners(rect: str) -> list[str]:
    """x0, y0, x1, y1 (as sent, 6 decimals) of a rectangle given as upper-left|lower-right."""
    (xa, ya), (xb, yb) = (p.split(",") for p in rect.split("|"))
    return [xa, yb, xb, ya]


def test_auto_keeps_rectangles_on_a_rect_only_service(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    service.forms = "rect"
    out = tmp_path / "rect.jsonl"
    first = _crawl(out, boundary, url, max_calls=10)
    assert _manifest(out)["polygon"] == {"mode": "auto", "form": "rect"}
    rep = _crawl(out, boundary, url)
    assert rep.complete and rep.polygon_form == "rect" and service.refused == []
    assert all(c["polygon"].count("|") == 1 for c in service.calls)
    _check_complete(out, service)
    assert (
        _manifest(out)["polygon"]["form"] == "rect" and "switched" not in _manifest(out)["polygon"]
    )
    # asked for rings explicitly, the same service refuses them: the error names the option
    with pytest.raises(CrawlError, match=r"INVALID_PARAMS.*--polygon-form"):
        _crawl(tmp_path / "ring.jsonl", boundary, url, polygon_form="ring")
    assert len(service.refused) == 1 and _is_ring(service.refused[0])
    _no_key(tmp_path, [], first.stopped)


def test_an_empty_tile_is_no_refusal(tmp_path: Path, fake: tuple[FakeAmap, str]) -> None:
    service, url = fake
    service.forms = "rect"
    far = affinity.translate(AREA_WGS, xoff=2.0)  # no POI planted there
    rep = crawl_amap(KEY, far, "141000", tmp_path / "e.jsonl", endpoint=url + "/v3/place/polygon",
                     cap=100, page_size=20, qps=0, min_tile=0.002, sleep=lambda _s: None)  # fmt: skip
    assert rep.complete and rep.pois == 0 and rep.calls == 1 and rep.polygon_form == "rect"
    assert service.calls[0]["polygon"].count("|") == 1 and service.refused == []


def test_refused_in_both_forms_is_an_error(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    service.forms = "ring"
    # a page size above Amap's 25 is refused whatever the polygon: one ring retry, then the error
    with pytest.raises(CrawlError, match=r"INVALID_PARAMS.*rectangle and as a closed ring"):
        crawl_amap(KEY, boundary, "141000", tmp_path / "x.jsonl",
                   endpoint=url + "/v3/place/polygon", page_size=30, sleep=lambda _s: None)  # fmt: skip
    assert len(service.calls) == 2
    assert service.calls[0]["polygon"].count("|") == 1 and _is_ring(service.calls[1]["polygon"])
    assert _manifest(tmp_path / "x.jsonl")["polygon"]["form"] == "rect"


def test_polygon_form_is_checked(tmp_path: Path, boundary: Path) -> None:
    with pytest.raises(InvalidInputError, match="auto, rect or ring"):
        crawl_amap(KEY, boundary, "141000", tmp_path / "x.jsonl", polygon_form="square")


def test_cli_polygon_form_and_chinese_lines(
    tmp_path: Path, fake: tuple[FakeAmap, str], boundary: Path
) -> None:
    service, url = fake
    service.forms = "ring"
    args = ["fetch-amap", "--key", KEY, *_cli_args(boundary, url, tmp_path / "c.jsonl", "141000")]
    result = runner.invoke(app, [*args, "--polygon-form", "ring"])
    assert result.exit_code == 0, result.output
    assert "polygon form: ring" in result.output and service.refused == []
    bad = runner.invoke(app, [*args, "--polygon-form", "square"])
    assert bad.exit_code == 1 and "auto, rect or ring" in bad.output
    # the log lines and the summary in Chinese
    service.faults = {len(service.calls) + 1: "500"}
    logs: list[str] = []
    rep = _crawl(tmp_path / "zh.jsonl", boundary, url, lang="zh", logs=logs)
    assert any(line.startswith("第 1/6 次重试") and "HTTP 500" in line for line in logs)
    assert any(line.startswith("网格 0：矩形写法的多边形被拒") for line in logs)
    assert rep.summary("zh").startswith("已完成。") and "多边形写法：ring" in rep.summary("zh")
    assert rep.summary("en").startswith("complete.")
    _no_key(tmp_path, logs, result.output)
