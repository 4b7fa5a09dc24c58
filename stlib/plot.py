"""Static pictures (matplotlib): image rows, snapshot grids, loss curves, vectors as arrows, Gram heatmaps, bar
charts, the pipeline diagram.

The snapshot viewer (`stlib.widgets.SnapshotViewer`) has a static twin here (`snapshot_grid`, `loss_curve`), so a lesson
also reads on GitHub and in nbval's output. ``STLIB_FIGURE_DIR=… python -m stlib precompute NN`` saves every figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_numpy(images[i]))
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
    titles = [epoch_title(epoch) for epoch in epochs] + [target_title] * (target is not None)
    fig, axes = plt.subplots(len(labels), len(titles), figsize=(cell * len(titles), cell * len(labels) + 0.2),
                             squeeze=False)
    for r, label in enumerate(labels):
        pictures = [results[label].snapshots[epoch] for epoch in epochs] + [target] * (target is not None)
        for ax, picture, title in zip(axes[r], pictures, titles, strict=True):
            ax.imshow(to_numpy(picture))
            ax.set(xticks=[], yticks=[])
            if r == 0:
                ax.set_title(title, fontsize=9)
        axes[r, 0].set_ylabel(f"{row_prefix}{label}", fontsize=9)
    fig.tight_layout()
    return fig


def loss_curve(results: Mapping[str, Result] | Result, key: str = "total", *, ax=None,
               log: bool = True, mark_epochs: Sequence[int] = (), relative: bool = False) -> Figure:
    """Loss per step for one or several runs (``relative``: divided by the first value)."""
    runs = {"": results} if isinstance(results, Result) else dict(results)
    fig, ax = plt.subplots(figsize=(4.2, 2.8)) if ax is None else (ax.figure, ax)
    for label, result in runs.items():
        values = result.losses(key)
        if relative and values and values[0]:
            values = [v / values[0] for v in values]
        line, = ax.plot(range(1, len(values) + 1), values, label=label or None, lw=1.4)
        for epoch in mark_epochs:
            if 1 <= epoch <= len(values):
                ax.plot(epoch, values[epoch - 1], "o", color=line.get_color(), ms=4)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel=f"{key} loss" + (" (relative)" if relative else ""))
    if any(runs):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _xy(vector) -> tuple[float, float]:
    x, y = (float(v) for v in (vector.tolist() if isinstance(vector, torch.Tensor) else vector))
    return x, y


def _arrow(ax, tip, tail=(0.0, 0.0), **style) -> None:
    ax.annotate("", xy=_xy(tip), xytext=_xy(tail), arrowprops=dict(arrowstyle="->", **style))


def _plane(ax, points, margin: float = 0.8) -> None:
    xs, ys = zip(*[(0.0, 0.0), *points], strict=True)
    ax.set(xlim=(min(xs) - margin, max(xs) + 2.5 * margin), ylim=(min(ys) - margin, max(ys) + margin), aspect="equal")
    ax.grid(alpha=0.3)


def arrows(vectors: Mapping[str, Sequence[float]], *, moves: Sequence[tuple[Sequence[float], Sequence[float]]] = (),
           figsize: tuple[float, float] = (4.4, 3.2)) -> Figure:
    """2-D vectors (label → vector) as arrows from the origin, labelled at their tips, the first on top and thicker (it
    stays visible on a longer one in the same direction); ``moves``: dashed grey arrows ``(from, to)`` between tips."""
    fig, ax = plt.subplots(figsize=figsize)
    for i, (name, vec) in reversed(list(enumerate(vectors.items()))):
        color = f"C{i}"
        _arrow(ax, vec, color=color, lw=3.5 if i == 0 else 2)
        ax.annotate(name, _xy(vec), xytext=(5, -4 if i == 0 else 3), textcoords="offset points", color=color,
                    fontsize=9)
    for start, end in moves:
        _arrow(ax, end, start, color="0.4", ls="--")
    _plane(ax, [_xy(v) for v in vectors.values()])
    ax.set(xlabel="x₁", ylabel="x₂")
    fig.tight_layout()
    return fig


def projections(vector: Sequence[float], bases: Mapping[str, Mapping[str, Sequence[float]]], *, name: str = "a",
                lim: tuple[tuple[float, float], tuple[float, float]] | None = None, panel: float = 3.6) -> Figure:
    """One panel per basis (title → {name → direction}): ``vector`` (``name``), each direction on its grey line, the
    perpendicular from the vector's tip (dashed) and the projection as a thick bar labelled ``name · direction /
    ‖direction‖``; α: the angle between the vector and the panel's first direction."""
    import math

    fig, axes = plt.subplots(1, len(bases), figsize=(panel * len(bases) + 0.6, panel), squeeze=False)
    a = torch.tensor(_xy(vector))
    for ax, (title, basis) in zip(axes[0], bases.items(), strict=True):
        points = [_xy(a)]
        for (label, direction), color in zip(basis.items(), ("C1", "C2", "C3", "C4"), strict=False):
            d = torch.tensor(_xy(direction))
            unit = d / d.norm()
            length = float(a @ unit)
            foot = length * unit  # where the perpendicular from a's tip meets the line of d
            ax.plot([-9 * unit[0], 9 * unit[0]], [-9 * unit[1], 9 * unit[1]], color="0.8", lw=1)
            ax.plot([a[0], foot[0]], [a[1], foot[1]], "k--", lw=1)
            ax.plot([0, foot[0]], [0, foot[1]], color=color, lw=6, alpha=0.5,
                    label=f"{name} · {label}{'' if math.isclose(d.norm(), 1) else f' / ‖{label}‖'} = {length:.3g}")
            _arrow(ax, d, color="k", lw=2)
            ax.annotate(label, _xy(d), xytext=(6, -10), textcoords="offset points", fontsize=10)
            points += [_xy(d), _xy(foot)]
        _arrow(ax, a, color="C0", lw=2)
        ax.annotate(f"{name} = ({a[0]:g}, {a[1]:g})", _xy(a), xytext=(4, 4), textcoords="offset points", color="C0")
        first = torch.tensor(_xy(next(iter(basis.values()))))
        alpha = math.degrees(math.acos(float(a @ first / (a.norm() * first.norm()))))
        middle = a / a.norm() + first / first.norm()  # the bisector of the angle, for the label
        at = 0.3 * a.norm() * middle / middle.norm()
        ax.annotate(f"α = {alpha:.1f}°", _xy(at), fontsize=9, ha="left", va="center")
        _plane(ax, points)
        if lim is not None:
            ax.set(xlim=lim[0], ylim=lim[1])
        ax.set_title(title, fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def gram_heatmaps(images: Mapping[str, torch.Tensor], grams: Mapping[str, torch.Tensor], *,
                  title: str = "Gram", clip: float = 0.99) -> Figure:
    """Each image next to its Gram matrix ``(C, C)`` (same keys), on a diverging colour scale clipped at the
    ``clip`` quantile of |G| (one channel can outshine the rest)."""
    n = len(images)
    fig, axes = plt.subplots(1, 2 * n, figsize=(5.5 * n, 2.9), gridspec_kw={"width_ratios": [1, 1.25] * n},
                             squeeze=False)
    for (key, image), (left, right) in zip(images.items(), axes[0].reshape(-1, 2), strict=True):
        gram = grams[key].detach().squeeze(0).float().cpu()
        left.imshow(to_numpy(image))
        left.set_title(key, fontsize=9)
        left.axis("off")
        lim = gram.abs().quantile(clip).item()
        shown = right.imshow(gram.numpy(), cmap="coolwarm", vmin=-lim, vmax=lim)
        right.set_title(f"{title} ({gram.shape[0]} × {gram.shape[1]})", fontsize=9)
        right.set(xlabel="feature map j", ylabel="feature map i")
        fig.colorbar(shown, ax=right, fraction=0.046)
    fig.tight_layout()
    return fig


def images_and_curves(images: Mapping[str, torch.Tensor], curves: Mapping[str, Mapping[str, float]], *,
                      ylabel: str = "") -> Figure:
    """A row of images (title → image), then one plot of ``curves`` (label → {x label → value}), one line each."""
    fig, axes = plt.subplots(1, len(images) + 1, figsize=(2.75 * (len(images) + 1.6), 2.8),
                             gridspec_kw={"width_ratios": [1] * len(images) + [1.6]})
    for ax, (key, image) in zip(axes, images.items(), strict=False):
        ax.imshow(to_numpy(image))
        ax.set_title(key, fontsize=9)
        ax.axis("off")
    for (label, values), marker in zip(curves.items(), ("o-", "s-", "^-", "v-"), strict=False):
        axes[-1].plot(list(values), list(values.values()), marker, label=label)
    axes[-1].set_ylabel(ylabel)
    axes[-1].tick_params(axis="x", labelsize=7)
    axes[-1].legend(fontsize=8)
    axes[-1].grid(alpha=0.3)
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
    ax.set(xticks=range(len(groups)), xticklabels=list(groups), ylabel=ylabel)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _box(ax, x: float, y: float, text: str, color: str, w: float = 2.2, h: float = 0.8) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=color, ec="0.3"))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def pipeline_diagram() -> Figure:
    """The lecture's pipeline (lesson 00): three images through one frozen VGG19, the content and style losses, the
    total loss, and the way back (dashed): its gradient changes the output image's pixels."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    rows = {"content image": 3.0, "output image\n(the variable)": 1.5, "style image": 0.0}
    for (name, y), color in zip(rows.items(), ["#cfe3f7", "#f7e3a8", "#f4c7c3"], strict=True):
        _box(ax, 0.8, y, name, color)
        _box(ax, 4.0, y, "pretrained model\n(VGG19, frozen)", "#e6e6e6")
        _arrow(ax, (2.85, y), (1.95, y), color="0.3")
    _box(ax, 7.4, 2.25, "content loss\n(feature maps)", "#d9ead3")
    _box(ax, 7.4, 0.75, "style loss\n(Gram matrices)", "#d9ead3")
    _box(ax, 10.4, 1.5, "total loss\nα·content + β·style", "#b6d7a8", w=2.5)
    for tip, tail in [((6.25, 2.25), (5.15, 3.0)), ((6.25, 2.25), (5.15, 1.5)), ((6.25, 0.75), (5.15, 1.5)),
                      ((6.25, 0.75), (5.15, 0.0)), ((9.1, 1.6), (8.55, 2.25)), ((9.1, 1.4), (8.55, 0.75))]:
        _arrow(ax, tip, tail, color="0.3")  # features to the losses, the losses to the total
    # the way back: the gradient of the total loss changes the pixels of the output image
    ax.plot([10.4, 10.4, -0.6, -0.6], [1.95, 3.85, 3.85, 1.5], ls="--", color="0.3", lw=1)
    _arrow(ax, (-0.3, 1.5), (-0.6, 1.5), color="0.3", ls="--")
    ax.text(5.0, 3.95, "gradient of the total loss → change the pixels of the output image", ha="center",
            va="bottom", fontsize=9, style="italic", color="0.3")
    ax.set(xlim=(-0.9, 11.9), ylim=(-0.6, 4.3))
    ax.axis("off")
    return fig

