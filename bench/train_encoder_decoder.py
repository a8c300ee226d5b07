"""Training throughput of einformer's EncoderDecoderTransformer against torch.nn.Transformer.

Both models have the same sizes (post-norm, relu, no dropout), the same embeddings, positions and
tied output projection, and train on the same padded batches with AdamW. Cases alternate every
iteration; the ratio is the median of per-iteration ratios (above 1 = einformer is faster).

    python bench/train_encoder_decoder.py [--d-model 256 --layers 3 --heads 4 --d-ff 1024 --vocab 8000]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from einformer import EncoderDecoderConfig, EncoderDecoderTransformer


class TorchSeq2Seq(nn.Module):
    """torch.nn.Transformer with einformer's embeddings, positions and tied output layer."""

    def __init__(self, ours: EncoderDecoderTransformer):
        super().__init__()
        c = ours.config
        self.ours = ours  # borrow embeddings and positions: only the Transformer body differs
        self.body = nn.Transformer(
            c.d_model, c.n_heads, c.n_encoder_layers, c.n_decoder_layers, c.d_ff, dropout=0.0, batch_first=True
        )
        self.scale = math.sqrt(c.d_model)

    def forward(self, input_ids, attention_mask, decoder_input_ids, labels):
        o = self.ours
        src = o.src_embed(input_ids) + o.src_pos(torch.arange(input_ids.shape[1]))
        tgt = o.tgt_embed(decoder_input_ids) + o.tgt_pos(torch.arange(decoder_input_ids.shape[1]))
        causal = nn.Transformer.generate_square_subsequent_mask(decoder_input_ids.shape[1])
        pad = attention_mask == 0
        h = self.body(
            src, tgt, tgt_mask=causal, src_key_padding_mask=pad, memory_key_padding_mask=pad, tgt_is_causal=True
        )
        logits = o.lm_head(h)
        return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def make_batch(batch, src_len, tgt_len, vocab, g):
    """Sentence-like batch: lengths vary, right padding."""
    src_lengths = torch.randint(src_len // 2, src_len + 1, (batch,), generator=g)
    tgt_lengths = torch.randint(tgt_len // 2, tgt_len + 1, (batch,), generator=g)
    input_ids = torch.randint(4, vocab, (batch, src_len), generator=g)
    attention_mask = (torch.arange(src_len)[None] < src_lengths[:, None]).long()
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    labels = torch.randint(4, vocab, (batch, tgt_len), generator=g)
    labels = labels.masked_fill(torch.arange(tgt_len)[None] >= tgt_lengths[:, None], -100)
    tokens = int(attention_mask.sum() + (labels != -100).sum())
    return input_ids, attention_mask, labels, tokens


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--src-len", type=int, default=24)
    p.add_argument("--tgt-len", type=int, default=24)
    p.add_argument("--iterations", type=int, default=20)
    args = p.parse_args()
    torch.manual_seed(0)
    config = EncoderDecoderConfig(
        src_vocab_size=args.vocab,
        tgt_vocab_size=args.vocab,
        d_model=args.d_model,
        n_heads=args.heads,
        n_encoder_layers=args.layers,
        n_decoder_layers=args.layers,
        d_ff=args.d_ff,
        dropout=0.0,
        label_smoothing=0.0,
    )
    ours = EncoderDecoderTransformer(config)
    theirs = TorchSeq2Seq(EncoderDecoderTransformer(config))
    g = torch.Generator().manual_seed(0)
    input_ids, attention_mask, labels, tokens = make_batch(args.batch, args.src_len, args.tgt_len, args.vocab, g)
    decoder_input_ids = ours.shift_right(labels)

    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=1e-4)

    def step_ours():
        loss = ours(input_ids, attention_mask, decoder_input_ids=decoder_input_ids, labels=labels).loss
        loss.backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def step_theirs():
        loss = theirs(input_ids, attention_mask, decoder_input_ids, labels)
        loss.backward()
        opt_theirs.step()
        opt_theirs.zero_grad(set_to_none=True)

    cases = {"einformer": step_ours, "torch.nn.Transformer": step_theirs}
    times = {name: [] for name in cases}
    for i in range(args.iterations + 3):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            if i >= 3:
                times[name].append(time.perf_counter() - start)
    ratio = statistics.median(t / o for t, o in zip(times["torch.nn.Transformer"], times["einformer"], strict=True))
    n_params = sum(p.numel() for p in ours.parameters())
    print(
        f"train step (fwd+bwd+AdamW), B={args.batch} S<={args.src_len} T<={args.tgt_len} D={args.d_model} "
        f"layers={args.layers}+{args.layers} vocab={args.vocab}, {n_params / 1e6:.1f}M params, fp32, "
        f"{torch.get_num_threads()} threads"
    )
    for name, t in times.items():
        sec = statistics.median(t)
        line = f"{name:<22} {sec * 1e3:8.1f} ms  {tokens / sec:9.0f} tokens/s"
        if name != "einformer":
            line += f"  ratio={ratio:.3f}"
        print(line)


if __name__ == "__main__":
    main()
