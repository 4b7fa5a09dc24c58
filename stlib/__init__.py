"""stlib: the small library behind the Style Transfer lessons (Gatys, Ecker, Bethge 2016).

Modules, in the order the lessons meet them: `images` (load, convert, save),
`models` (VGG19 with named layers), `losses` (content, Gram, style, TV, total),
`optim` (one loop with snapshots and callbacks), `transfer` (the lecture's
experiments), `cache`, `plot`, `widgets`.
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
