"""GeoDetector against the published disease.csv example and the PyPI ``geodetector`` package."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clusterscape.errors import InvalidInputError
from clusterscape.explain.geodetector import (
    _breaks,
    _jenks_table,
    geodetector,
    interaction_type,
    q_statistic,
)

gd_pkg = pytest.importorskip("geodetector")


@pytest.fixture(scope="module")
def disease() -> pd.DataFrame:
    path = importlib.resources.files("geodetector") / "dataset" / "data" / "disease.csv"
    with path.open(encoding="utf-8-sig") as fh:  # the file starts with a byte-order mark
        return pd.read_csv(fh)


def test_published_disease_example(disease: pd.DataFrame) -> None:
    res = geodetector(disease, "incidence", ["type", "region", "level"])
    q = res.factors.set_index("factor")["q"]
    # the published values (Wang & Xu 2017 example, PyPI geodetector README), to 4 decimals
    assert round(q["type"], 4) == 0.3857
    assert round(q["region"], 4) == 0.6378
    assert round(q["level"], 4) == 0.6067
    p = res.factors.set_index("factor")["p_value"]
    assert p["region"] == pytest.approx(1.29e-4, rel=0.01)
    assert set(res.factors["method"]) == {"categorical"}
    assert res.factors.set_index("factor")["n_strata"].to_dict() == {
        "type": 5,
        "region": 9,
        "level": 7,
    }


def test_factor_detector_equals_pypi_geodetector(disease: pd.DataFrame) -> None:
    from geodetector._stats import q_significance_test
    from geodetector._stats import q_statistic as their_q

    res = geodetector(disease, "incidence", ["type", "region", "level"]).factors.set_index("factor")
    y = disease["incidence"].to_numpy()
    for f in ("type", "region", "level"):
        assert res.loc[f, "q"] == pytest.approx(their_q(y, disease[f].to_numpy()), rel=1e-12)
        assert res.loc[f, "p_value"] == pytest.approx(
            q_significance_test(y, disease[f].to_numpy()), rel=1e-6
        )


def test_interaction_is_q_of_crossed_strata(disease: pd.DataFrame) -> None:
    res = geodetector(disease, "incidence", ["type", "region", "level"])
    assert len(res.interaction) == 3
    for row in res.interaction.itertuples():
        crossed = disease[row.factor_1].astype(str) + "|" + disease[row.factor_2].astype(str)
        assert row.q_interaction == pytest.approx(q_statistic(disease["incidence"], crossed))
        assert row.type == interaction_type(row.q_1, row.q_2, row.q_interaction)
    # on this example every pair enhances (bi-variably): max(q1, q2) < q12 < q1 + q2
    assert set(res.interaction["type"]) == {"enhance-bi"}


@pytest.mark.parametrize(
    ("q1", "q2", "q12", "kind"),
    [
        (0.3, 0.5, 0.2, "weaken-nonlinear"),
        (0.3, 0.5, 0.4, "weaken-uni"),
        (0.3, 0.5, 0.6, "enhance-bi"),
        (0.3, 0.5, 0.8, "independent"),
        (0.3, 0.5, 0.9, "enhance-nonlinear"),
    ],
)
def test_interaction_types(q1: float, q2: float, q12: float, kind: str) -> None:
    assert interaction_type(q1, q2, q12) == kind


def test_risk_detector_is_welch_t(disease: pd.DataFrame) -> None:
    res = geodetector(disease, "incidence", ["region"], interaction=False, ecological=False)
    assert len(res.risk) == 9 * 8 // 2
    for row in res.risk.itertuples():
        a = disease.loc[disease["region"] == row.stratum_1, "incidence"]
        b = disease.loc[disease["region"] == row.stratum_2, "incidence"]
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert row.t == pytest.approx(ref.statistic, rel=1e-9)
        assert row.p_value == pytest.approx(ref.pvalue, rel=1e-7)
        assert row.significant == (ref.pvalue < 0.05)
    means = res.risk_means.set_index("stratum")["mean"]
    np.testing.assert_allclose(means, disease.groupby("region")["incidence"].mean(), rtol=1e-12)


def test_ecological_detector_ratio_of_unexplained_variance(disease: pd.DataFrame) -> None:
    res = geodetector(disease, "incidence", ["type", "region", "level"])
    q = res.factors.set_index("factor")["q"]
    n = len(disease)
    for row in res.ecological.itertuples():
        f = (1 - q[row.factor_1]) / (1 - q[row.factor_2])
        assert row.f == pytest.approx(f, rel=1e-10)
        assert row.p_value == pytest.approx(stats.f.sf(f, n - 1, n - 1), rel=1e-9)


def test_breaks_equal_mapclassify() -> None:
    mapclassify = pytest.importorskip("mapclassify")
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 3.0, 800)
    sx = np.sort(x)
    np.testing.assert_allclose(_jenks_table(sx, 6)[4], mapclassify.FisherJenks(x, k=6).bins[:-1])
    np.testing.assert_allclose(
        _breaks(x, "natural", 6, sx), mapclassify.FisherJenks(x, k=6).bins[:-1]
    )
    np.testing.assert_allclose(
        _breaks(x, "quantile", 5, sx), mapclassify.Quantiles(x, k=5).bins[:-1]
    )
    np.testing.assert_allclose(
        _breaks(x, "equal", 5, sx), mapclassify.EqualInterval(x, k=5).bins[:-1], rtol=1e-12
    )
    np.testing.assert_allclose(_breaks(x, "sd", 4, sx), x.mean() + x.std() * np.array([-1, 0, 1]))
    geo = _breaks(x, "geometric", 4, sx) + 1 - x.min()
    assert np.allclose(
        np.diff(np.log(np.r_[1.0, geo, x.max() + 1 - x.min()])), np.log(x.max() + 1 - x.min()) / 4
    )


def test_opgd_recovers_planted_steps() -> None:
    rng = np.random.default_rng(4)
    n = 5000
    x = rng.uniform(0, 100, n)
    noise = rng.normal(0, 0.3, n)
    # plateaus that the 5 equal intervals of [0, 100] separate exactly (OPGD sees x only)
    x[:2] = 0.0, 100.0
    y = np.select([x <= 20, x <= 60, x <= 80], [0.0, 3.0, 1.0], 5.0) + noise
    table = pd.DataFrame({"y": y, "x": x, "junk": rng.uniform(size=n)})
    res = geodetector(table, "y", ["x", "junk"])
    f = res.factors.set_index("factor")
    true_q = 1 - 0.3**2 / y.var()
    assert f.loc["x", "q"] == pytest.approx(true_q, abs=0.01)
    assert (f.loc["x", "method"], f.loc["x", "n_strata"]) == ("equal", 5)
    assert f.loc["junk", "q"] < 0.01
    assert f.loc["x", "p_value"] < 1e-10
    search = res.discretisation
    assert search["chosen"].sum() == 2
    best = search.loc[search.groupby("factor")["q"].idxmax()]
    assert best["chosen"].all()
    assert set(search["method"]) == {"equal", "natural", "quantile", "geometric", "sd"}
    assert list(res.strata.columns) == ["x", "junk"]


def test_missing_rows_dropped_and_counted(disease: pd.DataFrame) -> None:
    t = disease.copy()
    t.loc[[0, 5], "type"] = np.nan
    t.loc[9, "incidence"] = np.nan
    res = geodetector(t, "incidence", ["type", "region"], continuous=[])
    assert res.params["rows_dropped"] == 3
    assert res.params["rows_used"] == len(t) - 3
    assert len(res.strata) == len(t) - 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y": "nope", "factors": ["type"]}, "lacks column"),
        ({"y": "incidence", "factors": []}, "at least one factor"),
        ({"y": "incidence", "factors": ["type", "type"]}, "repeated"),
        ({"y": "incidence", "factors": ["type"], "methods": ["kmeans"]}, "not one of"),
        ({"y": "incidence", "factors": ["type"], "n_strata": [1]}, ">= 2"),
    ],
)
def test_bad_input(disease: pd.DataFrame, kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        geodetector(disease, **kwargs)


def test_constant_y_is_refused(disease: pd.DataFrame) -> None:
    t = disease.assign(incidence=1.0)
    with pytest.raises(InvalidInputError, match="constant"):
        geodetector(t, "incidence", ["type"])
