"""Conformance checks for cliffwatch components, shipped for their authors (in the manner of
scikit-learn's ``check_estimator``).

Each ``check_*`` runs every check of one kind on a component class and raises ``AssertionError``
naming the check that failed::

    from cliffwatch.testing import check_family
    check_family(MyFamily, {"factors": 2})   # knobs for the family (None: its defaults)

In a pytest suite, ``parametrize_with_checks`` makes one test per component and check::

    from cliffwatch.testing import parametrize_with_checks

    @parametrize_with_checks([MyFamily, (MyProbe, None), (MyFilter, {"quantile": 0.8})])
    def test_conformance(component, check):
        check(component)

The checks build small, real data for the component's modality (vector, tokens, text, image),
fit, sample, probe and filter it, and need no network. cliffwatch's own test suite runs them over
every registered component whose extra is installed (``registered_components``).
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from pydantic import ValidationError

from cliffwatch.core.modality import IMAGE, MODALITIES, TEXT, TOKENS, VECTOR, DataInfo, Modality, Sentences
from cliffwatch.core.registry import FAMILIES, FILTERS, PROBES, SOURCES
from cliffwatch.data.sources.base import HumanSource
from cliffwatch.families.base import Family, Model
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.probes.base import Probe

Knobs = dict | None  # a component's knobs (None: its defaults)
Check = Callable[[type], None]

# knobs the checks use for cliffwatch's own components where the defaults do not fit a quick check
# (GPU-sized networks, a required list, a critic of each modality); any other component runs on
# its defaults unless its author passes knobs
OWN_PARAMS: dict[tuple[str, str], Any] = {
    ("family", "gpt"): {"width": 64, "steps": 5, "vocab_size": 400},
    ("filter", "critic"): lambda modality: {"family": _CRITICS[modality.name]},
    ("source", "categorical"): {"probs": [0.5, 0.3, 0.2]},
    ("source", "corpus"): {"corpus": "pydocs+facts", "max_sentences": 3000},
    ("source", "tasks"): {"items": 60, "text": "pydocs", "text_sentences": 1500},
}
_CRITICS = {"vector": {"name": "kde"}, "tokens": {"name": "categorical", "smoothing": 1.0},
            "text": {"name": "ngram", "order": 2}, "image": {"name": "image_gmm", "pca": 8}}
# the human data, the family and the chains a probe or filter of each modality is checked on
_SETUPS = {
    "vector": dict(family={"name": "gaussian"}, data={"source": "gaussian", "dim": 2}, chains=3),
    "tokens": dict(family={"name": "categorical"}, data={"source": "zipf", "support": 30}, chains=3),
    "text": dict(family={"name": "ngram"}, data={"source": "corpus", "corpus": "pydocs+facts", "max_sentences": 3000},
                 chains=1),
    "image": dict(family={"name": "image_gmm"}, data={"source": "digits-images"}, chains=3),
    # text components that need task items (task probes, task filters): items mixed with running text
    "tasks": dict(family={"name": "ngram"}, data={"source": "tasks", "items": 60, "text": "pydocs",
                                                  "text_sentences": 1500}, chains=1),
}


@functools.lru_cache(maxsize=None)
def _setup_source(setup: str) -> HumanSource:
    """The human source of a text setup, built once per process."""
    data = dict(_SETUPS[setup]["data"])
    source = SOURCES.get(data["source"])
    return source(source.Spec(**data), 200, np.random.default_rng(0))


def _probe_setup(probe: type) -> str:
    """The setup a probe is checked on: its modality's, or task data for a text probe that cannot
    run on running text (the task probes)."""
    if probe.modality is not TEXT:
        return probe.modality.name
    return "text" if probe.applies_to(_setup_source("text")) else "tasks"


# -- data ------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _text_data() -> tuple[DataInfo, Sentences]:
    """A small real corpus: the docstrings of three standard-library modules."""
    import argparse
    import csv
    import json

    from cliffwatch.data.text import Vocab, split_sentences, tokenize

    text = " ".join(m.__doc__ for m in (json, csv, argparse))
    tokens = [t for t in (tokenize(s) for s in split_sentences(text)) if 3 <= len(t) <= 40]
    vocab = Vocab.build(tokens)
    return DataInfo(TEXT, vocab=vocab), Sentences.from_lists([vocab.encode(t) for t in tokens])


def family_data(modality: Modality | str) -> tuple[DataInfo, Any, Any]:
    """(info, training data of three chains (text: one), held-out data) for a modality."""
    modality = MODALITIES[modality] if isinstance(modality, str) else modality
    rng = np.random.default_rng(0)
    if modality is VECTOR:
        data = rng.normal(size=(3, 60, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]])
        return DataInfo(VECTOR, dim=2), data, rng.normal(size=(25, 2))
    if modality is TOKENS:
        return DataInfo(TOKENS, support=12), rng.integers(0, 12, size=(3, 80)), rng.integers(0, 12, size=30)
    if modality is IMAGE:  # real digits: three chains of 60, and 25 held out
        from cliffwatch.data.images import real_digits

        images = real_digits()[0]
        return DataInfo(IMAGE, dim=64, shape=(8, 8)), images[:180].reshape(3, 60, 8, 8), images[180:205]
    info, sentences = _text_data()
    held = len(sentences) - 20
    return info, sentences.take(np.arange(held)), sentences.take(np.arange(held, len(sentences)))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Sentences):
        return np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)
    return np.array_equal(a, b, equal_nan=True)




def _strict(params_cls: type, what: str) -> None:
    try:
        params_cls(no_such_knob=1)
    except ValidationError:
        return
    raise AssertionError(f"{what}: an unknown knob must be a validation error (Params with extra='forbid')")


# -- families --------------------------------------------------------------------------------------

def check_family_interface(family: type, params: Knobs = None) -> None:
    """A Family subclass of a known modality, strict knobs, and ``fit(data, rng, init=None)``."""
    assert inspect.isclass(family) and issubclass(family, Family), f"{family!r} is not a Family subclass"
    assert family.modality in MODALITIES.values(), f"{family.__name__}.modality must be a cliffwatch modality"
    _strict(family.Params, family.__name__)
    signature = inspect.signature(family.fit)
    assert "init" in signature.parameters and signature.parameters["init"].default is None, (
        f"{family.__name__}.fit must take init=None (the previous generation's model; ignore it to fit from scratch)")


def check_family_fit_sample_nll(family: type, params: Knobs = None) -> None:
    """Fit (also from a previous model), sample and score with the shapes the loop relies on."""
    info, train, heldout = family_data(family.modality)
    fam = family(info, params)
    model = fam.fit(train, np.random.default_rng(1))
    assert isinstance(model, Model), f"{family.__name__}.fit must return a Model"
    again = fam.fit(train, np.random.default_rng(1), init=model)
    assert isinstance(again, Model), f"{family.__name__}.fit(..., init=model) must return a Model"
    samples = model.sample(7, np.random.default_rng(2))
    nll = model.nll(heldout)
    if family.modality is TEXT:
        assert isinstance(samples, Sentences) and len(samples) == 7, "a text model samples Sentences"
        assert not samples.n_tokens or samples.ids.max() < len(info.vocab), "sampled ids outside the vocabulary"
        assert nll.shape == (len(heldout),), f"text nll must have shape ({len(heldout)},), not {nll.shape}"
    else:
        assert samples.shape[:2] == (3, 7), f"sample(7) of 3 chains must have shape (3, 7, ...), not {samples.shape}"
        assert nll.shape == (3, len(heldout)), f"a shared reference is scored by every chain: {nll.shape}"
    # a categorical fitted by maximum likelihood may give an unseen state zero mass
    assert family.modality is TOKENS or np.isfinite(nll).all(), "held-out nll must be finite"


def check_family_is_deterministic(family: type, params: Knobs = None) -> None:
    """The same data and random streams give the same model and samples."""
    info, train, _ = family_data(family.modality)
    draws = [family(info, params).fit(train, np.random.default_rng(5)).sample(9, np.random.default_rng(6))
             for _ in range(2)]
    assert _same(*draws), f"{family.__name__}: fit and sample are not deterministic given their random streams"


def check_family_save_load(family: type, params: Knobs = None) -> None:
    """``Model.save`` then ``Family.load`` rebuild a model that scores and samples identically."""
    info, train, heldout = family_data(family.modality)
    fam = family(info, params)
    model = fam.fit(train, np.random.default_rng(1))
    with tempfile.TemporaryDirectory(prefix="cliffwatch-check-") as folder:
        model.save(Path(folder) / "model.npz")
        loaded = fam.load(Path(folder) / "model.npz")
    assert np.array_equal(model.nll(heldout), loaded.nll(heldout)), f"{family.__name__}: a reloaded model scores differently"
    a, b = (m.sample(5, np.random.default_rng(3)) for m in (model, loaded))
    assert _same(a, b), f"{family.__name__}: a reloaded model samples differently"


FAMILY_CHECKS = (check_family_interface, check_family_fit_sample_nll, check_family_is_deterministic,
                 check_family_save_load)


# -- probes ----------------------------------------------------------------------------------------

def check_probe_declares_metrics(probe: type, params: Knobs = None) -> None:
    """A Probe subclass of a known modality declaring uniquely named, described metrics."""
    assert inspect.isclass(probe) and issubclass(probe, Probe), f"{probe!r} is not a Probe subclass"
    assert probe.modality in MODALITIES.values(), f"{probe.__name__}.modality must be a cliffwatch modality"
    names = [m.name for m in probe.metrics]
    assert names and len(set(names)) == len(names), f"{probe.__name__} must declare uniquely named metrics"
    for m in probe.metrics:
        assert m.higher_is_better in (True, False, None) and m.description, f"metric {m.name}: direction and description"
        assert m.low <= m.high, f"metric {m.name}: low > high"


def _run_probe(probe: type) -> list[dict[str, np.ndarray]]:
    """The probe's metrics over generations 0 and 1 of a small lineage of its modality."""
    from cliffwatch.config.schema import ExperimentConfig
    from cliffwatch.loop.engine import LineageRunner
    from cliffwatch.loop.lineage import Lineage

    setup = _SETUPS[_probe_setup(probe)]
    config = ExperimentConfig.model_validate({**setup, "probes": [probe.name], "policy": {"samples": 500},
                                              "generations": 1, "holdout": 200, "probe_samples": 300})
    return [dict(out.metrics) for out in LineageRunner(Lineage(config, 0)).generations()]


