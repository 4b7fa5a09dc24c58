"""stlib.quality: the shared figures' fixed points (0 and 1) and one value worked out by hand.

Images are 32 px: the smallest that conv4_2 takes with room to spare, so each test runs in well under a second.
"""

from __future__ import annotations

import pytest
import torch

from stlib.images import load_image
from stlib.quality import CARD_LAYERS, content_distance, sliced_wasserstein, style_distance


def _identity_net(image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
    """A stand-in network whose every layer is the image itself: Grams of the pixels, checkable by hand."""
    return {layer: image for layer in layers}


def test_style_distance_by_hand():
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    # style = 2·image → every Gram is 4·G: ‖G − 4G‖² / ‖4G‖² = 9/16 per layer, four layers
    assert style_distance(image, 2 * image, vgg=_identity_net) == pytest.approx(4 * 9 / 16)
    assert len(CARD_LAYERS) == 4


def test_style_distance_is_zero_for_the_style_itself(vgg, chelsea):
    assert style_distance(chelsea, chelsea, vgg=vgg) == pytest.approx(0.0, abs=1e-12)


def test_relative_style_distance_of_the_content_is_one(vgg, chelsea):
    assert style_distance(chelsea, "immunohistochemistry", content=chelsea, vgg=vgg) == pytest.approx(1.0)


def test_relative_style_distance_falls_towards_the_style(vgg, chelsea):
    style = load_image("immunohistochemistry", (32, 48))
    halfway = style_distance(0.5 * chelsea + 0.5 * style, style, content=chelsea, vgg=vgg)
    assert 0.0 < halfway < 1.0


def test_content_distance_is_zero_for_the_content_and_one_for_noise(vgg, chelsea):
    assert content_distance(chelsea, chelsea, vgg=vgg) == pytest.approx(0.0, abs=1e-12)
    noise = torch.rand(chelsea.shape, generator=torch.Generator().manual_seed(3))
    assert content_distance(noise, chelsea, vgg=vgg, seed=3) == pytest.approx(1.0)
    assert content_distance(noise, chelsea, vgg=vgg, seed=4) == pytest.approx(1.0, abs=0.2)  # another noise: near 1


def test_saved_files_and_sample_names_are_fitted_to_the_image(vgg, chelsea, tmp_path):
    from stlib.images import save_image

    path = save_image(chelsea, tmp_path / "out.png")
    # the sample is 451×300 (content) and 512×512 (style): both are cropped and resized to 48×32
    assert content_distance(path, "chelsea", vgg=vgg) < 0.1
    assert 0.0 < style_distance(path, "immunohistochemistry", content="chelsea", vgg=vgg) < 2.0


def test_sliced_wasserstein_by_hand():
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    x = x - x.mean(dim=(2, 3), keepdim=True)  # zero mean: every projection of 2·x is 2× that of x
    # per layer and direction: mean(p²) / var(2p) = 1/4 whatever the directions; four layers
    assert sliced_wasserstein(x, 2 * x, vgg=_identity_net) == pytest.approx(4 * 1 / 4)
    shuffled = x.flatten(2)[..., torch.randperm(64, generator=torch.Generator().manual_seed(0))].view_as(x)
    assert sliced_wasserstein(shuffled, x, vgg=_identity_net) == pytest.approx(0.0, abs=1e-12)  # same distribution


def test_sliced_wasserstein_sees_what_the_gram_matrix_does_not():
    style = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    signs = torch.randint(0, 2, (1, 1, 16, 16), generator=torch.Generator().manual_seed(4)) * 2 - 1
    flipped = style * signs  # Σ y yᵀ = Σ x xᵀ: the same Gram matrix, a different distribution
    assert style_distance(flipped, style, vgg=_identity_net) == pytest.approx(0.0, abs=1e-10)
    assert sliced_wasserstein(flipped, style, vgg=_identity_net) > 0.5


def test_relative_sliced_wasserstein_is_one_for_the_content_and_zero_for_the_style(vgg, chelsea):
    style = load_image("immunohistochemistry", (32, 48))
    assert sliced_wasserstein(chelsea, style, content=chelsea, vgg=vgg) == pytest.approx(1.0)
    assert sliced_wasserstein(style, style, content=chelsea, vgg=vgg) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < sliced_wasserstein(0.5 * chelsea + 0.5 * style, style, content=chelsea, vgg=vgg) < 1.0


@pytest.mark.parametrize("judge", [style_distance, sliced_wasserstein])
def test_the_whole_style_is_judged_not_its_centre_crop(judge):
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])
    style = colours.repeat_interleave(16, dim=0).T.reshape(3, 1, 48).expand(3, 16, 48)[None]  # red | green | blue
    mixture = colours.repeat_interleave(16, dim=0).T.reshape(3, 1, 48).expand(3, 16, 48).reshape(1, 3, 48, 16)
    middle = colours[1].view(1, 3, 1, 1).expand(1, 3, 48, 16)  # all green: what a centre crop would keep
    assert judge(mixture, style, vgg=_identity_net) < judge(middle, style, vgg=_identity_net)
