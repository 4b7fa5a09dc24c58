"""Static pictures of runs: image rows, snapshot grids, loss curves (matplotlib).

Every widget in `stlib.widgets` has a static twin here, so a lesson also reads on
GitHub and in nbval's output. ``export(fig, name)`` saves a PNG when
``$STLIB_FIGURE_DIR`` is set (how we look at every figure a lesson makes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .images import to_numpy
from .optim import Result

CELL = 1.9  # inches per image in a grid


def show_images(images: Sequence[torch.Tensor], titles: Sequence[str] | None = None, *,
                ncols: int | None = None, cell: float = CELL) -> Figure:
    """A row (or grid) of ``(1, 3, H, W)`` images with titles."""
    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(to_numpy(image))
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def epoch_title(epoch: int) -> str:
    return "initial" if epoch == 0 else f"epoch {epoch}"


def snapshot_grid(results: Mapping[str, Result], epochs: Sequence[int] | None = None, *,
                  target: torch.Tensor | None = None, target_title: str = "target", cell: float = CELL,
                  row_prefix: str = "") -> Figure:
    """Rows: one run each (labelled ``row_prefix`` + its key); columns: snapshot epochs, then the target."""
    labels = list(results)
    epochs = list(epochs) if epochs is not None else sorted(next(iter(results.values())).snapshots)
    ncols = len(epochs) + (target is not None)
    fig, axes = plt.subplots(len(labels), ncols, figsize=(cell * ncols, cell * len(labels) + 0.2), squeeze=False)
    for r, label in enumerate(labels):
        snaps = results[label].snapshots
        for c, epoch in enumerate(epochs):
            ax = axes[r, c]
            ax.imshow(to_numpy(snaps[epoch]))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(epoch_title(epoch), fontsize=9)
        if target is not None:
            axes[r, -1].imshow(to_numpy(target))
            axes[r, -1].set_xticks([])
            axes[r, -1].set_yticks([])
            if r == 0:
                axes[r, -1].set_title(target_title, fontsize=9)
        axes[r, 0].set_ylabel(f"{row_prefix}{label}", fontsize=9)
    fig.tight_layout()
    return fig


def loss_curve(results: Mapping[str, Result] | Result, key: str = "total", *, ax=None,
               log: bool = True, mark_epochs: Sequence[int] = (), relative: bool = False) -> Figure:
    """Loss per step for one or several runs (``relative``: divided by the first value)."""
    runs = {"": results} if isinstance(results, Result) else dict(results)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
    else:
        fig = ax.figure
    for label, result in runs.items():
        values = result.losses(key)
        if relative and values and values[0]:
            values = [v / values[0] for v in values]
        steps = range(1, len(values) + 1)
        line, = ax.plot(steps, values, label=label or None, lw=1.4)
        for epoch in mark_epochs:
            if 1 <= epoch <= len(values):
                ax.plot(epoch, values[epoch - 1], "o", color=line.get_color(), ms=4)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{key} loss" + (" (relative)" if relative else ""))
    if any(runs):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], *, ylabel: str = "",
                 figsize: tuple[float, float] = (5.5, 2.8)) -> Figure:
    """One group of bars per entry of ``groups`` (x axis), one bar per series in each (legend: the keys),
    with a line at 0. Lesson 03: correlation with the target per layer, pretrained vs random."""
    fig, ax = plt.subplots(figsize=figsize)
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        if len(values) != len(groups):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(groups)} groups")
        offset = (k - (len(series) - 1) / 2) * width
        ax.bar([i + offset for i in range(len(groups))], list(values), width=width, label=name)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _box(ax, x: float, y: float, text: str, color: str, w: float = 2.2, h: float = 0.8) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=color, ec="0.3"))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], **kw) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="0.3", **kw))


def pipeline_diagram() -> Figure:
    """The lecture's pipeline (lesson 00): content, output and style image through the same frozen VGG19;
    the content loss on feature maps, the style loss on Gram matrices, the total loss, and the way back
    (dashed): its gradient changes the pixels of the output image."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    rows = {"content image": 3.0, "output image\n(the variable)": 1.5, "style image": 0.0}
    for (name, y), color in zip(rows.items(), ["#cfe3f7", "#f7e3a8", "#f4c7c3"], strict=True):
        _box(ax, 0.8, y, name, color)
        _box(ax, 4.0, y, "pretrained model\n(VGG19, frozen)", "#e6e6e6")
        _arrow(ax, (1.95, y), (2.85, y))
    _box(ax, 7.4, 2.25, "content loss\n(feature maps)", "#d9ead3")
    _box(ax, 7.4, 0.75, "style loss\n(Gram matrices)", "#d9ead3")
    _box(ax, 10.4, 1.5, "total loss\nα·content + β·style", "#b6d7a8", w=2.5)
    for y0, y1 in [(3.0, 2.25), (1.5, 2.25), (1.5, 0.75), (0.0, 0.75)]:
        _arrow(ax, (5.15, y0), (6.25, y1))
    _arrow(ax, (8.55, 2.25), (9.1, 1.6))
    _arrow(ax, (8.55, 0.75), (9.1, 1.4))
    # the way back: the gradient of the total loss changes the pixels of the output image
    ax.plot([10.4, 10.4, -0.6, -0.6], [1.95, 3.85, 3.85, 1.5], ls="--", color="0.3", lw=1)
    _arrow(ax, (-0.6, 1.5), (-0.3, 1.5), ls="--")
    ax.text(5.0, 3.95, "gradient of the total loss → change the pixels of the output image", ha="center",
            va="bottom", fontsize=9, style="italic", color="0.3")
    ax.set_xlim(-0.9, 11.9)
    ax.set_ylim(-0.6, 4.3)
    ax.axis("off")
    return fig


def export(fig: Figure, name: str) -> Path | None:
    """Save ``fig`` as ``$STLIB_FIGURE_DIR/<name>.png`` when that variable is set."""
    folder = os.environ.get("STLIB_FIGURE_DIR")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
