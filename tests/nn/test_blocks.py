"""Feed-forward, embeddings and the residual sub-layer, against torch's own layers and formulas."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from einformer.nn import (
    FeedForward,
    LearnedPositionalEmbedding,
    RMSNorm,
    SinusoidalPositionalEmbedding,
    TokenEmbedding,
    TransformerLayer,
    sinusoidal_table,
    transformer_layer,
)
from tests.nn.test_multihead import copy_into


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_layer_equals_torch_transformer_encoder_layer(norm_first, activation):
    d, h, ff = 32, 4, 64
    theirs = nn.TransformerEncoderLayer(
        d, h, ff, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
    ).eval()
    for p in theirs.parameters():
        nn.init.normal_(p, std=0.2)
    ours = transformer_layer(d, h, ff, activation=activation, norm_first=norm_first).eval()
    copy_into(ours.attn, theirs.self_attn)
    ours.ffn.fc1.load_state_dict(theirs.linear1.state_dict())
    ours.ffn.fc2.load_state_dict(theirs.linear2.state_dict())
    ours.attn_norm.load_state_dict(theirs.norm1.state_dict())
    ours.ffn_norm.load_state_dict(theirs.norm2.state_dict())
    x = torch.randn(3, 7, d)
    keep = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 6 + [0]])
    with torch.no_grad():
        expected = theirs(x, src_key_padding_mask=keep == 0)
        got, _ = ours(x, keep)
    real = keep.bool()  # torch's fast path leaves padded query rows undefined; compare real tokens
    assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "activation,formula",
    [
        ("relu", F.relu),
        ("gelu", lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))),
        ("gelu_tanh", lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
        ("silu", lambda x: x * torch.sigmoid(x)),
    ],
)
def test_feedforward_matches_formula(activation, formula):
    ffn = FeedForward(8, 16, activation=activation).double()
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    expected = formula(x @ ffn.fc1.weight.T + ffn.fc1.bias) @ ffn.fc2.weight.T + ffn.fc2.bias
    assert_close(ffn(x), expected, atol=1e-12, rtol=0)


def test_swiglu():
    ffn = FeedForward(8, 16, activation="swiglu", bias=False).double()
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    a, g = x @ ffn.fc1.weight.T, x @ ffn.gate.weight.T
    assert_close(ffn(x), (a * torch.sigmoid(a) * g) @ ffn.fc2.weight.T, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        FeedForward(8, 16, activation="tanh")


def test_sinusoidal_table_is_the_papers_formula():
    d, table = 10, sinusoidal_table(20, 10)
    for pos in range(20):
        for i in range(d):
            angle = pos / 10000 ** (2 * (i // 2) / d)
            expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert abs(table[pos, i].item() - expected) < 1e-6
    odd = sinusoidal_table(5, 7)  # an odd width keeps its last sine column
    assert odd.shape == (5, 7) and abs(odd[3, 6].item() - math.sin(3 / 10000 ** (6 / 7))) < 1e-6


def test_position_embeddings_look_up_and_check_range():
    sin = SinusoidalPositionalEmbedding(16, 8)
    assert_close(sin(torch.tensor([[0, 3]])), sinusoidal_table(16, 8)[[0, 3]][None])
    assert sin.state_dict() == {}  # fixed, not saved
    learned = LearnedPositionalEmbedding(16, 8)
    assert_close(learned(torch.arange(4)), learned.weight[:4])
    for emb in (sin, learned):
        with pytest.raises(ValueError, match="position 16 is beyond the model's max_position=16"):
            emb(torch.arange(17))


def test_token_embedding_scale_and_range():
    emb = TokenEmbedding(10, 4, scale=2.0)
    ids = torch.tensor([[1, 9]])
    assert_close(emb(ids), 2.0 * emb.weight[ids])
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 10\); got values from 1 to 10"):
        emb(torch.tensor([[1, 10]]))


def test_the_layer_writes_the_papers_two_residual_orders():
    """Post-norm: Norm(x + Sublayer(x)); pre-norm: x + Sublayer(Norm(x)), for parts the layer is given."""
    x = torch.randn(2, 3, 8)

    class Attn(nn.Module):  # a stand-in attention with MultiHeadAttention's call signature
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, h, **kwargs):
            return self.lin(h), None

    attn, ffn, n1, n2 = Attn(), nn.Linear(8, 8), nn.LayerNorm(8), RMSNorm(8)
    for p in (*n1.parameters(), *n2.parameters()):
        nn.init.normal_(p)
    post = TransformerLayer(attn=attn, ffn=ffn, attn_norm=n1, ffn_norm=n2, norm_first=False)
    pre = TransformerLayer(attn=attn, ffn=ffn, attn_norm=n1, ffn_norm=n2, norm_first=True)
    y = n1(x + attn.lin(x))
    assert_close(post(x)[0], n2(y + ffn(y)))
    y = x + attn.lin(n1(x))
    assert_close(pre(x)[0], y + ffn(n2(y)))


def test_rms_norm_is_the_formula_and_transformers_llama_rms_norm():
    norm = RMSNorm(8, eps=1e-6)
    nn.init.normal_(norm.weight)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.weight.double()
    assert_close(norm.double()(x), expected, atol=1e-12, rtol=0)
    modeling = pytest.importorskip("transformers.models.llama.modeling_llama")
    theirs = modeling.LlamaRMSNorm(8, eps=1e-6)
    theirs.weight.data.copy_(norm.weight.float())
    xb = torch.randn(4, 8).bfloat16()  # computed in fp32 and cast back as transformers does
    assert torch.equal(norm.float()(xb), theirs(xb))
    for width in (8, 64, 896):  # fp32 takes torch's one operator: the same bits as transformers' formula
        norm, theirs = RMSNorm(width, eps=1e-5), modeling.LlamaRMSNorm(width, eps=1e-5)
        nn.init.normal_(norm.weight)
        theirs.weight.data.copy_(norm.weight)
        x = torch.randn(2, 5, 3, width).transpose(1, 2) * 4  # not contiguous, as q/k heads are
        assert torch.equal(norm(x), theirs(x))
    scripted = torch.jit.script(RMSNorm(8, eps=1e-6))  # as before the fp32 branch
    x = torch.randn(3, 8)
    assert torch.equal(scripted(x), RMSNorm(8, eps=1e-6)(x))
