"""Adaptive embeddings and softmax: a distribution over the whole vocabulary, NLL = -log p of the
target, a plain softmax when there are no cutoffs, tied tensors shared."""

import pytest
import torch

from einformer.nn.adaptive import AdaptiveEmbedding, AdaptiveLogSoftmax


def pair(cutoffs=(10, 30), div_val=2, d_embed=16, d_proj=12, tie=True):
    torch.manual_seed(0)
    emb = AdaptiveEmbedding(50, d_embed, d_proj, cutoffs=cutoffs, div_val=div_val).double()
    soft = AdaptiveLogSoftmax(
        50, d_embed, d_proj, cutoffs=cutoffs, div_val=div_val, tie_embedding=emb if tie else None
    ).double()
    return emb, soft


def test_adaptive_softmax_normalises_and_nll_matches_log_probs():
    _, soft = pair()
    h = torch.randn(40, 12, dtype=torch.float64)
    logp = soft.log_probs(h)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(40, dtype=torch.float64))
    target = torch.randint(0, 50, (40,))
    target[3] = -100
    nll = soft.nll(h, target)
    expected = -logp.gather(1, target.clamp(min=0)[:, None]).squeeze(1)
    expected[3] = 0.0
    torch.testing.assert_close(nll, expected, rtol=0, atol=1e-12)
    assert {int(t) // 10 for t in target if t >= 0} >= {0, 1, 2, 3}  # every cluster exercised


def test_no_cutoffs_is_a_plain_softmax_and_embedding():
    emb, soft = pair(cutoffs=(), d_embed=12, d_proj=12)
    h = torch.randn(5, 12, dtype=torch.float64)
    linear = soft.outputs[0]
    torch.testing.assert_close(soft.log_probs(h), torch.log_softmax(linear(h), -1))
    ids = torch.tensor([[1, 2, 49]])
    torch.testing.assert_close(emb(ids), emb.embeddings[0].weight[ids] * 12**0.5)


def test_tied_tensors_share_storage_and_widths_follow_div_val():
    emb, soft = pair()
    assert [e.weight.shape[1] for e in emb.embeddings] == [16, 8, 4]
    for out, table in zip(soft.outputs, emb.embeddings, strict=True):
        assert out.weight.data_ptr() == table.weight.data_ptr()
    for out_proj, in_proj in zip(soft.projections, emb.projections, strict=True):
        assert out_proj.linear is in_proj  # used transposed
    _, untied = pair(tie=False)
    assert untied.outputs[0].weight.data_ptr() != emb.embeddings[0].weight.data_ptr()


def test_embedding_routes_every_id_to_its_cluster():
    emb, _ = pair()
    ids = torch.tensor([[0, 9, 10, 29, 30, 49]])
    out = emb(ids)
    for col, i in enumerate(ids[0].tolist()):
        c = 0 if i < 10 else 1 if i < 30 else 2
        lo = (0, 10, 30)[c]
        expected = emb.projections[c](emb.embeddings[c].weight[i - lo]) * 12**0.5
        torch.testing.assert_close(out[0, col], expected)


def test_bad_cutoffs_and_ids_are_clear_errors():
    with pytest.raises(ValueError, match="cutoffs"):
        AdaptiveEmbedding(50, 16, 16, cutoffs=(30, 10))
    emb, _ = pair()
    with pytest.raises(ValueError, match="input_ids"):
        emb(torch.tensor([[50]]))
