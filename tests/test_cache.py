"""The on-disk run cache: replay, keys, corruption, interrupted runs.

Each test uses its own empty cache folder (STLIB_CACHE_DIR) and tiny tensors; the
one end-to-end test is a 2-step conv1_1 reconstruction at 16 px, because the CPU is
two slow cores shared with other jobs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import stlib
from stlib import Result, cache


@pytest.fixture
def cache_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("STLIB_CACHE_DIR", str(folder))
    return folder


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pt")) if folder.exists() else []


class Counter:
    """A compute() that counts its calls and returns a small, known Result."""

    def __init__(self, interrupted: bool = False):
        self.calls = 0
        self.interrupted = interrupted

    def __call__(self) -> Result:
        self.calls += 1
        gen = torch.Generator().manual_seed(self.calls)
        return Result(
            image=torch.rand(1, 3, 4, 4, generator=gen),
            snapshots={0: torch.zeros(1, 3, 4, 4), 3: torch.rand(1, 3, 4, 4, generator=gen)},
            history=[{"total": 2.5, "step": 1}, {"total": 1.5, "step": 2}],
            steps=2,
            seconds=0.25,
            interrupted=self.interrupted,
        )


PARAMS = {"kind": "test", "seed": 0, "layers": ["conv1_1"], "image": torch.zeros(1, 3, 2, 2)}


def test_session_cache_is_isolated(isolated_cache_dir):
    # conftest points every test at a temporary folder, never the repository's .stlib-cache
    repo_cache = Path(stlib.__file__).resolve().parent.parent / ".stlib-cache"
    assert cache.cache_dir() == isolated_cache_dir != repo_cache


def test_cached_stores_then_replays(cache_folder):
    compute = Counter()
    first = cache.cached(PARAMS, compute)
    assert compute.calls == 1 and not first.cached
    assert len(entries(cache_folder)) == 1
    assert not list(cache_folder.glob(".tmp-*"))  # written atomically, no leftovers
    second = cache.cached(dict(PARAMS), compute)
    assert compute.calls == 1  # not recomputed
    assert second.cached
    assert torch.equal(second.image, first.image)
    assert sorted(second.snapshots) == [0, 3]
    assert all(torch.equal(second.snapshots[k], first.snapshots[k]) for k in first.snapshots)
    assert second.history == first.history
    assert (second.steps, second.seconds, second.interrupted) == (2, 0.25, False)


def test_disabled_cache_always_computes(cache_folder):
    compute = Counter()
    cache.cached(PARAMS, compute, enabled=False)
    cache.cached(PARAMS, compute, enabled=False)
    assert compute.calls == 2
    assert entries(cache_folder) == []


def _damage_and_recompute(cache_folder, damage) -> None:
    compute = Counter()
    cache.cached(PARAMS, compute)
    (entry,) = entries(cache_folder)
    damage(entry)
    assert cache.load(entry.stem) is None  # detected …
    assert not entry.exists()  # … and deleted
    result = cache.cached(PARAMS, compute)
    assert compute.calls == 2 and not result.cached  # recomputed
    replay = cache.cached(PARAMS, compute)
    assert replay.cached and compute.calls == 2  # and stored again, intact
    assert torch.equal(replay.image, result.image)


def _flip(offset_from_end: int):
    def damage(path: Path) -> None:
        blob = bytearray(path.read_bytes())
        blob[-offset_from_end] ^= 0xFF
        path.write_bytes(bytes(blob))

    return damage


@pytest.mark.parametrize("offset", [1, 100, 400])
def test_corrupt_payload_is_recomputed(cache_folder, offset):
    _damage_and_recompute(cache_folder, _flip(offset))


def test_corrupt_checksum_is_recomputed(cache_folder):
    def damage(path: Path) -> None:
        blob = bytearray(path.read_bytes())
        blob[0] = 0xC3  # not even ASCII
        blob[10] ^= 0x01
        path.write_bytes(bytes(blob))

    _damage_and_recompute(cache_folder, damage)


@pytest.mark.parametrize("keep", [0, 10, 64, 200])
def test_truncated_entry_is_recomputed(cache_folder, keep):
    def damage(path: Path) -> None:
        blob = path.read_bytes()
        path.write_bytes(blob[: min(keep, len(blob) - 1)])

    _damage_and_recompute(cache_folder, damage)


def test_cache_only_refuses_to_compute_a_miss(cache_folder, monkeypatch):
    """make site replays full mode with STLIB_CACHE_ONLY=1: a hit replays, a miss stops instead of computing."""
    compute = Counter()
    cache.cached({"run": 1}, compute)  # stored
    monkeypatch.setenv("STLIB_CACHE_ONLY", "1")
    assert cache.cached({"run": 1}, compute).cached and compute.calls == 1
    with pytest.raises(cache.CacheMiss, match="not in the cache .* run `make precompute`"):
        cache.cached({"run": 2}, compute)
    assert compute.calls == 1 and issubclass(cache.CacheMiss, stlib.StlibError)


def test_missing_key_loads_none(cache_folder):
    assert cache.load("0" * 64) is None


def test_interrupted_results_are_not_stored(cache_folder):
    compute = Counter(interrupted=True)
    result = cache.cached(PARAMS, compute)
    assert result.interrupted
    assert entries(cache_folder) == []
    cache.cached(PARAMS, compute)
    assert compute.calls == 2


def test_interrupted_optimisation_is_not_stored(cache_folder):
    def compute() -> Result:
        def loss(image):
            if loss.calls == 2:
                raise KeyboardInterrupt
            loss.calls += 1
            return (image**2).sum()

        loss.calls = 0
        return stlib.optimize(torch.ones(1, 3, 2, 2), loss, num_steps=5, progress=False)

    result = cache.cached(PARAMS, compute)
    assert result.interrupted and result.steps == 2
    assert entries(cache_folder) == []


def test_keys_change_with_every_parameter():
    base = cache.make_key(PARAMS)
    assert cache.make_key(dict(PARAMS)) == base
    assert cache.make_key(dict(reversed(list(PARAMS.items())))) == base  # order of params is irrelevant
    assert cache.make_key({**PARAMS, "image": torch.zeros(1, 3, 2, 2)}) == base  # same pixels, new tensor
    changed = [
        {**PARAMS, "seed": 1},
        {**PARAMS, "layers": ["conv1_2"]},
        {**PARAMS, "layers": ["conv1_1", "conv2_1"]},
        {**PARAMS, "image": torch.zeros(1, 3, 2, 2).index_put_((torch.tensor([0]),) * 4, torch.tensor(1e-3))},
        {**PARAMS, "image": torch.zeros(1, 3, 1, 4)},  # same pixels, other shape
        {**PARAMS, "kind": "other"},
        {**PARAMS, "lr": None},
    ]
    keys = [cache.make_key(p) for p in changed]
    assert base not in keys
    assert len(set(keys)) == len(keys)
    assert len(base) == 64 and int(base, 16) >= 0


def test_fingerprint_changes_with_the_code_of_any_computing_module():
    sources = {name: cache.code_of((cache.SOURCE_DIR / name).read_text()).encode() for name in cache.source_files()}
    base = cache.fingerprint(sources)
    assert cache.source_fingerprint() == base  # what make_key uses: the package's own files
    assert cache.fingerprint(dict(reversed(list(sources.items())))) == base
    assert {"losses.py", "models.py", "optim.py", "transfer.py", "training.py"} <= set(cache.source_files())
    assert not {"live.py", "widgets.py", "plot.py", *cache.NOT_COMPUTING} & set(cache.source_files())
    for name in sources:
        text = (cache.SOURCE_DIR / name).read_text()
        assert cache.fingerprint({**sources, name: cache.code_of(text + "\n_EDITED = 1\n").encode()}) != base, name
        assert cache.code_of(text + "\n# a comment\n").encode() == sources[name], name


CODE = '''"""A module."""
def f(x):
    """Twice x."""
    # a comment
    if x < 0:
        raise ValueError(f"x is {x}: give a number of at least 0")
    print("twice", x)
    return 2 * x
'''


@pytest.mark.parametrize("before, after, same", [
    ("A module.", "Another module.", True), ("Twice x.", "Double x.", True), ("a comment", "another", True),
    ("give a number of", "use a number of", True), ('"twice"', '"double"', True),
    ("2 * x", "3 * x", False), ("x < 0", "x <= 0", False), ("{x}", "{-x}", False),
])
def test_the_fingerprint_is_the_code_not_what_people_read(before, after, same):
    """A typo fixed in an error message keeps every precomputed run; a change to what computes does not."""
    assert before in CODE
    assert (cache.code_of(CODE.replace(before, after)) == cache.code_of(CODE)) is same


def test_every_module_a_run_imports_is_fingerprinted_or_declared_not_computing():
    closure = set(cache.source_files(roots=(*cache.RUNS, *cache.NOT_COMPUTING)))
    assert closure == set(cache.source_files())  # the declared ones bring in nothing else
    for name in cache.NOT_COMPUTING:
        assert name in {"cache.py"} or f"from .{name[:-3]} import" in "".join(
            (cache.SOURCE_DIR / run).read_text() for run in cache.source_files())  # still imported by a run


def _source_copy(folder: Path, edit_losses: bool = False) -> Path:
    """The fingerprinted files copied into ``folder``; with ``edit_losses`` losses.py has one more line of code."""
    folder.mkdir()
    for name in cache.source_files():
        text = (cache.SOURCE_DIR / name).read_text()
        (folder / name).write_text(text + ("\n_EDITED = 1\n" if edit_losses and name == "losses.py" else ""))
    return folder


def test_editing_losses_py_misses_the_cache(cache_folder, tmp_path, monkeypatch, vgg):
    """The stale-cache bug: a run cached before losses.py changed must be recomputed, not replayed."""
    original, edited = _source_copy(tmp_path / "a"), _source_copy(tmp_path / "b", edit_losses=True)
    target = stlib.load_image("chelsea", 16)  # 16 px, 2 steps: only the key matters here

    def reconstruct() -> Result:
        return stlib.reconstruct_content(target, "conv1_1", model=vgg, num_steps=2, cache=True, progress=False)

    monkeypatch.setattr(cache, "SOURCE_DIR", original)
    first = reconstruct()
    assert not first.cached and reconstruct().cached
    monkeypatch.setattr(cache, "SOURCE_DIR", edited)  # losses.py's code differs
    after_edit = reconstruct()
    assert not after_edit.cached and len(entries(cache_folder)) == 2
    monkeypatch.setattr(cache, "SOURCE_DIR", original)  # the edit undone: the first entry replays
    assert reconstruct().cached


def test_tensor_digest():
    a = torch.arange(6.0).view(2, 3)
    assert cache.tensor_digest(a) == cache.tensor_digest(a.clone().double())  # by float32 pixel values
    assert cache.tensor_digest(a) != cache.tensor_digest(a.view(3, 2))
    assert cache.tensor_digest(a) != cache.tensor_digest(a + 1e-3)


def test_transfer_functions_use_the_cache(cache_folder, vgg):
    # 16 px, 2 steps: only the caching matters here
    target = stlib.load_image("chelsea", 16)
    first = stlib.reconstruct_content(target, "conv1_1", model=vgg, num_steps=2, cache=True, progress=False)
    assert not first.cached and len(entries(cache_folder)) == 1
    again = stlib.reconstruct_content(target, "conv1_1", model=vgg, num_steps=2, cache=True, progress=False)
    assert again.cached
    assert torch.equal(again.image, first.image) and again.history == first.history
    other_seed = stlib.reconstruct_content(target, "conv1_1", model=vgg, num_steps=2, seed=1, cache=True,
                                           progress=False)
    other_pixels = stlib.reconstruct_content(target.flip(-1), "conv1_1", model=vgg, num_steps=2, cache=True,
                                             progress=False)
    other_layer = stlib.reconstruct_content(target, "relu1_1", model=vgg, num_steps=2, cache=True,
                                            progress=False)
    other_lr = stlib.reconstruct_content(target, "conv1_1", model=vgg, num_steps=2, lr=0.5, cache=True,
                                         progress=False)
    assert not (other_seed.cached or other_pixels.cached or other_layer.cached or other_lr.cached)
    assert len(entries(cache_folder)) == 5
    # how a run is shown is not what it is: another progress label replays
    assert stlib.reconstruct_content(target, "conv1_1", model=vgg, num_steps=2, cache=True, progress="shown").cached


def test_every_experiment_goes_through_the_cache(cache_folder, vgg):
    # 16 px, 1 step: a transfer and a texture, each computed once, then replayed
    texture = stlib.load_image("gravel", 16)
    runs = [lambda: stlib.stylize("chelsea", "gravel", size=16, num_steps=1, optimizer="adam", model=vgg,
                                  cache=True, progress=False),
            lambda: stlib.reconstruct_style(texture, ["conv1_1"], model=vgg, num_steps=1, cache=True,
                                            progress=False)]
    for i, run in enumerate(runs, start=1):
        first = run()
        assert not first.cached and len(entries(cache_folder)) == i
        replay = run()
        assert replay.cached and torch.equal(replay.image, first.image)


def test_entries_get_the_umask_permissions(cache_folder):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = cache.store("a" * 64, Result(image=torch.zeros(1, 3, 2, 2)))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert cache.load("a" * 64) is not None


def test_crash_mid_write_leaves_no_partial_entry(cache_folder, monkeypatch):
    def half_then_crash(blob):
        def write(tmp):
            with open(tmp, "wb") as fh:
                fh.write(blob[: len(blob) // 2])
            raise OSError(28, "No space left on device")

        return write

    monkeypatch.setattr(cache, "_writer", half_then_crash)
    with pytest.raises(OSError):
        cache.store("b" * 64, Result(image=torch.zeros(1, 3, 2, 2)))
    assert list(cache_folder.iterdir()) == []  # no entry, no temporary file


def test_source_files_follow_the_imports(tmp_path):
    """A loss moved into a new module is fingerprinted as soon as a run imports it (function-level too)."""
    assert {"runner.py", "perceptual.py", "variants.py", "fastnet.py"} <= set(cache.source_files())
    (tmp_path / "runner.py").write_text("from .newloss import f\n")
    (tmp_path / "newloss.py").write_text("def f():\n    from . import deeper\n")
    (tmp_path / "deeper.py").write_text("")
    (tmp_path / "live.py").write_text("")  # imported by nothing a run imports
    assert cache.source_files(tmp_path, ("runner.py",)) == ("deeper.py", "newloss.py", "runner.py")


def test_a_cache_that_cannot_be_written_costs_nothing(tmp_path, monkeypatch):
    """STLIB_CACHE_DIR is a file: the run computes, warns once, and returns its result."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("STLIB_CACHE_DIR", str(blocker))
    cache._warn_once.cache_clear()
    compute = Counter()
    with pytest.warns(UserWarning, match="cannot write the cache"):
        result = cache.cached(PARAMS, compute)
    assert compute.calls == 1 and result.steps == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: no warning
        cache.cached(PARAMS, compute)


