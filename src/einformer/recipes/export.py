"""Export a run (or a model directory) as a model directory with its tokenizer: the model through
``save_pretrained(format=...)``, its generation_config.json, and the tokenizer files the format's
readers expect.

``format="hf"``: a GPT becomes a Hugging Face GPT-2 directory that transformers' AutoModelForCausalLM
and AutoTokenizer read (the tokenizer as GPT-2's files: tokenizer.json, vocab.json + merges.txt,
tokenizer_config.json); a BERT a Hugging Face BERT directory with its WordPiece files; an
encoder-decoder in Marian's configuration a Hugging Face Marian directory (MarianMTModel reads it),
with its sentencepiece files when it came from one, else the run's source_/target_tokenizer.json
(which einformer reads beside a Marian config).
``format="einformer"``: einformer's layout, tokenizers as the run keeps them.
"""

from __future__ import annotations

from pathlib import Path

from ..auto import load
from ..data.gpt2_tokenizer import GPT2Tokenizer
from ..data.marian_tokenizer import MarianTokenizer
from ..data.tokenizer import SPECIALS, Tokenizer
from ..generation.config import GenerationConfig
from .lm_start import save_lm_tokenizer


def export(path: str | Path, out: str | Path, *, format: str = "hf") -> Path:
    """Write what ``path`` holds to ``out`` in ``format``; returns ``out``."""
    loaded = load(path)
    out = Path(out)
    if out.resolve() == loaded.path.resolve():
        raise ValueError(f"export {path}: choose another output directory than the input")
    if format == "hf" and loaded.model_type not in ("gpt", "bert", "encoder-decoder"):
        raise ValueError(f"export --format hf: {path} holds a {loaded.model_type} model; use --format einformer")
    model, tokenizer = loaded.model, loaded.tokenizer
    if loaded.model_type == "gpt" and format == "hf" and isinstance(tokenizer, Tokenizer):
        tokenizer = as_gpt2_tokenizer(tokenizer, str(path))  # before writing anything
    if loaded.decoding == "seq2seq" and format == "hf":
        model.generation_config = translation_defaults(model)
    model.save_pretrained(out, format=format)
    if isinstance(loaded.source_tokenizer, MarianTokenizer):
        loaded.source_tokenizer.save_pretrained(out)
    elif loaded.source_tokenizer is not None:
        loaded.source_tokenizer.save(out / "source_tokenizer.json")
        tokenizer.save(out / "target_tokenizer.json")
    elif loaded.model_type == "gpt" or isinstance(tokenizer, Tokenizer):
        save_lm_tokenizer(tokenizer, out)
    elif tokenizer is not None:
        tokenizer.save_pretrained(out)
    return out


def translation_defaults(model) -> GenerationConfig:
    """What transformers should do with the export by default: ``einformer translate``'s 4 beams and
    room up to the model's positions (Marian's max_length), unless the run's config already says."""
    options = model.generation_config.to_options()
    if "max_length" not in options and "max_new_tokens" not in options:
        options["max_length"] = model.config.max_position
    options.setdefault("num_beams", 4)
    return GenerationConfig(**options)


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
