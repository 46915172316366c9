"""GeoDetector: the factor, interaction, risk and ecological detectors, with OPGD discretisation.

Definitions (Wang et al. 2010; Wang & Xu 2017; Wang, Zhang & Fu 2016). For a response y over N
units stratified by a factor X into L strata h of N_h units with mean Ȳ_h and population
variance σ_h² (σ² over all units):

* q = 1 − Σ_h N_h σ_h² / (N σ²), the share of the variance of y explained by the strata.
* F = ((N − L)/(L − 1)) · q/(1 − q) follows the noncentral F(L − 1, N − L; λ) with
  λ = (Σ_h Ȳ_h² − (Σ_h √N_h Ȳ_h)² / N) / σ² (Wang, Zhang & Fu 2016, as R's ``GD``/``geodetector``);
  ``p_value`` is its upper tail at the observed F.
* interaction: q(X1∩X2) of the strata crossed, against q(X1) and q(X2): below both →
  weaken-nonlinear; between → weaken-uni; above both but below q(X1) + q(X2) → enhance-bi;
  equal to the sum (relative 1e-9) → independent; above the sum → enhance-nonlinear.
* risk detector: Welch t-tests of the difference of mean y between every pair of strata of a factor.
* ecological detector: F = [N (N − 1) SSW_1] / [N (N − 1) SSW_2] = SSW_1 / SSW_2 (the within-strata
  sums of squares of two factors over the same N units) against F(N − 1, N − 1); ``p_value`` is the
  upper tail, so a small p says factor 2 explains significantly more of y than factor 1.

Continuous factors are discretised by OPGD (Song et al. 2020): every method in ``methods``
(equal, natural, quantile, geometric, sd) and every number of strata in ``n_strata`` is tried,
and the one with the largest q is kept. Break rules (intervals closed on the right):

* equal: L equal intervals between the minimum and the maximum.
* quantile: breaks at the j/L quantiles (repeated breaks merge, so ties can give fewer strata).
* natural: Fisher–Jenks optimal breaks (least within-class squared deviations), exact on up to
  2,000 values, else on 2,000 evenly spaced order statistics of the sorted values.
* geometric: breaks in geometric progression between the minimum and the maximum of
  x − min(x) + 1 (so zero and negative values are allowed).
* sd: L − 1 breaks one standard deviation apart, centred on the mean (e.g. L = 4: mean − sd, mean,
  mean + sd), dropped if outside the data.

References
----------
Wang J.F., Li X.H., Christakos G., Liao Y.L., Zhang T., Gu X. & Zheng X.Y. (2010) Geographical
detectors-based health risk assessment and its application in the neural tube defects study of
the Heshun region, China. *IJGIS* 24(1):107–127.
Wang J.F., Zhang T.L. & Fu B.J. (2016) A measure of spatial stratified heterogeneity.
*Ecological Indicators* 67:250–256.
Wang J.F. & Xu C.D. (2017) Geodetector: principle and prospective. *Acta Geographica Sinica*
72(1):116–134.
Song Y., Wang J., Ge Y. & Xu C. (2020) An optimal parameters-based geographical detector model
enhances geographic characteristics of explanatory variables for spatial heterogeneity analysis.
*GIScience & Remote Sensing* 57(5):593–610.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, pairwise

import numpy as np
import pandas as pd
from numba import njit
from numpy.typing import ArrayLike
from scipy import stats

from clusterscape._validation import (
    check_choice,
    check_columns,
    check_positive,
    check_table_factors,
)
from clusterscape.errors import InvalidInputError

__all__ = ["GeoDetectorResult", "geodetector", "interaction_type", "q_statistic"]

METHODS = ("equal", "natural", "quantile", "geometric", "sd")
DEFAULT_N_STRATA = (3, 4, 5, 6, 7)
_NATURAL_MAX = 2000
_INDEPENDENT_RTOL = 1e-9


@dataclass(frozen=True, slots=True)
class GeoDetectorResult:
    """The four detectors' tables.

    Attributes
    ----------
    factors : pandas.DataFrame
        Factor detector, one row per factor: ``factor``, ``q``, ``p_value``, ``n_strata``,
        ``method`` ("categorical" or the OPGD method chosen), sorted by q descending.
    interaction : pandas.DataFrame
        Every pair: ``factor_1``, ``factor_2``, ``q_1``, ``q_2``, ``q_interaction`` (q(X1∩X2)),
        ``type`` (enhance-bi, enhance-nonlinear, weaken-uni, weaken-nonlinear, independent).
    risk : pandas.DataFrame
        Every pair of strata of every factor: ``factor``, ``stratum_1``, ``stratum_2``,
        ``mean_1``, ``mean_2``, ``t``, ``df``, ``p_value`` (two-sided Welch), ``significant``.
    risk_means : pandas.DataFrame
        Every stratum: ``factor``, ``stratum``, ``n``, ``mean``.
    ecological : pandas.DataFrame
        Every pair: ``factor_1``, ``factor_2``, ``f``, ``p_value``, ``significant``.
    discretisation : pandas.DataFrame
        OPGD's search: ``factor``, ``method``, ``n_strata`` (asked), ``q``, ``chosen``.
    strata : pandas.DataFrame
        The stratum label of every used row for every factor (index = the input's).
    params : Mapping
        alpha, methods, n_strata, continuous factors, rows used and dropped.
    """

    factors: pd.DataFrame
    interaction: pd.DataFrame
    risk: pd.DataFrame
    risk_means: pd.DataFrame
    ecological: pd.DataFrame
    discretisation: pd.DataFrame
    strata: pd.DataFrame
    params: Mapping[str, object] = field(default_factory=dict)


def _sums(y: np.ndarray, codes: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(codes, minlength=n_codes).astype(float)
    sums = np.bincount(codes, weights=y, minlength=n_codes)
    return counts, sums


def _ssw(yc: np.ndarray, codes: np.ndarray, n_codes: int) -> float:
    """Within-strata sum of squares of centred y (Σ y² − Σ_h S_h²/N_h)."""
    counts, sums = _sums(yc, codes, n_codes)
    keep = counts > 0
    return float(yc @ yc - (sums[keep] ** 2 / counts[keep]).sum())


def q_statistic(y: ArrayLike, strata: ArrayLike) -> float:
    """The q statistic, q = 1 − SSW/SST of ``y`` stratified by ``strata`` (Wang, Zhang & Fu 2016)."""
    yv = np.asarray(y, dtype=float).ravel()
    codes, uniques = pd.factorize(np.asarray(strata), use_na_sentinel=False)
    yc = yv - yv.mean()
    sst = float(yc @ yc)
    if sst == 0:
        return float("nan")
    return 1.0 - _ssw(yc, codes.astype(np.int64), len(uniques)) / sst


def _q_and_p(y: np.ndarray, codes: np.ndarray, n_codes: int) -> tuple[float, float, int]:
    n = y.size
    counts, sums = _sums(y, codes, n_codes)
    keep = counts > 0
    counts, sums = counts[keep], sums[keep]
    n_strata = int(keep.sum())
    yc = y - y.mean()
    sst = float(yc @ yc)
    csum = sums - counts * y.mean()
    q = 1.0 - float(yc @ yc - (csum**2 / counts).sum()) / sst
    q = min(max(q, 0.0), 1.0)
    if n_strata < 2 or n_strata >= n:
        return q, float("nan"), n_strata
    means = sums / counts
    var = sst / n
    lam = (float((means**2).sum()) - float((np.sqrt(counts) * means).sum()) ** 2 / n) / var
    if q >= 1.0:
        return q, 0.0, n_strata
    f = (n - n_strata) / (n_strata - 1) * q / (1.0 - q)
    p = float(stats.ncf.sf(f, n_strata - 1, n - n_strata, max(lam, 0.0)))
    return q, min(max(p, 0.0), 1.0), n_strata


def interaction_type(q1: float, q2: float, q12: float) -> str:
    """Classify q(X1∩X2) against q(X1) and q(X2) (Wang & Xu 2017, table 1)."""
    total = q1 + q2
    if abs(q12 - total) <= _INDEPENDENT_RTOL * max(abs(total), 1e-300):
        return "independent"
    if q12 < min(q1, q2):
        return "weaken-nonlinear"
    if q12 <= max(q1, q2):
        return "weaken-uni"
    if q12 < total:
        return "enhance-bi"
    return "enhance-nonlinear"


@njit(cache=True)
def _fisher_jenks(values: np.ndarray, k_max: int) -> np.ndarray:
    """Fisher (1958) optimal partitions of sorted ``values`` into 2..k_max classes.

    Row k − 2 holds the k − 1 upper class bounds of the best k-class partition (NaN-padded);
    one dynamic programme serves every k.
    """
    n = values.shape[0]
    csum = np.zeros(n + 1)
    csq = np.zeros(n + 1)
    for i in range(n):
        csum[i + 1] = csum[i] + values[i]
        csq[i + 1] = csq[i] + values[i] * values[i]
    cost = np.full((k_max, n), np.inf)  # cost[c, j]: best SSD of values[0..j] in c + 1 classes
    back = np.zeros((k_max, n), dtype=np.int64)
    for j in range(n):
        s = csum[j + 1]
        cost[0, j] = csq[j + 1] - s * s / (j + 1)
    for c in range(1, k_max):
        for j in range(c, n):
            best = np.inf
            arg = c
            for i in range(c, j + 1):  # last class is values[i..j]
                m = j - i + 1
                s = csum[j + 1] - csum[i]
                tot = cost[c - 1, i - 1] + csq[j + 1] - csq[i] - s * s / m
                if tot < best:
                    best = tot
                    arg = i
            cost[c, j] = best
            back[c, j] = arg
    out = np.full((max(k_max - 1, 1), max(k_max - 1, 1)), np.nan)
    for k in range(2, k_max + 1):
        j = n - 1
        for c in range(k - 1, 0, -1):
            i = back[c, j]
            out[k - 2, c - 1] = values[i - 1]
            j = i - 1
    return out


def _breaks(
    x: np.ndarray, method: str, k: int, sorted_x: np.ndarray, jenks: np.ndarray | None = None
) -> np.ndarray:
    """Interior breaks (upper bounds of the first k − 1 classes) for one method."""
    lo, hi = float(sorted_x[0]), float(sorted_x[-1])
    inner: np.ndarray
    if method == "equal":
        inner = lo + (hi - lo) * np.arange(1, k) / k
    elif method == "quantile":
        inner = np.quantile(sorted_x, np.arange(1, k) / k)
    elif method == "natural":
        if jenks is None:
            jenks = _jenks_table(sorted_x, k)
        row = min(k - 2, jenks.shape[0] - 1)
        inner = jenks[row, : row + 1]
    elif method == "geometric":
        shift = 1.0 - lo
        top = hi + shift
        inner = np.exp(np.log(top) * np.arange(1, k) / k) - shift  # from 1 to top, shifted back
    else:  # sd
        mu, sd = float(x.mean()), float(x.std())
        inner = mu + sd * (np.arange(k - 1) - (k - 2) / 2.0)
    inner = np.unique(inner[(inner >= lo) & (inner < hi)])
    return inner


def _jenks_table(sorted_x: np.ndarray, k_max: int) -> np.ndarray:
    vals = sorted_x
    if vals.size > _NATURAL_MAX:
        vals = np.quantile(sorted_x, np.linspace(0, 1, _NATURAL_MAX), method="inverted_cdf")
    k_max = min(k_max, vals.size)
    return _fisher_jenks(np.ascontiguousarray(vals, dtype=np.float64), max(k_max, 2))


def _ssw_sorted(yy: float, prefix: np.ndarray, sorted_x: np.ndarray, inner: np.ndarray) -> float:
    """SSW of interval strata from prefix sums of centred y in x order: O(k log n)."""
    cut = np.r_[0, np.searchsorted(sorted_x, inner, side="right"), sorted_x.size]
    counts = np.diff(cut).astype(float)
    sums = np.diff(prefix[cut])
    keep = counts > 0
    return float(yy - (sums[keep] ** 2 / counts[keep]).sum())


def _strata_from_breaks(x: np.ndarray, inner: np.ndarray) -> np.ndarray:
    return np.searchsorted(inner, x, side="left").astype(np.int64)  # x <= b -> class of b


def _interval_labels(inner: np.ndarray, lo: float, hi: float) -> list[str]:
    edges = np.r_[lo, inner, hi]
    labels = []
    for a, b in pairwise(edges):
        left = "[" if a == lo else "("
        labels.append(f"{left}{a:.6g}, {b:.6g}]")
    return labels


def _is_continuous(col: pd.Series, max_k: int) -> bool:
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_integer_dtype(col):
        return bool(col.nunique() > max(max_k, 12))
    return bool(col.nunique() > max_k)


def geodetector(
    table: pd.DataFrame,
    y: str,
    factors: Sequence[str],
    *,
    interaction: bool = True,
    risk: bool = True,
    ecological: bool = True,
    continuous: Iterable[str] | None = None,
    methods: Sequence[str] = METHODS,
    n_strata: Sequence[int] = DEFAULT_N_STRATA,
    alpha: float = 0.05,
) -> GeoDetectorResult:
    """GeoDetector of ``y`` against ``factors`` (Wang et al. 2010), with OPGD for continuous factors.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per unit (e.g. grid cell), holding ``y`` and the factor columns.
    y : str
        The response column (numeric, e.g. creative establishments per km²).
    factors : sequence of str
        Factor columns. Categorical ones (text, booleans, categories, integers with at most 12
        levels) are used as strata as they are; continuous ones are discretised by OPGD.
    interaction, risk, ecological : bool, default True
        Run the interaction, risk and ecological detectors (the factor detector always runs).
    continuous : iterable of str, optional
        The factors to discretise; by default every numeric factor with more distinct values than
        the largest ``n_strata`` (integers: more than 12).
    methods : sequence of str, default ("equal", "natural", "quantile", "geometric", "sd")
        OPGD's discretisation methods.
    n_strata : sequence of int, default (3, 4, 5, 6, 7)
        OPGD's numbers of strata (R ``GD``'s default 3:7).
    alpha : float, default 0.05
        Significance level of the risk and ecological detectors.

    Returns
    -------
    GeoDetectorResult

    Notes
    -----
    Rows with a missing y or factor value are left out of every detector (all detectors see
    the same units); ``params["rows_dropped"]`` counts them.
    """
    caller = "geodetector"
    factors = check_table_factors(table, factors, caller=caller, kind="a pandas DataFrame")
    if len(set(factors)) != len(factors):
        raise InvalidInputError(f"{caller}: factors are repeated: {factors}.")
    if y in factors:
        raise InvalidInputError(f"{caller}: y ({y!r}) is also listed as a factor.")
    check_columns(table, [y, *factors], caller=caller)
    for m in methods:
        check_choice(m, set(METHODS), "methods", caller=caller)
    ks = sorted({int(k) for k in n_strata})
    if not ks or ks[0] < 2:
        raise InvalidInputError(f"{caller}: n_strata must be integers >= 2, got {list(n_strata)}.")
    check_positive(alpha, "alpha", caller=caller)
    if not pd.api.types.is_numeric_dtype(table[y]) or pd.api.types.is_bool_dtype(table[y]):
        raise InvalidInputError(
            f"{caller}: y column {y!r} must be numeric, it is {table[y].dtype}."
        )
    yv_all = table[y].to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(yv_all) & table[factors].notna().all(axis=1).to_numpy()
    used = table.loc[ok]
    yv = yv_all[ok]
    if yv.size < 3:
        raise InvalidInputError(
            f"{caller}: only {yv.size} rows have y and every factor; at least 3 are needed."
        )
    if np.ptp(yv) == 0:
        raise InvalidInputError(f"{caller}: y ({y!r}) is constant; there is nothing to explain.")
    if continuous is None:
        cont = {f for f in factors if _is_continuous(used[f], ks[-1])}
    else:
        cont = set(continuous)
        unknown = cont - set(factors)
        if unknown:
            raise InvalidInputError(f"{caller}: continuous names non-factors: {sorted(unknown)}.")
        for f in cont:
            if not pd.api.types.is_numeric_dtype(used[f]):
                raise InvalidInputError(f"{caller}: continuous factor {f!r} is not numeric.")

    codes: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    search_rows: list[dict[str, object]] = []
    factor_rows: list[dict[str, object]] = []
    yc = yv - yv.mean()
    sst = float(yc @ yc)
    for f in factors:
        if f in cont:
            x = used[f].to_numpy(dtype=float)
            order = np.argsort(x, kind="stable")
            sx = x[order]
            prefix = np.r_[0.0, np.cumsum(yc[order])]
            jenks = _jenks_table(sx, ks[-1]) if "natural" in methods else None
            best_q, method, inner, chosen = -np.inf, "", np.empty(0), -1
            for m in methods:
                for k in ks:
                    cand = _breaks(x, m, k, sx, jenks)
                    q = 1.0 - _ssw_sorted(sst, prefix, sx, cand) / sst
                    search_rows.append(
                        {"factor": f, "method": m, "n_strata": k, "q": q, "chosen": False}
                    )
                    if q > best_q + 1e-12:
                        best_q, method, inner, chosen = q, m, cand, len(search_rows) - 1
            search_rows[chosen]["chosen"] = True
            raw = _strata_from_breaks(x, inner)
            names = np.array(_interval_labels(inner, float(sx[0]), float(sx[-1])), dtype=object)
            c, uniq = pd.factorize(raw, sort=True)
            codes[f] = c.astype(np.int64)
            labels[f] = names[uniq][c]
        else:
            method = "categorical"
            c, uniq = pd.factorize(used[f], sort=True)
            codes[f] = c.astype(np.int64)
            labels[f] = np.asarray(uniq, dtype=object)[c]
        q, p, n_h = _q_and_p(yv, codes[f], int(codes[f].max()) + 1)
        factor_rows.append({"factor": f, "q": q, "p_value": p, "n_strata": n_h, "method": method})

    factor_table = (
        pd.DataFrame(factor_rows, columns=["factor", "q", "p_value", "n_strata", "method"])
        .sort_values("q", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    qs = {r["factor"]: float(r["q"]) for r in factor_rows}  # type: ignore[arg-type]

    inter_rows = []
    if interaction:
        for a, b in combinations(factors, 2):
            joint = codes[a] * (int(codes[b].max()) + 1) + codes[b]
            jc, ju = pd.factorize(joint)
            q12 = 1.0 - _ssw(yc, jc.astype(np.int64), len(ju)) / sst
            inter_rows.append(
                {
                    "factor_1": a,
                    "factor_2": b,
                    "q_1": qs[a],
                    "q_2": qs[b],
                    "q_interaction": q12,
                    "type": interaction_type(qs[a], qs[b], q12),
                }
            )
    inter_table = pd.DataFrame(
        inter_rows, columns=["factor_1", "factor_2", "q_1", "q_2", "q_interaction", "type"]
    )

    risk_rows: list[dict[str, object]] = []
    mean_rows: list[dict[str, object]] = []
    if risk:
        for f in factors:
            n_codes = int(codes[f].max()) + 1
            counts = np.bincount(codes[f], minlength=n_codes).astype(float)
            sums = np.bincount(codes[f], weights=yv, minlength=n_codes)
            sq = np.bincount(codes[f], weights=(yv - yv.mean()) ** 2, minlength=n_codes)
            means = sums / counts
            # sample variance per stratum from centred sums: Σ(y − ȳ)² − N_h(ȳ_h − ȳ)²
            dev = means - yv.mean()
            with np.errstate(divide="ignore", invalid="ignore"):
                var = (sq - counts * dev**2) / (counts - 1)
            var = np.maximum(var, 0.0)
            first_label = {}
            for h in range(n_codes):
                first_label[h] = labels[f][np.flatnonzero(codes[f] == h)[0]]
                mean_rows.append(
                    {"factor": f, "stratum": first_label[h], "n": int(counts[h]), "mean": means[h]}
                )
            for h1, h2 in combinations(range(n_codes), 2):
                n1, n2 = counts[h1], counts[h2]
                row: dict[str, object] = {
                    "factor": f,
                    "stratum_1": first_label[h1],
                    "stratum_2": first_label[h2],
                    "mean_1": means[h1],
                    "mean_2": means[h2],
                    "t": np.nan,
                    "df": np.nan,
                    "p_value": np.nan,
                    "significant": False,
                }
                if n1 >= 2 and n2 >= 2:
                    se2 = var[h1] / n1 + var[h2] / n2
                    if se2 > 0:
                        t = (means[h1] - means[h2]) / np.sqrt(se2)
                        df = se2**2 / (
                            (var[h1] / n1) ** 2 / (n1 - 1) + (var[h2] / n2) ** 2 / (n2 - 1)
                        )
                        p = float(2.0 * stats.t.sf(abs(t), df))
                        row.update(t=float(t), df=float(df), p_value=p, significant=p < alpha)
                risk_rows.append(row)
    risk_table = pd.DataFrame(
        risk_rows,
        columns=[
            "factor",
            "stratum_1",
            "stratum_2",
            "mean_1",
            "mean_2",
            "t",
            "df",
            "p_value",
            "significant",
        ],
    )
    means_table = pd.DataFrame(mean_rows, columns=["factor", "stratum", "n", "mean"])

    eco_rows = []
    if ecological:
        n = yv.size
        ssw = {f: _ssw(yc, codes[f], int(codes[f].max()) + 1) for f in factors}
        for a, b in combinations(factors, 2):
            f_stat = ssw[a] / ssw[b] if ssw[b] > 0 else np.inf
            p = float(stats.f.sf(f_stat, n - 1, n - 1))
            eco_rows.append(
                {"factor_1": a, "factor_2": b, "f": f_stat, "p_value": p, "significant": p < alpha}
            )
    eco_table = pd.DataFrame(
        eco_rows, columns=["factor_1", "factor_2", "f", "p_value", "significant"]
    )

    strata = pd.DataFrame({f: labels[f] for f in factors}, index=used.index)
    return GeoDetectorResult(
        factors=factor_table,
        interaction=inter_table,
        risk=risk_table,
        risk_means=means_table,
        ecological=eco_table,
        discretisation=pd.DataFrame(
            search_rows, columns=["factor", "method", "n_strata", "q", "chosen"]
        ),
        strata=strata,
        params={
            "y": y,
            "factors": factors,
            "continuous": sorted(cont),
            "methods": list(methods),
            "n_strata": ks,
            "alpha": alpha,
            "rows_used": int(yv.size),
            "rows_dropped": int((~ok).sum()),
        },
    )
