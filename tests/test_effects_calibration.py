"""Calibration of the effects estimator over many simulated cities (slow).

* influence radius: planted reaches of 500, 1,000 and 1,500 m (linear profile, footprint
  distance), 50 seeds each: the radius lies within one ring width (500 m) of the reach in at
  least 90 % of the seeds, and its interval covers the reach in at least 90 %;
* size: the pooled p-value (wild cluster bootstrap, ring chosen from the data) under no effect,
  200 null cities with 6-12 clusters: false-positive rate at alpha 0.05 within [0.03, 0.07],
  and the radius claimed (a bin significant) in at most 7 %;
* randomisation inference (placebo openings) on the same 200 null cities never over-rejects
  (measured 0.020: conservative);
* power on the built-in Ningbo planted scenario (planted clusters, registry years), and no
  claim on its null twin; the per-bin t of the null twins is centred (30 seeds).

Measured numbers are recorded in ``benchmarks/results/effects.md``. Run with
``pytest -m slow tests/test_effects_calibration.py -s``.
"""

from __future__ import annotations

import numpy as np
import pytest

from clusterscape.effects.did import amenity_effects

pytestmark = pytest.mark.slow

ALPHA = 0.05


@pytest.mark.parametrize("reach", [500.0, 1000.0, 1500.0])
def test_radius_recovers_the_planted_reach(reach: float) -> None:
    from test_effects import simulate_city

    radii, covered = [], []
    for seed in range(50):
        est, clusters, t0 = simulate_city(
            20_000 + seed, n_clusters=12, side_m=40_000.0, radius_m=reach, effects={"hotel": 3.0}
        )
        res = amenity_effects(est, clusters, opened=t0, bootstrap=999, seed=seed)
        r = res.summary["influence_radius_m"]
        lo, hi = res.summary["influence_radius_ci"]
        radii.append(r)
        covered.append(bool(np.isfinite(r) and lo <= reach <= hi))
    radii_a = np.asarray(radii)
    near = np.isfinite(radii_a) & (np.abs(radii_a - reach) <= 500.0)
    values, counts = np.unique(radii_a[np.isfinite(radii_a)], return_counts=True)
    print(
        f"reach {reach:g} m, 50 seeds: within one ring {near.mean():.2f}, "
        f"CI coverage {np.mean(covered):.2f}, radii {dict(zip(values, counts, strict=True))}, "
        f"NaN {int(np.isnan(radii_a).sum())}"
    )
    assert near.mean() >= 0.9
    assert np.mean(covered) >= 0.9


def test_false_positive_rate_on_null_cities_with_few_clusters() -> None:
    from test_effects import simulate_city

    p, claimed = [], []
    for seed in range(200):
        g = 6 + seed % 7  # 6..12 clusters
        est, clusters, t0 = simulate_city(
            30_000 + seed, n_clusters=g, side_m=30_000.0, effects={"hotel": 0.0}
        )
        res = amenity_effects(est, clusters, opened=t0, bootstrap=999, seed=seed)
        p.append(res.summary["p_value"])
        claimed.append(bool(np.isfinite(res.summary["influence_radius_m"])))
    fpr = float(np.mean(np.asarray(p) < ALPHA))
    print(f"200 null cities, 6-12 clusters: FPR {fpr:.3f}, radius claimed {np.mean(claimed):.3f}")
    assert 0.03 <= fpr <= 0.07
    assert np.mean(claimed) <= 0.07


