"""Every exercise check accepts the instructor's solution and rejects wrong answers.

The solutions live in notebooks/solutions/ (one file per lesson); here they are
loaded as modules and handed to the same `exercises.check` the lessons call.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from stlib import losses, models
from stlib.fastnet import TransformerNet

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
sys.path.insert(0, str(NOTEBOOKS))  # the checks live beside the lessons, which `import exercises`
import exercises  # noqa: E402

# exercise → (solution file, name in it)
ANSWERS = {
    "01_gradient": ("01_inputs_as_variables", "gradient"),
    "02_loss_factor": ("02_content_loss", "loss_factor"),
    "02_layout_layers": ("02_content_loss", "layout_layers"),
    "02_extractor": ("02_content_loss", "build_extractor"),
    "02_reconstruct": ("02_content_loss", "reconstruct"),
    "03_random_layer": ("03_random_net", "random_layer"),
    "04_cat_balances": ("04_two_targets", "cat_balances"),
    "04_floor": ("04_two_targets", "floor"),
    "05_gram": ("05_gram_matrices", "gram_matrix"),
    "05_tiles_layer": ("05_gram_matrices", "tiles_layer"),
    "06_convention_factor": ("06_style_loss", "convention_factor"),
    "06_style_loss": ("06_style_loss", "style_loss"),
    "06_largest_texture": ("06_style_loss", "largest_texture"),
    "07_half_sum_beta": ("07_style_transfer", "half_sum_beta"),
    "09_lbfgs_evaluations": ("09_optimizers", "lbfgs_evaluations"),
    "09_race_winner": ("09_optimizers", "winner"),
    "07_total_loss": ("07_style_transfer", "total_loss"),
    "07_total_variation": ("07_style_transfer", "total_variation"),
    "07_transfer": ("07_style_transfer", "transfer"),
    "08_colours": ("08_variants", "colours"),
    "08_pooling_loss": ("08_variants", "pooling_loss"),
    "08_least_change": ("08_variants", "least_change"),
    "10_param_count": ("10_real_time", "count"),
    "10_invariant": ("10_real_time", "invariant"),
    "11_covariance": ("11_universal", "covariance"),
    "11_wct": ("11_universal", "whiten_colour"),
    "11_strength_zero": ("11_universal", "strength_zero"),
}

# other right answers: every one must be accepted
ALSO_RIGHT = {
    "02_loss_factor": [512 * 32 * 32 // 2, torch.tensor(262144.0)],
    "02_layout_layers": ["block4", ("block4", "conv4_1")],
    "04_cat_balances": [(0.5, 0.75, 1), ["0.75", "1"], (1.0, 0.75)],
    "04_floor": [lambda p1, p2, w1, w2: ((p1 - p2) ** 2).mean() / (1 / w1 + 1 / w2)],
    "05_tiles_layer": [["conv5_1"], " conv5_1"],
    "06_convention_factor": [64, torch.tensor(64.0)],
    "09_race_winner": ["lbfgs", " L-BFGS", "l-bfgs"],
    "10_param_count": [lambda w, b: sum(p.numel() for p in TransformerNet(w, b).parameters())],
    "10_invariant": [("more contrast", "darker", "brighter"), {"brighter", "darker", "more contrast"}],
    "11_covariance": [lambda f: torch.cov(f[0].flatten(1), correction=0),
                      lambda f: torch.cov(f[0].flatten(1), correction=0)[None]],  # (1, C, C), as the features
    "11_strength_zero": [" Redrawn"],
    "02_extractor": [lambda f: extractor_with(clone=True)(f), lambda f: extractor_with(copy=True)(f)],
    "07_total_variation": [losses.total_variation,
                           lambda x: (x.diff(dim=2).pow(2).sum() + x.diff(dim=3).pow(2).sum()) / x.numel()],
}


def _flat(f):
    return f.reshape(f.shape[0], f.shape[1], -1)


# lesson 05's gram_matrix: each typical mistake → (answer, the words its own hint must contain)
GRAM_MISTAKES = {
    "transpose": (lambda f: _flat(f).transpose(1, 2) @ _flat(f), "positions × positions"),  # (B, HW, HW)
    "hw": (lambda f: _flat(f) @ _flat(f).transpose(1, 2) / (f.shape[2] * f.shape[3]), "off by H·W"),
    "chw": (lambda f: _flat(f) @ _flat(f).transpose(1, 2) / f[0].numel(), "off by C·H·W"),
    # the Udacity notes' view(d, h * w): one image only
    "batch view": (lambda f: f.view(f.shape[1], -1) @ f.view(f.shape[1], -1).t(), "batch dimension"),
    "batch first": (lambda f: f[0].reshape(f.shape[1], -1) @ f[0].reshape(f.shape[1], -1).t(), "batch dimension"),
    "batch mixed": (lambda f: f.reshape(-1, f.shape[2] * f.shape[3]) @ f.reshape(-1, f.shape[2] * f.shape[3]).t(),
                    "batch dimension"),
    "elementwise": (lambda f: _flat(f) * _flat(f).transpose(1, 2), "entry by entry"),  # raises: shapes differ
    "elementwise sum": (lambda f: (_flat(f) * _flat(f)).sum(-1), "entry by entry"),   # only the diagonal
    "view": (lambda f: f.view(f.shape[0], f.shape[1], -1) @ f.view(f.shape[0], f.shape[1], -1).transpose(1, 2),
             "non-contiguous"),
    # right values, no gradient: the style loss could not reach the image through them
    "numpy": (lambda f: torch.from_numpy(_flat(f).detach().numpy() @ _flat(f).detach().numpy().transpose(0, 2, 1)),
              "carry no gradient"),
    "detach": (lambda f: (_flat(f) @ _flat(f).transpose(1, 2)).detach(), "carry no gradient"),
}


def _style_loss(features, targets, weights, *, divide=lambda n, m: 4 * n**2 * m**2, weighted=True, average=False,
                last_only=False, itself=False, item=False, detach=False):
    """The paper's style loss with one typical mistake switched on."""
    total = 0
    for layer, w in weights.items():
        f = features[layer].detach() if detach else features[layer]
        _, n, h, w_ = f.shape
        gram = _flat(f) @ _flat(f).transpose(1, 2)
        target = gram if itself else targets[layer]
        term = (w if weighted else 1) * ((gram - target) ** 2).sum() / divide(n, h * w_)
        total = term if last_only else total + term
    total = total / len(weights) if average else total
    return total.item() if item else total


