"""Multiple-choice heads of RoBERTa, XLM-RoBERTa, DistilBERT and DeBERTa-v2/v3 against transformers'
*ForMultipleChoice on tiny random models that transformers saves: logits and loss within 1e-5 on a
padded (B, C, T) batch, and ``save_pretrained(format="hf")`` back to identical tensors."""

import pytest
import torch
from torch.testing import assert_close

import einformer
from tests.encoder_models import PREFIX, save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta", "distilbert", "deberta-v2"])
def test_multiple_choice_matches_transformers_both_ways(tmp_path, family):
    path = save_model(family, "ForMultipleChoice", tmp_path / "hf", spread=1.0)
    cls = getattr(transformers, PREFIX[family] + "ForMultipleChoice")
    theirs = cls.from_pretrained(path).eval()
    ours = einformer.load(path).model
    assert type(ours).__name__ == cls.__name__
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, theirs.config.vocab_size, (2, 3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 1, 6:] = 0
    mask[1, 2, 4:] = 0
    batch = {"input_ids": ids.masked_fill(mask == 0, theirs.config.pad_token_id), "attention_mask": mask}
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        expected, got = theirs(**batch, labels=labels), ours(**batch, labels=labels)
    assert got.logits.shape == (2, 3)
    assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    assert_close(got.loss, expected.loss, atol=1e-5, rtol=1e-5)
    assert expected.logits.std() > 0.1
    ours.save_pretrained(tmp_path / "back", format="hf")
    mine, back = theirs.state_dict(), cls.from_pretrained(tmp_path / "back").state_dict()
    assert mine.keys() == back.keys()
    for key in mine:
        assert torch.equal(mine[key], back[key]), key
