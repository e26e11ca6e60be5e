"""GPU benchmark of the neural track (issue 10), each figure beside its peer from the same run.

1. Training the ``gpt`` network at GPT-2 small's shape (12 layers, width 768, 12 heads, context 1024,
   vocab 50,304; ~124M parameters): tokens/s and MFU (6 N + 12 L T d FLOPs per token, against
   989 TFLOP/s dense bf16 on an H100/H200) beside Hugging Face ``GPT2LMHeadModel`` of the same shape
   and settings (bf16 autocast, fused AdamW, torch.compile, batch 16 x 1024). Targets: MFU >= 45%
   and >= 1.4x HF.
2. Sampling: tokens/s at batch 256 for 256 new tokens, the ``gpt`` static-KV-cache decode loop
   (compiled with CUDA graphs) beside HF ``generate`` on the same-shape GPT2LMHeadModel (target >= 10x).
3. One whole loop generation of examples/landmark-neural.yaml (s = 1, generation 1, after the
   generation-0 model trained from scratch on human data): seconds in fit, sample and probes.

Networks are built from configs (random weights: no downloads, no SmolLM2 wheel).
``--tiny`` runs every part at a toy size on the CPU in seconds (tested in tests/test_neural.py).

    PYTHONPATH=src python benchmarks/bench_neural_gpu.py [--tiny]
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from cliffwatch.families.gpt import GPT, decode_step, generate

PEAK_BF16_FLOPS = 989e12  # H100 / H200 SXM dense bf16


@dataclass(frozen=True)
class Size:
    layers: int
    width: int
    heads: int
    context: int
    vocab: int
    train_batch: int
    train_steps: int
    sample_batch: int
    new_tokens: int


FULL = Size(12, 768, 12, 1024, 50_304, 16, 30, 256, 256)
TINY = Size(2, 64, 4, 64, 512, 4, 3, 16, 16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def hf_gpt2(size: Size, device: torch.device):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=size.vocab, n_positions=size.context, n_embd=size.width, n_layer=size.layers,
                        n_head=size.heads, activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=0, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(0)
    return GPT2LMHeadModel(config).to(device)


def ours(size: Size, device: torch.device) -> GPT:
    net = GPT(size.vocab, size.width, size.layers, size.heads, size.context).to(device)
    net.init_weights(torch.Generator(device=device).manual_seed(0))
    return net


def flops_per_token(n_params: int, size: Size) -> float:
    """6 N for the matmuls (forward + backward) plus 12 L T d for attention scores and values."""
    return 6 * n_params + 12 * size.layers * size.context * size.width


def train_rate(logits_of, module: torch.nn.Module, size: Size, device: torch.device, compile_: bool) -> float:
    """Training tokens/s on random tokens, batch train_batch x context, after two untimed steps."""
    fused = device.type == "cuda"
    optimiser = torch.optim.AdamW(module.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=fused)
    step_logits = torch.compile(logits_of) if compile_ else logits_of
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, size.vocab, (size.train_batch, size.context + 1), device=device, generator=generator)

    def step():
        with autocast(device):
            logits = step_logits(x[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(size.train_steps):
        step()
    sync(device)
    return size.train_steps * size.train_batch * size.context / (time.perf_counter() - start)


def sample_rate_ours(net: GPT, size: Size, device: torch.device, compile_: bool) -> float:
    """Decode tokens/s: batch sample_batch, new_tokens each (EOS does not stop a row: fixed work)."""
    net.eval()
    step = torch.compile(decode_step, mode="reduce-overhead", dynamic=False) if compile_ else decode_step
    width = size.new_tokens + 1
    with torch.inference_mode(), autocast(device):
        cache_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        net.setup_cache(size.sample_batch, cache_dtype)

        def run():
            tokens = torch.zeros((size.sample_batch, width), dtype=torch.long, device=device)
            forced = torch.zeros_like(tokens, dtype=torch.bool)
            forced[:, 0] = True
            generator = torch.Generator(device=device).manual_seed(0)
            return generate(net, step, tokens, forced, generator, 1.0, 1.0, stop_at_eos=False)

        run()  # compile and capture
        sync(device)
        start = time.perf_counter()
        run()
        sync(device)
    return size.sample_batch * size.new_tokens / (time.perf_counter() - start)


def sample_rate_hf(model, size: Size, device: torch.device) -> float:
    model.eval()
    ids = torch.zeros((size.sample_batch, 1), dtype=torch.long, device=device)
    kwargs = dict(do_sample=True, top_k=0, max_new_tokens=size.new_tokens, min_new_tokens=size.new_tokens, pad_token_id=1)
    with torch.inference_mode(), autocast(device):
        model.generate(ids, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})
        sync(device)
        start = time.perf_counter()
        model.generate(ids, **kwargs)
        sync(device)
    return size.sample_batch * size.new_tokens / (time.perf_counter() - start)


def landmark_generation(tiny: bool, device: torch.device) -> dict[str, float]:
    """Seconds of generation 1 of the landmark example (s = 1), split into fit, sample and the rest
    (probes, filters, mixing); generation 0, the model trained from scratch on human data, runs first."""
    from cliffwatch.config.grid import grid_variants
    from cliffwatch.config.load import load_sweep
    from cliffwatch.config.schema import ExperimentConfig
    from cliffwatch.families import gpt as gpt_module
    from cliffwatch.loop.engine import LineageRunner
    from cliffwatch.loop.lineage import Lineage

    config = load_sweep(Path(__file__).resolve().parent.parent / "examples" / "landmark-neural.yaml")
    raw = next(v for labels, v in grid_variants(config) if labels["synthetic_fraction"] == 1.0).model_dump(mode="json")
    raw |= {"generations": 1, "seeds": [0]}
    raw["family"]["device"] = device.type
    if tiny:
        raw["family"] |= {"layers": 2, "width": 64, "heads": 4, "context": 64, "vocab_size": 512, "epochs": 1,
                          "batch": 32, "compile": False, "dtype": "float32", "sample_batch": 128}
        raw |= {"holdout": 60, "probe_samples": 30}
        raw["data"]["max_sentences"] = 800
        raw["policy"]["samples"] = 200
    seconds = {"fit": 0.0, "sample": 0.0}
    fit, sample = gpt_module.GPTFamily.fit, gpt_module.GPTModel.sample

    def timed(key, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sync(device)
                seconds[key] += time.perf_counter() - start
        return wrapper

    marks = []
    runner = LineageRunner(Lineage(ExperimentConfig.model_validate(raw), 0))
    gpt_module.GPTFamily.fit, gpt_module.GPTModel.sample = timed("fit", fit), timed("sample", sample)
    try:
        marks.append((time.perf_counter(), dict(seconds)))
        for _ in runner.generations():
            marks.append((time.perf_counter(), dict(seconds)))
    finally:
        gpt_module.GPTFamily.fit, gpt_module.GPTModel.sample = fit, sample
    (t0, s0), (t1, s1) = marks[-2:]
    split = {"total": t1 - t0, "fit": s1["fit"] - s0["fit"], "sample": s1["sample"] - s0["sample"]}
    split["probes and the rest"] = split["total"] - split["fit"] - split["sample"]
    split["generation 0 (pre-training)"] = marks[-2][0] - marks[0][0]
    return split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU, seconds (a smoke test)")
    args = parser.parse_args()
    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    size = TINY if args.tiny else FULL
    compile_ = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        name = torch.cuda.get_device_name()
    else:
        name = f"CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})"
    print(f"device: {name}; torch {torch.__version__}; shape: {size.layers} layers, width {size.width}, "
          f"context {size.context}, vocab {size.vocab}")

    net = ours(size, device)
    hf = hf_gpt2(size, device)
    n_params = sum(p.numel() for p in net.parameters())
    flops = flops_per_token(n_params, size)
    rate_ours = train_rate(net, net, size, device, compile_)
    rate_hf = train_rate(lambda x: hf(input_ids=x).logits, hf, size, device, compile_)
    mfu = (lambda rate: rate * flops / PEAK_BF16_FLOPS if device.type == "cuda" else float("nan"))
    print(f"training ({n_params / 1e6:.1f}M parameters, batch {size.train_batch} x {size.context}):")
    print(f"  cliffwatch gpt       {rate_ours:12,.0f} tokens/s   MFU {mfu(rate_ours):6.1%}   (target >= 45%, >= 1.4x HF)")
    print(f"  HF GPT2LMHeadModel   {rate_hf:12,.0f} tokens/s   MFU {mfu(rate_hf):6.1%}   ratio {rate_ours / rate_hf:.2f}x")

    s_ours = sample_rate_ours(net, size, device, compile_)
    s_hf = sample_rate_hf(hf, size, device)
    print(f"sampling (batch {size.sample_batch}, {size.new_tokens} new tokens):")
    print(f"  cliffwatch gpt static-cache decode  {s_ours:12,.0f} tokens/s   (target >= 10x HF)")
    print(f"  HF generate                         {s_hf:12,.0f} tokens/s   ratio {s_ours / s_hf:.1f}x")
    del net, hf

    split = landmark_generation(args.tiny, device)
    print("landmark loop generation 1 (s = 1), seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))


if __name__ == "__main__":
    main()
