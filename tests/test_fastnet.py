"""stlib.fastnet: the image-transformation network, its training loop, its files."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from stlib import fastnet
from stlib.errors import DivergedError, StlibError
from stlib.fastnet import TrainSettings, TransformerNet, load_net, train_net
from stlib.losses import content_loss, gram_matrix, style_loss
from stlib.presets import get_preset
from stlib.transfer import style_targets

TINY = dict(steps=3, crop=32, photo_side=40, batch=2, width=4, blocks=1)


def _tiny_train(**kw):
    args = dict(TINY, **kw.pop("settings", {}))
    return train_net("ihc", photos=("coffee", "rocket"), held_out=("chelsea",), preview_height=32,
                     progress=False, **args, **kw)


@pytest.mark.parametrize("h, w, skip", [(32, 32, True), (30, 45, True), (17, 64, False)])
def test_net_keeps_the_size(h, w, skip):
    net = TransformerNet(width=4, blocks=1, skip=skip)
    assert net(torch.rand(2, 3, h, w)).shape == (2, 3, h, w)


def test_net_parameter_count_by_hand():
    # width 2, one block: 9×9 3→1, 3×3 1→4, 3×3 4→8, a block of two 3×3 8→8, 3×3 8→4, 3×3 4→1, 9×9 1→3
    # (full resolution has width // 2 channels); every conv has a bias, every instance norm a scale and a
    # shift per channel (all but the last conv)
    convs = [(3, 1, 9), (1, 4, 3), (4, 8, 3), (8, 8, 3), (8, 8, 3), (8, 4, 3), (4, 1, 3), (1, 3, 9)]
    expected = sum(cin * cout * k * k + cout for cin, cout, k in convs) + sum(2 * cout for _, cout, _ in convs[:-1])
    assert sum(p.numel() for p in TransformerNet(width=2, blocks=1, skip=False).parameters()) == expected
    # the skip path: one more instance norm, a scale and a shift per colour
    assert sum(p.numel() for p in TransformerNet(width=2, blocks=1).parameters()) == expected + 6


def test_upsample_conv_is_nearest_upsampling_reflection_padding_and_a_convolution():
    torch.manual_seed(0)
    layer = fastnet.UpsampleConv(5, 7)
    x = torch.rand(2, 5, 9, 6, requires_grad=True)
    naive = layer.conv(torch.nn.ReflectionPad2d(1)(torch.nn.Upsample(scale_factor=2, mode="nearest")(x)))
    fast = layer(x)
    assert fast.shape == (2, 7, 18, 12)
    torch.testing.assert_close(fast, naive, rtol=1e-5, atol=1e-5)
    grad = torch.rand_like(naive)  # and it trains the same weights the same way
    for a, b in zip(torch.autograd.grad((naive * grad).sum(), [layer.conv.weight, layer.conv.bias, x]),
                    torch.autograd.grad((fast * grad).sum(), [layer.conv.weight, layer.conv.bias, x]), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_channels_last_conv_is_a_convolution():
    torch.manual_seed(0)
    fast = fastnet.ChannelsLastConv2d(3, 4, 9, 2)
    plain = torch.nn.Conv2d(3, 4, 9, 2)
    plain.load_state_dict(fast.state_dict())
    x = torch.rand(2, 3, 30, 41, requires_grad=True)
    out = fast(x)
    assert out.is_contiguous()
    torch.testing.assert_close(out, plain(x), rtol=1e-5, atol=1e-5)
    (gx_fast,) = torch.autograd.grad(out.sum(), [x])
    (gx_plain,) = torch.autograd.grad(plain(x).sum(), [x])
    torch.testing.assert_close(gx_fast, gx_plain, rtol=1e-4, atol=1e-4)


def test_instance_norm_is_pytorchs_instance_norm():
    torch.manual_seed(0)
    ours, reference = fastnet._norm("instance", 6), torch.nn.InstanceNorm2d(6, affine=True)
    for p, q in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.nn.init.normal_(p)
        q.data.copy_(p.data)
    x = 3 * torch.rand(2, 6, 11, 13) + 1
    torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)


def test_untrained_net_with_skip_returns_the_photo_normalised():
    x = torch.rand(1, 3, 20, 24)
    mean, std = x.mean(dim=(-2, -1), keepdim=True), x.var(dim=(-2, -1), keepdim=True, unbiased=False).sqrt()
    with torch.no_grad():
        out = TransformerNet(width=4, blocks=1)(x)
    torch.testing.assert_close(out, fastnet.PHOTO_STD * (x - mean) / std + fastnet.PHOTO_MEAN, rtol=1e-3, atol=1e-3)


def test_instance_norm_ignores_brightness_and_contrast_batch_norm_does_not():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    inorm = TransformerNet(width=4, blocks=1, norm="instance").eval()
    for p in inorm.body[-1].parameters():  # trained, the body's output is not zero
        torch.nn.init.normal_(p, std=0.1)
    bnorm = TransformerNet(width=4, blocks=1, norm="batch").eval()
    def change(net, y):  # largest pixel change, relative to the spread of the output
        with torch.no_grad():
            out = net(x)
            return float((net(y) - out).abs().max() / out.std())

    assert change(inorm, 0.5 * x + 0.2) < 1e-3  # conv(a·x + b) = a·conv(x) + c per channel: normalised away
    assert change(bnorm, 0.5 * x + 0.2) > 0.05
    assert change(inorm, 1 - x) > 0.05  # a < 0 flips the features' signs, and the ReLU sees that


def test_bad_norm_and_settings_are_one_line_errors():
    with pytest.raises(StlibError, match="unknown normalisation 'layer'"):
        TransformerNet(norm="layer")
    with pytest.raises(StlibError, match="crop 300 is larger than photo_side 256"):
        TrainSettings(crop=300)
    with pytest.raises(StlibError, match="steps must be a whole number"):
        TrainSettings(steps=0)
    with pytest.raises(StlibError, match="style_weight must be a number"):
        TrainSettings(style_weight=float("nan"))



def test_perceptual_loss_is_stylize_objective_on_a_batch(vgg_random):
    preset = get_preset("lessons")
    settings = TrainSettings(style_weight=1e-3, tv_weight=0.5)
    photos, out, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32)
    grams = style_targets(vgg_random, style, list(preset.style_weights))
    terms = fastnet.perceptual_loss(vgg_random, out, photos, grams, settings)
    c = content_loss(vgg_random(out, ["conv4_2"])["conv4_2"], vgg_random(photos, ["conv4_2"])["conv4_2"])
    feats = vgg_random(out, list(preset.style_weights))
    per_image = [style_loss({l: f[i:i + 1] for l, f in feats.items()}, grams, preset.style_weights) for i in range(2)]
    tv = ((out[..., 1:, :] - out[..., :-1, :]) ** 2).sum() + ((out[..., 1:] - out[..., :-1]) ** 2).sum()
    expected = c + 1e-3 * (per_image[0] + per_image[1]) / 2 + 0.5 * tv / out.numel()
    assert torch.allclose(terms.total, expected, rtol=1e-4)
    assert gram_matrix(feats["conv1_1"]).shape == (2, 64, 64)


@pytest.fixture(scope="module")
def vgg_random():
    from stlib.models import vgg19

    return vgg19("random", seed=0)


def test_training_changes_the_network_keeps_snapshots_and_replays_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STLIB_CACHE_DIR", str(tmp_path))
    first = _tiny_train(snapshot_at=[0, 3], cache=True)
    assert first.result.steps == 3 and len(first.result.history) == 3 and not first.result.cached
    assert sorted(first.result.snapshots) == [0, 3]
    assert first.result.snapshots[0].shape == first.result.image.shape
    assert not torch.equal(first.result.snapshots[0], first.result.snapshots[3])
    untrained = TransformerNet(width=4, blocks=1)
    assert any(not torch.equal(a, b) for a, b in zip(first.net.state_dict().values(),
                                                      untrained.state_dict().values(), strict=True))
    again = _tiny_train(snapshot_at=[0, 3], cache=True)
    assert again.result.cached
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(again.net(x), first.net(x))




def test_nan_loss_stops_with_a_clear_message_and_untouched_weights(monkeypatch):
    real = fastnet.perceptual_loss

    def nan_loss(*args):
        terms = real(*args)
        terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(fastnet, "perceptual_loss", nan_loss)
    with pytest.raises(DivergedError, match=r"loss became nan at step 1 \(lr=0.002\): lower the learning rate"):
        _tiny_train()


def test_save_and_load_round_trip(tmp_path):
    trained = _tiny_train()
    path = trained.save(tmp_path / "net.pt")
    loaded = load_net(path)
    assert loaded.settings == trained.settings and loaded.style == "ihc"
    assert torch.equal(loaded("chelsea", 40), trained("chelsea", 40))
    assert loaded("chelsea", 40).shape == (1, 3, 27, 40)  # 300×451 photo, longest side 40
    with pytest.raises(StlibError, match="already exists"):
        trained.save(path, overwrite=False)


def test_bad_network_files_are_one_line_errors(tmp_path):
    with pytest.raises(StlibError, match="no network file .*missing.pt: give a shipped network .* or train one with"):
        load_net(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(StlibError, match="is not a network file stlib can read"):
        load_net(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(2)}, foreign)
    with pytest.raises(StlibError, match="is not a stlib network"):
        load_net(foreign)
    trained = _tiny_train(settings=dict(steps=1))
    path = trained.save(tmp_path / "net.pt")
    data = torch.load(path, weights_only=True)
    data["config"]["width"] = 8  # the weights are for width 4
    torch.save(data, path)
    with pytest.raises(StlibError, match="does not match stlib's network .*train it again"):
        load_net(path)


# -- the command line: train-net, then stylize --net ----------------------------------------------------
def test_cli_trains_a_network_and_paints_with_it(tmp_path, capsys, cli_error):
    from PIL import Image

    from stlib.__main__ import main

    net = tmp_path / "net.pt"
    assert main(["train-net", "ihc", "-o", str(net), "--steps", "2", "--crop", "32", "--photo-side", "40",
                 "--batch", "1", "--width", "4", "--blocks", "1", "--photos", "coffee"]) == 0
    assert "done: 2 steps" in capsys.readouterr().out
    assert load_net(net).settings.crop == 32
    out = tmp_path / "cat.png"
    assert main(["stylize", "chelsea", "--net", str(net), "-o", str(out), "--max-size", "60"]) == 0
    assert "with " in capsys.readouterr().out
    assert Image.open(out).size == (60, 40)  # chelsea is 451×300: longest side 60, aspect kept
    assert main(["train-net", "ihc", "-o", str(net), "--steps", "1"]) == 2
    assert "already exists" in cli_error()


@pytest.mark.parametrize("args, fragment", [
    (["stylize", "chelsea", "--net", "{tmp}/none.pt", "-o", "{tmp}/o.png"], "no network file"),
    (["stylize", "chelsea", "ihc", "--net", "{tmp}/none.pt", "-o", "{tmp}/o.png"], "STYLE cannot apply"),
    (["stylize", "chelsea", "--net", "{tmp}/foreign.pt", "-o", "{tmp}/o.png"], "is not a stlib network"),
    (["train-net", "ihc", "-o", "{tmp}/net.png"], "saved as a .pt file"),
    (["train-net", "ihc", "-o", "{tmp}/n.pt", "--crop", "30"], "crop must be a multiple of 4"),
    (["train-net", "ihc", "-o", "{tmp}/n.pt", "--crop", "512", "--photo-side", "256"], "larger than --photo-side 256"),
    (["train-net", "nosuchimage", "-o", "{tmp}/n.pt", "--steps", "1"], "nosuchimage"),
])
def test_cli_network_errors_are_one_line(tmp_path, args, fragment, cli_error):
    from stlib.__main__ import main

    torch.save({"weight": torch.zeros(1)}, tmp_path / "foreign.pt")
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    assert fragment in cli_error()


def test_the_live_view_watches_training_with_the_held_out_photos(monkeypatch):
    from stlib import optim

    seen = []

    class Observer:
        shows_progress = True

        def start(self, label, num_steps, image):
            seen.append(("start", label, num_steps, tuple(image.shape)))

        def step(self, step, image, losses):
            seen.append(("step", step, tuple(image.shape), sorted(losses)))

        def finish(self, label, result):
            seen.append(("finish", label, result.steps))

    monkeypatch.setattr(optim, "observers", [Observer()])
    trained = train_net("ihc", photos=("coffee",), held_out=("chelsea", "astronaut"), preview_height=32,
                        progress="training", **TINY)
    shape = tuple(trained.result.image.shape)
    assert shape == (1, 3, 32, 48 + 32)  # the cat (451×300) and the astronaut (square), side by side
    assert seen[0] == ("start", "training", 3, shape)
    assert [s[:3] for s in seen[1:4]] == [("step", i, shape) for i in (1, 2, 3)]
    assert seen[1][3] == ["content", "step", "style", "time", "total", "tv"]
    assert seen[-1] == ("finish", "training", 3)


def test_network_benchmark_counts_the_multiplications_by_hand():
    import runpy
    from pathlib import Path

    bench = runpy.run_path(str(Path(__file__).resolve().parent.parent / "benchmarks" / "bench_net.py"))
    # width 4, one block, a 16 px photo: full resolution 16², then 8² and 4² after the stride-2 convolutions
    layers = [(16 * 16, 3, 2, 9), (8 * 8, 2, 8, 3), (4 * 4, 8, 16, 3), (4 * 4, 16, 16, 3), (4 * 4, 16, 16, 3),
              (8 * 8, 16, 8, 3), (16 * 16, 8, 2, 3), (16 * 16, 2, 3, 9)]
    expected = sum(pixels * cin * cout * k * k for pixels, cin, cout, k in layers)
    assert bench["multiplications"](TransformerNet(width=4, blocks=1), 16) == expected






def test_a_shipped_network_is_loaded_by_its_style_name(tmp_path, monkeypatch):
    monkeypatch.setattr(fastnet, "NETWORK_DIR", tmp_path)
    _tiny_train().save(tmp_path / "starry_night.pt")
    assert load_net("starry_night").style == "ihc"
    with pytest.raises(StlibError, match="give a shipped network"):
        load_net("the_scream")


def test_separable_blocks_and_the_outer_kernel():
    net = TransformerNet(width=2, blocks=1, kernel=5, separable=True, skip=False)
    # 5×5 3→1, 3×3 1→4, 3×3 4→8, a block of two (depthwise 3×3 on 8 + 1×1 8→8), 3×3 8→4, 3×3 4→1, 5×5 1→3
    convs = [(3, 1, 5), (1, 4, 3), (4, 8, 3), (8, 4, 3), (4, 1, 3), (1, 3, 5)]
    separable = 2 * (8 * 9 + 8 + 8 * 8 + 8)
    norms = 2 * (1 + 4 + 8 + 8 + 8 + 4 + 1)
    expected = sum(cin * cout * k * k + cout for cin, cout, k in convs) + separable + norms
    assert sum(p.numel() for p in net.parameters()) == expected
    assert net(torch.rand(1, 3, 21, 30)).shape == (1, 3, 21, 30)
    with pytest.raises(StlibError, match="kernel must be an odd number"):
        TransformerNet(kernel=4)


def test_cli_recipe_and_flags_make_the_settings(tmp_path, capsys, monkeypatch):
    from stlib.__main__ import main

    seen = {}

    def fake_train(style, settings, **kw):
        seen.update(settings=settings, checkpoint=kw["checkpoint"])
        return _tiny_train()

    monkeypatch.setattr(fastnet, "train_net", fake_train)
    assert main(["train-net", "ihc", "-o", str(tmp_path / "n.pt"), "--recipe", "shipped", "--steps", "5",
                 "--no-separable"]) == 0
    assert seen["settings"] == replace(fastnet.SHIPPED, steps=5, separable=False)
    assert seen["checkpoint"] == tmp_path / "n.ckpt.pt"


@pytest.mark.parametrize("style", fastnet.SHIPPED_STYLES)
def test_each_shipped_network_is_there_trained_with_the_recipe_and_small(style, tmp_path):
    from stlib.lab import export_onnx

    shipped = load_net(style)
    assert shipped.style == style
    assert replace(shipped.settings, steps=1) == replace(fastnet.SHIPPED, steps=1)
    assert shipped.settings.steps >= 2000
    photo = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        painted = shipped.net(photo)
        untrained = TransformerNet(**fastnet.net_config(fastnet.SHIPPED)).eval()(photo)
    assert (painted - untrained).abs().mean() > 0.02  # trained: it no longer returns the photo as it was
    assert export_onnx(shipped, tmp_path / f"{style}.onnx").stat().st_size <= 2**20  # ≤ 1 MB per style
