"""Solutions for 06_style_loss (for instructors)."""

# The lecture's code divides Σ(G − A)² by N³M, the paper by 4N²M², so the lecture's E_l is 4N²M² / N³M = 4M/N
# times the paper's. conv3_1 comes after two poolings: at 256 px its N = 256 maps have M = 64 · 64 positions.
convention_factor = 4 * 64 * 64 / 256  # = 64
