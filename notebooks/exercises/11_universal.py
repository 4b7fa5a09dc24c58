"""The checks of lesson 11_universal's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .common import _close, _random

COVARIANCE_HINTS = {
    "gram": "that is the Gram matrix: divide by the number of positions M and subtract the means' outer product",
    "uncentred": "that is the Gram matrix ÷ M, the uncentred covariance: subtract the means' outer product μ μᵀ",
    "m-1": "off by M/(M − 1): divide by M, as the Gram matrix ÷ M does (torch.cov divides by M − 1 by default)",
    "sum": "off by the number of positions M: divide the centred Gram matrix by M",
    "transpose": "that is M × M, one entry per pair of positions: the covariance is C × C, one per pair of channels",
}


def _check_covariance(fn: Callable) -> tuple[bool, str]:
    """Lesson 11: the covariance (C, C) ÷ M of features (1, C, H, W), from the Gram matrix."""
    for seed, shape in ((11, (1, 3, 4, 5)), (12, (1, 6, 3, 3))):
        x = _random(*shape, seed=seed) + torch.arange(shape[1], dtype=torch.float64).view(1, -1, 1, 1)  # means ≠ 0
        flat = x[0].flatten(1)
        m = flat.shape[1]
        mean = flat.mean(1, keepdim=True)
        right = flat @ flat.T / m - mean @ mean.T
        out = torch.as_tensor(fn(x.clone())).detach().to(torch.float64)
        out = out[0] if out.dim() == 3 and out.shape[0] == 1 else out  # (1, C, C): one image's, as the features
        if _close(out, right):
            continue
        mistakes = {"gram": flat @ flat.T, "uncentred": flat @ flat.T / m, "m-1": right * m / (m - 1),
                    "sum": right * m}
        for key, wrong in mistakes.items():
            if _close(out, wrong):
                return False, COVARIANCE_HINTS[key]
        if out.shape == (m, m):
            return False, COVARIANCE_HINTS["transpose"]
        if out.shape != right.shape:
            return False, f"for features {shape} the covariance is C × C = {tuple(right.shape)}, not {tuple(out.shape)}"
        return False, f"wrong values for features {shape}: Σ = G/M − μ μᵀ, with G = F Fᵀ over the M positions"
    return True, "Σ = G/M − μ μᵀ: matches torch.cov(F, correction=0) and stlib.wct.covariance"


WCT_HINTS = {
    "no_style_mean": "the covariance is right but not the means: add the style's mean μ_s back after colouring",
    "no_centre": "centre the content's features (subtract μ_c) before whitening, or its mean leaks into the result",
    "no_whiten": "whiten first: after whitening, the content's features must have the identity as their covariance",
    "inverse": "whitening divides by the standard deviations, D_c^(-1/2), not the variances D_c^(-1)",
    "colour_power": "colouring multiplies by the style's standard deviations, D_s^(1/2), not its variances D_s",
    "not_symmetric": "your result has the style's mean and covariance, but through another whitening or colouring "
                     "matrix: this exercise asks for the symmetric ones, E D^(±1/2) Eᵀ, which rotate nothing "
                     "(a Cholesky factor, or D^(-1/2) Eᵀ alone, also whitens but mixes the channels)",
    "wrong_mean": "the covariance is the style's but the mean is not: the result's mean must be the style's μ_s",
    "wrong_cov": "the mean is the style's but the covariance is not: check your whitened features alone, "
                 "their covariance must be the identity",
    "neither": "neither the mean nor the covariance of your result is the style's: build it stage by stage "
               "(centre, whiten, colour, add the mean) and check each stage's mean and covariance",
}


def _matrix_power(cov: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag(values.pow(power)) @ vectors.T


def _check_wct(fn: Callable) -> tuple[bool, str]:
    """Lesson 11: the whitening–colouring transform of content features (C, M) with style features (C, N), with
    the symmetric (ZCA) matrices E D^(±1/2) Eᵀ that the lesson asks for. Other transforms that give the style's
    mean and covariance (Cholesky, PCA whitening) meet the statistics but rotate the channels: their own hint."""
    for seed, (c, m, n) in ((13, (4, 60, 50)), (14, (6, 80, 90))):
        gen = torch.Generator().manual_seed(seed)
        content = torch.randn(c, c, generator=gen, dtype=torch.float64) @ torch.randn(c, m, generator=gen,
                                                                                     dtype=torch.float64) + 1.5
        style = torch.randn(c, c, generator=gen, dtype=torch.float64) @ torch.randn(c, n, generator=gen,
                                                                                   dtype=torch.float64) - 2.0
        mc, ms = content.mean(1, keepdim=True), style.mean(1, keepdim=True)
        cc, cs = torch.cov(content, correction=0), torch.cov(style, correction=0)
        white = _matrix_power(cc, -0.5) @ (content - mc)
        right = _matrix_power(cs, 0.5) @ white + ms
        out = torch.as_tensor(fn(content.clone(), style.clone())).detach().to(torch.float64)
        if out.shape != right.shape:
            return False, f"for content features {(c, m)} the result has their shape {(c, m)}, not {tuple(out.shape)}"
        if torch.allclose(out, right, rtol=1e-4, atol=1e-6):
            continue
        colour = _matrix_power(cs, 0.5)
        mistakes = {"no_style_mean": right - ms, "no_centre": colour @ _matrix_power(cc, -0.5) @ content + ms,
                    "no_whiten": colour @ (content - mc) + ms,
                    "inverse": colour @ _matrix_power(cc, -1.0) @ (content - mc) + ms, "colour_power": cs @ white + ms}
        for key, wrong in mistakes.items():
            if torch.allclose(out, wrong, rtol=1e-4, atol=1e-6):
                return False, WCT_HINTS[key]
        mean_ok = torch.allclose(out.mean(1, keepdim=True), ms, rtol=1e-4, atol=1e-6)
        cov_ok = torch.allclose(torch.cov(out, correction=0), cs, rtol=1e-4, atol=1e-6)
        key = {(True, True): "not_symmetric", (False, True): "wrong_mean", (True, False): "wrong_cov"}
        return False, WCT_HINTS[key.get((mean_ok, cov_ok), "neither")]
    return True, "after your transform the features' mean and covariance are the style's (matches stlib.wct.wct)"


STRENGTH_ZERO_OPTIONS = ("photo", "redrawn", "style", "grey")


def _check_strength_zero(answer: Any) -> tuple[bool, str]:
    """Lesson 11, predict then run: the cascade at strength α = 0."""
    chosen = str(answer).strip().lower()
    if chosen not in STRENGTH_ZERO_OPTIONS:
        return False, f"{chosen!r} is not one of the {len(STRENGTH_ZERO_OPTIONS)} words in the table above: choose one"
    if chosen == "photo":
        return False, ("α = 0 keeps the photo's features at every level, but a decoder must still turn them into "
                       "pixels at each level: are the decoders perfect?")
    if chosen in ("style", "grey"):
        return False, "α is the style's share of the features: at 0 none of the style's statistics are used"
    return True, ("the photo's own features, decoded once per level: the photo as the decoders redraw it; the "
                  "picture below shows what they lose")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "11_covariance": _check_covariance,
    "11_strength_zero": _check_strength_zero,
    "11_wct": _check_wct,
}
