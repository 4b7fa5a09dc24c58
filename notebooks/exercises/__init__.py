"""Checks for the lessons' exercises: one line, right or not yet, never the solution.

In a lesson: ``exercises.check("05_gram", gram_matrix)`` prints ``✓ correct …`` or
``✗ not yet: <hint>`` and returns True/False. The checks are course material, not library:
they live beside the lessons (a kernel starts in ``notebooks/``, so ``import exercises``
finds this package), not in ``stlib``, one module per lesson with the lesson's name
(``exercises/07_style_transfer.py`` holds ``07_total_loss``, ``07_transfer``, …), and what
they share in ``common.py``. Solutions for instructors live in ``notebooks/solutions/``,
with the same names; the tests run every check against them and against wrong answers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

# exercise name → its check, gathered from the lessons' modules (their names start with digits: imported by name)
CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {}
for _path in sorted(Path(__file__).parent.glob("[0-9][0-9]_*.py")):
    CHECKS |= importlib.import_module(f"{__name__}.{_path.stem}").CHECKS


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
