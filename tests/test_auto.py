"""The one loader: what each kind of directory loads as, and every command that takes a model going
through it (dispatch on model_type, refusals by name), plus the run-directory rules it relies on."""

import hashlib
import json

import pytest

from einformer import GPT, BertConfig, BertModel, GPTConfig, TransformerXLConfig, load, registry
from einformer.cli import main
from einformer.config import EncoderDecoderConfig
from einformer.data.tokenizer import Tokenizer
from einformer.generation.kinds import CausalLM, MemoryLM
from einformer.recipes.bert_pretrain import train_wordpiece
from einformer.training.run_info import LanguageModelRunInfo

TEXT = "".join(f"line {i % 7}: the quick brown fox jumps over the lazy dog.\n" for i in range(200))
FAST = ["--preset", "tiny", "--block-size", "32", "--batch-size", "8", "--eval-every", "2", "--save-every", "2",
        "--warmup", "1", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto")
    tokenizer = train_wordpiece([f"the old teacher sees the ball number {i} ." for i in range(50)], vocab_size=120)
    bert = root / "bert"
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(bert, format="hf")
    tokenizer.save_pretrained(bert)
    gpt2 = root / "gpt2"
    GPT(GPTConfig.from_preset("tiny", bos_token_id=0, eos_token_id=0)).save_pretrained(gpt2, format="hf")
    text = root / "corpus.txt"
    text.write_text(TEXT, encoding="utf-8")
    lm = root / "lm"
    assert main(["train", "--model", "gpt", "--data", str(text), "--run-dir", str(lm), "--steps", "2", *FAST]) == 0
    return {"bert": bert, "gpt2": gpt2, "lm": lm, "text": text, "root": root}


def test_each_kind_of_directory_loads_as_what_it_holds(dirs):
    bert = load(dirs["bert"])
    assert (bert.origin, bert.model_type, type(bert.model)) == ("huggingface", "bert", BertModel)
    assert bert.tokenizer is not None and bert.run is None
    gpt2 = load(dirs["gpt2"])
    assert (gpt2.origin, gpt2.model_type, type(gpt2.model)) == ("huggingface", "gpt", GPT)
    assert gpt2.tokenizer is None and "vocab.json + merges.txt" in gpt2.tokenizer_problem
    lm = load(dirs["lm"])
    assert isinstance(lm.run, LanguageModelRunInfo) and lm.run.data == str(dirs["text"].resolve())
    assert type(lm.model) is GPT and isinstance(lm.tokenizer, Tokenizer) and lm.origin == "einformer"


def test_unsupported_model_type_lists_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(ValueError, match=r"model_type 't5' is not supported; einformer reads \[.*'gpt2'"):
        load(tmp_path)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_dispatches_on_model_type(dirs, capsys):
    code, out, _ = _run(capsys, "generate", dirs["lm"], "--prompt", "line", "--max-new-tokens", "4", "--greedy")
    assert code == 0 and out.startswith("line")
    code, _, err = _run(capsys, "generate", dirs["bert"], "--prompt", "x")
    generating = " or ".join(registry.names(CausalLM, MemoryLM))  # every language-model family, from the registry
    assert generating.startswith("gpt or ") and "transformer-xl" in generating
    assert code == 2 and f"generate needs a {generating} model" in err and "holds a bert model" in err
    code, _, err = _run(capsys, "generate", dirs["gpt2"], "--prompt", "x")  # the GPT path, stopped at the tokenizer
    assert code == 2 and "Hugging Face GPT-2 directory" in err and "vocab.json + merges.txt" in err


def test_attention_dispatches_on_model_type(dirs, capsys, tmp_path):
    code, out, _ = _run(capsys, "attention", dirs["bert"], "the old teacher", "-o", tmp_path / "b.png")
    assert code == 0 and "self attention" in out and "[CLS]" in out
    code, out, _ = _run(capsys, "attention", dirs["lm"], "line 3", "-o", tmp_path / "g.png")
    assert code == 0 and "self attention" in out
    code, _, err = _run(capsys, "attention", dirs["gpt2"], "x")
    assert code == 2 and "Hugging Face GPT-2 directory" in err


def test_embed_and_probe_take_a_bert_and_refuse_a_gpt(dirs, capsys, tmp_path):
    code, out, _ = _run(capsys, "embed", dirs["bert"], "the old teacher", "the ball")
    assert code == 0 and "2 embeddings of 32 dimensions" in out
    code, _, err = _run(capsys, "embed", dirs["lm"], "x")
    assert code == 2 and "embed needs a bert or roberta or xlm-roberta" in err and "holds a gpt model (GPT)" in err
    argv = ["--tasks", "length", "--n-train", "16", "--n-test", "8", "-o", tmp_path / "p.png"]
    code, out, _ = _run(capsys, "probe", dirs["bert"], *argv)
    assert code == 0 and "probing 2 layers" in out and (tmp_path / "p.png").is_file()
    code, _, err = _run(capsys, "probe", dirs["gpt2"], *argv)
    assert code == 2 and "probe needs a bert model" in err and "holds a gpt model" in err


def test_predict_needs_a_finetune_run(dirs, capsys):
    code, _, err = _run(capsys, "predict", dirs["bert"], "a text")
    assert code == 2 and "holds a BertModel: raw-text predictions need a run fine-tuned for" in err
    code, _, err = _run(capsys, "predict", dirs["lm"], "a text")
    assert code == 2 and "predict needs a bert or roberta or xlm-roberta" in err


def _digest(directory):
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != ".lock")  # .lock: the holder's pid
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_a_refused_run_leaves_the_existing_one_untouched(dirs, capsys):
    before = _digest(dirs["lm"])
    code, _, err = _run(capsys, "train", "--model", "gpt", "--data", dirs["text"], "--run-dir", dirs["lm"],
                        "--tokenizer", "bpe", "--steps", "2", *FAST)  # fmt: skip
    assert code == 2 and "already holds a run" in err and "Nothing was written" in err
    assert _digest(dirs["lm"]) == before


def test_resume_refuses_a_different_job_naming_what_changed(dirs, capsys, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text(TEXT.upper(), encoding="utf-8")
    code, _, err = _run(capsys, "train", "--model", "gpt", "--data", other, "--run-dir", dirs["lm"], "--resume",
                        "--steps", "4", *FAST)  # fmt: skip
    assert code == 2 and "describes another one" in err and "data:" in err and "split_char" not in err


def test_old_config_names_still_load_and_types_are_checked():
    xl = TransformerXLConfig.from_dict({"model_type": "transformer-xl", "d_inner": 77, "tie_weight": False})
    assert xl.d_ff == 77 and xl.tie_word_embeddings is False
    ed = EncoderDecoderConfig.from_dict({"model_type": "encoder-decoder", "tie_output": False})
    assert ed.tie_word_embeddings is False
    assert GPTConfig.from_preset("tiny").d_ff == 4 * 32  # GPT-2's n_inner = null, resolved once
    with pytest.raises(ValueError, match=r"n_heads: expected int, got True"):
        GPTConfig.from_preset("tiny", n_heads=True)
    with pytest.raises(ValueError, match=r"d_ff: expected int or null, got '64'"):
        GPTConfig.from_preset("tiny", d_ff="64")
