"""The named options nn/ gained for ModernBERT: an encoder's symmetric local window
(``masks.local_window_keep``) against a brute-force loop and transformers' own mask function, and
``TransformerLayer(ffn_dropout=...)``, which drops the feed-forward's output at its own rate."""

import pytest
import torch
from torch.testing import assert_close

from einformer.nn import FeedForward, MultiHeadAttention, TransformerLayer
from einformer.nn.masks import local_window_keep, merge_masks, padding_keep


@pytest.mark.parametrize("radius, t", [(0, 5), (1, 6), (2, 11), (64, 70), (5, 3)])
def test_local_window_is_symmetric_and_equals_brute_force(radius, t):
    keep = local_window_keep(radius, t)
    assert keep.shape == (1, 1, t, t) and keep.dtype == torch.bool
    expected = torch.tensor([[abs(i - j) <= radius for j in range(t)] for i in range(t)])
    assert torch.equal(keep[0, 0], expected)


def test_local_window_equals_transformers_bidirectional_sliding_window():
    masking = pytest.importorskip("transformers.masking_utils")
    for radius in (1, 2, 64):
        inner = masking.sliding_window_bidirectional_overlay(radius)
        t = 2 * radius + 5
        theirs = torch.tensor([[bool(inner(0, 0, i, j)) for j in range(t)] for i in range(t)])
        assert torch.equal(local_window_keep(radius, t)[0, 0], theirs)


def test_local_window_with_padding_leaves_padding_keys_out():
    mask = torch.tensor([[1, 1, 1, 1, 0], [0, 1, 1, 1, 1]])
    keep = merge_masks(padding_keep(mask), local_window_keep(1, 5))  # (2, 1, 5, 5)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                assert bool(keep[b, 0, i, j]) == (abs(i - j) <= 1 and bool(mask[b, j]))
    with pytest.raises(ValueError, match="radius"):
        local_window_keep(-1, 3)


def _layer(**dropouts) -> TransformerLayer:
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2)
    ffn = FeedForward(8, 16, activation="geglu")
    return TransformerLayer(attn=attn, ffn=ffn, attn_norm=torch.nn.LayerNorm(8), ffn_norm=torch.nn.LayerNorm(8),
                            norm_first=True, **dropouts)  # fmt: skip


def test_ffn_dropout_zero_keeps_the_feed_forward_output_whole_while_training():
    """With the attention's output zero, a pre-norm layer is x + FFN(Norm(x)); ffn_dropout=0 keeps it so
    even while dropout=0.5 applies elsewhere."""
    layer = _layer(dropout=0.5, ffn_dropout=0.0).train()
    for p in layer.attn.out_proj.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 5, 8)
    out, _ = layer(x)
    assert_close(out, x + layer.ffn(layer.ffn_norm(x)))
    layer.ffn_dropout = None  # the default: the feed-forward's output is dropped at dropout=0.5
    out, _ = layer(x)
    assert not torch.allclose(out, x + layer.ffn(layer.ffn_norm(x)))


def test_ffn_dropout_default_is_the_layer_dropout():
    """No ffn_dropout: the same draws as ffn_dropout=dropout (so other families' layers are unchanged)."""
    x = torch.randn(2, 5, 8)
    outs = []
    for dropouts in (dict(dropout=0.3), dict(dropout=0.3, ffn_dropout=0.3)):
        layer = _layer(**dropouts).train()
        torch.manual_seed(1)
        outs.append(layer(x)[0])
    assert torch.equal(outs[0], outs[1])
