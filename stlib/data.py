"""Download a few public-domain paintings into the project's ``data/`` folder.

    python -m stlib.data                  # all of them, into data/
    python -m stlib.data starry_night     # just one
    python -m stlib.data --list           # what there is

Then use them by name: ``stlib.load_image("starry_night")``. The files come from
Wikimedia Commons (1024 px wide thumbnails) and are git-ignored; ``data/README.md``
lists every image with its source and licence.

Downloads go through `pooch` (scikit-image's own fetcher, ``pip install pooch``): it streams each file
to a temporary file inside the destination folder and checks its SHA-256 where one is known; then
`stlib` checks that PIL can open it and only then renames it into place (with the permissions your umask
gives), so a failed or interrupted download leaves nothing behind.
An existing file is never replaced unless ``overwrite=True`` (``--overwrite``).

Checksums: an entry whose ``sha256`` is ``None`` is not pinned in `PAINTINGS` yet
(trust on first use). Its first download is checked only for being an image, and its
SHA-256 is recorded in ``checksums.sha256`` in the destination folder (``sha256sum``
format, so ``sha256sum -c checksums.sha256`` works there). From then on that line pins
the file like a ``sha256`` in `PAINTINGS` would: different bytes, on disk or downloaded,
are refused. A ``sha256`` in `PAINTINGS` always wins over the manifest.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import logging
import os
import re
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .errors import StlibError
from .images import atomic_write, data_dir, open_image, umask

log = logging.getLogger(__name__)

USER_AGENT = "stlib-data/0.2 (neural style transfer lessons; pooch)"  # Wikimedia asks for one
CHUNK = 64 * 1024
MANIFEST = "checksums.sha256"  # in the destination folder: the SHA-256 of each first download
_MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")  # what sha256sum writes: digest, 2 chars, file name


@dataclass(frozen=True)
class Painting:
    """One downloadable image: where it comes from, its checksum, and what it is."""

    url: str
    sha256: str | None  # hex digest of the file at ``url``; None: not pinned yet (trust on first use)
    title: str
    artist: str
    year: str
    licence: str
    source: str  # the human-readable page describing the file and its licence

    @property
    def suffix(self) -> str:
        return PurePosixPath(urlsplit(self.url).path).suffix.lower() or ".jpg"


_PD_ART = "public domain (faithful reproduction of a 2-D public-domain work, Commons {{PD-Art}})"


def _commons(file: str, width: int = 1024) -> tuple[str, str]:
    """(thumbnail URL, description page) of a Wikimedia Commons file name.

    Commons keeps a file under ``a/ab/`` where ``ab`` starts the MD5 of its name.
    """
    md5 = hashlib.md5(file.encode(), usedforsecurity=False).hexdigest()
    thumb = f"https://upload.wikimedia.org/wikipedia/commons/thumb/{md5[0]}/{md5[:2]}/{file}/{width}px-{file}"
    return thumb, f"https://commons.wikimedia.org/wiki/File:{file}"


def _entry(file: str, **fields: str) -> Painting:
    url, source = _commons(file)
    return Painting(url=url, source=source, sha256=None, **fields)


# sha256=None everywhere: these are not pinned yet (see the module docstring).
PAINTINGS: dict[str, Painting] = {
    "starry_night": _entry(
        "Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg",
        title="The Starry Night", artist="Vincent van Gogh", year="1889",
        licence=_PD_ART + "; the artist died in 1890",
    ),
    "great_wave": _entry(
        "Tsunami_by_hokusai_19th_century.jpg",
        title="The Great Wave off Kanagawa", artist="Katsushika Hokusai", year="c. 1831",
        licence=_PD_ART + "; the artist died in 1849",
    ),
    "composition_vii": _entry(
        "Vassily_Kandinsky,_1913_-_Composition_7.jpg",
        title="Composition VII", artist="Wassily Kandinsky", year="1913",
        licence=_PD_ART + "; the artist died in 1944",
    ),
    "the_scream": _entry(
        "Edvard_Munch,_1893,_The_Scream,_oil,_tempera_and_pastel_on_cardboard,_91_x_73_cm,_National_Gallery_of_Norway.jpg",
        title="The Scream", artist="Edvard Munch", year="1893",
        licence=_PD_ART + "; the artist died in 1944",
    ),
}


def filename(name: str) -> str:
    """The file a painting is saved as: ``"starry_night"`` → ``"starry_night.jpg"``."""
    return name + _painting(name).suffix


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (to pin an entry of `PAINTINGS`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as err:
        raise StlibError(f"cannot read {path} ({_one_line(err)}); move it away and retry") from None


def recorded_checksums(folder: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` from the manifest in ``folder``; a malformed line is skipped with a warning."""
    path = Path(folder) / MANIFEST
    recorded = {}
    for number, line in enumerate(_manifest_lines(path), 1):
        if match := _MANIFEST_LINE.fullmatch(line):
            recorded[match[2]] = match[1].lower()
        elif line.strip():
            log.warning("%s:%d: ignoring a line that is not '<sha256>  <file name>': %r", path, number, line)
    return recorded