STYLE_LOSS_MISTAKES = {
    "raw": (lambda f, t, w: _style_loss(f, t, w, divide=lambda n, m: 1), "divide each layer"),
    "no four": (lambda f, t, w: _style_loss(f, t, w, divide=lambda n, m: n**2 * m**2), "mind the 4"),
    "udacity": (lambda f, t, w: _style_loss(f, t, w, divide=lambda n, m: n**3 * m), "Udacity notes' E_l"),
    "udacity mean": (lambda f, t, w: sum(w[l] * torch.mean((_flat(f[l]) @ _flat(f[l]).transpose(1, 2) - t[l]) ** 2)
                                         / f[l][0].numel() for l in w), "Udacity notes' E_l"),  # the notes' code
    "swapped": (lambda f, t, w: _style_loss(f, t, w, divide=lambda n, m: m**3 * n), "N and M swapped"),
    "no weights": (lambda f, t, w: _style_loss(f, t, w, weighted=False), "by its weight"),
    "average": (lambda f, t, w: _style_loss(f, t, w, average=True), "averaged over the layers"),
    "last only": (lambda f, t, w: _style_loss(f, t, w, last_only=True), "only one layer counts"),
    "itself": (lambda f, t, w: _style_loss(f, t, w, itself=True), "compare the image's Gram"),
    "item": (lambda f, t, w: _style_loss(f, t, w, item=True), "not a Python number"),
    "detached features": (lambda f, t, w: _style_loss(f, t, w, detach=True), "is a tensor but carries no gradient"),
}


def lesson06_style_loss(features, targets, weights):
    """Lesson 06's solution: the paper's E_l with raw Gram targets (lesson 07 passes Grams ÷ C·H·W)."""
    return load_solution("06_style_loss").style_loss(features, targets, weights)


def total_loss_with(swap=False, tv="weighted", own_grams=False, equal=False, cut=None, raw06=False,
                    content="mean"):
    """Lesson 07's total loss with one typical mistake (the keyword that is not its default)."""
    def total_loss(image, f_image, f_content, style_grams, alpha, beta, gamma):
        if swap:
            alpha, beta = beta, alpha
        grams = {l: losses.gram_matrix(f_image[l]) for l in style_grams} if own_grams else style_grams
        weights = {l: 1 / len(grams) for l in grams} if equal else models.STYLE_WEIGHTS
        c = losses.content_loss(f_image["conv4_2"], f_content["conv4_2"], reduction=content)
        s = lesson06_style_loss(f_image, grams, weights) if raw06 else losses.style_loss(f_image, grams, weights)
        t = {"weighted": gamma * losses.total_variation(image), "unweighted": losses.total_variation(image),
             "missing": 0, "sum": gamma * losses.total_variation(image, reduction="sum")}[tv]
        total = alpha * c + beta * s + t
        if cut == "tensor":  # a number made a tensor again: the value is right, the graph is gone
            return torch.tensor(total.item())
        return total.detach() if cut == "detach" else total
    return total_loss


