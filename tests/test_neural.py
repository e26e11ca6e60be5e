"""The neural text families (``gpt``, ``hf``) on the CPU at tiny sizes: no GPU, no network."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from cliffwatch.config.schema import CorpusData  # noqa: E402
from cliffwatch.core.errors import ConfigError, DataError  # noqa: E402
from cliffwatch.core.registry import FAMILIES  # noqa: E402
from cliffwatch.data.sources import TextSource  # noqa: E402
from cliffwatch.data.text import Sentences  # noqa: E402

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
