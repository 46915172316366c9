"""Spatial weights in any of the forms users hold them, as one CSR matrix.

Accepted: a :class:`libpysal.graph.Graph`, a :class:`libpysal.weights.W`, or any SciPy sparse
matrix / array (row i holds the neighbours of observation i). Row standardisation divides each
row by its sum, as esda and GeoDa do by default (``transformation="r"``); rows that sum to zero
(islands) stay zero, so their spatial lag is 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from clusterscape._validation import check_choice
from clusterscape.errors import InvalidInputError

__all__ = ["as_csr_weights"]

TRANSFORMS = {"r", "b", "o"}


def as_csr_weights(weights: Any, n: int, *, transform: str = "r", caller: str) -> sp.csr_matrix:
    """Return ``weights`` as an ``(n, n)`` float64 CSR matrix, transformed as asked.

    Parameters
    ----------
    weights : libpysal.graph.Graph, libpysal.weights.W or scipy.sparse matrix
        Neighbour weights; row i lists the neighbours of observation i, in the order of the values.
    n : int
        The number of observations the weights must cover.
    transform : {"r", "b", "o"}
        ``"r"`` row-standardised (default, as esda/GeoDa), ``"b"`` binary (every non-zero
        weight becomes 1), ``"o"`` the weights as given.
    caller : str
        Name of the public function, for error messages.
    """
    check_choice(transform, TRANSFORMS, "transform", caller=caller)
    if sp.issparse(weights):
        mat = sp.csr_matrix(weights, dtype=np.float64, copy=True)
    elif hasattr(weights, "sparse") and (
        hasattr(weights, "neighbors") or hasattr(weights, "adjacency")
    ):
        # libpysal W (has .neighbors) or Graph (has .adjacency); both expose .sparse
        mat = sp.csr_matrix(weights.sparse, dtype=np.float64, copy=True)
    else:
        raise InvalidInputError(
            f"{caller}: weights must be a libpysal.graph.Graph, a libpysal.weights.W or a scipy "
            f"sparse matrix, got {type(weights).__name__}."
        )
    if mat.shape != (n, n):
        raise InvalidInputError(
            f"{caller}: the weights are {mat.shape[0]} x {mat.shape[1]} but there are {n} "
            "values; build the weights on the same observations, in the same order."
        )
    if not np.isfinite(mat.data).all():
        raise InvalidInputError(f"{caller}: the weights hold non-finite values (NaN or inf).")
    if (mat.data < 0).any():
        raise InvalidInputError(f"{caller}: the weights hold negative values.")
    mat.eliminate_zeros()
    if transform == "b":
        mat.data[:] = 1.0
    elif transform == "r":
        rows = np.asarray(mat.sum(axis=1)).ravel()
        scale = np.divide(1.0, rows, out=np.zeros_like(rows), where=rows > 0)
        # scale in place: keeps each row's neighbour order (which the permutations pair with)
        mat.data *= np.repeat(scale, np.diff(mat.indptr))
    return mat
