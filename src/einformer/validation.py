"""Checking config values: each field against its annotation, and the range checks every config
shares. A failure is a ``ConfigError`` that names the field and why."""

from __future__ import annotations

import contextlib
import contextvars
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
        if not isinstance(param, torch.nn.Parameter) or not param.is_floating_point() or tensor.is_meta:
            continue  # a meta tensor is a new head's placeholder on a meta-built model, not a loaded weight
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


# ---------------------------------------------------------------- sizes against the memory there is
SKIP_MEMORY_CHECK = "EINFORMER_SKIP_MEMORY_CHECK"  # =1: build configs larger than the memory available now
LAYER_FIELDS = ("n_layers", "n_encoder_layers", "n_decoder_layers")
# bytes a weight of a quantized layer takes (nn/quantized.py: int8 one byte; int4 two to a uint8 byte);
# their scales and zeros are left out, so the bound stays a lower one
QUANTIZED_BYTES = {"int8": 1.0, "int4": 0.5, "w8a8": 1.0}
_BUILT_IN: contextvars.ContextVar[tuple[Any, str | None] | None] = contextvars.ContextVar("built_in", default=None)


@contextlib.contextmanager
def weights_built_in(dtype, quantization: str | None = None):
    """Inside the block, a config prices its weights as the loader will build them: ``dtype`` (a
    ``torch.dtype``; None: torch's default) and, for a quantized checkpoint, its layers at the bytes of
    ``quantization`` ("int8" / "int4" / "w8a8", config.json's ``quantization_config``).
    ``from_pretrained`` sets it around the build; the dtype and the method are the ones it resolved,
    not read again here. The loader builds in ``dtype`` by making it torch's default dtype (on the
    meta device); a build inside the block in another default type is priced in that type
    (``weight_bytes``)."""
    token = _BUILT_IN.set((dtype, quantization))
    try:
        yield
    finally:
        _BUILT_IN.reset(token)


def weight_bytes() -> tuple[float, float, str]:
    """(bytes of a table parameter, bytes of a layer parameter, the type in words) of the model about to be built: the
    loader's ``weights_built_in`` where it set one, else torch's default dtype, the type nn.Module
    constructors make (fp32 unless the program changed it).

    A loader that asked for a dtype while the default is another type is building the whole model in
    that default, to cast it after: ``from_pretrained(dtype=...)`` builds again in fp32 when a new task
    head has no saved weights. Those weights are allocated in the default type, quantized layers
    included (they are quantized after the build), so they are priced in it."""
    import torch

    built = torch.get_default_dtype()
    dtype, quantization = _BUILT_IN.get() or (None, None)
    if dtype is not None and dtype != built:
        words = f"{_dtype_name(built)}, the type the model is built in before its cast to {_dtype_name(dtype)}"
        return built.itemsize, built.itemsize, words
    dtype = dtype or built
    words = _dtype_name(dtype) + (f" with {quantization} layers" if quantization else "")
    return dtype.itemsize, QUANTIZED_BYTES.get(quantization, dtype.itemsize), words


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


class TooLargeError(ConfigError):
    """A config (or a training job) whose size cannot fit in the memory of this machine."""


