"""Universal style transfer (Li et al. 2017): any style in one pass, no per-style training.

Lesson 05's Gram matrix ÷ positions, minus the mean's outer product, is the features' covariance. `wct` whitens the
content's features (covariance → identity) and colours them with the style's, by eigendecompositions: the style's
covariance is matched exactly, in closed form. `adain` (Huang & Belongie 2017) is the diagonal case. A `Decoder` per
VGG19 level, trained once on photos (`train_decoders`), paints the result; `stylize_wct` runs the levels coarse to fine.
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
from .fastnet import ConvLayer
from .images import ImageSource, load_image
from .losses import gram_matrix
from .memory import check_run
from .models import STYLE_MIN_SIDE, VGG19, VGG_LAYOUT, vgg19
from .optim import Result, pick_device
from .training import HELD_OUT, TRAIN_PHOTOS, PhotoSettings, Trainee, read_marked, train, write_marked
from .transfer import check_style_scale, whole_style

LEVELS = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")  # coarse to fine, as Li et al. (without relu5_1)
METHODS = ("wct", "adain")


POSITIONS = 2**15  # `covariance` sums this many positions at a time in float64: no float64 copy of all the features


def covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(C, 1)`` and covariance ``(C, C)`` of features ``(1, C, H, W)`` over the positions: the Gram matrix ÷ H·W
    minus the mean's outer product, summed in float64 (in float32 the small eigenvalues are off by up to 1 %)."""
    if features.dim() != 4 or features.shape[0] != 1:
        raise StlibError(f"features of shape {tuple(features.shape)}: expected one image's (1, C, H, W)")
    flat = features[0].flatten(1)
    total = flat.new_zeros((len(flat), 1), dtype=torch.float64)
    gram = flat.new_zeros((len(flat), len(flat)), dtype=torch.float64)
    for part in flat.split(POSITIONS, dim=1):
        part = part.double()
        total += part.sum(1, keepdim=True)
        gram += gram_matrix(part, normalize=False)
    mean = total / flat.shape[1]
    return mean, gram / flat.shape[1] - mean @ mean.T


