"""A student in a real browser: JupyterLab + headless Chromium drive the SnapshotViewer.

For each notebook: open it in JupyterLab (a copy in a temporary folder, fast mode), wait for
the kernel, Run → Run All Cells, fail on the first error, then on the first `SnapshotViewer`
move the epoch slider (End, ← →), pick another run in the selector (on the first viewer that offers
a choice) and press Play, checking each time that the picture on screen changes. The viewer runs in
the browser (stlib/viewer.js); every wait reads its root's ``data-shown="<run>@<index>"``, set once
that exact frame is decoded, so no screenshot races a swap. In lesson 07 the
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
    LabServer,
    ViewerUI,
    code_cell_count,
    copy_notebooks,
    first_error,
    kernel_print,
    missing_browser_reason,
    open_notebook,
    run_all_cells,
    scrub_viewer,
    stripped_copy,
    wait_all_executed,
    wait_for,
    write_synthetic_notebook,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = "browser"  # artifacts/browser/ (tests/conftest.py)
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


# ---------------------------------------------------------------------------------------------


SCOPE = ".jp-OutputArea-output"  # where JupyterLab renders widgets


@pytest.mark.parametrize(("notebook", "prefix", "run_timeout"), CASES)
def test_student_scrubs_snapshot_viewer(page, lab, artifacts, tmp_path, notebook, prefix, run_timeout):
    path = lab.root / notebook
    if not path.exists():
        pytest.fail(f"notebooks/{notebook} does not exist: the browser test covers it")
    stripped_copy(path, path)  # the temporary copy starts without outputs, as a student's clean checkout
    expected = code_cell_count(path)
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

    # the first SnapshotViewer, as a student sees it (stlib/viewer.js: everything runs in the browser)
    timings = scrub_viewer(page, SCOPE, lambda v, name: save(v, artifacts, f"{prefix}_{name}"), UI_TIMEOUT, notebook)
    print(f"{notebook}: {timings}")


def save(v: ViewerUI, artifacts: Path, name: str) -> None:
    v.root.scroll_into_view_if_needed()
    v.root.screenshot(path=str(artifacts / f"{name}.png"), animations="disabled")
    v.page.screenshot(path=str(artifacts / f"{name}_page.png"))


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
