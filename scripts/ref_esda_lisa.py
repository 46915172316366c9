"""Write tests/data/esda_stl_lisa.csv: esda's LISA of St Louis HR8893 (and bivariate HR8488 -> HR8893).

The reference the fast parity tests in tests/test_measure_autocorrelation.py read (esda's numba
kernels take about a minute to compile, so the live comparison is a slow test).
Run: ``python scripts/ref_esda_lisa.py`` (needs esda and libpysal).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import esda
import libpysal
import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "esda_stl_lisa.csv"


def main() -> None:
    gal = libpysal.io.open(libpysal.examples.get_path("stl.gal"))
    w = gal.read()
    gal.close()
    table = pd.read_csv(libpysal.examples.get_path("stl_hom.txt"), skiprows=1)
    y, x = table["HR8893"].to_numpy(float), table["HR8488"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uni = esda.Moran_Local(y, w, permutations=999, seed=12345)
        bv = esda.Moran_Local_BV(x, y, w, permutations=999, seed=7)
    pd.DataFrame(
        {
            "lisa": uni.Is,
            "q": uni.q,
            "p_sim": uni.p_sim,
            "z_sim": uni.z_sim,
            "bv_lisa": bv.Is,
            "bv_q": bv.q,
            "bv_p_sim": bv.p_sim,
        }
    ).to_csv(OUT, index=False, float_format="%.17g")
    print(
        f"wrote {OUT} (esda {esda.__version__}, libpysal {libpysal.__version__}, numpy {np.__version__})"
    )


if __name__ == "__main__":
    main()
