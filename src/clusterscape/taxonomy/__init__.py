"""Classify establishments into creative sectors and urban functions.

The shipped code lists (GB/T 4754-2017 with the NBS 2018 culture classes, UK SIC 2007 with the
DCMS creative groups, ISIC Rev.4, NAICS 2017, Amap typecodes and type strings, OSM tags, and
keywords in Chinese, English, Portuguese, Spanish, French, German, Italian, Dutch, Finnish,
Swedish, Japanese and Korean) live as CSV files in ``clusterscape/taxonomy/data``;
``docs/taxonomy.md`` documents the crosswalk of every sector id and the order of the rules.
"""

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.taxonomy._classify": "OUTPUT_COLUMNS classify_establishments",
        "clusterscape.taxonomy._tables": "CODE_SYSTEMS FUNCTIONS SECTORS Taxonomy load_taxonomy",
    },
)
