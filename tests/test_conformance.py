"""One conformance suite over every registered family and probe (as scikit-learn's estimator checks)."""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cliffwatch.core.modality import DataInfo, Sentences

from cliffwatch.data.text import Vocab, split_sentences, tokenize
from cliffwatch.families.base import Family, Model
from cliffwatch.probes.base import Probe
from cliffwatch.core.registry import FAMILIES, FILTERS, PROBES


def _text_data():
    import json, csv, argparse  # noqa: E401 - real docstrings as a small real corpus

    text = " ".join(m.__doc__ for m in (json, csv, argparse))
    tokens = [tokenize(s) for s in split_sentences(text)]
    tokens = [t for t in tokens if 3 <= len(t) <= 40]
    vocab = Vocab.build(tokens)
    return DataInfo("text", vocab=vocab), Sentences.from_lists([vocab.encode(t) for t in tokens])


def family_data(family_cls) -> tuple[DataInfo, object, object]:
    """(info, training data, held-out data) for the family's modality."""
    rng = np.random.default_rng(0)
    if family_cls.modality.name == 'vector':
        data = rng.normal(size=(3, 60, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]])
        return DataInfo("vector", dim=2), data, rng.normal(size=(25, 2))
    if family_cls.modality.name == 'tokens':
        return DataInfo("tokens", support=12), rng.integers(0, 12, size=(3, 80)), rng.integers(0, 12, size=30)
    if family_cls.modality.name == 'image':  # real digits: three chains of 60, and 25 held out
        from cliffwatch.data.images import real_digits

        images = real_digits()[0]
        return DataInfo("image", dim=64, shape=(8, 8)), images[:180].reshape(3, 60, 8, 8), images[180:205]
    info, sentences = _text_data()
    return info, sentences.take(np.arange(len(sentences) - 20)), sentences.take(np.arange(len(sentences) - 20, len(sentences)))


FAMILY_NAMES = FAMILIES.available()  # a component whose extra is missing cannot run here


