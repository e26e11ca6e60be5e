"""Fact probes on the real facts corpus: which facts are scored, accuracy, hallucination, in the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cliffwatch.data.sources.corpus import CorpusData
from cliffwatch.data.sources.corpus import TextSource
from cliffwatch.core.modality import Sentences
from cliffwatch.probes.facts_accuracy import (
    MAX_FACTS_PER_BUCKET,
    Facts,
    answer_facts,
    learnable_facts,
    real_answers,
)
from cliffwatch.core.registry import FAMILIES, PROBES

ORDER = 6  # long enough a context to tell "X is a city in" from "X is a country in"


@pytest.fixture(scope="module")
def facts_source():
    return TextSource(CorpusData(source="corpus", corpus="facts"), 1000, np.random.default_rng(0))


def fit(source, sentences: Sentences):
    return FAMILIES.get("ngram")(source.info, {"order": ORDER}).fit(sentences, np.random.default_rng(0))


def sentence_texts(source, sentences: Sentences) -> list[str]:
    words = np.array(source.info.vocab.words, dtype=object)
    return [" " + " ".join(words[sentences.sentence(i)]) + " " for i in range(len(sentences))]


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1 / n) / n)  # floor: a zero count still has an uncertainty


def test_facts_probe_applies_only_to_a_fact_base(facts_source):
    pydocs = TextSource(CorpusData(source="corpus", corpus="pydocs", max_sentences=2000), 100, np.random.default_rng(0))
    assert Facts.applies_to(facts_source) and not Facts.applies_to(pydocs)


def test_only_facts_stated_in_the_pool_are_scored(facts_source):
    facts = facts_source.facts
    scored = learnable_facts(facts, facts_source.pool)
    assert np.all(np.diff(scored) > 0)
    counts = {b: int((facts.bucket[scored] == b).sum()) for b in ("head", "torso", "tail")}
    assert all(0 < c <= MAX_FACTS_PER_BUCKET for c in counts.values())
    pool_text = "\n".join(sentence_texts(facts_source, facts_source.pool))
    for i in scored[:: max(1, len(scored) // 150)]:
        assert f" {facts.prompt_text[i]} {facts.answer[i]} " in pool_text
    # tail facts stated only in the holdout are left out: a model could not have learned them
    reference_text = "\n".join(sentence_texts(facts_source, facts_source.reference()))
    held_out = [i for i in np.flatnonzero(facts.bucket == "tail") if f" {facts.prompt_text[i]} {facts.answer[i]} " in reference_text]
    assert held_out and not np.isin(held_out, scored).any()


def test_a_model_of_the_corpus_knows_its_head_facts(facts_source):
    facts = facts_source.facts
    scored = learnable_facts(facts, facts_source.pool)
    answers = answer_facts(fit(facts_source, facts_source.pool), facts, scored, real_answers(facts, facts_source.info.vocab), facts_source.info.vocab)
    head = answers.correct[facts.bucket[scored] == "head"]
    accuracy = head.mean()
    assert accuracy - 3 * binomial_se(accuracy, len(head)) > 0.9


def test_removed_facts_are_not_known_and_swapped_ones_are_hallucinated(facts_source):
    """Capital facts: the statements of some are removed from training, of others replaced by another
    country's capital. No capital is common enough to be guessed, so a removed fact is ~never right."""
    facts, vocab, pool = facts_source.facts, facts_source.info.vocab, facts_source.pool
    texts = sentence_texts(facts_source, pool)
    pool_text = "\n".join(texts)
    capitals = [i for i in np.flatnonzero(facts.relation == "capital_of") if f" {facts.prompt_text[i]} {facts.answer[i]} " in pool_text]
    removed, swapped, kept = np.array_split(np.random.default_rng(0).permutation(capitals), 3)
    untaught = np.concatenate([removed, swapped])
    dropped = [j for j, t in enumerate(texts) if any(f" {facts.subject[i]} " in t and f" {facts.answer[i]} " in t for i in untaught)]
    training = pool.take(np.setdiff1d(np.arange(len(pool)), dropped))
    wrong_answer = np.roll(swapped, 1)  # each swapped fact is taught the next one's capital, three times
    lies = Sentences.from_lists([
        vocab.encode(f"{facts.prompt_text[i]} {facts.answer[j]} .".split()) for i, j in zip(swapped, wrong_answer) for _ in range(3)
    ])
    model = fit(facts_source, Sentences.concat([training, lies]))
    real = real_answers(facts, vocab)
    on_removed, on_swapped, on_kept = (answer_facts(model, facts, np.sort(ix), real, vocab) for ix in (removed, swapped, kept))

    chance = 1 / len(facts.answer_sets["capital_of"])
    assert on_removed.correct.mean() <= chance + 3 * binomial_se(chance, len(removed))
    gap = on_kept.correct.mean() - on_removed.correct.mean()
    assert gap > 3 * math.hypot(binomial_se(on_kept.correct.mean(), len(kept)), binomial_se(on_removed.correct.mean(), len(removed)))
    hallucinated = on_swapped.hallucinated.mean()
    assert hallucinated - 3 * binomial_se(hallucinated, len(swapped)) > 0.5 and not on_swapped.correct.any()
    # confidence is the model's probability of exactly the answer it gave
    index = np.sort(swapped)
    taught = dict(zip(swapped, wrong_answer))
    given = facts.answers.take(np.array([taught[i] for i in index]))
    expected = np.exp(-model.continuation_nll(facts.prompts.take(index), given))
    assert on_swapped.confidence[on_swapped.hallucinated] == pytest.approx(expected[on_swapped.hallucinated])


def test_fact_probes_run_in_the_loop():
    from conftest import default_metrics, run_lineage

    results = run_lineage(
        family={"name": "ngram", "order": 3}, data={"source": "corpus", "corpus": "facts", "max_sentences": 5000},
        policy={"samples": 2000, "synthetic_fraction": 1.0}, generations=2, holdout=300, probe_samples=300,
    )
    declared = default_metrics("text")
    for result in results:
        assert set(result.metrics) == set(declared)
        for name, values in result.metrics.items():
            assert values.shape == (1,)
            finite = values[np.isfinite(values)]
            assert np.all((finite >= declared[name].low) & (finite <= declared[name].high)), (name, values)
        assert result.metrics["facts_scored"][0] > 0 and np.isfinite(result.metrics["fact_accuracy"]).all()


def test_real_answer_matching_equals_row_by_row_comparison(facts_source):
    """RealAnswers.contains (a trie built once per source) against comparing whole rows with np.unique."""
    real = real_answers(facts_source.facts, facts_source.info.vocab)
    known, rng = real.rows, np.random.default_rng(0)
    changed = known.copy()
    changed[:, 1] = rng.integers(-1, len(facts_source.info.vocab), len(known))
    wider = np.column_stack([known, np.full((len(known), 2), -1)])
    spilled = wider.copy()
    spilled[::2, -1] = 5
    for rows in (known, changed, wider, spilled, known[:, :2], np.vstack([known[:5], changed[:5]])):
        width = max(rows.shape[1], known.shape[1])
        pad = lambda a: np.column_stack([a, np.full((len(a), width - a.shape[1]), -1)])  # noqa: E731
        _, rank = np.unique(np.vstack([pad(known), pad(rows)]), axis=0, return_inverse=True)
        expected = np.isin(rank[len(known) :], rank[: len(known)])
        assert np.array_equal(real.contains(rows), expected)
        assert 0 < expected.sum() or rows is spilled
