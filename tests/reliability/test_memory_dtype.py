"""The memory check prices a model's weights in the type they will be built in: fp32 by default, the
``dtype`` passed to ``from_pretrained``, and a quantized checkpoint's layers at their integer bytes
(config.json's ``quantization_config``). The machine's memory is replaced by a number between two
prices, so each test shows the type deciding the answer."""

import time

import pytest
import torch

from einformer import GPT, AutoModel, GPTConfig, quantize, validation
from einformer.validation import TooLargeError, parameter_terms


def bound(config, table: float, layer: float) -> float:
    """``parameter_terms``' lower bound in bytes, tables and layers priced apart."""
    terms = parameter_terms(config)
    return sum(count * (layer if name == "layers" else table) for name, (count, _, _) in terms.items())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory-dtype")
    torch.manual_seed(0)
    model = GPT(GPTConfig.from_preset("tiny"))
    model.save_pretrained(root / "fp32")
    for method in ("int8", "int4"):
        quantize(GPT.from_pretrained(root / "fp32"), method).save_pretrained(root / method)
    return root


def memory(monkeypatch, n: float) -> None:
    monkeypatch.setattr(validation, "available_memory", lambda: int(n))


def test_fp32_is_priced_at_4_bytes_and_bf16_at_2(saved, monkeypatch):
    """Before: every parameter at 2 bytes, so an fp32 load 2 to 4 times over the memory passed the check
    and died in torch's allocator. Memory between the bf16 and fp32 prices: fp32 is refused (its real
    weights are larger than the memory), bf16 loads and equals the fp32 weights cast."""
    config = GPTConfig.from_preset("tiny")
    free = 3 * bound(config, 1, 1)  # between 2 and 4 bytes a parameter
    fp32 = AutoModel.from_pretrained(saved / "fp32")
    assert sum(p.numel() * p.element_size() for p in fp32.parameters()) > free  # the refusal is true
    memory(monkeypatch, free)
    with pytest.raises(TooLargeError) as caught:
        AutoModel.from_pretrained(saved / "fp32")
    message = str(caught.value)
    assert str(saved / "fp32" / "config.json") in message and "(float32)" in message, message
    bf16 = AutoModel.from_pretrained(saved / "fp32", dtype=torch.bfloat16)
    for (name, a), (_, b) in zip(bf16.state_dict().items(), fp32.state_dict().items(), strict=True):
        assert a.dtype == torch.bfloat16 and a.equal(b.bfloat16()), name
    with pytest.raises(TooLargeError, match=r"\(float32\)"):  # a config built outside a loader: torch's default
        GPTConfig.from_preset("tiny")


@pytest.mark.parametrize(("method", "layer_bytes", "wider"), [("int8", 1, 2), ("int4", 0.5, 1)])
def test_a_quantized_checkpoint_prices_its_layers_at_their_integer_bytes(saved, monkeypatch, method, layer_bytes,
                                                                          wider):  # fmt: skip
    """Before: a quantized directory was priced as bf16 and refused (the opt-out named) though its int8 /
    int4 weights fit. Memory between its price and the next wider one: it loads, and gives the logits
    of the same directory loaded with no memory limit; one byte-step wider is refused."""
    config = GPTConfig.from_preset("tiny")
    reference = AutoModel.from_pretrained(saved / method)
    ids = torch.tensor([[1, 5, 7, 9, 11]])
    memory(monkeypatch, (bound(config, 2, layer_bytes) + bound(config, 2, wider)) / 2)
    model = AutoModel.from_pretrained(saved / method)
    assert model.quantization_config.method == method
    torch.testing.assert_close(model(ids).logits, reference(ids).logits, rtol=0, atol=0)
    memory(monkeypatch, bound(config, 2, layer_bytes) - 1)
    with pytest.raises(TooLargeError, match=f"bfloat16 with {method} layers"):
        AutoModel.from_pretrained(saved / method)


def test_an_absurd_size_is_refused_fast_in_any_dtype_and_the_opt_out_holds(saved, monkeypatch):
    """vocab_size 1e11 in bf16 is still refused by field in well under a second (nothing allocated);
    EINFORMER_SKIP_MEMORY_CHECK=1 still builds a model the check would refuse."""
    start = time.perf_counter()
    with validation.weights_built_in(torch.bfloat16), pytest.raises(TooLargeError, match=r"^vocab_size: .*bfloat16"):
        GPTConfig.from_preset("tiny", vocab_size=10**11)
    assert time.perf_counter() - start < 1
    memory(monkeypatch, 1)
    monkeypatch.setenv(validation.SKIP_MEMORY_CHECK, "1")
    assert AutoModel.from_pretrained(saved / "fp32").config == GPTConfig.from_preset("tiny")
