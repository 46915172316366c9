"""One entry point for establishments from anywhere: a file, an ``.osm.pbf`` extract or PostGIS.

:func:`read_source` is the one place that picks the reader; ``run`` and every CLI command that
reads establishments go through it, so a source named on the command line or in ``study.toml``
is read the same way everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from clusterscape.errors import InvalidInputError

__all__ = ["read_source", "source_kind"]


def source_kind(source: str | os.PathLike[str]) -> str:
    """``"postgis"`` for a database URL, ``"osm"`` for an ``.osm.pbf`` extract, else ``"file"``."""
    from clusterscape.io.postgis import is_database_url

    if isinstance(source, str) and is_database_url(source):
        return "postgis"
    if Path(source).name.lower().endswith(".osm.pbf"):
        return "osm"
    return "file"


def read_source(
    source: str | os.PathLike[str],
    *,
    datum: str | None = None,
    crs: Any = None,
    columns: Mapping[str, str] | None = None,
    layer: str | int | None = None,
    sheet: str | int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """Read establishments from ``source`` with the reader its kind needs; a ``LoadResult``.

    Parameters
    ----------
    source : str or path-like
        A table file (see :func:`clusterscape.io.establishments.read_establishments`), an
        OpenStreetMap ``.osm.pbf`` extract (:func:`clusterscape.io.osm.load_osm_pbf`) or a
        PostGIS URL ``postgresql://user@host/db?table=NAME`` (or ``?query=SELECT ...``,
        :func:`clusterscape.io.postgis.read_establishments_postgis`).
    datum : {"wgs84", "gcj02", "bd09"}, optional
        Datum of longitude/latitude coordinates, WGS-84 by default (OpenStreetMap data is
        always WGS-84).
    crs : str or pyproj.CRS, optional
        A coordinate reference system for x/y columns (files only), e.g. ``"EPSG:32651"``;
        a datum name here is deprecated (use ``datum=``).
    columns : mapping, optional
        Canonical field -> source column, overriding the automatic header mapping.
    layer, sheet : str or int, optional
        GeoPackage/GeoJSON layer or Excel sheet (files only).
    progress : callable, optional
        ``progress(stage, done, total)`` while a file is read.

    Returns
    -------
    LoadResult
        Accepted establishments (EPSG:4326), rejected rows with reasons, field notes.

    Raises
    ------
    InvalidInputError
        ``layer``/``sheet`` given for a database, or whatever the chosen reader refuses.
    """
    from clusterscape.coords import split_datum_crs

    datum, crs = split_datum_crs(datum, crs, caller="read_source")
    kind = source_kind(source)
    if kind == "postgis":
        from clusterscape.io.postgis import read_establishments_postgis, redact_url

        if layer is not None or sheet is not None:
            raise InvalidInputError(
                f"{redact_url(str(source))}: --layer/--sheet apply to files, not to a database."
            )
        if crs is not None:
            raise InvalidInputError(
                f"{redact_url(str(source))}: crs= applies to files; a PostGIS geometry "
                "column carries its own SRID."
            )
        return read_establishments_postgis(str(source), datum=datum, columns=columns)
    from clusterscape.io.establishments import read_establishments

    # .osm.pbf extracts: read_establishments hands them to load_osm_pbf (and notes a datum
    # other than WGS-84 as not applied)
    return read_establishments(
        source,
        datum=datum,
        crs=crs,
        columns=columns,
        layer=layer,
        sheet=sheet,
        progress=progress,
    )
