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

import pytest
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
                             "--size", "32", "--steps", "100000"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
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
        assert im.size == (32, 32)


@pytest.mark.slow
def test_stylize_writes_png(tmp_path):
    out = tmp_path / "out.png"
    proc = cli("stylize", "chelsea", "gravel", "-o", str(out), "--size", "32", "--steps", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "3 steps" in proc.stdout and "out.png" in proc.stdout
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (32, 32) and image.mode == "RGB"
    assert not list(tmp_path.glob(".tmp-*"))


def test_existing_output_is_kept(tmp_path):
    out = tmp_path / "taken.png"
    Image.new("RGB", (5, 4), (10, 20, 30)).save(out)
    before = out.read_bytes()
    proc = cli("stylize", "chelsea", "gravel", "-o", str(out), "--size", "32", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 2
    line = assert_one_line_error(proc.stderr)
    assert "taken.png" in line and "--overwrite" in line
    assert out.read_bytes() == before


def test_missing_content_file(tmp_path):
    out = tmp_path / "out.png"
    proc = cli("stylize", "no_such_photo.jpg", "gravel", "-o", str(out), "--size", "16", "--steps", "1",
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
    (["--size", "8"], "--size 8"),
    (["--device", "cuda:7"], "cuda"),
    (["--weights", "nonsense"], "nonsense"),
    (["--size", "16", "--steps", "0"], "num_steps"),
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