def check_probe_reports_in_range(probe: type, params: Knobs = None) -> None:
    """In a lineage, every declared metric per chain, within its declared range, reproducibly.
    The probe must be registered under its name (the lineage's config names it)."""
    name = getattr(probe, "name", None)
    assert name and PROBES.get(name) is probe, f"{probe.__name__} is not registered under its name (@register_probe)"
    chains = _SETUPS[_probe_setup(probe)]["chains"]
    first, second = _run_probe(probe), _run_probe(probe)
    declared = {m.name: m for m in probe.metrics}
    for generation, (values, again) in enumerate(zip(first, second)):
        assert set(values) == set(declared), f"generation {generation}: reported {sorted(values)}, declared {sorted(declared)}"
        for name, v in values.items():
            assert v.shape == (chains,), f"{name}: shape {v.shape}, one value per chain is ({chains},)"
            finite = v[np.isfinite(v)]
            m = declared[name]
            assert np.all((finite >= m.low) & (finite <= m.high)), f"{name}: {v} outside [{m.low}, {m.high}]"
            assert np.array_equal(v, again[name], equal_nan=True), f"{name}: differs between two identical runs"


PROBE_CHECKS = (check_probe_declares_metrics, check_probe_reports_in_range)


# -- filters ---------------------------------------------------------------------------------------

