"""A student in a real browser: JupyterLab + headless Chromium drive the SnapshotViewer.

For each notebook: open it in JupyterLab (a copy in a temporary folder, fast mode), wait for
the kernel, Run → Run All Cells, fail on the first error, then on the first `SnapshotViewer`
move the epoch slider, pick another run in the selector (on the first viewer that offers a
choice) and press Play, checking each time that the picture on screen changes. In lesson 07 the
student then uploads a photo through the image picker's button (the kernel must hold it) and a
file that is not an image (a one-line message; the photo stays chosen). A synthetic notebook
(fake runs, no VGG) is always tested too. Screenshots go to ``artifacts/browser/`` (git-ignored):
``<prefix>_{initial,after_slider,after_layer,after_play}[_page].png``, ``07_upload_{ok,bad}.png``,
and ``<prefix>_failure_page.png`` when something fails.

Skipped, with the reason, when the ``playwright`` package or ``/usr/bin/chromium`` is
missing. Run alone with::

    python -m pytest tests/test_browser.py -m browser -v -p no:cacheprovider
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from browser_util import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LabServer,
    changed_fraction,
    code_cell_count,
    copy_notebooks,
    first_error,
    kernel_print,
    missing_browser_reason,
    open_notebook,
    run_all_cells,
    stripped_copy,
    wait_all_executed,
    wait_for,
    write_synthetic_notebook,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts" / "browser"
SYNTHETIC = "_browser_synthetic_viewer.ipynb"  # written into the temporary copy only

# (notebook, artefact prefix, longest Run All in seconds). With a cold cache, 07 takes about 35 s in
# fast mode on an idle 2-core machine (measured 2026-11-23) and many times that on one shared with
# other jobs; the limit leaves room for a busy machine, and a hung cell (no cell finished,
# no new output) fails after STALL seconds. STLIB_BROWSER_TIMEOUT (seconds) overrides the lessons' limit.
# Results go to the session's (temporary) stlib cache, which nbval can replay later in the same session.
LESSON_TIMEOUT = float(os.environ.get("STLIB_BROWSER_TIMEOUT", "900"))
STALL = 180.0
CASES = [
    pytest.param(SYNTHETIC, "synthetic", 120, id="synthetic"),
    pytest.param("02_content_loss.ipynb", "02", LESSON_TIMEOUT, id="02_content_loss"),
    pytest.param("07_style_transfer.ipynb", "07", LESSON_TIMEOUT, id="07_style_transfer"),
]
# lessons whose first ImagePicker the student also uploads to, with the picker's name in the kernel
UPLOADS = {"07": "content_picker"}

CHANGED = 0.05  # at least 5 % of the image's pixels must change for "the picture changed"
UI_TIMEOUT = 15.0  # seconds for one widget round trip (browser → kernel → browser) on a busy machine


@pytest.fixture(scope="module")
def browser_available() -> None:
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")


@pytest.fixture(scope="module")
def lab(browser_available, tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab serving a stripped copy of notebooks/ plus the synthetic notebook."""
    work = tmp_path_factory.mktemp("jupyterlab")
    root = copy_notebooks(NOTEBOOKS, work / "notebooks")
    write_synthetic_notebook(root / SYNTHETIC)
    # a temporary stlib cache: the session's (tests/conftest.py points STLIB_CACHE_DIR at a tmp folder for
    # the whole run, so lessons executed earlier in the session replay here), else one of our own
    cache = os.environ.get("STLIB_CACHE_DIR") or str(work / "stlib-cache")
    server = LabServer(root, work, env={"STLIB_CACHE_DIR": cache})
    try:
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium, lab):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
        lab.shutdown_kernels()  # one kernel at a time on a 2-core machine


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ---------------------------------------------------------------------------------------------


