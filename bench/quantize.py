"""Decoding below the fp32 floor: einformer's Llama in fp32, bf16, int8, int4 and w8a8 (int8 weights
and 8-bit activations; its output layer quantized too, its default), and transformers' bf16 on the
same weights (and torchao's int8 weight-only and w8a8 through ``TorchAoConfig`` when torchao imports
here).

One process, one set of random weights (a ``LlamaForCausalLM`` transformers saves, read through the
key map; ``--dtype bfloat16`` on loading, ``einformer.quantize`` for int8 / int4), the same prompts.
Each round runs every format once, batch 1 then batch 8; a format's figure is the median over rounds
of its tokens/s over fp32's in the same round (the host is shared: per-round ratios cancel its
drift). Each format's floor is the bytes of the weights one token streams (every linear layer, the
output projection included, in its format, scales too) over the memory bandwidth measured here
(a large bf16 tensor summed); its ratio to it is its time per token over the floor (1.0 = at the floor).

    python bench/quantize.py [--layers 12 --d-model 768 --heads 12 --kv-heads 4 --d-ff 2048 --vocab 32000]
    python bench/quantize.py --lm-head     # int8 / int4 quantize the output projection too
    python bench/quantize.py --minilm      # quality instead: all-MiniLM-L6-v2 embeddings against fp32
    python bench/quantize.py --kernels     # the products alone, per kernel and rows: the choice in nn/quantized.py
    python bench/quantize.py --quality RUN # a trained language-model run: validation loss and greedy tokens vs fp32
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import torch
from torch import nn

import einformer
from einformer import Llama
from einformer.nn.quantized import QuantizedLinear


def build(args, directory: str):
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.d_ff,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.prompt + args.new + 8, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    models = {
        "fp32": Llama.from_pretrained(directory),
        "bf16": Llama.from_pretrained(directory, dtype=torch.bfloat16),
        "int8": einformer.quantize(
            Llama.from_pretrained(directory, dtype=torch.bfloat16), "int8", lm_head=args.lm_head
        ),
        "int4": einformer.quantize(
            Llama.from_pretrained(directory, dtype=torch.bfloat16), "int4", group_size=32, lm_head=args.lm_head
        ),
        "w8a8": einformer.quantize(Llama.from_pretrained(directory), "w8a8"),
        "hf bf16": transformers.LlamaForCausalLM.from_pretrained(directory, dtype=torch.bfloat16).eval(),
    }
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig
    except Exception as e:  # reported, not hidden
        print(f"transformers + torchao: unavailable ({type(e).__name__}: {str(e)[:160]})")
        return models
    peers = (("hf torchao int8", Int8WeightOnlyConfig(), torch.bfloat16),
             ("hf torchao w8a8", Int8DynamicActivationInt8WeightConfig(), torch.float32))  # fmt: skip
    for name, config, dtype in peers:
        try:
            quant = transformers.TorchAoConfig(config)
            models[name] = transformers.LlamaForCausalLM.from_pretrained(
                directory, dtype=dtype, quantization_config=quant
            ).eval()
        except Exception as e:  # reported, not hidden
            print(f"{name}: unavailable ({type(e).__name__}: {str(e)[:160]})")
    return models


def streamed_bytes(model: nn.Module) -> int:
    """Bytes of every matrix product's weights one decoded token reads (integers and scales for the
    quantized layers; the embedding is a lookup of one row and is not counted)."""
    total = 0
    for m in model.modules():
        if isinstance(m, QuantizedLinear):
            total += sum(b.numel() * b.element_size() for b in m.buffers(recurse=False))
        elif isinstance(m, nn.Linear):
            total += m.weight.numel() * m.weight.element_size()
    return total


def bandwidth_gbs() -> float:
    """GB/s of reading a 512 MB bf16 tensor (a sum: one pass, nothing written), median of 5."""
    x = torch.ones(256 * 2**20, dtype=torch.bfloat16)
    x.sum()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - start)
    return x.numel() * 2 / statistics.median(times) / 1e9


def run(model, ids, new: int) -> float:
    """Seconds for greedy decoding of ``new`` tokens after ``ids``."""
    kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False)
    if not isinstance(model, einformer.PreTrainedModel):
        kw["pad_token_id"] = 0
    start = time.perf_counter()
    with torch.no_grad():
        model.generate(ids, **kw)
    return time.perf_counter() - start


SENTENCES = [
    "A man is playing a guitar.", "The new movie is awesome.", "The cat sits outside.",
    "A woman is slicing an onion.", "Quantum physics explains the behaviour of atoms.",
    "I love pasta with tomato sauce.", "The stock market fell sharply today.", "He drove the car to work.",
    "Children are playing in the park.", "The weather is cold and rainy.",
]  # fmt: skip


def minilm_quality() -> None:
    """all-MiniLM-L6-v2's sentence embeddings in bf16, int8, int4 and w8a8 against fp32: cosine per sentence."""
    reference = torch.as_tensor(einformer.pipeline("sentence-embeddings", "minilm")(SENTENCES))
    for method, kw in (("bf16", {}), ("int8", {}), ("int4", {"group_size": 32}), ("w8a8", {})):
        loaded = einformer.load("minilm", dtype=torch.float32 if method == "w8a8" else torch.bfloat16)
        if method != "bf16":
            einformer.quantize(loaded.model, method, **kw)
        got = torch.as_tensor(einformer.pipeline("sentence-embeddings", loaded)(SENTENCES)).float()
        cos = torch.nn.functional.cosine_similarity(got, reference, dim=-1)
        print(
            f"MiniLM {method:<4} cosine to fp32, {len(SENTENCES)} sentences: min {cos.min():.5f} mean {cos.mean():.5f}"
        )


