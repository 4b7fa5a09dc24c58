"""The Live lab's Python side (`stlib.lab`): ONNX export, onnxruntime-web's files, the widget; export-onnx needs
neither anywidget nor a kernel. The page itself runs in headless Chromium in tests/test_lab.py."""

import subprocess
import sys

import pytest
import torch

import stlib
from stlib import lab


def _net(seed: int = 0, **config) -> "stlib.fastnet.TransformerNet":
    """A network with every weight moved off its start, so no layer is left an identity or a zero."""
    from stlib.fastnet import TransformerNet

    torch.manual_seed(seed)
    net = TransformerNet(**config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def test_onnx_export_paints_the_sample_photos_as_pytorch_does(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from stlib.training import HELD_OUT

    net = _net()  # the lessons' size
    path = lab.export_onnx(net, tmp_path / "net.onnx")
    assert path.stat().st_size <= 2**20  # the browser downloads it
    session = ort.InferenceSession(str(path))
    for name in HELD_OUT:  # their own sizes, neither side a multiple of 4: the graph pads as the network does
        photo = stlib.load_image(name, max_size=254)
        ours = session.run(None, {"photo": photo.numpy()})[0]
        with torch.no_grad():
            expected = net(photo).numpy()
        assert ours.shape == expected.shape == (1, 3, *photo.shape[-2:])
        assert abs(ours.clip(0, 1) - expected.clip(0, 1)).max() <= 1 / 255


def test_cli_exports_a_network_file_and_refuses_bad_input(tmp_path, capsys, cli_error):
    ort = pytest.importorskip("onnxruntime")
    from stlib.__main__ import main
    from stlib.fastnet import load_net, train_net

    trained = train_net("ihc", photos=("coffee",), held_out=("chelsea",), preview_height=16, progress=False,
                        steps=1, crop=16, photo_side=20, batch=1, width=4, blocks=1)
    net = trained.save(tmp_path / "net.pt")
    assert main(["export-onnx", str(net), "-o", str(tmp_path / "net.onnx")]) == 0
    assert "(style: ihc)" in capsys.readouterr().out
    photo = torch.rand(1, 3, 20, 27)
    ours = ort.InferenceSession(str(tmp_path / "net.onnx")).run(None, {"photo": photo.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(ours), load_net(net).net(photo).detach(), atol=1e-4, rtol=1e-4)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    (tmp_path / "file").write_text("")
    for args, fragment in [([tmp_path / "none.pt", "-o", tmp_path / "a.onnx"], "no network file"),
                           ([tmp_path / "junk.pt", "-o", tmp_path / "a.onnx"], "not a network file"),
                           ([net, "-o", tmp_path / "net.onnx"], "already exists"),
                           ([net, "-o", tmp_path / "a.png"], "a .onnx file"),
                           ([net, "-o", tmp_path / "file" / "a.onnx"], "cannot make the folder")]:
        assert main(["export-onnx", *map(str, args)]) == 2
        assert fragment in cli_error()


def test_npm_tarball_refuses_a_file_that_is_not_the_registrys(tmp_path):
    fake = tmp_path / "pkg-1.0.0.tgz"
    fake.write_bytes(b"not the package")
    with pytest.raises(stlib.StlibError, match="pkg-1.0.0.tgz: SHA-512 .* is not the registry's"):
        lab.npm_tarball("pkg@1.0.0", "AAAA", tmp_path)
    assert not fake.exists(), "a tarball that failed its check must not be used next time"


def test_live_lab_sends_each_network_as_onnx_and_the_runtime_once(tmp_path, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    if not any(lab.NPM_DIR.glob("onnxruntime-web-*.tgz")):
        pytest.skip("onnxruntime-web is not in build/npm yet (npm pack fetches it the first time)")
    monkeypatch.delenv("STLIB_LAB_RUNTIME", raising=False)
    small = _net(width=4, blocks=1)
    widget = lab.LiveLab({"mine": small, "again": _net(1, width=4, blocks=1)})
    assert list(widget.networks) == ["mine", "again"] and widget.problem == "" and widget.runtime_url == ""
    photo = torch.rand(1, 3, 16, 24)
    ours = ort.InferenceSession(widget.networks["mine"]).run(None, {"photo": photo.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(ours), small(photo).detach(), atol=1e-4, rtol=1e-4)
    assert sorted(widget.runtime) == sorted(lab.ORT_FILES)
    assert widget.runtime["ort-wasm-simd-threaded.wasm"][:4] == b"\0asm"
    assert widget.photo.startswith("data:image/jpeg;base64,")
    assert "onnxruntime-web" in widget._esm and "getUserMedia" in widget._esm
    monkeypatch.setenv("STLIB_LAB_RUNTIME", "static/onnxruntime-web/")  # what make site sets: nothing sent
    site = lab.LiveLab({"mine": small})
    assert site.runtime == {} and site.runtime_url == "static/onnxruntime-web/"


def test_live_lab_without_npm_says_so_in_the_page(monkeypatch, tmp_path):
    monkeypatch.delenv("STLIB_LAB_RUNTIME", raising=False)
    monkeypatch.setattr(lab, "NPM_DIR", tmp_path)  # no tarball here
    monkeypatch.setattr("shutil.which", lambda _: None)  # and no npm to fetch it
    widget = lab.LiveLab({"mine": _net(width=4, blocks=1)})
    assert widget.runtime == {} and "npm is needed once to fetch onnxruntime-web@1.30.0" in widget.problem
    with pytest.raises(stlib.StlibError, match="at least one network"):
        lab.LiveLab({})


def test_export_onnx_needs_neither_anywidget_nor_the_widgets(tmp_path):
    """``python -m stlib export-onnx`` on a machine with torch and onnx only: anywidget and ipywidgets blocked."""
    code = ("import sys; sys.modules.update(anywidget=None, ipywidgets=None, traitlets=None)\n"
            "from stlib.__main__ import main\n"
            "assert main(['export-onnx', 'starry_night', '-o', sys.argv[1] + '/n.onnx']) == 0\n"
            "assert not {'anywidget', 'ipywidgets', 'stlib.widgets'} & {k for k, v in sys.modules.items() if v}")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "n.onnx").stat().st_size > 0
