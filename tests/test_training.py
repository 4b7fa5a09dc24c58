"""stlib.training: the photo set, crops at several scales and colours, and the one training loop of the
networks and the decoders (Ctrl-C, checkpoints and resume)."""

from __future__ import annotations

import pytest
import torch
from test_fastnet import _tiny_train
from test_wct import _tiny_train as _tiny_decoders

from stlib import training, wct
from stlib.errors import StlibError


def test_photo_batch_crops_and_flips():
    photo = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(1, 3, 10, 7)[:, :, :5]
    g = torch.Generator().manual_seed(0)
    batch = training.photo_batch([photo], 16, 4, g)
    assert batch.shape == (16, 3, 4, 4)
    windows = {photo[..., t:t + 4, l:l + 4] for t in range(2) for l in range(4)}
    for crop in batch:
        assert any(torch.equal(crop, w[0]) or torch.equal(crop, w[0].flip(-1)) for w in windows)
    assert any(not any(torch.equal(crop, w[0]) for w in windows) for crop in batch)  # some are flipped


def _ctrl_c_at_batch(monkeypatch, n: int) -> None:
    """Ctrl-C while the ``n``-th batch of crops is drawn (after ``n - 1`` whole steps)."""
    calls = {"n": 0}
    real = training.photo_batch

    def interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "photo_batch", interrupt)


def test_ctrl_c_keeps_the_network_trained_so_far(monkeypatch):
    _ctrl_c_at_batch(monkeypatch, 3)
    trained = _tiny_train(settings=dict(steps=10))
    assert trained.result.interrupted and trained.result.steps == 2
    assert trained.result.weights  # the weights after two steps


def test_training_photos_are_colour_photos_and_never_the_held_out_ones():
    from stlib.images import data_dir, load_image

    assert len(list((data_dir() / "photos").glob("*.jpg"))) == 33
    assert len(training.TRAIN_PHOTOS) == 33 - 3 - 6 + 2
    assert not set(training.TRAIN_PHOTOS) & {*training.HELD_OUT, *training.HELD_OUT_PHOTOS, *training.NOT_PHOTOS}
    for name in training.TRAIN_PHOTOS:
        photo = load_image(name, max_size=64)[0]
        chroma = (photo - photo.mean(0)).abs().mean()  # 0 for a grey picture
        assert chroma > 0.02, name


def test_colour_jitter_turns_hue_and_scales_saturation_keeping_luma():
    torch.manual_seed(0)
    piece = 0.25 + 0.5 * torch.rand(1, 3, 4, 5)  # away from 0 and 1, so nothing is clamped below
    torch.testing.assert_close(training.jitter_colour(piece, 0.0, 1.0), piece)
    torch.testing.assert_close(training.jitter_colour(piece, 2 * torch.pi, 1.0), piece, atol=1e-5, rtol=0)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = training.jitter_colour(piece, 0.0, 0.0)
    torch.testing.assert_close(grey, (piece * luma).sum(1, keepdim=True).expand_as(piece), atol=1e-5, rtol=0)
    turned = training.jitter_colour(piece, 0.3, 1.0)  # a small turn: another colour, the same brightness
    assert not torch.allclose(turned, piece, atol=1e-3)
    torch.testing.assert_close((turned * luma).sum(1), (piece * luma).sum(1), atol=1e-5, rtol=0)


def test_photo_batch_zoom_scales_larger_pieces_down():
    photo = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 3, 40, 40).contiguous()  # a ramp left to right
    g = torch.Generator().manual_seed(0)
    batch = training.photo_batch([photo], 32, 8, g, zoom=3.0)
    assert batch.shape == (32, 3, 8, 8)
    spans = (batch[:, 0, 0, -1] - batch[:, 0, 0, 0]).abs()  # how much of the ramp each crop covers
    step = 1 / 39
    assert spans.min() >= 7 * step - 1e-5 and spans.max() > 12 * step  # 8 px and up to 24 px pieces


def test_a_checkpoint_continues_training_where_it_stopped(tmp_path, monkeypatch):
    whole = _tiny_train(settings=dict(steps=6))
    ckpt = tmp_path / "net.ckpt.pt"
    with monkeypatch.context() as interrupted:
        _ctrl_c_at_batch(interrupted, 4)
        stopped = _tiny_train(settings=dict(steps=6), checkpoint=ckpt)
    assert stopped.result.interrupted and stopped.result.steps == 3 and ckpt.is_file()
    resumed = _tiny_train(settings=dict(steps=6), checkpoint=ckpt)
    assert resumed.result.steps == 6 and not resumed.result.interrupted
    assert resumed.result.losses() == pytest.approx(whole.result.losses(), rel=1e-5)
    for a, b in zip(resumed.net.state_dict().values(), whole.net.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    longer = _tiny_train(settings=dict(steps=7), checkpoint=ckpt)  # a longer run continues a finished one
    assert longer.result.steps == 7 and len(longer.result.history) == 7
    with pytest.raises(StlibError, match="the checkpoint of another training"):
        _tiny_train(settings=dict(steps=6, lr=1e-3), checkpoint=ckpt)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StlibError, match="not a checkpoint stlib can read"):
        _tiny_train(checkpoint=tmp_path / "junk.pt")


def test_a_decoders_checkpoint_continues_where_it_stopped(tmp_path, monkeypatch):
    whole = _tiny_decoders(steps=5)
    ckpt = tmp_path / "dec.ckpt.pt"
    with monkeypatch.context() as interrupted:
        _ctrl_c_at_batch(interrupted, 3)
        stopped = _tiny_decoders(steps=5, checkpoint=ckpt)
    assert stopped.result.interrupted and stopped.result.steps == 2 and ckpt.is_file()
    resumed = _tiny_decoders(steps=5, checkpoint=ckpt)  # the learning rate's decay continues too
    assert resumed.result.steps == 5 and resumed.result.losses() == pytest.approx(whole.result.losses(), rel=1e-5)
    for a, b in zip(resumed.decoders.state_dict().values(), whole.decoders.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_settings_every_training_shares_are_checked_once():
    for settings in (wct.DecoderSettings, training.PhotoSettings):
        with pytest.raises(StlibError, match="zoom must be a number from 1 to 8"):
            settings(zoom=0.5)
        with pytest.raises(StlibError, match="jitter must be a number from 0 to 0.5"):
            settings(jitter=0.6)
    with pytest.raises(StlibError, match="crop must be a multiple of 8"):
        wct.DecoderSettings(crop=84)
    assert wct.DecoderSettings().lr_decay and not training.PhotoSettings().lr_decay
