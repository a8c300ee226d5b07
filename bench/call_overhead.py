"""What Python between the products costs a decoded token: the model call alone, old and new code.

bench/compare_versions.py times whole ``generate`` calls. This script times only the model's call for
one new token (a 16-token prompt cached, then ``--tokens`` calls of one token each, the cache cropped
back after each round) on bench/generate.py's 6 x 384 GPT, for:

* base: ``--base``'s step path (c80dae0: ``GPT.step`` with its prepared weights), the reference;
* einformer: this checkout's one forward, prepared as ``generate`` prepares it;
* bare calls: the same, with every ``module(x)`` replaced by ``module.forward(x)`` (no hook
  checks at all: what ``nn/fast_call.py`` could still gain);
* lean layer: the same, with ``TransformerLayer.forward`` replaced by a few lines that call the
  packed kernels and the fused attention directly (a second path, measured only: what the module
  structure of a layer costs).

The sides run in a shuffled order each round, each after 32 MB have been written (the side that
ran right after another side of the same model found some of its weights still in the CPU cache,
which favoured the einformer sides over the base by a few percent), and the script prints, per side,
the median over rounds of base time / side time (above 1: faster than the step path) and its
quartiles. Run it in several processes (bench/processes.py): where the weights land in memory moves
one process's ratios by a few percent.

    python bench/call_overhead.py [--base c80dae0] [--rounds 150] [--tokens 8]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from compare_versions import export_base, gpt_pair  # noqa: E402
from rounds import shuffled_rounds  # noqa: E402


def lean_layer(self, x, mask=None, kv_cache=None, *, position_ids=None, need_weights=False):
    """A pre-norm GPT layer for one query per row, x (B, D), calling kernels directly (measured, never used)."""
    attn, ffn, b = self.attn, self.ffn, x.shape[0]
    q, k, v = attn.fused(self.attn_norm.forward(x)).view(b, 3, attn.n_heads, 1, attn.d_qk).unbind(1)
    k, v = kv_cache.update(k, v)
    x = x + attn.out_proj.kernel(F.scaled_dot_product_attention(q, k, v).reshape(b, -1))
    return x + ffn.fc2.kernel(ffn.act(ffn.fc1.kernel(self.ffn_norm.forward(x)))), None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="c80dae0", help="a revision with the step path (GPT.step)")
    p.add_argument("--rounds", type=int, default=150)
    p.add_argument("--tokens", type=int, default=8, help="one-token calls per round")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT.parent / "src"))
    import einformer as ours
    from einformer.nn import fast_call
    from einformer.nn.kv_cache import DynamicCache
    from einformer.nn.layer import TransformerLayer
    from einformer.nn.packed import prepare_for_inference, trusting

    with tempfile.TemporaryDirectory() as tmp:
        base = export_base(args.base, Path(tmp))
        (Path(tmp) / "gpt").mkdir()
        old, new = gpt_pair(base, ours, Path(tmp) / "gpt")
    prompt, token = torch.randint(1, 8192, (1, 16)), torch.randint(1, 8192, (1, 1))
    n, prompt_length = args.tokens, prompt.shape[1]
    torch.set_grad_enabled(False)
    old_cache = importlib.import_module(base.__name__ + ".nn.kv_cache").DynamicCache(6)
    new_cache = DynamicCache(6)
    old(prompt, kv_cache=old_cache)
    new(prompt, kv_cache=new_cache)
    weights = old.step_weights(1)
    prepare_for_inference(new, 1)

    def run_base():
        for _ in range(n):
            old.step(token[:, 0], old_cache, None, weights)
        old_cache.crop(prompt_length)

    def run_new():
        with trusting():
            for _ in range(n):
                new(token, kv_cache=new_cache, logits_to_keep=1)
        new_cache.crop(prompt_length)

    def bare(module, *a, **k):
        return module.forward(*a, **k)

    originals = (torch.nn.Module.__call__, fast_call.FastCall.__call__, TransformerLayer.forward)

    @contextlib.contextmanager
    def patched(module_call=None, layer=None):
        if module_call is not None:
            torch.nn.Module.__call__ = fast_call.FastCall.__call__ = module_call
        if layer is not None:
            TransformerLayer.forward = layer
        try:
            yield
        finally:
            torch.nn.Module.__call__, fast_call.FastCall.__call__, TransformerLayer.forward = originals

    variants = {"einformer": {}, "bare calls": {"module_call": bare}, "lean layer": {"layer": lean_layer}}

    def side(patch):
        def run():
            with patched(**patch):
                run_new()

        return run

    sides = {"base": run_base, **{name: side(patch) for name, patch in variants.items()}}
    first = old.step(token[:, 0], old_cache, None, weights)
    old_cache.crop(prompt_length)
    for patch in variants.values():  # every side computes the step path's logits
        with patched(**patch):
            assert torch.equal(first, new(token, kv_cache=new_cache, logits_to_keep=1).logits[:, -1])
        new_cache.crop(prompt_length)
    scratch = torch.empty(32 * 2**20 // 4)  # 32 MB, the L3 cache's size: written before each side
    # every side starts with cold caches, as the first side of a round would; two warm-up rounds
    times = shuffled_rounds(sides, args.rounds, warmup=2, before=scratch.zero_)
    print(f"{args.base} step path against this checkout's one forward: 6 x 384 GPT, batch 1, {n} tokens a round, "
          f"{args.rounds} rounds in shuffled order; ratio = base time / side time")  # fmt: skip
    for name, ts in times.items():
        ratios = sorted(b / t for b, t in zip(times["base"], ts, strict=True))
        q1, q3 = ratios[len(ratios) // 4], ratios[3 * len(ratios) // 4]
        per_token, ratio = statistics.median(ts) / n * 1e6, statistics.median(ratios)
        print(f"{name:<12}  {per_token:7.0f} us a token   ratio={ratio:.3f} (quartiles {q1:.3f}-{q3:.3f})")


if __name__ == "__main__":
    main()
