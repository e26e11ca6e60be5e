"""Embedding probes for text (issue 12), one thread per measurement.

1. The ``embedding`` probe on 2,000 samples of an order-3 n-gram model against a 2,000-sentence
   human reference whose embeddings are already cached (the loop's steady state: the reference is
   embedded once per process). Target: under 20 s. Its parts are timed too.
2. The Vendi score in its dual form (a d x d eigenproblem) on 20,000 embeddings, beside the
   ``vendi-score`` package on the same data: its own dual form (``score_dual``) everywhere, and
   its n x n kernel form (``score_K``) where the kernel fits in memory (n <= 5,000 here: 20,000^2
   float64 would be 3.2 GB on a shared machine). 20,000 real sentences would take minutes to
   embed, so the 20,000 rows are the real 4,000 embeddings resampled with small noise: the cost
   of the eigenproblem does not depend on the values.

    python benchmarks/bench_embed.py
"""

from _bench import timed  # first: it pins BLAS/OpenMP to one thread before numpy loads

import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cliffwatch.core.modality import DataInfo  # noqa: E402
from cliffwatch.core.registry import FAMILIES  # noqa: E402
from cliffwatch.data.corpora import load_corpus  # noqa: E402
from cliffwatch.probes import text_embedding as te  # noqa: E402
from cliffwatch.probes.base import ProbeContext  # noqa: E402

N = 2000
VENDI_N = 20_000
TARGET_S = 20.0


def main() -> None:
    import torch
    from vendi_score import vendi

    torch.set_num_threads(1)
    print(f"load: {os.getloadavg()[0]:.1f} (1-minute average), torch threads: {torch.get_num_threads()}")
    corpus = load_corpus("pydocs")
    order = np.random.default_rng(0).permutation(len(corpus.sentences))
    reference = corpus.sentences.take(order[:N])
    train = corpus.sentences.take(order[N:])
    info = DataInfo("text", vocab=corpus.vocab)
    model = FAMILIES.get("ngram")(info, {"order": 3}).fit(train, np.random.default_rng(1))
    samples = model.sample(N, np.random.default_rng(2))

    _, (load_s,) = timed(te.encoder)
    real, (ref_s,) = timed(lambda: te.reference_embeddings(reference, corpus.vocab))
    print(f"model load {load_s:.1f} s; reference embedded once: {ref_s:.1f} s (cached from here on)")

    ctx = ProbeContext(model=model, generation=1, train=None, draw_samples=lambda: samples, reference=reference,
                       info=info, make_rng=lambda: np.random.default_rng(3))
    cpu = time.process_time()
    values, (probe_s,) = timed(lambda: te.Embedding()(ctx))
    cpu = time.process_time() - cpu
    fake, (embed_s,) = timed(lambda: te.embed(samples, corpus.vocab))
    _, (prdc_s,) = timed(lambda: te.prdc(fake, real))
    _, (mauve_s,) = timed(lambda: te.mauve_scores(fake, real))
    print(f"\nembedding probe, {N} samples ({len(set(te.decode(samples, corpus.vocab)))} distinct) vs a cached "
          f"{N}-sentence reference: {probe_s:.1f} s wall, {cpu:.1f} s CPU (target < {TARGET_S:.0f} s: "
          f"{'pass' if probe_s < TARGET_S else 'FAIL'}; load {os.getloadavg()[0]:.1f} on 2 cores)")
    print(f"  parts: embed samples {embed_s:.1f} s, k-NN PRDC {prdc_s:.2f} s, MAUVE x{len(te.MAUVE_SEEDS)} seeds {mauve_s:.1f} s")
    print("  " + ", ".join(f"{k} {float(v[0]):.3f}" for k, v in values.items()))

    print(f"\nVendi score (cosine kernel): cliffwatch dual vs vendi-score")
    print(f"{'n':>7} {'cliffwatch dual':>22} {'vendi-score dual':>22} {'vendi-score n x n':>22}")
    both = np.concatenate([real, fake])
    rng = np.random.default_rng(4)
    big = both[rng.integers(0, len(both), VENDI_N)] + rng.normal(scale=0.01, size=(VENDI_N, both.shape[1]))
    for data in (fake, both, big):
        unit = data / np.linalg.norm(data, axis=1, keepdims=True)
        ours, (ours_s,) = timed(lambda: te.vendi_dual(data))
        theirs, (theirs_s,) = timed(lambda: vendi.score_dual(unit, normalize=False))
        row = f"{len(data):>7} {ours:>12.3f} ({ours_s:5.2f} s) {theirs:>12.3f} ({theirs_s:5.2f} s)"
        if len(data) <= 5000:
            kernel, (k_s,) = timed(lambda: vendi.score_K(unit @ unit.T))
            row += f" {kernel:>12.3f} ({k_s:5.2f} s)"
        else:
            row += f" {'(n x n: 3.2 GB, skipped)':>22}"
        print(row)


if __name__ == "__main__":
    main()
