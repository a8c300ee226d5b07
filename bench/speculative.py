"""Assisted and prompt-lookup decoding on models that have learned something: einformer against its
own plain greedy search and against transformers' generate with the same option on the same weights.

It trains, once, a target GPT (6 layers, 384 wide) and a draft GPT (2 layers, 128 wide) on Tiny
Shakespeare's characters (the first 90% of the text; the last 10% is where the prompts come from)
and caches both outside the repository. Then, in one process, batch 1, fp32 CPU:

1. assisted greedy (the draft proposes) against plain greedy, on validation prompts;
2. prompt lookup on input-grounded prompts (a passage, a blank line, then the passage's first
   words again: the continuation repeats the prompt) against plain greedy;
3. both against transformers' generate with the same ``assistant_model`` / ``prompt_lookup_num_tokens``
   (our runs exported with ``save_pretrained(format="hf")`` and loaded as GPT2LMHeadModel).

Every case checks that the tokens are those of plain greedy search, and prints the acceptance rate
(accepted proposed tokens / proposed tokens).

    python bench/speculative.py --data ../shared/data/tinyshakespeare/input.txt --cache /tmp/einformer-speculative
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from einformer.generation import speculative
from einformer.recipes.language_model import load_lm_run, train_lm
from einformer.training import TrainingArguments

MODELS = {
    "target": dict(preset="small", overrides=dict(d_model=384, n_layers=6, n_heads=6), steps=600, batch=12, lr=1e-3),
    "draft": dict(preset="small", overrides=dict(d_model=128, n_layers=2, n_heads=4), steps=1500, batch=32, lr=2e-3),
}
BLOCK = 256


def train(data: Path, cache: Path, name: str, quick: bool = False, steps: int | None = None) -> None:
    spec = dict(MODELS[name], **({"steps": 4} if quick else {"steps": steps} if steps else {}))
    run_dir = cache / name
    if (run_dir / "run.json").is_file():
        return
    args = TrainingArguments(
        max_steps=spec["steps"],
        batch_size=spec["batch"],
        learning_rate=spec["lr"],
        warmup_steps=100,
        schedule="cosine",
        eval_every=spec["steps"] // 2,
        save_every=spec["steps"] // 2,
        progress=False,
    )
    overrides = dict(spec["overrides"], dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)
    start = time.perf_counter()
    train_lm(run_dir, data=str(data), preset=spec["preset"], model_overrides=overrides, block_size=BLOCK, args=args)
    print(f"trained the {name} ({spec['steps']} steps) in {time.perf_counter() - start:.0f} s", flush=True)


class Acceptance:
    """Counts proposed and accepted tokens through the proposers' ``update``."""

    def __init__(self) -> None:
        self.proposed = self.accepted = 0
        for cls in (speculative.Assistant, speculative.PromptLookup):
            original = cls.update

            def update(proposer, proposed, accepted, original=original):
                self.proposed, self.accepted = self.proposed + proposed, self.accepted + accepted
                return original(proposer, proposed, accepted)

            cls.update = update

    def reset(self) -> None:
        self.proposed = self.accepted = 0

    @property
    def rate(self) -> float:
        return self.accepted / max(self.proposed, 1)


