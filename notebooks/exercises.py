"""Checks for the lessons' exercises: one line, right or not yet, never the solution.

In a lesson: ``exercises.check("05_gram", gram_matrix)`` prints ``✓ correct …`` or
``✗ not yet: <hint>`` and returns True/False. The checks are course material, not library:
they live beside the lessons (a kernel starts in ``notebooks/``, so ``import exercises``
finds this file), not in ``stlib``. Solutions for instructors live in
``notebooks/solutions/``; the tests run every check against them and against
wrong answers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stlib.losses import content_loss, gram_matrix, total_variation
from stlib.models import LAYER_INDEX, VGG_LAYOUT, resolve_layer

# what the full-mode pictures show (looked at; the lessons say which pictures to look at)
LAYOUT_OPTIONS = ("block1", "block2", "block3", "block4", "block5", "conv1_1", "conv2_1", "conv3_1", "conv4_1")
LAYOUT_RIGHT = {"block4"}
LAYOUT_ALSO = {"conv4_1"}
CAT_OPTIONS = ("0", "0.25", "0.5", "0.75", "1")
CAT_RIGHT = {"0.75", "1"}
CAT_ALSO = {"0.5"}


@contextlib.contextmanager
def _one_thread():
    """Tensors this small: threads only add waiting (50× slower on a busy 2-core CPU). Also a decorator."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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
    """The Udacity notes' E_l ÷ the paper's at conv3_1 of a 256 px image: 4M/N = 4·64²/256 = 64."""
    n, m = 256, (256 // 4) ** 2  # conv3_1: 256 channels on a 64×64 grid (two poolings before it)
    return _check_number(answer, 4 * m / n, [
        ((n / (4 * m),), "upside down: the Udacity notes divide by N³M, the paper by 4N²M², so which one is larger?"),
        ((m / n,), "close: the paper's denominator has a 4 the Udacity notes' has not"),
        ((4 * 56 * 56 / 256,), "that is the 224 px table; this image is 256 px on a side"),
        ((4 * 256 * 256 / 256, 4 * 128 * 128 / 256, 4 * 32 * 32 / 256),
         "count the poolings in front of conv3_1: each one halves the height and the width"),
        ((4 * m / 64, 4 * m / 128, 4 * m / 512), "how many feature maps (channels) has conv3_1?"),
    ], "divide the paper's denominator 4N²M² by the Udacity notes' N³M, then put in N and M of conv3_1",
        "the Udacity notes' code weighs conv3_1 4M/N times as much as the paper does")


STYLE_LOSS_HINTS = {
    "raw": "far too large, by a different factor at each layer: divide each layer's Σ(G − A)² by 4N²M² "
           "(N feature maps of M = H·W positions) before weighting it",
    "no_four": "4 times too large: mind the 4 in the paper's 4N²M²",
    "udacity": "that is the Udacity notes' E_l, mean((G − A)²) / (N·M) = Σ(G − A)² / (N³M); "
               "this fill-in asks for the paper's, Σ(G − A)² / (4N²M²)",
    "udacity_swapped": "that looks like the Udacity notes' Σ(G − A)² / (N³M) with N and M swapped; "
                       "N counts the feature maps (C), M the positions (H·W); and the paper divides by 4N²M²",
    "no_weights": "every layer counts the same in your sum: multiply each layer's E_l by its weight w_l",
    "average": "you averaged over the layers: the paper's style loss is the weighted sum Σ_l w_l E_l, "
               "with no division by the number of layers",
    "last_only": "only one layer counts: add each layer's w_l E_l to the total instead of overwriting it",
    "itself": "your loss is 0 although the image's Grams differ from the targets: compare the image's Gram G "
              "with the target A = targets[layer], not with a Gram recomputed from the image",
    "not_tensor": "return a tensor, not a Python number: the optimiser needs its gradient (.item() or float() "
                  "cut the graph)",
    "no_grad": "your loss is a tensor but carries no gradient: .detach(), NumPy or torch.tensor(…) cut it from "
               "the features; compute it from features[layer] with torch operations all the way",
}


def _check_style_loss(fn: Callable) -> tuple[bool, str]:
    """Lesson 06: Σ_l w_l E_l with the paper's E_l = Σ(G − A)² / (4N²M²) (raw Grams), on random features;
    compared with stlib.losses.style_loss(…, convention="paper")."""
    from stlib.losses import style_loss

    shapes = {"conv1_1": (3, 4, 5), "conv2_1": (6, 2, 3), "conv3_1": (4, 3, 3)}  # (N, H, W): tiny, all different
    weights = {"conv1_1": 1.0, "conv2_1": 0.5, "conv3_1": 0.25}
    features = {l: _random(1, *shape, seed=20 + i).requires_grad_(True) for i, (l, shape) in enumerate(shapes.items())}
    style = {l: 2 * _random(1, *shape, seed=30 + i) for i, (l, shape) in enumerate(shapes.items())}
    targets = {l: gram_matrix(f, normalize="none") for l, f in style.items()}
    expected = style_loss(features, {l: gram_matrix(f, normalize="chw") for l, f in style.items()}, weights,
                          convention="paper").item()
    out = fn(dict(features), dict(targets), dict(weights))
    if not isinstance(out, torch.Tensor):
        return False, STYLE_LOSS_HINTS["not_tensor"]
    value = _number(out.detach())
    if value is None:
        return False, f"return one number (a tensor with one value), not a tensor of shape {tuple(out.shape)}"
    if out.grad_fn is None:
        return False, STYLE_LOSS_HINTS["no_grad"]
    if _near(value, expected):
        return True, "Σ_l w_l Σ(G − A)² / (4N²M²): the same as stlib.losses.style_loss(…, convention='paper')"
    squared = {l: float(((gram_matrix(f.detach(), normalize="none") - targets[l]) ** 2).sum())
               for l, f in features.items()}
    n_m = {l: (n, h * w) for l, (n, h, w) in shapes.items()}

    def total(divide, weighted=True):
        return sum((weights[l] if weighted else 1.0) * squared[l] / divide(*n_m[l]) for l in shapes)

    paper = lambda n, m: 4 * n**2 * m**2  # noqa: E731
    last = list(shapes)[-1]
    candidates = [
        ("raw", (total(lambda n, m: 1), total(lambda n, m: 1, weighted=False))),
        ("no_four", (total(lambda n, m: n**2 * m**2),)),
        ("udacity", (total(lambda n, m: n**3 * m), total(lambda n, m: n**3 * m, weighted=False))),
        ("udacity_swapped", (total(lambda n, m: m**3 * n),)),
        ("no_weights", (total(paper, weighted=False),)),
        ("average", (total(paper) / len(shapes), total(paper, weighted=False) / len(shapes))),
        ("last_only", (weights[last] * squared[last] / paper(*n_m[last]), squared[last] / paper(*n_m[last]))),
    ]
    if abs(value) <= 1e-12 * expected:
        return False, STYLE_LOSS_HINTS["itself"]
    for key, values in candidates:
        if _near(value, *values):
            return False, STYLE_LOSS_HINTS[key]
    return False, ("not the paper's style loss: for each layer, G from the image's features, A from targets, "
                   "E_l = Σ(G − A)² / (4N²M²); then Σ_l w_l E_l")


def _choice(answer: Any, options: Sequence[str], right: set[str], also: set[str], what: str, *,
            look: str = "look again at their last snapshot",
            look_all: str = "look at every row's last snapshot") -> tuple[bool, str]:
    """A set of runs chosen from a lesson's pictures: every one of ``right``, perhaps some of ``also`` (borderline
    in the full-mode pictures), nothing else. The hints count, never name, the runs to look at again (``look``:
    what to do about a wrong choice, ``look_all``: about a missing one; a prediction made before the pictures
    are drawn gets hints that reason instead)."""
    items = [answer] if isinstance(answer, (str, int, float)) else list(answer)
    chosen = {str(item) if isinstance(item, str) else f"{item:g}" for item in items}
    if not chosen:
        return False, f"choose at least one of the {what}: {', '.join(options)}"
    unknown = sorted(chosen - set(options))
    if unknown:
        return False, f"{unknown[0]!r} is not one of the {what} above: choose among {', '.join(options)}"
    wrong, missing = len(chosen - right - also), len(right - chosen)
    if wrong:
        return False, f"{wrong} of your {len(chosen)} choices do not fit: {look}"
    if missing:
        return False, f"right so far, but {missing} more {what} fit: {look_all}"
    return True, f"those are the {what} that fit"


class _TinyNet(torch.nn.Module):
    """A stand-in for VGG19 in the checks, small enough to run in a blink: ``model(x, [layer])`` returns
    ``{layer: features (1, 8, H, W)}`` for ``conv1_1, relu1_1, conv1_2, relu1_2``. Its weights require grad,
    like torchvision's VGG19 before anyone freezes it, so features that are not detached carry a graph.
    It notes whether a gradient ever reached the features of ``watch`` (the target)."""

    NAMES = ("conv1_1", "relu1_1", "conv1_2", "relu1_2")

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
        self.watch: torch.Tensor | None = None
        self.target_grad = False
        self.image_grad = False  # whether backward() ever reached an image that is not the target

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        if isinstance(layers, str):
            raise ValueError("pass a list of layer names, model(x, [layer]), as to stlib's VGG19")
        unknown = [layer for layer in layers if layer not in self.NAMES]
        if unknown:
            raise ValueError(f"this model has no layer {unknown[0]!r}; use the `layer` argument")
        out, h = {}, x
        for name, layer in zip(self.NAMES, (self.conv1, torch.relu, self.conv2, torch.relu), strict=True):
            h = out[name] = layer(h)
        if self.watch is not None and x.shape == self.watch.shape and torch.equal(x.detach(), self.watch):
            for f in out.values():
                if f.requires_grad:
                    f.register_hook(self._reached_target)
        elif x.requires_grad:
            x.register_hook(self._reached_image)
        return {layer: out[layer] for layer in layers}

    def _reached_target(self, grad: torch.Tensor) -> None:
        self.target_grad = True

    def _reached_image(self, grad: torch.Tensor) -> None:
        self.image_grad = True


def _reconstruct_by_hand(model: _TinyNet, target: torch.Tensor, layer: str | None, start: torch.Tensor,
                         num_steps: int, lr: float, *, zero_grad: bool = True, clamp: bool = True) -> torch.Tensor:
    """The reconstruction loop with a known mistake switched on (``layer=None``: compare pixels)."""
    features = (lambda x: x) if layer is None else (lambda x: model(x, [layer])[layer])
    with torch.no_grad():
        P = features(target)
    image = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    for _ in range(num_steps):
        if zero_grad:
            optimizer.zero_grad()
        content_loss(features(image), P).backward()
        optimizer.step()
        if clamp:
            with torch.no_grad():
                image.clamp_(0, 1)
    return image.detach()


def _check_reconstruct(fn: Callable) -> tuple[bool, str]:
    """Lesson 02: the reconstruction loop by hand, on a tiny random net and a 16 px image, against
    `stlib.optimize` with `content_reconstruction_loss` (Adam, the content loss, clamping)."""
    from stlib.optim import optimize
    from stlib.transfer import content_reconstruction_loss

    layer, num_steps, lr = "conv1_2", 6, 0.05
    target, start = _random(1, 3, 16, 16, seed=7).float(), _random(1, 3, 16, 16, seed=8).float()
    reference_net = _TinyNet(seed=9)
    expected = optimize(start, content_reconstruction_loss(reference_net, [target], [layer]), num_steps=num_steps,
                        optimizer="adam", lr=lr, progress=False)
    model = _TinyNet(seed=9)
    weights = [p.detach().clone() for p in model.parameters()]
    model.watch = target
    their_target, their_start = target.clone(), start.clone()

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:
        return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-4)

    target_hint = ("the target is a constant, not the variable: make a copy of `start` the variable and give "
                   "only that image to the optimizer")
    detach_hint = ("gradients flow into the target's features: compute them once, under torch.no_grad() "
                   "(or .detach() them), so they are a constant")
    try:
        answer = fn(model, their_target, layer, their_start, num_steps, lr)
    except RuntimeError as err:
        if their_target.requires_grad or not torch.equal(their_target, target):
            return False, target_hint
        if "second time" in str(err):
            return False, detach_hint
        if "does not require grad" in str(err):
            return False, "nothing requires grad: make the image the variable with requires_grad_(True)"
        if "leaf Variable that requires grad is being used in an in-place operation" in str(err):
            return False, ("clamp the image inside `with torch.no_grad():`: PyTorch refuses an in-place change to "
                           "a tensor that requires grad while it records the graph")
        raise
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return False, "return two things: (image, losses), the final image and the list of per-step losses"
    image, history = answer
    if not isinstance(image, torch.Tensor) or image.shape != start.shape:
        return False, f"the image should be a tensor shaped like start, {tuple(start.shape)}"
    image = image.detach().float()
    if their_target.requires_grad or not torch.equal(their_target, target):
        return False, target_hint
    if any(not torch.equal(p, w) for p, w in zip(model.parameters(), weights, strict=True)):
        return False, "the network's weights changed: they are a constant; give only the image to the optimizer"
    if not torch.equal(their_start, start):
        return False, "`start` changed: optimise a copy of it (start.clone()), so the caller keeps the original"
    if model.target_grad:
        return False, detach_hint
    if same(image, start) and model.image_grad:
        return False, ("the image never changed although backward() reached it: the optimizer's step saw no "
                       "gradient; call optimizer.zero_grad() before backward(), not between backward() and step()")
    if same(image, start):
        return False, ("the image never changed: make a copy of `start` the variable (requires_grad_(True)) and "
                       "give that image to the optimizer")
    try:
        history = [float(value) for value in history]
    except (TypeError, ValueError, RuntimeError):
        return False, "losses should be a list of numbers, one loss.item() per step"
    if len(history) != num_steps:
        return False, f"losses should hold one number per step: {num_steps} steps, {len(history)} numbers"
    numel = 8 * 16 * 16  # conv1_2 of a 16 px image: 8 maps of 16 × 16
    first = expected.losses()[0]
    if _near(history[0], first * numel):
        return False, "your loss is a sum: losses.content_loss, as in the Udacity notes, is the mean of the squares"
    if _near(history[0], first * numel / 2):
        return False, "that is the paper's ½Σ; here use the mean of the squares, as losses.content_loss does"
    if same(image, expected.image):
        if not all(_near(h, e) for h, e in zip(history, expected.losses(), strict=True)):
            return False, "the image is right but the losses are not: record loss.item() at every step"
        return True, f"{num_steps} steps by hand give stlib.optimize's image"
    if image.min() < 0 or image.max() > 1:
        return False, "pixels left [0, 1]: after each step clamp the image in place (under torch.no_grad())"

    def mistake(**switches: Any) -> torch.Tensor:
        return _reconstruct_by_hand(_TinyNet(seed=9), target, switches.pop("layer", layer), start, num_steps, lr,
                                    **switches)

    if same(image, mistake(zero_grad=False)):
        return False, "gradients pile up from step to step: call optimizer.zero_grad() before every backward()"
    if same(image, mistake(layer=None)):
        return False, "you compared pixels: compare the features at `layer`, model(x, [layer])[layer]"
    if any(same(image, mistake(layer=other)) for other in _TinyNet.NAMES if other != layer):
        return False, "those are another layer's features: use model(x, [layer])[layer] with the `layer` given"
    return False, (f"after {num_steps} steps your image differs from stlib's: each step is zero_grad, the loss, "
                   "backward, Adam's step, then the clamp")


