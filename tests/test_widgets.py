"""SnapshotViewer and ImagePicker in a kernel-free process (the browser test drives them in JupyterLab)."""

import io

import pytest
import torch
from PIL import Image

import stlib
from stlib import live, widgets
from stlib.optim import Result


def _run(shade: float, steps: int = 4) -> Result:
    """A fake finished run: snapshot at epoch e is a flat grey of ``shade * e / steps``."""
    snaps = {e: torch.full((1, 3, 8, 8), shade * e / steps) for e in (0, 2, 4)}
    history = [{"total": 100.0 / (i + 1), "content": 1.0, "style": 1.0, "tv": 0.0} for i in range(steps)]
    return Result(image=snaps[4], snapshots=snaps, history=history, steps=steps)


def _pixel(data: bytes) -> tuple:
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((0, 0))


def _close(a: tuple, b: tuple, tol: int = 3) -> bool:  # JPEG: within a few levels of the stored value
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_viewer_sends_every_frame_once_in_run_and_epoch_order():
    viewer = widgets.SnapshotViewer({"b": _run(0.5), "a": _run(1.0)}, epochs=[0, 2, 4], label="block")
    assert viewer.runs == ["b", "a"]  # the caller's order, not sorted
    assert viewer.epochs == [0, 2, 4] and viewer.titles == ["initial", "epoch 2", "epoch 4"]
    assert viewer.label == "block" and viewer.run == "b" and viewer.index == 0
    assert {run: len(urls) for run, urls in viewer.frames.items()} == {"b": 3, "a": 3}
    for run, shade in (("a", 1.0), ("b", 0.5)):
        for epoch in (0, 2, 4):
            url = viewer.frames[run][viewer.epochs.index(epoch)]
            assert url.startswith("data:image/jpeg;base64,")
            assert _close(_pixel(viewer.frame(run, epoch)), (round(255 * shade * epoch / 4),) * 3)
    # snapshots are sent as they are when small (the browser scales them up with sharp pixels)
    assert Image.open(io.BytesIO(viewer.frame("a", 4))).size == (8, 8)


def test_viewer_frames_are_display_size_and_compact():
    photo = stlib.load_image("chelsea", 512)  # 512 px wide: scaled down to the display size
    big = Result(image=photo, snapshots={0: photo}, history=[], steps=0)
    frame = widgets.SnapshotViewer({"x": big}).frame("x", 0)
    width, height = Image.open(io.BytesIO(frame)).size
    assert width == stlib.images.DISPLAY_PX and abs(height / width - photo.shape[2] / photo.shape[3]) < 0.01
    png = stlib.images.png_bytes(photo)  # what the viewer sent before, at the same size
    assert len(frame) < len(png) / 3, (len(frame), len(png))


def test_viewer_state_follows_run_and_index_with_captions():
    viewer = widgets.SnapshotViewer({"a": _run(1.0), "b": _run(0.5)})
    assert viewer.caption() == "a — initial"  # epoch 0 has no loss yet
    viewer.epoch = 4
    assert viewer.index == 2 and _close(_pixel(viewer.frame()), (255, 255, 255))
    assert viewer.caption() == "a — epoch 4, loss 25"  # history[3]["total"]
    viewer.run = "b"
    assert _close(_pixel(viewer.frame()), (128, 128, 128))
    assert viewer.caption() == "b — epoch 4, loss 25" and viewer.caption("a", 2) == "a — epoch 2, loss 50"
    assert viewer.captions["b"] == ["initial", "epoch 2, loss 50", "epoch 4, loss 25"]


def test_viewer_sends_the_loss_curve_data_and_the_target():
    run = _run(1.0)
    run.history[1]["total"] = float("nan")  # JSON has no NaN: a gap in the curve
    viewer = widgets.SnapshotViewer({"a": run}, target=torch.zeros(1, 3, 8, 8))
    assert viewer.curves["a"] == live.loss_curve(run.losses(), 4, 215, "total loss")[0]  # the live view's curve
    assert viewer.marks["a"][0] is None and viewer.marks["a"][1] is None and viewer.marks["a"][2] is not None
    assert viewer.target.startswith("data:image/jpeg;base64,") and viewer.target_title == "target"
    assert widgets.SnapshotViewer({"a": _run(1.0)}).target == ""


def test_play_speed_and_the_module_shipped_with_stlib():
    viewer = widgets.SnapshotViewer({"a": _run(1.0)})
    assert viewer.fps >= 10  # Play at 10 frames per second or more
    assert "export default" in viewer._esm and "stlib-viewer" in viewer._css
    state = viewer.get_state()  # what a notebook's saved widget state (and the static site) holds
    assert state["_esm"] == viewer._esm and state["frames"] == viewer.frames


def test_viewer_refuses_a_run_or_index_it_does_not_have():
    viewer = widgets.SnapshotViewer({"a": _run(1.0)})
    with pytest.raises(stlib.StlibError, match="no run 'zz'; the viewer has a"):
        viewer.run = "zz"
    with pytest.raises(stlib.StlibError, match="index 3 is outside 0…2"):
        viewer.index = 3
    with pytest.raises(stlib.StlibError, match="epoch 3 is not among"):
        viewer.epoch = 3
    with pytest.raises(stlib.StlibError, match="no frame for run 'zz'"):
        viewer.frame("zz", 0)


def test_viewer_says_when_a_run_was_interrupted():
    run = _run(1.0)
    run.interrupted, run.steps = True, 2
    del run.snapshots[4]
    with pytest.raises(stlib.StlibError, match="run 'a' was interrupted at step 2, before epoch 4; run its cell again"):
        widgets.SnapshotViewer({"a": run}, epochs=[0, 2, 4])


def test_viewer_refuses_bad_input():
    with pytest.raises(stlib.StlibError, match="no snapshot at epoch 3"):
        widgets.SnapshotViewer({"a": _run(1.0)}, epochs=[0, 3])
    with pytest.raises(stlib.StlibError, match="at least one finished run"):
        widgets.SnapshotViewer({})
    with pytest.raises(stlib.StlibError, match="at least one finished run"):
        widgets.SnapshotViewer([_run(1.0)])
    with pytest.raises(stlib.StlibError, match="run 'a' is not a finished run"):
        widgets.SnapshotViewer({"a": torch.zeros(1, 3, 8, 8)})
    with pytest.raises(stlib.StlibError, match="no epochs to show"):
        widgets.SnapshotViewer({"a": _run(1.0)}, epochs=[])


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
