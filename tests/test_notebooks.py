"""The lessons as files: all present, clean (small, diffable), and each checks something under nbval.

Executing them is nbval's job (`pytest --nbval-lax notebooks`); these tests guard what
nbval cannot see: a stripped notebook with no checked output would pass while checking nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LESSONS = [
    "00_introduction", "01_inputs_as_variables", "02_content_loss", "03_random_net",
    "04_two_targets", "05_gram_matrices", "06_style_loss", "07_style_transfer", "08_variants", "09_optimizers",
    "10_real_time", "11_universal",
]
MAX_KB = 200  # committed notebooks carry text only; pictures are made when a lesson runs


def test_every_lesson_is_present():
    found = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert [name for name in LESSONS if name not in found] == []


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_is_small_and_checks_some_output(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    assert path.stat().st_size < MAX_KB * 1024, f"{path.name} is {path.stat().st_size // 1024} KB"
    nb = nbformat.read(path, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked, f"{name} has no cell tagged 'nbval-check-output': nbval would check none of its output"
    assert all(c.execution_count is not None and c.outputs for c in checked), (
        f"{name}: a checked cell has no stored output; execute the notebook, then run tools/nbclean.py"
    )
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images == [], f"{name} stores pictures; run tools/nbclean.py"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_starts_from_stlib(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import stlib" in code or "from stlib" in code


def test_cleaner_reports_a_dirty_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "AAAA", "text/plain": "x"})]
    cell.execution_count = 1
    nb.cells.append(cell)
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, path)
    check = [sys.executable, str(ROOT / "tools" / "nbclean.py"), "--check", str(path)]
    assert subprocess.run(check, capture_output=True).returncode == 1
    subprocess.run([sys.executable, str(ROOT / "tools" / "nbclean.py"), str(path)], check=True)
    assert subprocess.run(check, capture_output=True).returncode == 0
    cleaned = nbformat.read(path, as_version=4).cells[0]
    assert cleaned.outputs == [] and cleaned.execution_count is None


def test_precompute_writes_each_shown_picture_by_lesson_and_cell(tmp_path):
    import base64

    from stlib.lessons import save_figures

    png = base64.b64encode(b"\x89PNG fake").decode()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("text"), nbformat.v4.new_code_cell("two figures"),
                nbformat.v4.new_code_cell("one figure"), nbformat.v4.new_code_cell("print only")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png}),
                           nbformat.v4.new_output("stream", name="stdout", text="hi"),
                           nbformat.v4.new_output("display_data", data={"image/png": png})]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "F"})]
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="no picture")]
    written = save_figures(nb, "07_style_transfer", tmp_path / "figs")
    assert [p.name for p in written] == ["07_style_transfer_01_1.png", "07_style_transfer_01_2.png",
                                         "07_style_transfer_02.png"]
    assert all(p.read_bytes() == b"\x89PNG fake" for p in written)


def test_one_executor_for_precompute_and_the_site(tmp_path, monkeypatch):
    """`stlib.lessons.execute` (precompute's and tools/build_site.py's): the kernel sees the mode, the cells
    are appended, the file is untouched and the environment restored."""
    import os

    from stlib.lessons import execute

    path = tmp_path / "99_probe.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os; print(os.environ['STLIB_FAST'], os.environ['STLIB_CACHE_ONLY'])")]
    nbformat.write(nb, path)
    before = path.read_bytes()
    monkeypatch.setenv("STLIB_FAST", "maybe")
    done = execute(path, fast=True, cache_only=True, timeout=120, cells=["print('appended')"])
    assert done.cells[0].outputs[0]["text"].split() == ["1", "1"] and "appended" in done.cells[1].outputs[0]["text"]
    assert path.read_bytes() == before and os.environ["STLIB_FAST"] == "maybe"


@pytest.mark.parametrize("name", LESSONS)
def test_rerunning_an_earlier_cell_finds_what_it_defined(name):
    """A lesson defines each function once, and never under the name of something it imported: a student who
    answers a fill-in and then re-runs an earlier cell must find the same names meaning the same things (02 once
    redefined `reconstruct` with another signature; 07 defined `transfer` over the module it had imported)."""
    import ast
    from collections import Counter

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    defined, imported, over_imports = Counter(), set(), []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.parse("\n".join(lines)).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined[node.name] += 1
                if node.name in imported:
                    over_imports.append(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    assert [n for n, count in defined.items() if count > 1] == [] and over_imports == []


# the lessons whose later cells run the student's functions ("your code paints")
PAINTING = ["02_content_loss", "06_style_loss", "07_style_transfer"]


def answered(name: str) -> dict[int, str]:
    """The lesson's stubs with the instructor's solution pasted in: {cell index: the solution's definitions of
    the names that cell stubs (a function that raises NotImplementedError, or `name = None`), after its imports}."""
    import ast

    solution = (NOTEBOOKS / "solutions" / f"{name}.py").read_text(encoding="utf-8")
    tree = ast.parse(solution)
    imports = [ast.get_source_segment(solution, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    answers = {(n.name if isinstance(n, ast.FunctionDef) else n.targets[0].id): ast.get_source_segment(solution, n)
               for n in tree.body if isinstance(n, ast.FunctionDef)
               or (isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name))}
    sources = {}
    for index, cell in enumerate(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells):
        if cell.cell_type != "code" or ("NotImplementedError" not in cell.source and "= None" not in cell.source):
            continue
        names = [n.name if isinstance(n, ast.FunctionDef) else getattr(n.targets[0], "id", None)
                 for n in ast.parse(cell.source).body if isinstance(n, (ast.FunctionDef, ast.Assign))]
        if names and all(n in answers for n in names):
            sources[index] = "\n".join([*imports, *(answers[n] for n in names)])
    return sources


@pytest.mark.parametrize("name", PAINTING)
def test_lesson_runs_with_the_solutions_pasted_in(name):
    """Fast mode, every stub answered by notebooks/solutions/: every check passes, and the cells where the
    student's code paints run it instead of saying it has not passed (with the stubs as shipped, nbval runs
    the lesson and those cells say so)."""
    from stlib.lessons import execute

    sources = answered(name)
    assert sources, f"{name}: no stub found to answer"
    done = execute(NOTEBOOKS / f"{name}.ipynb", fast=True, timeout=600, sources=sources)
    printed = {i: "".join(o.get("text", "") for o in c.get("outputs", [])) for i, c in enumerate(done.cells)
               if c.cell_type == "code"}
    verdicts = [line for text in printed.values() for line in text.splitlines() if line.startswith(("✓", "✗"))]
    assert verdicts and all(v.startswith("✓") for v in verdicts), verdicts
    assert not any("has not passed its check yet" in text for text in printed.values())
