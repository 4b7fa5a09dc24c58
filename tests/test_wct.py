"""stlib.wct: covariance, the whitening–colouring transform, AdaIN, the decoders, their training and files."""

from __future__ import annotations

import pytest
import torch

from stlib import wct
from stlib.errors import StlibError
from stlib.losses import gram_matrix

# tiny training: two photos, 16 px crops, 3 steps, two levels (the CPU is shared)
TINY = dict(steps=3, crop=16, photo_side=24, batch=2, levels=("relu2_1", "relu1_1"))


def _tiny_train(**kw):
    return wct.train_decoders(photos=("coffee", "rocket"), held_out=("chelsea",), preview_height=16, progress=False,
                              **{**TINY, **kw})


def _features(channels, positions, seed, shift=0.0):
    gen = torch.Generator().manual_seed(seed)  # correlated channels with a mean: a full-rank, non-diagonal covariance
    mix = torch.randn(channels, channels, generator=gen, dtype=torch.float64)
    return (mix @ torch.randn(channels, positions, generator=gen, dtype=torch.float64) + shift).reshape(
        1, channels, positions // 10, 10)


def test_covariance_is_the_gram_matrix_of_centred_features_by_hand():
    f = torch.tensor([[1.0, 2, 3, 6], [2, 0, 2, 0]]).reshape(1, 2, 2, 2)
    mean, cov = wct.covariance(f)
    torch.testing.assert_close(mean, torch.tensor([[3.0], [1.0]], dtype=torch.float64))
    # centred: [-2, -1, 0, 3] and [1, -1, 1, -1]; ÷ 4 positions
    torch.testing.assert_close(cov, torch.tensor([[14 / 4, -4 / 4], [-4 / 4, 4 / 4]], dtype=torch.float64))
    centred = (f[0].flatten(1) - f[0].flatten(1).mean(1, keepdim=True)).double()
    torch.testing.assert_close(cov, gram_matrix(centred, normalize="hw"))


def test_after_wct_the_covariance_and_mean_are_the_styles():
    content, style = _features(16, 400, 0), _features(16, 300, 1, shift=2.0)
    out = wct.wct(content, style)
    assert out.shape == content.shape
    (m_out, c_out), (m_style, c_style) = wct.covariance(out), wct.covariance(style)
    assert float((c_out - c_style).norm() / c_style.norm()) < 1e-4
    assert float((m_out - m_style).norm() / m_style.norm()) < 1e-4
    assert float((c_out - wct.covariance(content)[1]).norm() / c_style.norm()) > 0.5  # it did change


def test_float32_features_get_float64_statistics_in_parts():
    """VGG19's features are float32: the covariance is still summed in float64 (in parts of `POSITIONS`, more than
    one here), so the small variances whitening divides by are exact (summed in float32: 40 % off here); the one
    float32 multiply costs the result a few float32 roundings times the whitening's condition number."""
    gen = torch.Generator().manual_seed(7)
    scales = torch.tensor([[3.0], [1.0], [0.1], [0.03]], dtype=torch.float64)  # variances 9 … 1e-3: ill-conditioned
    flat = scales * torch.randn(4, wct.POSITIONS + 292, generator=gen, dtype=torch.float64) + 2  # a mean, as ReLUs have
    content = flat.reshape(1, 4, -1, 20).float()
    style = _features(4, 500, 8, shift=1.0)
    mean, cov = wct.covariance(content)
    exact = content[0].flatten(1).double()
    torch.testing.assert_close(cov, torch.cov(exact, correction=0), rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(mean, exact.mean(1, keepdim=True), rtol=1e-12, atol=1e-12)
    reference = wct.wct(content.double(), style)  # all in float64
    out = wct.wct(content, style.float())
    assert out.dtype == torch.float32
    assert float((out.double() - reference).norm() / reference.norm()) < 1e-5


def test_wct_strength_blends_linearly_and_zero_is_the_content():
    content, style = _features(8, 200, 2).float(), _features(8, 100, 3).float()
    torch.testing.assert_close(wct.wct(content, style, 0.0), content)
    half = wct.wct(content, style, 0.5)
    torch.testing.assert_close(half, 0.5 * content + 0.5 * wct.wct(content, style), rtol=1e-5, atol=1e-5)


def test_adain_matches_mean_and_std_per_channel():
    content, style = _features(8, 200, 4), _features(8, 100, 5, shift=-1.0)
    out = wct.adain(content, style, eps=0.0)
    torch.testing.assert_close(out.mean((2, 3)), style.mean((2, 3)))
    torch.testing.assert_close(out.std((2, 3), correction=0), style.std((2, 3), correction=0))


def test_adain_is_wct_with_diagonal_covariances():
    # channels built from orthogonal zero-mean vectors are exactly uncorrelated: both covariances are diagonal
    gen = torch.Generator().manual_seed(6)
    noise = torch.randn(500, 4, generator=gen, dtype=torch.float64)
    basis = torch.linalg.qr(noise - noise.mean(0)).Q.T  # (4, 500), orthonormal rows, each with mean 0
    content = (torch.tensor([[1.0], [2], [3], [4]], dtype=torch.float64) * basis).reshape(1, 4, 50, 10)
    scales = torch.tensor([[5.0], [1], [2], [0.5]], dtype=torch.float64)
    style = (scales * basis[[1, 0, 3, 2]] + 3).reshape(1, 4, 50, 10)
    torch.testing.assert_close(wct.wct(content, style), wct.adain(content, style, eps=0.0))


@pytest.mark.parametrize("content, style, strength", [
    (torch.rand(1, 8, 4, 4), torch.rand(1, 6, 4, 4), 1.0),  # different layers
    (torch.rand(8, 4, 4), torch.rand(1, 8, 4, 4), 1.0),  # no batch dimension
    (torch.rand(2, 8, 4, 4), torch.rand(2, 8, 4, 4), 1.0),  # a batch
    (torch.rand(1, 8, 4, 4), torch.rand(1, 8, 4, 4), 1.5),  # strength past 1
])
def test_bad_features_or_strength_are_one_line_errors(content, style, strength):
    for transform in (wct.wct, wct.adain):
        with pytest.raises(StlibError) as err:
            transform(content, style, strength)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("level, channels, side", [("relu1_1", 64, 16), ("relu2_1", 128, 8), ("relu3_1", 256, 4),
                                                   ("relu4_1", 512, 2)])
def test_decoder_mirrors_the_encoder(level, channels, side, vgg):
    decoder = wct.Decoder(level, shrink=4)
    image = torch.rand(2, 3, 16, 16)
    feats = vgg(image, [level])[level]
    assert feats.shape == (2, channels, side, side)
    assert decoder(feats).shape == image.shape
    assert decoder[0][-2 if level != "relu1_1" else 1].in_channels == channels


def test_decoder_parameters_by_hand():
    # relu2_1, shrink 2: conv 128→32, (up) conv 32→32, conv 32→3, each 3×3 with a bias
    convs = [(128, 32), (32, 32), (32, 3)]
    assert sum(p.numel() for p in wct.Decoder("relu2_1").parameters()) == sum(9 * a * b + b for a, b in convs)
    with pytest.raises(StlibError, match="unknown level"):
        wct.Decoder("relu5_1")


def test_training_runs_through_the_runner_and_the_cache(tmp_path):
    first = _tiny_train(cache=True, snapshot_at=[0, 3])
    assert first.result.steps == 3 and not first.result.cached
    assert set(first.result.history[0]) >= {"total", "relu2_1", "relu1_1"}
    assert first.result.image.shape == (1, 3, 32, 24)  # the held-out photo decoded from each level, one row each
    again = _tiny_train(cache=True, snapshot_at=[0, 3])
    assert again.result.cached
    for key, value in first.decoders.state_dict().items():
        torch.testing.assert_close(again.decoders.state_dict()[key], value)
    path = first.save(tmp_path / "dec.pt")
    loaded = wct.load_decoders(path)
    assert loaded.settings == first.settings
    torch.load(path, weights_only=True)  # nothing but tensors and plain values
    image = wct.stylize_wct("chelsea", "starry_night", loaded, max_size=37, strength=0.5)
    assert image.shape[-1] == 37 and 0 <= float(image.min()) and float(image.max()) <= 1


def test_loss_goes_down():
    trained = _tiny_train(steps=25, lr=3e-3, levels=("relu1_1",))
    losses = trained.result.losses()
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])


