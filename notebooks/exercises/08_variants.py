"""The checks of lesson 08_variants's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


PRESET_OPTIONS = ("lessons", "paper", "udacity", "balanced")


def _check_least_change(answer: Any) -> tuple[bool, str]:
    """Lesson 08, predict before running: the preset whose result stays closest to the cat after the same
    (small) number of steps: `udacity`, whose Adam moves a pixel by about its learning rate per step."""
    if answer not in PRESET_OPTIONS:
        return False, f"{answer!r} is not one of the presets the question offers: copy one of their names"
    if answer in ("lessons", "paper", "balanced"):
        return False, ("β is in each preset's own units, so compare something else: the optimiser column, and how "
                       "far Adam with that learning rate can move a pixel in this many steps")
    return True, "Adam moves each pixel by about lr per step, so a few dozen steps barely change the cat"


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "08_colours": _check_colours,
    "08_least_change": _check_least_change,
    "08_pooling_loss": _check_pooling_loss,
}
