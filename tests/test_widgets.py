"""SnapshotViewer and ImagePicker in a kernel-free process (the browser test drives them in JupyterLab)."""

import io

import pytest
import torch
from PIL import Image

import stlib
from stlib import widgets
from stlib.optim import Result


def _run(shade: float, steps: int = 4) -> Result:
    """A fake finished run: snapshot at epoch e is a flat grey of ``shade * e / steps``."""
    snaps = {e: torch.full((1, 3, 8, 8), shade * e / steps) for e in (0, 2, 4)}
    history = [{"total": 100.0 / (i + 1), "content": 1.0, "style": 1.0, "tv": 0.0} for i in range(steps)]
    return Result(image=snaps[4], snapshots=snaps, history=history, steps=steps)


def _pixel(png: bytes) -> tuple:
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))


def test_viewer_shows_the_stored_snapshot_for_epoch_and_run():
    viewer = widgets.SnapshotViewer({"a": _run(1.0), "b": _run(0.5)})
    assert viewer.slider.value == 0 and viewer.selector.value == "a"
    assert _pixel(viewer.image.value) == (0, 0, 0)  # epoch 0 of run a: black
    viewer.slider.value = 4
    assert _pixel(viewer.image.value) == (255, 255, 255)
    assert "epoch 4" in viewer.caption.value and "loss 25" in viewer.caption.value  # history[3]["total"]
    viewer.selector.value = "b"
    assert _pixel(viewer.image.value) == (127, 127, 127)  # 0.5 × 255, truncated
    assert viewer.image.value == widgets.png_bytes(_run(0.5).snapshots[4])


def test_viewer_marks_the_current_epoch_on_the_curve():
    viewer = widgets.SnapshotViewer({"a": _run(1.0)})
    curves = {}
    for epoch in (0, 2, 4):
        viewer.slider.value = epoch
        curves[epoch] = viewer.curve.value
    assert len(set(curves.values())) == 3  # a different marker position per epoch
    assert Image.open(io.BytesIO(curves[2])).size == Image.open(io.BytesIO(curves[4])).size


def test_play_is_linked_to_the_slider_and_spans_every_epoch():
    viewer = widgets.SnapshotViewer({"a": _run(1.0)}, epochs=[0, 2, 4])
    assert (viewer.play.min, viewer.play.max) == (0, 2)  # one Play tick per stored epoch
    assert [value for _, value in viewer.slider.options] == [0, 2, 4]


def test_viewer_says_when_a_run_was_interrupted():
    run = _run(1.0)
    run.interrupted, run.steps = True, 2
    del run.snapshots[4]
    with pytest.raises(stlib.StlibError, match="run 'a' was interrupted at step 2, before epoch 4; run its cell again"):
        widgets.SnapshotViewer({"a": run}, epochs=[0, 2, 4])


def test_viewer_refuses_an_epoch_without_snapshot():
    with pytest.raises(stlib.StlibError, match="no snapshot at epoch 3"):
        widgets.SnapshotViewer({"a": _run(1.0)}, epochs=[0, 3])
    with pytest.raises(stlib.StlibError, match="at least one finished run"):
        widgets.SnapshotViewer({})


def test_picker_upload_good_bad_and_too_large(monkeypatch):
    picker = widgets.ImagePicker("content", "chelsea")
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (255, 0, 0)).save(buf, format="PNG")
    picker._on_upload({"new": [{"name": "red.png", "content": buf.getvalue()}]})
    assert picker.label == "red.png" and "red.png" in picker.message.value
    assert torch.allclose(picker.image(16)[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))

    picker._on_upload({"new": [{"name": "notes.txt", "content": b"hello"}]})
    assert "notes.txt: not an image file" in picker.message.value
    assert picker.label == "red.png"  # the last good choice is kept, and the message says so
    assert picker.message.value.endswith("(still using uploaded <b>red.png</b>)")

    monkeypatch.setattr(widgets, "MAX_UPLOAD_BYTES", len(buf.getvalue()) - 1)
    picker._on_upload({"new": [{"name": "big.png", "content": buf.getvalue()}]})
    assert "too large" in picker.message.value

    picker.dropdown.value = "coffee"  # picking a sample drops the upload
    assert picker.label == "coffee" and picker.message.value == ""
    picker._on_upload({"new": [{"name": "notes.txt", "content": b"hello"}]})
    assert picker.label == "coffee" and picker.message.value.endswith("(still using <b>coffee</b>)")
