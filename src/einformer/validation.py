"""Checking config values: each field against its annotation, and the range checks every config
shares. A failure is a ``ConfigError`` that names the field and why."""

from __future__ import annotations

import dataclasses
import functools
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