def _power(cov: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    """``cov ** power`` by its eigendecomposition; directions with an eigenvalue under ``eps`` × the largest
    (channels that never fire) are dropped rather than blown up."""
    values, vectors = torch.linalg.eigh(cov)
    keep = values > eps * values.max().clamp_min(1e-30)
    return vectors @ torch.diag(torch.where(keep, values, 1.0).pow(power) * keep) @ vectors.T


def _check_pair(content: torch.Tensor, style: torch.Tensor, strength: float) -> None:
    if content.dim() != 4 or style.dim() != 4 or content.shape[:2] != style.shape[:2] or content.shape[0] != 1:
        raise StlibError(f"content features {tuple(content.shape)} and style features {tuple(style.shape)}: "
                         "expected (1, C, H, W) and (1, C, h, w) from the same layer")
    if not (isinstance(strength, (int, float)) and 0 <= strength <= 1):
        raise StlibError(f"strength must be a number from 0 (the content) to 1 (the style), got {strength!r}")


def wct(content: torch.Tensor, style: torch.Tensor, strength: float = 1.0, eps: float = 1e-5) -> torch.Tensor:
    """The whitening–colouring transform of content features ``(1, C, H, W)`` with style features
    ``(1, C, h, w)``: afterwards their mean and covariance are the style's. ``strength`` α blends
    ``α·wct + (1 − α)·content``."""
    _check_pair(content, style, strength)
    (mc, cc), (ms, cs) = covariance(content), covariance(style)
    # whiten (covariance → identity), colour (→ the style's), blend: α·(colour·(f − μc) + μs) + (1 − α)·f is one
    # matrix and one shift, so the big features are multiplied once, in their own dtype
    colour = _power(cs, 0.5, eps) @ _power(cc, -0.5, eps)
    matrix = strength * colour + (1 - strength) * torch.eye(len(colour), dtype=colour.dtype, device=colour.device)
    shift = strength * (ms - colour @ mc)
    flat = content[0].flatten(1)
    return torch.addmm(shift.to(flat), matrix.to(flat), flat).reshape(content.shape)


def adain(content: torch.Tensor, style: torch.Tensor, strength: float = 1.0, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation: each channel of ``content`` gets the style's mean and standard deviation
    (`wct` with both covariances cut to their diagonals)."""
    _check_pair(content, style, strength)
    dims = (2, 3)
    mc, sc = content.mean(dims, keepdim=True), content.var(dims, keepdim=True, correction=0).add(eps).sqrt()
    ms, ss = style.mean(dims, keepdim=True), style.var(dims, keepdim=True, correction=0).add(eps).sqrt()
    return strength * ((content - mc) / sc * ss + ms) + (1 - strength) * content


# -- decoders --------------------------------------------------------------------------------------------
def _encoder_convs(level: str) -> list[tuple[int, int, bool]]:
    """``(in, out, pooled before)`` for each of VGG19's convolutions up to ``level`` (``"reluB_1"``)."""
    if level not in LEVELS:
        raise StlibError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    convs, cin = [], 3
    for block, count, channels in VGG_LAYOUT[: int(level[4])]:
        for i in range(count if block < int(level[4]) else 1):
            convs.append((cin, channels, i == 0 and block > 1))
            cin = channels
    return convs


class Decoder(nn.Sequential):
    """VGG19 up to ``level`` mirrored, features → image ``(B, 3, H, W)`` (unclamped): each convolution one back, a
    pooling a nearest ×2 upsampling, the inner channels ÷ ``shrink`` (Li et al.'s: ``shrink=1``)."""

    def __init__(self, level: str, shrink: int = 2):
        layers, convs, up = [], _encoder_convs(level)[::-1], False
        for n, (cin, cout, pooled) in enumerate(convs):  # the conv after a pooling's mirror upsamples first
            last = n == len(convs) - 1
            layers.append(ConvLayer(cout if n == 0 else max(1, cout // shrink), cin if last else max(1, cin // shrink),
                                    3, norm=None, relu=not last, upsample=up))
            up = pooled
        super().__init__(*layers)
        self.level, self.shrink = level, shrink
        self.register_buffer("scale", torch.ones(()))  # the features' RMS on the training photos (`train_decoders`)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return super().forward(features / self.scale)  # about unit size in: the first steps do not kill the ReLUs


class Decoders(nn.ModuleDict):
    """One `Decoder` per level, by level name."""

    def __init__(self, levels: Sequence[str] = LEVELS, shrink: int = 2):
        super().__init__({level: Decoder(level, shrink) for level in levels})


@dataclass(frozen=True)
class DecoderSettings(PhotoSettings):
    """How the decoders are trained (`stlib.training.PhotoSettings`), stored with them. Loss: ``‖decoded − photo‖²``
    plus ``feature_weight`` × the decoded image's feature error at the level, ÷ their mean square on the photos."""

    steps: int = 800
    crop: int = 96
    batch: int = 4
    lr: float = 1e-3  # at 2e-3 (1000 steps) a relu3_1 decoder died within 100 steps: flat purple
    lr_decay: bool = True
    feature_weight: float = 0.1
    shrink: int = 2
    levels: tuple[str, ...] = LEVELS

    crop_multiple = 8  # the deepest decoder upsamples ×8

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require_whole("shrink")
        self.require_non_negative("feature_weight")
        for level in self.levels:
            _encoder_convs(level)


# The decoders in data/decoders/ (`make train-decoders`): the feature term as strong as the pixel term (Li et al.'s
# decoders reconstruct features first), crops at several scales and colours.
SHIPPED = DecoderSettings(steps=2500, crop=128, photo_side=256, batch=4, lr=1e-3, feature_weight=1.0, shrink=2,
                          levels=LEVELS, zoom=2.0, jitter=0.1)


def decoder_loss(vgg: VGG19, decoders: Decoders, photos: torch.Tensor, feature_weight: float) -> dict:
    """Per level: the decoded photos' pixel error plus ``feature_weight`` × their features' error ÷ the decoder's
    ``scale``²; ``total`` sums the levels (each decoder's weights see only their own term)."""
    with torch.no_grad():
        feats = vgg(photos, list(decoders))
    terms = {}
    for level, decoder in decoders.items():
        out = decoder(feats[level])
        again = vgg(out, [level])[level]
        terms[level] = ((out - photos) ** 2).mean() + feature_weight * ((again - feats[level]) ** 2).mean() / (
            decoder.scale**2)
    terms["total"] = sum(terms.values())
    return terms


@dataclass
class TrainedDecoders:
    """Decoders with what made them (``result``: the loss history, the held-out photos decoded)."""

    decoders: Decoders
    settings: DecoderSettings
    result: Result

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        return save_decoders(self, path, overwrite=overwrite)


def train_decoders(settings: DecoderSettings | None = None, *, photos: Sequence[ImageSource] = TRAIN_PHOTOS,
                   held_out: Sequence[ImageSource] = HELD_OUT, preview_height: int = 128,
                   snapshot_at: Sequence[int] = (), model: VGG19 | str | None = None,
                   device: torch.device | str | None = None, cache: bool = False, progress: bool | str = True,
                   checkpoint: str | os.PathLike | None = None, **overrides) -> TrainedDecoders:
    """Train one decoder per level to invert VGG19 (`decoder_loss`) on crops of ``photos``, no style image
    (`stlib.training.train`); the live view shows the ``held_out`` photos decoded, one row per level."""
    settings = replace(settings or DecoderSettings(), **overrides)

    def setup(vgg: VGG19, photos_in: list[torch.Tensor], device: torch.device) -> Trainee:
        decoders = Decoders(settings.levels, settings.shrink).to(device)
        with torch.no_grad():  # each level's RMS over the training photos
            feats = [vgg(photo.to(device), list(decoders)) for photo in photos_in]
            for level, decoder in decoders.items():
                decoder.scale.fill_(sum(float(f[level].pow(2).mean()) for f in feats) / len(feats)).sqrt_()

        def picture(held: list[torch.Tensor]) -> torch.Tensor:  # the held-out photos decoded, one row per level
            shown = torch.cat(held, dim=-1)
            feats = vgg(pad_to(shown, 8), list(decoders))
            rows = [decoders[level](feats[level]).clamp(0, 1) for level in decoders]
            return torch.cat(rows, dim=-2)[..., : shown.shape[-1]]

        return Trainee(decoders, lambda batch: decoder_loss(vgg, decoders, batch, settings.feature_weight), picture)

    result = train("decoders", settings, setup, photos=photos, held_out=held_out, preview_height=preview_height,
                   inputs={}, layers=settings.levels, snapshot_at=snapshot_at, model=model, device=device,
                   cache=cache, progress=progress, checkpoint=checkpoint)
    decoders = Decoders(settings.levels, settings.shrink)
    decoders.load_state_dict(result.weights)
    return TrainedDecoders(decoders.to(pick_device(device)).eval(), settings, result)


# -- stylising -------------------------------------------------------------------------------------------
def pad_to(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """``image`` reflection-padded on the bottom and right to a multiple of ``multiple`` px."""
    ph, pw = -image.shape[-2] % multiple, -image.shape[-1] % multiple
    return nn.functional.pad(image, (0, pw, 0, ph), mode="reflect") if ph or pw else image


def stylize_wct(content: ImageSource, style: ImageSource, decoders: Decoders | TrainedDecoders, *,
                strength: float = 1.0, method: str = "wct", levels: Sequence[str] | None = None,
                max_size: int | None = None, style_scale: float = 1.0, vgg: VGG19 | None = None) -> torch.Tensor:
    """``content`` painted in ``style``'s features, ``(1, 3, H, W)`` in [0, 1]: at each of ``levels`` (default: the
    decoders', coarse to fine) encode, transform (``method``: `wct` or `adain`, at ``strength``) and decode.
    ``max_size``: the photo's longest side at most this (never enlarged; None: its own). The style is used whole, its
    longest side ``style_scale`` times the photo's (`transfer.whole_style`). A size too big for memory is refused."""
    decoders = decoders.decoders if isinstance(decoders, TrainedDecoders) else decoders
    check_choice(method, METHODS, "method")
    check_style_scale(style_scale)  # both before anything is loaded
    levels = [lv for lv in LEVELS if lv in (levels or list(decoders))]
    missing = [lv for lv in (levels or ["no level"]) if lv not in decoders]
    if missing:
        raise StlibError(f"no decoder for {', '.join(missing)}: the decoders have {', '.join(decoders)}")
    photo = load_image(content, max_size=max_size)
    if min(photo.shape[-2:]) < STYLE_MIN_SIDE:
        raise StlibError(f"the photo is {photo.shape[-1]}×{photo.shape[-2]} px; use at least {STYLE_MIN_SIDE} px "
                         "per side")
    device = next(decoders.parameters()).device
    check_run(*photo.shape[-2:], one_pass=method, style_scale=style_scale, device=device.type,
              what="max_size")  # refused in one line before anything big is allocated
    vgg = vgg19(device=device) if vgg is None else vgg
    last = torch.channels_last  # oneDNN's convolutions are faster on it (VGG19 to relu3_1: 1.4× on 2 CPU cores)
    style_t = whole_style(load_image(style), photo.shape[-2:], style_scale).to(device, memory_format=last)
    transform = wct if method == "wct" else adain
    with torch.inference_mode():
        targets = vgg(style_t, levels)
        image = pad_to(photo.to(device), 8)
        for level in levels:
            feats = transform(vgg(image.contiguous(memory_format=last), [level])[level], targets[level], strength)
            image = decoders[level](feats.contiguous(memory_format=last)).clamp(0, 1)
    return image[..., : photo.shape[-2], : photo.shape[-1]].cpu()


# -- files -----------------------------------------------------------------------------------------------
FILE_FORMAT = "stlib-decoders-1"


SHIPPED_PATH = REPO / "data" / "decoders" / "decoders.pt"  # data/decoders/README.md
DECODERS_DIR = REPO / "decoders"  # git-ignored, beside .stlib-cache/


def default_path() -> Path:
    """Where `python -m stlib train-decoders` writes yours: ``decoders/decoders.pt``, a git-ignored folder."""
    return DECODERS_DIR / "decoders.pt"


def save_decoders(trained: TrainedDecoders, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write the decoders and their settings to ``path`` (`load_decoders` reads them back)."""
    settings = {**asdict(trained.settings), "levels": list(trained.settings.levels)}
    return write_marked(path, FILE_FORMAT, {"settings": settings, "seconds": trained.result.seconds,
                                            "state_dict": trained.decoders.state_dict()}, overwrite=overwrite)


def load_decoders(path: str | os.PathLike | None = None, device: torch.device | str | None = None) -> TrainedDecoders:
    """Decoders written by `save_decoders` (default: the shipped ones, `SHIPPED_PATH`), read with
    ``weights_only=True``; a missing or foreign file gets a one-line `StlibError` saying how to make one."""
    path = Path(path) if path is not None else SHIPPED_PATH
    make = f"train them with `python -m stlib train-decoders -o {path}`, or leave out --decoders for the shipped ones"
    if not path.is_file():
        raise StlibError(f"no decoder file {path}: {make}")
    data = read_marked(path, FILE_FORMAT, "a decoder file", "a stlib decoder file", make)
    try:
        settings = DecoderSettings(**{**data["settings"], "levels": tuple(data["settings"]["levels"])})
        decoders = Decoders(settings.levels, settings.shrink)
        decoders.load_state_dict({k: v.float() for k, v in data["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError, StlibError) as err:
        raise StlibError(f"{path} does not match stlib's decoders ({type(err).__name__}); {make}") from None
    result = Result(image=torch.zeros(1, 3, 4, 4), steps=settings.steps, seconds=float(data.get("seconds", 0.0)))
    return TrainedDecoders(decoders.to(device or "cpu").eval(), settings, result)
