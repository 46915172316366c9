"""Validate an in-memory table exactly as a file would be (same mapping, checks, rejected rows)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd


def validate_frame(
    frame: pd.DataFrame, *, crs: str = "wgs84", columns: Mapping[str, str] | None = None
) -> Any:
    """Run ``frame`` through :func:`clusterscape.io.establishments.read_establishments` and return its ``LoadResult``.

    A GeoDataFrame travels as GeoParquet (its geometry and CRS kept), a plain table as CSV; so
    rows from a database or an OSM extract get the same validation and the same ``rejected``
    reasons as rows from a file.
    """
    from clusterscape.io.establishments import read_establishments

    with tempfile.TemporaryDirectory(prefix="clusterscape-frame-") as tmp:
        if isinstance(frame, gpd.GeoDataFrame):
            path = Path(tmp) / "establishments.parquet"
            frame.to_parquet(path)
        else:
            path = Path(tmp) / "establishments.csv"
            frame.to_csv(path, index=False)
        return read_establishments(path, crs=crs, columns=dict(columns) if columns else None)
