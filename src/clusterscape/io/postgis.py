"""PostGIS in and out: read establishments from a table or query, write result layers.

URLs are SQLAlchemy URLs with the table or query in the query string::

    postgresql://user:pass@host:5432/db?table=firms             # a table (schema.table allowed)
    postgresql://user:pass@host:5432/db?query=SELECT * FROM firms WHERE city='宁波'

Rows read from the database go through exactly the same validation as a file
(:func:`clusterscape.io.establishments.read_establishments`): the same column mapping, the same datum
conversion, the same rejected rows with reasons.

Safety: a ``?query=`` runs once, as a single statement (a prepared statement, so stacked
``...; DELETE ...`` is refused by the server), inside a ``READ ONLY`` transaction, and must be a
``SELECT``/``WITH``/``TABLE``/``VALUES``. Credentials (the URL password, ``?password=``,
``sslpassword``, ``PGPASSWORD``-like parameters) never appear in messages or saved files
(:func:`redact_url`). :func:`write_postgis` refuses tables that already exist unless told to
replace or append.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd

from clusterscape.errors import InvalidInputError, MissingDependencyError
from clusterscape.io._redact import redact_text, redact_url, split_userinfo, url_secrets

__all__ = [
    "is_database_url",
    "read_establishments_postgis",
    "redact_text",
    "redact_url",
    "write_postgis",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def is_database_url(value: str | Path | None) -> bool:
    """True for ``postgresql://`` / ``postgres://`` (and ``postgresql+driver://``) URLs."""
    return isinstance(value, str) and bool(re.match(r"^postgres(ql)?(\+\w+)?://", value))


def _engine(url: str) -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:  # pragma: no cover - in the postgis extra
        raise MissingDependencyError("PostGIS needs: pip install 'clusterscape[postgis]'") from exc
    # Always psycopg 3 (its prepared statements make "one statement" a server-side rule).
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)
    try:
        return sqlalchemy.create_engine(url)
    except Exception as exc:
        raise _error(url, "not a usable database URL", exc) from None


def _split(url: str) -> tuple[str, dict[str, str]]:
    """The connection URL without our parameters, and our parameters (table, query, ...).

    The user information ends at the *last* ``@`` before the host (see
    :func:`clusterscape.io._redact.split_userinfo`) and the password is percent-encoded here, so
    a raw ``@``, ``:``, ``/`` or ``?`` in it is kept whole.
    """
    split = split_userinfo(url)
    if split is not None and split[1] is not None:
        scheme, userinfo, rest = split
        assert userinfo is not None
        user, colon, password = userinfo.partition(":")
        if colon:
            userinfo = f"{user}:{quote(unquote(password), safe='')}"
        url = f"{scheme}{userinfo}@{rest}"
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    ours: dict[str, str] = {
        k: params.pop(k) for k in ("table", "query", "geom", "schema") if k in params
    }
    clean = urlunsplit(parts._replace(query=urlencode(params)))
    return clean, ours


def _error(url: str, what: str, exc: BaseException) -> InvalidInputError:
    """One line naming the (redacted) URL, with the driver's message scrubbed of secrets."""
    first = " ".join(str(exc).strip().splitlines()[:1]) or type(exc).__name__
    return InvalidInputError(
        f"{redact_url(url)}: {what}: {redact_text(first, secrets=url_secrets(url))}"
    )


_FIRST_WORD = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*([A-Za-z]+)", re.S)


def read_establishments_postgis(
    url: str,
    *,
    datum: str | None = None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> Any:
    """Read establishments from PostGIS; returns the same ``LoadResult`` as a file would.

    A geometry column (PostGIS ``geometry``) is used when the result has one (its SRID is
    honoured: a projected SRID is reprojected, 4326 is read in ``datum``, WGS-84 by default; ``crs=<datum>`` is its deprecated spelling); otherwise
    lon/lat columns are mapped as in a file. The table or query is executed exactly once, in a
    ``READ ONLY`` transaction, as one prepared statement.

    Raises
    ------
    InvalidInputError
        No ``?table=``/``?query=``, a table name that is not ``[schema.]name``, a query that is
        not a single read-only ``SELECT``, or any database error (one line, no credentials).
    """
    from clusterscape.coords import resolve_datum
    from clusterscape.io._frames import validate_frame

    datum = resolve_datum(datum, crs, caller="read_establishments_postgis")
    db_url, params = _split(url)
    if "table" in params:
        table = params["table"]
        if not _IDENT.match(table):
            raise InvalidInputError(
                f"{redact_url(url)}: table name {table!r} is not a plain [schema.]name."
            )
        sql = f"SELECT * FROM {table}"
    elif "query" in params:
        sql = params["query"].strip().rstrip(";").strip()
        first = _FIRST_WORD.match(sql)
        if first is None or first.group(1).lower() not in {"select", "with", "table", "values"}:
            raise InvalidInputError(
                f"{redact_url(url)}: ?query= must be one SELECT (or WITH/TABLE/VALUES) statement."
            )
    else:
        raise InvalidInputError(
            f"{redact_url(url)}: say what to read with ?table=NAME or ?query=SELECT..., "
            "e.g. postgresql://user@localhost/db?table=firms"
        )
    engine = _engine(db_url)
    try:
        names, rows, geom_cols = _run_read_only(engine, sql)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise _error(url, "could not read from the database", exc) from None
    finally:
        engine.dispose()
    frame: pd.DataFrame = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    geom = params.get("geom") or (geom_cols[0] if geom_cols else None)
    if geom is not None:
        if geom not in frame.columns:
            raise InvalidInputError(f"{redact_url(url)}: no column {geom!r} for ?geom=.")
        frame = _to_geodataframe(frame, geom, url)
    # Validate exactly as a file would be.
    return validate_frame(frame, datum=datum, columns=columns)


def _run_read_only(engine: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]], list[str]]:
    """Execute ``sql`` once in a READ ONLY transaction; column names, rows, geometry columns."""
    with engine.connect() as sa_conn:
        conn = sa_conn.connection.driver_connection
        conn.rollback()  # a clean start: no transaction opened by the pool's checks
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT oid FROM pg_type WHERE typname = 'geometry'")
                found = cur.fetchone()
                geometry_oid = found[0] if found else None
            with conn.cursor() as cur:
                # prepare=True: the extended protocol, which refuses more than one statement.
                cur.execute(sql, prepare=True)
                if cur.description is None:
                    raise InvalidInputError("the query returned no result set; use a SELECT.")
                names = [d.name for d in cur.description]
                geom_cols = [d.name for d in cur.description if d.type_code == geometry_oid]
                rows = cur.fetchall()
        sa_conn.invalidate()  # never hand this connection back to a pool
    return names, rows, geom_cols


