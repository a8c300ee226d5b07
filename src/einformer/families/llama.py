"""The Llama family (Llama, Mistral, Qwen2, Qwen3): a decoder-only language model; Hugging Face's four
formats in and out (``interop/llama.py``)."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import read_json
from ..config.llama import LlamaConfig
from ..data.hf_tokenizer import HFTokenizer
from ..interop.llama import load_hf_llama, save_hf_llama
from ..models.llama import Llama
from ..registry import CAUSAL_LM, LANGUAGE_MODEL, STANDARD_FLAGS, Family, Tokenizers
from .common import read_lm_tokenizer, save_lm_tokenizer


def read_tokenizers(directory: Path, huggingface: bool) -> Tokenizers:
    """einformer's run: tokenizer.json; a Hugging Face directory: its tokenizer.json (else its sentencepiece
    tokenizer.model, converted as transformers converts it) read with tokenizer_config.json as transformers
    reads them (``data/hf_tokenizer.py``: special and added tokens, the chat template). A run or export of
    such a model keeps that tokenizer."""
    if not huggingface and not _saved_by_hf_tokenizer(directory):
        return read_lm_tokenizer(directory)
    if not any((directory / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        return Tokenizers(
            problem=f"{directory} is a Hugging Face Llama-family directory without tokenizer.json or a "
            "sentencepiece tokenizer.model: save the tokenizer with the model"
        )
    return Tokenizers(HFTokenizer.from_pretrained(directory, auto_class=_auto_class(directory)))


def _auto_class(directory: Path) -> str | None:
    """The class transformers 5's AutoTokenizer reads the directory as where it overrides tokenizer_config.json:
    Mistral's model type maps to TokenizersBackend (without mistral_common), whatever class the config names
    (tokenizer.json read as it is; a sentencepiece model converted by its own settings); Qwen2's to
    Qwen2Tokenizer whatever the config names (transformers lists it among the model types whose Hub class is
    wrong), Qwen3's where the config names none. None: the config's class."""
    path = directory / "config.json"
    model_type = read_json(path, "model config").get("model_type") if path.is_file() else None
    if model_type in ("mistral", "qwen2"):
        return {"mistral": "TokenizersBackend", "qwen2": "Qwen2Tokenizer"}[model_type]
    tokenizer_config = directory / "tokenizer_config.json"
    named = tokenizer_config.is_file() and read_json(tokenizer_config, "tokenizer config").get("tokenizer_class")
    return "Qwen2Tokenizer" if model_type == "qwen3" and not named else None


def _saved_by_hf_tokenizer(directory: Path) -> bool:
    """A run or export of a Hugging Face Llama-family model: its tokenizer_config.json names a class
    other than GPT-2's (``HFTokenizer.save_pretrained`` always names one)."""
    path = directory / "tokenizer_config.json"
    if not (path.is_file() and (directory / "tokenizer.json").is_file()):
        return False
    return read_json(path, "tokenizer config").get("tokenizer_class") not in (None, "GPT2Tokenizer")


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
