"""Global and local co-location quotients against brute-force implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from clusterscape.errors import InvalidInputError
from clusterscape.measure import pattern


def _brute_clq(xy, lab, a, b):
    d = cdist(xy, xy)
    np.fill_diagonal(d, np.inf)
    c = 0.0
    for i in np.flatnonzero(lab == a):
        nn = np.flatnonzero(d[i] == d[i].min())
        c += (lab[nn] == b).mean()
    n, na, nb = len(xy), (lab == a).sum(), (lab == b).sum()
    return (c / na) / ((nb - (a == b)) / (n - 1))


def _brute_lclq(xy, lab, a, b, k):
    d = cdist(xy, xy)
    np.fill_diagonal(d, np.inf)
    n = len(xy)
    nbp = (lab == b).sum() - (a == b)
    out = []
    for i in np.flatnonzero(lab == a):
        nn = np.argsort(d[i], kind="stable")[:k]
        w = np.exp(-0.5 * d[i, nn] ** 2 / d[i, nn[-1]] ** 2)
        out.append((w * (lab[nn] == b)).sum() / w.sum() / (nbp / (n - 1)))
    return np.array(out)


@pytest.mark.parametrize(("a", "b"), [("a", "b"), ("a", "a"), ("c", "b")])
def test_global_clq_matches_brute_force_with_ties(a, b):
    rng = np.random.default_rng(1)
    # integer grid coordinates create many equidistant nearest neighbours
    xy = rng.integers(0, 30, (400, 2)).astype(float)
    xy = np.unique(xy, axis=0)
    lab = rng.choice(np.array(["a", "b", "c"]), len(xy))
    assert pattern.colocation_quotient(xy, lab, a, b) == pytest.approx(
        _brute_clq(xy, lab, a, b), rel=1e-12
    )


def test_clq_hand_example():
    # A at 0, B at 1 and 3, A at 4: A(0)->B(1); A(4)->B(3). C_AB = 2, N_A = 2, N_B = 2, N = 4
    xy = np.array([[0.0, 0], [1, 0], [3, 0], [4, 0]])
    lab = np.array(["A", "B", "B", "A"])
    assert pattern.colocation_quotient(xy, lab, "A", "B") == pytest.approx((2 / 2) / (2 / 3))
    # B(1) nearest is A(0) (d=1) ; B(3) nearest is A(4): CLQ B->B = 0
    assert pattern.colocation_quotient(xy, lab, "B", "B") == 0.0


def test_colocation_matrix_agrees_with_pairwise_and_numpy_permutation():
    from clusterscape.measure.pattern._colocation import _nearest_with_ties

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1000, (1500, 2))
    lab = rng.choice(np.array(["x", "y", "z"]), 1500)
    df = pattern.colocation_matrix(xy, lab, permutations=999, seed=1)
    for row in df.itertuples():
        assert row.clq == pytest.approx(
            pattern.colocation_quotient(xy, lab, row.a, row.b), rel=1e-12
        )
    # the same two-sided permutation p-value computed independently with numpy
    i, j, w = _nearest_with_ties(xy)
    obs = (w * ((lab[i] == "z") & (lab[j] == "y"))).sum()
    sims = np.array(
        [
            (w * ((p[i] == "z") & (p[j] == "y"))).sum()
            for p in (rng.permutation(lab) for _ in range(999))
        ]
    )
    one_np = (1 + min((sims >= obs).sum(), (sims <= obs).sum())) / 1000
    row = df.set_index(["a", "b"]).loc[("z", "y")]
    assert abs(row["p_one_sided"] - one_np) < 0.03  # Monte Carlo sd of the difference ~0.008
    # the reported p is two-sided (co-location or isolation): twice the folded tail
    assert row["p_value"] == pytest.approx(min(1.0, 2 * row["p_one_sided"]), abs=1e-15)


def test_colocation_matrix_detects_planted_colocation():
    rng = np.random.default_rng(4)
    base = rng.uniform(0, 1000, (300, 2))
    xy = np.vstack([base, base + rng.normal(0, 1, (300, 2)), rng.uniform(0, 1000, (600, 2))])
    lab = np.array(["a"] * 300 + ["b"] * 300 + ["c"] * 600)
    df = pattern.colocation_matrix(xy, lab, permutations=99, seed=0).set_index(["a", "b"])
    assert df.loc[("a", "b"), "clq"] > 2 and df.loc[("a", "b"), "p_value"] <= 0.02


@pytest.mark.parametrize(("a", "b"), [("a", "b"), ("b", "b")])
def test_local_clq_matches_brute_force(a, b):
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 1000, (500, 2))
    lab = rng.choice(np.array(["a", "b", "c"]), 500)
    res = pattern.local_colocation_quotient(xy, lab, a, b, k=8, permutations=0)
    np.testing.assert_allclose(res["lclq"].to_numpy(), _brute_lclq(xy, lab, a, b, 8), rtol=1e-12)
    np.testing.assert_array_equal(res.index.to_numpy(), np.flatnonzero(lab == a))


def test_local_clq_permutation_flags_planted_pairs():
    rng = np.random.default_rng(8)
    a = rng.uniform(0, 1000, (50, 2))
    b = np.repeat(a, 8, axis=0) + rng.normal(0, 2, (400, 2))
    xy = np.vstack([a, b, rng.uniform(0, 1000, (2000, 2))])
    lab = np.array(["a"] * 50 + ["b"] * 400 + ["c"] * 2000)
    res = pattern.local_colocation_quotient(xy, lab, "a", "b", permutations=99, seed=0)
    assert (res["type"] == "colocated").mean() > 0.9
    res2 = pattern.local_colocation_quotient(xy, lab, "a", "b", permutations=99, seed=0)
    assert res.equals(res2)  # seeded


def test_colocation_errors():
    xy = np.random.default_rng(0).random((10, 2))
    with pytest.raises(InvalidInputError, match="no point has"):
        pattern.colocation_quotient(xy, ["a"] * 10, "a", "zzz")
    with pytest.raises(InvalidInputError, match="one entry per point"):
        pattern.local_colocation_quotient(xy, ["a"] * 9, "a", "a")


def test_grid_nearest_matches_brute_force_on_clustered_and_duplicate_points():
    from clusterscape.measure.pattern._colocation import _nearest_with_ties

    rng = np.random.default_rng(12)
    xy = np.vstack(
        [
            rng.normal(0, 5, (300, 2)),  # dense blob in a sparse field
            rng.uniform(-5000, 5000, (300, 2)),
            np.repeat([[100.0, 100.0]], 4, axis=0),  # coincident points
            rng.integers(0, 6, (60, 2)).astype(float) * 1000,  # lattice: exact ties
        ]
    )
    d = cdist(xy, xy)
    np.fill_diagonal(d, np.inf)
    i, j, w = _nearest_with_ties(xy)
    got = {(a, b): s for a, b, s in zip(i.tolist(), j.tolist(), w.tolist(), strict=True)}
    want = {}
    for a in range(len(xy)):
        nn = np.flatnonzero(d[a] == d[a].min())
        for b in nn:
            want[(a, int(b))] = 1.0 / len(nn)
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(want[k]) for k in want)


def test_permutation_null_is_centred_and_reproducible():
    import numba

    from clusterscape.measure.pattern._colocation import _nearest_split, _perm_counts

    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 1000, (2000, 2))
    codes = rng.integers(0, 4, 2000)
    nn, ti, tj, tw, order = _nearest_split(xy)
    obs = np.zeros((4, 4))
    ge, le, tot, sims = _perm_counts(codes, nn, ti, tj, tw, order, 4, obs, 400, 17, keep=True)
    nk = np.bincount(codes, minlength=4).astype(float)
    clq = (sims / nk[None, :, None]) / ((nk[None, None, :] - np.eye(4)[None]) / (2000 - 1))
    # E[CLQ] = 1 for every pair under random relabelling; Monte Carlo sd of the mean ~0.005
    np.testing.assert_allclose(clq.mean(axis=0), 1.0, atol=0.03)
    np.testing.assert_allclose(sims.sum(axis=(1, 2)), 2000.0)  # each point's shares sum to 1
    np.testing.assert_allclose(tot, sims.sum(axis=0))
    assert (ge == 400).all()  # every count >= the zero matrix
    np.testing.assert_array_equal(le, (sims <= 1e-9).sum(axis=0))
    # a fixed seed gives the same permutations whatever the number of threads
    prev = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _perm_counts(codes, nn, ti, tj, tw, order, 4, obs, 400, 17, keep=True)[3]
    finally:
        numba.set_num_threads(prev)
    np.testing.assert_array_equal(one, sims)
    df1 = pattern.colocation_matrix(xy, codes.astype(str), permutations=99, seed=3)
    df2 = pattern.colocation_matrix(xy, codes.astype(str), permutations=99, seed=3)
    assert df1.equals(df2)
