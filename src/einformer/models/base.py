"""What every einformer model shares: a config, and a directory format for weights.

A saved model is a directory holding ``config.json`` (the config's fields plus ``model_type``
and ``einformer_version``) and ``model.safetensors``. Both are written atomically; loading checks
the model type, rebuilds the model from the config, and loads the weights strictly. A model also
reads and writes its family's Hugging Face format, through the registry (``einformer/registry.py``).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import ClassVar, TypeVar

import torch
from torch import nn

from .. import dtypes, hub, registry
from ..checkpoint import CheckpointError, load_state_strict, load_weights, read_json, save_weights, write_json
from ..config import BaseConfig
from ..generation.config import CONFIG_NAME as GENERATION_CONFIG
from ..generation.config import GenerationConfig
from ..generation.kinds import KINDS
from ..nn.fast_call import FastCall
from ..nn.rotary import RotaryEmbedding, inverse_frequencies
from ..validation import TooLargeError, weights_built_in
from ..version import __version__

M = TypeVar("M", bound="PreTrainedModel")

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
QUANTIZATION_CONFIG = "quantization_config"  # config.json's field for a quantized model (einformer.quantize)


class PreTrainedModel(FastCall, nn.Module):
    """Base class: subclasses set ``config_class`` and build themselves from ``config`` alone."""

    config_class: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: BaseConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameter count, tied tensors counted once."""
        seen = {p.data_ptr(): p for p in self.parameters() if p.requires_grad or not trainable_only}
        return sum(p.numel() for p in seen.values())

    def save_pretrained(
        self, directory: str | Path, *, format: str = "einformer", max_shard_size: int | str | None = None
    ) -> Path:
        """Write config.json and model.safetensors into ``directory`` (created if needed), in the
        weights' own dtype (a bf16 model writes bf16; a quantized one its integers and scales, with its
        ``quantization_config`` in config.json).

        ``format="hf"`` writes the Hugging Face layout of the model's family instead (the registry's
        ``save_hf``), with the model's generation_config.json unless the format's writer wrote its own,
        and config.json's ``dtype`` / ``torch_dtype``. ``max_shard_size`` (bytes, or "5GB"-style, as in
        transformers; default its "50GB"): past it the Hugging Face weights are written as shards
        model-00001-of-0000N.safetensors with model.safetensors.index.json, as transformers writes them
        (``interop/hf_files.write_hf_dir``; every family's writer takes it). einformer's own format stays
        one model.safetensors, which its other readers (training's resume, the hub) expect.
        """
        if format not in ("einformer", "hf"):
            raise ValueError(f"format must be 'einformer' or 'hf', got {format!r}")
        directory = Path(directory)
        quantized = getattr(self, "quantization_config", None)
        if format == "hf":
            family = registry.of(self)
            if family.save_hf is None:
                raise ValueError(f"{type(self).__name__} has no Hugging Face format; use format='einformer'")
            if quantized is not None:
                raise ValueError("a quantized model has no Hugging Face format here; save it with format='einformer'")
            options = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
            if options and "max_shard_size" not in inspect.signature(family.save_hf).parameters:
                raise ValueError(f"the {family.name} family's Hugging Face writer does not shard: drop max_shard_size")
            family.save_hf(self, directory, **options)
            hf_config = read_json(directory / CONFIG_NAME, "model config")
            kind = dtypes.name(dtypes.of(self))  # as transformers writes it: dtype, and its older name
            write_json(directory / CONFIG_NAME, {**hf_config, "dtype": kind, "torch_dtype": kind})
            if not (directory / GENERATION_CONFIG).is_file():
                save_generation_config(self, directory)
            return directory
        if max_shard_size is not None:
            raise ValueError("max_shard_size shards the Hugging Face format only: pass format='hf'")
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory / WEIGHTS_NAME, metadata={"model_type": self.config.model_type})
        extra = {} if quantized is None else {QUANTIZATION_CONFIG: quantized.to_dict()}
        extra |= head_architecture(self)
        write_json(directory / CONFIG_NAME, {**self.config.to_dict(), "einformer_version": __version__, **extra})
        save_generation_config(self, directory)
        return directory

    @classmethod
    def from_pretrained(
        cls: type[M],
        directory: str | Path,
        *,
        map_location: str | torch.device = "cpu",
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **config_changes,
    ) -> M:
        """Rebuild the model saved in ``directory`` and load its weights strictly.

        ``directory`` is einformer's format or the Hugging Face format of the model's family (the
        registry's ``load_hf``: a strict key map), or a Hugging Face model name (``ORG/NAME``) resolved
        through the cache with ``revision``, ``cache_dir``, ``local_files_only`` and ``token``
        (``einformer.hub``). ``config_changes`` (e.g. ``num_labels=3``) apply to the config before the
        weights load.

        ``dtype`` (``torch_dtype``: transformers' older name): the floating type of the weights,
        torch.float32 / bfloat16 / float16 or "auto" (config.json's ``dtype`` / ``torch_dtype``, else
        the type the file stores; ``einformer.dtypes``); None: fp32. With a dtype the model is built
        on the meta device and takes the file's tensors, each cast on its own, so a bf16 file loads
        as bf16 without an fp32 copy on the way. A directory saved after ``einformer.quantize`` loads
        quantized (its config.json's ``quantization_config``), without quantizing again.
        """
        directory = hub.resolve(
            directory, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        if not directory.is_dir():
            raise CheckpointError(f"{directory} is not a directory; pass the folder written by save_pretrained")
        family = _hf_family(cls, directory)
        raw = read_json(directory / CONFIG_NAME, "model config") if (directory / CONFIG_NAME).is_file() else None
        files = sorted(directory.glob("*.safetensors"))
        dtype = dtypes.parse(dtype, torch_dtype)
        if dtype is None and QUANTIZATION_CONFIG in (raw or {}):
            dtype = "auto"  # a quantized model runs in the type it was saved in (bf16: the kernels' type)
        dtype = dtypes.resolve(dtype, directory, raw, files)
        dtypes.warn_if_slow(dtype, map_location)

        def build():
            if family is not None:
                try:
                    model = family.load_hf(cls, directory, **config_changes)
                except TooLargeError as e:  # a size past the memory there is: name the file too
                    raise TooLargeError(f"{directory / CONFIG_NAME}: {e}") from None
                load_generation_config(model, directory)
                return model
            return cls.from_einformer_dir(directory, **config_changes)

        quantized = (raw or {}).get(QUANTIZATION_CONFIG)
        method = quantized.get("method") if isinstance(quantized, dict) else None
        with weights_built_in(dtype, method):  # the memory check prices the weights in the type they load in
            model = build() if dtype is None else _build_in(dtype, build)
        return model.to(map_location).eval()

    @classmethod
    def from_einformer_dir(cls: type[M], directory: Path, **config_changes) -> M:
        """``directory`` in einformer's format (config.json, model.safetensors, generation_config.json);
        a quantized model's config.json also holds its ``quantization_config``."""
        config, quantized = read_own_config(cls, directory)
        model = cls(config.replace(**config_changes) if config_changes else config)
        if quantized is not None:
            quantize_like_saved(model, quantized, directory)
        load_state_strict(model, load_weights(directory / WEIGHTS_NAME, "cpu"), source=str(directory / WEIGHTS_NAME))
        load_generation_config(model, directory)
        return model


def read_own_config(cls, directory: Path):
    """(the config, the ``quantization_config`` dict or None) of einformer's config.json in ``directory``:
    a quantized model's record of how it was quantized is not a config field."""
    path = directory / CONFIG_NAME
    data = read_json(path, "model config") if path.is_file() else {}
    quantized = data.pop(QUANTIZATION_CONFIG, None)
    if quantized is None:
        return cls.config_class.from_json_file(path), None
    try:
        return cls.config_class.from_dict(data), quantized
    except TooLargeError as e:  # keeps its type, as from_json_file does
        raise TooLargeError(f"{path}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None


def quantize_like_saved(model, quantized: dict, directory: Path, prefix: tuple[str, str] = ("", "")) -> None:
    """Give ``model`` the quantized layers its saved ``quantization_config`` names (empty, to load into);
    ``prefix`` (saved, here) renames them where the model nests the saved one (a head around an encoder)."""
    from ..quantization import QuantizationConfig, quantize_structure

    config = QuantizationConfig.from_dict(quantized, str(directory / CONFIG_NAME))
    saved, here = prefix
    names = tuple(here + n.removeprefix(saved) for n in config.modules if n.startswith(saved))
    quantize_structure(model, dataclasses.replace(config, modules=names))


def _build_in(dtype: torch.dtype, build):
    """``build()`` on the meta device in ``dtype`` (the checkpoint's tensors become the parameters,
    ``load_state_strict``), then the buffers it computes rather than loads; when something is left
    without storage (a new task head that starts from random weights), it builds again in fp32 and
    casts."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = build()
    finally:
        torch.set_default_dtype(default)
    if _materialize_buffers(model):
        return model
    return dtypes.cast(build(), dtype)


def _materialize_buffers(model: nn.Module) -> bool:
    """Compute again the buffers a meta-built model could not load (rotary frequencies: fp32, as
    transformers keeps them); False when any parameter, buffer or tensor attribute still lacks storage."""
    for module in model.modules():
        if isinstance(module, RotaryEmbedding) and module.inv_freq.is_meta:
            inv_freq, _ = inverse_frequencies(module.dim, module.theta, module.rope_type, **module.scaling)
            module.register_buffer("inv_freq", inv_freq, persistent=False)
    left = [t for t in (*model.parameters(), *model.buffers()) if t.is_meta]
    left += [v for m in model.modules() for v in vars(m).values() if isinstance(v, torch.Tensor) and v.is_meta]
    return not left


def _hf_family(cls, directory: Path):
    """The model's family when ``directory`` holds that family's Hugging Face format, else None."""
    if not (directory / CONFIG_NAME).is_file():
        return None
    found = registry.for_config(read_json(directory / CONFIG_NAME, "model config"))
    if found is None or not found[1] or found[0].config_class is not cls.config_class:
        return None
    return found[0]


def head_architecture(model) -> dict:
    """config.json's ``architectures`` (transformers' key) for a task head of a family, so that a
    BertForPreTraining saved in einformer's format reloads as one, not as its family's first class."""
    try:
        default = registry.of(model).default_model
    except ValueError:  # a model no family knows
        return {}
    return {} if type(model) is default else {"architectures": [type(model).__name__]}


def save_generation_config(model, directory: Path) -> None:
    """A generating model's directory carries its generation_config.json."""
    if isinstance(model, KINDS):
        model.generation_config.save_pretrained(directory)


def load_generation_config(model, directory: Path) -> None:
    """generation_config.json, when the directory has one, becomes ``model.generation_config``."""
    if isinstance(model, KINDS) and (Path(directory) / GENERATION_CONFIG).is_file():
        model.generation_config = GenerationConfig.from_pretrained(directory, getattr(model.config, "vocab_size", None))
