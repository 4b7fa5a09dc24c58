"""Start-up: what ``import stlib`` costs and does (issue 21: a command pays only for what it uses)."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_lean():
    """`import stlib` pulls in neither torchvision (only a VGG from it would need it) nor IPython, and installs
    no IPython hook: those come with the first run in a notebook (`stlib.optim.first_run_hooks`)."""
    code = ("import sys, stlib; from stlib import optim; "
            "print(sorted(m for m in ('torchvision', 'IPython', 'skimage', 'matplotlib') if m in sys.modules), "
            "len(optim.first_run_hooks))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "2"]
