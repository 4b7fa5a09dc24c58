// stlib's Live lab, front-end half (an anywidget ES module; the Python half is LiveLab in stlib/widgets.py).
//
// A style network from the course (an ONNX file from stlib.lab.export_onnx) runs in the page with
// onnxruntime-web (WebAssembly) in a Web Worker, so the page stays responsive while it computes: the photo shown
// first, a photo chosen or dropped, or the webcam, stylised beside it with the milliseconds per frame. The kernel
// is not involved once the widget is shown.
// The model holds: `networks` (style → ONNX bytes, or a URL on the static site), `photo` (a data URL or a URL,
// stylised as soon as the runtime is ready), `runtime_url` (a folder with onnxruntime-web's files: the site)
// or `runtime` (those files as bytes: a kernel, offline), `threads` (0: as many as the page may use), `min_fps`
// (camera frames slower than this for 2 s get a smaller square; 0: never; default 15).
//
// For tests and measurements the root element carries `stlibLab`: {backend, frames, ms (the network's, last 300),
// frame_ms (the whole frame's, camera or photo to canvas, last 300), side (the last frame's longer side: the
// camera's square), first (ms from navigation start to the first stylised picture), source, fps} and
// data-frames, the frames drawn so far.

const MAX_SIDE = 512; // a larger photo is scaled down first (the page says so): the network's time grows with it
const CAMERA_SIDES = [256, 192, 128]; // camera frames: the centre square, the next side while frames are slow
const MIN_FPS = 15;
const SLOW_MS = 2000; // this long under min_fps, and the camera's square gets smaller

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bytes = (v) => (v instanceof DataView ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v));

// -- the worker: onnxruntime-web off the main thread --------------------------------------------------------------
// Started from this function's source (a Blob URL), so the widget stays one module. Requests are answered in
// the order they came: load (the runtime and the networks), session (set a style's network up), run (RGBA pixels
// in, the stylised RGBA pixels and the network's ms out; both buffers are transferred, not copied).
function workerMain() {
  let ort, networks;
  const sessions = {}, warm = new Set(); // warm: styles that have run once (a first run also sets itself up)
  const session = (style) => (sessions[style] ??= ort.InferenceSession.create(networks[style], { executionProviders: ["wasm"] }));
  const answers = {
    async load({ url, js, wasm, threads, nets }) {
      if (url) {
        ort = await import(url + "ort.wasm.bundle.min.mjs");
        ort.env.wasm.wasmPaths = { wasm: url + "ort-wasm-simd-threaded.wasm" }; // the glue is in the bundle
        ort.env.wasm.numThreads = threads || (self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1);
      } else { // from the kernel: no server path; a module from a Blob URL cannot start onnxruntime's own workers
        ort = await import(URL.createObjectURL(new Blob([js], { type: "text/javascript" })));
        ort.env.wasm.wasmBinary = wasm;
        ort.env.wasm.numThreads = 1;
      }
      networks = nets; // a URL (fetched by onnxruntime) or the bytes
      return { threads: ort.env.wasm.numThreads };
    },
    async session({ style }) {
      await session(style);
      return {};
    },
    async run({ style, rgba, width, height }) {
      const s = await session(style), n = width * height, planes = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) {
        planes[i] = rgba[4 * i] / 255;
        planes[n + i] = rgba[4 * i + 1] / 255;
        planes[2 * n + i] = rgba[4 * i + 2] / 255;
      }
      const t0 = performance.now();
      const result = await s.run({ [s.inputNames[0]]: new ort.Tensor("float32", planes, [1, 3, height, width]) });
      const ms = performance.now() - t0;
      const out = result[s.outputNames[0]].data;
      const px = new Uint8ClampedArray(4 * n); // it clamps to 0…255 and rounds, as PyTorch's clamp(0, 1)·255 does
      for (let i = 0; i < n; i++) {
        px[4 * i] = 255 * out[i];
        px[4 * i + 1] = 255 * out[n + i];
        px[4 * i + 2] = 255 * out[2 * n + i];
        px[4 * i + 3] = 255;
      }
      const first = !warm.has(style);
      warm.add(style);
      return { rgba: px, ms, first };
    },
  };
  let queue = Promise.resolve();
  self.onmessage = ({ data }) => {
    queue = queue.then(() => answers[data.type](data)).then(
      (answer) => postMessage({ id: data.id, ...answer }, answer.rgba ? [answer.rgba.buffer] : []),
      (err) => postMessage({ id: data.id, error: String(err?.message || err) }));
  };
}

