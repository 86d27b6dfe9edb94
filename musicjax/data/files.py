"""Filesystem helpers shared by every writer: atomic writes and the musicjax data directory."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Callable, IO


def data_dir() -> pathlib.Path:
    """Where built datasets and caches live: $MUSICJAX_DATA, else ~/.cache/musicjax."""
    return pathlib.Path(os.environ.get("MUSICJAX_DATA") or pathlib.Path.home() / ".cache" / "musicjax")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(f)` on a temporary file beside `path`, then rename it over `path`.

    A crash or an exception inside `write` leaves no partial file at `path`.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