def _to_geodataframe(frame: pd.DataFrame, geom: str, url: str) -> gpd.GeoDataFrame:
    """Parse a column of hex EWKB (how PostGIS sends geometry) into a GeoDataFrame."""
    import shapely

    values = frame[geom]
    try:
        geoms = shapely.from_wkb(
            [v if isinstance(v, (str, bytes)) and len(v) else None for v in values]
        )
    except Exception as exc:
        raise _error(url, f"column {geom!r} is not a PostGIS geometry", exc) from None
    srids = {int(s) for s in shapely.get_srid(geoms[~shapely.is_missing(geoms)])}
    srids.discard(0)
    if len(srids) > 1:
        raise InvalidInputError(
            f"{redact_url(url)}: column {geom!r} mixes SRIDs {sorted(srids)}; cast to one."
        )
    crs = f"EPSG:{srids.pop()}" if srids else None
    frame = frame.copy()
    frame[geom] = geoms
    return gpd.GeoDataFrame(frame, geometry=geom, crs=crs)


def write_postgis(
    layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
    url: str,
    *,
    schema: str = "clusterscape",
    if_exists: str = "fail",
) -> list[str]:
    """Write result layers into ``schema`` (created if missing), in one transaction.

    Parameters
    ----------
    layers : mapping of str to (Geo)DataFrame
        Table name to data; empty or ``None`` layers are skipped. GeoDataFrames become PostGIS
        geometry tables (with a spatial index); plain DataFrames become ordinary tables.
    url : str
        ``postgresql://...`` URL (``?table=``/``?query=`` are ignored).
    schema : str, default "clusterscape"
        A plain SQL name.
    if_exists : {"fail", "replace", "append"}, default "fail"
        What to do when a table already exists: refuse before writing anything (the CLI's
        default; ``--overwrite`` replaces, ``--append`` appends rows).

    Returns
    -------
    list of str
        The qualified table names written.

    Raises
    ------
    InvalidInputError
        A bad schema name or ``if_exists``, existing tables with ``if_exists="fail"`` (the
        message lists them), or a database error (nothing is written then).
    """
    from sqlalchemy import text

    if not _IDENT.match(schema) or "." in schema:
        raise InvalidInputError(f"write_postgis: schema {schema!r} is not a plain SQL name.")
    if if_exists not in {"fail", "replace", "append"}:
        raise InvalidInputError(
            f"write_postgis: if_exists must be fail, replace or append, got {if_exists!r}."
        )
    todo = {n: v for n, v in layers.items() if v is not None and len(v) > 0}
    for name in todo:
        if not _IDENT.match(name) or "." in name:
            raise InvalidInputError(f"write_postgis: table name {name!r} is not a plain SQL name.")
    db_url, _ = _split(url)
    engine = _engine(db_url)
    written = []
    try:
        with engine.begin() as conn:
            existing = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
                ).scalars()
            )
            clash = sorted(set(todo) & existing)
            if clash and if_exists == "fail":
                raise InvalidInputError(
                    f"write_postgis: {', '.join(f'{schema}.{n}' for n in clash)} already "
                    f"exist{'s' if len(clash) == 1 else ''} in {redact_url(db_url)}; pass "
                    "--overwrite to replace or --append to add rows (or choose another --schema)."
                )
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            mode: Literal["append", "replace"] = "append" if if_exists == "append" else "replace"
            for name, layer in todo.items():
                if isinstance(layer, gpd.GeoDataFrame):
                    out = layer.copy()
                    for col in out.columns:
                        if col != out.geometry.name and out[col].dtype == object:
                            out[col] = out[col].map(
                                lambda v: (
                                    v
                                    if v is None or isinstance(v, (str, int, float, bool))
                                    else str(v)
                                )
                            )
                    out.to_postgis(name, conn, schema=schema, if_exists=mode, index=False)
                else:
                    layer.to_sql(name, conn, schema=schema, if_exists=mode, index=False)
                written.append(f"{schema}.{name}")
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"write_postgis: could not write to {redact_url(url)} (nothing was written): "
            f"{redact_text(' '.join(str(exc).splitlines()[:1]), secrets=url_secrets(url))}"
        ) from None
    finally:
        engine.dispose()
    return written
