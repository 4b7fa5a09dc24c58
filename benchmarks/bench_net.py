"""Network benchmark: milliseconds per photo of lesson 10's real-time network (`stlib.fastnet.TransformerNet`).

One forward pass (``torch.inference_mode``, as `stlib.fastnet.stylize_with` runs it) of a square photo,
timed by ``torch.utils.benchmark`` (adaptive number of runs, median), for each ``--widths`` (8 is stlib's
default; Johnson et al. used 32) and ``--sizes``. The time does not depend on the weights' values, so the
networks are untrained. Also the multiplications per photo, to compare with the time.

    python benchmarks/bench_net.py                      # widths 8 16 32 at 128 256 512 px; about a minute
    python benchmarks/bench_net.py --widths 8 --sizes 256

Absolute times move with the machine's load; compare within one run. The load average is printed at start
and end.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils import benchmark

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stlib.fastnet import TransformerNet, UpsampleConv  # noqa: E402


def forward_ms(net: TransformerNet, size: int, threads: int) -> float:
    """Median ms of one forward pass of a ``size``×``size`` photo."""
    photo = torch.rand(1, 3, size, size)
    timer = benchmark.Timer(stmt="net(photo)", globals={"net": net, "photo": photo}, num_threads=threads)
    with torch.inference_mode():
        return timer.blocked_autorange(min_run_time=2.0).median * 1e3


def multiplications(net: TransformerNet, size: int) -> int:
    """Multiply-adds of the convolutions for a ``size``×``size`` photo, counted from their outputs' sizes
    (an `UpsampleConv` counts as its 3×3 convolution of the upsampled picture: the same number)."""
    total = 0

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        conv = module.conv if isinstance(module, UpsampleConv) else module
        total += output[0, 0].numel() * conv.out_channels * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (nn.Conv2d, UpsampleConv))]
    with torch.inference_mode():
        net(torch.rand(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average at start {os.getloadavg()[0]:.1f}")
    print(f"{'width':>6} {'size':>6} {'ms/photo':>9} {'photos/s':>9} {'multiply-adds':>14}")
    for width in args.widths:
        net = TransformerNet(width, args.blocks).eval()
        for size in args.sizes:
            ms = forward_ms(net, size, args.threads)
            print(f"{width:>6} {size:>6} {ms:>9.1f} {1e3 / ms:>9.1f} {multiplications(net, size) / 1e9:>13.2f}G",
                  flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
