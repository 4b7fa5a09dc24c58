"""One loop that optimises an image against any loss, with snapshots and callbacks.

The image is the variable and the model a constant (lecture, "inputs as variables"). Every loss evaluation is one
step, for SGD, Adam and L-BFGS alike, so budgets compare honestly. Plots and the live view watch runs as `observers`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .errors import DivergedError, StlibError, check_choice, ipython_shell
from .losses import LossTerms

LossFn = Callable[[torch.Tensor], "torch.Tensor | LossTerms"]
Callback = Callable[[int, torch.Tensor, dict], "bool | None"]
"""``callback(step, image, losses) -> stop?``: called after every step; return True to stop."""

OPTIMIZERS = ("adam", "sgd", "lbfgs")
DEFAULT_LR = {"adam": 0.02, "sgd": 0.1, "lbfgs": 1.0}
LBFGS_HISTORY = 50  # (s, y) pairs L-BFGS keeps: its memory (`stlib.memory`) grows with them


@dataclass
class Result:
    """What a run produced. Images are ``(1, 3, H, W)`` in [0, 1] on the CPU."""

    image: torch.Tensor
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)  # one row per step
    steps: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    cached: bool = False  # replayed from the on-disk cache (stlib.cache), not recomputed
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # a trained network's or decoders' (stlib.training)
    memory_bytes: int = 0  # the runner's estimate of what the run needs (stlib.memory), not stored in the cache

    def losses(self, key: str = "total") -> list[float]:
        """One loss term (``total``, ``content``, ``style``, ``tv``) per step."""
        return [row[key] for row in self.history]


observers: list = []
"""What watches every run that has a progress label (``progress`` not False) from outside the loop; empty outside a
notebook (`stlib.live` adds its view). An observer has ``shows_progress`` (True: the text progress bar stays off),
``start(label, num_steps, image)`` before the first step, ``step(step, image, losses)`` after every step (keep it cheap:
throttle) and ``finish(label, result)`` once at the end, also for a replay from the cache or a run stopped early."""


def announce_replay(label: str | bool, result: Result) -> None:
    """Tell the observers about a run that did not compute (a replay from the cache)."""
    _notebook_hooks()
    for obs in list(observers) if label else []:
        obs.finish(label if isinstance(label, str) else "run", result)


def pick_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` if given, else CUDA, then Apple's MPS, then the CPU."""
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available, "cpu": lambda: True}
    if device is None:
        return torch.device(next(kind for kind, ok in available.items() if ok()))
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in available:
        raise StlibError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'mps'")
    if not available[dev.type]():
        missing = "no CUDA GPU is" if dev.type == "cuda" else "MPS is not"
        raise StlibError(f"device {dev.type!r} asked for but {missing} available; use --device cpu")
    return dev


class _CellStop:
    """One interrupt (Ctrl-C, Jupyter's ■) stops a whole notebook cell: once a run is interrupted, later runs in the
    same cell return at once (``interrupted``, only their initial image) instead of going on with the next one."""

    armed = False  # IPython's pre_run_cell hook is installed: a new cell clears `requested`
    requested = False

    @classmethod
    def new_cell(cls, *_info) -> None:
        cls.requested = False

    @classmethod
    def install(cls, shell) -> None:
        if cls.new_cell not in shell.events.callbacks["pre_run_cell"]:
            shell.events.register("pre_run_cell", cls.new_cell)
        cls.armed = True


first_run_hooks: list[Callable[[object], object]] = [_CellStop.install]
"""Called with the IPython shell before the first run in a notebook (`stlib.live` adds its view); empty after."""


def _notebook_hooks() -> None:
    shell = ipython_shell() if first_run_hooks else None
    if hasattr(shell, "events"):  # in IPython: a new cell clears the stop, the live view shows runs
        while first_run_hooks:
            first_run_hooks.pop(0)(shell)


@contextmanager
def flush_denormals(enabled: bool = True):
    """Treat denormal floats as zero on the CPU while inside: a guard, not a measured speed-up (benchmarks/)."""
    supported = enabled and torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported:  # torch has no getter for this flag; off is its default
            torch.set_flush_denormal(False)


