"""FastCall (nn/fast_call.py): einformer's modules skip torch's call machinery only when nothing needs
it. The oracle is torch's own nn.Module.__call__: with hooks or compilation, a FastCall module must
behave as the same module called the plain way."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from einformer import GPT, GPTConfig
from einformer.nn import LayerNorm, MultiHeadAttention, fast_call
from einformer.nn.fast_call import FastCall, Linear


class Plain(nn.Module):
    """A module called through torch's own __call__, the reference."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return self.inner.forward(*args, **kwargs)


@pytest.fixture
def torch_calls(monkeypatch):
    """The modules whose calls went through torch's _call_impl (FastCall's hand-over included)."""
    seen = []
    original = nn.Module._call_impl

    def counted(self, *args, **kwargs):
        seen.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "_call_impl", counted)
    return seen


def test_this_torch_has_what_fast_call_reads():
    assert fast_call.AVAILABLE  # a torch that renamed its hook dicts would silently lose the speed


def test_without_hooks_the_call_is_forward_itself(torch_calls):
    torch.manual_seed(0)
    norm, x = LayerNorm(8), torch.randn(2, 3, 8)
    assert torch.equal(norm(x), nn.functional.layer_norm(x, (8,), norm.weight, norm.bias, norm.eps))
    assert torch_calls == []
    plain = Plain(norm)
    plain(x)
    assert torch_calls == [plain]  # the spy sees torch's own calls


def _hook_cases():
    def forward_hook(module, args, out):
        return out * 2

    def pre_hook(module, args):
        return (args[0] + 1,)

    def pre_hook_kwargs(module, args, kwargs):
        return (args[0] - 1,), kwargs

    return {
        "forward hook": lambda m: m.register_forward_hook(forward_hook),
        "forward pre-hook": lambda m: m.register_forward_pre_hook(pre_hook),
        "pre-hook with kwargs": lambda m: m.register_forward_pre_hook(pre_hook_kwargs, with_kwargs=True),
        "global forward hook": lambda m: nn.modules.module.register_module_forward_hook(forward_hook),
        "global pre-hook": lambda m: nn.modules.module.register_module_forward_pre_hook(pre_hook),
    }


@pytest.mark.parametrize("case", list(_hook_cases()))
def test_hooks_run_as_on_any_module(case, torch_calls):
    torch.manual_seed(0)
    ours, reference = Linear(4, 3), nn.Linear(4, 3)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4)
    handles = [_hook_cases()[case](m) for m in (ours, reference)]
    try:
        got, want = ours(x), reference(x)
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(got, want) and not torch.equal(got, reference(x))  # the hook changed the output
    assert any(m is ours for m in torch_calls)  # handed to torch
    torch_calls.clear()
    got = ours(x)
    assert torch_calls == [] and torch.equal(got, reference(x))  # hooks removed: the short way again


def test_a_full_backward_hook_sees_the_gradients_torch_gives():
    torch.manual_seed(0)
    ours, reference = Linear(4, 3), nn.Linear(4, 3)
    reference.load_state_dict(ours.state_dict())
    grads, x = {"ours": [], "reference": []}, torch.randn(2, 4)
    for name, module in (("ours", ours), ("reference", reference)):
        module.register_full_backward_hook(lambda m, gin, gout, name=name: grads[name].append(gout[0].clone()))
        module(x.requires_grad_()).pow(2).sum().backward()
    assert len(grads["ours"]) == 1 and torch.equal(grads["ours"][0], grads["reference"][0])


def test_a_compiled_module_runs_its_compiled_code():
    compiled = []

    def backend(graph, example_inputs):
        compiled.append(graph)
        return graph.forward

    torch.manual_seed(0)
    norm, x = LayerNorm(8), torch.randn(2, 8)
    want = norm(x)
    norm.compile(backend=backend)
    assert torch.equal(norm(x), want) and len(compiled) == 1  # the call went through torch.compile


def _tiny_gpt() -> GPT:
    shape = dict(vocab_size=50, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64)
    return GPT(GPTConfig(**shape, bos_token_id=0, eos_token_id=0)).eval()


def test_hooks_on_a_model_inside_decoding_see_every_token():
    """Hooks deep in a prepared (packed, fused) GPT fire on every decoded token, as on plain modules."""
    torch.manual_seed(0)
    model = _tiny_gpt()
    ids = torch.randint(0, 50, (1, 5))
    seen = []
    handle = model.blocks[1].attn.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    out = model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    handle.remove()
    d = model.config.d_model
    assert seen == [(1, 5, d), (1, d), (1, d), (1, d)]  # the prompt, then each new token as (B, D)
    assert torch.equal(model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False), out)


