"""The README's commands, run as a user copies them.

`make lab` is started for real (the same target, on a free port with a known token), asked for
the first lesson through the server's API, and stopped with nothing left behind; the other
commands (`make precompute …`, `python -m stlib samples`, the conda line) are checked the same way,
and the Makefile's choices (``--allow-root`` as root, ``--no-browser`` without a desktop) by dry runs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FIRST_LESSON = "00_introduction.ipynb"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def readme_commands() -> list[str]:
    """Every command the README shows: lines of its fenced code blocks and its inline code spans,
    without trailing ``# comments``."""
    lines = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", README, flags=re.S | re.M):
        lines += block.splitlines()
    prose = re.sub(r"^```.*?^```", "", README, flags=re.S | re.M)
    lines += re.findall(r"`([^`\n]+)`", prose)
    commands = []
    for line in lines:
        for part in re.split(r"\s*&&\s*", line.split(" #")[0].strip()):
            if part:
                commands.append(part)
    return commands


def make_env(**overrides: str | None) -> dict[str, str]:
    """This environment without an outer make's settings (``make test`` runs the tests), and with
    ``overrides`` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


HEADLESS = {"DISPLAY": None, "WAYLAND_DISPLAY": None}


def dry_run(*args: str, env: dict[str, str] | None = None) -> str:
    """What ``make -n ARGS`` would run (make evaluates the Makefile's conditions, runs nothing)."""
    proc = subprocess.run(["make", "-n", *args], cwd=ROOT, env=env or make_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def lab_line(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """The command line ``make lab ARGS`` would start JupyterLab with, as a list of words."""
    lines = [line for line in dry_run("lab", *args, env=env).splitlines() if " jupyter lab " in line]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


# --- make lab: the flags it chooses ----------------------------------------------------------------


def test_make_lab_as_this_user_allows_root_only_for_root():
    words = lab_line()
    assert ("--allow-root" in words) == (os.geteuid() == 0), words
    assert words[-1] == f"notebooks/{FIRST_LESSON}"


@pytest.mark.parametrize(("uid", "allowed"), [("0", True), ("1000", False), ("501", False)])
def test_make_lab_passes_allow_root_only_for_uid_0(uid: str, allowed: bool):
    assert ("--allow-root" in lab_line(f"LAB_UID={uid}")) is allowed


@pytest.mark.skipif(platform.system() == "Darwin", reason="macOS always has a desktop to open the browser on")
def test_make_lab_headless_prints_url_instead_of_opening_a_browser():
    assert "--no-browser" in lab_line(env=make_env(**HEADLESS))
    assert "--no-browser" not in lab_line(env=make_env(**{**HEADLESS, "DISPLAY": ":0"}))
    assert "--no-browser" not in lab_line(env=make_env(**{**HEADLESS, "WAYLAND_DISPLAY": "wayland-0"}))


def test_make_lab_passes_lab_args_and_installs_first():
    out = dry_run("lab", "LAB_ARGS=--port=8899 --ServerApp.port_retries=0")
    lines = out.splitlines()
    assert "pip install" in lines[0] and "-r requirements.txt" in lines[0], out
    words = lab_line("LAB_ARGS=--port=8899 --ServerApp.port_retries=0")
    assert "--port=8899" in words and "--ServerApp.port_retries=0" in words
    assert words[-1] == f"notebooks/{FIRST_LESSON}"


# --- make precompute: FAST and LESSONS ----------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    ((), "-m stlib precompute"),
    (("FAST=1",), "-m stlib precompute --fast"),
    (("FAST=0",), "-m stlib precompute"),
    (("FAST=1", "LESSONS=00 07"), "-m stlib precompute --fast 00 07"),
    (("LESSONS=03",), "-m stlib precompute 03"),
])
def test_make_precompute_dry_run(args: tuple[str, ...], expected: str):
    line = dry_run("precompute", *args).strip()
    assert line.endswith(expected), line


def test_precompute_unknown_lesson_names_the_available_ones(capsys: pytest.CaptureFixture[str]):
    from stlib.__main__ import main

    assert main(["precompute", "--fast", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("error: no lesson '99'") and "00_introduction" in err and "09_optimizers" in err


def test_select_lessons_by_number_name_or_path():
    from stlib.lessons import lesson_paths, select_lessons

    paths = lesson_paths()
    assert select_lessons(paths) == paths
    by_number = select_lessons(paths, ["07", "00"])
    assert [p.name for p in by_number] == [FIRST_LESSON, "07_style_transfer.ipynb"]
    assert select_lessons(paths, ["notebooks/07_style_transfer.ipynb", "07_style"]) == by_number[1:]


# --- the README as written ----------------------------------------------------------------------


def test_readme_make_commands_are_valid_make():
    """make eats options after the target (``make precompute --fast`` runs full mode): every
    ``make …`` the README shows must name real targets and pass settings as VAR=value."""
    commands = [c for c in readme_commands() if c.startswith("make ")]
    targets = {c.split()[1] for c in commands}
    assert {"lab", "test", "precompute"} <= targets, commands
    for command in commands:
        args = shlex.split(command)[1:]
        assert not [a for a in args if a.startswith("-")], f"README: {command!r}: make would take these itself"
        dry_run(*args)  # fails on an unknown target


def test_readme_without_make_tells_root_to_allow_root():
    lab_lines = [c for c in readme_commands() if c.startswith("jupyter lab")]
    assert lab_lines, "the README's line without make"
    assert "--allow-root" in README


@pytest.mark.slow  # a fresh interpreter imports torch: ~5 s
def test_readme_samples_command_lists_chelsea():
    command = next(c for c in readme_commands() if c.startswith("python -m stlib samples"))
    argv = [sys.executable, *shlex.split(command)[1:]]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "chelsea" in names and "hubble_deep_field" in names, proc.stdout


def test_readme_conda_line_matches_environment_yml():
    match = re.search(r"conda env create -f (\S+) && conda activate ([\w.-]+)", README)
    assert match, "the README's conda line"
    env_file, env_name = ROOT / match.group(1), match.group(2)
    text = env_file.read_text(encoding="utf-8")
    names = re.findall(r"^name:\s*(\S+)\s*$", text, flags=re.M)
    assert names == [env_name], f"{env_file.name} names {names}, the README activates {env_name!r}"
    try:
        import yaml
    except ImportError:
        return  # the name check above still ran
    spec = yaml.safe_load(text)
    assert spec["name"] == env_name
    pip_parts = [d for d in spec["dependencies"] if isinstance(d, dict)]
    assert pip_parts and "-e ." in pip_parts[0]["pip"], "stlib itself, as in requirements.txt"


# --- the real thing ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], object], timeout: float, proc: subprocess.Popen, log: Path):
    """``check()``'s first truthy value, polled until ``timeout``; fails with the log's tail if
    the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        if proc.poll() is not None:
            pytest.fail(f"make exited with {proc.returncode} before {what}; its log ends:\n{tail}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s; the log ends:\n{tail}")
        time.sleep(0.5)


def get_json(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to make and everything it started; SIGKILL what is still there after ``timeout``."""
    pgid = proc.pid  # start_new_session: the group's id is make's pid
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        proc.poll()  # reaps make once it exits, so it does not linger as a zombie of this process
        time.sleep(0.2)
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)
        pytest.fail(f"processes of make lab were still running {timeout:.0f} s after SIGTERM; killed")
    proc.wait(timeout=10)


@pytest.mark.slow
def test_make_lab_serves_the_first_lesson_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    log = tmp_path / "make-lab.log"
    lab_args = f"--port={port} --ip=127.0.0.1 --ServerApp.port_retries=0"
    env = make_env(**HEADLESS)  # no desktop: it must print the URL rather than try a browser
    extra = ["LAB_DESKTOP="] if platform.system() == "Darwin" else []
    with log.open("wb") as out:
        proc = subprocess.Popen(["make", "lab", f"PYTHON={sys.executable}", f"LAB_ARGS={lab_args}", *extra],
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        # make lab installs first (pip only checks when all is there: 10-30 s), then starts the server,
        # which, headless, prints the URL with its token: the one a user copies, opening the first lesson
        printed = re.compile(rf"{re.escape(base)}/lab/tree/{re.escape(FIRST_LESSON)}\?token=([0-9a-f]{{16,}})")
        match = wait_for("URL with a token in the log", lambda: printed.search(log.read_text(errors="replace")),
                         180, proc, log)
        token = match.group(1)
        status = wait_for("answer from /api/status", lambda: get_json(f"{base}/api/status", token), 60, proc, log)
        assert "started" in status
        text = log.read_text(errors="replace")
        assert ("--allow-root" in text) == (os.geteuid() == 0), "make echoes the command it runs"
        # the server's root is notebooks/ (jupyter lab FILE serves FILE's folder)
        model = get_json(f"{base}/api/contents/{FIRST_LESSON}", token)
        assert model is not None, "the first lesson through the contents API"
        assert model["type"] == "notebook" and model["name"] == FIRST_LESSON
        cells = model["content"]["cells"]
        assert len(cells) > 3 and cells[0]["cell_type"] == "markdown", cells[:1]
        listing = get_json(f"{base}/api/contents/", token)
        assert {"01_inputs_as_variables.ipynb", "09_optimizers.ipynb"} <= {c["name"] for c in listing["content"]}
    finally:
        stop_group(proc)
    assert proc.returncode is not None
    assert not group_alive(proc.pid), "nothing of make lab is left running"


@pytest.mark.slow
def test_make_precompute_fast_runs_only_the_lessons_named(tmp_path: Path):
    proc = subprocess.run(["make", "precompute", f"PYTHON={sys.executable}", "FAST=1", "LESSONS=00"],
                          cwd=ROOT, env=make_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # the lesson's first run showed a live picture (a replay shows its finished one at once)
    assert re.search(rf"^{re.escape(FIRST_LESSON)}: \d+ s; first live picture after \d+\.\d s$", out, flags=re.M), \
        out[-3000:]
    assert "01_inputs_as_variables" not in out
    assert re.search(r"precomputed 1 lesson in \d+ s", out), out[-3000:]
    assert "fast mode" in out
