"""OpenStreetMap: .osm.pbf extracts made here with pyosmium, osmnx results (no network)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from clusterscape.errors import InvalidInputError
from clusterscape.osm import fetch_osm, osm_to_establishments, read_osm_pbf

osmium = pytest.importorskip("osmium")
pytest.importorskip("pyrosm")


def write_pbf(path: Path) -> None:
    from osmium.osm.mutable import Node, Way

    meta = {
        "version": 1,
        "timestamp": "2020-01-01T00:00:00Z",
        "changeset": 1,
        "uid": 1,
        "user": "u",
    }
    writer = osmium.SimpleWriter(str(path))
    writer.add_node(
        Node(
            id=1,
            location=(121.55, 29.87),
            tags={"tourism": "hotel", "name": "宁波酒店", "stars": "5"},
            **meta,
        )
    )
    writer.add_node(
        Node(
            id=2,
            location=(121.56, 29.88),
            tags={"office": "advertising_agency", "name": "Ad Co", "start_date": "2012-05"},
            **meta,
        )
    )
    writer.add_node(
        Node(id=3, location=(121.565, 29.885), tags={"highway": "bus_stop"}, **meta)
    )  # not a POI here
    ring = [(121.57, 29.89), (121.571, 29.89), (121.571, 29.891), (121.57, 29.891)]
    for i, xy in enumerate(ring, start=10):
        writer.add_node(Node(id=i, location=xy, **meta))
    writer.add_way(
        Way(id=100, nodes=[10, 11, 12, 13, 10], tags={"shop": "mall", "name": "天一广场"}, **meta)
    )
    writer.close()


def test_read_pbf_extract(tmp_path: Path) -> None:
    path = tmp_path / "mini.osm.pbf"
    write_pbf(path)
    est = read_osm_pbf(path)
    assert est.crs.to_epsg() == 4326
    by_id = est.set_index("id")
    assert set(by_id.index) == {"osm:node/1", "osm:node/2", "osm:way/100"}
    assert "tourism=hotel" in by_id.loc["osm:node/1", "category"]
    assert "stars=5" in by_id.loc["osm:node/1", "category"]
    assert by_id.loc["osm:way/100", "name"] == "天一广场"
    mall = by_id.loc["osm:way/100", "geometry"]
    assert Polygon(
        [(121.57, 29.89), (121.571, 29.89), (121.571, 29.891), (121.57, 29.891)]
    ).contains(mall)
    assert by_id.loc["osm:node/2", "opened"] == 2012


def test_osmnx_layout_without_network() -> None:
    idx = pd.MultiIndex.from_tuples([("node", 5), ("way", 6)], names=["element", "id"])
    features = gpd.GeoDataFrame(
        {"name": ["Loft", None], "office": ["architect", None], "shop": [None, "department_store"]},
        geometry=[Point(121.5, 29.9), Polygon([(121.6, 29.8), (121.61, 29.8), (121.61, 29.81)])],
        index=idx,
        crs="EPSG:4326",
    )
    est = osm_to_establishments(features)
    assert est["id"].tolist() == ["osm:node/5", "osm:way/6"]
    assert est["category"].tolist() == ["office=architect", "shop=department_store"]
    assert est["name"].tolist() == ["Loft", ""]


def test_fetch_osm_uses_osmnx(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx

    idx = pd.MultiIndex.from_tuples([("node", 7)], names=["element", "id"])
    fake = gpd.GeoDataFrame(
        {"name": ["Hotel"], "tourism": ["hotel"]},
        geometry=[Point(121.5, 29.9)],
        index=idx,
        crs="EPSG:4326",
    )
    seen = {}

    def fake_features(place: str, tags: dict) -> gpd.GeoDataFrame:
        seen["place"] = place
        seen["tags"] = tags
        return fake

    monkeypatch.setattr(osmnx, "features_from_place", fake_features)
    est = fetch_osm("Ningbo, China")
    assert seen["place"] == "Ningbo, China" and seen["tags"]["tourism"] is True
    assert est["category"].tolist() == ["tourism=hotel"]


def test_fetch_osm_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx

    def boom(place: str, tags: dict) -> gpd.GeoDataFrame:
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(osmnx, "features_from_place", boom)
    with pytest.raises(InvalidInputError, match="network"):
        fetch_osm("Ningbo, China")


def test_missing_pbf(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such"):
        read_osm_pbf(tmp_path / "nope.osm.pbf")


def test_pbf_rows_validate_like_a_file(tmp_path: Path) -> None:
    from clusterscape._frames import validate_frame

    path = tmp_path / "mini.osm.pbf"
    write_pbf(path)
    loaded = validate_frame(read_osm_pbf(path))
    assert len(loaded.establishments) == 3 and len(loaded.rejected) == 0
    assert set(loaded.establishments["id"]) == {"osm:node/1", "osm:node/2", "osm:way/100"}
