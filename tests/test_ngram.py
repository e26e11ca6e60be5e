"""The ngram family: interpolated Kneser-Ney, checked against a plain-Python reference and by brute force."""

import functools
import importlib
import inspect
import itertools
import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import scipy.stats

from cliffwatch.core.modality import Sentences

from cliffwatch.data.text import UNK, Vocab, split_sentences, tokenize
from cliffwatch.core.errors import DataError
from cliffwatch.families.base import DataInfo
from cliffwatch.families.ngram import MIN_DISCOUNT, NgramFamily
from cliffwatch.core.registry import FAMILIES

MODULES = ("argparse", "collections", "json", "csv", "textwrap", "difflib", "functools", "inspect",
           "pathlib", "subprocess", "threading", "unittest", "logging")


@functools.cache
def docstring_sentences() -> tuple[tuple[str, ...], ...]:
    """Real prose: the docstrings of a few stdlib modules and of their classes and functions (~28k tokens)."""
    docs = []
    for name in MODULES:
        module = importlib.import_module(name)
        docs.append(module.__doc__ or "")
        for obj in vars(module).values():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == name and isinstance(obj.__doc__, str):
                docs.append(inspect.cleandoc(obj.__doc__))
    sentences = (tuple(tokenize(s)) for doc in docs for s in split_sentences(doc))
    return tuple(s for s in sentences if s)


@functools.cache
def corpus():
    """(vocab, train, held-out): the full docstring vocabulary, every 10th sentence held out."""
    token_lists = [list(s) for s in docstring_sentences()]
    vocab = Vocab.build(token_lists)
    sentences = Sentences.from_lists([vocab.encode(t) for t in token_lists])
    held = np.arange(len(sentences)) % 10 == 0
    return vocab, sentences.take(np.flatnonzero(~held)), sentences.take(np.flatnonzero(held))


@functools.cache
def small_corpus():
    """The same text reduced to its 40 commonest words (the others dropped), sentences cut at 12
    words; the vocabulary adds one word never seen in training (and <unk>, never seen either)."""
    token_lists = [list(s) for s in docstring_sentences()]
    frequent = {w for w, _ in Counter(itertools.chain.from_iterable(token_lists)).most_common(40)}
    vocab = Vocab((UNK, *sorted(frequent), "never-seen-word"))
    kept = ([w for w in t if w in frequent][:12] for t in token_lists)
    sentences = Sentences.from_lists([vocab.encode(t) for t in kept if len(t) >= 2][:1500])
    return vocab, sentences


def fit(vocab, data, **params):
    return NgramFamily(DataInfo("text", vocab=vocab), params).fit(data, np.random.default_rng(0))


def sentences(*rows) -> Sentences:
    return Sentences.from_lists([np.asarray(r, dtype=np.int32) for r in rows])


def next_word_probs(model, prompt) -> np.ndarray:
    """P(w | BOS + prompt) for every word w of the vocabulary, then EOS (last), by brute force."""
    v = model.vocab_size
    prompts = Sentences.from_lists([prompt] * v)
    words = sentences(*[[w] for w in range(v)])
    p_words = np.exp(-model.continuation_nll(prompts, words))
    # P(EOS | prompt) = P(prompt EOS) / P(prompt)
    p_eos = np.exp(-(model.nll(sentences(prompt))[0] - model.continuation_nll(sentences([]), sentences(prompt))[0]))
    return np.append(p_words, p_eos)


