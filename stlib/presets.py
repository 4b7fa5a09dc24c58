"""Named objectives for `stylize`: which layers, which normalisations, which weights.

Style transfer papers and tutorials all minimise ``α·content + β·style``, but they mean different
numbers by it. A preset fixes every convention at once, so a β means one thing:

============ ================= ================================ ============== ========== ===========
preset       layers            style layer weights              content term   style E_l  optimiser
============ ================= ================================ ============== ========== ===========
``lessons``  conv (pre-ReLU)   Udacity code's 1/.75/.2/.2/.2    mean           paper      L-BFGS
``paper``    relu              equal, 1/5 each                  ½Σ             paper      L-BFGS
``udacity``  relu (see below)  the notes as printed, 1/.75/.1…  mean           udacity    Adam
``balanced`` relu, conv4_2     1 each, relu1_1…relu4_1, ÷ ‖A_l‖² mean           paper      L-BFGS
============ ================= ================================ ============== ========== ===========

* ``paper``: Gatys, Ecker & Bethge 2016: content from ``relu4_2`` with ``½Σ(F − P)²`` (eq. 1), style
  ``E_l = Σ(G − A)²/(4N²M²)`` on ``relu1_1 … relu5_1`` with ``w_l = 1/5`` (eqs. 4–5), L-BFGS.
* ``udacity``: the code of the Udacity notes: ``torch.mean`` content loss at "conv4_2",
  ``w · mean((G − A)²) / (d·h·w)`` style, Adam. Its "conv" layers are read from torchvision's VGG19,
  whose ReLUs are ``inplace=True``: the stored conv output is overwritten by the next ReLU before the
  loss sees it, so the features it compares are **post-ReLU** ones, as here.
* ``balanced``: `stylize`'s default. Each layer's weight is divided by its target's size, ``‖A_l‖²/4``, so every
  layer counts by its relative Gram error, `stlib.quality`'s units (with the ``lessons`` weights conv4_1 is 98 % of
  the style loss and conv1_1, colour and fine texture, is left far from the style). Its style layers are ReLU
  outputs: conv1_1's Gram holds only the 3×3 patches' second moments (which a beige cat and a blue painting can
  share); after the ReLU it pins down much more (the sliced Wasserstein distance of the cat with Starry Night fell
  from 0.14 to 0.04, benchmarks/README.md). β = 1e7 needs no change with the image's size; it runs until the
  picture has settled (``settle``: 10 steps lower the loss by under 2 % and it is back at its lowest), ≤ 300 steps.
* ``lessons``: what lessons 06–10 teach with (07's fill-in, 08's baseline, 10's network): the paper's E_l,
  the layer weights of the Udacity solution code (the notes print 0.1 where it has 0.2) and the notes' mean
  content loss on the conv (pre-ReLU) outputs, whose negative values the style Grams also see.

β is not portable between presets (or between networks: the paper normalised its VGG's weights, and
`stlib`'s is Caffe's VGG19, which sees 0–255 pixels). The ``lessons`` β = 1e-4 was chosen by eye
(64–256 px, L-BFGS). ``paper`` and ``udacity`` carry its balance over by the normalisation factors, for
256 px, not yet checked by eye: ``paper``: the ½Σ content term is N·M/2 = 512·32²/2 ≈ 2.6·10⁵ times
the mean at relu4_2, so β ≈ 1e-4 · 2.6·10⁵ ≈ 30 (α/β ≈ 0.03, inside the 10⁻⁴…10⁻¹ of the paper's results as the study
notes show them); ``udacity``: the Udacity notes' E_l is 4M/N times the paper's, 4096× at conv1_1 (which dominates), so
β ≈ 1e-4 / 4096 ≈ 3e-8. Scale the paper's β with the number of pixels for other sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import StlibError
from .models import CONTENT_LAYERS, STYLE_WEIGHTS


@dataclass(frozen=True)
class Preset:
    """Every convention of one style-transfer objective (see the module's table)."""

    name: str
    content_layers: tuple[str, ...]
    style_weights: dict[str, float] = field(hash=False)
    content_reduction: str  # stlib.losses.content_loss's reduction: "mean" or "half_sum"
    convention: str  # stlib.losses.STYLE_CONVENTIONS
    content_weight: float  # α
    style_weight: float  # β, in this preset's units
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: stlib.optim's default for the optimiser
    # "target": each style layer's weight is divided by ‖A_l‖²/4 (A_l: the style's Gram ÷ C·H·W), so with the
    # paper's E_l each layer counts as its relative Gram error ‖G_l − A_l‖² / ‖A_l‖² (stlib.quality's units)
    style_normalization: str = "none"
    num_steps: int = 300  # what `stylize` runs when no step count is given: at most this many,
    settle: float | None = None  # stop once 10 steps lower the loss by less than this share, back at its lowest


_FIRST_RELUS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

PRESETS: dict[str, Preset] = {
    "lessons": Preset("lessons", CONTENT_LAYERS, dict(STYLE_WEIGHTS), "mean", "paper", 1.0, 1e-4),
    "paper": Preset("paper", ("relu4_2",), {l: 1 / 5 for l in _FIRST_RELUS}, "half_sum", "paper", 1.0, 30.0),
    # Adam's lr: the notes' 0.003 is in ImageNet-normalised units (÷ std ≈ 0.226); stlib's pixels are in [0, 1]
    "udacity": Preset("udacity", ("relu4_2",),
                      dict(zip(_FIRST_RELUS, (1.0, 0.75, 0.1, 0.1, 0.1), strict=True)),
                      "mean", "udacity", 1.0, 3e-8, optimizer="adam", lr=0.003 * 0.226),
    # stylize's default: every layer counts by its relative error (benchmarks/README.md, the peer table)
    "balanced": Preset("balanced", ("conv4_2",), {l: 1.0 for l in ("relu1_1", "relu2_1", "relu3_1", "relu4_1")},
                       "mean", "paper", 1.0, 1e7, style_normalization="target", settle=0.02),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or a one-line error naming the ones there are."""
    if name not in PRESETS:
        raise StlibError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]
