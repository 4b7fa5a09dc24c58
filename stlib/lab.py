"""The Live lab: a style network (`stlib.fastnet`) running in the page with onnxruntime-web, on a photo or the webcam.

`export_onnx` writes a network as ONNX; `ort_runtime` gives onnxruntime-web's files from its npm tarball (one exact
version, SHA-512 checked, never a CDN); `LiveLab` is the widget (``lab.js``, ``lab.css``) of lesson 10 and the site's
``lab.html``, its class made on first use so that exporting never imports anywidget.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from .config import REPO
from .errors import StlibError

_HERE = Path(__file__).resolve().parent
NPM_DIR = REPO / "build" / "npm"  # where the npm tarballs are kept (the site's too), fetched once
# onnxruntime-web (`npm_tarball`): the site serves its files (tools/build_site.py), a kernel's widget sends them (14 MB)
ORT_WEB = ("onnxruntime-web@1.30.0",
           "q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==")
# the WebAssembly build (its JavaScript glue bundled in): the WebGPU build's .wasm alone is 28 MB, over the budget
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")


def export_onnx(net, out: str | os.PathLike, size: int = 256, *, overwrite: bool = True) -> Path:
    """Write ``net`` (a `stlib.fastnet.TransformerNet`, a ``Trained`` network or a ``save_net`` file) to ``out`` as
    ONNX, for onnxruntime and the browser: a photo ``(1, 3, H, W)`` in [0, 1] of any ``H, W`` ≥ 8 (``size``: the side
    of the square it is traced at) in, the unclamped picture out. Here, not in `fastnet`, whose code is in the cache
    key."""
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
    for node in program.model.graph:  # drop the fx notes on each node: a third of the file
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


def npm_tarball(spec: str, sha512: str, folder: Path = NPM_DIR) -> Path:
    """``npm pack`` one exact package version (``name@1.2.3``) into ``folder`` (once, then offline) and check its
    SHA-512; the tarball's name is npm's (``@scope/name@1.2.3`` → ``scope-name-1.2.3.tgz``)."""
    import hashlib
    import shutil
    import subprocess

    package, _, version = spec.rpartition("@")
    path = Path(folder) / f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not path.exists():
        if (npm := shutil.which("npm")) is None:
            raise StlibError(f"npm is needed once to fetch {spec} (install Node.js: apt-get install nodejs npm)")
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([npm, "pack", spec, "--pack-destination", str(path.parent), "--silent"],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            raise StlibError(f"npm pack {spec} failed: {(proc.stderr.strip().splitlines() or ['no message'])[-1]}")
    digest = base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    if digest != sha512:
        path.unlink()
        raise StlibError(f"{path.name}: SHA-512 {digest} is not the registry's {sha512}; deleted it, run again")
    return path


def ort_runtime(folder: Path | None = None) -> dict[str, bytes]:
    """onnxruntime-web's files the Live lab needs (`ORT_FILES`), name → bytes, from the npm tarball."""
    import tarfile

    with tarfile.open(npm_tarball(*ORT_WEB, folder=folder or NPM_DIR)) as tar:
        return {name: tar.extractfile(f"package/dist/{name}").read() for name in ORT_FILES}


def front_end() -> str:
    """The widget's ES module: ``stlib/dom.js`` (the DOM helper it shares with the snapshot viewer), ``lab.js``."""
    return "".join((_HERE / name).read_text(encoding="utf-8") for name in ("dom.js", "lab.js"))


def lab_networks(styles: Sequence[str] | None = None) -> dict:
    """Style → `stlib.fastnet.Trained`: the shipped networks (``data/networks/``) for the site's Live lab."""
    from .fastnet import SHIPPED_STYLES, load_net

    return {style: load_net(style, device="cpu") for style in (styles or SHIPPED_STYLES)}


def __getattr__(name: str):
    if name != "LiveLab":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["LiveLab"] = cls = _live_lab()  # once: the next look-up finds it
    return cls


def _live_lab() -> type:
    import tempfile

    import anywidget
    import traitlets as T

    from .images import DISPLAY_PX, frame_url, load_image

    class LiveLab(anywidget.AnyWidget):
        """Style networks running in the page (onnxruntime-web in a Web Worker) on a photo or the webcam, the
        milliseconds per frame beside; camera frames under ``min_fps`` for 2 s drop from 256 to 192, then 128 px.
        ``networks``: style → anything `export_onnx` takes; ``photo``: what is stylised first; ``runtime_url``: a
        folder serving onnxruntime-web's files (default ``$STLIB_LAB_RUNTIME``), else they are sent with the widget.
        """

        _esm = front_end()
        _css = (_HERE / "lab.css").read_text(encoding="utf-8")

        networks = T.Dict().tag(sync=True)  # style → ONNX bytes
        photo = T.Unicode("").tag(sync=True)  # data URL
        runtime_url = T.Unicode("").tag(sync=True)
        runtime = T.Dict().tag(sync=True)  # file name → bytes, when there is no runtime_url
        threads = T.Int(0).tag(sync=True)  # 0: as many as the page may use (one without cross-origin isolation)
        min_fps = T.Float(15.0).tag(sync=True)  # camera frames slower than this get a smaller square; 0: always 256
        problem = T.Unicode("").tag(sync=True)  # why the runtime is missing, said in the page (Run All goes on)

        def __init__(self, networks: Mapping[str, object], photo: str = "chelsea", runtime_url: str | None = None):
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

    return LiveLab
