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

from clusterscape._validation import WeightsLike, check_choice
from clusterscape.errors import InvalidInputError

__all__ = ["as_csr_weights", "h3_weights"]

TRANSFORMS = {"r", "b", "o"}


def as_csr_weights(
    weights: WeightsLike, n: int, *, transform: str = "r", caller: str
) -> sp.csr_matrix:
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


def h3_weights(cells: Any, *, k: int = 1) -> sp.csr_matrix:
    """Binary contiguity weights of H3 cells: j is a neighbour of i if it lies within k rings.

    Parameters
    ----------
    cells : sequence of str
        H3 cell ids (one resolution), in the order of the values they will weight.
    k : int, default 1
        Rings of neighbours (1 = the six touching hexagons, the H3 analogue of queen contiguity).

    Returns
    -------
    scipy.sparse.csr_matrix
        (n, n) binary, no self-links; neighbours outside ``cells`` are ignored.
    """
    import h3

    ids = [str(c) for c in cells]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("h3_weights: the cell ids are not unique.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"h3_weights: k must be an integer >= 1, got {k!r}.")
    pos = {c: i for i, c in enumerate(ids)}
    rows: list[int] = []
    cols: list[int] = []
    for i, c in enumerate(ids):
        if not h3.is_valid_cell(c):
            raise InvalidInputError(f"h3_weights: {c!r} (position {i}) is not an H3 cell id.")
        for nb in h3.grid_disk(c, int(k)):
            j = pos.get(nb)
            if j is not None and j != i:
                rows.append(i)
                cols.append(j)
    n = len(ids)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
