"""What every task probe measures: the model's greedy answers to a task's items, both checks.

Items are scored only if their whole sentence (prompt, answer) occurs in the source's training pool
(as for facts: a tail item whose only sentence sits in the holdout could never be learned), at most
MAX_ITEMS_PER_BUCKET per head / torso / tail bucket (a fixed random subset, the same every
generation: paired comparisons). Confidence is the model's probability of its whole greedy answer
given the prompt. The calibration error is the expected calibration error (ECE) of that confidence
against the deep check, over ECE_BINS equal-width bins: sum over bins of (share of answers in the
bin) * |mean confidence - deep accuracy|.

The checks are pure functions of (item, answer), so their verdicts are remembered per process
(CHECKS_REMEMBERED, least recently used out): a model answers many items as its predecessor did
(74 of the 6-gram's 193 code answers at generation 2 of examples/tasks-cliff.yaml repeat generation
1's), and a repeated answer is not checked again. The numbers are the same as checking every answer.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from cliffwatch.core.metrics import Metric
from cliffwatch.core.modality import Sentences
from cliffwatch.data.task_checks import Verdict, check_answer
from cliffwatch.probes.base import ProbeContext
from cliffwatch.probes.text_common import occurs_in

BUCKETS = ("head", "torso", "tail")
MAX_ITEMS_PER_BUCKET = 100
SUBSET_SEED = 0
EXTRA_TOKENS = 2  # decode the longest reference answer + its closing + one, so a run-on answer is seen
ECE_BINS = 10
SAMPLE_ITEMS = 6  # items kept per generation for the report: prompt, answer, reference, failed check
_SCORED: OrderedDict[tuple, np.ndarray] = OrderedDict()
SCORED_CACHED = 8
CHECKS_REMEMBERED = 1 << 14  # ~30 generations of the three tasks' answers; an entry is ~1 kB


def task_metrics(task: str, what: str) -> tuple[Metric, ...]:
    return (
        Metric(f"{task}_accuracy", True, f"deep accuracy: share of {what} answered with the right substance", 0.0, 1.0),
        Metric(f"{task}_surface", True, f"surface validity: share of {what} answers of the right form", 0.0, 1.0),
        Metric(f"{task}_shape", False, f"shape without substance: share of {what} answers of the right form but wrong", 0.0, 1.0),
        Metric(f"{task}_ece", False, f"expected calibration error of the confidence in {what} answers (deep check)", 0.0, 1.0),
        Metric(f"{task}_wrong_confidence", False, f"mean confidence in wrong {what} answers", 0.0, 1.0),
        Metric(f"{task}_right_confidence", None, f"mean confidence in right {what} answers", 0.0, 1.0),
        *(Metric(f"{task}_accuracy_{b}", True, f"deep accuracy on {b} {what} (by mentions in the corpus)", 0.0, 1.0)
          for b in ("head", "tail")),
        Metric(f"{task}_majority", None, f"the trivial baseline: deep accuracy of always giving the most common "
               f"reference answer of the item's kind (a relation, for facts) on the scored {what}", 0.0, 1.0),
        Metric(f"{task}_scored", None, f"{what} scored: in the training pool, at most {MAX_ITEMS_PER_BUCKET} per bucket", 0.0),
    )


def applies(source: Any, task: str) -> bool:
    tasks = getattr(source, "tasks", None)
    return tasks is not None and getattr(source, "pool", None) is not None and bool((tasks.task == task).any())


def scored_items(tasks: Any, pool: Any, task: str) -> np.ndarray:
    """Indices of the task's items whose whole sentence occurs in the pool (at most
    MAX_ITEMS_PER_BUCKET per bucket, a fixed subset), computed once per process for equal pools."""
    digest = hashlib.blake2b(pool.ids.tobytes(), digest_size=16)
    digest.update(pool.offsets.tobytes())
    key = (id(tasks), task, digest.digest())
    if key not in _SCORED:
        members = np.flatnonzero(tasks.task == task)
        whole = _rows_joined(tasks.prompts.take(members), tasks.answers.take(members))
        seen = members[occurs_in(pool, whole)]
        chosen = []
        for bucket in BUCKETS:
            inside = seen[tasks.bucket[seen] == bucket]
            order = np.random.default_rng(SUBSET_SEED).permutation(len(inside))
            chosen.append(inside[order[:MAX_ITEMS_PER_BUCKET]])
        _SCORED[key] = (np.sort(np.concatenate(chosen)), tasks)  # the task set stays referenced: its id is not reused
        while len(_SCORED) > SCORED_CACHED:
            _SCORED.popitem(last=False)
    return _SCORED[key][0]


def _rows_joined(first: Sentences, second: Sentences) -> Sentences:
    """Row i is first[i] followed by second[i]."""
    lengths = first.lengths + second.lengths
    ids = np.empty(int(lengths.sum()), dtype=first.ids.dtype)
    joined = Sentences.from_lengths(ids, lengths)
    for part, skip in ((first, np.zeros(len(first), np.int64)), (second, first.lengths)):
        row = part.sentence_index()
        joined.ids[joined.offsets[row] + skip[row] + np.arange(part.n_tokens) - part.offsets[row]] = part.ids
    return joined


def answer_items(ctx: ProbeContext, task: str) -> tuple[np.ndarray, list[list[str]], list[Verdict], np.ndarray]:
    """(item indices, the model's answers as words, their verdicts, confidence) for the task's scored items."""
    tasks, vocab = ctx.source.tasks, ctx.info.vocab
    index = scored_items(tasks, ctx.source.pool, task)
    if not len(index):
        return index, [], [], np.zeros(0)
    closings = set(tasks.closing[index].tolist())
    closing = vocab.index.get(closings.pop(), -1) if len(closings) == 1 else -1
    answers = tasks.answers.take(index)
    given, nll = ctx.model.answer(tasks.prompts.take(index), int(answers.lengths.max()) + EXTRA_TOKENS, closing)
    words = np.array(vocab.words, dtype=object)
    given_words = [words[given.sentence(i)].tolist() for i in range(len(given))]
    verdicts = [
        remembered_check(task, tuple(tasks.prompt_tokens[i]), tuple(w), tuple(tasks.answer_tokens[i]),
                         tasks.answers_of_kind[tasks.kind[i]])
        for i, w in zip(index.tolist(), given_words)
    ]
    confidence = np.where(given.lengths > 0, np.exp(-np.asarray(nll, dtype=np.float64)), 0.0)
    return index, given_words, verdicts, confidence


@functools.lru_cache(maxsize=CHECKS_REMEMBERED)
def remembered_check(task: str, prompt: tuple[str, ...], answer: tuple[str, ...], reference: tuple[str, ...],
                     answers_of_kind: frozenset[str]) -> Verdict:
    """:func:`check_answer`, remembered by its whole input (a Verdict is immutable, so it is shared)."""
    return check_answer(task, list(prompt), list(answer), list(reference), answers_of_kind)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    if not len(confidence):
        return float("nan")
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.bincount(which, weights=confidence - correct, minlength=bins)  # per bin: n * (conf - acc)
    return float(np.abs(gap).sum() / count.sum())


def task_values(ctx: ProbeContext, task: str) -> dict[str, np.ndarray]:
    tasks = ctx.source.tasks
    index, given, verdicts, confidence = answer_items(ctx, task)
    surface = np.array([v.surface for v in verdicts], dtype=bool)
    deep = np.array([v.deep for v in verdicts], dtype=bool)
    bucket = tasks.bucket[index]
    values = {
        f"{task}_accuracy": _mean(deep),
        f"{task}_surface": _mean(surface),
        f"{task}_shape": _mean(surface & ~deep),
        f"{task}_ece": expected_calibration_error(confidence, deep.astype(np.float64)),
        f"{task}_wrong_confidence": _mean(confidence[~deep]),
        f"{task}_right_confidence": _mean(confidence[deep]),
        **{f"{task}_accuracy_{b}": _mean(deep[bucket == b]) for b in ("head", "tail")},
        f"{task}_majority": majority_accuracy(tasks, index),
        f"{task}_scored": float(len(index)),
    }
    ctx.artifacts[f"task_items_{task}"] = _samples(tasks, index, given, verdicts)
    return {name: np.array([value]) for name, value in values.items()}


def majority_accuracy(tasks: Any, index: np.ndarray) -> float:
    """Share of the items whose reference is the most common reference answer of their kind."""
    if not len(index):
        return float("nan")
    kinds = tasks.kind[index]
    answers = np.array([" ".join(tasks.answer_tokens[i]) for i in index.tolist()], dtype=object)
    hits = 0
    for kind in np.unique(kinds):
        _, counts = np.unique(answers[kinds == kind].astype(str), return_counts=True)
        hits += int(counts.max())
    return hits / len(index)


def _samples(tasks: Any, index: np.ndarray, given: list[list[str]], verdicts: list[Verdict]) -> np.ndarray:
    """A few scored items as rows (prompt, answer, reference, failed check): failures first."""
    order = sorted(range(len(index)), key=lambda k: (verdicts[k].deep, verdicts[k].surface, k))[:SAMPLE_ITEMS]
    rows = [(" ".join(tasks.prompt_tokens[index[k]]), " ".join(given[k]), " ".join(tasks.answer_tokens[index[k]]),
             verdicts[k].failed or "passed") for k in order]
    return np.array(rows, dtype=str).reshape(len(rows), 4)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
