"""Helpers for the browser tests (test_browser, test_site, test_lab): a throw-away JupyterLab server, a student in
Chromium, the snapshot viewer scrubbed as a student does (`scrub_viewer`), a built site (`built_site`).

Nothing here touches the repository's notebooks: the server serves a copy in a temporary
folder, with its own settings, workspaces, runtime, IPython and stlib cache folders.
The Playwright helpers act through the UI (menu, slider keys, buttons) and read the
notebook's state through ``window.jupyterapp`` (``--LabApp.expose_app_in_browser``),
which says precisely whether a cell is still queued, has run, or raised.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import nbformat

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
SERVER_START_TIMEOUT = 60.0


@contextmanager
def launched_chromium(*args: str):
    """Headless Debian Chromium through Playwright (``args``: more flags), closed on exit (module fixtures)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args], headless=True)
        try:
            yield browser
        finally:
            browser.close()

# ---------------------------------------------------------------------------------------------
# the static site, offline


class Offline:
    """A browser context where only ``base`` answers; everything else is blocked and recorded."""

    def __init__(self, chromium, base: str):
        self.base = base
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context = chromium.new_context(viewport={"width": 1300, "height": 1000})
        self.context.set_default_timeout(30_000)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        self.page.on("requestfailed", lambda r: r.url.startswith(base) and self.failed.append(f"failed {r.url}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def check(self, what: str) -> None:
        assert not self.blocked, f"{what}: requests to other servers (a CDN?) were blocked: {self.blocked}"
        assert not self.failed, f"{what}: requests failed: {self.failed}"
        assert not self.errors, f"{what}: JavaScript errors: {self.errors}"


# ---------------------------------------------------------------------------------------------
# availability


def missing_browser_reason() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import ipywidgets  # noqa: F401
        import jupyterlab  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed (pip install -e '.[lessons]')"
    return None


# ---------------------------------------------------------------------------------------------
# notebooks


def stripped_copy(src: Path, dst: Path) -> Path:
    """Copy a notebook with every output and execution count removed (a clean first run)."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                          "language": "python"})
    nbformat.write(nb, dst)
    return dst


def copy_notebooks(src_dir: Path, dst_dir: Path) -> Path:
    """``src_dir`` (the repo's notebooks/) → ``dst_dir``, as files (strip each with `stripped_copy` before use)."""
    shutil.copytree(src_dir, dst_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dst_dir


SYNTHETIC_SOURCE = '''\
import torch
from stlib.optim import Result
from stlib.widgets import SnapshotViewer

gen = torch.Generator().manual_seed(0)
epochs = [0, 3, 6, 11, 21]


def fake_run(seed_shift: float) -> Result:
    # each snapshot is a different random picture, so every move must change the image
    snaps = {e: torch.rand(1, 3, 64, 64, generator=gen) for e in epochs}
    history = [{"total": 100.0 * (1 + seed_shift) / (s + 1)} for s in range(max(epochs))]
    return Result(image=snaps[max(epochs)], snapshots=snaps, history=history, steps=max(epochs))


runs = {name: fake_run(i) for i, name in enumerate(["conv1_1", "conv2_1", "conv3_1"])}
viewer = SnapshotViewer(runs, target=torch.rand(1, 3, 64, 64, generator=gen))
viewer
'''


def write_synthetic_notebook(path: Path) -> Path:
    """A two-cell notebook that shows a `SnapshotViewer` over fake runs (no VGG, seconds to run)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Synthetic SnapshotViewer\nFake runs with random snapshots."),
        nbformat.v4.new_code_cell(SYNTHETIC_SOURCE),
        nbformat.v4.new_code_cell("print('viewer epochs:', viewer.epochs)"),
    ]
    nbformat.write(nb, path)
    return path


def code_cell_count(path: Path) -> int:
    """Code cells with any source: those JupyterLab actually executes on Run All."""
    nb = nbformat.read(path, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())


# ---------------------------------------------------------------------------------------------
# the server


@contextmanager
def serving(handler):
    """Serve with ``handler`` on a free port of 127.0.0.1 from a background thread; yields the base URL and
    stops the server afterwards."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


class LabServer:
    """``jupyter lab`` on 127.0.0.1 serving ``root`` with a fresh token; always call `stop`."""

    def __init__(self, root: Path, workdir: Path, env: dict[str, str] | None = None):
        self.root = root
        self.workdir = workdir
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.extra_env = env or {}

    def start(self) -> LabServer:
        settings = self.workdir / "lab-settings"
        # every cell stays rendered (JupyterLab 4 windows long notebooks otherwise)
        _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                    {"windowingMode": "none"})
        # no news / update pop-ups, and no attempt to reach the network for them
        _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                    {"fetchNews": "false", "checkForUpdates": False})
        env = dict(os.environ)
        env.update({
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.workdir / "lab-workspaces"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "jupyter-config"),
            "IPYTHONDIR": str(self.workdir / "ipython"),
            "STLIB_FAST": "1",
            "STLIB_CACHE_DIR": str(self.workdir / "stlib-cache"),
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(self.extra_env)
        for key in ("JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR",
                    "STLIB_CACHE_DIR"):
            Path(env[key]).mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.terminals_enabled=False",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, OSError) as err:
                last = err
            time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer /api/status within {timeout:.0f} s ({last}):\n"
                           f"{self.log_tail()}")

    def shutdown_kernels(self) -> None:
        """Stop every kernel (keeps memory down between notebooks on a small machine)."""
        try:
            for session in self.api("/api/sessions"):
                self.api(f"/api/sessions/{session['id']}", method="DELETE", timeout=15)
        except Exception:  # noqa: BLE001 - best effort; stop() kills everything anyway
            pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.api("/api/shutdown", method="POST", timeout=5)
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


# ---------------------------------------------------------------------------------------------
# the browser side

# the notebook panel's state, read from JupyterLab's own models (needs expose_app_in_browser)
NOTEBOOK_STATE_JS = """
() => {
  const app = window.jupyterapp;
  if (!app) return {ready: false, why: 'window.jupyterapp not exposed yet'};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return {ready: false, why: 'no notebook panel yet'};
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  const cells = [];
  const model = panel.content.model;
  if (model) {
    for (let i = 0; i < model.cells.length; i++) {
      const cell = model.cells.get(i);
      if (cell.type !== 'code') continue;
      const outs = [];
      for (let j = 0; j < cell.outputs.length; j++) {
        const o = cell.outputs.get(j).toJSON();
        let text = '';
        if (o.output_type === 'error') text = o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n');
        else if (o.output_type === 'stream') text = Array.isArray(o.text) ? o.text.join('') : o.text;
        else if (o.data && o.data['text/plain']) text = [].concat(o.data['text/plain']).join('');
        outs.push({type: o.output_type, name: o.name || null, text: text});
      }
      cells.push({index: i, count: cell.executionCount, state: cell.executionState || null,
                  source: cell.sharedModel.getSource().slice(0, 120), outputs: outs});
    }
  }
  const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))
      .map(e => e.textContent.trim());
  return {ready: !!(kernel && ctx.isReady), kernel: kernel ? kernel.status : null,
          display: ctx.kernelDisplayStatus, cells: cells,
          queued: prompts.filter(p => p.includes('*')).length,
          dialog: !!document.querySelector('.jp-Dialog')};
}
"""

# run code in the open notebook's kernel, outside any cell (a test's look at the kernel's state); returns
# what it printed, and the error's one line if it raised
KERNEL_EXEC_JS = """
async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  let out = '';
  const future = kernel.requestExecute({code: code, silent: false, store_history: false});
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
}
"""


def kernel_print(page, code: str) -> str:
    """What ``code`` prints when run in the notebook's kernel (not in a cell: the notebook is unchanged)."""
    return page.evaluate(KERNEL_EXEC_JS, code).strip()


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def notebook_state(page) -> dict:
    return page.evaluate(NOTEBOOK_STATE_JS)


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.25, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; raise AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def open_notebook(page, server: LabServer, name: str, timeout: float = 90.0) -> dict:
    """Open ``name`` in JupyterLab and wait until its kernel is started and idle.

    Each notebook gets a workspace of its own, so JupyterLab does not also restore the tabs (and
    start the kernels) of notebooks opened earlier.
    """
    workspace = "t-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") + "-" + secrets.token_hex(3)
    page.goto(f"{server.base}/lab/workspaces/{workspace}/tree/{name}?token={server.token}",
              wait_until="domcontentloaded")
    page.locator(".jp-Notebook").first.wait_for(state="visible", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count():  # e.g. "Select Kernel" for a notebook without kernelspec: take the default
            page.locator(".jp-Dialog .jp-mod-accept").first.click()
        state = notebook_state(page)
        if state.get("ready") and state.get("kernel") == "idle" and state.get("display") == "idle":
            # the toolbar/status bar say so too (what a student waits for)
            return state
        time.sleep(0.3)
    raise AssertionError(f"kernel of {name} not idle after {timeout:.0f} s: {state}\n{server.log_tail()}")


def run_all_cells(page) -> None:
    """Run → Run All Cells, through the menu bar like a student."""
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})  # focus the notebook panel
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    # "runmenu:run-all" in the menu bar delegates to "notebook:run-all-cells"; match the label a student reads
    item = page.locator(".lm-Menu .lm-Menu-item[role=menuitem]",
                        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).first
    item.wait_for(state="visible", timeout=5000)
    item.click()


