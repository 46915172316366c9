"""The numba warm-up runs the default study on a subset that has the full data's types."""

from __future__ import annotations

from clusterscape import datasets
from clusterscape.study._warmup import _small_ningbo


def test_warmup_subset_keeps_columns_and_dtypes() -> None:
    full = datasets.ningbo()
    small = _small_ningbo(500)()
    est, sub = full.establishments, small.establishments
    assert len(sub) == 500 < len(est)
    assert list(sub.columns) == list(est.columns)
    assert (sub.dtypes == est.dtypes).all()  # same numba type signatures as a real run
    assert sub.crs == est.crs
    assert sub["id"].isin(est["id"]).all() and sub["id"].is_unique
    # the rest of the study inputs are the real ones
    assert small.boundary.equals(full.boundary) and small.parks.equals(full.parks)
