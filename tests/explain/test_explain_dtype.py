"""``--dtype`` on the explain commands that run a model (``attention``, ``probe``, ``ponder``): the weights
load in the type asked for, and what the command reads off the model stays within that type's rounding
of fp32's."""

import torch

from einformer import BertConfig, BertModel, load
from einformer.cli import main
from einformer.explain.collect import collect_attention
from einformer.explain.probing import layer_features
from einformer.recipes.bert_pretrain import train_wordpiece

SENTENCES = [f"the old teacher sees the ball number {i} ." for i in range(40)]


def _bert(tmp_path):
    tokenizer = train_wordpiece(SENTENCES, vocab_size=120)
    torch.manual_seed(0)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(tmp_path, format="hf")
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def test_probe_runs_in_bf16_on_features_within_bf16_rounding(tmp_path, capsys):
    bert = _bert(tmp_path / "bert")
    full, half = load(bert), load(bert, dtype="bfloat16")
    assert next(half.encoder.parameters()).dtype == torch.bfloat16
    f32 = layer_features(full.encoder, full.tokenizer, SENTENCES[:8])  # (L + 1, N, D)
    bf16 = layer_features(half.encoder, half.tokenizer, SENTENCES[:8])
    assert bf16.dtype == torch.float32  # pooled in fp32 (the mask is fp32), so the probes train in fp32
    cos = torch.nn.functional.cosine_similarity(f32, bf16, dim=-1)
    assert cos.min() > 0.999, cos.min()
    argv = ["probe", str(bert), "--tasks", "length", "--n-train", "16", "--n-test", "8", "-o", str(tmp_path / "p.png")]
    assert main([*argv, "--dtype", "bfloat16"]) == 0
    assert "(bfloat16)" in capsys.readouterr().out
    assert main(argv) == 0
    assert "(float32)" in capsys.readouterr().out


def test_ponder_takes_dtype(tmp_path, capsys):
    run = tmp_path / "ut"
    args = ["train", "--model", "universal", "--act", "--task", "parity", "--preset", "tiny", "--ut-steps", "4"]
    args += ["--train-lengths", "8,8", "--test-lengths", "8,8", "--n-train", "200", "--run-dir", str(run)]
    assert main([*args, "--steps", "4", "--batch-size", "16", "--no-progress"]) == 0
    capsys.readouterr()
    plot = ["-o", str(tmp_path / "p.png"), "--difficulty-plot", ""]
    assert main(["ponder", str(run), "+0-0+00-", *plot]) == 0
    f32 = capsys.readouterr().out.splitlines()
    assert main(["ponder", str(run), "+0-0+00-", *plot, "--dtype", "bfloat16"]) == 0
    bf16 = capsys.readouterr().out.splitlines()
    assert bf16[0] == f32[0] and bf16[0].startswith("output: ")  # the same answer
    steps = [[float(v) for v in lines[2].split()[3:]] for lines in (f32, bf16)]  # "N + R" per token
    assert len(steps[0]) >= 8 and max(abs(a - b) for a, b in zip(*steps, strict=True)) < 0.1, steps


def test_attention_maps_in_bf16_are_fp32_s_within_bf16_rounding(tmp_path, capsys):
    bert = _bert(tmp_path / "bert")
    text = "the old teacher sees the ball number 7 ."
    full = collect_attention(str(bert), text)
    half = collect_attention(str(bert), text, dtype="bfloat16")
    assert half.rows == full.rows and len(half.maps["self"]) == len(full.maps["self"])
    for f32, bf16 in zip(full.maps["self"], half.maps["self"], strict=True):  # per layer (H, T, T)
        torch.testing.assert_close(bf16.float(), f32.float(), atol=2e-2, rtol=0)
    argv = ["attention", str(bert), text, "-o", str(tmp_path / "a.png"), "--html", str(tmp_path / "a.html")]
    assert main([*argv, "--dtype", "bfloat16"]) == 0
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "a.html").is_file()