def _record(folder: Path, file: str, digest: str) -> Path:
    """Write ``<digest>  <file>`` into the manifest (atomically), keeping the other lines, sorted by file name."""
    path = folder / MANIFEST

    def file_of(line: str) -> str | None:
        match = _MANIFEST_LINE.fullmatch(line)
        return match[2] if match else None

    lines = [line for line in _manifest_lines(path) if line.strip() and file_of(line) != file]
    lines.append(f"{digest}  {file}")
    lines.sort(key=lambda line: (file_of(line) is None, file_of(line) or ""))  # malformed lines last, as they were
    text = "\n".join(lines) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)

    return atomic_write(path, write)


def _painting(name: str) -> Painting:
    try:
        return PAINTINGS[name]
    except KeyError:
        raise StlibError(
            f"unknown painting {name!r}: choose from {', '.join(PAINTINGS)} (python -m stlib.data --list)"
        ) from None


def _names(name_or_names: str | Iterable[str] | None) -> list[str]:
    if name_or_names is None:
        return list(PAINTINGS)
    names = [name_or_names] if isinstance(name_or_names, str) else list(name_or_names)
    for name in names:
        _painting(name)
    return names


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _pooch():
    """scikit-image's own fetcher (an optional dependency of scikit-image: ``scikit-image[data]``)."""
    try:
        import pooch
    except ImportError:
        raise StlibError("downloading the paintings needs pooch (scikit-image's fetcher): "
                         "pip install pooch, then run this again") from None
    return pooch


def _caused_by(err: BaseException, kind: type | tuple[type, ...]) -> BaseException | None:
    """The first exception of ``kind`` in ``err``'s chain (requests and urllib3 wrap the socket's error)."""
    seen: set[int] = set()
    todo: list[object] = [err]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, kind):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *getattr(e, "args", ())]
    return None


def _reason(err: BaseException, url: str) -> str:
    """What went wrong with the connection, in a few words."""
    import requests

    host = urlsplit(url).netloc or url
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"{url} answered HTTP {err.response.status_code} {_one_line(err.response.reason)}"
    if isinstance(err, requests.Timeout) or _caused_by(err, TimeoutError):
        return f"{host} did not answer in time"
    if _caused_by(err, ConnectionRefusedError):
        return f"connection to {host} refused (server down or wrong address)"
    if _caused_by(err, socket.gaierror):
        return f"cannot resolve {host} (are you offline?)"
    if not isinstance(err, requests.RequestException) and (
        getattr(err, "filename", None) or getattr(err, "errno", None) == errno.ENOSPC
    ):  # our side: dest
        return f"cannot write the download ({_one_line(err)})"
    return f"cannot download from {host} ({type(err).__name__}: {_one_line(err)})"


def _downloader(timeout: float):
    """pooch's HTTP downloader, with the User-Agent Wikimedia asks for and a timeout per network operation."""
    return _pooch().HTTPDownloader(progressbar=False, timeout=timeout, headers={"User-Agent": USER_AGENT})


