"""Writing a file so that a crash never leaves it half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable


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