def tempered_nucleus(p: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    """The exact target distribution of sampling: p^(1/T), renormalised, truncated to the nucleus
    (w is kept if the words more probable than w hold less than top_p; ties at the border all stay)."""
    q = p ** (1 / temperature)
    q /= q.sum()
    # brute-force probabilities come through exp(-nll): equal up to 1e-9 is a tie
    more_probable = q[None, :] > q[:, None] * (1 + 1e-9)
    keep = (more_probable * q[None, :]).sum(axis=1) < top_p
    q = np.where(keep, q, 0.0)
    return q / q.sum()


def kneser_ney_reference(token_lists, vocab_size, order):
    """Interpolated Kneser-Ney written out with dicts (KenLM's count conventions), for comparison.

    Returns prob(history, word) with history a tuple of ids and word an id or "EOS".
    """
    bos, eos = "BOS", "EOS"
    raw = defaultdict(Counter)  # raw[k][k-gram]
    for tokens in token_lists:
        padded = [bos, *tokens, eos]
        for end in range(1, len(padded)):
            for k in range(1, order + 1):
                if end - k + 1 >= 0:
                    raw[k][tuple(padded[end - k + 1 : end + 1])] += 1
    adjusted = {order: dict(raw[order])}
    for k in range(1, order):
        left = Counter(gram[1:] for gram in raw[k + 1])  # distinct words before each k-gram
        adjusted[k] = {g: (c if g[0] == bos else left[g]) for g, c in raw[k].items() if g != (bos,)}
    discounts = {}
    for k, counts in adjusted.items():
        n1 = sum(c == 1 for c in counts.values())
        n2 = sum(c == 2 for c in counts.values())
        discounts[k] = max(n1 / (n1 + 2 * n2), MIN_DISCOUNT) if n1 else MIN_DISCOUNT
    by_context = {k: defaultdict(dict) for k in adjusted}
    for k, counts in adjusted.items():
        for gram, c in counts.items():
            by_context[k][gram[:-1]][gram[-1]] = c

    def p(k, context, word):
        if k == 0:
            return 1.0 / (vocab_size + 1)
        seen = by_context[k].get(context)
        lower = p(k - 1, context[1:], word)
        if not seen:
            return lower
        total, d = sum(seen.values()), discounts[k]
        return max(seen.get(word, 0) - d, 0) / total + d * len(seen) / total * lower

    def prob(history, word):
        context = (bos, *history)[-(order - 1) :] if order > 1 else ()
        return p(len(context) + 1, context, word)

    return prob, [discounts[k] for k in range(1, order + 1)]


# ---------------------------------------------------------------------------------------------


def test_registered_as_text_family():
    assert FAMILIES.get("ngram") is NgramFamily and NgramFamily.modality.name == 'text'
    with pytest.raises(ValueError):
        NgramFamily(DataInfo("text", vocab=small_corpus()[0]), {"order": 0})
    with pytest.raises(ValueError):
        NgramFamily(DataInfo("text", vocab=small_corpus()[0]), {"discount": 1.0})


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_the_reference_kneser_ney(order):
    vocab, data = small_corpus()
    model = fit(vocab, data, order=order)
    token_lists = [list(map(int, data.sentence(i))) for i in range(len(data))]
    reference, discounts = kneser_ney_reference(token_lists, len(vocab), order)
    assert np.allclose(model.discounts, discounts, rtol=0, atol=1e-15)
    for history in ([], token_lists[0][:1], token_lists[0][:2], token_lists[5][:3], [len(vocab) - 1, 0], [3, 3, 3]):
        got = next_word_probs(model, history)
        expected = [reference(tuple(history), w) for w in range(len(vocab))] + [reference(tuple(history), "EOS")]
        assert np.allclose(got, expected, rtol=1e-12, atol=0), (order, history)


@pytest.mark.parametrize("params", [{"order": 1}, {"order": 2}, {"order": 3}, {"order": 5}, {"order": 3, "discount": 0.4}])
def test_every_next_word_distribution_sums_to_one(params):
    vocab, data = small_corpus()
    model = fit(vocab, data, **params)
    unseen = len(vocab) - 1
    for history in ([], data.sentence(0)[:1], data.sentence(1)[:3], data.sentence(2)[:6], [unseen], [unseen, 0, unseen]):
        p = next_word_probs(model, list(history))
        assert (p > 0).all()  # every word, <unk> and the never seen word included, and EOS
        assert abs(p.sum() - 1) < 1e-12


def test_unseen_words_have_finite_nll():
    vocab, data = small_corpus()
    model = fit(vocab, data)
    unseen = len(vocab) - 1
    nll = model.nll(sentences([unseen], [unseen, unseen, 0], [1, unseen, 2], []))
    assert np.isfinite(nll).all() and (nll > 0).all()
    with pytest.raises(DataError):
        model.nll(sentences([len(vocab)]))


def test_real_text_is_likelier_than_shuffled_text():
    vocab, train, held = corpus()
    model = fit(vocab, train)
    rng = np.random.default_rng(0)
    for data in (train, held):
        # the same words in a random order within each sentence
        order = np.lexsort((rng.random(data.n_tokens), data.sentence_index()))
        shuffled = Sentences(data.ids[order], data.offsets)
        assert model.nll(data).sum() < model.nll(shuffled).sum()
    assert model.nll(train).sum() / train.n_tokens < model.nll(held).sum() / held.n_tokens


def test_nll_adds_up_over_tokens():
    vocab, train, held = corpus()
    model = fit(vocab, train)
    one_batch = model.nll(held.take(np.arange(50)))
    one_by_one = np.concatenate([model.nll(held.take([i])) for i in range(50)])
    assert np.allclose(one_batch, one_by_one, rtol=1e-13)
    # nll = continuation from an empty prompt + the end of sentence
    empty = Sentences.from_lists([[]] * 50)
    assert (model.continuation_nll(empty, held.take(np.arange(50))) < one_batch).all()


def test_fit_is_deterministic_and_ignores_rng_and_init():
    vocab, train, _ = corpus()
    family = NgramFamily(DataInfo("text", vocab=vocab))
    a = family.fit(train, np.random.default_rng(1))
    b = family.fit(train, np.random.default_rng(2))
    assert all(np.array_equal(a.state()[k], b.state()[k]) for k in a.state())
    # a count-based estimator has nothing to warm-start: a previous model changes nothing
    c = family.fit(train, np.random.default_rng(1), init=family.fit(train.take(np.arange(20)), None))
    assert all(np.array_equal(a.state()[k], c.state()[k]) for k in a.state())
    with pytest.raises(DataError):
        family.fit(Sentences.from_lists([]), np.random.default_rng(0))


def test_sampling_is_deterministic_and_lengths_are_plausible():
    vocab, train, _ = corpus()
    model = fit(vocab, train, max_length=40)
    a, b, c = (model.sample(3000, np.random.default_rng(s)) for s in (7, 7, 8))
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)
    assert not np.array_equal(a.ids, c.ids)
    assert len(a) == 3000 and a.lengths.max() <= 40 and a.ids.max() < len(vocab)
    # the length distribution follows the training data (cut at max_length)
    expected = np.minimum(train.lengths, 40)
    se = expected.std() / math.sqrt(len(a))
    assert abs(a.lengths.mean() - expected.mean()) < 0.15 * expected.mean() + 5 * se
    assert abs(np.median(a.lengths) - np.median(expected)) <= 4


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.5, 1.0), (2.0, 1.0), (1.0, 0.6), (1.0, 0.9), (0.7, 0.95)])
def test_samples_follow_the_exact_tempered_and_truncated_distribution(temperature, top_p):
    """The first three positions (orders 2 and 3, BOS-led and continuation contexts) against brute force."""
    vocab, data = small_corpus()
    model = fit(vocab, data, order=3, max_length=3)
    samples = model.sample(60_000, np.random.default_rng(11), temperature=temperature, top_p=top_p)
    eos = len(vocab)
    grid = np.full((len(samples), 3), eos)  # each sample's first three tokens, EOS after its end
    grid[np.arange(3) < samples.lengths[:, None]] = samples.ids
    checks = [([], np.ones(len(grid), dtype=bool))]
    # the four commonest first words and pairs of words (EOS excluded) as contexts
    firsts = np.bincount(grid[:, 0], minlength=eos + 1)[:eos]
    checks += [([a], grid[:, 0] == a) for a in np.argsort(-firsts)[:4]]
    pairs = np.bincount(grid[:, 0] * (eos + 1) + grid[:, 1], minlength=(eos + 1) ** 2).reshape(eos + 1, eos + 1)
    for a, b in zip(*np.unravel_index(np.argsort(-pairs[:eos, :eos], axis=None)[:4], (eos, eos))):
        checks.append(([a, b], (grid[:, 0] == a) & (grid[:, 1] == b)))
    for prompt, rows in checks:
        target = tempered_nucleus(next_word_probs(model, prompt), temperature, top_p)
        counts = np.bincount(grid[rows, len(prompt)], minlength=eos + 1)
        n = counts.sum()
        assert n > 300
        assert (counts[target == 0] == 0).all()  # nothing outside the nucleus
        # chi-square goodness of fit, words expected fewer than 5 times pooled into one cell
        small = target * n < 5
        observed = np.append(counts[~small], counts[small].sum())
        expected = np.append(target[~small], target[small].sum()) * n
        cells = expected > 0
        if cells.sum() > 1:  # a one-word nucleus is checked in full above
            assert scipy.stats.chisquare(observed[cells], expected[cells]).pvalue > 1e-4, (prompt, temperature, top_p)