def test_missing_or_foreign_decoder_files_say_how_to_make_them(tmp_path):
    with pytest.raises(StlibError, match="train-decoders") as err:
        wct.load_decoders(tmp_path / "none.pt")
    assert "\n" not in str(err.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something else"}, foreign)
    with pytest.raises(StlibError, match="not a stlib decoder file"):
        wct.load_decoders(foreign)


def test_stylize_refuses_levels_it_has_no_decoder_for():
    decoders = wct.Decoders(("relu1_1",), shrink=8)
    with pytest.raises(StlibError, match="no decoder for relu3_1"):
        wct.stylize_wct("chelsea", "starry_night", decoders, levels=["relu3_1"], max_size=32)
    with pytest.raises(StlibError, match="unknown method"):
        wct.stylize_wct("chelsea", "starry_night", decoders, method="gram", max_size=32)
    for scale in (0, -1.0, float("nan"), float("inf")):  # refused before VGG19 or the style is loaded
        with pytest.raises(StlibError, match="style_scale must be a finite number > 0"):
            wct.stylize_wct("chelsea", "starry_night", decoders, style_scale=scale, max_size=32)


@pytest.mark.parametrize("bad", [dict(crop=12), dict(steps=0), dict(lr=-1.0), dict(levels=("conv4_2",))])
def test_bad_settings_are_one_line_errors(bad):
    with pytest.raises(StlibError):
        wct.DecoderSettings(**bad)


def _untrained(path, shrink: int = 8):
    """Untrained one-level decoders saved at ``path`` (the file and where it is are what matter)."""
    from stlib.optim import Result

    settings = wct.DecoderSettings(levels=("relu1_1",), shrink=shrink)
    trained = wct.TrainedDecoders(wct.Decoders(settings.levels, shrink), settings,
                                  Result(image=torch.zeros(1, 3, 4, 4)))
    return trained.save(path)


def test_user_decoders_have_a_folder_of_their_own_and_the_shipped_ones_are_the_default(tmp_path, monkeypatch):
    from stlib import cache

    monkeypatch.setenv("STLIB_CACHE_DIR", str(tmp_path / "cache"))
    assert cache.cache_dir() not in wct.default_path().parents and wct.default_path() != wct.SHIPPED_PATH
    monkeypatch.setattr(wct, "SHIPPED_PATH", tmp_path / "shipped.pt")
    _untrained(wct.SHIPPED_PATH, shrink=4)
    assert wct.load_decoders().settings.shrink == 4
