"""The checks of lesson 07_style_transfer's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from stlib.losses import content_loss, gram_matrix, total_variation

from .common import _close, _near, _number, _one_thread, _random


def _check_half_sum_beta(fn: Callable) -> tuple[bool, str]:
    """β that keeps α·mean + β·style balanced when the content term becomes ½Σ at conv4_2: β · N·M / 2."""
    for beta, size in ((1e-4, 256), (3e-5, 256), (1e-4, 64), (2e-5, 512)):
        factor = 512 * (size // 8) ** 2 / 2  # conv4_2: 512 channels, (size / 8)² positions
        value = _number(fn(beta, size))
        if value is None:
            return False, f"half_sum_beta({beta:g}, {size}) should return a number"
        if _near(value, beta * factor):
            continue
        if _near(value, beta / factor):
            return False, "upside down: ½Σ makes the content term larger, so β must grow with it"
        if _near(value, 2 * beta * factor):
            return False, "close: mind the ½ in the paper's content loss"
        if _near(value, beta * 512 * (256 // 8) ** 2 / 2):
            return False, f"right at 256 px only: at {size} px conv4_2 has a different number of positions"
        if _near(value, *(beta * 512 * (size // pooled) ** 2 / 2 for pooled in (1, 4, 16))):
            return False, "count the poolings in front of conv4_2: each one halves the height and the width"
        return False, f"wrong at β = {beta:g}, {size} px: the content term grows by how many values conv4_2 has, halved"
    return True, "β grows with the ½Σ content term: N·M/2 times, which itself grows with the image's area"


class _TinyVGG(torch.nn.Module):
    """VGG19 in miniature for the checks of lesson 07: the layers `stylize` reads (conv1_1 … conv5_1 and
    conv4_2, with VGG's poolings between the blocks), a few channels each, random weights. ``model(image,
    layers)`` → layer → features, like `stlib.vgg19`; it counts the calls whose image requires gradients
    (the loss evaluations), so a check can tell how many a student's loop made."""

    CHANNELS = {"conv1_1": (3, 4), "conv2_1": (4, 6), "conv3_1": (6, 8), "conv4_1": (8, 8), "conv4_2": (8, 8),
                "conv5_1": (8, 8)}

    def __init__(self, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = torch.nn.ModuleDict()
        for name, (cin, cout) in self.CHANNELS.items():
            conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2 / (9 * cin)) ** 0.5)
                conv.bias.copy_(0.1 * torch.randn(cout, generator=gen))
            self.convs[name] = conv
        self.requires_grad_(False)
        self.evaluations = 0
        self.inputs: list[tuple[bool, torch.Tensor]] = []  # (requires grad, the image) of every call, in order

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        self.evaluations += int(image.requires_grad)
        self.inputs.append((image.requires_grad, image.detach().clone()))
        pool, relu, out = torch.nn.functional.max_pool2d, torch.relu, {}
        x = out["conv1_1"] = self.convs["conv1_1"](image)
        for name in ("conv2_1", "conv3_1", "conv4_1"):
            x = out[name] = self.convs[name](pool(relu(x), 2))
        x = out["conv4_2"] = self.convs["conv4_2"](relu(x))
        out["conv5_1"] = self.convs["conv5_1"](pool(relu(x), 2))
        return {layer: out[layer] for layer in layers}


def _reference_total(image: torch.Tensor, f_image: dict, f_content: dict, grams: dict, alpha: float, beta: float,
                     gamma: float, *, style_weights: dict | None = None, tv: str = "mean") -> torch.Tensor:
    """`stylize`'s total loss with the `lessons` preset from its parts; the keywords make the checks' wrong twins."""
    from stlib.losses import style_loss, total_loss
    from stlib.models import STYLE_WEIGHTS

    weights = STYLE_WEIGHTS if style_weights is None else style_weights
    return total_loss(content_loss(f_image["conv4_2"], f_content["conv4_2"]), style_loss(f_image, grams, weights),
                      total_variation(image, reduction=tv), content_weight=alpha, style_weight=beta,
                      tv_weight=gamma).total