EXTRACTOR_HINTS = {
    "numbered": "torchvision's layers are numbered 0–36, not named: map each name to its index with "
                "stlib.LAYER_INDEX",
    "not_callable": "return the extractor itself, a function that takes (image, layers) and returns "
                    "{name: features}, as stlib's model(image, [layer]) does",
    "not_dict": "the extractor returns a dict: one entry name → features for each name asked for",
    "early": "the deepest layer asked for is missing: your extractor stops one layer early "
             "(a slice [:i] ends before index i)",
    "missing": "a name asked for is missing from your dict: keep the output of every layer named in `layers`",
    "inplace": "your stored conv features have no negative values: the ReLU after them ran in place and "
               "rectified them; keep a convolution's output as it is (see torchvision's in-place ReLU above)",
    "off_by_one": "one layer off: those are the features of the layer next to the one asked for; the layer "
                  "named n is features[stlib.LAYER_INDEX[n]], and its output is what that layer returns",
    "wrong_layer": "those are another layer's features: look each name up in stlib.LAYER_INDEX "
                   "(the table above) instead of counting",
    "no_grad": "your features carry no gradient although the image requires one: torch.no_grad() or .detach() "
               "in the extractor would stop the reconstruction from reaching the pixels; freeze the weights "
               "instead",
    "weights": "the network's weights still require grad: freeze them (requires_grad_(False)), or every step "
               "also computes gradients for all the weights, which no optimiser uses",
    "train": "the network is still in training mode: build the extractor in eval mode (.eval()), as a "
             "frozen network should be",
    "too_far": "your extractor runs past the deepest layer asked for: stop there, the deeper layers only "
               "cost time and memory",
}


