"""Writing the Llama family back to Hugging Face's format, with transformers as the oracle: a sharded
``save_pretrained(format="hf", max_shard_size=...)`` loads in transformers and in einformer with the
same logits, and a later save leaves no stale weight file; `einformer train --model llama
--init-from DIR` fine-tunes a tiny random Qwen2 that transformers saved, and `einformer export` gives
a directory transformers loads as a Qwen2 with the run's logits and tokens."""

import json

import pytest
import torch

import einformer
from einformer.cli import main
from einformer.interop.hf_files import SHARD_INDEX, parse_size, plan_shards
from einformer.interop.llama import load_hf_llama
from einformer.models.llama import Llama

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

BASE = dict(vocab_size=96, hidden_size=32, intermediate_size=56, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
            pad_token_id=0)  # fmt: skip


def _theirs(config_class="LlamaConfig", **extra):
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(**{**BASE, **extra})
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():  # norms and biases away from their init, so a mix-up would show
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _logits(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids) if isinstance(model, transformers.PreTrainedModel) else model(ids)
    return out.logits


IDS = torch.tensor([[5, 17, 42, 8, 23, 61, 7, 90, 3, 11]])


@pytest.mark.parametrize("config_class", ["LlamaConfig", "Qwen2Config"])
def test_sharded_export_loads_in_transformers_and_back_with_the_same_logits(tmp_path, config_class):
    theirs = _theirs(config_class)
    theirs.save_pretrained(tmp_path / "in")
    ours = load_hf_llama(Llama, tmp_path / "in").eval()
    out = tmp_path / "out"
    ours.save_pretrained(out, format="hf", max_shard_size="20KB")
    shards = sorted(out.glob("model-*.safetensors"))
    index = json.loads((out / SHARD_INDEX).read_text())
    assert not (out / "model.safetensors").exists() and len(shards) > 1
    assert [s.name for s in shards] == [
        f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)
    ]
    tied = {"lm_head.weight"} if theirs.config.tie_word_embeddings else set()
    assert set(index["weight_map"]) == set(theirs.state_dict()) - tied
    assert index["metadata"]["total_size"] == sum(t.numel() * 4 for t in ours.state_dict().values()) - (
        ours.lm_head.weight.numel() * 4 * ours.config.tie_word_embeddings  # a tied matrix is written once
    )
    assert index["metadata"]["total_parameters"] == theirs.num_parameters()  # as transformers writes it
    for shard in shards:  # no shard past the limit (its header aside), unless it holds one tensor alone
        held = [k for k, v in index["weight_map"].items() if v == shard.name]
        assert shard.stat().st_size <= 20_000 + 4096 or len(held) == 1
    again = transformers.AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager").eval()
    assert type(again) is type(theirs)
    torch.testing.assert_close(_logits(again, IDS), _logits(theirs, IDS), rtol=1e-5, atol=1e-5)
    back = einformer.load(out).model
    torch.testing.assert_close(_logits(back, IDS), _logits(theirs, IDS), rtol=1e-5, atol=1e-5)
    # saved again in one file, into the same directory: the shards and their index go
    ours.save_pretrained(out, format="hf")
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    assert not (out / SHARD_INDEX).exists()
    torch.testing.assert_close(_logits(einformer.load(out).model, IDS), _logits(theirs, IDS), rtol=1e-5, atol=1e-5)


def test_shard_sizes_read_as_transformers_reads_them():
    assert parse_size("5GB") == 5 * 10**9 and parse_size("500MB") == 5 * 10**8 and parse_size(" 20kb ") == 20_000
    assert parse_size("2GiB") == 2 * 2**30 and parse_size(4096) == 4096 and parse_size("1.5MB") == 1_500_000
    for bad in ("5 gigabytes", "GB", -3, 0, "10"):
        with pytest.raises(ValueError, match="max_shard_size"):
            parse_size(bad)


def test_shards_fill_in_order_and_a_large_tensor_stands_alone():
    tensors = {name: torch.zeros(n) for name, n in [("a", 10), ("b", 10), ("big", 100), ("c", 5), ("d", 20)]}
    # huggingface_hub's order: 400 bytes alone at once, while a, b, c (40 + 40 + 20) stay open
    assert plan_shards(tensors, 100) == [["big"], ["a", "b", "c"], ["d"]]
    assert plan_shards(tensors, 10**6) == [["a", "b", "big", "c", "d"]]


