"""Checks for the lessons' exercises: one line, right or not yet, never the solution.

In a lesson: ``exercises.check("05_gram", gram)`` prints ``✓ correct …`` or
``✗ not yet: <hint>`` and returns True/False. Solutions for instructors live in
``notebooks/solutions/``; the tests run every check against them and against
wrong answers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .losses import content_loss, gram_matrix
from .models import LAYER_INDEX, resolve_layer

# what the full-mode pictures show (looked at; the lessons say which pictures to look at)
LAYOUT_OPTIONS = ("block1", "block2", "block3", "block4", "block5", "conv1_1", "conv2_1", "conv3_1", "conv4_1")
LAYOUT_RIGHT = {"block4"}
LAYOUT_ALSO = {"conv4_1"}
CAT_OPTIONS = ("0", "0.25", "0.5", "0.75", "1")
CAT_RIGHT = {"0.75", "1"}
CAT_ALSO = {"0.5"}


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _close(a: Any, b: torch.Tensor) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b.to(torch.float64), rtol=1e-5, atol=1e-8)


def _check_gradient(fn: Callable) -> tuple[bool, str]:
    for seed, shape in ((0, (2, 2)), (1, (3, 4))):
        x = _random(*shape, seed=seed)
        expected = torch.full_like(x, 2 * float(x.sum()))
        if not _close(fn(x.clone()), expected):
            return False, f"wrong gradient for a {shape[0]}×{shape[1]} input; use the chain rule: dz/dy · dy/dx"
    return True, "the gradient of (Σx)² is the same for every entry"


def _number(answer: Any) -> float | None:
    try:
        value = float(answer)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one value
        return None
    return value if math.isfinite(value) else None


def _near(value: float, *targets: float) -> bool:
    return any(math.isclose(value, t, rel_tol=5e-3) for t in targets)


def _check_number(answer: Any, right: float, wrong: list[tuple[tuple[float, ...], str]], otherwise: str,
                  correct: str) -> tuple[bool, str]:
    """A derived number: right within 0.5 %; a known mistake (``wrong``: values → hint) gets its hint."""
    value = _number(answer)
    if value is None:
        return False, f"{answer!r} is not a number: write the factor as a number or an expression such as 3 * 4"
    if _near(value, right):
        return True, correct
    for values, hint in wrong:
        if _near(value, *values):
            return False, hint
    return False, otherwise


def _check_loss_factor(answer: Any) -> tuple[bool, str]:
    """½Σ(F − P)² ÷ mean((F − P)²) at conv4_2 of a 256 px image: N·M / 2 (N channels, M = H·W positions)."""
    values = 512 * (256 // 8) ** 2  # conv4_2: 512 channels on a 32×32 grid (three poolings before it)
    if _number(answer) is not None and _number(answer) <= 1:
        return False, "the ½Σ loss is the larger of the two, so the factor is more than 1"
    return _check_number(answer, values / 2, [
        ((values,), "close: mind the ½ in the paper's loss"),
        ((512 * 28 * 28 / 2, 512 * 28 * 28), "those are the sizes of the 224 px table; this image is 256 px on a side"),
        ((values / 1024, values / 512, values / 256),
         "count every feature value, not only the positions: channels × height × width"),
        ((values / 8, values / 4, values * 2, values * 8),
         "count the poolings in front of conv4_2: each one halves the height and the width"),
    ], "the mean divides the sum of squared differences by how many there are: how many values has conv4_2?",
        "the mean divides the sum by N·M; the paper halves it instead, so ½Σ = (N·M / 2) · mean")


def _check_convention_factor(answer: Any) -> tuple[bool, str]:
    """The lecture's E_l ÷ the paper's at conv3_1 of a 256 px image: 4M/N = 4·64²/256 = 64."""
    n, m = 256, (256 // 4) ** 2  # conv3_1: 256 channels on a 64×64 grid (two poolings before it)
    return _check_number(answer, 4 * m / n, [
        ((n / (4 * m),), "upside down: the lecture divides by N³M, the paper by 4N²M², so which one is larger?"),
        ((m / n,), "close: the paper's denominator has a 4 the lecture's has not"),
        ((4 * 56 * 56 / 256,), "that is the 224 px table; this image is 256 px on a side"),
        ((4 * 256 * 256 / 256, 4 * 128 * 128 / 256, 4 * 32 * 32 / 256),
         "count the poolings in front of conv3_1: each one halves the height and the width"),
        ((4 * m / 64, 4 * m / 128, 4 * m / 512), "how many feature maps (channels) has conv3_1?"),
    ], "divide the paper's denominator 4N²M² by the lecture's N³M, then put in N and M of conv3_1",
        "the lecture's code weighs conv3_1 4M/N times as much as the paper does")


def _choice(answer: Any, options: Sequence[str], right: set[str], also: set[str], what: str) -> tuple[bool, str]:
    """A set of runs chosen from a lesson's pictures: every one of ``right``, perhaps some of ``also`` (borderline
    in the full-mode pictures), nothing else. The hints count, never name, the runs to look at again."""
    items = [answer] if isinstance(answer, (str, int, float)) else list(answer)
    chosen = {str(item) if isinstance(item, str) else f"{item:g}" for item in items}
    if not chosen:
        return False, f"choose at least one of the {what}: {', '.join(options)}"
    unknown = sorted(chosen - set(options))
    if unknown:
        return False, f"{unknown[0]!r} is not one of the {what} above: choose among {', '.join(options)}"
    wrong, missing = len(chosen - right - also), len(right - chosen)
    if wrong:
        return False, f"{wrong} of your {len(chosen)} choices do not fit: look again at their last snapshot"
    if missing:
        return False, f"right so far, but {missing} more {what} fit: look at every row's last snapshot"
    return True, f"those are the {what} that fit"


def _check_layout_layers(answer: Any) -> tuple[bool, str]:
    """Lesson 02, full mode: the reconstructions that keep the cat's layout but not its fine texture."""
    return _choice(answer, LAYOUT_OPTIONS, LAYOUT_RIGHT, LAYOUT_ALSO, "reconstructions")


