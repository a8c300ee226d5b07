"""Hugging Face Llama, Mistral, Qwen2 and Qwen3 <-> einformer's ``Llama``, through a strict key map.

The four ``model_type``s share one layout of weights (``model.layers.{i}.self_attn.q_proj`` ...);
they differ in config fields, which ``config_from_hf`` reads into ``LlamaConfig``'s named options:
Qwen2's q/k/v biases, Qwen3's qk-norm (``q_norm`` / ``k_norm``) and explicit ``head_dim``,
Mistral's ``sliding_window``, the rotary scaling of ``rope_scaling`` (transformers 4) or
``rope_parameters`` (transformers 5). A config option einformer does not implement is refused by
name, never read as a silently different model. Every source key is consumed; shapes are checked.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointError, load_state_strict
from ..config.llama import VARIANTS, LlamaConfig
from ..nn.rotary import ROPE_TYPES, RotaryEmbedding
from ..validation import drop_out_of_vocabulary
from .hf_files import MAX_SHARD_SIZE, check_fit, read_hf_config, read_hf_weights, write_hf_dir

ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
}
# the rotary fields a config may carry beside rope_type (transformers' names)
ROPE_FIELDS = (
    "factor",
    "original_max_position_embeddings",
    "low_freq_factor",
    "high_freq_factor",
    "beta_fast",
    "beta_slow",
    "attention_factor",
    "mscale",
    "mscale_all_dim",
    "truncate",
)


def config_from_hf(hf: dict, source: str = "config.json") -> LlamaConfig:
    """``LlamaConfig`` from a Llama-family config.json; what einformer does not implement is refused."""
    variant = hf.get("model_type")
    if variant not in VARIANTS:
        raise CheckpointError(f"{source}: model_type {variant!r} is not one of the Llama family's {VARIANTS}")
    act = hf.get("hidden_act", "silu")
    if act != "silu":
        raise CheckpointError(f"{source}: hidden_act={act!r} is not supported (the family's SwiGLU uses silu)")
    if hf.get("pretraining_tp", 1) != 1:
        raise CheckpointError(f"{source}: pretraining_tp={hf['pretraining_tp']} is not supported (only 1)")
    rope = _rope(hf, source)
    theta = rope.pop("rope_theta", hf.get("rope_theta", 10000.0))
    rope_type = rope.pop("rope_type", "default")
    partial = rope.pop("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))
    if rope_type not in ROPE_TYPES:
        raise CheckpointError(f"{source}: rope_type {rope_type!r} is not supported; einformer has {ROPE_TYPES}")
    unknown = sorted(set(rope) - set(ROPE_FIELDS))
    if unknown:
        raise CheckpointError(f"{source}: rotary field(s) {unknown} are not supported; known: {ROPE_FIELDS}")
    window, layer_types = _sliding(hf, variant, source)
    hf = drop_out_of_vocabulary(hf, hf.get("vocab_size"), ("bos_token_id", "eos_token_id"), source)  # as transformers
    eos = hf.get("eos_token_id")
    return LlamaConfig(
        vocab_size=hf["vocab_size"],
        max_position=hf.get("max_position_embeddings", 2048),
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        n_kv_heads=hf.get("num_key_value_heads"),
        head_dim=hf.get("head_dim"),
        d_ff=hf["intermediate_size"],
        rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
        rope_theta=float(theta),
        rope_type=rope_type,
        rope_scaling=rope or None,
        partial_rotary_factor=partial,
        attention_bias=hf.get("attention_bias", False) if variant != "qwen2" else False,
        qkv_bias=variant == "qwen2",
        mlp_bias=hf.get("mlp_bias", False),
        qk_norm=variant == "qwen3",
        sliding_window=window,
        layer_types=layer_types,
        attention_dropout=hf.get("attention_dropout", 0.0),
        tie_word_embeddings=hf.get("tie_word_embeddings", False),
        bos_token_id=hf.get("bos_token_id"),
        eos_token_id=tuple(eos) if isinstance(eos, list) else eos,
        pad_token_id=hf.get("pad_token_id"),
        variant=variant,
    )


def _rope(hf: dict, source: str) -> dict:
    """The rotary settings as one dict: transformers 5's ``rope_parameters``, or 4's ``rope_scaling``."""
    params = dict(hf.get("rope_parameters") or {})
    scaling = dict(hf.get("rope_scaling") or {})
    if "type" in scaling:  # the oldest spelling
        scaling["rope_type"] = scaling.pop("type")
    if params and any(k in params and params[k] != v for k, v in scaling.items()):
        raise CheckpointError(f"{source}: rope_parameters and rope_scaling disagree; keep one")
    return {**scaling, **params}


def _sliding(hf: dict, variant: str, source: str) -> tuple[int | None, tuple[str, ...] | None]:
    """(window, per-layer types): Mistral's window covers every layer; Qwen's only when
    ``use_sliding_window``, on the layers ``layer_types`` (or ``max_window_layers``) name."""
    window, n = hf.get("sliding_window"), hf["num_hidden_layers"]
    if variant in ("llama",) or window is None:
        return None, None
    if variant == "mistral":
        return window, None
    if not hf.get("use_sliding_window", False):
        return None, None
    types = hf.get("layer_types")
    if types is None:
        first_full = hf.get("max_window_layers", n)
        types = ["sliding_attention" if i >= first_full else "full_attention" for i in range(n)]
    if set(types) - {"full_attention", "sliding_attention"}:
        raise CheckpointError(f"{source}: layer_types {sorted(set(types))} are not supported")
    return window, tuple(types)


def config_to_hf(c: LlamaConfig) -> dict:
    """config.json that transformers reads back as the same model (its ``variant``'s model_type)."""
    hf = {
        "model_type": c.variant,
        "architectures": [ARCHITECTURES[c.variant]],
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position,
        "hidden_size": c.d_model,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "head_dim": c.head_dim,
        "intermediate_size": c.d_ff,
        "hidden_act": "silu",
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "rope_parameters": {"rope_type": c.rope_type, "rope_theta": c.rope_theta, **(c.rope_scaling or {})},
        "rope_scaling": None if c.rope_type == "default" else {"rope_type": c.rope_type, **(c.rope_scaling or {})},
        "partial_rotary_factor": c.partial_rotary_factor,
        "attention_dropout": c.attention_dropout,
        "tie_word_embeddings": c.tie_word_embeddings,
        "bos_token_id": c.bos_token_id,
        "eos_token_id": list(c.eos_token_id) if isinstance(c.eos_token_id, tuple) else c.eos_token_id,
        "pad_token_id": c.pad_token_id,
    }
    if c.variant in ("llama", "qwen3"):
        hf |= {"attention_bias": c.attention_bias, "mlp_bias": c.mlp_bias}
    if c.variant == "mistral":
        hf["sliding_window"] = c.sliding_window
    if c.variant in ("qwen2", "qwen3"):
        sliding = c.layer_types is not None and "sliding_attention" in c.layer_types
        hf |= {"use_sliding_window": sliding, "sliding_window": c.sliding_window, "max_window_layers": c.n_layers}
        if c.layer_types is not None:
            hf["layer_types"] = list(c.layer_types)
    _check_expressible(c)
    return hf


def _check_expressible(c: LlamaConfig) -> None:
    """Options of ours that the variant's Hugging Face class cannot hold."""
    problems = []
    if c.qkv_bias != (c.variant == "qwen2"):
        problems.append("q/k/v biases without an output bias exist in qwen2 only")
    if c.qk_norm != (c.variant == "qwen3"):
        problems.append("qk-norm exists in qwen3 only")
    if c.sliding_window is not None and c.variant == "llama":
        problems.append("llama has no sliding window (use variant='mistral')")
    if c.dropout:
        problems.append(f"residual dropout={c.dropout} has no field in Hugging Face's config")
    if problems:
        raise ValueError(f"this model cannot be written as Hugging Face {c.variant!r}: " + "; ".join(problems))


def _key_map(c: LlamaConfig) -> list[tuple[str, str]]:
    """(Hugging Face key, einformer key) for every tensor the config implies."""
    rows = [("model.embed_tokens.weight", "embed.weight"), ("model.norm.weight", "final_norm.weight")]
    if not c.tie_word_embeddings:
        rows.append(("lm_head.weight", "lm_head.weight"))
    projections = {"q_proj": "q_proj", "k_proj": "k_proj", "v_proj": "v_proj", "o_proj": "out_proj"}
    # our SwiGLU: fc2(silu(fc1(x)) * gate(x)); theirs: down(silu(gate_proj(x)) * up_proj(x))
    mlp = {"gate_proj": "fc1", "up_proj": "gate", "down_proj": "fc2"}
    for i in range(c.n_layers):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        for theirs, ours in projections.items():
            rows.append((f"{h}self_attn.{theirs}.weight", f"{b}attn.{ours}.weight"))
            biased = c.attention_bias or (c.qkv_bias and theirs != "o_proj")
            if biased:
                rows.append((f"{h}self_attn.{theirs}.bias", f"{b}attn.{ours}.bias"))
        for theirs, ours in mlp.items():
            rows.append((f"{h}mlp.{theirs}.weight", f"{b}ffn.{ours}.weight"))
            if c.mlp_bias:
                rows.append((f"{h}mlp.{theirs}.bias", f"{b}ffn.{ours}.bias"))
        rows += [
            (f"{h}input_layernorm.weight", f"{b}attn_norm.weight"),
            (f"{h}post_attention_layernorm.weight", f"{b}ffn_norm.weight"),
        ]
        if c.qk_norm:
            rows += [(f"{h}self_attn.q_norm.weight", f"{b}attn.q_norm.weight"),
                     (f"{h}self_attn.k_norm.weight", f"{b}attn.k_norm.weight")]  # fmt: skip
    return rows


def load_hf_llama(cls, directory: str | Path, **config_changes):
    """A ``cls`` (Llama) built from a Hugging Face Llama, Mistral, Qwen2 or Qwen3 directory;
    ``config_changes`` (e.g. dropout) apply before the weights load.

    The model is built on the meta device (no random initialisation, no memory) and takes the file's
    tensors as its parameters (``load_state_strict``); safetensors maps the file, so loading holds
    one copy of the weights at most, as transformers does (bench/llama_load.py)."""
    source = str(Path(directory) / "config.json")
    config = config_from_hf(read_hf_config(directory), source).replace(**config_changes)
    with torch.device("meta"):
        model = cls(config)
    hf_state = read_hf_weights(directory)
    ours, used = {}, set()
    for theirs, mine in _key_map(config):
        if theirs in hf_state:
            ours[mine], used = hf_state[theirs], used | {theirs}
    if config.tie_word_embeddings and "lm_head.weight" in hf_state:
        used.add("lm_head.weight")  # a tied copy written out: it must be the embeddings themselves
        if not hf_state["lm_head.weight"].equal(hf_state["model.embed_tokens.weight"]):
            raise CheckpointError(f"{directory}: lm_head.weight differs from the tied embed_tokens.weight")
    check_fit(config.variant, str(directory), hf_state, used, [])
    load_state_strict(model, ours, source=f"{config.variant} checkpoint {directory}")
    # the one buffer that is computed, not loaded: the rotary frequencies (fp32, as transformers keeps them)
    inv_freq = RotaryEmbedding(config.head_dim, **config.rope()).inv_freq
    model.rotary.register_buffer("inv_freq", inv_freq, persistent=False)
    return model


def save_hf_llama(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    """config.json + model.safetensors (or shards past ``max_shard_size``, with their index) that
    transformers' ``{Variant}ForCausalLM`` loads identically."""
    c = model.config
    hf_config = config_to_hf(c)
    state = model.state_dict()
    tensors: dict[str, Tensor] = {theirs: state[ours] for theirs, ours in _key_map(c)}
    count = model.num_parameters()  # the index's total_parameters, as transformers counts them (tied once)
    return write_hf_dir(directory, hf_config, tensors, max_shard_size=max_shard_size, total_parameters=count)
