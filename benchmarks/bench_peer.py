"""Peer benchmark: one style transfer through ``pastiche``'s CLI and through ``python -m stlib stylize``.

Same content (the sample ``chelsea``), style (``immunohistochemistry``, or ``--style PATH``) and size (the
longest side; the photo is scaled to it first: stlib's ``--max-size`` never enlarges), at 256 and 512 px by
default. Each tool runs as its own process, one after the other, with its own defaults except the size (and
pastiche's step count: 300, not its 1000); stlib also runs once per ``--balanced-steps`` with conv1_1 … conv4_1
weighted equally (the proposed default, see README). The table gives each run's wall time (process start to
exit) and the two shared figures of `stlib.quality`, both measured afterwards with one VGG19 on the saved files:

* style distance, relative to the content image's (1 = as unstyled as the photo, 0 = the style's Grams);
* content distance at conv4_2, relative to a noise image's (0 = the photo's features, 1 = noise's).

    python benchmarks/bench_peer.py                      # 256 and 512 px; 40+ min on 2 busy cores
    python benchmarks/bench_peer.py --sizes 128 --pastiche-steps 20 --stlib-args "--steps 20" --balanced-steps 20
    python benchmarks/bench_peer.py --skip-pastiche --stlib-args --balanced-steps 30 40 --json out.json

Pictures go to ``--out`` (default ``artifacts/bench/``, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from stlib import memory, quality, vgg19  # noqa: E402
from stlib.images import load_image, save_image, to_pil  # noqa: E402
from stlib.losses import gram_matrix  # noqa: E402
from stlib.presets import PRESETS  # noqa: E402
from stlib.quality import content_distance, style_distance  # noqa: E402

CONTENT = "chelsea"
STYLE = "immunohistochemistry"
BALANCE = PRESETS["balanced"].style_weight  # β·w_l per unit of relative Gram error (the preset it became)


def timed(command: list[str]) -> tuple[float, str]:
    """Wall seconds and standard output of ``command`` as a child process (all its output if it fails)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {shlex.join(command)}\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def pastiche_command(content: Path, style: Path, size: int, steps: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "pastiche", "--content", str(content), "--styles", str(style), "--size", str(size),
            "--num-steps", str(steps), "--seed", "0", "--no-verbose", "--output", str(out)]


def stlib_command(content: Path, style: Path, size: int, extra: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "stlib", "stylize", str(content), str(style), "--max-size", str(size),
            "--output", str(out), "--overwrite", "--json", *extra]


def balanced_style_layers(net, style: Path, content: Path, size: int, ratio: float = BALANCE) -> list[str]:
    """``--style-layers`` that give conv1_1 … conv4_1 one weight each in the units of `stlib.quality`'s
    style distance: ``w_l = 4·ratio / (β·‖A_l‖²)`` (``A_l``: the style's Gram, ÷ C·H·W, at the output's size;
    β = 1e-4, the lessons preset's), so ``β·w_l·E_l = ratio · ‖G_l − A_l‖² / ‖A_l‖²`` (E_l: the paper's).
    What a target-normalised style loss would compute inside stlib (see README: the proposal)."""
    height, width = memory.scaled(size, *to_pil(content).size[::-1])
    with torch.no_grad():
        feats = net(quality.fit_to(style, torch.empty(1, 3, height, width)), quality.CARD_LAYERS)
    norms = {layer: float((gram_matrix(f).double() ** 2).sum()) for layer, f in feats.items()}
    return ["--style-layers", *(f"{layer}:{4 * ratio / (1e-4 * n):.4g}" for layer, n in norms.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--style", default=STYLE, help="a sample name or an image file")
    parser.add_argument("--pastiche-steps", type=int, default=300)
    parser.add_argument("--stlib-args", nargs="*", default=[""], metavar="ARGS",
                        help="one stlib run per ARGS (options for stylize, e.g. '' for the defaults, '--steps 100')")
    parser.add_argument("--balanced-steps", type=int, nargs="*", default=[40], metavar="N",
                        help="one stlib run per N with conv1_1 … conv4_1 weighted equally (balanced_style_layers)")
    parser.add_argument("--skip-pastiche", action="store_true",
                        help="reuse pastiche's saved result and its recorded wall time (from an earlier run)")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    style_name = Path(args.style).stem
    # pastiche reads files only: the style at its own size, the photo at each size (below)
    style_file = args.out / f"{style_name}.png"
    to_pil(args.style).save(style_file)
    net = vgg19()
    rows = []
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    for size in args.sizes:
        content_file = args.out / f"{CONTENT}_{size}.png"
        photo = to_pil(CONTENT)
        save_image(load_image(photo, memory.scaled(size, photo.height, photo.width)), content_file, overwrite=True)
        runs = [("pastiche", args.pastiche_steps, args.out / f"pastiche_{style_name}_{size}.png", None)]
        for options in map(shlex.split, args.stlib_args):
            tag = "_".join(a.lstrip("-") for a in options) or "defaults"
            out = args.out / f"stlib_{style_name}_{size}_{tag}.png"
            runs.append((f"stlib {shlex.join(options)}".strip(), None, out, options))
        for steps in args.balanced_steps:
            options = ["--steps", str(steps), *balanced_style_layers(net, style_file, content_file, size)]
            runs.append((f"stlib balanced --steps {steps}", None,
                         args.out / f"stlib_{style_name}_{size}_balanced_{steps}.png", options))
        for tool, steps, out, options in runs:
            if options is not None:
                seconds, summary = timed(stlib_command(content_file, style_file, size, options, out))
                steps = json.loads(summary.strip().splitlines()[-1])["steps"]  # fewer if it stopped early
            elif args.skip_pastiche:
                seconds = json.loads(out.with_suffix(".json").read_text())["seconds"]
            else:
                seconds, _ = timed(pastiche_command(content_file, style_file, size, steps, out))
                out.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "steps": steps}))
            row = dict(size=size, tool=tool, steps=steps, seconds=round(seconds, 1),
                       style=round(style_distance(out, style_file, content=content_file, vgg=net), 4),
                       content=round(content_distance(out, content_file, vgg=net), 4), image=str(out))
            rows.append(row)
            print(f"{size:>5} px  {tool:<28} {steps:>4} steps  {seconds:7.1f} s  style {row['style']:.3f}  "
                  f"content {row['content']:.3f}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\n| size | tool | steps | wall s | style distance | content distance |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['tool']} | {r['steps']} | {r['seconds']} | {r['style']:.3f} | {r['content']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
