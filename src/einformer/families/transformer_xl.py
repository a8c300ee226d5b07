"""Transformer-XL: a language model with a memory of earlier segments; Hugging Face's
TransfoXLLMHeadModel format in (``interop/transfo_xl.py``), with the authors' word vocabulary."""

from __future__ import annotations

from pathlib import Path

from ..config import TransformerXLConfig
from ..data.word_vocab import WordVocab, is_word_vocab_dir
from ..interop.transfo_xl import load_hf_transfo_xl
from ..models.transformer_xl import TransformerXL
from ..registry import CAUSAL_LM, LANGUAGE_MODEL, STANDARD_FLAGS, Family, Tokenizers
from .common import read_lm_tokenizer, save_lm_tokenizer


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    """einformer's run: tokenizer.json; Hugging Face's: the word vocabulary (vocab.txt or vocab.pkl)."""
    if not huggingface:
        return read_lm_tokenizer(directory)
    if not is_word_vocab_dir(directory):
        return Tokenizers(
            problem=f"{directory} is a Transformer-XL directory without its vocabulary: einformer reads vocab.pkl "
            "(restricted to plain data) or vocab.txt (one word per line) beside config.json"
        )
    return Tokenizers(WordVocab.from_pretrained(directory))


FAMILY = Family(
    config_class=TransformerXLConfig,
    models={CAUSAL_LM: TransformerXL},
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_lm_tokenizer,
    hf_model_types=("transfo-xl",),
    load_hf=load_hf_transfo_xl,
    recipe=LANGUAGE_MODEL,
    train_flags={**STANDARD_FLAGS, "mem_len": ("mem_len",), "seg_len": ("segment_length",)},
)
