"""Three quality figures for a stylised image (the report card), shared by the peer benchmark and the lessons.

All use stlib's pretrained VGG19 on the images as saved, so tools, optimisers and sizes compare on one scale:
`style_distance` (Gram matrices at `CARD_LAYERS`), `content_distance` (conv4_2: **0 = the content's, 1 = as far as
noise**) and `sliced_wasserstein`, an independent style judge (Heitz et al. 2021: a Gram matrix is only the features'
second moment, which a preset can match while looking unlike the painting). With ``content=`` both style figures are
relative to the photo's: **1.0 = no more styled than the photo, 0 = the style's statistics.**

Images: anything `stlib.images.load_image` takes. The image fixes the size: the content is cropped to it (`fit_to`),
the style used whole (`whole_style`: a crop would judge a portrait painting by its middle band).
"""

from __future__ import annotations

import torch

from .images import ImageSource, crop_to_aspect, load_image, to_pil
from .losses import gram_matrix
from .models import VGG19, vgg19
from .transfer import whole_style

CARD_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")  # the style figures' layers (not models.STYLE_LAYERS)
CONTENT_LAYER = "conv4_2"


def fit_to(source: ImageSource, like: torch.Tensor) -> torch.Tensor:
    """``source`` at ``like``'s height and width: centre-cropped to that aspect ratio, then resized."""
    height, width = like.shape[-2:]
    if isinstance(source, torch.Tensor) and tuple(source.shape[-2:]) == (height, width):
        return load_image(source)  # already that size: used as it is, not re-quantised through PIL
    return load_image(crop_to_aspect(to_pil(source), height, width), (height, width))


def _style_features(vgg: VGG19, style: ImageSource, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """The features of the whole ``style`` at `CARD_LAYERS`, its longest side ``like``'s (as it is if it already is)."""
    style = load_image(style)
    if max(style.shape[-2:]) != max(like.shape[-2:]):
        style = whole_style(style, like.shape[-2:])
    with torch.no_grad():
        return vgg(style.to(like.device), CARD_LAYERS)


def _relative(vgg: VGG19, x: torch.Tensor, content: ImageSource | None, per_layer) -> float:
    """``Σ_l per_layer(l, features of x at l)`` over `CARD_LAYERS`, divided by the same for ``content`` if given."""

    def total(image: torch.Tensor) -> float:
        with torch.no_grad():
            feats = vgg(image.to(x.device), CARD_LAYERS)
            return sum(per_layer(layer, feats[layer]) for layer in CARD_LAYERS)

    return total(x) if content is None else total(x) / total(fit_to(content, x))


def style_distance(image: ImageSource, style: ImageSource, *, content: ImageSource | None = None,
                   vgg: VGG19 | None = None) -> float:
    """Gram distance of ``image`` to ``style``, ``Σ_l ‖G_l(image) − G_l(style)‖² / ‖G_l(style)‖²`` over `CARD_LAYERS`
    (scale-free); with ``content``, relative to the content image's. ``vgg``: one to reuse (default: pretrained)."""
    x = load_image(image)
    model = vgg19(device=x.device) if vgg is None else vgg
    grams = {layer: gram_matrix(f).double() for layer, f in _style_features(model, style, x).items()}
    return _relative(model, x, content, lambda layer, feats: float(
        ((gram_matrix(feats).double() - grams[layer]) ** 2).sum() / (grams[layer] ** 2).sum()))


def content_distance(image: ImageSource, content: ImageSource, *, vgg: VGG19 | None = None, seed: int = 0) -> float:
    """``‖F(image) − F(content)‖²`` at conv4_2 relative to the same for uniform noise in [0, 1]
    (seeded by ``seed``): 0 for the content itself, 1 for that noise image."""
    x = load_image(image)
    model = vgg19(device=x.device) if vgg is None else vgg
    noise = torch.rand(tuple(x.shape), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        feats = model(torch.cat([x, fit_to(content, x).to(x.device), noise.to(x.device)]), [CONTENT_LAYER])
    out, target, reference = feats[CONTENT_LAYER].double()
    return float(((out - target) ** 2).sum() / ((reference - target) ** 2).sum())


def _projected(feats: torch.Tensor, directions: torch.Tensor, count: int) -> torch.Tensor:
    """``(C, N)`` features projected on ``(K, C)`` directions, each row sorted and resampled to ``count``
    quantiles (so point clouds of different sizes compare)."""
    values = (directions @ feats.flatten(1).double()).sort(dim=1).values
    return torch.nn.functional.interpolate(values[None], size=count, mode="linear", align_corners=True)[0]


def sliced_wasserstein(image: ImageSource, style: ImageSource, *, content: ImageSource | None = None,
                       vgg: VGG19 | None = None, directions: int = 64, seed: int = 0) -> float:
    """Sliced Wasserstein distance of ``image``'s VGG features to ``style``'s over `CARD_LAYERS` (Heitz et al. 2021):
    per layer, the mean squared difference of the sorted projections on ``directions`` seeded unit vectors ÷ the
    style's variance along them; with ``content``, relative to the content image's."""
    x = load_image(image)
    model = vgg19(device=x.device) if vgg is None else vgg
    generator = torch.Generator().manual_seed(seed)
    feats = _style_features(model, style, x)
    units = {layer: torch.nn.functional.normalize(torch.randn(directions, f.shape[1], generator=generator,
                                                              dtype=torch.float64), dim=1).to(x.device)
             for layer, f in feats.items()}
    target = {layer: _projected(f[0], units[layer], f[0, 0].numel()) for layer, f in feats.items()}

    def per_layer(layer: str, feats: torch.Tensor) -> float:
        ours = _projected(feats[0], units[layer], target[layer].shape[1])
        return float(((ours - target[layer]) ** 2).mean() / target[layer].var(dim=1, unbiased=False).mean())

    return _relative(model, x, content, per_layer)