// The page's side of the conversation: call(type, fields, transfer) resolves with the worker's answer.
function startWorker() {
  const url = URL.createObjectURL(new Blob([`(${workerMain})();`], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const pending = new Map();
  let next = 0, failed = null;
  worker.onmessage = ({ data }) => {
    const { resolve, reject } = pending.get(data.id);
    pending.delete(data.id);
    if (data.error) reject(new Error(data.error));
    else resolve(data);
  };
  worker.onerror = (event) => { // the worker itself failed (it could not start): every request fails
    event.preventDefault();
    failed = new Error(event.message || "the worker did not start");
    for (const { reject } of pending.values()) reject(failed);
    pending.clear();
  };
  return {
    call: (type, fields = {}, transfer = []) => new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      pending.set(++next, { resolve, reject });
      worker.postMessage({ id: next, type, ...fields }, transfer);
    }),
    stop: () => { worker.terminate(); URL.revokeObjectURL(url); },
  };
}

// The model's runtime and networks as the worker's load request: URLs made absolute (a Blob URL worker has no
// base of its own), bytes copied once and transferred.
function loadRequest(model) {
  const transfer = [];
  const copy = (v) => { const b = bytes(v).slice(); transfer.push(b.buffer); return b; };
  const nets = {};
  for (const [style, net] of Object.entries(model.get("networks"))) {
    nets[style] = typeof net === "string" ? new URL(net, document.baseURI).href : copy(net);
  }
  const url = model.get("runtime_url");
  if (url) return [{ url: new URL(url, document.baseURI).href, threads: model.get("threads") || 0, nets }, transfer];
  const files = model.get("runtime");
  return [{ js: copy(files["ort.wasm.bundle.min.mjs"]), wasm: copy(files["ort-wasm-simd-threaded.wasm"]), nets }, transfer];
}

// -- the page ------------------------------------------------------------------------------------------------------
function page(styles) {
  const ui = {
    select: h("select", { class: "stlib-lab-style", title: "the style: a network trained on this painting" },
      ...styles.map((s) => h("option", { value: s, text: s.replaceAll("_", " ") }))),
    file: h("input", { type: "file", accept: "image/*", class: "stlib-lab-file" }),
    camera: h("button", { class: "stlib-lab-camera", text: "start the camera" }),
    status: h("span", { class: "stlib-lab-status", text: "loading the runtime…" }),
    message: h("div", { class: "stlib-lab-message", role: "status" }),
    input: h("canvas", { class: "stlib-lab-input", width: 1, height: 1 }),
    output: h("canvas", { class: "stlib-lab-output", width: 1, height: 1 }),
    source: h("figcaption", { class: "stlib-lab-source", text: "photo (or drop one here)" }),
    video: h("video", { playsinline: "" }),
  };
  ui.video.muted = true;
  ui.root = h("div", { class: "stlib-lab" },
    h("div", { class: "stlib-lab-controls" }, h("label", { text: "style " }, ui.select),
      h("label", { class: "stlib-lab-choose", text: "photo " }, ui.file), ui.camera, ui.status),
    ui.message,
    h("div", { class: "stlib-lab-pictures" },
      h("figure", {}, ui.input, ui.source),
      h("figure", {}, ui.output, h("figcaption", { class: "stlib-lab-caption", text: "stylised" }))));
  ui.ictx = ui.input.getContext("2d", { willReadFrequently: true });
  ui.octx = ui.output.getContext("2d");
  return ui;
}

const say = (lab, text, bad = false) => { lab.ui.message.textContent = text; lab.ui.message.classList.toggle("bad", bad); };

function show(lab, ms, fps) {
  const { stats } = lab;
  const what = stats.warmup ? " for the first frame (it sets the runtime up; the next are faster)" : " per frame";
  lab.ui.status.textContent = `${stats.backend} · ${ms.toFixed(0)} ms${what}` + (fps ? ` · ${fps.toFixed(1)} frames/s` : "");
}

