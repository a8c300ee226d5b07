"""Loading a Llama-shaped Hugging Face directory of about 1 GB: einformer against transformers.

A random LlamaForCausalLM (vocab 32000, width 1024, 16 layers, 16 query / 4 key-value heads, d_ff
2816: 246M parameters, 0.98 GB in fp32) is saved once by transformers (``--writer transformers``)
or by einformer (``--writer einformer``, ``save_pretrained(format="hf")``). Each round then loads it
in a fresh Python process per side, einformer's ``einformer.load(DIR).model`` and transformers'
``AutoModelForCausalLM.from_pretrained(DIR)``, in fp32 on the CPU, sides alternating. A process
reports the seconds its load call took and its peak resident memory above what it held just before
the call (``VmHWM - VmRSS``, /proc/self/status: the imports are left out on both sides), then the
peak again after one forward of 8 tokens, which reads every weight (both sides map the safetensors
file, so weights come into memory as they are first read). Prints the median over rounds of each,
the peaks over the weights' bytes, and ratio = transformers' seconds / einformer's (above 1:
einformer loads faster). ``--skip-weight-check`` turns off einformer's scan of every weight for NaN
and infinities (``EINFORMER_SKIP_WEIGHT_CHECK=1``), to see what that scan costs.

    python bench/llama_load.py [--rounds 3] [--writer transformers] [--dir /tmp/llama_1gb] [--max-shard-size 200MB]
                               [--skip-weight-check]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SHAPE = dict(vocab_size=32000, hidden_size=1024, num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=4,
             intermediate_size=2816, max_position_embeddings=2048)  # fmt: skip

CHILD = r"""
import json, sys, time
side, directory = sys.argv[1], sys.argv[2]
if side == "einformer":
    import einformer
    load = lambda: einformer.load(directory).model
else:
    import transformers
    transformers.logging.set_verbosity_error()
    load = lambda: transformers.AutoModelForCausalLM.from_pretrained(directory, dtype="float32")

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

before = status("VmRSS:")
start = time.perf_counter()
model = load()
seconds = time.perf_counter() - start
peak = status("VmHWM:") - before
params = sum(p.numel() for p in model.parameters())
import torch
with torch.no_grad():  # every weight read once: the file's pages come in
    model(torch.arange(8)[None])
used = status("VmHWM:") - before
print(json.dumps({"seconds": seconds, "peak": peak, "used": used, "params": params}))
"""


def make(directory: Path, writer: str, max_shard_size: str) -> int:
    """Save the random model once; returns the weights' bytes."""
    if not (directory / "config.json").is_file():
        import torch
        import transformers

        torch.manual_seed(0)
        config = transformers.LlamaConfig(**SHAPE)
        with torch.no_grad():
            model = transformers.LlamaForCausalLM(config)
        if writer == "transformers":
            model.save_pretrained(directory, max_shard_size=max_shard_size)
        else:
            import shutil

            from einformer.interop.llama import load_hf_llama
            from einformer.models.llama import Llama

            staging = directory.with_name(directory.name + ".staging")
            model.save_pretrained(staging)
            del model
            load_hf_llama(Llama, staging).save_pretrained(directory, format="hf", max_shard_size=max_shard_size)
            shutil.rmtree(staging)
    return sum(p.stat().st_size for p in directory.glob("*.safetensors"))


def run(side: str, directory: Path, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side, str(directory)], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=Path("/tmp/llama_1gb"))
    p.add_argument("--writer", choices=("transformers", "einformer"), default="transformers")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-shard-size", default="50GB", help="written in shards past this size (e.g. 200MB)")
    p.add_argument("--skip-weight-check", action="store_true", help="EINFORMER_SKIP_WEIGHT_CHECK=1: no finiteness scan")
    args = p.parse_args()
    weights = make(args.dir, args.writer, args.max_shard_size)
    files = len(list(args.dir.glob("*.safetensors")))
    print(f"{args.dir} (written by {args.writer}): {weights / 1e9:.2f} GB in {files} safetensors file(s); "
          f"fp32 CPU load, {args.rounds} rounds, a fresh process per load, sides alternating")  # fmt: skip
    env = {**os.environ, **({"EINFORMER_SKIP_WEIGHT_CHECK": "1"} if args.skip_weight_check else {})}
    results = {"einformer": [], "transformers": []}
    ratios = []
    for i in range(args.rounds):
        sides = ("einformer", "transformers") if i % 2 == 0 else ("transformers", "einformer")
        got = {side: run(side, args.dir, env) for side in sides}
        for side, r in got.items():
            results[side].append(r)
        ratios.append(got["transformers"]["seconds"] / got["einformer"]["seconds"])
    for side, rows in results.items():
        seconds = statistics.median(r["seconds"] for r in rows)
        peak, used = (statistics.median(r[key] for r in rows) for key in ("peak", "used"))
        print(f"{side:<13} load {seconds:5.2f} s   peak {peak / 1e9:4.2f} GB = {peak / weights:4.2f}x the weights; "
              f"with a first forward {used / 1e9:4.2f} GB = {used / weights:4.2f}x   ({rows[0]['params'] / 1e6:.0f}M "
              "parameters)")  # fmt: skip
    print(f"load time ratio=transformers/einformer {statistics.median(ratios):.2f} (median of per-round ratios)")


if __name__ == "__main__":
    main()
