"""The checks of lesson 02_content_loss's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from stlib.losses import content_loss
from stlib.models import LAYER_INDEX, VGG_LAYOUT

from .common import _check_number, _choice, _near, _number, _one_thread, _random

# what the full-mode pictures show (looked at; the lessons say which pictures to look at)
LAYOUT_OPTIONS = ("block1", "block2", "block3", "block4", "block5", "conv1_1", "conv2_1", "conv3_1", "conv4_1")


LAYOUT_RIGHT = {"block4"}


LAYOUT_ALSO = {"conv4_1"}


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


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "02_layout_layers": _check_layout_layers,
    "02_loss_factor": _check_loss_factor,
    "02_extractor": _check_extractor,
    "02_reconstruct": _check_reconstruct,
}
