"""The planted history of the built-in Ningbo study: clusters born, merged, split and dead.

Everything here is **synthetic**. ``data/planted_history.toml`` lists groups of creative firms
and the events they make through the years: a park opened in 2012 whose cluster is only born
when its firms arrive (2016), two clusters 700 m apart that merge when the gap between them
fills (2015), a street whose middle closes so that it splits (2018) and a cluster whose firms
all close (death, 2012). :func:`plant` appends those firms to the generated population (after
the rest, so no other row changes) and returns the events as truth. The random stream is its
own (``numpy.random.SeedSequence([seed, STREAM])``), the same in both scenarios.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["EVENTS", "GROUPS", "N_ROWS", "plant"]

#: the key of this module's random stream (beside the seed)
STREAM = 24


def _read() -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    path = resources.files("clusterscape.datasets").joinpath("data", "planted_history.toml")
    data = tomllib.loads(path.read_text("utf-8"))
    return tuple(dict(g) for g in data["group"]), tuple(dict(e) for e in data["event"])


GROUPS, EVENTS = _read()
#: rows appended to the population
N_ROWS = sum(int(g["n_firms"]) for g in GROUPS)

Projector = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _draw(
    rng: np.random.Generator, group: Mapping[str, Any], cx: float, cy: float, region: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Places of one group inside ``region`` and their offsets along the band (x - centre)."""
    n = int(group["n_firms"])
    sd = float(group["spread_m"])
    xs: list[np.ndarray] = []
    for _ in range(200):
        if sum(len(x) for x in xs) >= n:
            break
        m = 2 * n
        if group["shape"] == "band":
            half = float(group["length_m"]) / 2.0
            pts = np.column_stack([rng.uniform(-half, half, m), rng.normal(0.0, sd, m)])
        else:
            pts = rng.normal(0.0, sd, (m, 2))
        pts = pts + np.array([cx, cy])
        xs.append(pts[shapely.contains_xy(region, pts[:, 0], pts[:, 1])])
    pts = np.vstack(xs)[:n]
    if len(pts) < n:  # pragma: no cover - packaging error
        raise ValueError(f"planted_history.toml: site {group['site']!r} lies outside the city.")
    return pts[:, 0], pts[:, 1], pts[:, 0] - cx


def plant(
    table: Mapping[str, np.ndarray],
    *,
    seed: int,
    region_m: Any,
    project: Projector,
    rows: Callable[..., dict[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Append the history's firms to ``table`` (metric coordinates) and return the events.

    Parameters
    ----------
    table : mapping of column -> array
        The generated population (``clusterscape.datasets._synthetic.Population.table``).
    seed : int
        The study's seed.
    region_m : shapely geometry
        The city in metres (firms are drawn inside it).
    project : callable
        lon, lat -> x, y in the population's metric CRS.
    rows : callable
        The generator's attribute maker (``_synthetic._rows``): names, codes, employees.

    Returns
    -------
    (table, events)
        The table with the history's rows appended (``role = "history_member"``,
        ``planted_cluster = "history_<site>"``) and one row per planted event (``kind, year,
        site, lon, lat``, ``park_opened`` where given).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), STREAM]))
    shapely.prepare(region_m)
    blocks = []
    for g in GROUPS:
        (cx,), (cy,) = project(np.array([float(g["lon"])]), np.array([float(g["lat"])]))
        x, y, along = _draw(rng, g, float(cx), float(cy), region_m)
        lo, hi = (int(v) for v in g["opened"])
        opened = rng.integers(lo, hi + 1, size=len(x))
        block = rows(rng, "creative", x, y, opened=opened, hazard=0.0)
        closed = np.full(len(x), -1, dtype=np.int64)
        if "closed" in g:
            c0, c1 = (int(v) for v in g["closed"])
            closed = rng.integers(c0, c1 + 1, size=len(x))
        if "close_middle_m" in g:
            closed[np.abs(along) < float(g["close_middle_m"])] = int(g["close_year"])
        block["closed"] = closed
        block["role"] = np.full(len(x), "history_member", dtype=object)
        block["planted_cluster"] = np.full(len(x), f"history_{g['site']}", dtype=object)
        blocks.append(block)
    out = {k: np.concatenate([np.asarray(table[k]), *[b[k] for b in blocks]]) for k in table}
    events = pd.DataFrame(list(EVENTS))
    return out, events
