"""Every exercise check accepts the instructor's solution and rejects wrong answers.

The solutions live in notebooks/solutions/ (one file per lesson); here they are
loaded as modules and handed to the same `exercises.check` the lessons call.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from stlib import exercises

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"

# exercise → (solution file, name in it)
ANSWERS = {
    "01_gradient": ("01_inputs_as_variables", "gradient"),
    "02_content_loss": ("02_content_loss", "content_loss"),
    "02_layout_layer": ("02_content_loss", "layout_layer"),
    "03_random_layer": ("03_random_net", "random_layer"),
    "04_two_targets": ("04_two_targets", "two_targets"),
    "05_gram": ("05_gram_matrices", "gram"),
    "06_gram_distance": ("06_style_loss", "gram_distance"),
    "07_tv": ("07_style_transfer", "total_variation"),
}

WRONG = {
    "01_gradient": lambda x: 2 * x,  # forgot the chain rule's Σx
    "02_content_loss": lambda f, p: ((f - p) ** 2).sum(),  # sum, not mean
    "02_layout_layer": "conv1_1",
    "03_random_layer": "block5",
    "04_two_targets": lambda f, p1, p2, b: b * ((f - p1) ** 2).mean() + b * ((f - p2) ** 2).mean(),
    "05_gram": lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2),  # positions × positions
    "06_gram_distance": lambda g, a, n, m: ((g - a) ** 2).sum(),  # no normalisation
    "07_tv": lambda x: (x[..., :, 1:] - x[..., :, :-1]).abs().sum(),  # L1 and one direction only
}


def load_solution(lesson: str):
    path = SOLUTIONS / f"{lesson}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{lesson}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_exercise_has_a_solution_and_a_wrong_answer():
    assert set(ANSWERS) == set(exercises.CHECKS) == set(WRONG)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_solution_is_accepted(name, capsys):
    lesson, attr = ANSWERS[name]
    answer = getattr(load_solution(lesson), attr)
    assert exercises.check(name, answer) is True
    assert capsys.readouterr().out.startswith("✓ correct")


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answer_is_rejected_without_revealing_the_solution(name, capsys):
    assert exercises.check(name, WRONG[name]) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ not yet") and out.count("\n") == 1


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_missing_answer_is_a_hint_not_a_traceback(name, capsys):
    def stub(*args):
        raise NotImplementedError

    assert exercises.check(name, stub if callable(WRONG[name]) else None) is False
    assert "fill in the exercise" in capsys.readouterr().out


def test_a_crashing_answer_is_reported_in_one_line(capsys):
    assert exercises.check("05_gram", lambda f: torch.mm(f, f)) is False  # 4-D into mm raises
    out = capsys.readouterr().out
    assert out.startswith("✗ not yet: your code raised") and out.count("\n") == 1
