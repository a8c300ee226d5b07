"""What every model configuration shares: ``BaseConfig``.

A config holds every number that decides a model's shape and computation, validates them in
``__post_init__`` (a ``ValueError`` names the field and why), and round-trips through
config.json. Models read configs; the blocks in ``einformer.nn`` never do.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError
from ..validation import (  # noqa: F401  (check and ACTIVATION_NAMES are part of config's interface)
    ACTIVATION_NAMES,
    check,
    check_activation,
    check_finite_floats,
    check_fits_memory,
    check_heads,
    check_layout,
    check_positive,
    check_probabilities,
    check_token_ids,
    field_types,
    type_name,
    type_ok,
)

C = TypeVar("C", bound="BaseConfig")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Shared behaviour: field types checked, dict/JSON round trip with unknown-field errors, presets.

    Subclasses validate their values in ``validate`` (run after the type check). ``renamed`` maps
    field names of older config.json files to today's, so an old directory still loads.
    """

    model_type: ClassVar[str] = "base"
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    renamed: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for name, hint in field_types(type(self)).items():
            value = getattr(self, name)
            if not type_ok(value, hint):
                raise ConfigError(
                    f"{name}: expected {type_name(hint)}, got {value!r} ({type(value).__name__}); fix the value"
                )
            if isinstance(value, list):  # JSON has no tuples
                object.__setattr__(self, name, tuple(value))
        check_finite_floats(self)  # NaN and inf pass every range check the wrong way; eps > 0
        self.validate()
        check_fits_memory(self)  # before a model of this size is allocated (the field named)

    def validate(self) -> None:
        """Range checks of the subclass; raise ValueError('field: why')."""

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": self.model_type, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a dict; ``model_type`` must match and unknown fields are an error."""
        data = dict(data)
        data.pop("einformer_version", None)
        data.pop("architectures", None)  # the head a directory holds (``_model_class`` reads it), not a field
        kind = data.pop("model_type", cls.model_type)
        if kind != cls.model_type:
            raise ValueError(f"config is for model_type {kind!r}, but {cls.__name__} reads {cls.model_type!r}")
        for old, new in cls.renamed.items():
            if old in data:
                if new in data:
                    raise ValueError(f"{cls.__name__}: give {new!r} or its old name {old!r}, not both")
                data[new] = data.pop(old)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}; known fields: {sorted(names)}")
        return cls(**data)

    @classmethod
    def from_preset(cls: type[C], name: str, **overrides: Any) -> C:
        """A named preset (e.g. "tiny"), with any field overridden by keyword."""
        if name not in cls.presets:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; choose one of {sorted(cls.presets)}")
        return cls(**{**cls.presets[name], **overrides})

    @classmethod
    def from_json_file(cls: type[C], path: str | Path) -> C:
        from ..checkpoint import read_json

        path = Path(path)
        if not path.is_file():
            inner = sorted(path.parent.glob("*/config.json")) if path.parent.is_dir() else []  # a package's model/
            hint = f"; {inner[0].parent} has one: pass that" if inner else "; is this a saved einformer model dir?"
            raise FileNotFoundError(f"no config.json at {path}{hint}")
        data = read_json(path, "model config")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as e:  # einformer's own kind kept (ConfigError, TooLargeError)
            raise (type(e) if isinstance(e, ConfigError) else ValueError)(f"{path}: {e}") from None

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
