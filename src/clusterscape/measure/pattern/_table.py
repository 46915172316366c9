"""One table of concentration statistics for the pipeline (``concentration.csv``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clusterscape._validation import as_xy, check_positive
from clusterscape.errors import InvalidInputError
from clusterscape.measure.pattern._colocation import colocation_matrix
from clusterscape.measure.pattern._envelope import envelope
from clusterscape.measure.pattern._kd import kd_envelope
from clusterscape.measure.pattern._kfft import _coverage
from clusterscape.measure.pattern._kfunc import _check_weights, _weighted_k, _weighted_numerator
from clusterscape.measure.pattern._window import Window, as_window, simulate_csr

__all__ = ["concentration_table"]

COLUMNS = [
    "statistic",
    "null",
    "r_min_m",
    "r_max_m",
    "verdict",
    "value",
    "p_value",
    "n_used",
    "n_total",
    "nsim",
    "note",
]
MAX_L_POINTS = 3000
MAX_KD_POINTS = 2000
MAX_KINHOM_POINTS = 2000


def _range(r: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    if not mask.any():
        return float("nan"), float("nan")
    return float(r[mask].min()), float(r[mask].max())


def _in_population(creative: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Boolean mask of population rows that are also creative points (exact coordinates)."""
    c = pd.DataFrame(creative, columns=["x", "y"]).drop_duplicates()
    p = pd.DataFrame(population, columns=["x", "y"])
    return p.merge(c.assign(_c=True), on=["x", "y"], how="left")["_c"].fillna(False).to_numpy(bool)


