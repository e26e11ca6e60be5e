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
