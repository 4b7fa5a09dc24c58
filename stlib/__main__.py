"""Command line: ``python -m stlib stylize CONTENT STYLE -o OUT.png``; ``train-net STYLE -o NET.pt`` and
``stylize CONTENT --net NET.pt -o OUT.png`` for real-time style transfer.

Errors print one line (``error: …``) and exit with status 2; nothing is overwritten
unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import pairwise
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
    st.add_argument("style", nargs="?", help="style image: a path or a sample name (e.g. hubble_deep_field)")
    st.add_argument("-o", "--output", required=True, type=Path, help="where to write the result (.png/.jpg)")
    st.add_argument("--style", dest="styles", nargs="+", metavar="STYLE", default=None,
                    help="one or more style images (instead of the positional STYLE); several are blended")
    st.add_argument("--style-blend", nargs="+", type=float, metavar="W", default=None,
                    help="one weight per --style image (default: equal)")
    st.add_argument("--style-scale", type=float, default=1.0,
                    help="style image size relative to the output's (smaller: finer strokes; default 1)")
    st.add_argument("--preserve-color", choices=("luminance", "histogram"), default=None,
                    help="keep the content's colours")
    st.add_argument("--size", type=int, default=256,
                    help="longest side of the output in pixels; the content's aspect ratio is kept (default 256)")
    st.add_argument("--steps", type=int, default=None,
                    help="optimisation steps = loss evaluations (default: the preset's, 40 for balanced, else 300)")
    st.add_argument("--multires", action="store_true",
                    help="coarse to fine: optimise at a fraction of --size first (see --scales), upsample, continue; "
                         "--steps is split across the scales in proportion to 1/scale (300 steps at 0.5 1: 200 at "
                         "half size, then 100 at full size)")
    st.add_argument("--scales", nargs="+", type=float, metavar="S", default=None,
                    help="--multires's fractions of --size, ascending, the last 1 (default 0.5 1); implies --multires")
    st.add_argument("--preset", choices=list(PRESETS), default="balanced",
                    help="layers, normalisations, alpha, beta and optimiser of one convention (stlib.presets); "
                         "default balanced: every style layer counts by its relative error, 40 steps")
    st.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="default: the preset's (lbfgs)")
    st.add_argument("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    st.add_argument("--content-weight", type=float, default=None, help="alpha (default: the preset's, 1)")
    st.add_argument("--style-weight", type=float, default=None,
                    help="beta (default: the preset's; 1e7 for balanced, 1e-4 for default)")
    st.add_argument("--tv-weight", type=float, default=DEFAULT_TV_WEIGHT, help="gamma, total variation")
    st.add_argument("--content-layers", nargs="+", metavar="LAYER", default=None,
                    help="content layers (default: the preset's, conv4_2)")
    st.add_argument("--style-layers", nargs="+", metavar="LAYER[:W]", default=None,
                    help="style layers, each with an optional weight (default weight: the preset's for that "
                         "layer, else the mean of the preset's)")
    st.add_argument("--pooling", choices=("max", "avg"), default="max", help="VGG19's pooling (default max)")
    st.add_argument("--init", default="content", metavar="{" + ",".join(INITS) + ",PATH}",
                    help="start image: content (default), style, noise, or an image file")
    st.add_argument("--weights", default="pretrained", help="'pretrained', 'random' or a path to vgg19-*.pth")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    st.add_argument("--save-every", type=int, default=None, metavar="N",
                    help="also write the image every N steps into --snapshots DIR")
    st.add_argument("--snapshots", type=Path, default=None, metavar="DIR",
                    help="folder for --save-every's images (step_00050.png, …)")
    st.add_argument("--json", action="store_true", help="print a machine-readable summary (JSON) instead")
    st.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    st.add_argument("--net", type=Path, default=None, metavar="NET.pt",
                    help="paint in one forward pass with a network from `train-net` (no STYLE: it knows its style)")
    _train_parser(sub)
    sub.add_parser("samples", help="list the sample image names")
    pre = sub.add_parser("precompute", help="fill the snapshot cache for every lesson (full mode) before a class")
    pre.add_argument("--fast", action="store_true", help="fast mode's sizes instead (what CI uses)")
    pre.add_argument("lessons", nargs="*", metavar="LESSON",
                     help="only these lessons, by number or name prefix (e.g. 00 07); default: all")
    return parser


def _train_parser(sub) -> None:
    from .fastnet import NORMS, TrainSettings

    d = TrainSettings()
    tr = sub.add_parser("train-net", help="train a network that paints any photo in STYLE in one forward pass",
                        description="Real-time style transfer (Johnson et al. 2016): train a small network with "
                                    "stylize's losses on photos, once; then `stylize PHOTO --net NET.pt`.")
    tr.add_argument("style", help="style image: a path or a sample name (e.g. starry_night)")
    tr.add_argument("-o", "--output", required=True, type=Path, help="where to write the network (.pt)")
    tr.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    tr.add_argument("--size", type=int, default=d.crop, help=f"side of the training crops in px (default {d.crop})")
    tr.add_argument("--photo-side", type=int, default=d.photo_side,
                    help=f"photos and the style are first scaled to this shorter side (default {d.photo_side})")
    tr.add_argument("--batch", type=int, default=d.batch, help=f"crops per step (default {d.batch})")
    tr.add_argument("--lr", type=float, default=d.lr, help=f"Adam's learning rate (default {d.lr:g})")
    tr.add_argument("--content-weight", type=float, default=d.content_weight, help="alpha (default 1)")
    tr.add_argument("--style-weight", type=float, default=d.style_weight, help=f"beta (default {d.style_weight:g})")
    tr.add_argument("--tv-weight", type=float, default=d.tv_weight, help="gamma, total variation (default 0)")
    tr.add_argument("--width", type=int, default=d.width, help=f"channels of the first layer (default {d.width})")
    tr.add_argument("--blocks", type=int, default=d.blocks, help=f"residual blocks (default {d.blocks})")
    tr.add_argument("--norm", choices=NORMS, default=d.norm, help="instance (default) or batch normalisation")
    tr.add_argument("--photos", nargs="+", default=None, metavar="PHOTO",
                    help="training photos: paths or sample names (default: scikit-image's, cat and astronaut held out)")
    tr.add_argument("--seed", type=int, default=d.seed)
    tr.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    tr.add_argument("--overwrite", action="store_true", help="replace NET.pt if it exists")


def _keep_existing(out: Path, overwrite: bool) -> None:
    """Nothing is overwritten unless ``--overwrite`` is given."""
    if out.exists() and not overwrite:
        raise StlibError(f"output {out} already exists; choose another name or pass --overwrite")


def train_command(args: argparse.Namespace) -> int:
    from . import memory
    from .fastnet import TRAIN_PHOTOS, TrainSettings, train_net
    from .optim import pick_device

    out: Path = args.output
    if out.suffix.lower() != ".pt":
        raise StlibError(f"output {out}: a network is saved as a .pt file, e.g. -o net.pt")
    _keep_existing(out, args.overwrite)
    settings = TrainSettings(steps=args.steps, crop=args.size, photo_side=args.photo_side, batch=args.batch,
                             lr=args.lr, content_weight=args.content_weight, style_weight=args.style_weight,
                             tv_weight=args.tv_weight, width=args.width, blocks=args.blocks, norm=args.norm,
                             seed=args.seed)
    device = pick_device(args.device)
    # a batch of B crops costs about what one image B crops wide does
    memory.check_run(settings.crop, settings.crop * settings.batch, optimizer="adam", num_steps=settings.steps,
                     device=device.type)
    start = time.perf_counter()
    trained = train_net(args.style, settings, photos=args.photos or TRAIN_PHOTOS, device=device, progress="train-net")
    trained.save(out)
    state = "interrupted, saved the network so far" if trained.result.interrupted else "done"
    print(f"{state}: {trained.result.steps} steps in {time.perf_counter() - start:.0f} s on {device.type} → {out}; "
          f"use it: python -m stlib stylize PHOTO --net {out} -o out.png")
    return 0


def _stylize_with_net(args: argparse.Namespace) -> int:
    from .fastnet import load_net
    from .images import save_image

    if args.style is not None or args.styles is not None:
        raise StlibError("--net paints in the style it was trained on: drop the style image")
    trained = load_net(args.net, device=args.device)
    start = time.perf_counter()
    image = trained(args.content, args.size)
    seconds = time.perf_counter() - start
    save_image(image, args.output, overwrite=True)
    height, width = image.shape[-2:]
    print(f"done: {width}×{height} px in {1000 * seconds:.0f} ms with {args.net} (style: {trained.style}) "
          f"→ {args.output}")
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


def _crop_to_aspect(image, height: int, width: int):
    """The largest centred crop of a PIL ``image`` with the aspect ratio ``width / height``: a style image of
    another shape is cropped, not stretched, before it is scaled to the output's size."""
    w, h = image.size
    if w * height > h * width:  # too wide
        new_w = max(1, round(h * width / height))
        left = (w - new_w) // 2
        return image.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w * height / width))
    top = (h - new_h) // 2
    return image.crop((0, top, w, top + new_h))


