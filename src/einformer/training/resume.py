"""What a resumed run may change of its training arguments: the optimizer and the schedule were built
with some of them (they are kept), the loop's bookkeeping may change (and the change is named)."""

from __future__ import annotations

import dataclasses

# training arguments a resumed run must keep (the optimizer and scheduler state were built with
# them), and those it may change; the flag that sets each, for the messages
KEPT_ON_RESUME = {
    "batch_size": "--batch-size",
    "gradient_accumulation_steps": "--grad-accum",
    "learning_rate": "--lr",
    "weight_decay": "--weight-decay",
    "betas": "betas",
    "eps": "eps",
    "schedule": "--schedule",
    "warmup_steps": "--warmup",
    "max_grad_norm": "--clip",
    "precision": "--precision",
    "seed": "--seed",
}
CHANGEABLE_ON_RESUME = {
    "max_steps": "--steps",
    "eval_every": "--eval-every",
    "save_every": "--save-every",
    "log_every": "--log-every",
    "patience": "--patience",
}


def check_resume_arguments(saved: dict | None, args) -> list[str]:
    """Refuse (ValueError) a resume whose ``args`` change a kept setting of the ``saved`` ones;
    return the changes it applies, as "--flag old -> new"."""
    if saved is None:  # a checkpoint of an older einformer
        return []
    now = dataclasses.asdict(args)
    differ = [k for k in now if k in saved and _plain(saved[k]) != _plain(now[k])]
    kept = [f"{KEPT_ON_RESUME[k]} {saved[k]} (now {now[k]})" for k in differ if k in KEPT_ON_RESUME]
    if kept:
        raise ValueError(
            "--resume continues with the run's own training settings, and these differ: "
            + ", ".join(kept)
            + ". Resume without changing them, or train into a new --run-dir"
        )
    return [f"{CHANGEABLE_ON_RESUME[k]} {saved[k]} -> {now[k]}" for k in differ if k in CHANGEABLE_ON_RESUME]


def _plain(value):
    """Tuples and lists (a checkpoint stores betas either way) compare as equals."""
    return list(value) if isinstance(value, tuple) else value
