"""Real-time style transfer: a small image-transformation network (Johnson, Alahi & Fei-Fei 2016).

`stylize` optimises one image for a minute. Here the variable is instead the weights of a network that
maps any photo to its stylised version in one forward pass; it is trained with the same perceptual
losses (`stlib.losses`) on many photos, once per style. Instance normalisation (Ulyanov et al. 2016)
normalises each image on its own; ``norm="batch"`` swaps in batch normalisation for comparison.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from . import cache as _cache
from .errors import StlibError
from .images import PAINTINGS, ImageSource, atomic_write, load_image, scaled_shape
from .losses import LossTerms
from .memory import check_run
from .models import LAYER_NAMES, VGG19
from .optim import Callback, Result, pick_device, run_steps
from .perceptual import layer_weights, perceptual_terms, style_targets
from .presets import get_preset
from .runner import Objective, run, run_config

NORMS = ("instance", "batch")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":  # one group per channel is instance norm: the same numbers as nn.InstanceNorm2d
        return nn.GroupNorm(channels, channels)  # (affine), in a seventh of its time on a CPU
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise StlibError(f"unknown normalisation {kind!r}: use 'instance' or 'batch'")


class ChannelsLastConv2d(nn.Conv2d):
    """`nn.Conv2d` computed on channels-last memory: the same numbers. For the 9×9 kernels with 3 and 4 channels
    at full resolution, oneDNN's channels-last kernels are faster on a CPU (measured, whole network: a training
    step 1.2× faster on a 2-core AVX-512 Xeon, inference 1.1× faster on a 2-core AMD EPYC, the same on the Xeon)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()


class ConvLayer(nn.Sequential):
    """Reflection padding, a convolution, a normalisation and (unless last) a ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, *, stride: int = 1, norm: str | None = "instance",
                 relu: bool = True, upsample: bool = False):
        if upsample:  # nearest ×2 upsampling, then a convolution: no transposed-conv checkerboard
            layers: list[nn.Module] = [UpsampleConv(cin, cout)]
        else:
            conv = ChannelsLastConv2d if kernel > 3 else nn.Conv2d
            layers = [nn.ReflectionPad2d(kernel // 2), conv(cin, cout, kernel, stride)]
        if norm is not None:
            layers.append(_norm(norm, cout))
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


# Which low-resolution offset (-1, 0, 1) each offset of a 3×3 kernel on the ×2 upsampled image reads, for
# an even output row or column (0) and an odd one (1): [phase, low-res offset, upsampled offset].
_PHASES = torch.tensor([[[1, 0, 0], [0, 1, 1], [0, 0, 0]],
                        [[0, 0, 0], [1, 1, 0], [0, 0, 1]]], dtype=torch.float32)


class UpsampleConv(nn.Module):
    """Nearest ×2 upsampling, reflection padding and a 3×3 convolution, computed without the upsampled copy.

    Each output pixel of the four in a 2×2 block reads the small image through a kernel whose weights are
    sums of the 3×3 kernel's (`_PHASES`), so one convolution of the small image with ``4·cout`` channels,
    then `nn.PixelShuffle`, gives exactly the same picture (replicate padding of the small image is reflection
    padding of the upsampled one) in about half the time on a CPU. The weights are ``conv``'s, as in
    Johnson et al.'s layer, and train as they would there.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phases = _PHASES.to(self.conv.weight)
        kernels = torch.einsum("apq,oiqs,brs->oabipr", phases, self.conv.weight, phases)
        weight = kernels.reshape(-1, *self.conv.weight.shape[1:])
        out = nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), weight,
                                   self.conv.bias.repeat_interleave(4))
        return nn.functional.pixel_shuffle(out, 2)


class SeparableConv(nn.Sequential):
    """A depthwise-separable 3×3 convolution (MobileNet's): each channel filtered on its own, then mixed by a
    1×1 convolution. ``9·C + C²`` weights instead of ``9·C²``; in the browser's one-thread WebAssembly runtime the
    residual blocks cost about a third of the full convolutions' time."""

    def __init__(self, channels: int):
        super().__init__(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, groups=channels),
                         nn.Conv2d(channels, channels, 1))


