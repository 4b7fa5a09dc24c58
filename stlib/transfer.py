"""The lecture's experiments as objectives run by one runner: content reconstruction, style
reconstruction, style transfer, coarse to fine.

An experiment is an `Objective` (what identifies it; its start image and loss, built on a cache miss)
and a frozen `RunConfig` (optimiser, lr, steps, snapshots, seed, device). `run` does the rest for all of
them: the memory check (`stlib.memory`), the model, the cache key (`stlib.cache`: configuration, objective
and the source fingerprint) and `optim.optimize`. The losses are public (`transfer_loss`,
`content_reconstruction_loss`, `style_reconstruction_loss`) so a benchmark times exactly what runs here.
With ``cache=True`` a finished run is replayed from disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from . import cache as _cache
from .errors import StlibError
from .images import ImageSource, load_image
from .losses import LossTerms, content_loss, gram_matrix, style_layer_loss, style_loss, total_loss, total_variation
from .memory import check_run
from .models import VGG19, resolve_layer, vgg19
from .optim import LossFn, Result, announce_replay, check_steps, optimize, pick_device
from .presets import PRESETS, Preset, get_preset

INITS = ("noise", "content", "style")
COLOR_METHODS = (None, "luminance", "histogram")  # see stlib.variants.preserve_color


def initial_image(
    init: str | torch.Tensor,
    shape: Sequence[int],
    *,
    content: torch.Tensor | None = None,
    style: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """The starting image ``(1, 3, H, W)``: ``"noise"`` (uniform white noise, seeded),
    ``"content"``, ``"style"`` (resized to ``shape``) or a given tensor."""
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


@dataclass(frozen=True)
class RunConfig:
    """How an objective is optimised, the same for every experiment. Frozen: with the objective's identity
    and the source fingerprint it is the run's cache key. ``snapshot_at``: epochs kept (`optimize`)."""

    num_steps: int
    optimizer: str = "adam"
    lr: float | None = None
    snapshot_at: tuple[int, ...] = ()
    seed: int = 0  # the start image's noise
    device: torch.device = torch.device("cpu")

    def identity(self) -> dict[str, Any]:
        return {**asdict(self), "snapshot_at": sorted(set(self.snapshot_at)), "device": self.device.type}


def run_config(*, snapshot_at: Sequence[int] = (), device: torch.device | str | None = None,
               **fields: Any) -> RunConfig:
    """A `RunConfig` on `pick_device`'s device."""
    return RunConfig(snapshot_at=tuple(snapshot_at), device=pick_device(device), **fields)


@dataclass(frozen=True)
class Objective:
    """One experiment: what identifies it, and how to build its start image and loss.

    ``build(net, config) -> (start image, loss)`` runs only when the run computes, so a replay from the
    cache extracts no features. ``layers`` (those the loss reads), ``shape`` ``(1, 3, H, W)`` and
    ``memory`` (`stlib.memory.estimate_run`'s ``styles``, ``style_scale``) size the memory check.
    ``finish`` turns the optimised result into the one returned and stored (e.g. colour preservation).
    """

    kind: str
    identity: Mapping[str, Any]
    shape: tuple[int, ...]
    layers: tuple[str, ...]
    build: Callable[[VGG19, RunConfig], tuple[torch.Tensor, LossFn]]
    finish: Callable[[Result], Result] | None = None
    memory: Mapping[str, Any] = field(default_factory=dict)


def check_memory(objective: Objective, config: RunConfig, pooling: str = "max") -> None:
    """`stlib.memory.check_run` for this run: a one-line `StlibError` naming the largest size that fits."""
    height, width = objective.shape[-2:]
    check_run(height, width, what="size", layers=objective.layers, optimizer=config.optimizer,
              num_steps=config.num_steps, pooling=pooling, snapshots=len(set(config.snapshot_at)),
              device=config.device.type, **objective.memory)


