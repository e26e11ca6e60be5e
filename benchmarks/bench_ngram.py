"""Benchmark of the ngram family on ~1M tokens of real text, one CPU core, against nltk.lm.

(a) fit on ~1M tokens + sample 10,000 sentences (target: under 0.5 s together);
(b) fit + held-out scoring against nltk.lm.KneserNeyInterpolated on a 50k-token subsample, the same
    data and vocabulary for both (target: at least 50x faster), with both perplexities.

The text is the docstrings of the running Python's standard library, read with ``ast`` (nothing is
imported), in sorted file order until ~1M tokens; it is repeated only if the library is too small.

    PYTHONPATH=src python benchmarks/bench_ngram.py
"""

import _bench  # first: it pins BLAS/OpenMP to one thread before numpy loads

import ast  # noqa: E402
import math  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from cliffwatch.data.text import Sentences, Vocab, split_sentences, tokenize  # noqa: E402
from cliffwatch.families.base import DataInfo  # noqa: E402
from cliffwatch.families.ngram import NgramFamily  # noqa: E402

TARGET_TOKENS = 1_000_000
HELD_OUT_EVERY = 20  # every 20th sentence is held out
SAMPLES = 10_000
REPEATS = 5
NLTK_TRAIN_TOKENS, NLTK_HELD_TOKENS = 50_000, 2_000
ORDER = 3


def stdlib_docstring_sentences(target_tokens: int) -> list[list[str]]:
    sentences, n_tokens = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):  # a few test files are deliberately broken
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                for sentence in split_sentences(ast.get_docstring(node) or ""):
                    if tokens := tokenize(sentence):
                        sentences.append(tokens)
                        n_tokens += len(tokens)
        if n_tokens >= target_tokens:
            return sentences
    return sentences * math.ceil(target_tokens / max(n_tokens, 1))


def encode(vocab: Vocab, token_lists: list[list[str]]) -> Sentences:
    lengths = np.array([len(t) for t in token_lists])
    return Sentences.from_lengths(vocab.encode([w for t in token_lists for w in t]), lengths)


def timed(fn, repeats=1):
    """(result, seconds of the first call, median seconds of all calls)."""
    result, times = _bench.timed(fn, repeats)
    return result, times[0], float(np.median(times))


def perplexity(nats: np.ndarray) -> float:
    return math.exp(np.mean(nats))


def per_token_nats(model, sentences: Sentences) -> np.ndarray:
    """Our nats of every token and of each end of sentence, in nltk's order (tokens, then </s>)."""
    out = []
    for i in range(len(sentences)):
        ids = sentences.sentence(i)
        prefixes = Sentences.from_lists([ids[:j] for j in range(len(ids))])
        words = Sentences.from_lengths(ids, np.ones(len(ids), dtype=np.int64))
        nats = model.continuation_nll(prefixes, words)
        out += [*nats, model.nll(sentences.take([i]))[0] - nats.sum()]
    return np.array(out)


