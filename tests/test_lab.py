"""The Live lab page (``make site``'s ``lab.html``) in headless Chromium, with no kernel and no network.

Builds only the lab page (``tools/build_site.py --fast lab``: the shipped networks of data/networks/),
serves it from 127.0.0.1 with the cross-origin isolation headers of ``make serve``, and blocks every request
that is not to that server. A photo chosen through the file chooser is stylised as PyTorch paints it with the
same network; Chromium's fake camera is stylised frame after frame (the frame rate is printed: a measurement,
not a pass mark; `benchmarks/bench_lab.py` measures it properly) while a main-thread timer keeps its period (the
network runs in a Web Worker); frames slower than ``?min_fps=`` drop to smaller squares, said on the page; the
widget's way, with the runtime sent as bytes to a page that is not cross-origin isolated, paints too; a file that
is not an image, a photo too large and a refused camera each get their message. Screenshots go to
``artifacts/lab/`` (git-ignored). ``STLIB_LAB_SITE_DIR=<folder>`` tests an already built site instead
(development). Run alone with::

    python -m pytest tests/test_lab.py -m browser -v -s -p no:cacheprovider
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from browser_util import Offline, built_site, wait_for
from PIL import Image

pytestmark = pytest.mark.browser

ARTIFACTS = "lab"  # artifacts/lab/ (tests/conftest.py)
CHROMIUM_ARGS = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")  # a fake camera
UI_TIMEOUT = 60.0  # the first picture compiles 14 MB of WebAssembly: seconds on a busy 2-core machine
STATS_JS = "() => { const s = document.querySelector('.stlib-lab').stlibLab; return {...s, ms: s.ms.slice()}; }"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return built_site(tmp_path_factory, "STLIB_LAB_SITE_DIR", "lab")


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
    from stlib.lab import lab_networks

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


# min_fps=0: 256 px frames however slow (the fallback to smaller frames has its own test below)
@pytest.mark.parametrize("query, label", [("?threads=1&min_fps=0", "one thread"), ("?min_fps=0", "threads")])
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
        print(f"fake camera, {label} ({stats['backend']}): {fps:.1f} frames/s at {stats['side']} px, network "
              f"{np.median(stats['ms']):.0f} ms per frame, the whole frame {np.median(stats['frame_ms']):.0f} ms "
              "(medians)")
        assert frames(page) > start, "the camera's frames stopped being stylised"
        assert stats["side"] == 256 and pixels(page, "output").shape == (256, 256, 3)
        assert np.abs(pixels(page, "output").astype(int) - first).mean() > 0.5, "every frame is the same picture"
        # the page's frame rate appears once its first 1 s window has closed (a fast network fills 14 frames sooner)
        wait_for(lambda: "frames/s" in page.locator(".stlib-lab-status").inner_text(), 10,
                 what="the frame rate on the page")
        assert ("1 thread" in stats["backend"]) == ("threads=1" in query)
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


# a timer on the main thread, every 10 ms, noting the time since its last call (how late the page answers)
TIMER = """window.stlibGaps = []; let last = performance.now();
setInterval(() => { const now = performance.now(); window.stlibGaps.push(now - last); last = now; }, 10);"""


def test_the_network_runs_in_a_worker_so_the_page_stays_responsive(server, chromium):
    # 256 px frames held (min_fps=0): on the main thread each frame's network would hold the timer for its whole
    # time, ~60 ms on a quiet 2-core machine and more under load; in the worker the timer keeps its period
    browser = open_lab(chromium, server, "?threads=1&min_fps=0", init_script=TIMER)
    page = browser.page
    try:
        page.locator("button.stlib-lab-camera").click()
        wait_for(lambda: page.evaluate(STATS_JS)["source"] == "camera" and frames(page) >= 3, UI_TIMEOUT,
                 what="camera frames stylised")
        page.evaluate("() => { window.stlibGaps = []; }")
        start, t0 = frames(page), time.perf_counter()
        wait_for(lambda: frames(page) >= start + 5 and time.perf_counter() - t0 > 2, 30, what="five more frames")
        gaps, elapsed = np.array(page.evaluate("() => window.stlibGaps")), time.perf_counter() - t0
        stats = page.evaluate(STATS_JS)
        painted = frames(page) - start
        network = np.median(stats["ms"][-painted:])
        print(f"main-thread timer (10 ms) while {painted} frames were painted: median {np.median(gaps):.1f} ms, "
              f"90th percentile {np.percentile(gaps, 90):.1f} ms, longest {gaps.max():.1f} ms; the network "
              f"{network:.0f} ms per frame (median)")
        assert "in a worker" in stats["backend"] and stats["side"] == 256
        assert np.median(gaps) <= 20, "the main thread waited for the network"
        assert len(gaps) >= 0.5 * elapsed / 0.010, "the main-thread timer fired far less often than every 10 ms"
        browser.check("the camera in a worker")
    finally:
        browser.context.close()


def test_slow_frames_fall_back_to_a_smaller_square_and_say_so(server, chromium):
    browser = open_lab(chromium, server, "?threads=1&min_fps=1000")  # every frame is too slow
    page = browser.page
    try:
        page.locator("button.stlib-lab-camera").click()
        for before, side in ((256, 192), (192, 128)):
            text = wait_for(lambda side=side: page.evaluate(STATS_JS)["side"] == side and message(page), UI_TIMEOUT,
                            what=f"{side} px frames")
            assert re.fullmatch(rf"frames were slow \(\d+ frames/s at {before} px\): painting {side} px frames", text)
        time.sleep(3)  # 128 px is the smallest
        assert page.evaluate(STATS_JS)["side"] == 128 and pixels(page, "output").shape == (128, 128, 3)
        assert "painting 128 px frames" in message(page)
        browser.check("slow frames")
    finally:
        browser.context.close()


# The widget in a kernel: the runtime and the networks arrive as bytes (anywidget's DataViews, here views into a
# larger buffer) and the page is not cross-origin isolated; the worker imports the runtime from a Blob URL
KERNEL_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="stylesheet" href="static/lab/lab.css">
</head><body><div id="lab"></div><script type="module">
import lab from "./static/lab/lab.js";
async function get(path) {
  const data = new Uint8Array(await (await fetch(path)).arrayBuffer()), padded = new Uint8Array(data.length + 8);
  padded.set(data, 4);
  return new DataView(padded.buffer, 4, data.length);
}
const state = { networks: {}, runtime: {}, runtime_url: "", photo: PHOTO, threads: 0 };
for (const name of RUNTIME) state.runtime[name] = await get("static/onnxruntime-web/" + name);
for (const style of STYLES) state.networks[style] = await get(`lab/${style}.onnx`);
const model = { get: (key) => state[key], set() {}, save_changes() {}, on() {}, off() {} };
lab.render({ model, el: document.getElementById("lab") });
</script></body></html>"""