def run(objective: Objective, config: RunConfig, model: VGG19 | str | None = None, *, cache: bool = False,
        progress: bool | str = True) -> Result:
    """The one runner: check the budget and the memory, load the model, then optimise ``objective`` under
    ``config`` (`optimize`), or replay it from the cache (`stlib.cache`), shown to the live view at once."""
    check_steps(config.num_steps, config.snapshot_at)
    objective = replace(objective, layers=tuple(resolve_layer(l) for l in objective.layers))
    check_memory(objective, config, "avg" if isinstance(model, VGG19) and _pooling(model) == "AvgPool2d" else "max")
    net = _model(model, config.device)
    params = {**objective.identity, **config.identity(), "kind": objective.kind, "model": net.weights_name,
              "pooling": _pooling(net)}

    def compute() -> Result:
        start, loss = objective.build(net, config)
        result = optimize(start.to(config.device), loss, num_steps=config.num_steps, optimizer=config.optimizer,
                          lr=config.lr, snapshot_at=config.snapshot_at, progress=progress)
        return objective.finish(result) if objective.finish is not None else result

    result = _cache.cached(params, compute, enabled=cache)
    if result.cached:
        announce_replay(progress, result)
    return result


def _pooling(net: VGG19) -> str:
    return type(net.features.pool1).__name__


def _model(model: VGG19 | str | None, device: torch.device) -> VGG19:
    if isinstance(model, VGG19):
        return model.to(device)
    return vgg19(model or "pretrained", device=device)


def _device(net: VGG19) -> torch.device:
    return next(net.parameters()).device


def content_reconstruction_loss(
    net: VGG19,
    targets: Sequence[torch.Tensor],
    layers: Sequence[str],
    target_weights: Sequence[float] | None = None,
) -> LossFn:
    """The loss `reconstruct_content` minimises: Σ over ``targets`` ``(1, 3, H, W)`` of its weight times the
    mean over ``layers`` of the content loss against that target's features (extracted here, once)."""
    weights = [1.0] * len(targets) if target_weights is None else list(target_weights)
    with torch.no_grad():
        feats = [net(t.to(_device(net)), layers) for t in targets]

    def loss(image: torch.Tensor) -> torch.Tensor:
        out = net(image, layers)
        return sum(w * sum(content_loss(out[l], f[l]) for l in layers) / len(layers)
                   for w, f in zip(weights, feats, strict=True))

    return loss


def style_reconstruction_loss(net: VGG19, target: torch.Tensor, weights: Mapping[str, float], *,
                              convention: str = "paper") -> LossFn:
    """The loss `reconstruct_style` minimises: the weighted Gram loss against ``target`` ``(1, 3, H, W)``."""
    grams = style_targets(net, target.to(_device(net)), list(weights))

    def loss(image: torch.Tensor) -> torch.Tensor:
        return style_loss(net(image, list(weights)), grams, weights, convention=convention)

    return loss


def reconstruct_content(
    targets: torch.Tensor | Sequence[torch.Tensor],
    layers: str | Sequence[str],
    *,
    target_weights: Sequence[float] | None = None,
    model: VGG19 | str | None = None,
    num_steps: int = 91,
    snapshot_at: Sequence[int] = (),
    optimizer: str = "adam",
    lr: float | None = None,
    init: str | torch.Tensor = "noise",
    seed: int = 0,
    device: torch.device | str | None = None,
    cache: bool = False,
    progress: bool | str = True,
) -> Result:
    """Optimise an image (noise by default) so its features at ``layers`` match the target's.

    Several ``targets`` (same size) pull with ``target_weights`` (lecture: "two targets").
    """
    targets = [targets] if isinstance(targets, torch.Tensor) else list(targets)
    layers = [layers] if isinstance(layers, str) else list(layers)
    weights = list(target_weights) if target_weights is not None else [1.0] * len(targets)
    if len(weights) != len(targets):
        raise StlibError(f"{len(targets)} targets but {len(weights)} target weights; give one weight per target")

    def build(net: VGG19, config: RunConfig) -> tuple[torch.Tensor, LossFn]:
        start = initial_image(init, targets[0].shape, content=targets[0], seed=config.seed)
        return start, content_reconstruction_loss(net, targets, layers, weights)

    objective = Objective("content", dict(targets=targets, layers=layers, weights=weights, init=init),
                          tuple(targets[0].shape), tuple(layers), build, memory={"styles": len(targets)})
    config = run_config(num_steps=num_steps, optimizer=optimizer, lr=lr, snapshot_at=snapshot_at, seed=seed,
                        device=device)
    return run(objective, config, model, cache=cache, progress=progress)


