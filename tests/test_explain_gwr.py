"""GWR through mgwr: the bandwidths of mgwr's own tests on libpysal's georgia and tokyo data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterscape.errors import InvalidInputError

pytest.importorskip("mgwr")
libpysal = pytest.importorskip("libpysal")

from clusterscape.explain.gwr import gwr, mgwr  # noqa: E402


@pytest.fixture(scope="module")
def georgia() -> pd.DataFrame:
    return pd.read_csv(libpysal.examples.get_path("GData_utm.csv"))


@pytest.fixture(scope="module")
def tokyo() -> pd.DataFrame:
    return pd.read_csv(libpysal.examples.get_path("Tokyomortality.csv"))


FACTORS = ["PctRural", "PctPov", "PctBlack"]


def test_georgia_adaptive_bisquare_aicc_bandwidth(georgia: pd.DataFrame) -> None:
    fit = gwr(georgia, "PctBach", FACTORS, coords=("X", "Y"))
    assert fit.bandwidth == 93.0  # mgwr's test_golden_adapt_AICc (GWR4's value)
    assert list(fit.coefficients.columns) == ["intercept", *FACTORS]
    assert fit.coefficients.shape == (159, 4)
    assert 0 < fit.summary["r2"] < 1
    assert fit.local_r2 is not None and fit.local_r2.between(0, 1).all()


@pytest.mark.slow  # ~15 s on a busy machine
def test_georgia_fixed_bisquare_aicc_bandwidth(georgia: pd.DataFrame) -> None:
    fit = gwr(georgia, "PctBach", FACTORS, coords=("X", "Y"), fixed=True)
    assert fit.bandwidth == pytest.approx(211020.83, abs=0.01)  # mgwr's test_golden_fixed_AICc


@pytest.mark.slow  # two Poisson bandwidth searches, ~1-2 min
def test_tokyo_poisson_gwr_bandwidth(tokyo: pd.DataFrame) -> None:
    factors = ["OCC_TEC", "OWNH", "POP65", "UNEMP"]
    coords = ("X_CENTROID", "Y_CENTROID")
    fit = gwr(tokyo, "db2564", factors, coords=coords, family="poisson")
    assert fit.bandwidth == 51.0  # mgwr's test_golden_adapt_AICc_Poisson_wo_offset
    with_offset = gwr(tokyo, "db2564", factors, coords=coords, family="poisson", offset="eb2564")
    assert with_offset.bandwidth == 95.0  # ..._w_offset
    assert "pseudo_r2" in fit.summary and fit.local_r2 is None


def test_gwr_recovers_a_planted_surface() -> None:
    rng = np.random.default_rng(0)
    n = 150
    xy = rng.uniform(0, 10_000, (n, 2))
    beta = 1.0 + xy[:, 0] / 10_000  # slope rises west to east
    x = rng.normal(size=n)
    t = pd.DataFrame(
        {"x0": xy[:, 0], "y0": xy[:, 1], "x": x, "y": beta * x + rng.normal(0, 0.1, n)}
    )
    fit = gwr(t, "y", ["x"], coords=("x0", "y0"))
    err = np.abs(fit.coefficients["x"] - beta)
    assert err.mean() < 0.1


@pytest.mark.slow  # MGWR's back-fitting search takes a while
def test_mgwr_runs_on_georgia(georgia: pd.DataFrame) -> None:
    fit = mgwr(georgia, "PctBach", ["PctFB", "PctBlack", "PctRural"], coords=("X", "Y"))
    assert len(fit.bandwidth) == 4
    assert fit.coefficients.shape == (159, 4)


def test_bad_input(georgia: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="non-negative integer counts"):
        gwr(georgia, "PctBach", FACTORS, coords=("X", "Y"), family="poisson")
    with pytest.raises(InvalidInputError, match="coords"):
        gwr(georgia, "PctBach", FACTORS)
    bad = georgia.copy()
    bad.loc[3, "PctPov"] = np.nan
    with pytest.raises(InvalidInputError, match="1 rows have a missing"):
        gwr(bad, "PctBach", FACTORS, coords=("X", "Y"))
