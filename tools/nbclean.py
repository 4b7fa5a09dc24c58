"""Keep committed notebooks small and diffable: strip every output except the checked ones.

Cells tagged ``nbval-check-output`` (nbval reads the tag) keep their (text) outputs and
execution count, so ``pytest --nbval-lax`` compares them; every other cell loses
its outputs and count (pictures are regenerated when a lesson runs).

    python tools/nbclean.py notebooks/*.ipynb          # rewrite in place
    python tools/nbclean.py --check notebooks/*.ipynb  # exit 1 if any file would change
"""

from __future__ import annotations

import argparse
import sys

import nbformat

TAG = "nbval-check-output"
TEXT_TYPES = {"text/plain"}


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("widgets", None)  # widget state is megabytes of PNG bytes
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if TAG in cell.metadata.get("tags", []):
            kept = []
            for out in cell.get("outputs", []):
                if out.output_type == "stream" and out.name == "stdout":
                    kept.append(out)
                elif out.output_type in {"execute_result", "display_data"}:
                    out.data = {k: v for k, v in out.data.items() if k in TEXT_TYPES}
                    out.pop("metadata", None)
                    if out.output_type == "display_data":
                        out.metadata = {}
                    if out.data:
                        kept.append(out)
            cell.outputs = kept
        else:
            cell.outputs = []
            cell.execution_count = None
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--check", action="store_true", help="only report notebooks that are not clean")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.paths:
        before = open(path, encoding="utf-8").read()
        nb = clean(nbformat.reads(before, as_version=4))
        after = nbformat.writes(nb) + "\n"
        if after != before:
            dirty.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(after)
    if args.check and dirty:
        print("not clean (run python tools/nbclean.py on them):", *dirty, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
