"""Live pictures while a run computes: the current image, its loss curve, "run i of n" and the time left.

In a notebook kernel every labelled run reports to `optim.observers`. Each cell gets one output **updated in place**
(an IPython display handle, not a widget) at most once a second, so it works alike in JupyterLab, Notebook 7, VS Code,
nbconvert and nbval, and the saved notebook keeps every run's picture. ``for layer in live.each(layers): …`` tells
the view how many runs the cell will make.
"""

from __future__ import annotations

import base64
import html
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from . import optim
from .errors import ipython_shell
from .images import DISPLAY_PX, png_bytes
from .optim import Result

INTERVAL_S = 1.0  # seconds between two pictures of a running run (a render takes ~9 ms at 256 px: <1 %)
THUMB_PX = 96  # finished runs, in the strip under the current one
CURVE_W, CURVE_H = 300, 150


def _data_uri(image: torch.Tensor, width: int) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, width)).decode("ascii")


def duration(seconds: float) -> str:
    """``7 s``, ``2.3 min``, ``1.1 h``: a time left, as people say it."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _tick(v: float) -> str:  # 3 significant digits: 0.5, 1.3e+08 → 1.3e8
    return f"{v:.3g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def loss_curve(values: list[float | None], num_steps: int, height: int = CURVE_H, label: str = "loss"):
    """The loss per step as an inline SVG (log scale when every value is positive) and ``point(step)``: where the
    curve is at ``step`` (None where it has no finite value), for the snapshot viewer's marker."""
    pts = [(i + 1, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    log = bool(pts) and all(v > 0 for _, v in pts)
    ys = [math.log10(v) if log else v for _, v in pts]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo, hi)
    left, right, top, bottom = 46, CURVE_W - 8, 10, height - 24

    def xy(step: int, y: float) -> tuple[float, float]:
        return (round(left + (right - left) * (step - 1) / max(1, num_steps - 1), 1),
                round(bottom - (bottom - top) * (y - lo) / (hi - lo), 1))

    decades = [float(e) for e in range(math.ceil(lo), math.floor(hi) + 1)] if log else []
    ticks = decades if len(decades) >= 2 else sorted({lo, *decades, hi})  # the ends too, so the scale reads
    text = '<text x="{}" y="{}" text-anchor="{}">{}</text>'.format
    grid = "".join(f'<line x1="{left}" x2="{right}" y1="{y}" y2="{y}" stroke="#ddd"/>{text(left - 4, y + 3, "end", v)}'
                   for v, y in ((_tick(10**t if log else t), xy(1, t)[1]) for t in ticks))
    line = " ".join("{},{}".format(*xy(s, y)) for (s, _), y in zip(pts, ys, strict=True))
    svg = (f'<svg width="{CURVE_W}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
           'style="font:10px sans-serif;background:#fff">'
           f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" stroke="#999"/>'
           f'{grid}<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>'
           f'{text(left, bottom + 14, "start", 1)}{text(right, bottom + 14, "end", num_steps)}'
           f'{text((left + right) / 2, bottom + 14, "middle", f"step · {label}" + " (log)" * log)}</svg>')

    def point(step: int) -> tuple[float, float] | None:
        v = values[step - 1] if 1 <= step <= len(values) else None
        ok = v is not None and math.isfinite(v) and (v > 0 or not log)
        return xy(step, math.log10(v) if log else v) if ok else None

    return svg, point


@dataclass
class _Finished:
    label: str
    thumb: str  # data URI
    note: str  # "91 steps, 34 s" / "from the cache" / "interrupted at step 12"
    seconds: float
    computed: bool


@dataclass
class LiveView:
    """One cell's live output: ``show`` is IPython's ``display(obj, display_id=True)``; tests pass fakes and a clock."""

    show: Callable[[object], object]  # first display → a handle with .update(obj)
    clock: Callable[[], float] = time.perf_counter
    interval: float = INTERVAL_S
    planned: int | None = None  # runs this cell will make (live.each), if known
    finished: list[_Finished] = field(default_factory=list)
    first_picture_at: float | None = None  # clock() of the first picture
    _handle: object = None
    _run: dict | None = None  # the run in progress
    _last: dict | None = None  # the run that finished last

    shows_progress = True

    def start(self, label: str, num_steps: int, image: torch.Tensor) -> None:
        now = self.clock()
        self._run = dict(label=label, num_steps=num_steps, start=now, step=0, losses=[], image=image, last=now)
        self._render()

    def step(self, step: int, image: torch.Tensor, losses: dict) -> None:
        if (run := self._run) is None:
            return
        run["step"], run["image"] = step, image
        run["losses"].append(float(losses.get("total", float("nan"))))
        now = self.clock()
        if now - run["last"] >= self.interval:
            run["last"] = now
            self._render()

    def finish(self, label: str, result: Result) -> None:
        run, self._run = self._run, None
        if result.cached:
            note = "replayed from the cache"
        elif result.interrupted:
            note = (f"interrupted at step {result.steps}" if result.steps
                    else "skipped (a run before it was interrupted)")
        else:
            note = f"{result.steps} steps, {duration(result.seconds)}"
        self.finished.append(_Finished(label, _data_uri(result.image, THUMB_PX), note, result.seconds,
                                       computed=not result.cached and run is not None))
        self._last = dict(label=label, image=result.image, losses=result.losses(), num_steps=max(1, result.steps),
                          note=note)
        self._render()

    def seconds_left(self) -> tuple[float | None, float | None]:
        """(this run, the whole cell) in seconds, or None where unknown."""
        if (run := self._run) is None or run["step"] == 0:
            return None, None
        elapsed = self.clock() - run["start"]
        this = elapsed / run["step"] * (run["num_steps"] - run["step"])
        if self.planned is None:
            return this, None
        later = self.planned - len(self.finished) - 1
        computed = [f.seconds for f in self.finished if f.computed]
        per_run = sum(computed) / len(computed) if computed else elapsed + this
        return this, this + max(0, later) * per_run

    def caption(self) -> str:
        n = len(self.finished) + (self._run is not None)
        of = f" of {self.planned}" if self.planned else ""
        if (run := self._run) is not None:
            this, cell = self.seconds_left()
            parts = [f"<b>{html.escape(run['label'])}</b>", f"run {n}{of}", f"step {run['step']}/{run['num_steps']}"]
            if run["losses"]:
                parts.append(f"loss {run['losses'][-1]:.4g}")
            if this is not None:
                parts.append(f"{duration(this)} left" + (f" (cell: {duration(cell)})" if cell is not None else ""))
            return " · ".join(parts)
        last = self._last
        done = f"run {n}{of} done" if self.planned and n < self.planned else f"{n} run{'s' * (n != 1)} done"
        return f"<b>{html.escape(last['label'])}</b> · {last['note']} · {done}"

    def html(self) -> str:
        shown = self._run if self._run is not None else self._last
        strip = "".join(
            f'<figure style="margin:0 6px 0 0;text-align:center">'
            f'<img src="{f.thumb}" width="{THUMB_PX}" style="image-rendering:pixelated"/>'
            f'<figcaption style="font-size:10px">{html.escape(f.label)}<br>{f.note}</figcaption></figure>'
            for f in self.finished)
        return (
            '<div class="stlib-live" style="font:12px sans-serif">'
            f'<div class="stlib-live-caption" style="margin-bottom:4px">{self.caption()}</div>'
            '<div style="display:flex;gap:12px;align-items:flex-start">'
            f'<img class="stlib-live-image" src="{_data_uri(shown["image"], DISPLAY_PX)}" width="{DISPLAY_PX}" '
            'style="image-rendering:pixelated"/>'
            f'{loss_curve(shown["losses"], shown["num_steps"])[0]}</div>'
            f'<div style="display:flex;flex-wrap:wrap;margin-top:6px">{strip}</div></div>'
        )

    def _render(self) -> None:
        bundle = _Html(self.html())
        if self._handle is None:
            self._handle = self.show(bundle)
        else:
            self._handle.update(bundle)
        if self.first_picture_at is None:
            self.first_picture_at = self.clock()


@dataclass(repr=False)
class _Html:
    """A display object with an HTML and a plain-text form (nbval and terminals read the text)."""

    markup: str

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:  # the text/plain form: short, so nothing in it makes a stored output noisy
        return "<stlib live view>"


class _Hub:
    """The observer in `optim.observers`: one `LiveView` per notebook cell, made at the cell's first run."""

    shows_progress = True

    def __init__(self, show: Callable[[object], object]):
        self.show, self.last_cell = show, None
        self.first_cell: tuple[float, LiveView] | None = None  # (its start, its view): the kernel's first run
        self.new_cell()  # the cell's view, its planned runs, when it started

    def new_cell(self, *_info) -> None:
        self.view, self.planned, self.cell_started = None, None, time.perf_counter()

    def _current(self) -> LiveView:
        if self.view is None:
            self.view = self.last_cell = LiveView(self.show, planned=self.planned)
            if self.first_cell is None:
                self.first_cell = (self.cell_started, self.view)
        self.view.planned = self.planned
        return self.view

    def start(self, label, num_steps, image) -> None:
        self._current().start(label, num_steps, image)

    def step(self, step, image, losses) -> None:
        if self.view is not None:
            self.view.step(step, image, losses)

    def finish(self, label, result) -> None:
        self._current().finish(label, result)


_hub: _Hub | None = None


def each(items: Iterable) -> Iterator:
    """``for layer in live.each(layers):`` — the items, telling the live view how many runs to expect."""
    items = list(items)
    if _hub is not None:  # runs already finished in this cell count too
        _hub.planned = len(items) + (len(_hub.view.finished) if _hub.view is not None else 0)
        if _hub.view is not None:
            _hub.view.planned = _hub.planned
    yield from items


def first_picture_seconds(cell: str = "last") -> float | None:
    """Seconds from the start of the ``"last"`` (or ``"first"``) cell that ran something in this kernel to its
    first live picture; None when there is none. `stlib.lessons.precompute` reports the first cell's."""
    started, view = ((0.0, None) if _hub is None else (_hub.cell_started, _hub.last_cell) if cell == "last"
                     else _hub.first_cell or (0.0, None))
    return None if view is None or view.first_picture_at is None else view.first_picture_at - started


def install(shell=None) -> bool:
    """Show live views in this notebook kernel (before its first run: `optim.first_run_hooks`); False outside one."""
    global _hub
    shell = shell if shell is not None else ipython_shell()
    if shell is None or not hasattr(shell, "kernel"):  # a terminal IPython has no HTML to show
        return False
    if _hub is None:
        from IPython.display import display

        _hub = _Hub(lambda obj: display(obj, display_id=True))
        shell.events.register("pre_run_cell", _hub.new_cell)
        optim.observers.append(_hub)
    return True
