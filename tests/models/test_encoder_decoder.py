"""The encoder-decoder Transformer: learning, masking by perturbation, cached decoding, save/load."""

import itertools

import pytest
import torch
from torch.testing import assert_close

from einformer import EncoderDecoderConfig, EncoderDecoderTransformer


def tiny(**kw):
    config = EncoderDecoderConfig.from_preset("tiny", src_vocab_size=20, tgt_vocab_size=24, **kw)
    return EncoderDecoderTransformer(config)


def batch():
    src = torch.randint(4, 20, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    src = src.masked_fill(mask == 0, 0)
    return src, mask


def test_overfits_a_tiny_batch():
    model = tiny(label_smoothing=0.0)
    src, mask = batch()
    labels = torch.tensor([[5, 6, 7, 2], [8, 9, 2, -100], [10, 2, -100, -100]])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = model(src, mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.02
    out = model.generate(src, mask, max_new_tokens=6)
    assert out[0, 1:5].tolist() == [5, 6, 7, 2]
    assert out[1, 1:4].tolist() == [8, 9, 2] and out[2, 1:3].tolist() == [10, 2]


@pytest.mark.parametrize("norm_first", [False, True])
def test_source_padding_is_ignored(norm_first):
    model = tiny(norm_first=norm_first).eval()
    src, mask = batch()
    dec = torch.randint(4, 24, (3, 5))
    base = model(src, mask, decoder_input_ids=dec).logits
    noisy = src.clone()
    noisy[mask == 0] = torch.randint(4, 20, (int((mask == 0).sum()),))
    assert_close(model(noisy, mask, decoder_input_ids=dec).logits, base, atol=1e-6, rtol=0)
    changed = src.clone()
    changed[1, 0] = (changed[1, 0] + 1 - 4) % 16 + 4  # a real token does matter
    assert not torch.allclose(model(changed, mask, decoder_input_ids=dec).logits[1], base[1])


def test_target_is_causal():
    model = tiny().eval()
    src, mask = batch()
    dec = torch.randint(4, 24, (3, 6))
    base = model(src, mask, decoder_input_ids=dec).logits
    for j in range(6):
        changed = dec.clone()
        changed[:, j:] = torch.randint(4, 24, changed[:, j:].shape)
        out = model(src, mask, decoder_input_ids=changed).logits
        assert_close(out[:, :j], base[:, :j], atol=1e-6, rtol=0)


def test_labels_shift_right_and_ignore_index():
    model = tiny(label_smoothing=0.0).eval()
    labels = torch.tensor([[5, 6, 2, -100]])
    assert model.shift_right(labels).tolist() == [[1, 5, 6, 2]]
    src, mask = batch()
    out = model(src[:1], mask[:1], labels=labels)
    logp = out.logits.log_softmax(-1)[0]
    assert_close(out.loss, -(logp[0, 5] + logp[1, 6] + logp[2, 2]) / 3)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_cached_generation_equals_uncached(num_beams):
    model = tiny()
    src, mask = batch()
    kw = dict(max_new_tokens=9, num_beams=num_beams, eos_token_id=999)  # never stops early
    plain = model.generate(src, mask, use_cache=False, **kw)
    assert torch.equal(model.generate(src, mask, **kw), plain)
    assert torch.equal(model.generate(src, mask, cache_implementation="static", **kw), plain)


def sequence_score(model, src, mask, seq, length_penalty):
    """Oracle: teacher-forced sum of log-probs of seq after BOS, over len(seq) ** length_penalty."""
    dec = torch.tensor([[1] + list(seq[:-1])])
    logp = model(src, mask, decoder_input_ids=dec).logits.log_softmax(-1)[0]
    return sum(logp[i, t].item() for i, t in enumerate(seq)) / len(seq) ** length_penalty


@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_beam_search_equals_exhaustive_search(length_penalty):
    """With num_beams >= V^(steps-1) nothing is pruned: beam search must find the global best."""
    torch.manual_seed(3)
    config = EncoderDecoderConfig.from_preset("tiny", src_vocab_size=20, tgt_vocab_size=5)
    model = EncoderDecoderTransformer(config).eval()
    src, mask = batch()
    src, mask = src[:1], mask[:1]
    candidates = []
    for n in (1, 2, 3):
        for seq in itertools.product(range(5), repeat=n):
            if 2 in seq[:-1] or (n < 3 and seq[-1] != 2):
                continue  # a sequence ends at its first EOS, or at the length limit
            candidates.append((sequence_score(model, src, mask, seq, length_penalty), seq))
    best_score, best = max(candidates)
    out = model.generate(
        src,
        mask,
        max_new_tokens=3,
        num_beams=25,
        length_penalty=length_penalty,
        early_stopping="never",
        return_dict_in_generate=True,
        output_scores=True,
    )
    got = [t for t in out.sequences[0, 1:].tolist()]
    assert tuple(got[: len(best)]) == best
    assert_close(out.sequences_scores[0].item(), best_score, atol=1e-5, rtol=0)


def test_beam_returns_sorted_distinct_hypotheses():
    model = tiny()
    src, mask = batch()
    out = model.generate(
        src,
        mask,
        max_new_tokens=5,
        num_beams=4,
        num_return_sequences=3,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert out.sequences.shape[0] == 9
    scores = out.sequences_scores.view(3, 3)
    assert (scores[:, :-1] >= scores[:, 1:]).all()


def test_generate_rejects_bad_options():
    model = tiny()
    src, mask = batch()
    with pytest.raises(ValueError, match="num_return_sequences=3 must be between 1 and num_beams=2"):
        model.generate(src, mask, num_beams=2, num_return_sequences=3)
    with pytest.raises(ValueError, match="early_stopping"):
        model.generate(src, mask, num_beams=2, early_stopping="sometimes")
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        model.generate(src, mask, max_new_tokens=0)


def test_config_validation():
    with pytest.raises(ValueError, match="n_heads: 3 does not divide d_model=64"):
        EncoderDecoderConfig.from_preset("tiny", n_heads=3)
    with pytest.raises(ValueError, match="share_embeddings: needs one joint vocabulary"):
        EncoderDecoderConfig(src_vocab_size=10, tgt_vocab_size=12, share_embeddings=True)
    base = EncoderDecoderConfig.from_preset("base")
    assert (base.d_model, base.n_heads, base.n_encoder_layers, base.d_ff) == (512, 8, 6, 2048)


def test_shared_and_tied_embeddings_save_and_load(tmp_path):
    model = EncoderDecoderTransformer(
        EncoderDecoderConfig.from_preset(
            "tiny", src_vocab_size=30, tgt_vocab_size=30, share_embeddings=True, positions="learned"
        )
    ).eval()
    assert model.src_embed.weight is model.tgt_embed.weight is model.lm_head.weight
    model.save_pretrained(tmp_path)
    loaded = EncoderDecoderTransformer.from_pretrained(tmp_path)
    src, mask = batch()
    dec = torch.randint(4, 30, (3, 4))
    assert torch.equal(loaded(src, mask, decoder_input_ids=dec).logits, model(src, mask, decoder_input_ids=dec).logits)
    assert loaded.src_embed.weight is loaded.lm_head.weight


def test_output_attentions_match_fast_path():
    model = tiny().double().eval()
    src, mask = batch()
    dec = torch.randint(4, 24, (3, 5))
    fast = model(src, mask, decoder_input_ids=dec)
    slow = model(src, mask, decoder_input_ids=dec, output_attentions=True)
    assert_close(slow.logits, fast.logits, atol=1e-10, rtol=0)
    assert len(slow.cross_attentions) == 2 and slow.cross_attentions[0].shape == (3, 4, 5, 7)
    assert (slow.cross_attentions[0][2, :, :, 2:] == 0).all()  # padded source keys get no weight


def test_same_seed_same_model():
    states = []
    for _ in range(3):
        torch.manual_seed(7)
        states.append(tiny().state_dict())
    for other in states[1:]:
        assert all(torch.equal(states[0][k], other[k]) for k in states[0])
