"""Step benchmark: milliseconds per optimisation step of stlib's style transfer, on this machine.

Two figures per size (default 128 and 256 px, square), both on stlib's own code and the `lessons` preset
(comparable with the earlier figures):

* **loss + backward**: one evaluation of the loss `stlib.stylize` minimises (`stlib.transfer.transfer_loss`,
  `lessons` preset: ``α·content + β·style`` on conv4_2 and conv1_1…conv5_1) and its gradient,
  timed by ``torch.utils.benchmark`` (adaptive number of runs, median);
* **step, adam / lbfgs**: what `stlib.stylize` itself spends per step (``result.history[i]["time"]``):
  the evaluation above plus the optimiser, the clamp and the loop. Median after ``--warmup`` steps.
  L-BFGS does one loss evaluation per step (``max_iter=1``), as in `stlib.optim`.

    python benchmarks/bench_step.py                     # 128 and 256 px; about a minute on 2 quiet cores
    python benchmarks/bench_step.py --sizes 64 --steps 4
    python benchmarks/bench_step.py --json out.json

Absolute times move with the machine's load (a shared machine: 2-3× from minute to minute); compare the
ratios within one run. The load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch
from torch.utils import benchmark

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stlib import vgg19  # noqa: E402
from stlib.images import load_image  # noqa: E402
from stlib.optim import flush_denormals  # noqa: E402
from stlib.transfer import stylize, transfer_loss  # noqa: E402

CONTENT, STYLE = "chelsea", "immunohistochemistry"


def loss_and_backward_ms(net, content: torch.Tensor, style: torch.Tensor, threads: int) -> float:
    """Median ms of one evaluation of `stlib.stylize`'s loss (the lessons preset) and its gradient w.r.t. the image."""
    loss = transfer_loss(net, content, style, preset="lessons")
    image = content.clone().requires_grad_(True)

    def evaluate() -> None:
        loss(image).total.backward()
        image.grad = None

    timer = benchmark.Timer(stmt="evaluate()", globals={"evaluate": evaluate}, num_threads=threads)
    with flush_denormals():  # as stlib.optimize does on the CPU
        return timer.blocked_autorange(min_run_time=2.0).median * 1e3


def step_ms(net, content: torch.Tensor, style: torch.Tensor, optimizer: str, steps: int, warmup: int) -> float:
    """Median ms per step of `stlib.stylize` itself, after ``warmup`` steps."""
    result = stylize(content, style, preset="lessons", num_steps=warmup + steps, optimizer=optimizer, model=net,
                     progress=False)
    times = [0.0] + [row["time"] for row in result.history]
    return statistics.median(b - a for a, b in zip(times[warmup:-1], times[warmup + 1:], strict=True)) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per optimiser (default 10)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    net = vgg19()
    print(f"torch {torch.__version__}, {args.threads} threads, load average at start {os.getloadavg()[0]:.1f}")
    print(f"{'size':>6} {'loss+backward':>14} {'step adam':>10} {'step lbfgs':>11}   (ms)")
    rows = []
    for size in args.sizes:
        content, style = load_image(CONTENT, size), load_image(STYLE, size)
        row = {"size": size, "loss_backward_ms": loss_and_backward_ms(net, content, style, args.threads)}
        for optimizer in ("adam", "lbfgs"):
            row[f"{optimizer}_ms"] = step_ms(net, content, style, optimizer, args.steps, args.warmup)
        rows.append(row)
        print(f"{size:>6} {row['loss_backward_ms']:>14.0f} {row['adam_ms']:>10.0f} {row['lbfgs_ms']:>11.0f}",
              flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
