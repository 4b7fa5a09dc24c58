"""Fast mode and the lesson sizes it picks; `REPO`, the repository's folder (data/, notebooks/, build/, the cache).

``STLIB_FAST=1`` (read by every call of `settings`) shrinks images and epoch counts so every notebook runs in under a
minute on a 2-core CPU, as CI and nbval do; without it, lessons use the lecture's 256 px and epoch counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE_DIR = REPO / "build" / "site"  # where `make site` writes the course and `python -m stlib serve-site` serves it


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LessonSettings:
    """Sizes for one mode. ``epochs`` are the snapshot epochs a lesson shows."""

    fast: bool
    imsize: int  # square side of lesson images, in pixels
    content_epochs: tuple[int, ...]  # lecture slides: initial, 11, 21, 31, 41, 71, 91
    style_epochs: tuple[int, ...]  # lecture slides: initial, 10, 40, 90
    transfer_steps: int  # steps of a full style transfer
    net_steps: int  # lesson 10: training steps of the real-time network (stlib.fastnet)
    net_crop: int  # side of its training crops
    net_photo_side: int  # its photos' shorter side before cropping


FULL = LessonSettings(
    fast=False,
    imsize=256,
    content_epochs=(0, 11, 21, 31, 41, 71, 91),
    style_epochs=(0, 10, 40, 90),
    transfer_steps=300,
    net_steps=400,
    net_crop=128,
    net_photo_side=256,
)
FAST = LessonSettings(
    fast=True,
    imsize=64,
    content_epochs=(0, 3, 6, 11, 21),
    style_epochs=(0, 5, 10, 20),
    transfer_steps=40,
    net_steps=30,
    net_crop=48,
    net_photo_side=64,
)


def settings() -> LessonSettings:
    """The settings for this process: `FAST` when ``STLIB_FAST=1``, else `FULL`."""
    return FAST if env_flag("STLIB_FAST") else FULL