def wait_all_executed(page, expected: int, timeout: float, stall: float = 180.0) -> dict:
    """Wait until Run All finished (nothing queued, kernel idle); return the final state.

    Run All stops at the first error, so "finished" is: no cell queued or running, at least one
    cell has run, and the kernel is idle, twice in a row half a second apart. Fails after
    ``timeout`` seconds in all, or after ``stall`` seconds without any cell finishing or any new
    output (a hung cell), whichever comes first: a busy shared machine slows every cell
    down, a hang stops them.
    """
    start = time.monotonic()
    last_progress, progress = start, None
    calm = 0
    state: dict = {}
    while True:
        now = time.monotonic()
        state = notebook_state(page)
        cells = state.get("cells", [])
        ran = sum(1 for c in cells if c["count"] is not None)
        marker = (ran, sum(len(c["outputs"]) for c in cells))
        if marker != progress:
            progress, last_progress = marker, now
        if state.get("kernel") in ("dead", "autorestarting", "restarting"):
            raise AssertionError(f"the kernel died during Run All ({state.get('kernel')}) after {ran}/{expected} "
                                 "code cells (out of memory?)")
        busy = state.get("queued", 0) or any(c["state"] == "running" for c in cells)
        if not busy and ran >= 1 and state.get("kernel") == "idle":
            calm += 1
            if calm >= 2:
                return state
        else:
            calm = 0
        if now - start > timeout or now - last_progress > stall:
            running = next((c for c in cells if c["count"] is None), None)
            where = f"; waiting on cell {running['index']}: {running['source'][:80]!r}" if running else ""
            why = (f"within {timeout:.0f} s" if now - start > timeout
                   else f"(no cell finished for {stall:.0f} s)")
            raise AssertionError(f"Run All did not finish {why}: {ran}/{expected} code cells ran, "
                                 f"{state.get('queued')} still queued, kernel {state.get('kernel')}{where}")
        time.sleep(0.5)


