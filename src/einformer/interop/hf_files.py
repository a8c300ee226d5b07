"""Reading and writing Hugging Face model directories: config.json and weights, without pickle risk."""

from __future__ import annotations

import json
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


def write_hf_dir(directory: str | Path, config: dict, tensors: dict[str, Tensor]) -> Path:
    """Write model.safetensors and config.json atomically."""
    directory = Path(directory)
    save_tensors({k: v.clone() for k, v in tensors.items()}, directory / "model.safetensors")
    write_json(directory / "config.json", config)
    return directory


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
