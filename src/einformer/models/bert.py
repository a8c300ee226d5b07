"""BERT (Devlin et al. 2019): a bidirectional Transformer encoder.

Read top-down: BertModel -> Embeddings -> layers (``einformer.nn.TransformerLayer``, post-norm, as
the paper) -> Pooler. Every
token sees every other (no causal mask); padding is masked out with ``attention_mask`` (1 = token).
Task heads are in ``bert_heads.py``. Shapes: B batch, T tokens, D model width.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor, nn

from ..config import BertConfig
from ..nn import Dropout, LayerNorm, LearnedPositionalEmbedding, transformer_layer
from .base import PreTrainedModel


@dataclasses.dataclass
class BertOutput:
    """Hugging Face's field names; attentions: one (B, H, T, T) tensor per layer."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


class BertPreTrainedModel(PreTrainedModel):
    """Shared loading: our own directories or Hugging Face BERT ones (strict key map)."""

    config_class = BertConfig

    def init_weights(self) -> None:
        """BERT's init: N(0, 0.02) matrices and embeddings, zero biases, unit LayerNorms."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @classmethod
    def from_einformer_dir(cls, directory: Path, **config_changes):
        """Our directory, with a head swapped in or out (``from_pretrained`` reads Hugging Face's BERT
        directories through the registry); ``config_changes`` (e.g. num_labels=3) apply before the
        weights are loaded (a new head then starts from random weights)."""
        return _load_own(cls, Path(directory), config_changes)


def _load_own(cls, directory: Path, changes: dict):
    """Our directory into ``cls``: an encoder into a task model (new head, with a warning) or back."""
    from ..checkpoint import load_state_strict, load_weights
    from .base import WEIGHTS_NAME, quantize_like_saved, read_own_config

    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory; pass a folder written by save_pretrained")
    config, quantized = read_own_config(cls, directory)
    if changes.get("num_labels", config.num_labels) != config.num_labels and "label_names" not in changes:
        changes = {**changes, "label_names": None}  # a new head: the saved names no longer apply
    config = config.replace(**changes)
    model = cls(config)
    state = load_weights(directory / WEIGHTS_NAME)
    saved_with_head = any(k.startswith("bert.") for k in state)
    if quantized is not None:  # the saved layers quantized here too, under this model's names
        nested = hasattr(model, "bert")
        prefix = (
            ("", "bert.")
            if nested and not saved_with_head
            else ("bert.", "")
            if not nested and saved_with_head
            else ("", "")
        )
        quantize_like_saved(model, quantized, directory, prefix)
    if hasattr(model, "bert") and not saved_with_head:
        state = {f"bert.{k}": v for k, v in state.items()}
    elif not hasattr(model, "bert") and saved_with_head:  # keep the encoder of a task model
        state = {k.removeprefix("bert."): v for k, v in state.items() if k.startswith("bert.")}
    expected = model.state_dict()
    missing_pooler = sorted(k for k in expected if k.startswith("pooler.") and k not in state)
    if not hasattr(model, "bert") and missing_pooler:  # a bare encoder from a pooler-less head's directory
        import warnings

        warnings.warn(
            f"{directory} has no pooler weights (a masked-LM, tagging or QA model); the pooler starts from "
            "random values, as in transformers. Token states and attention are unaffected.",
            stacklevel=3,
        )
        state.update({k: expected[k] for k in missing_pooler})
    is_head = lambda k: hasattr(model, "bert") and not k.startswith("bert.")  # noqa: E731
    # a head the directory lacks, or whose shape changed (e.g. num_labels), starts from random values
    new = sorted(
        k
        for k in expected
        if is_head(k) and k != "mlm.decoder.weight" and (k not in state or state[k].shape != expected[k].shape)
    )
    if new:
        from .. import notices

        notices.warn(
            f"{cls.__name__}: no saved weights for {', '.join(new)}; they start from random values",
            notices.NewWeightsWarning,
        )
        state.update({k: expected[k] for k in new})
    # weights of another task's head are not this model's; the encoder's keys stay strict
    # ... nor is a pooler that a pooler-less head (masked LM, tagging, QA) does not have
    state = {k: v for k, v in state.items() if (not is_head(k) or k in expected) and not _unused_pooler(k, expected)}
    load_state_strict(model, state, source=str(directory / WEIGHTS_NAME))
    return model


def _unused_pooler(key: str, expected: dict) -> bool:
    return ".pooler." in f".{key}" and key not in expected


class BertModel(BertPreTrainedModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D) and pooler_output (B, D).

    ``add_pooling_layer=False`` drops the pooler, as Hugging Face does for the masked-LM,
    token-classification and question-answering heads, which read token states only.
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        c = config
        self.embeddings = Embeddings(
            c.vocab_size,
            c.d_embed,
            c.max_position,
            c.type_vocab_size,
            c.pad_token_id,
            dropout=c.dropout,
            eps=c.layer_norm_eps,
            position_offset=c.position_offset,
            d_model=c.d_model,
        )
        self.layers = nn.ModuleList(
            transformer_layer(
                c.d_model,
                c.n_heads,
                c.d_ff,
                activation=c.activation,
                dropout=c.dropout,
                attention_dropout=c.attention_dropout,
                eps=c.layer_norm_eps,
            )
            for _ in range(c.n_layers)
        )
        self.pooler = Pooler(c.d_model) if add_pooling_layer else None
        self.init_weights()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> BertOutput:
        """Args: input_ids, attention_mask (1 = token), token_type_ids (segment A = 0, B = 1), position_ids,
        all (B, T); ``output_attentions`` routes attention through the reference path."""
        t = input_ids.shape[1]
        if t > self.config.max_position:
            raise ValueError(
                f"sequence of {t} tokens is longer than max_position_embeddings="
                f"{self.config.max_position}; truncate it (tokenizer truncation=True)"
            )
        x = self.embeddings(input_ids, token_type_ids, position_ids)
        mask = attention_mask if attention_mask is not None and not bool(attention_mask.all()) else None
        hidden, weights = [x], []
        for layer in self.layers:
            x, w = layer(x, mask, need_weights=output_attentions)
            hidden.append(x)
            weights.append(w)
        return BertOutput(
            x,
            self.pooler(x) if self.pooler is not None else None,
            tuple(hidden) if output_hidden_states else None,
            tuple(weights) if output_attentions else None,
        )


class Embeddings(nn.Module):
    """word + position + token type, then LayerNorm and dropout (and a projection to d_model when the
    embeddings are narrower: ELECTRA).

    Named departures from BERT, for the families that share its encoder:
    * ``type_vocab_size=0``: no token-type embeddings (DistilBERT); ``token_type_ids`` are then ignored,
      as Hugging Face's tokenizers for it never send them;
    * ``position_offset`` (RoBERTa): positions are counted over the non-padding tokens of each row and
      read row ``offset + p``; padding reads row ``pad_token_id`` (``position_ids``, when given, are
      then 0-based with -1 for padding);
    * ``d_model`` wider than ``d_embed`` (ELECTRA): a linear map after the dropout.
    """

    def __init__(
        self,
        vocab_size,
        d_embed,
        max_position,
        type_vocab_size,
        pad_token_id,
        *,
        dropout,
        eps,
        position_offset: int | None = None,
        d_model: int | None = None,
    ):
        super().__init__()
        self.pad_token_id, self.position_offset = pad_token_id, position_offset
        self.word = nn.Embedding(vocab_size, d_embed, padding_idx=pad_token_id)
        self.position = LearnedPositionalEmbedding(max_position, d_embed, offset=position_offset or 0)
        self.token_type = nn.Embedding(type_vocab_size, d_embed) if type_vocab_size else None
        self.norm = LayerNorm(d_embed, eps=eps)
        self.dropout = Dropout(dropout)
        self.project = nn.Linear(d_embed, d_model) if d_model not in (None, d_embed) else None

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None, position_ids: Tensor | None) -> Tensor:
        """(B, T) -> (B, T, D)."""
        if position_ids is None and self.position_offset is not None:
            real = (input_ids != self.pad_token_id).long()  # (B, T)
            position_ids = real.cumsum(1) * real - 1  # 0, 1, ... over real tokens; -1 (the pad row) on padding
        elif position_ids is None:
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        x = self.word(input_ids) + self.position(position_ids)
        if self.token_type is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = x + self.token_type(token_type_ids)
        x = self.dropout(self.norm(x))
        return self.project(x) if self.project is not None else x


class Pooler(nn.Module):
    """tanh(W h_[CLS] + b): the sentence vector the next-sentence and classification heads read."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)

    def forward(self, hidden: Tensor) -> Tensor:
        """(B, T, D) -> (B, D)."""
        return torch.tanh(self.dense(hidden[:, 0]))
