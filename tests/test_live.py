"""The live view: what it shows while a run computes, how often, and what a cell ends with.

A fake display and a fake clock stand in for Jupyter; one test runs a real kernel (nbclient) to see
the output updated in place and settled into the finished picture.
"""

from __future__ import annotations

import re

import pytest
import torch

import stlib
from stlib import live, optim
from stlib.optim import Result


class FakeHandle:
    def __init__(self, shown: list):
        self.shown = shown

    def update(self, obj) -> None:
        self.shown.append(obj._repr_html_())


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def view():
    shown: list[str] = []

    def show(obj):
        shown.append(obj._repr_html_())
        return FakeHandle(shown)

    v = live.LiveView(show, clock=Clock())
    v.shown = shown
    return v


def _image(value: float = 0.5) -> torch.Tensor:
    return torch.full((1, 3, 8, 8), value)


def _result(steps: int, seconds: float, **kw) -> Result:
    return Result(image=_image(), history=[{"total": 10.0 / (i + 1)} for i in range(steps)], steps=steps,
                  seconds=seconds, **kw)


def _caption(markup: str) -> str:
    text = re.search(r'class="stlib-live-caption"[^>]*>(.*?)</div>', markup).group(1)
    return re.sub(r"<[^>]+>", "", text)


def test_first_picture_at_start_then_at_most_one_per_interval(view):
    view.start("block1", 100, _image())
    assert len(view.shown) == 1, "the initial image shows before the first step"
    for step in range(1, 21):  # 20 steps of 0.25 s: 5 s → 5 more pictures, not 20
        view.clock.now += 0.25
        view.step(step, _image(), {"total": 1.0 / step})
    assert len(view.shown) == 1 + 5
    assert "step 20/100" in _caption(view.shown[-1])


def test_caption_counts_runs_and_time_left(view):
    view.planned = 3
    view.start("a", 10, _image())
    view.clock.now += 2.0
    view.step(1, _image(), {"total": 5.0})  # 2 s per step → 18 s left for this run, 3 runs of 20 s → 58 s
    this, cell = view.seconds_left()
    assert this == pytest.approx(18.0) and cell == pytest.approx(18.0 + 2 * 20.0)
    caption = _caption(view.shown[-1])
    assert "run 1 of 3" in caption and "18 s left" in caption and "cell: 58 s" in caption and "loss 5" in caption
    view.finish("a", _result(10, 20.0))
    view.start("b", 10, _image())
    view.clock.now += 1.0
    view.step(1, _image(), {"total": 5.0})
    this, cell = view.seconds_left()  # the finished run's 20 s is the estimate for the one still to come
    assert this == pytest.approx(9.0) and cell == pytest.approx(9.0 + 20.0)
    assert "run 2 of 3" in _caption(view.shown[-1])


def test_finished_runs_stay_as_thumbnails_and_the_cell_settles(view):
    view.planned = 2
    for label in ("block1", "block2"):
        view.start(label, 4, _image())
        view.finish(label, _result(4, 3.0))
    final = view.shown[-1]
    assert final.count("<figure") == 2 and "block1" in final and "block2" in final
    assert _caption(final) == "block2 · 4 steps, 3 s · 2 runs done"
    assert "<polyline" in final  # the finished run's whole curve


def test_replay_from_cache_shows_finished_picture_at_once(view):
    view.finish("block3", _result(91, 30.0, cached=True))
    assert len(view.shown) == 1
    assert "replayed from the cache" in _caption(view.shown[0])
    assert view.seconds_left() == (None, None)


def test_interrupted_run_says_where_it_stopped(view):
    view.start("conv4_1", 91, _image())
    view.finish("conv4_1", _result(12, 4.0, interrupted=True))
    assert "interrupted at step 12" in _caption(view.shown[-1])