def test_the_widget_runs_with_the_runtime_as_bytes(server, chromium, site):
    import json

    from stlib import load_image
    from stlib.images import frame_url
    from stlib.lab import ORT_FILES

    page_text = (KERNEL_PAGE.replace("PHOTO", json.dumps(frame_url(load_image("chelsea", max_size=128))))
                 .replace("RUNTIME", json.dumps(ORT_FILES))
                 .replace("STYLES", json.dumps(sorted(p.stem for p in (site / "lab").glob("*.onnx")))))
    browser = Offline(chromium, server)
    page = browser.page
    page.route(f"{server}/kernel.html", lambda route: route.fulfill(body=page_text, content_type="text/html"))
    try:
        page.goto(f"{server}/kernel.html")
        wait_for(lambda: frames(page) >= 1, UI_TIMEOUT, what="the sample photo stylised")
        assert not page.evaluate("() => self.crossOriginIsolated")
        assert page.evaluate(STATS_JS)["backend"] == "WebAssembly in a worker, 1 thread"
        assert np.abs(pixels(page, "output") / 255 - pixels(page, "input") / 255).mean() > 4 / 255
        page.locator("select.stlib-lab-style").select_option(index=1)  # the other network, from its bytes
        wait_for(lambda: frames(page) >= 2, UI_TIMEOUT, what="the photo in another style")
        assert message(page) == ""
        browser.check("the runtime as bytes")
    finally:
        browser.context.close()

