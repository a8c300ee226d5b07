"""DistributedDataParallel on 2 CPU processes (gloo, 127.0.0.1): gradients, loss curves, checkpoints
across world sizes, a failing rank, FSDP2, and the --nproc-per-node launch."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from einformer import GPT, EncoderDecoderConfig, EncoderDecoderTransformer
from einformer.data.batches import Seq2SeqBatches
from einformer.training import Trainer, TrainingArguments
from einformer.training.distributed import DistInfo, free_port, setup, teardown

pytestmark = pytest.mark.distributed
HERE = Path(__file__).parent


def toy_data():
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(64):
        n = int(torch.randint(2, 9, (1,), generator=g))  # different lengths: token counts differ per rank
        src = torch.randint(4, 20, (n,), generator=g).tolist()
        out.append((src, [t + 2 for t in src[::-1]][: max(1, n - 1)]))
    return out


def fresh_model():
    torch.manual_seed(0)
    config = EncoderDecoderConfig.from_preset("tiny", src_vocab_size=20, tgt_vocab_size=24, dropout=0.0)
    return EncoderDecoderTransformer(config).double()


def gradients(rank, world, accumulation, port, out):
    """Worker (started by mp.spawn): rank 0 saves the DDP gradient of step 0."""
    info = setup(init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout_s=60, device="cpu")
    try:
        from torch.nn.parallel import DistributedDataParallel

        model = fresh_model()
        args = TrainingArguments(batch_size=16, gradient_accumulation_steps=accumulation, progress=False)
        batches = Seq2SeqBatches(toy_data(), 16, rank=rank, world_size=world)
        trainer = Trainer(model, args, batches, run_dir=out, dist_info=info)
        trainer.backward(DistributedDataParallel(model), step=0)
        if rank == 0:
            torch.save({n: p.grad for n, p in model.named_parameters()}, Path(out) / "ddp.pt")
    finally:
        teardown()


@pytest.mark.parametrize("accumulation", [1, 2])
def test_ddp_gradients_equal_single_process_gradients(tmp_path, accumulation):
    mp.spawn(gradients, args=(2, accumulation, free_port(), str(tmp_path)), nprocs=2, join=True)
    model = fresh_model()
    args = TrainingArguments(batch_size=16, gradient_accumulation_steps=accumulation, progress=False)
    Trainer(model, args, Seq2SeqBatches(toy_data(), 16), run_dir=tmp_path).backward(model, step=0)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp[name], p.grad, atol=1e-6, rtol=1e-6, msg=name)


def einformer(*args, timeout=240):
    out = subprocess.run(
        [sys.executable, "-m", "einformer", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def losses(run):
    return [
        json.loads(x)["loss"]
        for x in (Path(run) / "metrics.jsonl").read_text().splitlines()
        if '"loss"' in x and '"eval"' not in x
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "text.txt"
    path.write_text("".join(f"{i % 13} little pigs, let me come in; not by the hair of my chin.\n" for i in range(200)))
    pairs = tmp_path_factory.mktemp("data") / "pairs.tsv"
    pairs.write_text("".join(f"w{i}x{j}\t{'ab'[i % 2] * (1 + j % 4)}{i}\n" for i in range(40) for j in range(8)))
    return path, pairs


COMMON = [
    "--steps",
    "20",
    "--batch-size",
    "8",
    "--log-every",
    "1",
    "--eval-every",
    "10",
    "--save-every",
    "10",
    "--warmup",
    "2",
    "--lr",
    "3e-3",
    "--no-progress",
    "--preset",
    "tiny",
    "--dropout",
    "0",
]


@pytest.mark.parametrize("model", ["gpt", "encoder-decoder", "transformer-xl"])
def test_two_processes_give_the_one_process_loss_curve(tmp_path, corpus, model):
    """For Transformer-XL each rank reads its half of the streams and carries its own memory."""
    text, pairs = corpus
    data = {
        "gpt": ["--model", "gpt", "--data", text, "--block-size", "32"],
        "encoder-decoder": ["--data", pairs, "--tokenizer", "char"],
        "transformer-xl": ["--model", "transformer-xl", "--data", text, "--seg-len", "16", "--mem-len", "16"],
    }[model]
    einformer("train", *data, *COMMON, "--run-dir", tmp_path / "one")
    einformer("train", *data, *COMMON, "--run-dir", tmp_path / "two", "--nproc-per-node", "2")
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 20
    torch.testing.assert_close(torch.tensor(two), torch.tensor(one), atol=1e-5, rtol=1e-5)


def test_checkpoints_move_between_world_sizes(tmp_path, corpus):
    text, _ = corpus
    data = ["--model", "gpt", "--data", text, "--block-size", "32"]
    einformer("train", *data, *COMMON, "--run-dir", tmp_path / "ref")
    half = [c if c != "20" else "10" for c in COMMON]
    # 2 processes for 10 steps, then 1 process to 20
    einformer("train", *data, *half, "--run-dir", tmp_path / "a", "--nproc-per-node", "2")
    einformer("train", *data, *COMMON, "--run-dir", tmp_path / "a", "--resume")
    # 1 process for 10 steps, then 2 processes to 20
    einformer("train", *data, *half, "--run-dir", tmp_path / "b")
    einformer("train", *data, *COMMON, "--run-dir", tmp_path / "b", "--resume", "--nproc-per-node", "2")
    ref = torch.tensor(losses(tmp_path / "ref"))
    for run in ("a", "b"):
        torch.testing.assert_close(torch.tensor(losses(tmp_path / run)), ref, atol=1e-5, rtol=1e-5)


def test_a_failing_rank_ends_the_job_with_its_error(tmp_path):
    start = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(free_port()),
            str(HERE / "helpers" / "fail_rank.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode != 0
    assert "rank 1 failed on purpose at step 3" in out.stdout + out.stderr
    assert time.monotonic() - start < 120


def test_fsdp2_trains_and_its_checkpoint_loads_into_a_plain_model(tmp_path, corpus):
    text, _ = corpus
    einformer(
        "train",
        "--model",
        "gpt",
        "--data",
        text,
        "--block-size",
        "32",
        *COMMON,
        "--run-dir",
        tmp_path / "f",
        "--nproc-per-node",
        "2",
        "--fsdp",
    )
    model = GPT.from_pretrained(tmp_path / "f")
    assert model.generation_config.do_sample  # generation_config.json written as save_pretrained writes it
    assert len(losses(tmp_path / "f")) == 20
    assert all(torch.isfinite(p).all() for p in model.parameters())
    with torch.no_grad():
        assert model(torch.zeros(1, 8, dtype=torch.long)).logits.shape == (1, 8, model.config.vocab_size)


def test_setup_without_a_world_is_a_single_process():
    info = setup(device="cpu")
    assert info == DistInfo() and not info.enabled and info.is_main
    with pytest.raises(ValueError, match="backend nccl needs CUDA"):
        setup(backend="nccl", device="cpu", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    assert os.environ.get("RANK") is None
