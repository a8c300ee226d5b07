"""What several subcommands share: the training flags, the distributed launch, reading texts."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys


def add_training_flags(p: argparse.ArgumentParser) -> None:
    """The trainer's flags; each ``dest`` is a ``TrainingArguments`` field (``training_arguments``)."""
    g = p.add_argument_group("training")
    g.add_argument(
        "--steps", dest="max_steps", metavar="N", type=int, default=2000, help="optimizer steps (default 2000)"
    )
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument(
        "--grad-accum",
        dest="gradient_accumulation_steps",
        metavar="N",
        type=int,
        default=1,
        help="micro-batches per optimizer step",
    )
    g.add_argument("--lr", dest="learning_rate", metavar="LR", type=float, default=1e-3, help="peak learning rate")
    g.add_argument("--warmup", dest="warmup_steps", metavar="N", type=int, default=400, help="warm-up steps")
    g.add_argument("--schedule", default="inverse_sqrt", choices=["inverse_sqrt", "linear", "cosine", "constant"])
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument(
        "--clip", dest="max_grad_norm", metavar="NORM", type=float, default=1.0, help="gradient norm clip (0 = off)"
    )
    g.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    g.add_argument("--eval-every", type=int, default=500)
    g.add_argument("--log-every", type=int, default=10, help="steps between loss lines in metrics.jsonl")
    g.add_argument("--save-every", type=int, default=500)
    g.add_argument("--patience", type=int, default=None, help="stop after N evaluations without improvement")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    d = p.add_argument_group("distributed (see docs/distributed.md)")
    d.add_argument("--nproc-per-node", type=int, default=1, help="processes on this machine, started with torchrun")
    d.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"], help="auto: nccl on CUDA, else gloo")
    d.add_argument("--init-method", default=None, help="e.g. tcp://HOST:PORT (default: torchrun's env://)")
    d.add_argument("--dist-timeout", type=float, default=300.0, help="seconds before a stuck collective fails")
    d.add_argument("--fsdp", action="store_true", help="shard parameters with FSDP2 instead of replicating them")
    d.add_argument(
        "--data-parallel",
        action="store_true",
        help="fallback: nn.DataParallel over this process's GPUs (prefer --nproc-per-node)",
    )


def add_hub_flags(p: argparse.ArgumentParser) -> None:
    """How a model named ORG/NAME (not a path) is found: huggingface_hub's options (docs/hub.md)."""
    g = p.add_argument_group("models by name (ORG/NAME, through the Hugging Face cache)")
    g.add_argument("--revision", default=None, help="a branch, tag or commit hash (default main)")
    g.add_argument("--cache-dir", default=None, help="the cache (default HF_HUB_CACHE, else HF_HOME/hub)")
    g.add_argument("--local-files-only", action="store_true", help="use the cache only, never the network")
    g.add_argument("--token", default=None, help="for a private or gated model (default HF_TOKEN, else your login)")


def hub_options(args: argparse.Namespace) -> dict:
    """The ``revision``, ``cache_dir``, ``local_files_only`` and ``token`` of ``add_hub_flags``."""
    return {name: getattr(args, name) for name in ("revision", "cache_dir", "local_files_only", "token")}


def model_path(name_or_path: str, args: argparse.Namespace) -> str:
    """A model argument with a Hugging Face name (ORG/NAME) replaced by its directory in the cache; a path
    that exists, or 'minilm', stays as given (what it holds is the caller's to check)."""
    from ..auto import MINILM_NAMES
    from ..hub import resolve

    if name_or_path.lower() in MINILM_NAMES:
        return name_or_path
    return str(resolve(name_or_path, **hub_options(args)))


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """The weights' type and quantization of a command that runs a model (docs/quantization.md)."""
    g = p.add_argument_group("weights (docs/quantization.md)")
    g.add_argument(
        "--dtype",
        default=None,
        choices=["auto", "float32", "bfloat16", "float16"],
        help="the weights' type: auto = what the model directory records (default float32)",
    )
    g.add_argument(
        "--quantize",
        default=None,
        choices=["int8", "int4", "w8a8"],
        help="quantization of the linear layers after loading: int8 / int4 weight-only (bf16 activations), "
        "w8a8 int8 weights with activations rounded to 8 bits per row (fp32 elsewhere)",
    )


def model_options(args: argparse.Namespace) -> dict:
    """``dtype`` and ``quantize`` for ``einformer.load``, from ``add_model_flags``."""
    return {"dtype": getattr(args, "dtype", None), "quantize": getattr(args, "quantize", None)}


def from_args(cls, args: argparse.Namespace, **extra):
    """A dataclass from the parsed flags of the same names."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names}, **extra)


def training_arguments(args: argparse.Namespace):
    from ..training import TrainingArguments

    return from_args(TrainingArguments, args)


def run_distributed(args: argparse.Namespace, job) -> int:
    """``job(args, dist_info)``: relaunched under torchrun for --nproc-per-node N, else in this process."""
    from ..training import distributed

    if args.nproc_per_node < 1:
        raise ValueError(f"--nproc-per-node must be >= 1, got {args.nproc_per_node}")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        raise ValueError(f"--device {args.device!r}: einformer trains on cpu, cuda or cuda:N")
    if args.nproc_per_node > 1 and args.batch_size % args.nproc_per_node:
        raise ValueError(
            f"--batch-size {args.batch_size} does not split evenly over --nproc-per-node {args.nproc_per_node}; "
            "make the batch size a multiple of the process count"
        )
    if args.nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:  # start the workers under torchrun
        return distributed.relaunch_with_torchrun(args.nproc_per_node, args.argv)
    info = distributed.setup(
        backend=args.backend, init_method=args.init_method, device=args.device, timeout_s=args.dist_timeout
    )
    try:
        return job(args, info)
    finally:
        distributed.teardown()


def texts_or_stdin(texts: list[str], what: str) -> list[str]:
    """The TEXT arguments, else the non-empty lines of standard input; an error when there are none."""
    texts = texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ValueError(f"nothing to {what}: give TEXT arguments or lines on standard input")
    return texts