def check_steps(num_steps: int, snapshot_at: Iterable[int] = ()) -> list[int]:
    """Validate a step budget and snapshot epochs; return the sorted epochs."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise StlibError(f"num_steps must be a positive whole number, got {num_steps!r}")
    epochs = sorted(set(snapshot_at))
    for e in epochs:
        if isinstance(e, bool) or not isinstance(e, int) or e < 0:
            raise StlibError(f"snapshot epochs must be whole numbers ≥ 0, got {e!r}")
        if e > num_steps:
            raise StlibError(f"snapshot epoch {e} is past num_steps={num_steps}; raise num_steps or drop it")
    return epochs


def make_optimizer(name: str, params: Sequence[torch.Tensor], lr: float | None = None) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"`` or ``"lbfgs"`` over ``params``; L-BFGS does one evaluation per step."""
    name = check_choice(name.lower(), OPTIMIZERS, "optimizer")
    lr = DEFAULT_LR[name] if lr is None else lr
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise StlibError(f"learning rate must be a positive number, got {lr!r}")
    if name == "lbfgs":  # max_iter=1: each .step() evaluates the closure exactly once, so steps == evaluations
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=LBFGS_HISTORY)
    return (torch.optim.Adam if name == "adam" else torch.optim.SGD)(params, lr=lr)


def _as_terms(value: torch.Tensor | LossTerms) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(value, LossTerms):
        return value.total, value.items()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value, {"total": value.item()}
    raise StlibError(f"loss function returned {type(value).__name__}; return a scalar tensor or LossTerms")


def optimize(image: torch.Tensor, loss_fn: LossFn, *, num_steps: int, optimizer: str = "adam", lr: float | None = None,
             snapshot_at: Iterable[int] = (), callbacks: Iterable[Callback] = (), clamp: bool = True,
             progress: bool | str = True, flush_denormal: bool = True) -> Result:
    """Optimise a copy of ``image`` ``(1, 3, H, W)`` to minimise ``loss_fn(image)``. ``snapshot_at``: epochs whose
    image is kept (epoch ``e``: after ``e`` steps; 0 the initial image). ``clamp`` keeps pixels in [0, 1]. Ctrl-C
    returns what it has (``result.interrupted``); a NaN/inf loss raises `DivergedError`, its ``.result`` kept."""
    check_steps(num_steps, snapshot_at)
    variable = image.detach().clone().requires_grad_(True)
    opt = make_optimizer(optimizer, [variable], lr)
    lbfgs = isinstance(opt, torch.optim.LBFGS)
    state: dict = {}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        total, terms = _as_terms(loss_fn(variable))
        if not math.isfinite(terms["total"]):
            raise _Diverged(terms["total"])
        total.backward()
        state["last"] = terms
        return total

    def step() -> dict[str, float]:
        before = variable.detach().clone() if clamp and lbfgs else None
        opt.step(closure)
        if clamp:
            with torch.no_grad():
                variable.clamp_(0.0, 1.0)
            if before is not None:
                _lbfgs_actual_step(opt, variable, before)
        return state["last"]

    with flush_denormals(flush_denormal and variable.device.type == "cpu"):
        return run_steps(step, variable.detach, num_steps=num_steps, snapshot_at=snapshot_at, callbacks=callbacks,
                         progress=progress, advice=f"({optimizer}, lr={opt.defaults['lr']}): "
                                                   "lower the learning rate or the loss weights")


def settled(tolerance: float, window: int = 10) -> Callback:
    """A callback that stops a run once its lowest loss fell by less than ``tolerance`` of itself over the last
    ``window`` steps and the loss is back at that low (L-BFGS overshoots and recovers: above its low is not settled)."""
    totals: list[float] = []

    def stop(step: int, image: torch.Tensor, losses: dict) -> bool:
        totals.append(losses["total"])
        if len(totals) <= window:
            return False
        best = min(totals)
        return min(totals[:-window]) - best < tolerance * best and totals[-1] <= (1 + tolerance) * best

    return stop


