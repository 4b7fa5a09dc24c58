"""Every exercise check accepts the instructor's solution and rejects wrong answers.

The solutions live in notebooks/solutions/ (one file per lesson); here they are
loaded as modules and handed to the same `exercises.check` the lessons call.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from stlib import exercises, losses
from stlib.fastnet import TransformerNet

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"

# exercise → (solution file, name in it)
ANSWERS = {
    "01_gradient": ("01_inputs_as_variables", "gradient"),
    "02_loss_factor": ("02_content_loss", "loss_factor"),
    "02_layout_layers": ("02_content_loss", "layout_layers"),
    "02_reconstruct": ("02_content_loss", "reconstruct"),
    "03_random_layer": ("03_random_net", "random_layer"),
    "04_cat_balances": ("04_two_targets", "cat_balances"),
    "04_floor": ("04_two_targets", "floor"),
    "05_gram": ("05_gram_matrices", "gram"),
    "06_convention_factor": ("06_style_loss", "convention_factor"),
    "07_half_sum_beta": ("07_style_transfer", "half_sum_beta"),
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

# typical mistakes: every one must be rejected
WRONG = {
    "01_gradient": [lambda x: 2 * x],  # forgot the chain rule's Σx
    "02_loss_factor": [512 * 32 * 32, 512 * 28 * 28 / 2, 512 * 64 * 64 / 2, 32 * 32 / 2, 1 / 262144, "many", None],
    "02_layout_layers": [["block5"], ["block4", "block5"], ["conv1_1", "block4"], "conv2_1", ["block9"], 4, []],
    "02_reconstruct": [lambda model, target, layer, start, num_steps, lr: start.clone(),  # not (image, losses)
                       lambda model, target, layer, start, num_steps, lr: (start.clone(), [0.0] * num_steps)],
    "03_random_layer": ["block5"],
    "04_cat_balances": [[0], [0, 0.25, 0.5, 0.75, 1], [1], ["cat"], 2],
    "04_floor": [lambda p1, p2, w1, w2: w1 * (1 - w1) * ((p1 - p2) ** 2).mean(),  # assumes w1 + w2 = 1
                 lambda p1, p2, w1, w2: torch.tensor(0.0)],
    "05_gram": [lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2)],  # positions × positions
    "06_convention_factor": [1 / 64, 16, 4 * 56 * 56 / 256, 1024, 4 * 64 * 64 / 512],
    "07_half_sum_beta": [lambda b, s: b * 512 * (s // 8) ** 2,  # forgot the ½
                         lambda b, s: b / (512 * (s // 8) ** 2 / 2),  # upside down
                         lambda b, s: b * 131072,  # right at 256 px only
                         lambda b, s: b * 512 * s**2 / 2],  # no poolings
    "10_param_count": [lambda w, b: 243 * w + 36 * w * w * (2 * b) + 999,  # anything else
                       lambda w, b: 1 / 0],  # a bug becomes a hint
    "10_invariant": [["brighter"], ["brighter", "darker", "more contrast", "negative"], ["mirrored"],
                     "sharper", ["brighter", "darker", "more contrast", "rotated"], []],
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
            if zero_grad:
                optimizer.zero_grad()
            loss = losses.content_loss(features(image), target_features() if inside else P, reduction=reduction)
            loss.backward()
            optimizer.step()
            if clamp:
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
])
def test_reconstruct_mistakes_get_their_own_hint(mistake, hint, capsys):
    assert exercises.check("02_reconstruct", reconstruct_with(**mistake)) is False
    out = capsys.readouterr().out
    assert hint in out and out.count("\n") == 1


def test_reconstruct_check_is_cheap():
    import time

    solution = load_solution("02_content_loss").reconstruct
    start = time.perf_counter()
    exercises.check("02_reconstruct", solution, quiet=True)
    assert time.perf_counter() - start < 1.0  # it runs in the lesson: a tiny net, a 16 px image
