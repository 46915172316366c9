"""Read a saved study directory (the report never recomputes anything)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from clusterscape.errors import InvalidInputError
from clusterscape.io._redact import redact_value


def _damaged(path: Path, exc: BaseException) -> InvalidInputError:
    """One line naming the damaged file and how to get a good one back."""
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return InvalidInputError(
        f"report: {path} is damaged ({reason}); re-run `clusterscape run --out {path.parent}` "
        "to write it again."
    )


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
            frame: pd.DataFrame | None = None
            if path.is_file() and path.stat().st_size > 0:
                try:
                    frame = pd.read_csv(path)
                except pd.errors.EmptyDataError:
                    frame = None
                except (OSError, ValueError, UnicodeDecodeError) as exc:
                    raise _damaged(path, exc) from None
            self.tables[name] = frame
        return self.tables[name]

    def layer(self, name: str) -> gpd.GeoDataFrame | None:
        """A layer of results.gpkg in EPSG:4326, read once and cached (callers must not mutate it)."""
        if name not in self.layer_names:
            return None
        if name not in self.layers:
            path = self.root / "results.gpkg"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    gdf = gpd.read_file(path, layer=name, use_arrow=True)
            except Exception as exc:  # pyogrio/GDAL errors of a damaged file
                raise _damaged(path, exc) from None
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
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _damaged(path, exc) from None
    if not isinstance(summary, dict):
        raise _damaged(path, ValueError("not a JSON object"))
    # Credentials never reach the report, even from a summary written by an older version.
    summary = redact_value(summary)
    names: tuple[str, ...] = ()
    gpkg = root / "results.gpkg"
    if gpkg.exists():
        import pyogrio

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                names = tuple(str(n) for n, _ in pyogrio.list_layers(gpkg))
        except Exception as exc:  # pyogrio raises DataSourceError and friends
            raise _damaged(gpkg, exc) from None
    return SavedStudy(root=root, summary=summary, layer_names=names)
