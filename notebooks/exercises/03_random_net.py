"""The checks of lesson 03_random_net's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stlib.models import LAYER_INDEX, resolve_layer


def _check_random_layer(answer: str) -> tuple[bool, str]:
    try:
        layer = resolve_layer(str(answer))
    except ValueError:
        return False, f"{answer!r} is not a VGG19 layer name"
    if LAYER_INDEX[layer] > LAYER_INDEX["pool1"]:
        return False, ("by that depth random ReLUs and poolings have thrown information away, and nothing trained "
                       "decided what to keep; which layer sees the pixels themselves?")
    return True, "a random first layer is still an (almost) invertible local linear map"


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "03_random_layer": _check_random_layer,
}
