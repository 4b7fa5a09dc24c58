"""The optimisation loop: exact steps, snapshots, budgets, stopping, Ctrl-C, divergence.

Images are (1, 3, 2, 2) and losses are closed-form quadratics, so each step can be
computed by hand and the whole file runs in about a second on a shared 2-core CPU.
"""

from __future__ import annotations

import pytest
import torch

import stlib
from stlib import DivergedError, Result, StlibError
from stlib.losses import total_loss
from stlib.optim import check_steps, make_optimizer

ONES = torch.ones(1, 3, 2, 2)


def run(image, loss_fn, **kwargs):
    kwargs.setdefault("progress", False)
    return stlib.optimize(image, loss_fn, **kwargs)


def test_one_sgd_step_by_hand():
    # loss = (Σ x)², Σ over 12 ones = 12 → grad 2·12 = 24 everywhere; x ← 1 − 0.01·24 = 0.76
    result = run(ONES, lambda im: im.sum() ** 2, optimizer="sgd", lr=0.01, num_steps=1, clamp=False)
    torch.testing.assert_close(result.image, torch.full((1, 3, 2, 2), 0.76))
    assert result.steps == 1
    assert result.history[0]["total"] == pytest.approx(144.0)  # the loss evaluated before the step
    assert result.history[0]["step"] == 1


def test_clamp_keeps_pixels_in_unit_range():
    # lr 0.1 → 1 − 2.4 = −1.4 without clamping, 0 with it
    loss = lambda im: im.sum() ** 2  # noqa: E731
    free = run(ONES, loss, optimizer="sgd", lr=0.1, num_steps=1, clamp=False)
    torch.testing.assert_close(free.image, torch.full((1, 3, 2, 2), -1.4))
    clamped = run(ONES, loss, optimizer="sgd", lr=0.1, num_steps=1)
    assert torch.equal(clamped.image, torch.zeros(1, 3, 2, 2))


def test_input_image_is_not_modified():
    image = torch.full((1, 3, 2, 2), 0.5)
    result = run(image, lambda im: (im**2).sum(), optimizer="sgd", lr=0.1, num_steps=2)
    assert torch.equal(image, torch.full((1, 3, 2, 2), 0.5))
    assert not torch.equal(result.image, image)
    assert not result.image.requires_grad and result.image.device.type == "cpu"


def quadratic(target):
    return lambda im: ((im - target) ** 2).sum()


def test_snapshots_exactly_at_chosen_epochs():
    # SGD on Σ(x − t)² with lr 0.1: x_k − t = 0.8^k (x_0 − t), so epoch e is known exactly
    x0 = torch.full((1, 3, 2, 2), 0.9)
    t = torch.full((1, 3, 2, 2), 0.1)
    result = run(x0, quadratic(t), optimizer="sgd", lr=0.1, num_steps=6, snapshot_at=[5, 0, 2, 2])
    assert sorted(result.snapshots) == [0, 2, 5]
    assert torch.equal(result.snapshots[0], x0)
    for e in (2, 5):
        torch.testing.assert_close(result.snapshots[e], t + 0.8**e * (x0 - t))
    torch.testing.assert_close(result.image, t + 0.8**6 * (x0 - t))
    assert len(result.history) == 6


def test_snapshot_at_final_epoch_equals_result_image():
    result = run(torch.rand(1, 3, 2, 2), quadratic(0.5), optimizer="adam", num_steps=4, snapshot_at=[4])
    assert list(result.snapshots) == [4]
    assert torch.equal(result.snapshots[4], result.image)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs"])
def test_one_loss_evaluation_per_step(optimizer):
    calls = []

    def loss(im):
        calls.append(1)
        return ((im - 0.3) ** 2).sum() + (im**4).sum()

    result = run(torch.rand(1, 3, 2, 2, generator=torch.Generator().manual_seed(0)), loss,
                 optimizer=optimizer, num_steps=7)
    assert len(calls) == 7
    assert result.steps == 7
    assert len(result.history) == 7
    assert [row["step"] for row in result.history] == list(range(1, 8))
    assert result.losses() == [row["total"] for row in result.history]
    assert result.history[-1]["total"] < result.history[0]["total"]
    assert not result.interrupted and result.seconds > 0


def test_lbfgs_converges_on_quadratic():
    target = torch.full((1, 3, 2, 2), 0.25)
    result = run(torch.full((1, 3, 2, 2), 0.75), quadratic(target), optimizer="lbfgs", num_steps=5)
    torch.testing.assert_close(result.image, target, atol=1e-4, rtol=0)


def test_history_keeps_loss_terms():
    def loss(im):
        return total_loss(im.sum(), (im**2).sum(), 0.0, content_weight=2.0, style_weight=1.0)

    result = run(ONES, loss, optimizer="sgd", lr=0.01, num_steps=2, clamp=False)
    first = result.history[0]
    assert first["content"] == pytest.approx(12.0)
    assert first["style"] == pytest.approx(12.0)
    assert first["total"] == pytest.approx(36.0)
    assert first["tv"] == 0.0
    assert result.losses("style")[0] == pytest.approx(12.0)
    assert {"time", "step"} <= set(first)