def main() -> None:
    rows = []

    start = time.perf_counter()
    token_lists = stdlib_docstring_sentences(TARGET_TOKENS)
    vocab = Vocab.build(token_lists)
    sentences = encode(vocab, token_lists)
    held_mask = np.arange(len(sentences)) % HELD_OUT_EVERY == 0
    train, held = sentences.take(np.flatnonzero(~held_mask)), sentences.take(np.flatnonzero(held_mask))
    print(
        f"corpus: {sentences.n_tokens:,} tokens, {len(sentences):,} sentences, vocabulary {len(vocab):,} "
        f"(read and tokenised in {time.perf_counter() - start:.1f} s); train {train.n_tokens:,} tokens, "
        f"held-out {held.n_tokens:,}"
    )

    # (a) fit on ~1M tokens + sample 10,000 sentences --------------------------------------------
    family = NgramFamily(DataInfo("text", vocab=vocab), {"order": ORDER})
    model, fit_first, fit_median = timed(lambda: family.fit(train, np.random.default_rng(0)), REPEATS)
    rows.append(("fit, order 3", f"{train.n_tokens:,} tokens", fit_first, fit_median))
    samples = None
    for temperature, top_p in ((1.0, 1.0), (0.7, 1.0), (1.0, 0.9)):
        def draw(temperature=temperature, top_p=top_p):
            return model.sample(SAMPLES, np.random.default_rng(1), temperature=temperature, top_p=top_p)

        drawn, first, median = timed(draw, REPEATS)
        samples = samples or drawn
        rows.append((f"sample T={temperature} top_p={top_p}", f"{SAMPLES:,} sentences, {drawn.lengths.mean():.1f} words avg", first, median))
    nll, first, median = timed(lambda: model.nll(held), REPEATS)
    rows.append(("nll (held-out)", f"{held.n_tokens:,} tokens", first, median))
    total_first, total_median = rows[0][2] + rows[1][2], rows[0][3] + rows[1][3]

    print("\n(a) cliffwatch ngram, one core (first call in this process / median of", REPEATS, "calls)")
    print(f"  {'step':32s} {'size':34s} {'first':>9s} {'median':>9s}")
    for name, size, first, median in rows:
        print(f"  {name:32s} {size:34s} {first:8.3f}s {median:8.3f}s")
    print(f"  {'fit + sample 10k (T=1)':32s} {'target < 0.5 s':34s} {total_first:8.3f}s {total_median:8.3f}s")
    print(f"  held-out perplexity (full corpus, order 3): {math.exp(nll.sum() / (held.n_tokens + len(held))):.1f}")
    print(f"  training sentences average {train.lengths.mean():.1f} words; samples {samples.lengths.mean():.1f} (max_length 40)")

    # (b) against nltk.lm on a subsample -----------------------------------------------------------
    try:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
    except ImportError:
        print("\n(b) skipped: nltk is not installed")
        return
    sub_train = _first_tokens(token_lists, ~held_mask, NLTK_TRAIN_TOKENS)
    sub_held = _first_tokens(token_lists, held_mask, NLTK_HELD_TOKENS)
    sub_vocab = Vocab.build(sub_train + sub_held)  # the same vocabulary for both models
    train_ids, held_ids = encode(sub_vocab, sub_train), encode(sub_vocab, sub_held)
    n_scored = held_ids.n_tokens + len(held_ids)

    def ours_fit():
        return NgramFamily(DataInfo("text", vocab=sub_vocab), {"order": ORDER}).fit(train_ids, np.random.default_rng(0))

    ours, _, ours_fit_s = timed(ours_fit, REPEATS)
    _, _, ours_score_s = timed(lambda: ours.nll(held_ids), REPEATS)

    def nltk_fit():
        ngrams, words = padded_everygram_pipeline(ORDER, sub_train)
        lm = KneserNeyInterpolated(ORDER)
        lm.fit(ngrams, vocabulary_text=list(words) + [w for t in sub_held for w in t])
        return lm

    def nltk_score(lm):
        out = []
        for tokens in sub_held:
            padded = ["<s>"] * (ORDER - 1) + tokens + ["</s>"]
            out += [-lm.logscore(padded[i], padded[i - ORDER + 1 : i]) * math.log(2) for i in range(ORDER - 1, len(padded))]
        return np.array(out)

    lm, nltk_fit_s, _ = timed(nltk_fit)
    theirs, nltk_score_s, _ = timed(lambda: nltk_score(lm))
    mine = per_token_nats(ours, held_ids)
    scored = np.isfinite(theirs)

    print(f"\n(b) against nltk.lm.KneserNeyInterpolated(order={ORDER}), one core, same data and vocabulary")
    print(f"    (cliffwatch: median of {REPEATS} calls; nltk: one call)")
    print(f"    subsample: train {train_ids.n_tokens:,} tokens, held-out {held_ids.n_tokens:,} tokens + {len(held_ids)} ends of sentence")
    print(f"  {'':34s} {'cliffwatch':>12s} {'nltk':>12s} {'speed-up':>10s}")
    print(f"  {'fit':34s} {ours_fit_s:11.4f}s {nltk_fit_s:11.3f}s {nltk_fit_s / ours_fit_s:9.0f}x")
    print(f"  {'score held-out':34s} {ours_score_s:11.4f}s {nltk_score_s:11.3f}s {nltk_score_s / ours_score_s:9.0f}x")
    ours_total, nltk_total = ours_fit_s + ours_score_s, nltk_fit_s + nltk_score_s
    print(f"  {'fit + score (target >= 50x)':34s} {ours_total:11.4f}s {nltk_total:11.3f}s {nltk_total / ours_total:9.0f}x")
    print(f"  {'perplexity, all tokens':34s} {perplexity(mine):12.1f} {perplexity(theirs):12.1f}")
    print(
        f"  {'perplexity, tokens nltk can score':34s} {perplexity(mine[scored]):12.1f} {perplexity(theirs[scored]):12.1f}"
        f"   ({scored.mean():.1%} of {n_scored:,})"
    )
    print("  (nltk's KN gives probability 0 to a word never seen after another word, and uses a fixed discount 0.1)")


def _first_tokens(token_lists, mask, n_tokens) -> list[list[str]]:
    """The first sentences where mask is true, until n_tokens."""
    out, total = [], 0
    for tokens, keep in zip(token_lists, mask):
        if keep:
            out.append(tokens)
            total += len(tokens)
            if total >= n_tokens:
                break
    return out


if __name__ == "__main__":
    main()
