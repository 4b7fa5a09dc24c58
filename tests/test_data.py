"""The paintings downloader (pooch underneath), against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import logging
import os
import runpy
import socket
import sys
import threading

import pytest
from PIL import Image

import stlib
from stlib import data
from stlib.errors import StlibError

TIMEOUT = 5  # seconds per network operation: every test is bounded even if something hangs


def _png(blue: int = 0) -> bytes:
    image = Image.new("RGB", (12, 8))
    image.putdata([(x * 20, y * 30, (x + y) * 10 + blue) for y in range(8) for x in range(12)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
PNG_SHA = hashlib.sha256(PNG).hexdigest()
OTHER_PNG = _png(blue=5)  # the same painting re-rendered: a valid image, different bytes
TEXT = b"this is not an image\n"


class Server:
    """A tiny HTTP server in a thread: ``files`` maps a path to bytes; other paths get 404."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(TIMEOUT)


def needs_pooch() -> None:
    """Downloads go through pooch; until the requirements name it, a machine without it skips these tests."""
    pytest.importorskip("pooch", reason="pooch is not installed: pip install pooch")


@pytest.fixture
def server():
    needs_pooch()
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def dead_url():
    """An address where nothing listens: a bound socket that never listens refuses connections."""
    needs_pooch()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def painting(sha256: str | None, url: str = "https://example.invalid/tiny.png") -> data.Painting:
    return data.Painting(
        url=url, sha256=sha256, title="Tiny", artist="Test", year="2024", licence="CC0", source="https://example.invalid"
    )


@pytest.fixture
def table(monkeypatch):
    """Replace PAINTINGS by one 'tiny' PNG entry whose checksum is the test PNG's."""
    paintings = {"tiny": painting(PNG_SHA)}
    monkeypatch.setattr(data, "PAINTINGS", paintings)
    return paintings


def test_download_saves_verified_file_usable_by_name(server, table, tmp_path, monkeypatch):
    server.files["/tiny.png"] = PNG
    dest = tmp_path / "data"
    paths = data.download("tiny", dest, base_url=server.url, timeout=TIMEOUT)
    assert paths == [dest / "tiny.png"]
    assert sorted(os.listdir(dest)) == ["tiny.png"]  # no temporary files left
    assert (dest / "tiny.png").read_bytes() == PNG
    assert server.requests == ["/tiny.png"]
    monkeypatch.setenv("STLIB_DATA_DIR", str(dest))
    tensor = stlib.load_image("tiny")
    assert tuple(tensor.shape) == (1, 3, 8, 12)


def test_download_uses_painting_url_without_base_url(server, monkeypatch, tmp_path):
    server.files["/some/dir/1024px-Tiny.png"] = PNG
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(PNG_SHA, url=server.url + "/some/dir/1024px-Tiny.png")})
    assert data.download(["tiny"], tmp_path, timeout=TIMEOUT) == [tmp_path / "tiny.png"]
    assert (tmp_path / "tiny.png").read_bytes() == PNG


def _one_line_error(excinfo, *words: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("tiny: ")
    for word in words:
        assert word in message
    return message


def test_wrong_checksum_is_refused_and_nothing_is_left(server, monkeypatch, tmp_path):
    server.files["/tiny.png"] = PNG
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting("0" * 64)})
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    _one_line_error(excinfo, "checksum mismatch", PNG_SHA[:12], "not saved")
    assert os.listdir(tmp_path) == []


def test_server_down_is_one_line_error_and_nothing_is_left(table, dead_url, tmp_path):
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url=dead_url, timeout=TIMEOUT)
    _one_line_error(excinfo, "refused", dead_url.removeprefix("http://"), "retry")
    assert os.listdir(tmp_path) == []


def test_timeout_is_one_line_error(table, tmp_path):
    needs_pooch()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(StlibError) as excinfo:
            data.download("tiny", tmp_path, base_url=url, timeout=0.3)
    _one_line_error(excinfo, "did not answer in time")
    assert os.listdir(tmp_path) == []


def test_http_404_is_one_line_error(server, table, tmp_path):
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    _one_line_error(excinfo, "HTTP 404", "/tiny.png")
    assert os.listdir(tmp_path) == []


def test_payload_that_is_not_an_image_is_refused(server, monkeypatch, tmp_path):
    server.files["/tiny.png"] = TEXT
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(hashlib.sha256(TEXT).hexdigest())})
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    _one_line_error(excinfo, "not an image", "not saved")
    assert os.listdir(tmp_path) == []


def test_disk_full_is_one_line_error_and_nothing_is_left(server, table, tmp_path, monkeypatch):
    server.files["/tiny.png"] = PNG
    real_downloader = data._downloader

    class FullDisk:  # where pooch's downloader writes what it receives: every write fails with ENOSPC
        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    def downloader(timeout):
        download = real_downloader(timeout)
        return lambda url, output_file, pooch, **kwargs: download(url, FullDisk(), pooch, **kwargs)

    monkeypatch.setattr(data, "_downloader", downloader)
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    monkeypatch.undo()
    _one_line_error(excinfo, "cannot write the download", "No space left")
    assert server.requests == ["/tiny.png"]  # the real HTTP download through pooch
    assert os.listdir(tmp_path) == []


