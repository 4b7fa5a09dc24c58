"""The Live lab page (``make site``'s ``lab.html``) in headless Chromium, with no kernel and no network.

Builds only the lab page in fast mode (``tools/build_site.py --fast lab``: tiny networks, trained in seconds),
serves it from 127.0.0.1 with the cross-origin isolation headers of ``make serve``, and blocks every request
that is not to that server. A photo chosen through the file chooser is stylised as PyTorch paints it with the
same network; Chromium's fake camera is stylised frame after frame (the frame rate is printed: a measurement,
not a pass mark; `benchmarks/bench_lab.py` measures it properly); a file that is not an image, a photo too
large and a refused camera each get their message. Screenshots go to ``artifacts/lab/`` (git-ignored).
``STLIB_LAB_SITE_DIR=<folder>`` tests an already built site instead (development). Run alone with::

    python -m pytest tests/test_lab.py -m browser -v -s -p no:cacheprovider
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from browser_util import Offline, launched_chromium, missing_browser_reason, serving, wait_for
from PIL import Image

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "lab"
FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
UI_TIMEOUT = 60.0  # the first picture compiles 14 MB of WebAssembly: seconds on a busy 2-core machine
STATS_JS = "() => { const s = document.querySelector('.stlib-lab').stlibLab; return {...s, ms: s.ms.slice()}; }"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"lab test skipped: {reason}")
    if os.environ.get("STLIB_LAB_SITE_DIR"):
        return Path(os.environ["STLIB_LAB_SITE_DIR"])
    if shutil.which("npm") is None and not any((REPO / "build" / "npm").glob("onnxruntime-web-*.tgz")):
        pytest.skip("lab test skipped: npm is missing (needed once to fetch onnxruntime-web)")
    out = tmp_path_factory.mktemp("lab") / "site"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "build_site.py"), "--fast", "--out", str(out), "lab"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"make site (lab) failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    print(proc.stdout)
    return out


@pytest.fixture(scope="module")
def server(site):
    from stlib.__main__ import isolated_handler

    with serving(isolated_handler(site)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium(site):
    with launched_chromium(*FAKE_CAMERA) as browser:
        yield browser


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def open_lab(chromium, server: str, query: str = "", init_script: str | None = None) -> Offline:
    """The lab page, offline, once it has stylised its sample photo."""
    browser = Offline(chromium, server)
    if init_script:
        browser.context.add_init_script(init_script)
    browser.page.goto(f"{server}/lab.html{query}")
    wait_for(lambda: frames(browser.page) >= 1, UI_TIMEOUT, what="the sample photo stylised")
    return browser


def frames(page) -> int:
    return int(page.locator(".stlib-lab").get_attribute("data-frames") or 0)


def pixels(page, which: str) -> np.ndarray:
    """The ``which`` canvas (input or output) as an (H, W, 3) uint8 array, read from the page as PNG."""
    import base64

    url = page.locator(f"canvas.stlib-lab-{which}").evaluate("c => c.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def choose(page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator("input.stlib-lab-file").click()
    chooser.value.set_files(str(path))


def message(page) -> str:
    return page.locator(".stlib-lab-message").inner_text().strip()


def test_a_chosen_photo_is_stylised_as_pytorch_paints_it(server, chromium, artifacts, tmp_path):
    from stlib import load_image, save_image
    from stlib.fastnet import stylize_with
    from stlib.widgets import lab_networks

    photo = save_image(load_image("astronaut", max_size=200), tmp_path / "astronaut.png")  # PNG: exact pixels
    browser = open_lab(chromium, server)
    page = browser.page
    try:
        assert page.locator("select.stlib-lab-style option").count() == 4  # a network per shipped style
        assert "WebAssembly" in page.locator(".stlib-lab-status").inner_text()
        before = frames(page)
        choose(page, photo)
        wait_for(lambda: page.evaluate(STATS_JS)["source"] == "astronaut.png" and frames(page) > before, UI_TIMEOUT,
                 what="the chosen photo stylised")
        shown, painted = pixels(page, "input"), pixels(page, "output")
        assert shown.shape == painted.shape == (200, 200, 3)
        assert np.abs(shown.astype(int) - np.asarray(Image.open(photo).convert("RGB"))).max() <= 1, \
            "the page did not stylise the file's own pixels"
        net = lab_networks(("starry_night",))["starry_night"]  # the site's network, shipped in data/networks/
        expected = stylize_with(net.net, torch.from_numpy(shown.copy()).permute(2, 0, 1)[None].float() / 255)
        expected = expected[0].permute(1, 2, 0).numpy()
        error = np.abs(painted / 255 - expected).mean()
        print(f"browser vs PyTorch: mean difference {255 * error:.3f}/255")
        assert error <= 2 / 255
        assert np.abs(painted / 255 - shown / 255).mean() > 4 / 255, "the network left the photo as it was"
        page.screenshot(path=str(artifacts / "lab_photo.png"), full_page=True)
        browser.check("a chosen photo")
    finally:
        browser.context.close()


@pytest.mark.parametrize("query, label", [("?threads=1", "one thread"), ("", "threads")])
def test_the_fake_camera_is_stylised_frame_after_frame(server, chromium, artifacts, query, label):
    browser = open_lab(chromium, server, query)
    page = browser.page
    try:
        page.locator("button.stlib-lab-camera").click()
        wait_for(lambda: page.evaluate(STATS_JS)["source"] == "camera" and frames(page) >= 4, UI_TIMEOUT,
                 what="camera frames stylised")
        first = pixels(page, "output")
        start, t0 = frames(page), time.perf_counter()
        wait_for(lambda: frames(page) >= start + 10 or time.perf_counter() - t0 > 4, 30, what="more frames")
        fps = (frames(page) - start) / (time.perf_counter() - t0)
        stats = page.evaluate(STATS_JS)
        print(f"fake camera, {label} ({stats['backend']}): {fps:.1f} frames/s, network "
              f"{np.median(stats['ms']):.0f} ms per frame (median)")
        assert frames(page) > start, "the camera's frames stopped being stylised"
        assert pixels(page, "output").shape == (256, 256, 3)
        assert np.abs(pixels(page, "output").astype(int) - first).mean() > 0.5, "every frame is the same picture"
        assert "frames/s" in page.locator(".stlib-lab-status").inner_text()
        assert ("1 thread" in stats["backend"]) == (query == "?threads=1")
        page.screenshot(path=str(artifacts / f"lab_camera_{label.replace(' ', '_')}.png"), full_page=True)
        page.locator("button.stlib-lab-camera").click()  # stop
        browser.check(f"the camera ({label})")
    finally:
        browser.context.close()


REFUSE_CAMERA = """navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));"""


def test_bad_input_gets_a_message(server, chromium, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    fake = tmp_path / "fake.png"
    fake.write_text("not a PNG either")
    big = tmp_path / "big.png"
    Image.new("RGB", (1200, 800), "tan").save(big)
    browser = open_lab(chromium, server, init_script=REFUSE_CAMERA)
    page = browser.page
    try:
        before = frames(page)
        choose(page, notes)
        wait_for(lambda: "notes.txt is not an image" in message(page), UI_TIMEOUT, what="the not-an-image message")
        choose(page, fake)
        wait_for(lambda: "fake.png could not be read as an image" in message(page), UI_TIMEOUT,
                 what="the unreadable-image message")
        assert frames(page) == before, "a bad file was stylised"
        choose(page, big)
        wait_for(lambda: "scaled down to 512×341" in message(page) and frames(page) > before, UI_TIMEOUT,
                 what="the scaled-down photo, said so")
        assert pixels(page, "output").shape == (341, 512, 3)
        page.locator("button.stlib-lab-camera").click()
        wait_for(lambda: "camera was refused" in message(page), UI_TIMEOUT, what="the refused-camera message")
        browser.check("bad input")
    finally:
        browser.context.close()