def _tiny_torchvision_vgg(seed: int) -> torch.nn.Sequential:
    """VGG19's `features` as torchvision builds them (37 layers numbered 0–36, ReLU(inplace=True), weights that
    require grad, training mode), 4 channels per convolution: a 32 px image runs through all of it in a blink."""
    gen, layers, cin = torch.Generator().manual_seed(seed), [], 3
    for _, convs, _ in VGG_LAYOUT:
        for _ in range(convs):
            conv = torch.nn.Conv2d(cin, 4, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.4)
                conv.bias.copy_(torch.randn(4, generator=gen) * 0.2)
            layers += [conv, torch.nn.ReLU(inplace=True)]
            cin = 4
        layers.append(torch.nn.MaxPool2d(2, 2))
    return torch.nn.Sequential(*layers)


def _every_output(features: torch.nn.Sequential, image: torch.Tensor) -> list[torch.Tensor]:
    """The output of every layer, each as that layer returns it (ReLUs applied out of place)."""
    outputs, x = [], image
    with torch.no_grad():
        for layer in features:
            x = torch.relu(x) if isinstance(layer, torch.nn.ReLU) else layer(x)
            outputs.append(x)
    return outputs


@_one_thread()
def _check_extractor(fn: Callable) -> tuple[bool, str]:
    """Lesson 02: an extractor built from VGG19's layers by name, on a torchvision-like VGG19 in miniature
    (`_tiny_torchvision_vgg`); forward hooks see which layers ran and in which mode."""
    net = _tiny_torchvision_vgg(seed=3)
    expected = _every_output(net, image := _random(1, 3, 32, 32, seed=4).float())
    ran: list[tuple[int, bool]] = []  # (index, training) of every layer of `net` that ran
    for index, layer in enumerate(net):
        layer.register_forward_pre_hook(lambda module, args, index=index: ran.append((index, module.training)))
    try:
        extractor = fn(net)
        if not callable(extractor):
            return False, EXTRACTOR_HINTS["not_callable"]
        for layers in (["conv1_1", "relu2_1", "conv3_2"], ["pool2"], ["relu1_2", "conv4_1"]):
            ran.clear()
            out = extractor(image.clone().requires_grad_(True), list(layers))
            ok, message = _compare_extracted(out, layers, expected)
            if not ok:
                return False, message
            if any(not f.requires_grad for f in out.values()):
                return False, EXTRACTOR_HINTS["no_grad"]
            deepest = max(LAYER_INDEX[name] for name in layers)
            if any(index > deepest for index, _ in ran):
                return False, EXTRACTOR_HINTS["too_far"]
            if any(training for _, training in ran):
                return False, EXTRACTOR_HINTS["train"]
            if any(f.requires_grad for f in extractor(image.clone(), list(layers)).values()):
                return False, EXTRACTOR_HINTS["weights"]
    except KeyError as err:
        if err.args and str(err.args[0]) in LAYER_INDEX:
            return False, EXTRACTOR_HINTS["numbered"]
        raise
    return True, "every name's own output, frozen, stopping at the deepest layer asked for"


