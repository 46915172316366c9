"""Figures are saved after one layout: the same picture as ``savefig(bbox_inches="tight")``.

Reference: matplotlib's own tight-box ``savefig`` of the same figure. The cropped image must
have its size (to a pixel) and its pixels (up to the sub-pixel placement of the crop).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from clusterscape.report.figures import _finish_figure, _style
from clusterscape.results import load_study, write_figure
from study_fixture import make_study_dir


def _figure(outside: bool) -> plt.Figure:
    rng = np.random.default_rng(3)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.5))
    a.scatter(rng.normal(size=300), rng.normal(size=300), s=2, rasterized=True)
    a.set_title("散点 scatter")
    b.plot(np.arange(10), np.arange(10) ** 2, "o-", label="squares")
    b.set_ylabel("y (units)")
    b.legend(loc="upper left")
    if outside:  # a note beyond the right edge of the canvas
        fig.text(1.05, 0.5, "note outside the canvas")
    fig.tight_layout()
    return fig


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


@pytest.mark.parametrize("outside", [False, True])
def test_saved_png_is_the_tight_savefig_picture(tmp_path: Path, outside: bool) -> None:
    _style()
    ref_path, got_path = tmp_path / "ref.png", tmp_path / "got.png"
    fig = _figure(outside)
    fig.savefig(ref_path, bbox_inches="tight")
    plt.close(fig)
    fig = _figure(outside)
    canvas_px = fig.bbox.width, fig.bbox.height
    write_figure(fig, got_path)
    plt.close(fig)
    ref, got = _pixels(ref_path), _pixels(got_path)
    assert abs(ref.shape[0] - got.shape[0]) <= 1 and abs(ref.shape[1] - got.shape[1]) <= 1
    if outside:  # the drawing leaves the canvas: savefig widened it
        assert got.shape[1] > canvas_px[0]
    else:  # cropped from the one drawing, smaller than the canvas
        assert got.shape[1] < canvas_px[0] and got.shape[0] < canvas_px[1]
    h, w = min(ref.shape[0], got.shape[0]) // 4 * 4, min(ref.shape[1], got.shape[1]) // 4 * 4
    # savefig draws at the tight box's sub-pixel offset, the crop at whole pixels: edges move
    # by under a pixel. Averaged over 4 x 4 pixel blocks the two pictures must agree.
    blocks = [
        img[:h, :w].mean(axis=-1).reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
        for img in (ref, got)
    ]
    diff = np.abs(blocks[0] - blocks[1])
    assert diff.mean() < 2.0 and np.quantile(diff, 0.999) < 60
    ink = blocks[0] < 200  # and the picture is not blank
    assert ink.sum() > 200


def test_finish_figure_lays_out_saves_closes_and_describes(tmp_path: Path) -> None:
    _style()
    fig = _figure(False)
    before = plt.get_fignums()
    got = _finish_figure(fig, tmp_path / "f.png", "Title", "Caption.", "clusters", tight=True)
    assert (got.name, got.title, got.caption, got.section) == (
        "f.png",
        "Title",
        "Caption.",
        "clusters",
    )
    assert fig.number not in plt.get_fignums() and len(plt.get_fignums()) == len(before) - 1
    with Image.open(tmp_path / "f.png") as img:
        assert img.format == "PNG"


def test_layer_reads_only_the_requested_rows_and_columns(tmp_path: Path) -> None:
    import geopandas as gpd

    from clusterscape.results import _write_layers

    root = make_study_dir(tmp_path / "study")
    rng = np.random.default_rng(5)
    est = gpd.GeoDataFrame(
        {"is_creative": rng.random(500) < 0.2, "name": [f"firm {i}" for i in range(500)]},
        geometry=gpd.points_from_xy(rng.uniform(121, 122, 500), rng.uniform(29, 30, 500)),
        crs="EPSG:4326",
    )
    _write_layers({"establishments": est}, root / "results.gpkg")
    study = load_study(root)
    assert study.layer_columns("establishments") == ("is_creative", "name")
    part = study.layer("establishments", columns=[], where="is_creative <> 0")
    assert part is not None and list(part.columns) == ["geometry"]
    want = est[est["is_creative"]]
    assert 50 < len(part) < 150
    assert list(part.geometry.to_wkb()) == list(want.geometry.to_wkb())
    assert study.layer("establishments", columns=[], where="is_creative <> 0") is part  # cached
    full = study.layer("establishments")
    assert full is not None and len(full) == 500 and "name" in full.columns
    assert study.layer_columns("no_such_layer") == ()
