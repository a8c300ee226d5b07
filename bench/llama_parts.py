"""What the Llama's own small operators cost a decoded token, against einformer's GPT of the same shape.

bench/llama.py's two models (8 layers, 512 wide, vocab 32000), greedy ``generate`` of ``--new`` tokens
after 16, in shuffled rounds. Besides the two models, the Llama runs with a part replaced, measured
only (the tokens are then wrong, and the script does not check them):

* LayerNorm for RMSNorm: ``torch.layer_norm`` without the bias, one operator, where ``torch.rms_norm``
  runs about ten on a CPU (it is a composite there) and 17 norms run a token;
* the formula for RMSNorm: x * rsqrt(mean(x^2) + eps) * w, six operators, the same bits;
* no rotation: q and k left as they are (16 rotations a token).

Per side: the median time per step and the median per-round ratio to the GPT. The Llama streams
1.13x the GPT's weight bytes a step (its SwiGLU feed-forward has three matrices, GPT's two): a ratio
of 1.13 is equal efficiency. One process's ratios move by a few percent; run it in several
(``python bench/processes.py 4 python bench/llama_parts.py``).

    python bench/llama_parts.py [--rounds 15] [--new 32] [--batch 1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics

import torch

from einformer.nn.norms import RMSNorm
from einformer.nn.rotary import RotaryEmbedding
from llama import build, build_gpt, streamed_bytes
from rounds import shuffled_rounds


def layer_norm(self, x):
    return torch.layer_norm(x, self.weight.shape, self.weight, None, self.eps)


def formula(self, x):
    return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def unrotated(self, q, k, position_ids):
    return q, k


VARIANTS = {
    "Llama": [],
    "Llama, LayerNorm for RMSNorm": [(RMSNorm, "forward", layer_norm)],
    "Llama, RMSNorm's formula": [(RMSNorm, "forward", formula)],
    "Llama, no rotation": [(RotaryEmbedding, "forward", unrotated)],
}


@contextlib.contextmanager
def patched(items):
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in items]
    for owner, name, function in items:
        setattr(owner, name, function)
    try:
        yield
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    shape = argparse.Namespace(layers=8, d_model=512, d_ff=None, heads=8, kv_heads=2, vocab=32000, prompt=16,
                               new=args.new)  # fmt: skip
    llama, gpt = build(shape)[0], build_gpt(shape)[0]
    ids = torch.randint(3, shape.vocab, (args.batch, shape.prompt), generator=torch.Generator().manual_seed(0))
    kw = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False)
    torch.set_grad_enabled(False)
    want = llama(ids).logits
    with patched(VARIANTS["Llama, RMSNorm's formula"]):  # the formula gives the operator's bits
        assert torch.equal(llama(ids).logits, want)

    def side(items):
        def run():
            with patched(items):
                llama.generate(ids, **kw)

        return run

    sides = {"GPT": lambda: gpt.generate(ids, **kw), **{name: side(items) for name, items in VARIANTS.items()}}
    for run in sides.values():  # warm-up: packing, first calls
        run()
    times = shuffled_rounds(sides, args.rounds)
    print(f"batch {args.batch}, {args.new} new tokens, {args.rounds} shuffled rounds; Llama / GPT weight bytes "
          f"{streamed_bytes(llama) / streamed_bytes(gpt):.2f} (equal efficiency)")  # fmt: skip
    for name, ts in times.items():
        ratio = statistics.median(t / g for t, g in zip(ts, times["GPT"], strict=True))
        print(f"{name:<30}  {statistics.median(ts) / args.new * 1e3:6.2f} ms a step   ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