// One frame at a time: a photo chosen while a camera frame is painted waits for it.
function exclusive(lab, paint) {
  const turn = lab.turn.then(paint);
  lab.turn = turn.catch(() => {});
  return turn;
}

// -- drawing: the input canvas → the worker → the output canvas; `t0`: when the frame was grabbed ------------------
async function stylise(lab, t0 = performance.now()) {
  const { ui, stats } = lab;
  if (!lab.worker) throw new Error(`no runtime: ${lab.model.get("problem")}`);
  const w = ui.input.width, hgt = ui.input.height;
  const rgba = ui.ictx.getImageData(0, 0, w, hgt).data;
  const { rgba: px, ms, first } = await lab.worker.call("run", { style: ui.select.value, rgba, width: w, height: hgt },
    [rgba.buffer]);
  ui.output.width = w;
  ui.output.height = hgt;
  ui.octx.putImageData(new ImageData(px, w, hgt), 0, 0);
  const keep = (list, value) => { list.push(value); if (list.length > 300) list.shift(); };
  keep(stats.ms, ms);
  keep(stats.frame_ms, performance.now() - t0);
  stats.warmup = first;
  stats.side = Math.max(w, hgt);
  stats.frames += 1;
  if (stats.first === null) stats.first = performance.now();
  ui.root.dataset.frames = String(stats.frames);
  return ms;
}

// -- photos: the sample, a file chosen or dropped ---------------------------------------------------------------
function still(lab, source, what) {
  const { ui, stats } = lab;
  return exclusive(lab, async () => {
    const t0 = performance.now();
    const w = source.width, hgt = source.height;
    const scale = Math.min(1, MAX_SIDE / Math.max(w, hgt));
    ui.input.width = Math.max(8, Math.round(w * scale));
    ui.input.height = Math.max(8, Math.round(hgt * scale));
    ui.ictx.drawImage(source, 0, 0, ui.input.width, ui.input.height);
    if (scale < 1) say(lab, `${what} is ${w}×${hgt} px: scaled down to ${ui.input.width}×${ui.input.height} first (the network's time grows with the pixels)`);
    stats.source = ui.source.textContent = what;
    show(lab, await stylise(lab, t0));
  }).catch((err) => say(lab, `could not stylise ${what}: ${err.message || err}`, true));
}

async function openFile(lab, f) {
  if (!f) return;
  stopCamera(lab);
  say(lab, "");
  if (!f.type.startsWith("image/")) {
    return say(lab, `${f.name} is not an image (${f.type || "unknown type"}): choose a photo (JPEG, PNG, WebP)`, true);
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(f);
  } catch {
    return say(lab, `${f.name} could not be read as an image (damaged, or not really a ${f.type}): choose another photo`, true);
  }
  await still(lab, bitmap, f.name);
}

// -- the camera loop: grab the centre square, stylise it, draw it, again; a smaller square while frames are slow --
function stopCamera(lab) {
  if (!lab.stream) return;
  lab.stream.getTracks().forEach((t) => t.stop());
  lab.stream = null;
  lab.ui.camera.textContent = "start the camera";
}

async function startCamera(lab) {
  if (lab.stream) return stopCamera(lab);
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return say(lab, "no camera here: the browser offers one only to pages from https or localhost (make serve)", true);
  }
  try {
    lab.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    lab.stream = null;
    const why = { NotAllowedError: "the camera was refused: allow it for this page in the browser's settings, then press the button again",
      NotFoundError: "no camera found: connect one, or choose a photo instead",
      NotReadableError: "the camera is in use by another program: close it, then press the button again" };
    return say(lab, why[err.name] || `the camera could not start (${err.name}: ${err.message})`, true);
  }
  say(lab, "");
  lab.ui.camera.textContent = "stop the camera";
  lab.ui.video.srcObject = lab.stream;
  await lab.ui.video.play();
  lab.stats.source = lab.ui.source.textContent = "camera";
  cameraLoop(lab);
}

