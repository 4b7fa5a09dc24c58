"""The examples in stlib's docstrings run (kornia's habit: an example that is never run rots)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

MODULES = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "stlib").glob("*.py")
                 if ">>>" in p.read_text(encoding="utf-8"))


def test_some_docstrings_have_examples():
    assert {"images", "losses", "transfer"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"stlib.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
