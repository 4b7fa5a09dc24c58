"""stlib.plot's lesson figures: each returns a Figure with what it promises (tiny inputs, no files)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from stlib import plot  # noqa: E402


def arrow_count(fig: Figure) -> int:
    return sum(isinstance(t, Annotation) and t.arrow_patch is not None for ax in fig.axes for t in ax.texts)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_arrows_draws_one_arrow_per_vector_and_move():
    u = torch.tensor([3.0, 2.0])
    fig = plot.arrows({"u": u, "3 * u": 3 * u, "3 + u": 3 + u}, moves=[(u, 3 + u)])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert arrow_count(fig) == 4
    assert {t.get_text() for t in fig.axes[0].texts} >= {"u", "3 * u", "3 + u"}


def test_projections_one_panel_per_basis_with_the_projection_lengths():
    bases = {"axes": {"x₁": [1, 0], "x₂": [0, 1]}, "turned": {"v₁": [0.8, 0.6], "v₂": [-0.6, 0.8]}}
    fig = plot.projections(torch.tensor([2.0, 4.0]), bases)
    assert len(fig.axes) == 2
    assert arrow_count(fig) == 2 * 3  # per panel: two directions and the vector
    labels = [text.get_text() for ax in fig.axes for text in ax.get_legend().get_texts()]
    assert labels == ["a · x₁ = 2", "a · x₂ = 4", "a · v₁ = 4", "a · v₂ = 2"]
    fig = plot.projections([3, 3], {"": {"u": [0, 5]}}, name="v")  # a direction longer than 1: ÷ its length
    assert arrow_count(fig) == 2
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["v · u / ‖u‖ = 3"]


def test_gram_heatmaps_shows_each_image_and_its_gram():
    images = {name: torch.rand(1, 3, 8, 8) for name in ("a", "b")}
    grams = {name: torch.randn(1, 4, 4) for name in images}
    fig = plot.gram_heatmaps(images, grams, title="Gram at conv1_1")
    assert sum(len(ax.images) for ax in fig.axes) == 4  # two pictures, two heatmaps (colour bars are extra axes)
    assert "Gram at conv1_1 (4 × 4)" in [ax.get_title() for ax in fig.axes]


def test_images_and_curves_one_line_per_curve():
    images = {name: torch.rand(1, 3, 8, 8) for name in ("original", "shuffled")}
    fig = plot.images_and_curves(images, {"tiles": {"conv1_1": 0.1, "conv2_1": 0.3}, "pixels": {"conv1_1": 1.0,
                                                                                            "conv2_1": 0.9}})
    assert len(fig.axes) == 3
    assert len(fig.axes[-1].lines) == 2
    assert [t.get_text() for t in fig.axes[-1].get_legend().get_texts()] == ["tiles", "pixels"]


def test_pipeline_diagram_has_the_lectures_boxes_and_arrows():
    fig = plot.pipeline_diagram()
    ax = fig.axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    for part in ("content image", "style image", "output image", "pretrained model", "content loss",
                 "style loss", "total loss", "gradient of the total loss"):
        assert part in texts
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == 9  # 3 images, 3 models, 3 losses
    assert sum(isinstance(t, Annotation) for t in ax.texts) == 10  # 3 in, 4 to the losses, 2 to total, back
    plt.close(fig)


def test_grouped_bars_one_bar_per_group_and_series():
    fig = plot.grouped_bars(["conv1_1", "block1", "block2"], {"pretrained": [1, 0.5, 0.2], "random": [1, 1, 0.8]},
                            ylabel="correlation")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 6
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1_1", "block1", "block2"]
    assert ax.get_ylabel() == "correlation"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pretrained", "random"]
    plt.close(fig)
    with pytest.raises(ValueError):
        plot.grouped_bars(["a", "b"], {"one": [1]})