def test_temperature_and_top_p_narrow_the_samples():
    vocab, train, _ = corpus()
    model = fit(vocab, train)

    def spread(s):
        counts = np.bincount(s.ids, minlength=len(vocab))
        p = counts[counts > 0] / counts.sum()
        return len(p), -(p * np.log(p)).sum()

    plain = spread(model.sample(3000, np.random.default_rng(3)))
    cold = spread(model.sample(3000, np.random.default_rng(3), temperature=0.6))
    hot = spread(model.sample(3000, np.random.default_rng(3), temperature=1.5))
    nucleus = spread(model.sample(3000, np.random.default_rng(3), top_p=0.5))
    assert cold[0] < plain[0] < hot[0] and cold[1] < plain[1] < hot[1]
    assert nucleus[0] < plain[0] and nucleus[1] < plain[1]
    with pytest.raises(ValueError):
        model.sample(3, np.random.default_rng(0), temperature=0.0)
    with pytest.raises(ValueError):
        model.sample(3, np.random.default_rng(0), top_p=0.0)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_answer_scores_greedy_tokens_as_nll_does(order):
    """The fused answer (greedy decoding scored as it goes) gives the generic two-pass answer's
    words and nats bit for bit: the greedy words, a closing token dropped, continuation_nll."""
    from cliffwatch.families.base import TextModel

    vocab, train, held = corpus()
    model = fit(vocab, train, order=order)
    cut = Sentences.from_lists([held.sentence(i)[: 1 + i % 5] for i in range(len(held))])
    closing = vocab.index["."] if "." in vocab.index else 1
    fused_answers, fused_nll = model.answer(cut, 6, closing)
    answers, nll = TextModel.answer(model, cut, 6, closing)
    assert np.array_equal(fused_answers.ids, answers.ids) and np.array_equal(fused_answers.offsets, answers.offsets)
    assert np.array_equal(fused_nll, nll)
    assert (answers.lengths < model.greedy(cut, 6).lengths).any()  # some answers lost their closing token


