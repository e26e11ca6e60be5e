"""Synthetic-data filters on real data: masks, what each accepts, and the filters in the loop."""

from __future__ import annotations


import numpy as np
import pytest
import yaml
from conftest import experiment, invoke, metric, run_lineage
from pydantic import ValidationError

from cliffwatch.data.sources.corpus import CorpusData
from cliffwatch.data.facts import TEMPLATES
from cliffwatch.data.sources.corpus import TextSource
from cliffwatch.config.load import parse
from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.core.errors import ConfigError
from cliffwatch.core.modality import Sentences
from cliffwatch.data.text import tokenize
from cliffwatch.core.errors import ConfigError, LineageError
from cliffwatch.families.base import DataInfo
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage
from cliffwatch.filters.base import FilterContext
from cliffwatch.filters.verifier import FactChecker
from cliffwatch.core.registry import FAMILIES, FILTERS

PROSE = 1500  # sentences of each part of pydocs+facts


@pytest.fixture(scope="module")
def text():
    """A pydocs+facts source, an n-gram generator fitted on part of its pool, and its samples."""
    source = TextSource(CorpusData(source="corpus", corpus="pydocs+facts", max_sentences=PROSE), 300, np.random.default_rng(0))
    family = FAMILIES.get("ngram")(source.info, {"order": 3})
    train = source.pool.take(np.arange(2000))
    generator = family.fit(train, np.random.default_rng(0))
    return source, family, train, generator, generator.sample(2000, np.random.default_rng(1))


def context(family, generator, train, source=None, seed: int = 0) -> FilterContext:
    return FilterContext(1, generator, family, train, train, family.info, source, np.random.default_rng(seed))


def encode(source, sentences: list[str]) -> Sentences:
    return Sentences.from_lists([source.info.vocab.encode(tokenize(s)) for s in sentences])


def arrays(modality: str):
    """(family, generator, train, samples) for a vector or tokens lineage of 3 chains."""
    rng = np.random.default_rng(0)
    if modality == "vector":
        family = FAMILIES.get("gaussian")(DataInfo("vector", dim=2))
        train = rng.standard_normal((3, 200, 2))
    else:
        family = FAMILIES.get("categorical")(DataInfo("tokens", support=30))
        train = np.minimum(rng.geometric(0.2, (3, 200)) - 1, 29)
    generator = family.fit(train, rng)
    return family, generator, train, generator.sample(300, rng)


CASES = {
    "text": {"verifier": {}, "self_score": {}, "critic": {"family": {"name": "ngram", "order": 2}}, "dedup": {"against_train": True},
             "perplexity": {}},
    "vector": {"self_score": {}, "critic": {"family": {"name": "kde"}}, "dedup": {"against_train": True}, "perplexity": {}},
    "tokens": {"self_score": {}, "critic": {"family": {"name": "categorical", "smoothing": 1.0}}, "perplexity": {}},
}


def test_each_filter_is_covered_on_each_modality_it_declares():
    declared = {(name, m.name) for name in CASES["text"] for m in FILTERS.get(name).modalities}
    assert declared == {(name, m) for m, filters in CASES.items() for name in filters}


@pytest.mark.parametrize("modality, name", [(m, n) for m, filters in CASES.items() for n in filters])
def test_mask_shape_dtype_and_determinism(text, modality, name):
    params = CASES[modality][name]
    if modality == "text":
        source, family, train, generator, samples = text
        shape = (len(samples),)
    else:
        source = None
        family, generator, train, samples = arrays(modality)
        shape = samples.shape[:2]
    first = FILTERS.get(name)(params).accept(samples, context(family, generator, train, source))
    again = FILTERS.get(name)(params).accept(samples, context(family, generator, train, source))
    assert first.dtype == bool and first.shape == shape
    assert np.array_equal(first, again)
    assert 0 < first.sum() <= first.size


# --- verifier ----------------------------------------------------------------------------------


def fact_sentences(source, wrong: bool = False) -> Sentences:
    """Every template of every relation filled with facts of the fact base (wrong: the answer of
    another fact of the same relation that is not a true answer for the subject)."""
    facts = source.facts
    texts = []
    for relation, templates in TEMPLATES.items():
        index = np.flatnonzero(facts.relation == relation)
        true = {(facts.subject[i], facts.answer[i]) for i in index}
        answers = [facts.answer[i] for i in index[:40]]
        for k, i in enumerate(index[:40]):
            answer = facts.answer[i]
            if wrong:
                answer = next(a for a in answers[k + 1:] + answers[:k] if (facts.subject[i], a) not in true)
            texts.extend(t.format(s=facts.subject[i], a=answer) for t in templates)
    return encode(source, texts)


