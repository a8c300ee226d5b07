"""Transformer-XL: segments with memory equal one full causal pass; the memory update rule, its
stop-gradient and causality; same_length and clamp_len; the adaptive softmax inside the model;
batch rows independent; generation with memory; save/load."""

import pytest
import torch

from einformer import TransformerXL, TransformerXLConfig


def model(**kw):
    torch.manual_seed(0)
    config = TransformerXLConfig.from_preset("tiny", dropout=0.0, **kw)
    return TransformerXL(config).double().eval()


def ids(b=2, t=24, seed=1):
    return torch.randint(0, 99, (b, t), generator=torch.Generator().manual_seed(seed))


def in_segments(m, x, sizes, **kw):
    out, mems, start = [], None, 0
    for size in sizes:
        o = m(x[:, start : start + size], mems=mems, **kw)
        out.append(o.logits)
        mems, start = o.mems, start + size
    return torch.cat(out, 1), mems


@pytest.mark.parametrize(
    "kw", [{}, {"norm_first": True}, {"untie_r": True}, {"cutoffs": (20, 60), "div_val": 2, "d_embed": 64}]
)
def test_segments_with_memory_equal_one_full_causal_pass(kw):
    m = model(**kw)
    x = ids()
    full = m(x, mem_len=24).logits
    segmented, _ = in_segments(m, x, [7, 9, 8], mem_len=24)
    torch.testing.assert_close(segmented, full, rtol=0, atol=1e-8)
    # without the memory the later segments differ: the memory is what carries the context
    cut = torch.cat([m(x[:, :7]).logits, m(x[:, 7:16]).logits, m(x[:, 16:]).logits], 1)
    assert (cut[:, 7:] - full[:, 7:]).abs().max() > 1e-3


def test_memory_update_rule_shapes_and_stop_gradient():
    m = model()
    x = ids(t=30)
    o1 = m(x[:, :10], mem_len=16, output_hidden_states=True)
    assert [t.shape for t in o1.mems] == [(2, 10, 32)] * 2  # shorter than mem_len: everything kept
    for layer, mem in enumerate(o1.mems):
        torch.testing.assert_close(mem, o1.hidden_states[layer])  # each layer keeps its own input
    o2 = m(x[:, 10:30], mems=o1.mems, mem_len=16, output_hidden_states=True)
    for layer, mem in enumerate(o2.mems):
        expected = torch.cat([o1.mems[layer], o2.hidden_states[layer]], 1)[:, -16:]
        torch.testing.assert_close(mem, expected)
        assert mem.shape == (2, 16, 32) and mem.grad_fn is None and not mem.requires_grad
    m.train()
    o1 = m(x[:, :10], mem_len=16)
    loss = m(x[:, 10:20], mems=o1.mems, labels=x[:, 11:21]).loss
    grads = torch.autograd.grad(loss, list(m.parameters()), allow_unused=True)
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert o1.mems[0].grad_fn is None  # no gradient path into the earlier segment


def test_causal_through_memory():
    m = model()
    x = ids(t=20)
    base, _ = in_segments(m, x, [10, 10], mem_len=20)
    changed = x.clone()
    changed[:, 14] = (changed[:, 14] + 1) % 99
    later, _ = in_segments(m, changed, [10, 10], mem_len=20)
    torch.testing.assert_close(later[:, :14], base[:, :14], rtol=0, atol=0)
    assert (later[:, 14:] - base[:, 14:]).abs().max() > 1e-6
    early = x.clone()
    early[:, 3] = (early[:, 3] + 1) % 99
    through, _ = in_segments(m, early, [10, 10], mem_len=20)
    assert (through[:, 10:] - base[:, 10:]).abs().max() > 1e-6  # the earlier segment reaches through memory


def test_same_length_and_clamp_len():
    m = model(same_length=True, mem_len=6)
    x = ids(t=12)
    o1 = m(x[:, :6])
    o2 = m(x[:, 6:], mems=o1.mems, output_attentions=True)
    for w in o2.attentions:
        assert ((w > 0).sum(-1) == 6).all()  # every query sees exactly mem_len keys
    # clamping at a distance beyond every distance in the input changes nothing; a short clamp does
    plain = model()(x).logits
    torch.testing.assert_close(model(clamp_len=50)(x).logits, plain, rtol=0, atol=0)
    assert (model(clamp_len=2)(x).logits - plain).abs().max() > 1e-6


def test_loss_is_the_mean_nll_of_the_log_probabilities_and_rows_are_independent():
    m = model(cutoffs=(20, 60), div_val=2, d_embed=64)
    x = ids()
    labels = torch.roll(x, -1, 1)
    labels[:, -1] = -100
    logp = m(x).logits
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 24, dtype=torch.float64))
    expected = -logp[:, :-1].gather(2, labels[:, :-1, None]).mean()
    torch.testing.assert_close(m(x, labels=labels).loss, expected)
    torch.testing.assert_close(m(x[1:]).logits, logp[1:], rtol=0, atol=1e-12)


def test_generation_with_memory_equals_stepwise_argmax():
    m = model(mem_len=64, segment_length=5)
    prompt = ids(b=2, t=12)
    out = m.generate(prompt, max_new_tokens=6)
    seq = prompt
    for _ in range(6):
        seq = torch.cat([seq, m(seq, mem_len=64).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert out.tolist() == seq.tolist()
    with pytest.raises(ValueError, match="unpadded"):
        m.generate(prompt, torch.tensor([[0] + [1] * 11, [1] * 12]), max_new_tokens=2)


def test_save_and_load_round_trip(tmp_path):
    m = model(cutoffs=(20, 60), div_val=2, d_embed=64)
    m.save_pretrained(tmp_path / "xl")
    loaded = TransformerXL.from_pretrained(tmp_path / "xl").double()
    assert loaded.config == m.config and loaded.config.cutoffs == (20, 60)
    x = ids()
    torch.testing.assert_close(loaded(x).logits, m(x).logits)
    out = loaded.softmax.outputs[1].weight
    assert out.data_ptr() == loaded.embed.embeddings[1].weight.data_ptr()


def test_bad_mems_and_config_are_clear_errors():
    m = model()
    with pytest.raises(ValueError, match="mems"):
        m(ids(), mems=(torch.zeros(3, 1, 32),) * 2)
    with pytest.raises(ValueError, match="cutoffs"):
        TransformerXLConfig.from_preset("tiny", cutoffs=(50, 20))


def test_zero_filled_memory_is_a_named_departure_from_empty_memory():
    x = ids(t=8)
    empty, zeros = model(), model(mem_init="zeros", mem_len=6)
    explicit = tuple(torch.zeros(2, 6, 32, dtype=torch.float64) for _ in range(2))
    torch.testing.assert_close(zeros(x).logits, empty(x, mems=explicit).logits, rtol=0, atol=0)
    assert (zeros(x).logits - empty(x).logits).abs().max() > 1e-6  # zero states are attended like text
    with pytest.raises(ValueError, match="mem_init"):
        TransformerXLConfig.from_preset("tiny", mem_init="random")
