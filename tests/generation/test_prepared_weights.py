"""The step weights kept between generate calls (``decoders.prepared_weights``): reused while the
parameters are unchanged, prepared again after any change torch's version counter sees, and never
stored on the model (copying it still works). The oracle is generate without a cache, which runs
the regular forward over the whole prefix every step."""

from __future__ import annotations

import copy

import pytest
import torch

from einformer import GPT, GPTConfig
from einformer.generation import decoders
from einformer.nn.packed import onednn_packing_available


def model() -> GPT:
    torch.manual_seed(0)
    # 320 wide: every layer matrix holds at least 102,400 weights, so it is packed where oneDNN is
    config = GPTConfig(
        vocab_size=48, d_model=320, n_layers=2, n_heads=4, max_position=64, dropout=0.0, bos_token_id=0, eos_token_id=0
    )
    return GPT(config).eval()


def tokens(gpt: GPT, **options) -> list[list[int]]:
    ids = torch.tensor([[3, 7, 11, 5, 9]])
    with torch.no_grad():
        return gpt.generate(ids, max_new_tokens=12, do_sample=False, **options).tolist()


def count_preparations(monkeypatch, gpt: GPT) -> list[int]:
    calls = []
    original = gpt.step_weights

    def step_weights(rows, **kw):
        calls.append(rows)
        return original(rows, **kw)

    monkeypatch.setattr(gpt, "step_weights", step_weights)
    return calls


def test_the_weights_are_prepared_once_for_many_calls(monkeypatch):
    gpt = model()
    calls = count_preparations(monkeypatch, gpt)
    first = tokens(gpt)
    assert tokens(gpt) == first == tokens(gpt, use_cache=False)
    assert tokens(gpt, prompt_lookup_num_tokens=3) == first
    assert len(calls) == 1
    assert tokens(gpt, num_beams=2) == tokens(gpt, num_beams=2, use_cache=False)
    assert len(calls) == 1  # 2 rows take the same layout (a hint of at least PACK_MIN_ROWS)
    if onednn_packing_available(gpt.blocks[0].attn.q_proj.weight):
        weights = decoders.prepared_weights(gpt, 1)
        assert weights["layers"][0]["attn"]["qkv"].packed is not None


@pytest.mark.parametrize("change", ["in place", "optimizer", "load_state_dict"])
def test_a_change_to_the_parameters_prepares_them_again(monkeypatch, change):
    gpt = model()
    calls = count_preparations(monkeypatch, gpt)
    before = tokens(gpt)
    if change == "in place":
        with torch.no_grad():
            gpt.blocks[0].attn.q_proj.weight.mul_(3.0)
            gpt.blocks[1].ffn.fc1.weight.mul_(-2.0)
    elif change == "optimizer":
        optimizer = torch.optim.SGD(gpt.parameters(), lr=5.0)
        gpt.train()
        gpt(torch.tensor([[1, 2, 3, 4]]), labels=torch.tensor([[1, 2, 3, 4]])).loss.backward()
        optimizer.step()
        gpt.eval()
    else:
        other = model()
        with torch.no_grad():
            for p in other.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        gpt.load_state_dict(other.state_dict())
    after = tokens(gpt)
    assert after == tokens(gpt, use_cache=False)  # the changed model's own tokens, not stale weights
    assert after != before  # the change is one that stale weights would have shown
    assert len(calls) == 2


def test_the_model_still_copies_and_release_frees_the_weights(monkeypatch):
    gpt = model()
    expected = tokens(gpt)
    twin = copy.deepcopy(gpt)  # nothing packed hangs on the model (oneDNN tensors cannot be copied)
    assert tokens(twin) == expected
    calls = count_preparations(monkeypatch, gpt)
    assert tokens(gpt) == expected and not calls
    decoders.release_weights(gpt)
    assert tokens(gpt) == expected
    assert len(calls) == 1
