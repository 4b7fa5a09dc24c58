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
                  target: torch.Tensor | None = None, target_title: str = "target", cell: float = CELL) -> Figure:
    """Rows: one run each (labelled by key); columns: snapshot epochs, then the target."""
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
        axes[r, 0].set_ylabel(label, fontsize=9)
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


def export(fig: Figure, name: str) -> Path | None:
    """Save ``fig`` as ``$STLIB_FIGURE_DIR/<name>.png`` when that variable is set."""
    folder = os.environ.get("STLIB_FIGURE_DIR")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
