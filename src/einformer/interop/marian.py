"""Hugging Face MarianMT <-> einformer's encoder-decoder, through a strict key map.

Marian (the opus-mt translation models) is the paper's architecture with four of einformer's named
options set: post-norm, static sinusoidal positions laid out in halves (``sinusoid_layout="halves"``),
embeddings scaled by sqrt(d_model), a swish (SiLU) feed-forward, one embedding shared by source,
target and output, and a bias on the output projection (``final_logits_bias`` ->
``output_bias``). The decoder starts from ``decoder_start_token_id`` (the pad token in opus-mt),
which is our ``bos_token_id``.

Every source key is consumed or explicitly accepted as a copy of another (tied embeddings, the
static position tables, which are checked against ours); a config option that would change the
computation and that einformer does not implement is refused by name.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from ..checkpoint import CheckpointError, load_state_strict
from ..config import EncoderDecoderConfig
from ..generation.config import GenerationConfig
from ..nn.embeddings import sinusoidal_table
from ..validation import drop_out_of_vocabulary
from .hf_files import MAX_SHARD_SIZE, check_fit, first_id, read_hf_config, read_hf_weights, write_hf_dir

ACTIVATIONS = {"swish": "silu", "silu": "silu", "relu": "relu", "gelu": "gelu", "gelu_new": "gelu_tanh"}
# options that change the computation, with the only value einformer implements
UNSUPPORTED = {
    "normalize_before": False,  # mBART-style pre-norm
    "add_final_layer_norm": False,
    "normalize_embedding": False,  # a LayerNorm on the embeddings (BART's layernorm_embedding)
    "static_position_embeddings": True,
    "add_bias_logits": False,
    "scale_attn_by_inverse_layer_idx": False,
}
TRAINING_ONLY = ("activation_dropout", "encoder_layerdrop", "decoder_layerdrop")
# generation settings that old Marian config.json files carry instead of a generation_config.json
LEGACY_GENERATION = ("num_beams", "max_length", "bad_words_ids", "forced_eos_token_id", "decoder_start_token_id")
LAYER_NORMS = {"attn_norm": "self_attn_layer_norm", "ffn_norm": "final_layer_norm"}
DECODER_NORMS = {"self_attn_norm": "self_attn_layer_norm", "cross_attn_norm": "encoder_attn_layer_norm"}


def config_from_hf(hf: dict, source: str = "config.json") -> EncoderDecoderConfig:
    """EncoderDecoderConfig from a MarianConfig dict; options we can't express raise naming the field."""
    for field, supported in UNSUPPORTED.items():
        if field in hf and hf[field] is not None and bool(hf[field]) != supported:
            raise CheckpointError(
                f"{source}: Marian option {field}={hf[field]} is not supported by einformer "
                f"(only {field}={supported}); "
                "refusing to load a silently different model"
            )
    pairs = [("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim")]
    for enc, dec in pairs:
        if hf.get(enc, 16) != hf.get(dec, 16):
            raise CheckpointError(f"{source}: {enc}={hf[enc]} differs from {dec}={hf[dec]}; einformer has one value")
    act = hf.get("activation_function", "gelu")
    if act not in ACTIVATIONS:
        raise CheckpointError(
            f"{source}: activation_function={act!r} is not supported; supported: {sorted(ACTIVATIONS)}"
        )
    ignored = [f"{k}={hf[k]}" for k in TRAINING_ONLY if hf.get(k)]
    if ignored:
        warnings.warn(
            f"{source}: {', '.join(ignored)} apply only in training, which einformer runs without", stacklevel=3
        )
    vocab = hf.get("vocab_size", 58101)
    hf = drop_out_of_vocabulary(hf, vocab, ("eos_token_id",), source)  # transformers loads it, with a warning
    shared = hf.get("share_encoder_decoder_embeddings", True)
    pad = hf.get("pad_token_id", 58100)
    return EncoderDecoderConfig(
        src_vocab_size=vocab,
        tgt_vocab_size=vocab if shared else hf.get("decoder_vocab_size") or vocab,
        d_model=hf.get("d_model", 1024),
        n_heads=hf.get("encoder_attention_heads", 16),
        n_encoder_layers=hf.get("encoder_layers", 12),
        n_decoder_layers=hf.get("decoder_layers", 12),
        d_ff=hf.get("encoder_ffn_dim", 4096),
        dropout=hf.get("dropout", 0.1),
        attention_dropout=hf.get("attention_dropout", 0.0),
        activation=ACTIVATIONS[act],
        norm_first=False,
        positions="sinusoidal",
        sinusoid_layout="halves",
        scale_embedding=hf.get("scale_embedding", False),
        output_bias=True,
        max_position=hf.get("max_position_embeddings", 1024),
        share_embeddings=shared,
        tie_word_embeddings=hf.get("tie_word_embeddings", True),
        label_smoothing=0.0,
        layer_norm_eps=1e-5,
        pad_token_id=pad,
        bos_token_id=hf.get("decoder_start_token_id", pad),
        eos_token_id=first_id(hf.get("eos_token_id", 0)),  # None: dropped above, no end token
    )