def _filter_setup(filt: type, modality: Modality, params: Knobs):
    """(filter, samples, a fresh FilterContext maker) on real data of the modality."""
    family_cls = FAMILIES.get(_SETUPS[modality.name]["family"]["name"])
    if modality is TEXT:
        source = _setup_source("text" if filt.check(_setup_source("text")) is None else "tasks")
        info, train = source.info, source.pool.take(np.arange(1500))
    elif modality is IMAGE:  # real labelled digits: the self-correction filter needs their labels
        from cliffwatch.data.sources.digits_images import DigitsImagesData, DigitsImagesSource

        source = DigitsImagesSource(DigitsImagesData(source="digits-images"), 300, np.random.default_rng(0))
        info, train = source.info, source.draw(60, np.random.default_rng(4), 3)
    else:
        info, train, _ = family_data(modality)
        source = None
    family = family_cls(info)
    model = family.fit(train, np.random.default_rng(1))
    samples = model.sample(60, np.random.default_rng(2))

    def context() -> FilterContext:
        return FilterContext(1, model, family, train, train, info, source, np.random.default_rng(3))

    return filt(params), samples, context


def _filter_modalities(filt: type, params: Any) -> Iterator[tuple[Modality, Knobs]]:
    for modality in filt.modalities:
        yield modality, params(modality) if callable(params) else params