def _compare_extracted(out: Any, layers: Sequence[str], expected: list[torch.Tensor]) -> tuple[bool, str]:
    """The extractor's dict against every layer's true output: right, or which mistake it looks like."""
    if not isinstance(out, dict):
        return False, EXTRACTOR_HINTS["not_dict"]
    deepest = max(layers, key=LAYER_INDEX.get)
    if deepest not in out:
        return False, EXTRACTOR_HINTS["early"]
    for name in sorted(layers, key=lambda n: n.startswith("conv")):  # a conv's ReLU output may be an index slip
        if name not in out:
            return False, EXTRACTOR_HINTS["missing"]
        f, index = torch.as_tensor(out[name]).detach(), LAYER_INDEX[name]
        same = [i for i, e in enumerate(expected) if e.shape == f.shape and torch.allclose(f, e, atol=1e-5)]
        if index in same:
            continue
        if name.startswith("conv") and index + 1 in same:  # conv's output equals its ReLU's
            return False, EXTRACTOR_HINTS["inplace"]
        if index - 1 in same or index + 1 in same:
            return False, EXTRACTOR_HINTS["off_by_one"]
        if same:
            return False, EXTRACTOR_HINTS["wrong_layer"]
        return False, (f"wrong features at {name}: run the image through the layers in order and keep what "
                       "the layer of that name returns")
    return True, ""