def test_max_shard_size_is_for_the_hugging_face_format(tmp_path):
    model = Llama(einformer.LlamaConfig.from_preset("tiny"))
    with pytest.raises(ValueError, match="format='hf'"):
        model.save_pretrained(tmp_path, max_shard_size="1MB")


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory):
    """A tiny random Qwen2 with a byte-level BPE tokenizer split as Qwen2's is (digits alone: transformers
    5 reads a qwen2 directory's tokenizer with that split, whatever tokenizer.json says), both saved by
    transformers."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    root = tmp_path_factory.mktemp("qwen2")
    text = "".join(f"the owl said {i % 7} times: so it went, and the fox ran {i % 3} miles.\n" for i in range(400))
    (root / "text.txt").write_text(text, encoding="utf-8")
    bpe = Tokenizer(models.BPE())
    split = pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), "isolated")
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    bpe.train_from_iterator([text], trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    model = _theirs("Qwen2Config", vocab_size=len(tokenizer), bos_token_id=None, eos_token_id=0, pad_token_id=0,
                    tie_word_embeddings=True)  # fmt: skip
    model.save_pretrained(root / "qwen2")
    tokenizer.save_pretrained(root / "qwen2")
    return root


def test_init_from_a_qwen2_directory_trains_and_exports_as_qwen2(qwen2_dir, tmp_path, capsys):
    start, run, out = qwen2_dir / "qwen2", tmp_path / "run", tmp_path / "exported"
    argv = ["train", "--model", "llama", "--init-from", start, "--data", qwen2_dir / "text.txt", "--run-dir", run,
            "--steps", "8", "--eval-every", "8", "--save-every", "8", "--block-size", "32", "--batch-size", "8",
            "--lr", "3e-3", "--warmup", "1", "--no-progress"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    assert "before the first step" in capsys.readouterr().out
    assert main(["export", str(run), str(out)]) == 0
    capsys.readouterr()
    before = transformers.AutoModelForCausalLM.from_pretrained(start).eval()
    after = transformers.AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager").eval()
    assert type(after).__name__ == "Qwen2ForCausalLM" and after.config.tie_word_embeddings
    trained = einformer.load(run)
    text = "the owl said 3 times"
    ids = transformers.AutoTokenizer.from_pretrained(out)(text, return_tensors="pt").input_ids
    assert ids[0].tolist() == trained.tokenizer.encode(text)
    # the export is the trained run, not the starting point
    torch.testing.assert_close(_logits(after, ids), _logits(trained.model, ids), rtol=1e-5, atol=1e-5)
    assert (_logits(after, ids) - _logits(before, ids)).abs().max() > 1e-3
    with torch.no_grad():
        expected = after.generate(ids, max_new_tokens=8, do_sample=False)
    assert trained.model.generate(ids, max_new_tokens=8, do_sample=False).tolist() == expected.tolist()


@pytest.mark.parametrize("config_class", ["LlamaConfig", "Qwen3Config"])
def test_a_loaded_model_is_whole_and_its_tied_weights_one_parameter(tmp_path, config_class):
    """The loader builds on the meta device and takes the file's tensors: nothing may stay on meta,
    the rotary frequencies are computed again, a tied output layer is the embedding itself (one
    optimizer step moves both), and the logits are transformers'."""
    theirs = _theirs(config_class, tie_word_embeddings=True, head_dim=12)
    theirs.save_pretrained(tmp_path)
    ours = load_hf_llama(Llama, tmp_path)
    tensors = [*ours.parameters(), *ours.buffers()]
    assert not any(t.is_meta for t in tensors) and ours.lm_head.weight is ours.embed.weight
    fresh = Llama(ours.config)  # built the ordinary way: the same rotary frequencies
    torch.testing.assert_close(ours.rotary.inv_freq, fresh.rotary.inv_freq, rtol=0, atol=0)
    torch.testing.assert_close(_logits(ours.eval(), IDS), _logits(theirs, IDS), rtol=1e-5, atol=1e-5)
    ours.train()
    torch.optim.SGD(ours.parameters(), lr=0.1).zero_grad()
    ours(IDS, labels=IDS).loss.backward()
    torch.optim.SGD(ours.parameters(), lr=0.1).step()
    assert ours.lm_head.weight is ours.embed.weight
    assert not torch.equal(ours.embed.weight, theirs.model.embed_tokens.weight)  # it trained, in place
    again = load_hf_llama(Llama, tmp_path)  # and the mapped file it came from is untouched
    torch.testing.assert_close(again.embed.weight, theirs.model.embed_tokens.weight, rtol=0, atol=0)
