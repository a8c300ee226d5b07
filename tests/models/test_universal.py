"""The Universal Transformer: without ACT it is the shared layer applied T times with the timing
signals (checked against an explicit loop with an independently built signal); with ACT, padding
and later target tokens change nothing, the ponder cost enters the loss and trains the halting
units, greedy generation equals step-by-step argmax, and save/load round-trips."""

import math

import pytest
import torch

from einformer import UniversalTransformer, UniversalTransformerConfig


def model(**kw):
    torch.manual_seed(0)
    config = UniversalTransformerConfig.from_preset("tiny", src_vocab_size=12, tgt_vocab_size=14, **kw)
    return UniversalTransformer(config).double().eval()


def batch():
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 12, (3, 7), generator=g)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, 5:] = 0
    src = src.masked_fill(mask == 0, 0)
    labels = torch.randint(4, 14, (3, 5), generator=g)
    return src, mask, labels


def signal(length, step, d):
    """Dehghani et al. eq. 4, written out per element."""
    out = torch.zeros(length, d, dtype=torch.float64)
    for i in range(length):
        for j in range(d // 2):
            rate = 10000 ** (2 * j / d)
            out[i, 2 * j] = math.sin(i / rate) + math.sin(step / rate)
            out[i, 2 * j + 1] = math.cos(i / rate) + math.cos(step / rate)
    return out


def test_without_act_it_is_the_shared_layer_applied_t_times_with_timing_signals():
    m = model(act=False, max_steps=3)
    src, mask, labels = batch()
    out = m(src, mask, labels=labels)
    d = m.config.d_model
    h = m.src_embed(src)
    for t in range(1, 4):
        h = m.encoder_layer(h + signal(7, t, d).to(h), mask)[0]
    torch.testing.assert_close(out.encoder_last_hidden_state, h, rtol=0, atol=1e-5)
    y = m.tgt_embed(m.shift_right(labels))
    for t in range(1, 4):
        y = m.decoder_layer(y + signal(5, t, d).to(y), h, mask)[0]
    torch.testing.assert_close(out.logits, m.lm_head(y), rtol=0, atol=1e-5)
    assert out.ponder_steps.tolist() == (3 * mask).tolist() and float(out.ponder_cost) == 0.0


def test_act_statistics_are_in_range_and_padding_changes_nothing_else():
    m = model(act=True, max_steps=6, act_init_bias=-1.0)
    src, mask, labels = batch()
    out = m(src, mask, labels=labels)
    real = mask.bool()
    assert ((out.ponder_steps >= 1) & (out.ponder_steps <= 6))[real].all()
    assert ((out.remainders > m.config.act_epsilon) & (out.remainders <= 1))[real].all()
    assert (out.ponder_steps[~real] == 0).all()
    # row 0 alone, without its padding, gives the same results for its real positions
    alone = m(src[:1, :5], mask[:1, :5], labels=labels[:1])
    torch.testing.assert_close(alone.logits, out.logits[:1], rtol=0, atol=1e-9)
    torch.testing.assert_close(alone.ponder_steps, out.ponder_steps[:1, :5])
    # more padding after the source changes nothing either
    wider = m(torch.cat([src, 0 * src[:, :2]], 1), torch.cat([mask, 0 * mask[:, :2]], 1), labels=labels)
    torch.testing.assert_close(wider.logits, out.logits, rtol=0, atol=1e-9)


def test_decoder_with_act_is_causal():
    m = model(act=True, max_steps=6, act_init_bias=-1.0)
    src, mask, labels = batch()
    full = m(src, mask, decoder_input_ids=m.shift_right(labels))
    changed = labels.clone()
    changed[:, 3:] = 5
    other = m(src, mask, decoder_input_ids=m.shift_right(changed))
    torch.testing.assert_close(full.logits[:, :4], other.logits[:, :4], rtol=0, atol=1e-12)
    torch.testing.assert_close(full.decoder_ponder_steps[:, :4], other.decoder_ponder_steps[:, :4])


def test_ponder_cost_is_in_the_loss_and_trains_the_halting_units():
    m = model(act=True, max_steps=6, act_init_bias=-1.0, ponder_weight=0.5)
    src, mask, labels = batch()
    out = m(src, mask, labels=labels)
    plain = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), labels.flatten())
    torch.testing.assert_close(out.loss, plain + 0.5 * out.ponder_cost)
    enc_real = mask.bool()
    expected = (out.ponder_steps + out.remainders)[enc_real].mean() + (
        out.decoder_ponder_steps + out.decoder_remainders
    ).mean()
    torch.testing.assert_close(out.ponder_cost, expected)
    out.loss.backward()
    for act in (m.encoder_act, m.decoder_act):
        assert act.halting.weight.grad.abs().sum() > 0 and act.halting.bias.grad.abs() > 0


@pytest.mark.parametrize("act", [False, True])
def test_greedy_generation_equals_stepwise_argmax(act):
    m = model(act=act, max_steps=4, act_init_bias=-1.0)
    src, mask, _ = batch()
    out = m.generate(src, mask, max_new_tokens=5, eos_token_id=None)
    ids = torch.full((3, 1), m.config.bos_token_id)
    for _ in range(5):
        logits = m(src, mask, decoder_input_ids=ids).logits[:, -1]
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
    assert out.tolist() == ids.tolist()


def test_save_and_load_round_trip(tmp_path):
    m = model(act=True, act_mode="ut")
    src, mask, labels = batch()
    m.save_pretrained(tmp_path / "ut")
    loaded = UniversalTransformer.from_pretrained(tmp_path / "ut").double()
    assert loaded.config == m.config
    torch.testing.assert_close(loaded(src, mask, labels=labels).logits, m(src, mask, labels=labels).logits)


def test_bad_config_and_long_input_are_clear_errors():
    with pytest.raises(ValueError, match="act_mode"):
        UniversalTransformerConfig(act_mode="mean")
    with pytest.raises(ValueError, match="max_steps"):
        UniversalTransformerConfig(max_steps=0)
    m = model(max_position=8)
    with pytest.raises(ValueError, match="max_position"):
        m(torch.full((1, 9), 5), labels=torch.full((1, 2), 5))