def test_unpinned_entry_is_downloaded_and_its_checksum_reported(server, monkeypatch, tmp_path):
    server.files["/tiny.png"] = PNG
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(None)})
    path, status, got = data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    assert (path, status, got) == (tmp_path / "tiny.png", "downloaded", PNG_SHA)


def test_existing_file_with_right_checksum_is_skipped(server, table, tmp_path):
    (tmp_path / "tiny.png").write_bytes(PNG)
    assert data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT) == [tmp_path / "tiny.png"]
    assert server.requests == []


def test_existing_different_file_is_not_overwritten(server, table, tmp_path):
    server.files["/tiny.png"] = PNG
    mine = tmp_path / "tiny.png"
    mine.write_bytes(b"my own picture")
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    _one_line_error(excinfo, "exists and differs", "overwrite")
    assert mine.read_bytes() == b"my own picture"
    assert server.requests == []
    assert data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT, overwrite=True) == [mine]
    assert mine.read_bytes() == PNG
    assert os.listdir(tmp_path) == ["tiny.png"]


def test_failed_overwrite_keeps_the_existing_file(table, dead_url, tmp_path):
    mine = tmp_path / "tiny.png"
    mine.write_bytes(b"my own picture")
    with pytest.raises(StlibError):
        data.download("tiny", tmp_path, base_url=dead_url, timeout=TIMEOUT, overwrite=True)
    assert mine.read_bytes() == b"my own picture"
    assert os.listdir(tmp_path) == ["tiny.png"]


def test_existing_file_of_unpinned_entry_is_kept(server, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(None)})
    (tmp_path / "tiny.png").write_bytes(b"whatever the user has")
    assert data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[1] == "present"
    assert (tmp_path / "tiny.png").read_bytes() == b"whatever the user has"
    assert server.requests == []


def test_unknown_name_lists_the_choices(table):
    with pytest.raises(StlibError, match="unknown painting 'nope'.*tiny"):
        data.download(["tiny", "nope"])


def test_table_has_the_documented_paintings():
    assert set(data.PAINTINGS) >= {"starry_night", "great_wave", "composition_vii", "the_scream"}
    for name, p in data.PAINTINGS.items():
        assert p.url.startswith("https://upload.wikimedia.org/wikipedia/commons/thumb/"), name
        assert "/1024px-" in p.url and p.source.startswith("https://commons.wikimedia.org/wiki/File:"), name
        assert p.sha256 is None or len(p.sha256) == 64, name
        assert "public domain" in p.licence and p.title and p.artist and p.year, name
        assert data.filename(name) == name + ".jpg"


