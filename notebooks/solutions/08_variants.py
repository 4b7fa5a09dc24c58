"""Solutions for 08_variants (for instructors)."""

# luminance only: Y (brightness) of the transfer, U and V (colour) of the content; histogram matching gives each
# RGB channel the content's distribution, so the mean colour and the brightness (a mix of R, G, B) are the content's
colours = {"luminance only": ("content", "transfer"), "histogram": ("content", "content")}

# an average pool passes the mean of four non-negative ReLU outputs, at most their maximum: the deeper features and
# their Gram matrices shrink, and the style loss (squared differences of Grams) shrinks even more
pooling_loss = "smaller"

# Adam (the udacity preset) moves each pixel by about its learning rate, 0.003 · 0.226 ≈ 0.0007, per step
least_change = "udacity"
