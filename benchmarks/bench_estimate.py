"""Speed of ``cliffwatch estimate`` on 100,000 documents with the n-gram detector, beside a
classify-and-count baseline measured in the same run on the same scores.

    python benchmarks/bench_estimate.py [--documents 100000]

The corpus: pydocs sentences (written to a .jsonl file, one document per line) mixed 70/30 with
samples of a word 3-gram model of them. Timed end to end through ``api.estimate``: reading and
tokenising the corpus and the reference, fitting the detector (its human model, the generator's
copies and models), scoring every document, and the quantification with its interval. The
baseline is classify-and-count, timed end to end the same way: the same detector, its scores
counted over the threshold that best separates its calibration sets (no interval, and biased
whenever the share differs from the calibration's 50/50).
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
from cliffwatch.analysis.quantify import bin_edges
from cliffwatch.guard.estimate import GeneratorSpec, _remap, fit_detector
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

        def estimate():
            return api.estimate(corpus, ref, ["ngram"]).estimate

        def classify_and_count():  # the same pipeline, the quantification replaced by a count
            detector = fit_detector(load_corpus(ref), [GeneratorSpec.parse("ngram")])
            scores = detector.score(_remap(load_corpus(corpus), detector.vocab))
            cut = bin_edges(detector.calibration_human, np.concatenate(detector.calibration_copies), "acc")[0]
            return float(np.mean(scores > cut))

        rows = [("estimate (quantification + interval)", *_timed(estimate)),
                ("classify-and-count (same detector)", *_timed(classify_and_count))]
    print(f"load average: {load:.2f} at start, {os.getloadavg()[0]:.2f} at end (2-core Xeon KVM VM, shared)")
    print(f"{len(docs):,} documents, true synthetic share {len(machine) / len(docs):.3f}; each row end to end: "
          "read and tokenise both files, fit the detector, score every document, estimate")
    for name, result, wall, cpu in rows:
        shown = f"{result.share:.3f} [{result.low:.3f}, {result.high:.3f}]" if hasattr(result, "share") else f"{result:.3f}"
        print(f"{name:<38} {wall:6.2f} s wall {cpu:6.2f} s CPU  -> {shown}")


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
