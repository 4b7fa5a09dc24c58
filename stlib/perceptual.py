"""The perceptual loss terms that `stlib.transfer` (one image) and `stlib.fastnet` (a network) share:
the style's Gram targets, the layer weights of a preset, and ``α·content + β·style + γ·TV``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .errors import check_choice
from .losses import LossTerms, content_loss, gram_matrix, style_layer_loss, style_loss, total_loss, total_variation
from .models import VGG19
from .presets import Preset


def style_targets(vgg: VGG19, style: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Gram matrices (÷ C·H·W) of the style image's features: computed once, no autograd."""
    with torch.no_grad():
        return {l: gram_matrix(f, normalize="chw") for l, f in vgg(style, layers).items()}


def layer_weights(preset: Preset, grams: Mapping[str, torch.Tensor],
                  shapes: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """``preset``'s style layer weights; with ``style_normalization="target"`` each ÷ its layer's loss at zero
    features (``‖A_l‖²/4``, `stlib.presets`). ``shapes``: each style layer's feature shape at the size optimised."""
    weights = dict(preset.style_weights)
    if check_choice(preset.style_normalization, ("none", "target"), "style normalisation") == "none":
        return weights
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
