"""Command line: ``python -m stlib stylize CONTENT STYLE -o OUT.png``; ``train-net STYLE -o NET.pt`` and
``stylize CONTENT --net NET.pt -o OUT.png`` for real-time style transfer (``--net starry_night``: a shipped
network); ``stylize CONTENT STYLE --method wct -o OUT.png`` for any style in one pass (shipped decoders).

Errors print one line (``error: …``) and exit with status 2; nothing is overwritten
unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from itertools import count, pairwise
from pathlib import Path

from .errors import StlibError


def _parser() -> argparse.ArgumentParser:
    from .optim import OPTIMIZERS
    from .presets import PRESETS
    from .transfer import INITS

    parser = argparse.ArgumentParser(prog="python -m stlib", description="Neural style transfer (Gatys et al. 2016).")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    add = st.add_argument
    add("content", help="content image: a path or a sample name (e.g. chelsea)")
    add("style", nargs="?", help="style image: a path or a sample name (e.g. hubble_deep_field)")
    add("-o", "--output", required=True, type=Path, help="where to write the result (.png/.jpg)")
    add("--style", dest="styles", nargs="+", metavar="STYLE", default=None,
        help="one or more style images (instead of the positional STYLE); several are blended")
    add("--style-blend", nargs="+", type=float, metavar="W", default=None,
        help="one weight per --style image (default: equal)")
    add("--style-scale", type=float, default=1.0, help="the whole style image is used, its longest side this times "
        "the output's (smaller: finer strokes; default 1)")
    add("--preserve-color", choices=("luminance", "histogram"), default=None, help="keep the content's colours")
    add("--max-size", type=int, default=256, help="the output's longest side is at most this many px (never "
        "enlarged), the content's aspect ratio kept, with every method (default 256)")
    add("--steps", type=int, default=None, help="exactly this many optimisation steps (= loss evaluations); "
        "default: until the picture has settled (10 steps lower the loss by under 2 %% and it is back at its "
        "lowest), at most 300")
    add("--multires", action="store_true", help="coarse to fine: optimise at fractions of --max-size (--scales), "
        "upsampling in between; --steps split in proportion to 1/scale (300 at 0.5 1: 200 at half size, then 100)")
    add("--scales", nargs="+", type=float, metavar="S", default=None,
        help="--multires's fractions of --max-size, ascending, the last 1 (default 0.5 1); implies it")
    add("--preset", choices=list(PRESETS), default="balanced", help="layers, normalisations, alpha, beta and "
        "optimiser of one convention (stlib.presets); default balanced: every style layer counts by its relative "
        "error")
    add("--optimizer", choices=OPTIMIZERS, default=None, help="default: the preset's (lbfgs; adam for udacity)")
    add("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    add("--content-weight", type=float, default=None, help="alpha (default: the preset's, 1)")
    add("--style-weight", type=float, default=None, help="beta (default: the preset's: " + ", ".join(
        f"{name} {p.style_weight:g}" for name, p in PRESETS.items()) + ")")
    add("--tv-weight", type=float, default=0.0, help="gamma, total variation (default 0)")
    add("--content-layers", nargs="+", metavar="LAYER", default=None,
        help="content layers (default: the preset's: conv4_2, relu4_2 for paper and udacity)")
    add("--style-layers", nargs="+", metavar="LAYER[:W]", default=None, help="style layers, each with an optional "
        "weight (default weight: the preset's for that layer, else the mean of the preset's)")
    add("--pooling", choices=("max", "avg"), default="max", help="VGG19's pooling (default max)")
    add("--init", default="content", metavar="{" + ",".join(INITS) + ",PATH}",
        help="start image: content (default), style, noise, or an image file")
    add("--weights", default="pretrained", help="'pretrained', 'random' or a path to vgg19-*.pth")
    add("--seed", type=int, default=0)
    add("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    add("--save-every", type=int, default=None, metavar="N", help="also write the image every N steps into "
        "--snapshots DIR")
    add("--snapshots", type=Path, default=None, metavar="DIR", help="folder for --save-every's images "
        "(step_00050.png, …)")
    add("--json", action="store_true", help="print a machine-readable summary (JSON) instead")
    add("--overwrite", action="store_true", help="replace OUT if it exists")
    add("--net", type=Path, default=None, metavar="NET.pt", help="paint in one forward pass with a network from "
        "`train-net` (no STYLE: it knows its style; only --max-size, --preserve-color, --device, --json and "
        "--overwrite apply)")
    add("--method", choices=("gatys", "wct", "adain"), default="gatys", help="gatys: optimise the image (default); "
        "wct or adain: any style in one pass through the shipped decoders (Li et al. 2017; only --strength, "
        "--decoders, --max-size, --style-scale, --preserve-color, --device, --json and --overwrite apply)")
    add("--strength", type=float, default=None,
        help="--method wct/adain: 0 keeps the content's features, 1 (default) takes the style's")
    add("--decoders", type=Path, default=None, metavar="DECODERS.pt", help="--method wct/adain: the decoders' file "
        "(default: the shipped ones, data/decoders/decoders.pt; `train-decoders` writes yours to "
        "decoders/decoders.pt)")
    st.set_defaults(options={a.dest: (a.default, a.option_strings[0]) for a in st._actions if a.option_strings})
    _train_parser(sub)
    ex = sub.add_parser("export-onnx", help="write a network from train-net as ONNX (onnxruntime, the browser)")
    ex.add_argument("net", type=Path, metavar="NET.pt", help="a network written by train-net")
    ex.add_argument("-o", "--output", required=True, type=Path, help="where to write it (.onnx)")
    ex.add_argument("--overwrite", action="store_true", help="replace NET.onnx if it exists")
    sub.add_parser("serve-site", help="serve build/site on 127.0.0.1 (the Live lab's camera and threads need it)"
                   ).add_argument("--port", type=int, default=8000, help="default 8000")
    sub.add_parser("samples", help="list the sample image names")
    td = sub.add_parser("train-decoders", help="train the decoders `stylize --method wct` paints with (once)",
                        description="Universal style transfer (Li et al. 2017): train one decoder per VGG19 level to "
                                    "turn features back into the photo (no style image); then any style in one pass.")
    td.add_argument("-o", "--output", type=Path, default=None,
                    help="where to write them (.pt; default: decoders/decoders.pt in the repository, a folder of "
                         "their own, never the run cache; `stylize --method wct --decoders FILE` paints with them)")
    td.add_argument("--steps", type=int, default=None, help="training steps (default: the shipped recipe's, "
                                                            "stlib.wct.SHIPPED)")
    td.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT.pt",
                    help="the training so far, every 100 steps and on Ctrl-C (default: OUTPUT.ckpt.pt); the same "
                         "command continues from it")
    td.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    td.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    pre = sub.add_parser("precompute", help="fill the snapshot cache for every lesson (full mode) before a class")
    pre.add_argument("--fast", action="store_true", help="fast mode's sizes instead (what CI uses)")
    pre.add_argument("lessons", nargs="*", metavar="LESSON",
                     help="only these lessons, by number or name prefix (e.g. 00 07); default: all")
    return parser


def _train_parser(sub) -> None:
    from .fastnet import NORMS, RECIPES

    tr = sub.add_parser("train-net", help="train a network that paints any photo in STYLE in one forward pass",
                        description="Real-time style transfer (Johnson et al. 2016): train a small network with "
                                    "stylize's losses on photos, once; then `stylize PHOTO --net NET.pt`. The "
                                    "training is saved every 100 steps (and on Ctrl-C) in a checkpoint beside "
                                    "NET.pt; the same command continues it.")
    tr.add_argument("style", help="style image: a path or a sample name (e.g. starry_night)")
    tr.add_argument("-o", "--output", required=True, type=Path, help="where to write the network (.pt)")
    tr.add_argument("--recipe", choices=sorted(RECIPES), default="lesson",
                    help="the settings the flags below start from: lesson (lesson 10's, the default) or shipped "
                         "(the networks in data/networks/, thousands of steps)")
    for flag, kind, text in (
            ("--steps", int, "training steps"), ("--crop", int, "side of the training crops in px"),
            ("--photo-side", int, "photos and the style are first scaled to this shorter side"),
            ("--batch", int, "crops per step"), ("--lr", float, "Adam's learning rate"),
            ("--content-weight", float, "alpha"), ("--style-weight", float, "beta"),
            ("--tv-weight", float, "gamma, total variation"), ("--preset", str, "the losses' preset (stlib.presets)"),
            ("--content-layer", str, "the content layer, e.g. relu3_1; \"\": the preset's"),
            ("--style-scale", float, "the style's shorter side is photo-side × this (larger: larger strokes)"),
            ("--zoom", float, "crops cut at sides from crop to zoom × crop, scaled to crop"),
            ("--jitter", float, "hue and saturation jitter of the crops, 0 to 0.5"),
            ("--width", int, "channels of the first layer"), ("--blocks", int, "residual blocks"),
            ("--kernel", int, "side of the first and last convolutions"), ("--seed", int, "random seed")):
        tr.add_argument(flag, type=kind, default=None, help=f"{text} (default: the recipe's)")
    tr.add_argument("--separable", action=argparse.BooleanOptionalAction, default=None,
                    help="depthwise-separable residual blocks (default: the recipe's)")
    tr.add_argument("--norm", choices=NORMS, default=None,
                    help="instance or batch normalisation (default: the recipe's)")
    tr.add_argument("--photos", nargs="+", default=None, metavar="PHOTO",
                    help="training photos: paths or sample names (default: the colour photos of data/photos/ and "
                         "two more, held-out ones left out)")
    tr.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT.pt",
                    help="where the training so far is kept (default: NET.ckpt.pt beside NET.pt)")
    tr.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    tr.add_argument("--overwrite", action="store_true", help="replace NET.pt if it exists")


def _check_output(out: Path, overwrite: bool) -> None:
    """Before any work: nothing is overwritten unless ``--overwrite`` is given, and the folder can be written."""
    from .images import writable_folder

    if out.exists() and not overwrite:
        raise StlibError(f"output {out} already exists; choose another name or pass --overwrite")
    writable_folder(out.parent)


def _keep(write: Callable[[Path, bool], Path], out: Path, overwrite: bool) -> Path:
    """``write(out, overwrite)``; if that fails, to a free name beside it or in the temporary folder (the error says
    where)."""
    try:
        return write(out, overwrite)
    except (StlibError, OSError) as err:
        reason = getattr(err, "strerror", None) or str(err)
    for folder in (out.parent, Path(tempfile.gettempdir())):
        spare = next(folder / f"{out.stem}-{n}{out.suffix}" for n in count(1)
                     if not (folder / f"{out.stem}-{n}{out.suffix}").exists())
        try:
            write(spare, False)
        except (StlibError, OSError):
            continue
        raise StlibError(f"could not write {out} ({reason}); the result is kept in {spare}")
    raise StlibError(f"could not write {out} ({reason}), nor a copy beside it or in {tempfile.gettempdir()}")


def _train(args: argparse.Namespace, out: Path, what: str, example: str, train: Callable) -> Path:
    """Check ``out`` (.pt) and the checkpoint's folder, ``train(checkpoint)``, save (`_keep`), say how it went."""
    from .images import writable_folder

    if out.suffix.lower() != ".pt":
        raise StlibError(f"output {out}: {what} saved as a .pt file, e.g. -o {example}")
    _check_output(out, args.overwrite)
    checkpoint = args.checkpoint or out.with_suffix(".ckpt.pt")
    writable_folder(checkpoint.parent)
    start = time.perf_counter()
    trained = train(checkpoint)
    saved = _keep(lambda path, overwrite: trained.save(path, overwrite=overwrite), out, args.overwrite)
    result = trained.result
    how = "replayed from the cache" if result.cached else f"in {time.perf_counter() - start:.0f} s"
    more = "the same command with --overwrite continues it" if result.interrupted else "more --steps continue it"
    print(f"{'interrupted, saved what there is' if result.interrupted else 'done'}: {result.steps} steps {how} → "
          f"{saved} (checkpoint {checkpoint}: {more})")
    return saved


