"""Text probes: exact values on hand-made sentences, tail probes on real text, and a run in the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cliffwatch.data.sources.corpus import CorpusData
from cliffwatch.data.sources.corpus import TextSource
from cliffwatch.core.modality import Sentences
from cliffwatch.data.text import Vocab
from cliffwatch.families.base import DataInfo
from cliffwatch.probes.base import ProbeContext
from cliffwatch.probes.text_common import ngram_keys, occurs_in, sample_ngram_types
from cliffwatch.probes.text_confidence import (
    TextConfidence,
    duplicate_rate,
    repetition_rate,
)
from cliffwatch.probes.text_diversity import (
    TextDiversity,
    corpus_bleu,
    self_bleu,
    type_token_ratio,
)
from cliffwatch.probes.text_fidelity import TextFidelity
from cliffwatch.probes.text_gaming import TextGaming
from cliffwatch.probes.text_tail import RARE_MAX_POOL_COUNT, TextTail, rare_words
from cliffwatch.core.registry import FAMILIES, PROBES

TINY_VOCAB = Vocab(("<unk>", *"abcdefghi"))  # ids 1..9


def context(vocab: Vocab, *, samples=None, reference=None, model=None, train=None, source=None, prev_samples=None) -> ProbeContext:
    return ProbeContext(
        model=model, generation=1, train=train, draw_samples=lambda: samples, reference=reference,
        info=DataInfo("text", vocab=vocab), make_rng=lambda: np.random.default_rng(0), source=source,
        draw_prev_samples=None if prev_samples is None else (lambda: prev_samples),
    )


def tokens_without(sentences: Sentences, drop: np.ndarray) -> Sentences:
    """The same sentences with every token whose id is in ``drop`` deleted."""
    keep = ~np.isin(sentences.ids, drop)
    lengths = np.bincount(sentences.sentence_index()[keep], minlength=len(sentences))
    return Sentences.from_lengths(sentences.ids[keep], lengths)


# ------------------------------------------------------------------ exact values by hand


def test_diversity_metrics_by_hand():
    samples = Sentences.from_lists([[1, 2, 3, 1, 2], [1, 2]])
    values = TextDiversity()(context(TINY_VOCAB, samples=samples))
    assert values["distinct_1"][0] == pytest.approx(3 / 7)  # types a b c among 7 words
    assert values["distinct_2"][0] == pytest.approx(3 / 5)  # ab bc ca ab | ab
    assert values["distinct_3"][0] == pytest.approx(3 / 3)  # abc bca cab | (none)
    assert values["unigram_entropy"][0] == pytest.approx(-(2 * 3 / 7 * math.log(3 / 7) + 1 / 7 * math.log(1 / 7)))
    assert math.isnan(values["type_token_ratio"][0])  # 7 tokens: fewer than the fixed window
    assert math.isnan(values["self_bleu"][0])  # two samples: too few to split into hypotheses and references
    assert all(v.shape == (1,) for v in values.values())
    assert type_token_ratio(samples.ids, window=4) == pytest.approx(3 / 4)  # a b c a


def test_corpus_bleu_by_hand():
    base = 10
    hyp = Sentences.from_lists([[1, 2, 3, 4, 5, 6]])
    refs = Sentences.from_lists([[1, 2, 3, 4, 7, 8, 9], [3, 4, 5, 6]])
    # p1..p3 = 1; 4-grams 1234 (ref 1), 3456 (ref 2) match, 2345 does not: p4 = 2/3.
    # Closest reference length to 6 is 7 (|7-6| < |4-6|), so BP = exp(1 - 7/6).
    assert corpus_bleu(hyp, refs, base) == pytest.approx(math.exp(1 - 7 / 6) * (2 / 3) ** 0.25)
    # clipping: "a a a a" against "a a b": 4 a's clipped to 2, 3 "a a" bigrams clipped to 1; c = 4 > r = 3
    assert corpus_bleu(Sentences.from_lists([[1, 1, 1, 1]]), Sentences.from_lists([[1, 1, 2]]), base, order=2) == pytest.approx(
        math.sqrt(2 / 4 * 1 / 3)
    )
    # pooling over hypotheses: (2 + 1 clipped) / 4 words; closest lengths 3 + 3 = 6 > c = 4
    pooled = corpus_bleu(Sentences.from_lists([[1, 2], [3, 3]]), Sentences.from_lists([[1, 2, 3]]), base, order=1)
    assert pooled == pytest.approx(math.exp(1 - 6 / 4) * 3 / 4)
    assert corpus_bleu(hyp, Sentences.from_lists([[7, 8, 9]]), base) == 0.0  # nothing in common


def test_self_bleu_extremes():
    rng = np.random.default_rng(0)
    copies = Sentences.from_lists([[1, 2, 3, 4, 5]] * 50)
    assert self_bleu(copies, 10, rng) == pytest.approx(1.0)
    disjoint = Sentences.from_lengths(np.arange(1, 251, dtype=np.int32), np.full(50, 5))
    assert self_bleu(disjoint, 251, rng) == 0.0


def test_repetition_and_duplicates_by_hand():
    samples = Sentences.from_lists([[1, 2, 3, 1, 2, 3], [1, 2, 3], [1, 2, 3], [4], []])
    ctx = context(TINY_VOCAB, samples=samples)
    assert repetition_rate(sample_ngram_types(ctx, 3), len(samples)) == pytest.approx(1 / 5)  # "a b c" twice in one
    assert duplicate_rate(samples) == pytest.approx(1 / 5)  # sentence 3 copies sentence 2
    assert duplicate_rate(Sentences.from_lists([[1, 2], [2, 1], [1], [], [1, 2, 0]])) == 0.0
    rng = np.random.default_rng(3)
    many = Sentences.from_lists([rng.integers(0, 2, rng.integers(0, 5)) for _ in range(500)])
    distinct = {tuple(many.sentence(i)) for i in range(len(many))}
    assert duplicate_rate(many) == pytest.approx(1 - len(distinct) / len(many))


def test_ngram_keys_compact_instead_of_overflowing():
    rng = np.random.default_rng(1)
    sentences = Sentences.from_lengths(rng.integers(0, 4, 400).astype(np.int32), np.full(40, 10))
    small, starts = ngram_keys(sentences, 4, 4)
    huge, huge_starts = ngram_keys(sentences, 4, 2**40)  # 2**160 would overflow int64: ranks are taken
    assert np.array_equal(starts, huge_starts) and len(starts) == 40 * 7
    assert np.array_equal(np.unique(small, return_inverse=True)[1], np.unique(huge, return_inverse=True)[1])


def test_occurs_in_matches_brute_force():
    haystack = Sentences.from_lists([[1, 2, 3, 4], [5, 6]])
    needles = Sentences.from_lists([[2, 3], [3, 4, 5], [5, 6], [6], [], [1, 2, 3, 4], [1, 2, 3, 4, 5], [7]])
    assert occurs_in(haystack, needles).tolist() == [True, False, True, True, True, True, False, False]
    rng = np.random.default_rng(2)
    haystack = Sentences.from_lengths(rng.integers(0, 3, 300).astype(np.int32), np.full(30, 10))
    needles = Sentences.from_lists([rng.integers(0, 3, rng.integers(1, 7)) for _ in range(200)])
    texts = [" " + " ".join(map(str, haystack.sentence(i))) + " " for i in range(len(haystack))]
    expected = [any(" " + " ".join(map(str, needles.sentence(j))) + " " in t for t in texts) for j in range(len(needles))]
    assert occurs_in(haystack, needles).tolist() == expected


# ------------------------------------------------------------------ real text: pydocs


@pytest.fixture(scope="module")
def pydocs():
    """A pydocs source (per-seed holdout of 1,000 sentences) and an order-3 model fitted on its pool."""
    source = TextSource(CorpusData(source="corpus", corpus="pydocs"), 1000, np.random.default_rng(0))
    model = FAMILIES.get("ngram")(source.info, {"order": 3}).fit(source.pool, np.random.default_rng(0))
    return source, model


def test_heldout_and_synthetic_perplexity(pydocs):
    source, model = pydocs
    reference = source.reference()
    expected = math.exp(model.nll(reference).sum() / (reference.n_tokens + len(reference)))
    own, previous = model.sample(300, np.random.default_rng(1)), model.sample(300, np.random.default_rng(2))
    first = context(source.info.vocab, samples=own, reference=reference, model=model, source=source)
    assert TextFidelity()(first)["heldout_ppl"][0] == pytest.approx(expected)
    gaming = TextGaming()(first)  # generation 0: no previous model, the benchmark is the model's own samples
    assert gaming["synthetic_ppl"][0] == pytest.approx(TextConfidence()(first)["self_ppl"][0])
    later = TextGaming()(context(source.info.vocab, reference=reference, model=model, source=source, prev_samples=previous))
    synthetic = math.exp(model.nll(previous).sum() / (previous.n_tokens + len(previous)))
    assert later["synthetic_ppl"][0] == pytest.approx(synthetic)
    assert later["gaming_gap"][0] == pytest.approx(math.log(expected) - math.log(synthetic))


def test_rare_words_definition(pydocs):
    source, _ = pydocs
    vocab_size = len(source.info.vocab)
    rare = rare_words(source.pool, source.reference(), vocab_size)
    pool_counts = np.bincount(source.pool.ids, minlength=vocab_size)[rare.words]
    assert len(rare.words) > 100 and pool_counts.min() >= 1 and pool_counts.max() <= RARE_MAX_POOL_COUNT
    assert np.isin(rare.words, source.reference().ids).all()
    assert np.isin(rare.occurrences.ids, rare.words).all() and len(rare.occurrences) == np.isin(source.reference().ids, rare.words).sum()


def test_tail_coverage_is_one_on_the_reference_and_falls_without_rare_words(pydocs):
    source, model = pydocs
    vocab, reference = source.info.vocab, source.reference()
    probe = TextTail()
    full = probe(context(vocab, samples=reference, reference=reference, model=model, train=source.pool, source=source))
    assert full["tail_coverage"][0] == 1.0 and full["tail_train_coverage"][0] == 1.0
    rare = probe.rare_words(context(vocab, reference=reference, source=source))
    dropped = rare.words[::3]
    thinned = tokens_without(reference, dropped)
    without = probe(context(vocab, samples=thinned, reference=reference, model=model, train=tokens_without(source.pool, rare.words), source=source))
    assert without["tail_coverage"][0] == pytest.approx(1 - len(dropped) / len(rare.words))
    assert without["tail_train_coverage"][0] == 0.0


def test_tail_mass_falls_when_the_model_never_saw_the_rare_words(pydocs):
    source, model = pydocs
    vocab, reference = source.info.vocab, source.reference()
    rare = rare_words(source.pool, reference, len(vocab))
    has_rare = np.bincount(source.pool.sentence_index(), weights=np.isin(source.pool.ids, rare.words), minlength=len(source.pool)) > 0
    blind = FAMILIES.get("ngram")(source.info, {"order": 3}).fit(source.pool.take(np.flatnonzero(~has_rare)), np.random.default_rng(0))
    knows, forgot = (np.exp(-m.continuation_nll(rare.prefixes, rare.occurrences)) for m in (model, blind))
    difference = knows - forgot  # paired over the same occurrences
    assert difference.mean() > 4 * difference.std(ddof=1) / math.sqrt(len(difference))
    probe = TextTail()
    masses = [probe(context(vocab, samples=reference, reference=reference, model=m, train=source.pool, source=source))["tail_mass"][0] for m in (model, blind)]
    assert masses == pytest.approx([knows.mean(), forgot.mean()])


# ------------------------------------------------------------------ in the loop


def test_text_probes_run_in_the_loop():
    from conftest import default_metrics, run_lineage

    results = run_lineage(
        family={"name": "ngram", "order": 3}, data={"source": "corpus", "corpus": "pydocs", "max_sentences": 3000},
        policy={"samples": 1000, "synthetic_fraction": 1.0}, generations=2, holdout=300, probe_samples=300,
    )
    declared = default_metrics("text", without=("facts",))
    for result in results:
        assert set(result.metrics) == set(declared)  # pydocs has no fact base: no fact metrics
        for name, values in result.metrics.items():
            assert values.shape == (1,)
            finite = values[np.isfinite(values)]
            assert np.all((finite >= declared[name].low) & (finite <= declared[name].high)), (name, values)
    assert np.isfinite(results[-1].metrics["heldout_ppl"]).all() and np.isfinite(results[-1].metrics["self_bleu"]).all()
