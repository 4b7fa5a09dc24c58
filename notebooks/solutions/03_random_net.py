"""Solutions for 03_random_net (for instructors)."""

# the first convolution: 64 random 3×3×3 filters are an injective linear map of each patch
random_layer = "conv1_1"
