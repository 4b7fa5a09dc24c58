"""Losses as plain functions of tensors: content, Gram matrix, style, total variation, total.

Shapes: feature maps are ``(B, C, H, W)``; Gram matrices ``(B, C, C)``; images ``(B, 3, H, W)`` in [0, 1]. Write
``N = C`` (number of feature maps) and ``M = H·W`` (size of each map), as in Gatys et al. 2016.

Style-loss conventions (how one layer's ``E_l`` scales ``Σ (G − A)²`` of the raw Gram matrices ``G = F Fᵀ``):

=========== ============================== =====================================
convention  ``E_l``                        where it comes from
=========== ============================== =====================================
``paper``   ``Σ(G−A)² / (4 N² M²)``        Gatys et al. 2016, eq. 4 (the study notes)
``udacity`` ``mean((G−A)²) / (N·M)``       the Udacity notes' code
``mean``    ``mean((G/(NM) − A/(NM))²)``   PyTorch's tutorial (Gram / (C·H·W), MSE)
``sum``     ``Σ(G−A)²``                    no normalisation
=========== ============================== =====================================

They differ by a factor of ``N`` and ``M`` only; `style_weight_factor` converts a style weight between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import StlibError, check_choice

GRAM_NORMALIZATIONS = ("none", "hw", "chw")
STYLE_CONVENTIONS = ("paper", "udacity", "mean", "sum")


def content_loss(features: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Squared error between feature maps ``(B, C, H, W)``. ``reduction="mean"``: ``mean((F − P)²)`` (``nn.MSELoss``;
    the Udacity notes' ``torch.mean``); ``"half_sum"``: ``½ Σ (F − P)²`` (the paper); ``"sum"``: ``Σ (F − P)²``.

    >>> content_loss(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), reduction="half_sum")
    tensor(2.)
    """
    if features.shape[1:] != target.shape[1:]:
        raise StlibError(f"content target has shape {tuple(target.shape)} but features have {tuple(features.shape)}; "
                         "load both images at the same size")
    check_choice(reduction, ("mean", "sum", "half_sum"), "reduction")
    loss = F.mse_loss(features, target, reduction="mean" if reduction == "mean" else "sum")
    return 0.5 * loss if reduction == "half_sum" else loss


def gram_matrix(features: torch.Tensor, normalize: str | bool = "chw") -> torch.Tensor:
    """Gram matrix ``G = F Fᵀ`` of features ``(B, C, H, W)`` (or ``(C, H, W)``, or a matrix ``(C, K)``).

    ``G[b, i, j] = Σ_k F[b, i, k] F[b, j, k]`` over the ``K = H·W`` positions: which feature maps fire together,
    wherever in the image. ``normalize``: ``"none"``/``False`` (raw), ``"hw"`` (÷ H·W), ``"chw"``/``True`` (÷ C·H·W).

    >>> gram_matrix(torch.tensor([[4., 0, 3, 1], [3, 0, 1, 2], [4, 5, 0, 3]]), normalize=False)
    tensor([[26., 17., 19.],
            [17., 14., 18.],
            [19., 18., 50.]])
    """
    norm = ("chw" if normalize else "none") if isinstance(normalize, bool) else normalize
    check_choice(norm, GRAM_NORMALIZATIONS, "Gram normalisation")
    if features.dim() not in (2, 3, 4):
        raise StlibError(f"features of shape {tuple(features.shape)}: expected (B, C, H, W), (C, H, W) or (C, K)")
    # (B, C, K): a batch of one for (C, H, W) and for a matrix V (C, K), the lecture's example
    flat = (features if features.dim() == 4 else features.unsqueeze(0)).flatten(2)
    channels, positions = flat.shape[1], flat.shape[2]
    gram = flat @ flat.transpose(1, 2)
    if norm != "none":
        gram = gram / (positions * (channels if norm == "chw" else 1))
    return gram if features.dim() == 4 else gram[0]


def style_weight_factor(convention: str, channels: int, positions: int) -> float:
    """The factor ``c`` with ``E_l = c · Σ(G − A)²`` (raw Grams) for a layer with ``N = channels`` maps of
    ``M = positions`` pixels. To keep the same result when switching conventions, multiply the style weight by
    ``style_weight_factor(old, N, M) / style_weight_factor(new, N, M)``."""
    n, m = float(channels), float(positions)
    factors = {"paper": 1.0 / (4.0 * n**2 * m**2), "udacity": 1.0 / (n**2 * n * m),
               "mean": 1.0 / (n**2 * n**2 * m**2), "sum": 1.0}
    return factors[check_choice(convention, STYLE_CONVENTIONS, "style convention")]


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor, *, convention: str = "paper") -> torch.Tensor:
    """One layer's style loss ``E_l`` between features ``(B, C, H, W)`` and a target Gram ``(B or 1, C, C)`` made by
    ``gram_matrix(target_features, normalize="chw")``."""
    c, h, w = features.shape[-3:]
    gram = gram_matrix(features, normalize="chw")
    if target_gram.shape[-2:] != gram.shape[-2:]:
        raise StlibError(f"style target Gram {tuple(target_gram.shape)} does not match features with {c} channels")
    # both Grams are ÷ (N·M) for float32 range; put the factor back: c · (NM)² · Σ(Ĝ − Â)²
    scale = style_weight_factor(convention, c, h * w) * float(c * h * w) ** 2
    return scale * (gram - target_gram).pow(2).sum(dim=(-2, -1)).mean()


def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               weights: Mapping[str, float] | None = None, *, convention: str = "paper") -> torch.Tensor:
    """``Σ_l w_l E_l`` over the layers in ``target_grams`` (equal weights 1/L if ``weights`` is None); ``features``:
    layer → ``(B, C, H, W)``; ``target_grams``: layer → ``gram_matrix(…, "chw")``."""
    if not target_grams:
        raise StlibError("style loss needs at least one style layer")
    if weights is None:
        weights = {layer: 1.0 / len(target_grams) for layer in target_grams}
    missing = [layer for layer in weights if layer not in target_grams or layer not in features]
    if missing:
        raise StlibError(f"style weights name layers with no features/targets: {', '.join(missing)}")
    return sum(w * style_layer_loss(features[layer], target_grams[layer], convention=convention)  # type: ignore
               for layer, w in weights.items())


def total_variation(image: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Squared total variation of ``(B, C, H, W)``: ``Σ (I[i,j] − I[i,j+1])² + (I[i,j] − I[i+1,j])²`` (the study notes'
    total-variation term). ``reduction="mean"`` divides by the number of values B·C·H·W (size-independent)."""
    check_choice(reduction, ("mean", "sum"), "reduction")
    tv = (image[..., 1:, :] - image[..., :-1, :]).pow(2).sum() + (image[..., :, 1:] - image[..., :, :-1]).pow(2).sum()
    return tv / image.numel() if reduction == "mean" else tv


@dataclass
class LossTerms:
    """The weighted total and each unweighted term, for logging and plots."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    def items(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in vars(self).items()}


def total_loss(content: torch.Tensor | float, style: torch.Tensor | float, tv: torch.Tensor | float = 0.0, *,
               content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0) -> LossTerms:
    """``α·content + β·style + γ·tv`` (Gatys et al.; TV from the study notes), with each term reported."""
    as_t = lambda v: v if isinstance(v, torch.Tensor) else torch.tensor(float(v))  # noqa: E731
    c, s, t = as_t(content), as_t(style), as_t(tv)
    total = content_weight * c + style_weight * s + tv_weight * t
    return LossTerms(total=total, content=c.detach(), style=s.detach(), tv=t.detach())
