"""What every einformer model shares: a config, and a directory format for weights.

A saved model is a directory holding ``config.json`` (the config's fields plus ``model_type``
and ``einformer_version``) and ``model.safetensors``. Both are written atomically; loading checks
the model type, rebuilds the model from the config, and loads the weights strictly.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, TypeVar

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_state_strict, load_weights, save_weights, write_json
from ..config import BaseConfig
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

        ``format="hf"`` writes Hugging Face's layout instead, for models that define ``save_hf``.
        """
        if format == "hf":
            if not hasattr(self, "save_hf"):
                raise ValueError(f"{type(self).__name__} has no Hugging Face format; use format='einformer'")
            return self.save_hf(directory)
        if format != "einformer":
            raise ValueError(f"format must be 'einformer' or 'hf', got {format!r}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory / WEIGHTS_NAME, metadata={"model_type": self.config.model_type})
        write_json(directory / CONFIG_NAME, {**self.config.to_dict(), "einformer_version": __version__})
        save_generation_config(self, directory)
        return directory

    @classmethod
    def from_pretrained(cls: type[M], directory: str | Path, *, map_location: str | torch.device = "cpu") -> M:
        """Rebuild the model saved in ``directory`` and load its weights strictly."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory} is not a directory; pass the folder written by save_pretrained")
        config = cls.config_class.from_json_file(directory / CONFIG_NAME)
        model = cls(config)
        load_state_strict(
            model, load_weights(directory / WEIGHTS_NAME, map_location), source=str(directory / WEIGHTS_NAME)
        )
        load_generation_config(model, directory)
        return model.to(map_location).eval()


def save_generation_config(model, directory: Path) -> None:
    """A generating model's directory carries its generation_config.json."""
    if hasattr(model, "generation_config"):
        model.generation_config.save_pretrained(directory)


def load_generation_config(model, directory: Path) -> None:
    """generation_config.json, when the directory has one, becomes ``model.generation_config``."""
    from ..generation.config import CONFIG_NAME as GENERATION_CONFIG
    from ..generation.config import GenerationConfig

    if hasattr(model, "generation_config") and (Path(directory) / GENERATION_CONFIG).is_file():
        model.generation_config = GenerationConfig.from_pretrained(directory)
