"""The tokenizer of a Hugging Face encoder directory (RoBERTa's byte-level BPE, XLM-R's
sentencepiece unigram, DistilBERT's and ELECTRA's WordPiece): tokenizer.json through ``tokenizers``,
so ids, offsets, truncation and decoding are the backend's own and equal transformers' on the same
file; the special tokens, the length limit and the tokenizer's class from tokenizer_config.json.

``model_input_names`` is tokenizer_config.json's where it names them (ModernBERT's), else follows
transformers' class: RoBERTa's, XLM-R's and DistilBERT's tokenizers give no ``token_type_ids`` (their
models have one token type, or none), BERT's and ELECTRA's do.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

from ..checkpoint import atomic_write
from .tokenization import SPECIAL_TOKENS
from .tokenization_fast import PreTrainedTokenizerFast, read_tokenizer_file

CONFIG = "tokenizer_config.json"
NO_TOKEN_TYPES = ("RobertaTokenizer", "XLMRobertaTokenizer", "DistilBertTokenizer")
NO_LIMIT = 10**30  # no limit of its own (transformers writes a huge model_max_length)


class EncoderTokenizer(PreTrainedTokenizerFast):
    """A tokenizer.json with its tokenizer_config.json; ``config`` is that file's content, written back
    by ``save_pretrained`` so transformers opens the copy as the same class."""

    def __init__(self, backend: HFTokenizer, config: dict, *, defaults: dict[str, str] | None = None) -> None:
        super().__init__(backend)
        self.backend.no_padding()
        self.backend.no_truncation()
        self.config = dict(config)
        for name in SPECIAL_TOKENS:
            token = _content(config.get(f"{name}_token", (defaults or {}).get(name)))
            if token is not None and backend.token_to_id(token) is None:
                raise ValueError(f"{CONFIG} names {name}_token {token!r}, which the vocabulary does not have")
            setattr(self, f"{name}_token", token)
        self.model_max_length = int(config.get("model_max_length") or NO_LIMIT)  # the model's limit applies too
        cls = str(config.get("tokenizer_class", "")).removesuffix("Fast")
        self.model_input_names = (
            tuple(config["model_input_names"])  # as the file says (ModernBERT's: no token types)
            if config.get("model_input_names")
            else ("input_ids", "attention_mask")
            if cls in NO_TOKEN_TYPES
            else ("input_ids", "token_type_ids", "attention_mask")
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, defaults: dict[str, str] | None = None) -> EncoderTokenizer:
        """``defaults``: special tokens (bos, eos, unk, sep, pad, cls, mask) where tokenizer_config.json names none."""
        directory = Path(directory)
        if not (directory / "tokenizer.json").is_file():
            raise FileNotFoundError(
                f"{directory} has no tokenizer.json; save the tokenizer with transformers' fast tokenizer "
                "(AutoTokenizer.from_pretrained(...).save_pretrained(...)) to write one"
            )
        config = {}
        if (directory / CONFIG).is_file():
            try:
                config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ValueError(f"{directory / CONFIG} is not valid JSON: {e}") from None
        return cls(read_tokenizer_file(directory / "tokenizer.json"), config, defaults=defaults)

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / "tokenizer.json", "w") as f:
            f.write(self.backend.to_str())
        with atomic_write(directory / CONFIG, "w") as f:
            json.dump(self.config, f, indent=2, ensure_ascii=False)
        return directory


def _content(token) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken's dict."""
    return token.get("content") if isinstance(token, dict) else token
