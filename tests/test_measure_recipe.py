"""The recipe step on the built-in Ningbo study with the real OSM factor layers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from clusterscape.errors import CRSError, InvalidInputError
from clusterscape.measure.recipe import published_recipe

OSM = Path("/work/shared/data/ningbo/osm")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ningbo" / "osm"


def _osm_dir() -> Path:
    for d in (SHARED, OSM):
        if (d / "ningbo_osm_schools.geojson").exists():
            return d
    pytest.skip("shared Ningbo OSM layers not available")


@pytest.fixture(scope="module")
def study():
    from clusterscape import classify_establishments
    from clusterscape.datasets import ningbo

    inputs = ningbo(scenario="planted", seed=0)
    firms = classify_establishments(inputs.establishments)
    return inputs, firms[firms["is_creative"]]


def test_recipe_on_ningbo(study) -> None:
    inputs, creative = study
    d = _osm_dir()
    factors = {
        "school": gpd.read_file(d / "ningbo_osm_schools.geojson"),
        "commercial": gpd.read_file(d / "ningbo_osm_commercial.geojson"),
        "park": inputs.parks,
    }
    res = published_recipe(
        creative, area=inputs.boundary, factors=factors, cell_m=1000.0, permutations=99
    )
    # creative firms concentrate: clustered ANN, positive Moran, HH cells
    assert res.ann.ratio < 1 and res.ann.p_value < 0.001
    assert res.ann.params["area_source"] == "window"
    assert res.moran.I > 0 and res.moran.p_sim <= 0.02
    assert (res.cells["label"] == "HH").any()
    assert res.cells.crs.is_projected
    assert res.cells["count"].sum() == len(creative)  # every firm lands in a kept cell
    # the ellipse path: one row per opening year, cumulative stock grows
    path = res.ellipse_path
    assert len(path) > 3 and path["n"].is_monotonic_increasing
    assert path["n"].iloc[-1] == creative["opened"].notna().sum()
    gd = res.geodetector
    assert gd is not None
    assert set(gd.factors["factor"]) == {"dist_school_m", "dist_commercial_m", "dist_park_m"}
    assert gd.factors["q"].between(0, 1).all()
    assert len(gd.interaction) == 3
    assert np.isfinite(res.kde.density).all() and res.kde.density.max() > 0


def test_recipe_refuses_bad_input(study) -> None:
    _, creative = study
    with pytest.raises(CRSError, match="no CRS"):
        published_recipe(creative.set_crs(None, allow_override=True))
    with pytest.raises(InvalidInputError, match="empty"):
        published_recipe(
            creative, factors={"none": creative.iloc[:0]}, cell_m=2000.0, permutations=0
        )
