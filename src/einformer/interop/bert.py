"""Hugging Face BERT <-> einformer BERT, through a strict key map.

Every source key is consumed or explicitly ignored (only the ``position_ids`` buffer is); shapes are
checked by the strict load; every config field that changes the computation is honoured or refused
by name (a decoder or cross-attention BERT, relative position embeddings, an unknown activation).
Checkpoints of a bare ``BertModel`` have no ``bert.`` prefix; those of the task models do.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .. import notices
from ..checkpoint import CheckpointError, load_state_strict
from ..config import BertConfig
from .hf_files import MAX_SHARD_SIZE, read_hf_config, read_hf_weights, write_hf_dir

ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
IGNORED = ("embeddings.position_ids",)
REFUSED = {"is_decoder": False, "add_cross_attention": False, "position_embedding_type": "absolute"}
# our head module -> Hugging Face's, per task class
HEADS = {
    "mlm.transform": "cls.predictions.transform.dense",
    "mlm.norm": "cls.predictions.transform.LayerNorm",
    "nsp": "cls.seq_relationship",
    "classifier": "classifier",
    "qa_outputs": "qa_outputs",
}
ARCHITECTURES = {
    "BertModel": "BertModel",
    "BertForMaskedLM": "BertForMaskedLM",
    "BertForPreTraining": "BertForPreTraining",
    "BertForSequenceClassification": "BertForSequenceClassification",
    "BertForTokenClassification": "BertForTokenClassification",
    "BertForQuestionAnswering": "BertForQuestionAnswering",
    "BertForMultipleChoice": "BertForMultipleChoice",
}


def config_from_hf(hf: dict, **changes) -> BertConfig:
    for field, supported in REFUSED.items():
        if hf.get(field, supported) != supported:
            raise CheckpointError(
                f"BERT config option {field}={hf[field]!r} is not supported by einformer "
                f"(only {supported!r}); refusing to load a silently different model"
            )
    act = hf.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise CheckpointError(
            f"BERT config option hidden_act={act!r} is not supported; supported: {sorted(ACTIVATIONS)}"
        )
    labels = hf.get("num_labels", len(hf["id2label"]) if "id2label" in hf else 2)
    id2label = {int(i): str(name) for i, name in (hf.get("id2label") or {}).items()}
    names = tuple(id2label[i] for i in range(labels)) if sorted(id2label) == list(range(labels)) else None
    if names == tuple(f"LABEL_{i}" for i in range(labels)):
        names = None  # transformers' placeholder names: no names given
    fields = dict(
        vocab_size=hf["vocab_size"],
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        activation=ACTIVATIONS[act],
        dropout=hf.get("hidden_dropout_prob", 0.1),
        attention_dropout=hf.get("attention_probs_dropout_prob", 0.1),
        max_position=hf.get("max_position_embeddings", 512),
        type_vocab_size=hf.get("type_vocab_size", 2),
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        pad_token_id=hf.get("pad_token_id", 0) or 0,
        num_labels=labels,
        problem_type=hf.get("problem_type"),
        classifier_dropout=hf.get("classifier_dropout"),
        label_names=names,
    )
    fields = {**fields, **changes}
    if "num_labels" in changes and "label_names" not in changes and changes["num_labels"] != labels:
        fields["label_names"] = None  # a new head: the checkpoint's names no longer apply
    return BertConfig(**fields)


def config_to_hf(c: BertConfig, architecture: str) -> dict:
    act = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu", "silu": "silu"}.get(c.activation)
    if act is None:
        raise ValueError(f"activation {c.activation!r} has no Hugging Face BERT equivalent")
    return {
        "model_type": "bert",
        "architectures": [architecture],
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "intermediate_size": c.d_ff,
        "hidden_act": act,
        "hidden_dropout_prob": c.dropout,
        "attention_probs_dropout_prob": c.attention_dropout,
        "max_position_embeddings": c.max_position,
        "type_vocab_size": c.type_vocab_size,
        "layer_norm_eps": c.layer_norm_eps,
        "pad_token_id": c.pad_token_id,
        "position_embedding_type": "absolute",
        "num_labels": c.num_labels,
        "id2label": {str(i): name for i, name in c.id2label.items()},
        "label2id": c.label2id,
        "problem_type": c.problem_type,
        "classifier_dropout": c.classifier_dropout,
    }


def encoder_key_map(n_layers: int) -> dict[str, str]:
    """einformer BertModel key -> Hugging Face BertModel key (no prefix)."""
    pairs = {
        "embeddings.word.weight": "embeddings.word_embeddings.weight",
        "embeddings.position.weight": "embeddings.position_embeddings.weight",
        "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
        "embeddings.norm.weight": "embeddings.LayerNorm.weight",
        "embeddings.norm.bias": "embeddings.LayerNorm.bias",
        "pooler.dense.weight": "pooler.dense.weight",
        "pooler.dense.bias": "pooler.dense.bias",
    }
    parts = {
        "attn.q_proj": "attention.self.query",
        "attn.k_proj": "attention.self.key",
        "attn.v_proj": "attention.self.value",
        "attn.out_proj": "attention.output.dense",
        "attn_norm": "attention.output.LayerNorm",
        "ffn.fc1": "intermediate.dense",
        "ffn.fc2": "output.dense",
        "ffn_norm": "output.LayerNorm",
    }
    for i in range(n_layers):
        for ours, theirs in parts.items():
            for p in ("weight", "bias"):
                pairs[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    return pairs


def full_key_map(model) -> dict[str, str]:
    """Our state-dict keys -> Hugging Face keys for this model class (bare or with a head)."""
    encoder = encoder_key_map(model.config.n_layers)
    present = model.state_dict().keys()
    if not hasattr(model, "bert"):
        return {k: v for k, v in encoder.items() if k in present}
    mapping = {f"bert.{k}": f"bert.{v}" for k, v in encoder.items() if f"bert.{k}" in present}
    for key in model.state_dict():
        if key.startswith("bert."):
            continue
        module, _, param = key.rpartition(".")
        if module == "mlm.decoder":
            mapping[key] = "cls.predictions.bias" if param == "bias" else "cls.predictions.decoder.weight"
        elif module in HEADS:
            mapping[key] = f"{HEADS[module]}.{param}"
        else:
            raise KeyError(f"no Hugging Face name for {key}")
    return mapping


def state_from_hf(model, hf_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Hugging Face tensors renamed to ours; a key neither used nor ignored is an error."""
    mapping = full_key_map(model)
    bare = not hasattr(model, "bert")
    source = dict(hf_state)
    if bare:  # a BertModel may have been saved from a task model: drop the prefix and the heads
        source = {k.removeprefix("bert."): v for k, v in source.items()}
    elif not any(k.startswith("bert.") for k in source):  # a bare BertModel checkpoint loaded into a task model
        source = {f"bert.{k}": v for k, v in source.items()}
    reverse = {v: k for k, v in mapping.items()}
    ours, used = {}, set()
    for key, tensor in source.items():
        if key in reverse:
            ours[reverse[key]] = tensor.clone()
            used.add(key)
    aliases = {"cls.predictions.decoder.bias": "cls.predictions.bias"}  # newer checkpoints store both, equal
    for alias, target in aliases.items():
        if alias in source and target in source and alias not in used:
            if not torch.equal(source[alias], source[target]):
                raise CheckpointError(f"{alias} differs from {target}; the checkpoint is inconsistent")
            used.add(alias)
    if "cls.predictions.decoder.weight" in source and "cls.predictions.decoder.weight" not in reverse:
        used.add("cls.predictions.decoder.weight")
    ignored = {k for k in source if k.endswith(IGNORED)}
    if getattr(model, "bert", model).pooler is None:  # heads without a pooler do not use a saved one
        ignored |= {k for k in source if ".pooler." in f".{k}"}
    head_only = {k for k in source if bare and k.startswith(("cls.", "classifier.", "qa_outputs."))}
    unexpected = sorted(set(source) - used - ignored - head_only)
    if unexpected:
        raise CheckpointError(
            f"BERT checkpoint has keys einformer does not use ({len(unexpected)}): " + ", ".join(unexpected[:20])
        )
    return ours


