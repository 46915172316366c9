"""The Dask engine: the per-row and per-cell work of a study as dask graphs.

``clusterscape run --engine dask [--scheduler ADDRESS] [--by city]`` runs here. Row-wise work
(chunked reading, datum conversion, validation, classification, projection, gridding) is a
``map_partitions`` graph over the input's chunks; per-cell work (function counts per grid cell,
FD/CR functional zones, Gi* of creative counts, evaluated tile by tile with a halo) is a
reduction followed by one task per city; clustering and the concentration statistics run as
one task per city. The same functions as the single-machine engine do the work, so the results
are the same (the tests check it on a ``LocalCluster``).

Without ``scheduler`` a ``distributed.LocalCluster`` is started (2 workers, 1 thread each, by
default); with an address such as ``tcp://10.0.0.5:8786`` the same graph goes to that cluster,
whose workers need clusterscape installed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterscape.coords import convert, local_metric_crs, normalise_datum
from clusterscape.errors import InvalidInputError, MissingDependencyError

__all__ = [
    "PartitionedResult",
    "dask_client",
    "gi_star_tiled",
    "load_classified",
    "prepare_partitioned",
    "profile_cities",
    "read_partitioned",
]

CANONICAL = (
    "id",
    "name",
    "category",
    "code",
    "lon",
    "lat",
    "opened",
    "closed",
    "employees",
    "city",
)
_KEEP = ("id", "name", "category", "code", "typecode", "opened", "closed", "employees", "city")


def _require_dask() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - in the dask extra
        raise MissingDependencyError(
            "--engine dask needs: pip install 'clusterscape[dask]'"
        ) from exc
    return dd


@contextmanager
def dask_client(
    scheduler: str | None = None, *, n_workers: int = 2, memory_limit: str = "4GB"
) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` if given, else to a fresh ``LocalCluster``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError(
            "--engine dask needs: pip install 'clusterscape[dask]'"
        ) from exc
    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
        dashboard_address=":0", host="127.0.0.1",
    )  # fmt: skip
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def read_partitioned(
    source: str | Path, *, columns: Mapping[str, str] | None = None, blocksize: str = "64MB"
) -> Any:
    """Read CSV or Parquet (a file, a directory or a glob) lazily in chunks.

    The dask engine expects canonical column names (``id, name, category, code, lon, lat,
    opened, closed, employees`` and, for ``--by city``, ``city``); ``columns`` maps canonical
    names to the file's (``{"lon": "经度"}``) as ``--columns`` does.
    """
    dd = _require_dask()
    text = str(source)
    lower = text.lower()
    if lower.endswith((".csv", ".tsv", ".txt", ".tab")):
        return _read_text_partitioned(text, columns=columns, blocksize=blocksize)
    try:
        if lower.endswith((".parquet", ".pq")) or Path(text).is_dir():
            ddf = dd.read_parquet(text)
        else:
            raise InvalidInputError(
                f"{text}: the dask engine reads CSV/TSV or Parquet (files, directories or globs); "
                "convert other formats first or use the default engine."
            )
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"{text}: could not be read by the dask engine: {exc}") from exc
    rename = _canonical_names(pd.DataFrame(columns=list(ddf.columns)), columns, Path(text))
    return ddf.rename(columns=rename)


#: a column carrying each record's number in its file (1-based, as ``rejected`` reports it)
ROW = "__row__"
#: a column carrying the reader's reason for a record it could not parse or decode
REJECT = "__reject__"


def _canonical_names(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, path: Path
) -> dict[str, str]:
    """File column -> canonical name, by the file reader's own header mapping."""
    from clusterscape.io import establishments as io

    mapping = io._map_columns(frame, columns, path)
    if not ({"lon", "lat"} <= set(mapping)):
        raise InvalidInputError(
            f"{path.name}: the dask engine needs longitude and latitude columns (lon/lng/经度, "
            f"lat/纬度, ...); map them with --columns lon=COL,lat=COL (columns are: "
            f"{', '.join(map(str, frame.columns))})."
        )
    taken = set(frame.columns)
    out = {}
    for key, col in mapping.items():
        if key in CANONICAL and col != key and key not in taken:
            out[col] = key
    return out


