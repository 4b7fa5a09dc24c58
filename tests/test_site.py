"""The course as a static website (``make site``), read in Chromium with no kernel and no network.

Builds lessons 02 and 07 in fast mode (``tools/build_site.py --fast``), serves the folder from
127.0.0.1, and blocks every request that is not to that server. On each page: the snapshot viewers
render from the embedded widget state, the epoch slider (End, ← →), the run selector and Play change
the picture, MathJax typesets from the site's own copy, and no request was blocked or failed.
Measures the frame swap (slider input → next painted frame, picture decoded) and Play's frame rate,
and writes them with the page sizes to ``artifacts/site/measurements.json``; screenshots go to
``artifacts/site/`` (git-ignored).

Skipped, with the reason, without Playwright/Chromium, or without npm when the npm tarballs are not
already in ``build/npm/``. ``STLIB_SITE_DIR=<folder>`` tests an already built site instead (development).
Run alone with::

    python -m pytest tests/test_site.py -m browser -v -p no:cacheprovider
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from browser_util import (
    Offline,
    ViewerUI,
    changed_fraction,
    launched_chromium,
    missing_browser_reason,
    serving,
    wait_for,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "site"
LESSONS = ["02_content_loss", "07_style_transfer"]
SCOPE = ".jp-OutputArea-output"  # nbconvert's lab template renders each widget inside one
PAGE_LIMIT = 5 * 2**20
BUILD_TIMEOUT = float(os.environ.get("STLIB_BROWSER_TIMEOUT", "900")) * len(LESSONS)
UI_TIMEOUT = 15.0  # no kernel: everything below happens in the page, seconds at most on a busy machine
CHANGED = 0.05


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"site test skipped: {reason}")
    prebuilt = os.environ.get("STLIB_SITE_DIR")
    if prebuilt:
        return Path(prebuilt)
    if shutil.which("npm") is None and not any((REPO / "build" / "npm").glob("*.tgz")):
        pytest.skip("site test skipped: npm is missing (needed once to fetch require.js, the widget manager, MathJax)")
    out = tmp_path_factory.mktemp("site") / "site"
    cmd = [sys.executable, str(REPO / "tools" / "build_site.py"), "--fast", "--out", str(out),
           *(name[:2] for name in LESSONS)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert proc.returncode == 0, f"make site failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    print(proc.stdout)
    return out


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(site):
    with serving(functools.partial(QuietHandler, directory=str(site))) as url:
        yield url


@pytest.fixture(scope="module")
def chromium(site):
    with launched_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="module")
def measurements(artifacts):
    data: dict = {}
    yield data
    (artifacts / "measurements.json").write_text(json.dumps(data, indent=2))


def test_site_pages_index_and_sizes(site, server, chromium, artifacts, measurements):
    sizes = {p.name: p.stat().st_size for p in sorted(site.glob("*.html"))}
    measurements["page_bytes"] = sizes
    measurements["site_bytes"] = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    for name in LESSONS:
        assert f"{name}.html" in sizes, f"the site has no page for {name}: {sorted(sizes)}"
        assert sizes[f"{name}.html"] < PAGE_LIMIT, f"{name}.html is {sizes[f'{name}.html'] / 2**20:.1f} MB"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", (site / f"{LESSONS[0]}.html").read_text()), \
        "a lesson page loads something from another server"
    browser = Offline(chromium, server)
    try:
        browser.page.goto(f"{server}/index.html")
        links = browser.page.locator("table a[href$='.html']")  # the lessons (the Live lab's link is above)
        assert links.count() == len(LESSONS)
        browser.page.screenshot(path=str(artifacts / "index.png"), full_page=True)
        links.nth(0).click()
        browser.page.wait_for_url(f"{server}/{LESSONS[0]}.html")
        banner = browser.page.locator(".stlib-site-banner")
        assert "fast mode" in banner.inner_text(), "the page must say in which mode it was executed"
        browser.check("index")
    finally:
        browser.context.close()


@pytest.mark.parametrize("lesson", LESSONS)
def test_site_viewer_scrubs_without_kernel_or_network(site, server, chromium, artifacts, measurements, lesson):
    html = (site / f"{lesson}.html").read_text()
    expected = len(re.findall(r'"_anywidget_id":\s*"stlib\.widgets\.SnapshotViewer"', html))
    assert expected >= 1, f"{lesson}.html holds no SnapshotViewer state"
    browser = Offline(chromium, server)
    page = browser.page
    try:
        page.goto(f"{server}/{lesson}.html")
        wait_for(lambda: ViewerUI.count(page, SCOPE) == expected, 60, what=f"{expected} viewers to render")
        # MathJax (the site's own copy) has typeset the page; a lesson with formulas shows them typeset
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        if re.search(r"\$\$[^$<]*\\[a-z]+", html):
            assert page.locator("mjx-container").count() > 0, "the formulas were not typeset"
        page.screenshot(path=str(artifacts / f"{lesson}_top.png"))

        v = ViewerUI(page, SCOPE)
        v.root.scroll_into_view_if_needed()
        run0, last = v.run(), v.last()
        v.wait_shown(run0, 0, UI_TIMEOUT, "the first frame")
        start_label = v.read()
        start = v.shot()
        shot(v, artifacts, f"{lesson}_viewer_initial")

        # slider: End on the focused slider, then ← and → on the viewer
        v.slider.focus()
        page.keyboard.press("End")
        v.wait_shown(run0, last, UI_TIMEOUT, "slider → last epoch")
        last_label = v.read()
        at_end = v.shot()
        assert changed_fraction(start, at_end) >= CHANGED, "the slider did not change the picture"
        assert last_label != start_label and last_label in v.caption.inner_text()
        shot(v, artifacts, f"{lesson}_viewer_after_slider")
        page.keyboard.press("ArrowLeft")
        v.wait_shown(run0, last - 1, UI_TIMEOUT, "←")
        assert changed_fraction(at_end, v.shot(), tol=0) > 0, "← did not change the picture"
        page.keyboard.press("ArrowRight")
        v.wait_shown(run0, last, UI_TIMEOUT, "→")

        # frame swap: slider input → picture decoded and set (and → next painted frame); every epoch, twice
        swaps = [v.swap_ms(i) for _ in range(2) for i in range(last + 1)]
        decoded, painted = [s["decoded"] for s in swaps], [s["painted"] for s in swaps]
        v.wait_shown(run0, last, UI_TIMEOUT, "the last swap")

        # selector: on the first viewer with a choice, another run at the last epoch
        w = v
        if v.buttons.count() < 2:
            choices = [i for i in range(1, expected) if ViewerUI(page, SCOPE, i).buttons.count() >= 2]
            assert choices, f"{lesson}: no viewer with two or more runs"
            w = ViewerUI(page, SCOPE, choices[0])
            w.root.scroll_into_view_if_needed()
            w.slider.focus()
            page.keyboard.press("End")
            w.wait_shown(w.run(), w.last(), UI_TIMEOUT, "second viewer → last epoch")
        before = w.shot()
        idle = [i for i in range(w.buttons.count()) if "active" not in (w.buttons.nth(i).get_attribute("class") or "")]
        option = w.buttons.nth(idle[-1]).inner_text().strip()
        w.buttons.nth(idle[-1]).click()
        w.wait_shown(option, w.last(), UI_TIMEOUT, f"selector → {option!r}")
        assert changed_fraction(before, w.shot()) >= CHANGED, f"selecting {option!r} did not change the picture"
        assert option in w.caption.inner_text()
        shot(w, artifacts, f"{lesson}_viewer_after_selector")

        # Play from the first epoch: every frame in order, to the last, at Play's rate
        v.root.scroll_into_view_if_needed()
        run = v.run()
        v.slider.focus()
        page.keyboard.press("Home")
        v.wait_shown(run, 0, UI_TIMEOUT, "Home")
        first = v.shot()
        logged = len(v.shown_log())
        v.play_button.click()
        v.wait_shown(run, last, UI_TIMEOUT, "Play reached the last epoch")
        wait_for(lambda: v.root.get_attribute("data-playing") == "false", UI_TIMEOUT, interval=0.05,
                 what="Play to stop at the last epoch")
        played = [f for f in v.shown_log()[logged:] if f["run"] == run]
        assert [f["index"] for f in played] == list(range(1, last + 1)), f"Play skipped or repeated: {played}"
        assert changed_fraction(first, v.shot()) >= CHANGED, "Play did not change the picture"
        shot(v, artifacts, f"{lesson}_viewer_after_play")
        fps = None
        if len(played) >= 2:
            fps = 1000 * (len(played) - 1) / (played[-1]["t"] - played[0]["t"])
        page.screenshot(path=str(artifacts / f"{lesson}_page.png"))
        measurements[lesson] = {"viewers": expected, "frames_per_run": last + 1,
                                "swap_ms_median": round(statistics.median(decoded), 2),
                                "swap_ms_max": round(max(decoded), 2),
                                "swap_to_paint_ms_median": round(statistics.median(painted), 2),
                                "play_fps": round(fps, 1) if fps else None}
        # printed, not asserted: timings are figures to read (a busy CI machine must not fail the test)
        print(f"{lesson}: {measurements[lesson]}")
        browser.check(lesson)
    finally:
        browser.context.close()


def shot(v: ViewerUI, artifacts: Path, name: str) -> None:
    v.root.scroll_into_view_if_needed()
    v.root.screenshot(path=str(artifacts / f"{name}.png"), animations="disabled")