def _total_inputs(seed: int) -> tuple[torch.Tensor, dict, dict, dict]:
    """Fresh random features for `_check_total_loss`: an 8×8 image and a few channels per layer."""
    from stlib.models import STYLE_WEIGHTS

    shapes = {"conv1_1": (4, 8, 8), "conv2_1": (6, 4, 4), "conv3_1": (8, 4, 4), "conv4_1": (8, 2, 2),
              "conv4_2": (8, 2, 2), "conv5_1": (8, 2, 2)}
    image = _random(1, 3, 8, 8, seed=seed)
    f_image = {l: _random(1, *s, seed=seed + 1 + i) - 0.5 for i, (l, s) in enumerate(shapes.items())}
    f_content = {"conv4_2": _random(1, *shapes["conv4_2"], seed=seed + 20)}
    grams = {l: gram_matrix(_random(1, *shapes[l], seed=seed + 30 + i) - 0.5) for i, l in enumerate(STYLE_WEIGHTS)}
    return image, f_image, f_content, grams


TV_HINTS = {
    "not_tensor": "return a one-number tensor (γ·TV goes into the loss that backward() runs through)",
    "no_grad": "the value is right but carries no gradient: .item(), float(), .detach() or torch.tensor(…) cut "
               "it from the image, and TV could not smooth a single pixel; stay with torch operations",
    "abs": "you took absolute differences (the L1 total variation): this lesson's TV squares each difference",
    "sum": "that is the sum over the image: stylize's total variation is the mean, the sum divided by the "
           "number of values",
    "per_direction": "you averaged each direction over its own differences: divide the one sum of both "
                     "directions by the number of values of the image",
    "pixels": "divided by the number of pixels: divide by the number of values, every channel's included",
    "one_direction": "only one direction: add the differences to the right neighbour and to the lower neighbour",
    "twice": "one direction counted twice: one difference along the height (dim 2), one along the width (dim 3)",
    "channels": "one of your differences runs across the colour channels (dim 1): neighbours are along the "
                "height (dim 2) and the width (dim 3)",
    "wrap": "torch.roll wraps around, so the last row and column are compared with the first: slice instead, "
            "so only real neighbours are compared",
}


def _tv_twins(x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """The typical wrong total variations of ``x`` (B, C, H, W), by mistake."""
    def diff(dim: int) -> torch.Tensor:
        return x.diff(dim=dim)

    sq = {d: diff(d).pow(2).sum() for d in (1, 2, 3)}
    wrap = sum(((x - x.roll(1, d)) ** 2).sum() for d in (2, 3))
    n, hw = x.numel(), x.shape[0] * x.shape[2] * x.shape[3]
    return {
        "abs": [(diff(2).abs().sum() + diff(3).abs().sum()) / n, diff(2).abs().sum() + diff(3).abs().sum()],
        "sum": [sq[2] + sq[3]],
        "per_direction": [diff(2).pow(2).mean() + diff(3).pow(2).mean()],
        "pixels": [(sq[2] + sq[3]) / hw],
        "one_direction": [sq[2] / n, sq[3] / n, sq[2], sq[3], diff(2).pow(2).mean(), diff(3).pow(2).mean()],
        "twice": [2 * sq[2] / n, 2 * sq[3] / n],
        "channels": [(sq[1] + sq[2]) / n, (sq[1] + sq[3]) / n],
        "wrap": [wrap / n, wrap],
    }


def _check_total_variation(fn: Callable) -> tuple[bool, str]:
    """Lesson 07: the mean squared total variation, as `losses.total_variation` (stylize's): first on a 2×2 grey
    image worked out by hand, then on random colour images, where each typical mistake has its own value."""
    # by hand: [[0, 1], [2, 4]] has right neighbours (1 − 0)², (4 − 2)² and lower ones (2 − 0)², (4 − 1)²:
    # 1 + 4 + 4 + 9 = 18 over its 4 values
    hand = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]], dtype=torch.float64)
    cases = [(_random(1, 3, 5, 7, seed=15), None), (_random(2, 3, 4, 6, seed=16), None), (hand, 18 / 4)]
    for x, by_hand in cases:
        out = fn(x.clone().requires_grad_(True))
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            return False, TV_HINTS["not_tensor"]
        right = torch.tensor(by_hand, dtype=torch.float64) if by_hand is not None else total_variation(x)
        value = out.detach().reshape(()).to(torch.float64)
        if _close(value, right):
            if not out.requires_grad:
                return False, TV_HINTS["no_grad"]
            continue
        for key, twins in _tv_twins(x).items():
            if any(_close(value, twin) for twin in twins):
                return False, TV_HINTS[key]
        return False, ("not the mean squared total variation: for the one-channel 2×2 image [[0, 1], [2, 4]] "
                       f"it is 18 / 4 = 4.5, the sum of four squared neighbour differences over four values; "
                       f"yours gives {float(fn(hand.clone())):.4g}")
    return True, "Σ squared differences to the right and lower neighbours, over the number of values"