def train_command(args: argparse.Namespace) -> int:
    from .fastnet import RECIPES, TRAIN_PHOTOS, train_net

    fields = {f.name for f in dataclasses.fields(RECIPES[args.recipe])}
    changed = {name: value for name, value in vars(args).items() if name in fields and value is not None}

    def train(checkpoint: Path):
        with _flag_names():  # the library's names for the settings, as the flags typed: crop 128 → --crop 128
            return train_net(args.style, dataclasses.replace(RECIPES[args.recipe], **changed),
                             photos=args.photos or TRAIN_PHOTOS, device=args.device,
                             progress=f"train-net {args.style}", checkpoint=checkpoint)

    saved = _train(args, args.output, "a network is", "net.pt", train)
    print(f"use it: python -m stlib stylize PHOTO --net {saved} -o out.png")
    return 0


def train_decoders_command(args: argparse.Namespace) -> int:
    from .wct import SHIPPED, default_path, train_decoders

    steps = {} if args.steps is None else {"steps": args.steps}
    saved = _train(args, args.output or default_path(), "decoders are", "decoders.pt",
                   lambda checkpoint: train_decoders(SHIPPED, device=args.device, progress="train-decoders",
                                                     checkpoint=checkpoint, **steps))
    print(f"use them: python -m stlib stylize PHOTO STYLE --method wct --decoders {saved} -o out.png")
    return 0


