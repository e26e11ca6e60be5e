"""CPU benchmark of the ``gpt`` family's tiny configuration (2 layers, width 128, 4 heads, context
128): training tokens/s on real text, beside Hugging Face ``GPT2LMHeadModel`` of the same shape
trained by the same loop on the same batches (target: >= 25,000 tokens/s on 2 cores).

Both networks go through cliffwatch's training loop (``families._neural.train``: AdamW, length-bucketed
batches of whole sentences, gradient clipping), so only the network differs. Tokens are the target
tokens trained on (padding excluded); the first steps (warm-up of the allocator) are not timed.

    PYTHONPATH=src python benchmarks/bench_neural_cpu.py [--threads 2] [--steps 60]
"""

import _bench  # first: it pins BLAS/OpenMP to one thread before numpy loads

import argparse  # noqa: E402
from contextlib import nullcontext  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cliffwatch.data.sources.corpus import CorpusData  # noqa: E402
from cliffwatch.data.sources.corpus import TextSource  # noqa: E402
from cliffwatch.families._neural import train, window_rows  # noqa: E402
from cliffwatch.families.gpt import GPT, GPTFamily, GPTModel, train_tokenizer  # noqa: E402

SHAPE = dict(layers=2, width=128, heads=4, context=128, vocab_size=2048, batch=64)
WARMUP_STEPS = 5


def timed_training(logits_of, module, rows, params, steps: int) -> float:
    """Tokens per second of ``steps`` optimiser steps (after WARMUP_STEPS untimed ones)."""
    train(logits_of, module, rows, params.model_copy(update={"steps": WARMUP_STEPS}), np.random.default_rng(0), torch.device("cpu"), nullcontext)
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    train(logits_of, module, rows, params.model_copy(update={"steps": steps}), rng, torch.device("cpu"), nullcontext)
    seconds = time.perf_counter() - start
    # the tokens those steps trained on: replay the same batch schedule
    size = (rows >= 0).sum(axis=1)
    rng = np.random.default_rng(1)
    by_length = np.lexsort((rng.random(len(rows)), size))
    batches = [by_length[i: i + params.batch] for i in range(0, len(rows), params.batch)]
    schedule = np.concatenate([rng.permutation(len(batches)) for _ in range(-(-steps // len(batches)))])[:steps]
    tokens = sum(int(size[batches[b]].sum() - len(batches[b])) for b in schedule)
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = TextSource(CorpusData(source="corpus", corpus="pydocs"), 1000, np.random.default_rng(0))
    family = GPTFamily(source.info, {**SHAPE, "device": "cpu"})
    data = source.pool.take(np.arange(min(20_000, len(source.pool))))
    tokenizer = train_tokenizer(data, source.info.vocab.words, SHAPE["vocab_size"])
    net = GPT(tokenizer.get_vocab_size(), SHAPE["width"], SHAPE["layers"], SHAPE["heads"], SHAPE["context"])
    net.init_weights(torch.Generator().manual_seed(0))
    model = GPTModel(family, net, tokenizer, np.zeros(0))
    rows, _, _ = window_rows(*model._sequences([data], eos=True)[:2], SHAPE["context"])

    ours = timed_training(net, net, rows, family.params, args.steps)

    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=tokenizer.get_vocab_size(), n_positions=SHAPE["context"], n_embd=SHAPE["width"],
                        n_layer=SHAPE["layers"], n_head=SHAPE["heads"], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(config)
    theirs = timed_training(lambda x: hf(input_ids=x).logits, hf, rows, family.params, args.steps)

    load = os.getloadavg()
    print(f"gpt tiny (2 layers, width 128, vocab {tokenizer.get_vocab_size()}), {len(rows)} sentences of pydocs, "
          f"batch {SHAPE['batch']}, {args.steps} steps, {args.threads} threads, torch {torch.__version__}, "
          f"load average {load[0]:.1f}")
    print(f"  cliffwatch gpt          {ours:10,.0f} tokens/s  (target >= 25,000)")
    print(f"  HF GPT2LMHeadModel      {theirs:10,.0f} tokens/s  (same shape, same loop)  ratio {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
