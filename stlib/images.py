"""Load, convert, resize and save images as float tensors ``(1, 3, H, W)`` in [0, 1].

Sources are a path, a PIL image, a NumPy array, a tensor, or a sample name: every image that scikit-image ships in its
wheel (``"chelsea"``, ``"astronaut"``, …) and every image file in the project's ``data/`` folder, by its stem.
"""

from __future__ import annotations

import base64
import io
import os
import stat
from collections.abc import Callable
from contextlib import suppress
from itertools import count
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import REPO
from .errors import StlibError
from .memory import check_image, scaled
from .models import STYLE_MIN_SIDE

ImageSource = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 50_000_000  # refuse larger files: they would not fit a laptop's memory as tensors


def data_dir() -> Path:
    """The folder of the user's own images: ``$STLIB_DATA_DIR`` or the repository's ``data/``."""
    return Path(os.environ.get("STLIB_DATA_DIR") or REPO / "data")


# Every 2-D image that scikit-image ships inside its wheel (the others it would download).
SKIMAGE_SAMPLES: tuple[str, ...] = (
    "astronaut", "brick", "camera", "cat", "cell", "checkerboard", "chelsea", "clock", "coffee", "coins", "colorwheel",
    "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms", "moon", "page",
    "retina", "rocket", "shepp_logan_phantom", "text", "motorcycle_left")
SKIMAGE_ALIASES = {"ihc": "immunohistochemistry"}
# the public-domain paintings the course ships in data/ (titles, sources, licence: data/README.md)
PAINTINGS: tuple[str, ...] = ("starry_night", "the_scream", "composition_vii")


def skimage_sample(name: str) -> np.ndarray:
    """The array of one bundled scikit-image sample (``"chelsea"``, ``"ihc"``, …)."""
    from skimage import data as skdata

    if name == "motorcycle_left":  # the left view of a stereo pair
        return np.asarray(skdata.stereo_motorcycle()[0])
    return np.asarray(getattr(skdata, SKIMAGE_ALIASES.get(name, name))())


def data_images() -> dict[str, Path]:
    """Image files in `data_dir` and its ``photos/`` folder by stem (``data/starry_night.jpg`` → ``"starry_night"``),
    and matplotlib's ``grace_hopper`` (a public-domain portrait inside its wheel)."""
    from importlib.util import find_spec

    mpl = find_spec("matplotlib")  # where it is installed, without the half second of importing it
    found = {"grace_hopper": Path(mpl.origin).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"} if mpl else {}
    for folder in (data_dir() / "photos", data_dir()):  # a file in data/ wins over a photo of the same name
        if folder.is_dir():
            found.update({p.stem: p for p in sorted(folder.iterdir())
                          if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()})
    return found


def sample_names() -> list[str]:
    """Every name `load_image` accepts besides a path: ``data/`` stems, then scikit-image's."""
    return sorted(set(data_images()) | set(SKIMAGE_SAMPLES) | set(SKIMAGE_ALIASES))


def _resolve(source: str | os.PathLike) -> Path | str:
    """A file path, or the name of a scikit-image sample."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    name = str(source)
    if (found := data_images().get(name)) is not None:
        return found
    if name in SKIMAGE_SAMPLES or name in SKIMAGE_ALIASES:
        return name
    if path.suffix or os.sep in name:
        raise StlibError(f"image file not found: {name!r}; check the path (cwd is {os.getcwd()})")
    raise StlibError(f"unknown image {name!r}: give a file path or a sample name such as "
                     f"{', '.join(sample_names()[:6])} (see stlib.images.sample_names())")


def open_image(path: str | os.PathLike | BinaryIO, name: str | None = None) -> Image.Image:
    """Open an image file fully (so a truncated file fails here), EXIF orientation applied; ``path`` may also be an
    open binary file (an upload), called ``name`` in the messages."""
    where = Path(path) if name is None else name
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise StlibError(f"{getattr(where, 'name', where)}: {im.width}×{im.height} px is too large "
                                 f"(limit {MAX_PIXELS // 1_000_000} MP); shrink it first")
            im.load()
            return ImageOps.exif_transpose(im)
    except UnidentifiedImageError:
        raise StlibError(f"{where}: not an image file PIL can read; use a JPEG or PNG") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise StlibError(f"{where}: broken or truncated image ({err}); re-export or re-download it") from None


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode to RGB: alpha composited on ``background``, 16-bit scaled, CMYK converted."""
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if mode in {"PA", "La", "RGBa"} or (mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")  # alpha of any kind: composited below
    if image.mode in {"RGBA", "LA"}:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise StlibError(f"array of shape {array.shape} is not an image: expected (H, W), (H, W, 3) or (H, W, 4)")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise StlibError("image array contains NaN or inf; clean it before loading")
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))  # uint8 (H, W), (H, W, 3), (H, W, 4): L, RGB, RGBA


