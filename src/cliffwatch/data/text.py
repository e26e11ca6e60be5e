"""Tokenised text as flat id arrays: a vocabulary and a ragged batch of sentences.

Sentences are stored as one flat int32 array plus offsets, so taking, concatenating and
counting are numpy operations, never per-token Python loops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

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
        seen: dict[str, None] = {}
        for tokens in token_lists:
            seen.update(dict.fromkeys(tokens))
        seen.pop(UNK, None)
        return cls((UNK, *sorted(seen)))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: list[str]) -> np.ndarray:
        get = self.index.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=np.int32, count=len(tokens))

    def decode(self, ids: np.ndarray) -> list[str]:
        return [self.words[i] for i in ids]
