"""Widgets for the lessons: the snapshot viewer (scrub epochs and runs of finished runs) and the image picker.
(The Live lab, lesson 10's network in the page, is `stlib.lab`.)

`SnapshotViewer` is an anywidget (``stlib/viewer.js``, ``viewer.css``): every frame, loss curve and caption is sent
once, and the slider, Play, the run buttons and the keys swap pictures in the browser with no kernel round trip (an
ipywidgets ``observe`` callback needs the kernel for every move, and nothing moves in exported HTML). Its module is part
of its widget state, so it works in JupyterLab 4, Notebook 7, VS Code, Colab and static HTML (``make site``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import anywidget
import ipywidgets as W
import torch
import traitlets as T

from .errors import StlibError
from .images import decode_frame, frame_url, load_image, open_image, sample_names
from .live import loss_curve
from .optim import Result
from .plot import epoch_title

_HERE = Path(__file__).resolve().parent


class SnapshotViewer(anywidget.AnyWidget):
    """Epoch slider (with Play) × run selector over stored snapshots, the loss curve beside (epoch marked); keys ← →
    Home End and space. ``results``: label → `Result`, in that order; ``epochs``: the snapshots shown (default: the
    first run's); ``target``: a picture beside them; ``label``: what the runs are; ``key``: the loss plotted. Synced
    state: ``run`` (the selected label) and ``index`` (into ``epochs``); ``epoch``, ``frame()`` and ``caption()`` read
    what is shown.
    """

    _esm = "".join((_HERE / name).read_text(encoding="utf-8") for name in ("dom.js", "viewer.js"))
    _css = (_HERE / "viewer.css").read_text(encoding="utf-8")

    runs = T.List(T.Unicode()).tag(sync=True)
    epochs = T.List(T.Int()).tag(sync=True)
    titles = T.List(T.Unicode()).tag(sync=True)
    frames = T.Dict().tag(sync=True)  # run → [data URL per epoch]
    captions = T.Dict().tag(sync=True)  # run → [caption per epoch]
    curves = T.Dict().tag(sync=True)  # run → its loss curve, an SVG (`stlib.live.loss_curve`)
    marks = T.Dict().tag(sync=True)  # run → [(x, y) on the curve per epoch, or None]
    target = T.Unicode("").tag(sync=True)  # data URL, or "" for none
    target_title = T.Unicode("target").tag(sync=True)
    label = T.Unicode("layer").tag(sync=True)
    run = T.Unicode("").tag(sync=True)
    index = T.Int(0).tag(sync=True)
    fps = T.Int(12).tag(sync=True)  # Play: 12 frames per second (at least 10 with timer jitter); 1 to 24 offered

    def __init__(self, results: Mapping[str, Result], *, epochs: Sequence[int] | None = None, label: str = "layer",
                 target: torch.Tensor | None = None, key: str = "total", target_title: str = "target"):
        if not isinstance(results, Mapping) or not results:
            raise StlibError("nothing to show: the viewer needs at least one finished run")
        results = {str(lab): r for lab, r in results.items()}
        if bad := [lab for lab, r in results.items() if not isinstance(r, Result)]:
            raise StlibError(f"run {bad[0]!r} is not a finished run (a stlib Result); pass what stylize() returned")
        epochs = list(epochs) if epochs is not None else sorted(next(iter(results.values())).snapshots)
        if not epochs:
            raise StlibError("no epochs to show: pass epochs=[…] or runs with snapshots")
        if missing := [(lab, e) for lab, r in results.items() for e in epochs if e not in r.snapshots]:
            lab, e = missing[0]
            if results[lab].interrupted:
                raise StlibError(f"run {lab!r} was interrupted at step {results[lab].steps}, before epoch {e}; "
                                 "run its cell again to finish it")
            raise StlibError(f"run {lab!r} has no snapshot at epoch {e}; rerun with snapshot_at including it")

        def caption(r: Result, epoch: int) -> str:
            shown = 1 <= epoch <= len(r.history) and "total" in r.history[epoch - 1]
            return epoch_title(epoch) + (f", loss {r.history[epoch - 1]['total']:.4g}" if shown else "")

        curves = {lab: loss_curve(r.losses(key), len(r.history), 215, f"{key} loss") for lab, r in results.items()}
        super().__init__(
            runs=list(results), epochs=[int(e) for e in epochs], titles=[epoch_title(e) for e in epochs],
            frames={lab: [frame_url(r.snapshots[e]) for e in epochs] for lab, r in results.items()},
            captions={lab: [caption(r, e) for e in epochs] for lab, r in results.items()},
            curves={lab: svg for lab, (svg, _) in curves.items()},
            marks={lab: [point(e) for e in epochs] for lab, (_, point) in curves.items()},
            target=frame_url(target) if target is not None else "", target_title=target_title, label=label,
            run=next(iter(results)), index=0)

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
        run, epoch = self.run if run is None else run, self.epoch if epoch is None else epoch
        if run not in self.frames or epoch not in self.epochs:
            raise StlibError(f"no frame for run {run!r} at epoch {epoch}")
        return decode_frame(self.frames[run][self.epochs.index(epoch)])

    def caption(self, run: str | None = None, epoch: int | None = None) -> str:
        """The caption under the picture for ``run`` at ``epoch`` (default: what is shown now)."""
        run, epoch = self.run if run is None else run, self.epoch if epoch is None else epoch
        return f"{run} — {self.captions[run][self.epochs.index(epoch)]}"


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ImagePicker(W.VBox):
    """Choose an image: a bundled sample, a file in ``data/``, or an upload. ``picker.image(size)`` returns it as
    ``(1, 3, size, size)``; a bad upload (not an image, too large) says so in one line and keeps the last choice."""

    def __init__(self, description: str, default: str):
        self.dropdown = W.Dropdown(options=sample_names(), value=default, description=description)
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.message = W.HTML()
        self._uploaded, self._uploaded_name = None, ""  # an uploaded (1, 3, H, W) image and its file's name
        self.upload.observe(self._on_upload, names="value")
        self.dropdown.observe(self._on_pick, names="value")
        super().__init__([W.HBox([self.dropdown, self.upload]), self.message])

    def _on_pick(self, _change=None) -> None:
        self._uploaded = None
        self.message.value = ""

    def _on_upload(self, change) -> None:
        if not change["new"]:
            return
        item = change["new"][0]
        try:
            self._uploaded = load_uploaded(item["name"], bytes(item["content"]))
            self._uploaded_name = item["name"]
            self.message.value = f"using uploaded <b>{item['name']}</b>"
        except StlibError as err:
            # say what stays chosen, so nobody wonders which image the next run will use
            current = ("uploaded " if self._uploaded is not None else "") + f"<b>{self.label}</b>"
            self.message.value = f"<span style='color:#b00'>{err}</span> (still using {current})"

    def image(self, size: int) -> torch.Tensor:
        return load_image(self._uploaded if self._uploaded is not None else self.dropdown.value, size)

    @property
    def label(self) -> str:
        """What is chosen, for a title: the uploaded file's name or the sample's."""
        return self._uploaded_name if self._uploaded is not None else self.dropdown.value


def load_uploaded(name: str, content: bytes) -> torch.Tensor:
    """Bytes of an uploaded file → ``(1, 3, H, W)``, or a one-line `StlibError`."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise StlibError(f"{name}: {len(content) / 2**20:.0f} MB is too large (limit {MAX_UPLOAD_BYTES // 2**20} MB); "
                         "upload a smaller image")
    return load_image(open_image(io.BytesIO(content), name))
