"""Where a decoded token's time goes in einformer's Llama and in its GPT of the same shape.

bench/llama.py compares each model with transformers. This script asks why our Llama's lead is smaller
than our GPT's: torch.profiler over ``generate`` (``--new`` tokens after a 16-token prompt, after one
warm-up call) of bench/llama.py's two models (8 layers, 512 wide, vocab 32000; the Llama with 8 query
and 2 key-value heads and a SwiGLU feed-forward, GPT-2's layout for the GPT), self CPU time per step:
the matrix products (and the bytes of weights they stream per second), attention, and every other
op, with the largest of those listed (per step: one new token per row). The profiler adds a few
microseconds to every op, so the small ops weigh more here than unprofiled, and the Python between
ops is not counted at all (bench/llama_parts.py times the parts unprofiled).

    python bench/llama_profile.py [--batch 1] [--new 64]
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from llama import build, build_gpt, streamed_bytes

PRODUCTS = ("mkldnn::_linear_pointwise", "aten::addmm", "aten::mm", "aten::linear")


def report(name: str, model, ids: torch.Tensor, new: int) -> None:
    kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False)
    model.generate(ids, **kw)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model.generate(ids, **kw)
    events = prof.key_averages()

    def ms(keys) -> float:  # self CPU ms per step (one token per row)
        return sum(e.self_cpu_time_total for e in events if e.key in keys) / new / 1e3

    total = sum(e.self_cpu_time_total for e in events) / new / 1e3
    products = ms(PRODUCTS)
    attention = sum(e.self_cpu_time_total for e in events if "scaled_dot_product" in e.key) / new / 1e3
    gbs = streamed_bytes(model) / (products / 1e3) / 1e9  # a step streams every weight once
    mb, other = streamed_bytes(model) / 1e6, total - products - attention
    print(f"{name}: {total:.2f} ms a step; products {products:.2f} ms ({mb:.0f} MB, {gbs:.1f} GB/s), "
          f"attention {attention:.2f} ms, other ops {other:.2f} ms")  # fmt: skip
    others = [e for e in events if e.key not in PRODUCTS and "scaled_dot_product" not in e.key]
    for e in sorted(others, key=lambda e: -e.self_cpu_time_total)[:10]:
        print(f"    {e.key:<32} {e.count / new:6.1f} a step  {e.self_cpu_time_total / new / 1e3:6.3f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--new", type=int, default=64)
    args = p.parse_args()
    shape = argparse.Namespace(layers=8, d_model=512, d_ff=None, heads=8, kv_heads=2, vocab=32000, prompt=16,
                               new=args.new)  # fmt: skip
    torch.set_grad_enabled(False)
    ids = torch.randint(3, shape.vocab, (args.batch, shape.prompt), generator=torch.Generator().manual_seed(0))
    print(f"batch {args.batch}, {args.new} new tokens after {shape.prompt}; self CPU time a step (torch.profiler)")
    report("Llama", build(shape)[0], ids, args.new)
    report("GPT", build_gpt(shape)[0], ids, args.new)


if __name__ == "__main__":
    main()
