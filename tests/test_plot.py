"""The lessons' diagrams and charts live in `stlib.plot`: each returns a figure with the expected parts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from stlib import plot  # noqa: E402


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
