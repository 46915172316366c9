"""Point-pattern concentration statistics with the conventions of spatstat, dbmss and ArcGIS.

* K-type functions in any polygon window: :func:`k_function`, :func:`l_function`,
  :func:`k_cross`, :func:`k_inhom` (spatstat ``Kest``/``Lest``/``Kcross``/``Kinhom``);
  ``method="fft"`` on :func:`k_function`, :func:`l_function` and :func:`envelope` is an opt-in
  raster/FFT approximation for very large patterns (error documented in docs/concentration.md).
* Envelopes and global tests of CSR: :func:`envelope`, :func:`dclf_test`, :func:`mad_test`.
* Distance-based concentration relative to all establishments: :func:`kd`,
  :func:`kd_envelope` (Duranton & Overman 2005), :func:`m_function`, :func:`m_envelope`
  (Marcon & Puech 2010).
* Co-location: :func:`colocation_quotient`, :func:`colocation_matrix`,
  :func:`local_colocation_quotient` (Leslie & Kronenfeld 2011; Wang et al. 2017).
* :func:`concentration_table` — one row per statistic, for the pipeline.
"""

from clusterscape.measure.pattern._colocation import (
    colocation_matrix,
    colocation_quotient,
    local_colocation_quotient,
)
from clusterscape.measure.pattern._envelope import (
    EnvelopeResult,
    TestResult,
    dclf_test,
    envelope,
    mad_test,
)
from clusterscape.measure.pattern._kd import (
    KdResult,
    MResult,
    bw_nrd0,
    kd,
    kd_envelope,
    m_envelope,
    m_function,
)
from clusterscape.measure.pattern._kfunc import (
    k_cross,
    k_function,
    k_inhom,
    kernel_intensity,
    l_function,
)
from clusterscape.measure.pattern._table import concentration_table
from clusterscape.measure.pattern._window import simulate_csr

__all__ = [
    "EnvelopeResult",
    "KdResult",
    "MResult",
    "TestResult",
    "bw_nrd0",
    "colocation_matrix",
    "colocation_quotient",
    "concentration_table",
    "dclf_test",
    "envelope",
    "k_cross",
    "k_function",
    "k_inhom",
    "kd",
    "kd_envelope",
    "kernel_intensity",
    "l_function",
    "local_colocation_quotient",
    "m_envelope",
    "m_function",
    "mad_test",
    "simulate_csr",
]
