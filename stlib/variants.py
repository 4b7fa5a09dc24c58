"""Variants beyond the lecture: colour preservation and named layer choices.

Other variants are options of `stlib.transfer.stylize` (several styles blended, ``style_scale``, ``coarse_to_fine`` via
`stylize_coarse_to_fine`), of `stlib.models.vgg19` (``pooling="avg"``) and of `stlib.losses` (style conventions and
`style_weight_factor`).
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.color import rgb2yuv, yuv2rgb
from skimage.exposure import match_histograms

from .errors import StlibError, check_choice
from .images import to_numpy

# Which layers each well-known implementation uses (names in stlib's scheme).
LAYER_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    # Gatys et al. 2016 use Caffe, whose ReLUs are in-place: their "conv4_2" is really relu4_2
    "paper": {"content": ("relu4_2",), "style": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")},
    # the Udacity notes' code indexes torchvision's features with in-place ReLUs as well
    "udacity": {"content": ("conv4_2",), "style": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")},
    # PyTorch's tutorial counts convs across blocks: its conv_4 is conv2_2, conv_1…5 are the first five convs
    "pytorch_tutorial": {"content": ("conv2_2",), "style": ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")},
}


def _from_numpy(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(array, 0, 1).astype(np.float32)).permute(2, 0, 1).unsqueeze(0)


def preserve_color(image: torch.Tensor, content: torch.Tensor, *, method: str = "luminance") -> torch.Tensor:
    """Give a stylised ``image`` ``(1, 3, H, W)`` the colours of ``content`` (same size). ``"luminance"``: keep the
    image's luminance (Y of YUV), take U and V from the content (Gatys et al. 2017, luminance-only transfer).
    ``"histogram"``: match each RGB channel's histogram to the content's (``skimage.exposure.match_histograms``)."""
    if image.shape != content.shape:
        raise StlibError(f"colour source has shape {tuple(content.shape)}, image {tuple(image.shape)}; "
                         "use the same size")
    out, ref = to_numpy(image), to_numpy(content)
    if check_choice(method, ("luminance", "histogram"), "colour preservation") == "histogram":
        return _from_numpy(match_histograms(out, ref, channel_axis=-1))
    yuv = rgb2yuv(ref)
    yuv[..., 0] = rgb2yuv(out)[..., 0]
    return _from_numpy(yuv2rgb(yuv))