def load_hf_bert(cls, directory: str | Path, **config_changes):
    """A ``cls`` (BertModel or a head) from a Hugging Face BERT directory, loaded strictly.

    A head that the checkpoint lacks (fine-tuning a pre-trained encoder) starts from random weights
    only when ``config_changes`` or the class say so: missing head keys are listed otherwise.
    """
    config = config_from_hf(read_hf_config(directory), **config_changes)
    model = cls(config)
    state = state_from_hf(model, read_hf_weights(directory))
    expected = model.state_dict()
    tied = {"mlm.decoder.weight"}
    has_head = hasattr(model, "bert")  # a bare BertModel has no head: every missing key is an error
    missing_head = [k for k in expected if has_head and k not in state and not k.startswith("bert.") and k not in tied]
    if missing_head:  # a fresh task head on a pre-trained encoder: keep its random init, say so
        notices.warn(
            f"{cls.__name__}: the checkpoint has no weights for {', '.join(missing_head)}; they start "
            "from random values (expected when fine-tuning a pre-trained encoder)",
            notices.NewWeightsWarning,
        )
        for key in missing_head:
            state[key] = expected[key]
    load_state_strict(model, state, source=f"BERT checkpoint {directory}")
    return model


def save_hf_bert(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    """config.json + model.safetensors (or shards past ``max_shard_size``) in Hugging Face's layout for
    this model's class."""
    mapping = full_key_map(model)
    state = model.state_dict()
    tensors = {mapping[k]: v for k, v in state.items() if k != "mlm.decoder.weight"}
    if "mlm.decoder.weight" in state:
        tensors["cls.predictions.decoder.weight"] = state["mlm.decoder.weight"]
        tensors["cls.predictions.decoder.bias"] = state["mlm.decoder.bias"]
    arch = ARCHITECTURES.get(type(model).__name__, "BertModel")
    return write_hf_dir(
        directory,
        config_to_hf(model.config, arch),
        tensors,
        max_shard_size=max_shard_size,
        total_parameters=model.num_parameters(),
    )
