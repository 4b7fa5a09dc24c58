"""Every exercise check accepts the instructor's solution and rejects wrong answers.

The solutions live in notebooks/solutions/ (one file per lesson); here they are
loaded as modules and handed to the same `exercises.check` the lessons call.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from stlib import exercises, losses, models
from stlib.fastnet import TransformerNet

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"

# exercise → (solution file, name in it)
ANSWERS = {
    "01_gradient": ("01_inputs_as_variables", "gradient"),
    "02_loss_factor": ("02_content_loss", "loss_factor"),
    "02_layout_layers": ("02_content_loss", "layout_layers"),
    "03_random_layer": ("03_random_net", "random_layer"),
    "04_cat_balances": ("04_two_targets", "cat_balances"),
    "04_floor": ("04_two_targets", "floor"),
    "05_gram": ("05_gram_matrices", "gram"),
    "06_convention_factor": ("06_style_loss", "convention_factor"),
    "07_total_loss": ("07_style_transfer", "total_loss"),
    "07_transfer": ("07_style_transfer", "transfer"),
    "07_half_sum_beta": ("07_style_transfer", "half_sum_beta"),
    "08_colours": ("08_variants", "colours"),
    "08_pooling_loss": ("08_variants", "pooling_loss"),
    "08_least_change": ("08_variants", "least_change"),
    "10_param_count": ("10_real_time", "count"),
    "10_invariant": ("10_real_time", "invariant"),
}

# other right answers: every one must be accepted
ALSO_RIGHT = {
    "02_loss_factor": [512 * 32 * 32 // 2, torch.tensor(262144.0)],
    "02_layout_layers": ["block4", ("block4", "conv4_1")],
    "04_cat_balances": [(0.5, 0.75, 1), ["0.75", "1"], (1.0, 0.75)],
    "04_floor": [lambda p1, p2, w1, w2: ((p1 - p2) ** 2).mean() / (1 / w1 + 1 / w2)],
    "06_convention_factor": [64, torch.tensor(64.0)],
    "10_param_count": [lambda w, b: sum(p.numel() for p in TransformerNet(w, b).parameters())],
    "10_invariant": [("more contrast", "darker", "brighter"), {"brighter", "darker", "more contrast"}],
}


def total_loss_with(swap=False, tv="weighted", own_grams=False, equal=False):
    """Lesson 07's total loss with one typical mistake (the keyword that is not its default)."""
    def total_loss(image, f_image, f_content, style_grams, alpha, beta, gamma):
        if swap:
            alpha, beta = beta, alpha
        grams = {l: losses.gram_matrix(f_image[l]) for l in style_grams} if own_grams else style_grams
        weights = {l: 1 / len(grams) for l in grams} if equal else models.STYLE_WEIGHTS
        c = losses.content_loss(f_image["conv4_2"], f_content["conv4_2"])
        s = losses.style_loss(f_image, grams, weights)
        t = {"weighted": gamma * losses.total_variation(image), "unweighted": losses.total_variation(image),
             "missing": 0, "sum": gamma * losses.total_variation(image, reduction="sum")}[tv]
        return alpha * c + beta * s + t
    return total_loss


TOTAL_LOSS_MISTAKES = {  # mistake → (the answer, words of its own hint)
    "α and β swapped": (total_loss_with(swap=True), "α and β are swapped"),
    "TV not weighted": (total_loss_with(tv="unweighted"), "unweighted: multiply it by γ"),
    "TV missing": (total_loss_with(tv="missing"), "the third term is missing"),
    "TV summed": (total_loss_with(tv="sum"), "the mean over all values"),
    "style Grams from the image": (total_loss_with(own_grams=True), "your style term is zero"),
    "equal layer weights": (total_loss_with(equal=True), "models.STYLE_WEIGHTS"),
}


