"""Hugging Face GPT-2 <-> einformer GPT, through a strict key map.

GPT-2 stores its projections as ``Conv1D`` with weights of shape (in, out), the transpose of
``nn.Linear``, and packs query, key and value into one ``c_attn`` of width 3 * D. Every source key
is consumed or explicitly ignored; shapes are checked; a config option einformer does not
implement is an error naming it, never a silently different model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointError, load_state_strict
from ..config import GPTConfig
from ..validation import drop_out_of_vocabulary
from .hf_files import MAX_SHARD_SIZE, read_hf_config, read_hf_weights, write_hf_dir

ACTIVATIONS = {
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": None,
    "gelu": "gelu",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers of old checkpoints, not weights
# options that would change the computation and that einformer does not implement: (field, value we support)
UNSUPPORTED = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "add_cross_attention": False}


def config_from_hf(hf: dict) -> GPTConfig:
    """GPTConfig from a GPT-2 config.json; unsupported options raise naming the field."""
    for field, supported in UNSUPPORTED.items():
        if hf.get(field, supported) != supported:
            raise CheckpointError(
                f"GPT-2 config option {field}={hf[field]} is not supported by einformer "
                f"(only {field}={supported}); refusing to load a silently different model"
            )
    act = hf.get("activation_function", "gelu_new")
    if ACTIVATIONS.get(act) is None:
        raise CheckpointError(
            f"GPT-2 config option activation_function={act!r} is not supported; "
            f"supported: {sorted(k for k, v in ACTIVATIONS.items() if v)}"
        )
    hf = drop_out_of_vocabulary(
        hf, hf.get("vocab_size"), ("bos_token_id", "eos_token_id", "pad_token_id"), "config.json"
    )
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        max_position=hf.get("n_positions", hf.get("n_ctx", 1024)),
        d_model=hf["n_embd"],
        n_layers=hf["n_layer"],
        n_heads=hf["n_head"],
        d_ff=hf.get("n_inner"),
        activation=ACTIVATIONS[act],
        dropout=hf.get("resid_pdrop", 0.1),
        embedding_dropout=hf.get("embd_pdrop", 0.1),
        attention_dropout=hf.get("attn_pdrop", 0.1),
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        tie_word_embeddings=hf.get("tie_word_embeddings", True),
        bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"),
        pad_token_id=hf.get("pad_token_id"),
    )


def config_to_hf(c: GPTConfig) -> dict:
    if not (c.norm_first and c.bias and c.activation in ("gelu_tanh", "gelu", "relu", "silu")):
        raise ValueError("only a pre-norm GPT with biases and a GPT-2 activation can be saved in GPT-2 format")
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu"}[c.activation]
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c.vocab_size,
        "n_positions": c.max_position,
        "n_embd": c.d_model,
        "n_layer": c.n_layers,
        "n_head": c.n_heads,
        "n_inner": None if c.d_ff == 4 * c.d_model else c.d_ff,  # GPT-2 writes null for the default
        "activation_function": act,
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.embedding_dropout,
        "attn_pdrop": c.attention_dropout,
        "layer_norm_epsilon": c.layer_norm_eps,
        "tie_word_embeddings": c.tie_word_embeddings,
        "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id,
        "pad_token_id": c.pad_token_id,
        "scale_attn_weights": True,
    }


def _key_map(n_layers: int) -> list[tuple[str, str, str]]:
    """(HF key, einformer key, how): how = "copy", "t" (transpose Conv1D), or "qkv" (split c_attn)."""
    rows = [
        ("wte.weight", "embed.weight", "copy"),
        ("wpe.weight", "pos.weight", "copy"),
        ("ln_f.weight", "final_norm.weight", "copy"),
        ("ln_f.bias", "final_norm.bias", "copy"),
    ]
    for i in range(n_layers):
        h, b = f"h.{i}.", f"blocks.{i}."
        rows += [
            (h + "ln_1.weight", b + "attn_norm.weight", "copy"),
            (h + "ln_1.bias", b + "attn_norm.bias", "copy"),
            (h + "attn.c_attn.weight", b + "attn.{}_proj.weight", "qkv"),
            (h + "attn.c_attn.bias", b + "attn.{}_proj.bias", "qkv"),
            (h + "attn.c_proj.weight", b + "attn.out_proj.weight", "t"),
            (h + "attn.c_proj.bias", b + "attn.out_proj.bias", "copy"),
            (h + "ln_2.weight", b + "ffn_norm.weight", "copy"),
            (h + "ln_2.bias", b + "ffn_norm.bias", "copy"),
            (h + "mlp.c_fc.weight", b + "ffn.fc1.weight", "t"),
            (h + "mlp.c_fc.bias", b + "ffn.fc1.bias", "copy"),
            (h + "mlp.c_proj.weight", b + "ffn.fc2.weight", "t"),
            (h + "mlp.c_proj.bias", b + "ffn.fc2.bias", "copy"),
        ]
    return rows


def state_from_hf(hf_state: dict[str, Tensor], config: GPTConfig) -> dict[str, Tensor]:
    """Translate GPT-2 weights to einformer names; unknown source keys are an error."""
    source = {k.removeprefix("transformer."): v for k, v in hf_state.items()}
    ours, used, bad_shapes = {}, set(), []
    d = config.d_model
    for hf_key, our_key, how in _key_map(config.n_layers):
        if hf_key not in source:
            continue  # reported as missing by the strict load
        tensor, used = source[hf_key], used | {hf_key}
        if how == "qkv":
            if tensor.shape[-1] != 3 * d:
                bad_shapes.append(f"{hf_key}: {tuple(tensor.shape)}, expected last dim 3 * n_embd = {3 * d}")
                continue
            parts = tensor.split(d, dim=-1)
            for name, part in zip("qkv", parts, strict=True):
                ours[our_key.format(name)] = part.t().contiguous() if part.dim() == 2 else part.clone()
        else:
            ours[our_key] = tensor.t().contiguous() if how == "t" else tensor.clone()
    if "lm_head.weight" in source:
        used.add("lm_head.weight")
        if config.tie_word_embeddings:
            if "wte.weight" in source and not torch.equal(source["lm_head.weight"], source["wte.weight"]):
                raise CheckpointError(
                    "lm_head.weight differs from wte.weight but the config ties them "
                    "(tie_word_embeddings=true); set it to false or fix the checkpoint"
                )
        else:
            ours["lm_head.weight"] = source["lm_head.weight"].clone()
    unexpected = sorted(k for k in source if k not in used and not k.endswith(IGNORED_SUFFIXES))
    if unexpected or bad_shapes:
        raise CheckpointError(
            "GPT-2 checkpoint does not fit:\n"
            + (f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}\n" if unexpected else "")
            + "".join(f"  mis-shaped: {s}\n" for s in bad_shapes)
        )
    return ours


def load_hf_gpt2(cls, directory: str | Path):
    """A ``cls`` (GPT) built from a Hugging Face GPT-2 directory."""
    config = config_from_hf(read_hf_config(directory))
    model = cls(config)
    load_state_strict(model, state_from_hf(read_hf_weights(directory), config), source=f"GPT-2 checkpoint {directory}")
    return model


def save_hf_gpt2(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    """Write config.json + model.safetensors (or shards past ``max_shard_size``, with their index) that
    transformers' GPT2LMHeadModel loads identically."""
    c = model.config
    hf_config = config_to_hf(c)
    state = model.state_dict()
    tensors: dict[str, Tensor] = {}
    for hf_key, our_key, how in _key_map(c.n_layers):
        key = "transformer." + hf_key
        if how == "qkv":
            parts = [state[our_key.format(n)] for n in "qkv"]
            tensors[key] = torch.cat([p.t() if p.dim() == 2 else p for p in parts], dim=-1)
        else:
            tensors[key] = state[our_key].t() if how == "t" else state[our_key]
    if not c.tie_word_embeddings:
        tensors["lm_head.weight"] = state["lm_head.weight"]
    # in the order of transformers' modules (the final norm after the blocks), so shards group as its own
    tensors = dict(sorted(tensors.items(), key=lambda item: ".ln_f." in item[0]))  # a stable sort
    return write_hf_dir(
        directory, hf_config, tensors, max_shard_size=max_shard_size, total_parameters=model.num_parameters()
    )