NET_OPTIONS = ("max_size", "preserve_color", "device", "json", "overwrite", "net", "output", "help")
WCT_OPTIONS = ("max_size", "style_scale", "preserve_color", "device", "json", "overwrite", "output", "help", "method",
               "strength", "decoders")


def _only(args: argparse.Namespace, allowed: tuple[str, ...], why: str, given: tuple[str, ...] = ()) -> None:
    """A one-line error naming every flag given (besides ``given``) that is not ``allowed``, and ``why``."""
    given += tuple(flag for dest, (default, flag) in args.options.items()
                   if dest not in allowed and getattr(args, dest) != default)
    if given:
        raise StlibError(f"{why}: {' '.join(given)} cannot apply; drop {'it' if len(given) == 1 else 'them'}")


def _one_pass(args: argparse.Namespace) -> int:
    """``--net`` or ``--method wct/adain``: refuse the flags that cannot apply, paint in one pass, save, summarise."""
    from .fastnet import load_net
    from .images import load_image, save_image
    from .wct import load_decoders, stylize_wct

    if args.net is not None:
        _only(args, NET_OPTIONS, "--net paints in one pass, in the style it was trained on",
              ("STYLE",) * (args.style is not None))
        paint = load_net(args.net, device=args.device)
        summary = {"net": str(args.net), "style": paint.style}
    else:
        _only(args, WCT_OPTIONS + ("styles",) * (len(args.styles or ()) == 1),
              f"--method {args.method} paints in one pass, with one style")
        style = args.style if args.style is not None else (args.styles or [None])[0]
        if style is None or (args.style is not None and args.styles):
            raise StlibError("give one style image: after the content image, or with --style")
        strength = 1.0 if args.strength is None else args.strength
        if not 0 <= strength <= 1:
            raise StlibError(f"--strength {strength}: give a number from 0 (the content) to 1 (the style)")
        decoders = load_decoders(args.decoders, device=args.device)
        summary = {"method": args.method, "strength": strength, "style": style}

        def paint(photo):
            return stylize_wct(photo, style, decoders, strength=strength, method=args.method,
                               style_scale=args.style_scale)
    photo = load_image(args.content, max_size=args.max_size)
    start = time.perf_counter()
    with _flag_names(args.style_scale):  # the memory check speaks the library's names: say the command line's
        image = paint(photo)
    seconds = time.perf_counter() - start
    if args.preserve_color is not None:
        from .variants import preserve_color

        image = preserve_color(image, photo, method=args.preserve_color)
    saved = _keep(lambda path, overwrite: save_image(image, path, overwrite=overwrite), args.output, args.overwrite)
    height, width = image.shape[-2:]
    if args.json:
        print(json.dumps({"output": str(saved), "width": width, "height": height, "seconds": round(seconds, 3),
                          **summary, "content": args.content}))
    else:
        took = (f"{1000 * seconds:.0f} ms with {args.net} (style: {summary['style']})" if args.net is not None
                else f"{seconds:.2f} s ({args.method}, strength {summary['strength']:g})")
        print(f"done: {width}×{height} px in {took} → {saved}")
    return 0


