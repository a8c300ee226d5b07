"""What every einformer model shares: a config, and a directory format for weights.

A saved model is a directory holding ``config.json`` (the config's fields plus ``model_type``
and ``einformer_version``) and ``model.safetensors``. Both are written atomically; loading checks
the model type, rebuilds the model from the config, and loads the weights strictly. A model also
reads and writes its family's Hugging Face format, through the registry (``einformer/registry.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, TypeVar

import torch
from torch import nn

from .. import registry
from ..checkpoint import CheckpointError, load_state_strict, load_weights, read_json, save_weights, write_json
from ..config import BaseConfig
from ..generation.config import CONFIG_NAME as GENERATION_CONFIG
from ..generation.config import GenerationConfig
from ..generation.kinds import KINDS
from ..version import __version__

M = TypeVar("M", bound="PreTrainedModel")

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class PreTrainedModel(nn.Module):
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

    def save_pretrained(self, directory: str | Path, *, format: str = "einformer") -> Path:
        """Write config.json and model.safetensors into ``directory`` (created if needed).

        ``format="hf"`` writes the Hugging Face layout of the model's family instead (the registry's
        ``save_hf``), with the model's generation_config.json unless the format's writer wrote its own.
        """
        if format not in ("einformer", "hf"):
            raise ValueError(f"format must be 'einformer' or 'hf', got {format!r}")
        directory = Path(directory)
        if format == "hf":
            family = registry.of(self)
            if family.save_hf is None:
                raise ValueError(f"{type(self).__name__} has no Hugging Face format; use format='einformer'")
            family.save_hf(self, directory)
            if not (directory / GENERATION_CONFIG).is_file():
                save_generation_config(self, directory)
            return directory
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory / WEIGHTS_NAME, metadata={"model_type": self.config.model_type})
        write_json(directory / CONFIG_NAME, {**self.config.to_dict(), "einformer_version": __version__})
        save_generation_config(self, directory)
        return directory

    @classmethod
    def from_pretrained(
        cls: type[M], directory: str | Path, *, map_location: str | torch.device = "cpu", **config_changes
    ) -> M:
        """Rebuild the model saved in ``directory`` and load its weights strictly.

        ``directory`` is einformer's format or the Hugging Face format of the model's family (the
        registry's ``load_hf``: a strict key map). ``config_changes`` (e.g. ``num_labels=3``) apply to
        the config before the weights load.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory} is not a directory; pass the folder written by save_pretrained")
        family = _hf_family(cls, directory)
        if family is not None:
            model = family.load_hf(cls, directory, **config_changes)
            load_generation_config(model, directory)
        else:
            model = cls.from_einformer_dir(directory, **config_changes)
        return model.to(map_location).eval()

    @classmethod
    def from_einformer_dir(cls: type[M], directory: Path, **config_changes) -> M:
        """``directory`` in einformer's format (config.json, model.safetensors, generation_config.json)."""
        config = cls.config_class.from_json_file(directory / CONFIG_NAME)
        model = cls(config.replace(**config_changes) if config_changes else config)
        load_state_strict(model, load_weights(directory / WEIGHTS_NAME, "cpu"), source=str(directory / WEIGHTS_NAME))
        load_generation_config(model, directory)
        return model


def _hf_family(cls, directory: Path):
    """The model's family when ``directory`` holds that family's Hugging Face format, else None."""
    if not (directory / CONFIG_NAME).is_file():
        return None
    found = registry.for_config(read_json(directory / CONFIG_NAME, "model config"))
    if found is None or not found[1] or found[0].config_class is not cls.config_class:
        return None
    return found[0]


def save_generation_config(model, directory: Path) -> None:
    """A generating model's directory carries its generation_config.json."""
    if isinstance(model, KINDS):
        model.generation_config.save_pretrained(directory)


def load_generation_config(model, directory: Path) -> None:
    """generation_config.json, when the directory has one, becomes ``model.generation_config``."""
    if isinstance(model, KINDS) and (Path(directory) / GENERATION_CONFIG).is_file():
        model.generation_config = GenerationConfig.from_pretrained(directory)