def test_loss_curve_scales_log_and_survives_odd_values():
    svg, point = live.loss_curve([100.0, 10.0, 1.0], 3)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    ys = [y for _, y in points]
    assert ys[0] < ys[1] < ys[2] and ys[1] - ys[0] == pytest.approx(ys[2] - ys[1])  # equal steps in log
    assert "(log)" in svg
    assert point(2) == points[1] and point(0) is None and point(4) is None  # the viewer's marker sits on the curve
    assert "(log)" not in live.loss_curve([1.0, -1.0], 2)[0]  # a negative value: linear axis
    assert "<polyline" in live.loss_curve([], 5)[0] and "<polyline" in live.loss_curve([float("nan")], 1)[0]
    assert live.loss_curve([None, 2.0], 2)[1](1) is None  # a gap (JSON's NaN) has no marker


def test_duration_reads_like_people_say_it():
    assert [live.duration(s) for s in (0.4, 7, 89, 138, 5399, 7200)] == ["0 s", "7 s", "89 s", "2.3 min",
                                                                          "90.0 min", "2.0 h"]


class Recorder:
    shows_progress = True

    def __init__(self):
        self.events = []

    def start(self, label, num_steps, image):
        self.events.append(("start", label, num_steps))

    def step(self, step, image, losses):
        self.events.append(("step", step))

    def finish(self, label, result):
        self.events.append(("finish", label, result.steps, result.cached))


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(optim, "observers", [rec])
    return rec


def test_optimize_tells_observers_start_steps_finish(recorder):
    stlib.optimize(_image(), lambda x: (x ** 2).mean(), num_steps=3, progress="demo")
    assert recorder.events == [("start", "demo", 3), ("step", 1), ("step", 2), ("step", 3),
                               ("finish", "demo", 3, False)]


def test_unlabelled_runs_are_not_watched(recorder):
    stlib.optimize(_image(), lambda x: (x ** 2).mean(), num_steps=2, progress=False)
    assert recorder.events == []


def test_a_replay_from_the_cache_is_announced(recorder, vgg):
    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    kw = dict(model=vgg, num_steps=2, cache=True, progress="conv1_1")
    stlib.reconstruct_content(target, "conv1_1", **kw)
    stlib.reconstruct_content(target, "conv1_1", **kw)
    assert recorder.events[-1] == ("finish", "conv1_1", 2, True)
    assert [e[0] for e in recorder.events].count("start") == 1


def test_diverged_run_still_finishes_its_view(recorder):
    with pytest.raises(stlib.DivergedError):
        stlib.optimize(_image(), lambda x: x.sum() * float("nan"), num_steps=3, progress="bad")
    assert recorder.events[0] == ("start", "bad", 3) and recorder.events[-1][0] == "finish"


def test_outside_a_kernel_nothing_is_installed():
    class Terminal:  # a terminal IPython: no kernel, no HTML
        events = None

    assert live.install(Terminal()) is False


@pytest.mark.slow
def test_in_a_kernel_the_output_updates_in_place_and_settles(tmp_path):
    """A real kernel (nbclient): one output for the cell's two runs, ending with both finished pictures."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import time, torch, stlib\nfrom stlib import live\n"
        "runs = {k: stlib.optimize(torch.rand(1, 3, 8, 8), lambda x: (x ** 2).mean(), num_steps=12, progress=k,\n"
        "                          callbacks=[lambda *a: time.sleep(0.15)]) for k in live.each(['first', 'second'])}\n"
        "print(f'first picture after {live.first_picture_seconds():.2f} s')")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    html_outputs = [o for o in outputs if o.output_type == "display_data"]
    assert len(html_outputs) == 1, "one live output per cell, updated in place"
    final = html_outputs[0]["data"]["text/html"]
    assert re.fullmatch(r"second · 12 steps, \d+ s · 2 runs done", _caption(final))
    assert final.count("<figure") == 2
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert float(re.search(r"first picture after ([\d.]+) s", printed).group(1)) < 2.0
