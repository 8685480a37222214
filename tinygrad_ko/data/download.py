"""Where dataset files live, and a careful downloader.

Search order for a dataset called ``name`` (``"mnist"``, ``"catvnoncat"``):

1. the ``data_dir`` argument, when given;
2. ``$TINYGRAD_KO_DATA/<name>``, then ``$TINYGRAD_KO_DATA`` itself;
3. the cache ``~/.cache/tinygrad_ko/<name>`` (``$XDG_CACHE_HOME/tinygrad_ko/<name>`` when set).

Downloads go to the cache. A download is written to a hidden temporary file next to its target and
moved into place with ``os.replace()`` only after its checksum matches, so an interrupted or
corrupted download never leaves a half-written or bad file behind.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from ..errors import DataError

ENV_VAR = "TINYGRAD_KO_DATA"
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16
_USER_AGENT = "tinygrad_ko (python urllib)"


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/tinygrad_ko/<name>``, by default ``~/.cache/tinygrad_ko/<name>``."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "tinygrad_ko" / name


def search_dirs(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The directories searched for a dataset's files, first match wins (see the module doc)."""
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_VAR)
    if env:
        dirs += [Path(env).expanduser() / name, Path(env).expanduser()]
    dirs.append(cache_dir(name))
    return dirs


def describe_dirs(dirs: Sequence[Path]) -> str:
    """``"/a, /b or /c"`` for error messages."""
    names = [str(d) for d in dirs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def find_file(filenames: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    """The first existing file: every directory in order, and in each the names in order."""
    for d in dirs:
        for fname in filenames:
            path = d / fname
            if path.is_file():
                return path
    return None


def open_maybe_gzip(path: str | os.PathLike[str]) -> BinaryIO:
    """Open for reading; transparently decompress when the file starts with the gzip magic bytes
    (so ``name.gz`` and an already-unpacked ``name`` both work, whatever they are called)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")  # type: ignore[return-value]


def content_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's content, decompressed when it is gzip.

    Published checksums (e.g. MNIST's) are of the decompressed bytes: mirrors re-compress the
    files, so hashing the .gz wrapper would reject good copies.
    """
    h = hashlib.sha256()
    try:
        with open_maybe_gzip(path) as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path} is a truncated or corrupted gzip file ({e})") from None
    return h.hexdigest()


class _Progress:
    """A download progress bar: tqdm when installed, else a plain text line on stderr."""

    def __init__(self, total: int | None, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.done, self._shown = total, desc, 0, -1
        self._bar: Any = None
        self.enabled = enabled
        if not enabled:
            return
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024)
        except ImportError:
            self._bar = None

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        # plain text: redraw only when the shown number changes, not once per 64 KiB chunk
        shown = (100 * self.done // self.total) if self.total else self.done >> 20
        if shown != self._shown:
            self._shown = shown
            where = f"{shown}%" if self.total else f"{shown} MiB"
            print(f"\r{self.desc}: {where}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self._shown >= 0:
            print(file=sys.stderr, flush=True)


def _fetch(url: str, out: BinaryIO, desc: str, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``out``; raise if the server sends fewer bytes than it announced."""
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _Progress(total, desc, progress)
        try:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    # http.client does not raise when the connection closes early: check the length ourselves
    if total is not None and bar.done != total:
        raise DataError(f"transfer interrupted: got {bar.done} of {total} bytes")


def download_file(urls: Sequence[str], dest: str | os.PathLike[str], sha256: str | None = None, *,
                  progress: bool = True, timeout: float = 30.0) -> Path:
    """Download to ``dest`` from the first of ``urls`` (mirrors, tried in order) that works.

    ``sha256`` is checked against the *content* (decompressed when gzip, see ``content_sha256``);
    a mirror serving other bytes counts as failed and the next one is tried. The file appears at
    ``dest`` only once it is complete and verified. Raises ``DataError`` listing every mirror's
    failure when none works.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the directory {dest.parent} to download {dest.name} "
                        f"into: {e}") from None
    failures = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                _fetch(url, out, f"downloading {dest.name}", progress, timeout)
            if sha256 is not None:
                got = content_sha256(tmp_name)
                if got != sha256:
                    raise DataError(f"wrong SHA-256 {got}, expected {sha256}")
            os.replace(tmp_name, dest)
            return dest
        except (OSError, http.client.HTTPException, ValueError) as e:
            # DataError and urllib's URLError/HTTPError are OSErrors; timeouts too
            failures.append(f"{url}: {e}")
        finally:
            # also runs on KeyboardInterrupt: never leave a partial file behind
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
    raise DataError(f"could not download {dest.name}; tried:\n  "
                    + ("\n  ".join(failures) or "nothing (no URL given)"))
