// stlib's Live lab, front-end half (an anywidget ES module; the Python half is LiveLab in stlib/widgets.py).
//
// A style network from the course (an ONNX file from stlib.fastnet.export_onnx) runs in the page with
// onnxruntime-web (WebAssembly): the photo shown first, a photo chosen or dropped, or the webcam, stylised
// beside it with the milliseconds per frame. The kernel is not involved once the widget is shown.
// The model holds: `networks` (style → ONNX bytes, or a URL on the static site), `photo` (a data URL or a URL,
// stylised as soon as the runtime is ready), `runtime_url` (a folder with onnxruntime-web's files: the site)
// or `runtime` (those files as bytes: a kernel, offline), `threads` (0: as many as the page may use).
//
// For tests and measurements the root element carries `stlibLab`: {backend, frames, ms (last 300), first (ms
// from navigation start to the first stylised picture), source} and data-frames, the frames drawn so far.

const MAX_SIDE = 512; // a larger photo is scaled down first (the page says so): the network's time grows with it
const CAMERA_SIDE = 256; // camera frames: the centre square at 256×256

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

const bytes = (v) => (v instanceof DataView ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v));

// One runtime per page (it owns one WebAssembly instance), loaded from the site's folder or from the model's bytes.
let runtime = null;
function loadRuntime(model) {
  if (runtime) return runtime;
  const url = model.get("runtime_url");
  const threads = model.get("threads") || (self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1);
  runtime = (async () => {
    let ort;
    if (url) {
      const base = new URL(url, document.baseURI).href;
      ort = await import(base + "ort.wasm.bundle.min.mjs");
      ort.env.wasm.wasmPaths = { wasm: base + "ort-wasm-simd-threaded.wasm" }; // the glue is in the bundle
    } else { // from the kernel: no server path, no internet; a module from a blob cannot start workers: one thread
      const files = model.get("runtime");
      const js = new Blob([bytes(files["ort.wasm.bundle.min.mjs"])], { type: "text/javascript" });
      ort = await import(URL.createObjectURL(js));
      ort.env.wasm.wasmBinary = bytes(files["ort-wasm-simd-threaded.wasm"]);
    }
    ort.env.wasm.numThreads = url ? threads : 1;
    const n = ort.env.wasm.numThreads;
    return { ort, backend: `WebAssembly, ${n} thread${n > 1 ? "s" : ""}` };
  })();
  return runtime;
}