def test_callback_arguments_and_early_stop():
    seen = []

    def callback(step, image, losses):
        seen.append((step, image.shape, losses["total"]))
        return step >= 3

    result = run(ONES, quadratic(0.0), optimizer="sgd", num_steps=10, callbacks=[callback], snapshot_at=[0, 3, 5])
    assert result.steps == 3
    assert len(result.history) == 3
    assert [s for s, _, _ in seen] == [1, 2, 3]
    assert seen[0][1] == (1, 3, 2, 2)
    assert seen[0][2] == pytest.approx(12.0)
    assert sorted(result.snapshots) == [0, 3]  # epoch 5 never happened
    assert not result.interrupted


def test_keyboard_interrupt_in_loss_returns_partial_result():
    calls = []

    def loss(im):
        calls.append(1)
        if len(calls) == 4:  # Ctrl-C during step 4
            raise KeyboardInterrupt
        return quadratic(0.2)(im)

    result = run(ONES, loss, optimizer="sgd", lr=0.1, num_steps=10, snapshot_at=[0, 2, 3, 4, 8])
    assert result.interrupted
    assert result.steps == 3
    assert len(result.history) == 3
    assert sorted(result.snapshots) == [0, 2, 3]
    torch.testing.assert_close(result.image, result.snapshots[3])
    torch.testing.assert_close(result.image, 0.2 + 0.8**3 * (ONES - 0.2))


def test_keyboard_interrupt_in_callback():
    def callback(step, image, losses):
        if step == 2:
            raise KeyboardInterrupt

    result = run(ONES, quadratic(0.0), optimizer="adam", num_steps=6, snapshot_at=[1, 2, 3], callbacks=[callback])
    assert result.interrupted
    assert result.steps == 2
    assert sorted(result.snapshots) == [1, 2]


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_diverged_loss_raises_with_partial_result(bad, one_line):
    calls = []

    def loss(im):
        calls.append(1)
        value = quadratic(0.0)(im)
        return value * bad if len(calls) == 3 else value

    with pytest.raises(DivergedError) as err:
        run(ONES, loss, optimizer="sgd", lr=0.1, num_steps=5, snapshot_at=[0, 1, 2, 4])
    message = one_line(err.value)
    assert "step 3" in message and "learning rate" in message
    assert isinstance(err.value, StlibError)
    partial = err.value.result
    assert isinstance(partial, Result)
    assert partial.steps == 2
    assert sorted(partial.snapshots) == [0, 1, 2]
    torch.testing.assert_close(partial.image, partial.snapshots[2])


def test_sgd_with_huge_learning_rate_diverges(one_line):
    # x ← x − lr·2x = (1 − 2·10¹⁰) x: the float32 loss overflows to inf within three steps
    with pytest.raises(DivergedError) as err:
        run(ONES, lambda im: (im**2).sum(), optimizer="sgd", lr=1e10, num_steps=20, clamp=False, snapshot_at=[0, 1])
    assert "lr=" in one_line(err.value)
    assert sorted(err.value.result.snapshots) == [0, 1]
    assert 1 <= err.value.result.steps < 20


@pytest.mark.parametrize("steps", [0, -3, 2.5, True, "10"])
def test_bad_num_steps(steps, one_line):
    with pytest.raises(StlibError) as err:
        run(ONES, quadratic(0.0), num_steps=steps)
    assert "num_steps" in one_line(err.value)


def test_bad_snapshot_epochs(one_line):
    with pytest.raises(StlibError) as err:
        run(ONES, quadratic(0.0), num_steps=5, snapshot_at=[0, 6])
    assert "6" in one_line(err.value) and "num_steps=5" in str(err.value)
    with pytest.raises(StlibError):
        check_steps(5, [-1])
    with pytest.raises(StlibError):
        check_steps(5, [1.5])
    assert check_steps(5, [5, 0, 5, 2]) == [0, 2, 5]


def test_unknown_optimizer_and_bad_lr(one_line):
    with pytest.raises(StlibError) as err:
        run(ONES, quadratic(0.0), num_steps=1, optimizer="rmsprop")
    assert "rmsprop" in one_line(err.value)
    for lr in (0, -0.1, float("nan"), float("inf")):
        with pytest.raises(StlibError):
            make_optimizer("adam", [torch.zeros(1, requires_grad=True)], lr)
    assert isinstance(make_optimizer("LBFGS", [torch.zeros(1, requires_grad=True)]), torch.optim.LBFGS)


def test_loss_must_be_scalar(one_line):
    with pytest.raises(StlibError) as err:
        run(ONES, lambda im: im * 2, num_steps=1)
    assert "scalar" in one_line(err.value)


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="tests the CPU-only fallback")
def test_pick_device_on_cpu_only_machine(one_line):
    assert stlib.pick_device() == torch.device("cpu")
    assert stlib.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(StlibError) as err:
        stlib.pick_device("cuda")
    assert "cuda" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        stlib.pick_device("mps")
    assert "mps" in one_line(err.value)


