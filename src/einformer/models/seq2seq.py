"""What the two sequence-to-sequence models (the encoder-decoder and the Universal Transformer) share:
the decoder's inputs (labels shifted right), the layer arguments read from their configs, and the
reference initialisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def init_weights(model: nn.Module, embeddings: list[nn.Embedding], *, skip: tuple[str, ...] = ()) -> None:
    """Xavier-uniform matrices (as the reference tensor2tensor code), except embeddings and parameters
    whose names contain one of ``skip``; N(0, D^-1/2) embeddings with a zero padding row."""
    for name, p in model.named_parameters():
        if p.dim() > 1 and "embed" not in name and not any(part in name for part in skip):
            nn.init.xavier_uniform_(p)
    for emb in embeddings:
        nn.init.normal_(emb.weight, std=model.config.d_model**-0.5)
        with torch.no_grad():
            emb.weight[model.config.pad_token_id].zero_()


def layer_arguments(c) -> dict:
    """The keyword arguments of an encoder or decoder layer, read from a config with these fields."""
    return dict(
        d_model=c.d_model,
        n_heads=c.n_heads,
        d_ff=c.d_ff,
        dropout=c.dropout,
        attention_dropout=c.attention_dropout,
        activation=c.activation,
        norm_first=c.norm_first,
        eps=c.layer_norm_eps,
    )


def shift_right(labels: Tensor, pad_token_id: int, bos_token_id: int) -> Tensor:
    """(B, T) labels -> decoder inputs [BOS, y_1, ..., y_{T-1}], -100 read as padding."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 0] = bos_token_id
    shifted[:, 1:] = labels[:, :-1].masked_fill(labels[:, :-1] == -100, pad_token_id)
    return shifted
