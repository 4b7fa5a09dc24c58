"""Command line: ``python -m stlib stylize CONTENT STYLE -o OUT.png``.

Errors print one line (``error: …``) and exit with status 2; nothing is overwritten
unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import StlibError


def _parser() -> argparse.ArgumentParser:
    from .optim import OPTIMIZERS
    from .presets import PRESETS
    from .transfer import DEFAULT_TV_WEIGHT, INITS

    parser = argparse.ArgumentParser(prog="python -m stlib", description="Neural style transfer (Gatys et al. 2016).")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    st.add_argument("content", help="content image: a path or a sample name (e.g. chelsea)")
    st.add_argument("style", help="style image: a path or a sample name (e.g. hubble_deep_field)")
    st.add_argument("-o", "--output", required=True, type=Path, help="where to write the result (.png/.jpg)")
    st.add_argument("--size", type=int, default=256, help="square image side in pixels (default 256)")
    st.add_argument("--steps", type=int, default=300, help="optimisation steps = loss evaluations (default 300)")
    st.add_argument("--preset", choices=list(PRESETS), default="default",
                    help="layers, normalisations, alpha, beta and optimiser of one convention (stlib.presets)")
    st.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="default: the preset's (lbfgs)")
    st.add_argument("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    st.add_argument("--content-weight", type=float, default=None, help="alpha (default: the preset's, 1)")
    st.add_argument("--style-weight", type=float, default=None,
                    help="beta (default: the preset's; 1e-4 for the default preset)")
    st.add_argument("--tv-weight", type=float, default=DEFAULT_TV_WEIGHT, help="gamma, total variation")
    st.add_argument("--init", choices=INITS, default="content")
    st.add_argument("--weights", default="pretrained", help="'pretrained', 'random' or a path to vgg19-*.pth")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    st.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    sub.add_parser("samples", help="list the sample image names")
    pre = sub.add_parser("precompute", help="fill the snapshot cache for every lesson (full mode) before a class")
    pre.add_argument("--fast", action="store_true", help="fast mode's sizes instead (what CI uses)")
    pre.add_argument("lessons", nargs="*", metavar="LESSON",
                     help="only these lessons, by number or name prefix (e.g. 00 07); default: all")
    return parser


def stylize_command(args: argparse.Namespace) -> int:
    from .images import IMAGE_SUFFIXES, load_image, save_image
    from .models import vgg19
    from .optim import pick_device
    from .transfer import stylize

    out: Path = args.output
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise StlibError(f"output {out}: unknown image suffix; use .png or .jpg")
    if out.exists() and not args.overwrite:
        raise StlibError(f"output {out} already exists; choose another name or pass --overwrite")
    if args.size < 16:
        raise StlibError(f"--size {args.size} is too small: conv5_1 needs at least 16 px per side")
    device = pick_device(args.device)
    content = load_image(args.content, args.size)  # bad images fail here, before the model loads
    style = load_image(args.style, args.size)
    start = time.perf_counter()
    result = stylize(
        content, style, preset=args.preset, size=args.size, num_steps=args.steps, optimizer=args.optimizer, lr=args.lr,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        init=args.init, model=vgg19(args.weights, device=device), seed=args.seed, device=device,
        progress="stylize",
    )
    save_image(result.image, out, overwrite=True)
    state = "interrupted, saved partial result" if result.interrupted else "done"
    print(f"{state}: {result.steps} steps in {time.perf_counter() - start:.1f} s on {device.type} → {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "stylize":
            return stylize_command(args)
        if args.command == "samples":
            from .images import sample_names

            print("\n".join(sample_names()))
            return 0
        if args.command == "precompute":
            from .lessons import precompute

            return precompute(fast=args.fast, lessons=args.lessons)
    except StlibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
