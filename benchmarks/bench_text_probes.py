"""Text probes on 1M tokens: a 1M-token human reference and 1M tokens of model samples, one core.

Target: every text probe together under 2 s. Real text: the pydocs corpus (about 230k tokens),
repeated to 1M tokens for the reference; an order-3 n-gram model fitted on the corpus draws the
samples (and a second batch as the previous generation's samples, for the gaming gap). Drawing
samples is the loop's cost, not the probes', so they are drawn before the clock starts. Each probe
is timed alone on a fresh context and a fresh instance (it pays for every shared intermediate and
its per-source setup); the total runs all of them on one context, sharing the cache as the loop does.

    python benchmarks/bench_text_probes.py
"""

from _bench import best_of  # first: it pins BLAS/OpenMP to one thread before numpy loads

from dataclasses import dataclass

import numpy as np

from cliffwatch.data.corpora import load_corpus
from cliffwatch.core.modality import Sentences
from cliffwatch.families.base import DataInfo
from cliffwatch.probes.base import ProbeContext
from cliffwatch.core.registry import FAMILIES, PROBES

TOKENS = 1_000_000
TARGET_S = 2.0


@dataclass
class CorpusSource:
    """The parts of a TextSource the text probes read: the human training pool and the fact base."""

    pool: Sentences
    facts: None = None


def draw(model, rng: np.random.Generator) -> Sentences:
    """Model samples, at least TOKENS tokens."""
    batches, tokens = [], 0
    while tokens < TOKENS:
        batches.append(model.sample(20_000, rng))
        tokens += batches[-1].n_tokens
    return Sentences.concat(batches)



def main() -> None:
    corpus = load_corpus("pydocs")
    reference = Sentences.concat([corpus.sentences] * -(-TOKENS // corpus.n_tokens))
    info = DataInfo("text", vocab=corpus.vocab)
    model = FAMILIES.get("ngram")(info, {"order": 3}).fit(corpus.sentences, np.random.default_rng(0))
    samples, prev_samples = draw(model, np.random.default_rng(1)), draw(model, np.random.default_rng(2))
    source = CorpusSource(corpus.sentences)
    probes = [cls for _, cls in PROBES.items() if cls.modality == "text" and cls.applies_to(source)]

    def context() -> ProbeContext:
        return ProbeContext(
            model=model, generation=1, train=corpus.sentences, draw_samples=lambda: samples, reference=reference,
            info=info, make_rng=lambda: np.random.default_rng(3), source=source, prev_model=model,
            draw_prev_samples=lambda: prev_samples,
        )

    def run_all() -> None:
        ctx = context()
        for cls in probes:
            cls()(ctx)

    print(f"reference {reference.n_tokens:,} tokens, samples {samples.n_tokens:,} tokens "
          f"({len(samples):,} sentences), vocabulary {len(corpus.vocab):,}, one core")
    print(f"{'probe':<18}{'seconds':>9}  metrics")
    for cls in probes:
        seconds = best_of(3, lambda probe=cls: probe()(context()))
        print(f"{cls.name:<18}{seconds:>9.3f}  {', '.join(m.name for m in cls.metrics)}")
    total = best_of(3, run_all)
    print(f"{'total (shared)':<18}{total:>9.3f}  target {TARGET_S:.0f} s: {'PASS' if total < TARGET_S else 'FAIL'}")


if __name__ == "__main__":
    main()
