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


@dataclass(frozen=True)
class Sentences:
    """A ragged batch of sentences: ids[offsets[i]:offsets[i+1]] is sentence i."""

    ids: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len = n + 1, offsets[0] == 0

    @classmethod
    def from_lists(cls, sentences: list[np.ndarray] | list[list[int]]) -> "Sentences":
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = (
            np.concatenate([np.asarray(s, dtype=np.int32) for s in sentences])
            if len(sentences)
            else np.zeros(0, np.int32)
        )
        return cls(ids.astype(np.int32, copy=False), offsets)

    @classmethod
    def from_lengths(cls, ids: np.ndarray, lengths: np.ndarray) -> "Sentences":
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.asarray(ids, dtype=np.int32), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def take(self, idx: np.ndarray) -> "Sentences":
        """The sentences at positions idx (any order, repeats allowed), vectorised."""
        idx = np.asarray(idx, dtype=np.int64)
        starts = self.offsets[idx]
        lengths = self.offsets[idx + 1] - starts
        new_offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        gather = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
        return Sentences(self.ids[gather], new_offsets)

    @staticmethod
    def concat(parts: list["Sentences"]) -> "Sentences":
        parts = [p for p in parts if len(p)] or parts[:1]
        ids = np.concatenate([p.ids for p in parts])
        lengths = np.concatenate([p.lengths for p in parts])
        return Sentences.from_lengths(ids, lengths)

    def sentence_index(self) -> np.ndarray:
        """For each token, the index of its sentence."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)
