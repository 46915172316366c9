"""Reading and writing: establishment tables (file, PostGIS, OpenStreetMap), study layers, outputs.

``establishments`` validates firm/POI tables as they come (every row accepted or rejected with a
reason, bad fields noted); ``layers`` reads boundaries, park registries and land use in the
user's datum; ``osm`` reads ``.osm.pbf`` extracts and Overpass; ``postgis`` reads and writes a
database; ``source.read_source`` picks the reader for a file, extract or database URL; ``writers`` writes layers and directories atomically;
``dedupe`` finds duplicate establishments and stacked addresses; registry exports (credit codes,
status, registered capital) are read by ``establishments`` through ``_registry``;
``apijson`` reads Amap/Baidu place-search responses; ``crawl`` fetches Amap POIs over an area.
"""

from __future__ import annotations

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.io._registry": "CAPITAL_RATES parse_capital parse_status uscc_problem",
        "clusterscape.io.dedupe": (
            "drop_duplicates find_duplicates geocode_coarse normalise_address normalise_name "
            "stack_groups stack_view"
        ),
        "clusterscape.io.apijson": "read_api_responses",
        "clusterscape.io.crawl": "CrawlError CrawlReport crawl_amap",
        "clusterscape.io.establishments": (
            "CANONICAL NOTE_COLUMNS LoadResult empty_notes read_establishments validate_table"
        ),
        "clusterscape.io.layers": "read_boundary read_landuse read_parks",
        "clusterscape.io.osm": "fetch_osm load_osm_pbf read_osm_pbf",
        "clusterscape.io.postgis": "read_establishments_postgis write_postgis",
        "clusterscape.io.source": "read_source source_kind",
        "clusterscape.io.writers": "atomic_directory atomic_write write_layer",
    },
)