TOTAL_LOSS_HINTS = {
    "not_tensor": "return the total as a one-number tensor (the optimiser calls .backward() on it)",
    "no_grad": "the total is right but carries no gradient: .item(), float(), .detach() or torch.tensor(…) cut "
               "it from the image, and the optimiser could not change a pixel; add the terms as tensors",
    "swapped": "α and β are swapped: α weighs the content term, β the style term",
    "tv_unweighted": "the total-variation term is there but unweighted: multiply it by γ",
    "tv_missing": "the third term is missing: add γ times the total variation of the image",
    "tv_sum": "stylize's total variation is the mean over all values (losses.total_variation's default), not the sum",
    "own_grams": "your style term is zero: compare the image's Grams with the style's targets (style_grams), "
                 "not with Grams computed from the image itself",
    "equal": "weigh each style layer with models.STYLE_WEIGHTS (1, 0.75, 0.2, …), not equally",
    "raw_grams": "your style term compares raw Grams of the image with style_grams, which are divided by C·H·W "
                 "(losses.gram_matrix's default): lesson 06's style_loss wants raw targets; normalise both sides "
                 "the same way",
}


_TOTAL_TERMS = (("content", (1.0, 0.0, 0.0)), ("style", (0.0, 1.0, 0.0)), ("total-variation", (0.0, 0.0, 1.0)))


def _raw_gram_style(f_image: dict, grams: dict) -> torch.Tensor:
    """Lesson 06's style loss (raw Gram targets) handed `stylize`'s targets (Grams ÷ C·H·W): the twin of a
    student who reuses it in lesson 07."""
    from stlib.models import STYLE_WEIGHTS

    total = torch.zeros((), dtype=torch.float64)
    for layer, w in STYLE_WEIGHTS.items():
        f = f_image[layer].detach()
        _, n, h, w_ = f.shape
        raw = gram_matrix(f, normalize="none")
        total = total + w * ((raw - grams[layer]) ** 2).sum() / (4 * n**2 * (h * w_) ** 2)
    return total


def _call_total(fn: Callable, image: torch.Tensor, f_image: dict, f_content: dict, grams: dict, alpha: float,
                beta: float, gamma: float) -> Any:
    """A student's total loss on copies of the inputs; the image and its features require gradients."""
    fresh = {l: f.clone().requires_grad_(True) for l, f in f_image.items()}
    value = fn(image.clone().requires_grad_(True), fresh, {l: f.clone() for l, f in f_content.items()},
               {l: g.clone() for l, g in grams.items()}, alpha, beta, gamma)
    return getattr(value, "total", value)  # a LossTerms is fine too


@_one_thread()
def _check_total_loss(fn: Callable) -> tuple[bool, str]:
    """Lesson 07: α·content + β·style + γ·TV, checked against `stlib.losses` on fresh random features (which
    require gradients: the total must keep them)."""
    for seed, (alpha, beta, gamma) in ((40, (1.0, 3.0, 0.5)), (50, (2.0, 0.25, 4.0))):
        image, f_image, f_content, grams = _total_inputs(seed)
        args = (image, f_image, f_content, grams, alpha, beta, gamma)
        value = _call_total(fn, *args)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            return False, TOTAL_LOSS_HINTS["not_tensor"]
        right = _reference_total(*args)
        if _close(value.detach().reshape(()), right):
            if not value.requires_grad:
                return False, TOTAL_LOSS_HINTS["no_grad"]
            continue
        value = value.detach().reshape(())
        own = {l: gram_matrix(f_image[l]) for l in grams}
        content = content_loss(f_image["conv4_2"], f_content["conv4_2"])
        twins = [
            (_reference_total(image, f_image, f_content, grams, beta, alpha, gamma), "swapped"),
            (_reference_total(image, f_image, f_content, grams, alpha, beta, 1.0), "tv_unweighted"),
            (_reference_total(image, f_image, f_content, grams, alpha, beta, 0.0), "tv_missing"),
            (_reference_total(*args, tv="sum"), "tv_sum"),
            (_reference_total(image, f_image, f_content, own, alpha, beta, gamma), "own_grams"),
            (_reference_total(*args, style_weights={l: 1 / len(grams) for l in grams}), "equal"),
            (alpha * content + beta * _raw_gram_style(f_image, grams) + gamma * total_variation(image), "raw_grams"),
        ]
        for twin, key in twins:
            if _close(value, twin):
                return False, TOTAL_LOSS_HINTS[key]
        for term, weights in _TOTAL_TERMS:  # which term is off: the others' weights set to 0
            alone = _call_total(fn, image, f_image, f_content, grams, *weights)
            alone = alone.detach().reshape(()) if isinstance(alone, torch.Tensor) else alone
            if not _close(alone, _reference_total(image, f_image, f_content, grams, *weights)):
                return False, (f"your {term} term alone (its weight 1, the others 0) differs from stylize's: "
                               "compare it with the description above the stub")
        return False, (f"each term alone is right but the total is not at α = {alpha:g}, β = {beta:g}, "
                       f"γ = {gamma:g}: multiply each term by its own weight and add the three")
    return True, "α·content + β·style + γ·TV, term by term as stylize computes it"


