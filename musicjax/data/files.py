"""Filesystem helpers shared by readers, writers and builds: atomic writes, reads capped in size,
locks between processes, and the musicjax data directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import stat
import sys
import tempfile
from typing import Callable, IO, Iterator


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


def check_regular_file(path: str | os.PathLike, limit: int, what: str = "the file") -> int:
    """The size of `path`, a regular file of at most `limit` bytes; ScoreError otherwise. Refuses
    what is not a regular file: a directory, or a FIFO or device, whose reading could block or
    never end."""
    from musicjax.data.limits import too_big
    from musicjax.data.score import ScoreError

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ScoreError(path, "no such file") from None
    if stat.S_ISDIR(st.st_mode):
        raise ScoreError(path, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ScoreError(path, "not a regular file")
    if st.st_size > limit:
        raise ScoreError(path, too_big(st.st_size, limit, what))
    return st.st_size


def read_capped(path: str | os.PathLike, limit: int, what: str = "the file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; ScoreError otherwise. Reading stops
    at `limit + 1` bytes whatever the size the file system reports (files in /proc report 0)."""
    from musicjax.data.limits import too_big
    from musicjax.data.score import ScoreError

    check_regular_file(path, limit, what)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ScoreError(path, too_big(len(data), limit, what))
    return data


# ---- locks between processes ---------------------------------------------------------------------

_held_lock_fds: set[int] = set()


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, waiting_message: str = "") -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) inside the block; wait for it if
    another process holds it, printing `waiting_message` to stderr once.

    The kernel drops the lock when the holder dies, even by SIGKILL, so a dead holder never leaves
    it stuck. A forked child shares the lock's open file; it must call `close_inherited_locks()` so
    that the lock ends with the process that took it."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_message:
                print(waiting_message, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        _held_lock_fds.add(fd)
        yield
    finally:
        _held_lock_fds.discard(fd)
        os.close(fd)  # closing the last descriptor of the open file releases the lock


def close_inherited_locks() -> None:
    """In a forked child: close the descriptors of the parent's locks (the parent keeps them)."""
    for fd in list(_held_lock_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_lock_fds.clear()