class Viewer:
    """The first SnapshotViewer on the page, seen as DOM elements."""

    # the VBox built by stlib.widgets.SnapshotViewer: selector, [Play, slider], [pictures…], caption
    SELECTOR = (".widget-vbox:has(> .widget-toggle-buttons):has(> .widget-hbox > .widget-play)"
                ":has(> .widget-hbox > .widget-slider):has(> .widget-hbox > img.widget-image)")

    def __init__(self, page, index: int = 0):
        self.page = page
        self.root = self.all(page).nth(index)
        self.root.wait_for(state="visible", timeout=30_000)
        self.play_button = self.root.locator(":scope > .widget-hbox > .widget-play button").first
        self.handle = self.root.locator(":scope > .widget-hbox > .widget-slider .noUi-handle").first
        self.readout = self.root.locator(":scope > .widget-hbox > .widget-slider .widget-readout").first
        # the snapshot is the row's first picture (the target sits in its own VBox, the curve comes last)
        self.image = self.root.locator(":scope > .widget-hbox > img.widget-image").first
        self.buttons = self.root.locator(":scope > .widget-toggle-buttons button")
        self.caption = self.root.locator(":scope > .widget-html").last

    @classmethod
    def all(cls, page):
        return page.locator(f".jp-OutputArea-output {cls.SELECTOR}")

    def src(self) -> str:
        return self.image.get_attribute("src") or ""

    def loaded(self) -> bool:
        return self.image.evaluate("img => img.complete && img.naturalWidth > 0")

    def shot(self) -> bytes:
        wait_for(self.loaded, UI_TIMEOUT, what="the snapshot image to load")
        return self.image.screenshot(animations="disabled")

    def distortions(self) -> dict[str, float]:
        """For each picture in the viewer: displayed aspect ratio / the PNG's own, minus 1 (0 = undistorted)."""
        return self.root.locator("img.widget-image").evaluate_all(
            """imgs => Object.fromEntries(imgs.map((img, i) => {
                 const r = img.getBoundingClientRect();
                 return [i + ':' + img.naturalWidth + 'x' + img.naturalHeight + ' shown ' +
                         Math.round(r.width) + 'x' + Math.round(r.height),
                         (r.width / r.height) / (img.naturalWidth / img.naturalHeight) - 1];
               }))""")

    def read(self) -> str:
        return self.readout.inner_text().strip()

    def save(self, artifacts: Path, name: str) -> None:
        self.root.scroll_into_view_if_needed()
        self.root.screenshot(path=str(artifacts / f"{name}.png"), animations="disabled")
        self.page.screenshot(path=str(artifacts / f"{name}_page.png"))

    def wait_new_picture(self, old_src: str, what: str) -> None:
        wait_for(lambda: self.src() not in ("", old_src), UI_TIMEOUT, what=f"the snapshot image to change ({what})")


def assert_changed(before: bytes, after: bytes, what: str) -> None:
    frac = changed_fraction(before, after)
    assert frac >= CHANGED, f"{what}: the snapshot on screen barely changed ({frac:.1%} of pixels)"


@pytest.mark.parametrize(("notebook", "prefix", "run_timeout"), CASES)
def test_student_scrubs_snapshot_viewer(page, lab, artifacts, tmp_path, notebook, prefix, run_timeout):
    path = lab.root / notebook
    if not path.exists():
        pytest.fail(f"notebooks/{notebook} does not exist: the browser test covers it")
    stripped_copy(path, path)  # the temporary copy starts without outputs, as a student's clean checkout
    expected = code_cell_count(path)
    for old in artifacts.glob(f"{prefix}_*.png"):  # no stale pictures from an earlier run
        old.unlink()
    try:
        student_session(page, lab, artifacts, notebook, prefix, run_timeout, expected)
        if prefix in UPLOADS:
            student_uploads(page, artifacts, prefix, UPLOADS[prefix], tmp_path)
    except BaseException:
        try:  # what the student saw when it went wrong
            page.screenshot(path=str(artifacts / f"{prefix}_failure_page.png"), timeout=10_000)
        except Exception:  # noqa: BLE001 - never hide the real failure
            pass
        raise


