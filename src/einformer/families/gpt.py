"""GPT: a decoder-only language model; Hugging Face's GPT-2 format in and out (``interop/gpt2.py``)."""

from __future__ import annotations

from pathlib import Path

from ..config import GPTConfig
from ..data.gpt2_tokenizer import GPT2Tokenizer, is_gpt2_tokenizer_dir
from ..data.tokenizer import SPECIALS, Tokenizer
from ..interop.gpt2 import load_hf_gpt2, save_hf_gpt2
from ..interop.hf_files import read_hf_config
from ..models.gpt import GPT
from ..registry import CAUSAL_LM, LANGUAGE_MODEL, STANDARD_FLAGS, Family, Tokenizers
from .common import read_lm_tokenizer, save_lm_tokenizer


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    """einformer's run: tokenizer.json; Hugging Face's GPT-2: tokenizer.json or vocab.json + merges.txt."""
    if not huggingface:
        return read_lm_tokenizer(directory)
    if not is_gpt2_tokenizer_dir(directory):
        return Tokenizers(
            problem=f"{directory} is a Hugging Face GPT-2 directory without its tokenizer: einformer needs "
            "tokenizer.json, or vocab.json + merges.txt, beside config.json (save them with the model)"
        )
    tokenizer = GPT2Tokenizer.from_pretrained(directory)
    vocab_size = read_hf_config(directory).get("vocab_size")
    if vocab_size is not None and tokenizer.vocab_size > vocab_size:
        raise ValueError(
            f"{directory}: the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
            f"{vocab_size}; the tokenizer belongs to another model"
        )
    return Tokenizers(tokenizer)


def hf_export(model, tokenizers: Tokenizers, where: str) -> Tokenizers:
    """GPT-2's tokenizer files for einformer's byte-level BPE tokenizer (refused for another kind)."""
    if isinstance(tokenizers.tokenizer, Tokenizer):
        return Tokenizers(as_gpt2_tokenizer(tokenizers.tokenizer, where))
    return tokenizers


def as_gpt2_tokenizer(tokenizer: Tokenizer, where: str) -> GPT2Tokenizer:
    """einformer's byte-level BPE tokenizer in GPT-2's format: the same tokenizer.json, with its
    [BOS] / [EOS] / [PAD] / [UNK] named in tokenizer_config.json."""
    if type(tokenizer.backend.pre_tokenizer).__name__ != "ByteLevel":
        raise ValueError(
            f"{where}: its tokenizer is not byte-level BPE, GPT-2's format; train the run with --tokenizer bpe "
            "to export it in Hugging Face format, or export with --format einformer"
        )
    pad, bos, eos, unk = SPECIALS
    return GPT2Tokenizer(tokenizer.backend, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad)


FAMILY = Family(
    config_class=GPTConfig,
    models={CAUSAL_LM: GPT},
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_lm_tokenizer,
    hf_model_types=("gpt2",),
    load_hf=load_hf_gpt2,
    save_hf=save_hf_gpt2,
    hf_export=hf_export,
    recipe=LANGUAGE_MODEL,
    # GPT-2 has three dropouts (residual, embedding, attention); --dropout sets them all
    train_flags={**STANDARD_FLAGS, "dropout": ("dropout", "embedding_dropout", "attention_dropout")},
)
