"""ELECTRA's discriminator head (``ElectraForPreTraining``, replaced-token detection) against
transformers': a tiny random discriminator that transformers saves opens with its head through
``einformer.load``, ``AutoModel`` and ``from_pretrained``, with no key left over; the per-token logits
within 1e-5 on batches padded on the right and on the left, the loss equal; back through
``save_pretrained(format="hf")``, transformers reads the same tensors and gives the same logits. The
loss leaves out -100 labels; feature-extraction reads the discriminator's encoder as transformers'
pipeline does, and a pipeline that needs another head refuses the discriminator by name."""

import warnings

import pytest
import torch
from torch.testing import assert_close

import einformer
from einformer.models import ElectraForPreTraining, ElectraModel
from tests.encoder_models import SAMPLE, same, save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    path = save_model("electra", "ForPreTraining", tmp_path_factory.mktemp("electra-rtd") / "hf")
    model = transformers.ElectraForPreTraining.from_pretrained(path)
    with torch.no_grad():  # a head whose logits vary well above 1e-5 from token to token
        torch.nn.init.normal_(model.discriminator_predictions.dense_prediction.weight, std=1.0)
    model.save_pretrained(path)
    return path


def _batch(config, side: str) -> dict:
    """Three rows of 10, two padded on ``side``, with both token types and 0/1 labels (-100 on padding)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, config.vocab_size, (3, 10), generator=g)
    lengths = torch.tensor([10, 6, 3])
    positions = torch.arange(10)
    real = positions < lengths[:, None] if side == "right" else positions >= 10 - lengths[:, None]
    mask = real.long()
    labels = torch.randint(0, 2, ids.shape, generator=g)
    return {
        "input_ids": ids.masked_fill(~real, config.pad_token_id),
        "attention_mask": mask,
        "token_type_ids": (positions >= 5).long().expand(3, -1).contiguous(),
        "labels": labels.masked_fill(~real, -100),
    }


def _strictly(load):
    """``load()`` with any warning an error: no key of the checkpoint is left unused, none starts fresh."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load()


@pytest.mark.parametrize("side", ["right", "left"])
def test_discriminator_matches_transformers_and_exports_back(hf_dir, tmp_path, side):
    theirs = transformers.ElectraForPreTraining.from_pretrained(hf_dir).eval()
    loaded = _strictly(lambda: einformer.load(hf_dir))
    ours = loaded.model
    assert type(ours) is ElectraForPreTraining and loaded.family.name == "electra"
    batch = _batch(theirs.config, side)
    with torch.no_grad():
        expected, got = theirs(**batch), ours(**batch)
    assert got.logits.shape == batch["input_ids"].shape
    assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    assert_close(got.loss, expected.loss, atol=1e-6, rtol=1e-6)
    assert expected.logits.std() > 0.1  # logits differ from token to token: the comparison has teeth
    # Hugging Face's format back: transformers reads the same tensors and gives the same logits
    ours.save_pretrained(tmp_path / "back", format="hf")
    back = transformers.ElectraForPreTraining.from_pretrained(tmp_path / "back").eval()
    assert back.config.architectures == ["ElectraForPreTraining"]
    mine = theirs.state_dict()
    assert mine.keys() == back.state_dict().keys()
    for key, value in back.state_dict().items():
        assert torch.equal(mine[key], value), key
    with torch.no_grad():
        assert_close(back(**batch).logits, expected.logits, atol=1e-5, rtol=1e-5)
    # and einformer reads its own export, as it read transformers' directory
    again = _strictly(lambda: einformer.load(tmp_path / "back").model)
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, got.logits)


def test_every_loader_gives_the_head_and_einformer_format_keeps_it(hf_dir, tmp_path):
    by_auto = _strictly(lambda: einformer.AutoModel.from_pretrained(hf_dir))
    by_class = _strictly(lambda: ElectraForPreTraining.from_pretrained(hf_dir))
    reference = einformer.load(hf_dir).model
    assert type(by_auto) is ElectraForPreTraining and type(by_class) is ElectraForPreTraining
    for model in (by_auto, by_class):
        for key, value in reference.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), key
    reference.save_pretrained(tmp_path / "own")  # einformer's format: reloads as the discriminator
    again = einformer.load(tmp_path / "own").model
    assert type(again) is ElectraForPreTraining
    batch = _batch(reference.config, "right")
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, reference(**batch).logits)
    # the bare encoder still opens from a discriminator checkpoint, its head set aside as transformers does
    bare = _strictly(lambda: ElectraModel.from_pretrained(hf_dir))
    with torch.no_grad():
        assert torch.equal(bare(batch["input_ids"], batch["attention_mask"]).last_hidden_state,
                           reference.bert(batch["input_ids"], batch["attention_mask"]).last_hidden_state)  # fmt: skip


def test_loss_ignores_minus_100_and_without_a_mask_counts_every_token(hf_dir):
    theirs = transformers.ElectraForPreTraining.from_pretrained(hf_dir).eval()
    ours = einformer.load(hf_dir).model
    batch = _batch(theirs.config, "right")
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = ours(**batch).logits
        # -100 on a real token: left out of the mean (transformers has no ignore index for this head)
        some = labels.clone()
        some[0, :4] = -100
        keep = (some != -100) & (batch["attention_mask"] == 1)
        expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[keep], some[keep].float())
        assert_close(ours(**batch, labels=some).loss, expected, atol=1e-6, rtol=1e-6)
        # no attention mask and no -100: every token counts, as in transformers
        full = {"input_ids": batch["input_ids"], "token_type_ids": batch["token_type_ids"]}
        zero_one = labels.clamp(min=0)
        assert_close(ours(**full, labels=zero_one).loss, theirs(**full, labels=zero_one).loss, atol=1e-6, rtol=1e-6)


def test_a_pipeline_needing_another_head_refuses_the_discriminator(hf_dir):
    refusal = "fill-mask needs a model with a ElectraForMaskedLM head.*holds a ElectraForPreTraining"
    with pytest.raises(ValueError, match=refusal):
        einformer.pipeline("fill-mask", model=str(hf_dir))


def test_feature_extraction_reads_the_discriminator_encoder_as_transformers_does(hf_dir):
    theirs = transformers.pipeline("feature-extraction", model=str(hf_dir))
    ours = einformer.pipeline("feature-extraction", model=str(hf_dir))
    same(ours(SAMPLE), theirs(SAMPLE))