def _check_layout_layers(answer: Any) -> tuple[bool, str]:
    """Lesson 02, full mode: the reconstructions that keep the cat's layout but not its fine texture (predicted
    before they are drawn)."""
    return _choice(answer, LAYOUT_OPTIONS, LAYOUT_RIGHT, LAYOUT_ALSO, "reconstructions",
                   look="a shallow layer with about as many numbers as the image, or more, stays close to a copy "
                        "in 91 steps and one with very few keeps too little; but the count is not all: the more "
                        "layers between the pixels and the features, the further 91 steps leave the image from "
                        "a copy",
                   look_all="count the blocks' outputs too, after their pooling")


def _check_cat_balances(answer: Any) -> tuple[bool, str]:
    """Lesson 04, full mode: the balances whose final image shows the cat (predicted before they are drawn)."""
    return _choice(answer, CAT_OPTIONS, CAT_RIGHT, CAT_ALSO, "balances",
                   look="the blend leans towards the target with the larger features; which of the two has the "
                        "stronger contrasts, the cup's rim or the cat's fur?",
                   look_all="a balance that gives the cat most of the weight shows it")


def _check_random_layer(answer: str) -> tuple[bool, str]:
    try:
        layer = resolve_layer(str(answer))
    except ValueError:
        return False, f"{answer!r} is not a VGG19 layer name"
    if LAYER_INDEX[layer] > LAYER_INDEX["pool1"]:
        return False, ("by that depth random ReLUs and poolings have thrown information away, and nothing trained "
                       "decided what to keep; which layer sees the pixels themselves?")
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


