// stlib's SnapshotViewer, front-end half (an anywidget ES module; the Python half is stlib/widgets.py).
//
// Everything the viewer shows is in the model when it is displayed: every frame (a data URL per run and
// epoch), each run's loss values and captions. The slider, Play, the run buttons and the keys
// (← → Home End) only change `index` / `run` here and swap pictures in the browser: no kernel round
// trip, so it works the same in JupyterLab, Notebook 7, VS Code and a static HTML page with no kernel.
// Changes are still saved to the model (so Python sees `viewer.index`, `viewer.run` when a kernel is
// there); nothing waits for it.
//
// For tests and measurements the root element carries data-shown="<run>@<index>" once that frame is
// decoded and on screen, and `root.stlibShown` logs {t, run, index} for each frame shown (last 500).

const SVG = "http://www.w3.org/2000/svg";
const W = 300, H = 215, PAD = { l: 46, r: 10, t: 10, b: 34 };

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function s(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fmt(v) {
  if (v === 0) return "0";
  const e = Math.floor(Math.log10(Math.abs(v)));
  if (Math.abs(e) < 4) return String(+v.toPrecision(3));
  const [mantissa, exponent] = v.toExponential(1).split("e");
  return `${+mantissa}e${+exponent}`; // 1e8, 1.3e8, 2.2e-5
}

// The loss curve of one run (log scale), drawn once per run; `mark(epoch)` moves the red ring and line.
function lossCurve(values, key) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "stlib-viewer-curve" });
  const n = values.length;
  const good = values.map((v, i) => [i + 1, v]).filter(([, v]) => v !== null && v > 0 && isFinite(v));
  const x0 = PAD.l, x1 = W - PAD.r, y0 = H - PAD.b, y1 = PAD.t;
  svg.append(s("rect", { x: x0, y: y1, width: x1 - x0, height: y0 - y1, fill: "none", stroke: "#999" }));
  const label = (x, y, text, anchor = "middle", extra = {}) => {
    const t = s("text", { x, y, "text-anchor": anchor, "font-size": 10, fill: "#333", ...extra });
    t.textContent = text;
    svg.append(t);
  };
  label((x0 + x1) / 2, H - 4, "step");
  label(11, (y0 + y1) / 2, `${key} loss`, "middle", { transform: `rotate(-90 11 ${(y0 + y1) / 2})` });
  if (!good.length) {
    label((x0 + x1) / 2, (y0 + y1) / 2, "no loss recorded");
    return { svg, mark() {} };
  }
  let lo = Math.log10(Math.min(...good.map(([, v]) => v)));
  let hi = Math.log10(Math.max(...good.map(([, v]) => v)));
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const X = (step) => x0 + (n > 1 ? (step - 1) / (n - 1) : 0.5) * (x1 - x0);
  const Y = (v) => y0 - (Math.log10(v) - lo) / (hi - lo) * (y0 - y1);
  // grid lines at the powers of ten inside the range (or the ends when there are none)
  const decades = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) decades.push(10 ** e);
  // fewer than two powers of ten in range: label the curve's ends too, so the scale reads
  const ticks = decades.length >= 2 ? decades : [...new Set([10 ** lo, ...decades, 10 ** hi])];
  for (const v of ticks) {
    svg.append(s("line", { x1: x0, x2: x1, y1: Y(v), y2: Y(v), stroke: "#ddd" }));
    label(x0 - 3, Y(v) + 3, fmt(v), "end");
  }
  label(x0, y0 + 12, "1");
  if (n > 1) label(x1, y0 + 12, String(n));
  const d = good.map(([step, v], i) => `${i ? "L" : "M"}${X(step).toFixed(1)},${Y(v).toFixed(1)}`).join("");
  svg.append(s("path", { d, fill: "none", stroke: "#1f77b4", "stroke-width": 1.4 }));
  const line = s("line", { y1: y1, y2: y0, stroke: "#d62728", "stroke-width": 0.8, "stroke-dasharray": "4 3" });
  const ring = s("circle", { r: 4.5, fill: "none", stroke: "#d62728", "stroke-width": 1.6 });
  svg.append(line, ring);
  return {
    svg,
    // epoch 0 (the initial image) has no loss yet: no marker
    mark(epoch) {
      const v = epoch >= 1 && epoch <= n ? values[epoch - 1] : null;
      const shown = v !== null && v > 0 && isFinite(v);
      line.style.display = ring.style.display = shown ? "" : "none";
      if (shown) {
        line.setAttribute("x1", X(epoch)); line.setAttribute("x2", X(epoch));
        ring.setAttribute("cx", X(epoch)); ring.setAttribute("cy", Y(v));
      }
    },
  };
}

