"""Live lab benchmark: the site's lab page (``lab.html``) in headless Chromium, as a visitor gets it.

Serves a built lab page from 127.0.0.1 with ``make serve``'s headers (`stlib.__main__.isolated_handler`:
cross-origin isolated, so onnxruntime-web may use threads) and measures, in Chromium with its fake camera:

* frames per second of the camera loop (grab a frame, send it to the page's Web Worker, the network, draw it),
  after a warm-up: at 256×256 held (``?min_fps=0``) on one thread (``?threads=1``) and threaded (as many as the
  page takes), and on one thread as the page runs it (smaller frames after 2 s under 15 frames/s): which side
  ran; with the medians of the network's own milliseconds per frame and of the frame's whole cost (camera to
  canvas), and how late a 10 ms timer on the main thread fired (the page's responsiveness);
* WebGPU: whether this Chromium offers ``navigator.gpu`` (the lab ships the WebAssembly build only);
* the time from navigation start to the first stylised picture (the sample photo), and from the load event,
  in fresh browser contexts (nothing cached);
* the file sizes: each network, the page, the runtime, and what loads before the first picture.

    python benchmarks/bench_lab.py                     # builds the lab page (make site's, lab only) first
    python benchmarks/bench_lab.py --site build/site   # an already built site; --seconds 10 per measurement

The networks' time does not depend on their weights, so fast mode's (the same architecture) measure the same.
The load average is printed: on 2 shared cores every figure moves with it. JSON: ``artifacts/bench/lab.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import launched_chromium  # noqa: E402

from stlib.__main__ import isolated_handler  # noqa: E402

FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
STATS = "() => { const s = document.querySelector('.stlib-lab').stlibLab; return {...s, ms: s.ms.slice()}; }"
FRAMES = "() => Number(document.querySelector('.stlib-lab')?.dataset.frames || 0)"
# a timer on the main thread, every 10 ms: the gaps between its calls say how late the page answers
TIMER = """window.stlibGaps = []; let last = performance.now();
setInterval(() => { const now = performance.now(); window.stlibGaps.push(now - last); last = now; }, 10);"""
CAMERA = {  # label → (query, warm-up s): held at 256 px, or as the page runs it (two steps down take ~6 s)
    "single thread": ("?threads=1&min_fps=0", 2.0), "threaded": ("?min_fps=0", 2.0),
    "1 thread, as the page": ("?threads=1", 7.0)}


def first_picture(browser, base: str) -> dict:
    """A fresh context: ms from navigation start to the load event and to the first stylised picture."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/lab.html")
        page.wait_for_function(f"({FRAMES})() >= 1", timeout=120_000)
        load = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
        return {"load_ms": load, "first_ms": page.evaluate(STATS)["first"]}
    finally:
        context.close()


def camera_fps(browser, base: str, query: str, seconds: float, warmup: float = 2.0) -> dict:
    """Frames per second of the camera loop over ``seconds`` after ``warmup`` s, the side its frames ran at, the
    medians of the network's ms and of the frame's whole ms, and the main-thread timer's gaps meanwhile."""
    context = browser.new_context()
    context.add_init_script(TIMER)
    try:
        page = context.new_page()
        page.goto(f"{base}/lab.html{query}")
        page.wait_for_function(f"({FRAMES})() >= 1", timeout=120_000)
        page.locator("button.stlib-lab-camera").click()
        page.wait_for_function(f"({FRAMES})() >= 3", timeout=60_000)
        time.sleep(warmup)
        page.evaluate("() => { window.stlibGaps = []; }")
        start, t0 = page.evaluate(FRAMES), time.perf_counter()
        time.sleep(seconds)
        frames, elapsed = page.evaluate(FRAMES) - start, time.perf_counter() - t0
        stats, gaps = page.evaluate(STATS), sorted(page.evaluate("() => window.stlibGaps"))
        recent = max(1, frames)
        return {"backend": stats["backend"], "fps": frames / elapsed, "frames": frames, "side": stats["side"],
                "network_ms_median": statistics.median(stats["ms"][-recent:]),
                "frame_ms_median": statistics.median(stats["frame_ms"][-recent:]),
                "timer_gap_ms": {"median": statistics.median(gaps), "p90": gaps[int(0.9 * len(gaps))],
                                 "max": gaps[-1]}, "message": page.locator(".stlib-lab-message").inner_text()}
    finally:
        context.close()


