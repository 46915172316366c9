"""classify_establishments on 1 million rows vs the multi-regex approach a pandas user would write.

Workload: the 784 labelled rows of ``tests/data/taxonomy_eval.csv`` resampled (seed 0) to 1,000,000
rows, each name made distinct with a branch suffix ``(123456号店)`` as in real POI exports, so
nothing is cached by repetition. "mixed" keeps the codes, Amap types and OSM tags of the rows;
"names only" keeps just the names (the worst case: every row goes through keyword matching).

Peer: ``Series.str.contains`` with one alternation regex per (sector, function) keyword class,
i.e. one full pass per class (pandas 3 runs these on pyarrow's RE2). It answers "which classes
match" without precedence, codes or grades, so it is a lower bound on the peer's work.
Target (issue 3): under 10 s for 1 million rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterscape.taxonomy import classify_establishments, load_taxonomy

pytestmark = pytest.mark.bench

N = 1_000_000
EVAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "taxonomy_eval.csv"


@pytest.fixture(scope="module")
def workload() -> pd.DataFrame:
    rows = pd.read_csv(EVAL, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(0)
    big = rows.iloc[rng.integers(0, len(rows), N)].reset_index(drop=True)
    branch = pd.Series(rng.permutation(N)).astype(str)
    big["name"] = big["name"] + "(" + branch + "号店)"
    return big[["name", "category", "code", "typecode", "osm_tags"]]


def peer(names: pd.Series) -> pd.DataFrame:
    kw = load_taxonomy().keywords.reset_index()
    hits = {}
    for (sector, function), group in kw.groupby(["sector", "function"]):
        pattern = "|".join(re.escape(w) for w in sorted(group["keyword"], key=len, reverse=True))
        hits[f"{sector}/{function}"] = names.str.contains(pattern, regex=True, case=False)
    return pd.DataFrame(hits)


@pytest.mark.parametrize("variant", ["mixed", "names only"])
def test_bench_classify(workload: pd.DataFrame, variant: str, load_note: str, timed) -> None:
    frame = workload if variant == "mixed" else workload[["name"]]
    ours, ours_cpu = timed(classify_establishments, frame, repeat=2)
    theirs, theirs_cpu = timed(peer, frame["name"], repeat=1)
    out = classify_establishments(frame)
    assert len(out) == N and out["function"].notna().all()
    classes = load_taxonomy().keywords.groupby(["sector", "function"]).ngroups
    print(
        f"\nclassify_establishments 1M rows ({variant}): wall {ours:.2f} s, CPU {ours_cpu:.2f} s; "
        f"peer str.contains x {classes} classes: wall {theirs:.2f} s, CPU {theirs_cpu:.2f} s "
        f"(CPU ratio ours/peer {ours_cpu / theirs_cpu:.2f}); {load_note}"
    )
