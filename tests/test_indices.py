"""Zonal indices (hand examples, EconGeo conventions), Ellison–Glaeser γ (brute force, hand
example and the dartboard null) and centrography (pointpats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterscape.errors import InvalidInputError
from clusterscape.measure import indices

MAT = pd.DataFrame(
    [[10, 0, 5], [5, 5, 0], [0, 20, 5]],
    index=["R1", "R2", "R3"],
    columns=["I1", "I2", "I3"],
    dtype=float,
)


def test_location_quotient_hand():
    lq = indices.location_quotient(MAT)
    # R1, I1: (10/15) / (15/50) = 2.2222
    assert lq.loc["R1", "I1"] == pytest.approx((10 / 15) / (15 / 50))
    assert lq.loc["R3", "I1"] == 0
    assert indices.location_quotient(MAT, binary=True).loc["R1", "I1"] == 1


def test_krugman_hoover_gini_herfindahl_hand():
    s = MAT.sum(axis=0) / MAT.to_numpy().sum()  # 0.3, 0.5, 0.2
    r1 = np.array([10, 0, 5]) / 15
    assert indices.krugman(MAT)["R1"] == pytest.approx(np.abs(r1 - s.to_numpy()).sum())
    # Hoover of I1 against regional totals (15, 10, 25): ½(|10/15-15/50|+|5/15-10/50|+|0-25/50|)
    h = 0.5 * (abs(10 / 15 - 0.3) + abs(5 / 15 - 0.2) + abs(0 - 0.5))
    assert indices.hoover(MAT)["I1"] == pytest.approx(h)
    assert indices.hoover(MAT, reference=[1, 1, 1])["I2"] == pytest.approx(
        0.5 * (abs(0 - 1 / 3) + abs(0.2 - 1 / 3) + abs(0.8 - 1 / 3))
    )
    # Gini of (0, 5, 10): 2*(1*0+2*5+3*10)/(3*15) - 4/3 = 80/45 - 4/3 = 0.4444
    assert indices.gini(MAT)["I1"] == pytest.approx(80 / 45 - 4 / 3)
    assert indices.gini([1, 1, 1, 1])["value"] == pytest.approx(0.0)
    assert indices.herfindahl(MAT)["I1"] == pytest.approx((10 / 15) ** 2 + (5 / 15) ** 2)


def _brute_eg(area, emp, ind):
    areas = sorted(set(area))
    tot = emp.sum()
    x = np.array([emp[area == a].sum() / tot for a in areas])
    e_i = emp[ind]
    s = np.array([emp[ind & (area == a)].sum() / e_i.sum() for a in areas])
    g = ((s - x) ** 2).sum()
    h = ((e_i / e_i.sum()) ** 2).sum()
    return (g - (1 - (x**2).sum()) * h) / ((1 - (x**2).sum()) * (1 - h))


def test_ellison_glaeser_hand_example():
    # two equal areas; industry: 2 plants of 10 in area A; others: 20 in B
    area = np.array(["A", "A", "B"])
    emp = np.array([10.0, 10, 20])
    ind = np.array([True, True, False])
    # x = (.5, .5), s = (1, 0), G = .5, H = .5, Σx² = .5: γ = (.5 - .25)/(.5 * .5) = 1
    assert indices.ellison_glaeser(area, emp, ind) == pytest.approx(1.0)


def test_ellison_glaeser_matches_brute_force():
    rng = np.random.default_rng(0)
    area = rng.choice(np.array(list("abcdefgh")), 400)
    emp = rng.integers(1, 100, 400).astype(float)
    ind = rng.random(400) < 0.2
    assert indices.ellison_glaeser(area, emp, ind) == pytest.approx(_brute_eg(area, emp, ind))


def test_ellison_glaeser_dartboard_mean_is_zero():
    """Plants thrown at areas with probability x_r: E[γ] = 0 (Ellison & Glaeser 1997, Prop. 1)."""
    rng = np.random.default_rng(1)
    n_areas = 12
    other_area = rng.integers(0, n_areas, 3000)
    other_emp = rng.integers(1, 50, 3000).astype(float)
    x = np.bincount(other_area, weights=other_emp, minlength=n_areas)
    x = x / x.sum()
    gam = []
    for _ in range(400):
        k = 40
        e = rng.integers(1, 30, k).astype(float)
        a = rng.choice(n_areas, k, p=x)
        area = np.concatenate([other_area, a])
        emp = np.concatenate([other_emp, e])
        ind = np.r_[np.zeros(3000, bool), np.ones(k, bool)]
        gam.append(indices.ellison_glaeser(area, emp, ind))
    gam = np.array(gam)
    # the industry's own plants shift x slightly; the mean stays within 3 standard errors of 0
    assert abs(gam.mean()) < 3 * gam.std() / np.sqrt(len(gam)) + 0.005


def test_coagglomeration_independent_industries_near_zero_and_positive_when_together():
    rng = np.random.default_rng(2)
    n_areas = 10
    base_area = rng.integers(0, n_areas, 2000)
    base_emp = rng.integers(1, 50, 2000).astype(float)
    vals = []
    for _ in range(200):
        a1 = rng.integers(0, n_areas, 40)
        a2 = rng.integers(0, n_areas, 40)
        area = np.concatenate([base_area, a1, a2])
        emp = np.concatenate([base_emp, rng.integers(1, 30, 80).astype(float)])
        ind = np.array(["o"] * 2000 + ["p"] * 40 + ["q"] * 40, dtype=object)
        vals.append(indices.ellison_glaeser_coagglomeration(area, emp, ind, ["p", "q"]))
    vals = np.array(vals)
    assert abs(vals.mean()) < 3 * vals.std() / np.sqrt(len(vals)) + 0.005
    # both industries in the same two areas: strongly co-agglomerated
    area = np.concatenate([base_area, np.repeat([0, 1], 20), np.repeat([0, 1], 20)])
    emp = np.concatenate([base_emp, np.full(80, 10.0)])
    ind = np.array(["o"] * 2000 + ["p"] * 40 + ["q"] * 40, dtype=object)
    assert indices.ellison_glaeser_coagglomeration(area, emp, ind, ["p", "q"]) > 0.1


def test_centrography_matches_pointpats():
    from pointpats import centrography as cg

    rng = np.random.default_rng(3)
    xy = rng.multivariate_normal(
        [1000, 2000], [[400**2, 0.6 * 400 * 150], [0.6 * 400 * 150, 150**2]], 300
    )
    np.testing.assert_allclose(indices.mean_center(xy), cg.mean_center(xy), rtol=1e-12)
    assert indices.standard_distance(xy) == pytest.approx(cg.std_distance(xy), rel=1e-9)
    w = rng.random(300)
    np.testing.assert_allclose(
        indices.mean_center(xy, weights=w), cg.weighted_mean_center(xy, w), rtol=1e-12
    )
    el = indices.standard_deviational_ellipse(xy)
    major, minor, ang = cg.ellipse(xy)
    assert el.major_m == pytest.approx(major, rel=1e-9)
    assert el.minor_m == pytest.approx(minor, rel=1e-9)
    # same axis direction (angles equal modulo pi)
    assert np.sin(el.angle_rad - ang) == pytest.approx(0, abs=1e-9)
    elw = indices.standard_deviational_ellipse(xy, weights=w)
    mw, nw, _ = cg.ellipse(xy, weights=w)
    assert (elw.major_m, elw.minor_m) == pytest.approx((mw, nw), rel=1e-9)
    # north-east tilt: ArcGIS rotation (clockwise from north) between 0 and 90
    assert 0 < el.rotation_deg < 90
    assert el.to_polygon().area == pytest.approx(np.pi * el.major_m * el.minor_m, rel=0.01)


def test_indices_errors():
    with pytest.raises(InvalidInputError, match=">= 0"):
        indices.location_quotient([[1, -1], [2, 3]])
    with pytest.raises(InvalidInputError, match="one bool per plant"):
        indices.ellison_glaeser(["a", "b"], [1.0, 2.0], [False, False])
