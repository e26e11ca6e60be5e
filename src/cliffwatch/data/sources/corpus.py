"""A text corpus: built-in `pydocs` / `facts`, or a user's file or folder of text."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from cliffwatch.core.errors import DataError
from cliffwatch.core.modality import TEXT, DataInfo, Sentences
from cliffwatch.core.registry import register_source
from cliffwatch.data.sources.base import PoolSource, SourceSpec


class CorpusData(SourceSpec):
    """A text corpus: built-in `pydocs` / `facts`, or a path to user text (txt, jsonl, parquet, csv, HF dataset dir)."""

    source: Literal["corpus"]
    corpus: str = Field("pydocs", min_length=1, max_length=4096, pattern=r"^[^\x00]*$")
    field: str = Field("text", min_length=1, max_length=200)
    max_sentences: int | None = Field(None, ge=1)

    @classmethod
    def resolve_paths(cls, raw: dict[str, Any], base: Path) -> dict[str, Any]:
        """A relative corpus path is relative to the config file's folder (a built-in name is not a path)."""
        corpus = raw.get("corpus")
        if not isinstance(corpus, str) or not corpus or _is_builtin(corpus) or "\x00" in corpus:
            return raw
        path = Path(corpus).expanduser()
        return raw if path.is_absolute() else {**raw, "corpus": str((base / path).resolve())}


def _is_builtin(name: str) -> bool:
    from cliffwatch.data.corpora import BUILTIN_CORPORA

    return name in BUILTIN_CORPORA or ("+" in name and all(p in BUILTIN_CORPORA for p in name.split("+")))


def _corpus(spec: CorpusData) -> Any:
    """The corpus of ``spec``; a file is read once per process while it is unchanged (every lineage,
    and the lineage key, ask for it)."""
    from cliffwatch.data.corpora import load_corpus

    if _is_builtin(spec.corpus):
        return load_corpus(spec.corpus, field=spec.field, max_sentences=spec.max_sentences)
    try:
        info = os.stat(spec.corpus)
        signature = (os.path.abspath(spec.corpus), info.st_mtime_ns, info.st_size, info.st_ino)
    except (OSError, ValueError):
        signature = None  # load_corpus says what is wrong
    if signature is None:
        return load_corpus(spec.corpus, field=spec.field, max_sentences=spec.max_sentences)
    return _file_corpus(signature, spec.corpus, spec.field, spec.max_sentences)


@functools.lru_cache(maxsize=4)
def _file_corpus(signature: tuple, path: str, field: str, max_sentences: int | None) -> Any:
    from cliffwatch.data.corpora import load_corpus

    return load_corpus(path, field=field, max_sentences=max_sentences)


class SentencePool(PoolSource):
    """A pool of sentences from a text corpus (``self.corpus``): one chain, drawn without
    replacement while the pool lasts."""

    modality = TEXT
    corpus: Any

    @staticmethod
    def _take(items: Sentences, idx: np.ndarray) -> Sentences:
        return items.take(idx)

    @property
    def info(self) -> DataInfo:
        return DataInfo(TEXT, vocab=self.corpus.vocab)

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> Sentences:
        return self.pool.take(rng.choice(self.pool_size, n, replace=n > self.pool_size))


@register_source("corpus")
class TextSource(SentencePool):
    Spec = CorpusData

    @classmethod
    def key_params(cls, spec: CorpusData) -> dict[str, Any]:
        """A user's file is keyed by its sentences' fingerprint, not by its path or format: the same
        sentences as .txt, .jsonl or .parquet, anywhere, give the same random streams and results."""
        if _is_builtin(spec.corpus):
            return spec.model_dump(mode="json")
        try:
            fingerprint = _corpus(spec).fingerprint
        except DataError as err:
            raise DataError(f"data.corpus: {err}") from None
        return {"source": spec.source, "content": fingerprint}

    def __init__(self, spec: CorpusData, holdout: int, rng: np.random.Generator) -> None:
        try:
            corpus = _corpus(spec)
            self.corpus = corpus
            self.fingerprint = corpus.fingerprint
            self.provenance = corpus.provenance
            self.facts = corpus.facts
            self._split(corpus.sentences, holdout, rng, len(corpus.sentences), spec.corpus)
        except DataError as err:  # name the config field that pointed to the file, too
            raise DataError(f"data.corpus: {err}") from None