def to_pil(source: ImageSource) -> Image.Image:
    """Any accepted source as an RGB PIL image (no resizing)."""
    if isinstance(source, torch.Tensor):
        return tensor_to_pil(source)
    if isinstance(source, Image.Image):
        return to_rgb(ImageOps.exif_transpose(source))
    if isinstance(source, np.ndarray):
        return to_rgb(_array_to_pil(source))
    if isinstance(source, (str, os.PathLike)):
        found = _resolve(source)
        return to_rgb(_array_to_pil(skimage_sample(found)) if isinstance(found, str) else open_image(found))
    raise StlibError(f"cannot load an image from {type(source).__name__}: give a path, sample name, PIL image or array")


def resize(image: Image.Image, size: int | tuple[int, int] | None = None, max_size: int | None = None) -> Image.Image:
    """``size`` int: square like the lecture's ``Resize((imsize, imsize))``; ``(H, W)``: exact;
    ``max_size``: keep the aspect ratio with the longer side at most ``max_size``."""
    if size is not None and max_size is not None:
        raise StlibError("give either size or max_size, not both")
    if max_size is not None and max_size < 1:
        raise StlibError(f"max_size must be positive, got {max_size!r}")
    if size is None and (max_size is None or max_size >= max(image.size)):
        return image  # max_size never enlarges
    h, w = (scaled(max_size, image.height, image.width) if size is None
            else (size, size) if isinstance(size, int) else size)
    if min(h, w) < 1:
        raise StlibError(f"image size must be positive, got {size!r}")
    check_image(h, w)  # a size that cannot fit in memory fails here, in one line, before PIL allocates it
    return image.resize((w, h), Image.Resampling.LANCZOS if (w < image.width) else Image.Resampling.BICUBIC)