GRAM_HINTS = {
    "transpose": "your Gram is positions × positions, (B, H·W, H·W): multiply the flattened maps the other way "
                 "round, so that the H·W positions are summed over and C × C is left",
    "hw": "off by H·W: this fill-in is the raw Gram F Fᵀ, a sum over the positions; do not divide (the average "
          "over positions is stlib's normalize='hw')",
    "chw": "off by C·H·W: this fill-in is the raw Gram F Fᵀ; do not divide (÷ C·H·W is stlib's "
           "normalize='chw')",
    "batch": "the batch dimension got lost or mixed in: keep B in front and compute one C × C Gram per image",
    "elementwise": "* multiplies entry by entry; a Gram needs every map with every other map, summed over the "
                   "positions: a matrix product (@ or torch.bmm)",
    "contiguous": "view() cannot flatten a non-contiguous tensor (a transposed one, say): "
                  "use reshape() or flatten(), which copy when they must",
    "no_grad": "the values are right but carry no gradient: NumPy, .detach(), .item() or torch.tensor(…) cut "
               "the graph, and the style loss must backpropagate through the Gram to the image; stay with "
               "torch operations",
}


def _check_gram(fn: Callable) -> tuple[bool, str]:
    """Lesson 05: the raw Gram matrices (B, C, C) of features (B, C, H, W), any B, C, H, W, contiguous or not."""
    cases = [_random(2, 3, 4, 5, seed=6),                      # B > 1, C ≠ H·W: shapes tell mistakes apart
             _random(3, 4, 2, 2, seed=7),                      # C = H·W: a wrong transpose keeps the shape
             _random(2, 3, 5, 4, seed=8).transpose(2, 3)]      # (2, 3, 4, 5), not contiguous: H and W swapped
    for x in cases:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        right = flat @ flat.transpose(1, 2)
        x = x.requires_grad_(True)  # the Gram feeds the style loss: the gradient must flow through it
        try:
            out = fn(x.clone(memory_format=torch.preserve_format))
        except RuntimeError as err:
            text = str(err)
            if "view size is not compatible" in text:
                return False, GRAM_HINTS["contiguous"]
            if "must match the size of tensor" in text:
                return False, GRAM_HINTS["elementwise"]
            if "is invalid for input of size" in text:
                return False, GRAM_HINTS["batch"]
            raise
        grad = isinstance(out, torch.Tensor) and out.requires_grad
        out = torch.as_tensor(out).detach().to(torch.float64)
        right = right.detach()
        if _close(out, right):
            if not grad:
                return False, GRAM_HINTS["no_grad"]
            continue
        flat = flat.detach()
        shape = tuple(out.shape)
        if shape == (b, h * w, h * w) and (c != h * w or _close(out, flat.transpose(1, 2) @ flat)):
            return False, GRAM_HINTS["transpose"]
        summed = right.sum(0).expand_as(right)  # one Gram for the whole batch
        if shape in ((c, c), (1, c, c), (b * c, b * c)) or (shape == right.shape and _close(out, summed)):
            return False, GRAM_HINTS["batch"]
        if shape in ((b, c), (b, c, 1)) or (c == h * w and _close(out, flat * flat.transpose(1, 2))):
            return False, GRAM_HINTS["elementwise"]
        if shape == right.shape and _close(out, right / (h * w)):
            return False, GRAM_HINTS["hw"]
        if shape == right.shape and _close(out, right / (c * h * w)):
            return False, GRAM_HINTS["chw"]
        if shape != right.shape:
            return False, f"for features {(b, c, h, w)} the Gram should be (B, C, C) = {(b, c, c)}, not {shape}"
        return False, (f"wrong values for features {(b, c, h, w)}: G[b, i, j] is the dot product of maps i and j "
                       "of image b")
    return True, "matches stlib.gram_matrix(…, normalize=False) for batches, any C, H, W, contiguous or not"


