"""Tokenizer readers and writers that several families share.

A language model's run keeps one tokenizer: einformer's ``tokenizer.json``, or GPT-2's files (a run
fine-tuned from GPT-2), told apart by ``load_lm_tokenizer``. A sequence-to-sequence run keeps one per
side: ``source_tokenizer.json`` and ``target_tokenizer.json``.
"""

from __future__ import annotations

from pathlib import Path

from ..data.gpt2_tokenizer import load_lm_tokenizer
from ..data.marian_tokenizer import MarianTokenizer
from ..data.tokenizer import Tokenizer
from ..registry import Tokenizers

TOKENIZER = "tokenizer.json"
SOURCE_TOKENIZER, TARGET_TOKENIZER = "source_tokenizer.json", "target_tokenizer.json"


def read_lm_tokenizer(directory: Path) -> Tokenizers:
    """A language-model run's (or einformer model directory's) tokenizer."""
    if not (directory / TOKENIZER).is_file():
        return Tokenizers(problem=f"{directory} has no {TOKENIZER}")
    return Tokenizers(load_lm_tokenizer(directory))  # einformer's, or GPT-2's in a run fine-tuned from GPT-2


def save_lm_tokenizer(tokenizers: Tokenizers, directory: Path) -> None:
    """einformer's tokenizer as tokenizer.json; any other (GPT-2's, a word vocabulary) in its own files."""
    tokenizer = tokenizers.tokenizer
    if isinstance(tokenizer, Tokenizer):
        tokenizer.save(directory / TOKENIZER)
    elif tokenizer is not None:
        tokenizer.save_pretrained(directory)


def read_seq2seq_tokenizers(directory: Path) -> Tokenizers | None:
    """An encoder-decoder run's source_/target_tokenizer.json, or None when ``directory`` has none."""
    if not (directory / TARGET_TOKENIZER).is_file():
        return None
    return Tokenizers(Tokenizer.load(directory / TARGET_TOKENIZER), Tokenizer.load(directory / SOURCE_TOKENIZER))


def save_seq2seq_tokenizers(tokenizers: Tokenizers, directory: Path) -> None:
    """A Marian tokenizer in its own files (source.spm, target.spm, vocab.json ...); einformer's as
    source_/target_tokenizer.json."""
    source, target = tokenizers.source, tokenizers.tokenizer
    if isinstance(source, MarianTokenizer):
        source.save_pretrained(directory)
    elif source is not None:
        source.save(directory / SOURCE_TOKENIZER)
        target.save(directory / TARGET_TOKENIZER)


def read_encoder_tokenizer(directory: Path, defaults: dict[str, str]) -> Tokenizers:
    """An encoder family's tokenizer.json and tokenizer_config.json (RoBERTa, XLM-R, DistilBERT, ELECTRA);
    ``defaults``: the special tokens of its transformers class, where the config names none."""
    from ..data.encoder_tokenizer import EncoderTokenizer

    if not (directory / TOKENIZER).is_file():
        return Tokenizers(problem=f"{directory} has no {TOKENIZER}; save the tokenizer there with transformers")
    return Tokenizers(EncoderTokenizer.from_pretrained(directory, defaults=defaults))


def save_tokenizer(tokenizers: Tokenizers, directory: Path) -> None:
    """The tokenizer's own files (``save_pretrained``)."""
    if tokenizers.tokenizer is not None:
        tokenizers.tokenizer.save_pretrained(directory)