// Frames/s over windows of 1 s: meter(now) after each frame returns {fps, slow} when a window closes (else
// null); slow once every window for SLOW_MS was under minFps. The first frame is not counted: at a new side
// the runtime sets itself up.
function frameMeter(minFps) {
  let count = 0, since = null, slowSince = null;
  return (now) => {
    if (since === null) {
      since = now;
      return null;
    }
    count += 1;
    if (now - since < 1000) return null;
    const fps = (1000 * count) / (now - since);
    slowSince = fps < minFps ? slowSince ?? since : null;
    count = 0;
    since = now;
    return { fps, slow: slowSince !== null && now - slowSince >= SLOW_MS };
  };
}

async function cameraLoop(lab) {
  const { ui, stats, stream } = lab, video = ui.video, minFps = lab.model.get("min_fps") ?? MIN_FPS;
  let step = 0, meter = frameMeter(minFps);
  while (lab.stream === stream) {
    const vw = video.videoWidth, vh = video.videoHeight, crop = Math.min(vw, vh), side = CAMERA_SIDES[step];
    if (!crop) {
      await sleep(10);
      continue;
    }
    let ms;
    try {
      ms = await exclusive(lab, () => {
        if (lab.stream !== stream) return null; // stopped while a photo was painted
        const t0 = performance.now();
        if (ui.input.width !== side || ui.input.height !== side) ui.input.width = ui.input.height = side;
        ui.ictx.drawImage(video, (vw - crop) / 2, (vh - crop) / 2, crop, crop, 0, 0, side, side);
        return stylise(lab, t0);
      });
    } catch (err) {
      say(lab, `could not stylise the camera's picture: ${err.message || err}`, true);
      return stopCamera(lab);
    }
    if (ms === null) return;
    const rate = meter(performance.now());
    if (rate) stats.fps = rate.fps;
    if (rate?.slow && step + 1 < CAMERA_SIDES.length) {
      step += 1;
      meter = frameMeter(minFps);
      say(lab, `frames were slow (${rate.fps.toFixed(0)} frames/s at ${side} px): painting ${CAMERA_SIDES[step]} px frames`);
    }
    show(lab, ms, stats.fps);
  }
}

// -- the widget -------------------------------------------------------------------------------------------------
async function start(lab) {
  const { model, ui, stats } = lab;
  if (model.get("problem")) {
    ui.status.textContent = "";
    return say(lab, `no runtime: ${model.get("problem")}`, true);
  }
  lab.worker = startWorker();
  try {
    const { threads } = await lab.worker.call("load", ...loadRequest(model));
    stats.backend = `WebAssembly in a worker, ${threads} thread${threads > 1 ? "s" : ""}`;
    ui.status.textContent = stats.backend;
    await lab.worker.call("session", { style: ui.select.value });
  } catch (err) {
    ui.status.textContent = "";
    return say(lab, `the runtime did not load: ${err.message || err}`, true);
  }
  const url = model.get("photo");
  if (!url || stats.frames) return;
  const img = new Image();
  img.src = url;
  await img.decode();
  if (!stats.frames) await still(lab, img, "the sample photo");
}

function render({ model, el }) {
  const ui = page(Object.keys(model.get("networks")));
  el.append(ui.root);
  const stats = (ui.root.stlibLab = { backend: "", frames: 0, ms: [], frame_ms: [], side: null, first: null, source: "" });
  const lab = { model, ui, stats, worker: null, stream: null, turn: Promise.resolve() };
  ui.file.addEventListener("change", () => { // cleared, so choosing the same file again paints it again
    const f = ui.file.files[0];
    ui.file.value = "";
    openFile(lab, f);
  });
  ui.camera.addEventListener("click", () => startCamera(lab));
  ui.root.addEventListener("dragover", (e) => { e.preventDefault(); ui.root.classList.add("drop"); });
  ui.root.addEventListener("dragleave", () => ui.root.classList.remove("drop"));
  ui.root.addEventListener("drop", (e) => { e.preventDefault(); ui.root.classList.remove("drop"); openFile(lab, e.dataTransfer.files[0]); });
  ui.select.addEventListener("change", () => { // a still picture is painted again in the new style
    if (lab.stream || ui.input.width <= 1) return; // the camera's next frame takes the new style anyway
    exclusive(lab, () => stylise(lab)).then((ms) => show(lab, ms),
      (err) => say(lab, `could not stylise ${stats.source}: ${err.message || err}`, true));
  });
  start(lab);
  return () => {
    stopCamera(lab);
    lab.worker?.stop();
  };
}

export default { render };