def _fetch(
    name: str, painting: Painting, dest: Path, expected: str | None, *, base_url: str | None, timeout: float
) -> tuple[Path, str]:
    """Download with pooch into a temporary file in ``dest``, verified; returns it and its SHA-256.

    pooch streams into its own temporary file in ``dest``, checks ``expected`` (the SHA-256 pinned in
    `PAINTINGS`, else the one recorded in the manifest, else None) and only then renames it; a failure
    leaves nothing behind. Here the result must also be an image PIL can open.
    """
    url = f"{base_url.rstrip('/')}/{filename(name)}" if base_url else painting.url
    retry = f"the file was not saved — retry later or download it by hand from {painting.source} into {dest}/"
    pooch = _pooch()
    import requests

    tmp: Path | None = dest / f".tmp-{name}-{os.urandom(6).hex()}{painting.suffix}"
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch logs every download (and an unpinned file's hash) at INFO
    try:
        try:
            pooch.retrieve(url, known_hash=f"sha256:{expected}" if expected else None, fname=tmp.name,
                           path=dest, downloader=_downloader(timeout), progressbar=False)
        except ValueError as err:
            if isinstance(err, requests.RequestException):  # MissingSchema, InvalidURL: a malformed URL
                raise StlibError(f"{name}: invalid URL {url!r} ({_one_line(err)}); give an http(s):// address"
                                 ) from None
            if expected is None or "hash" not in str(err):
                raise
            got = re.search(r"got:? *'?([0-9a-fA-F]{64})", str(err))
            got_short = _short(got[1].lower()) if got else "another digest"
            if painting.sha256 is None:  # the expected digest comes from the manifest
                manifest = dest / MANIFEST
                raise StlibError(
                    f"{name}: checksum mismatch (got {got_short}, expected {_short(expected)}, the checksum "
                    f"recorded on first download in {manifest}); the file was not saved — if the source "
                    f"legitimately changed, delete the {filename(name)} line from {manifest} and download again"
                ) from None
            raise StlibError(
                f"{name}: checksum mismatch (got {got_short}, expected {_short(expected)}); {retry}") from None
        got = sha256_of(tmp)
        try:
            open_image(tmp)
        except StlibError:
            raise StlibError(
                f"{name}: the download from {url} is not an image PIL can read (an error page?); {retry}"
            ) from None
        os.chmod(tmp, 0o666 & ~umask())  # pooch's temporary file is 0600; a painting is an ordinary file
        done, tmp = tmp, None
        return done, got
    except (OSError, requests.RequestException) as err:  # connection errors, HTTP errors, timeouts, a full disk
        raise StlibError(f"{name}: {_reason(err, url)}; {retry}") from None
    finally:
        logger.setLevel(level)
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def fetch_one(
    name: str,
    dest: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    timeout: float = 30,
    overwrite: bool = False,
) -> tuple[Path, str, str]:
    """Download one painting; returns ``(path, status, sha256)``.

    ``status`` is ``"downloaded"``, ``"present"`` (an existing file matched the
    recorded checksum, or there is none to compare with) or ``"replaced"``.
    The checksum is the one pinned in `PAINTINGS`, else the one in ``dest``'s manifest;
    if there is neither, the download's SHA-256 is recorded in the manifest.
    """
    painting = _painting(name)
    folder = Path(dest) if dest is not None else data_dir()
    target = folder / filename(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StlibError(f"{name}: cannot create {folder} ({_one_line(err)}); choose another --dest") from None
    # a sha256 pinned in PAINTINGS wins; else the one recorded on first download, if any
    expected = painting.sha256.lower() if painting.sha256 else recorded_checksums(folder).get(target.name)
    existed = target.exists()
    if existed and not overwrite:
        try:
            have = sha256_of(target)
        except OSError as err:
            raise StlibError(f"{name}: cannot read {target} ({_one_line(err)}); move it away and retry") from None
        if expected is None or have == expected:
            return target, "present", have
        where = "" if painting.sha256 else f" in {folder / MANIFEST}"
        raise StlibError(
            f"{name}: {target} exists and differs from the recorded checksum{where} "
            f"(have {_short(have)}, expected {_short(expected)}); it was left as is — "
            "move it away or pass overwrite=True (--overwrite)"
        )
    tmp, got = _fetch(name, painting, folder, expected, base_url=base_url, timeout=timeout)
    try:
        if expected is None:  # trust on first use: record it before the file appears
            manifest = _record(folder, target.name, got)
            log.info("%s: sha256 %s recorded in %s (trust on first use)", name, got, manifest)
        os.replace(tmp, target)
    except OSError as err:
        raise StlibError(f"{name}: cannot write into {folder} ({_one_line(err)}); check its permissions") from None
    finally:
        tmp.unlink(missing_ok=True)  # gone already if it was renamed into place
    return target, ("replaced" if existed else "downloaded"), got


def download(
    name_or_names: str | Iterable[str] | None = None,
    dest: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    timeout: float = 30,
    overwrite: bool = False,
) -> list[Path]:
    """Download paintings (default: all of `PAINTINGS`) into ``dest`` (default: `data_dir`).

    ``base_url`` replaces the host: each file is fetched from ``base_url + "/" + filename``
    (a mirror, or a local test server). ``timeout`` is in seconds per network operation.
    Files already present with the right checksum are skipped. Raises `StlibError`
    with a one-line message on the first failure; nothing half-written is left behind.
    """
    return [
        fetch_one(name, dest, base_url=base_url, timeout=timeout, overwrite=overwrite)[0]
        for name in _names(name_or_names)
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stlib.data",
        description="Download public-domain paintings (Wikimedia Commons) into data/ for use by name.",
    )
    parser.add_argument("names", nargs="*", help=f"paintings to fetch (default: all): {', '.join(PAINTINGS)}")
    parser.add_argument("--dest", type=Path, default=None, help=f"destination folder (default: {data_dir()})")
    parser.add_argument("--list", action="store_true", help="list the paintings and exit")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files that differ")
    parser.add_argument("--base-url", default=None, help="fetch BASE_URL/<name>.jpg instead (a mirror)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per network operation (default 30)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.list:
            for name, p in PAINTINGS.items():
                pinned = "sha256 pinned" if p.sha256 else "sha256 not pinned"
                print(f"{name}: {p.artist}, {p.title} ({p.year}) — public domain — {pinned} — {p.source}")
            return 0
        for name in _names(args.names or None):
            path, status, got = fetch_one(
                name, args.dest, base_url=args.base_url, timeout=args.timeout, overwrite=args.overwrite
            )
            manifest = path.parent / MANIFEST
            if PAINTINGS[name].sha256 is not None:
                check = "sha256 ok"
            elif recorded_checksums(path.parent).get(path.name) == got:
                check = f"sha256 {got} recorded in {manifest}"
            else:  # a file that was here before, not downloaded by us
                check = f"sha256 {got} — not checked: no checksum recorded for it in {manifest}"
            print(f"{name}: {status} {path} ({check})")
    except StlibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
