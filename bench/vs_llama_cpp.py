"""einformer's int8 / int4 Llama against llama.cpp's Q8_0 / Q4_0 (and bf16 against its BF16), batch 1.

llama.cpp is the engine CPU users pick. This script builds one Llama-shaped model with random weights
(transformers' ``LlamaForCausalLM``, saved with a small sentencepiece tokenizer so that llama.cpp's
converter accepts the directory), converts it with llama.cpp's own ``convert_hf_to_gguf.py`` to BF16
and Q8_0 GGUF files and quantizes Q4_0 with ``llama_cpp.llama_model_quantize``, then times greedy
decoding of the same prompt ids in one process: llama-cpp-python's low-level ``eval`` / ``sample``
loop and einformer's ``generate`` on the same directory (``dtype=torch.bfloat16`` and
``einformer.quantize``). Rounds interleave the engines; each format's figure is the median of the
per-round ratios (einformer tokens/s over llama.cpp's). Both use the threads torch uses.

The two quantize differently (llama.cpp: blocks of 32 with one fp16 scale, Q4_0 without zero
points; einformer: int8 per output channel, int4 per group of 32 with bf16 scales and zeros), so the
greedy tokens are reported against each engine's own bf16 rather than asserted equal.

Needs ``pip install llama-cpp-python gguf`` (it builds llama.cpp from source here: about 15 minutes
on 2 cores) and the converter script from llama.cpp's sources (``--convert``; the llama-cpp-python
sdist holds it under vendor/llama.cpp/).

    python bench/vs_llama_cpp.py --convert PATH/convert_hf_to_gguf.py [--layers 14 --d-model 768 ...]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import einformer
from einformer import Llama


def write_model(args, directory: Path) -> None:
    """A random LlamaForCausalLM and a sentencepiece BPE tokenizer (tokenizer.model) in ``directory``."""
    import sentencepiece as spm
    import transformers

    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(20000)]
    corpus = directory / "corpus.txt"
    directory.mkdir(parents=True, exist_ok=True)
    corpus.write_text("\n".join(" ".join(rng.choices(words, k=12)) for _ in range(20000)), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(directory / "tokenizer"), vocab_size=args.spm_vocab,
        model_type="bpe", byte_fallback=True, bos_id=1, eos_id=2, unk_id=0, minloglevel=2,
    )  # fmt: skip
    corpus.unlink()
    (directory / "tokenizer.vocab").unlink()
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.d_ff,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # weights of a trained model's scale, so that greedy tokens are not all ties
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.05)
    model.save_pretrained(directory)


def convert(args, directory: Path, out: Path) -> dict[str, Path]:
    """BF16 and Q8_0 by llama.cpp's converter, Q4_0 quantized from BF16 by llama.cpp."""
    import llama_cpp

    files = {"bf16": out / "model-bf16.gguf", "int8": out / "model-q8_0.gguf", "int4": out / "model-q4_0.gguf"}
    env = {**os.environ, "PYTHONPATH": str(Path(args.convert).parent / "gguf-py")}
    for name, outtype in (("bf16", "bf16"), ("int8", "q8_0")):
        cmd = [sys.executable, args.convert, str(directory), "--outtype", outtype, "--outfile", str(files[name])]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.nthread = torch.get_num_threads()
    code = llama_cpp.llama_model_quantize(str(files["bf16"]).encode(), str(files["int4"]).encode(), params)
    if code != 0:
        raise RuntimeError(f"llama_model_quantize returned {code}")
    return files


def llama_cpp_greedy(model, prompt: list[int], new: int) -> list[int]:
    """Greedy tokens after ``prompt`` through llama-cpp-python's low-level loop (no KV reuse between calls)."""
    model.reset()
    model.eval(prompt)
    out = []
    for _ in range(new):
        token = model.sample(top_k=1, temp=0.0)
        out.append(int(token))
        model.eval([token])
    return out


def ours_greedy(model, prompt: list[int], new: int) -> list[int]:
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    return out[0, len(prompt) :].tolist()


def agree(a: list[int], b: list[int]) -> int:
    """How many leading tokens two greedy runs share (len(a) when all)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--convert", required=True, help="llama.cpp's convert_hf_to_gguf.py (gguf-py/ beside it)")
    p.add_argument("--layers", type=int, default=14)
    p.add_argument("--d-model", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--spm-vocab", type=int, default=4000, help="the sentencepiece pieces (the rest: padding ids)")
    p.add_argument("--prompt", type=int, default=16)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    import llama_cpp

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_model(args, tmp / "hf")
        files = convert(args, tmp / "hf", tmp)
        ours = {
            "bf16": Llama.from_pretrained(tmp / "hf", dtype=torch.bfloat16),
            "int8": einformer.quantize(Llama.from_pretrained(tmp / "hf", dtype=torch.bfloat16), "int8"),
            "int4": einformer.quantize(Llama.from_pretrained(tmp / "hf", dtype=torch.bfloat16), "int4", group_size=32),
        }
        params = sum(p.numel() for p in Llama.from_pretrained(tmp / "hf", dtype=torch.bfloat16).parameters())
        theirs = {
            name: llama_cpp.Llama(str(path), n_ctx=256, n_threads=threads, n_batch=64, verbose=False)
            for name, path in files.items()
        }
        print(f"Llama-shaped, {params / 1e6:.0f}M parameters, {args.layers} layers of {args.d_model}; batch 1, "
              f"{args.prompt}-token prompt, {args.new} new tokens, {threads} threads; llama-cpp-python "
              f"{llama_cpp.__version__}, torch {torch.__version__}")  # fmt: skip
        prompt = [1, *random.Random(1).choices(range(3, args.spm_vocab), k=args.prompt - 1)]
        reference = {"ours": ours_greedy(ours["bf16"], prompt, 32)}
        reference["llama.cpp"] = llama_cpp_greedy(theirs["bf16"], prompt, 32)
        print(f"bf16 greedy tokens: einformer and llama.cpp agree on the first {agree(*reference.values())} of 32")
        for name in ("int8", "int4"):
            mine = ours_greedy(ours[name], prompt, 32)
            theirs_tokens = llama_cpp_greedy(theirs[name], prompt, 32)
            print(f"{name}: einformer's first divergence from its bf16 at token {agree(mine, reference['ours'])}, "
                  f"llama.cpp's ({'Q8_0' if name == 'int8' else 'Q4_0'}) from its BF16 at token "
                  f"{agree(theirs_tokens, reference['llama.cpp'])} (32 = none)")  # fmt: skip
        print(f"{'format':<8} {'einformer tok/s':>16} {'llama.cpp tok/s':>16} {'ratio':>7}")
        for name in ("bf16", "int8", "int4"):
            ratios, mine, them = [], [], []
            engine, model = theirs[name], ours[name]
            for _ in range(args.rounds):
                b = timed(lambda: llama_cpp_greedy(engine, prompt, args.new))  # noqa: B023 (called at once)
                a = timed(lambda: ours_greedy(model, prompt, args.new))  # noqa: B023
                mine.append(args.new / a)
                them.append(args.new / b)
                ratios.append(b / a)
            print(f"{name:<8} {statistics.median(mine):>16.1f} {statistics.median(them):>16.1f} "
                  f"{statistics.median(ratios):>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
