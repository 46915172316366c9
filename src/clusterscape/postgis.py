"""PostGIS in and out: read establishments from a table or query, write result layers.

URLs are SQLAlchemy URLs with the table or query in the query string::

    postgresql://user:pass@host:5432/db?table=firms             # a table (schema.table allowed)
    postgresql://user:pass@host:5432/db?query=SELECT * FROM firms WHERE city='宁波'

Rows read from the database go through exactly the same validation as a file
(:func:`clusterscape.io.read_establishments`): the same column mapping, the same datum
conversion, the same rejected rows with reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd

from clusterscape.errors import InvalidInputError, MissingDependencyError

__all__ = ["is_database_url", "read_establishments_postgis", "redact_url", "write_postgis"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def is_database_url(value: str | Path | None) -> bool:
    """True for ``postgresql://`` / ``postgres://`` (and ``postgresql+driver://``) URLs."""
    return isinstance(value, str) and bool(re.match(r"^postgres(ql)?(\+\w+)?://", value))


def _engine(url: str) -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:  # pragma: no cover - in the postgis extra
        raise MissingDependencyError("PostGIS needs: pip install 'clusterscape[postgis]'") from exc
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sqlalchemy.create_engine(url)


def _split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    ours: dict[str, str] = {
        k: params.pop(k) for k in ("table", "query", "geom", "schema") if k in params
    }
    clean = urlunsplit(parts._replace(query=urlencode(params)))
    return clean, ours


def redact_url(url: str) -> str:
    """Hide the password of a database URL (``postgresql://user:***@host/db``)."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def read_establishments_postgis(
    url: str, *, crs: str = "wgs84", columns: Mapping[str, str] | None = None
) -> Any:
    """Read establishments from PostGIS; returns the same ``LoadResult`` as a file would.

    A geometry column (PostGIS ``geometry``) is used when the table has one (its SRID is honoured:
    a projected SRID is reprojected, 4326 is read in the ``crs`` datum); otherwise lon/lat columns
    are mapped as in a file.
    """
    from sqlalchemy import text

    from clusterscape._frames import validate_frame

    db_url, params = _split(url)
    if "table" in params:
        table = params["table"]
        if not _IDENT.match(table):
            raise InvalidInputError(
                f"{redact_url(url)}: table name {table!r} is not a plain [schema.]name."
            )
        sql = f"SELECT * FROM {table}"
    elif "query" in params:
        sql = params["query"]
    else:
        raise InvalidInputError(
            f"{redact_url(url)}: say what to read with ?table=NAME or ?query=SELECT..., "
            "e.g. postgresql://user@localhost/db?table=firms"
        )
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            probe = pd.read_sql(text(f"SELECT * FROM ({sql}) AS q LIMIT 0"), conn)
            geom_cols = (
                [
                    c
                    for c in probe.columns
                    if conn.execute(
                        text(f'SELECT pg_typeof(q."{c}")::text FROM ({sql}) AS q LIMIT 1')
                    ).scalar()
                    == "geometry"
                ]
                if len(probe.columns)
                else []
            )
            geom = params.get("geom") or (geom_cols[0] if geom_cols else None)
            if geom is not None:
                frame: pd.DataFrame = gpd.read_postgis(text(sql), conn, geom_col=geom)
            else:
                frame = pd.read_sql(text(sql), conn)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"{redact_url(url)}: could not read from the database: {exc}"
        ) from exc
    finally:
        engine.dispose()
    # Validate exactly as a file would be.
    return validate_frame(frame, crs=crs, columns=columns)


def write_postgis(
    layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame], url: str, *, schema: str = "clusterscape"
) -> list[str]:
    """Write result layers into ``schema`` (created if missing), replacing same-named tables.

    Returns the qualified table names written. GeoDataFrames become PostGIS geometry tables
    (with a spatial index); plain DataFrames become ordinary tables.
    """
    from sqlalchemy import text

    if not _IDENT.match(schema) or "." in schema:
        raise InvalidInputError(f"write_postgis: schema {schema!r} is not a plain SQL name.")
    db_url, _ = _split(url)
    engine = _engine(db_url)
    written = []
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for name, layer in layers.items():
            if layer is None or len(layer) == 0:
                continue
            if isinstance(layer, gpd.GeoDataFrame):
                out = layer.copy()
                for col in out.columns:
                    if col != out.geometry.name and out[col].dtype == object:
                        out[col] = out[col].map(
                            lambda v: (
                                v if v is None or isinstance(v, (str, int, float, bool)) else str(v)
                            )
                        )
                out.to_postgis(name, engine, schema=schema, if_exists="replace", index=False)
            else:
                layer.to_sql(name, engine, schema=schema, if_exists="replace", index=False)
            written.append(f"{schema}.{name}")
    except Exception as exc:
        raise InvalidInputError(
            f"write_postgis: could not write to {redact_url(url)}: {exc}"
        ) from exc
    finally:
        engine.dispose()
    return written