def run_steps(step: Callable[[], dict[str, float]], picture: Callable[[], torch.Tensor], *, num_steps: int,
              snapshot_at: Iterable[int] = (), callbacks: Iterable[Callback] = (), progress: bool | str = True,
              preview: Callable[[], torch.Tensor] | None = None,
              advice: str = ": lower the learning rate or the loss weights", resume: Result | None = None) -> Result:
    """The loop every run shares (`optimize`, `stlib.training`): ``step()`` ``num_steps`` times, its loss terms kept
    as the history. ``picture()``: what the run makes so far, ``(B, 3, H, W)``, for the snapshots and the result;
    ``preview()`` (default ``picture``, keep it cheap): what callbacks and the live view see after every step. Progress
    bar, observers, Ctrl-C and a NaN/inf loss (`DivergedError`, ending with ``advice``) are handled here. ``resume``:
    a result so far (steps, history, snapshots, from a checkpoint) to continue.
    """
    epochs = check_steps(num_steps, snapshot_at)
    _notebook_hooks()
    preview = preview or picture
    result = resume or Result(image=picture().cpu().clone())
    pending = [e for e in epochs if e > result.steps or not resume]  # the snapshots still to take
    label = progress if isinstance(progress, str) else "optimising"
    watching = list(observers) if progress else []
    if _CellStop.armed and _CellStop.requested:
        result.interrupted = True
        result.snapshots = {0: result.image} if 0 in pending else {}
        tqdm.write(f"skipped ({num_steps} steps): a run before it in this cell was interrupted; run the cell again",
                   file=sys.stderr)
        for obs in watching:
            obs.finish(label, result)
        return result
    callbacks = list(callbacks)
    bar = progress_bar(num_steps, label,
                       disable=not progress or any(getattr(obs, "shows_progress", False) for obs in watching))
    bar.update(result.steps)
    start = time.perf_counter() - result.seconds

    def snapshot(done: int) -> None:
        while pending and pending[0] <= done:
            result.snapshots[pending.pop(0)] = picture().cpu().clone()

    snapshot(0)
    for obs in watching:
        obs.start(label, num_steps, preview())
    stopped, diverged = False, None
    try:
        while result.steps < num_steps and not stopped:
            terms = step()
            if not math.isfinite(terms["total"]):
                raise _Diverged(terms["total"])
            result.steps += 1
            terms = dict(terms, step=result.steps, time=time.perf_counter() - start)
            result.history.append(terms)
            snapshot(result.steps)
            if result.steps % 5 == 0 or result.steps == num_steps:
                bar.set_postfix(loss=f"{terms['total']:.4g}", refresh=False)
            bar.update(1)
            if callbacks or watching:
                shown = preview()
                for cb in callbacks:
                    stopped = bool(cb(result.steps, shown, terms)) or stopped
                for obs in watching:
                    obs.step(result.steps, shown, terms)
    except _Diverged as err:
        diverged = err.args[0]
    except KeyboardInterrupt:
        result.interrupted = True
        _CellStop.requested = True
        tqdm.write(f"interrupted at step {result.steps}/{num_steps}: returning what it has so far", file=sys.stderr)
    finally:
        bar.close()
    result.image = picture().cpu().clone()
    result.seconds = time.perf_counter() - start
    for obs in watching:
        obs.finish(label, result)
    if diverged is not None:  # the observers have seen the run end; the snapshots so far stay in .result
        raise DivergedError(f"loss became {diverged} at step {result.steps + 1} {advice}", result)
    return result


class PlainProgress:
    """tqdm's bar when stderr is not a terminal (a pipe, a log, CI): a line at the start and about every 10 %
    (``label: 30/300 steps (10%), 12 s, ~108 s left, loss=…``), not one per redraw; the methods `run_steps` calls."""

    def __init__(self, total: int, desc: str, file=None, parts: int = 10):
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""
        self.file = file if file is not None else sys.stderr
        self.marks = sorted({max(1, math.ceil(total * i / parts)) for i in range(1, parts + 1)})
        self.start = time.perf_counter()
        print(f"{desc}: {total} steps", file=self.file, flush=True)

    def set_postfix(self, refresh: bool = False, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        before, self.n = self.n, self.n + n
        if any(before < mark <= self.n for mark in self.marks):
            elapsed = time.perf_counter() - self.start
            parts = [f"{self.n}/{self.total} steps ({100 * self.n // self.total}%)", f"{elapsed:.0f} s"]
            if self.n < self.total:
                parts.append(f"~{elapsed / self.n * (self.total - self.n):.0f} s left")
            print(f"{self.desc}: " + ", ".join(parts + ([self.postfix] if self.postfix else [])), file=self.file,
                  flush=True)

    def close(self) -> None:  # nothing to release: every line is written when it comes
        pass


def progress_bar(total: int, desc: str, *, disable: bool = False):
    """tqdm's bar on a terminal and in IPython/Jupyter, else `PlainProgress` lines; nothing when ``disable``."""
    if disable or sys.stderr is None:
        return tqdm(total=total, disable=True)
    if ipython_shell() is not None or getattr(sys.stderr, "isatty", lambda: False)():
        return tqdm(total=total, desc=desc, leave=False)
    return PlainProgress(total, desc)


def _lbfgs_actual_step(opt: torch.optim.LBFGS, variable: torch.Tensor, before: torch.Tensor) -> None:
    """Tell L-BFGS the step it really took, after clamping: it learns curvature from pairs (step ``t·d``, change of
    gradient), and a clamped step makes them lie (from ``init="style"`` the image blew up into noise)."""
    state = opt.state.get(variable) or {}
    if state.get("t"):
        with torch.no_grad():
            state["d"] = (variable.detach() - before).flatten().div_(state["t"])


class _Diverged(Exception):
    """A NaN or infinite loss (``args[0]``), caught by `run_steps`."""
