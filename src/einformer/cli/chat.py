"""``einformer chat MODEL``: talk with a chat model (a Hugging Face Llama, Mistral or Qwen directory with a
chat template); the loop, the history and the streaming live in ``inference/chat.py``."""

from __future__ import annotations

import argparse
import sys

from .common import add_hub_flags, add_model_flags, hub_options, model_options


def register(sub) -> None:
    p = sub.add_parser(
        "chat",
        help="chat with a model through its chat template, replies streamed (stdin lines when not a terminal)",
        description="Type a message, read the reply as it comes. /reset forgets the conversation, /exit (or "
        "Ctrl-D) ends it, Ctrl-C stops a reply. Standard input that is not a terminal is read as one user "
        "message per line, each reply printed on its own line.",
    )
    p.add_argument("model", help="a directory or hub name with a chat template (a Qwen2.5/Qwen3/Llama 3.1 instruct)")
    p.add_argument("--system", default=None, help="the system prompt")
    p.add_argument(
        "--max-new-tokens", type=int, default=None, help="per reply (default: generation_config's, else 512)"
    )
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    sampling = p.add_mutually_exclusive_group()
    sampling.add_argument("--do-sample", dest="do_sample", action="store_true", default=None, help="sample")
    sampling.add_argument("--greedy", dest="do_sample", action="store_false", help="greedy decoding")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.add_argument(
        "--no-thinking", action="store_true", help="enable_thinking=False for templates that read it (Qwen3)"
    )
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_chat)


def cmd_chat(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..inference import TextGenerator
    from ..inference.chat import ChatSession, generation_options, run_chat, terminal_lines

    generator = TextGenerator.from_loaded(load(args.model, **hub_options(args), **model_options(args)), "chat")
    flags = {k: getattr(args, k) for k in ("max_new_tokens", "temperature", "top_p", "top_k", "do_sample", "seed")}
    session = ChatSession(
        generator,
        system=args.system,
        options=generation_options(generator, flags),
        template_options={"enable_thinking": False} if args.no_thinking else {},
    )
    interactive = sys.stdin.isatty()
    lines = terminal_lines() if interactive else sys.stdin

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    run_chat(session, lines, write, interactive=interactive)
    return 0
