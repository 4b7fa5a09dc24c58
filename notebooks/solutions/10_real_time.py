"""Solutions for 10_real_time (for instructors)."""


def count(width: int, blocks: int) -> int:
    """Weights of TransformerNet(width, blocks): every convolution has cin·cout·k² kernel weights and cout
    biases; every instance norm (after all but the last convolution, and on the skip path's 3 colours) a
    scale and a shift per channel."""
    w = width
    convs = [(3, w // 2, 9), (w // 2, 2 * w, 3), (2 * w, 4 * w, 3), *[(4 * w, 4 * w, 3)] * (2 * blocks),
             (4 * w, 2 * w, 3), (2 * w, w // 2, 3), (w // 2, 3, 9)]
    conv_weights = sum(cin * cout * k * k + cout for cin, cout, k in convs)
    norm_weights = sum(2 * cout for _, cout, _ in convs[:-1]) + 2 * 3
    return conv_weights + norm_weights


# a·x + b with a > 0: the first convolution turns it into a per-channel scale and shift, which the
# instance norm right after it removes
invariant = ["brighter", "darker", "more contrast"]