TOTAL_LOSS_MISTAKES = {  # mistake → (the answer, words of its own hint)
    "α and β swapped": (total_loss_with(swap=True), "α and β are swapped"),
    "TV not weighted": (total_loss_with(tv="unweighted"), "unweighted: multiply it by γ"),
    "TV missing": (total_loss_with(tv="missing"), "the third term is missing"),
    "TV summed": (total_loss_with(tv="sum"), "the mean over all values"),
    "style Grams from the image": (total_loss_with(own_grams=True), "your style term is zero"),
    "equal layer weights": (total_loss_with(equal=True), "models.STYLE_WEIGHTS"),
    "no gradient, torch.tensor": (total_loss_with(cut="tensor"), "carries no gradient"),
    "no gradient, detach": (total_loss_with(cut="detach"), "carries no gradient"),
    "lesson 06's style_loss on ÷ C·H·W Grams": (total_loss_with(raw06=True), "lesson 06's style_loss wants raw"),
    "content summed": (total_loss_with(content="sum"), "your content term alone"),
}


def transfer_with(zero_grad=True, returns=True, detach=True, grams_from_image=False, clamp=True, max_iter=1,
                  swap=False, tv_unweighted=False, clone=True, clamp_no_grad=True, cut=None, rebind=False,
                  requires_grad=True):
    """Lesson 07's transfer loop with one typical mistake (the keyword that is not its default)."""
    total_loss = total_loss_with(cut=cut)

    def transfer(content, style, model, num_steps, alpha=1.0, beta=1e-4, gamma=0.0):
        if swap:
            alpha, beta = beta, alpha
        gamma = 1.0 if tv_unweighted else gamma
        layers = ["conv4_2", *models.STYLE_WEIGHTS]
        image = content.clone().requires_grad_(requires_grad) if clone else content.requires_grad_(True)
        with torch.no_grad():
            f_content = model(content, ["conv4_2"])
            grams = {l: losses.gram_matrix(f) for l, f in model(style, list(models.STYLE_WEIGHTS)).items()}
        if not detach:  # a target taken from the image being optimised, graph and all
            f_content = model(image, ["conv4_2"])
        optimizer = torch.optim.LBFGS([image], max_iter=max_iter, history_size=50)

        def closure():
            if zero_grad:
                optimizer.zero_grad()
            f = model(image, layers)
            g = {l: losses.gram_matrix(f[l]) for l in grams} if grams_from_image else grams
            loss = total_loss(image, f, f_content, g, alpha, beta, gamma)
            loss.backward()
            return loss if returns else None

        for _ in range(num_steps):
            optimizer.step(closure)
            if rebind:  # a new tensor: the optimiser keeps the old one, the closure sees one without grad
                with torch.no_grad():
                    image = image.clamp(0, 1)
            elif clamp and clamp_no_grad:
                with torch.no_grad():
                    image.clamp_(0, 1)
            elif clamp:
                image.clamp_(0, 1)
        return image.detach()
    return transfer


TRANSFER_MISTAKES = {  # mistake → (the answer, words of its own hint)
    "no zero_grad in the closure": (transfer_with(zero_grad=False), "optimizer.zero_grad()"),
    "closure returns nothing": (transfer_with(returns=False), "the closure must return the loss"),
    "target not detached": (transfer_with(detach=False), "without gradients"),
    "style Grams from the image": (transfer_with(grams_from_image=True), "the style term does nothing"),
    "no clamp": (transfer_with(clamp=False), "clamp the image after every step"),
    "clamp with gradients on": (transfer_with(clamp_no_grad=False), "inside `with torch.no_grad():`"),
    "max_iter left at 20": (transfer_with(max_iter=20), "max_iter=1"),
    "α and β swapped": (transfer_with(swap=True), "α and β are swapped"),
    "TV not weighted": (transfer_with(tv_unweighted=True), "unweighted: multiply it by γ"),
    "content optimised in place": (transfer_with(clone=False), "a copy of the content image"),
    "the image does not require grad": (transfer_with(requires_grad=False), "must require gradients"),
    "a total loss with no gradient": (transfer_with(cut="tensor"), "your loss does not carry them"),
    "clamped out of place": (transfer_with(rebind=True), "clamp in place, image.clamp_(0, 1)"),
}