def test_greedy_is_the_argmax_and_reproduces_a_memorised_corpus():
    vocab, data = small_corpus()
    model = fit(vocab, data)
    prompts = [[], list(data.sentence(0)[:2]), list(data.sentence(3)[:1]), [len(vocab) - 1]]
    first = model.greedy(Sentences.from_lists(prompts), 1)
    for i, prompt in enumerate(prompts):
        p = next_word_probs(model, prompt)
        expected = np.argmax(p)  # EOS is the last column: greedy then stops with no token
        assert list(first.sentence(i)) == ([] if expected == len(vocab) else [expected])

    # sentences whose every two-word context has one continuation in the set are memorised
    vocab, train, _ = corpus()
    chosen, successor = [], {}
    for i in range(len(train)):
        s = [len(vocab), *train.sentence(i).tolist(), -1]  # BOS ... EOS
        pairs = {(s[j - 2], s[j - 1]): s[j] for j in range(2, len(s))}
        if len(s) >= 6 and len(pairs) == len(s) - 2 and all(successor.get(k, v) == v for k, v in pairs.items()):
            chosen.append(i)
            successor.update(pairs)
    memorised = train.take(np.array(chosen[:200]))
    model = fit(vocab, Sentences.concat([memorised] * 3))
    prompts = Sentences.from_lists([memorised.sentence(i)[:2] for i in range(len(memorised))])
    rests = model.greedy(prompts, int(memorised.lengths.max()))
    for i in range(len(memorised)):
        assert np.array_equal(rests.sentence(i), memorised.sentence(i)[2:])
    assert model.greedy(prompts, 1).lengths.max() == 1


def test_save_load_round_trip(tmp_path):
    vocab, train, held = corpus()
    family = NgramFamily(DataInfo("text", vocab=vocab), {"order": 4})
    model = family.fit(train, np.random.default_rng(0))
    model.save(tmp_path / "ngram.npz")
    loaded = family.load(tmp_path / "ngram.npz")
    assert all(np.array_equal(model.state()[k], loaded.state()[k]) for k in model.state())
    assert np.array_equal(model.nll(held), loaded.nll(held))
    for setting in ({}, {"temperature": 0.8, "top_p": 0.9}):  # the mixture sampler, and the rejection sampler
        a, b = (m.sample(200, np.random.default_rng(4), **setting) for m in (model, loaded))
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)
    with pytest.raises(DataError):
        NgramFamily(DataInfo("text", vocab=vocab), {"order": 3}).load(tmp_path / "ngram.npz")