def _style_layers(specs: list[str] | None, preset_weights: dict[str, float]) -> dict[str, float] | None:
    """``["conv1_1", "conv3_1:0.5"]`` → ``{layer: weight}``; a bare name gets the preset's weight for it,
    else the mean of the preset's weights (so --style-weight keeps its meaning)."""
    from .models import resolve_layer

    if specs is None:
        return None
    mean = sum(preset_weights.values()) / len(preset_weights)
    weights: dict[str, float] = {}
    for spec in specs:
        name, _, weight = spec.partition(":")
        resolve_layer(name)  # an unknown name fails here, in one line
        try:
            weights[name] = float(weight) if weight else preset_weights.get(name, mean)
        except ValueError:
            raise StlibError(f"--style-layers {spec}: the weight after ':' must be a number, e.g. conv1_1:0.5"
                             ) from None
        if not weights[name] >= 0:
            raise StlibError(f"--style-layers {spec}: the weight must be ≥ 0")
    return weights


@contextmanager
def _flag_names(style_scale: float = 1.0):
    """Library errors raised inside, in the command line's words (``max_size N`` is ``--max-size N``, ``crop 128`` is
    ``--crop 128``, …); an image too big to load with a ``--style-scale`` other than 1 is the style's."""
    try:
        yield
    except StlibError as err:
        message = re.sub(r"^(max_)?size (\d+)", r"--max-size \2", str(err))
        message = re.sub(r"fits is (max_)?size ", "fits is --max-size ", message)
        message = re.sub(r"^style_scale=(\S+):", r"--style-scale \1:", message)
        message = re.sub(r"^style_blend ", "--style-blend ", message)
        message = re.sub(r"\b(crop|batch|photo_side) (\d+)", lambda m: f"--{m[1].replace('_', '-')} {m[2]}", message)
        if message.startswith("an image of") and style_scale != 1:
            message = f"--style-scale {style_scale:g} makes the style image too big: {message}"
        raise StlibError(message) from None


