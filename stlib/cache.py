"""Cache finished runs on disk so a lesson cell replays instantly in class.

An entry is keyed by a SHA-256 of the run's parameters (images by their pixels) and of the code of the modules that
compute results (`source_files`, `code_of`): editing a loss makes every earlier run a miss; a comment, docstring or
error message keeps them. Entries are written atomically with a checksum; a corrupt one is deleted and recomputed;
other files (not named like a key, `ENTRY`) are never touched. Location: ``$STLIB_CACHE_DIR`` or ``.stlib-cache/``.
``STLIB_CACHE_ONLY=1`` turns a miss into a `CacheMiss` error (``make site`` replays what ``make precompute`` filled).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from .config import REPO, env_flag
from .errors import StlibError
from .images import atomic_write
from .optim import Result

SOURCE_DIR = Path(__file__).resolve().parent
RUNS = ("runner.py", "transfer.py", "fastnet.py", "wct.py")  # what computes every run
# imported by the runs but deciding none of their numbers: messages, the memory check, the repository's folder (a
# run's sizes are in its key) and this file (an entry stored another way fails its checksum)
NOT_COMPUTING = ("errors.py", "memory.py", "cache.py", "config.py")


def source_files(folder: Path = SOURCE_DIR, roots: tuple[str, ...] = RUNS) -> tuple[str, ...]:
    """The modules of ``folder`` that ``roots`` import, directly or not (function-level imports included), less
    `NOT_COMPUTING`: the code that decides a run's numbers (a loss moved into a new module is covered at once)."""
    found, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in found or not (folder / name).is_file():
            continue
        found.add(name)
        for node in ast.walk(ast.parse((folder / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import y / from . import x
                todo += [f"{node.module}.py"] if node.module else [f"{a.name}.py" for a in node.names]
    return tuple(sorted(found - set(NOT_COMPUTING)))


def code_of(source: str) -> str:
    """A module's code as the interpreter runs it, less what only people read: comments, docstrings, and the
    text of the errors it raises and of what it prints or warns (`ast.dump` of the rest)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            node.body = body[1:] or [ast.Pass()]
        called = isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "print", "warn", "write")
        if isinstance(node, ast.Raise) or called:
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    part.value = ""
    return ast.dump(tree)


class CacheMiss(StlibError):
    """A run that is not in the cache, asked for with ``STLIB_CACHE_ONLY=1``."""


def cache_dir() -> Path:
    return Path(os.environ.get("STLIB_CACHE_DIR") or REPO / ".stlib-cache")


def tensor_digest(tensor: torch.Tensor) -> str:
    t = tensor.detach().to("cpu", torch.float32).contiguous()
    return hashlib.sha256(str(tuple(t.shape)).encode() + t.numpy().tobytes()).hexdigest()


def fingerprint(sources: Mapping[str, bytes]) -> str:
    """SHA-256 over ``{file name: its bytes}``: any byte of any file changes it."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + hashlib.sha256(sources[name]).digest())
    return digest.hexdigest()


@lru_cache(maxsize=8)
def source_fingerprint(folder: Path = SOURCE_DIR) -> str:
    """`fingerprint` of the `code_of` `source_files` in ``folder``, once per process (what it imported is what runs)."""
    return fingerprint({name: code_of((folder / name).read_text(encoding="utf-8")).encode()
                        for name in source_files(folder)})


def make_key(params: dict[str, Any], *, source: bool = True) -> str:
    """SHA-256 of ``params`` (tensors by the digest of their pixels) and (``source``) of `source_fingerprint`."""

    def encode(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return {"tensor": tensor_digest(value)}
        if isinstance(value, dict):
            return {str(k): encode(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        return repr(value)

    blob = json.dumps({"source": source_fingerprint(SOURCE_DIR) if source else None, "params": encode(params)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


STORED = ("image", "snapshots", "history", "steps", "seconds", "weights")  # a Result's fields kept on disk


ENTRY = re.compile(r"([0-9a-f]{64})\.pt")  # `make_key`'s SHA-256 in hex: the only files the cache reads or deletes


def _entry_path(key: str, folder: Path | None) -> Path:
    if not ENTRY.fullmatch(f"{key}.pt"):
        raise StlibError(f"{key!r} is not a cache key: give 64 hex digits, as `make_key` and `entries` return")
    return (folder or cache_dir()) / f"{key}.pt"


def entries(folder: Path | None = None) -> list[str]:
    """The keys of the entries in ``folder`` (default `cache_dir`), sorted: its files named like one (`ENTRY`)."""
    try:
        names = [path.name for path in (folder or cache_dir()).iterdir()]
    except OSError:  # no cache yet, or one that cannot be read: no entries
        return []
    return sorted(match[1] for match in map(ENTRY.fullmatch, names) if match)


def load(key: str, folder: Path | None = None) -> Result | None:
    """The cached result for ``key``, or None if absent, corrupt or partial (then that entry is deleted)."""
    path = _entry_path(key, folder)
    try:
        blob = path.read_bytes()
    except OSError:  # absent, or in a folder that cannot be read: computed instead
        return None
    try:
        digest, payload = blob[:64].decode("ascii"), blob[64:]
        if hashlib.sha256(payload).hexdigest() != digest:
            raise ValueError("checksum mismatch")
        data = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        return Result(**{name: data[name] for name in STORED})
    except Exception:  # noqa: BLE001 - any unreadable entry is recomputed
        with suppress(OSError):  # a read-only cache keeps it; the run computes all the same
            path.unlink(missing_ok=True)
        return None


def store(key: str, result: Result, folder: Path | None = None) -> Path:
    """Write ``result`` under ``key`` atomically, with the permissions the umask gives (`stlib.images.atomic_write`)."""
    path = _entry_path(key, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({name: getattr(result, name) for name in STORED}, buf)
    payload = buf.getvalue()
    blob = hashlib.sha256(payload).hexdigest().encode("ascii") + payload
    return atomic_write(path, _writer(blob))


def _writer(blob: bytes) -> Callable[[str], object]:
    return lambda tmp: Path(tmp).write_bytes(blob)


def cached(params: dict[str, Any], compute: Callable[[], Result], enabled: bool = True) -> Result:
    """``compute()`` once per distinct ``params``; interrupted runs are never stored."""
    if not enabled:
        return compute()
    key = make_key(params)
    if (hit := load(key)) is not None:
        hit.cached = True
        return hit
    if env_flag("STLIB_CACHE_ONLY"):
        raise CacheMiss(f"run {key[:12]} is not in the cache {cache_dir()} (STLIB_CACHE_ONLY is set); "
                        "run `make precompute` to fill it")
    result = compute()
    if not result.interrupted:
        try:
            store(key, result)
        except (OSError, StlibError) as err:  # a cache that cannot be written never costs the result
            _warn_once(f"stlib: cannot write the cache {cache_dir()} ({getattr(err, 'strerror', None) or err}); "
                       "runs are computed but not kept: set STLIB_CACHE_DIR to a writable folder")
    return result


@lru_cache(maxsize=64)  # each distinct message once per process
def _warn_once(message: str) -> None:
    warnings.warn(message, stacklevel=4)
