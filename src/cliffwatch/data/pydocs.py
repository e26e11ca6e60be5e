"""The harvest of the built-in ``pydocs`` corpus: the docstrings and reference topics of the running
Python's standard library, reduced to running prose."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import warnings
from typing import Iterator

from cliffwatch.core.errors import DataError
from cliffwatch.data.text import split_sentences, tokenize

# Sentence lengths kept from the Python docs: shorter are headings and fragments, longer are tables.
PYDOCS_MIN_TOKENS, PYDOCS_MAX_TOKENS = 3, 60

# Modules that act when imported (open a browser, print, start a GUI), test suites, platform
# stand-ins, and codec boilerplate. Everything else in sys.stdlib_module_names is read.
_SKIPPED_MODULES = frozenset({
    "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "readline", "rlcompleter", "test", "tests",
    "lib2to3", "distutils", "ensurepip", "pydoc_data", "encodings", "msilib", "winreg", "winsound",
    "msvcrt", "nt", "ntpath", "nturl2path", "xxlimited", "xxsubtype",
})
_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`~?([^`<]*?)\s*(?:<[^>]*>)?`")  # :func:`~os.path.join`
_LITERAL = re.compile(r"``([^`]+)``|`([^`]+)`_{0,2}")  # ``code``, `text`, `link`_
_UNDERLINE = re.compile(r"([=\-~^*#+\"'`:.])\1{2,}")  # a heading's underline: =====, *****
_TABLE_BORDER = re.compile(r"[=\-+| ]*[=\-]{3}[=\-+| ]*")  # ====  ====, +----+----+
_SIGNATURE = re.compile(r"[\w.]+\(.*\)\s*(->.*)?")  # int(x, base=10) -> integer
_EMPHASIS = re.compile(r"(?<![*\w])\*{1,2}(?=\w)([^*\n]+?)(?<=\w)\*{1,2}(?![*\w])")  # *word*, **word**
_BULLET = re.compile(r"[-*+•]\s+")  # "- item"
_FIELD = re.compile(r"[\w.]+(?:\(\))?\s*(?::|--?)\s")  # "name: what", "name -- what"
_DOCTEST = (">>>", "...")
_WORD_TOKEN = re.compile(r"[a-z0-9]")
_CODE_TOKENS = frozenset("=[]{}<>\\|^~@#$%&`+/*")


@functools.lru_cache(maxsize=None)
def pydocs_sentences() -> tuple[tuple[str, ...], ...]:
    sentences = []
    for doc in _stdlib_docs():
        for sentence in split_sentences(_prose(doc)):
            tokens = tokenize(sentence)
            if PYDOCS_MIN_TOKENS <= len(tokens) <= PYDOCS_MAX_TOKENS and _is_prose(tokens):
                sentences.append(tuple(tokens))
    return tuple(sentences)


def _stdlib_docs() -> list[str]:
    """The docs of the standard library, read in a fresh interpreter of this Python.

    A fresh interpreter makes the text depend on the Python installation only, not on what this
    process has imported or patched (pytest replaces sys.unraisablehook, IPython builtins.input),
    and spares this process the side effects of importing some 350 modules.
    """
    script = "from cliffwatch.data.pydocs import _print_stdlib_docs; _print_stdlib_docs()"
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},  # this process's cliffwatch
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataError(f"pydocs: could not start a Python interpreter to read the docs ({error})") from None
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {result.returncode}"]
        raise DataError(f"pydocs: could not read the standard library's docstrings ({reason[-1]})")
    return json.loads(result.stdout)


def _print_stdlib_docs() -> None:
    """In the fresh interpreter: write the docs to stdout as a JSON list."""
    sys.stdout.buffer.write(json.dumps(_read_stdlib_docs()).encode("ascii"))


def _read_stdlib_docs() -> list[str]:
    """Distinct docstrings of public stdlib modules, classes, functions and methods, in sorted module
    order, then the language reference topics that pydoc shows."""
    from pydoc_data.topics import topics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated modules warn on import and on attribute access
        # Import everything before reading anything: importing a submodule rebinds a name in its
        # parent (curses.has_key the function becomes curses.has_key the module).
        modules = []
        for module_name in _stdlib_module_names():
            try:
                modules.append(importlib.import_module(module_name))
            except Exception:  # platform-specific (winreg) or missing an optional C library (dbm.gnu)
                continue
        docs: dict[str, None] = {}  # an ordered set: identical docstrings (inherited, aliased) count once
        for module in modules:
            for doc in _module_docstrings(module):
                docs[inspect.cleandoc(doc)] = None
    for key in sorted(topics):
        docs[topics[key]] = None
    return list(docs)


def _stdlib_module_names() -> list[str]:
    """Public stdlib modules and their public submodules, found without importing anything."""
    names = []

    def visit(name: str, path: list[str] | None) -> None:
        names.append(name)
        for info in pkgutil.iter_modules(path or []):
            if _is_public_module(info.name):
                visit(f"{name}.{info.name}", [os.path.join(info.module_finder.path, info.name)] if info.ispkg else None)

    for name in sorted(sys.stdlib_module_names):
        if not _is_public_module(name):
            continue
        spec = importlib.util.find_spec(name)
        if spec is not None:
            visit(name, spec.submodule_search_locations)
    return sorted(names)


def _is_public_module(name: str) -> bool:
    return not name.startswith("_") and name not in _SKIPPED_MODULES


def _module_docstrings(module) -> Iterator[str]:
    """The module's docstring, then those of the public classes and functions it defines (itself or
    in its C accelerator, functools in _functools), then of their public methods and properties."""
    if isinstance(module.__doc__, str):
        yield module.__doc__
    homes = (module.__name__, "_" + module.__name__)
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) not in homes:
            continue
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if isinstance(obj.__doc__, str):
            yield obj.__doc__
        if inspect.isclass(obj):
            for member_name, member in sorted(vars(obj).items()):
                documented = inspect.isroutine(member) or isinstance(member, (property, classmethod, staticmethod))
                if documented and not member_name.startswith("_") and isinstance(member.__doc__, str):
                    yield member.__doc__


def _prose(doc: str) -> str:
    """The running prose of a docstring or reference topic: without doctests, indented code and
    literal blocks, directives, headings, signatures, and with reST roles reduced to their text."""
    kept: list[str] = []
    in_doctest = False
    for line in doc.splitlines():
        stripped = line.strip()
        if not stripped:
            in_doctest = False
            kept.append("")
        elif stripped.startswith(_DOCTEST) or in_doctest:
            in_doctest = True  # a doctest's expected output runs until the next blank line
        elif _UNDERLINE.fullmatch(stripped):
            if kept and kept[-1]:
                kept.pop()  # the heading above its underline
        elif _TABLE_BORDER.fullmatch(stripped):
            continue
        elif line[:1].isspace() and len(line) - len(line.lstrip()) >= 3:
            continue  # code and literal blocks (prose starts at column 0, list continuations at 2)
        elif stripped.startswith("..") or _SIGNATURE.fullmatch(stripped):
            continue
        else:
            bullet = _BULLET.match(stripped)
            if bullet or _FIELD.match(stripped):  # a list item is a sentence of its own
                kept.append("")
                stripped = stripped[bullet.end() :] if bullet else stripped
            text = _EMPHASIS.sub(r"\1", _LITERAL.sub(lambda m: m.group(1) or m.group(2), _ROLE.sub(r"\1", stripped)))
            kept.append(text[:-1] if text.endswith("::") else text)  # reST's "::" reads as ":"
    return "\n".join(kept)


def _is_prose(tokens: list[str]) -> bool:
    """Mostly words and few code symbols (= [ ] < > / ...): drops code and tables that slipped through."""
    words = sum(1 for t in tokens if _WORD_TOKEN.match(t))
    code = sum(1 for t in tokens if t in _CODE_TOKENS)
    return 2 * words >= len(tokens) and 10 * code <= len(tokens)