def first_error(state: dict, expected: int) -> str | None:
    """The first error a run produced: an error output, or the cell Run All stopped at."""
    cells = state.get("cells", [])
    for c in cells:
        for o in c["outputs"]:
            if o["type"] == "error":
                return f"cell {c['index']} raised:\n{strip_ansi(o['text'])[-3000:]}\nsource: {c['source']!r}"
    ran = [c for c in cells if c["count"] is not None]
    nonempty = [c for c in cells if c["source"].strip()]
    if len(ran) < min(expected, len(nonempty)):
        # stlib prints StlibError as one line (no error output) but the run still stops there
        last = ran[-1] if ran else None
        if last is None:
            return "no cell ran"
        text = "\n".join(strip_ansi(o["text"]) for o in last["outputs"])[-3000:]
        return (f"Run All stopped after cell {last['index']} ({len(ran)}/{expected} code cells ran); its output:\n"
                f"{text}\nsource: {last['source']!r}")
    return None


def png_pixels(data: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def changed_fraction(a: bytes, b: bytes, tol: int = 8) -> float:
    """Fraction of pixels that differ by more than ``tol`` (of 255) between two PNG screenshots
    (1.0 if their sizes differ)."""
    from PIL import ImageChops

    ia, ib = png_pixels(a), png_pixels(b)
    if ia.size != ib.size:
        return 1.0
    diff = ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v > tol else 0)
    return sum(diff.histogram()[255:]) / (ia.width * ia.height)