def _snapshot_epochs(save_every: int | None, snapshots: Path | None, steps: int, overwrite: bool) -> list[int]:
    if save_every is None and snapshots is None:
        return []
    if save_every is None or snapshots is None:
        raise StlibError("--save-every N and --snapshots DIR go together: give both")
    if save_every < 1:
        raise StlibError(f"--save-every {save_every}: give a number of steps ≥ 1")
    if steps // save_every + 1 > MAX_SNAPSHOTS:
        raise StlibError(f"--save-every {save_every} with --steps {steps} would write {steps // save_every + 1} "
                         f"images; at most {MAX_SNAPSHOTS}: use --save-every {-(-steps // (MAX_SNAPSHOTS - 1))}")
    from .images import writable_folder

    writable_folder(snapshots)
    epochs = sorted(set(range(0, max(steps, 0) + 1, save_every)) | {max(steps, 0)})
    taken = [name for e in epochs if (snapshots / (name := SNAPSHOT_NAME.format(e))).exists()]
    if taken and not overwrite:
        raise StlibError(f"--snapshots {snapshots} already holds {taken[0]}"
                         f"{f' and {len(taken) - 1} more' if len(taken) > 1 else ''}; "
                         "choose an empty folder or pass --overwrite")
    return epochs


MAX_SNAPSHOTS = 1000
SNAPSHOT_NAME = "step_{:05d}.png"


