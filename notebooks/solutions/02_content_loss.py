"""Solutions for 02_content_loss (for instructors)."""

import torch
from torch import nn

import stlib
from stlib import losses

# ½Σ(F − P)² = (N·M / 2) · mean((F − P)²). conv4_2 comes after three poolings: at 256 px its N = 512 maps have
# M = 32 · 32 positions.
loss_factor = 512 * 32 * 32 / 2  # = 262144

# the full-mode reconstructions (epoch 91) that keep the cat's layout but not its fine texture
layout_layers = ["block4"]  # conv4_1 is accepted too: it sits in between


def reconstruct(model, target, layer, start, num_steps=5, lr=0.05):
    """The reconstruction loop: Adam on a copy of ``start`` (1, 3, H, W) in [0, 1], so that its features at
    ``layer`` match those of ``target``. Returns (image, losses): the final image, the loss of every step."""
    with torch.no_grad():                           # the target's features: a constant, computed once
        P = model(target, [layer])[layer]
    image = start.clone().requires_grad_(True)      # the variable: a copy, so `start` stays as it is
    optimizer = torch.optim.Adam([image], lr=lr)    # only the image: the network is a constant too
    history = []
    for _ in range(num_steps):
        optimizer.zero_grad()                       # backward() adds to .grad: clear the last step's
        loss = losses.content_loss(model(image, [layer])[layer], P)  # mean((F − P)²)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)                      # keep the pixels in [0, 1]
        history.append(loss.item())
    return image.detach(), history


def build_extractor(vgg_features):
    """A feature extractor from VGG19's layers by name: ``extractor(image, layers)`` → {name: features}.

    vgg_features: torchvision's ``vgg19().features`` (or stlib's ``model.features``), layers numbered 0–36."""
    vgg_features.eval().requires_grad_(False)       # frozen: the weights are constants
    for layer in vgg_features:
        if isinstance(layer, nn.ReLU):
            layer.inplace = False                   # not in place: a stored conv output must stay the conv's

    def extractor(image, layers):
        deepest = max(stlib.LAYER_INDEX[name] for name in layers)
        out, x = {}, image
        for index, layer in enumerate(vgg_features[: deepest + 1]):  # up to and including the deepest
            x = layer(x)
            if stlib.LAYER_NAMES[index] in layers:
                out[stlib.LAYER_NAMES[index]] = x
        return out

    return extractor
