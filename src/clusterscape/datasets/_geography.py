"""The functional geography of the synthetic Ningbo: where each function's rows are drawn.

Everything placed here is **synthetic**; only the *places* are real. The background rows of
:mod:`clusterscape.datasets._synthetic` are split into

1. **real places** (package data, :mod:`clusterscape.datasets._context`): one mall row per
   ``MALL_M2_PER_ROW`` of each OpenStreetMap mall polygon (at least one, at most
   ``MALL_MAX_ROWS``), retail rows inside every OSM commercial/retail polygon (one per
   ``RETAIL_M2_PER_ROW``, within ``RETAIL_FRONTAGE_M`` of it), one general-hospital row at every
   OSM hospital with ``CLINICS_PER_HOSPITAL`` clinics around it, one school row at every OSM school
   with ``TRAINING_PER_SCHOOL`` training centres around it, except the places held out
   (every ``HOLDOUT_EVERY``-th hospital and school in file order, kept to check the zones);
2. **functional profiles** (:data:`PROFILES` and one per OSM university): a centre, a radius
   (isotropic Gaussian, sd = radius / 2, so 86 % of the profile's rows lie within the radius),
   a share of the background rows and the function shares of those rows, each with the source
   of its location;
3. **residential between**: every function's remaining rows, placed by the polycentric Clark
   density of the towns (``_synthetic.CENTRES``, named and placed from GeoNames), the GeoNames
   places (``TOWN_WEIGHT``) and a uniform share.

The city-wide function totals stay ``FUNCTION_MIX`` x ``N_BACKGROUND`` exactly: layers 1 and 2
take their rows out of those totals (scaled down together if they would exceed one), layer 3
gets what is left.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "CLINICS_PER_HOSPITAL",
    "HOLDOUT_EVERY",
    "MALL_M2_PER_ROW",
    "PROFILES",
    "Profile",
    "held_out",
    "profiles",
    "real_places",
]

#: Gaussian sd of a profile's rows as a share of its radius (86 % of the rows within the radius).
SD_PER_RADIUS = 0.5
MALL_M2_PER_ROW = 20_000.0
MALL_MAX_ROWS = 5
RETAIL_M2_PER_ROW = 700.0
RETAIL_MIN_ROWS, RETAIL_MAX_ROWS = 5, 150
RETAIL_FRONTAGE_M = 60.0
CLINICS_PER_HOSPITAL = 25
CLINIC_SD_M = 400.0
TRAINING_PER_SCHOOL = 5
TRAINING_SD_M = 250.0
#: every HOLDOUT_EVERY-th OSM hospital and (non-university) school, in file order, is held out
HOLDOUT_EVERY = 5
#: share of the residential-between rows spread over the GeoNames places (Clark b = TOWN_B_KM)
TOWN_WEIGHT = 0.10
TOWN_B_KM = 0.8

#: OSM commercial features that are malls / department stores (name), and those that are not
MALL_PATTERN = re.compile(
    r"购物|百货|商场|商厦|商城|天街|印象城|万达|银泰|奥特莱斯|来福士|阪急|吾悦|爱琴海|宝龙|万象城|"
    r"mall|商业广场|时代广场|城市广场|环宇城|五彩城|泰悦城|复悦城|天一广场|和义大道",
    re.IGNORECASE,
)
NOT_MALL_PATTERN = re.compile(r"汽车|市场|石材|茶城|钢贸|物资|家电城|轻纺|商务|金融|文创|创意")

_OSM = "OpenStreetMap (ODbL 1.0), datasets/data/osm"
_MSA = "China MSA port data (en.msa.gov.cn, Ningbo port districts)"


@dataclass(frozen=True, slots=True)
class Profile:
    """One functional zone of the synthetic city: where, how large, which functions, and why there.

    Attributes
    ----------
    name : str
        The real place the profile stands for.
    kind : str
        ``business_core``, ``industry`` (port and development zones) or ``education``.
    lon, lat : float
        WGS-84 centre (from ``source``).
    radius_m : float
        86 % of the profile's rows lie within this distance (Gaussian, sd = radius / 2).
    share : float
        Share of the background rows (``N_BACKGROUND``) drawn in this profile.
    functions : Mapping[str, float]
        Function shares of the profile's rows (sum to 1).
    source : str
        Where the location comes from.
    """

    name: str
    kind: str
    lon: float
    lat: float
    radius_m: float
    share: float
    functions: Mapping[str, float] = field(default_factory=dict)
    source: str = ""


_CBD = {
    "office_business": 0.55,
    "finance": 0.12,
    "catering": 0.13,
    "retail": 0.08,
    "hotel": 0.02,
    "other": 0.03,
    "public_admin": 0.03,
    "leisure_culture": 0.02,
    "transport": 0.02,
}
_FIN = {**_CBD, "office_business": 0.48, "finance": 0.18, "other": 0.04}
_PORT = {
    "logistics": 0.50,
    "industry": 0.30,
    "catering": 0.06,
    "transport": 0.06,
    "other": 0.04,
    "retail": 0.04,
}
_PLANT = {
    "industry": 0.72,
    "logistics": 0.14,
    "catering": 0.05,
    "other": 0.04,
    "retail": 0.03,
    "transport": 0.02,
}
_CAMPUS = {
    "education": 0.55,
    "catering": 0.15,
    "retail": 0.12,
    "leisure_culture": 0.06,
    "residential": 0.06,
    "other": 0.04,
    "transport": 0.02,
}

#: The functional zones with a documented location (the OSM universities are added by
#: :func:`profiles`).
PROFILES: tuple[Profile, ...] = (
    Profile(
        "Sanjiangkou / Tianyi Square CBD",
        "business_core",
        121.54991,
        29.87187,
        1200.0,
        0.065,
        _CBD,
        f"centroid of 天一广场 Tianyi Square, {_OSM}",
    ),
    Profile(
        "Yinzhou Southern Business District",
        "business_core",
        121.54282,
        29.80806,
        1000.0,
        0.055,
        _CBD,
        f"centroid of 南部商务区 Southern Business District, {_OSM}",
    ),
    Profile(
        "Eastern New Town (Dongbu Xincheng) financial district",
        "business_core",
        121.61108,
        29.86930,
        1200.0,
        0.055,
        _FIN,
        f"centroid of 宁波国际金融服务中心 Ningbo International Financial Service Centre, {_OSM}",
    ),
    Profile(
        "Beilun port district",
        "industry",
        121.85139,
        29.93572,
        3500.0,
        0.040,
        _PORT,
        f"Beilun Port District 29°56'8.6\"N 121°51'05\"E, {_MSA}",
    ),
    Profile(
        "Zhenhai petrochemical area (Zhenhai Refining & Chemical)",
        "industry",
        121.65520,
        29.97251,
        2500.0,
        0.022,
        _PLANT,
        f"centroid of 宁波镇海区炼化小学 (the refinery's school; its hospital is held out), {_OSM}",
    ),
    Profile(
        "Ningbo Economic and Technological Development Zone (Daqi)",
        "industry",
        121.79598,
        29.89210,
        2500.0,
        0.020,
        _PLANT,
        "GeoNames Daqi (CC BY 4.0), datasets/data/geonames; the ETDZ lies in Beilun "
        "(China Daily, 2006-06-08)",
    ),
    Profile(
        "Ningbo ETDZ, Xiaogang industrial area",
        "industry",
        121.74293,
        29.95033,
        2200.0,
        0.015,
        _PLANT,
        "GeoNames Xiaogang (CC BY 4.0), datasets/data/geonames",
    ),
    Profile(
        "Hangzhou Bay New Zone (Cixi Economic Development Zone)",
        "industry",
        121.22343,
        30.32443,
        3500.0,
        0.025,
        _PLANT,
        f"centroid of 杭州湾金融广场 in the new zone, {_OSM}; administered by the Cixi ETDZ "
        "committee (en.wikipedia.org/wiki/Hangzhou_Bay_New_Zone)",
    ),
    Profile(
        "Yuyao Economic Development Zone (China Plastics City)",
        "industry",
        121.15322,
        30.08533,
        2200.0,
        0.018,
        _PLANT,
        f"centroid of 中国塑料城国际商务中心 China Plastics City, {_OSM}",
    ),
    Profile(
        "Yinzhou Higher Education Park (UNNC, Zhejiang Wanli University)",
        "education",
        121.5592,
        29.8022,
        1200.0,
        0.006,
        _CAMPUS,
        "University of Nottingham Ningbo China 29.8022 N 121.5592 E "
        "(en.wikipedia.org/wiki/University_of_Nottingham_Ningbo,_China)",
    ),
)
#: share of the background rows of each OSM university's campus profile (radius 700 m)
UNIVERSITY_SHARE = 0.0006
UNIVERSITY_RADIUS_M = 700.0


@functools.cache
def _layers() -> dict[str, pd.DataFrame]:
    """The OSM layers as plain frames (WGS-84 geometry) with the flags the generator needs."""
    from clusterscape.datasets._context import load_ningbo_layer, ningbo_universities

    com = load_ningbo_layer("commercial")
    names = com["name"].fillna("").astype(str)
    com["is_mall"] = (
        names.str.contains(MALL_PATTERN) & ~names.str.contains(NOT_MALL_PATTERN)
    ).to_numpy()
    hos = load_ningbo_layer("hospitals")
    hos["held_out"] = (np.arange(len(hos)) % HOLDOUT_EVERY) == HOLDOUT_EVERY - 1
    uni = ningbo_universities()
    sch = load_ningbo_layer("schools")
    sch = sch[~sch["name"].isin(set(uni["name"]))].reset_index(drop=True)
    sch["held_out"] = (np.arange(len(sch)) % HOLDOUT_EVERY) == HOLDOUT_EVERY - 1
    places = load_ningbo_layer("places")
    return {
        "commercial": com,
        "hospitals": hos,
        "schools": sch,
        "universities": uni,
        "places": places,
    }


@functools.cache
def profiles() -> tuple[Profile, ...]:
    """:data:`PROFILES` plus one campus profile per OSM university (``ningbo_universities``)."""
    uni = _layers()["universities"]
    lon = uni["centroid_lon"].to_numpy(dtype=float)
    lat = uni["centroid_lat"].to_numpy(dtype=float)
    extra = tuple(
        Profile(
            f"{name} campus",
            "education",
            float(x),
            float(y),
            UNIVERSITY_RADIUS_M,
            UNIVERSITY_SHARE,
            _CAMPUS,
            f"centroid of {name}, {_OSM}",
        )
        for name, x, y in zip(uni["name"].astype(str), lon, lat, strict=True)
    )
    return PROFILES + extra


def real_places() -> dict[str, pd.DataFrame]:
    """The OSM commercial, hospital, school and university layers and the GeoNames places the
    generator uses (WGS-84; ``is_mall`` / ``held_out`` flags), as fresh copies."""
    return {k: v.copy() for k, v in _layers().items()}


def held_out() -> pd.DataFrame:
    """The real hospitals and schools the generator leaves out (``kind, name, lon, lat``)."""
    out = []
    for kind in ("hospitals", "schools"):
        layer = _layers()[kind]
        sel = layer[layer["held_out"].to_numpy()]
        out.append(
            pd.DataFrame(
                {
                    "kind": kind.removesuffix("s"),
                    "name": sel["name"].astype(str).to_numpy(),
                    "lon": sel["centroid_lon"].astype(float).to_numpy(),
                    "lat": sel["centroid_lat"].astype(float).to_numpy(),
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def profile_table(n_background: int) -> pd.DataFrame:
    """One row per functional profile: ``profile, kind, lon, lat, radius_m, n_rows, functions,
    source`` (``n_rows`` before any scaling to the city totals)."""
    rows = [
        {
            "profile": p.name,
            "kind": p.kind,
            "lon": p.lon,
            "lat": p.lat,
            "radius_m": p.radius_m,
            "n_rows": round(p.share * n_background),
            "functions": ", ".join(f"{k} {v:.2f}" for k, v in p.functions.items()),
            "source": p.source,
        }
        for p in profiles()
    ]
    return pd.DataFrame(rows)
