"""A text corpus: built-in `pydocs` / `facts`, or a user's file or folder of text."""

from __future__ import annotations

from typing import Literal

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


@register_source("corpus")
class TextSource(PoolSource):
    Spec = CorpusData
    modality = TEXT

    def __init__(self, spec: CorpusData, holdout: int, rng: np.random.Generator) -> None:
        from cliffwatch.data.corpora import load_corpus

        try:
            corpus = load_corpus(spec.corpus, field=spec.field, max_sentences=spec.max_sentences)
            self.corpus = corpus
            self.fingerprint = corpus.fingerprint
            self.provenance = corpus.provenance
            self.facts = corpus.facts
            self._split(corpus.sentences, holdout, rng, len(corpus.sentences), spec.corpus)
        except DataError as err:  # name the config field that pointed to the file, too
            raise DataError(f"data.corpus: {err}") from None

    @staticmethod
    def _take(items: Sentences, idx: np.ndarray) -> Sentences:
        return items.take(idx)

    @property
    def info(self) -> DataInfo:
        return DataInfo(TEXT, vocab=self.corpus.vocab)

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> Sentences:
        # one chain; without replacement while the pool lasts
        return self.pool.take(rng.choice(self.pool_size, n, replace=n > self.pool_size))
