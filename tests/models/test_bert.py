"""BERT without transformers: save/load, heads' shapes and losses, fine-tuning heads on an encoder, errors."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from einformer import BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertModel, CheckpointError


def tiny(**kw):
    return BertConfig.from_preset("tiny", dropout=0.0, attention_dropout=0.0, **kw)


def test_round_trips_in_both_formats(tmp_path):
    model = BertForSequenceClassification(tiny(num_labels=3)).eval()
    ids = torch.randint(5, 99, (2, 7))
    for fmt in ("einformer", "hf"):
        model.save_pretrained(tmp_path / fmt, format=fmt)
        loaded = BertForSequenceClassification.from_pretrained(tmp_path / fmt)
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_padding_does_not_change_real_tokens():
    model = BertModel(tiny()).eval()
    ids = torch.randint(5, 99, (1, 6))
    mask = torch.ones(1, 6, dtype=torch.long)
    alone = model(ids, mask).last_hidden_state
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1)
    out = model(padded, torch.cat([mask, torch.zeros(1, 3, dtype=torch.long)], 1)).last_hidden_state
    torch.testing.assert_close(out[:, :6], alone, atol=1e-5, rtol=1e-5)


def test_new_head_on_a_pretrained_encoder_warns_and_loads_the_encoder(tmp_path):
    encoder = BertModel(tiny()).eval()
    encoder.save_pretrained(tmp_path, format="hf")
    with pytest.warns(UserWarning, match="no weights for classifier.weight, classifier.bias"):
        classifier = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=4)
    assert classifier.classifier.out_features == 4
    ids = torch.randint(5, 99, (2, 5))
    torch.testing.assert_close(classifier.bert(ids).last_hidden_state, encoder(ids).last_hidden_state)


def test_missing_unexpected_and_bad_files(tmp_path):
    BertModel(tiny()).save_pretrained(tmp_path, format="hf")
    state = load_file(tmp_path / "model.safetensors")
    state["encoder.layer.0.attention.self.rotary.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="keys einformer does not use .*rotary"):
        BertModel.from_pretrained(tmp_path)
    del state["encoder.layer.0.attention.self.rotary.weight"]
    del state["encoder.layer.1.output.dense.bias"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): layers.1.ffn.fc2.bias"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weight file"):
        BertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "field,value",
    [
        ("position_embedding_type", "relative_key"),
        ("is_decoder", True),
        ("hidden_act", "mish"),
        ("add_cross_attention", True),
    ],
)
def test_unsupported_options_are_refused_by_name(tmp_path, field, value):
    BertModel(tiny()).save_pretrained(tmp_path, format="hf")
    config = json.loads((tmp_path / "config.json").read_text())
    config[field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=field):
        BertModel.from_pretrained(tmp_path)


def test_too_long_input_is_a_clear_error():
    with pytest.raises(ValueError, match="longer than max_position_embeddings=64"):
        BertModel(tiny())(torch.zeros(1, 65, dtype=torch.long))


def test_qa_loss_ignores_positions_outside_the_input():
    model = BertForQuestionAnswering(tiny()).eval()
    ids = torch.randint(5, 99, (2, 6))
    out = model(ids, start_positions=torch.tensor([1, 50]), end_positions=torch.tensor([2, 50]))
    start, end = out.start_logits, out.end_logits
    expected = (
        torch.nn.functional.cross_entropy(start[:1], torch.tensor([1]))
        + torch.nn.functional.cross_entropy(end[:1], torch.tensor([2]))
    ) / 2
    torch.testing.assert_close(out.loss, expected)


def test_bare_encoder_from_a_pooler_less_head_directory_warns_and_keeps_the_encoder(tmp_path):
    """As transformers does: BertModel from a masked-LM directory gets a random pooler, with a warning."""
    from einformer import BertConfig, BertForMaskedLM, BertModel

    torch.manual_seed(0)
    mlm = BertForMaskedLM(BertConfig.from_preset("tiny")).eval()
    mlm.save_pretrained(tmp_path / "mlm")
    with pytest.warns(UserWarning, match="no pooler weights"):
        encoder = BertModel.from_pretrained(tmp_path / "mlm")
    ids = torch.randint(5, 99, (2, 7))
    torch.testing.assert_close(encoder(ids).last_hidden_state, mlm.bert(ids).last_hidden_state)