STYLE_LAYER_NAMES = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def _one_layer(answer: Any) -> str | None:
    items = [answer] if isinstance(answer, str) else list(answer) if isinstance(answer, (list, tuple, set)) else []
    return str(items[0]).strip() if len(items) == 1 else None


def _layer_choice(answer: Any, name_it: str, right: str, at_conv1_1: str, otherwise: str) -> tuple[bool, str]:
    """A predicted style layer: conv5_1 is right; conv1_1 and the rest each get their hint."""
    layer = _one_layer(answer)
    if layer not in STYLE_LAYER_NAMES:
        return False, name_it
    if layer == "conv5_1":
        return True, right
    return False, at_conv1_1 if layer == "conv1_1" else otherwise


def _check_tiles_layer(answer: Any) -> tuple[bool, str]:
    """Lesson 05, predict: shuffling 4 × 4 tiles of the cat changes the Gram most at conv5_1 (full and fast mode;
    the change grows with depth)."""
    return _layer_choice(
        answer, "name one of the five style layers, as a string such as 'conv2_1'",
        "the deepest layer sees the largest regions, and the most of them straddle a seam between tiles",
        "conv1_1 sees 3×3 pixels, and almost every 3×3 patch is still there after the shuffle: "
        "which layer sees the most of the image at once?",
        "a feature changes when the region it sees straddles a seam between tiles: "
        "which layer sees the largest regions?")


def _check_largest_texture(answer: Any) -> tuple[bool, str]:
    """Lesson 06, predict: of the growing layer sets conv1_1; conv1_1…conv2_1; …; conv1_1…conv5_1, the one ending at
    conv5_1 gives the largest texture elements (full mode, 90 steps: looked at)."""
    return _layer_choice(
        answer, "name the set by its deepest layer, as a string such as 'conv2_1'",
        "each deeper layer sees a larger patch of the image, and its Gram pins down texture at that scale",
        "conv1_1 sees 3×3 pixels: its Gram can only ask for the colours and the finest grain. "
        "Which layer sees the largest patch?",
        "a feature describes the patch it sees, its receptive field: which layer's patch is the largest?")


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


