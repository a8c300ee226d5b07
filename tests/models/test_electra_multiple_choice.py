"""ELECTRA's multiple-choice head against transformers' ElectraForMultipleChoice (its "sequence
summary", whose Hugging Face names differ from the sequence classifier's): logits and loss within
1e-5 on a padded (B, C, T) batch, both save round trips, and the summary options it does not compute
refused by name."""

import json

import pytest
import torch
from torch.testing import assert_close

import einformer
from einformer.checkpoint import CheckpointError
from einformer.models import ElectraForSequenceClassification
from tests.encoder_models import save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return save_model("electra", "ForMultipleChoice", tmp_path_factory.mktemp("electra-mc") / "hf", spread=1.0)


def _batch(vocab_size: int, pad: int) -> dict:
    ids = torch.randint(5, vocab_size, (2, 3, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 1, 6:] = 0
    mask[1, 2, 4:] = 0
    types = torch.zeros_like(ids)
    types[..., 5:] = 1
    return {"input_ids": ids.masked_fill(mask == 0, pad), "attention_mask": mask, "token_type_ids": types}


def test_electra_multiple_choice_matches_transformers_and_saves_back(hf_dir, tmp_path):
    theirs = transformers.ElectraForMultipleChoice.from_pretrained(hf_dir).eval()
    ours = einformer.load(hf_dir).model
    assert type(ours).__name__ == "ElectraForMultipleChoice"
    batch = _batch(theirs.config.vocab_size, theirs.config.pad_token_id)
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        expected, got = theirs(**batch, labels=labels), ours(**batch, labels=labels)
    assert got.logits.shape == (2, 3)
    assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    assert_close(got.loss, expected.loss, atol=1e-5, rtol=1e-5)
    assert expected.logits.std() > 0.1  # the scores differ between choices: the comparison has teeth
    # Hugging Face's format back: transformers reads the same tensors under the same names
    ours.save_pretrained(tmp_path / "back", format="hf")
    mine, back = theirs.state_dict(), transformers.ElectraForMultipleChoice.from_pretrained(tmp_path / "back")
    assert mine.keys() == back.state_dict().keys()
    for key, value in back.state_dict().items():
        assert torch.equal(mine[key], value), key
    assert back.config.summary_last_dropout == theirs.config.summary_last_dropout
    # einformer's own format back: the same class and the same scores
    ours.save_pretrained(tmp_path / "own")
    again = einformer.load(tmp_path / "own").model
    assert type(again).__name__ == "ElectraForMultipleChoice"
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, got.logits)


@pytest.mark.filterwarnings("ignore::einformer.notices.NewWeightsWarning")
@pytest.mark.parametrize(
    ("field", "value"),
    [("summary_type", "mean"), ("summary_use_proj", False), ("summary_activation", "tanh"),
     ("summary_first_dropout", 0.2)],
)  # fmt: skip
def test_a_summary_einformer_does_not_compute_is_refused_by_name(hf_dir, tmp_path, field, value):
    directory = tmp_path / "changed"
    directory.mkdir()
    for path in hf_dir.iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    config = json.loads((directory / "config.json").read_text())
    config[field] = value
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"{field}={value!r} is not supported"):
        einformer.load(directory)
    with pytest.warns(UserWarning, match="another head"):  # other heads do not read them, as in transformers
        ElectraForSequenceClassification.from_pretrained(directory)