def _raster_intensity(pop: np.ndarray, win: Window, sigma: float, at: np.ndarray) -> np.ndarray:
    """Edge-corrected Gaussian kernel intensity of ``pop`` (points per m²) at the points ``at``.

    Pixel version of spatstat ``density.ppp(diggle = FALSE)`` with uniform edge correction:
    counts on a grid of step min(σ/4, extent/512), Gaussian smoothing, divided by the smoothed
    window coverage, read at the points by bilinear interpolation. Returns (λ, pixel size).
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    xmin, ymin, xmax, ymax = win.bounds
    step = min(sigma / 4.0, max(xmax - xmin, ymax - ymin) / 512.0)
    nx = int(np.ceil((xmax - xmin) / step)) + 1
    ny = int(np.ceil((ymax - ymin) / step)) + 1
    ix = np.clip(((pop[:, 0] - xmin) / step).astype(np.int64), 0, nx - 1)
    iy = np.clip(((pop[:, 1] - ymin) / step).astype(np.int64), 0, ny - 1)
    counts = np.bincount(iy * nx + ix, minlength=nx * ny).reshape(ny, nx).astype(float)
    cov = _coverage(win, xmin, ymin, step, nx, ny)
    s = sigma / step
    dens = gaussian_filter(counts, s, mode="constant", truncate=4.0) / step**2
    edge = gaussian_filter(cov, s, mode="constant", truncate=4.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = np.where(edge > 1e-3, dens / edge, 0.0)
    # pixel (i, j) holds points of [x0 + j step, x0 + (j+1) step): centres at +0.5
    rows = (at[:, 1] - ymin) / step - 0.5
    cols = (at[:, 0] - xmin) / step - 0.5
    out = map_coordinates(lam, [rows, cols], order=1, mode="nearest")
    floor = 1e-3 * len(pop) / win.area_m2  # guard against 0 far from every point
    return np.asarray(np.maximum(out, floor))


ALPHA = 0.05


def _mad_band(obs: np.ndarray, sims: np.ndarray, ref: np.ndarray, alpha: float = ALPHA):
    """Maximum-absolute-deviation test and its global band, one decision for both.

    T = max_r |f − ref| (NaN r values skipped), p = (1 + #{T_sim >= T_obs}) / (nsim + 1)
    (spatstat ``mad.test``); the band is ref ± the k-th largest simulated T with
    k = floor(alpha (nsim + 1)) (spatstat ``envelope(global = TRUE, nrank = k)``), so the
    observed curve leaves the band exactly when p <= alpha. Returns (p, lo, hi, verdict, T).
    """
    import warnings

    nsim = len(sims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t_obs = float(np.nanmax(np.abs(obs - ref)))
        t_sim = np.nanmax(np.abs(sims - ref), axis=1)
    t_sim = np.where(np.isfinite(t_sim), t_sim, -np.inf)
    k = max(1, int(np.floor(alpha * (nsim + 1) + 1e-9)))
    dev = float(np.sort(t_sim)[::-1][min(k, nsim) - 1])
    lo, hi = ref - dev, ref + dev
    if not np.isfinite(t_obs):
        return float("nan"), lo, hi, "no departure", t_obs
    p = (1 + int((t_sim >= t_obs).sum())) / (nsim + 1)
    if p > alpha:
        return p, lo, hi, "no departure", t_obs
    up = np.nanmax(obs - ref)
    down = np.nanmax(ref - obs)
    return p, lo, hi, ("clustered" if up >= down else "dispersed"), t_obs


def _window_diameter(win: Window) -> float:
    """Largest distance between two points of the window (spatstat ``diameter.owin``): the
    largest distance between vertices of its convex hull."""
    from scipy.spatial.distance import pdist

    hull = np.asarray(win.geom.convex_hull.exterior.coords)
    return float(pdist(hull).max()) if len(hull) > 1 else 0.0


def _kinhom_border(pts: np.ndarray, win: Window, r: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Kinhom, border correction, renormalised (as pattern.k_inhom), without re-validation."""
    u = 1.0 / lam
    num, counts = _weighted_numerator(pts, win, r, "border", u)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(counts > 0, (win.area_m2 / u.sum()) * num / counts, np.nan)
    return np.asarray(k)


def _weighted_l_envelope(
    pts: np.ndarray, w: np.ndarray, win: Window, r: np.ndarray, nsim: int, rng: Any
) -> Any:
    """Border L of the multiset (stack locations ``pts``, sizes ``w``) and its CSR simulations:
    the stack locations uniform in the window, each keeping its size."""
    from types import SimpleNamespace

    sims = simulate_csr(win, len(pts), nsim=nsim, seed=int(rng.integers(2**31)))
    obs = _l_of(_weighted_k(pts, win, r, "border", w))
    curves = np.vstack([_l_of(_weighted_k(s, win, r, "border", w)) for s in sims])
    return SimpleNamespace(obs=obs, sims=curves, theo=r.copy())


def _l_of(k: np.ndarray) -> np.ndarray:
    return np.asarray(np.sqrt(np.clip(k, 0, None) / np.pi))


def concentration_table(
    creative_xy: Any,
    population_xy: Any,
    window: Any,
    *,
    r_max_m: float | None = None,
    nsim: int = 99,
    seed: int | None = 0,
    creative_weights: Any = None,
) -> pd.DataFrame:
    """Do creative establishments concentrate? One row per statistic, each against its null.

    In every row one test decides both ``verdict`` and ``p_value``: "no departure" unless
    p_value <= 0.05, else "clustered" or "dispersed" by the side of the largest departure;
    ``r_min_m``–``r_max_m`` is the range where the curve leaves that test's global band.

    Rows
    ----
    ``L`` (Besag's L, border correction) — null: CSR in ``window``; maximum absolute
    deviation test from the theoretical L(r) = r (spatstat ``mad.test``) with its global band
    (spatstat ``envelope(global = TRUE)``, rank k = 0.05 (nsim + 1)). Above 3,000 creative
    points a seeded random subsample of 3,000 is used (uniform thinning leaves L unchanged in
    expectation). r from 0 to spatstat's rule, min(shorter side of the window's bounding box /
    4, sqrt(1000/(πλ))), unless ``r_max_m`` is given.
    ``Kd`` (Duranton & Overman 2005) — null: random labelling among all establishments; the
    global rank envelope at 5 % and its extreme-rank-length p-value (Myllymäki et al. 2017).
    The bandwidth is dbmss ``Kdhat``'s rule (bw.nrd0 of the pair distances <= 2 r_max) on the
    *full* creative sample, also when a seeded subsample of 2,000 cases is simulated (above
    2,000 creative points), so Kd does not move with the subsample size. r from 0 to a third
    of the window's diameter (dbmss ``MaxRange = "ThirdW"``) unless ``r_max_m`` is given.
    ``CLQ creative->creative`` (Leslie & Kronenfeld 2011) — null: random relabelling of all
    establishments, two-sided permutation p-value; r columns are empty (nearest neighbours).
    ``L_inhom (Kinhom)`` (Baddeley, Møller & Waagepetersen 2000), border correction,
    renormalised — null: random labelling among all establishments. The intensity of creative
    firms under that null is their share times the Gaussian kernel intensity of all
    establishments (pixel estimate with uniform edge correction, bandwidth = the L row's
    r_max); each simulation draws as many points from all establishments with the same
    intensity surface. Maximum absolute deviation test from the mean of all nsim + 1 curves
    (the estimated intensity does not make L_inhom(r) = r exactly) and its global band. Above
    2,000 creative points a seeded subsample of 2,000 is used.

    Border estimates are NaN at distances where no point is far enough from the boundary; the
    tests skip those distances.

    Parameters
    ----------
    creative_xy : (n, 2) array or projected GeoSeries
        Creative establishments, metres, inside ``window``.
    population_xy : (N, 2) array or projected GeoSeries
        All establishments (creative included or not; creative rows are recognised by
        identical coordinates), metres.
    window : polygon window (e.g. the city or a district outline, projected).
    r_max_m : float, optional
        Largest distance examined (m) by every row; default the window rules above.
    nsim : int, default 99
        Simulations / permutations per statistic.
    seed : int or None, default 0
    creative_weights : array of float, optional
        Rows stacked at each creative location (``stack="weight"``: ``creative_xy`` holds one
        point per stack). The L row is then the K of the multiset (pairs i ≠ j weighted
        w_i w_j, pairs inside a stack excluded, intensity from the total weight; see
        ``pattern.k_function(weights=...)``) against CSR of the stack locations with the
        sizes kept; Kd is the weighted (Kemp) version, the sizes shuffled over the drawn
        sites. CLQ and L_inhom have no weighted form here and use the stack locations once
        (as ``stack="collapse"``), said in their ``note``.

    Returns
    -------
    DataFrame
        Columns ``statistic, null, r_min_m, r_max_m, verdict, value, p_value, n_used,
        n_total, nsim, note``; ``verdict`` is "clustered", "dispersed" or "no departure".
        ``attrs["curves"]`` holds the L, Kd and L_inhom curves with their global bands (``statistic,
        r_m, observed, theo, lo, hi``) for figures.
    """
    from clusterscape.measure.pattern._envelope import _default_r
    from clusterscape.measure.pattern._kd import _bandwidth

    caller = "pattern.concentration_table"
    cre = as_xy(creative_xy, caller=caller, min_points=3)
    pop = as_xy(population_xy, caller=caller, min_points=4)
    win = as_window(window, caller=caller)
    if r_max_m is not None:
        check_positive(r_max_m, "r_max_m", caller=caller)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    n = len(cre)
    wts = None if creative_weights is None else _check_weights(creative_weights, n, caller=caller)
    collapsed = "" if wts is None else "; stacks counted once (no weighted form)"

    # --- L with CSR envelope (points outside the window are an input error, not dropped)
    pick_l = None if n <= MAX_L_POINTS else rng.choice(n, MAX_L_POINTS, replace=False)
    use = cre if pick_l is None else cre[pick_l]
    r = _default_r(win, len(use), r_max_m, caller=caller, nr=129)
    r_l = float(r[-1])
    if wts is None:
        env = envelope(
            use, win, r, fun="L", correction="border", nsim=nsim, seed=int(rng.integers(2**31))
        )
    else:
        env = _weighted_l_envelope(use, wts if pick_l is None else wts[pick_l], win, r, nsim, rng)
    p_l, lo_l, hi_l, verdict, _t = _mad_band(env.obs, env.sims, env.theo)
    side = env.obs > hi_l if verdict == "clustered" else env.obs < lo_l
    lo, hi = _range(r, side & (verdict != "no departure"))
    rows.append(
        {
            "statistic": "L (Besag), border correction",
            "null": "CSR in window",
            "r_min_m": lo,
            "r_max_m": hi,
            "verdict": verdict,
            "value": float(np.nanmax(env.obs - r)),
            "p_value": p_l,
            "n_used": len(use),
            "n_total": n,
            "nsim": nsim,
            "note": f"value = max(L(r) - r) in m over r <= {r_l:.0f} m; p = MAD test from "
            "L(r) = r; band = its global envelope"
            + ("" if wts is None else "; stacks weighted by their rows (multiset K)"),
        }
    )

    # --- Kd, random labelling among all establishments
    if len(pop) <= len(cre):
        raise InvalidInputError(
            f"{caller}: population_xy ({len(pop)}) must hold all establishments, more than the "
            f"{len(cre)} creative ones."
        )
    r_kd = float(r_max_m) if r_max_m is not None else _window_diameter(win) / 3.0
    rk = np.linspace(0.0, r_kd, 65)
    bw = _bandwidth(cre, r_kd, int(rng.integers(2**31)))  # full sample, not the subsample
    pick_kd = None if n <= MAX_KD_POINTS else rng.choice(n, MAX_KD_POINTS, replace=False)
    cases = cre if pick_kd is None else cre[pick_kd]
    kd_w = None if wts is None else (wts if pick_kd is None else wts[pick_kd])
    res = kd_envelope(
        cases, pop, rk, nsim=nsim, seed=int(rng.integers(2**31)), binned=True, bandwidth_m=bw,
        weights=kd_w,
    )  # fmt: skip
    mask = res.localisation > 0 if res.verdict == "clustered" else res.dispersion > 0
    lo, hi = _range(rk, mask)
    rows.append(
        {
            "statistic": "Kd (Duranton-Overman)",
            "null": "random labelling among all establishments",
            "r_min_m": lo,
            "r_max_m": hi,
            "verdict": res.verdict,
            "value": res.gamma if res.verdict != "dispersed" else -res.psi,
            "p_value": res.p_value,
            "n_used": len(cases),
            "n_total": n,
            "nsim": nsim,
            "note": f"value = localisation index Gamma (1/m summed over r <= {r_kd:.0f} m); "
            f"bandwidth {res.bandwidth_m:.0f} m (full sample); p = global rank envelope test"
            + ("" if wts is None else "; pairs weighted by stack rows (Kemp)"),
        }
    )

    # --- CLQ creative -> creative over all establishments
    inpop = _in_population(cre, pop)
    others = pop[~inpop]
    pts = np.vstack([cre, others])
    lab = np.array(["creative"] * n + ["other"] * len(others), dtype=object)
    df = colocation_matrix(pts, lab, permutations=nsim, seed=int(rng.integers(2**31)))
    row = df[(df["a"] == "creative") & (df["b"] == "creative")].iloc[0]
    clq, p = float(row["clq"]), float(row["p_value"])
    verdict = ("clustered" if clq > 1 else "dispersed") if p <= ALPHA else "no departure"
    rows.append(
        {
            "statistic": "CLQ creative->creative",
            "null": "random labelling of all establishments",
            "r_min_m": float("nan"),
            "r_max_m": float("nan"),
            "verdict": verdict,
            "value": clq,
            "p_value": p,
            "n_used": n,
            "n_total": n,
            "nsim": nsim,
            "note": "nearest-neighbour co-location quotient; ties split equally; p two-sided"
            + collapsed,
        }
    )
    # --- inhomogeneous L: intensity of all establishments, random labelling envelope
    pick = (
        np.arange(n) if n <= MAX_KINHOM_POINTS else rng.choice(n, MAX_KINHOM_POINTS, replace=False)
    )
    ki_pts = cre[pick]
    lam_both = _raster_intensity(pop, win, r_l, np.vstack([pop, ki_pts]))
    lam_pop, lam_at = lam_both[: len(pop)], lam_both[len(pop) :]
    m = len(ki_pts)
    share = m / len(pop)  # creative intensity under random labelling: share × λ_pop
    ri = r
    obs_i = _l_of(_kinhom_border(ki_pts, win, ri, share * lam_at))
    rng_i = np.random.default_rng(int(rng.integers(2**31)))
    sims_i = np.empty((nsim, len(ri)))
    for s in range(nsim):
        take = rng_i.choice(len(pop), m, replace=False)
        sims_i[s] = _l_of(_kinhom_border(pop[take], win, ri, share * lam_pop[take]))
    # Under random labelling L_inhom need not equal r (the kernel intensity is an estimate),
    # so the reference is the mean of all nsim + 1 curves (exchangeable under the null).
    with np.errstate(invalid="ignore"):
        mean_i = np.vstack([obs_i, sims_i]).mean(axis=0)
    p_i, lo_i, hi_i, verdict, _t = _mad_band(obs_i, sims_i, mean_i)
    side = obs_i > hi_i if verdict == "clustered" else obs_i < lo_i
    lo, hi = _range(ri, side & (verdict != "no departure"))
    rows.append(
        {
            "statistic": "L_inhom (Kinhom), border correction",
            "null": "random labelling among all establishments",
            "r_min_m": lo,
            "r_max_m": hi,
            "verdict": verdict,
            "value": float(np.nanmax(obs_i - mean_i)),
            "p_value": p_i,
            "n_used": m,
            "n_total": n,
            "nsim": nsim,
            "note": "value = max(L_inhom(r) - mean L_inhom(r)) in m; intensity = "
            f"kernel density of all establishments (sigma {r_l:.0f} m) x creative share; "
            "p = MAD test from the mean curve; band = its global envelope" + collapsed,
        }
    )

    table = pd.DataFrame(rows, columns=COLUMNS)
    # The curves behind the L, Kd and L_inhom rows, for figures: observed, null and global band.
    table.attrs["curves"] = pd.concat(
        [
            pd.DataFrame({"statistic": "L (Besag), border correction", "r_m": r, "observed": env.obs,
                          "theo": env.theo, "lo": lo_l, "hi": hi_l}),
            pd.DataFrame({"statistic": "Kd (Duranton-Overman)", "r_m": rk, "observed": res.kd,
                          "theo": np.nan, "lo": res.lo_global, "hi": res.hi_global}),
            pd.DataFrame({"statistic": "L_inhom (Kinhom), border correction", "r_m": ri,
                          "observed": obs_i, "theo": mean_i, "lo": lo_i, "hi": hi_i}),
        ],
        ignore_index=True,
    )  # fmt: skip
    return table