def legacy_generation(hf: dict) -> dict:
    """The generation settings an old config.json holds (used when there is no generation_config.json)."""
    return {k: hf[k] for k in LEGACY_GENERATION if hf.get(k) is not None}


def config_to_hf(c: EncoderDecoderConfig) -> dict:
    """A MarianConfig dict for a model in Marian's configuration; anything else is refused by name."""
    needed = {
        "norm_first": False,
        "positions": "sinusoidal",
        "sinusoid_layout": "halves",
        "d_qk": None,
        "d_v": None,
        "output_bias": True,
    }
    wrong = [f"{k}={getattr(c, k)!r} (Marian: {v!r})" for k, v in needed.items() if getattr(c, k) != v]
    if c.activation not in {"silu", "relu", "gelu", "gelu_tanh"}:
        wrong.append(f"activation={c.activation!r}")
    if not c.tie_word_embeddings:
        wrong.append("tie_word_embeddings=False (Marian ties the output to the target embedding)")
    if wrong:
        raise ValueError(
            f"only a model in Marian's configuration saves in Marian's format; this one has {'; '.join(wrong)}"
        )
    act = {"silu": "swish", "relu": "relu", "gelu": "gelu", "gelu_tanh": "gelu_new"}[c.activation]
    return {
        "model_type": "marian",
        "architectures": ["MarianMTModel"],
        "vocab_size": c.src_vocab_size,
        "decoder_vocab_size": c.tgt_vocab_size,
        "share_encoder_decoder_embeddings": c.share_embeddings,
        "d_model": c.d_model,
        "encoder_layers": c.n_encoder_layers,
        "decoder_layers": c.n_decoder_layers,
        "encoder_attention_heads": c.n_heads,
        "decoder_attention_heads": c.n_heads,
        "encoder_ffn_dim": c.d_ff,
        "decoder_ffn_dim": c.d_ff,
        "activation_function": act,
        "dropout": c.dropout,
        "attention_dropout": c.attention_dropout,
        "activation_dropout": 0.0,
        "max_position_embeddings": c.max_position,
        "scale_embedding": c.scale_embedding,
        "static_position_embeddings": True,
        "normalize_before": False,
        "add_final_layer_norm": False,
        "normalize_embedding": False,
        "pad_token_id": c.pad_token_id,
        "eos_token_id": c.eos_token_id,
        "forced_eos_token_id": None,  # MarianConfig's default (0) would force id 0 at the length limit
        "decoder_start_token_id": c.bos_token_id,
        "tie_word_embeddings": True,
        "is_encoder_decoder": True,
    }


def _key_map(c: EncoderDecoderConfig) -> list[tuple[str, str]]:
    """(HF key, einformer key) for every weight; the embeddings are handled by ``_embeddings``."""
    rows = [("final_logits_bias", "lm_head.bias")]
    linears = ("q_proj", "k_proj", "v_proj", "out_proj")
    for i in range(c.n_encoder_layers):
        h, b = f"model.encoder.layers.{i}.", f"encoder_layers.{i}."
        rows += [(f"{h}self_attn.{p}.{w}", f"{b}attn.{p}.{w}") for p in linears for w in ("weight", "bias")]
        rows += [(f"{h}{fc}.{w}", f"{b}ffn.{fc}.{w}") for fc in ("fc1", "fc2") for w in ("weight", "bias")]
        rows += [(f"{h}{n}.{w}", f"{b}{o}.{w}") for o, n in LAYER_NORMS.items() for w in ("weight", "bias")]
    for i in range(c.n_decoder_layers):
        h, b = f"model.decoder.layers.{i}.", f"decoder_layers.{i}."
        for hf_attn, ours in (("self_attn", "self_attn"), ("encoder_attn", "cross_attn")):
            rows += [(f"{h}{hf_attn}.{p}.{w}", f"{b}{ours}.{p}.{w}") for p in linears for w in ("weight", "bias")]
        rows += [(f"{h}{fc}.{w}", f"{b}ffn.{fc}.{w}") for fc in ("fc1", "fc2") for w in ("weight", "bias")]
        norms = {**DECODER_NORMS, "ffn_norm": "final_layer_norm"}
        rows += [(f"{h}{n}.{w}", f"{b}{o}.{w}") for o, n in norms.items() for w in ("weight", "bias")]
    return rows