def test_randomisation_inference_holds_its_size_on_null_cities() -> None:
    """Placebo openings never over-reject: measured FPR 0.020 (radius claimed 0.015) on these
    200 cities, below the wild bootstrap's 0.045 - the permutation test is conservative here,
    so the bar is the size (at most 0.07), with at least one rejection (it is not inert)."""
    from test_effects import simulate_city

    p, claimed = [], []
    for seed in range(200):
        g = 6 + seed % 7  # 6..12 clusters
        est, clusters, t0 = simulate_city(
            30_000 + seed, n_clusters=g, side_m=30_000.0, effects={"hotel": 0.0}
        )
        res = amenity_effects(
            est, clusters, opened=t0, inference="randomisation", placebos=999, seed=seed
        )
        assert res.summary["inference"].startswith("randomisation inference")
        p.append(res.summary["p_value"])
        claimed.append(bool(np.isfinite(res.summary["influence_radius_m"])))
    fpr = float(np.mean(np.asarray(p) < ALPHA))
    print(
        f"200 null cities, 6-12 clusters, placebo openings: FPR {fpr:.3f}, "
        f"radius claimed {np.mean(claimed):.3f}"
    )
    assert 0.0 < fpr <= 0.07
    assert np.mean(claimed) <= 0.07


def _ningbo(scenario: str, seed: int):
    datasets = pytest.importorskip("clusterscape.datasets")
    study = datasets.ningbo(scenario=scenario, seed=seed)
    est = study.establishments.assign(function=study.truth["membership"]["function"].to_numpy())
    return est, study.truth["clusters"].to_crs(32651)


def test_power_on_the_ningbo_planted_scenario_and_nothing_on_its_null() -> None:
    """Planted hotels (reach 1,500 m) and malls (1,000 m) at the 7 planted clusters."""
    reach = {"hotel": 1500.0, "mall": 1000.0}
    hits: dict[str, list[bool]] = {"hotel": [], "mall": []}
    radius_ok: dict[str, list[bool]] = {"hotel": [], "mall": []}
    false: list[bool] = []
    for seed in range(10):
        for scenario in ("planted", "null"):
            est, clusters = _ningbo(scenario, seed)
            for amenity in ("hotel", "mall"):
                res = amenity_effects(est, clusters, amenity=amenity, opened=clusters["opened"])
                s = res.summary
                if scenario == "planted":
                    hits[amenity].append(s["p_value"] < ALPHA)
                    radius_ok[amenity].append(
                        bool(np.isfinite(s["influence_radius_m"]))
                        and abs(s["influence_radius_m"] - reach[amenity]) <= 500.0
                    )
                else:
                    false.append(s["p_value"] < ALPHA or bool(np.isfinite(s["influence_radius_m"])))
    power = {k: float(np.mean(v)) for k, v in hits.items()}
    rad = {k: float(np.mean(v)) for k, v in radius_ok.items()}
    print(f"Ningbo planted, 10 seeds: power {power}, radius within 500 m {rad}")
    print(f"Ningbo null, 10 seeds x 2 amenities: any claim {np.mean(false):.2f}")
    assert power["hotel"] >= 0.8 and power["mall"] >= 0.8
    assert np.mean(false) <= 0.2


def test_null_twins_per_bin_t_is_centred() -> None:
    """The per-bin t on the Ningbo null twins, at the planted clusters, averages near zero.

    An earlier reading of a mean +0.9 came from a handful of seeds. Over seeds 10-39 the mean
    per-bin t was within +-0.28 (hotel) and +-0.27 (mall); the remaining lean of the mall's
    first bin (+0.46 over seeds 0-39) is partly the null twin's design: its extra malls keep the
    planted rows' years (cluster opening + 2..6), placed by the background density, which is
    higher near the central clusters than in their control rings; giving those rows
    independent years moved that mean from +0.46 to +0.29.
    """
    t = {"hotel": [], "mall": []}
    for seed in range(10, 40):
        est, clusters = _ningbo("null", seed)
        for amenity in t:
            res = amenity_effects(
                est, clusters, amenity=amenity, opened=clusters["opened"], bootstrap=99
            )
            bd = res.by_distance
            t[amenity].append((bd["estimate"] / bd["se"]).to_numpy())
    for amenity, rows in t.items():
        mean_t = np.mean(rows, axis=0)
        print(f"Ningbo null twins, seeds 10-39, {amenity}: mean per-bin t {np.round(mean_t, 2)}")
        assert np.all(np.abs(mean_t) <= 0.5)
