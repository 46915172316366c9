"""Grid-size sweep: lattice weights against libpysal, planted clusters vs complete randomness."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from clusterscape.measure.sweep import grid_counts, grid_sweep, plot_grid_sweep, queen_lattice


def test_queen_lattice_equals_libpysal() -> None:
    libpysal = pytest.importorskip("libpysal")
    ours = queen_lattice(7, 5)
    ref = sp.csr_matrix(libpysal.weights.lat2SW(7, 5, criterion="queen"))
    assert (ours != ref).nnz == 0


def test_grid_counts() -> None:
    xy = np.array([[10.0, 10.0], [260.0, 10.0], [260.0, 20.0], [499.0, 499.0]])
    counts, n_rows, n_cols = grid_counts(xy, 250.0, (0.0, 0.0, 500.0, 500.0))
    assert (n_rows, n_cols) == (2, 2)
    assert counts.tolist() == [1.0, 2.0, 0.0, 1.0]


def test_sweep_separates_clusters_from_randomness() -> None:
    rng = np.random.default_rng(0)
    extent = (0.0, 0.0, 10_000.0, 10_000.0)
    centres = rng.uniform(1500, 8500, (6, 2))
    clustered = np.repeat(centres, 300, axis=0) + rng.normal(0, 600, (1800, 2))
    csr = rng.uniform(0, 10_000, (1800, 2))
    sizes = (250.0, 500.0, 1000.0)
    a = grid_sweep(clustered, cell_sizes_m=sizes, extent=extent, seed=1)
    b = grid_sweep(csr, cell_sizes_m=sizes, extent=extent, seed=1)
    assert list(a.table["cell_m"]) == list(sizes)
    assert (a.table["moran_i"] > 0.3).all() and (a.table["p_sim"] <= 0.02).all()
    assert (b.table["moran_i"].abs() < 0.1).all()
    assert (a.table["n_hh"] > b.table["n_hh"]).all()
    assert a.table["n_cells"].tolist() == [1600, 400, 100]
    fig = plot_grid_sweep(a)
    assert fig.axes
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_stable_cell_is_first_size_within_tolerance() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 5000, (500, 2))
    res = grid_sweep(xy, cell_sizes_m=(500.0, 1000.0), extent=(0, 0, 5000, 5000), tolerance=1e9)
    assert res.stable_cell_m == 500.0
    res = grid_sweep(xy, cell_sizes_m=(500.0, 1000.0), extent=(0, 0, 5000, 5000), tolerance=1e-12)
    assert res.stable_cell_m is None


def test_h3_weights_are_the_touching_hexagons() -> None:
    h3 = pytest.importorskip("h3")
    from clusterscape.errors import InvalidInputError
    from clusterscape.measure import h3_weights, local_moran

    centre = h3.latlng_to_cell(29.87, 121.55, 8)
    cells = list(h3.grid_disk(centre, 3))  # 37 hexagons
    w = h3_weights(cells)
    assert w.shape == (37, 37) and (w != w.T).nnz == 0 and w.diagonal().sum() == 0
    i = cells.index(centre)
    assert sorted(cells[j] for j in w[i].indices) == sorted(h3.grid_ring(centre, 1))
    degree = np.asarray(w.sum(axis=1)).ravel()
    assert degree.max() == 6 and degree.min() == 3  # inner cells 6, outer corners 3
    values = np.array([h3.grid_distance(centre, c) for c in cells], dtype=float)
    assert (local_moran(values, w, permutations=0)["lisa"] > 0).mean() > 0.5  # smooth surface
    with pytest.raises(InvalidInputError, match="not an H3 cell"):
        h3_weights(["nope"])