def state_from_hf(hf_state: dict[str, Tensor], c: EncoderDecoderConfig, source: str) -> dict[str, Tensor]:
    """Translate Marian weights to einformer names; unknown keys, or copies that differ, are an error."""
    ours, used, problems = {}, set(), []
    for hf_key, our_key in _key_map(c):
        if hf_key in hf_state:
            tensor = hf_state[hf_key]
            ours[our_key] = tensor.reshape(-1).clone() if hf_key == "final_logits_bias" else tensor.clone()
            used.add(hf_key)
    used |= _embeddings(hf_state, c, ours, problems)
    check_fit("Marian", source, hf_state, used, problems)
    return ours


def _embeddings(hf_state: dict, c: EncoderDecoderConfig, ours: dict, problems: list) -> set[str]:
    """The token embeddings (shared or per side), the tied output and the static position tables."""
    if c.share_embeddings:
        main = {"model.shared.weight": "src_embed.weight"}
        copies = ["model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"]
    else:
        main = {
            "model.encoder.embed_tokens.weight": "src_embed.weight",
            "model.decoder.embed_tokens.weight": "tgt_embed.weight",
        }
        copies = ["model.shared.weight"] if "model.shared.weight" in hf_state else []
    used = set()
    for hf_key, our_key in main.items():
        if hf_key in hf_state:
            ours[our_key] = hf_state[hf_key].clone()
            used.add(hf_key)
    tied = "src_embed.weight" if c.share_embeddings else "tgt_embed.weight"
    for key in [*copies, "lm_head.weight"]:
        if key not in hf_state:
            continue
        used.add(key)
        if key == "model.shared.weight" and not c.share_embeddings:
            continue  # an unshared checkpoint may still carry the unused shared matrix
        if tied in ours and not torch.equal(hf_state[key], ours[tied]):
            problems.append(f"{key} differs from the embedding it is tied to ({tied}); this checkpoint is not Marian's")
    table = sinusoidal_table(c.max_position, c.d_model, "halves")
    for key in ("model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight"):
        if key in hf_state:
            used.add(key)
            stored = hf_state[key]
            if stored.shape != table.shape or not torch.allclose(stored.float(), table, atol=1e-4):
                problems.append(f"{key} is not Marian's static sinusoid table of shape {tuple(table.shape)}")
    return used


def load_hf_marian(cls, directory: str | Path):
    """A ``cls`` (EncoderDecoderTransformer) built from a Hugging Face Marian directory, with the
    generation settings an old config.json holds (a generation_config.json, read after, wins)."""
    hf = read_hf_config(directory)
    config = config_from_hf(hf, str(Path(directory) / "config.json"))
    model = cls(config)
    state = state_from_hf(read_hf_weights(directory), config, str(directory))
    load_state_strict(model, state, source=f"Marian checkpoint {directory}")
    legacy = legacy_generation(hf)
    if legacy:
        model.generation_config = GenerationConfig(**{**model.generation_config.to_options(), **legacy})
    return model


def save_hf_marian(model, directory: str | Path, *, max_shard_size: int | str = MAX_SHARD_SIZE) -> Path:
    """config.json, model.safetensors (or shards past ``max_shard_size``, with their index) and
    generation_config.json that transformers' MarianMTModel loads with identical logits."""
    c = model.config
    hf_config = config_to_hf(c)
    state = model.state_dict()
    tensors = {hf: state[ours] for hf, ours in _key_map(c)}
    tensors["final_logits_bias"] = state["lm_head.bias"][None]  # (1, V)
    if c.share_embeddings:
        tensors["model.shared.weight"] = state["src_embed.weight"]
    else:
        tensors["model.encoder.embed_tokens.weight"] = state["src_embed.weight"]
        tensors["model.decoder.embed_tokens.weight"] = state["tgt_embed.weight"]
    # transformers counts its sinusoidal position tables (frozen parameters) but not final_logits_bias (a buffer)
    count = model.num_parameters() - state["lm_head.bias"].numel() + 2 * c.max_position * c.d_model
    write_hf_dir(directory, hf_config, tensors, max_shard_size=max_shard_size, total_parameters=count)
    options = model.generation_config.to_options()  # the decoder's first token, as Marian names it
    GenerationConfig(**{"decoder_start_token_id": c.bos_token_id, **options}).save_pretrained(directory)
    return Path(directory)
