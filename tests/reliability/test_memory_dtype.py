"""The memory check prices a model's weights in the type they will be built in: fp32 by default, the
``dtype`` passed to ``from_pretrained``, a quantized checkpoint's layers at their integer bytes
(config.json's ``quantization_config``), and a model the loader builds in full in fp32 before casting it
(a new task head without saved weights) at fp32. The machine's memory is replaced by a number between
two prices, so each test shows the type deciding the answer. ``einformer train`` prices the activations
of its batch in the type autocast keeps them in: the estimate is held against the tensors autograd
really saves in a training forward."""

import contextlib
import time

import pytest
import torch

from einformer import GPT, AutoModel, BertConfig, BertModel, GPTConfig, dtypes, quantize, validation
from einformer.models.bert_heads import BertForSequenceClassification
from einformer.recipes import train as train_recipe
from einformer.recipes.train import TrainSpec, check_training_size
from einformer.training import TrainingArguments
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
    for method in ("int8", "int4", "w8a8"):
        quantize(GPT.from_pretrained(root / "fp32"), method).save_pretrained(root / method)
    return root


def memory(monkeypatch, n: float) -> None:
    monkeypatch.setattr(validation, "available_memory", lambda: int(n))


@contextlib.contextmanager
def building_in(dtype: torch.dtype):
    """What ``from_pretrained(dtype=...)`` sets around its build: the loader's dtype, and torch's default."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with validation.weights_built_in(dtype):
            yield
    finally:
        torch.set_default_dtype(default)


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


def test_a_w8a8_checkpoint_prices_its_fp32_tables_and_int8_layers(saved, monkeypatch):
    """w8a8 keeps everything but its layers in fp32 (its kernel takes fp32): 4 bytes a table parameter and
    1 a layer parameter. Memory between that price and one byte-step wider: it loads, with the logits of
    the same directory loaded with no limit; below the price it is refused, naming both types."""
    config = GPTConfig.from_preset("tiny")
    reference = AutoModel.from_pretrained(saved / "w8a8")
    ids = torch.tensor([[1, 5, 7, 9, 11]])
    memory(monkeypatch, (bound(config, 4, 1) + bound(config, 4, 2)) / 2)
    model = AutoModel.from_pretrained(saved / "w8a8")
    assert model.quantization_config.method == "w8a8" and model.lm_head.activations == "int8"
    torch.testing.assert_close(model(ids).logits, reference(ids).logits, rtol=0, atol=0)
    memory(monkeypatch, bound(config, 4, 1) - 1)
    with pytest.raises(TooLargeError, match="float32 with w8a8 layers"):
        AutoModel.from_pretrained(saved / "w8a8")


def test_an_absurd_size_is_refused_fast_in_any_dtype_and_the_opt_out_holds(saved, monkeypatch):
    """vocab_size 1e11 in bf16 is still refused by field in well under a second (nothing allocated);
    EINFORMER_SKIP_MEMORY_CHECK=1 still builds a model the check would refuse."""
    start = time.perf_counter()
    with building_in(torch.bfloat16), pytest.raises(TooLargeError, match=r"^vocab_size: .*\(bfloat16\)"):
        GPTConfig.from_preset("tiny", vocab_size=10**11)
    assert time.perf_counter() - start < 1
    memory(monkeypatch, 1)
    monkeypatch.setenv(validation.SKIP_MEMORY_CHECK, "1")
    assert AutoModel.from_pretrained(saved / "fp32").config == GPTConfig.from_preset("tiny")


def test_a_new_head_that_the_loader_builds_in_fp32_is_priced_at_fp32(tmp_path, monkeypatch):
    """A new task head has no saved weights, so ``from_pretrained(dtype=bf16)`` builds the whole model again
    in fp32 and casts it after. Before: that build was priced at bf16, so with memory between the two
    prices it passed the check and allocated more than the memory. Oracle: the model the loader hands to
    ``dtypes.cast``, measured. Now it is refused, naming both types; the same directory without a new head
    still loads in bf16 within that memory."""
    torch.manual_seed(0)
    config = BertConfig.from_preset("tiny", vocab_size=100)
    BertModel(config).save_pretrained(tmp_path)
    built, cast = [], dtypes.cast

    def measured_cast(model, dtype):  # what the loader built, as it was before the cast
        built.append(
            ({p.dtype for p in model.parameters()}, sum(p.numel() * p.element_size() for p in model.parameters()))
        )
        return cast(model, dtype)

    monkeypatch.setattr(dtypes, "cast", measured_cast)
    with pytest.warns(UserWarning, match="start from random values"):
        head = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3, dtype=torch.bfloat16)
    ((types, nbytes),) = built
    free = 3 * bound(config, 1, 1)  # between the bf16 and the fp32 prices
    assert types == {torch.float32} and {p.dtype for p in head.parameters()} == {torch.bfloat16}
    assert nbytes > free  # the refusal is true: the fp32 build does not fit
    memory(monkeypatch, free)
    with pytest.warns(UserWarning, match="start from random values"), pytest.raises(TooLargeError) as caught:
        BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3, dtype=torch.bfloat16)
    message = str(caught.value)
    assert "(float32, the type the model is built in before its cast to bfloat16)" in message, message
    assert str(tmp_path / "config.json") in message, message
    encoder = BertModel.from_pretrained(tmp_path, dtype=torch.bfloat16)  # no new head: built in bf16, fits
    assert {p.dtype for p in encoder.parameters()} == {torch.bfloat16}


def saved_activation_bytes(config: GPTConfig, batch: int, block: int, autocast: torch.dtype | None) -> dict:
    """The bytes of the tensors autograd saves for backward in one training forward of a GPT with
    ``config`` (under autocast to ``autocast`` on the CPU, as the trainer runs ``--precision bf16``), by
    dtype: activations only (parameters and their casts left out, each storage once), and without the
    T x T attention maps, a term the estimate leaves out (a fused attention kernel saves none)."""
    torch.manual_seed(0)
    model = GPT(config).train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        is_map = t.dim() == 4 and t.shape[-2:] == (block, block)  # B H T S attention weights
        if storage.data_ptr() not in weights and t.dim() >= 2 and t.shape[0] in (batch, batch * block) and not is_map:
            saved[storage.data_ptr()] = (t.dtype, storage.nbytes())
        return t

    ids = torch.randint(0, config.vocab_size, (batch, block))
    context = torch.autocast("cpu", dtype=autocast) if autocast else contextlib.nullcontext()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), context:
        model(ids, labels=ids).loss.backward()
    out = {}
    for dtype, nbytes in saved.values():
        out[dtype] = out.get(dtype, 0) + nbytes
    return out


@pytest.mark.parametrize(("precision", "autocast"), [("fp32", None), ("bf16", torch.bfloat16)])
def test_the_training_check_prices_activations_in_the_type_autocast_keeps(tmp_path, monkeypatch, precision, autocast):
    """``einformer train --precision bf16`` prices its activations at 2 bytes (fp32: 4), a lower bound:
    the price is at most the bytes autograd really saves in that precision, counting for bf16 only the
    tensors autocast really holds in bf16, so a refusal is always true. The price is read from the check
    itself (``check_fits_memory``'s ``extra``), with the machine's memory unlimited."""
    priced = []
    check = train_recipe.check_fits_memory
    monkeypatch.setattr(train_recipe, "check_fits_memory", lambda *a, **k: priced.append(k["extra"]) or check(*a, **k))
    spec = TrainSpec(str(tmp_path / "run"), model="gpt", data="corpus.txt", preset="tiny", block_size=64)
    check_training_size(spec, TrainingArguments(batch_size=4, precision=precision))
    (price,) = priced
    measured = saved_activation_bytes(GPTConfig.from_preset("tiny"), 4, 64, autocast)
    width = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    assert 0 < price <= measured[width], (price, measured)
    if precision == "bf16":  # the tensors autocast keeps in bf16 are the most of what is saved
        assert measured[torch.bfloat16] > measured.get(torch.float32, 0), measured
