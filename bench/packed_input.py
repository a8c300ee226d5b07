"""What the shape of a packed product's input costs: (B, D) against (B, 1, D), the same numbers.

A decoded token used to pass its layers as (B, 1, D). oneDNN's packed product
(``torch.ops.mkldnn._linear_pointwise``, nn/packed.py) reshapes any input of more than two dimensions
to 2-D and its output back, in C++, at every call. This script times the 25 products of a decoded
token of bench/generate.py's 6 x 384 GPT (q/k/v, output, two feed-forward products per layer, the
8192-wide logits) on random weights packed as ``prepare_for_inference`` packs them, with the input:

* 2-D: (B, D), as decoder models now pass a decoded token (models/decoder_only.py);
* 3-D: (B, 1, D), as before;
* 3-D flattened in Python: a ``view`` to 2-D before each product and back after (what a packed
  layer alone could do without the model's help).

The sides run in a shuffled order each round; the script prints each side's median time for the 25
products and the median over rounds of 3-D time / side time (above 1: faster than 3-D).

    python bench/packed_input.py [--rounds 300] [--batch 1]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from rounds import shuffled_rounds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    op = torch.ops.mkldnn._linear_pointwise
    shapes = [(1152, 384), (384, 384), (1536, 384), (384, 1536)] * 6 + [(8192, 384)]  # (out, in)
    packed = [torch.ops.mkldnn._reorder_linear_weight(torch.randn(o, i), 16) for o, i in shapes]
    biases = [torch.randn(o) for o, _ in shapes]
    flat = {i: torch.randn(args.batch, i) for i in (384, 1536)}
    rows = {i: x[:, None] for i, x in flat.items()}  # (B, 1, D): the same numbers

    def products(inputs, view: bool = False):
        def run():
            for (_, i), w, b in zip(shapes, packed, biases, strict=True):
                x = inputs[i]
                if view:
                    op(x.view(-1, x.shape[-1]), w, b, "none", [], "").view(*x.shape[:-1], -1)
                else:
                    op(x, w, b, "none", [], "")

        return run

    sides = {"3-D": products(rows), "2-D": products(flat), "3-D flattened in Python": products(rows, view=True)}
    for (_, i), w, b in zip(shapes, packed, biases, strict=True):  # the same results either way
        assert torch.equal(op(flat[i], w, b, "none", [], ""), op(rows[i], w, b, "none", [], "")[:, 0])
    times = shuffled_rounds(sides, args.rounds, warmup=5)
    print(f"25 packed products of a decoded token (6 x 384 GPT, batch {args.batch}), {args.rounds} shuffled rounds; "
          f"ratio = 3-D time / side time")  # fmt: skip
    for name, ts in times.items():
        ratio = statistics.median(a / b for a, b in zip(times["3-D"], ts, strict=True))
        print(f"{name:<24}  {statistics.median(ts) * 1e6:7.0f} us   ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
