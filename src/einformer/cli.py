"""The ``einformer`` command: one subcommand, one library function. No logic lives only here."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .commands import (
    cmd_demo,
    cmd_embed,
    cmd_env,
    cmd_evaluate,
    cmd_finetune,
    cmd_generate,
    cmd_predict,
    cmd_train,
    cmd_translate,
)
from .commands_explain import cmd_attention, cmd_ponder, cmd_probe


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=2000, help="optimizer steps (default 2000)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    g.add_argument("--warmup", type=int, default=400, help="warm-up steps")
    g.add_argument("--schedule", default="inverse_sqrt", choices=["inverse_sqrt", "linear", "cosine", "constant"])
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0 = off)")
    g.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    g.add_argument("--eval-every", type=int, default=500)
    g.add_argument("--log-every", type=int, default=10, help="steps between loss lines in metrics.jsonl")
    g.add_argument("--save-every", type=int, default=500)
    g.add_argument("--patience", type=int, default=None, help="stop after N evaluations without improvement")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einformer",
        description="The Transformer, understood and used: train, generate, explain.",
    )
    parser.add_argument("--version", action="version", version=f"einformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("env", help="report torch, CUDA, cuDNN, NCCL, GPUs and package versions")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("demo", help="train a Transformer on a built-in task in ~2 minutes, translate, draw attention")
    p.add_argument(
        "--task", default="numbers-en", help="numbers-en (default), numbers-zh, dates, copy, reverse, sort, addition"
    )
    p.add_argument("--run-dir", default=None, help="where to write the run (default runs/demo-TASK, never reused)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the pipeline in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model on a built-in task or your own data")
    p.add_argument(
        "--model",
        default="encoder-decoder",
        choices=["encoder-decoder", "universal", "gpt", "transformer-xl", "bert"],
        help="architecture (universal: the Universal Transformer; bert: masked-LM pre-training)",
    )
    p.add_argument("--mem-len", type=int, default=None, help="transformer-xl: memory length (default 64)")
    p.add_argument("--seg-len", type=int, default=None, help="transformer-xl: segment length (default 64)")
    u = p.add_argument_group("Universal Transformer (see docs/universal.md)")
    u.add_argument("--act", action="store_true", help="universal: halt per position with ACT (else fixed steps)")
    u.add_argument("--ut-steps", type=int, default=None, help="universal: steps (the cap with --act)")
    u.add_argument("--act-mode", default=None, choices=["graves", "ut"], help="universal: ACT output rule")
    u.add_argument("--ponder-weight", type=float, default=None, help="universal: ACT time penalty tau")
    p.add_argument("--train-lengths", default=None, help="algorithmic tasks: training lengths MIN,MAX (e.g. 1,10)")
    p.add_argument("--test-lengths", default=None, help="algorithmic tasks: test lengths MIN,MAX (e.g. 11,20)")
    p.add_argument("--whole-word-masking", action="store_true", help="bert: mask whole words")
    p.add_argument("--next-sentence", action="store_true", help="bert: add next-sentence prediction")
    p.add_argument("--tokenizer-from", default=None, help="bert: reuse this directory's tokenizer")
    p.add_argument("--task", default=None, help="a built-in task (see `einformer demo --help`)")
    p.add_argument(
        "--data",
        default=None,
        help="pairs: FILE.tsv (source<TAB>target), FILE.jsonl, or the source "
        "side of two parallel files with --target-file",
    )
    p.add_argument("--target-file", default=None, help="target side of two parallel files")
    p.add_argument("--val", default=None, help="validation pairs (default: 5%% of --data held out)")
    p.add_argument("--val-target-file", default=None, help="target side of parallel validation files")
    p.add_argument("--source-field", default="source", help="JSONL field of the source text")
    p.add_argument("--target-field", default="target", help="JSONL field of the target text")
    p.add_argument(
        "--tokenizer",
        default=None,
        choices=["bpe", "wordpiece", "char", "word"],
        help="for --data (default: bpe for encoder-decoder, char for gpt; gpt's bpe is byte-level)",
    )
    p.add_argument("--share-vocab", action="store_true", help="one joint vocabulary and embedding for both sides")
    p.add_argument("--vocab-size", type=int, default=8000, help="BPE vocabulary size per side")
    p.add_argument(
        "--preset",
        default=None,
        help="model size: encoder-decoder tiny/demo/small/base, gpt tiny/small/gpt2 (default small)",
    )
    p.add_argument("--layers", type=int, default=None, help="override the preset's layers (per stack)")
    p.add_argument("--d-model", type=int, default=None, help="override the preset's width")
    p.add_argument("--heads", type=int, default=None, help="override the preset's heads")
    p.add_argument("--d-ff", type=int, default=None, help="override the preset's feed-forward width")
    p.add_argument("--block-size", type=int, default=256, help="gpt: context length in tokens")
    p.add_argument("--sampling", default="random", choices=["random", "contiguous"], help="gpt: block sampling")
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--norm-first", action="store_const", const=True, default=None, help="pre-norm (default post)")
    p.add_argument("--n-train", type=int, default=50000, help="examples drawn from a built-in task")
    p.add_argument("--on-long", default="truncate", choices=["truncate", "error"], help="over-long examples")
    p.add_argument("--run-dir", required=True, help="where to write the run")
    _add_training_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="continue text with a trained language model, streamed as it comes")
    p.add_argument("run", help="a run directory of `einformer train --model gpt`")
    p.add_argument("--prompt", default=None, help="the prompt; none = one prompt per line of standard input")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("finetune", help="fine-tune a BERT (Hugging Face's or ours) on a JSONL task")
    p.add_argument("--model", required=True, help="a BERT directory, e.g. all-MiniLM-L6-v2")
    p.add_argument("--task", required=True, choices=["classify", "regress", "tag", "qa", "choice"])
    p.add_argument("--data", required=True, help="training records (JSONL; see docs/bert.md for the fields)")
    p.add_argument("--val", required=True, help="validation records (JSONL)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--run-dir", required=True)
    _add_training_flags(p)
    p.set_defaults(
        func=cmd_finetune,
        steps=300,
        lr=5e-5,
        warmup=30,
        eval_every=100,
        save_every=100,
        batch_size=32,
        schedule="linear",
    )

    p = sub.add_parser("predict", help="predictions of a fine-tuned BERT run")
    p.add_argument("run", help="a run directory of `einformer finetune`")
    p.add_argument("text", nargs="*", help="texts to classify (classify/regress); none = standard input")
    p.add_argument("--data", default=None, help="JSONL records of the run's task")
    p.add_argument("--evaluate", action="store_true", help="with --data: print the task's metrics")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("embed", help="sentence embeddings (mean pooling, normalised) from a BERT directory")
    p.add_argument("model", help="a BERT directory: Hugging Face's (e.g. all-MiniLM-L6-v2) or ours")
    p.add_argument("text", nargs="*", help="texts; none = read standard input")
    p.add_argument("--json", action="store_true", help="one JSON line per text with its vector")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("translate", help="translate TEXT (or lines of standard input) with a trained run")
    p.add_argument("run", help="a run directory")
    p.add_argument("text", nargs="*", help="texts to translate; none = read standard input")
    p.add_argument("--num-beams", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("evaluate", help="exact match or BLEU of a seq2seq run; bits per character of a language model")
    p.add_argument("run", help="a run directory")
    p.add_argument(
        "--data",
        default=None,
        help="test pairs (TSV/JSONL, or source file with --target-file); for a language model a text file "
        "(default: its own validation split)",
    )
    p.add_argument("--mem-len", type=int, default=None, help="transformer-xl: memory length at evaluation")
    p.add_argument("--seg-len", type=int, default=None, help="transformer-xl: segment length at evaluation")
    p.add_argument("--target-file", default=None)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("attention", help="attention heatmaps (PNG) and an offline interactive explorer (HTML)")
    p.add_argument("model", help="a BERT directory (or 'minilm'), a language-model run, or a seq2seq run")
    p.add_argument("text", help="the input text (for seq2seq: the source; the output is its translation)")
    p.add_argument("--layer", type=int, default=None, help="layer to draw (default: the last)")
    p.add_argument("--head", type=int, default=None, help="one head (default: a grid of every head)")
    p.add_argument("--kind", default=None, help="seq2seq: encoder, decoder or cross (default cross)")
    p.add_argument("-o", "--output", default=None, help="heatmap PNG (default attention.png unless --html)")
    p.add_argument("--html", default=None, help="write the interactive explorer page here")
    p.set_defaults(func=cmd_attention)

    p = sub.add_parser("probe", help="linear probes on every layer of a BERT: what each layer encodes")
    p.add_argument("model", help="a BERT directory (Hugging Face's or ours), or 'minilm'")
    p.add_argument("--tasks", nargs="+", default=None, help="a subset of the probing tasks (default: all)")
    p.add_argument("--n-train", type=int, default=600, help="training sentences per task")
    p.add_argument("--n-test", type=int, default=300, help="test sentences per task (the other vocabulary half)")
    p.add_argument("--full", action="store_true", help="larger sets: 3000 / 1000 sentences per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="probes.png", help="the accuracy-per-layer plot (PNG)")
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("ponder", help="where a Universal Transformer with ACT thinks longer: a ponder map PNG")
    p.add_argument("run", help="a run directory of `einformer train --model universal --act`")
    p.add_argument("input", help="the source text, e.g. a parity vector such as +0-0+00-")
    p.add_argument("-o", "--output", default="ponder.png", help="the ponder map PNG (default ponder.png)")
    p.add_argument(
        "--difficulty-plot",
        default="ponder_difficulty.png",
        help="built-in tasks: mean ponder steps against difficulty on the test split ('' = skip)",
    )
    p.add_argument("--n", type=int, default=500, help="test inputs for the difficulty plot")
    p.set_defaults(func=cmd_ponder)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError, ImportError) as e:
        # A user mistake: one or two lines, no traceback.
        print(f"einformer {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