def check_filter_interface(filt: type, params: Any = None) -> None:
    """A Filter subclass with strict knobs that names the modalities it filters."""
    assert inspect.isclass(filt) and issubclass(filt, Filter), f"{filt!r} is not a Filter subclass"
    assert filt.modalities and all(m in MODALITIES.values() for m in filt.modalities), "modalities must be cliffwatch's"
    _strict(filt.Params, filt.__name__)


def check_filter_mask(filt: type, params: Any = None) -> None:
    """``accept`` returns a boolean mask of the samples' shape that keeps real samples, reproducibly."""
    for modality, knobs in _filter_modalities(filt, params):
        f, samples, context = _filter_setup(filt, modality, knobs)
        mask = np.asarray(f.accept(samples, context()))
        expected = (len(samples),) if isinstance(samples, Sentences) else samples.shape[:2]
        assert mask.dtype == bool and mask.shape == expected, f"{modality}: mask {mask.dtype} {mask.shape}, need bool {expected}"
        assert mask.any(), f"{modality}: default settings must keep some real samples"
        again, _, context2 = _filter_setup(filt, modality, knobs)
        assert np.array_equal(mask, np.asarray(again.accept(samples, context2()))), f"{modality}: mask not deterministic"


def check_filter_transform(filt: type, params: Any = None) -> None:
    """``transform`` keeps the batch's shape, reproducibly."""
    for modality, knobs in _filter_modalities(filt, params):
        f, samples, context = _filter_setup(filt, modality, knobs)
        out = f.transform(samples, context())
        again, _, context2 = _filter_setup(filt, modality, knobs)
        if isinstance(samples, Sentences):
            assert len(out) == len(samples), f"{modality}: transform changed the number of sentences"
        else:
            assert out.shape == samples.shape, f"{modality}: transform changed the shape {samples.shape} -> {out.shape}"
        assert _same(out, again.transform(samples, context2())), f"{modality}: transform not deterministic"


FILTER_CHECKS = (check_filter_interface, check_filter_mask, check_filter_transform)


# -- data sources ----------------------------------------------------------------------------------

def _source(source: type, params: Knobs, holdout: int = 100) -> HumanSource:
    spec = source.Spec(source=source.name, **(params or {}))
    return source(spec, holdout, np.random.default_rng(0))


def check_source_interface(source: type, params: Knobs = None) -> None:
    """A HumanSource subclass with a strict Spec of its own name, of a known modality."""
    assert inspect.isclass(source) and issubclass(source, HumanSource), f"{source!r} is not a HumanSource subclass"
    assert source.modality in MODALITIES.values(), f"{source.__name__}.modality must be a cliffwatch modality"
    _strict(lambda **kw: source.Spec(source=source.name, **(params or {}), **kw), source.__name__)
    assert source.check(source.Spec(source=source.name, **(params or {}))) is None, "the check knobs must be valid"


def check_source_draws(source: type, params: Knobs = None) -> None:
    """Info, reference and draws of the source's modality and shapes; the same stream draws the same."""
    src = _source(source, params)
    info = src.info
    assert info.modality is source.modality, f"info.modality {info.modality} != {source.modality}"
    reference = src.reference()
    assert len(reference) > 0, "the held-out reference is empty"
    draw = src.draw(40, np.random.default_rng(1), 3)
    if source.modality is TEXT:
        assert isinstance(draw, Sentences) and len(draw) == 40, "a text source draws n sentences (one chain)"
        assert not draw.n_tokens or draw.ids.max() < len(info.vocab), "drawn ids outside the vocabulary"
    else:
        assert draw.shape[:2] == (3, 40), f"draw(40, rng, 3) must have shape (3, 40, ...), not {draw.shape}"
        assert reference.shape[1:] == draw.shape[2:], f"reference items {reference.shape[1:]} != drawn {draw.shape[2:]}"
    if source.modality is VECTOR:
        assert draw.shape[2] == info.dim, f"vectors of dim {draw.shape[2]}, info.dim {info.dim}"
    if source.modality is TOKENS:
        assert draw.min() >= 0 and draw.max() < info.support, "tokens outside [0, support)"
    assert _same(draw, src.draw(40, np.random.default_rng(1), 3)), "the same random stream must draw the same data"
    assert _same(reference, _source(source, params).reference()), "the same seed must hold out the same reference"


