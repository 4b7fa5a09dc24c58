"""Solutions for 07_style_transfer (for instructors)."""

import torch

from stlib import losses, models


def total_loss(image, f_image, f_content, style_grams, alpha, beta, gamma):
    """α·content + β·style + γ·TV: content at conv4_2 (mean), style Σ_l w_l E_l (the paper's E_l, the
    default weights), TV the mean squared difference of neighbouring pixels. A scalar tensor."""
    content = losses.content_loss(f_image["conv4_2"], f_content["conv4_2"])
    style = losses.style_loss(f_image, style_grams, models.STYLE_WEIGHTS)
    tv = losses.total_variation(image)
    return alpha * content + beta * style + gamma * tv


def transfer(content, style, model, num_steps, alpha=1.0, beta=1e-4, gamma=0.0):
    """Gatys et al.'s transfer with L-BFGS, one loss evaluation per step, from a copy of ``content``."""
    layers = ["conv4_2", *models.STYLE_WEIGHTS]
    with torch.no_grad():  # the targets: computed once, never part of the image's graph
        f_content = model(content, ["conv4_2"])
        style_grams = {l: losses.gram_matrix(f) for l, f in model(style, list(models.STYLE_WEIGHTS)).items()}
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], max_iter=1, history_size=50)

    def closure():
        optimizer.zero_grad()  # backward() adds to .grad: without this, every step sees old gradients too
        loss = total_loss(image, model(image, layers), f_content, style_grams, alpha, beta, gamma)
        loss.backward()
        return loss  # L-BFGS reads the loss to decide how far to step

    for _ in range(num_steps):
        optimizer.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)  # pixels stay in [0, 1]
    return image.detach()


def half_sum_beta(beta: float, size: int) -> float:
    """β for the ½Σ content term: ½Σ(F − P)² = (N·M / 2) · mean((F − P)²), so β must grow by N·M / 2.

    conv4_2 has N = 512 feature maps; three poolings come before it, so M = (size / 8)² positions.
    """
    n, m = 512, (size // 8) ** 2
    return beta * n * m / 2


def total_variation(image):
    """The mean squared total variation of ``image`` (B, C, H, W): the squared difference of every value to its
    right and to its lower neighbour, summed, divided by the number of values B·C·H·W."""
    right = (image[..., :, 1:] - image[..., :, :-1]) ** 2   # along the width
    below = (image[..., 1:, :] - image[..., :-1, :]) ** 2   # along the height
    return (right.sum() + below.sum()) / image.numel()