def native_ms(site: Path) -> dict:
    """The same ONNX file in onnxruntime's native build (Python), 256×256, one thread and two: the reference the
    WebAssembly figures compare with on the same load (median of 20 runs after 3)."""
    import numpy as np
    import onnxruntime as ort

    photo = {"photo": np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)}
    times = {}
    for threads in (1, 2):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(next((site / "lab").glob("*.onnx"))), options)
        runs = []
        for i in range(23):
            t0 = time.perf_counter()
            session.run(None, photo)
            if i >= 3:
                runs.append(1e3 * (time.perf_counter() - t0))
        times[f"{threads} thread{'s' if threads > 1 else ''}"] = statistics.median(runs)
    return times


def sizes(site: Path) -> dict:
    nets = {p.name: p.stat().st_size for p in sorted((site / "lab").glob("*.onnx"))}
    runtime = {p.name: p.stat().st_size for p in sorted((site / "static" / "onnxruntime-web").iterdir())}
    front = {p.name: p.stat().st_size for p in sorted((site / "static" / "lab").iterdir())}
    page = (site / "lab.html").stat().st_size
    first = page + sum(runtime.values()) + sum(front.values()) + next(iter(nets.values()))
    return {"networks": nets, "runtime": runtime, "front_end": front, "page": page, "first_load": first,
            "all": first + sum(nets.values()) - next(iter(nets.values()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=None, help="a built site (default: build the lab page)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of camera frames per measurement")
    parser.add_argument("--loads", type=int, default=3, help="fresh page loads for the first-picture time")
    args = parser.parse_args(argv)
    site = args.site
    if site is None:
        site = ROOT / "build" / "bench-lab"
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(site), "lab"],
                              cwd=ROOT)
        if proc.returncode:
            return proc.returncode
    if not (site / "lab.html").is_file():
        print(f"no lab page in {site}: build it with `python tools/build_site.py lab`", file=sys.stderr)
        return 2
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), isolated_handler(site))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    results: dict = {"sizes": sizes(site)}
    try:
        with launched_chromium(*FAKE_CAMERA) as browser:
            probe = browser.new_page()
            probe.goto(f"{base}/index.html")
            results["webgpu"] = probe.evaluate("async () => !!(navigator.gpu && await navigator.gpu.requestAdapter())")
            results["cross_origin_isolated"] = probe.evaluate("() => self.crossOriginIsolated")
            probe.close()
            results["first_picture"] = [first_picture(browser, base) for _ in range(args.loads)]
            results["camera"] = {label: camera_fps(browser, base, query, args.seconds, warmup)
                                 for label, (query, warmup) in CAMERA.items()}
    finally:
        httpd.shutdown()
        httpd.server_close()
    results["native_onnxruntime_ms"] = native_ms(site)
    results["load_average_end"] = os.getloadavg()[0]

    s = results["sizes"]
    print(f"\nWebGPU adapter in this Chromium: {'yes' if results['webgpu'] else 'no'} "
          f"(the lab ships onnxruntime-web's WebAssembly build); cross-origin isolated: "
          f"{results['cross_origin_isolated']}")
    print("\nfake camera (frames/s of the whole loop at the side it ran; medians: the network's ms, the whole frame's"
          " ms, camera to canvas; the 10 ms main-thread timer's gaps, median / 90th percentile / longest):")
    for label, r in results["camera"].items():
        gap = r["timer_gap_ms"]
        print(f"  {label:22s} {r['backend']:36s} {r['fps']:5.1f} frames/s at {r['side']} px   network "
              f"{r['network_ms_median']:6.1f} ms, frame {r['frame_ms_median']:6.1f} ms   timer "
              f"{gap['median']:.0f} / {gap['p90']:.0f} / {gap['max']:.0f} ms")
        if r["message"]:
            print(f"  {'':22s} the page: {r['message']}")
    print("  the same network in onnxruntime's native build: " + ", ".join(
        f"{k} {v:.1f} ms" for k, v in results["native_onnxruntime_ms"].items()))
    firsts = results["first_picture"]
    print("\nfirst stylised picture (ms from navigation start; after the load event), fresh contexts:")
    for f in firsts:
        print(f"  {f['first_ms']:7.0f} ms   ({f['first_ms'] - f['load_ms']:.0f} ms after load at {f['load_ms']:.0f})")
    print("\nfiles:")
    for name, size in s["networks"].items():
        print(f"  lab/{name:28s} {size / 2**20:6.2f} MB")
    for name, size in {**s["runtime"], **s["front_end"], "lab.html": s["page"]}.items():
        print(f"  {name:32s} {size / 2**20:6.2f} MB")
    print(f"  before the first picture (page, runtime, front end, one network): {s['first_load'] / 2**20:.2f} MB; "
          f"with every network: {s['all'] / 2**20:.2f} MB")
    print(f"\nload average at end: {results['load_average_end']:.1f}")
    out = ROOT / "artifacts" / "bench" / "lab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
