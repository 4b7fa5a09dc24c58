"""Universal style transfer's time on this machine (`make bench-wct`): a SIZE×SIZE photo through the shipped decoders
(`data/decoders/`), each level's encoding, transform and decoding, the style's features, the whole
`stlib.wct.stylize_wct` call, and the whole command (`python -m stlib stylize … --method wct`, start-up and files
included). Medians of ``--repeats`` runs (`torch.utils.benchmark`), all threads; say the machine's load beside them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils import benchmark

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stlib import load_image, save_image, vgg19, wct  # noqa: E402


def seconds(fn, repeats: int) -> float:
    """The median wall time of ``fn()`` over ``repeats`` runs, after one warm-up."""
    fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.timeit(repeats).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photo", default="chelsea")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--method", choices=wct.METHODS, default="wct")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    decoders = wct.load_decoders().decoders
    net = vgg19()
    photo = load_image(args.photo, (args.size, args.size))
    last = torch.channels_last
    style = load_image(args.style, max_size=args.size).to(memory_format=last)
    transform = wct.wct if args.method == "wct" else wct.adain
    load = os.getloadavg()[0]
    print(f"{args.photo} {args.size}×{args.size} px, {args.style} (longest side {args.size}), {args.method}, "
          f"{torch.get_num_threads()} threads, load average {load:.1f} at the start")
    with torch.inference_mode():
        took = seconds(lambda: net(style, list(decoders)), args.repeats)
        print(f"{'the style features (all levels)':34s} {took:6.2f} s")
        targets = net(style, list(decoders))
        image, total = photo, 0.0
        for level in decoders:
            x = image.contiguous(memory_format=last)
            encode = seconds(lambda x=x, level=level: net(x, [level])[level], args.repeats)
            feats = net(x, [level])[level]
            change = seconds(lambda f=feats, t=targets[level]: transform(f, t), args.repeats)
            out = transform(feats, targets[level]).contiguous(memory_format=last)
            decode = seconds(lambda d=decoders[level], o=out: d(o), args.repeats)
            image = decoders[level](out).clamp(0, 1)
            total += encode + change + decode
            print(f"{level}: encode {encode:5.2f} s, {args.method} {change:5.2f} s, decode {decode:5.2f} s")
        print(f"{'the levels together':34s} {total:6.2f} s")
        whole = seconds(lambda: wct.stylize_wct(photo, style, decoders, method=args.method, vgg=net), args.repeats)
        print(f"{'stylize_wct (style features included)':34s} {whole:6.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        photo_file = save_image(photo, Path(tmp) / "photo.png")
        command = [sys.executable, "-m", "stlib", "stylize", str(photo_file), args.style, "--method", args.method,
                   "--max-size", str(args.size), "-o", str(Path(tmp) / "out.png"), "--overwrite"]
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            runs.append(time.perf_counter() - start)
        print(f"{'the whole command':34s} {sorted(runs)[len(runs) // 2]:6.2f} s (median of {args.repeats})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
