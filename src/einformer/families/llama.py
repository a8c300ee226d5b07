"""The Llama family (Llama, Mistral, Qwen2, Qwen3): a decoder-only language model; Hugging Face's four
formats in and out (``interop/llama.py``)."""

from __future__ import annotations

from pathlib import Path

from ..config.llama import LlamaConfig
from ..data.gpt2_tokenizer import GPT2Tokenizer
from ..interop.llama import load_hf_llama, save_hf_llama
from ..models.llama import Llama
from ..registry import CAUSAL_LM, LANGUAGE_MODEL, STANDARD_FLAGS, Family, Tokenizers
from .common import read_lm_tokenizer, save_lm_tokenizer


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    """einformer's run: tokenizer.json; a Hugging Face directory: its tokenizer.json (byte-level BPE,
    as Llama 3 and Qwen ship it) with the special tokens of tokenizer_config.json."""
    if not huggingface:
        return read_lm_tokenizer(directory)
    if not (directory / "tokenizer.json").is_file():
        return Tokenizers(
            problem=f"{directory} is a Hugging Face Llama-family directory without tokenizer.json: save the "
            "tokenizer with the model (sentencepiece-only tokenizer.model files are not read yet)"
        )
    return Tokenizers(GPT2Tokenizer.from_pretrained(directory))


FAMILY = Family(
    config_class=LlamaConfig,
    models={CAUSAL_LM: Llama},
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_lm_tokenizer,
    hf_model_types=("llama", "mistral", "qwen2", "qwen3"),
    load_hf=load_hf_llama,
    save_hf=save_hf_llama,
    recipe=LANGUAGE_MODEL,
    # always pre-norm (no --norm-first); --dropout sets the residual and the attention dropout
    train_flags={
        **{flag: fields for flag, fields in STANDARD_FLAGS.items() if flag != "norm_first"},
        "dropout": ("dropout", "attention_dropout"),
    },
)
