"""Tiny random-initialised Hugging Face checkpoints for the neural tests (built locally, no network)."""

from pathlib import Path


def tiny_gpt2_checkpoint(folder: Path, info, data, positions: int = 128, vocab_rows: int | None = None) -> Path:
    """A 2-layer, width-64 GPT2LMHeadModel with a byte-level BPE tokenizer trained on ``data``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from cliffwatch.families.gpt import BOS, EOS, UNK_TOKEN, train_tokenizer

    bpe = train_tokenizer(data, info.vocab.words, 400)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOS, unk_token=UNK_TOKEN)
    config = GPT2Config(vocab_size=vocab_rows or len(tokenizer), n_positions=positions, n_embd=64, n_layer=2, n_head=4,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def text_info():
    """A small real corpus: (DataInfo, sentences) from three stdlib module docstrings."""
    import argparse
    import csv
    import json

    from cliffwatch.core.modality import Sentences

    from cliffwatch.data.text import Vocab, split_sentences, tokenize
    from cliffwatch.families.base import DataInfo

    text = " ".join(m.__doc__ for m in (json, csv, argparse))
    tokens = [t for t in (tokenize(s) for s in split_sentences(text)) if 3 <= len(t) <= 40]
    vocab = Vocab.build(tokens)
    return DataInfo("text", vocab=vocab), Sentences.from_lists([vocab.encode(t) for t in tokens])
