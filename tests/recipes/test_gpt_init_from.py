"""Fine-tuning a pretrained GPT: `einformer train --model gpt --init-from DIR` starts from the
checkpoint with its tokenizer, puts EOS between documents, reports validation before the first step
and after, beats the same model trained from scratch at equal steps, resumes, generates, and exports
to a Hugging Face directory that transformers loads with identical logits and token ids; bad starts
are refused by name."""

import json

import pytest
import torch
from torch.testing import assert_close

from einformer import BertConfig, BertModel, load
from einformer.cli import main
from einformer.data.gpt2_tokenizer import GPT2Tokenizer
from einformer.recipes.bert_pretrain import train_wordpiece
from einformer.recipes.lm_start import encode_documents, split_documents

FAST = "--block-size 32 --batch-size 8 --warmup 2 --no-progress".split()
SAMPLE = "the fox said: line 7, and so it went.\n\nthe end"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    root = tmp_path_factory.mktemp("init_from")
    lines = [f"line {i % 13} of the text, said the fox.\n\nand so it went on {i % 5}.\n\n" for i in range(300)]
    (root / "pre.txt").write_text("".join(lines), encoding="utf-8")
    (root / "fine.txt").write_text("".join(x.replace("fox", "owl") for x in lines), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def pretrained(texts):
    """A byte-level BPE GPT pre-trained on one text and exported in Hugging Face's format."""
    pre, hf = texts / "pre_run", texts / "pre_hf"
    argv = ["train", "--model", "gpt", "--data", texts / "pre.txt", "--tokenizer", "bpe", "--vocab-size", "300",
            "--preset", "tiny", "--steps", "60", "--eval-every", "60", "--save-every", "60", "--lr", "3e-3",
            "--run-dir", pre, *FAST]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    assert main(["export", str(pre), str(hf)]) == 0
    return hf


def test_the_export_is_a_gpt2_directory_transformers_reads_with_identical_logits(pretrained):
    transformers = pytest.importorskip("transformers")
    ours = load(pretrained)
    assert isinstance(ours.tokenizer, GPT2Tokenizer) and ours.origin == "huggingface"
    theirs = transformers.AutoModelForCausalLM.from_pretrained(pretrained).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained)
    ids = ours.tokenizer.encode(SAMPLE)
    assert tokenizer(SAMPLE)["input_ids"] == ids and tokenizer.eos_token == "[EOS]"
    with torch.no_grad():  # the same weights; the kernels' float32 rounding may differ in the last bit
        assert_close(theirs(torch.tensor([ids])).logits, ours.model(torch.tensor([ids])).logits, atol=1e-6, rtol=0)


