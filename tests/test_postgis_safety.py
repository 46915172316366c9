"""PostGIS under attack, against a real PostgreSQL + PostGIS on loopback (issue #20, item 6)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from shapely.geometry import Point
from typer.testing import CliRunner

from clusterscape.errors import InvalidInputError
from clusterscape.io._redact import redact_text, redact_url
from clusterscape.io.postgis import read_establishments_postgis, write_postgis
from pg_server import pg_bin, postgis_server

pytestmark = [
    pytest.mark.postgis,
    pytest.mark.skipif(
        pg_bin() is None, reason="PostgreSQL + PostGIS not installed (make install does it)"
    ),
]

PASSWORD = "p@ss:w/rd?"  # '@', ':', '/', '?' inside the password
QUERY_SECRET = "Q-s3cret-xyz"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgis_server() as url:
        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        frame = pd.DataFrame(
            {"id": [f"f{i}" for i in range(30)], "lon": [121.55] * 30, "lat": [29.87] * 30}
        )
        frame.to_sql("poi", engine, if_exists="replace", index=False)
        engine.dispose()
        yield url


def _count(url: str, sql: str) -> int:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text(sql)).scalar_one())
    finally:
        engine.dispose()


def _with_password(url: str, raw: bool) -> str:
    """pg_url with a password in the userinfo (raw or percent-encoded) and in ?password=."""
    user, rest = url.split("://", 1)[1].split("@", 1)
    pw = PASSWORD if raw else quote(PASSWORD, safe="")
    return f"postgresql://{user}:{pw}@{rest}"


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "encoded"])
def test_password_with_at_sign_connects_and_never_shows(pg_url: str, raw: bool) -> None:
    url = _with_password(pg_url, raw)
    # The server trusts loopback, so the password is not checked, but the URL must parse
    # right: a wrong split at the first '@' would try to reach a host named 'ss:w...'.
    loaded = read_establishments_postgis(f"{url}?table=poi")
    assert len(loaded.establishments) == 30
    with pytest.raises(InvalidInputError) as info:
        read_establishments_postgis(
            f"{url}?table=missing_table&password={QUERY_SECRET}&sslpassword={QUERY_SECRET}"
        )
    message = str(info.value)
    for secret in (PASSWORD, quote(PASSWORD, safe=""), "p@ss", "w/rd", QUERY_SECRET):
        assert secret not in message
    assert "could not read" in message and "***" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://me:p@ss@db:5432/x?table=t",
        "postgresql://me:p%40ss@db/x?table=t",
        "postgresql://me@db/x?table=t&password=p@ss",
        "postgresql://me@db/x?table=t&PGPASSWORD=p@ss",
        "postgresql://me@db/x?sslpassword=p@ss&table=t",
        "postgresql://me@db/x?table=t&pass%77ord=p@ss",
        "postgres://me:p@ss/@db/x",
        "postgresql+psycopg://me:p@ss@[::1]:5432/x",
    ],
)
def test_every_credential_form_is_redacted(url: str) -> None:
    out = redact_url(url)
    assert "p@ss" not in out and "p%40ss" not in out and "***" in out
    assert "db" in out or "::1" in out  # the host stays readable
    text = redact_text(f"failed: {url} and host=db password='p@ss' PGPASSWORD=p@ss")
    assert "p@ss" not in text and "p%40ss" not in text


def test_query_runs_once_read_only_single_statement(pg_url: str) -> None:
    n = _count(pg_url, "SELECT count(*) FROM poi")
    attacks = [
        "SELECT * FROM poi; DELETE FROM poi",
        "SELECT * FROM poi; COMMIT; DELETE FROM poi",
        "WITH gone AS (DELETE FROM poi RETURNING *) SELECT * FROM gone",
        "DELETE FROM poi",
        "COMMIT",
        "/* hi */ UPDATE poi SET id = 'x'",
        "SELECT * FROM poi WHERE id = 'f1') AS q; DELETE FROM poi; SELECT * FROM (SELECT 1",
        "SELECT set_config('transaction_read_only', 'off', false), * FROM poi",
    ]
    for attack in attacks:
        with pytest.raises(InvalidInputError):
            read_establishments_postgis(f"{pg_url}?query={quote(attack)}")
        assert _count(pg_url, "SELECT count(*) FROM poi") == n, attack
    # Creating a table (a write) is refused too.
    with pytest.raises(InvalidInputError):
        read_establishments_postgis(f"{pg_url}?query={quote('SELECT * INTO stolen FROM poi')}")
    assert _count(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'stolen'") == 0
    # A legitimate query with '%' and a trailing ';' works.
    like = quote("SELECT * FROM poi WHERE id LIKE 'f1%';")
    ok = read_establishments_postgis(f"{pg_url}?query={like}")
    assert sorted(ok.establishments["id"]) == ["f1"] + [f"f{i}" for i in range(10, 20)]


def _seq_scans(url: str) -> int:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_stat_clear_snapshot()"))
            value = conn.execute(
                sqlalchemy.text(
                    "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'counted'"
                )
            ).scalar_one()
            return int(value)
    finally:
        engine.dispose()


def test_query_is_executed_exactly_once(pg_url: str) -> None:
    firms = gpd.GeoDataFrame(
        {"id": ["a", "b"], "name": ["x", "y"], "employees": [1, 2]},
        geometry=[Point(121.55, 29.87), Point(121.56, 29.88)],
        crs="EPSG:4326",
    )
    engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    firms.to_postgis("counted", engine, if_exists="replace", index=False)
    engine.dispose()

    def settled() -> int:
        # Statistics reach the shared view when a session ends; wait until they stop moving.
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 1.5:
            now = _seq_scans(pg_url)
            if now != last:
                last, stable_since = now, time.monotonic()
            time.sleep(0.2)
        return last

    before = settled()
    loaded = read_establishments_postgis(f"{pg_url}?query={quote('SELECT * FROM counted')}")
    assert len(loaded.establishments) == 2  # the geometry column was found without a probe
    assert settled() - before == 1  # was 2 + one per column


def test_write_refuses_existing_tables_unless_told(pg_url: str) -> None:
    big = gpd.GeoDataFrame(
        {"id": range(3000)}, geometry=[Point(0, i / 1000) for i in range(3000)], crs="EPSG:4326"
    )
    engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    big.to_postgis("establishments", engine, schema="public", if_exists="replace", index=False)
    engine.dispose()
    small = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[Point(0, 0), Point(1, 1)], crs="EPSG:4326")
    fresh = pd.DataFrame({"a": [1]})
    with pytest.raises(InvalidInputError, match=r"public\.establishments already exists"):
        write_postgis({"fresh_table": fresh, "establishments": small}, pg_url, schema="public")
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 3000
    # Refused before anything was written: the other table was not created either.
    assert _count(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'fresh_table'") == 0
    write_postgis({"establishments": small}, pg_url, schema="public", if_exists="append")
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 3002
    write_postgis({"establishments": small}, pg_url, schema="public", if_exists="replace")
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 2
    with pytest.raises(InvalidInputError, match="if_exists"):
        write_postgis({"establishments": small}, pg_url, schema="public", if_exists="merge")


def test_cli_overwrite_and_append_options(tmp_path: Path) -> None:
    from clusterscape.cli import app

    runner = CliRunner()
    both = runner.invoke(
        app,
        [
            "run",
            "--write-postgis",
            "postgresql://u@h/db",
            "--overwrite",
            "--append",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert both.exit_code == 1 and "exclude each other" in both.output
    alone = runner.invoke(app, ["run", "--overwrite", "--out", str(tmp_path / "o")])
    assert alone.exit_code == 1 and "--write-postgis" in alone.output


def test_summary_report_and_api_never_hold_the_password(tmp_path: Path) -> None:
    from clusterscape.report import write_report
    from clusterscape.study.run import _redact
    from clusterscape.web import create_app
    from study_fixture import make_study_dir

    source = f"postgresql://me:{PASSWORD}@db/x?table=t&password={QUERY_SECRET}"
    root = make_study_dir(tmp_path / "study")
    summary = json.loads((root / "summary.json").read_text())
    summary["synthetic"] = False
    summary["input"]["source"] = _redact(source)  # what run_study writes
    (root / "summary.json").write_text(json.dumps(summary))
    write_report(root)
    api = TestClient(create_app(root), base_url="http://127.0.0.1").get("/api/summary").text
    for text in ((root / "summary.json").read_text(), (root / "report.html").read_text(), api):
        assert QUERY_SECRET not in text and "p@ss" not in text and "w/rd" not in text
        assert "me:***@db" in text


@pytest.mark.slow
def test_cli_write_postgis_refuses_then_appends_or_overwrites(pg_url: str, tmp_path: Path) -> None:
    import warnings

    from clusterscape.cli import app
    from test_user_files import _study_frame

    big = gpd.GeoDataFrame(
        {"id": range(3000)}, geometry=[Point(0, i / 1000) for i in range(3000)], crs="EPSG:4326"
    )
    engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    big.to_postgis("establishments", engine, schema="public", if_exists="replace", index=False)
    engine.dispose()
    firms = tmp_path / "firms.csv"
    _study_frame().to_csv(firms, index=False)
    config = tmp_path / "study.toml"
    config.write_text("[measure]\nnsim = 19\n", encoding="utf-8")
    secret_url = pg_url.replace("postgres@", f"postgres:{quote('se@cret', safe='@')}@")
    base = [
        "run",
        "-e",
        str(firms),
        "--datum",
        "wgs84",
        "--config",
        str(config),
        "-q",
        "--write-postgis",
        secret_url,
        "--schema",
        "public",
    ]
    runner = CliRunner()

    def run(*extra: str) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return runner.invoke(app, [*base, "--out", str(tmp_path / "out"), *extra])

    refused = run()
    assert refused.exit_code == 1  # type: ignore[attr-defined]
    text = refused.output  # type: ignore[attr-defined]
    assert "public.establishments" in text and "--overwrite" in text and "Traceback" not in text
    assert "se@cret" not in text
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 3000
    # Appending to a table of another shape fails cleanly, and writes nothing.
    mismatch = run("--append")
    assert mismatch.exit_code == 1 and "nothing was written" in mismatch.output  # type: ignore[attr-defined]
    assert "se@cret" not in mismatch.output  # type: ignore[attr-defined]
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 3000
    replaced = run("--overwrite")
    assert replaced.exit_code == 0, replaced.output  # type: ignore[attr-defined]
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 650
    assert run().exit_code == 1  # type: ignore[attr-defined]  # now our own table: still refused
    appended = run("--append")
    assert appended.exit_code == 0, appended.output  # type: ignore[attr-defined]
    assert _count(pg_url, "SELECT count(*) FROM public.establishments") == 1300
