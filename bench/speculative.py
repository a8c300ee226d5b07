"""Assisted and prompt-lookup decoding on models that have learned something: einformer against its
own plain greedy search and against transformers' generate with the same option on the same weights.

It trains, once, a target GPT (6 layers, 384 wide) and a draft GPT (2 layers, 128 wide) on Tiny
Shakespeare's characters (the first 90% of the text; the last 10% is where the prompts come from)
and caches both outside the repository. ``--copy-fraction F`` instead trains on Tiny Shakespeare's
first 90% cut into passages of 60 to 140 characters, a fraction F of them followed by a blank line
and the same passage again, to teach the models to copy (what prompt lookup relies on); at 1,200
steps it had not (docs/generation.md), so the default is the plain text. The validation text, and
so every prompt, is the plain text's last 10% either way. Then, in one process, batch 1,
fp32 CPU:

1. assisted greedy (the draft proposes) against plain greedy, on validation prompts;
2. prompt lookup on input-grounded prompts (a passage, a blank line, then the passage's first
   words again: the continuation repeats the prompt) against plain greedy;
3. both against transformers' generate with the same ``assistant_model`` / ``prompt_lookup_num_tokens``
   (our runs exported with ``save_pretrained(format="hf")`` and loaded as GPT2LMHeadModel).

Every case checks that the tokens are those of plain greedy search, and prints the acceptance rate
(accepted proposed tokens / proposed tokens).

    python bench/speculative.py --data ../shared/data/tinyshakespeare/input.txt --cache /tmp/einformer-speculative-long
    python bench/speculative.py --copy-fraction 0.5 --cache /tmp/einformer-speculative-copy
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

from einformer.generation import speculative
from einformer.recipes.language_model import load_lm_run, train_lm
from einformer.training import TrainingArguments

MODELS = {
    "target": dict(preset="small", overrides=dict(d_model=384, n_layers=6, n_heads=6), steps=1200, batch=12, lr=1e-3),
    "draft": dict(preset="small", overrides=dict(d_model=128, n_layers=2, n_heads=4), steps=1500, batch=32, lr=2e-3),
}
BLOCK = 256


VAL_FRACTION = 0.1


def corpus(data: Path, cache: Path, fraction: float) -> tuple[Path, float]:
    """(the training text's file, its validation fraction): ``data`` itself without copies, else a
    file in ``cache`` whose first part is the training 90% with a ``fraction`` of its passages
    repeated after a blank line, and whose last part is the untouched validation 10%."""
    if not fraction:
        return data, VAL_FRACTION
    text = data.read_text(encoding="utf-8")
    split = int(len(text) * (1 - VAL_FRACTION))
    rng, pieces, i = random.Random(0), [], 0
    while i < split:
        passage = text[i : min(split, i + rng.randint(60, 140))]
        i += len(passage)
        pieces.append(passage + "\n\n" + passage + "\n\n" if rng.random() < fraction else passage)
    train_part, val_part = "".join(pieces), text[split:]
    path = cache / f"corpus-copy{fraction:g}.txt"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(train_part + val_part, encoding="utf-8")
    # train_lm splits at int(len * (1 - f)): half a character below the boundary lands on it
    return path, (len(val_part) - 0.5) / (len(train_part) + len(val_part))


def train(data: Path, val_fraction: float, cache: Path, name: str, quick=False, steps: int | None = None) -> None:
    spec = dict(MODELS[name], **({"steps": 4} if quick else {"steps": steps} if steps else {}))
    run_dir = cache / name
    if (run_dir / "run.json").is_file():
        trained_on = json.loads((run_dir / "run.json").read_text())["data"]
        if Path(trained_on) != data.resolve():
            raise SystemExit(f"{run_dir} was trained on {trained_on}, not {data}: choose another --cache")
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
    train_lm(
        run_dir,
        data=str(data),
        val_fraction=val_fraction,
        preset=spec["preset"],
        model_overrides=overrides,
        block_size=BLOCK,
        args=args,
    )
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


def case(name, prompts, ours, theirs, options, hf_options, new, repeats, acceptance):
    """Rounds of: every prompt with our plain greedy, with ours with the option, with transformers'
    with the option (the first round warms up). Ratios are medians over the rounds of per-round
    ratios, so a slow spell of a shared host hits both sides of a ratio."""
    greedy = dict(max_new_tokens=new, do_sample=False)  # the models have no EOS: every run makes `new` tokens
    runs = {
        "plain": lambda ids: ours.generate(ids, **greedy),
        "ours": lambda ids: ours.generate(ids, **greedy, **options),
        "theirs": lambda ids: theirs.generate(
            ids, attention_mask=torch.ones_like(ids), pad_token_id=0, **greedy, **hf_options
        ),
    }
    times, reference = {k: [] for k in runs}, None
    for round_ in range(repeats + 1):
        for kind, run in runs.items():
            acceptance.reset()
            start = time.perf_counter()
            with torch.no_grad():
                outputs = [run(ids).tolist() for ids in prompts]
            if round_:
                times[kind].append(time.perf_counter() - start)
            if kind == "ours":
                accepted, proposed = acceptance.accepted, acceptance.proposed
            reference = outputs if kind == "plain" else reference
            assert outputs == reference, f"{name}: the tokens must be plain greedy's"
    tokens = new * len(prompts)
    speed = {k: tokens / statistics.median(v) for k, v in times.items()}
    over_plain = statistics.median(p / o for p, o in zip(times["plain"], times["ours"], strict=True))
    over_theirs = statistics.median(t / o for t, o in zip(times["theirs"], times["ours"], strict=True))
    print(
        f"{name:<34} plain {speed['plain']:7.1f} tok/s  with it {speed['ours']:7.1f} tok/s "
        f"({over_plain:.2f}x)  transformers with it {speed['theirs']:7.1f} tok/s "
        f"(ours {over_theirs:.2f}x)  acceptance {accepted / max(proposed, 1):.0%} "
        f"({accepted} of {proposed} proposed tokens)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/tinyshakespeare/input.txt"))
    p.add_argument("--cache", type=Path, default=Path("/tmp/einformer-speculative-long"))
    p.add_argument("--copy-fraction", type=float, default=0.0, help="passages repeated in the training text")
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--new", type=int, default=96)
    p.add_argument("--repeats", type=int, default=5, help="timed rounds")
    p.add_argument("--num-assistant-tokens", type=int, default=8, help="transformers' default: 20")
    p.add_argument("--schedule", default="constant", help="num_assistant_tokens_schedule (transformers': heuristic)")
    p.add_argument("--confidence", type=float, default=0.0, help="assistant_confidence_threshold (transformers': 0.4)")
    p.add_argument("--lookup-tokens", type=int, default=10)
    p.add_argument("--ngram", type=int, default=4, help="max_matching_ngram_size (characters here)")
    p.add_argument("--quick", action="store_true", help="train 4 steps each: checks the script, not the speed")
    p.add_argument("--target-steps", type=int, default=None, help="the target's training steps (default 1200)")
    a = p.parse_args()
    data, val_fraction = corpus(a.data, a.cache, a.copy_fraction)
    for name in MODELS:
        train(data, val_fraction, a.cache, name, a.quick, a.target_steps if name == "target" else None)
    import transformers

    target, draft = load_lm_run(a.cache / "target"), load_lm_run(a.cache / "draft")
    hf = {}
    for name, run in (("target", target), ("draft", draft)):
        run.model.save_pretrained(a.cache / f"{name}-hf", format="hf")
        hf[name] = transformers.GPT2LMHeadModel.from_pretrained(a.cache / f"{name}-hf").eval()
    text = target.validation_text()
    plain = a.data.read_text(encoding="utf-8")
    assert text == plain[int(len(plain) * (1 - VAL_FRACTION)) :], "the prompts come from the plain validation text"
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
    schedule = dict(
        num_assistant_tokens=a.num_assistant_tokens,
        num_assistant_tokens_schedule=a.schedule,
        assistant_confidence_threshold=a.confidence,
    )
    assisted = dict(assistant_model=draft.model, **schedule)
    hf_assisted = dict(assistant_model=hf["draft"], **schedule)
    label = f"assisted (draft, {a.num_assistant_tokens} {a.schedule}, {a.confidence:g})"
    case(label, plain_prompts, target.model, hf["target"], assisted, hf_assisted, a.new, a.repeats, acceptance)
    defaults = dict(num_assistant_tokens=20, num_assistant_tokens_schedule="heuristic")
    defaults["assistant_confidence_threshold"] = 0.4
    case("assisted (transformers' defaults)", plain_prompts, target.model, hf["target"],
         dict(assisted, **defaults), dict(hf_assisted, **defaults), a.new, a.repeats, acceptance)  # fmt: skip
    lookup = dict(prompt_lookup_num_tokens=a.lookup_tokens, max_matching_ngram_size=a.ngram)
    case("prompt lookup, repeat the passage", grounded, target.model, hf["target"], lookup, lookup, a.new,
         a.repeats, acceptance)  # fmt: skip
    case("assisted, repeat the passage", grounded, target.model, hf["target"], assisted, hf_assisted, a.new,
         a.repeats, acceptance)  # fmt: skip


if __name__ == "__main__":
    main()