def run_quality(path: str, chars: int) -> None:
    """A trained language-model run in bf16 / int8 / int4 (group 32) against fp32: the validation loss
    (windows of the run's block size over the first ``chars`` characters of its validation split) and
    the greedy continuations (32 tokens) of 10 prompts taken from that split: equal, or where they part."""
    fp32 = einformer.load(path)
    run, tokenizer = fp32.run, fp32.tokenizer
    with open(run.data, encoding="utf-8") as f:
        text = f.read()[run.split_char :][:chars]
    ids = torch.tensor(tokenizer.encode(text))
    block = run.block_size
    windows = ids[: len(ids) // block * block].reshape(-1, block)  # (W, block)
    prompts = torch.stack([ids[i * 997 : i * 997 + 16] for i in range(10)])  # (10, 16) from the validation text
    print(f"{path}: {fp32.model.num_parameters() / 1e6:.2f}M parameters, {windows.numel()} validation tokens")

    def measure(model):
        with torch.no_grad():
            loss = sum(float(model(w[None], labels=w[None]).loss) for w in windows) / len(windows)
            tokens = model.generate(prompts, max_new_tokens=32, min_new_tokens=32, do_sample=False)[:, 16:]
        return loss, tokens

    base_loss, base_tokens = measure(fp32.model)
    print(f"  fp32  loss {base_loss:.4f} nats/token, perplexity {math.exp(base_loss):.3f}")
    for name, options in (("bf16", {"dtype": torch.bfloat16}), ("int8", {"quantize": "int8"}),
                          ("int4", {"quantize": "int4"}), ("w8a8", {"quantize": "w8a8"})):  # fmt: skip
        loss, tokens = measure(einformer.load(path, **options).model)
        parted = [
            int((a != b).nonzero()[0]) if (a != b).any() else None for a, b in zip(tokens, base_tokens, strict=True)
        ]
        change = (math.exp(loss - base_loss) - 1) * 100
        print(f"  {name}  loss {loss:.4f}, perplexity {math.exp(loss):.3f} ({change:+.2f}% vs fp32); greedy 32 tokens "
              f"equal to fp32 for {sum(p is None for p in parted)}/10 prompts; first differing token per prompt: "
              + " ".join("-" if p is None else str(p) for p in parted))  # fmt: skip


def kernels(args) -> None:
    """ms for every layer's product of one model (``--layers`` x (q, k, v, o, 3 feed-forward)) through
    each kernel, at 1 to 32 rows: the measurements behind ``nn/quantized.py``'s choice."""
    from einformer.nn import int8_dynamic
    from einformer.nn.quantized import Int4Linear, Int8Linear

    d, kv, ff = args.d_model, args.d_model // args.heads * args.kv_heads, args.d_ff
    shapes = [(d, d), (kv, d), (kv, d), (d, d), (ff, d), (ff, d), (d, ff)] * args.layers  # (N, K)
    torch.manual_seed(0)
    linears = [nn.Linear(k, n, bias=False) for n, k in shapes]
    mkldnn, linear = torch.ops.mkldnn, torch.nn.functional.linear
    fp32 = [(lin.weight.detach(), mkldnn._reorder_linear_weight(lin.weight.detach(), 16)) for lin in linears]
    bf16 = [(w.bfloat16(), mkldnn._reorder_linear_weight(w.bfloat16(), 16)) for w, _ in fp32]
    int8 = [Int8Linear.from_linear(lin) for lin in linears]
    int4 = [Int4Linear.from_linear(lin, 32) for lin in linears]
    w8a8 = [(q.in_features, int8_dynamic.prepack(q.weight, q.scales.float())) for q in int8]
    cases = {
        "fp32 packed": lambda x: [mkldnn._linear_pointwise(x[w.shape[1]].float(), p, None, "none", [], "")
                                  for w, p in fp32],
        "bf16 linear": lambda x: [linear(x[w.shape[1]], w) for w, _ in bf16],
        "bf16 packed": lambda x: [mkldnn._linear_pointwise(x[w.shape[1]], p, None, "none", [], "") for w, p in bf16],
        "int8 kernel": lambda x: [q._kernel(x[q.in_features]) for q in int8],
        "int4 kernel": lambda x: [q._kernel(x[q.in_features]) for q in int4],
        "w8a8 kernel": lambda x: [int8_dynamic.linear(x[k], packed) for k, packed in w8a8],
        "int8 widened": lambda x: [linear(x[q.in_features], q.dequantize(torch.bfloat16)) for q in int8],
    }  # fmt: skip
    print(f"{len(shapes)} matrices, {sum(n * k for n, k in shapes) / 1e6:.0f}M weights; ms per pass over all of "
          "them, best of 5 (the host is shared: the best is the least disturbed)")  # fmt: skip
    print("rows" + "".join(f" {name:>12}" for name in cases))
    with torch.no_grad():
        for rows in args.rows:
            x = {k: torch.randn(rows, k).bfloat16() for k in {k for _, k in shapes}}
            print(f"{rows:>4}" + "".join(f" {_best_ms(case, x):12.2f}" for case in cases.values()))


def _best_ms(fn, x) -> float:
    fn(x)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--d-model", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--prompt", type=int, default=8)
    p.add_argument("--new", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lm-head", action="store_true", help="int8 / int4 quantize the output projection too")
    p.add_argument("--minilm", action="store_true", help="MiniLM embeddings' cosine to fp32 instead of speed")
    p.add_argument("--kernels", action="store_true", help="time each kernel on the bench's matrices instead")
    p.add_argument("--rows", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="--kernels: rows per product")
    p.add_argument("--quality", metavar="RUN", default=None, help="validation loss and greedy tokens of a run, vs fp32")
    p.add_argument("--chars", type=int, default=20000, help="--quality: validation characters scored")
    args = p.parse_args()
    if args.quality:
        return run_quality(args.quality, args.chars)
    if args.minilm:
        return minilm_quality()
    if args.kernels:
        return kernels(args)
    with tempfile.TemporaryDirectory() as directory:
        models = build(args, directory)
    g = torch.Generator().manual_seed(0)
    batches = {b: torch.randint(3, args.vocab, (b, args.prompt), generator=g) for b in (1, 8)}
    ours = models["fp32"]
    gbs = bandwidth_gbs()
    print(
        f"Llama {args.layers} layers, {args.d_model} wide, {args.heads}/{args.kv_heads} heads, d_ff {args.d_ff}, "
        f"vocab {args.vocab}: {ours.num_parameters() / 1e6:.0f}M parameters; prompt {args.prompt}, {args.new} new "
        f"tokens, greedy; {torch.get_num_threads()} threads; read bandwidth {gbs:.1f} GB/s; "
        f"lm_head {'quantized too' if args.lm_head else 'left in bf16'} (w8a8: quantized, its default)"
    )
    same = {name: torch.equal(m.generate(batches[8], max_new_tokens=8, do_sample=False, pad_token_id=0),
                              models["bf16"].generate(batches[8], max_new_tokens=8, do_sample=False))
            for name, m in models.items() if name.startswith("hf")}  # fmt: skip
    print(f"greedy tokens (batch 8, 8 new) equal to our bf16: {same}")
    for m in models.values():  # warm-up: packing, the int4 layout, first-call costs
        for ids in batches.values():
            run(m, ids, 2)
    times = {(name, b): [] for name in models for b in batches}
    for _ in range(args.rounds):
        for b, ids in batches.items():
            for name, m in models.items():
                times[name, b].append(run(m, ids, args.new))
    for b in batches:
        print(f"\nbatch {b}:")
        print(f"  {'format':<16} {'tok/s':>8} {'x our fp32':>11} {'x hf bf16':>10} {'floor tok/s':>12} {'of floor':>9}")
        for name, m in models.items():
            t = times[name, b]
            tok_s = b * args.new / statistics.median(t)
            vs_fp32 = statistics.median(f / x for f, x in zip(times["fp32", b], t, strict=True))
            vs_hf = statistics.median(h / x for h, x in zip(times["hf bf16", b], t, strict=True))
            floor = gbs * 1e9 / streamed_bytes(m)  # steps/s at the floor: each step streams the weights once
            print(
                f"  {name:<16} {tok_s:8.1f} {vs_fp32:10.2f}x {vs_hf:9.2f}x {floor * b:12.1f} {floor * b / tok_s:8.2f}x"
            )


if __name__ == "__main__":
    main()