def parameter_terms(config) -> dict[str, tuple[int, str, str]]:
    """A lower bound of a config's parameter count, as terms: (count, how it is made, the field that
    makes it unusually large). Embeddings are vocabulary x width; each layer holds at least its
    query and output projections (2 D^2) and its feed-forward (2 D d_ff); a family with more (keys,
    values, gates, cross-attention) only has more."""
    d_model = getattr(config, "d_model", 0) or 0
    terms = {}
    for name in ("vocab_size", "src_vocab_size", "tgt_vocab_size", "max_position", "type_vocab_size"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            field = name if value > 10**7 else "d_model"  # an unusual vocabulary, else an unusual width
            terms[f"{name} x d_model"] = (value * d_model, f"{name}={value} x d_model={d_model}", field)
    layers = sum(getattr(config, name, 0) or 0 for name in LAYER_FIELDS) or 1
    layer_name = next((n for n in LAYER_FIELDS if (getattr(config, n, 0) or 0) > 0), "layers")
    d_ff = getattr(config, "d_ff", None) or 4 * d_model
    width = 2 * d_model * d_model
    ff = 2 * d_model * d_ff
    how = f"{layers} layers x (2 d_model^2 + 2 d_model x d_ff), d_model={d_model}, d_ff={d_ff}"
    field = "d_ff" if d_ff > 16 * d_model else layer_name if layers > 256 else "d_model"
    terms["layers"] = (layers * (width + ff), how, field)
    return terms


def available_memory() -> int | None:
    """Bytes this process could still take: MemAvailable plus SwapFree of /proc/meminfo, else the
    free physical pages (``os.sysconf``); None when neither is known."""
    import os

    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return (int(fields["MemAvailable"].split()[0]) + int(fields.get("SwapFree", "0 kB").split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gigabytes(n: float) -> str:
    return f"{n / 1e12:.3g} TB" if n >= 1e12 else f"{n / 1e9:.3g} GB"


def check_fits_memory(config, *, bytes_per_parameter: float | None = None, extra: int = 0,
                      what: str | None = None) -> None:  # fmt: skip
    """Refuse a size that cannot fit before anything is allocated (a vocab_size of 1e11 or a d_ff of 2**40
    otherwise dies inside torch's allocator, naming no field, or a model of 100,000 layers builds for
    hours): the lower bound of ``parameter_terms`` priced at ``bytes_per_parameter`` (None: the type the
    weights will be built in, ``weight_bytes``: tables at the dtype, layers at the dtype or their
    quantized bytes), plus ``extra`` bytes, against ``available_memory``. The error names the field of
    the largest term. Opt out with EINFORMER_SKIP_MEMORY_CHECK=1."""
    import os

    if os.environ.get(SKIP_MEMORY_CHECK) == "1":
        return
    terms = parameter_terms(config)
    if bytes_per_parameter is None:
        table, layer, words = weight_bytes()
        what = what or f"its weights ({words})"
    else:
        table = layer = bytes_per_parameter
    needed = sum(count * (layer if name == "layers" else table) for name, (count, _, _) in terms.items()) + extra
    free = available_memory()
    if free is None or needed <= free:
        return
    count, how, field = max(terms.values())
    what = what or "its weights"
    raise TooLargeError(
        f"{field}: {how} gives at least {count:.3g} parameters, so {what} need at least {gigabytes(needed)}, "
        f"more than the {gigabytes(free)} of memory available; lower {field} (or set {SKIP_MEMORY_CHECK}=1 "
        "to build it anyway)"
    )


def drop_out_of_vocabulary(values: dict, vocab_size: int, names: tuple[str, ...], source: str) -> dict:
    """``values`` with each special-token id of ``names`` that lies outside the vocabulary set to None,
    and one warning naming them. transformers loads such a file (GPT2Config's default bos/eos 50256 in
    a directory of a small vocabulary) and only warns; a token the model cannot emit is no token."""
    import warnings

    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        return values

    def outside(i) -> bool:
        return isinstance(i, int) and not isinstance(i, bool) and not 0 <= i < vocab_size

    kept, dropped = {}, []
    for name in names:
        value = values.get(name)
        if outside(value):
            kept[name] = None
            dropped.append(f"{name}={value}")
        elif isinstance(value, list) and any(map(outside, value)):  # eos_token_id may be a list
            kept[name] = [i for i in value if not outside(i)] or None
            dropped.append(f"{name}={[i for i in value if outside(i)]}")
    if not dropped:
        return values
    warnings.warn(
        f"{source}: {', '.join(dropped)} outside the vocabulary of {vocab_size}; einformer drops them (the model "
        "has no such token), as transformers loads the file with a warning",
        stacklevel=3,
    )
    return {**values, **kept}