def test_every_module_a_token_passes_takes_the_short_way(torch_calls):
    from einformer.nn.kv_cache import DynamicCache
    from einformer.nn.packed import prepare_for_inference

    torch.manual_seed(0)
    model = _tiny_gpt()
    cache = DynamicCache(2)
    with torch.no_grad():
        model(torch.randint(0, 50, (1, 5)), kv_cache=cache)
        prepare_for_inference(model, 1)
        torch_calls.clear()
        model(torch.randint(0, 50, (1, 1)), kv_cache=cache)
    assert torch_calls == []
    assert all(isinstance(m, FastCall) for m in model.modules() if isinstance(m, (MultiHeadAttention, nn.Linear)))


def test_a_whole_model_compiles_in_one_graph():
    """torch.compile traces through FastCall's __call__ (no graph break): fullgraph=True succeeds."""
    torch.manual_seed(0)
    model, ids = _tiny_gpt(), torch.randint(0, 50, (2, 7))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(ids).logits, model(ids).logits, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_a_prompt_and_a_cached_step_compile_in_one_graph(family):
    """The decode step too (a static cache, the token as (B, D)); a Llama's rotary tables are made without
    their cache while traced (its version check was a data-dependent graph break in every layer)."""
    from einformer import Llama, LlamaConfig
    from einformer.nn.kv_cache import StaticCache

    torch.manual_seed(0)
    model = _tiny_gpt() if family == "gpt" else Llama(LlamaConfig.from_preset("tiny", qk_norm=True)).eval()
    ids = torch.randint(3, 50, (2, 6))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        eager, traced = StaticCache(len(model.blocks), 8), StaticCache(len(model.blocks), 8)
        torch.testing.assert_close(compiled(ids[:, :5], kv_cache=traced).logits,
                                   model(ids[:, :5], kv_cache=eager).logits, rtol=1e-6, atol=1e-6)  # fmt: skip
        torch.testing.assert_close(compiled(ids[:, 5:], kv_cache=traced).logits,
                                   model(ids[:, 5:], kv_cache=eager).logits, rtol=1e-6, atol=1e-6)  # fmt: skip


def test_fx_and_the_profiler_see_every_module_call():
    """torch.fx's tracer and the profiler's module view read torch's nn.Module.__call__: FastCall hands
    them every call (a tracer with Linear and LayerNorm as leaves gets call_module nodes)."""

    class Leaves(torch.fx.Tracer):
        def is_leaf_module(self, module, name):
            return isinstance(module, (nn.Linear, nn.LayerNorm)) or super().is_leaf_module(module, name)

    block = nn.Sequential(Linear(4, 4), LayerNorm(4), Linear(4, 2))
    graph = Leaves().trace(block)
    assert [n.target for n in graph.nodes if n.op == "call_module"] == ["0", "1", "2"]
    with torch.profiler.profile(with_stack=True) as profile:
        block(torch.randn(2, 4))
    seen = {e.name for e in profile.events() if e.name.startswith("nn.Module")}
    assert {"nn.Module: Linear_0", "nn.Module: Linear_1", "nn.Module: LayerNorm_0"} <= seen


def test_export_leaves_the_shared_causal_mask_a_plain_tensor():
    """torch.export runs with fake tensors: the attention core's shared mask must not keep one (a later
    eager call returned a fake tensor, and a second export failed)."""
    from einformer.nn.masks import _causal_once, causal_mask

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = MultiHeadAttention(16, 2)

        def forward(self, x, keep):
            return self.attn(x, attention_mask=keep, is_causal=True)[0]

    torch.manual_seed(0)
    block, x, keep = Block().eval(), torch.randn(1, 6, 16), torch.ones(1, 1, 1, 6, dtype=torch.bool)
    want = block(x, keep)
    _causal_once.cache_clear()
    exported = torch.export.export(block, (x, keep))
    got = block(x, keep)
    assert type(got) is torch.Tensor and torch.equal(got, want)
    torch.testing.assert_close(exported.module()(x, keep), want)
    torch.export.export(block, (x, keep))  # a second export works
    shared = _causal_once(6, 6)
    assert type(shared) is torch.Tensor and torch.equal(shared, causal_mask(6, 6))
    assert causal_mask(6, 6) is not causal_mask(6, 6)  # the public function's masks are the caller's