function render({ model, el }) {
  const networks = model.get("networks");
  const styles = Object.keys(networks);
  const select = h("select", { class: "stlib-lab-style", title: "the style: a network trained on this painting" },
    ...styles.map((s) => h("option", { value: s, text: s.replaceAll("_", " ") })));
  const file = h("input", { type: "file", accept: "image/*", class: "stlib-lab-file" });
  const camera = h("button", { class: "stlib-lab-camera", text: "start the camera" });
  const status = h("span", { class: "stlib-lab-status", text: "loading the runtime…" });
  const message = h("div", { class: "stlib-lab-message", role: "status" });
  const input = h("canvas", { class: "stlib-lab-input", width: 1, height: 1 });
  const output = h("canvas", { class: "stlib-lab-output", width: 1, height: 1 });
  const video = h("video", { playsinline: "" });
  video.muted = true;
  const root = h("div", { class: "stlib-lab" },
    h("div", { class: "stlib-lab-controls" }, h("label", { text: "style " }, select),
      h("label", { class: "stlib-lab-choose", text: "photo " }, file), camera, status),
    message,
    h("div", { class: "stlib-lab-pictures" },
      h("figure", {}, input, h("figcaption", { class: "stlib-lab-source", text: "photo (or drop one here)" })),
      h("figure", {}, output, h("figcaption", { class: "stlib-lab-caption", text: "stylised" }))));
  el.append(root);
  const sourceCaption = root.querySelector(".stlib-lab-source");
  const stats = (root.stlibLab = { backend: "", frames: 0, ms: [], first: null, source: "" });
  const ictx = input.getContext("2d", { willReadFrequently: true });
  const octx = output.getContext("2d");
  const sessions = {};
  const warm = new Set(); // styles that have painted once: a session's first run also sets itself up
  let stream = null;
  let busy = false;

  const say = (text, bad = false) => { message.textContent = text; message.classList.toggle("bad", bad); };

  async function session(style) {
    if (!sessions[style]) {
      sessions[style] = (async () => {
        const { ort } = await loadRuntime(model);
        const net = networks[style];
        const data = typeof net === "string" ? new Uint8Array(await (await fetch(net)).arrayBuffer()) : bytes(net);
        return ort.InferenceSession.create(data, { executionProviders: ["wasm"] });
      })();
    }
    return sessions[style];
  }

  // the input canvas → the network → the output canvas; returns the milliseconds the network took
  async function stylise() {
    const { ort } = await loadRuntime(model);
    const style = select.value, s = await session(style);
    const w = input.width, hgt = input.height, n = w * hgt;
    const rgba = ictx.getImageData(0, 0, w, hgt).data;
    const planes = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      planes[i] = rgba[4 * i] / 255;
      planes[n + i] = rgba[4 * i + 1] / 255;
      planes[2 * n + i] = rgba[4 * i + 2] / 255;
    }
    const t0 = performance.now();
    const result = await s.run({ [s.inputNames[0]]: new ort.Tensor("float32", planes, [1, 3, hgt, w]) });
    const ms = performance.now() - t0;
    stats.warmup = !warm.has(style);
    warm.add(style);
    const out = result[s.outputNames[0]].data;
    const image = octx.createImageData(w, hgt);
    const px = image.data; // a Uint8ClampedArray: it clamps to 0…255 and rounds, as PyTorch's clamp(0, 1)·255 does
    for (let i = 0; i < n; i++) {
      px[4 * i] = 255 * out[i];
      px[4 * i + 1] = 255 * out[n + i];
      px[4 * i + 2] = 255 * out[2 * n + i];
      px[4 * i + 3] = 255;
    }
    output.width = w;
    output.height = hgt;
    octx.putImageData(image, 0, 0);
    stats.frames += 1;
    stats.ms.push(ms);
    if (stats.ms.length > 300) stats.ms.shift();
    if (stats.first === null) stats.first = performance.now();
    root.dataset.frames = String(stats.frames);
    return ms;
  }

  function show(ms, fps) {
    const what = stats.warmup ? " for the first frame (it sets the runtime up; the next are faster)" : " per frame";
    status.textContent = `${stats.backend} · ${ms.toFixed(0)} ms${what}` + (fps ? ` · ${fps.toFixed(1)} frames/s` : "");
  }

  const idle = async () => { while (busy) await new Promise((r) => setTimeout(r, 5)); }; // the frame being painted

  async function still(source, what) {
    await idle();
    busy = true;
    try {
      const w = source.width, hgt = source.height;
      const scale = Math.min(1, MAX_SIDE / Math.max(w, hgt));
      input.width = Math.max(8, Math.round(w * scale));
      input.height = Math.max(8, Math.round(hgt * scale));
      ictx.drawImage(source, 0, 0, input.width, input.height);
      if (scale < 1) say(`${what} is ${w}×${hgt} px: scaled down to ${input.width}×${input.height} first (the network's time grows with the pixels)`);
      stats.source = what;
      sourceCaption.textContent = what;
      show(await stylise());
    } catch (err) {
      say(`could not stylise ${what}: ${err.message || err}`, true);
    } finally {
      busy = false;
    }
  }

  async function openFile(f) {
    if (!f) return;
    stopCamera();
    say("");
    if (!f.type.startsWith("image/")) {
      say(`${f.name} is not an image (${f.type || "unknown type"}): choose a photo (JPEG, PNG, WebP)`, true);
      return;
    }
    let bitmap;
    try {
      bitmap = await createImageBitmap(f);
    } catch {
      say(`${f.name} could not be read as an image (damaged, or not really a ${f.type}): choose another photo`, true);
      return;
    }
    await still(bitmap, f.name);
  }

  function stopCamera() {
    if (!stream) return;
    stream.getTracks().forEach((t) => t.stop());
    stream = null;
    camera.textContent = "start the camera";
  }

  async function startCamera() {
    if (stream) return stopCamera();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("no camera here: the browser offers one only to pages from https or localhost (make serve)", true);
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (err) {
      stream = null;
      const why = { NotAllowedError: "the camera was refused: allow it for this page in the browser's settings, then press the button again",
        NotFoundError: "no camera found: connect one, or choose a photo instead",
        NotReadableError: "the camera is in use by another program: close it, then press the button again" };
      say(why[err.name] || `the camera could not start (${err.name}: ${err.message})`, true);
      return;
    }
    say("");
    camera.textContent = "stop the camera";
    video.srcObject = stream;
    await video.play();
    input.width = input.height = CAMERA_SIDE;
    stats.source = sourceCaption.textContent = "camera";
    let count = 0, since = performance.now();
    const tick = async () => {
      if (!stream) return;
      const side = Math.min(video.videoWidth, video.videoHeight);
      if (side > 0 && !busy) {
        busy = true;
        try {
          ictx.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0,
            CAMERA_SIDE, CAMERA_SIDE);
          const ms = await stylise();
          count += 1;
          const now = performance.now();
          if (now - since > 1000) {
            stats.fps = (1000 * count) / (now - since);
            count = 0;
            since = now;
          }
          show(ms, stats.fps);
        } catch (err) {
          say(`could not stylise the camera's picture: ${err.message || err}`, true);
          stopCamera();
        } finally {
          busy = false;
        }
      }
      setTimeout(tick, 0); // the next frame at once: waiting for the display's refresh would cost up to 16 ms
    };
    tick();
  }

  file.addEventListener("change", () => { // cleared, so choosing the same file again paints it again
    const f = file.files[0];
    file.value = "";
    openFile(f);
  });
  camera.addEventListener("click", startCamera);
  root.addEventListener("dragover", (e) => { e.preventDefault(); root.classList.add("drop"); });
  root.addEventListener("dragleave", () => root.classList.remove("drop"));
  root.addEventListener("drop", (e) => { e.preventDefault(); root.classList.remove("drop"); openFile(e.dataTransfer.files[0]); });
  select.addEventListener("change", async () => { // a still picture is painted again in the new style
    if (stream || input.width <= 1) return; // the camera's next frame takes the new style anyway
    await idle();
    busy = true;
    try { show(await stylise()); } finally { busy = false; }
  });

  (async () => {
    if (model.get("problem")) {
      status.textContent = "";
      return say(`no runtime: ${model.get("problem")}`, true);
    }
    try {
      stats.backend = (await loadRuntime(model)).backend;
      status.textContent = stats.backend;
      await session(select.value);
    } catch (err) {
      status.textContent = "";
      say(`the runtime did not load: ${err.message || err}`, true);
      return;
    }
    const url = model.get("photo");
    if (!url || stats.frames) return;
    const img = new Image();
    img.src = url;
    await img.decode();
    if (!stats.frames) await still(img, "the sample photo");
  })();
  return () => stopCamera();
}

export default { render };
