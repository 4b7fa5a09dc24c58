"""ipywidgets wiring over finished runs: scrub epochs and layers without recomputing.

Every snapshot is rendered to PNG bytes once, when the viewer is built, and each loss curve
with its epoch marked the first time it is shown; after that, moving the slider or the selector
only swaps bytes, so scrubbing is instant. The Play button
moves the slider in the browser (``jslink``); the picture follows through the kernel.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from .errors import StlibError
from .images import DISPLAY_PX, load_image, png_bytes, sample_names
from .optim import Result
from .plot import epoch_title, loss_curve


class _MarkedCurve:
    """A run's loss curve, drawn once; ``png(epoch)`` marks that epoch (red ring, dashed line).

    Each epoch's picture is rendered on first view (~70 ms) and kept, so scrubbing stays instant
    and building a viewer over many runs costs one plot per run.
    """

    def __init__(self, result: Result, epochs: Sequence[int], key: str):
        self.values = result.losses(key)
        self.fig = loss_curve(result, key=key, mark_epochs=epochs)
        self.fig.set_size_inches(3.6, 2.6)
        plt.close(self.fig)  # keep it out of pyplot's figure list (and the notebook's output)
        ax = self.fig.axes[0]
        self.ring, = ax.plot([], [], "o", ms=9, mfc="none", mec="#d62728", mew=1.6)
        self.line = ax.axvline(1, color="#d62728", lw=0.8, ls="--")
        self.pngs: dict[int, bytes] = {}

    def png(self, epoch: int) -> bytes:
        if epoch not in self.pngs:
            shown = 1 <= epoch <= len(self.values)  # epoch 0 (the initial image) has no loss yet
            self.ring.set_data([epoch], [self.values[epoch - 1]] if shown else [float("nan")])
            self.line.set_xdata([max(epoch, 1)] * 2)
            self.line.set_visible(shown)
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png", dpi=80)
            self.pngs[epoch] = buf.getvalue()
        return self.pngs[epoch]


class SnapshotViewer(W.VBox):
    """Epoch slider (with Play) × run selector over stored snapshots, loss curve beside (epoch marked).

    ``results``: label → `Result` (e.g. ``{"block1": …, "block2": …}``). Plain
    attributes for tests and scripting: ``selector``, ``slider``, ``play``, ``image``,
    ``curve``, ``caption``.
    """

    def __init__(self, results: Mapping[str, Result], *, epochs: Sequence[int] | None = None,
                 target: torch.Tensor | None = None, label: str = "layer", key: str = "total"):
        if not results:
            raise StlibError("nothing to show: the viewer needs at least one finished run")
        self.results = dict(results)
        first = next(iter(self.results.values()))
        self.epochs = list(epochs) if epochs is not None else sorted(first.snapshots)
        missing = [(lab, e) for lab, r in self.results.items() for e in self.epochs if e not in r.snapshots]
        if missing:
            lab, e = missing[0]
            if self.results[lab].interrupted:
                raise StlibError(f"run {lab!r} was interrupted at step {self.results[lab].steps}, before epoch {e}; "
                                 "run its cell again to finish it")
            raise StlibError(f"run {lab!r} has no snapshot at epoch {e}; rerun with snapshot_at including it")
        # render the snapshots once (the curves on first view): scrubbing only swaps bytes
        self._frames = {(lab, e): png_bytes(r.snapshots[e]) for lab, r in self.results.items() for e in self.epochs}
        self._curves = {lab: _MarkedCurve(r, self.epochs, key) for lab, r in self.results.items()}

        self.selector = W.ToggleButtons(options=list(self.results), description=label,
                                        style={"button_width": "auto"})
        self.slider = W.SelectionSlider(options=[(epoch_title(e), e) for e in self.epochs], description="epoch",
                                        continuous_update=True, layout=W.Layout(width="420px"))
        self.play = W.Play(min=0, max=len(self.epochs) - 1, step=1, interval=700, description="play")
        W.jslink((self.play, "value"), (self.slider, "index"))
        self.image = W.Image(format="png", layout=W.Layout(width=f"{DISPLAY_PX}px"))
        self.curve = W.Image(format="png", layout=W.Layout(width="300px"))
        self.caption = W.HTML()
        pictures = [self.image]
        if target is not None:
            pictures.append(W.VBox([W.Image(value=png_bytes(target), format="png",
                                            layout=W.Layout(width=f"{DISPLAY_PX}px")), W.HTML("<b>target</b>")]))
        self.selector.observe(self._update, names="value")
        self.slider.observe(self._update, names="value")
        # flex-start: a stretched row would squash the snapshot and the curve to the tallest picture
        pictures_row = W.HBox([*pictures, self.curve], layout=W.Layout(align_items="flex-start"))
        super().__init__([self.selector, W.HBox([self.play, self.slider]), pictures_row, self.caption])
        self._update()

    def _update(self, _change=None) -> None:
        lab, epoch = self.selector.value, self.slider.value
        # render first (a curve's first view takes ~70 ms), then send the three values back to back, so
        # the browser never shows one run's picture under another run's caption for long
        curve = self._curves[lab].png(epoch)
        history = self.results[lab].history
        loss = f", loss {history[epoch - 1]['total']:.4g}" if epoch >= 1 and history else ""
        self.image.value = self._frames[(lab, epoch)]
        self.curve.value = curve
        self.caption.value = f"<b>{lab}</b> — {epoch_title(epoch)}{loss}"


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