def _check_cat_balances(answer: Any) -> tuple[bool, str]:
    """Lesson 04, full mode: the balances whose final image shows the cat."""
    return _choice(answer, CAT_OPTIONS, CAT_RIGHT, CAT_ALSO, "balances")


def _check_random_layer(answer: str) -> tuple[bool, str]:
    try:
        layer = resolve_layer(str(answer))
    except ValueError:
        return False, f"{answer!r} is not a VGG19 layer name"
    if LAYER_INDEX[layer] > LAYER_INDEX["pool1"]:
        return False, "that layer's random features lose too much; look at the first row of the comparison"
    return True, "a random first layer is still an (almost) invertible local linear map"


def _check_floor(fn: Callable) -> tuple[bool, str]:
    """min over F of w1·mean((F − P1)²) + w2·mean((F − P2)²) = w1·w2 / (w1 + w2) · mean((P1 − P2)²)."""
    p1, p2 = _random(1, 4, 3, 3, seed=4), _random(1, 4, 3, 3, seed=5)
    gap = content_loss(p1, p2)
    for w1, w2 in ((0.25, 0.75), (1.0, 1.0), (2.0, 1.0), (0.5, 3.0)):
        if not _close(fn(p1.clone(), p2.clone(), w1, w2), w1 * w2 / (w1 + w2) * gap):
            if w1 + w2 == 1:
                return False, f"wrong already at w1 = {w1}, w2 = {w2}: find the F that minimises the loss, put it in"
            return False, (f"right for weights that add up to 1, wrong at w1 = {w1}, w2 = {w2}: "
                           "find the minimising F again without assuming w1 + w2 = 1")
    return True, "the minimiser is the weighted mean of the targets' features; what is left is the floor"