def load_image(source: ImageSource, size: int | tuple[int, int] | None = None, *, max_size: int | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Load ``source`` as a float tensor ``(1, 3, H, W)`` in [0, 1].

    >>> load_image("chelsea", size=64).shape
    torch.Size([1, 3, 64, 64])
    """
    if isinstance(source, torch.Tensor) and size is None and max_size is None:
        tensor = _as_batch(source)  # used as it is, not re-quantised through PIL
    else:
        tensor = pil_to_tensor(resize(to_pil(source), size, max_size))
    return tensor.to(device) if device is not None else tensor


def scaled_shape(height: int, width: int, scale: float, min_side: int = STYLE_MIN_SIDE) -> tuple[int, int]:
    """``(H, W)`` times ``scale``, same aspect ratio, but no side under ``min_side`` (default: what conv5_1 needs)."""
    factor = max(scale, min_side / min(height, width))
    return max(1, round(height * factor)), max(1, round(width * factor))


def _as_batch(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[1] != 3:
        raise StlibError(f"image tensor of shape {tuple(tensor.shape)}: expected (1, 3, H, W) or (3, H, W)")
    return tensor.float()


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → ``(1, 3, H, W)`` float in [0, 1]."""
    array = np.array(to_rgb(image), dtype=np.uint8)  # a writable copy: torch.from_numpy shares it
    # contiguous (as torchvision's to_tensor): on an image copied from a strided one, LBFGS's grad.view(-1) fails
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().float().div_(255)


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """``(1, 3, H, W)`` or ``(3, H, W)`` in [0, 1] → RGB PIL image (values clipped; ×255, then truncated)."""
    t = _as_batch(tensor.detach())[0].clamp(0, 1).cpu()
    return Image.fromarray(t.mul(255).byte().permute(1, 2, 0).numpy(), mode="RGB")


def crop_to_aspect(image: Image.Image, height: int, width: int) -> Image.Image:
    """The largest centred crop of ``image`` with the aspect ratio ``width / height`` (no scaling)."""
    w, h = image.size
    too_wide = w * height > h * width
    new_w, new_h = (max(1, round(h * width / height)), h) if too_wide else (w, max(1, round(w * height / width)))
    left, top = (w - new_w) // 2, (h - new_h) // 2
    return image.crop((left, top, left + new_w, top + new_h))


DISPLAY_PX = 256  # pictures on screen (viewers, live view) have this width whatever their size (fast mode is 64 px)


def _encode(image: torch.Tensor, width: int, resample: Image.Resampling, **save) -> bytes:
    """``(1, 3, H, W)`` in [0, 1] → an image file's bytes (``save``: PIL's format and options), ``width`` px wide."""
    pil = tensor_to_pil(image)
    if pil.width != width:
        pil = pil.resize((width, max(1, round(pil.height * width / pil.width))), resample)
    buf = io.BytesIO()
    pil.save(buf, **save)
    return buf.getvalue()


def png_bytes(image: torch.Tensor, width: int = DISPLAY_PX) -> bytes:
    """``(1, 3, H, W)`` in [0, 1] → PNG bytes, ``width`` px wide (nearest neighbour: fast mode's pixels stay sharp)."""
    return _encode(image, width, Image.Resampling.NEAREST, format="png")


FRAME_FORMAT = "jpeg"  # every browser shows it; WebP saved no more than 4:2:0 JPEG here (256 px noisy cat: 38, 39 KB)
# quality 65: lesson 02's noisy frames look the same as at 85, at 0.6 of the bytes (its site page stays under 5 MB)
FRAME_QUALITY = 65


def frame_url(image: torch.Tensor, width: int = DISPLAY_PX) -> str:
    """``(1, 3, H, W)`` in [0, 1] → a JPEG data URL, at most ``width`` px wide: smaller snapshots (fast mode's) are
    sent as they are, for the browser to scale up with sharp pixels."""
    # 4:4:4 for small frames the browser scales up (sharp pixels); 4:2:0 at display size halves noisy frames' bytes
    data = _encode(image, min(width, image.shape[-1]), Image.Resampling.LANCZOS, format=FRAME_FORMAT,
                   quality=FRAME_QUALITY, subsampling=0 if image.shape[-1] < width else 2)
    return f"data:image/{FRAME_FORMAT};base64," + base64.b64encode(data).decode("ascii")


def decode_frame(url: str) -> bytes:
    """A data URL from `frame_url` → the image file's bytes."""
    return base64.b64decode(url.split(",", 1)[1])


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` tensor → ``(H, W, 3)`` float array in [0, 1], for matplotlib and skimage."""
    return _as_batch(tensor.detach())[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()


SSIM_WINDOW = 7  # skimage's default window side: images need at least 7 px per side


def ssim(image: torch.Tensor, target: torch.Tensor) -> float:
    """Structural similarity (SSIM, skimage's, 7×7 windows) of two images ``(1, 3, H, W)`` in [0, 1]: 1 for a copy,
    about 0 for noise. Unlike the pixel MSE a brightness shift costs little, lost edges and leftover noise a lot."""
    from skimage.metrics import structural_similarity

    a, b = to_numpy(image), to_numpy(target)
    if a.shape != b.shape:
        raise StlibError(f"ssim of images of different shapes {a.shape[:2]} and {b.shape[:2]}; resize one first")
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise StlibError(f"ssim needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} px, got {a.shape[0]}×{a.shape[1]}")
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0, win_size=SSIM_WINDOW))


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], *, overwrite: bool = True) -> Path:
    """``write(tmp)`` into a temporary file next to ``path``, then rename it over ``path`` in one step: an error
    leaves ``path`` as it was and no temporary file. The permissions are what ``open(path, "w")`` would give. With
    ``overwrite=False`` it is linked into place only if ``path`` still does not exist, else a `StlibError`."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    for attempt in count():  # created by os.open with 0o666: the OS subtracts the umask, as for open(path, "w")
        tmp = path.parent / f".tmp-{os.getpid()}-{attempt}{path.suffix}"
        with suppress(FileExistsError):
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
    try:
        write(str(tmp))
        if mode is not None:
            os.chmod(tmp, mode)
        try:  # os.link fails if path exists, in the same step that would create it
            (os.replace if overwrite else os.link)(tmp, path)
        except FileExistsError:
            raise StlibError(f"{path} already exists; choose another name or allow overwriting") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_image(tensor: torch.Tensor, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write an image tensor to ``path`` (format from the suffix), atomically (`atomic_write`); with
    ``overwrite=False`` an existing file is never replaced."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise StlibError(f"{path}: unknown image suffix; use .png or .jpg")
    writable_folder(path.parent)
    try:
        return atomic_write(path, tensor_to_pil(tensor).save, overwrite=overwrite)
    except OSError as err:
        raise StlibError(f"cannot write {path} ({err.strerror or err}); check the folder's permissions and "
                         "free space") from None


def writable_folder(folder: str | os.PathLike) -> Path:
    """``folder``, created if missing, or a one-line `StlibError` saying why nothing can be written there."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # e.g. a file of that name, or a file where a parent folder should be
        raise StlibError(f"cannot make the folder {folder} ({err.strerror or err}); choose another") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StlibError(f"cannot write into {folder}: permission denied; choose another folder")
    return folder