def test_verifier_accepts_true_facts_and_prose_and_rejects_false_facts(text):
    source, family, train, generator, _ = text
    verifier = FILTERS.get("verifier")()
    ctx = context(family, generator, train, source)
    assert verifier.accept(fact_sentences(source), ctx).all()
    assert not verifier.accept(fact_sentences(source, wrong=True), ctx).any()
    prose = source.corpus.sentences.take(np.arange(PROSE))  # the pydocs part comes first
    assert verifier.accept(prose, ctx).all()
    # a known name in a template is a claim, whatever the other slot holds; unknown names are not
    mixed = encode(source, ["france is a city in europe .", "the capital of france is the list .",
                            "the difference lies in how it is called .", "the capital of france is ."])
    assert verifier.accept(mixed, ctx).tolist() == [False, False, True, True]


def test_every_sentence_of_the_facts_corpus_states_a_true_fact():
    """On the whole corpus: a cut one (max_sentences) keeps only the facts whose probe sentence made
    the cut in its fact base, so its other sentences may state facts the fact base lacks."""
    source = TextSource(CorpusData(source="corpus", corpus="facts"), 100, np.random.default_rng(0))
    claims = FactChecker(source.facts, source.info.vocab)(source.corpus.sentences)
    assert claims.stated.all() and not claims.false.any()


def test_verifier_needs_a_fact_base(text):
    pydocs = TextSource(CorpusData(source="corpus", corpus="pydocs", max_sentences=500), 100, np.random.default_rng(0))
    verifier = FILTERS.get("verifier")
    assert verifier.check(pydocs) == "a verifier needs ground truth: this corpus has no fact base"
    assert verifier.check(text[0]) is None
    with pytest.raises(ConfigError, match="verifier cannot run here: a verifier needs ground truth"):
        run_lineage(family={"name": "ngram"}, data={"source": "corpus", "corpus": "pydocs", "max_sentences": 500},
                    policy={"filters": [{"name": "verifier"}]}, generations=1, holdout=100)


# --- score filters -------------------------------------------------------------------------------


def per_token_nll(model, sentences: Sentences) -> np.ndarray:
    return model.nll(sentences) / (sentences.lengths + 1)


def test_self_score_keeps_the_generators_most_likely_samples(text):
    source, family, train, generator, samples = text
    ctx = context(family, generator, train, source)
    score = per_token_nll(generator, samples)
    kept = FILTERS.get("self_score")().accept(samples, ctx)
    assert kept.sum() == np.ceil(0.9 * len(samples)) and score[kept].max() <= score[~kept].min()
    fixed = FILTERS.get("self_score")({"threshold": 4.0}).accept(samples, ctx)
    assert np.array_equal(fixed, score <= 4.0)
    with pytest.raises(ValidationError, match="either quantile or threshold"):
        FILTERS.get("self_score")({"quantile": 0.5, "threshold": 4.0})


def test_self_score_cuts_each_chain_at_its_own_quantile():
    family, generator, train, samples = arrays("vector")
    kept = FILTERS.get("self_score")({"quantile": 0.5}).accept(samples, context(family, generator, train))
    nll = generator.nll(samples)
    assert (kept.sum(axis=1) == 150).all()
    assert all(nll[c, kept[c]].max() <= nll[c, ~kept[c]].min() for c in range(3))


def shuffled(sentences: Sentences, rng) -> Sentences:
    return Sentences.from_lists([rng.permutation(sentences.sentence(i)) for i in range(len(sentences))])


@pytest.mark.parametrize("name, params", [("critic", {"family": {"name": "ngram", "order": 2}}), ("perplexity", {})])
def test_reference_models_reject_word_salad(text, name, params):
    source, family, train, generator, _ = text
    real = source.reference().take(np.flatnonzero(source.reference().lengths >= 5)[:200])
    salad = shuffled(real, np.random.default_rng(0))
    kept = FILTERS.get(name)(params).accept(Sentences.concat([real, salad]), context(family, generator, train, source))
    real_rejected, salad_rejected = 1 - kept[: len(real)].mean(), 1 - kept[len(real):].mean()
    assert salad_rejected > 0.15 and salad_rejected > 4 * real_rejected


def test_critic_must_be_another_model_of_the_same_data(text):
    source, family, train, generator, samples = text
    ctx = context(family, generator, train, source)
    with pytest.raises(ConfigError, match="is the generator itself"):
        FILTERS.get("critic")({"family": {"name": "ngram", "order": 3}}).accept(samples, ctx)
    with pytest.raises(ConfigError, match="models vector data, not text"):
        FILTERS.get("critic")({"family": {"name": "kde"}}).accept(samples, ctx)
    with pytest.raises(ValidationError, match="unknown family"):
        FILTERS.get("critic")({"family": {"name": "nope"}})