def _reference_transfer(content: torch.Tensor, style: torch.Tensor, model: torch.nn.Module, num_steps: int,
                        alpha: float, beta: float, gamma: float, *, zero_grad: bool = True) -> torch.Tensor:
    """The loop of lesson 07 written plainly (`_check_transfer`'s twin with a forgotten ``zero_grad``)."""
    from stlib.models import STYLE_WEIGHTS

    layers = ["conv4_2", *STYLE_WEIGHTS]
    with torch.no_grad():
        f_content = model(content, ["conv4_2"])
        grams = {l: gram_matrix(f) for l, f in model(style, list(STYLE_WEIGHTS)).items()}
    image = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([image], max_iter=1, history_size=50)

    def closure() -> torch.Tensor:
        if zero_grad:
            opt.zero_grad()
        loss = _reference_total(image, model(image, layers), f_content, grams, alpha, beta, gamma)
        loss.backward()
        return loss

    for _ in range(num_steps):
        opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
    return image.detach()


def _stlib_transfer(content: torch.Tensor, style: torch.Tensor, model: torch.nn.Module, num_steps: int,
                    alpha: float, beta: float, gamma: float) -> torch.Tensor:
    """The same transfer as `stylize` runs it: `transfer_loss` (the `lessons` preset) optimised by `optim.optimize`."""
    from dataclasses import replace

    from stlib.optim import optimize
    from stlib.presets import get_preset
    from stlib.transfer import transfer_loss

    preset = replace(get_preset("lessons"), content_weight=alpha, style_weight=beta)
    loss = transfer_loss(model, content, style, preset=preset, tv_weight=gamma)  # type: ignore[arg-type]
    return optimize(content, loss, num_steps=num_steps, optimizer="lbfgs", progress=False).image


_TRANSFER_ERRORS = (  # what PyTorch says → the mistake behind it
    ("NoneType", "the closure must return the loss: L-BFGS reads it to decide how far to step"),
    ("backward through the graph a second time",
     "compute the targets once, from the content and style images, without gradients (torch.no_grad() or "
     ".detach()): a target built from the image being optimised keeps a graph that the first backward() frees"),
    ("leaf Variable that requires grad is being used in an in-place operation",
     "clamp the image inside `with torch.no_grad():` (an in-place change to a leaf that requires grad)"),
)