function render({ model, el }) {
  const runs = model.get("runs"), epochs = model.get("epochs"), titles = model.get("titles");
  const frames = model.get("frames"), captions = model.get("captions"), losses = model.get("losses");
  const last = epochs.length - 1;

  // warm the browser's decoded-image cache: every later swap is a cache hit, not a decode
  const warm = [];
  for (const run of runs) for (const url of frames[run]) { const im = new Image(); im.src = url; warm.push(im); }

  const root = h("div", { class: "stlib-viewer", tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  root.stlibShown = [];
  const buttons = runs.map((run) => h("button", { type: "button", class: "stlib-viewer-run", text: run }));
  const runRow = h("div", { class: "stlib-viewer-runs" }, h("span", { class: "stlib-viewer-label", text: model.get("label") }),
    ...buttons);
  const play = h("button", { type: "button", class: "stlib-viewer-play", title: "Play / pause (space)" });
  const slider = h("input", { type: "range", class: "stlib-viewer-slider", min: "0", max: String(last), step: "1",
    "aria-label": "epoch" });
  const readout = h("span", { class: "stlib-viewer-readout" });
  const speed = h("select", { class: "stlib-viewer-speed", title: "frames per second" },
    ...[1, 2, 5, 12, 24].map((f) => h("option", { value: String(f), text: `${f}/s` })));
  const controls = h("div", { class: "stlib-viewer-controls" }, play, h("span", { text: "epoch" }), slider, readout, speed);
  const img = h("img", { class: "stlib-viewer-frame", alt: "snapshot" });
  const pictures = h("div", { class: "stlib-viewer-pictures" }, img);
  if (model.get("target")) {
    pictures.append(h("figure", { class: "stlib-viewer-target" }, h("img", { src: model.get("target"), alt: "target" }),
      h("figcaption", { text: model.get("target_title") })));
  }
  const curveBox = h("div", { class: "stlib-viewer-curvebox" });
  pictures.append(curveBox);
  const caption = h("div", { class: "stlib-viewer-caption" });
  root.append(runRow, controls, pictures, caption);
  el.append(root);

  const curves = {};
  const curveOf = (run) => (curves[run] ??= lossCurve(losses[run] || [], model.get("loss_key")));
  let timer = null, shownCurve = null, token = 0;

  function show() {
    const run = runs.includes(model.get("run")) ? model.get("run") : runs[0];
    const index = Math.max(0, Math.min(last, model.get("index")));
    const url = frames[run][index];
    img.src = url;
    slider.value = String(index);
    readout.textContent = titles[index];
    buttons.forEach((b, i) => b.classList.toggle("active", runs[i] === run));
    buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(runs[i] === run)));
    const curve = curveOf(run);
    if (shownCurve !== curve) { curveBox.replaceChildren(curve.svg); shownCurve = curve; }
    curve.mark(epochs[index]);
    caption.replaceChildren(h("b", { text: run }), ` — ${captions[run][index]}`);
    const mine = ++token;
    img.decode().catch(() => {}).then(() => {
      if (mine !== token) return; // a later frame was asked for meanwhile
      root.dataset.shown = `${run}@${index}`;
      root.stlibShown.push({ t: performance.now(), run, index });
      if (root.stlibShown.length > 500) root.stlibShown.shift();
    });
  }

  function set(changes) {
    for (const [k, v] of Object.entries(changes)) model.set(k, v);
    model.save_changes(); // a no-op without a kernel (static HTML)
  }
  const go = (index) => set({ index: Math.max(0, Math.min(last, index)) });

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.textContent = "▶ Play";
    play.classList.remove("playing");
    root.dataset.playing = "false";
  }
  function start() {
    stop();
    if (model.get("index") >= last) go(0); // from the start again, like a media player
    play.textContent = "❚❚ Pause";
    play.classList.add("playing");
    root.dataset.playing = "true";
    timer = setInterval(() => {
      const next = model.get("index") + 1;
      if (next > last) return stop();
      go(next);
      if (next >= last) stop();
    }, 1000 / Math.max(1, model.get("fps")));
  }

  play.addEventListener("click", () => (timer === null ? start() : stop()));
  slider.addEventListener("input", () => { stop(); go(Number(slider.value)); });
  speed.value = String(model.get("fps"));
  speed.addEventListener("change", () => { set({ fps: Number(speed.value) }); if (timer !== null) start(); });
  buttons.forEach((b, i) => b.addEventListener("click", () => set({ run: runs[i] })));
  root.addEventListener("keydown", (event) => {
    const keys = { ArrowLeft: -1, ArrowRight: +1, Home: -Infinity, End: +Infinity };
    if (event.key in keys && event.target.tagName !== "SELECT") {
      event.preventDefault();
      stop();
      const step = keys[event.key];
      go(Number.isFinite(step) ? model.get("index") + step : step < 0 ? 0 : last);
    } else if (event.key === " " && event.target.tagName !== "BUTTON" && event.target.tagName !== "SELECT") {
      event.preventDefault();
      timer === null ? start() : stop();
    } else return;
    event.stopPropagation(); // keep JupyterLab's command-mode keys (↑ ↓ between cells…) out of it
  });

  const onChange = () => show();
  model.on("change:index", onChange);
  model.on("change:run", onChange);
  stop();
  show();
  return () => {
    stop();
    model.off("change:index", onChange);
    model.off("change:run", onChange);
    warm.length = 0;
  };
}

export default { render };
