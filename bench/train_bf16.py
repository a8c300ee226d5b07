"""bf16 training on CPU against fp32: tokens/s and the validation loss after the same steps.

bench/train_gpt.py's model (a 6 x 384 GPT, vocabulary 8192, batches of 8 x 256) trained twice from
the same initial weights on the same batches: once in fp32, once under ``torch.autocast("cpu",
torch.bfloat16)`` as ``--precision bf16`` runs it (training/trainer.py: autocast around the forward
and the loss, fp32 master weights and AdamW). The two alternate step by step, so the host's drift
falls on both; the speed ratio is the median of the per-step ratios (above 1: bf16 is faster).

The text is a byte-level file given by ``--data`` (e.g. ../shared/data's Tiny Shakespeare), else a
generated one (words drawn from a Zipf law: learnable, but no real language); ids are its bytes, so
no tokenizer is trained. The last tenth is the validation text, evaluated in fp32 for both.

    python bench/train_bf16.py [--data FILE] [--steps 40] [--layers 6 --d-model 384 --block 256 --batch 8]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import time
from pathlib import Path

import torch

from einformer import GPT, GPTConfig


def text_bytes(path: str | None) -> torch.Tensor:
    if path:
        data = Path(path).read_bytes()
    else:
        rng = random.Random(0)
        words = ["".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(1, 8))) for _ in range(3000)]
        weights = [1 / (i + 1) for i in range(len(words))]
        data = " ".join(rng.choices(words, weights, k=400_000)).encode()
    return torch.tensor(list(data), dtype=torch.long)


def batches(ids: torch.Tensor, batch: int, block: int, steps: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - block - 1, (batch,), generator=g)
        x = torch.stack([ids[s : s + block + 1] for s in starts.tolist()])  # (B, T + 1)
        yield x[:, :-1], x[:, 1:]


def step(model, optimizer, x, y, bf16: bool) -> float:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(x, labels=y).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


@torch.no_grad()
def validation_loss(model, ids: torch.Tensor, block: int, blocks: int = 16) -> float:
    model.eval()
    n = min(blocks, (len(ids) - 1) // block)
    x = ids[: n * block + 1]
    inputs, labels = x[:-1].view(n, block), x[1:].view(n, block)  # (N, T)
    loss = float(model(inputs, labels=labels).loss)
    model.train()
    return loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--block", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args()

    ids = text_bytes(args.data)
    split = len(ids) * 9 // 10
    train, val = ids[:split], ids[split:]
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=256, max_position=args.block, d_model=args.d_model, n_layers=args.layers, n_heads=args.heads,
        d_ff=4 * args.d_model, dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0, bos_token_id=None,
        eos_token_id=None,
    )  # fmt: skip
    models = {"fp32": GPT(config).train()}
    models["bf16"] = copy.deepcopy(models["fp32"])
    optimizers = {k: torch.optim.AdamW(m.parameters(), lr=args.lr) for k, m in models.items()}
    bf16_units = "avx512_bf16" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
    print(f"GPT {args.layers} x {args.d_model}, batch {args.batch} x {args.block} bytes, {args.steps} steps, "
          f"{torch.get_num_threads()} threads, CPU bf16 units: {bf16_units}, torch {torch.__version__}")  # fmt: skip
    times = {"fp32": [], "bf16": []}
    for i, (x, y) in enumerate(batches(train, args.batch, args.block, args.steps)):
        order = ("fp32", "bf16") if i % 2 == 0 else ("bf16", "fp32")
        for name in order:
            times[name].append(step(models[name], optimizers[name], x, y, bf16=name == "bf16"))
    warm = 2  # the first steps pay for allocation
    ratios = [a / b for a, b in zip(times["fp32"][warm:], times["bf16"][warm:], strict=True)]
    tokens = args.batch * args.block
    for name in ("fp32", "bf16"):
        rate = tokens / statistics.median(times[name][warm:])
        print(f"{name}: {rate:8.0f} tokens/s, validation loss after {args.steps} steps "
              f"{validation_loss(models[name], val, args.block):.4f} nats/byte")  # fmt: skip
    print(f"bf16 / fp32 speed (median of per-step ratios): {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
