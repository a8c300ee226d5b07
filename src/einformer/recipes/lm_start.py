"""How a language-model run starts, and the text it reads.

Three ways, one per ``train_lm`` option:

* from scratch: a tokenizer trained on the run's own text, a model from a preset;
* ``tokenizer_from=DIR``: that directory's tokenizer (einformer's, or a Hugging Face GPT-2's), a
  fresh model from a preset sized to it (the from-scratch baseline of a fine-tuning run);
* ``init_from=DIR``: a pretrained causal language model (a Hugging Face GPT-2 directory, an
  einformer GPT directory or run) with its weights, its config and its tokenizer: nanoGPT's
  ``init_from='gpt2'``.

The run directory keeps the tokenizer in the format it came in: einformer's ``tokenizer.json``, or
GPT-2's files (tokenizer.json + tokenizer_config.json ...), as the family's record writes and reads
them (``families/common.py``).

Documents (``documents``): "file" (the whole text is one document), "blank-line" (documents are
separated by empty lines) or "line" (one per line). The token stream puts the EOS token between
documents, as GPT-2's own training data does, so the model learns where a text ends.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..auto import load
from ..data.gpt2_tokenizer import GPT2Tokenizer
from ..data.tokenizer import Tokenizer
from ..generation.kinds import CausalLM

DOCUMENTS = ("file", "blank-line", "line")
# a pretrained model's own sizes stay; only these may change for fine-tuning
FINE_TUNE_OVERRIDES = ("dropout", "embedding_dropout", "attention_dropout")


def pretrained_causal_lm(path: str | Path, model_overrides: dict | None = None):
    """(model, tokenizer) of a pretrained causal LM (a GPT) for fine-tuning, with the dropout overrides applied."""
    loaded = load(path).expect_kind("--init-from", CausalLM)
    if loaded.run is not None and loaded.run.kind != "language-model":
        raise ValueError(f"--init-from {path}: that is a {loaded.run.kind} run, not a language model")
    tokenizer = loaded.require_tokenizer("--init-from")
    refused = sorted(set(model_overrides or {}) - set(FINE_TUNE_OVERRIDES))
    if refused:
        raise ValueError(
            f"--init-from keeps the pretrained model's sizes; drop {refused} (only the dropouts may change)"
        )
    model = loaded.model
    if model_overrides:
        config = model.config.replace(**model_overrides)
        fresh = type(model)(config)
        fresh.load_state_dict(model.state_dict(), strict=True)
        fresh.generation_config = model.generation_config
        model = fresh
    return model, tokenizer  # train_lm checks the tokenizer against the model, as for every start


def reused_tokenizer(path: str | Path) -> Tokenizer | GPT2Tokenizer:
    """The tokenizer of a model directory or run, for ``tokenizer_from``."""
    loaded = load(path)
    return loaded.require_tokenizer("--tokenizer-from")


def check_vocabulary(tokenizer, vocab_size: int, where: str) -> None:
    if tokenizer.vocab_size > vocab_size:
        raise ValueError(
            f"{where}: the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is {vocab_size}; "
            "the tokenizer belongs to another model"
        )


def split_documents(text: str, documents: str) -> list[str]:
    if documents not in DOCUMENTS:
        raise ValueError(f"documents must be one of {DOCUMENTS}, got {documents!r}")
    if documents == "file":
        return [text]
    parts = re.split(r"\n[ \t]*\n+", text) if documents == "blank-line" else text.split("\n")
    return [p for p in parts if p.strip()]


def encode_documents(tokenizer, text: str, documents: str, dtype: torch.dtype = torch.int32) -> torch.Tensor:
    """(N,) ids of ``text`` (int32, or ``dtype``: int16 halves a large text's ids when the vocabulary
    fits): its documents with the EOS token between them."""
    parts = split_documents(text, documents)
    if len(parts) == 1:
        return tokenizer.encode_array(parts[0], dtype=dtype)
    if tokenizer.eos_token_id is None:
        raise ValueError("separating documents needs an EOS token; this tokenizer has none (set eos_token)")
    eos = torch.tensor([tokenizer.eos_token_id], dtype=dtype)
    pieces = []
    for i, part in enumerate(parts):
        ids = tokenizer.encode_array(part, dtype=dtype)
        pieces += [eos, ids] if i else [ids]
    return torch.cat(pieces)