def student_session(page, lab, artifacts: Path, notebook: str, prefix: str, run_timeout: float, expected: int):

    # open, wait for the kernel, Run All, wait for every cell, fail on the first error
    t0 = time.monotonic()
    open_notebook(page, lab, notebook)
    run_all_cells(page)
    state = wait_all_executed(page, expected, timeout=run_timeout, stall=STALL)
    error = first_error(state, expected)
    if error:
        pytest.fail(f"{notebook}: {error}")
    print(f"{notebook}: {expected} code cells ran in {time.monotonic() - t0:.0f} s")

    # the first SnapshotViewer, as a student sees it
    v = Viewer(page)
    v.root.scroll_into_view_if_needed()
    wait_for(lambda: v.src() and v.loaded(), UI_TIMEOUT, what="the first snapshot to show")
    labels_start, caption_start = v.read(), v.caption.inner_text()
    # pictures keep their proportions (a flex row must not stretch a snapshot to its tallest neighbour)
    bad = {k: f"{d:+.0%}" for k, d in v.distortions().items() if abs(d) > 0.03}
    assert not bad, f"pictures in the viewer are shown distorted (aspect ratio change): {bad}"
    start = v.shot()
    v.save(artifacts, f"{prefix}_initial")

    # 1. epoch slider: keyboard on the noUiSlider handle, End = last epoch
    src = v.src()
    v.handle.focus()
    v.page.keyboard.press("End")
    v.wait_new_picture(src, "slider moved to the last epoch")
    wait_for(lambda: v.read() != labels_start, UI_TIMEOUT, what="the slider readout to change")
    last_label = v.read()
    after_slider = v.shot()
    assert_changed(start, after_slider, f"slider {labels_start!r} → {last_label!r}")
    # each widget syncs on its own message: the caption may land after the picture, so wait for it too
    wait_for(lambda: v.caption.inner_text() != caption_start, UI_TIMEOUT, what="the caption to follow the slider")
    v.save(artifacts, f"{prefix}_after_slider")

    # 2. run selector: click an option that is not selected, at the last epoch (where runs differ), on the
    #    first viewer that has a choice (07's first viewer shows a single run; its second one, nine)
    w = v
    if v.buttons.count() < 2:
        choices = [i for i in range(1, Viewer.all(page).count()) if Viewer(page, i).buttons.count() >= 2]
        w = Viewer(page, choices[0]) if choices else None
        assert w is not None, f"{notebook}: no SnapshotViewer with two or more runs to choose between"
        w.root.scroll_into_view_if_needed()
        src = w.src()
        w.handle.focus()
        page.keyboard.press("End")
        w.wait_new_picture(src, "second viewer's slider moved to the last epoch")
    before = w.shot()
    n_options = w.buttons.count()
    classes = [w.buttons.nth(i).get_attribute("class") or "" for i in range(n_options)]
    idle = [i for i, c in enumerate(classes) if "mod-active" not in c]
    assert idle, f"every selector button is active: {classes}"
    target = w.buttons.nth(idle[-1])  # by position: a ':not(.mod-active)' locator would move on click
    option = target.inner_text().strip()
    src = w.src()
    target.click()
    w.wait_new_picture(src, f"selector → {option!r}")
    wait_for(lambda: "mod-active" in (target.get_attribute("class") or ""), UI_TIMEOUT,
             what=f"{option!r} to show as selected")
    after_layer = w.shot()
    assert_changed(before, after_layer, f"selector → {option!r}")
    wait_for(lambda: option in w.caption.inner_text(), UI_TIMEOUT,
             what=f"the caption to name the chosen run {option!r}")
    w.save(artifacts, f"{prefix}_after_layer")
    if w is not v:  # Play below runs on the first viewer, whose last frame is the slider's
        after_layer = after_slider
        v.root.scroll_into_view_if_needed()

    # 3. back to the start, then Play: the slider and the picture advance on their own
    src = v.src()
    v.handle.focus()
    v.page.keyboard.press("Home")
    v.wait_new_picture(src, "slider back to the first epoch")
    wait_for(lambda: v.read() == labels_start, UI_TIMEOUT, what=f"the readout to return to {labels_start!r}")
    before_play = v.shot()
    src = v.src()
    v.play_button.click()
    wait_for(lambda: v.read() != labels_start, 5.0, interval=0.1, what="Play to advance the slider")
    v.wait_new_picture(src, "Play advanced")
    advanced, label = v.shot(), v.read()
    # early frames can be close (07 starts from the content image and moves it little in 4 steps): any change
    assert changed_fraction(before_play, advanced, tol=0) > 0, f"Play {labels_start!r} → {label!r}: same picture"
    # Play stops at the last epoch; the frame there is the one the slider showed for this run
    wait_for(lambda: v.read() == last_label, UI_TIMEOUT, what=f"Play to reach {last_label!r}")
    wait_for(lambda: changed_fraction(after_layer, v.shot()) < 0.01, UI_TIMEOUT,
             what=f"Play's last frame ({last_label!r}) to be the picture the slider showed there")
    assert_changed(before_play, v.shot(), f"Play {labels_start!r} → {last_label!r}")
    v.save(artifacts, f"{prefix}_after_play")


def student_uploads(page, artifacts: Path, prefix: str, picker_name: str, folder: Path) -> None:
    """Upload a photo through the first ImagePicker's button, then a file that is not an image."""
    from PIL import Image

    # the VBox built by stlib.widgets.ImagePicker: [Dropdown, FileUpload], message
    picker = page.locator(".jp-OutputArea-output .widget-vbox:has(> .widget-hbox > .widget-upload)").first
    picker.wait_for(state="visible", timeout=30_000)
    picker.scroll_into_view_if_needed()
    button = picker.locator(".widget-upload").first
    message = picker.locator(":scope > .widget-html").first
    photo, notes = folder / "my_photo.png", folder / "notes.txt"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo)
    notes.write_text("not a picture")
    kept = "my_photo.png (1, 3, 30, 40)"  # the picker's label and the uploaded image's shape, in the kernel

    def upload(path: Path) -> None:
        with page.expect_file_chooser() as chooser:  # the button opens the browser's file dialog
            button.click()
        chooser.value.set_files(str(path))

    upload(photo)
    wait_for(lambda: "using uploaded my_photo.png" in message.inner_text(), UI_TIMEOUT,
             what="the picker to confirm the upload")
    code = f"print({picker_name}.label, tuple({picker_name}.image(None).shape))"
    assert kernel_print(page, code) == kept, "the kernel did not get the uploaded photo"
    picker.screenshot(path=str(artifacts / f"{prefix}_upload_ok.png"))

    upload(notes)
    wait_for(lambda: "notes.txt: not an image file" in message.inner_text(), UI_TIMEOUT,
             what="a one-line message for a file that is not an image")
    assert "still using uploaded my_photo.png" in message.inner_text()
    assert "\n" not in message.inner_text().strip()
    assert kernel_print(page, code) == kept, "a bad upload must keep the last good choice"
    picker.screenshot(path=str(artifacts / f"{prefix}_upload_bad.png"))