# ---------------------------------------------------------------------------------------------
# the snapshot viewer (stlib/viewer.js) as DOM elements, in JupyterLab or on the static site


class ViewerUI:
    """The ``index``-th SnapshotViewer under ``scope`` (a CSS selector for the output areas).

    The viewer's root says which frame is on screen, decoded: ``data-shown="<run>@<index>"``, set
    after the picture for that run and epoch index has been decoded. Every wait below waits for that
    exact value (or the exact readout/caption it then reads), so a screenshot never races a swap.
    """

    def __init__(self, page, scope: str, index: int = 0, timeout: float = 30.0):
        self.page = page
        self.root = page.locator(f"{scope} .stlib-viewer").nth(index)
        self.root.wait_for(state="visible", timeout=timeout * 1000)
        self.slider = self.root.locator("input.stlib-viewer-slider")
        self.play_button = self.root.locator("button.stlib-viewer-play")
        self.readout = self.root.locator(".stlib-viewer-readout")
        self.image = self.root.locator("img.stlib-viewer-frame")
        self.buttons = self.root.locator("button.stlib-viewer-run")
        self.caption = self.root.locator(".stlib-viewer-caption")

    @staticmethod
    def count(page, scope: str) -> int:
        return page.locator(f"{scope} .stlib-viewer").count()

    def last(self) -> int:
        return int(self.slider.get_attribute("max"))

    def run(self) -> str:
        return self.root.locator("button.stlib-viewer-run.active").inner_text().strip()

    def shown(self) -> str:
        return self.root.get_attribute("data-shown") or ""

    def wait_shown(self, run: str, index: int, timeout: float, what: str) -> None:
        expected = f"{run}@{index}"
        wait_for(lambda: self.shown() == expected, timeout, interval=0.05,
                 what=f"frame {expected} on screen ({what}); shown: {self.shown()!r}")

    def read(self) -> str:
        return self.readout.inner_text().strip()

    def shot(self) -> bytes:
        return self.image.screenshot(animations="disabled")

    def shown_log(self) -> list[dict]:
        """Every frame shown so far: {t (ms, performance.now()), run, index}."""
        return self.root.evaluate("el => el.stlibShown.slice()")

    def distortions(self) -> dict[str, float]:
        """For each picture in the viewer: displayed aspect ratio / the picture's own, minus 1 (0 = undistorted)."""
        return self.root.locator("img").evaluate_all(
            """imgs => Object.fromEntries(imgs.map((img, i) => {
                 const r = img.getBoundingClientRect();
                 return [i + ':' + img.naturalWidth + 'x' + img.naturalHeight + ' shown ' +
                         Math.round(r.width) + 'x' + Math.round(r.height),
                         (r.width / r.height) / (img.naturalWidth / img.naturalHeight) - 1];
               }))""")

    def swap_ms(self, index: int) -> dict[str, float]:
        """One slider move to ``index``, timed in the page (ms from the input event): ``decoded``, until the new
        picture is decoded and set; ``painted``, until the next animation frame (adds the wait for the display's
        next refresh, up to 16.7 ms at 60 Hz)."""
        return self.root.evaluate(
            """async (el, index) => {
                 const slider = el.querySelector('input.stlib-viewer-slider');
                 const img = el.querySelector('img.stlib-viewer-frame');
                 const t0 = performance.now();
                 slider.value = String(index);
                 slider.dispatchEvent(new Event('input', {bubbles: true}));
                 await img.decode();
                 const t1 = performance.now();
                 await new Promise(r => requestAnimationFrame(() => r()));
                 return {decoded: t1 - t0, painted: performance.now() - t0};
               }""", index)