@_one_thread()
def _check_transfer(fn: Callable) -> tuple[bool, str]:
    """Lesson 07: the L-BFGS loop with its closure, against `optim.optimize` of `stylize`'s loss, on a tiny
    random VGG (`_TinyVGG`) and random 32 px images; each typical mistake is recognised by what it does."""
    num_steps = 4
    for seed, (alpha, beta, gamma), lo in ((60, (1.0, 0.5, 0.0), 0.3), (70, (1.0, 2.0, 0.05), 0.0)):
        model = _TinyVGG(seed)
        gen = torch.Generator().manual_seed(seed)
        content = lo + (1 - 2 * lo) * torch.rand(1, 3, 32, 32, generator=gen)
        style = torch.rand(1, 3, 32, 32, generator=gen)
        kept = content.clone()
        try:
            image = fn(content, style, model, num_steps, alpha, beta, gamma)
        except (TypeError, RuntimeError) as err:
            for words, hint in _TRANSFER_ERRORS:
                if words in str(err):
                    return False, hint
            if "does not require grad" in str(err):
                return False, _no_grad_hint(model, content, style)
            raise
        if not isinstance(image, torch.Tensor) or image.shape != content.shape:
            return False, "return the optimised image, a tensor of the content's shape (1, 3, H, W)"
        if content.requires_grad or not torch.equal(content, kept):
            return False, "optimise a copy of the content image (content.clone()), not the content tensor itself"
        image = image.detach()
        if image.min() < 0 or image.max() > 1:
            return False, "some pixels left [0, 1]: clamp the image after every step (under torch.no_grad())"
        if lo == 0:  # this run clamps, and stylize's L-BFGS is told about it (optim._lbfgs_actual_step)
            continue
        if _near_image(image, _stlib_transfer(content, style, _TinyVGG(seed), num_steps, alpha, beta, gamma), content):
            if model.evaluations != num_steps:
                return False, f"{model.evaluations} loss evaluations for {num_steps} steps: one per step"
            continue
        twins = [
            (dict(zero_grad=False), {}, "call optimizer.zero_grad() at the top of the closure: backward() adds to "
                                        ".grad, so without it every step also sees all the old gradients"),
            ({}, dict(beta=0.0), "the style term does nothing: build the style Grams once, from the style image, "
                                 "before the loop (not from the image being optimised)"),
            ({}, dict(alpha=beta, beta=alpha), "α and β are swapped: α weighs the content term, β the style term"),
            ({}, dict(gamma=1.0), "the total-variation term is unweighted: multiply it by γ"),
        ]
        for keywords, weights, hint in twins:
            args = dict(alpha=alpha, beta=beta, gamma=gamma) | weights
            twin = _reference_transfer(content, style, _TinyVGG(seed), num_steps, **args, **keywords)
            if _near_image(image, twin, content):
                return False, hint
        if model.evaluations > num_steps:
            return False, (f"{model.evaluations} loss evaluations for {num_steps} steps: one evaluation per "
                           "step, LBFGS([image], max_iter=1) (its default, 20, evaluates up to 20 times a step)")
        if model.evaluations < num_steps:
            return False, (f"{model.evaluations} loss evaluations for {num_steps} steps: call "
                           "optimizer.step(closure) num_steps times")
        return False, (f"after {num_steps} steps your image differs from stylize's (α = {alpha:g}, β = {beta:g}, "
                       f"γ = {gamma:g}): compare your loss and your loop with the docstring, step by step")
    return True, "the same image as stylize's L-BFGS loop, step for step"


TRANSFER_HINTS = {
    "no_grad": "the image being optimised must require gradients: a copy of the content, requires_grad_(True)",
    "rebound": "after the first step the image lost its gradient: `image = image.clamp(0, 1)` makes a new tensor "
               "that the optimiser never sees; clamp in place, image.clamp_(0, 1), under torch.no_grad()",
    "cut": "the image requires gradients but your loss does not carry them: .item(), float(), .detach() or "
           "torch.tensor(…) cut it from the image (run the total_loss check above)",
}


def _no_grad_hint(model: _TinyVGG, content: torch.Tensor, style: torch.Tensor) -> str:
    """Why backward() found no gradient, from the images the model saw: none that required gradients; one that
    did, then a new one that does not (the image rebound by an out-of-place clamp); or the loss cut itself."""
    grads = [g for g, _ in model.inputs]
    if not any(grads):
        return TRANSFER_HINTS["no_grad"]
    first = grads.index(True)
    if any(not g and not torch.equal(x, content) and not torch.equal(x, style) for g, x in model.inputs[first:]):
        return TRANSFER_HINTS["rebound"]
    return TRANSFER_HINTS["cut"]


def _near_image(image: torch.Tensor, expected: torch.Tensor, start: torch.Tensor) -> bool:
    """Equal up to rounding, which L-BFGS amplifies a little: within 2 % of how far the pixels moved."""
    moved = (expected - start).abs().max().item()
    return (image - expected).abs().max().item() <= 1e-5 + 0.02 * moved


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "07_half_sum_beta": _check_half_sum_beta,
    "07_total_loss": _check_total_loss,
    "07_total_variation": _check_total_variation,
    "07_transfer": _check_transfer,
}