def test_cli_prints_one_line_per_painting(server, monkeypatch, tmp_path, capsys):
    server.files["/tiny.png"] = PNG
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(None), "tiny2": painting(PNG_SHA)})
    server.files["/tiny2.png"] = PNG
    argv = ["--dest", str(tmp_path), "--base-url", server.url, "--timeout", str(TIMEOUT)]
    assert data.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tiny: downloaded") and f"sha256 {PNG_SHA} recorded in" in lines[0]
    assert str(tmp_path / data.MANIFEST) in lines[0]
    assert lines[1].startswith("tiny2: downloaded") and "sha256 ok" in lines[1]
    assert data.main(argv + ["tiny2"]) == 0
    assert capsys.readouterr().out.startswith("tiny2: present")
    assert data.main(["--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_cli_failure_exits_2_with_one_line_error(server, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(PNG_SHA)})
    assert data.main(["tiny", "--dest", str(tmp_path), "--base-url", server.url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: tiny: {server.url}/tiny.png answered HTTP 404")
    assert captured.err.count("\n") == 1
    assert os.listdir(tmp_path) == []


@pytest.mark.filterwarnings("ignore:'stlib.data' found in sys.modules:RuntimeWarning")
def test_cli_module_exits_2_without_traceback(dead_url, tmp_path, monkeypatch, capsys):
    """``python -m stlib.data`` with the real table, pointed at a dead local port.

    runpy runs the module as ``__main__`` in this process (a new interpreter would
    spend seconds importing torch).
    """
    argv = ["stlib.data", "starry_night", "--dest", str(tmp_path), "--base-url", dead_url, "--timeout", str(TIMEOUT)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as excinfo:
        runpy.run_module("stlib.data", run_name="__main__", alter_sys=True)
    assert excinfo.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: starry_night: connection to 127.0.0.1:")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert os.listdir(tmp_path) == []


# --- checksums recorded on first download (the manifest) ---------------------------------


@pytest.fixture
def unpinned(monkeypatch):
    """Replace PAINTINGS by one 'tiny' PNG entry with no sha256 (trust on first use)."""
    monkeypatch.setattr(data, "PAINTINGS", {"tiny": painting(None)})


def test_first_download_records_its_checksum(server, unpinned, tmp_path):
    server.files["/tiny.png"] = PNG
    (tmp_path / data.MANIFEST).write_text(f"{'ab' * 32}  zebra.jpg\n{'cd' * 32}  apple.jpg\n")
    assert data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[1:] == ("downloaded", PNG_SHA)
    expected = hashlib.sha256((tmp_path / "tiny.png").read_bytes()).hexdigest()
    lines = (tmp_path / data.MANIFEST).read_text().splitlines()
    assert lines == [f"{'cd' * 32}  apple.jpg", f"{expected}  tiny.png", f"{'ab' * 32}  zebra.jpg"]  # sorted
    assert sorted(os.listdir(tmp_path)) == [data.MANIFEST, "tiny.png"]  # no temporary files left
    assert data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[1] == "present"


def test_changed_source_is_refused_against_the_manifest(server, unpinned, tmp_path):
    server.files["/tiny.png"] = PNG
    data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    manifest = (tmp_path / data.MANIFEST).read_text()
    changed = Server()  # a second server: same painting, different bytes
    try:
        changed.files["/tiny.png"] = OTHER_PNG
        for overwrite in (True, False):  # replacing the file, or downloading it again after it was deleted
            with pytest.raises(StlibError) as excinfo:
                data.fetch_one("tiny", tmp_path, base_url=changed.url, timeout=TIMEOUT, overwrite=overwrite)
            _one_line_error(
                excinfo, "checksum mismatch", "recorded on first download", str(tmp_path / data.MANIFEST),
                "not saved", "delete", "legitimately changed",
            )
            if overwrite:
                assert (tmp_path / "tiny.png").read_bytes() == PNG  # the old file is untouched
                (tmp_path / "tiny.png").unlink()
            assert (tmp_path / data.MANIFEST).read_text() == manifest
        assert os.listdir(tmp_path) == [data.MANIFEST]  # no temporary files left
    finally:
        changed.close()


def test_existing_file_edited_on_disk_is_refused(server, unpinned, tmp_path):
    server.files["/tiny.png"] = PNG
    data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    (tmp_path / "tiny.png").write_bytes(b"edited")
    with pytest.raises(StlibError) as excinfo:
        data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    _one_line_error(excinfo, "exists and differs from the recorded checksum", data.MANIFEST, "left as is", "overwrite")
    assert (tmp_path / "tiny.png").read_bytes() == b"edited"
    assert server.requests == ["/tiny.png"]  # only the first download


def test_pinned_checksum_wins_over_the_manifest(server, table, tmp_path):
    server.files["/tiny.png"] = PNG
    wrong = f"{'0' * 64}  tiny.png\n"
    (tmp_path / data.MANIFEST).write_text(wrong)
    assert data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[1] == "downloaded"
    assert data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[1] == "present"
    assert (tmp_path / data.MANIFEST).read_text() == wrong  # pinned entries are not recorded


def test_garbage_manifest_line_is_ignored_with_a_warning(server, unpinned, tmp_path, caplog):
    server.files["/tiny.png"] = PNG
    (tmp_path / data.MANIFEST).write_text(f"not a checksum  tiny.png\n{PNG_SHA[:-1]}  tiny.png\n")
    with caplog.at_level(logging.WARNING, logger="stlib.data"):
        assert data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[1] == "downloaded"
    assert "ignoring a line" in caplog.text and f"{data.MANIFEST}:1" in caplog.text
    lines = (tmp_path / data.MANIFEST).read_text().splitlines()
    assert lines[0] == f"{PNG_SHA}  tiny.png"  # recorded; the malformed lines are kept, after it
    assert lines[1:] == ["not a checksum  tiny.png", f"{PNG_SHA[:-1]}  tiny.png"]


# --- pooch -----------------------------------------------------------------------------------


def test_downloads_go_through_pooch_with_the_known_hash(server, table, tmp_path, monkeypatch):
    import pooch

    calls = []
    real_retrieve = pooch.retrieve

    def spy(url, known_hash, **kwargs):
        calls.append((url, known_hash))
        return real_retrieve(url, known_hash, **kwargs)

    monkeypatch.setattr(pooch, "retrieve", spy)
    server.files["/tiny.png"] = PNG
    data.download("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)
    assert calls == [(f"{server.url}/tiny.png", f"sha256:{PNG_SHA}")]


def test_downloaded_file_gets_the_umask_permissions(server, table, tmp_path):
    import stat

    server.files["/tiny.png"] = PNG
    old = os.umask(0o022)
    try:
        path = data.fetch_one("tiny", tmp_path, base_url=server.url, timeout=TIMEOUT)[0]
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_without_pooch_the_error_says_how_to_install_it(table, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch → ImportError
    with pytest.raises(StlibError) as excinfo:
        data.download("tiny", tmp_path, base_url="http://127.0.0.1:9", timeout=TIMEOUT)
    assert "pip install pooch" in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert os.listdir(tmp_path) == []
