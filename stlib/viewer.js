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

// The loss curve of one run, drawn in Python (stlib.live.loss_curve, the live view's too), once per run;
// `mark(index)` moves the red ring and line to the epoch shown (`marks`: where the curve is at each epoch).
function lossCurve(markup, marks) {
  const box = h("div");
  box.innerHTML = markup;
  const svg = box.firstElementChild;
  svg.classList.add("stlib-viewer-curve");
  const s = (tag, attrs) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return svg.appendChild(node);
  };
  const rect = svg.querySelector("rect");
  const y1 = +rect.getAttribute("y"), y0 = y1 + +rect.getAttribute("height");
  const line = s("line", { y1, y2: y0, stroke: "#d62728", "stroke-width": 0.8, "stroke-dasharray": "4 3" });
  const ring = s("circle", { r: 4.5, fill: "none", stroke: "#d62728", "stroke-width": 1.6 });
  return {
    svg,
    // epoch 0 (the initial image) has no loss yet: no marker
    mark(index) {
      const at = marks[index];
      line.style.display = ring.style.display = at ? "" : "none";
      if (at) {
        line.setAttribute("x1", at[0]); line.setAttribute("x2", at[0]);
        ring.setAttribute("cx", at[0]); ring.setAttribute("cy", at[1]);
      }
    },
  };
}

function render({ model, el }) {
  const runs = model.get("runs"), epochs = model.get("epochs"), titles = model.get("titles");
  const frames = model.get("frames"), captions = model.get("captions"), marks = model.get("marks");
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
  const curveOf = (run) => (curves[run] ??= lossCurve(model.get("curves")[run], marks[run]));
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
    curve.mark(index);
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