def test_pick_device_unknown_name(one_line):
    with pytest.raises(StlibError) as err:
        stlib.pick_device("gpu0")
    assert "gpu0" in one_line(err.value)


class _FakeShell:
    """Just enough of IPython's shell: an event registry with pre_run_cell."""

    def __init__(self):
        from IPython.core.events import EventManager, available_events

        self.events = EventManager(self, available_events)


def test_one_interrupt_stops_the_rest_of_a_notebook_cell(monkeypatch, capsys):
    from stlib.optim import _CellStop

    monkeypatch.setattr(_CellStop, "armed", False)
    monkeypatch.setattr(_CellStop, "requested", False)
    shell = _FakeShell()
    _CellStop.install(shell)
    _CellStop.install(shell)  # installing twice must not register twice
    assert shell.events.callbacks["pre_run_cell"].count(_CellStop.new_cell) == 1

    def interrupted_loss(im):
        raise KeyboardInterrupt

    calls = []

    def counting_loss(im):
        calls.append(1)
        return quadratic(0.0)(im)

    # one cell: {block: reconstruct(block) for block in blocks}, the student presses ■ during the first run
    first = run(ONES, interrupted_loss, optimizer="sgd", num_steps=5, snapshot_at=[0, 5])
    rest = [run(ONES, counting_loss, optimizer="sgd", num_steps=5, snapshot_at=[0, 5]) for _ in range(2)]
    assert first.interrupted and all(r.interrupted and r.steps == 0 for r in rest)
    assert calls == [] and all(sorted(r.snapshots) == [0] for r in rest)
    assert "a run before it in this cell was interrupted" in capsys.readouterr().err  # stdout stays for --json

    shell.events.trigger("pre_run_cell", None)  # the next cell runs normally
    again = run(ONES, counting_loss, optimizer="sgd", num_steps=5, snapshot_at=[0, 5])
    assert not again.interrupted and again.steps == 5 and len(calls) == 5


def test_outside_ipython_an_interrupt_stops_only_its_run(monkeypatch):
    from stlib.optim import _CellStop

    monkeypatch.setattr(_CellStop, "armed", False)
    monkeypatch.setattr(_CellStop, "requested", False)

    def interrupted_loss(im):
        raise KeyboardInterrupt

    assert run(ONES, interrupted_loss, optimizer="sgd", num_steps=5).interrupted
    assert not run(ONES, quadratic(0.0), optimizer="sgd", num_steps=5).interrupted


# ------------------------------------------------------------------ progress when stderr is not a terminal


class _Stream:
    """A stand-in for stderr: a pipe/log (``tty=False``) or a terminal (``tty=True``)."""

    def __init__(self, tty: bool):
        self.tty, self.parts = tty, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _quadratic(image: torch.Tensor) -> torch.Tensor:
    return ((image - 0.25) ** 2).sum()


def test_progress_in_a_log_is_a_line_about_every_ten_percent(monkeypatch):
    import sys

    stream = _Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    stlib.optimize(torch.zeros(1, 3, 2, 2), _quadratic, num_steps=300, optimizer="sgd", lr=0.01, progress="demo")
    lines = stream.text.splitlines()
    assert "\r" not in stream.text
    assert lines[0] == "demo: 300 steps"
    assert len(lines) == 11, lines  # the start, then 10 %, 20 %, … 100 %
    assert lines[1].startswith("demo: 30/300 steps (10%)") and "left" in lines[1] and "loss=" in lines[1]
    assert lines[-1].startswith("demo: 300/300 steps (100%)") and "left" not in lines[-1]


def test_progress_in_a_log_for_few_steps(monkeypatch):
    import sys

    stream = _Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    stlib.optimize(torch.zeros(1, 3, 2, 2), _quadratic, num_steps=3, optimizer="sgd", progress="few")
    assert stream.text.splitlines() == [line for line in stream.text.splitlines() if line.startswith("few: ")]
    assert len(stream.text.splitlines()) == 4  # start + each of the 3 steps (each is ≥ 10 %)


def test_progress_on_a_terminal_is_tqdms_bar(monkeypatch):
    import sys

    stream = _Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    bar = stlib.optim.progress_bar(300, "demo")
    assert not isinstance(bar, stlib.optim.PlainProgress)
    bar.close()
    assert isinstance(stlib.optim.progress_bar(300, "demo", disable=True), type(bar))


def test_no_progress_writes_nothing(monkeypatch):
    import sys

    stream = _Stream(tty=False)
    monkeypatch.setattr(sys, "stderr", stream)
    stlib.optimize(torch.zeros(1, 3, 2, 2), _quadratic, num_steps=30, optimizer="sgd", progress=False)
    assert stream.text == ""