def test_a_corrupt_entry_in_a_read_only_cache_is_recomputed(cache_folder, monkeypatch):
    compute = Counter()
    cache.cached(PARAMS, compute)
    (entry,) = entries(cache_folder)
    entry.write_bytes(b"0" * 64 + b"garbage")

    def read_only(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    assert cache.load(entry.stem) is None  # not deleted, not raised
    monkeypatch.setattr(cache, "store", lambda *a, **k: read_only(entry))
    cache._warn_once.cache_clear()
    with pytest.warns(UserWarning):
        assert cache.cached(PARAMS, compute).steps == 2 and compute.calls == 2


FOREIGN = {"decoders.pt": b"minutes of training", "mine.pt": b"not an entry", f"{'a' * 64}.pt.bak": b"a copy",
           f"{'A' * 64}.pt": b"upper case", f"{'b' * 63}.pt": b"63 digits"}


def test_only_entries_are_listed_read_or_deleted(cache_folder):
    """Decoders an older stlib trained into the cache folder, or any file of yours there, are not entries: not
    listed, loaded or deleted, whatever the cache does around them (replay, a corrupt entry deleted)."""
    cache_folder.mkdir()
    for name, data in FOREIGN.items():
        (cache_folder / name).write_bytes(data)
    compute = Counter()
    cache.cached(PARAMS, compute)
    assert cache.entries() == [cache.make_key(PARAMS)]
    assert cache.cached(PARAMS, compute).cached
    for key in cache.entries():  # what the site's check does: every entry loaded
        assert cache.load(key) is not None
    _flip(1)(cache_folder / f"{cache.entries()[0]}.pt")
    assert cache.load(cache.entries()[0]) is None and cache.entries() == []  # a damaged entry is deleted …
    for stem in ("decoders", "mine", "A" * 64, "../decoders"):  # … a foreign file cannot even be asked for
        with pytest.raises(stlib.StlibError, match="not a cache key"):
            cache.load(stem)
    assert {p.name: p.read_bytes() for p in cache_folder.iterdir()} == FOREIGN  # all there, unchanged


def test_entries_of_a_missing_cache_are_none(tmp_path):
    assert cache.entries(tmp_path / "none") == []


def test_a_replay_loads_no_model(cache_folder, monkeypatch):
    """`runner.run` loads VGG19 only to compute: the second, replayed run builds none."""
    from stlib import runner

    built, real = [], runner.vgg19
    monkeypatch.setattr(runner, "vgg19", lambda *args, **kwargs: built.append(args) or real(*args, **kwargs))
    target = torch.rand(1, 3, 16, 16)
    runs = [stlib.reconstruct_content(target, "conv1_1", model="random", num_steps=2, cache=True, progress=False)
            for _ in range(2)]
    assert [r.cached for r in runs] == [False, True] and len(built) == 1
    assert torch.equal(runs[0].image, runs[1].image)