def _multires_steps(scales: list[float] | None, steps: int) -> tuple[list[float], list[int]]:
    """``--scales`` (default 0.5 1), checked, and ``--steps`` split across them in proportion to 1/scale (a coarse
    step costs scale² of a full one)."""
    scales = [0.5, 1.0] if scales is None else scales
    text = " ".join(f"{s:g}" for s in scales)
    if any(not 0 < s <= 1 for s in scales) or any(b <= a for a, b in pairwise(scales)) or scales[-1] != 1:
        raise StlibError(f"--scales {text}: give ascending fractions of --size in (0, 1], the last 1, e.g. 0.5 1")
    if steps < len(scales):
        raise StlibError(f"--steps {steps} is fewer than the {len(scales)} --scales; give at least one step each")
    extra, total, bounds = steps - len(scales), sum(1 / s for s in scales), [0]
    for i in range(1, len(scales) + 1):  # one step each, the rest by cumulative share: sums to steps exactly
        bounds.append(round(extra * sum(1 / s for s in scales[:i]) / total))
    return scales, [1 + b - a for a, b in pairwise(bounds)]


def stylize_command(args: argparse.Namespace) -> int:
    from .images import IMAGE_SUFFIXES, load_image, save_image, to_pil
    from .models import STYLE_MIN_SIDE, min_image_side, resolve_layer
    from .optim import check_steps, pick_device
    from .presets import get_preset
    from .transfer import INITS, stylize, stylize_coarse_to_fine

    out: Path = args.output
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise StlibError(f"output {out}: unknown image suffix; use .png or .jpg")
    _check_output(out, args.overwrite)
    if args.max_size < STYLE_MIN_SIDE:
        raise StlibError(f"--max-size {args.max_size} is too small: conv5_1 needs at least {STYLE_MIN_SIDE} px "
                         "per side")
    if not (math.isfinite(args.style_scale) and args.style_scale > 0):
        raise StlibError(f"--style-scale {args.style_scale}: give a finite number > 0, e.g. 0.5")
    if args.net is not None or args.method != "gatys":
        return _one_pass(args)
    for flag, value in (("--strength", args.strength), ("--decoders", args.decoders)):
        if value is not None:
            raise StlibError(f"{flag} applies to --method wct or adain only; add --method wct or drop it")
    if args.styles is not None and args.style is not None:
        raise StlibError("give the style image either as the second argument or with --style, not both")
    styles = args.styles if args.styles is not None else [args.style] if args.style is not None else None
    if styles is None:
        raise StlibError("no style image: give one after the content image, or several with --style A B …")
    if args.style_blend is not None and len(args.style_blend) != len(styles):
        raise StlibError(f"--style-blend has {len(args.style_blend)} weights for {len(styles)} style images; "
                         "give one per style")
    preset = get_preset(args.preset)
    steps = preset.num_steps if args.steps is None else args.steps
    check_steps(steps)
    multires = args.multires or args.scales is not None
    if multires:
        scales, scale_steps = _multires_steps(args.scales, steps)
    epochs = _snapshot_epochs(args.save_every, args.snapshots, steps, args.overwrite)
    for name in args.content_layers or ():
        resolve_layer(name)
    style_weights = _style_layers(args.style_layers, dict(preset.style_weights))
    device = pick_device(args.device)

    photo = to_pil(args.content)  # bad images fail here, before the model loads
    content = load_image(photo, max_size=args.max_size)
    height, width = content.shape[-2:]
    need = min_image_side([*(args.content_layers or preset.content_layers), *(style_weights or preset.style_weights)])
    if min(height, width) < need:
        longest = -(-need * max(photo.size) // min(photo.size))
        raise StlibError(f"this image is {width}×{height} px at --max-size {args.max_size}; its layers need at least "
                         f"{need} px per side: use a larger image, at --max-size {longest} or more")
    if args.init in INITS:
        init = args.init
    else:
        init_path = Path(args.init).expanduser()
        if not init_path.is_file():
            raise StlibError(f"--init {args.init}: neither {', '.join(INITS)} nor an image file; check the path")
        init = load_image(init_path, (height, width))
    options = dict(
        preset=args.preset, style_blend=args.style_blend, style_scale=args.style_scale, max_size=None,
        preserve_color=args.preserve_color, optimizer=args.optimizer, lr=args.lr,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        content_layers=args.content_layers, style_weights=style_weights, init=init, model=args.weights,
        pooling=args.pooling, seed=args.seed, snapshot_at=epochs, device=device, progress="stylize",
    )
    start = time.perf_counter()
    with _flag_names(args.style_scale):
        if multires:  # without --steps, each scale until settled
            result = stylize_coarse_to_fine(content, list(styles), scales=scales, num_steps=scale_steps,
                                            settle=preset.settle if args.steps is None else None, **options)
        else:
            result = stylize(content, list(styles), num_steps=args.steps, **options)
    seconds = time.perf_counter() - start
    saved = _keep(lambda path, overwrite: save_image(result.image, path, overwrite=overwrite), out, args.overwrite)
    written = [str(save_image(image, args.snapshots / SNAPSHOT_NAME.format(epoch), overwrite=args.overwrite))
               for epoch, image in sorted(result.snapshots.items())]
    if args.json:
        last = result.history[-1] if result.history else {}
        print(json.dumps({
            "output": str(saved), "width": width, "height": height, "steps": result.steps,
            "interrupted": result.interrupted, "seconds": round(seconds, 3), "device": device.type,
            "content": args.content, "styles": styles, "preset": args.preset,
            "optimizer": args.optimizer or preset.optimizer, "snapshots": written,
            "losses": {k: v for k, v in last.items() if k not in ("step", "time")},
            "memory_estimate_bytes": result.memory_bytes,
        }))
        return 0
    state = "interrupted, saved partial result" if result.interrupted else "done"
    print(f"{state}: {result.steps} steps in {seconds:.1f} s on {device.type}, {width}×{height} px → {saved}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    from .fastnet import load_net
    from .lab import export_onnx

    if args.output.suffix.lower() != ".onnx":
        raise StlibError(f"output {args.output}: an ONNX network is saved as a .onnx file, e.g. -o net.onnx")
    _check_output(args.output, args.overwrite)
    trained = load_net(args.net, device="cpu")  # a missing or foreign file fails here, in one line
    saved = _keep(lambda path, overwrite: export_onnx(trained, path, overwrite=overwrite), args.output, args.overwrite)
    print(f"done: {args.net} (style: {trained.style}) → {saved}, {saved.stat().st_size / 1e6:.2f} MB")
    return 0


def isolated_handler(site: Path):
    """An `http.server` handler for ``site`` sending COOP/COEP, so onnxruntime-web may use threads."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    class Handler(SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()

        def log_message(self, *args) -> None:  # quiet: the lab page fetches a dozen files
            pass

    return partial(Handler, directory=str(site))


def serve_command(args: argparse.Namespace, site: Path | None = None) -> int:
    from http.server import ThreadingHTTPServer

    from .config import SITE_DIR

    site = SITE_DIR if site is None else site  # the repository's, from any folder

    if not (site / "index.html").is_file():
        raise StlibError(f"no site in {site.resolve()}: build it first with `make site`")
    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", args.port), isolated_handler(site))
    except OSError as err:
        raise StlibError(f"cannot serve on 127.0.0.1:{args.port} ({err.strerror}): is another server running "
                         "there? choose another port with --port") from None
    page = "lab.html" if (site / "lab.html").is_file() else "index.html"
    print(f"serving {site} on http://127.0.0.1:{args.port}/{page} (threads and the camera work there); Ctrl-C stops",
          flush=True)
    with httpd:
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def samples_command(args: argparse.Namespace) -> int:
    from .images import sample_names

    print("\n".join(sample_names()))
    return 0


def precompute_command(args: argparse.Namespace) -> int:
    from .lessons import precompute

    return precompute(fast=args.fast, lessons=args.lessons)


COMMANDS = {"stylize": stylize_command, "train-net": train_command, "train-decoders": train_decoders_command,
            "samples": samples_command, "precompute": precompute_command, "export-onnx": export_command,
            "serve-site": serve_command}


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error a user can cause ends as one ``error:`` line and exit status 2."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except StlibError as err:
        message = str(err)
    except KeyboardInterrupt:
        message = "interrupted before the run began; nothing was written"
    except OSError as err:  # a path, a permission, a full disk: named, without a traceback
        message = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else str(err)
    except (RuntimeError, ValueError, OverflowError, MemoryError) as err:  # torch's, e.g. an unusable device
        lines = str(err).strip().splitlines()
        message = f"{type(err).__name__}: {lines[0][:200] if lines else 'no message'}"
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