def _read_text_partitioned(
    source: str, *, columns: Mapping[str, str] | None, blocksize: str
) -> Any:
    """CSV/TSV through the single-machine reader's own decoding and parsing, then chunked.

    The same strict decoding (GBK, UTF-16, stray bytes), the same record numbers and the same
    rejections of malformed, oversized and undecodable records as :func:`read_establishments`;
    those records travel in the graph with their reason (column ``__reject__``), the good ones
    with their number (``__row__``), and each chunk is validated by ``validate_table``.
    """
    import glob

    from dask.utils import parse_bytes

    from clusterscape.io import establishments as io

    dd = _require_dask()
    paths = sorted(glob.glob(source)) if any(c in source for c in "*?[") else [source]
    if not paths:
        raise InvalidInputError(f"{source}: no file matches.")
    frames = []
    offset = 0
    for name in paths:
        p = Path(name)
        io._check_path(p)
        frame, bad, _ = io._read_text(p)
        frame, _ = io._drop_trailing_blank(frame, after=max((r for r, _ in bad), default=0))
        frame = frame.rename(columns=_canonical_names(frame, columns, p))
        frame = frame.astype(object).where(frame.notna(), None)
        frame[REJECT] = None
        rows = frame.index.to_numpy(dtype=np.int64)
        if bad:
            extra = pd.DataFrame(
                {c: [None] * len(bad) for c in frame.columns if c != REJECT}
                | {REJECT: [t for _, t in bad]},
                dtype=object,
            )
            frame = pd.concat([frame.reset_index(drop=True), extra], ignore_index=True)
            rows = np.concatenate([rows, np.asarray([r for r, _ in bad], dtype=np.int64)])
        frame[ROW] = rows + offset
        frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
        offset += len(frame)
        frames.append(frame)
    whole = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    size = sum(Path(n).stat().st_size for n in paths)
    nparts = max(1, min(len(whole), math.ceil(size / max(parse_bytes(blocksize), 1))))
    return dd.from_pandas(whole, npartitions=nparts, sort=False)


