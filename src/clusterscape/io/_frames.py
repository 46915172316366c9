"""Validate an in-memory table exactly as a file would be (same mapping, checks, rejected rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def validate_frame(
    frame: pd.DataFrame,
    *,
    datum: str | None = None,
    crs: Any = None,
    columns: Mapping[str, str] | None = None,
    source: str = "table",
) -> Any:
    """Validate ``frame`` with the file reader's own checks and return its ``LoadResult``.

    The validation core of :func:`clusterscape.io.establishments.read_establishments` runs on
    the table in memory (no temporary file): a GeoDataFrame keeps its geometry and declared
    CRS, as a GeoPackage would; a plain table's columns are parsed as a Parquet file's are. So
    rows from a database or an OSM extract get the same validation and the same ``rejected``
    reasons as rows from a file. ``source`` names the table in messages; ``datum`` and ``crs``
    are as in :func:`~clusterscape.io.establishments.read_establishments`.
    """
    from clusterscape.coords import split_datum_crs
    from clusterscape.io.establishments import validate_frame_core

    datum, crs = split_datum_crs(datum, crs, caller="validate_frame")
    return validate_frame_core(
        frame, datum=datum, crs=crs, columns=dict(columns) if columns else None, source=source
    )
