"""stlib: the small library behind the Style Transfer lessons (Gatys, Ecker, Bethge 2016).

A reading map by topic (not by import order: `images` already asks `memory`, `transfer` calls `runner`):

1. The teaching core, in the order the lessons meet it: `images` (``(1, 3, H, W)`` in [0, 1]), `models` (VGG19 with
   named layers), `losses` (content, Gram, style, TV), `optim` (one loop), `transfer` (reconstructions, `stylize`).
2. Around it: `presets` (what α, β and the layers mean in each convention), `perceptual` (the shared loss terms),
   `runner` (memory check, model, cache), `variants` (colour preservation), `training`, `fastnet` (a network per
   style), `wct` (any style in one pass), `quality` (distances between an image and a style).
3. The notebook side: `live` (pictures while a run computes), `plot`, `widgets` (snapshot viewer, image picker),
   `lab` (a network running in the page), `config` (fast mode's sizes).
4. Operations: `memory` (will it fit?), `cache`, `lessons` (run every lesson), `errors`, `__main__` (the command line).
"""

from . import images, live, losses, models, optim
from .config import settings
from .errors import DivergedError, StlibError, install_ipython_handler
from .images import load_image, sample_names, save_image
from .losses import content_loss, gram_matrix, style_loss, total_loss, total_variation
from .models import LAYER_INDEX, LAYER_NAMES, vgg19
from .optim import Result, optimize, pick_device
from .transfer import reconstruct_content, reconstruct_style, stylize

__version__ = "0.1.0"

__all__ = [
    "DivergedError", "LAYER_INDEX", "LAYER_NAMES", "Result", "StlibError", "content_loss", "gram_matrix",
    "images", "live", "load_image", "losses", "models", "optim", "optimize", "pick_device", "reconstruct_content",
    "reconstruct_style", "sample_names", "save_image", "settings", "style_loss", "stylize", "total_loss",
    "total_variation", "vgg19",
]

install_ipython_handler()  # in IPython: a StlibError prints one line (nothing is imported outside IPython)
optim.first_run_hooks.append(live.install)  # in a kernel, the first run installs the live view
