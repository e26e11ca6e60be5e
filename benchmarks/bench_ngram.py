"""The ngram family against two peers on one clock: a plain numpy implementation and nltk.lm.

One "generation" is what the loop does with a text model: build the vocabulary and the token ids
from tokenised sentences, fit an order-3 interpolated Kneser-Ney model, draw 10,000 sentences and
score a held-out set (perplexity). Every implementation is timed from the same token lists to the
same outputs, vocabulary and ids included:

- cliffwatch: ``Vocab`` + ``NgramFamily.fit`` + ``sample`` + ``nll``;
- plain: :class:`PlainKneserNey` below, written independently for this benchmark (dict ids,
  polynomial n-gram keys counted with ``np.unique``, textbook interpolation by binary search,
  sampling by "stay at this order or back off"); the same model, so its perplexity must agree;
- nltk: ``nltk.lm.KneserNeyInterpolated`` fit + ``logscore`` per held-out token. nltk has no sampler
  for its smoothed distribution (``generate`` draws from the raw counts), so its column has no
  sampling, and its model differs (fixed discount 0.1, <s> padding, probability 0 for a word
  never seen after its context): its perplexity is shown on the tokens it can score.

Cold is the first generation in a fresh process (one process per implementation and size, so
none inherits another's warm caches; every import, pandas included, happens before); warm is the
median of the next calls in that process (at least WARM, until WARM_SECONDS). Each
(implementation, size) runs in ROUNDS fresh processes in rotating order and the median is shown,
since the machine is shared (nltk: one round). The text is the docstrings of the running Python's
standard library, read with ``ast`` (nothing is imported); every 20th sentence is held out.

    PYTHONPATH=src python benchmarks/bench_ngram.py [--rounds 3] [--nltk-rounds 1] [--sizes 50000,955000]
"""

import _bench  # first: it pins BLAS/OpenMP to one thread before numpy loads

import argparse  # noqa: E402
import ast  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from cliffwatch.data.text import Vocab, split_sentences, tokenize  # noqa: E402
from cliffwatch.families.base import DataInfo  # noqa: E402
from cliffwatch.families.ngram import NgramFamily  # noqa: E402

import pandas  # noqa: E402, F401  (pyarrow imports it on its first conversion: not a cost of a generation)

try:  # imported here so that no timed call pays for an import
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline
except ImportError:
    KneserNeyInterpolated = None

ORDER, SAMPLES, MAX_LENGTH = 3, 10_000, 40
HELD_OUT_EVERY = 20
WARM = 5  # at least this many warm calls, and more (up to WARM_MAX) until WARM_SECONDS are spent
WARM_MAX, WARM_SECONDS = 40, 2.0
NLTK_MAX_TRAIN = 100_000  # above this nltk's scoring (a Python loop per token over its counts) is not run in full
NLTK_PROBE_TOKENS = 300  # at larger sizes: nltk's fit, and its scoring of this many tokens, to extrapolate


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


def split(token_lists: list[list[str]], train_tokens: int) -> tuple[list[list[str]], list[list[str]]]:
    """Training sentences until train_tokens, and the held-out sentences (every 20th) among them."""
    train, held, n = [], [], 0
    for i, tokens in enumerate(token_lists):
        if n >= train_tokens:
            break
        if i % HELD_OUT_EVERY == 0:
            held.append(tokens)
        else:
            train.append(tokens)
            n += len(tokens)
    return train, held


# ------------------------------------------------------------------ the plain peer