def _check_gram(fn: Callable) -> tuple[bool, str]:
    v = torch.tensor([[4.0, 0, 3, 1], [3, 0, 1, 2], [4, 5, 0, 3]], dtype=torch.float64).view(1, 3, 2, 2)
    if not _close(fn(v), gram_matrix(v, normalize=False)):
        return False, "for the lecture's V the answer should be 3×3 per image: G = F Fᵀ over positions"
    x = _random(2, 5, 4, 3, seed=6)
    if not _close(fn(x), gram_matrix(x, normalize=False)):
        return False, "right for one image but not for a batch (B, C, H, W)"
    return True, "matches stlib.gram_matrix(…, normalize=False)"


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

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        self.evaluations += int(image.requires_grad)
        pool, relu, out = torch.nn.functional.max_pool2d, torch.relu, {}
        x = out["conv1_1"] = self.convs["conv1_1"](image)
        for name in ("conv2_1", "conv3_1", "conv4_1"):
            x = out[name] = self.convs[name](pool(relu(x), 2))
        x = out["conv4_2"] = self.convs["conv4_2"](relu(x))
        out["conv5_1"] = self.convs["conv5_1"](pool(relu(x), 2))
        return {layer: out[layer] for layer in layers}


def _reference_total(image: torch.Tensor, f_image: dict, f_content: dict, grams: dict, alpha: float, beta: float,
                     gamma: float, *, style_weights: dict | None = None, tv: str = "mean") -> torch.Tensor:
    """`stylize`'s total loss (the default preset) from its parts; the keywords make the checks' wrong twins."""
    from .losses import style_loss, total_loss, total_variation
    from .models import STYLE_WEIGHTS

    weights = STYLE_WEIGHTS if style_weights is None else style_weights
    return total_loss(content_loss(f_image["conv4_2"], f_content["conv4_2"]), style_loss(f_image, grams, weights),
                      total_variation(image, reduction=tv), content_weight=alpha, style_weight=beta,
                      tv_weight=gamma).total


def _total_inputs(seed: int) -> tuple[torch.Tensor, dict, dict, dict]:
    """Fresh random features for `_check_total_loss`: an 8×8 image and a few channels per layer."""
    from .models import STYLE_WEIGHTS

    shapes = {"conv1_1": (4, 8, 8), "conv2_1": (6, 4, 4), "conv3_1": (8, 4, 4), "conv4_1": (8, 2, 2),
              "conv4_2": (8, 2, 2), "conv5_1": (8, 2, 2)}
    image = _random(1, 3, 8, 8, seed=seed)
    f_image = {l: _random(1, *s, seed=seed + 1 + i) - 0.5 for i, (l, s) in enumerate(shapes.items())}
    f_content = {"conv4_2": _random(1, *shapes["conv4_2"], seed=seed + 20)}
    grams = {l: gram_matrix(_random(1, *shapes[l], seed=seed + 30 + i) - 0.5) for i, l in enumerate(STYLE_WEIGHTS)}
    return image, f_image, f_content, grams