def test_fine_tuning_starts_from_the_checkpoint_and_beats_scratch(pretrained, texts, tmp_path, capsys):
    common = ["--data", texts / "fine.txt", "--documents", "blank-line", "--steps", "12", "--eval-every", "6",
              "--save-every", "6", "--lr", "3e-3", *FAST]  # fmt: skip
    code, out, _ = run(
        capsys, "train", "--model", "gpt", "--init-from", pretrained, "--run-dir", tmp_path / "ft", *common
    )
    assert code == 0 and "before the first step" in out
    code, _, _ = run(
        capsys, "train", "--model", "gpt", "--tokenizer-from", pretrained, "--preset", "tiny",
        "--run-dir", tmp_path / "scratch", *common,
    )  # fmt: skip
    assert code == 0
    ft, scratch = ([json.loads(x) for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                   for d in ("ft", "scratch"))  # fmt: skip
    ft_evals = {r["step"]: r["eval"]["loss"] for r in ft if "eval" in r}
    scratch_evals = {r["step"]: r["eval"]["loss"] for r in scratch if "eval" in r}
    assert 0 in ft_evals and 0 not in scratch_evals  # validation before the first step, for a pretrained start
    assert ft_evals[0] < scratch_evals[6]  # the checkpoint already knows most of the text
    assert all(ft_evals[s] < scratch_evals[s] for s in (6, 12))
    # the run keeps the pretrained tokenizer (GPT-2's files) and loads as a language model with it
    loaded = load(tmp_path / "ft")
    assert isinstance(loaded.tokenizer, GPT2Tokenizer) and loaded.tokenizer.encode(SAMPLE) == load(
        pretrained
    ).tokenizer.encode(SAMPLE)
    assert loaded.run.init_from == str(pretrained.resolve()) and loaded.run.documents == "blank-line"
    code, out, _ = run(capsys, "generate", tmp_path / "ft", "--prompt", "the owl", "--max-new-tokens", "5", "--greedy")
    assert code == 0 and out.startswith("the owl")
    # resuming keeps going with the same tokenizer
    more = [a if a != "12" else "14" for a in common]
    code, out, _ = run(capsys, "train", "--model", "gpt", "--init-from", pretrained, "--run-dir", tmp_path / "ft",
                       "--resume", *more)  # fmt: skip
    assert code == 0 and "trained to step 14" in out


def test_the_fine_tuned_run_exports_with_identical_logits(pretrained, texts, tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    code, _, _ = run(capsys, "train", "--model", "gpt", "--init-from", pretrained, "--data", texts / "fine.txt",
                     "--steps", "3", "--eval-every", "3", "--save-every", "3", "--run-dir", tmp_path / "ft",
                     *FAST)  # fmt: skip
    assert code == 0
    assert main(["export", str(tmp_path / "ft"), str(tmp_path / "ft_hf")]) == 0
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ft_hf").eval()
    ids = transformers.AutoTokenizer.from_pretrained(tmp_path / "ft_hf")(SAMPLE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert_close(theirs(ids).logits, load(tmp_path / "ft").model(ids).logits, atol=1e-6, rtol=0)


def test_documents_are_separated_by_eos(pretrained):
    tok = load(pretrained).tokenizer
    assert split_documents("a\n\n\nb\n \nc\n", "blank-line") == ["a", "b", "c\n"]
    assert split_documents("a\nb\n\nc", "line") == ["a", "b", "c"]
    ids = encode_documents(tok, "one doc\n\ntwo doc", "blank-line").tolist()
    assert ids == tok.encode("one doc") + [tok.eos_token_id] + tok.encode("two doc")
    assert encode_documents(tok, "one doc\n\ntwo doc", "file").tolist() == tok.encode("one doc\n\ntwo doc")


def test_bad_starts_are_refused_by_name(pretrained, texts, tmp_path, capsys):
    bert = tmp_path / "bert"
    tokenizer = train_wordpiece(["the old teacher sees the ball"], vocab_size=60)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    base = ["train", "--model", "gpt", "--data", texts / "fine.txt", "--steps", "1", *FAST]
    cases = [
        (["--init-from", bert, "--run-dir", tmp_path / "a"], "--init-from needs a gpt or llama model"),
        (["--init-from", pretrained, "--preset", "small", "--run-dir", tmp_path / "b"], "drop --preset"),
        (["--init-from", pretrained, "--layers", "3", "--run-dir", tmp_path / "c"], "drop --layers"),
        (["--init-from", pretrained, "--block-size", "999", "--run-dir", tmp_path / "d"], "exceeds"),
    ]
    for extra, phrase in cases:
        code, _, err = run(capsys, *base, *extra)
        assert code == 2 and phrase in err, (extra, err)
        assert not (tmp_path / extra[-1]).exists() or not any((tmp_path / extra[-1]).iterdir())
    code, _, err = run(capsys, "train", "--model", "transformer-xl", "--init-from", pretrained, "--data",
                       texts / "fine.txt", "--run-dir", tmp_path / "e")  # fmt: skip
    assert code == 2 and "fine-tunes a GPT" in err


def test_a_tokenizer_larger_than_the_model_is_refused(pretrained, tmp_path, capsys):
    small = tmp_path / "small"
    config = json.loads((pretrained / "config.json").read_text())
    model = load(pretrained).model
    from einformer import GPT

    GPT(model.config.replace(vocab_size=50)).save_pretrained(small, format="hf")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"):
        (small / name).write_bytes((pretrained / name).read_bytes())
    assert config["vocab_size"] > 50
    code, _, err = run(capsys, "generate", small, "--prompt", "x")
    assert code == 2 and "tokenizer has" in err and "vocab_size is 50" in err
