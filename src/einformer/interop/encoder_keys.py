"""The strict key map of the encoder families that share BERT's model (RoBERTa, XLM-RoBERTa,
DistilBERT, ELECTRA): one ``EncoderFormat`` per Hugging Face format says how its names differ,
and the reader and writer below do the rest, as ``interop/bert.py`` does for BERT.

Every Hugging Face key is consumed, an alias of one that is (a tensor stored twice, checked equal),
a buffer (``position_ids``), or the weights of another task's head, which a task model leaves aside
with a warning, as transformers does (fine-tuning a pre-trained checkpoint); any other key, and
every key of the encoder, must fit. Shapes are checked by the strict load. A bare model reads a task
model's checkpoint (its encoder) and a task model a bare checkpoint (its head then starts from random
values, with a warning).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from .. import notices
from ..checkpoint import CheckpointError, load_state_strict, tied_aliases
from .hf_files import MAX_SHARD_SIZE, read_hf_weights, write_hf_dir

BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


@dataclasses.dataclass(frozen=True)
class EncoderFormat:
    """How one family's Hugging Face checkpoints name einformer's parameters.

    Args:
        name: the family, for messages ("RoBERTa").
        prefix: Hugging Face's ``base_model_prefix`` ("roberta"): the encoder's keys in a task model.
        encoder: n_layers -> {einformer key of the bare encoder: Hugging Face key without prefix}.
        heads: {einformer head module (or parameter): Hugging Face's} for every task class.
        aliases: {Hugging Face key: the key it duplicates} (stored twice by some versions, equal).
        head_keys: the starts of Hugging Face's head keys (any task's), which a bare model leaves aside.
        split: Hugging Face's tensors -> the same with each fused tensor cut into the pieces the
            ``encoder`` map names (ModernBERT's Wqkv into q, k, v); None: no fused tensors.
        join: the inverse of ``split``, for writing.
    """

    name: str
    prefix: str
    encoder: Callable[[int], dict[str, str]]
    heads: dict[str, str]
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)
    head_keys: tuple[str, ...] = ()
    split: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None
    join: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None


def key_map(fmt: EncoderFormat, model) -> dict[str, str]:
    """einformer's state-dict keys of ``model`` (bare or with a head) -> Hugging Face keys."""
    encoder = fmt.encoder(model.config.n_layers)
    present = model.state_dict().keys()
    if not hasattr(model, "bert"):
        return {k: v for k, v in encoder.items() if k in present}
    mapping = {f"bert.{k}": f"{fmt.prefix}.{v}" for k, v in encoder.items() if f"bert.{k}" in present}
    for key in present:
        if key.startswith("bert."):
            continue
        module, _, param = key.rpartition(".")
        if key in fmt.heads:
            mapping[key] = fmt.heads[key]
        elif module in fmt.heads:
            mapping[key] = f"{fmt.heads[module]}.{param}"
        else:
            raise KeyError(f"no {fmt.name} name for {key}")
    return mapping


def state_from_hf(fmt: EncoderFormat, model, hf_state: dict[str, Tensor], source: str) -> dict[str, Tensor]:
    """Hugging Face tensors renamed to einformer's; a key neither used nor set aside is an error."""
    bare = not hasattr(model, "bert")
    prefix = f"{fmt.prefix}."
    keys = dict(hf_state)
    if bare:  # the encoder of a task model's checkpoint: drop the prefix (its heads are set aside below)
        keys = {k.removeprefix(prefix): v for k, v in keys.items()}
    elif not any(k.startswith(prefix) for k in keys):  # a bare checkpoint into a task model
        keys = {(k if k.endswith(BUFFERS) else prefix + k): v for k, v in keys.items()}
    set_aside = {k for k in keys if k.endswith(BUFFERS) or bare and k.startswith(fmt.head_keys)}
    if getattr(model, "bert", model).pooler is None:  # heads without a pooler do not use a saved one
        set_aside |= {k for k in keys if ".pooler." in f".{k}"}
    reverse = {theirs: ours for ours, theirs in key_map(fmt, model).items()}
    aliases = tied_aliases(model)
    ours, used = {}, set()
    for key, tensor in keys.items():
        if key in reverse and reverse[key] not in aliases:
            ours[reverse[key]] = tensor.clone()
            used.add(key)
        elif key in reverse:  # a tied weight (the decoder's, the word embeddings'): its target holds it
            used.add(key)
    for alias, target in fmt.aliases.items():
        if alias in keys and alias not in used:
            if target in keys and not keys[alias].equal(keys[target]):
                raise CheckpointError(f"{source}: {alias} differs from {target}; the checkpoint is inconsistent")
            if target not in keys and target in reverse:  # only the alias stored: it is the value
                ours[reverse[target]] = keys[alias].clone()
            used.add(alias)
    unused = sorted(set(keys) - used - set_aside)
    encoder_unused = [k for k in unused if bare or k.startswith(prefix)]
    if encoder_unused:
        raise CheckpointError(
            f"{fmt.name} checkpoint {source} has keys einformer does not use ({len(encoder_unused)}): "
            + ", ".join(encoder_unused[:20])
        )
    if unused:  # another task's head (e.g. ELECTRA's discriminator head when fine-tuning)
        warnings.warn(
            f"{type(model).__name__}: {source} holds weights of another head, not used: {', '.join(unused[:10])}",
            stacklevel=4,
        )
    return ours


def load_hf_encoder(fmt: EncoderFormat, cls, directory: str | Path, config):
    """A ``cls`` built from ``config`` with the weights of the Hugging Face ``directory``, loaded strictly;
    a head or pooler the checkpoint lacks starts from random values, with a warning."""
    model = cls(config)
    source = f"{directory}"
    hf_state = read_hf_weights(directory)
    state = state_from_hf(fmt, model, fmt.split(hf_state) if fmt.split else hf_state, source)
    expected = model.state_dict()
    aliases = tied_aliases(model)

    def is_head(key: str) -> bool:
        return hasattr(model, "bert") and not key.startswith("bert.") or ".pooler." in f".{key}"

    fresh = [k for k in expected if k not in state and k not in aliases and is_head(k)]
    if fresh:
        notices.warn(
            f"{cls.__name__}: the checkpoint has no weights for {', '.join(fresh)}; they start from random "
            "values (expected when fine-tuning a pre-trained encoder)",
            notices.NewWeightsWarning,
        )
        state.update({k: expected[k] for k in fresh})
    load_state_strict(model, state, source=f"{fmt.name} checkpoint {directory}")
    return model


def save_hf_encoder(
    fmt: EncoderFormat, model, directory: str | Path, config: dict, *, max_shard_size: int | str = MAX_SHARD_SIZE
) -> Path:
    """config.json + model.safetensors (or shards past ``max_shard_size``, with their index) in the
    family's Hugging Face layout; a tied weight is written under each of its names, as older
    transformers versions wrote it."""
    mapping = key_map(fmt, model)
    tensors = {mapping[k]: v for k, v in model.state_dict().items()}
    for alias, target in fmt.aliases.items():
        if target in tensors:
            tensors[alias] = tensors[target]
    tensors = fmt.join(tensors) if fmt.join else tensors
    return write_hf_dir(
        directory, config, tensors, max_shard_size=max_shard_size, total_parameters=model.num_parameters()
    )


def labels_config(config) -> dict:
    """The label fields of a Hugging Face config.json."""
    return {
        "num_labels": config.num_labels,
        "id2label": {str(i): name for i, name in config.id2label.items()},
        "label2id": config.label2id,
        "problem_type": config.problem_type,
    }
