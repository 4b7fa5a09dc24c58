"""Solutions for 06_style_loss (for instructors)."""

import torch


def style_loss(features: dict, targets: dict, weights: dict) -> torch.Tensor:
    """The paper's style loss Σ_l w_l E_l, E_l = Σ(G − A)² / (4N²M²).

    features: layer → (1, C, H, W) of the image; targets: layer → the style image's raw Gram A (1, C, C);
    weights: layer → w_l. G is the image's raw Gram at that layer, N = C maps of M = H·W positions.
    """
    total = 0
    for layer, w in weights.items():
        f = features[layer]
        _, n, h, w_ = f.shape
        m = h * w_
        flat = f.reshape(f.shape[0], n, m)
        G = flat @ flat.transpose(1, 2)
        total = total + w * ((G - targets[layer]) ** 2).sum() / (4 * n**2 * m**2)
    return total


# The Udacity notes' code divides Σ(G − A)² by N³M, the paper by 4N²M², so the notes' E_l is 4N²M² / N³M = 4M/N
# times the paper's. conv3_1 comes after two poolings: at 256 px its N = 256 maps have M = 64 · 64 positions.
convention_factor = 4 * 64 * 64 / 256  # = 64

# The set that reaches deepest: conv5_1 sees the largest patch of the image, so its Gram asks for the largest texture
# elements (and the shallow layers of the set keep the fine grain). The full-mode pictures show it.
largest_texture = "conv5_1"