class ResidualBlock(nn.Module):
    """``x + conv(conv(x))``: the image keeps its layout while the blocks repaint it."""

    def __init__(self, channels: int, norm: str, separable: bool = False):
        super().__init__()
        if separable:
            self.body = nn.Sequential(SeparableConv(channels), _norm(norm, channels), nn.ReLU(),
                                      SeparableConv(channels), _norm(norm, channels))
        else:
            self.body = nn.Sequential(ConvLayer(channels, channels, 3, norm=norm),
                                      ConvLayer(channels, channels, 3, norm=norm, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Photo ``(B, 3, H, W)`` in [0, 1] → stylised photo of the same size (unclamped; `stylize_with` clamps).

    Johnson et al.'s layout at ``width`` channels (they use 32): a 9×9 convolution, two stride-2
    convolutions down to ``4·width`` channels, ``blocks`` residual blocks at a quarter of the size, two
    ×2 upsamplings (`UpsampleConv`) and a 9×9 convolution back to RGB. The layers at full resolution have
    ``width // 2`` channels: they cost the most per channel. The default, 8, paints a 256 px photo in 10–45 ms
    on a 2-core CPU (0.65 billion multiplications; Johnson et al.'s 32 take 10 billion).
    Any ``H, W`` works (padded to a multiple of 4). ``kernel``: the two outer convolutions' side (Johnson's 9);
    ``separable``: the residual blocks' convolutions depthwise-separable (`SeparableConv`). The shipped networks
    (`stlib.networks`) use 5 and separable blocks, to paint a webcam's frames in the browser.

    ``skip`` (stlib's change, for a laptop's training budget): the output is ``body(x) + norm(x)``, the
    photo normalised (as the body's layers: ``norm``) with a learned scale and shift per colour, and the
    body's last convolution starts at zero. The untrained network already returns the photo (at a typical
    photo's contrast), so training learns only the strokes; Johnson's network (``skip=False``) must first
    learn to copy the photo.
    With instance norm both paths normalise the photo first, so neither sees its brightness or contrast.
    """

    def __init__(self, width: int = 8, blocks: int = 5, norm: str = "instance", skip: bool = True,
                 kernel: int = 9, separable: bool = False):
        super().__init__()
        if norm not in NORMS:
            _norm(norm, 1)  # raises the one-line error
        if kernel < 1 or kernel % 2 == 0:
            raise StlibError(f"kernel must be an odd number of pixels ≥ 1, got {kernel!r}")
        self.config = {"width": int(width), "blocks": int(blocks), "norm": norm, "skip": bool(skip),
                       "kernel": int(kernel), "separable": bool(separable)}
        w, outer = width, max(1, width // 2)
        self.body = nn.Sequential(
            ConvLayer(3, outer, kernel, norm=norm),
            ConvLayer(outer, 2 * w, 3, stride=2, norm=norm),
            ConvLayer(2 * w, 4 * w, 3, stride=2, norm=norm),
            *[ResidualBlock(4 * w, norm, separable) for _ in range(blocks)],
            ConvLayer(4 * w, 2 * w, 3, norm=norm, upsample=True),
            ConvLayer(2 * w, outer, 3, norm=norm, upsample=True),
            ConvLayer(outer, 3, kernel, norm=None, relu=False),
        )
        self.skip = _norm(norm, 3) if skip else None  # the same normalisation as the body's
        if self.skip is not None:
            last = self.body[-1][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            with torch.no_grad():  # a typical photo's spread and mean per colour
                self.skip.weight.fill_(PHOTO_STD)
                self.skip.bias.fill_(PHOTO_MEAN)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise StlibError(f"image of shape {tuple(image.shape)}: expected (B, 3, H, W), RGB in [0, 1]")
        h, w = image.shape[-2:]
        ph, pw = -h % 4, -w % 4  # pad to a multiple of 4, crop back afterwards
        x = nn.functional.pad(image, (0, pw, 0, ph), mode="reflect") if ph or pw else image
        out = self.body(x)[..., :h, :w]
        return out + self.skip(image) if self.skip is not None else out


PHOTO_STD, PHOTO_MEAN = 0.25, 0.45  # roughly, per colour channel, of a typical photo


# -- training ------------------------------------------------------------------------------------------
# Colour photos of the world: the 33 CC0 photographs in data/photos/ (data/photos/README.md) less three held out
# and six that are not colour photos, plus two colour photos inside wheels the course installs (a face among
# them). The lessons' cat and the astronaut are held out too: the network never sees them while it trains, so
# they show what it does with a new photo.
HELD_OUT: tuple[str, ...] = ("chelsea", "astronaut")
HELD_OUT_PHOTOS: tuple[str, ...] = ("oakland-zoo-otters", "san-francisco-skyline", "lake-sherburne")
# a Klee-like drawing; then pictures whose colours are almost all grey or black (a mean distance of a pixel's
# channels from their mean under 0.01, against 0.03–0.21 for the others): a building, the Moon, space
NOT_PHOTOS: tuple[str, ...] = ("rich-port", "abstract-spiral", "piazza-gae-aulenti", "apollo-11-earth",
                               "saturnian-profile", "ufo-galaxy")
TRAIN_PHOTOS: tuple[str, ...] = (
    *sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "data" / "photos").glob("*.jpg")
            if p.stem not in HELD_OUT_PHOTOS + NOT_PHOTOS),
    "grace_hopper", "motorcycle_left",
)

# YIQ: luma and two chroma axes; a hue shift is a rotation in the chroma plane
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def jitter_colour(piece: torch.Tensor, hue: float, saturation: float) -> torch.Tensor:
    """``piece`` ``(1, 3, H, W)`` with its hue turned by ``hue`` radians and its chroma scaled by ``saturation``."""
    c, s = math.cos(hue) * saturation, math.sin(hue) * saturation
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    matrix = torch.linalg.inv(_YIQ) @ turn @ _YIQ
    return torch.einsum("ij,bjhw->bihw", matrix, piece).clamp(0, 1)


def photo_batch(photos: Sequence[torch.Tensor], batch: int, crop: int, generator: torch.Generator, *,
                zoom: float = 1.0, jitter: float = 0.0) -> torch.Tensor:
    """``batch`` random ``crop``×``crop`` crops (each from a random photo, flipped left-right half the time).

    ``zoom`` > 1: each crop is cut at a random side from ``crop`` to ``zoom·crop`` px (as the photo allows) and
    scaled down to ``crop``, so the network sees things at several sizes; ``jitter``: hue turned by up to
    ``±jitter·π`` and saturation scaled by ``1 ± 2·jitter``, so it meets colours the photos lack."""
    def uniform() -> float:
        return float(torch.rand((), generator=generator))

    crops = []
    for _ in range(batch):
        photo = photos[int(torch.randint(len(photos), (1,), generator=generator))]
        h, w = photo.shape[-2:]
        side = min(h, w, round(crop * (1 + (zoom - 1) * uniform()))) if zoom > 1 else crop
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        piece = photo[..., top:top + side, left:left + side]
        if side != crop:
            piece = nn.functional.interpolate(piece, size=(crop, crop), mode="bilinear", antialias=True,
                                              align_corners=False).clamp(0, 1)
        if uniform() < 0.5:
            piece = piece.flip(-1)
        if jitter > 0:
            piece = jitter_colour(piece, (2 * uniform() - 1) * jitter * math.pi, 1 + (2 * uniform() - 1) * 2 * jitter)
        crops.append(piece)
    return torch.cat(crops)


def same_height(images: Sequence[torch.Tensor], height: int) -> list[torch.Tensor]:
    """Images ``(1, 3, h, w)`` scaled to one ``height`` (aspect kept, width a multiple of 4)."""
    scaled = []
    for image in images:
        width = max(4, round(image.shape[-1] * height / image.shape[-2] / 4) * 4)
        scaled.append(nn.functional.interpolate(image, size=(height, width), mode="bilinear", antialias=True,
                                                align_corners=False).clamp(0, 1))
    return scaled


@dataclass(frozen=True)
class TrainSettings:
    """What a network is trained with, besides the style image; stored with its weights."""

    steps: int = 400  # with these settings, 700 steps drew diagonal stripes over the held-out photos
    crop: int = 128  # side of the training crops, px
    photo_side: int = 256  # photos (and the style) are scaled to this shorter side first
    batch: int = 2
    lr: float = 2e-3  # 5e-3 (tried with starry_night, 400 steps): a flat grey photo with blob outlines, no strokes
    content_weight: float = 1.0
    # β: 50× stylize's. A network must paint every photo with the same weights, so it reaches the style less
    # closely than an optimised image; at 5e-4 and 2e-3 the ihc strokes were still faint after 250 steps. With
    # starry_night (lesson 10), 1.5e-2 gave denser stripes and paler faces, not more of the painting's colour
    style_weight: float = 5e-3
    tv_weight: float = 0.0
    preset: str = "default"  # layers, layer weights and normalisations of the losses (stlib.presets)
    content_layer: str = ""  # "": the preset's content layer(s); else this VGG19 layer's (e.g. relu3_1)
    style_scale: float = 1.0  # the style's shorter side is photo_side × this: larger, larger strokes
    zoom: float = 1.0  # crops cut at sides from crop to zoom·crop, scaled to crop (`photo_batch`)
    jitter: float = 0.0  # hue and saturation jitter of the crops (`photo_batch`)
    width: int = 8
    blocks: int = 5
    norm: str = "instance"
    skip: bool = True  # see TransformerNet
    kernel: int = 9  # the outer convolutions' side
    separable: bool = False  # depthwise-separable residual blocks
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "crop", "photo_side", "batch", "width", "blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StlibError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if self.crop > self.photo_side:
            raise StlibError(f"crop {self.crop} is larger than photo_side {self.photo_side}; crop a smaller piece")
        if self.crop % 4:
            raise StlibError(f"crop must be a multiple of 4, got {self.crop}")
        for name in ("lr", "content_weight", "style_weight", "tv_weight", "jitter"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise StlibError(f"{name} must be a number ≥ 0, got {value!r}")
        for name in ("zoom", "style_scale"):
            if not (isinstance(getattr(self, name), (int, float)) and 0.25 <= getattr(self, name) <= 8):
                raise StlibError(f"{name} must be a number from 0.25 to 8, got {getattr(self, name)!r}")
        if self.zoom < 1:
            raise StlibError(f"zoom must be at least 1 (crops are cut at crop to zoom × crop px), got {self.zoom!r}")
        if self.jitter > 0.5:
            raise StlibError(f"jitter must be at most 0.5 (hue ±90°), got {self.jitter!r}")
        if self.content_layer and self.content_layer not in LAYER_NAMES:
            raise StlibError(f"unknown content layer {self.content_layer!r}: use a VGG19 layer such as relu3_1")
        TransformerNet(1, 0, self.norm, kernel=self.kernel)  # the network's own one-line errors
        if self.norm not in NORMS:
            raise StlibError(f"unknown normalisation {self.norm!r}: use 'instance' or 'batch'")
        get_preset(self.preset)


# The networks that ship in data/networks/ (`SHIPPED_STYLES`; `make train-networks`, data/networks/README.md):
# chosen by measurement (benchmarks/README.md, "Networks worth showing"). Lesson 10's student network keeps
# `TrainSettings`' defaults: a few hundred steps a laptop trains while the student watches.
SHIPPED = TrainSettings(steps=2000, crop=128, photo_side=256, batch=2, preset="balanced", style_weight=2e6,
                        tv_weight=5e7, style_scale=2.0, zoom=2.0, jitter=0.05, width=8, blocks=3, kernel=5,
                        separable=True)
RECIPES = {"lesson": TrainSettings(), "shipped": SHIPPED}
NETWORK_DIR = Path(__file__).resolve().parent.parent / "data" / "networks"
SHIPPED_STYLES: tuple[str, ...] = (*PAINTINGS, "stained_glass")  # the paintings and lesson 11's texture


@dataclass
class Trained:
    """A trained network with what made it: ``result`` has the loss history, and the held-out photos
    stylised at the snapshot steps (``result.snapshots``) and at the end (``result.image``)."""

    net: TransformerNet
    settings: TrainSettings
    style: str  # the style's name or path, for the record
    result: Result

    def __call__(self, image: ImageSource, max_size: int | None = None) -> torch.Tensor:
        """Stylise one photo (anything `load_image` takes; ``max_size``: its longest side) in one forward pass."""
        return stylize_with(self.net, image, max_size)

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        return save_net(self, path, overwrite=overwrite)


MIN_SIDE = 8  # reflection padding needs more pixels than it pads, at every resolution of the network


def stylize_with(net: TransformerNet, image: ImageSource, max_size: int | None = None) -> torch.Tensor:
    """``net``'s picture of ``image`` ``(1, 3, H, W)``, clamped to [0, 1]; no autograd; a size that cannot fit
    in memory is refused first (`stlib.memory.check_run`)."""
    photo = load_image(image, max_size=max_size)
    if min(photo.shape[-2:]) < MIN_SIDE:
        raise StlibError(f"the photo is {photo.shape[-1]}×{photo.shape[-2]} px; the network needs at least "
                         f"{MIN_SIDE} px per side: use a larger photo or size")
    device = next(net.parameters()).device
    check_run(*photo.shape[-2:], one_pass="net", net_width=net.config["width"], device=device.type, what="max_size")
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            return net(photo.to(device)).clamp(0, 1).cpu()
    finally:
        net.train(was_training)


def train_preset(settings: TrainSettings):
    """``settings.preset`` with the settings' weights and content layer."""
    preset = get_preset(settings.preset)
    return replace(preset, content_weight=settings.content_weight, style_weight=settings.style_weight,
                   content_layers=(settings.content_layer,) if settings.content_layer else preset.content_layers)


def perceptual_loss(vgg: VGG19, out: torch.Tensor, photos: torch.Tensor, grams: dict[str, torch.Tensor],
                    settings: TrainSettings) -> LossTerms:
    """Johnson et al.'s loss of the network's pictures ``out`` of ``photos`` ``(B, 3, H, W)``: `stylize`'s
    ``α·content + β·style + γ·TV`` (`stlib.perceptual.perceptual_terms`, with ``settings.preset``'s layers and
    normalisations and ``settings``' weights), averaged over the batch; ``grams``: the style's `style_targets`."""
    preset = train_preset(settings)
    feats = vgg(out, list(dict.fromkeys([*preset.content_layers, *preset.style_weights])))
    with torch.no_grad():
        targets = vgg(photos, preset.content_layers)
    weights = layer_weights(preset, grams, {l: feats[l].shape[-3:] for l in preset.style_weights})
    return perceptual_terms(preset, feats, targets, grams, weights, out, settings.tv_weight)


def train_net(style: ImageSource, settings: TrainSettings | None = None, *,
              photos: Sequence[ImageSource] = TRAIN_PHOTOS, held_out: Sequence[ImageSource] = HELD_OUT,
              preview_height: int = 192, snapshot_at: Sequence[int] = (), callbacks: Sequence[Callback] = (),
              model: VGG19 | str | None = None, device: torch.device | str | None = None, cache: bool = False,
              progress: bool | str = True, checkpoint: str | os.PathLike | None = None,
              checkpoint_every: int = 100, **overrides) -> Trained:
    """Train a `TransformerNet` for one ``style``: its weights are the variable, the loss is the one
    `stylize` minimises (``settings.preset``), averaged over random crops of ``photos``.

    Every step: a batch of crops → the network → VGG19 → ``α·content + β·style + γ·TV`` → Adam. The live view
    and the snapshots show the ``held_out`` photos (never trained on) stylised, side by side, at
    ``preview_height`` px; so do ``callbacks`` (`stlib.optim.Callback`, e.g. to stop early). ``overrides``
    change single settings (``steps=…``). Like every run it goes through `stlib.runner.run`: the memory
    check (photos included, before they are scaled), the model, the cache. Ctrl-C keeps the network as it
    is; a NaN loss stops with `DivergedError`.

    ``checkpoint``: a file where the training so far is saved every ``checkpoint_every`` steps and when it is
    interrupted (the network, Adam's state, the crops' random state, the history); a run started with the same
    file, style, photos and settings continues from it, so hours of training survive a Ctrl-C or a new machine.
    """
    settings = replace(settings or TrainSettings(), **overrides)
    preset = train_preset(settings)
    style_t, photo_ts = load_image(style), [load_image(p) for p in photos]  # as they are: scaled once it fits
    shown = same_height([load_image(p) for p in held_out], preview_height)
    side = settings.photo_side  # each scaled so its shorter side is photo_side (the style's: × style_scale)
    sides = [round(side * settings.style_scale), *[side] * len(photo_ts)]
    shapes = [t.shape[-2:] for t in (style_t, *photo_ts)]
    covered = [scaled_shape(h, w, n / min(h, w), n) for n, (h, w) in zip(sides, shapes, strict=True)]

    def compute(vgg: VGG19, config, progress: bool | str) -> Result:
        dev = config.device
        style_in = load_image(style_t, covered[0]).to(dev)
        photos_in = [load_image(t, shape) for t, shape in zip(photo_ts, covered[1:], strict=True)]
        torch.manual_seed(settings.seed)
        net = TransformerNet(**net_config(settings)).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
        generator = torch.Generator().manual_seed(settings.seed)
        saved = read_checkpoint(checkpoint, identity) if checkpoint is not None else None
        if saved is not None:
            net.load_state_dict(saved["net"])
            opt.load_state_dict(saved["opt"])
            generator.set_state(saved["generator"])
        grams = style_targets(vgg, style_in, list(preset.style_weights))
        held = [photo.to(dev) for photo in shown]
        last = {"at": -math.inf, "image": None}

        def picture() -> torch.Tensor:  # each held-out photo painted on its own, then side by side
            net.eval()
            with torch.no_grad():
                image = torch.cat([net(photo).clamp(0, 1) for photo in held], dim=-1)
            net.train()
            last.update(at=time.perf_counter(), image=image)
            return image

        def preview() -> torch.Tensor:  # for the live view: a new picture at most once a second
            return last["image"] if time.perf_counter() - last["at"] < 1.0 else picture()

        def save(result: Result) -> None:
            state = {"net": net.state_dict(), "opt": opt.state_dict(), "generator": generator.get_state()}
            write_checkpoint(checkpoint, identity, state, result)

        def step() -> dict[str, float]:
            batch = photo_batch(photos_in, settings.batch, settings.crop, generator, zoom=settings.zoom,
                                jitter=settings.jitter).to(dev)
            terms = perceptual_loss(vgg, net(batch), batch, grams, settings)
            if math.isfinite(float(terms.total.detach())):  # else run_steps stops with DivergedError, weights untouched
                opt.zero_grad(set_to_none=True)
                terms.total.backward()
                opt.step()
            return terms.items()

        net.train()
        resume = None if saved is None else saved["result"]
        rows = [] if resume is None else list(resume.history)  # the history so far, for the checkpoints

        def keep(done: int, _shown: torch.Tensor, terms: dict) -> bool:  # a callback: never stops the run
            rows.append(terms)
            if checkpoint is not None and done % checkpoint_every == 0:
                save(Result(image=torch.zeros(1, 3, 1, 1), history=rows, steps=done, seconds=terms["time"],
                            snapshots=dict(resume.snapshots) if resume else {}))
            return False

        if resume is not None and progress:
            print(f"{progress if isinstance(progress, str) else 'training'}: continuing from {checkpoint} "
                  f"at step {resume.steps}/{settings.steps}", flush=True)
        result = run_steps(step, picture, num_steps=settings.steps, snapshot_at=config.snapshot_at,
                           callbacks=[keep, *callbacks], progress=progress, preview=preview, resume=resume,
                           advice=f"(lr={settings.lr}): lower the learning rate or the style weight")
        if checkpoint is not None and result.steps < settings.steps:
            save(result)  # interrupted or stopped early: the next run continues from here
        result.weights = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        return result

    kept = sum(h * w for h, w in covered) + sum(t.shape[-2] * t.shape[-1] for t in shown)
    objective = Objective("fastnet", dict(style=style_t, photos=photo_ts, held_out=shown, settings=asdict(settings)),
                          (settings.batch, 3, settings.crop, settings.crop),
                          (*preset.content_layers, *preset.style_weights), compute=compute,
                          memory={"pixels_kept": kept, "blame": f"{len(photos)} photos at photo_side "
                                                                f"{settings.photo_side}", "what": "crop"})
    config = run_config(num_steps=settings.steps, optimizer="adam", lr=settings.lr, snapshot_at=snapshot_at,
                        seed=settings.seed, device=device)
    # what a checkpoint must match to be continued: not the step count, so a longer run continues a shorter one
    identity = _cache.make_key({"style": style_t, "photos": photo_ts, "settings": {**asdict(settings), "steps": 0}})
    result = run(objective, config, model, cache=cache, progress=progress)
    net = TransformerNet(**net_config(settings))
    net.load_state_dict(result.weights)
    style_name = style if isinstance(style, str) else "an image"
    return Trained(net=net.to(config.device).eval(), settings=settings, style=style_name, result=result)


def net_config(settings: TrainSettings) -> dict:
    """The `TransformerNet` arguments in ``settings``."""
    return {name: getattr(settings, name) for name in ("width", "blocks", "norm", "skip", "kernel", "separable")}


# -- files ---------------------------------------------------------------------------------------------
CHECKPOINT_FORMAT = "stlib-fastnet-checkpoint-1"


def _read_marked(path: Path, marker: str, file: str, kind: str, fix: str) -> dict:
    """A `torch.save` dict whose ``format`` is ``marker``, read with ``weights_only=True`` (no code from the file
    runs); an unreadable or foreign file gets one line: "``path`` is not ``file`` stlib can read" or "… not
    ``kind``", then ``fix``."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one line
        raise StlibError(f"{path} is not {file} stlib can read ({type(err).__name__}); {fix}") from None
    if not isinstance(data, dict) or data.get("format") != marker:
        raise StlibError(f"{path} is not {kind} (no {marker!r} marker): {fix}")
    return data


def read_checkpoint(path: str | os.PathLike, identity: str) -> dict | None:
    """A checkpoint `write_checkpoint` wrote for the same training (``identity``), or None if there is no file;
    one that belongs to another training is refused in one line (never overwritten)."""
    path = Path(path)
    if not path.exists():
        return None
    data = _read_marked(path, CHECKPOINT_FORMAT, "a checkpoint", "a stlib training checkpoint",
                        "move it away or choose another output name")
    if data.get("identity") != identity:
        raise StlibError(f"{path} is the checkpoint of another training (style, photos or settings differ); "
                         "train with the same ones to continue it, or move it away to start again")
    result = data["result"]
    data["result"] = Result(image=torch.zeros(1, 3, 1, 1), history=result["history"], steps=int(result["steps"]),
                            seconds=float(result["seconds"]), snapshots=result["snapshots"])
    return data


def write_checkpoint(path: str | os.PathLike, identity: str, state: dict, result: Result) -> Path:
    """Save a training's ``state`` (network, optimiser, random state) and its ``result`` so far, atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "identity": identity, **state,
               "result": {"history": result.history[:result.steps], "steps": result.steps, "seconds": result.seconds,
                          "snapshots": result.snapshots}}
    return atomic_write(Path(path), lambda tmp: torch.save(payload, tmp), overwrite=True)


FILE_FORMAT = "stlib-fastnet-1"


def save_net(trained: Trained, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write the network, its settings and its style's name to ``path`` (a `torch.save` file that
    `load_net` reads back with ``weights_only=True``); atomically, with the umask's permissions."""
    path = Path(path)
    payload = {"format": FILE_FORMAT, "config": dict(trained.net.config), "settings": asdict(trained.settings),
               "style": trained.style, "state_dict": {k: v.detach().cpu() for k, v in trained.net.state_dict().items()}}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp), overwrite=overwrite)


