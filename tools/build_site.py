"""Build the lessons into a static website: ``make site`` (``python tools/build_site.py``).

Each lesson is executed in a fresh kernel (nbclient) and exported with nbconvert's HTML exporter
(its JupyterLab template, widget state embedded), so every SnapshotViewer on a page works with no
kernel. The mode is chosen per lesson:

* **full** (the lecture's sizes) when every run it needs is in the precompute cache
  (``make precompute``): executed with ``STLIB_CACHE_ONLY=1``, a missing run stops that attempt;
* **fast** (``STLIB_FAST=1``) otherwise, or for every lesson with ``--fast``.

Each page says which, at the top. Nothing on the site is loaded from a CDN: require.js, the widget
manager (``@jupyter-widgets/html-manager``) and MathJax are fetched once from the npm registry with
``npm pack`` (exact versions, checked against the SHA-512 below, kept in ``build/npm/``), and the
anywidget front end comes from the installed ``anywidget`` Python package; all are served from
``static/`` on the site. Usage::

    python tools/build_site.py [--fast] [--out build/site] [LESSON ...]   # lessons: "02", "07_style…", "lab"
    make serve                       # python -m stlib serve-site: 127.0.0.1:8000, cross-origin isolated

The **Live lab** page (``lab.html``) runs the shipped networks (``data/networks/``, one per style) in the page with
onnxruntime-web (its WebAssembly build from ``npm pack``, like the scripts above).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import json
import re
import shutil
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this clone's stlib, wherever we run from
from stlib.config import REPO, SITE_DIR  # noqa: E402
from stlib.lab import NPM_DIR  # noqa: E402

PAGE_LIMIT = 5 * 2**20  # an executed lesson page with all its viewers stays under 5 MB
LAB_RUNTIME = "static/onnxruntime-web/"  # onnxruntime-web's files on the site: the lab page's and lesson 10's widget's

# (npm spec, SHA-512 from the registry, {member in the tarball: path(s) on the site}); the lab's: `stlib.lab.ORT_WEB`
NPM = [
    ("requirejs@2.3.7",
     "DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
     {"package/require.js": "static/require.js"}),
    ("@jupyter-widgets/html-manager@1.0.15",
     "5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
     {"package/dist/embed-amd.js": "static/html-manager/embed-amd.js",
      # its icon font (Font Awesome), where the bundle asks for it: next to the page, under each AMD module's
      # name (woff2 and woff only: every browser that runs the widget manager takes one of those two)
      re.compile(r"package/dist/([0-9a-f]{20}\.woff2?)$"):
          ("@jupyter-widgets/\\1", "@jupyter-widgets/html-manager/dist/\\1")}),
    ("mathjax@3.2.2",
     "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
     {"package/es5/tex-chtml-full.js": "static/mathjax/tex-chtml-full.js",
      re.compile(r"package/es5/output/chtml/fonts/woff-v2/([A-Za-z0-9_-]+\.woff)$"):
          "static/mathjax/output/chtml/fonts/woff-v2/\\1"}),
]

MODES = {
    "full": "full mode — the lecture's sizes (256 px, full epoch counts), replayed from the precompute cache",
    "fast": "fast mode (<code>STLIB_FAST=1</code>) — 64 px images and short runs, so the site builds in minutes; "
            "run the notebook yourself (or <code>make precompute</code> before <code>make site</code>) "
            "for the lecture's sizes",
}


def fail(message: str) -> None:
    print(f"make site: {message}", file=sys.stderr)
    raise SystemExit(1)


# ---------------------------------------------------------------------------------------------
# JavaScript served by the site itself


def install_static(site: Path, npm_folder: Path) -> None:
    from stlib.lab import front_end, npm_tarball, ort_runtime

    static = site / "static"
    static.mkdir(parents=True, exist_ok=True)
    for spec, sha512, members in NPM:
        with tarfile.open(npm_tarball(spec, sha512, npm_folder)) as tar:
            found = set()
            for member in tar.getmembers():
                for pattern, targets in members.items():
                    if isinstance(pattern, str):
                        m = None if member.name != pattern else True
                    else:
                        m = pattern.match(member.name)
                    if not m or not member.isfile():
                        continue
                    data = tar.extractfile(member).read()
                    for target in (targets,) if isinstance(targets, str) else targets:
                        out = site / (target if m is True else m.expand(target))
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(data)
                    found.add(pattern)
            if set(members) - found:
                fail(f"{spec} lacks {sorted(map(str, set(members) - found))}")
    # the Live lab's front end (stlib/lab.js, the widget's own module) and onnxruntime-web's WebAssembly build
    (site / LAB_RUNTIME).mkdir()
    for name, data in ort_runtime(npm_folder).items():
        (site / LAB_RUNTIME / name).write_bytes(data)
    (static / "lab").mkdir(exist_ok=True)
    (static / "lab" / "lab.js").write_text(front_end(), encoding="utf-8")
    shutil.copyfile(REPO / "stlib" / "lab.css", static / "lab" / "lab.css")
    # anywidget's front end for the widget manager: an AMD module in the Python package, the same
    # version as the kernel side that wrote the widget state
    import anywidget

    amd = Path(anywidget.__file__).parent / "nbextension" / "index.js"
    if not amd.exists():
        fail(f"{amd} is missing: reinstall anywidget (pip install -r requirements.txt)")
    (static / "anywidget").mkdir(exist_ok=True)
    shutil.copyfile(amd, static / "anywidget" / "index.js")


# ---------------------------------------------------------------------------------------------
# lessons


def lesson_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return ""


def execute(path: Path, mode: str, timeout: int):
    """Run ``path`` in a fresh kernel in ``mode`` (full: from the cache only); the executed notebook, widget
    state stored (`stlib.lessons.execute`)."""
    from stlib.lessons import execute as run_notebook

    return run_notebook(path, fast=mode == "fast", cache_only=mode == "full", timeout=timeout,
                        store_widget_state=True, env={"STLIB_LAB_RUNTIME": LAB_RUNTIME})


def run_lesson(path: Path, fast: bool, timeout: int):
    """(executed notebook, mode): full mode when the cache (`stlib.cache`, filled by `make precompute`) holds
    every run the lesson makes, else fast mode. The cache says so itself: a full-mode run that misses it stops
    at once (``STLIB_CACHE_ONLY``), nothing is guessed from what the cache folder holds."""
    from nbclient.exceptions import CellExecutionError

    if not fast:
        try:
            return execute(path, "full", timeout), "full"
        except CellExecutionError as err:
            if "CacheMiss" not in str(err) and "STLIB_CACHE_ONLY" not in str(err):
                raise
            print(f"  {path.stem}: a run is not in the full-mode cache; fast mode instead", flush=True)
    return execute(path, "fast", timeout), "fast"


BIG_PNG = 150_000  # bytes: larger figure outputs go on the site as JPEG


def compact_figures(nb) -> int:
    """Large PNG outputs (the snapshot grids: ~1.5 MB each as PNG) → JPEG at the same size; returns how many.

    Only the site's copy changes; the notebooks keep their PNGs. A grid of photos and noise is what PNG
    compresses worst and JPEG best; black titles on white are all luma, so 4:2:0 chroma leaves them clean.
    """
    import io

    from PIL import Image

    from stlib.images import FRAME_QUALITY, to_rgb

    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            png = data.get("image/png")
            if not png or len(png) * 3 // 4 < BIG_PNG:
                continue
            buf = io.BytesIO()  # transparency onto white; the viewers' frame quality: the grids show the same
            # snapshots (0.55 of quality 85's bytes on lesson 02)
            to_rgb(Image.open(io.BytesIO(base64.b64decode(png)))).save(buf, format="jpeg", quality=FRAME_QUALITY)
            if buf.tell() < len(png) * 3 // 4:
                del data["image/png"]
                data["image/jpeg"] = base64.b64encode(buf.getvalue()).decode("ascii")
                count += 1
    return count


def add_banner(nb, mode: str, built: str) -> None:
    import nbformat

    text = (f'<div class="stlib-site-banner">\n\n<a href="index.html">← all lessons</a> · '
            f"executed {built} in <b>{MODES[mode]}</b>. The snapshot viewers work on this page without Python; "
            "cells that need a kernel (uploading your own image) do not.\n\n</div>")
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(text))
    nb.metadata["stlib_site_mode"] = mode


# nbconvert's JupyterLab template, with every script served by the site itself (resources.require_js_url,
# widget_renderer_url, mathjax_url point into static/), never a CDN
TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}

{%- block html_head_js_requirejs -%}
<script src="{{ resources.require_js_url }}"></script>
<script>
  // the widget manager asks require.js for each widget module; anywidget's is here, not on a CDN
  require.config({paths: {anywidget: "static/anywidget/index"}});
</script>
{%- endblock html_head_js_requirejs -%}

{%- block html_head_js_mathjax -%}
<script>
  // MathJax 3 (served from static/), configured as nbconvert configures MathJax 2: $…$ and $$…$$
  window.MathJax = {
    tex: {inlineMath: [["$", "$"], ["\\(", "\\)"]], displayMath: [["$$", "$$"], ["\\[", "\\]"]],
          processEscapes: true, processEnvironments: true, tags: "ams"},
    options: {enableMenu: false},
    chtml: {fontURL: "static/mathjax/output/chtml/fonts/woff-v2"},
    // the widget manager typesets HTML widgets through MathJax 2's MathJax.Hub.Queue(["Typeset", …, element]):
    // before MathJax 3 is ready that is a no-op (its first typeset covers the whole page), after it typesetPromise
    Hub: {Queue() {}},
    startup: {
      ready() {
        MathJax.startup.defaultReady();
        MathJax.Hub = {Queue(...jobs) {
          const elements = jobs.filter((j) => Array.isArray(j) && j[0] === "Typeset" && j[2]).map((j) => j[2]);
          if (elements.length) MathJax.typesetPromise(elements).catch(() => {});
        }};
      }
    }
  };
</script>
<script defer src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}

{%- block html_head_css -%}
<style>
  .stlib-site-banner { background: #fff8e1; border: 1px solid #f0d58a; border-radius: 4px; padding: .2em .8em; }
</style>
{%- endblock html_head_css -%}

{#- the lessons draw no Mermaid diagrams; the lab template would import Mermaid from a CDN for them -#}
{%- block html_head_js_mermaidjs -%}
{%- endblock html_head_js_mermaidjs -%}
"""


