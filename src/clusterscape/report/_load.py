"""Read a saved study directory (the report never recomputes anything)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from clusterscape.errors import InvalidInputError


@dataclass(slots=True)
class SavedStudy:
    """The files of one study run, loaded lazily where large."""

    root: Path
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    layer_names: tuple[str, ...] = ()
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame | None:
        if name not in self.tables:
            path = self.root / f"{name}.csv"
            self.tables[name] = (
                pd.read_csv(path) if path.is_file() and path.stat().st_size > 0 else None
            )
        return self.tables[name]

    def layer(self, name: str) -> gpd.GeoDataFrame | None:
        """A layer of results.gpkg in EPSG:4326, read once and cached (callers must not mutate it)."""
        if name not in self.layer_names:
            return None
        if name not in self.layers:
            gdf = gpd.read_file(self.root / "results.gpkg", layer=name, use_arrow=True)
            if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
                gdf = gdf.to_crs("EPSG:4326")
            self.layers[name] = gdf
        return self.layers[name]


def load_study(out_dir: str | Path) -> SavedStudy:
    """Open a directory written by ``clusterscape run``."""
    root = Path(out_dir)
    path = root / "summary.json"
    if not path.is_file():
        raise InvalidInputError(
            f"report: {root} has no summary.json; run `clusterscape run --out {root}` first."
        )
    summary = json.loads(path.read_text(encoding="utf-8"))
    names: tuple[str, ...] = ()
    gpkg = root / "results.gpkg"
    if gpkg.is_file():
        import pyogrio

        names = tuple(str(n) for n, _ in pyogrio.list_layers(gpkg))
    return SavedStudy(root=root, summary=summary, layer_names=names)
