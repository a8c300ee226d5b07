"""The prepared (packed, fused) modules kept between generate calls (``nn/packed.py``): packed once
while the parameters are unchanged, packed again after any change torch's version counter sees, and
copying the model still works. The oracle is generate without a cache, which runs the whole prefix
through the model every step."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from einformer import GPT, GPTConfig
from einformer.generation import decoders
from einformer.nn import packed
from einformer.nn.packed import onednn_packing_available, release


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


def count_calls(monkeypatch, method: str) -> list[int]:
    """One entry per call of ``_Packed.<method>`` in any packed or fused module."""
    calls = []
    original = getattr(packed._Packed, method)

    def counted(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(packed._Packed, method, counted)
    return calls


def count_packings(monkeypatch) -> list[int]:
    """One entry per weight (re)built by any packed or fused module."""
    return count_calls(monkeypatch, "refresh")


def test_the_weights_are_packed_once_for_many_calls(monkeypatch):
    gpt = model()
    calls = count_packings(monkeypatch)
    first = tokens(gpt)
    once = len(calls)
    assert once > 0
    assert tokens(gpt) == first == tokens(gpt, use_cache=False)
    assert tokens(gpt, prompt_lookup_num_tokens=3) == first
    assert len(calls) == once
    assert tokens(gpt, num_beams=2) == tokens(gpt, num_beams=2, use_cache=False)
    assert len(calls) == once  # 2 rows take the same layout (a hint of at least PACK_MIN_ROWS)
    if onednn_packing_available(gpt.blocks[0].attn.q_proj.weight):
        assert gpt.blocks[0].attn.fused.kernel.packed is not None


@pytest.mark.parametrize("change", ["in place", "optimizer", "load_state_dict"])
def test_a_change_to_the_parameters_packs_them_again(monkeypatch, change):
    gpt = model()
    calls = count_packings(monkeypatch)
    before = tokens(gpt)
    once = len(calls)
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
    repacked = len(calls) - once
    assert after == tokens(gpt, use_cache=False)  # the changed model's own tokens, not stale weights
    assert after != before  # the change is one that stale weights would have shown
    assert repacked == (2 if change == "in place" else once)  # only what changed is packed again


def test_the_model_still_copies_and_release_frees_the_weights(monkeypatch):
    gpt = model()
    expected = tokens(gpt)
    twin = copy.deepcopy(gpt)  # packed oneDNN tensors are left behind (they cannot be copied)
    assert tokens(twin) == expected
    calls = count_packings(monkeypatch)
    assert tokens(gpt) == expected and not calls
    release(gpt)
    assert tokens(gpt) == expected
    assert len(calls) > 0


def count_checks(monkeypatch) -> list[int]:
    """One entry per look at a packed or fused module's sources."""
    return count_calls(monkeypatch, "check")


def test_a_generation_loop_checks_each_packed_module_once(monkeypatch):
    gpt = model()
    tokens(gpt)  # prepared
    checks = count_checks(monkeypatch)
    with torch.no_grad():  # outside a loop every call checks each module it runs
        gpt(torch.tensor([[1, 2]]))
    per_call = len(checks)
    assert per_call == 4 * len(gpt.blocks)  # fused q/k/v, out_proj, fc1, fc2 (the 48-word head is too small)
    tokens(gpt)  # 12 steps, one loop: each module checked at its first call only
    assert len(checks) == 2 * per_call


def test_a_change_between_streamed_tokens_is_seen(monkeypatch):
    """The consumer of a stream may change the weights between tokens: the next step packs the changed
    modules again (and only those), and its token is the one the changed weights give. The oracle is
    the same stream on the plain modules (``fast=False`` in generation/decoders.py: no packing)."""
    ids = torch.tensor([[3, 7, 11, 5, 9]])

    def stream(fast: bool) -> list[int]:
        gpt = model()
        tokens(gpt)  # prepared before the stream starts
        monkeypatch.setattr(decoders, "start", functools.partial(original_start, fast=fast))
        calls = count_packings(monkeypatch)
        out = gpt.stream_ids(ids, max_new_tokens=8, do_sample=False, eos_token_id=None)
        first = [next(out), next(out)]
        with torch.no_grad():
            gpt.blocks[0].ffn.fc1.weight.mul_(-3.0)
            gpt.blocks[1].attn.q_proj.weight.add_(0.5)
        seen = first + list(out)
        assert len(calls) == (2 if fast else 0)  # fc1 and the fused q/k/v of block 1, packed again
        return seen

    original_start = decoders.start
    fast = stream(True)
    assert fast == stream(False)