def _snapshot_epochs(save_every: int | None, snapshots: Path | None, steps: int) -> list[int]:
    if save_every is None and snapshots is None:
        return []
    if save_every is None or snapshots is None:
        raise StlibError("--save-every N and --snapshots DIR go together: give both")
    if save_every < 1:
        raise StlibError(f"--save-every {save_every}: give a number of steps ≥ 1")
    if snapshots.exists() and not snapshots.is_dir():
        raise StlibError(f"--snapshots {snapshots} is a file; give a folder")
    return sorted(set(range(0, max(steps, 0) + 1, save_every)) | {max(steps, 0)})


def _multires_steps(scales: list[float] | None, steps: int) -> tuple[list[float], list[int]]:
    """``--scales`` (default 0.5 1), checked, and ``--steps`` split across them in proportion to 1/scale: a
    coarse step costs scale² of a full one, so coarse scales get more steps and the full size the last word."""
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
    from . import memory
    from .images import IMAGE_SUFFIXES, load_image, save_image, to_pil
    from .models import min_image_side, resolve_layer, vgg19
    from .optim import check_steps, pick_device
    from .presets import get_preset
    from .transfer import INITS, stylize, stylize_coarse_to_fine

    out: Path = args.output
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise StlibError(f"output {out}: unknown image suffix; use .png or .jpg")
    _keep_existing(out, args.overwrite)
    if args.size < 16:
        raise StlibError(f"--size {args.size} is too small: conv5_1 needs at least 16 px per side")
    if args.net is not None:
        return _stylize_with_net(args)
    if args.styles is not None and args.style is not None:
        raise StlibError("give the style image either as the second argument or with --style, not both")
    styles = args.styles if args.styles is not None else [args.style] if args.style is not None else None
    if styles is None:
        raise StlibError("no style image: give one after the content image, or several with --style A B …")
    if args.style_blend is not None and len(args.style_blend) != len(styles):
        raise StlibError(f"--style-blend has {len(args.style_blend)} weights for {len(styles)} style images; "
                         "give one per style")
    if not args.style_scale > 0:
        raise StlibError(f"--style-scale {args.style_scale}: give a number > 0, e.g. 0.5")
    if args.steps is None:
        args.steps = get_preset(args.preset).num_steps
    check_steps(args.steps)
    multires = args.multires or args.scales is not None
    if multires:
        scales, scale_steps = _multires_steps(args.scales, args.steps)
    epochs = _snapshot_epochs(args.save_every, args.snapshots, args.steps)
    preset = get_preset(args.preset)
    content_layers = args.content_layers or list(preset.content_layers)
    for name in content_layers:
        resolve_layer(name)
    style_weights = _style_layers(args.style_layers, dict(preset.style_weights))
    layers = [*content_layers, *(style_weights or preset.style_weights)]
    optimizer = args.optimizer or preset.optimizer
    device = pick_device(args.device)

    photo = to_pil(args.content)  # bad images fail here, before the model loads
    height, width = memory.scaled(args.size, photo.height, photo.width)
    need = min_image_side(layers)
    if min(height, width) < need:
        longest = -(-need * max(photo.height, photo.width) // min(photo.height, photo.width))
        raise StlibError(f"--size {args.size} makes this {photo.width}×{photo.height} image {width}×{height} px; "
                         f"its layers need at least {need} px per side: use --size {longest} or more")
    estimate = memory.check_run(height, width, layers=layers, optimizer=optimizer, num_steps=args.steps,
                                pooling=args.pooling, styles=len(styles), style_scale=args.style_scale,
                                snapshots=len(epochs), device=device.type)
    content = load_image(photo, (height, width))
    style_images = [_crop_to_aspect(to_pil(s), height, width) for s in styles]
    if args.init in INITS:
        init = args.init
    else:
        init_path = Path(args.init).expanduser()
        if not init_path.is_file():
            raise StlibError(f"--init {args.init}: neither {', '.join(INITS)} nor an image file; check the path")
        init = load_image(init_path, (height, width))
    model = vgg19(args.weights, pooling=args.pooling, device=device)
    if epochs:
        args.snapshots.mkdir(parents=True, exist_ok=True)
    options = dict(
        preset=args.preset, style_blend=args.style_blend, style_scale=args.style_scale,
        preserve_color=args.preserve_color, optimizer=args.optimizer, lr=args.lr,
        content_weight=args.content_weight, style_weight=args.style_weight, tv_weight=args.tv_weight,
        content_layers=args.content_layers, style_weights=style_weights, init=init, model=model, seed=args.seed,
        snapshot_at=epochs, device=device, progress="stylize",
    )
    start = time.perf_counter()
    if multires:
        result = stylize_coarse_to_fine(content, style_images, scales=scales, num_steps=scale_steps, **options)
    else:
        result = stylize(content, style_images, num_steps=args.steps, **options)
    seconds = time.perf_counter() - start
    save_image(result.image, out, overwrite=True)
    written = [str(save_image(image, args.snapshots / f"step_{epoch:05d}.png", overwrite=True))
               for epoch, image in sorted(result.snapshots.items())]
    if args.json:
        last = result.history[-1] if result.history else {}
        print(json.dumps({
            "output": str(out), "width": width, "height": height, "steps": result.steps,
            "interrupted": result.interrupted, "seconds": round(seconds, 3), "device": device.type,
            "content": args.content, "styles": styles, "preset": args.preset, "optimizer": optimizer,
            "losses": {k: v for k, v in last.items() if k not in ("step", "time")}, "snapshots": written,
            "memory_estimate_bytes": estimate.run,
        }))
        return 0
    state = "interrupted, saved partial result" if result.interrupted else "done"
    print(f"{state}: {result.steps} steps in {seconds:.1f} s on {device.type}, {width}×{height} px → {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "stylize":
            return stylize_command(args)
        if args.command == "train-net":
            return train_command(args)
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
