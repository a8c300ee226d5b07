"""Evaluation speed of Transformer-XL with memory against a vanilla Transformer that recomputes its
window for every predicted token (Dai et al. 2019, section 4.3: "up to 1,874 times faster").

A vanilla model with absolute positions and context A must, to give every token A tokens of context,
run a whole window of A tokens per prediction and keep only its last output (Al-Rfou et al. 2019's
evaluation). Transformer-XL reads the text once, segment after segment, and reuses the states of
earlier segments as memory. For a fair attention length A, Transformer-XL runs with segment A,
memory A and ``same_length``, so every query attends to exactly A keys, as the vanilla window's
last token does. Both models have the same width and depth; the vanilla windows are batched.

    python bench/txl_eval.py [--lengths 128 256 512 --d-model 256 --layers 4 --heads 4]

Prints ms per predicted token for both, and the speedup (above 1 = Transformer-XL faster).
"""

from __future__ import annotations

import argparse
import time

import torch

from einformer import GPT, GPTConfig, TransformerXL, TransformerXLConfig


@torch.no_grad()
def vanilla_ms_per_token(model: GPT, ids: torch.Tensor, length: int, n_predictions: int, batch: int) -> float:
    """Each prediction re-runs the window of the ``length`` tokens ending at it."""
    starts = list(range(n_predictions))
    t0 = time.perf_counter()
    for i in range(0, n_predictions, batch):
        windows = torch.stack([ids[s : s + length] for s in starts[i : i + batch]])  # (batch, A)
        model(windows).logits[:, -1]
    return (time.perf_counter() - t0) * 1000 / n_predictions


@torch.no_grad()
def xl_ms_per_token(model: TransformerXL, ids: torch.Tensor, length: int, n_segments: int) -> float:
    """Segments of ``length`` with a memory of ``length``; the first segment (empty memory) is warm-up."""
    mems = model(ids[None, :length]).mems
    t0 = time.perf_counter()
    for k in range(1, n_segments + 1):
        mems = model(ids[None, k * length : (k + 1) * length], mems=mems).mems
    return (time.perf_counter() - t0) * 1000 / (n_segments * length)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--predictions", type=int, default=64, help="vanilla predictions timed per length")
    p.add_argument("--segments", type=int, default=4, help="Transformer-XL segments timed per length")
    p.add_argument("--batch", type=int, default=16, help="vanilla windows per forward")
    a = p.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; d_model {a.d_model}, {a.layers} layers")
    print(f"{'attention length':>16} {'vanilla ms/token':>17} {'XL ms/token':>12} {'speedup':>8}")
    for length in a.lengths:
        shared = dict(d_model=a.d_model, n_layers=a.layers, n_heads=a.heads, vocab_size=a.vocab)
        vanilla = GPT(GPTConfig(**shared, max_position=length, bos_token_id=None, eos_token_id=None)).eval()
        xl = TransformerXL(
            TransformerXLConfig(**shared, d_ff=4 * a.d_model, mem_len=length, segment_length=length, same_length=True)
        ).eval()
        ids = torch.randint(0, a.vocab, (length * (a.segments + 2) + a.predictions,))
        vanilla_ms_per_token(vanilla, ids, length, a.batch, a.batch)  # warm-up
        v = vanilla_ms_per_token(vanilla, ids, length, a.predictions, a.batch)
        x = xl_ms_per_token(xl, ids, length, a.segments)
        print(f"{length:>16} {v:>17.2f} {x:>12.3f} {v / x:>7.1f}x", flush=True)


if __name__ == "__main__":
    main()
