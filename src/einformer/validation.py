"""Checking config values: each field against its annotation, and the range checks every config
shares. A failure is a ``ConfigError`` that names the field and why."""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any

from .errors import ConfigError

ACTIVATION_NAMES = ("relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu")


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def type_ok(value: Any, hint: Any) -> bool:
    """Does ``value`` fit the annotation ``hint`` (int, float, bool, str, None, unions, tuple[X, ...])?
    A bool is not an int here (``n_heads: true`` is an error), an int is a float."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, h) for h in typing.get_args(hint))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple | list) and all(type_ok(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return f"a list of {type_name(typing.get_args(hint)[0])}"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def check(condition: bool, field: str, message: str) -> None:
    """Raise ValueError('field: message') unless ``condition``; for ``validate``."""
    if not condition:
        raise ConfigError(f"{field}: {message}")


# ---------------------------------------------------------------- validators shared by the configs
def check_heads(d_model: int, n_heads: int) -> None:
    check(d_model > 0, "d_model", f"must be positive, got {d_model}")
    check(n_heads > 0 and d_model % n_heads == 0, "n_heads", f"{n_heads} does not divide d_model={d_model}")


def check_positive(config, *names: str) -> None:
    for name in names:
        check(getattr(config, name) >= 1, name, f"must be >= 1, got {getattr(config, name)}")


def check_probabilities(config, *names: str) -> None:
    """Dropout rates and smoothing: each in [0, 1)."""
    for name in names:
        value = getattr(config, name)
        check(value is None or 0.0 <= value < 1.0, name, f"must be in [0, 1), got {value}")


def check_activation(name: str) -> None:
    check(name in ACTIVATION_NAMES, "activation", f"{name!r} is not one of {ACTIVATION_NAMES}")


def check_token_ids(config, vocab_size: int, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(value is None or 0 <= value < vocab_size, name, f"{value} is outside the vocabulary of {vocab_size}")


SINUSOID_LAYOUTS = ("interleaved", "halves")


def check_layout(layout: str) -> None:
    check(layout in SINUSOID_LAYOUTS, "sinusoid_layout", f"must be one of {SINUSOID_LAYOUTS}, got {layout!r}")


# ---------------------------------------------------------------- numbers at the edges
def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_finite_floats(config) -> None:
    """Every float field of a config is a finite number (NaN or inf passes every ``>`` check the wrong way),
    and every ``*_eps`` field is > 0 (a norm divides by sqrt(var + eps))."""
    for name, value in dataclasses.asdict(config).items():
        if isinstance(value, float):
            check(math.isfinite(value), name, f"must be a finite number, got {value}")
        if name.endswith("eps") and isinstance(value, int | float) and not isinstance(value, bool):
            check(value > 0, name, f"must be > 0 (it keeps a norm from dividing by zero), got {value}")


MAX_LEARNING_RATE = 3.4028234663852886e38  # float32's largest: a larger rate makes every updated weight inf
MAX_SEED = 2**32  # seeds are combined with step numbers (seed * 1_000_003 + step) into torch's 64-bit seed


def check_training_numbers(args) -> None:
    """The numbers of ``TrainingArguments`` that the optimizer, schedule and seeding take on trust."""
    lr, wd = args.learning_rate, args.weight_decay
    check(
        is_finite_number(lr) and 0 < lr <= MAX_LEARNING_RATE,
        "learning_rate",
        f"--lr must be a finite number > 0 that float32 holds (at most {MAX_LEARNING_RATE:.2g}), got {lr}",
    )
    check(is_finite_number(wd) and wd >= 0, "weight_decay", f"--weight-decay must be a finite number >= 0, got {wd}")
    check(args.warmup_steps >= 0, "warmup_steps", f"--warmup must be >= 0 steps, got {args.warmup_steps}")
    check(
        isinstance(args.seed, int) and 0 <= args.seed < MAX_SEED,
        "seed",
        f"--seed must be an integer in [0, 2**32), got {args.seed}",
    )
    check(is_finite_number(args.eps) and args.eps > 0, "eps", f"must be a finite number > 0, got {args.eps}")
    check(all(is_finite_number(b) and 0 <= b < 1 for b in args.betas), "betas", f"must be in [0, 1), got {args.betas}")
    clip = args.max_grad_norm
    check(clip is None or is_finite_number(clip), "max_grad_norm", f"--clip must be a finite number, got {clip}")


def json_type_ok(value: Any, hint: Any) -> bool:
    """``type_ok``, with JSON's lists and objects: a list (or tuple) field takes a list, a dict field an object."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(json_type_ok(value, h) for h in typing.get_args(hint))
    if hint is list or origin is list or hint is tuple:
        return isinstance(value, list | tuple)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return type_ok(value, hint)


SKIP_WEIGHT_CHECK = "EINFORMER_SKIP_WEIGHT_CHECK"  # =1: load weights without the dtype and finiteness check


def weight_problems(expected: dict, state: dict) -> list[str]:
    """What is wrong with the checkpoint tensors ``state`` for the parameters of ``expected`` (a
    module's ``state_dict(keep_vars=True)``): integer tensors for float parameters (cast silently,
    they are garbage) and NaN or infinite values. Buffers (masks may hold -inf) are not checked.
    Empty when the environment sets EINFORMER_SKIP_WEIGHT_CHECK=1 (a trusted file, loaded faster)."""
    import os

    import torch

    if os.environ.get(SKIP_WEIGHT_CHECK) == "1":
        return []
    wrong_type, not_finite = [], []
    for key, tensor in state.items():
        param = expected.get(key)
        if not isinstance(param, torch.nn.Parameter) or not param.is_floating_point():
            continue
        if not (tensor.is_floating_point() or tensor.is_complex()):
            wrong_type.append(f"{key} ({str(tensor.dtype).removeprefix('torch.')})")
        elif tensor.numel() and not _all_finite(tensor):
            not_finite.append(key)
    problems = []
    if wrong_type:
        problems.append(f"float weights stored as integers: {', '.join(wrong_type[:8])}")
    if not_finite:
        problems.append(
            f"NaN or infinite values in {', '.join(not_finite[:8])}" + (" ..." if len(not_finite) > 8 else "")
        )
    return problems


def _all_finite(tensor) -> bool:
    """No NaN or infinity in ``tensor``. A finite sum proves it, and one reduction, accumulated in fp32
    (fp64 / complex: their own), reads the weights once without a boolean copy: several times faster
    than ``isfinite(t).all()`` on a 1 GB model. A sum that is not finite (a NaN, an infinity, or
    finite values adding past 3e38) is confirmed element by element."""
    import torch

    wide = tensor.dtype in (torch.float64, torch.complex64, torch.complex128)
    if torch.isfinite(tensor.sum() if wide else tensor.sum(dtype=torch.float32)):
        return True
    return bool(torch.isfinite(tensor).all())
