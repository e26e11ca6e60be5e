"""``verifier``: an oracle that checks the facts synthetic sentences state against the fact base.

What counts as a fact claim. A sentence states a fact when, token for token, it is one of the
relation templates of :data:`cliffwatch.data.facts.TEMPLATES` ("the capital of {s} is {a} .")
with both slots filled by one or more words, and at least one slot is exactly a name the fact base
knows (a subject or an answer of any relation). The claim is true when (subject, answer) is a fact
of that template's relation. Requiring a known name keeps prose that happens to fit a template
("the difference lies in how it is called .") from counting as a claim about the world, while
"the capital of france is lyon ." and "france is a city in europe ." are false claims. A sentence
that fits a template in several ways makes every such claim. Fragments state no fact and pass:
"the capital of france is .", "is a city in china .", "paris lies in" (an oracle of truth, not of
form; in a fully synthetic loop on the facts corpus such fragments can come to dominate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from cliffwatch.data.facts import TEMPLATES, FactBase
from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.data.text import Vocab, tokenize
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.core.registry import register_filter

_SLOT = re.compile(r"\{[sa]\}")


@dataclass(frozen=True)
class _Template:
    relation: int  # index into FactChecker.relations
    before: np.ndarray  # token ids before the first slot
    between: np.ndarray  # token ids between the slots (never empty: every template separates them)
    after: np.ndarray  # token ids after the second slot
    subject_first: bool


@dataclass(frozen=True)
class Claims:
    """Per sentence: whether it states a fact, and whether some fact it states is false."""

    stated: np.ndarray  # bool (n,)
    false: np.ndarray  # bool (n,)


class FactChecker:
    """Finds and checks the fact claims of sentences in token space: one numpy pass per template."""

    def __init__(self, facts: FactBase, vocab: Vocab) -> None:
        self.facts = facts
        self.relations = sorted(TEMPLATES)
        code = {r: i for i, r in enumerate(self.relations)}
        # every subject and answer, numbered by its token ids (a padded row each, -1 after the end)
        number: dict[tuple[int, ...], int] = {}
        subject = [number.setdefault(tuple(vocab.encode(s.split())), len(number)) for s in facts.subject]
        answer = [number.setdefault(tuple(vocab.encode(a.split())), len(number)) for a in facts.answer]
        width = max(map(len, number))
        self.names = np.full((len(number), width), -1, dtype=np.int64)
        for ids, i in number.items():
            self.names[i, : len(ids)] = ids
        relation = np.array([code[r] for r in facts.relation], dtype=np.int64)
        self.fact_keys = np.unique(self._key(relation, np.array(subject), np.array(answer)))
        self.templates = [t for r in self.relations for t in self._templates(r, code[r], vocab)]

    @staticmethod
    def _templates(relation: str, code: int, vocab: Vocab) -> list[_Template]:
        out = []
        for text in TEMPLATES[relation]:
            parts = [tokenize(part) for part in _SLOT.split(text)]
            if any(w not in vocab.index for part in parts for w in part):
                continue  # a template word outside the vocabulary: no sample can contain it
            before, between, after = (np.array([vocab.index[w] for w in part], dtype=np.int32) for part in parts)
            out.append(_Template(code, before, between, after, text.index("{s}") < text.index("{a}")))
        return out

    def _key(self, relation: np.ndarray, subject: np.ndarray, answer: np.ndarray) -> np.ndarray:
        k = len(self.names)
        return (relation * k + subject) * k + answer

    def __call__(self, sentences: Sentences) -> Claims:
        readings = [self._readings(sentences, t) for t in self.templates]
        relation, subject_start, subject_end, answer_start, answer_end, sentence = map(np.concatenate, zip(*readings))
        n = len(relation)
        name = self._names_of(sentences, np.concatenate([subject_start, answer_start]), np.concatenate([subject_end, answer_end]))
        subject, answer = name[:n], name[n:]
        claim = (subject >= 0) | (answer >= 0)
        true = (subject >= 0) & (answer >= 0) & np.isin(self._key(relation, subject, answer), self.fact_keys)
        stated, false = np.zeros(len(sentences), dtype=bool), np.zeros(len(sentences), dtype=bool)
        stated[sentence[claim]] = True
        false[sentence[claim & ~true]] = True
        return Claims(stated, false)

    @staticmethod
    def _readings(sentences: Sentences, t: _Template) -> tuple[np.ndarray, ...]:
        """Every way the sentences fit template t: (relation, subject start, subject end, answer start,
        answer end, sentence), spans as flat token positions. A sentence fits once per occurrence of
        the words between the slots that leaves both slots non-empty and the words around them in place."""
        ids, offsets = sentences.ids, sentences.offsets
        m = len(t.between)
        hit = np.ones(max(len(ids) - m + 1, 0), dtype=bool)
        for k, word in enumerate(t.between):
            hit &= ids[k : k + len(hit)] == word
        at = np.flatnonzero(hit)
        sentence = np.searchsorted(offsets, at, side="right") - 1
        first_start = offsets[sentence] + len(t.before)
        second_end = offsets[sentence + 1] - len(t.after)
        room = (at > first_start) & (at + m < second_end)  # also keeps the frame checks below in bounds
        at, sentence, first_start, second_end = at[room], sentence[room], first_start[room], second_end[room]
        frame = np.ones(len(at), dtype=bool)
        for k, word in enumerate(t.before):
            frame &= ids[offsets[sentence] + k] == word
        for k, word in enumerate(t.after):
            frame &= ids[second_end + k] == word
        at, sentence, first_start, second_end = at[frame], sentence[frame], first_start[frame], second_end[frame]
        first, second = (first_start, at), (at + m, second_end)
        subject, answer = (first, second) if t.subject_first else (second, first)
        return np.full(len(at), t.relation, dtype=np.int64), *subject, *answer, sentence

    def _names_of(self, sentences: Sentences, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The number of the name that spans ids[start:end] is, -1 where it is no known name."""
        width = self.names.shape[1]
        at = starts[:, None] + np.arange(width)
        padded_ids = np.append(sentences.ids.astype(np.int64), -1)  # position n_tokens reads as padding
        rows = padded_ids[np.where(at < ends[:, None], at, sentences.n_tokens)]
        _, inverse = np.unique(np.vstack([self.names, rows]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        number = np.full(int(inverse.max(initial=-1)) + 1, -1, dtype=np.int64)
        number[inverse[: len(self.names)]] = np.arange(len(self.names))
        return np.where(ends - starts <= width, number[inverse[len(self.names):]], -1)


@register_filter("verifier")
class Verifier(Filter):
    """Accepts a sentence iff every fact it states is true: sentences that state no fact (prose)
    pass, sentences that state a false fact do not (see the module docstring for what a fact claim is)."""

    modalities = (TEXT,)
    verifies = True

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._checker: FactChecker | None = None

    @classmethod
    def check(cls, source) -> str | None:
        if getattr(source, "facts", None) is None:
            return "a verifier needs ground truth: this corpus has no fact base"
        return None

    def accept(self, samples: Sentences, ctx: FilterContext) -> np.ndarray:
        if self._checker is None or self._checker.facts is not ctx.source.facts:
            self._checker = FactChecker(ctx.source.facts, ctx.info.vocab)
        return ~self._checker(samples).false
