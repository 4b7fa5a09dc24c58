"""The course as a static website (``make site``), read in Chromium with no kernel and no network.

Builds lessons 02 and 07 in fast mode (``tools/build_site.py --fast``), serves the folder from
127.0.0.1 as ``make serve`` does, and blocks every request that is not to that server. On each page: the
snapshot viewers render from the embedded widget state, the epoch slider (End, ← →), the run selector and Play change
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

import json
import os
import re
import sys
from pathlib import Path

import pytest
from browser_util import Offline, ViewerUI, built_site, scrub_viewer, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import build_site  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = "site"  # artifacts/site/ (tests/conftest.py)
LESSONS = ["02_content_loss", "07_style_transfer"]
SCOPE = ".jp-OutputArea-output"  # nbconvert's lab template renders each widget inside one
BUILD_TIMEOUT = float(os.environ.get("STLIB_BROWSER_TIMEOUT", "900")) * len(LESSONS)
UI_TIMEOUT = 15.0  # no kernel: everything below happens in the page, seconds at most on a busy machine


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return built_site(tmp_path_factory, "STLIB_SITE_DIR", *(name[:2] for name in LESSONS), timeout=BUILD_TIMEOUT)


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
        assert sizes[f"{name}.html"] < build_site.PAGE_LIMIT, f"{name}.html is {sizes[f'{name}.html'] / 2**20:.1f} MB"
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

        measurements[lesson] = {"viewers": expected, **scrub_viewer(
            page, SCOPE, lambda v, name: shot(v, artifacts, f"{lesson}_viewer_{name}"), UI_TIMEOUT, lesson)}
        page.screenshot(path=str(artifacts / f"{lesson}_page.png"))
        # printed, not asserted: timings are figures to read (a busy CI machine must not fail the test)
        print(f"{lesson}: {measurements[lesson]}")
        browser.check(lesson)
    finally:
        browser.context.close()


def shot(v: ViewerUI, artifacts: Path, name: str) -> None:
    v.root.scroll_into_view_if_needed()
    v.root.screenshot(path=str(artifacts / f"{name}.png"), animations="disabled")
