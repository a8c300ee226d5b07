"""Speed of this checkout against an earlier einformer commit, in one process, on the same weights.

A refactor must not cost speed, and a host whose speed drifts 20-30% within minutes cannot show that
with runs minutes apart. This script exports ``--base`` (a git revision) as a second package,
``einformer_base``, imports both, gives them the same weights, checks that they produce the same
tokens, then times each case in interleaved rounds (base, this checkout, base, ...) and prints the
median of the per-round ratios, base time / our time (above 1: this checkout is faster).

Cases: bench/generate.py's (greedy batch 1 and 8, beam 4, top-p sampling on a 6 x 384 GPT in
GPT-2's layout; the demo encoder-decoder greedy and beam 4), its prompt sweep (64 new tokens after
256 and 768 prompt tokens, and the 768-token prompt pass alone), prompt lookup (bench/speculative.py's
method, on a prompt that repeats itself), assisted decoding (the model as its own assistant), and
bench/train_gpt.py's training step (forward, backward
and AdamW on batch 8 x 256).

    python bench/compare_versions.py --base HEAD~3 [--rounds 5] [--only "greedy, batch 1" seq2seq]

One process's ratio also depends on where its weights landed in memory (a few percent either way on
this project's host): bench/processes.py reruns it in fresh processes and takes the median.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def export_base(revision: str, into: Path):
    """``revision``'s src/einformer as the package ``einformer_base`` (its imports are relative)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src/einformer"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "src" / "einformer").rename(into / "einformer_base")
    sys.path.insert(0, str(into))
    return importlib.import_module("einformer_base")


def gpt_pair(base, ours, directory: Path, layers=6, d_model=384, heads=6, vocab=8192, positions=1024):
    """The same random GPT-2-layout weights in both versions."""
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=vocab, n_positions=positions, n_embd=d_model, n_layer=layers, n_head=heads,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    return base.GPT.from_pretrained(directory).eval(), ours.GPT.from_pretrained(directory).eval()


def seq2seq_pair(base, ours, directory: Path):
    """The demo encoder-decoder, saved by the base version in its own format and read by ours."""
    torch.manual_seed(0)
    config = base.EncoderDecoderConfig.from_preset("demo", src_vocab_size=64, tgt_vocab_size=64)
    model = base.EncoderDecoderTransformer(config).eval()
    model.save_pretrained(directory)
    return model, ours.EncoderDecoderTransformer.from_pretrained(directory).eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


ONLY: list[str] = []  # --only: case names must contain one of these (empty: every case)


def compare(name: str, run_base, run_ours, rounds: int, check: bool = True) -> None:
    """Warm both, check equal outputs, then interleaved rounds; print medians and the median ratio."""
    if ONLY and not any(part in name for part in ONLY):
        return
    with torch.no_grad():
        a, b = run_base(), run_ours()
        if check:
            assert torch.equal(a, b), f"{name}: the two versions disagree"
        times = [(timed(run_base), timed(run_ours)) for _ in range(rounds)]
    ratio = statistics.median(tb / to for tb, to in times)
    base_ms, ours_ms = (statistics.median(t[i] for t in times) * 1e3 for i in (0, 1))
    print(f"{name:<34} base {base_ms:9.1f} ms   ours {ours_ms:9.1f} ms   ratio={ratio:.2f}", flush=True)


def train_step(model, ids, optimizer):
    def run():
        with torch.enable_grad():
            model.train()
            loss = model(ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            model.eval()
        return torch.zeros(())

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="a git revision, e.g. HEAD~3 or main")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--new", type=int, default=128, help="new tokens per generate call")
    p.add_argument("--only", nargs="*", default=[], help="run the cases whose names contain one of these")
    args = p.parse_args()
    ONLY[:] = args.only
    sys.path.insert(0, str(ROOT / "src"))
    import einformer as ours

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = export_base(args.base, tmp)
        (tmp / "gpt").mkdir()
        (tmp / "s2s").mkdir()
        gb, go = gpt_pair(base, ours, tmp / "gpt")
        sb, so = seq2seq_pair(base, ours, tmp / "s2s")
        print(f"{args.base} (base) against this checkout; fp32 CPU, {torch.get_num_threads()} threads; "
              f"{args.rounds} interleaved rounds; ratio = base time / our time")  # fmt: skip
        g = torch.Generator().manual_seed(0)
        one, eight = torch.randint(1, 8192, (1, 16), generator=g), torch.randint(1, 8192, (8, 16), generator=g)
        greedy = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False)
        cases = [
            ("greedy, batch 1", one, greedy),
            ("greedy, batch 8", eight, greedy),
            ("beam 4, batch 1", one, {**greedy, "num_beams": 4}),
            ("sampling top_p=0.9, batch 1", one, {**greedy, "do_sample": True, "top_p": 0.9, "top_k": 0, "seed": 0}),
        ]
        for name, ids, kw in cases:
            compare(name, lambda ids=ids, kw=kw: gb.generate(ids, **kw), lambda ids=ids, kw=kw: go.generate(ids, **kw),
                    args.rounds)  # fmt: skip
        src = torch.randint(4, 64, (1, 12), generator=g)
        s2s = dict(max_new_tokens=64, min_new_tokens=64)
        for beams in (1, 4):
            kw = {**s2s, "num_beams": beams}
            compare(f"seq2seq demo, {'greedy' if beams == 1 else 'beam 4'}", lambda kw=kw: sb.generate(src, **kw),
                    lambda kw=kw: so.generate(src, **kw), args.rounds)  # fmt: skip
        for length in (256, 768):
            ids = torch.randint(1, 8192, (1, length), generator=g)
            kw = dict(max_new_tokens=64, min_new_tokens=64, do_sample=False)
            compare(f"prompt {length}, 64 new", lambda ids=ids, kw=kw: gb.generate(ids, **kw),
                    lambda ids=ids, kw=kw: go.generate(ids, **kw), args.rounds)  # fmt: skip
        ids = torch.randint(1, 8192, (1, 768), generator=g)
        compare("prompt 768, prefill", lambda: gb(ids).logits[:, -1], lambda: go(ids).logits[:, -1], args.rounds,
                check=False)  # fmt: skip
        passage = torch.randint(1, 8192, (1, 40), generator=g)
        repeat = torch.cat([passage, passage[:, :8]], dim=1)  # the continuation is in the prompt
        kw = dict(max_new_tokens=64, min_new_tokens=64, do_sample=False, prompt_lookup_num_tokens=10)
        compare("prompt lookup, batch 1", lambda: gb.generate(repeat, **kw), lambda: go.generate(repeat, **kw),
                args.rounds)  # fmt: skip
        # bench/speculative.py's assisted decoding, with the model as its own assistant: every proposal is
        # accepted, so the case times the propose-and-check machinery at its busiest (the trained pair of
        # bench/speculative.py takes most of an hour to make on this host)
        kw = dict(max_new_tokens=64, min_new_tokens=64, do_sample=False, num_assistant_tokens=5)
        compare("assisted (self), batch 1", lambda: gb.generate(one, assistant_model=gb, **kw),
                lambda: go.generate(one, assistant_model=go, **kw), args.rounds)  # fmt: skip
        batch = torch.randint(1, 8192, (8, 256), generator=g)
        opt_b, opt_o = (torch.optim.AdamW(m.parameters(), lr=1e-4) for m in (gb, go))
        compare("training step, batch 8 x 256", train_step(gb, batch, opt_b), train_step(go, batch, opt_o),
                args.rounds, check=False)  # fmt: skip


if __name__ == "__main__":
    main()