class PlainKneserNey:
    """Interpolated Kneser-Ney (KenLM's counts, discount n1/(n1+2 n2) per order, at least 0.1,
    uniform base over the words and </s>), in plain numpy: the n-gram w1..wk is the integer
    sum w_j B^(k-j), one sorted key table per order."""

    def __init__(self, order: int, train: list[list[str]], held: list[list[str]]):
        self.order = order
        # ids by first appearance; 0 is left for an unknown word, as in cliffwatch's vocabulary
        index: dict[str, int] = {}
        self.train = self._ids(index, train)
        self.held = self._ids(index, held)
        self.n_words = len(index) + 1
        self.bos, self.eos, self.base = self.n_words, self.n_words + 1, self.n_words + 2
        if self.base ** order >= 2**63:
            raise ValueError("vocabulary too large for polynomial keys at this order")

    @staticmethod
    def _ids(index, token_lists):
        ids = np.fromiter((index.setdefault(w, len(index) + 1) for w in itertools.chain.from_iterable(token_lists)),
                          np.int64)
        return ids, np.fromiter(map(len, token_lists), np.int64, len(token_lists))

    def _padded(self, ids, lengths):
        """<s> w1 .. wL </s> per sentence, flat, and each position's index within its sentence."""
        starts = np.concatenate([[0], np.cumsum(lengths + 2)[:-1]])
        seq = np.full(int((lengths + 2).sum()), self.eos)
        seq[starts] = self.bos
        inside = np.ones(len(seq), bool)
        inside[starts] = False
        inside[starts + lengths + 1] = False
        seq[inside] = ids
        position = np.arange(len(seq)) - np.repeat(starts, lengths + 2)
        return seq, position

    def _grams(self, seq, position, k, context=False):
        """Key of the k-gram ending at each position (-1 where it does not fit in the sentence; a
        lone <s> is a context, never a counted unigram)."""
        key = np.zeros(len(seq), np.int64)
        for j in range(k):
            key[k - 1 :] = key[k - 1 :] * self.base + seq[j : len(seq) - k + 1 + j]
        return np.where(position >= (k - 1 if context else max(k - 1, 1)), key, -1)

    def fit(self):
        seq, position = self._padded(*self.train)
        types, raw = [], []
        for k in range(1, self.order + 1):
            key = self._grams(seq, position, k)
            t, c = np.unique(key[key >= 0], return_counts=True)
            types.append(t)
            raw.append(c)
        counts = [None] * self.order
        counts[-1] = raw[-1]
        for k in range(self.order - 1, 0, -1):  # continuation counts: distinct words before the k-gram
            suffix, left = np.unique(types[k] % self.base**k, return_counts=True)
            c = np.zeros(len(types[k - 1]), np.int64)
            c[np.searchsorted(types[k - 1], suffix)] = left
            starts_bos = types[k - 1] // self.base ** (k - 1) == self.bos
            counts[k - 1] = np.where(starts_bos, raw[k - 1], c)
        self.tables = []
        for k, (t, c) in enumerate(zip(types, counts), start=1):
            n1, n2 = np.count_nonzero(c == 1), np.count_nonzero(c == 2)
            discount = max(n1 / (n1 + 2 * n2), 0.1) if n1 else 0.1
            context, first, n_types = np.unique(t // self.base, return_index=True, return_counts=True)
            total = np.add.reduceat(c, first)
            kept = np.maximum(c - discount, 0.0)
            self.tables.append({
                "keys": t, "counts": c, "discount": discount, "contexts": context, "first": first,
                "types": n_types, "total": total, "cum": np.concatenate([[0.0], np.cumsum(kept)]),
            })
        return self

    def _context_row(self, table, context_key):
        """Row of each context in the table's contexts, -1 where never seen."""
        row = np.minimum(np.searchsorted(table["contexts"], context_key), len(table["contexts"]) - 1)
        return np.where(table["contexts"][row] == context_key, row, -1)

    def sentence_nll(self) -> np.ndarray:
        """Nats of every held-out sentence, </s> included."""
        seq, position = self._padded(*self.held)
        p = np.full(len(seq), 1.0 / (self.n_words + 1))
        for k, table in enumerate(self.tables, start=1):
            fits = position >= max(k - 1, 1)
            context = np.zeros(len(seq), np.int64)
            if k > 1:  # the (k-1)-gram ending one position earlier
                context[1:] = self._grams(seq, position, k - 1, context=True)[:-1]
            row = np.where(fits, self._context_row(table, context), -1)
            gram = np.where(fits, self._grams(seq, position, k), -1)
            at = np.minimum(np.searchsorted(table["keys"], gram), len(table["keys"]) - 1)
            c = np.where(table["keys"][at] == gram, table["counts"][at], 0)
            seen = row >= 0
            r, d = row[seen], table["discount"]
            p[seen] = (np.maximum(c[seen] - d, 0) + d * table["types"][r] * p[seen]) / table["total"][r]
        logp = np.where(position >= 1, np.log(p), 0.0)
        sentence = np.cumsum(position == 0) - 1
        return -np.bincount(sentence, weights=logp)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n sentences (ids, lengths): each token stays at order k with probability 1 - gamma_k."""
        history = np.full((n, self.order - 1), -1)  # the last order-1 tokens; -1 before <s>
        if self.order > 1:
            history[:, -1] = self.bos
        tokens = np.zeros((n, MAX_LENGTH), np.int64)
        lengths = np.full(n, MAX_LENGTH)
        alive = np.arange(n)
        for step in range(MAX_LENGTH):
            u = rng.random((len(alive), 2))
            chosen, where = np.full(len(alive), -1), np.zeros(len(alive), np.int64)
            reached, stay = np.ones(len(alive)), np.zeros(len(alive))
            for k in range(self.order, 0, -1):
                table = self.tables[k - 1]
                if k > 1:
                    last = history[:, self.order - k :]
                    fits = (last >= 0).all(axis=1)
                    context = np.zeros(len(alive), np.int64)
                    for j in range(k - 1):
                        context = context * self.base + last[:, j]
                    row = np.where(fits, self._context_row(table, context), -1)
                else:
                    row = np.zeros(len(alive), np.int64)
                seen = row >= 0
                gamma = np.ones(len(alive))
                gamma[seen] = table["discount"] * table["types"][row[seen]] / table["total"][row[seen]]
                stay += reached * (1 - gamma)
                reached *= gamma
                pick = (chosen < 0) & (u[:, 0] < stay)
                chosen[pick], where[pick] = k, row[pick]
            word = np.minimum((u[:, 1] * (self.n_words + 1)).astype(np.int64), self.n_words)
            word[word == self.n_words] = self.eos
            for k, table in enumerate(self.tables, start=1):
                at = np.flatnonzero(chosen == k)
                lo = table["first"][where[at]]
                hi = lo + table["types"][where[at]]
                cum = table["cum"]
                target = cum[lo] + u[at, 1] * (cum[hi] - cum[lo])
                row = np.clip(np.searchsorted(cum, target, side="right") - 1, lo, hi - 1)
                word[at] = table["keys"][row] % self.base
            tokens[alive, step] = word
            ended = word == self.eos
            lengths[alive[ended]] = step
            alive, history = alive[~ended], history[~ended]
            if self.order > 1:
                history = np.column_stack([history[:, 1:], word[~ended]])
            if not len(alive):
                break
        return tokens[np.arange(MAX_LENGTH) < lengths[:, None]], lengths


# ------------------------------------------------------------------ one generation per implementation


def generation_cliffwatch(train, held, seed):
    clock = [time.perf_counter()]
    vocab, both = Vocab.build_encoded(train + held)
    train_ids, held_ids = both.take(np.arange(len(train))), both.take(np.arange(len(train), len(both)))
    clock.append(time.perf_counter())
    model = NgramFamily(DataInfo("text", vocab=vocab), {"order": ORDER, "max_length": MAX_LENGTH}).fit(
        train_ids, np.random.default_rng(0)
    )
    clock.append(time.perf_counter())
    samples = model.sample(SAMPLES, np.random.default_rng(seed))
    clock.append(time.perf_counter())
    nll = model.nll(held_ids)
    clock.append(time.perf_counter())
    return np.diff(clock), nll, samples.n_tokens


def generation_plain(train, held, seed):
    clock = [time.perf_counter()]
    model = PlainKneserNey(ORDER, train, held)
    clock.append(time.perf_counter())
    model.fit()
    clock.append(time.perf_counter())
    _, lengths = model.sample(SAMPLES, np.random.default_rng(seed))
    clock.append(time.perf_counter())
    nll = model.sentence_nll()
    clock.append(time.perf_counter())
    return np.diff(clock), nll, int(lengths.sum())


def generation_nltk(train, held, seed, probe_tokens=None):
    """nltk builds its vocabulary and counts in fit; no sampling (see the module docstring)."""
    clock = [time.perf_counter()]
    clock.append(time.perf_counter())  # vocabulary and ids: inside nltk's fit
    ngrams, words = padded_everygram_pipeline(ORDER, train)
    lm = KneserNeyInterpolated(ORDER)
    lm.fit(ngrams, vocabulary_text=itertools.chain(words, itertools.chain.from_iterable(held)))
    clock.append(time.perf_counter())
    clock.append(time.perf_counter())  # no sampler for the smoothed model
    nats = []
    for tokens in held:
        padded = ["<s>"] * (ORDER - 1) + tokens + ["</s>"]
        for i in range(ORDER - 1, len(padded)):
            nats.append(-lm.logscore(padded[i], padded[i - ORDER + 1 : i]) * math.log(2))
            if probe_tokens is not None and len(nats) >= probe_tokens:
                break
        if probe_tokens is not None and len(nats) >= probe_tokens:
            break
    clock.append(time.perf_counter())
    return np.diff(clock), np.array(nats), 0


GENERATIONS = {"cliffwatch": generation_cliffwatch, "plain": generation_plain, "nltk": generation_nltk}


def worker(name: str, corpus: Path, size: int, out: Path) -> None:
    """Cold: the first generation in this process; warm: the next WARM (one for nltk)."""
    token_lists = pickle.loads(corpus.read_bytes())
    train, held = split(token_lists, size)
    run = GENERATIONS[name]
    if name == "nltk" and size > NLTK_MAX_TRAIN:
        steps, nats, _ = run(train, held, 1, probe_tokens=NLTK_PROBE_TOKENS)
        held_tokens = sum(map(len, held)) + len(held)
        out.write_text(json.dumps({"probe": True, "fit": steps[1], "score_per_token": steps[3] / len(nats),
                                   "held_tokens": held_tokens}))
        return
    cold, nll, sampled = run(train, held, 1)
    warm = [run(train, held, 1)[0]]
    while name != "nltk" and len(warm) < WARM_MAX and (len(warm) < WARM or sum(map(sum, warm)) < WARM_SECONDS):
        warm.append(run(train, held, 1)[0])
    held_tokens = sum(map(len, held)) + len(held)  # words and ends of sentence
    if name == "nltk":
        finite = np.isfinite(nll)
        ppl, share = math.exp(nll[finite].mean()), float(finite.mean())
    else:
        ppl, share = math.exp(nll.sum() / held_tokens), 1.0
        np.save(out.with_suffix(".npy"), nll)
    out.write_text(json.dumps({
        "cold": cold.tolist(), "warm": np.median(warm, axis=0).tolist(), "ppl": ppl, "scored": share,
        "sampled_tokens": sampled, "train_tokens": sum(map(len, train)), "held_tokens": held_tokens,
    }))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nltk-rounds", type=int, default=1, help="nltk is ~1000x slower: its noise does not matter")
    parser.add_argument("--sizes", default="50000,955000")
    parser.add_argument("--worker", nargs=4, metavar=("NAME", "CORPUS", "SIZE", "OUT"))
    args = parser.parse_args()
    if args.worker:
        name, corpus, size, out = args.worker
        return worker(name, Path(corpus), int(size), Path(out))

    sizes = [int(s) for s in args.sizes.split(",")]
    start = time.perf_counter()
    token_lists = stdlib_docstring_sentences(max(sizes) * HELD_OUT_EVERY // (HELD_OUT_EVERY - 1) + 1000)
    print(f"corpus: {sum(map(len, token_lists)):,} tokens in {len(token_lists):,} sentences "
          f"(stdlib docstrings, read in {time.perf_counter() - start:.0f} s); order {ORDER}, {SAMPLES:,} samples, "
          f"{args.rounds} rounds, median shown; one core per process")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus.pkl")
        corpus.write_bytes(pickle.dumps(token_lists))
        names = [name for name in GENERATIONS if name != "nltk" or KneserNeyInterpolated is not None]
        results = {}
        for size in sizes:
            for r in range(args.rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who runs first
                    if name == "nltk" and r >= args.nltk_rounds:
                        continue
                    out = Path(tmp, f"{name}-{size}-{r}.json")
                    subprocess.run([sys.executable, __file__, "--worker", name, str(corpus), str(size), str(out)],
                                   check=True)
                    results.setdefault((name, size), []).append(json.loads(out.read_text()))
            report(size, results, Path(tmp))
            sys.stdout.flush()


def report(size, results, tmp) -> None:
    ours = results[("cliffwatch", size)]
    first = ours[0]
    print(f"\n{first['train_tokens']:,} training tokens, {first['held_tokens']:,} held-out tokens (with </s>)")
    print(f"  {'':12s} {'':5s} {'vocab+ids':>10s} {'fit':>8s} {'sample':>8s} {'score':>8s} {'total':>8s}"
          f" {'perplexity':>11s}")
    totals = {}
    for name in GENERATIONS:
        runs = results.get((name, size))
        if runs is None:
            print(f"  {name:12s} skipped: not installed")
            continue
        if runs[0].get("probe"):
            fit = float(np.median([r["fit"] for r in runs]))
            per_token = float(np.median([r["score_per_token"] for r in runs]))
            score = per_token * runs[0]["held_tokens"]
            print(f"  {name:12s} not run in full: fit {fit:.1f} s; scoring {per_token * 1e3:.1f} ms a token "
                  f"(from {NLTK_PROBE_TOKENS}) x {runs[0]['held_tokens']:,} tokens = ~{score:.0f} s")
            continue
        for kind in ("cold", "warm"):
            steps = np.median([r[kind] for r in runs], axis=0)
            total = float(np.median([sum(r[kind]) for r in runs]))
            totals[name, kind] = steps, total
            ppl = np.median([r["ppl"] for r in runs])
            note = f" (on the {runs[0]['scored']:.1%} of tokens it can score)" if runs[0]["scored"] < 1 else ""
            print(f"  {name:12s} {kind:5s} " + " ".join(f"{s:8.3f}s" for s in [*steps, total])
                  + f" {ppl:11.2f}{note}")
    mine = np.load(tmp / f"cliffwatch-{size}-0.npy")
    plain = np.load(tmp / f"plain-{size}-0.npy")
    worst = float(np.max(np.abs(mine - plain) / plain))
    print(f"  per-sentence NLL, cliffwatch vs plain: largest relative difference {worst:.1e}"
          f" ({'agree' if worst < 1e-9 else 'DISAGREE'})")
    print("  time ratios, peer / cliffwatch (above 1: cliffwatch is faster)")
    for kind in ("cold", "warm"):
        (ours, ours_total), (plain, plain_total) = totals["cliffwatch", kind], totals["plain", kind]
        line = (f"    {kind}: plain {plain_total / ours_total:.2f}x overall (vocab+ids {plain[0] / ours[0]:.2f}x, "
                f"fit {plain[1] / ours[1]:.2f}x, sample {plain[2] / ours[2]:.2f}x, score {plain[3] / ours[3]:.2f}x)")
        if ("nltk", kind) in totals:
            nltk_total = totals["nltk", kind][1]
            same = ours[[0, 1, 3]].sum()  # nltk does no sampling: against cliffwatch's vocab + fit + score
            line += f"; nltk {nltk_total / same:.0f}x (vocab+ids+fit+score)"
        print(line)


if __name__ == "__main__":
    main()