CHANGED = 0.05  # at least 5 % of the image's pixels must change for "the picture changed"


def assert_changed(before: bytes, after: bytes, what: str) -> None:
    frac = changed_fraction(before, after)
    assert frac >= CHANGED, f"{what}: the snapshot on screen barely changed ({frac:.1%} of pixels)"


def scrub_viewer(page, scope: str, save: Callable[[ViewerUI, str], None], timeout: float, what: str) -> dict:
    """What a student does with the first snapshot viewer under ``scope`` (in JupyterLab or on the site), every step
    checked on screen: the slider (End, ←, →), every epoch swapped twice (timed), another run in the first viewer
    that has a choice, then Home and Play to the last epoch. ``save(viewer, name)`` keeps a screenshot; returns
    the timings (printed by the tests, not asserted: a busy machine must not fail them)."""
    import statistics

    v = ViewerUI(page, scope)
    v.root.scroll_into_view_if_needed()
    run0, last = v.run(), v.last()
    v.wait_shown(run0, 0, timeout, "the first snapshot")
    labels_start, caption_start = v.read(), v.caption.inner_text()
    # pictures keep their proportions (a flex row must not stretch a snapshot to its tallest neighbour)
    bad = {k: f"{d:+.0%}" for k, d in v.distortions().items() if abs(d) > 0.03}
    assert not bad, f"pictures in the viewer are shown distorted (aspect ratio change): {bad}"
    start = v.shot()
    save(v, "initial")

    # 1. epoch slider: keyboard on the slider, End = last epoch; then ← and → on the viewer
    v.slider.focus()
    page.keyboard.press("End")
    v.wait_shown(run0, last, timeout, "slider moved to the last epoch")
    last_label = v.read()
    after_slider = v.shot()
    assert last_label != labels_start
    assert_changed(start, after_slider, f"slider {labels_start!r} → {last_label!r}")
    assert v.caption.inner_text() != caption_start and last_label in v.caption.inner_text()
    save(v, "after_slider")
    page.keyboard.press("ArrowLeft")
    v.wait_shown(run0, last - 1, timeout, "← one epoch back")
    assert changed_fraction(after_slider, v.shot(), tol=0) > 0, "← did not change the picture"
    page.keyboard.press("ArrowRight")
    v.wait_shown(run0, last, timeout, "→ one epoch on")
    # frame swap: slider input → picture decoded and set (and → next painted frame); every epoch, twice
    swaps = [v.swap_ms(i) for _ in range(2) for i in range(last + 1)]
    v.wait_shown(run0, last, timeout, "the last swap")

    # 2. run selector: click an option that is not selected, at the last epoch (where runs differ), on the
    #    first viewer that has a choice (07's first viewer shows a single run; its second one, nine)
    w = v
    if v.buttons.count() < 2:
        choices = [i for i in range(1, ViewerUI.count(page, scope)) if ViewerUI(page, scope, i).buttons.count() >= 2]
        assert choices, f"{what}: no SnapshotViewer with two or more runs to choose between"
        w = ViewerUI(page, scope, choices[0])
        w.root.scroll_into_view_if_needed()
        w.slider.focus()
        page.keyboard.press("End")
        w.wait_shown(w.run(), w.last(), timeout, "second viewer's slider moved to the last epoch")
    before = w.shot()
    classes = [w.buttons.nth(i).get_attribute("class") or "" for i in range(w.buttons.count())]
    idle = [i for i, c in enumerate(classes) if "active" not in c.split()]
    assert idle, f"every selector button is active: {classes}"
    target = w.buttons.nth(idle[-1])  # by position: a ':not(.active)' locator would move on click
    option = target.inner_text().strip()
    target.click()
    w.wait_shown(option, w.last(), timeout, f"selector → {option!r}")
    assert "active" in (target.get_attribute("class") or "").split(), f"{option!r} does not show as selected"
    after_layer = w.shot()
    assert_changed(before, after_layer, f"selector → {option!r}")
    assert option in w.caption.inner_text(), f"the caption does not name the chosen run {option!r}"
    save(w, "after_layer")
    v.root.scroll_into_view_if_needed()

    # 3. back to the start, then Play: every epoch in order on its own, stopping at the last (the slider's picture)
    run = v.run()
    v.slider.focus()
    page.keyboard.press("Home")
    v.wait_shown(run, 0, timeout, "slider back to the first epoch")
    assert v.read() == labels_start
    before_play = v.shot()
    shown_before = len(v.shown_log())
    v.play_button.click()
    v.wait_shown(run, last, timeout, "Play reached the last epoch")
    wait_for(lambda: v.root.get_attribute("data-playing") == "false", timeout, interval=0.05,
             what="Play to stop at the last epoch")
    played = [f for f in v.shown_log()[shown_before:] if f["run"] == run]
    order = [f["index"] for f in played]
    assert order == sorted(order) and order[-1] == last and len(order) >= min(last, 2), f"Play went astray: {order}"
    assert v.read() == last_label
    after_play = v.shot()
    assert changed_fraction(after_layer if w is v else after_slider, after_play) < 0.01, \
        f"Play's last frame ({last_label!r}) is not the picture the slider showed there"
    assert_changed(before_play, after_play, f"Play {labels_start!r} → {last_label!r}")
    save(v, "after_play")
    decoded, painted = [s["decoded"] for s in swaps], [s["painted"] for s in swaps]
    fps = 1000 * (len(played) - 1) / (played[-1]["t"] - played[0]["t"]) if len(played) >= 2 else None
    return {"frames_per_run": last + 1, "swap_ms_median": round(statistics.median(decoded), 2),
            "swap_ms_max": round(max(decoded), 2), "swap_to_paint_ms_median": round(statistics.median(painted), 2),
            "play_fps": round(fps, 1) if fps else None}


def built_site(tmp_path_factory, prebuilt: str, *names: str, timeout: float = 900) -> Path:
    """``tools/build_site.py --fast NAMES`` (lessons, ``lab``) into a temporary folder, or ``$prebuilt``'s folder
    (a site already built, for development); the test skipped without Chromium, or without npm the first time."""
    import pytest

    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"site test skipped: {reason}")
    if os.environ.get(prebuilt):
        return Path(os.environ[prebuilt])
    repo = Path(__file__).resolve().parents[1]
    if shutil.which("npm") is None and not any((repo / "build" / "npm").glob("*.tgz")):
        pytest.skip("site test skipped: npm is missing (needed once to fetch the site's scripts and onnxruntime-web)")
    out = tmp_path_factory.mktemp("site") / "site"
    proc = subprocess.run([sys.executable, str(repo / "tools" / "build_site.py"), "--fast", "--out", str(out), *names],
                          cwd=repo, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"make site failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    print(proc.stdout)
    return out
