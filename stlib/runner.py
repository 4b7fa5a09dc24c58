"""The one runner every run goes through (`stlib.transfer`'s experiments, `stlib.training`'s networks and
decoders): an `Objective` (what to optimise) under a `RunConfig` (how), and `run`, which checks the memory, then
replays the run from the cache (`stlib.cache`) or loads the model and computes it, once for every kind of run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from . import cache as _cache
from .errors import StlibError
from .memory import check_run
from .models import VGG19, vgg19, weights_name
from .optim import LossFn, Result, announce_replay, check_steps, optimize, pick_device, settled


@dataclass(frozen=True)
class RunConfig:
    """How an objective is optimised; with the objective's identity, the run's cache key. ``snapshot_at``: epochs
    kept; ``vgg_weights`` and ``pooling``: the VGG19 the runner loads (`stlib.models.vgg19`) unless given one."""

    num_steps: int
    optimizer: str = "adam"
    lr: float | None = None
    snapshot_at: tuple[int, ...] = ()
    seed: int = 0  # the start image's noise, or a network's initial weights and crops
    device: torch.device = torch.device("cpu")
    vgg_weights: str = "pretrained"
    pooling: str = "max"
    settle: float | None = None  # stop once 10 steps lower the loss by less than this share (`optim.settled`)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise StlibError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}")
        if self.settle is not None and not 0 < self.settle < 1:
            raise StlibError(f"settle must be a share of the loss between 0 and 1 (e.g. 0.01), got {self.settle!r}")

    def identity(self) -> dict[str, Any]:  # the model is identified by the one loaded (`run`)
        fields = {k: v for k, v in asdict(self).items() if k not in ("vgg_weights", "pooling")}
        return {**fields, "snapshot_at": sorted(set(self.snapshot_at)), "device": self.device.type}


def run_config(*, snapshot_at: Sequence[int] = (), device: torch.device | str | None = None,
               vgg_weights: str | os.PathLike = "pretrained", **fields: Any) -> RunConfig:
    """A `RunConfig` on `pick_device`'s device."""
    return RunConfig(snapshot_at=tuple(snapshot_at), device=pick_device(device),
                     vgg_weights=str(vgg_weights), **fields)


@dataclass(frozen=True)
class Objective:
    """One experiment: what identifies it, and how to build its start image and loss. ``build(vgg, config) ->
    (start image, loss)`` runs only when the run computes (a replay extracts no features); a training gives
    ``compute(vgg, config, progress) -> Result`` instead. ``layers`` (those the loss reads), ``shape``
    ``(B, 3, H, W)`` and ``memory`` (`check_run`'s options) size the memory check; ``finish`` turns the optimised
    result into the one returned and stored (e.g. colour preservation).
    """

    kind: str
    identity: Mapping[str, Any]
    shape: tuple[int, ...]
    layers: tuple[str, ...]
    build: Callable[[VGG19, RunConfig], tuple[torch.Tensor, LossFn]] | None = None
    finish: Callable[[Result], Result] | None = None
    memory: Mapping[str, Any] = field(default_factory=dict)
    compute: Callable[[VGG19, RunConfig, bool | str], Result] | None = None


def run(objective: Objective, config: RunConfig, model: VGG19 | str | os.PathLike | None = None, *,
        cache: bool = False, progress: bool | str = True) -> Result:
    """Check the budget and the memory, then replay the run from the cache or load the model (``model``, else
    ``config``'s) and optimise ``objective`` under ``config``. ``result.memory_bytes``: the memory estimate."""
    check_steps(config.num_steps, config.snapshot_at)
    if not (given := isinstance(model, VGG19)) and model is not None:  # weights by name or path
        config = replace(config, vgg_weights=str(model))
    pooling = ("avg" if isinstance(model.features.pool1, torch.nn.AvgPool2d) else "max") if given else config.pooling
    estimate = check_run(*objective.shape[-2:], batch=objective.shape[0], layers=objective.layers,
                         optimizer=config.optimizer, num_steps=config.num_steps, pooling=pooling,
                         snapshots=len(set(config.snapshot_at)), device=config.device.type,
                         **{"what": "size", **objective.memory})
    given = model.to(config.device) if given else None
    params = {**objective.identity, **config.identity(), "kind": objective.kind, "pooling": pooling,
              "model": weights_name(config.vgg_weights) if given is None else given.weights_name}

    def compute() -> Result:  # VGG19 is loaded only here: a replay needs none
        vgg = vgg19(config.vgg_weights, pooling=pooling, device=config.device) if given is None else given
        if objective.compute is not None:
            return objective.compute(vgg, config, progress)
        start, loss = objective.build(vgg, config)
        result = optimize(start.to(config.device), loss, num_steps=config.num_steps, optimizer=config.optimizer,
                          lr=config.lr, snapshot_at=config.snapshot_at, progress=progress,
                          callbacks=[settled(config.settle)] if config.settle else ())
        return objective.finish(result) if objective.finish is not None else result

    result = _cache.cached(params, compute, enabled=cache)
    if result.cached:
        announce_replay(progress, result)
    result.memory_bytes = estimate.run
    return result
