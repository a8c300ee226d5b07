"""Writing files safely and loading weights strictly.

* ``atomic_write``: write to a temporary file in the same folder, fsync, then rename over the
  target, so a crash never leaves a half-written checkpoint where a good one was.
* ``save_weights`` / ``load_weights``: safetensors files (no pickle). Tensors that share storage
  (tied embeddings) are stored once.
* ``load_state_strict``: every checkpoint key consumed, every model key filled, every shape equal;
  otherwise a ``CheckpointError`` listing the missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .errors import EinformerError
from .validation import SKIP_WEIGHT_CHECK, weight_problems


class CheckpointError(EinformerError, ValueError):
    """A checkpoint that does not fit the model, or cannot be read."""


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator:
    """Open a temporary file next to ``path``; on success fsync and rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _umask_mode(tmp)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: str | Path, what: str = "file") -> dict:
    """A JSON object from ``path``; invalid JSON or another type is a ValueError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); the {what} is damaged: re-save it or fix the file") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _umask_mode(path: str) -> None:
    """Give a temporary file the mode a plain ``open`` would (0666 less the umask), not mkstemp's 0600,
    so other users can read a run as they read any file the user writes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_json(path: str | Path, data: dict) -> None:
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def tied_aliases(module: nn.Module) -> dict[str, str]:
    """Map each state-dict key that shares storage with an earlier key to that earlier key."""
    first: dict[tuple, str] = {}
    aliases = {}
    for name, tensor in module.state_dict(keep_vars=True).items():
        # a model built on the meta device has no storage yet: there, ties are the same Parameter object
        where = id(tensor) if tensor.is_meta else tensor.data_ptr()
        ident = (where, tensor.dtype, tuple(tensor.shape), tensor.device)
        if tensor.numel() and ident in first:
            aliases[name] = first[ident]
        else:
            first.setdefault(ident, name)
    return aliases


def save_weights(module: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Save ``module``'s state dict to a safetensors file atomically, tied tensors once."""
    aliases = tied_aliases(module)
    save_tensors({k: v for k, v in module.state_dict().items() if k not in aliases}, path, metadata)


def save_tensors(tensors: dict[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write named tensors to a safetensors file: temporary name, fsync, rename."""
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt", **(metadata or {})})
        _umask_mode(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Read a safetensors file, turning a missing or damaged file into a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weight file at {path}; expected a model.safetensors written by save_pretrained")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"cannot read {path}: {e}. The file is truncated or not safetensors; re-save it"
        ) from None


# Names einformer's layers used before their residual connections were written out in the layer
# (einformer 0.1's ``Residual`` sub-modules): a checkpoint saved then still loads.
LEGACY_KEYS = (
    (".attn_block.norm.", ".attn_norm."),
    (".ffn_block.norm.", ".ffn_norm."),
    (".self_block.norm.", ".self_attn_norm."),
    (".cross_block.norm.", ".cross_attn_norm."),
)


def renamed_legacy_keys(state: dict[str, Tensor], expected) -> dict[str, Tensor]:
    """``state`` with each old key that the model does not have renamed to its current name."""
    out = {}
    for key, tensor in state.items():
        if key not in expected:
            dotted = "." + key
            for old, new in LEGACY_KEYS:
                dotted = dotted.replace(old, new)
            key = dotted[1:] if dotted[1:] in expected else key
        out[key] = tensor
    return out


def load_state_strict(module: nn.Module, state: dict[str, Tensor], *, source: str = "checkpoint") -> None:
    """Load ``state`` into ``module`` only if keys and shapes match exactly (tied aliases implied).

    A module built on the meta device (``PreTrainedModel.from_pretrained(dtype=...)``) takes the
    checkpoint's tensors themselves, each cast to the dtype the module was built in (no second copy
    of the weights), and its tied parameters stay one Parameter.
    """
    aliases = tied_aliases(module)
    expected = module.state_dict(keep_vars=True)
    state = renamed_legacy_keys(state, expected)
    for alias, target in aliases.items():
        if alias not in state and target in state:
            state[alias] = state[target]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k}: {source} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if missing or unexpected or misshaped:
        parts = [f"{source} does not fit {type(module).__name__}:"]
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("mis-shaped keys", misshaped)):
            if keys:
                parts.append(f"  {label} ({len(keys)}): " + ", ".join(keys[:20]) + (" ..." if len(keys) > 20 else ""))
        parts.append("  Was it saved from a model with the same config?")
        raise CheckpointError("\n".join(parts))
    problems = weight_problems(expected, state)
    if problems:
        raise CheckpointError(
            f"{source}: {'; '.join(problems)}; the file is damaged or was saved from a diverged run. Use another "
            f"checkpoint (or set {SKIP_WEIGHT_CHECK}=1 to load it anyway)"
        )
    if not any(t.is_meta for t in expected.values()):
        module.load_state_dict(state, strict=True)
        return
    for key, tensor in state.items():  # one tensor at a time: the wide copy is freed as the narrow one is made
        if tensor.is_floating_point() and expected[key].is_floating_point():
            state[key] = tensor.to(expected[key].dtype)
    module.load_state_dict(state, strict=True, assign=True)
    for alias, target in aliases.items():  # assign made two Parameters of one tensor: one again
        if isinstance(expected[alias], nn.Parameter):
            owner, _, leaf = alias.rpartition(".")
            setattr(module.get_submodule(owner), leaf, module.get_parameter(target))