COLOUR_MISTAKES = {  # mistake → (the answer, words of its own hint)
    "luminance keeps the style's colours": ({"luminance only": ("style", "transfer"),
                                             "histogram": ("content", "content")}, "U and V, the two colour channels"),
    "luminance keeps the content's brightness": ({"luminance only": ("content", "content"),
                                                  "histogram": ("content", "content")}, "Y, the brightness channel"),
    "histogram keeps the transfer's brightness": ({"luminance only": ("content", "transfer"),
                                                   "histogram": ("content", "transfer")}, "brightness included"),
    "histogram keeps the transfer's colours": ({"luminance only": ("content", "transfer"),
                                                "histogram": ("transfer", "content")}, "whose mean colour"),
    "not a dict": ("content", "answer with a dict"),
    "an unknown picture": ({"luminance only": ("content", "cat"), "histogram": ("content", "content")}, "give two of"),
}

# typical mistakes: every one must be rejected
def _centred(f):
    flat = f[0].flatten(1)
    return flat - flat.mean(1, keepdim=True)


# lesson 11: each typical mistake → (answer, the words its own hint must contain)
COVARIANCE_MISTAKES = {
    "raw Gram": (lambda f: f[0].flatten(1) @ f[0].flatten(1).T, "that is the Gram matrix: divide"),
    "uncentred": (lambda f: f[0].flatten(1) @ f[0].flatten(1).T / f[0, 0].numel(), "uncentred covariance"),
    "M − 1": (lambda f: torch.cov(f[0].flatten(1)), "off by M/(M − 1)"),
    "not divided": (lambda f: _centred(f) @ _centred(f).T, "off by the number of positions"),
    "positions": (lambda f: _centred(f).T @ _centred(f) / f[0, 0].numel(), "one entry per pair of positions"),
}


def _power(cov, power):
    d, e = torch.linalg.eigh(cov)
    return e @ torch.diag(d**power) @ e.T


def wct_with(style_mean=True, centre=True, whiten=-0.5, colour=0.5):
    def transform(content, style):
        mc, ms = content.mean(1, keepdim=True), style.mean(1, keepdim=True)
        cov_c, cov_s = torch.cov(content, correction=0), torch.cov(style, correction=0)
        white = (_power(cov_c, whiten) if whiten else torch.eye(len(content), dtype=content.dtype)) @ (
            content - mc if centre else content)
        return _power(cov_s, colour) @ white + (ms if style_mean else 0)
    return transform


def cholesky_wct(content, style):
    """Whitening and colouring by Cholesky factors: the style's mean and covariance, channels mixed."""
    mc, ms = content.mean(1, keepdim=True), style.mean(1, keepdim=True)
    lc = torch.linalg.cholesky(torch.cov(content, correction=0))
    ls = torch.linalg.cholesky(torch.cov(style, correction=0))
    return ls @ torch.linalg.solve_triangular(lc, content - mc, upper=False) + ms


def pca_zca_wct(content, style):
    """PCA whitening D^(-1/2) Eᵀ, ZCA colouring: the style's mean and covariance, channels rotated."""
    mc, ms = content.mean(1, keepdim=True), style.mean(1, keepdim=True)
    d, e = torch.linalg.eigh(torch.cov(content, correction=0))
    return _power(torch.cov(style, correction=0), 0.5) @ torch.diag(d**-0.5) @ e.T @ (content - mc) + ms


WCT_MISTAKES = {
    "Cholesky": (cholesky_wct, "the symmetric ones"),
    "PCA whitening": (pca_zca_wct, "the symmetric ones"),
    "wrong mean": (lambda c, s: wct_with()(c, s) + 1.0, "the mean is not"),
    "half whitened": (wct_with(whiten=-0.25), "check your whitened features alone"),
    "no style mean": (wct_with(style_mean=False), "add the style's mean"),
    "not centred": (wct_with(centre=False), "centre the content's features"),
    "not whitened": (wct_with(whiten=0), "whiten first"),
    "variances": (wct_with(whiten=-1.0), "not the variances D_c^(-1)"),
    "colour by variances": (wct_with(colour=1.0), "not its variances D_s"),
}


