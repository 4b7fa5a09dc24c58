"""Training on photos: what the real-time networks (`stlib.fastnet`) and the decoders (`stlib.wct`) share.

The photo set (some held out), random crops at several scales and colours, the settings (`PhotoSettings`),
checkpoints that survive a Ctrl-C, and `train`: crops → the model → its loss → Adam, through `stlib.runner.run`.
Each model says only what differs: how it is built, its loss, and its picture.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from . import cache as _cache
from .config import REPO
from .errors import StlibError
from .images import ImageSource, atomic_write, load_image, scaled_shape
from .models import VGG19
from .optim import Callback, Result, run_steps
from .runner import Objective, run, run_config

# Colour photos: the 33 CC0 photographs in data/photos/ less three held out and six that are not colour photos, plus
# two inside wheels the course installs (a face among them). Held out, the lessons' cat and the astronaut show what a
# trained model does with a new photo.
HELD_OUT: tuple[str, ...] = ("chelsea", "astronaut")
HELD_OUT_PHOTOS: tuple[str, ...] = ("oakland-zoo-otters", "san-francisco-skyline", "lake-sherburne")
# a Klee-like drawing; then pictures whose colours are almost all grey or black (a mean distance of a pixel's
# channels from their mean under 0.01, against 0.03–0.21 for the others): a building, the Moon, space
NOT_PHOTOS: tuple[str, ...] = ("rich-port", "abstract-spiral", "piazza-gae-aulenti", "apollo-11-earth",
                               "saturnian-profile", "ufo-galaxy")
TRAIN_PHOTOS: tuple[str, ...] = (
    *sorted(p.stem for p in (REPO / "data" / "photos").glob("*.jpg")
            if p.stem not in HELD_OUT_PHOTOS + NOT_PHOTOS),
    "grace_hopper", "motorcycle_left",
)

# YIQ: luma and two chroma axes; a hue shift is a rotation in the chroma plane
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def jitter_colour(piece: torch.Tensor, hue: float, saturation: float) -> torch.Tensor:
    """``piece`` ``(1, 3, H, W)`` with its hue turned by ``hue`` radians and its chroma scaled by ``saturation``."""
    c, s = math.cos(hue) * saturation, math.sin(hue) * saturation
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    matrix = torch.linalg.inv(_YIQ) @ turn @ _YIQ
    return torch.einsum("ij,bjhw->bihw", matrix, piece).clamp(0, 1)


def photo_batch(photos: Sequence[torch.Tensor], batch: int, crop: int, generator: torch.Generator, *,
                zoom: float = 1.0, jitter: float = 0.0) -> torch.Tensor:
    """``batch`` random ``crop``×``crop`` crops of random photos, flipped left-right half the time. ``zoom`` > 1: cut
    at a random side from ``crop`` to ``zoom·crop`` px and scaled to ``crop`` (things at several sizes); ``jitter``:
    hue turned by up to ``±jitter·π``, saturation scaled by ``1 ± 2·jitter`` (colours the photos lack)."""
    def uniform() -> float:
        return float(torch.rand((), generator=generator))

    crops = []
    for _ in range(batch):
        photo = photos[int(torch.randint(len(photos), (1,), generator=generator))]
        h, w = photo.shape[-2:]
        side = min(h, w, round(crop * (1 + (zoom - 1) * uniform()))) if zoom > 1 else crop
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        piece = photo[..., top:top + side, left:left + side]
        if side != crop:
            piece = nn.functional.interpolate(piece, size=(crop, crop), mode="bilinear", antialias=True,
                                              align_corners=False).clamp(0, 1)
        if uniform() < 0.5:
            piece = piece.flip(-1)
        if jitter > 0:
            piece = jitter_colour(piece, (2 * uniform() - 1) * jitter * math.pi, 1 + (2 * uniform() - 1) * 2 * jitter)
        crops.append(piece)
    return torch.cat(crops)


def same_height(images: Sequence[torch.Tensor], height: int) -> list[torch.Tensor]:
    """Images ``(1, 3, h, w)`` scaled to one ``height`` (aspect kept, width a multiple of 4)."""
    scaled = []
    for image in images:
        width = max(4, round(image.shape[-1] * height / image.shape[-2] / 4) * 4)
        scaled.append(nn.functional.interpolate(image, size=(height, width), mode="bilinear", antialias=True,
                                                align_corners=False).clamp(0, 1))
    return scaled


@dataclass(frozen=True)
class PhotoSettings:
    """What every training on photos has (`train`): Adam for ``steps`` at ``lr`` (falling linearly to 0 with
    ``lr_decay``), batches of ``batch`` crops ``crop`` px square (`photo_batch`), photos ``photo_side`` px on their
    shorter side."""

    steps: int = 400
    crop: int = 128
    photo_side: int = 256
    batch: int = 2
    lr: float = 2e-3
    lr_decay: bool = False
    zoom: float = 1.0  # crops cut at sides from crop to zoom·crop, scaled to crop (`photo_batch`)
    jitter: float = 0.0  # hue and saturation jitter of the crops (`photo_batch`)
    seed: int = 0

    crop_multiple = 4  # the model's downsampling (a class constant, not a setting)

    def require_whole(self, *names: str) -> None:
        """A one-line error unless each of these settings is a whole number ≥ 1."""
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StlibError(f"{name} must be a whole number ≥ 1, got {value!r}")

    def require_non_negative(self, *names: str) -> None:
        """A one-line error unless each of these settings is a finite number ≥ 0."""
        for name in names:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise StlibError(f"{name} must be a number ≥ 0, got {value!r}")

    def __post_init__(self) -> None:
        self.require_whole("steps", "crop", "photo_side", "batch")
        if self.crop > self.photo_side:
            raise StlibError(f"crop {self.crop} is larger than photo_side {self.photo_side}; crop a smaller piece")
        if self.crop % self.crop_multiple:
            raise StlibError(f"crop must be a multiple of {self.crop_multiple}, got {self.crop}")
        self.require_non_negative("lr")
        if not (isinstance(self.zoom, (int, float)) and 1 <= self.zoom <= 8):
            raise StlibError(f"zoom must be a number from 1 to 8 (crops are cut at crop to zoom × crop px), "
                             f"got {self.zoom!r}")
        if not (isinstance(self.jitter, (int, float)) and 0 <= self.jitter <= 0.5):
            raise StlibError(f"jitter must be a number from 0 to 0.5 (hue ±90°), got {self.jitter!r}")


class Trainee(NamedTuple):
    """What one kind of model brings to `train`: the ``module`` whose weights train, ``loss(batch)`` (a dict of
    tensors with the ``"total"`` minimised) and ``picture(held)`` (the held-out photos, as the model paints them)."""

    module: nn.Module
    loss: Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
    picture: Callable[[list[torch.Tensor]], torch.Tensor]


def train(kind: str, settings: PhotoSettings, setup: Callable[[VGG19, list[torch.Tensor], torch.device], Trainee], *,
          photos: Sequence[ImageSource], held_out: Sequence[ImageSource], preview_height: int,
          inputs: Mapping[str, Any], layers: Sequence[str], pixels_kept: int = 0,
          snapshot_at: Sequence[int] = (), callbacks: Sequence[Callback] = (), model: VGG19 | str | None = None,
          device: torch.device | str | None = None, cache: bool = False, progress: bool | str = True,
          checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 100,
          advice: str = "lower the learning rate") -> Result:
    """Train the model ``setup(vgg, photos, device)`` builds (seeded) on crops of ``photos`` (`photo_batch`) → its
    ``loss`` → Adam; ``result.weights`` is its state dict. The live view, the snapshots and ``callbacks`` see the
    ``held_out`` photos at ``preview_height`` px as ``picture`` paints them. Through `stlib.runner.run`: the memory
    check (``pixels_kept``: more pixels held), the model, the cache (``inputs``: what else identifies the run).
    Ctrl-C keeps the model as it is; a NaN loss stops with `DivergedError`. ``checkpoint``: the training so far,
    saved every ``checkpoint_every`` steps and on Ctrl-C; a run with the same file, photos, inputs and settings
    continues from it, and more ``steps`` continue a finished one.
    """
    photo_ts = [load_image(p) for p in photos]  # as they are: scaled once the memory check has passed
    shown = same_height([load_image(p) for p in held_out], preview_height)
    side = settings.photo_side  # each scaled so its shorter side is photo_side
    covered = [scaled_shape(h, w, side / min(h, w), side) for h, w in (t.shape[-2:] for t in photo_ts)]
    identity = {**inputs, "photos": photo_ts, "held_out": shown, "settings": asdict(settings)}
    # what a checkpoint must match to be continued: not the step count, nor the code (a fix elsewhere in stlib)
    same_training = _cache.make_key({**identity, "settings": {**asdict(settings), "steps": 0}}, source=False)

    def compute(vgg: VGG19, config, progress: bool | str) -> Result:
        dev = config.device
        photos_in = [load_image(t, shape) for t, shape in zip(photo_ts, covered, strict=True)]
        torch.manual_seed(settings.seed)
        trainee = setup(vgg, photos_in, dev)
        module = trainee.module
        opt = torch.optim.Adam(module.parameters(), lr=settings.lr)
        decay = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda done: max(0.0, 1 - done / settings.steps) if settings.lr_decay else 1.0)
        generator = torch.Generator().manual_seed(settings.seed)
        parts = {"weights": module, "opt": opt, "decay": decay}  # what a checkpoint keeps, with the crops' generator
        saved = read_checkpoint(checkpoint, same_training) if checkpoint is not None else None
        if saved is not None:
            for name, part in parts.items():
                part.load_state_dict(saved[name])
            generator.set_state(saved["generator"])
        held = [photo.to(dev) for photo in shown]
        last = {"at": -math.inf, "image": None}

        def picture() -> torch.Tensor:
            module.eval()
            with torch.no_grad():
                image = trainee.picture(held)
            module.train()
            last.update(at=time.perf_counter(), image=image)
            return image

        def preview() -> torch.Tensor:  # for the live view: a new picture at most once a second
            return last["image"] if time.perf_counter() - last["at"] < 1.0 else picture()

        def step() -> dict[str, float]:
            batch = photo_batch(photos_in, settings.batch, settings.crop, generator, zoom=settings.zoom,
                                jitter=settings.jitter).to(dev)
            terms = trainee.loss(batch)
            if math.isfinite(float(terms["total"].detach())):  # else run_steps stops with DivergedError
                opt.zero_grad(set_to_none=True)
                terms["total"].backward()
                opt.step()
                decay.step()
            return {k: float(v.detach()) for k, v in terms.items()}

        def save(result: Result) -> None:
            state = {name: part.state_dict() for name, part in parts.items()}
            write_checkpoint(checkpoint, same_training, {**state, "generator": generator.get_state()}, result)

        module.train()
        resume = None if saved is None else saved["result"]
        rows = [] if resume is None else list(resume.history)  # the history so far, for the checkpoints

        def keep(done: int, _shown: torch.Tensor, terms: dict) -> bool:  # a callback: never stops the run
            rows.append(terms)
            if checkpoint is not None and done % checkpoint_every == 0:
                save(Result(image=torch.zeros(1, 3, 1, 1), history=rows, steps=done, seconds=terms["time"],
                            snapshots=dict(resume.snapshots) if resume else {}))
            return False

        if resume is not None and progress:
            print(f"{progress if isinstance(progress, str) else 'training'}: continuing from {checkpoint} "
                  f"at step {resume.steps}/{settings.steps}", flush=True)
        result = run_steps(step, picture, num_steps=settings.steps, snapshot_at=config.snapshot_at,
                           callbacks=[keep, *callbacks], progress=progress, preview=preview, resume=resume,
                           advice=f"(lr={settings.lr}): {advice}")
        if checkpoint is not None and result.steps < settings.steps:
            save(result)  # interrupted or stopped early: the next run continues from here
        result.weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return result

    kept = pixels_kept + sum(h * w for h, w in covered) + sum(t.shape[-2] * t.shape[-1] for t in shown)
    objective = Objective(kind, identity, (settings.batch, 3, settings.crop, settings.crop), tuple(layers),
                          compute=compute, memory={"pixels_kept": kept, "what": "crop",
                                                   "blame": f"{len(photos)} photos at photo_side {side}"})
    config = run_config(num_steps=settings.steps, optimizer="adam", lr=settings.lr, snapshot_at=snapshot_at,
                        seed=settings.seed, device=device)
    return run(objective, config, model, cache=cache, progress=progress)


# -- files ---------------------------------------------------------------------------------------------
CHECKPOINT_FORMAT = "stlib-training-checkpoint-1"


def read_marked(path: Path, marker: str, file: str, kind: str, fix: str) -> dict:
    """A `torch.save` dict whose ``format`` is ``marker`` (``weights_only=True``: no code from the file runs); an
    unreadable file gets one line naming it ``file``, a foreign one ``kind``, each followed by ``fix``."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one line
        raise StlibError(f"{path} is not {file} stlib can read ({type(err).__name__}); {fix}") from None
    if not isinstance(data, dict) or data.get("format") != marker:
        raise StlibError(f"{path} is not {kind} (no {marker!r} marker): {fix}")
    return data