def style_targets(net: VGG19, style: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Gram matrices (÷ C·H·W) of the style image's features: computed once, no autograd."""
    with torch.no_grad():
        return {l: gram_matrix(f, normalize="chw") for l, f in net(style, layers).items()}


def reconstruct_style(
    target: torch.Tensor,
    layers: str | Sequence[str] | Mapping[str, float],
    *,
    model: VGG19 | str | None = None,
    num_steps: int = 90,
    snapshot_at: Sequence[int] = (),
    optimizer: str = "adam",
    lr: float | None = None,
    size: Sequence[int] | None = None,
    init: str | torch.Tensor = "noise",
    convention: str = "paper",
    seed: int = 0,
    device: torch.device | str | None = None,
    cache: bool = False,
    progress: bool | str = True,
) -> Result:
    """Texture synthesis: optimise noise so its Gram matrices at ``layers`` match the target's."""
    weights = dict(layers) if isinstance(layers, Mapping) else (
        {layers: 1.0} if isinstance(layers, str) else {l: 1.0 / len(layers) for l in layers})
    shape = (1, 3, *size) if size is not None else tuple(target.shape)

    def build(net: VGG19, config: RunConfig) -> tuple[torch.Tensor, LossFn]:
        start = initial_image(init, shape, style=target, seed=config.seed)
        return start, style_reconstruction_loss(net, target, weights, convention=convention)

    objective = Objective("style", dict(target=target, weights=weights, shape=list(shape), init=init,
                                        convention=convention), shape, tuple(weights), build)
    config = run_config(num_steps=num_steps, optimizer=optimizer, lr=lr, snapshot_at=snapshot_at, seed=seed,
                        device=device)
    return run(objective, config, model, cache=cache, progress=progress)


# The "default" preset's α and β (`stlib.presets`: how they were chosen)
DEFAULT_CONTENT_WEIGHT = PRESETS["default"].content_weight
DEFAULT_STYLE_WEIGHT = PRESETS["default"].style_weight
DEFAULT_TV_WEIGHT = 0.0
NOT_TERMS = ("name", "optimizer", "lr", "num_steps")  # a preset's fields that are not its loss


def layer_weights(preset: Preset, grams: Mapping[str, torch.Tensor],
                  shapes: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """``preset``'s style layer weights; with ``style_normalization="target"`` each divided by its layer's loss
    at zero features (``‖A_l‖²/4`` with the paper's E_l), so every layer counts by its relative Gram error
    (`stlib.presets`). ``shapes``: each style layer's feature shape at the size being optimised."""
    weights = dict(preset.style_weights)
    if preset.style_normalization == "none":
        return weights
    if preset.style_normalization != "target":
        raise StlibError(f"unknown style normalisation {preset.style_normalization!r}: use 'none' or 'target'")
    with torch.no_grad():
        zero = {l: float(style_layer_loss(torch.zeros(tuple(shapes[l]), device=grams[l].device), grams[l],
                                          convention=preset.convention)) for l in weights}
    return {l: w / zero[l] for l, w in weights.items()}


def perceptual_terms(preset: Preset, feats: Mapping[str, torch.Tensor], content_feats: Mapping[str, torch.Tensor],
                     grams: Mapping[str, torch.Tensor], style_weights: Mapping[str, float], image: torch.Tensor,
                     tv_weight: float) -> LossTerms:
    """``α·content + β·style + γ·TV`` of ``image`` from its features ``feats``, with ``preset``'s layers,
    reductions and α, β: what `stylize` minimises and, averaged over a batch, what `stlib.fastnet` trains with."""
    c = sum(content_loss(feats[l], content_feats[l], reduction=preset.content_reduction)
            for l in preset.content_layers) / len(preset.content_layers)
    s = style_loss(feats, grams, style_weights, convention=preset.convention)
    t = total_variation(image) if tv_weight else torch.zeros((), device=image.device)
    return total_loss(c, s, t, content_weight=preset.content_weight, style_weight=preset.style_weight,
                      tv_weight=tv_weight)


def transfer_loss(
    net: VGG19,
    content: torch.Tensor,
    styles: torch.Tensor | Sequence[torch.Tensor],
    *,
    preset: str | Preset = "default",
    blend: Sequence[float] | None = None,
    tv_weight: float = DEFAULT_TV_WEIGHT,
) -> LossFn:
    """The loss `stylize` minimises, for anything that wants to time or inspect one step of it.

    ``α·content + β·style + γ·TV`` as `LossTerms`, with ``preset``'s layers, normalisations, α and β (a
    name or a `Preset`, e.g. one `stylize` adjusted). ``content`` ``(1, 3, H, W)`` and ``styles``
    ``(1, 3, h, w)`` in [0, 1]: their targets are extracted here, once; several styles' Grams are mixed
    with ``blend`` (equal by default).
    """
    terms = get_preset(preset) if isinstance(preset, str) else preset
    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
    blend = [1.0] * len(styles) if blend is None else list(blend)
    dev, content_layers, style_weights = _device(net), list(terms.content_layers), terms.style_weights
    per_style = [style_targets(net, s.to(dev), list(style_weights)) for s in styles]
    grams = {l: sum(b / sum(blend) * g[l] for b, g in zip(blend, per_style, strict=True)) for l in style_weights}
    layers = list(dict.fromkeys([*content_layers, *style_weights]))
    with torch.no_grad():
        content_feats = net(content.to(dev), layers)
    style_weights = layer_weights(terms, grams, {l: content_feats[l].shape for l in style_weights})

    def loss(image: torch.Tensor) -> LossTerms:
        return perceptual_terms(terms, net(image, layers), content_feats, grams, style_weights, image, tv_weight)

    return loss


def stylize(
    content: ImageSource,
    style: ImageSource | list[ImageSource] | tuple[ImageSource, ...],
    *,
    preset: str = "default",
    style_blend: Sequence[float] | None = None,
    style_scale: float = 1.0,
    preserve_color: str | None = None,
    size: int | None = None,
    num_steps: int = 300,
    optimizer: str | None = None,
    lr: float | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float = DEFAULT_TV_WEIGHT,
    content_layers: Sequence[str] | None = None,
    style_weights: Mapping[str, float] | None = None,
    convention: str | None = None,
    init: str | torch.Tensor = "content",
    model: VGG19 | str | None = None,
    seed: int = 0,
    snapshot_at: Sequence[int] = (),
    device: torch.device | str | None = None,
    cache: bool = False,
    progress: bool | str = True,
) -> Result:
    """Gatys et al.'s style transfer: minimise ``α·content + β·style + γ·TV`` over the image (`transfer_loss`).

    ``content``/``style``: anything `load_image` takes. The style is resized to the
    content's size times ``style_scale`` (smaller → finer brush strokes). A list of
    styles is blended: their Gram targets are mixed with ``style_blend`` weights
    (equal by default). ``preserve_color``: ``"luminance"`` or ``"histogram"`` (see
    `stlib.variants.preserve_color`), applied to the image and every snapshot.
    ``preset`` (`stlib.presets`: ``"default"``, ``"paper"``, ``"udacity"``) fixes the layers, the
    normalisations, α, β and the optimiser; any of those given here overrides the preset's.
    A size that cannot fit in memory is refused at once (`stlib.memory`).
    Returns a `Result`; ``result.history`` has every term per step.
    """
    chosen = get_preset(preset)
    overrides = dict(content_weight=content_weight, style_weight=style_weight, convention=convention,
                     content_layers=None if content_layers is None else tuple(content_layers),
                     style_weights=None if style_weights is None else dict(style_weights))
    terms = replace(chosen, **{k: v for k, v in overrides.items() if v is not None})
    if optimizer is None:
        optimizer, lr = chosen.optimizer, chosen.lr if lr is None else lr
    for name, w in (("content_weight", terms.content_weight), ("style_weight", terms.style_weight),
                    ("tv_weight", tv_weight)):
        if not (isinstance(w, (int, float)) and w >= 0):
            raise StlibError(f"{name} must be a number ≥ 0, got {w!r}")
    content_t = load_image(content, size)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = [1.0 / len(styles)] * len(styles) if style_blend is None else [float(b) for b in style_blend]
    if len(blend) != len(styles) or any(b < 0 for b in blend) or sum(blend) <= 0:
        raise StlibError(f"style_blend needs one weight ≥ 0 per style image ({len(styles)}), not all zero; "
                         f"got {style_blend!r}")
    if not style_scale > 0:
        raise StlibError(f"style_scale must be > 0, got {style_scale!r}")
    if preserve_color not in COLOR_METHODS:  # checked now, not after a long run
        raise StlibError(f"unknown colour preservation {preserve_color!r}: use None, 'luminance' or 'histogram'")
    style_size = tuple(max(16, round(side * style_scale)) for side in content_t.shape[-2:])
    style_ts = [load_image(s, style_size) for s in styles]

    def build(net: VGG19, config: RunConfig) -> tuple[torch.Tensor, LossFn]:
        start = initial_image(init, content_t.shape, content=content_t, style=style_ts[0], seed=config.seed)
        return start, transfer_loss(net, content_t, style_ts, preset=terms, blend=blend, tv_weight=tv_weight)

    def finish(result: Result) -> Result:
        if preserve_color is not None:
            from .variants import preserve_color as keep_colors

            result.image = keep_colors(result.image, content_t, method=preserve_color)
            result.snapshots = {e: keep_colors(im, content_t, method=preserve_color)
                                for e, im in result.snapshots.items()}
        return result

    identity = dict(content=content_t, styles=style_ts, blend=blend, preserve_color=preserve_color, init=init,
                    tv_weight=tv_weight, **{k: v for k, v in asdict(terms).items() if k not in NOT_TERMS})
    objective = Objective("transfer", identity, tuple(content_t.shape),
                          (*terms.content_layers, *terms.style_weights), build, finish,
                          memory={"styles": len(styles), "style_scale": style_scale})
    config = run_config(num_steps=num_steps, optimizer=optimizer, lr=lr, snapshot_at=snapshot_at, seed=seed,
                        device=device)
    return run(objective, config, model, cache=cache, progress=progress)


def scaled_shape(height: int, width: int, scale: float, min_side: int = 16) -> tuple[int, int]:
    """``(H, W)`` times ``scale``, same aspect ratio, but no side under ``min_side`` (conv5_1 needs 16 px)."""
    factor = max(scale, min_side / min(height, width))
    return max(1, round(height * factor)), max(1, round(width * factor))


def stylize_coarse_to_fine(
    content: ImageSource,
    style: ImageSource | list[ImageSource] | tuple[ImageSource, ...],
    *,
    size: int | tuple[int, int] | None = None,
    scales: Sequence[float] = (0.5, 1.0),
    num_steps: Sequence[int] | int = (100, 50),
    **kwargs,
) -> Result:
    """Optimise at low resolution first, upsample, continue: big structures settle cheaply.

    ``size``: an int makes the image square (the lessons' ``imsize``), ``(H, W)`` is exact, None keeps the
    content's own size (the command line scales it first, keeping the aspect ratio). Each scale multiplies
    both sides (`scaled_shape`). ``num_steps`` per scale; ``snapshot_at`` counts steps over all scales (an
    epoch at a scale's end shows that scale's last image). Other keywords go to `stylize`. The returned
    `Result` is the last scale's image, with the histories of all scales concatenated
    (``history[i]["scale"]`` says which) and ``steps`` over all scales.
    """
    steps = [num_steps] * len(scales) if isinstance(num_steps, int) else list(num_steps)
    if len(steps) != len(scales) or not scales:
        raise StlibError(f"give one step count per scale: {len(scales)} scales, {len(steps)} step counts")
    if any(not s > 0 for s in scales):
        raise StlibError(f"scales must be > 0, got {list(scales)}")
    for n in steps:
        check_steps(n)
    epochs = check_steps(sum(steps), kwargs.pop("snapshot_at", ()))
    content_full = load_image(content, size)
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
        result = stylize(load_image(content_full, shape), style, num_steps=n, init=init, snapshot_at=local, **kwargs)
        snapshots |= {done + e: image for e, image in result.snapshots.items()}
        history += [dict(row, scale=scale, time=row["time"] + elapsed) for row in result.history]
        elapsed += result.seconds
        done += result.steps
        if result.interrupted:
            break
    result.history, result.seconds, result.snapshots, result.steps = history, elapsed, snapshots, done
    return result
