"""Variants beyond the lecture: colour preservation, blended styles, style scale,
coarse-to-fine, layer choices and style-loss conventions.

Images are 16–32 px and runs are 1–2 steps: these tests check plumbing and
identities (which channels are kept, which losses agree), not pictures, and the
CPU is two slow cores shared with other jobs. conv5_1 needs 16 px, so a 32 px
coarse-to-fine run still has a valid 16 px first scale.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from skimage.color import rgb2yuv

import stlib
from stlib import StlibError, losses
from stlib.images import to_numpy
from stlib.models import resolve_layer
from stlib.variants import LAYER_CHOICES, preserve_color

SIZE = 32


def _pale(seed: int, low: float, high: float, size: int = 24) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(1, 3, size, size, generator=gen)


def test_luminance_keeps_content_colour_and_image_luminance():
    # pale colours around mid-grey: Y of one plus U, V of the other stays inside the RGB cube,
    # so no pixel is clipped and the identity holds to float32 precision
    content, image = _pale(0, 0.4, 0.6), _pale(1, 0.3, 0.7)
    out = preserve_color(image, content, method="luminance")
    assert out.shape == image.shape and out.dtype == torch.float32
    yuv_out, yuv_content, yuv_image = (rgb2yuv(to_numpy(t)) for t in (out, content, image))
    np.testing.assert_allclose(yuv_out[..., 1:], yuv_content[..., 1:], atol=1e-5)
    np.testing.assert_allclose(yuv_out[..., 0], yuv_image[..., 0], atol=1e-5)


def test_luminance_output_stays_in_range_for_saturated_colours():
    content = stlib.load_image("coffee", SIZE)
    image = stlib.load_image("hubble_deep_field", SIZE)
    out = preserve_color(image, content, method="luminance")
    assert 0.0 <= out.min().item() and out.max().item() <= 1.0


def test_histogram_matching_brings_channel_means_to_the_content():
    content = stlib.load_image("chelsea", SIZE)
    image = stlib.load_image("hubble_deep_field", SIZE)  # dark, bluish: far from the cat's colours
    before = (image.mean(dim=(0, 2, 3)) - content.mean(dim=(0, 2, 3))).abs().max().item()
    out = preserve_color(image, content, method="histogram")
    after = (out.mean(dim=(0, 2, 3)) - content.mean(dim=(0, 2, 3))).abs().max().item()
    assert before > 0.1
    assert after < 0.01


def test_preserve_color_bad_inputs(one_line):
    image = _pale(0, 0.2, 0.8)
    with pytest.raises(StlibError) as err:
        preserve_color(image, image, method="hue")
    assert "hue" in one_line(err.value)
    with pytest.raises(StlibError) as err:
        preserve_color(image, _pale(0, 0.2, 0.8, size=16), method="luminance")
    assert "same size" in one_line(err.value)


def test_stylize_rejects_unknown_colour_method_before_running(one_line):
    # no model is passed: the check must fire before anything expensive is built
    with pytest.raises(StlibError) as err:
        stlib.stylize("chelsea", "gravel", size=16, num_steps=1, preserve_color="lab", progress=False)
    assert "lab" in one_line(err.value)


def test_stylize_preserve_color_is_applied_to_image_and_snapshots(vgg):
    kwargs = dict(size=SIZE, num_steps=1, optimizer="adam", model=vgg, snapshot_at=[0, 1], progress=False)
    plain = stlib.stylize("chelsea", "hubble_deep_field", **kwargs)
    kept = stlib.stylize("chelsea", "hubble_deep_field", preserve_color="luminance", **kwargs)
    content = stlib.load_image("chelsea", SIZE)
    torch.testing.assert_close(kept.image, preserve_color(plain.image, content, method="luminance"))
    torch.testing.assert_close(kept.snapshots[1], kept.image)
    assert kept.history[0]["total"] == pytest.approx(plain.history[0]["total"], rel=1e-6)  # losses untouched


def test_blend_of_two_identical_styles_is_that_style(vgg):
    kwargs = dict(size=16, num_steps=1, optimizer="adam", model=vgg, progress=False)
    one = stlib.stylize("chelsea", "gravel", **kwargs)
    two = stlib.stylize("chelsea", ["gravel", "gravel"], style_blend=(0.5, 0.5), **kwargs)
    assert two.history[0]["style"] == pytest.approx(one.history[0]["style"], rel=1e-5)
    assert two.history[0]["total"] == pytest.approx(one.history[0]["total"], rel=1e-5)


def test_blend_weights_are_normalised_and_select_a_style(vgg):
    # blend (3, 0) is "only the first style": the weights are divided by their sum
    kwargs = dict(size=16, num_steps=1, optimizer="adam", model=vgg, progress=False)
    only = stlib.stylize("chelsea", "brick", **kwargs)
    picked = stlib.stylize("chelsea", ["brick", "gravel"], style_blend=(3.0, 0.0), **kwargs)
    assert picked.history[0]["style"] == pytest.approx(only.history[0]["style"], rel=1e-5)


@pytest.mark.parametrize("blend", [(1.0,), (0.5, 0.3, 0.2), (0.0, 0.0), (1.0, -0.5)])
def test_style_blend_must_match_the_styles(blend, one_line):
    with pytest.raises(StlibError) as err:
        stlib.stylize("chelsea", ["gravel", "brick"], style_blend=blend, size=16, num_steps=1, progress=False)
    assert "style_blend" in one_line(err.value)


@pytest.mark.parametrize("scale", [0, -1.0, 0.0])
def test_style_scale_must_be_positive(scale, one_line):
    with pytest.raises(StlibError) as err:
        stlib.stylize("chelsea", "gravel", style_scale=scale, size=16, num_steps=1, progress=False)
    assert "style_scale" in one_line(err.value)


def test_style_scale_changes_the_style_targets(vgg):
    kwargs = dict(size=16, num_steps=1, optimizer="adam", model=vgg, progress=False)
    base = stlib.stylize("chelsea", "gravel", **kwargs)
    bigger = stlib.stylize("chelsea", "gravel", style_scale=2.0, **kwargs)
    assert bigger.image.shape == base.image.shape  # the image keeps the content's size
    assert bigger.history[0]["style"] != pytest.approx(base.history[0]["style"], rel=1e-3)


def test_coarse_to_fine_runs_every_scale(vgg):
    result = stlib.transfer.stylize_coarse_to_fine("chelsea", "gravel", size=SIZE, scales=(0.5, 1.0), num_steps=(2, 2),
                                          optimizer="adam", model=vgg, progress=False)
    assert result.image.shape == (1, 3, SIZE, SIZE)
    assert [row["scale"] for row in result.history] == [0.5, 0.5, 1.0, 1.0]
    times = [row["time"] for row in result.history]
    assert all(b >= a for a, b in itertools.pairwise(times))
    assert result.seconds >= times[-1] > 0


def test_coarse_to_fine_needs_one_step_count_per_scale(one_line):
    with pytest.raises(StlibError) as err:
        stlib.transfer.stylize_coarse_to_fine("chelsea", "gravel", size=SIZE, scales=(0.5, 1.0), num_steps=(2, 2, 2))
    assert "scale" in one_line(err.value)


def test_layer_choices_name_real_layers():
    assert {"paper", "udacity", "pytorch_tutorial"} <= set(LAYER_CHOICES)
    for choice in LAYER_CHOICES.values():
        assert set(choice) == {"content", "style"}
        for name in (*choice["content"], *choice["style"]):
            assert resolve_layer(name) == name
    # the paper's Caffe "conv4_2" blob is rectified in place: it is relu4_2 here
    assert LAYER_CHOICES["paper"]["content"] == ("relu4_2",)


@pytest.mark.parametrize("old, new", list(itertools.permutations(losses.STYLE_CONVENTIONS, 2)))
def test_style_weight_factor_converts_between_conventions(old, new):
    # float64 so the ratios (spanning ~10 orders of magnitude) are checked tightly
    gen = torch.Generator().manual_seed(0)
    features = torch.rand(1, 8, 5, 6, generator=gen, dtype=torch.float64)
    target = losses.gram_matrix(torch.rand(1, 8, 5, 6, generator=gen, dtype=torch.float64), normalize="chw")
    n, m = 8, 5 * 6
    ratio = losses.style_weight_factor(new, n, m) / losses.style_weight_factor(old, n, m)
    e_old = losses.style_layer_loss(features, target, convention=old)
    e_new = losses.style_layer_loss(features, target, convention=new)
    torch.testing.assert_close(e_old * ratio, e_new, rtol=1e-12, atol=0)


def test_paper_convention_is_the_papers_formula():
    gen = torch.Generator().manual_seed(1)
    features = torch.rand(1, 4, 3, 5, generator=gen, dtype=torch.float64)
    other = torch.rand(1, 4, 3, 5, generator=gen, dtype=torch.float64)
    n, m = 4, 15
    g, a = (losses.gram_matrix(f, normalize="none") for f in (features, other))
    naive = ((g - a) ** 2).sum() / (4 * n**2 * m**2)
    got = losses.style_layer_loss(features, losses.gram_matrix(other, normalize="chw"), convention="paper")
    torch.testing.assert_close(got, naive, rtol=1e-12, atol=0)


def test_unknown_convention_is_an_error(one_line):
    with pytest.raises(StlibError) as err:
        losses.style_weight_factor("gatys", 4, 16)
    assert "gatys" in one_line(err.value)


def test_average_pooling_model_differs_only_in_pooling(vgg):
    avg = stlib.vgg19(pooling="avg")
    assert type(avg.features.pool1).__name__ == "AvgPool2d"
    image = stlib.load_image("chelsea", SIZE)
    with torch.no_grad():
        before = vgg(image, ["relu1_2", "conv2_1"])
        after = avg(image, ["relu1_2", "conv2_1"])
    torch.testing.assert_close(before["relu1_2"], after["relu1_2"])  # same weights up to the first pool
    assert not torch.allclose(before["conv2_1"], after["conv2_1"])