def timed(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for i in range(repeats + 1):
        start = time.perf_counter()
        with torch.no_grad():
            out = fn()
        if i:  # the first run warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times), out


def case(name, prompts, ours, theirs, options, hf_options, new, repeats, acceptance):
    """Per prompt: our plain greedy, ours with the option, transformers' with the option; the sums."""
    greedy = dict(max_new_tokens=new, do_sample=False)  # the models have no EOS: every run makes `new` tokens
    totals = {"plain": 0.0, "ours": 0.0, "theirs": 0.0}
    acceptance.reset()
    for ids in prompts:
        t_plain, plain = timed(lambda ids=ids: ours.generate(ids, **greedy), repeats)
        t_ours, fast = timed(lambda ids=ids: ours.generate(ids, **greedy, **options), repeats)
        mask = torch.ones_like(ids)
        t_theirs, slow = timed(
            lambda ids=ids, mask=mask: theirs.generate(
                ids, attention_mask=mask, pad_token_id=0, **greedy, **hf_options
            ),
            repeats,
        )
        assert fast.tolist() == plain.tolist() == slow.tolist(), f"{name}: the tokens must be plain greedy's"
        totals["plain"] += t_plain
        totals["ours"] += t_ours
        totals["theirs"] += t_theirs
    tokens = new * len(prompts)
    print(
        f"{name:<34} plain {tokens / totals['plain']:7.1f} tok/s  with it {tokens / totals['ours']:7.1f} tok/s "
        f"({totals['plain'] / totals['ours']:.2f}x)  transformers with it {tokens / totals['theirs']:7.1f} tok/s "
        f"(ours {totals['theirs'] / totals['ours']:.2f}x)  acceptance {acceptance.rate:.0%} "
        f"({acceptance.accepted} of {acceptance.proposed} proposed tokens)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/tinyshakespeare/input.txt"))
    p.add_argument("--cache", type=Path, default=Path("/tmp/einformer-speculative"))
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--new", type=int, default=96)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--num-assistant-tokens", type=int, default=5)
    p.add_argument("--lookup-tokens", type=int, default=10)
    p.add_argument("--ngram", type=int, default=4, help="max_matching_ngram_size (characters here)")
    p.add_argument("--quick", action="store_true", help="train 4 steps each: checks the script, not the speed")
    p.add_argument("--target-steps", type=int, default=None, help="the target's training steps (default 600)")
    a = p.parse_args()
    for name in MODELS:
        train(a.data, a.cache, name, a.quick, a.target_steps if name == "target" else None)
    import transformers

    target, draft = load_lm_run(a.cache / "target"), load_lm_run(a.cache / "draft")
    hf = {}
    for name, run in (("target", target), ("draft", draft)):
        run.model.save_pretrained(a.cache / f"{name}-hf", format="hf")
        hf[name] = transformers.GPT2LMHeadModel.from_pretrained(a.cache / f"{name}-hf").eval()
    text = target.validation_text()
    tok = target.tokenizer
    step = len(text) // (a.prompts + 1)
    plain_prompts = [torch.tensor([tok.encode(text[i * step : i * step + 64])]) for i in range(a.prompts)]
    grounded = []
    for i in range(a.prompts):
        passage = text[i * step + 100 : i * step + 100 + 140]
        grounded.append(torch.tensor([tok.encode(passage + "\n\n" + passage[:12])]))
    acceptance = Acceptance()
    print(
        f"target GPT 6 x 384 ({target.model.num_parameters() / 1e6:.1f}M), draft GPT 2 x 128 "
        f"({draft.model.num_parameters() / 1e6:.2f}M), characters; batch 1, {a.new} new tokens, "
        f"{a.prompts} prompts, fp32 CPU, {torch.get_num_threads()} threads; tokens checked equal to plain greedy"
    )
    assisted = dict(assistant_model=draft.model, num_assistant_tokens=a.num_assistant_tokens)
    hf_assisted = dict(assistant_model=hf["draft"], num_assistant_tokens=a.num_assistant_tokens)
    case("assisted (draft 2 x 128)", plain_prompts, target.model, hf["target"], assisted, hf_assisted, a.new,
         a.repeats, acceptance)  # fmt: skip
    lookup = dict(prompt_lookup_num_tokens=a.lookup_tokens, max_matching_ngram_size=a.ngram)
    case("prompt lookup, repeat the passage", grounded, target.model, hf["target"], lookup, lookup, a.new,
         a.repeats, acceptance)  # fmt: skip
    case("assisted, repeat the passage", grounded, target.model, hf["target"], assisted, hf_assisted, a.new,
         a.repeats, acceptance)  # fmt: skip


if __name__ == "__main__":
    main()