def load_net(path: str | os.PathLike, device: torch.device | str | None = None) -> Trained:
    """A network written by `save_net`, read with ``weights_only=True`` (no code from the file runs).
    ``path`` may also name a shipped network (`SHIPPED_STYLES`: ``"starry_night"`` is
    ``data/networks/starry_night.pt``). A missing, foreign or mismatched file gets a one-line `StlibError`."""
    path = Path(path)
    if not path.is_file() and str(path) in SHIPPED_STYLES:
        path = NETWORK_DIR / f"{path}.pt"
    if not path.is_file():
        raise StlibError(f"no network file {path}: give a shipped network ({', '.join(SHIPPED_STYLES)}) or train "
                         f"one with `python -m stlib train-net STYLE -o {path.name}`")
    data = _read_marked(path, FILE_FORMAT, "a network file", "a stlib network",
                        "train one with `python -m stlib train-net`")
    try:
        net = TransformerNet(**data["config"])
        net.load_state_dict(data["state_dict"])
        settings = TrainSettings(**data["settings"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StlibError(f"{path} does not match stlib's network ({first[:120]}); train it again") from None
    result = Result(image=torch.zeros(1, 3, 4, 4), steps=settings.steps)
    return Trained(net=net.to(pick_device(device)).eval(), settings=settings, style=str(data.get("style", "")),
                   result=result)