def extractor_with(*, inplace=False, clone=False, copy=False, stop=1, shift=0, names=None, no_grad=False,
                   freeze=True, eval_mode=True, by_name=False, returns="dict"):
    """Lesson 02's feature extractor with one typical mistake switched on (``stop=0``: the slice ends before the
    deepest layer; ``stop=None``: every layer runs; ``shift``: each name's index off by that much; ``names``:
    another naming of the layers; ``clone``/``copy``: right answers that keep the ReLUs in place)."""
    import copy as copying

    def build(vgg_features):
        features = copying.deepcopy(vgg_features) if copy else vgg_features
        if eval_mode:
            features.eval()
        if freeze:
            features.requires_grad_(False)
        for layer in features:
            if isinstance(layer, torch.nn.ReLU) and not (inplace or clone):
                layer.inplace = False
        index = {n: i + shift for n, i in (names or models.LAYER_INDEX).items()}

        def extractor(image, layers):
            if by_name:  # torchvision's layers are numbered: _modules["conv1_1"] raises KeyError
                return {n: features._modules[n](image) for n in layers}
            deepest = max(index[n] for n in layers)
            out, x = {}, image
            with torch.no_grad() if no_grad else contextlib.nullcontext():
                for i, layer in enumerate(features if stop is None else features[: deepest + stop]):
                    x = layer(x)
                    for n in layers:
                        if index[n] == i:
                            out[n] = x.clone() if clone else x
            return list(out.values()) if returns == "list" else out

        return extractor if returns != "nothing" else None
    return build


def _five_per_block(name):
    """A misread layer table: every block as conv, relu, conv, relu, pool (true of VGG19's first two only)."""
    if name.startswith("pool"):
        return 5 * int(name[4]) - 1
    return 5 * (int(name[4]) - 1) + 2 * (int(name[6]) - 1) + name.startswith("relu")


EXTRACTOR_MISTAKES = {  # mistake → (the answer, words of its own hint)
    "in-place ReLU kept": (extractor_with(inplace=True), "ran in place"),
    "slice stops one early": (extractor_with(stop=0), "stops one layer early"),
    "index one too far": (extractor_with(shift=1), "one layer off"),
    "index one too short": (extractor_with(shift=-1), "one layer off"),
    "every layer runs": (extractor_with(stop=None), "runs past the deepest layer"),
    "five layers per block": (extractor_with(names={n: _five_per_block(n) for n in models.LAYER_NAMES}),
                              "another layer's features"),
    "features under no_grad": (extractor_with(no_grad=True), "carry no gradient"),
    "weights not frozen": (extractor_with(freeze=False), "still require grad"),
    "not in eval mode": (extractor_with(eval_mode=False), "training mode"),
    "layers looked up by name": (extractor_with(by_name=True), "numbered 0–36"),
    "a list, not a dict": (extractor_with(returns="list"), "returns a dict"),
    "nothing returned": (extractor_with(returns="nothing"), "return the extractor itself"),
}

