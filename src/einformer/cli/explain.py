"""``einformer attention``, ``probe`` and ``ponder``: argument handling and printing around
``einformer.explain``, every model through ``einformer.load``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_hub_flags, add_model_flags, hub_options, model_options, model_path


def register(sub) -> None:
    p = sub.add_parser("attention", help="attention heatmaps (PNG) and an offline interactive explorer (HTML)")
    p.add_argument("model", help="a BERT directory (or 'minilm'), a language model, or a seq2seq run")
    p.add_argument("text", help="the input text (for seq2seq: the source; the output is its translation)")
    p.add_argument("--layer", type=int, default=None, help="layer to draw (default: the last)")
    p.add_argument("--head", type=int, default=None, help="one head (default: a grid of every head)")
    p.add_argument("--kind", default=None, help="seq2seq: encoder, decoder or cross (default cross)")
    p.add_argument("-o", "--output", default=None, help="heatmap PNG (default attention.png unless --html)")
    p.add_argument("--html", default=None, help="write the interactive explorer page (with the step view) here")
    p.add_argument(
        "--query-token", type=int, default=0, help="the query token the page's step view opens on (default 0)"
    )
    add_hub_flags(p)
    add_model_flags(p)
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
    add_hub_flags(p)
    add_model_flags(p)
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
    add_hub_flags(p)
    add_model_flags(p)
    p.set_defaults(func=cmd_ponder)


def cmd_attention(args: argparse.Namespace) -> int:
    from ..explain.attention_maps import plot_attention, plot_attention_grid
    from ..explain.collect import collect_attention
    from ..explain.html import write_explorer

    record = collect_attention(model_path(args.model, args), args.text, steps=bool(args.html), **model_options(args))
    kinds = list(record.maps)
    kind = args.kind or ("cross" if "cross" in kinds else kinds[0])
    if kind not in record.maps:
        raise ValueError(f"--kind {kind!r}: this model has {kinds}")
    layers = record.maps[kind]
    layer = len(layers) - 1 if args.layer is None else args.layer
    if not 0 <= layer < len(layers):
        raise ValueError(f"--layer {layer}: the model has layers 0 to {len(layers) - 1}")
    heads = layers[layer]
    if args.head is not None and not 0 <= args.head < heads.shape[0]:
        raise ValueError(f"--head {args.head}: the model has heads 0 to {heads.shape[0] - 1}")
    rows, cols = record.rows[kind], record.cols[kind]
    shown = heads[args.head] if args.head is not None else heads.mean(0)
    which = f"head {args.head}" if args.head is not None else "mean over heads"
    print(f"{kind} attention, layer {layer}, {which}: each query's most attended key")
    for token, weights in zip(rows, shown, strict=True):
        j = int(weights.argmax())
        print(f"  {token:>14} -> {cols[j]:<14} {float(weights[j]):.2f}")
    if args.html:
        page = write_explorer(
            record, args.html, kind=kind, layer=layer, head=args.head or 0, query_token=args.query_token
        )
        print(f"explorer: {page}")
    if args.output or not args.html:
        title = f"{record.model}: {kind} attention, layer {layer}"
        out = args.output or "attention.png"
        if args.head is not None:
            path = plot_attention(
                heads[args.head], cols, rows, out, title=f"{title}, head {args.head}", xlabel="keys", ylabel="queries"
            )
        else:
            path = plot_attention_grid(heads, rows, cols, out, title=title)
        print(f"heatmap: {path}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..explain.probing import plot_probes, run_probes, untrained_control

    loaded = load(args.model, **hub_options(args), **model_options(args)).expect("probe", "bert")
    model = loaded.encoder
    n_train, n_test = (3000, 1000) if args.full else (args.n_train, args.n_test)
    name = loaded.path.name if Path(args.model).is_dir() else args.model
    weights = str(next(model.parameters()).dtype).removeprefix("torch.")
    print(f"probing {model.config.n_layers} layers of {name} ({weights}) on {n_train} / {n_test} sentences per task")
    table = run_probes(
        model,
        untrained_control(model, args.seed),
        loaded.require_tokenizer("probe"),
        tasks=args.tasks,
        n_train=n_train,
        n_test=n_test,
        seed=args.seed,
        progress=lambda task, acc: print(f"  {task:<16} " + " ".join(f"{a:.2f}" for a in acc), flush=True),
    )
    print(table.to_text())
    print(f"plot: {plot_probes(table, args.output)}")
    if args.json:
        from ..checkpoint import write_json

        write_json(args.json, table.to_dict())
        print(f"figures: {args.json}")
    return 0


def cmd_ponder(args: argparse.Namespace) -> int:
    from ..auto import load
    from ..data.algorithmic import nonzero_count
    from ..explain.ponder import plot_ponder_by_difficulty, plot_ponder_map, ponder_by_difficulty, ponder_map
    from ..recipes.seq2seq import Seq2SeqRun

    loaded = load(args.run, **hub_options(args), **model_options(args)).expect("ponder", "universal-transformer")
    run = Seq2SeqRun.from_loaded(loaded, "ponder")
    pm = ponder_map(run, args.input)
    print(f"output: {''.join(t for t in pm.output_tokens if t != '[EOS]')}")
    print("source  " + " ".join(f"{t:>5}" for t in pm.source_tokens))
    print("N + R   " + " ".join(f"{n + r:5.2f}" for n, r in zip(pm.source_steps, pm.source_remainders, strict=True)))
    print(f"ponder map: {plot_ponder_map(pm, args.output, title=f'ponder time N + R: {args.input}')}")
    if run.info.task and args.difficulty_plot:
        sources = [s for s, _ in run.test_pairs()[: args.n]]
        parity = run.info.task == "parity"
        curve = ponder_by_difficulty(run, sources, nonzero_count if parity else len)
        xlabel = "non-zero entries in the input" if parity else "input length"
        print(f"mean ponder steps by {xlabel}: " + ", ".join(f"{k}: {v:.2f}" for k, v in curve.items()))
        print(f"difficulty plot: {plot_ponder_by_difficulty(curve, args.difficulty_plot, xlabel=xlabel)}")
    return 0