def _prepare_partition(
    part: pd.DataFrame,
    *,
    datum: str,
    cell_m: float,
    epsg: Mapping[str, int],
    offsets: Mapping[int, int] | None = None,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Validate, convert, classify, project and grid one chunk (a pure function of its rows).

    Validation is :func:`clusterscape.io.establishments.validate_table`, the single-machine reader's own, so
    both engines accept and reject the same rows for the same reasons.
    """
    from clusterscape.io.establishments import validate_table
    from clusterscape.taxonomy import classify_establishments

    part = part.reset_index(drop=True)
    start = (offsets or {}).get(int(partition_info["number"]) if partition_info else 0, 0)
    if part.empty:
        return _meta()
    pre = pd.DataFrame({"row": pd.Series(dtype="int64"), "id": pd.Series(dtype="string"),
                        "reason": pd.Series(dtype="string")})  # fmt: skip
    rows = None
    if ROW in part.columns:  # read by the file reader: its record numbers and rejections
        rows_all = part[ROW].to_numpy(dtype=np.int64)
        refused = (
            part[REJECT].notna().to_numpy() if REJECT in part.columns else np.zeros(len(part), bool)
        )
        pre = pd.DataFrame(
            {
                "row": rows_all[refused],
                "id": pd.array([""] * int(refused.sum()), dtype="string"),
                "reason": pd.array(part.loc[refused, REJECT].astype(str).tolist(), dtype="string"),
            }
        )
        part = part[~refused].drop(columns=[ROW, REJECT], errors="ignore").reset_index(drop=True)
        rows = rows_all[~refused]
        start = int(rows[0]) - 1 if len(rows) else start
    raw = part.astype(object).where(part.notna(), None)
    res = validate_table(
        raw, crs=datum, first_row=start + 1, source=f"chunk from row {start + 1}", rows=rows
    )
    if len(pre):
        import dataclasses

        rejected_all = pd.concat([res.rejected, pre], ignore_index=True)
        rejected_all = rejected_all.sort_values("row", kind="stable").reset_index(drop=True)
        res = dataclasses.replace(res, rejected=rejected_all)
    est = res.establishments
    good = pd.DataFrame(
        {c: est[c].astype("string") for c in ("id", "name", "category", "code")}
        | {
            "city": est["city"].astype("string").fillna("")
            if "city" in est
            else pd.Series("", index=est.index, dtype="string"),
            "opened": est["opened"].astype("Int64"),
            "closed": est["closed"].astype("Int64"),
            "employees": est["employees"].astype("Float64"),
            "lon": est.geometry.x.to_numpy(),
            "lat": est.geometry.y.to_numpy(),
            "reason": "",
            "row": np.asarray(res.source_rows, dtype=np.int64),
        }
    )
    classified = classify_establishments(est)
    for col in ("sector", "is_creative", "function", "hotel_grade", "rule"):
        good[col] = classified[col].to_numpy()
    rej = res.rejected
    bad = pd.DataFrame(
        {
            "id": rej["id"].astype("string"),
            "name": pd.Series("", index=rej.index, dtype="string"),
            "category": pd.Series("", index=rej.index, dtype="string"),
            "code": pd.Series("", index=rej.index, dtype="string"),
            "city": _city_of(part, rows, start, rej["row"].to_numpy()),
            "opened": pd.array([pd.NA] * len(rej), dtype="Int64"),
            "closed": pd.array([pd.NA] * len(rej), dtype="Int64"),
            "employees": pd.array([pd.NA] * len(rej), dtype="Float64"),
            "lon": np.nan,
            "lat": np.nan,
            "reason": rej["reason"].astype(object).to_numpy(),
            "row": rej["row"].to_numpy(dtype=np.int64),
            "sector": "",
            "is_creative": False,
            "function": "",
            "hotel_grade": pd.array([pd.NA] * len(rej), dtype="Int64"),
            "rule": "",
        }
    )
    out = pd.concat([good, bad], ignore_index=True).sort_values("row", kind="stable")
    out = out.reset_index(drop=True)
    n = len(out)
    ok = (out["reason"] == "").to_numpy()
    wlon, wlat = out["lon"].to_numpy(float), out["lat"].to_numpy(float)
    # Project into each city's own metric CRS (the one the single-machine engine would pick).
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    import pyproj

    cities = out["city"].to_numpy(dtype=object)
    for city, code in epsg.items():
        sel = ok & (cities == city)
        if sel.any():
            tr = pyproj.Transformer.from_crs("EPSG:4326", f"EPSG:{code}", always_xy=True)
            x[sel], y[sel] = tr.transform(wlon[sel], wlat[sel])
    out["x"], out["y"] = x, y
    with np.errstate(invalid="ignore"):
        out["ix"] = pd.array(np.where(ok, np.floor(x / cell_m), np.nan), dtype="Float64").astype(
            "Int64"
        )
        out["iy"] = pd.array(np.where(ok, np.floor(y / cell_m), np.nan), dtype="Float64").astype(
            "Int64"
        )
    return out[list(_meta().columns)]


def _city_of(part: pd.DataFrame, rows: Any, start: int, wanted: np.ndarray) -> Any:
    """The ``city`` of each rejected row (by its file row number), '' when unknown."""
    if "city" not in part:
        return ""
    city = part["city"].astype("string").fillna("").to_numpy()
    numbers = np.arange(start + 1, start + 1 + len(part)) if rows is None else np.asarray(rows)
    where = pd.Series(np.arange(len(numbers)), index=numbers)
    pos = where.reindex(wanted).to_numpy()
    return np.array([city[int(i)] if np.isfinite(i) else "" for i in pos], dtype=object)


def _meta() -> pd.DataFrame:
    cols = {
        "id": "string", "name": "string", "category": "string", "code": "string", "city": "string",
        "opened": "Int64", "closed": "Int64", "employees": "Float64", "lon": "float64", "lat": "float64",
        "reason": "object",
        "row": "int64", "sector": "object", "is_creative": "bool", "function": "object",
        "hotel_grade": "Int64", "rule": "object", "x": "float64", "y": "float64", "ix": "Int64", "iy": "Int64",
    }  # fmt: skip
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in cols.items()})


def prepare_partitioned(
    ddf: Any, *, crs: str = "wgs84", cell_m: float = 500.0
) -> tuple[Any, dict[str, int]]:
    """The row-wise graph: returns (prepared dask frame, metric EPSG per city).

    One small reduction first finds each city's bounding box (converted to WGS-84), from which
    its local metric CRS is chosen exactly as :func:`clusterscape.coords.to_local_metric` would.
    """
    datum = normalise_datum(crs, caller="run --engine dask")
    if "city" not in ddf.columns:
        ddf = ddf.assign(city="")

    def _bounds(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
        number = int(partition_info["number"]) if partition_info else 0
        lon = pd.to_numeric(part["lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(part["lat"], errors="coerce").to_numpy(float)
        ok = (
            np.isfinite(lon)
            & np.isfinite(lat)
            & (np.abs(lat) <= 90)
            & (np.abs(lon) <= 180)
            & ~((lon == 0) & (lat == 0))
        )
        wl, wa = convert(lon[ok], lat[ok], src=datum, dst="wgs84")
        frame = pd.DataFrame(
            {"city": part["city"].astype("string").fillna("").to_numpy()[ok], "lon": wl, "lat": wa}
        )
        out = frame.groupby("city").agg(
            minx=("lon", "min"), miny=("lat", "min"), maxx=("lon", "max"), maxy=("lat", "max")
        )
        # The partition's length rides along (on the first row) for 1-based file row numbers.
        out["partition"] = number
        out["n_rows"] = 0
        if len(out):
            out["n_rows"] = np.where(np.arange(len(out)) == 0, len(part), 0)
        else:
            out = pd.DataFrame(
                {"minx": [np.nan], "miny": [np.nan], "maxx": [np.nan], "maxy": [np.nan],
                 "partition": [number], "n_rows": [len(part)]},
                index=pd.Index([""], name="city", dtype="string"),
            )  # fmt: skip
        return out

    meta = pd.DataFrame(
        {k: pd.Series(dtype="float64") for k in ("minx", "miny", "maxx", "maxy")}
        | {"partition": pd.Series(dtype="int64"), "n_rows": pd.Series(dtype="int64")},
        index=pd.Index([], name="city", dtype="string"),
    )
    parts = ddf.map_partitions(_bounds, meta=meta).compute()
    lengths = parts.groupby("partition")["n_rows"].sum().sort_index()
    offsets = dict(
        zip(
            lengths.index.astype(int),
            np.concatenate([[0], np.cumsum(lengths.to_numpy())[:-1]]).astype(int),
            strict=True,
        )
    )
    parts = parts.dropna(subset=["minx"])
    bounds = parts.groupby(level=0).agg(
        minx=("minx", "min"), miny=("miny", "min"), maxx=("maxx", "max"), maxy=("maxy", "max")
    )
    epsg = {
        str(city): int(local_metric_crs(tuple(row)).to_epsg() or 0)
        for city, row in bounds.iterrows()
    }
    prepared = ddf.map_partitions(
        _prepare_partition,
        datum=datum,
        cell_m=float(cell_m),
        epsg=epsg,
        offsets=offsets,
        meta=_meta(),
    )
    return prepared, epsg


def gi_star_tiled(
    grid: np.ndarray, *, halo: int = 1, tile: int = 256, radius_cells: float = 1.5
) -> np.ndarray:
    """Gi* z of a full 2-D count grid, evaluated tile by tile with a ``halo``.

    Binary weights within ``radius_cells`` cell centres, self included; the same numbers as the
    whole grid at once.

    The global mean, standard deviation and n come from the whole grid (Ord & Getis 1995), and each
    tile's neighbourhood sums are complete thanks to the halo (``halo >= radius_cells``). The
    grid Gi* of :func:`clusterscape.measure.hotspots.gi_star_grid`, which does the tiling.
    """
    from clusterscape.measure.hotspots import gi_star_grid
    from clusterscape.urban._common import disc_footprint

    if halo < math.floor(radius_cells):
        raise InvalidInputError(
            f"gi_star_tiled: halo {halo} is smaller than the radius {radius_cells} cells."
        )
    kernel = disc_footprint(radius_cells, 1.0)
    return gi_star_grid(grid, None, kernel, tile_cells=tile)


@dataclass(slots=True)
class PartitionedResult:
    """What ``profile_cities`` computed: one row per city plus per-city detail."""

    comparison: pd.DataFrame
    zones: dict[str, pd.DataFrame] = field(default_factory=dict)
    hotspots: dict[str, pd.DataFrame] = field(default_factory=dict)
    clusters: dict[str, pd.DataFrame] = field(default_factory=dict)
    rejected: pd.DataFrame | None = None
    epsg: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0


def _city_zones(
    counts: pd.DataFrame,
    *,
    min_count: int = 5,
    threshold: float = 0.5,
    min_support: int = 3,
    min_share: float = 0.05,
) -> pd.DataFrame:
    from clusterscape.urban._common import FUNCTIONS
    from clusterscape.urban.zones import _fdcr_labels

    wide = counts.pivot_table(
        index=["ix", "iy"], columns="function", values="n", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(columns=list(FUNCTIONS), fill_value=0).sort_index()
    mat = wide.to_numpy(dtype=np.int64)
    n = mat.sum(axis=1)
    # the same minimum support as clusterscape.urban.functional_zones
    label, c_max, _, _ = _fdcr_labels(mat, n, min_count, threshold, min_support, min_share)
    return pd.DataFrame({"n": n, "label": label, "c_max": c_max}, index=wide.index).reset_index()


def _city_hotspots(creative_counts: pd.DataFrame, *, distance_cells: float = 1.5) -> pd.DataFrame:
    if creative_counts.empty:
        return pd.DataFrame(columns=["ix", "iy", "count", "z"])
    ix0, iy0 = int(creative_counts["ix"].min()), int(creative_counts["iy"].min())
    ncol = int(creative_counts["ix"].max()) - ix0 + 1
    nrow = int(creative_counts["iy"].max()) - iy0 + 1
    grid = np.zeros((nrow, ncol))
    grid[creative_counts["iy"].to_numpy(int) - iy0, creative_counts["ix"].to_numpy(int) - ix0] = (
        creative_counts["n"].to_numpy(float)
    )
    z = gi_star_tiled(grid, halo=max(1, math.ceil(distance_cells)), radius_cells=distance_cells)
    rr, cc = np.indices(grid.shape)
    return pd.DataFrame(
        {"ix": (cc + ix0).ravel(), "iy": (rr + iy0).ravel(), "count": grid.ravel(), "z": z.ravel()}
    )


def _city_clusters(
    frame: pd.DataFrame, epsg: int, min_cluster_size: int, seed: int
) -> pd.DataFrame:
    import geopandas as gpd

    from clusterscape.detect.clusters import detect_clusters

    if len(frame) < max(min_cluster_size, 3):
        return pd.DataFrame(columns=["cluster_id", "n", "area_m2"])
    gdf = gpd.GeoDataFrame(
        frame.drop(columns=["x", "y"]),
        geometry=gpd.points_from_xy(frame["x"], frame["y"]),
        crs=epsg,
    )
    found = detect_clusters(gdf, min_cluster_size=min_cluster_size, seed=seed)
    cols = [c for c in ("n", "employees", "area_m2") if c in found.clusters.columns]
    return pd.DataFrame(found.clusters[cols]).reset_index()


def _run_per_city(client: Any, jobs: list[tuple[Any, ...]]) -> dict[str, Any]:
    """One task per city.

    The per-city tables are scattered to the workers first, so the task graph carries
    references, not data (a 300-city graph would otherwise weigh hundreds of MB).
    """
    if not jobs:
        return {}
    if client is None:
        return {city: func(frame) for func, city, frame in jobs}
    # A list, not a dict: dict keys would become the data's keys on the cluster and collide
    # between the zones, hot-spot and cluster jobs of the same city.
    data = client.scatter([frame for _, _, frame in jobs])
    futures = {
        city: client.submit(func, fut, pure=False)
        for (func, city, _), fut in zip(jobs, data, strict=True)
    }
    return dict(zip(futures, client.gather(list(futures.values())), strict=True))


def profile_cities(
    source: str | Path,
    *,
    crs: str = "wgs84",
    columns: Mapping[str, str] | None = None,
    cell_m: float = 500.0,
    client: Any = None,
    clusters: bool = True,
    min_cluster_size: int = 15,
    seed: int = 0,
    blocksize: str = "64MB",
) -> PartitionedResult:
    """Convert, classify, grid and profile every city of ``source`` on a dask cluster.

    Returns a :class:`PartitionedResult` whose ``comparison`` has one row per city: ``city``,
    ``n_establishments``, ``n_creative``, ``creative_share``, ``creative_lq`` (city share over the
    all-city share), ``employees``, ``n_cells``, the count of single-function and mixed zones,
    ``n_hot_cells`` (creative Gi* z >= 1.96) and, with ``clusters=True``, ``n_clusters`` and
    ``largest_cluster_n``.
    """
    import dask

    ddf = read_partitioned(source, columns=columns, blocksize=blocksize)
    prepared, epsg = prepare_partitioned(ddf, crs=crs, cell_m=cell_m)
    prepared = prepared.persist() if client is not None else prepared
    ok = prepared[prepared["reason"] == ""]
    rejected = prepared[prepared["reason"] != ""][["row", "id", "city", "reason"]]
    counts = ok.groupby(["city", "ix", "iy", "function"]).size().rename("n").reset_index()
    creative = ok[ok["is_creative"]].groupby(["city", "ix", "iy"]).size().rename("n").reset_index()
    per_city = ok.groupby("city").agg(
        n_establishments=("id", "count"),
        n_creative=("is_creative", "sum"),
        employees=("employees", "sum"),
    )
    counts_pd, creative_pd, per_city_pd, rejected_pd = dask.compute(
        counts, creative, per_city, rejected
    )
    cities = sorted(per_city_pd.index.astype(str))
    by_city_counts = {str(c): f for c, f in counts_pd.groupby("city")}
    by_city_creative = {str(c): f for c, f in creative_pd.groupby("city")}
    empty = creative_pd.iloc[:0]
    jobs: dict[str, list[tuple[Any, ...]]] = {"zones": [], "hotspots": [], "clusters": []}
    for c in cities:
        jobs["zones"].append((_city_zones, c, by_city_counts[c]))
        jobs["hotspots"].append((_city_hotspots, c, by_city_creative.get(c, empty)))
    if clusters:
        # The creative rows are a small share of all rows: gather them once, then one task per city.
        creative_rows = ok[ok["is_creative"]][
            ["id", "city", "x", "y", "employees", "opened", "sector"]
        ].compute()
        by_city_rows = {str(c): f for c, f in creative_rows.groupby("city")}
        for c in cities:
            rows_c = by_city_rows.get(c, creative_rows.iloc[:0])
            jobs["clusters"].append((functools.partial(_city_clusters, epsg=epsg[c], min_cluster_size=min_cluster_size,
                                                       seed=seed), c, rows_c))  # fmt: skip
    zones, hots, cls = (_run_per_city(client, jobs[k]) for k in ("zones", "hotspots", "clusters"))
    total_share = per_city_pd["n_creative"].sum() / max(per_city_pd["n_establishments"].sum(), 1)
    rows = []
    for c in cities:
        p = per_city_pd.loc[c]
        share = float(p["n_creative"]) / max(float(p["n_establishments"]), 1.0)
        z = zones[c]
        row = {
            "city": c, "n_establishments": int(p["n_establishments"]), "n_creative": int(p["n_creative"]),
            "creative_share": share, "creative_lq": share / total_share if total_share > 0 else float("nan"),
            "employees": float(p["employees"]) if pd.notna(p["employees"]) else 0.0,
            "n_cells": len(z), "n_single_zones": int((~z["label"].astype(str).str.startswith(("mixed", "sparse"))).sum()),
            "n_mixed_zones": int(z["label"].astype(str).str.startswith("mixed").sum()),
            "n_hot_cells": int((hots[c]["z"] >= 1.96).sum()), "metric_epsg": epsg[c],
        }  # fmt: skip
        if clusters:
            row["n_clusters"] = len(cls[c])
            row["largest_cluster_n"] = int(cls[c]["n"].max()) if len(cls[c]) else 0
        rows.append(row)
    return PartitionedResult(
        comparison=pd.DataFrame(rows), zones=zones, hotspots=hots, clusters=cls,
        rejected=rejected_pd.reset_index(drop=True), epsg=epsg,
        n_rows=int(per_city_pd["n_establishments"].sum()) + len(rejected_pd),
    )  # fmt: skip


def _reject_duplicate_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Reject accepted rows whose id an earlier accepted row has, across chunks.

    Each chunk already did so within itself; this makes the rule the file reader's (the first
    occurrence among otherwise valid rows is kept), whatever the chunking.
    """
    frame = frame.sort_values("row", kind="stable").reset_index(drop=True)
    ok = (frame["reason"] == "").to_numpy()
    ids = frame["id"].astype("string")
    dup = ok & ids.where(ok).duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    if not dup.any():
        return frame
    first = frame.loc[ok & ~dup].drop_duplicates("id").set_index("id")["row"]
    frame = frame.copy()
    frame.loc[dup, "reason"] = [
        f"duplicate id: '{i}' is already used by row {int(first[i])}" for i in ids[dup]
    ]
    return frame


def load_classified(
    source: str | Path,
    *,
    crs: str = "wgs84",
    columns: Mapping[str, str] | None = None,
    blocksize: str = "64MB",
) -> tuple[Any, pd.DataFrame, int]:
    """Read, validate, convert and classify through the dask graph; gather the result.

    Returns ``(establishments, rejected, n_rows)``: a GeoDataFrame in EPSG:4326 with the
    canonical and classification columns, the rejected rows (``row, id, reason``) and the
    number of rows read. Used by ``clusterscape run --engine dask`` for one study.
    """
    import geopandas as gpd

    ddf = read_partitioned(source, columns=columns, blocksize=blocksize)
    prepared, _ = prepare_partitioned(ddf, crs=crs)
    frame = prepared.compute().reset_index(drop=True)
    frame = _reject_duplicate_ids(frame)
    bad = frame["reason"] != ""
    rejected = frame.loc[bad, ["row", "id", "reason"]].reset_index(drop=True)
    ok = frame[~bad].reset_index(drop=True)
    est = gpd.GeoDataFrame(
        ok.drop(columns=["lon", "lat", "x", "y", "ix", "iy", "reason", "row"]),
        geometry=gpd.points_from_xy(ok["lon"], ok["lat"]),
        crs="EPSG:4326",
    )
    return est, rejected, len(frame)
