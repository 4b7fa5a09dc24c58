"""Solutions for 02_content_loss (for instructors)."""

# ½Σ(F − P)² = (N·M / 2) · mean((F − P)²). conv4_2 comes after three poolings: at 256 px its N = 512 maps have
# M = 32 · 32 positions.
loss_factor = 512 * 32 * 32 / 2  # = 262144

# the full-mode reconstructions (epoch 91) that keep the cat's layout but not its fine texture
layout_layers = ["block4"]  # conv4_1 is accepted too: it sits in between