def read_checkpoint(path: str | os.PathLike, identity: str) -> dict | None:
    """A checkpoint `write_checkpoint` wrote for the same training (``identity``), or None if there is no file;
    one that belongs to another training is refused in one line (never overwritten)."""
    path = Path(path)
    if not path.exists():
        return None
    data = read_marked(path, CHECKPOINT_FORMAT, "a checkpoint", "a stlib training checkpoint",
                       "move it away or choose another output name")
    if data.get("identity") != identity:
        raise StlibError(f"{path} is the checkpoint of another training (style, photos or settings differ); "
                         "train with the same ones to continue it, or move it away to start again")
    result = data["result"]
    data["result"] = Result(image=torch.zeros(1, 3, 1, 1), history=result["history"], steps=int(result["steps"]),
                            seconds=float(result["seconds"]), snapshots=result["snapshots"])
    return data


def write_marked(path: str | os.PathLike, marker: str, payload: dict, *, overwrite: bool = True) -> Path:
    """``payload`` marked ``format: marker`` as a `torch.save` file `read_marked` reads back, written atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(Path(path), lambda tmp: torch.save({"format": marker, **payload}, tmp), overwrite=overwrite)


def write_checkpoint(path: str | os.PathLike, identity: str, state: dict, result: Result) -> Path:
    """Save a training's ``state`` (weights, optimiser, random state) and its ``result`` so far, atomically."""
    return write_marked(path, CHECKPOINT_FORMAT, {"identity": identity, **state, "result": {
        "history": result.history[:result.steps], "steps": result.steps, "seconds": result.seconds,
        "snapshots": result.snapshots}})
