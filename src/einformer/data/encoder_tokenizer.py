"""The tokenizer of a Hugging Face encoder directory (RoBERTa's byte-level BPE, XLM-R's sentencepiece
unigram, DistilBERT's and ELECTRA's WordPiece, DeBERTa-v3's and ModernBERT's): ``HFTokenizer`` reads
tokenizer.json and tokenizer_config.json as transformers does (one reader for every family), so ids,
offsets, truncation and decoding are the backend's own and equal transformers' on the same files.

What an encoder adds:
* ``model_input_names`` follows transformers' class (or the config's own list, as ModernBERT's):
  RoBERTa's, XLM-R's and DistilBERT's tokenizers give no ``token_type_ids`` (their models have one
  token type, or none), BERT's and ELECTRA's do;
* ``model_max_length`` is always a number (the pipelines take the smaller of it and the model's
  positions): a config without one, or with transformers' 1e30, has no limit of its own.
"""

from __future__ import annotations

from .hf_tokenizer import HFTokenizer

NO_TOKEN_TYPES = ("RobertaTokenizer", "XLMRobertaTokenizer", "DistilBertTokenizer")
NO_LIMIT = 10**30  # no limit of its own (transformers writes a huge model_max_length)


class EncoderTokenizer(HFTokenizer):
    """``HFTokenizer`` with an encoder's input names and a numeric length limit (module docstring);
    ``from_pretrained(directory, defaults=...)`` as HFTokenizer's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.model_max_length is None:
            self.model_max_length = NO_LIMIT
        cls = str(self.config.get("tokenizer_class", "")).removesuffix("Fast")
        self.model_input_names = (
            tuple(self.config["model_input_names"])  # as the file says (ModernBERT's: no token types)
            if self.config.get("model_input_names")
            else ("input_ids", "attention_mask")
            if cls in NO_TOKEN_TYPES
            else ("input_ids", "token_type_ids", "attention_mask")
        )
