"""Real-time style transfer: a small image-transformation network (Johnson, Alahi & Fei-Fei 2016).

`stylize` optimises one image; here the variable is the weights of a network that paints any photo in one forward
pass, trained once per style with the same perceptual losses on many photos. Instance normalisation (Ulyanov et al.
2016) normalises each image on its own; ``norm="batch"`` swaps in batch normalisation for comparison.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .config import REPO
from .errors import StlibError, check_choice
from .images import PAINTINGS, ImageSource, load_image, scaled_shape
from .losses import LossTerms
from .memory import check_run
from .models import LAYER_NAMES, VGG19
from .optim import Callback, Result, pick_device
from .perceptual import layer_weights, perceptual_terms, style_targets
from .presets import get_preset
from .training import HELD_OUT, TRAIN_PHOTOS, PhotoSettings, Trainee, read_marked, train, write_marked

NORMS = ("instance", "batch")


def _norm(kind: str, channels: int) -> nn.Module:
    if check_choice(kind, NORMS, "normalisation") == "instance":  # one group per channel is instance norm: the
        return nn.GroupNorm(channels, channels)  # same numbers as nn.InstanceNorm2d (affine), a seventh of its time
    return nn.BatchNorm2d(channels)


class ChannelsLastConv2d(nn.Conv2d):
    """`nn.Conv2d` on channels-last memory, the same numbers: faster on a CPU for the large outer kernels (measured,
    whole network: training 1.2× on a 2-core AVX-512 Xeon, inference 1.1× on a 2-core AMD EPYC)."""

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
    """Nearest ×2 upsampling, reflection padding and a 3×3 convolution, without the upsampled copy: each pixel of a
    2×2 output block reads the small image through sums of the kernel's weights (`_PHASES`), so one convolution with
    ``4·cout`` channels, then a pixel shuffle, gives exactly the same picture in about half the time on a CPU. The
    weights are ``conv``'s, as in Johnson et al.'s layer, and train as they would there."""

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
    """A depthwise-separable 3×3 convolution (MobileNet's): each channel filtered alone, then a 1×1 mix; ``9·C + C²``
    weights instead of ``9·C²``, a third of the time in the browser's one-thread WebAssembly runtime."""

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
    """Photo ``(B, 3, H, W)`` in [0, 1], any ``H, W`` → stylised photo of the same size (unclamped).

    Johnson et al.'s layout at ``width`` channels (they use 32): a ``kernel``-sided convolution (their 9), two
    stride-2 ones down to ``4·width`` channels, ``blocks`` residual blocks (``separable``: `SeparableConv`), two ×2
    upsamplings (`UpsampleConv`) and a ``kernel``-sided one back to RGB; the full-resolution layers have ``width // 2``
    channels. Width 8 paints 256 px in 10–45 ms on a 2-core CPU (0.65 billion multiplications; 32 take 10 billion);
    the shipped networks (`SHIPPED`) use kernel 5 and separable blocks, for a webcam in the browser.

    ``skip`` (stlib's change, for a laptop's budget): the output is ``body(x) + norm(x)`` (a learned scale and shift
    per colour) and the body's last convolution starts at zero, so the untrained network returns the photo and
    training learns only the strokes; Johnson's (``skip=False``) must first learn to copy the photo.
    """

    def __init__(self, width: int = 8, blocks: int = 5, norm: str = "instance", skip: bool = True,
                 kernel: int = 9, separable: bool = False):
        super().__init__()
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
            for param in self.body[-1][-1].parameters():  # the last convolution's weight and bias
                nn.init.zeros_(param)
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

@dataclass(frozen=True)
class TrainSettings(PhotoSettings):
    """What a network is trained with, besides the style image (and `stlib.training.PhotoSettings`' steps, crops,
    batch, learning rate, zoom, jitter and seed); stored with its weights."""

    steps: int = 400  # with these settings, 700 steps drew diagonal stripes over the held-out photos
    lr: float = 2e-3  # 5e-3 (tried with starry_night, 400 steps): a flat grey photo with blob outlines, no strokes
    content_weight: float = 1.0
    # β: 50× stylize's (one network for every photo reaches the style less closely): at 5e-4 and 2e-3 the ihc strokes
    # were faint after 250 steps; 1.5e-2 with starry_night gave denser stripes and paler faces, not more colour
    style_weight: float = 5e-3
    tv_weight: float = 0.0
    preset: str = "lessons"  # layers, layer weights and normalisations of the losses (stlib.presets)
    content_layer: str = ""  # "": the preset's content layer(s); else this VGG19 layer's (e.g. relu3_1)
    style_scale: float = 1.0  # the style's shorter side is photo_side × this: larger, larger strokes
    width: int = 8
    blocks: int = 5
    norm: str = "instance"
    skip: bool = True  # see TransformerNet
    kernel: int = 9  # the outer convolutions' side
    separable: bool = False  # depthwise-separable residual blocks

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require_whole("width", "blocks")
        self.require_non_negative("content_weight", "style_weight", "tv_weight")
        if not (isinstance(self.style_scale, (int, float)) and 0.25 <= self.style_scale <= 8):
            raise StlibError(f"style_scale must be a number from 0.25 to 8, got {self.style_scale!r}")
        if self.content_layer and self.content_layer not in LAYER_NAMES:
            raise StlibError(f"unknown content layer {self.content_layer!r}: use a VGG19 layer such as relu3_1")
        TransformerNet(1, 0, self.norm, kernel=self.kernel)  # the network's own one-line errors
        get_preset(self.preset)


# The networks in data/networks/ (`make train-networks`), chosen by measurement (benchmarks/README.md, "Networks
# worth showing"); lesson 10's network keeps `TrainSettings`' defaults, a few hundred steps a laptop trains.
SHIPPED = TrainSettings(steps=2000, crop=128, photo_side=256, batch=2, preset="balanced", style_weight=2e6,
                        tv_weight=5e7, style_scale=2.0, zoom=2.0, jitter=0.05, width=8, blocks=3, kernel=5,
                        separable=True)
RECIPES = {"lesson": TrainSettings(), "shipped": SHIPPED}
NETWORK_DIR = REPO / "data" / "networks"
SHIPPED_STYLES: tuple[str, ...] = (*PAINTINGS, "stained_glass")  # the paintings and lesson 11's texture


@dataclass
class Trained:
    """A trained network with what made it: ``result``, its loss history and the held-out photos it painted."""

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
    """``net``'s picture ``(1, 3, H, W)`` of ``image`` (its longest side at most ``max_size``, never enlarged),
    clamped to [0, 1]; no autograd; a size that cannot fit in memory is refused first."""
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
    """Johnson et al.'s loss of the pictures ``out`` of ``photos`` ``(B, 3, H, W)``: `stylize`'s (`perceptual_terms`
    with ``settings``' preset and weights), averaged over the batch; ``grams``: the style's `style_targets`."""
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
    """Train a `TransformerNet` for one ``style``: its weights are the variable, the loss `stylize`'s (``settings``'
    preset) over random crops of ``photos``, by Adam (`stlib.training.train`, which keeps the ``checkpoint``). The
    live view, the snapshots and ``callbacks`` see the ``held_out`` photos stylised side by side at ``preview_height``
    px. ``overrides`` change single settings (``steps=…``)."""
    settings = replace(settings or TrainSettings(), **overrides)
    preset = train_preset(settings)
    style_t = load_image(style)  # as it is: scaled once the memory check has passed
    side = round(settings.photo_side * settings.style_scale)  # the style's shorter side
    style_shape = scaled_shape(*style_t.shape[-2:], side / min(style_t.shape[-2:]), side)

    def setup(vgg: VGG19, _photos: list[torch.Tensor], device: torch.device) -> Trainee:
        net = TransformerNet(**net_config(settings)).to(device)
        grams = style_targets(vgg, load_image(style_t, style_shape).to(device), list(preset.style_weights))

        def picture(held: list[torch.Tensor]) -> torch.Tensor:  # each held-out photo painted, side by side
            return torch.cat([net(photo).clamp(0, 1) for photo in held], dim=-1)

        return Trainee(net, lambda batch: vars(perceptual_loss(vgg, net(batch), batch, grams, settings)), picture)

    result = train("fastnet", settings, setup, photos=photos, held_out=held_out, preview_height=preview_height,
                   inputs={"style": style_t}, layers=(*preset.content_layers, *preset.style_weights),
                   pixels_kept=style_shape[0] * style_shape[1], snapshot_at=snapshot_at, callbacks=callbacks,
                   model=model, device=device, cache=cache, progress=progress, checkpoint=checkpoint,
                   checkpoint_every=checkpoint_every, advice="lower the learning rate or the style weight")
    net = TransformerNet(**net_config(settings))
    net.load_state_dict(result.weights)
    return Trained(net=net.to(pick_device(device)).eval(), settings=settings,
                   style=style if isinstance(style, str) else "an image", result=result)


def net_config(settings: TrainSettings) -> dict:
    """The `TransformerNet` arguments in ``settings``."""
    return {name: getattr(settings, name) for name in ("width", "blocks", "norm", "skip", "kernel", "separable")}


# -- files ---------------------------------------------------------------------------------------------
FILE_FORMAT = "stlib-fastnet-1"


def save_net(trained: Trained, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write the network, its settings and its style's name to ``path`` (`load_net` reads them back)."""
    return write_marked(path, FILE_FORMAT, {"config": dict(trained.net.config), "settings": asdict(trained.settings),
                                            "style": trained.style, "state_dict": trained.net.state_dict()},
                        overwrite=overwrite)


def load_net(path: str | os.PathLike, device: torch.device | str | None = None) -> Trained:
    """A network written by `save_net` (``weights_only=True``: no code from the file runs), or a shipped one by name
    (``"starry_night"``: ``data/networks/starry_night.pt``); a missing or foreign file gets a one-line error."""
    path = Path(path)
    if not path.is_file() and str(path) in SHIPPED_STYLES:
        path = NETWORK_DIR / f"{path}.pt"
    if not path.is_file():
        raise StlibError(f"no network file {path}: give a shipped network ({', '.join(SHIPPED_STYLES)}) or train "
                         f"one with `python -m stlib train-net STYLE -o {path.name}`")
    data = read_marked(path, FILE_FORMAT, "a network file", "a stlib network",
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
