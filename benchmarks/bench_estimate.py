"""Speed of ``cliffwatch estimate`` on 100,000 documents with the n-gram detector, beside a
classify-and-count baseline measured in the same run on the same scores.

    python benchmarks/bench_estimate.py [--documents 100000]

The corpus: pydocs sentences (written to a .jsonl file, one document per line) mixed 70/30 with
samples of a word 3-gram model of them. Timed end to end through ``api.estimate``: reading and
tokenising the corpus and the reference, fitting the detector (its human model, the generator's
copies and models), scoring every document, and the quantification with its interval. The
baseline is classify-and-count: the same detector's scores, counted over its best threshold
(the scoring is shared; only the last step differs, so the baseline's time is the step alone).
One core: BLAS threads are pinned to one and nothing here starts processes.
"""

import _bench  # noqa: F401  (pins BLAS threads first)

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from cliffwatch import api
from cliffwatch.analysis.quantify import bin_edges, quantify
from cliffwatch.core.modality import TEXT, DataInfo
from cliffwatch.data.corpora import load_corpus
from cliffwatch.families.ngram import NgramFamily


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000)
    args = parser.parse_args()
    pydocs = load_corpus("pydocs")
    words, rng = pydocs.vocab.words, np.random.default_rng(0)
    order = rng.permutation(len(pydocs.sentences))
    reference, held = order[:10_000], order[10_000:]
    # the generator learnt from as much text as the estimator's copies of it (a fifth of the reference)
    machine = NgramFamily(DataInfo(TEXT, vocab=pydocs.vocab)).fit(pydocs.sentences.take(held[:2000]), rng).sample(
        int(0.3 * args.documents), rng)
    human = pydocs.sentences.take(rng.choice(held, args.documents - len(machine)))

    def lines(sentences):
        return [" ".join(words[i] for i in sentences.sentence(j)) + "." for j in range(len(sentences))]

    with tempfile.TemporaryDirectory() as tmp:
        corpus, ref = Path(tmp) / "corpus.jsonl", Path(tmp) / "reference.jsonl"
        docs = lines(human) + lines(machine)
        corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
        ref.write_text("".join(json.dumps({"text": d}) + "\n" for d in lines(pydocs.sentences.take(reference))))
        load = os.getloadavg()[0]
        start = time.perf_counter()
        result = api.estimate(corpus, ref, ["ngram"])
        total = time.perf_counter() - start
        e = result.estimate
        # the same detector's scores for both last steps, timed alone
        from cliffwatch.guard.estimate import GeneratorSpec, _remap, fit_detector

        detector = fit_detector(load_corpus(ref), [GeneratorSpec.parse("ngram")])
        start = time.perf_counter()
        scores = detector.score(_remap(load_corpus(corpus), detector.vocab))  # as estimate_with does
        scoring = time.perf_counter() - start
        h, s = detector.calibration_human, detector.calibration_synthetic
        start = time.perf_counter()
        quantify(h, s, scores)
        quantifying = time.perf_counter() - start
        start = time.perf_counter()
        counted = float(np.mean(scores > bin_edges(h, s, "acc")[0]))
        counting = time.perf_counter() - start
    print(f"load average: {load:.2f} at start, {os.getloadavg()[0]:.2f} at end (2-core Xeon KVM VM, shared)")
    print(f"{result.documents:,} documents scored (true synthetic share {len(machine) / args.documents:.3f})")
    print(f"estimate, end to end:          {total:7.2f} s  -> {e.share:.3f} [{e.low:.3f}, {e.high:.3f}]")
    print(f"  reading + scoring the corpus: {scoring:6.2f} s (timed again alone)")
    print(f"  quantification + interval:   {quantifying:7.2f} s (timed again alone)")
    print(f"classify-and-count, last step: {counting:7.4f} s  -> {counted:.3f} (no interval)")


if __name__ == "__main__":
    main()
