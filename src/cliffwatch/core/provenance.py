"""What makes a results file self-describing: the software that wrote it (cliffwatch, its git
commit when run from a checkout, Python and the packages the numbers depend on), and JSON numbers
without binary floating-point noise."""

from __future__ import annotations

import functools
import importlib.metadata
import math
import platform
import subprocess
from pathlib import Path
from typing import Any

# the packages whose versions can change a result (imported or not: versions are read from metadata)
PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "statsmodels", "torch", "transformers",
            "tokenizers", "pydantic")
DIGITS = 12  # significant digits kept in JSON: a double's noise (0.41700000000000004) sits past the 15th


def rounded(value: Any, digits: int = DIGITS) -> Any:
    """``value`` (nested dicts, lists, tuples) with every finite float rounded to ``digits``
    significant digits, so 0.1 + 0.2 is written 0.3; other values unchanged."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def package_versions() -> dict[str, str]:
    """Python and each installed package of PACKAGES, by version."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any] | None:
    """The git commit of the cliffwatch source running now, when it runs from a git checkout (an
    editable install): ``{"commit": sha, "dirty": bool}``; None for an installed wheel or without git."""
    source = Path(__file__).resolve().parent.parent
    try:
        top = subprocess.run(["git", "-C", str(source), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=5)
        if top.returncode != 0 or not (Path(top.stdout.strip()) / "src" / "cliffwatch").is_dir():
            return None  # not cliffwatch's own repository (e.g. installed inside another project's tree)
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        status = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "--", "."],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