def check_source_exact_law(source: type, params: Knobs = None) -> None:
    """What an analytic source says about its law agrees with its own draws."""
    src = _source(source, params)
    moments, probs = src.true_moments(), src.true_probs()
    if moments is not None:
        mean, cov = moments
        d = src.info.dim
        assert np.shape(mean) == (d,) and np.shape(cov) == (d, d), "true_moments: a (d,) mean and a (d, d) covariance"
        draw = src.draw(4000, np.random.default_rng(2), 1)[0]
        # the sample mean of 4000 draws lies within 5 standard errors of the true mean
        assert np.all(np.abs(draw.mean(axis=0) - mean) <= 5 * np.sqrt(np.diag(cov) / 4000)), "draws disagree with true_moments"
    if probs is not None:
        assert np.isclose(np.sum(probs), 1.0) and np.all(np.asarray(probs) >= 0), "true_probs must be a distribution"
        draw = src.draw(4000, np.random.default_rng(2), 1)[0]
        freq = np.bincount(draw, minlength=len(probs)) / 4000
        assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(np.asarray(probs) * (1 - np.asarray(probs)) / 4000) + 1e-12), (
            "draws disagree with true_probs")


SOURCE_CHECKS = (check_source_interface, check_source_draws, check_source_exact_law)


# -- running them ----------------------------------------------------------------------------------

def _kind(component: type) -> tuple[str, tuple[Callable, ...]]:
    for base, kind, checks in ((Family, "family", FAMILY_CHECKS), (Probe, "probe", PROBE_CHECKS),
                               (Filter, "filter", FILTER_CHECKS), (HumanSource, "source", SOURCE_CHECKS)):
        if inspect.isclass(component) and issubclass(component, base):
            return kind, checks
    raise TypeError(f"{component!r} is not a cliffwatch Family, Probe, Filter or HumanSource class")


def checks_of(component: type, params: Any = None) -> Iterator[Check]:
    """Every check of the component's kind, each a one-argument callable with ``params`` bound.
    ``params`` may be a function making the knobs when a check runs (a filter's: of the modality)."""
    kind, checks = _kind(component)
    for check in checks:
        def bound(component: type, check=check) -> None:
            check(component, params=params() if callable(params) and kind != "filter" else params)

        bound.__name__ = bound.__qualname__ = check.__name__
        bound.__doc__ = check.__doc__
        yield bound


def _run_all(component: type, params: Any) -> None:
    for check in checks_of(component, params):
        check(component)


def check_family(family: type, params: Knobs = None) -> None:
    """Every family check (interface, fit/sample/nll shapes, determinism, save/load) on ``family``."""
    _run_all(family, params)


def check_probe(probe: type) -> None:
    """Every probe check (declared metrics; in a lineage: per chain, in range, reproducible)."""
    _run_all(probe, None)


def check_filter(filt: type, params: Any = None) -> None:
    """Every filter check on each modality the filter declares; ``params`` may be a function of
    the modality (a critic's family depends on it)."""
    _run_all(filt, params)


def check_source(source: type, params: Knobs = None) -> None:
    """Every data-source check (strict spec, shapes, determinism, its exact law) with ``params``
    as the spec's knobs."""
    _run_all(source, params)


def _name(component: type) -> str:
    return getattr(component, "name", None) or component.__name__


def parametrize_with_checks(components: list, marks: Callable[[type, str], Any] | None = None) -> Any:
    """A ``pytest.mark.parametrize("component, check", ...)`` over every check of every component.

    ``components``: classes, or (class, knobs) pairs. The test receives the class and a check with
    the knobs bound, and calls ``check(component)``; each case is named ``<name>-<check>``.
    ``marks(component, check name)`` may return pytest marks for a case (e.g. ``slow``).
    """
    import pytest

    cases = []
    for item in components:
        component, params = item if isinstance(item, tuple) else (item, None)
        for check in checks_of(component, params):
            case_marks = marks(component, check.__name__) if marks else ()
            cases.append(pytest.param(component, check, id=f"{_name(component)}-{check.__name__}", marks=case_marks or ()))
    return pytest.mark.parametrize("component, check", cases)


def registered_components(params: dict[tuple[str, str], Any] | None = None) -> list[tuple[type, Any]]:
    """(class, knobs) of every registered family, probe, filter and data source whose extra is
    installed, with the knobs the checks use for cliffwatch's own (``OWN_PARAMS``) updated by
    ``params`` ({(kind, name): knobs}, kind one of family, probe, filter, source)."""
    knobs = {**OWN_PARAMS, **(params or {})}
    out = []
    for kind, registry in (("family", FAMILIES), ("probe", PROBES), ("filter", FILTERS), ("source", SOURCES)):
        out.extend((registry.get(name), knobs.get((kind, name))) for name in registry.available())
    return out