TV_MISTAKES = {  # mistake → (the answer, words of its own hint)
    "absolute differences": (lambda x: (x.diff(dim=2).abs().sum() + x.diff(dim=3).abs().sum()) / x.numel(),
                             "absolute differences"),
    "sum": (lambda x: losses.total_variation(x, reduction="sum"), "that is the sum"),
    "each direction's mean": (lambda x: x.diff(dim=2).pow(2).mean() + x.diff(dim=3).pow(2).mean(),
                              "each direction over its own"),
    "per pixel": (lambda x: losses.total_variation(x, reduction="sum") / (x.shape[0] * x.shape[2] * x.shape[3]),
                  "the number of pixels"),
    "one direction": (lambda x: x.diff(dim=3).pow(2).sum() / x.numel(), "only one direction"),
    "one direction twice": (lambda x: 2 * (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum() / x.numel(),
                            "counted twice"),
    "channels": (lambda x: (x.diff(dim=1).pow(2).sum() + x.diff(dim=3).pow(2).sum()) / x.numel(),
                 "across the colour channels"),
    "torch.roll": (lambda x: sum(((x - x.roll(1, d)) ** 2).sum() for d in (2, 3)) / x.numel(), "wraps around"),
    "a float": (lambda x: losses.total_variation(x).item(), "one-number tensor"),
    "no gradient": (lambda x: torch.tensor(losses.total_variation(x).item()), "carries no gradient"),
}


WRONG = {
    "01_gradient": [lambda x: 2 * x],  # forgot the chain rule's Σx
    "02_loss_factor": [512 * 32 * 32, 512 * 28 * 28 / 2, 512 * 64 * 64 / 2, 32 * 32 / 2, 1 / 262144, "many", None],
    "02_layout_layers": [["block5"], ["block4", "block5"], ["conv1_1", "block4"], "conv2_1", ["block9"], 4, []],
    "02_extractor": [answer for answer, _ in EXTRACTOR_MISTAKES.values()],
    "02_reconstruct": [lambda model, target, layer, start, num_steps, lr: start.clone(),  # not (image, losses)
                       lambda model, target, layer, start, num_steps, lr: (start.clone(), [0.0] * num_steps)],
    "03_random_layer": ["block5"],
    "04_cat_balances": [[0], [0, 0.25, 0.5, 0.75, 1], [1], ["cat"], 2],
    "04_floor": [lambda p1, p2, w1, w2: w1 * (1 - w1) * ((p1 - p2) ** 2).mean(),  # assumes w1 + w2 = 1
                 lambda p1, p2, w1, w2: torch.tensor(0.0)],
    "05_gram": [mistake for mistake, _ in GRAM_MISTAKES.values()],
    "05_tiles_layer": ["conv1_1", "conv3_1", ["conv4_1", "conv5_1"], "block5", 5],
    "06_convention_factor": [1 / 64, 16, 4 * 56 * 56 / 256, 1024, 4 * 64 * 64 / 512],
    "06_style_loss": [mistake for mistake, _ in STYLE_LOSS_MISTAKES.values()],
    "06_largest_texture": ["conv1_1", "conv2_1", "conv3_1", "conv1_1…conv5_1", ["conv1_1", "conv5_1"], 5],
    "07_total_loss": [answer for answer, _ in TOTAL_LOSS_MISTAKES.values()],
    "07_transfer": [answer for answer, _ in TRANSFER_MISTAKES.values()],
    "07_total_variation": [answer for answer, _ in TV_MISTAKES.values()],
    "07_half_sum_beta": [lambda b, s: b * 512 * (s // 8) ** 2,  # forgot the ½
                         lambda b, s: b / (512 * (s // 8) ** 2 / 2),  # upside down
                         lambda b, s: b * 131072,  # right at 256 px only
                         lambda b, s: b * 512 * s**2 / 2],  # no poolings
    "09_lbfgs_evaluations": [lambda s, m: s * (m + 1), lambda s, m: s * (m * 5 // 4), lambda s, m: s,
                             lambda s, m: m, lambda s, m: s * m * 100, lambda s, m: "twenty"],
    "09_race_winner": ["SGD", "adam", "Newton", 3, ["L-BFGS"]],
    "08_colours": [answer for answer, _ in COLOUR_MISTAKES.values()],
    "08_pooling_loss": ["larger", "about the same", "bigger"],
    "08_least_change": ["lessons", "paper", "balanced", "adam"],
    "10_param_count": [lambda w, b: 243 * w + 36 * w * w * (2 * b) + 999,  # anything else
                       lambda w, b: 1 / 0],  # a bug becomes a hint
    "10_invariant": [["brighter"], ["brighter", "darker", "more contrast", "negative"], ["mirrored"],
                     "sharper", ["brighter", "darker", "more contrast", "rotated"], []],
    "11_covariance": [answer for answer, _ in COVARIANCE_MISTAKES.values()],
    "11_wct": [answer for answer, _ in WCT_MISTAKES.values()],
    "11_strength_zero": ["photo", "style", "grey", "blurred"],
}


def reconstruct_with(*, detach=True, inside=False, zero_grad=True, clamp=True, reduction="mean",
                     requires_grad=True, optimise_target=False, copy=True, layer=None, pixels=False):
    """Lesson 02's reconstruction loop with one typical mistake switched on."""

    def reconstruct(model, target, given_layer, start, num_steps=5, lr=0.05):
        def features(x):
            return x if pixels else model(x, [layer or given_layer])[layer or given_layer]

        def target_features():
            if detach:
                with torch.no_grad():
                    return features(target)
            return features(target)

        P = None if inside else target_features()
        image = start.clone() if copy else start
        if requires_grad:
            image.requires_grad_(True)
        if optimise_target:
            target.requires_grad_(True)
        optimizer = torch.optim.Adam([target if optimise_target else image], lr=lr)
        history = []
        for _ in range(num_steps):
            if zero_grad is True:
                optimizer.zero_grad()
            loss = losses.content_loss(features(image), target_features() if inside else P, reduction=reduction)
            loss.backward()
            if zero_grad == "late":  # between backward() and step(): the step sees no gradient
                optimizer.zero_grad()
            optimizer.step()
            if clamp == "with grad":
                image.clamp_(0, 1)
            elif clamp:
                with torch.no_grad():
                    image.clamp_(0, 1)
            history.append(loss.item())
        return image.detach(), history

    return reconstruct


def load_solution(lesson: str):
    path = SOLUTIONS / f"{lesson}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{lesson}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_exercise_has_a_solution_and_wrong_answers():
    assert set(ANSWERS) == set(exercises.CHECKS) == set(WRONG)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_solution_is_accepted(name, capsys):
    lesson, attr = ANSWERS[name]
    answer = getattr(load_solution(lesson), attr)
    assert exercises.check(name, answer) is True
    assert capsys.readouterr().out.startswith("✓ correct")


@pytest.mark.parametrize("name, answer", [(n, a) for n, answers in ALSO_RIGHT.items() for a in answers])
def test_other_right_answers_are_accepted(name, answer):
    assert exercises.check(name, answer, quiet=True) is True


@pytest.mark.parametrize("name, answer", [(n, a) for n, answers in sorted(WRONG.items()) for a in answers])
def test_wrong_answer_is_rejected_without_revealing_the_solution(name, answer, capsys):
    assert exercises.check(name, answer) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ not yet") and out.count("\n") == 1
    lesson, attr = ANSWERS[name]
    solution = getattr(load_solution(lesson), attr)
    if not callable(solution):  # the hint never names the right answer
        assert str(solution) not in out and repr(solution) not in out


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_missing_answer_is_a_hint_not_a_traceback(name, capsys):
    def stub(*args):
        raise NotImplementedError

    lesson, attr = ANSWERS[name]
    callable_answer = callable(getattr(load_solution(lesson), attr))
    assert exercises.check(name, stub if callable_answer else None) is False
    assert "fill in the exercise" in capsys.readouterr().out


def test_a_crashing_answer_is_reported_in_one_line(capsys):
    assert exercises.check("05_gram", lambda f: torch.mm(f, f)) is False  # 4-D into mm raises
    out = capsys.readouterr().out
    assert out.startswith("✗ not yet: your code raised") and out.count("\n") == 1


@pytest.mark.parametrize("forgot, hint", [
    ("biases", "every convolution also has a bias"),
    ("norms", "scale and a shift per channel"),
    ("skip", "the skip path has an instance norm too"),
    ("9x9", "the first and the last convolutions are 9×9"),
])
def test_param_count_mistakes_get_their_own_hint(forgot, hint, capsys):
    def count(w, b):
        convs = [(3, w // 2, 9), (w // 2, 2 * w, 3), (2 * w, 4 * w, 3), *[(4 * w, 4 * w, 3)] * (2 * b),
                 (4 * w, 2 * w, 3), (2 * w, w // 2, 3), (w // 2, 3, 9)]
        if forgot == "9x9":
            convs = [(cin, cout, 3) for cin, cout, _ in convs]
        total = sum(cin * cout * k * k for cin, cout, k in convs)
        total += 0 if forgot == "biases" else sum(cout for _, cout, _ in convs)
        total += 0 if forgot == "skip" else 2 * 3
        return total + (0 if forgot == "norms" else 2 * sum(cout for _, cout, _ in convs[:-1]))

    assert exercises.check("10_param_count", count) is False
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("name, mistakes", [
    ("02_extractor", EXTRACTOR_MISTAKES), ("05_gram", GRAM_MISTAKES), ("06_style_loss", STYLE_LOSS_MISTAKES),
    ("07_total_loss", TOTAL_LOSS_MISTAKES), ("07_total_variation", TV_MISTAKES), ("07_transfer", TRANSFER_MISTAKES),
    ("08_colours", COLOUR_MISTAKES), ("11_covariance", COVARIANCE_MISTAKES), ("11_wct", WCT_MISTAKES)])
def test_each_fill_in_mistake_gets_its_own_hint(name, mistakes, capsys):
    hints = {}
    for mistake, (answer, words) in mistakes.items():
        assert exercises.check(name, answer) is False
        out = capsys.readouterr().out
        assert words in out, f"{mistake}: {out}"
        hints.setdefault(words, set()).add(out)
    assert all(len(outs) == 1 for outs in hints.values())  # the same kind of mistake, the same hint
    assert len(set.union(*hints.values())) == len(hints)  # and each kind of mistake a hint of its own


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, m: s * (m + 1), "one evaluation too many per step"),
    (lambda s, m: s * (m * 5 // 4), "max_eval"),
    (lambda s, m: s, "one per step is stlib's L-BFGS"),
    (lambda s, m: m, "that is one .step()"),
])
def test_lbfgs_evaluations_mistakes_get_their_own_hint(wrong, hint, capsys):
    assert exercises.check("09_lbfgs_evaluations", wrong) is False
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("steps, max_iter", [(1, 20), (3, 20), (7, 5), (50, 1)])
def test_lbfgs_evaluations_solution_counts_what_torch_does(steps, max_iter):
    # Rosenbrock's valley from (-1.5, 2): no tolerance stops L-BFGS early within these iterations
    x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    lbfgs = torch.optim.LBFGS([x], max_iter=max_iter)
    calls = 0

    def closure():
        nonlocal calls
        calls += 1
        lbfgs.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss

    for _ in range(steps):
        lbfgs.step(closure)
    assert calls == load_solution("09_optimizers").lbfgs_evaluations(steps, max_iter)


@pytest.mark.parametrize("wrong, hint", [
    ("SGD", "zigzags across the steep ones"),
    ("Adam", "a step size chosen by hand"),
    ("Newton", "one of the race's three optimisers"),
])
def test_race_winner_mistakes_get_their_own_hint(wrong, hint, capsys):
    assert exercises.check("09_race_winner", wrong) is False
    assert hint in capsys.readouterr().out


def test_race_winner_stub_asks_to_fill_in(capsys):
    assert exercises.check("09_race_winner", "") is False
    assert "fill in the exercise" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, hint", [
    (dict(detach=False), "compute them once, under torch.no_grad()"),  # a second backward through the target
    (dict(detach=False, inside=True), "compute them once, under torch.no_grad()"),  # the target's graph every step
    (dict(zero_grad=False), "call optimizer.zero_grad() before every backward()"),
    (dict(clamp=False), "clamp the image"),
    (dict(reduction="sum"), "your loss is a sum"),
    (dict(reduction="half_sum"), "that is the paper's ½Σ"),
    (dict(requires_grad=False), "the image never changed"),
    (dict(optimise_target=True), "the target is a constant, not the variable"),
    (dict(copy=False), "optimise a copy of it"),
    (dict(pixels=True), "you compared pixels"),
    (dict(layer="relu1_1"), "another layer's features"),
    (dict(zero_grad="late"), "not between backward() and step()"),
    (dict(clamp="with grad"), "clamp the image inside `with torch.no_grad():`"),
])
def test_reconstruct_mistakes_get_their_own_hint(mistake, hint, capsys):
    assert exercises.check("02_reconstruct", reconstruct_with(**mistake)) is False
    out = capsys.readouterr().out
    assert hint in out and out.count("\n") == 1


@pytest.mark.parametrize("name, wrong", [("08_pooling_loss", ("larger", "about the same")),
                                         ("08_least_change", ("lessons", "paper"))])
def test_lesson_08_predictions_hint_without_the_answer(name, wrong, capsys):
    for answer in wrong:
        assert exercises.check(name, answer) is False
        out = capsys.readouterr().out
        assert "smaller" not in out and "udacity" not in out, out


@pytest.mark.parametrize("name, answer, library", [
    ("07_total_loss", total_loss_with(content="sum"), ("losses.content_loss", "losses.style_loss",
                                                       "losses.total_variation")),
    ("11_wct", lambda c, s: 2 * c, ("E_s D_s^(1/2) E_sᵀ", "E_c D_c^(-1/2) E_cᵀ")),  # no known mistake: the fallback
])
def test_fallback_hints_do_not_spell_out_the_solution(name, answer, library, capsys):
    assert exercises.check(name, answer) is False
    out = capsys.readouterr().out
    assert not any(words in out for words in library), out


def test_lesson_06_style_loss_is_right_with_raw_gram_targets_in_lesson_07(capsys):
    """The 07 hint for lesson 06's style_loss is about the targets' scale, not the loss: scaled back, it passes."""
    def total_loss(image, f_image, f_content, style_grams, alpha, beta, gamma):
        raw = {l: g * f_image[l][0].numel() for l, g in style_grams.items()}  # ÷ C·H·W undone
        style = lesson06_style_loss(f_image, raw, models.STYLE_WEIGHTS)
        return (alpha * losses.content_loss(f_image["conv4_2"], f_content["conv4_2"]) + beta * style
                + gamma * losses.total_variation(image))

    assert exercises.check("07_total_loss", total_loss) is True