def test_held_out_perplexity_is_no_worse_than_nltk():
    """A ballpark check against nltk.lm (whose KN differs: fixed discount 0.1, and zero probability for
    a word never seen after another, so the comparison runs on the tokens nltk gives a probability)."""
    lm = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    token_lists = [list(s) for s in docstring_sentences()]
    train_lists, held_lists = token_lists[:300], token_lists[300:340]  # nltk's KN is slow: keep it small
    vocab = Vocab.build(token_lists)
    model = fit(vocab, Sentences.from_lists([vocab.encode(t) for t in train_lists]))

    ngrams, words = padded_everygram_pipeline(3, train_lists)
    nltk_model = lm.KneserNeyInterpolated(3)
    nltk_model.fit(ngrams, vocabulary_text=list(vocab.words[1:]) + list(words))
    ours, theirs = [], []
    for tokens in held_lists:
        ids = vocab.encode(tokens)
        # ours per token: each word after its prefix, then the end of sentence
        prefixes = Sentences.from_lists([ids[:i] for i in range(len(ids))])
        nll = model.continuation_nll(prefixes, Sentences.from_lists([ids[i : i + 1] for i in range(len(ids))]))
        whole = model.nll(Sentences.from_lists([ids]))[0]
        ours += [*-nll, -(whole - nll.sum())]
        padded = ["<s>", "<s>", *tokens, "</s>"]
        theirs += [nltk_model.logscore(padded[i], padded[i - 2 : i]) * math.log(2) for i in range(2, len(padded))]
    ours, theirs = np.array(ours), np.array(theirs)
    scored = np.isfinite(theirs)
    assert scored.mean() > 0.5
    assert math.exp(-ours[scored].mean()) <= 1.05 * math.exp(-theirs[scored].mean())
    assert np.isfinite(ours).all()


@pytest.mark.parametrize("order", [2, 3, 4])
def test_sentence_nll_matches_the_reference_on_real_text(order):
    """Per-sentence NLL of held-out docstrings against the dict-based reference (an independent
    implementation), to 1e-9: the fast counting and tables give the same probabilities."""
    vocab, train, held = corpus()
    model = fit(vocab, train, order=order)
    token_lists = [list(map(int, train.sentence(i))) for i in range(len(train))]
    reference, discounts = kneser_ney_reference(token_lists, len(vocab), order)
    assert np.allclose(model.discounts, discounts, rtol=0, atol=1e-15)
    expected = []
    for i in range(len(held)):
        ids = list(map(int, held.sentence(i)))
        nats = -sum(math.log(reference(tuple(ids[:j]), ids[j])) for j in range(len(ids)))
        expected.append(nats - math.log(reference(tuple(ids), "EOS")))
    assert np.allclose(model.nll(held), expected, rtol=1e-9, atol=0)


def test_counting_without_packed_keys_gives_the_same_tables(monkeypatch):
    """Keys too large to pack with their positions take the dense-rank path: the same model."""
    import cliffwatch.families.ngram as ngram

    vocab, train, _ = corpus()
    packed = fit(vocab, train, order=4)
    monkeypatch.setattr(ngram, "PACKED_BITS", 30)  # forces the fallback on this corpus
    unpacked = fit(vocab, train, order=4)
    assert all(np.array_equal(packed.state()[k], unpacked.state()[k]) for k in packed.state())
    assert all(packed.state()[k].dtype == unpacked.state()[k].dtype for k in packed.state())


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_mixture_sampler_tracks_the_same_contexts_as_lookups(order):
    """The T = 1 sampler derives the contexts after each word from the drawn row's suffixes; they
    must equal the contexts found by looking the n-grams up."""
    vocab, train, _ = corpus()
    model = fit(vocab, train, order=order)
    rng = np.random.default_rng(3)
    contexts = model._contexts_after(Sentences.from_lists([[]] * 4000))
    mixture = model._mixture()
    for _ in range(12):
        words, after = model._draw_mixture(contexts, rng, mixture)
        expected = model._advance(contexts, words)
        assert len(after) == len(expected) == order
        assert all(np.array_equal(a, e) for a, e in zip(after, expected))
        going = words != model.eos
        contexts = [c[going] for c in after]


def test_most_probable_rows_match_a_sort():
    """The per-context maximum (no sort) against sorting each context's rows by probability."""
    vocab, train, _ = corpus()
    model = fit(vocab, Sentences.concat([train, train.take(np.arange(300))]), order=4)
    for level, top in zip(model.levels, model._top_rows()):
        by_prob = np.lexsort((level.words, -level.prob, level.context))  # ties: lowest word id
        nonempty = np.diff(level.offsets) > 0
        expected = np.full(len(level.offsets) - 1, -1)
        expected[nonempty] = by_prob[level.offsets[:-1][nonempty]]
        assert np.array_equal(top, expected)


def test_build_encoded_equals_build_then_encode():
    token_lists = [list(s) for s in docstring_sentences()] + [[], [UNK, "never-in-the-corpus"], []]
    vocab, encoded = Vocab.build_encoded(token_lists)
    assert vocab == Vocab.build(token_lists)
    expected = vocab.encode_sentences(token_lists)
    assert np.array_equal(encoded.ids, expected.ids) and np.array_equal(encoded.offsets, expected.offsets)
    assert encoded.ids.dtype == np.int32
    assert encoded.sentence(len(token_lists) - 2).tolist() == [0, vocab.index["never-in-the-corpus"]]
