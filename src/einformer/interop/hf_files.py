"""Reading and writing Hugging Face model directories: config.json and weights, without pickle risk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointError, load_weights, save_tensors, write_json


def read_hf_config(directory: str | Path) -> dict | None:
    """The directory's config.json as a dict, or None when there is none."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None


SHARD_INDEX = "model.safetensors.index.json"
SHARD_NAME = "model-{:05d}-of-{:05d}.safetensors"
MAX_SHARD_SIZE = "50GB"  # transformers 5's default (4's was "5GB")
SIZE_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def read_hf_weights(directory: str | Path) -> dict[str, Tensor]:
    """model.safetensors, the shards that model.safetensors.index.json names, else pytorch_model.bin
    read with ``weights_only=True`` (no code runs)."""
    directory = Path(directory)
    if (directory / "model.safetensors").is_file():
        return load_weights(directory / "model.safetensors")
    if (directory / SHARD_INDEX).is_file():
        return read_sharded(directory)
    if (directory / "pytorch_model.bin").is_file():
        try:
            return torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refuses anything but tensors and plain containers
            raise CheckpointError(
                f"cannot read {directory / 'pytorch_model.bin'} safely: it holds more than tensors and plain "
                f"containers ({type(e).__name__}), so it was not loaded and nothing in it ran. Convert it to "
                "model.safetensors with a tool you trust"
            ) from None
    raise CheckpointError(f"no weight file in {directory}: expected model.safetensors or pytorch_model.bin")


def write_hf_dir(
    directory: str | Path,
    config: dict,
    tensors: dict[str, Tensor],
    *,
    max_shard_size: int | str = MAX_SHARD_SIZE,
    total_parameters: int | None = None,
) -> Path:
    """Write the weights and config.json, each file atomically: model.safetensors, or past
    ``max_shard_size`` (bytes, or transformers' strings: "5GB", "500MB", "2GiB") shards
    model-00001-of-0000N.safetensors ... and model.safetensors.index.json naming each tensor's shard,
    as transformers' ``save_pretrained`` writes them (its metadata: ``total_size`` in bytes and, when
    given, the model's ``total_parameters``). Weight files of an earlier save that the new layout does
    not use are removed, so a reader never takes a stale one."""
    directory = Path(directory)
    shards = plan_shards(tensors, parse_size(max_shard_size))
    n = len(shards)
    names = ["model.safetensors"] if n == 1 else [SHARD_NAME.format(i + 1, n) for i in range(n)]
    for name, keys in zip(names, shards, strict=True):  # clone: tied tensors are written as their own copies
        save_tensors({k: tensors[k].clone() for k in keys}, directory / name)
    if n > 1:
        weight_map = {k: name for name, keys in zip(names, shards, strict=True) for k in keys}
        metadata = {"total_size": sum(_nbytes(t) for t in tensors.values())}
        if total_parameters is not None:
            metadata["total_parameters"] = total_parameters
        write_json(directory / SHARD_INDEX, {"metadata": metadata, "weight_map": weight_map})
    stale = {directory / "model.safetensors", directory / SHARD_INDEX, *directory.glob("model-*-of-*.safetensors")}
    for path in stale - {directory / name for name in names} - ({directory / SHARD_INDEX} if n > 1 else set()):
        path.unlink(missing_ok=True)
    write_json(directory / "config.json", config)
    return directory


def parse_size(size: int | str) -> int:
    """Bytes from an int or a string such as "5GB" (10^9) or "5GiB" (2^30), as transformers reads them."""
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]B|[KMG]iB)\s*", str(size), flags=re.IGNORECASE)
        if match is None:
            raise ValueError(f"max_shard_size={size!r}: give bytes as an int or a size such as '5GB', '500MB', '2GiB'")
        unit = match.group(2).upper().replace("IB", "iB")
        value = int(float(match.group(1)) * SIZE_UNITS[unit])
    if value <= 0:
        raise ValueError(f"max_shard_size={size!r} must be positive")
    return value


def plan_shards(tensors: dict[str, Tensor], limit: int) -> list[list[str]]:
    """Tensor names per shard, as huggingface_hub's ``split_torch_state_dict_into_shards`` (which
    transformers' ``save_pretrained`` calls) groups them: tensors in order fill the open shard until
    the next would pass ``limit`` bytes, which closes it; a tensor larger than ``limit`` gets a shard
    of its own at once, while the open shard stays open (a tensor is never split)."""
    shards: list[list[str]] = []
    current: list[str] = []
    size = 0
    for key, tensor in tensors.items():
        n = _nbytes(tensor)
        if n > limit:
            shards.append([key])
            continue
        if size + n > limit:
            shards.append(current)
            current, size = [], 0
        current.append(key)
        size += n
    return shards + [current] if current or not shards else shards


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


def check_fit(kind: str, source: str, hf_keys, used: set[str], problems: list[str]) -> None:
    """Refuse a checkpoint with keys the key map did not consume or with ``problems``, listing them."""
    unexpected = sorted(set(hf_keys) - used)
    if unexpected or problems:
        raise CheckpointError(
            f"{kind} checkpoint {source} does not fit:\n"
            + (f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}\n" if unexpected else "")
            + "".join(f"  {p}\n" for p in problems)
        )


def first_id(value):
    """A token id that a Hugging Face config may give as a list of ids (eos_token_id): the first."""
    return value[0] if isinstance(value, list) else value


def read_sharded(directory: Path) -> dict[str, Tensor]:
    """Every shard the index's ``weight_map`` names, each read once; a missing shard, or a shard that
    lacks a tensor the index puts in it, is an error naming both."""
    index_path = directory / SHARD_INDEX
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index_path} is not a safetensors index with a weight_map ({e})") from None
    state: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        path = directory / shard
        if not path.is_file():
            names = sorted(k for k, v in weight_map.items() if v == shard)
            raise CheckpointError(
                f"{index_path} names the shard {shard}, which is not in {directory} (it holds "
                f"{len(names)} tensors, e.g. {names[0]}); download the missing file again"
            )
        state.update(load_weights(path))
    missing = sorted(k for k in weight_map if k not in state)
    if missing:
        raise CheckpointError(f"{index_path} lists tensors no shard holds: {', '.join(missing[:10])}")
    return state
