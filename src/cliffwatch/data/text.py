"""Tokenised text as flat id arrays: a vocabulary and a ragged batch of sentences.

Sentences are stored as one flat int32 array plus offsets, so taking, concatenating and
counting are numpy operations, never per-token Python loops.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.modality import Sentences  # the text modality's batch type

UNK = "<unk>"
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{2,}")


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences at terminal punctuation and blank lines."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def tokenize(sentence: str, lowercase: bool = True) -> list[str]:
    """Word-level tokens: words (with inner apostrophes, dots, hyphens) and single punctuation marks."""
    if lowercase:
        sentence = sentence.lower()
    return _WORD.findall(sentence)


@dataclass(frozen=True)
class Vocab:
    """Word <-> id. Id 0 is always the unknown word."""

    words: tuple[str, ...]
    index: dict[str, int] = field(compare=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.words or self.words[0] != UNK:
            raise ValueError("a vocabulary starts with the unknown word")
        if not self.index:
            object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> "Vocab":
        seen = dict.fromkeys(itertools.chain.from_iterable(token_lists))
        seen.pop(UNK, None)
        return cls((UNK, *sorted(seen)))

    @classmethod
    def build_encoded(cls, token_lists: list[list[str]]) -> tuple["Vocab", "Sentences"]:
        """The vocabulary of the token lists and the lists encoded in it, hashing every token once
        (pyarrow's dictionary encoding: a few times faster than a dict lookup per token)."""
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        tokens = itertools.chain.from_iterable(token_lists)
        encoded = pa.array(tokens, type=pa.string(), size=int(lengths.sum())).dictionary_encode()
        words = encoded.dictionary.to_pylist()  # distinct, in order of first appearance
        # Arrow sorts strings by their UTF-8 bytes: the order of Python's str comparison
        order = pc.array_sort_indices(encoded.dictionary).to_numpy()
        rank = np.empty(len(words), dtype=np.int32)
        rank[order] = np.arange(len(words), dtype=np.int32)
        remap = rank + 1  # id 0 is the unknown word ...
        if UNK in words:  # ... wherever it appears in the text
            unknown = words.index(UNK)
            remap[rank > rank[unknown]] -= 1
            remap[unknown] = 0
        vocab = cls((UNK, *(words[i] for i in order.tolist() if words[i] != UNK)))
        return vocab, Sentences.from_lengths(remap[encoded.indices.to_numpy()], lengths)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: list[str]) -> np.ndarray:
        return np.fromiter(map(self.index.get, tokens, itertools.repeat(0)), dtype=np.int32, count=len(tokens))

    def encode_sentences(self, token_lists: list[list[str]]) -> "Sentences":
        """Every token list as one sentence of ids (unknown words: 0)."""
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        return Sentences.from_lengths(self.encode(list(itertools.chain.from_iterable(token_lists))), lengths)

    def decode(self, ids: np.ndarray) -> list[str]:
        return [self.words[i] for i in ids]