def transfer_with(zero_grad=True, returns=True, detach=True, grams_from_image=False, clamp=True, max_iter=1,
                  swap=False, tv_unweighted=False, clone=True, clamp_no_grad=True):
    """Lesson 07's transfer loop with one typical mistake (the keyword that is not its default)."""
    total_loss = total_loss_with()

    def transfer(content, style, model, num_steps, alpha=1.0, beta=1e-4, gamma=0.0):
        if swap:
            alpha, beta = beta, alpha
        gamma = 1.0 if tv_unweighted else gamma
        layers = ["conv4_2", *models.STYLE_WEIGHTS]
        image = content.clone().requires_grad_(True) if clone else content.requires_grad_(True)
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
            if clamp and clamp_no_grad:
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
WRONG = {
    "01_gradient": [lambda x: 2 * x],  # forgot the chain rule's Σx
    "02_loss_factor": [512 * 32 * 32, 512 * 28 * 28 / 2, 512 * 64 * 64 / 2, 32 * 32 / 2, 1 / 262144, "many", None],
    "02_layout_layers": [["block5"], ["block4", "block5"], ["conv1_1", "block4"], "conv2_1", ["block9"], 4, []],
    "03_random_layer": ["block5"],
    "04_cat_balances": [[0], [0, 0.25, 0.5, 0.75, 1], [1], ["cat"], 2],
    "04_floor": [lambda p1, p2, w1, w2: w1 * (1 - w1) * ((p1 - p2) ** 2).mean(),  # assumes w1 + w2 = 1
                 lambda p1, p2, w1, w2: torch.tensor(0.0)],
    "05_gram": [lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2)],  # positions × positions
    "06_convention_factor": [1 / 64, 16, 4 * 56 * 56 / 256, 1024, 4 * 64 * 64 / 512],
    "07_total_loss": [answer for answer, _ in TOTAL_LOSS_MISTAKES.values()],
    "07_transfer": [answer for answer, _ in TRANSFER_MISTAKES.values()],
    "07_half_sum_beta": [lambda b, s: b * 512 * (s // 8) ** 2,  # forgot the ½
                         lambda b, s: b / (512 * (s // 8) ** 2 / 2),  # upside down
                         lambda b, s: b * 131072,  # right at 256 px only
                         lambda b, s: b * 512 * s**2 / 2],  # no poolings
    "08_colours": [answer for answer, _ in COLOUR_MISTAKES.values()],
    "08_pooling_loss": ["larger", "about the same", "bigger"],
    "08_least_change": ["default", "paper", "balanced", "adam"],
    "10_param_count": [lambda w, b: 243 * w + 36 * w * w * (2 * b) + 999,  # anything else
                       lambda w, b: 1 / 0],  # a bug becomes a hint
    "10_invariant": [["brighter"], ["brighter", "darker", "more contrast", "negative"], ["mirrored"],
                     "sharper", ["brighter", "darker", "more contrast", "rotated"], []],
}


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


@pytest.mark.parametrize("name, mistakes", [("07_total_loss", TOTAL_LOSS_MISTAKES), ("07_transfer", TRANSFER_MISTAKES)])
def test_lesson_07_mistakes_get_their_own_hint(name, mistakes, capsys):
    hints = {}
    for mistake, (answer, words) in mistakes.items():
        assert exercises.check(name, answer) is False
        hints[mistake] = capsys.readouterr().out
        assert words in hints[mistake], (mistake, hints[mistake])
    assert len(set(hints.values())) == len(hints), "two mistakes share a hint"


def test_lesson_08_colour_mistakes_get_their_own_hint(capsys):
    hints = {}
    for mistake, (answer, words) in COLOUR_MISTAKES.items():
        assert exercises.check("08_colours", answer) is False
        hints[mistake] = capsys.readouterr().out
        assert words in hints[mistake], (mistake, hints[mistake])
    assert len(set(hints.values())) == len(hints), "two mistakes share a hint"


@pytest.mark.parametrize("name, wrong", [("08_pooling_loss", ("larger", "about the same")),
                                         ("08_least_change", ("default", "paper"))])
def test_lesson_08_predictions_hint_without_the_answer(name, wrong, capsys):
    for answer in wrong:
        assert exercises.check(name, answer) is False
        out = capsys.readouterr().out
        assert "smaller" not in out and "udacity" not in out, out
