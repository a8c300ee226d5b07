"""The explain subcommands (attention, probe, ponder): argument handling and printing around
``einformer.explain``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .commands import task_test_pairs


def cmd_attention(args: argparse.Namespace) -> int:
    from .explain.attention_maps import plot_attention, plot_attention_grid
    from .explain.collect import collect_attention
    from .explain.html import write_explorer

    record = collect_attention(args.model, args.text)
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
        print(f"explorer: {write_explorer(record, args.html)}")
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
    import torch

    from .data.bert_tokenizer import load_tokenizer
    from .explain.collect import resolve_model
    from .explain.probing import plot_probes, run_probes
    from .models.bert import BertModel

    directory = resolve_model(args.model)
    model = BertModel.from_pretrained(directory)
    torch.manual_seed(args.seed)
    untrained = BertModel(model.config)  # the same architecture at initialisation: a control
    n_train, n_test = (3000, 1000) if args.full else (args.n_train, args.n_test)
    name = directory.name if Path(args.model).is_dir() else args.model
    print(f"probing {model.config.n_layers} layers of {name} on {n_train} / {n_test} sentences per task")
    table = run_probes(
        model,
        untrained,
        load_tokenizer(directory),
        tasks=args.tasks,
        n_train=n_train,
        n_test=n_test,
        seed=args.seed,
        progress=lambda task, acc: print(f"  {task:<16} " + " ".join(f"{a:.2f}" for a in acc), flush=True),
    )
    print(table.to_text())
    print(f"plot: {plot_probes(table, args.output)}")
    if args.json:
        from .checkpoint import write_json

        write_json(args.json, table.to_dict())
        print(f"figures: {args.json}")
    return 0


def cmd_ponder(args: argparse.Namespace) -> int:
    from .data.algorithmic import nonzero_count
    from .explain.ponder import plot_ponder_by_difficulty, plot_ponder_map, ponder_by_difficulty, ponder_map
    from .recipes.seq2seq import load_run

    run = load_run(args.run)
    pm = ponder_map(run, args.input)
    print(f"output: {''.join(t for t in pm.output_tokens if t != '[EOS]')}")
    print("source  " + " ".join(f"{t:>5}" for t in pm.source_tokens))
    print("N + R   " + " ".join(f"{n + r:5.2f}" for n, r in zip(pm.source_steps, pm.source_remainders, strict=True)))
    print(f"ponder map: {plot_ponder_map(pm, args.output, title=f'ponder time N + R: {args.input}')}")
    if run.info.get("task") and args.difficulty_plot:
        sources = [s for s, _ in task_test_pairs(run.info)[: args.n]]
        parity = run.info["task"] == "parity"
        curve = ponder_by_difficulty(run, sources, nonzero_count if parity else len)
        xlabel = "non-zero entries in the input" if parity else "input length"
        print(f"mean ponder steps by {xlabel}: " + ", ".join(f"{k}: {v:.2f}" for k, v in curve.items()))
        print(f"difficulty plot: {plot_ponder_by_difficulty(curve, args.difficulty_plot, xlabel=xlabel)}")
    return 0