@functools.lru_cache(maxsize=None)
def family_knobs(name: str) -> dict | None:
    """Tiny knobs for the neural families (their defaults are GPU-sized); None: the family's defaults."""
    if name == "gpt":
        return {"width": 64, "steps": 20, "vocab_size": 400}
    if name == "hf":
        from neural_helpers import text_info, tiny_gpt2_checkpoint

        folder = Path(tempfile.mkdtemp(prefix="cliffwatch-tiny-hf-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        info, sentences = text_info()
        return {"model": str(tiny_gpt2_checkpoint(folder, info, sentences)), "steps": 5, "context": 64, "max_new_tokens": 16}
    return None


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_fit_sample_nll_shapes(name):
    family_cls = FAMILIES.get(name)
    assert issubclass(family_cls, Family) and family_cls.modality.name in ("vector", "tokens", "text", "image")
    info, train, heldout = family_data(family_cls)
    model = family_cls(info, family_knobs(name)).fit(train, np.random.default_rng(1))
    assert isinstance(model, Model)
    samples = model.sample(7, np.random.default_rng(2))
    nll = model.nll(heldout)
    if family_cls.modality.name == 'text':
        assert len(samples) == 7 and samples.ids.max() < len(info.vocab)
        assert nll.shape == (len(heldout),)
    else:
        assert samples.shape[:2] == (3, 7)
        assert nll.shape == (3, len(heldout))  # a shared reference is scored by every chain
    assert np.isfinite(nll).all() or family_cls.modality.name == 'tokens'  # an MLE categorical may give 0 mass


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_is_deterministic(name):
    family_cls = FAMILIES.get(name)
    info, train, _ = family_data(family_cls)
    draws = [family_cls(info, family_knobs(name)).fit(train, np.random.default_rng(5)).sample(9, np.random.default_rng(6)) for _ in range(2)]
    if isinstance(draws[0], Sentences):
        assert np.array_equal(draws[0].ids, draws[1].ids) and np.array_equal(draws[0].offsets, draws[1].offsets)
    else:
        assert np.array_equal(draws[0], draws[1])


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_save_load_round_trip(name, tmp_path):
    family_cls = FAMILIES.get(name)
    info, train, heldout = family_data(family_cls)
    family = family_cls(info, family_knobs(name))
    model = family.fit(train, np.random.default_rng(1))
    model.save(tmp_path / "m.npz")
    loaded = family.load(tmp_path / "m.npz")
    assert np.array_equal(model.nll(heldout), loaded.nll(heldout))
    a, b = (m.sample(5, np.random.default_rng(3)) for m in (model, loaded))
    assert np.array_equal(a.ids, b.ids) if isinstance(a, Sentences) else np.array_equal(a, b)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_params_are_strict(name):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        FAMILIES.get(name).Params(no_such_knob=1)


@pytest.mark.parametrize("name", PROBES.available())
def test_probe_declares_metrics(name):
    probe = PROBES.get(name)
    assert issubclass(probe, Probe) and probe.modality.name in ("vector", "tokens", "text", "image")
    assert probe.metrics and len({m.name for m in probe.metrics}) == len(probe.metrics)
    for m in probe.metrics:
        assert m.higher_is_better in (True, False, None) and m.description and m.low <= m.high


PROBE_RUNS = {
    "vector": dict(family={"name": "gaussian"}, data={"source": "gaussian", "dim": 2}, chains=3),
    "tokens": dict(family={"name": "categorical"}, data={"source": "zipf", "support": 30}, chains=3),
    "text": dict(family={"name": "ngram"}, data={"source": "corpus", "corpus": "pydocs+facts", "max_sentences": 3000}, chains=1),
    "image": dict(family={"name": "image_gmm"}, data={"source": "digits-images"}, chains=3),
}


@pytest.mark.parametrize("modality", sorted(PROBE_RUNS))
def test_every_probe_reports_in_range_per_chain(modality):
    from conftest import default_metrics, run_lineage

    chains = PROBE_RUNS[modality]["chains"]
    results = run_lineage(**PROBE_RUNS[modality], policy={"samples": 500}, generations=2, holdout=200, probe_samples=300)
    declared = default_metrics(modality)
    for result in results:
        assert set(result.metrics) == set(declared)
        for name, values in result.metrics.items():
            assert values.shape == (chains,)
            finite = values[np.isfinite(values)]
            assert np.all((finite >= declared[name].low) & (finite <= declared[name].high)), (name, values)


# -- filters -----------------------------------------------------------------------------------

CRITICS = {"vector": {"name": "kde"}, "tokens": {"name": "categorical", "smoothing": 1.0}, "text": {"name": "ngram", "order": 2},
           "image": {"name": "image_gmm", "pca": 8}}
FAMILY_OF = {"vector": "gaussian", "tokens": "categorical", "text": "ngram", "image": "image_gmm"}


def filter_cases():
    for name, filter_cls in FILTERS.items():
        for modality in filter_cls.modalities:
            yield pytest.param(name, modality.name, id=f"{name}-{modality}")


def _filter_setup(name: str, modality: str):
    from cliffwatch.data.sources.corpus import TextSource
    from cliffwatch.data.sources.corpus import CorpusData
    from cliffwatch.filters.base import FilterContext

    family_cls = FAMILIES.get(FAMILY_OF[modality])
    if modality == "text":
        source = TextSource(CorpusData(source="corpus", corpus="pydocs+facts", max_sentences=3000), 200, np.random.default_rng(0))
        info, train = source.info, source.pool.take(np.arange(1500))
    elif modality == "image":  # real labelled digits: the self-correction filter needs their labels
        from cliffwatch.data.sources.digits_images import DigitsImagesData, DigitsImagesSource

        source = DigitsImagesSource(DigitsImagesData(source="digits-images"), 300, np.random.default_rng(0))
        info, train = source.info, source.draw(60, np.random.default_rng(4), 3)
    else:
        info, train, _ = family_data(family_cls)
        source = None
    family = family_cls(info)
    model = family.fit(train, np.random.default_rng(1))
    samples = model.sample(60, np.random.default_rng(2))
    params = {"family": CRITICS[modality]} if name == "critic" else {}
    filt = FILTERS.get(name)(params)
    ctx = lambda: FilterContext(1, model, family, train, train, info, source, np.random.default_rng(3))  # noqa: E731
    return filt, samples, ctx


@pytest.mark.parametrize("name, modality", list(filter_cases()))
def test_filter_returns_a_deterministic_boolean_mask(name, modality):
    filt, samples, ctx = _filter_setup(name, modality)
    mask = np.asarray(filt.accept(samples, ctx()))
    expected = (len(samples),) if isinstance(samples, Sentences) else samples.shape[:2]
    assert mask.dtype == bool and mask.shape == expected
    assert mask.any()  # default settings keep real samples
    again, _, ctx2 = _filter_setup(name, modality)
    assert np.array_equal(mask, np.asarray(again.accept(samples, ctx2())))


@pytest.mark.parametrize("name, modality", list(filter_cases()))
def test_filter_transform_keeps_shape_and_is_deterministic(name, modality):
    filt, samples, ctx = _filter_setup(name, modality)
    out = filt.transform(samples, ctx())
    again, _, ctx2 = _filter_setup(name, modality)
    if isinstance(samples, Sentences):
        assert len(out) == len(samples) and np.array_equal(out.ids, again.transform(samples, ctx2()).ids)
    else:
        assert out.shape == samples.shape and np.array_equal(out, again.transform(samples, ctx2()))


@pytest.mark.parametrize("name", FILTERS.available())
def test_filter_params_are_strict(name):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        FILTERS.get(name).Params(no_such_knob=1)