@contextlib.contextmanager
def _one_thread():
    """Tensors this small: threads only add waiting (50× slower on a busy 2-core CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check_total_loss(fn: Callable) -> tuple[bool, str]:
    """Lesson 07: α·content + β·style + γ·TV, checked against `stlib.losses` on fresh random features."""
    with _one_thread():
        return _check_total_loss_tiny(fn)


def _check_total_loss_tiny(fn: Callable) -> tuple[bool, str]:
    for seed, (alpha, beta, gamma) in ((40, (1.0, 3.0, 0.5)), (50, (2.0, 0.25, 4.0))):
        image, f_image, f_content, grams = _total_inputs(seed)
        args = (image, f_image, f_content, grams, alpha, beta, gamma)
        value = fn(*(a.clone() if isinstance(a, torch.Tensor) else a for a in args))
        value = getattr(value, "total", value)  # a LossTerms is fine too
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            return False, "return the total as a one-number tensor (the optimiser calls .backward() on it)"
        if _close(value.reshape(()), _reference_total(*args)):
            continue
        own = {l: gram_matrix(f_image[l]) for l in grams}
        twins = [
            ((image, f_image, f_content, grams, beta, alpha, gamma), {},
             "α and β are swapped: α weighs the content term, β the style term"),
            ((image, f_image, f_content, grams, alpha, beta, 1.0), {},
             "the total-variation term is there but unweighted: multiply it by γ"),
            ((image, f_image, f_content, grams, alpha, beta, 0.0), {},
             "the third term is missing: add γ times the total variation of the image"),
            (args, {"tv": "sum"},
             "stylize's total variation is the mean over all values (losses.total_variation's default), not the sum"),
            ((image, f_image, f_content, own, alpha, beta, gamma), {},
             "your style term is zero: compare the image's Grams with the style's targets (style_grams), "
             "not with Grams computed from the image itself"),
            (args, {"style_weights": None},
             "weigh each style layer with models.STYLE_WEIGHTS (1, 0.75, 0.2, …), not equally"),
        ]
        for twin_args, keywords, hint in twins:
            if keywords.get("style_weights", 1) is None:
                keywords = {"style_weights": {l: 1 / len(grams) for l in grams}}
            if _close(value.reshape(()), _reference_total(*twin_args, **keywords)):
                return False, hint
        return False, (f"wrong at α = {alpha:g}, β = {beta:g}, γ = {gamma:g}: content at conv4_2 "
                       "(losses.content_loss), style over models.STYLE_WEIGHTS (losses.style_loss), mean TV")
    return True, "α·content + β·style + γ·TV, term by term as stylize computes it"


def _reference_transfer(content: torch.Tensor, style: torch.Tensor, model: torch.nn.Module, num_steps: int,
                        alpha: float, beta: float, gamma: float, *, zero_grad: bool = True) -> torch.Tensor:
    """The loop of lesson 07 written plainly (`_check_transfer`'s twin with a forgotten ``zero_grad``)."""
    from .models import STYLE_WEIGHTS

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
    """The same transfer as `stylize` runs it: `transfer_loss` (default preset) optimised by `optim.optimize`."""
    from dataclasses import replace

    from .optim import optimize
    from .presets import get_preset
    from .transfer import transfer_loss

    preset = replace(get_preset("default"), content_weight=alpha, style_weight=beta)
    loss = transfer_loss(model, content, style, preset=preset, tv_weight=gamma)  # type: ignore[arg-type]
    return optimize(content, loss, num_steps=num_steps, optimizer="lbfgs", progress=False).image


_TRANSFER_ERRORS = (  # what PyTorch says → the mistake behind it
    ("NoneType", "the closure must return the loss: L-BFGS reads it to decide how far to step"),
    ("backward through the graph a second time",
     "compute the targets once, from the content and style images, without gradients (torch.no_grad() or "
     ".detach()): a target built from the image being optimised keeps a graph that the first backward() frees"),
    ("does not require grad", "the image being optimised must require gradients: requires_grad_(True)"),
    ("leaf Variable that requires grad is being used in an in-place operation",
     "clamp the image inside `with torch.no_grad():` (an in-place change to a leaf that requires grad)"),
)


def _check_transfer(fn: Callable) -> tuple[bool, str]:
    """Lesson 07: the L-BFGS loop with its closure, against `optim.optimize` of `stylize`'s loss, on a tiny
    random VGG (`_TinyVGG`) and random 32 px images; each typical mistake is recognised by what it does."""
    with _one_thread():
        return _check_transfer_tiny(fn)


def _check_transfer_tiny(fn: Callable) -> tuple[bool, str]:
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


def _near_image(image: torch.Tensor, expected: torch.Tensor, start: torch.Tensor) -> bool:
    """Equal up to rounding, which L-BFGS amplifies a little: within 2 % of how far the pixels moved."""
    moved = (expected - start).abs().max().item()
    return (image - expected).abs().max().item() <= 1e-5 + 0.02 * moved


COLOUR_SOURCES = ("content", "style", "transfer")
COLOUR_RIGHT = {"luminance only": ("content", "transfer"), "histogram": ("content", "content")}


def _check_colours(answer: Any) -> tuple[bool, str]:
    """Lesson 08, predict before running: whose colours and whose brightness each colour fix keeps, as
    ``{"luminance only": (colours from, brightness from), "histogram": (…, …)}``."""
    if not isinstance(answer, dict) or set(answer) != set(COLOUR_RIGHT):
        return False, ('answer with a dict: {"luminance only": (colours, brightness), '
                       '"histogram": (colours, brightness)}')
    for method, pair in answer.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or any(p not in COLOUR_SOURCES for p in pair):
            return False, f"for {method!r} give two of {', '.join(COLOUR_SOURCES)}: (colours from, brightness from)"
    lum, hist = tuple(answer["luminance only"]), tuple(answer["histogram"])
    if lum[0] != COLOUR_RIGHT["luminance only"][0]:
        return False, "luminance only: U and V, the two colour channels, are copied from one picture; which?"
    if lum[1] != COLOUR_RIGHT["luminance only"][1]:
        return False, "luminance only: Y, the brightness channel, is the one kept from the picture being fixed"
    if hist[1] != COLOUR_RIGHT["histogram"][1]:
        return False, ("histogram: once R, G and B each have the content's histogram, so does any mix of them, "
                       "brightness included: whose is it?")
    if hist[0] != COLOUR_RIGHT["histogram"][0]:
        return False, "histogram: each RGB channel gets the content's distribution, so whose mean colour is it?"
    return True, "luminance only keeps the transfer's brightness; histogram matching restores the content's too"


POOLING_OPTIONS = ("larger", "smaller", "about the same")


def _check_pooling_loss(answer: Any) -> tuple[bool, str]:
    """Lesson 08, predict before running: the style loss of the content image (against the style's targets)
    with average pooling, compared with max pooling (the same weights)."""
    if answer not in POOLING_OPTIONS:
        return False, f"{answer!r} is not one of the three options the question offers: copy one of them"
    if answer == "larger":
        return False, ("compare the average of four non-negative numbers with their maximum, then follow that "
                       "through four poolings to the deep layers")
    if answer == "about the same":
        return False, ("the weights are the same, but what each pooling passes on is not: is the average of four "
                       "ReLU outputs as large as their maximum?")
    return True, ("an average is at most the maximum, so the deeper features and their Grams shrink, "
                  "and the loss with them")


PRESET_OPTIONS = ("default", "paper", "udacity", "balanced")


def _check_least_change(answer: Any) -> tuple[bool, str]:
    """Lesson 08, predict before running: the preset whose result stays closest to the cat after the same
    (small) number of steps: `udacity`, whose Adam moves a pixel by about its learning rate per step."""
    if answer not in PRESET_OPTIONS:
        return False, f"{answer!r} is not one of the presets the question offers: copy one of their names"
    if answer in ("default", "paper", "balanced"):
        return False, ("β is in each preset's own units, so compare something else: the optimiser column, and how "
                       "far Adam with that learning rate can move a pixel in this many steps")
    return True, "Adam moves each pixel by about lr per step, so a few dozen steps barely change the cat"


def _check_param_count(fn: Callable) -> tuple[bool, str]:
    """Lesson 10: the number of weights of `stlib.fastnet.TransformerNet(width, blocks)`, as a formula."""
    from .fastnet import TransformerNet

    for width, blocks in ((16, 5), (8, 2), (32, 5), (4, 0)):
        right = sum(p.numel() for p in TransformerNet(width, blocks).parameters())
        value = _number(fn(width, blocks))
        if value is None:
            return False, f"count({width}, {blocks}) should return a number"
        if value == right:
            continue
        w = width
        convs = [(3, w // 2, 9), (w // 2, 2 * w, 3), (2 * w, 4 * w, 3), *[(4 * w, 4 * w, 3)] * (2 * blocks),
                 (4 * w, 2 * w, 3), (2 * w, w // 2, 3), (w // 2, 3, 9)]
        kernels = sum(cin * cout * k * k for cin, cout, k in convs)
        biases = sum(cout for _, cout, _ in convs)
        norms = 2 * sum(cout for _, cout, _ in convs[:-1])
        skip = 2 * 3  # the skip path's instance norm: a scale and a shift per colour
        if value in (kernels + norms, kernels + norms + skip):
            return False, "every convolution also has a bias: one number per output channel"
        if value in (kernels + biases, kernels + biases + skip):
            return False, "each instance norm learns a scale and a shift per channel (affine=True); count them too"
        if value == kernels + biases + norms:
            return False, "the skip path has an instance norm too: a scale and a shift for each colour"
        if value == kernels + biases + norms + skip - (81 - 9) * 3 * (w // 2) * 2:
            return False, "the first and the last convolutions are 9×9, the others 3×3"
        return False, f"wrong for width {width}, {blocks} blocks: print(net) and count layer by layer"
    return True, "kernels + biases + two numbers per normalised channel, for any width and number of blocks"


INVARIANT_OPTIONS = {
    "brighter": "x + 0.2", "darker": "0.5 * x", "more contrast": "1.5 * x - 0.25", "negative": "1 - x",
    "mirrored": "x.flip(-1)", "rotated": "x.rot90(1, (-2, -1))",
}
INVARIANT_RIGHT = {"brighter", "darker", "more contrast"}


def _check_invariant(answer: Any) -> tuple[bool, str]:
    """Lesson 10: the input changes a·x + b (a > 0) that instance normalisation after the first convolution
    removes exactly; the rest change the picture."""
    chosen = {answer} if isinstance(answer, str) else set(answer)
    if not chosen:
        return False, f"choose at least one of the changes: {', '.join(INVARIANT_OPTIONS)}"
    unknown = sorted(str(c) for c in chosen - set(INVARIANT_OPTIONS))
    if unknown:
        return False, f"{unknown[0]!r} is not one of the changes: choose among {', '.join(INVARIANT_OPTIONS)}"
    if "negative" in chosen:
        return False, ("1 − x is a·x + b with a < 0: normalising removes the shift and the scale's size, "
                       "not its sign, and the ReLU sees the sign")
    if chosen & {"mirrored", "rotated"}:
        return False, ("moving pixels is not a·x + b: the learned kernels are not symmetric, so the picture "
                       "is not just moved along with them")
    missing = len(INVARIANT_RIGHT - chosen)
    if missing:
        return False, f"right so far, but {missing} more of the changes are of the form a·x + b with a > 0"
    return True, ("conv(a·x + b) = a·conv(x) + a constant per channel, and instance norm removes both: "
                  "the network cannot see brightness or contrast")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "01_gradient": _check_gradient,
    "02_loss_factor": _check_loss_factor,
    "02_layout_layers": _check_layout_layers,
    "03_random_layer": _check_random_layer,
    "04_cat_balances": _check_cat_balances,
    "04_floor": _check_floor,
    "05_gram": _check_gram,
    "06_convention_factor": _check_convention_factor,
    "07_total_loss": _check_total_loss,
    "07_transfer": _check_transfer,
    "07_half_sum_beta": _check_half_sum_beta,
    "08_colours": _check_colours,
    "08_pooling_loss": _check_pooling_loss,
    "08_least_change": _check_least_change,
    "10_param_count": _check_param_count,
    "10_invariant": _check_invariant,
}


def check(name: str, answer: Any, *, quiet: bool = False) -> bool:
    """Check exercise ``name``; print one line; return whether the answer is right."""
    if name not in CHECKS:
        raise KeyError(f"no exercise {name!r}; known: {', '.join(CHECKS)}")
    try:
        if answer is None:
            raise NotImplementedError
        ok, message = CHECKS[name](answer)
    except NotImplementedError:
        ok, message = False, "fill in the exercise above, then run this cell again"
    except Exception as err:  # noqa: BLE001 - a student's bug becomes a hint, not a traceback
        ok, message = False, f"your code raised {type(err).__name__}: {err}"
    if not quiet:
        print(("✓ correct: " if ok else "✗ not yet: ") + message)
    return ok