def export(nb, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", raw_template=TEMPLATE, require_js_url="static/require.js",
                            widget_renderer_url="static/html-manager/embed-amd.js",
                            mathjax_url="static/mathjax/tex-chtml-full.js")
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    external = re.search(r"""<script[^>]+src=["']?(https?:)?//""", body)
    if external or re.search(r"cdn\.jsdelivr|cdnjs\.|unpkg\.com", body):
        fail(f"{title}: the exported page still loads a script from another server")
    return body


LAB_LIMIT = 15 * 2**20  # the Live lab page, its runtime and its first network (what loads before the first picture)
LAB = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live lab — Style Transfer lessons</title>
<link rel="stylesheet" href="static/lab/lab.css"><link rel="icon" href="data:,">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }}
.stlib-site-banner {{ background: #f4f4f4; padding: .4em .8em; border-radius: 4px; font-size: 14px; }}
</style></head><body>
<div class="stlib-site-banner"><a href="index.html">← all lessons</a> · built {built}; the networks that ship
with the course (<code>data/networks/</code>)</div>
<h1>Live lab</h1>
<p>Lesson 10's real-time network (Johnson, Alahi &amp; Fei-Fei 2016), trained once for thousands of steps per
style the course ships (Van Gogh's <i>The Starry Night</i>, Munch's <i>The Scream</i>, Kandinsky's
<i>Composition VII</i> and lesson 11's stained glass), runs here in the page with onnxruntime-web
(WebAssembly, served by this site: nothing leaves your computer). Choose a style, then a photo (or drop one on the
pictures), or start the camera; the milliseconds per frame are the network's alone. The camera and several
threads need the page served from <code>localhost</code> with cross-origin isolation: <code>make serve</code>.</p>
<div id="lab"></div>
<script type="module">
import lab from "./static/lab/lab.js";
const state = {state};
const query = new URLSearchParams(location.search);
state.threads = Number(query.get("threads")) || 0;  // ?threads=1: one thread
if (query.has("min_fps")) state.min_fps = Number(query.get("min_fps"));  // ?min_fps=0: camera frames stay 256 px
const model = {{ get: (key) => state[key], set() {{}}, save_changes() {{}}, on() {{}}, off() {{}} }};
lab.render({{ model, el: document.getElementById("lab") }});
</script>
</body></html>
"""


def build_lab(out: Path, built: str) -> int:
    """``out/lab.html``, the Live lab: the shipped networks (`stlib.lab.lab_networks`, data/networks/), exported
    to ``out/lab/*.onnx``; returns the bytes of what loads before the first picture (the page, its runtime, its
    first network)."""
    from stlib.images import DISPLAY_PX, frame_url, load_image
    from stlib.lab import export_onnx, lab_networks

    nets = lab_networks()
    files = {style: export_onnx(net, out / "lab" / f"{style}.onnx") for style, net in nets.items()}
    state = {"networks": {style: f"lab/{style}.onnx" for style in files}, "runtime_url": LAB_RUNTIME,
             "photo": frame_url(load_image("chelsea", max_size=DISPLAY_PX))}
    page = LAB.format(built=built, state=json.dumps(state))
    (out / "lab.html").write_text(page, encoding="utf-8")
    parts = [out / "lab.html", next(iter(files.values())), *(out / LAB_RUNTIME).iterdir(),
             *(out / "static" / "lab").iterdir()]
    return sum(p.stat().st_size for p in parts)


INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Style Transfer lessons</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ padding: .35em .6em; border-bottom: 1px solid #ddd; text-align: left; }}
td.n {{ font-variant-numeric: tabular-nums; text-align: right; color: #555; white-space: nowrap; }}
</style></head><body>
<h1>Style Transfer lessons</h1>
<p>Neural style transfer (Gatys, Ecker &amp; Bethge, CVPR 2016) step by step in PyTorch, as executed notebooks.
Every snapshot viewer works in the page: drag the epoch slider, press Play, pick a layer — no Python needed.
To run the lessons yourself: clone the repository and <code>make lab</code>.</p>
<p><a href="lab.html"><b>Live lab</b></a>: lesson 10's network, one per painting, paints a photo or your camera
in the page.</p>
<table><tr><th>#</th><th>lesson</th><th>mode</th><th class="n">page</th></tr>
{rows}
</table>
<p><small>Built {built} with nbconvert {nbconvert} (JupyterLab template), {viewers} snapshot viewers in all.</small></p>
</body></html>
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names, and/or 'lab' (default: all and the lab)")
    parser.add_argument("--fast", action="store_true", help="fast mode for every lesson, even with a filled cache")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="output folder (default build/site)")
    parser.add_argument("--npm-cache", type=Path, default=NPM_DIR,
                        help="where the npm tarballs are kept (default build/npm)")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="build the lessons in this folder instead of notebooks/ (e.g. an exported commit)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)

    import nbconvert

    from stlib.errors import StlibError
    from stlib.lessons import lesson_paths, select_lessons

    try:
        found = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb")) if args.notebooks else lesson_paths()
        if not found:
            fail(f"no lessons in {args.notebooks}")
        named = [name for name in args.lessons if name != "lab"]
        paths = select_lessons(found, named) if named or not args.lessons else []
        out: Path = args.out
        if out.exists():
            shutil.rmtree(out)
        install_static(out, args.npm_cache)  # npm missing or a tarball not the registry's: one line
    except StlibError as err:
        fail(str(err))
    built = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    rows, viewers, oversized = [], 0, []
    start = time.perf_counter()
    for path in paths:
        t = time.perf_counter()
        nb, mode = run_lesson(path, args.fast, args.timeout)
        title = lesson_title(nb) or path.stem
        compact_figures(nb)
        add_banner(nb, mode, built)
        page = export(nb, title)
        (out / f"{path.stem}.html").write_text(page, encoding="utf-8")
        size = len(page.encode("utf-8"))
        viewers += len(re.findall(r'"_anywidget_id":\s*"stlib\.widgets\.SnapshotViewer"', page))
        if size > PAGE_LIMIT:
            oversized.append(path.stem)
        print(f"  {path.stem}.html: {mode} mode, {size / 2**20:.2f} MB, {time.perf_counter() - t:.0f} s", flush=True)
        rows.append(f'<tr><td>{path.stem[:2]}</td><td><a href="{path.stem}.html">{html.escape(title)}</a></td>'
                    f'<td>{mode}</td><td class="n">{size / 2**20:.1f} MB</td></tr>')
    lab = not args.lessons or "lab" in args.lessons
    if lab:
        t = time.perf_counter()
        lab_size = build_lab(out, built)
        print(f"  lab.html: the shipped networks, {lab_size / 2**20:.2f} MB with its runtime and first network, "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        if lab_size > LAB_LIMIT:
            oversized.append("lab")
    (out / "index.html").write_text(INDEX.format(rows="\n".join(rows), built=built, nbconvert=nbconvert.__version__,
                                                 viewers=viewers), encoding="utf-8")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    lessons = f"{len(paths)} lesson" + ("s" if len(paths) != 1 else "") + (" and the Live lab" if lab else "")
    print(f"site: {lessons} in {out} ({total / 2**20:.1f} MB in all) in {time.perf_counter() - start:.0f} s;"
          f" preview: make serve (python -m stlib serve-site)")
    if oversized:
        fail(f"pages over their limit ({PAGE_LIMIT // 2**20} MB, the lab {LAB_LIMIT // 2**20} MB with its runtime): "
             f"{', '.join(oversized)} (frames or networks too large?)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
