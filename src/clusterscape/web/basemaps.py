"""Basemaps of the dashboard and the datum each one is drawn in.

The dashboard needs no network: its default basemap is ``blank`` (the study's own boundaries
on a plain background). A tiled basemap is the user's choice (``clusterscape serve DIR
--basemap NAME|URL``, repeatable), and only the hosts of the chosen basemaps enter the page's
Content-Security-Policy. Nothing is fetched when the package is installed.

Each basemap names its **datum**. OpenStreetMap tiles are in WGS-84, like every stored layer.
Amap/AutoNavi tiles (like Tencent's and Google's China tiles) are in GCJ-02: when such a
basemap is active the page shifts the *data* (points, clusters, boundaries) into GCJ-02 with
the forward formula of :mod:`clusterscape.coords` (ported to ``static/coords.js``), never the
tiles, so establishments sit on the right streets. Tianditu (天地图) tiles are in CGCS2000,
which agrees with WGS-84 to a few centimetres: give its URL (it needs your own ``tk`` key) with
datum ``wgs84``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from clusterscape.errors import InvalidInputError

__all__ = ["BASEMAPS", "Basemap", "csp_sources", "resolve_basemaps"]

#: Datums a basemap can be drawn in (BD-09 tiles, Baidu's, are not supported).
BASEMAP_DATUMS = ("wgs84", "gcj02")


@dataclass(frozen=True, slots=True)
class Basemap:
    """One basemap the page can show.

    Attributes
    ----------
    name : str
        Short name (the picker's value and ``--basemap NAME``).
    url : str or None
        XYZ raster tile URL template (``{z}``, ``{x}``, ``{y}``, optional ``{s}``); None for blank.
    datum : str
        ``wgs84`` or ``gcj02``: the datum the tiles are drawn in.
    attribution : str
        The credit line the provider asks for.
    max_zoom : int
        Highest zoom level with tiles.
    subdomains : str
        Characters that ``{s}`` stands for (one tile URL each).
    """

    name: str
    url: str | None
    datum: str
    attribution: str
    max_zoom: int = 19
    subdomains: str = "abc"

    @property
    def tiles(self) -> list[str]:
        """The tile URL templates MapLibre requests (``{s}`` expanded)."""
        if not self.url:
            return []
        if "{s}" not in self.url:
            return [self.url]
        return [self.url.replace("{s}", s) for s in self.subdomains]

    def to_json(self) -> dict[str, Any]:
        """The entry of ``/api/config`` ``basemaps`` (name, url, datum, attribution, max_zoom)."""
        out = asdict(self)
        out.pop("subdomains")
        out["tiles"] = self.tiles
        return out


BLANK = Basemap("blank", None, "wgs84", "", max_zoom=22, subdomains="")
#: The built-in basemaps (``blank`` needs no network; the others are used only when chosen).
BASEMAPS: dict[str, Basemap] = {
    b.name: b
    for b in (
        BLANK,
        Basemap(
            "osm",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "wgs84",
            "© OpenStreetMap contributors",
            max_zoom=19,
            subdomains="",
        ),
        Basemap(
            "amap",
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",
            "gcj02",
            "© 高德地图 AutoNavi",
            max_zoom=18,
            subdomains="1234",
        ),
    )
}


def _check_url(url: str, option: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or "@" in parts.netloc:
        raise InvalidInputError(
            f"serve: {option} must be a built-in name ({', '.join(BASEMAPS)}) or an http(s) URL "
            f"template like https://tile.example.org/{{z}}/{{x}}/{{y}}.png, got {url!r}."
        )
    host = parts.netloc.replace("{s}", "a")
    if any(c in host for c in "{} ;,'\"*\\"):
        raise InvalidInputError(
            f"serve: {option} host {parts.netloc!r} is not a plain host name (only {{s}} may vary)."
        )


def resolve_basemaps(
    chosen: Iterable[str], *, datum: str = "wgs84", option: str = "--basemap"
) -> list[Basemap]:
    """The basemaps of the page: ``blank`` first, then each chosen name or URL once.

    Parameters
    ----------
    chosen : iterable of str
        Built-in names (``osm``, ``amap``, ``blank``) or XYZ URL templates.
    datum : {"wgs84", "gcj02"}
        Datum of the URL templates (built-in names carry their own).
    option : str
        Option named in error messages.

    Returns
    -------
    list of Basemap
        ``blank`` and the chosen ones (URLs are named ``custom``, ``custom2``, ...).

    Raises
    ------
    InvalidInputError
        An unknown name, a URL that is not a plain http(s) template, or an unknown datum.

    Examples
    --------
    >>> [b.name for b in resolve_basemaps(["amap", "osm"])]
    ['blank', 'amap', 'osm']
    >>> resolve_basemaps(["amap"])[1].datum
    'gcj02'
    """
    datum = datum.strip().lower().replace("-", "")
    if datum not in BASEMAP_DATUMS:
        raise InvalidInputError(
            f"serve: --basemap-datum must be one of {', '.join(BASEMAP_DATUMS)}, got {datum!r}."
        )
    out = [BLANK]
    n_custom = 0
    for spec in chosen:
        spec = spec.strip()
        if not spec:
            continue
        if spec.lower() in BASEMAPS:
            base = BASEMAPS[spec.lower()]
        else:
            _check_url(spec, option)
            n_custom += 1
            name = "custom" if n_custom == 1 else f"custom{n_custom}"
            base = Basemap(name, spec, datum, "tiles: " + urlsplit(spec).netloc, max_zoom=19)
        if all(b.url != base.url for b in out):
            out.append(base)
    return out


def csp_sources(basemaps: Iterable[Basemap]) -> str:
    """The origins of the basemaps' tile hosts, space-separated (leading space), for the CSP.

    Examples
    --------
    >>> csp_sources(resolve_basemaps(["https://{s}.t.example.org/{z}/{x}/{y}.png"]))
    ' https://a.t.example.org https://b.t.example.org https://c.t.example.org'
    """
    seen: list[str] = []
    for b in basemaps:
        for tile in b.tiles:
            parts = urlsplit(tile)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in seen:
                seen.append(origin)
    return "".join(f" {o}" for o in seen)