def test_critic_fits_once_per_generation_and_perplexity_once_per_lineage(text, monkeypatch):
    source, family, train, generator, samples = text
    fitted = []  # the order of each n-gram model fitted
    fit = type(family).fit
    monkeypatch.setattr(type(family), "fit", lambda self, *args, **kw: fitted.append(self.params.order) or fit(self, *args, **kw))
    critic, perplexity = FILTERS.get("critic")({"family": {"name": "ngram", "order": 2}}), FILTERS.get("perplexity")()
    for generation, generation_train in ((1, train), (1, train), (2, samples)):
        ctx = FilterContext(generation, generator, family, generation_train, train, family.info, source, np.random.default_rng(0))
        critic.accept(samples, ctx)
        perplexity.accept(samples, ctx)
    assert fitted == [2, 3, 2]  # critic and reference at generation 1, a new critic at generation 2


# --- dedup ---------------------------------------------------------------------------------------

LONG = "the object returned by this function is a new reference to the underlying buffer , which is shared with the original"


def test_dedup_drops_exact_and_near_copies_and_keeps_distinct_sentences(text):
    source, family, train, generator, _ = text
    batch = [LONG, "karachi is a city in pakistan .", "lahore is a city in pakistan .", LONG,
             LONG.replace("new", "fresh"), "karachi is a city in pakistan .", "the capital of france is paris ."]
    kept = FILTERS.get("dedup")().accept(encode(source, batch), context(family, generator, train, source))
    assert kept.tolist() == [True, True, True, False, False, False, True]


def test_dedup_against_the_training_set(text):
    source, family, train, generator, _ = text
    batch = Sentences.concat([train.take(np.arange(5)), encode(source, [LONG])])
    ctx = context(family, generator, train, source)
    assert FILTERS.get("dedup")().accept(batch, ctx).all()
    assert FILTERS.get("dedup")({"against_train": True}).accept(batch, ctx).tolist() == [False] * 5 + [True]


def test_dedup_vectors_per_chain():
    family, generator, train, _ = arrays("vector")
    samples = np.random.default_rng(1).standard_normal((3, 6, 2))
    samples[0, 4] = samples[0, 1]  # a repeat within chain 0 only
    samples[1, 2] = samples[0, 0]  # equal to a row of another chain: not a duplicate
    samples[2, 5] = train[2, 7]  # a copy of a training row
    ctx = context(family, generator, train)
    kept = FILTERS.get("dedup")().accept(samples, ctx)
    assert sorted(zip(*np.nonzero(~kept))) == [(0, 4)]
    kept = FILTERS.get("dedup")({"against_train": True}).accept(samples, ctx)
    assert sorted(zip(*np.nonzero(~kept))) == [(0, 4), (2, 5)]


def test_dedup_does_not_apply_to_tokens():
    raw = {"family": {"name": "categorical"}, "data": {"source": "zipf"}, "policy": {"filters": [{"name": "dedup"}]}}
    with pytest.raises(ConfigError, match="filter 'dedup' does not apply to tokens data"):
        parse(ExperimentConfig, raw)


# --- in the loop ---------------------------------------------------------------------------------

LOOP = {"family": {"name": "ngram"}, "data": {"source": "corpus", "corpus": "pydocs+facts", "max_sentences": 800},
        "generations": 2, "holdout": 200, "probes": []}


def test_filters_in_the_loop_record_acceptance_and_fill_or_shrink_the_synthetic_share():
    s, samples = 0.8, 400
    filters = [{"name": "verifier", "mode": "resample"}, {"name": "self_score", "mode": "resample"},
               {"name": "dedup"}, {"name": "critic", "family": {"name": "ngram", "order": 2}}]
    results = run_lineage(**LOOP, policy={"synthetic_fraction": s, "samples": samples, "filters": filters})[1:]
    for f in filters:
        acceptance = metric(results, f"acceptance:{f['name']}")
        assert ((0 < acceptance) & (acceptance <= 1)).all()
    assert (metric(results, "acceptance:self_score") < 1).all()
    kept, drawn = metric(results, "synthetic_kept"), metric(results, "synthetic_drawn")
    assert (kept < round(s * samples)).all() and (drawn > round(s * samples)).all()  # discard filters shrink it
    resampled = run_lineage(**LOOP, policy={"synthetic_fraction": s, "samples": samples, "filters": filters[:2]})[1:]
    assert (metric(resampled, "synthetic_kept") == round(s * samples)).all()


@pytest.mark.parametrize("mode", ["discard", "resample"])
def test_a_filter_that_rejects_everything_stops_the_lineage(mode):
    with pytest.raises(LineageError, match="filter 'self_score' rejected all 400 synthetic samples at generation 1"):
        run_lineage(**LOOP, policy={"samples": 400, "filters": [{"name": "self_score", "mode": mode, "threshold": 0}]})


