"""The encoder-decoder Transformer of the paper; Hugging Face's Marian format in and out
(``interop/marian.py``), with Marian's sentencepiece tokenizer."""

from __future__ import annotations

from pathlib import Path

from ..config import EncoderDecoderConfig
from ..data.marian_tokenizer import MarianTokenizer, is_marian_tokenizer_dir
from ..generation.config import GenerationConfig
from ..interop.marian import load_hf_marian, save_hf_marian
from ..models.encoder_decoder import EncoderDecoderTransformer
from ..registry import SEQ2SEQ, SEQ2SEQ_LM, STANDARD_FLAGS, Family, Tokenizers
from .common import read_seq2seq_tokenizers, save_seq2seq_tokenizers


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    """A run's source_/target_tokenizer.json; a Marian directory's sentencepiece files (or, for a run
    exported in Marian's format, the run's files)."""
    if huggingface and is_marian_tokenizer_dir(directory):
        source = MarianTokenizer(directory)
        return Tokenizers(source.for_target(), source)
    found = read_seq2seq_tokenizers(directory)
    if found is not None:
        return found
    if huggingface:
        return Tokenizers(
            problem=f"{directory} is a Marian directory without its tokenizer: einformer needs source.spm, "
            "target.spm and vocab.json beside config.json (MarianTokenizer.save_pretrained writes them)"
        )
    return Tokenizers(problem=f"{directory} holds a bare model without its source_/target_tokenizer.json")


def hf_export(model, tokenizers: Tokenizers, where: str) -> Tokenizers:
    """What transformers should do with the export by default: ``einformer translate``'s 4 beams and
    room up to the model's positions (Marian's max_length), unless the run's config already says."""
    options = model.generation_config.to_options()
    if "max_length" not in options and "max_new_tokens" not in options:
        options["max_length"] = model.config.max_position
    options.setdefault("num_beams", 4)
    model.generation_config = GenerationConfig(**options)
    return tokenizers


FAMILY = Family(
    config_class=EncoderDecoderConfig,
    models={SEQ2SEQ_LM: EncoderDecoderTransformer},
    read_tokenizers=read_tokenizers,
    save_tokenizers=save_seq2seq_tokenizers,
    hf_model_types=("marian",),
    load_hf=load_hf_marian,
    save_hf=save_hf_marian,
    hf_export=hf_export,
    recipe=SEQ2SEQ,
    # --layers sets both stacks
    train_flags={
        **STANDARD_FLAGS,
        "layers": ("n_encoder_layers", "n_decoder_layers"),
        "label_smoothing": ("label_smoothing",),
    },
)
