"""Where one decoded token's time goes: torch.profiler over einformer's single-token step.

The 6 x 384 GPT of bench/generate.py (random weights in GPT-2's layout), batch 1, a 16-token
prompt, 20 warm-up tokens, then the median unprofiled step and a profile of 100 steps (self CPU
time per op; divide by 100 for per-token figures). docs/generation.md keeps the table.

    python bench/step_profile.py [--layers 6 --d-model 384 --heads 6 --vocab 8192]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from einformer import GPT
from einformer.generation import decoders


def main() -> None:
    import transformers

    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--vocab", type=int, default=8192)
    args = p.parse_args()
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=args.vocab, n_positions=1024, n_embd=args.d_model, n_layer=args.layers, n_head=args.heads,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        transformers.GPT2LMHeadModel(config).save_pretrained(d)
        model = GPT.from_pretrained(d).eval()
    state = decoders.CausalState(model, None, "dynamic", 16 + 400)
    with torch.no_grad():
        token = state.step(torch.randint(0, args.vocab, (1, 16))).argmax(-1)[:, None]
        for _ in range(20):
            token = state.step(token).argmax(-1)[:, None]
        times = []
        for _ in range(200):
            start = time.perf_counter()
            token = state.step(token).argmax(-1)[:, None]
            times.append(time.perf_counter() - start)
        print(f"step + argmax: median {statistics.median(times) * 1000:.3f} ms per token")
        with torch.profiler.profile() as prof:
            for _ in range(100):
                token = state.step(token).argmax(-1)[:, None]
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16))


if __name__ == "__main__":
    main()