def test_a_resample_round_emptied_by_one_filter_skips_the_next_one(monkeypatch):
    """The issue's "verifier with resample, then perplexity" IndexError: a resample round draws only
    the few replacements; when the verifier rejects all of them, the perplexity filter used to get an
    empty batch, which has no quantile. Seed 0 of this lineage hits that at generation 1."""
    from cliffwatch.filters.perplexity import Perplexity
    from cliffwatch.filters.verifier import Verifier

    seen = {"verifier": [], "perplexity": []}  # per call: (batch size, accepted)

    def spy(cls, name):
        accept = cls.accept

        def record(self, samples, ctx):
            mask = accept(self, samples, ctx)
            seen[name].append((len(samples), int(mask.sum())))
            return mask

        monkeypatch.setattr(cls, "accept", record)

    spy(Verifier, "verifier")
    spy(Perplexity, "perplexity")
    results = run_lineage(0, family={"name": "ngram", "order": 3}, data={"source": "corpus", "corpus": "facts"},
                          generations=1, holdout=200, probes=[],
                          policy={"samples": 200, "filters": [{"name": "verifier", "mode": "resample"}, {"name": "perplexity"}]})
    assert (0, 0) not in seen["perplexity"] and len(results) == 2
    emptied = [size for size, accepted in seen["verifier"][1:] if accepted == 0]
    assert emptied  # a resample round whose every replacement stated a false fact
    # the perplexity filter saw exactly what the verifier passed, round by round, and nothing else
    assert [size for size, _ in seen["perplexity"]] == [accepted for _, accepted in seen["verifier"] if accepted]
    assert metric(results[1:], "synthetic_kept")[0, 0] == sum(accepted for _, accepted in seen["perplexity"])


def test_cli_refuses_a_verifier_without_ground_truth(tmp_path, monkeypatch, capsys):
    config = {"name": "no-truth", **LOOP, "data": {"source": "corpus", "corpus": "pydocs", "max_sentences": 500},
              "policy": {"filters": [{"name": "verifier"}]}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "run", "-q")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "verifier cannot run here: a verifier needs ground truth" in err
    assert not (tmp_path / "run").exists()  # checked before the run directory is made


def test_the_verifier_keeps_false_facts_out_of_what_the_next_generation_learns():
    """Fully synthetic loop on the facts corpus: a generation trained on verified samples states far
    fewer false facts than one trained on the samples its generator liked best."""
    false_rates = {}
    for name in ("verifier", "self_score"):
        rates = []
        for seed in range(3):
            runner = LineageRunner(Lineage(experiment(
                family={"name": "ngram", "order": 6}, data={"source": "corpus", "corpus": "facts"}, holdout=500,
                policy={"samples": 2000, "filters": [{"name": name, "mode": "resample"}]}, generations=1, probes=[]), seed))
            model = list(runner.generations())[-1].model
            checker = FactChecker(runner.source.facts, runner.source.info.vocab)
            rates.append(checker(model.sample(2000, np.random.default_rng(0))).false.mean())
        false_rates[name] = np.array(rates)
    difference = false_rates["self_score"] - false_rates["verifier"]
    assert difference.mean() > 0.2 and difference.mean() > 5 * difference.std(ddof=1) / np.sqrt(len(difference))


def test_a_resumed_lineage_filters_exactly_as_a_straight_one(tmp_path):
    """The critic and the human model are refitted after a resume, from the same random streams."""
    from cliffwatch.execution.store import RunStore

    cfg = experiment(family={"name": "gmm", "components": 2}, data={"source": "gaussian", "dim": 2}, chains=2, generations=4,
                     probes=["moments"], policy={"samples": 200, "filters": [
                         {"name": "perplexity", "mode": "resample"}, {"name": "critic", "family": {"name": "kde"}}, {"name": "dedup"}]})
    lineage = Lineage(cfg, 0)
    straight = list(LineageRunner(lineage).generations())
    store = RunStore.create(tmp_path / "run", cfg.model_dump(mode="json"), "run", []).lineage(lineage.id)
    store.path.mkdir()
    interrupted = LineageRunner(lineage).generations()
    for output in interrupted:  # stored as the worker stores them, until a crash after generation 2
        store.write_generation(output.generation, output.table(), output.state)
        if output.generation == 2:
            break
    done = store.checkpoint_generation()
    resumed = list(LineageRunner(lineage).generations((done, store.load_checkpoint())))
    assert [r.generation for r in resumed] == [3, 4]
    for a, b in zip(straight[3:], resumed):
        assert a.metrics.keys() == b.metrics.keys()
        assert all(np.array_equal(a.metrics[k], b.metrics[k]) for k in a.metrics)
