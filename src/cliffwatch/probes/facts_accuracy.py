"""Truthfulness on the fact track: complete "the capital of france is" and check the answer.

Each fact's probe prompt is decoded greedily; the model's answer is the decoded words with the
probe sentence's closing "." removed (every probe template ends "{answer} ."). Facts are scored
only if the prompt followed by the answer occurs in the source's training pool: the corpus is split
per seed into a held-out reference and the pool, and a tail fact's only sentence may sit in the
holdout, where no generation could have learned it. Buckets (head / torso / tail) are the fact
base's, by mentions in the whole corpus. ``fact_accuracy_head`` doubles as the gaming-gap view of
facts: a benchmark of well-known facts that can stay high while the tail is forgotten.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.data.facts import FactBase
from cliffwatch.data.text import Vocab
from cliffwatch.families.base import TextModel
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import occurs_in, padded
from cliffwatch.core.registry import register_probe

BUCKETS = ("head", "torso", "tail")
MAX_FACTS_PER_BUCKET = 1_000  # above this, a fixed random subset of the bucket's facts stated in the pool
SUBSET_SEED = 0  # the same subset for every generation and lineage of a source: paired comparisons
EXTRA_TOKENS = 2  # decode the longest answer + "." + one token, so an answer that runs on is seen
# What a pool's facts need (which facts it states, their real answers), per process: every lineage
# of a seed splits the corpus the same way, and a sweep runs many lineages per seed in one worker.
_PER_POOL: OrderedDict[tuple, tuple] = OrderedDict()
PER_POOL_CACHED = 8


@dataclass(frozen=True)
class FactAnswers:
    """What the model answered, per scored fact."""

    correct: np.ndarray  # bool: the decoded answer is the fact's answer
    hallucinated: np.ndarray  # bool: another real answer of the same relation
    confidence: np.ndarray  # float: probability of the decoded answer given the prompt (NaN if empty)


@dataclass(frozen=True)
class RealAnswers:
    """Every real answer of every relation, as rows (relation code, answer ids, -1 padding)."""

    relation_code: np.ndarray  # (facts,) the code of each fact's relation
    rows: np.ndarray  # (answers, 1 + width) int64

    def __post_init__(self) -> None:
        # a trie of the rows, for exact matching without sorting them again per model: column j's
        # table holds the sorted keys (rank of the row's first j columns) * base + (value + 1)
        base = int(self.rows.max(initial=0)) + 2
        rank, tables = np.zeros(len(self.rows), dtype=np.int64), []
        for column in self.rows.T:
            table, rank = np.unique(rank * base + column + 1, return_inverse=True)
            tables.append(table)
        object.__setattr__(self, "_trie", (base, tables))

    def contains(self, rows: np.ndarray) -> np.ndarray:
        """Whether each row (relation code, ids, -1 padding; any width) is one of the real answers."""
        base, tables = self._trie
        width = min(rows.shape[1], len(tables))
        found = (rows[:, width:] == -1).all(axis=1)  # beyond the widest real answer: padding only
        found &= (rows[:, :width] < base - 1).all(axis=1)
        rank = np.zeros(len(rows), dtype=np.int64)
        for j, table in enumerate(tables):
            column = rows[:, j] + 1 if j < width else np.zeros(len(rows), dtype=np.int64)
            key = rank * base + column
            rank = np.minimum(np.searchsorted(table, key), len(table) - 1)
            found &= table[rank] == key
        return found


def real_answers(facts: FactBase, vocab: Vocab) -> RealAnswers:
    """Every answer of every relation in the fact base, encoded in ``vocab``."""
    relations = sorted(facts.answer_sets)
    code = {relation: i for i, relation in enumerate(relations)}
    answers = [(code[r], vocab.encode(a.split())) for r in relations for a in sorted(facts.answer_sets[r])]
    encoded = Sentences.from_lists([ids for _, ids in answers])
    relation_rows = np.array([c for c, _ in answers], dtype=np.int64)
    rows = np.column_stack([relation_rows, padded(encoded, int(encoded.lengths.max(initial=0)))])
    return RealAnswers(np.array([code[r] for r in facts.relation], dtype=np.int64), rows)


def learnable_facts(facts: FactBase, pool: Sentences) -> np.ndarray:
    """Indices of the facts whose prompt followed by answer occurs in the pool, at most
    MAX_FACTS_PER_BUCKET per bucket (a fixed random subset), sorted."""
    seen = occurs_in(pool, _joined(facts.prompts, facts.answers))
    chosen = []
    for bucket in BUCKETS:
        members = np.flatnonzero(seen & (facts.bucket == bucket))
        order = np.random.default_rng(SUBSET_SEED).permutation(len(members))
        chosen.append(members[order[:MAX_FACTS_PER_BUCKET]])
    return np.sort(np.concatenate(chosen))


def _joined(first: Sentences, second: Sentences) -> Sentences:
    """Row i is first[i] followed by second[i]."""
    joined = Sentences.from_lengths(np.empty(first.n_tokens + second.n_tokens, np.int32), first.lengths + second.lengths)
    for part, skip in ((first, np.zeros(len(first), np.int64)), (second, first.lengths)):
        row = part.sentence_index()
        joined.ids[joined.offsets[row] + skip[row] + np.arange(part.n_tokens) - part.offsets[row]] = part.ids
    return joined


def answer_facts(model: TextModel, facts: FactBase, index: np.ndarray, real: RealAnswers, vocab: Vocab) -> FactAnswers:
    """Greedy answers of the model to the facts at ``index``, scored against the real answers."""
    prompts, answers = facts.prompts.take(index), facts.answers.take(index)
    given, nll = model.answer(prompts, int(answers.lengths.max(initial=0)) + EXTRA_TOKENS, vocab.index.get(".", -1))
    width = max(real.rows.shape[1] - 1, int(given.lengths.max(initial=0)))
    given_rows = np.column_stack([real.relation_code[index], padded(given, width)])
    true_rows = np.column_stack([real.relation_code[index], padded(answers, width)])
    correct = (given_rows == true_rows).all(axis=1)
    is_real_answer = real.contains(given_rows)
    confidence = np.where(given.lengths > 0, np.exp(-nll), np.nan)
    return FactAnswers(correct, is_real_answer & ~correct, confidence)


@register_probe("facts")
class Facts(Probe):
    modality = TEXT
    metrics = (
        Metric("fact_accuracy", True, "share of the facts stated in the training pool that the model completes correctly (greedy)", 0.0, 1.0),
        *(
            Metric(f"fact_accuracy_{b}", True, f"accuracy on {b} facts (by mentions in the corpus)", 0.0, 1.0)
            for b in BUCKETS
        ),
        Metric("hallucination_rate", False, "share of facts answered with a real answer of the same relation, but the wrong one", 0.0, 1.0),
        Metric("wrong_confidence", False, "mean probability the model gives its own wrong answer", 0.0, 1.0),
        Metric("facts_scored", None, f"facts scored: stated in the training pool, at most {MAX_FACTS_PER_BUCKET} per bucket", 0.0),
    )

    @classmethod
    def applies_to(cls, source: Any) -> bool:
        return getattr(source, "facts", None) is not None and getattr(source, "pool", None) is not None

    def prepare(self, source: Any) -> None:
        _per_pool(source.facts, source.pool, source.info.vocab)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        facts, vocab = ctx.source.facts, ctx.info.vocab
        index, real = _per_pool(facts, ctx.source.pool, vocab)
        result = answer_facts(ctx.model, facts, index, real, vocab)
        bucket = facts.bucket[index]
        values = {
            "fact_accuracy": _mean(result.correct),
            **{f"fact_accuracy_{b}": _mean(result.correct[bucket == b]) for b in BUCKETS},
            "hallucination_rate": _mean(result.hallucinated),
            "wrong_confidence": _mean(result.confidence[~result.correct & ~np.isnan(result.confidence)]),
            "facts_scored": float(len(index)),
        }
        return {name: np.array([value]) for name, value in values.items()}


def _per_pool(facts: FactBase, pool: Sentences, vocab: Vocab) -> tuple[np.ndarray, RealAnswers]:
    """(learnable facts, real answers) of a pool, computed once per process for equal pools."""
    digest = hashlib.blake2b(pool.ids.tobytes(), digest_size=16)
    digest.update(pool.offsets.tobytes())
    key = (id(facts), id(vocab), digest.digest())
    if key not in _PER_POOL:
        # the facts and vocab stay referenced by the entry, so their ids cannot be reused meanwhile
        _PER_POOL[key] = (learnable_facts(facts, pool), real_answers(facts, vocab), facts, vocab)
        while len(_PER_POOL) > PER_POOL_CACHED:
            _PER_POOL.popitem(last=False)
    return _PER_POOL[key][:2]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")
