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

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.measure.pattern._colocation": (
            "colocation_matrix colocation_quotient local_colocation_quotient"
        ),
        "clusterscape.measure.pattern._envelope": (
            "EnvelopeResult TestResult dclf_test envelope mad_test"
        ),
        "clusterscape.measure.pattern._kd": (
            "KdResult MResult bw_nrd0 kd kd_envelope m_envelope m_function"
        ),
        "clusterscape.measure.pattern._kfunc": (
            "k_cross k_function k_inhom kernel_intensity l_function"
        ),
        "clusterscape.measure.pattern._table": "concentration_table",
        "clusterscape.measure.pattern._window": "simulate_csr",
    },
)