def _check_lbfgs_evaluations(fn: Callable) -> tuple[bool, str]:
    """Lesson 09: loss evaluations of ``steps`` calls of ``torch.optim.LBFGS(max_iter=m).step(closure)`` with
    no line search and no early stop: the closure runs once before the first iteration and once after each
    update but the last (the step returns the loss it started from), so ``m`` per step."""
    for steps, max_iter in ((1, 20), (300, 20), (7, 5), (50, 1)):
        right = steps * max_iter
        value = _number(fn(steps, max_iter))
        if value is None:
            return False, f"lbfgs_evaluations({steps}, {max_iter}) should return a number"
        if value == right:
            continue
        if value == steps * (max_iter + 1):
            return False, ("one evaluation too many per step: the closure runs before the first iteration and "
                           "after every update but the last, where the step stops without evaluating again")
        if value == steps * (max_iter * 5 // 4):
            return False, ("max_eval (max_iter·5/4) caps a line search's extra evaluations "
                           "(line_search_fn='strong_wolfe'); without one, each iteration evaluates once")
        if value == steps:
            return False, ("one per step is stlib's L-BFGS (max_iter=1); PyTorch's runs up to max_iter "
                           "iterations inside every .step()")
        if value == max_iter:
            return False, "that is one .step(); the loop calls .step() `steps` times"
        return False, f"wrong for {steps} steps with max_iter={max_iter}: count the closure's calls in one .step()"
    return True, "max_iter evaluations per .step(): a step-counted race would give L-BFGS max_iter times the budget"


RACE_OPTIONS = ("SGD", "Adam", "L-BFGS")
RACE_HINTS = {  # lesson 09, full mode: L-BFGS ends lowest; SGD zigzags, Adam starts slowly (looked at)
    "SGD": ("SGD moves each pixel by lr × its gradient, with one lr small enough for the steepest directions "
            "(section 3's sweep): it crawls along the flat ones and zigzags across the steep ones"),
    "Adam": ("Adam moves each pixel by about lr, a step size chosen by hand, the same where the loss is flat "
             "and where it is steep; one of the three sizes its own steps from the last gradients"),
}
RACE_RIGHT = "L-BFGS"


def _check_race_winner(answer: Any) -> tuple[bool, str]:
    """Lesson 09, full mode: the optimiser with the lowest total loss after the same number of evaluations."""
    def key(name: str) -> str:
        return name.strip().lower().replace("-", "")

    if isinstance(answer, str) and not answer.strip():
        raise NotImplementedError
    if not isinstance(answer, str) or key(answer) not in {key(o) for o in RACE_OPTIONS}:
        return False, "write the name of one of the race's three optimisers, as a string"
    chosen = next(o for o in RACE_OPTIONS if key(o) == key(answer))
    if chosen != RACE_RIGHT:
        return False, RACE_HINTS[chosen]
    return True, ("its curvature model from the last gradients sizes each step; "
                  "the loss curves and pictures below show by how much")


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
    """`stylize`'s total loss (the default preset) from its parts; the keywords make the checks' wrong twins."""
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
    """The same transfer as `stylize` runs it: `transfer_loss` (default preset) optimised by `optim.optimize`."""
    from dataclasses import replace

    from stlib.optim import optimize
    from stlib.presets import get_preset
    from stlib.transfer import transfer_loss

    preset = replace(get_preset("default"), content_weight=alpha, style_weight=beta)
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
    from stlib.fastnet import TransformerNet

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


# -- lesson 11 ------------------------------------------------------------------------------------------
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
    "01_gradient": _check_gradient,
    "02_layout_layers": _check_layout_layers,
    "02_loss_factor": _check_loss_factor,
    "02_extractor": _check_extractor,
    "02_reconstruct": _check_reconstruct,
    "03_random_layer": _check_random_layer,
    "04_cat_balances": _check_cat_balances,
    "04_floor": _check_floor,
    "05_gram": _check_gram,
    "05_tiles_layer": _check_tiles_layer,
    "06_convention_factor": _check_convention_factor,
    "06_largest_texture": _check_largest_texture,
    "06_style_loss": _check_style_loss,
    "07_half_sum_beta": _check_half_sum_beta,
    "07_total_loss": _check_total_loss,
    "07_total_variation": _check_total_variation,
    "07_transfer": _check_transfer,
    "08_colours": _check_colours,
    "08_least_change": _check_least_change,
    "08_pooling_loss": _check_pooling_loss,
    "09_lbfgs_evaluations": _check_lbfgs_evaluations,
    "09_race_winner": _check_race_winner,
    "10_invariant": _check_invariant,
    "10_param_count": _check_param_count,
    "11_covariance": _check_covariance,
    "11_strength_zero": _check_strength_zero,
    "11_wct": _check_wct,
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
