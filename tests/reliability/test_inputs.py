"""Bad input, as a careful user would try it: each gets one or two lines that name the input and the
fix, never a traceback, and nothing already saved is lost."""

import hashlib
import json
import os
import pickle
import stat

import pytest
import torch

from .helpers import LM, einformer, losses, text_file

NO_TRACEBACK = "Traceback"


def refused(out, *phrases):
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert NO_TRACEBACK not in out.stderr and len(out.stderr.strip().splitlines()) <= 2, out.stderr
    for phrase in phrases:
        assert phrase in out.stderr, (phrase, out.stderr)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    """A finished 4-step GPT run (checkpoint every 2 steps)."""
    root = tmp_path_factory.mktemp("lm")
    data = text_file(root)
    out = einformer("train", *LM, "--data", data, "--run-dir", root / "run", "--steps", 4, "--save-every", 2)
    assert out.returncode == 0, out.stderr
    return data, root / "run"


def _digest(directory):
    """Every file's hash; the lock file holds the pid of the last process that held it, not run data."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != ".lock"}  # fmt: skip


def test_a_refused_seq2seq_run_leaves_the_old_one_working(tmp_path):
    """The issue's repro: train reverse, then numbers-en into the same directory (refused): the
    reverse run still translates exactly as before."""
    run = tmp_path / "R"
    common = ["--preset", "tiny", "--batch-size", "16", "--n-train", "500", "--no-progress", "--run-dir", run]
    assert einformer("train", "--task", "reverse", "--steps", 20, *common).returncode == 0
    before, files = einformer("translate", run, "abc").stdout, _digest(run)
    refused(
        einformer("train", "--task", "numbers-en", "--steps", 5, *common), "already holds a run", "Nothing was written"
    )
    assert einformer("translate", run, "abc").stdout == before and _digest(run) == files
    refused(einformer("demo", "--run-dir", run, "--quick"), "the demo starts fresh")
    assert "--resume" not in einformer("demo", "--run-dir", run, "--quick").stderr


def test_resume_refuses_changed_settings_and_names_the_ones_it_applies(lm, tmp_path):
    data, run = lm
    base = ["train", *LM, "--data", data, "--run-dir", run, "--resume"]
    refused(einformer(*base, "--steps", 6, "--lr", "0.5"), "--lr 0.001 (now 0.5)", "Resume without changing them")
    refused(einformer(*base, "--steps", 6, "--block-size", 16), "block_size: 32 -> 16")
    other = tmp_path / "other.txt"
    other.write_text("something else entirely\n" * 50)
    refused(einformer(*["train", *LM, "--data", other, "--run-dir", run, "--resume", "--steps", 6]), "data:")
    copy = tmp_path / "copy"
    os.system(f"cp -a {run} {copy}")
    out = einformer(*["train", *LM, "--data", data, "--run-dir", copy, "--resume"], "--steps", 6)
    assert out.returncode == 0 and "resuming with --steps 4 -> 6" in out.stderr
    assert [s for s, _ in losses(copy)] == [1, 2, 3, 4, 5, 6]


def test_a_torn_metrics_line_does_not_stop_a_resume(lm, tmp_path):
    data, run = lm
    copy = tmp_path / "copy"
    os.system(f"cp -a {run} {copy}")
    with open(copy / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "lo')  # killed mid-write
    out = einformer("train", *LM, "--data", data, "--run-dir", copy, "--resume", "--steps", 5)
    assert out.returncode == 0 and "a torn line" in out.stderr
    assert [s for s, _ in losses(copy)] == [1, 2, 3, 4, 5]


class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_malicious_training_state_is_refused_and_never_runs(lm, tmp_path):
    data, run = lm
    copy = tmp_path / "copy"
    os.system(f"cp -a {run} {copy}")
    marker = tmp_path / "pwned"
    state = copy / "last" / "training_state.pt"
    state.write_bytes(pickle.dumps({"step": 4, "x": _Exploit(marker)}))
    out = einformer("train", *LM, "--data", data, "--run-dir", copy, "--resume", "--steps", 6)
    refused(out, "training_state.pt", "it was not executed")
    assert "weights_only=False" not in out.stderr and not marker.exists()


def test_a_diverged_run_says_no_checkpoint_was_kept(tmp_path):
    data = text_file(tmp_path)
    out = einformer("train", *LM, "--data", data, "--run-dir", tmp_path / "run", "--steps", 30, "--lr", "1e6",
                    "--clip", "0", "--warmup", "1", "--save-every", 100)  # fmt: skip
    refused(out, "the loss became", "No checkpoint was saved before it")


@pytest.mark.parametrize(
    "field, value, phrase",
    [
        ("n_heads", True, "n_heads: expected int, got True"),
        ("n_layers", "2", "n_layers: expected int, got '2'"),
        ("d_model", None, "d_model: expected int, got None"),
        ("d_ff", -1, "d_ff: must be >= 1, got -1"),
        ("dropout", [0.1], "dropout: expected float, got [0.1]"),
    ],
)
def test_config_fields_of_the_wrong_type_name_the_file_and_field(lm, tmp_path, field, value, phrase):
    _, run = lm
    copy = tmp_path / "copy"
    os.system(f"cp -a {run} {copy}")
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, field: value}))
    refused(einformer("generate", copy, "--prompt", "x", "--max-new-tokens", 2), f"{copy / 'config.json'}: {phrase}")


def test_a_garbage_bert_tokenizer_is_named(tmp_path):
    from einformer import BertConfig, BertModel

    BertModel(BertConfig.from_preset("tiny")).save_pretrained(tmp_path, format="hf")
    (tmp_path / "tokenizer.json").write_text("{ this is not a tokenizer")
    refused(einformer("embed", tmp_path, "a text"), "tokenizer.json")


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (["--d-ff", "-4"], "--d-ff must be a positive number, got -4"),
        (["--vocab-size", "-5"], "--vocab-size must be a positive number, got -5"),
        (["--device", "tpu"], "--device 'tpu': einformer trains on cpu, cuda or cuda:N"),
        (["--nproc-per-node", "0"], "--nproc-per-node must be >= 1, got 0"),
        (["--nproc-per-node", "3"], "--batch-size 8 does not split evenly over --nproc-per-node 3"),
    ],
)
def test_bad_training_flags(tmp_path, argv, phrase):
    data = text_file(tmp_path)
    refused(einformer("train", *LM, "--data", data, "--run-dir", tmp_path / "run", "--steps", 2, *argv), phrase)
    assert not (tmp_path / "run" / "run.json").exists()


def test_bad_flags_of_the_other_commands(lm, tmp_path):
    data, run = lm
    refused(einformer("generate", run, "--prompt", "x", "--max-new-tokens", "-3"), "max_new_tokens must be >= 1")
    refused(einformer("evaluate", run, "--limit", "0"), "--limit must be >= 1, got 0")
    refused(einformer("translate", run, "x", "--batch-size", "0"), "--batch-size must be >= 1, got 0")
    refused(einformer("train", *LM, "--data", tmp_path, "--run-dir", tmp_path / "r", "--steps", 2), "is a directory")


def test_evaluate_a_run_without_a_best_model_uses_its_last_checkpoint(lm, tmp_path):
    _, run = lm
    copy = tmp_path / "copy"
    os.system(f"cp -a {run} {copy}")
    for name in ("config.json", "model.safetensors"):  # as if killed before its first evaluation
        (copy / name).unlink()
    out = einformer("evaluate", copy, "--limit", 2, "--json")
    assert out.returncode == 0 and "latest checkpoint" in out.stderr and "loss" in json.loads(out.stdout)


def test_run_json_stores_absolute_paths(lm, tmp_path):
    _, run = lm
    assert os.path.isabs(json.loads((run / "run.json").read_text())["data"])


def test_files_written_atomically_follow_the_umask(lm):
    _, run = lm
    for name in ("run.json", "config.json", "model.safetensors", "last/training_state.pt"):
        mode = stat.S_IMODE((run / name).stat().st_mode)
        assert mode == 0o666 & ~_umask(), (name, oct(mode))


def _umask():
    value = os.umask(0)
    os.umask(value)
    return value


def test_an_unexpected_error_is_one_line_pointing_to_debug():
    from einformer.cli import error_message

    message = error_message(RuntimeError("boom"))
    assert message == "unexpected RuntimeError: boom (run again with einformer --debug ... for the traceback)"
    assert "free some, then --resume" in error_message(OSError(28, "No space left on device"))


# ---------------------------------------------------------------- fine-tuning labels and resume
def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    from einformer import BertConfig, BertModel
    from einformer.recipes.bert_pretrain import train_wordpiece

    root = tmp_path_factory.mktemp("bert")
    tokenizer = train_wordpiece([f"the old teacher sees the ball number {i} ." for i in range(50)], vocab_size=120)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(root, format="hf")
    tokenizer.save_pretrained(root)
    return root


def _finetune(bert, tmp_path, train, val, task="classify", *extra):
    return einformer("finetune", "--model", bert, "--task", task, "--data", train, "--val", val, "--run-dir",
                     tmp_path / "run", "--steps", 4, "--batch-size", 4, "--eval-every", 2, "--save-every", 2,
                     "--warmup", 1, "--no-progress", *extra)  # fmt: skip


GOOD = [{"text": f"the old teacher {i}", "label": ("a", "b")[i % 2]} for i in range(12)]


@pytest.mark.parametrize(
    "train, val, phrase",
    [
        (GOOD, [{"text": "x", "label": "c"}], "validation records have label(s) ['c'] that no training record has"),
        (GOOD + [{"text": "x", "label": 3}], GOOD, "classify labels mix strings and integers"),
        (GOOD + [{"text": "x", "label": None}], GOOD, "train.jsonl:13: a classify label must be a string or an"),
        (GOOD + [{"text": "x", "label": ["a"]}], GOOD, "train.jsonl:13: a classify label must be"),
    ],
)
def test_finetune_labels(bert, tmp_path, train, val, phrase):
    out = _finetune(bert, tmp_path, _jsonl(tmp_path / "train.jsonl", train), _jsonl(tmp_path / "val.jsonl", val))
    refused(out, phrase)


def test_a_string_label_for_regress_names_file_and_line(bert, tmp_path):
    records = [{"text": "x", "label": 0.5}, {"text": "y", "label": "high"}]
    train = _jsonl(tmp_path / "train.jsonl", records)
    refused(_finetune(bert, tmp_path, train, train, "regress"), "train.jsonl:2: a regress label must be a number")


def test_finetune_resume_continues_the_run(bert, tmp_path):
    train, val = _jsonl(tmp_path / "train.jsonl", GOOD), _jsonl(tmp_path / "val.jsonl", GOOD[:4])
    assert _finetune(bert, tmp_path, train, val).returncode == 0
    state = torch.load(tmp_path / "run" / "last" / "training_state.pt", weights_only=True)
    assert state["step"] == 4
    out = _finetune(bert, tmp_path, train, val, "classify", "--resume", "--steps", 6)
    assert out.returncode == 0, out.stderr
    assert torch.load(tmp_path / "run" / "last" / "training_state.pt", weights_only=True)["step"] == 6
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 6


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of a later save: one line, the previous checkpoint intact, --resume works."""
    import errno

    import einformer.checkpoint as checkpoint
    from einformer.cli import main

    data = text_file(tmp_path)
    argv = ["train", *LM, "--data", str(data), "--run-dir", str(tmp_path / "run"), "--steps", "4", "--save-every", "2"]
    real, calls = checkpoint.save_file, []

    def full_disk(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no space left on the device" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    assert os.readlink(tmp_path / "run" / "last") == "checkpoint-2"
    assert torch.load(tmp_path / "run" / "last" / "training_state.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(checkpoint, "save_file", real)
    assert main([*argv, "--resume"]) == 0
    assert [s for s, _ in losses(tmp_path / "run")] == [1, 2, 3, 4]


def test_resume_refuses_a_changed_model_size(lm):
    data, run = lm
    out = einformer("train", *LM, "--data", data, "--run-dir", run, "--resume", "--steps", 6, "--d-model", 64)
    refused(out, "--resume rebuilds the model saved in", "d_model 32 (now 64)")
