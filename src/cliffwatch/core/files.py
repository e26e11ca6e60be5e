"""Files: refusing what is not a regular file before it is opened, and writing so that a crash never
leaves a file half-written."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable

from cliffwatch.core.errors import DataError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def require_regular(path: Path, what: str) -> Path:
    """``path`` if it is a regular file (a symlink counts by what it points to), else DataError
    naming it and ``what`` was expected ("a manifest file"). Every reader calls this before it
    opens a file: reading a FIFO blocks until a writer comes, and a device may never end."""
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link is judged by its target
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (expected {what})") from None
    except (OSError, ValueError) as err:  # a symlink loop, a name too long, a NUL byte in the name
        raise DataError(f"{path}: unreadable ({getattr(err, 'strerror', None) or err.__class__.__name__})") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "of another kind")
        raise DataError(f"{path}: not a regular file ({kind}; expected {what})")
    return Path(path)


def replace_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp)`` to a temporary file beside ``path``, then rename it into place.
    On any error the temporary file is removed and the error raised: ``path`` is either untouched
    or whole."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def write_shared_text(path: Path, text: str) -> None:
    """``text`` written atomically and readable by everyone (a report or summary is meant to be
    shared; mkstemp makes files owner-only). StoreWriteError names the file if it cannot be written."""
    from cliffwatch.core.errors import StoreWriteError

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)

    try:
        replace_atomically(path, write)
    except OSError as err:
        raise StoreWriteError(f"{path}: cannot write ({os.strerror(err.errno) if err.errno else err})") from None
