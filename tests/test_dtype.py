"""Weights in bf16 / fp16 (``from_pretrained(dtype=...)``, ``einformer.dtypes``), against transformers.

Oracles: transformers loading the same saved tiny GPT-2 and Llama in bf16 (same logits within bf16's
resolution, same greedy tokens), the file itself (the dtype it stores is the dtype loaded; a bf16 file
loads in about its own size of memory, measured in a fresh process), and a save/load round trip.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import einformer
from einformer import GPT, Llama, dtypes

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def _hf_gpt2(path):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=96, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=1, eos_token_id=2)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    return transformers.GPT2LMHeadModel, GPT


def _hf_llama(path):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=56, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                      bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # norms away from 1, so a norm computed in the wrong type would show
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(path)
    return transformers.LlamaForCausalLM, Llama


FAMILIES = {"gpt2": _hf_gpt2, "llama": _hf_llama}


def _batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 96, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bf16_logits_and_greedy_tokens_match_transformers_bf16(tmp_path, family):
    their_cls, our_cls = FAMILIES[family](tmp_path)
    theirs = their_cls.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    ours = our_cls.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in ours.parameters()} == {torch.bfloat16}
    ids, mask = _batch()
    with torch.no_grad():
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # counted past the padding, as ours are
        expected = theirs(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
        got = ours(ids, mask).logits
    assert got.dtype == torch.bfloat16
    keep = mask.bool()  # padded positions' logits are not defined alike
    torch.testing.assert_close(got.float()[keep], expected[keep], atol=2e-2, rtol=2e-2)
    greedy = dict(max_new_tokens=8, do_sample=False)
    their_tokens = theirs.generate(ids, attention_mask=mask, pad_token_id=0, **greedy)
    assert ours.generate(ids, attention_mask=mask, **greedy).tolist() == their_tokens.tolist()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bf16_stays_close_to_fp32(tmp_path, family):
    _, our_cls = FAMILIES[family](tmp_path)
    wide, narrow = our_cls.from_pretrained(tmp_path), our_cls.from_pretrained(tmp_path, torch_dtype="bfloat16")
    ids, mask = _batch()
    with torch.no_grad():
        torch.testing.assert_close(narrow(ids).logits.float(), wide(ids).logits, atol=3e-2, rtol=3e-2)
    for name, p in wide.named_parameters():  # each weight is the fp32 one rounded to bf16
        assert torch.equal(narrow.get_parameter(name), p.to(torch.bfloat16)), name


def test_auto_reads_config_json_and_the_file(tmp_path):
    _hf_llama(tmp_path / "hf")
    transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.bfloat16).save_pretrained(
        tmp_path / "hf16"
    )
    assert json.loads((tmp_path / "hf16" / "config.json").read_text())["dtype"] == "bfloat16"
    assert einformer.dtypes.of(Llama.from_pretrained(tmp_path / "hf16", dtype="auto")) == torch.bfloat16
    assert einformer.dtypes.of(Llama.from_pretrained(tmp_path / "hf", dtype="auto")) == torch.float32
    assert einformer.dtypes.of(Llama.from_pretrained(tmp_path / "hf16")) == torch.float32  # None: fp32, as before
    # einformer's own format: the type the weights file stores
    Llama.from_pretrained(tmp_path / "hf", dtype=torch.bfloat16).save_pretrained(tmp_path / "ours")
    assert dtypes.stored_dtype(tmp_path / "ours" / "model.safetensors") == torch.bfloat16
    assert einformer.dtypes.of(einformer.load(tmp_path / "ours", dtype="auto").model) == torch.bfloat16


@pytest.mark.parametrize("fmt", ["einformer", "hf"])
def test_save_load_round_trip_keeps_the_dtype(tmp_path, fmt):
    _hf_llama(tmp_path / "hf")
    model = Llama.from_pretrained(tmp_path / "hf", dtype=torch.bfloat16)
    assert model.lm_head.weight is model.embed.weight  # the tie survives loading on the meta device
    model.save_pretrained(tmp_path / "out", format=fmt)
    back = Llama.from_pretrained(tmp_path / "out", dtype="auto")
    assert dtypes.of(back) == torch.bfloat16
    for name, p in model.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name
    if fmt == "hf":  # transformers reads the same type and numbers back
        config = json.loads((tmp_path / "out" / "config.json").read_text())
        assert config["dtype"] == config["torch_dtype"] == "bfloat16"
        theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "out", dtype="auto")
        assert theirs.model.embed_tokens.weight.dtype == torch.bfloat16
        assert torch.equal(theirs.model.embed_tokens.weight, model.embed.weight)


def test_bad_dtypes_are_refused_by_name(tmp_path):
    _hf_gpt2(tmp_path)
    with pytest.raises(ValueError, match="torch.bfloat16"):
        GPT.from_pretrained(tmp_path, dtype="int8")
    with pytest.raises(ValueError, match="disagree"):
        GPT.from_pretrained(tmp_path, dtype=torch.bfloat16, torch_dtype=torch.float16)


def test_fp16_on_cpu_warns_naming_bf16(tmp_path):
    _hf_gpt2(tmp_path)
    with pytest.warns(UserWarning, match="bfloat16"):
        model = GPT.from_pretrained(tmp_path, dtype=torch.float16)
    assert dtypes.of(model) == torch.float16


PEAK = textwrap.dedent(
    """
    import sys, torch
    from einformer import Llama

    def peak_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1])

    Llama.from_pretrained(sys.argv[1] + "/tiny", dtype=sys.argv[2])  # every import done before measuring
    before = peak_kib()
    model = Llama.from_pretrained(sys.argv[1] + "/big", dtype=sys.argv[2])
    with torch.no_grad():  # read every weight: a file mapped but never read would not count yet
        touched = sum(float(p.sum()) for p in model.parameters())
    print(peak_kib() - before, sum(p.numel() * p.element_size() for p in model.parameters()))
    """
)


def test_a_bf16_checkpoint_loads_in_about_its_own_size(tmp_path):
    torch.manual_seed(0)
    tiny = einformer.LlamaConfig(vocab_size=64, d_model=32, n_layers=1, n_heads=4, d_ff=64, max_position=64)
    Llama(tiny).to(torch.bfloat16).save_pretrained(tmp_path / "tiny")
    big = tiny.replace(vocab_size=32000, d_model=256, n_layers=2, d_ff=512)
    Llama(big).to(torch.bfloat16).save_pretrained(tmp_path / "big")  # 17M parameters: 35 MB
    size = (tmp_path / "big" / "model.safetensors").stat().st_size
    grown = {}
    # validation.weight_problems' finiteness check widens each whole tensor to fp32 for a moment (42 MB for
    # this embedding), a cost of its own: measured here is the loading, with that check off
    env = {**os.environ, "EINFORMER_SKIP_WEIGHT_CHECK": "1"}
    for dtype in ("bfloat16", "float32"):
        run = subprocess.run(
            [sys.executable, "-c", PEAK, str(tmp_path), dtype], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr
        grown_kib, weight_bytes = map(int, run.stdout.split())
        grown[dtype] = grown_kib * 1024
    assert grown["bfloat16"] <= 1.2 * size, f"a {size / 1e6:.1f} MB file grew the peak by {grown['bfloat16'] / 1e6} MB"
    assert grown["float32"] >= 2 * size  # the measure sees a widened copy: fp32 needs twice the file


def _gpt2_with_tokenizer(path):
    from tokenizers.implementations import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the old teacher sees the ball . hello world"] * 20, vocab_size=300, min_frequency=1,
                            special_tokens=["<|endoftext|>"], show_progress=False)  # fmt: skip
    bpe.save_model(str(path))
    tok = transformers.GPT2TokenizerFast(str(path / "vocab.json"), str(path / "merges.txt"))
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return tok


@pytest.mark.parametrize("flags", [["--dtype", "bfloat16"], ["--quantize", "int8"], ["--quantize", "int4"]])
def test_the_cli_runs_a_model_in_bf16_or_quantized(tmp_path, capsys, flags):
    from einformer.cli import main

    tok = _gpt2_with_tokenizer(tmp_path)
    options = {"dtype": torch.bfloat16} if flags[0] == "--dtype" else {"quantize": flags[1]}
    model = einformer.load(tmp_path, **options).model
    assert dtypes.of(model) == torch.bfloat16  # --quantize runs bf16 activations
    ids = torch.tensor([tok("hello the")["input_ids"]])
    new = model.generate(ids, max_new_tokens=5, do_sample=False)[0, ids.shape[1] :].tolist()
    new = new[: new.index(tok.eos_token_id)] if tok.eos_token_id in new else new
    capsys.readouterr()
    code = main(["generate", str(tmp_path), "--prompt", "hello the", "--max-new-tokens", "5", "--greedy", *flags])
    assert code == 0 and capsys.readouterr().out == "hello the" + tok.decode(new) + "\n"


def test_a_new_head_over_an_einformer_bert_loads_in_the_dtype_asked(tmp_path):
    """The head has no saved weights, so the meta-built model is built again in fp32 and cast; the weight
    check skips the head's meta placeholders (it called .item() on them: 'cannot be called on meta tensors')."""
    from einformer import BertConfig, BertModel
    from einformer.models.bert_heads import BertForSequenceClassification

    torch.manual_seed(0)
    encoder = BertModel(BertConfig.from_preset("tiny", vocab_size=100)).eval()
    encoder.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="start from random values"):
        head = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3, dtype=torch.bfloat16)
    assert {p.dtype for p in head.parameters()} == {torch.bfloat16}
    ids = torch.randint(0, 100, (2, 7))
    with torch.no_grad():
        expected = encoder.to(torch.bfloat16)(ids).last_hidden_state
        assert torch.equal(head.bert(ids).last_hidden_state, expected)
