"""ModernBERT against transformers' ModernBert* (sdpa, as its default; eager for the real tokens): every
head on tiny random models that transformers saves, opened through the registry (``einformer.load``):
the same hidden states and logits within 1e-5 on a batch padded on the right and on the left,
``save_pretrained(format="hf")`` gives transformers back identical tensors and logits, the losses
agree, the options (biases, mean pooling, other layer patterns and rotary bases) are honoured, the
tokenizer gives transformers' ids, and options einformer lacks are refused by name."""

import json

import pytest
import torch
from torch.testing import assert_close

import einformer
from tests.encoder_models import SAMPLE
from tests.modernbert_models import HEADS, save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

NAMES = ("last_hidden_state", "logits", "start_logits", "end_logits")
# every bias on, mean pooling, another rotary base and layer pattern, a GELU-tanh head
OPTIONS = dict(attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True, decoder_bias=False,
               classifier_pooling="mean", classifier_activation="gelu_new", global_attn_every_n_layers=3,
               global_rope_theta=1000.0, local_rope_theta=50.0, local_attention=6)  # fmt: skip


def padded_batch(config) -> dict:
    """Three rows of 11 tokens: one full, one padded on the right, one on the left (the window of 2 on
    each side makes some padding rows see no token at all)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, config.vocab_size, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, :3] = 0
    return {"input_ids": ids.masked_fill(mask == 0, config.pad_token_id), "attention_mask": mask}


def outputs(out) -> dict:
    return {n: getattr(out, n) for n in NAMES if getattr(out, n, None) is not None}


@pytest.mark.parametrize(
    "head, options",
    [(head, "default") for head in HEADS] + [("ForMaskedLM", "options"), ("ForSequenceClassification", "options")],
)
def test_every_head_matches_transformers_both_ways(tmp_path, head, options):
    changes = OPTIONS if options == "options" else {}
    path = save_model(head, tmp_path / "hf", spread=0.2, **changes)
    cls = getattr(transformers, "ModernBert" + head)
    theirs = cls.from_pretrained(path, attn_implementation="sdpa").eval()
    loaded = einformer.load(path)
    ours = loaded.model
    assert type(ours).__name__ == "ModernBert" + head and loaded.family.name == "modernbert"
    batch = padded_batch(theirs.config)
    with torch.no_grad():
        expected, got = outputs(theirs(**batch)), outputs(ours(**batch))
    assert expected.keys() == got.keys()
    for name in expected:
        assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5, msg=name)
        assert expected[name].std() > 0.1  # outputs that tell tokens apart
    if head == "Model":  # the embeddings, then each layer's output, the last one normed
        with torch.no_grad():
            layers = theirs(**batch, output_hidden_states=True).hidden_states
        mine = ours(**batch, output_hidden_states=True).hidden_states
        assert len(mine) == len(layers) == 5
        for a, b in zip(mine, layers, strict=True):
            assert_close(a, b, atol=1e-5, rtol=1e-5)
    ours.save_pretrained(tmp_path / "back", format="hf")  # ours -> Hugging Face's format -> transformers
    again = cls.from_pretrained(tmp_path / "back", attn_implementation="sdpa").eval()
    mine, back = theirs.state_dict(), again.state_dict()
    assert mine.keys() == back.keys()
    for key in mine:
        assert torch.equal(mine[key], back[key]), key
    assert again.config.layer_types == theirs.config.layer_types
    assert again.config.rope_parameters == theirs.config.rope_parameters
    with torch.no_grad():
        for name, value in outputs(again(**batch)).items():
            assert torch.equal(value, expected[name]), name


def test_eager_attention_agrees_on_real_tokens(tmp_path):
    """transformers' eager attention gives a padding query whose window holds only padding uniform weights
    over every key (an additive mask of finfo.min); sdpa and einformer give it none. Real tokens agree."""
    path = save_model("ForMaskedLM", tmp_path, spread=0.2)
    theirs = transformers.ModernBertForMaskedLM.from_pretrained(path, attn_implementation="eager").eval()
    batch = padded_batch(theirs.config)
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        assert_close(
            einformer.load(path).model(**batch).logits[real], theirs(**batch).logits[real], atol=1e-5, rtol=1e-5
        )


def test_layers_alternate_global_and_local_attention(tmp_path):
    """Layer kinds, rotary bases and windows as the config says; a local layer's query sees +-2 tokens."""
    path = save_model("Model", tmp_path)
    ours = einformer.load(path).model
    kinds = ours.config.layer_types
    assert kinds == ("full_attention", "sliding_attention", "full_attention", "sliding_attention")
    thetas = [layer.attn.rotary.theta for layer in ours.layers]
    assert thetas == [160000.0, 10000.0, 160000.0, 10000.0]
    assert isinstance(ours.layers[0].attn_norm, torch.nn.Identity)  # the first layer reads the normed embeddings
    masks = ours.layer_masks(None, 7, "cpu")
    assert masks[0] is None and masks[2] is None
    assert masks[1][0, 0].int().tolist()[3] == [0, 1, 1, 1, 1, 1, 0]


def test_losses_match(tmp_path):
    g = torch.Generator().manual_seed(1)
    cases = {
        "ForSequenceClassification": {"labels": torch.tensor([0, 2, 1])},
        "ForTokenClassification": {"labels": torch.randint(0, 3, (3, 11), generator=g)},
        "ForMaskedLM": {"labels": torch.full((3, 11), -100).index_fill(1, torch.tensor([3, 5]), 7)},
        "ForQuestionAnswering": {"start_positions": torch.tensor([1, 4, 20]), "end_positions": torch.tensor([2, 6, 3])},
    }
    for head, labels in cases.items():
        path = save_model(head, tmp_path / head, spread=0.2)
        theirs = getattr(transformers, "ModernBert" + head).from_pretrained(path, attn_implementation="sdpa").eval()
        batch = padded_batch(theirs.config)
        with torch.no_grad():
            expected = theirs(**batch, **labels).loss
        assert_close(einformer.load(path).model(**batch, **labels).loss, expected, atol=1e-5, rtol=1e-5, msg=head)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_multiple_choice_matches_transformers(tmp_path, pooling):
    """Each choice pooled from its first real token (left padding included) or its mean."""
    path = save_model("ForMultipleChoice", tmp_path, spread=0.2, classifier_pooling=pooling)
    theirs = transformers.ModernBertForMultipleChoice.from_pretrained(path, attn_implementation="sdpa").eval()
    batch = {k: v.view(1, 3, 11) for k, v in padded_batch(theirs.config).items()}
    labels = torch.tensor([2])
    with torch.no_grad():
        expected = theirs(**batch, labels=labels)
    got = einformer.load(path).model(**batch, labels=labels)
    assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    assert_close(got.loss, expected.loss, atol=1e-5, rtol=1e-5)


def test_tokenizer_ids_equal_transformers(tmp_path):
    path = save_model("Model", tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(path)
    ours = einformer.AutoTokenizer.from_pretrained(path)
    assert ours.model_input_names == ("input_ids", "attention_mask")
    for text in [*SAMPLE, "Paris is the [MASK] of France."]:
        assert ours.encode(text) == theirs.encode(text), text
    pairs = list(zip(SAMPLE, reversed(SAMPLE), strict=True))
    a = ours([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True, max_length=20)
    b = theirs([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True, max_length=20)
    assert set(a) == set(b) == {"input_ids", "attention_mask"} and all(list(a[k]) == list(b[k]) for k in b)
    assert [ours.decode(ours.encode(t), skip_special_tokens=True) for t in SAMPLE] == [
        theirs.decode(theirs.encode(t), skip_special_tokens=True) for t in SAMPLE
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("hidden_activation", "silu"),
        ("sparse_prediction", True),
        ("tie_word_embeddings", False),
        ("rope_parameters", {"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e5}}),
    ],
)
def test_an_unsupported_option_is_refused_by_name(tmp_path, field, value):
    path = save_model("Model", tmp_path)
    config = json.loads((path / "config.json").read_text())
    config[field] = value
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(einformer.CheckpointError, match=field):
        einformer.load(path)


def test_token_types_are_refused(tmp_path):
    ours = einformer.load(save_model("Model", tmp_path)).model
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="no token types"):
        ours(ids, token_type_ids=torch.tensor([[0, 1, 1]]))
    assert torch.equal(ours(ids, token_type_ids=torch.zeros_like(ids)).last_hidden_state, ours(ids).last_hidden_state)


def test_an_older_config_json_reads_the_same(tmp_path):
    """Configs on the Hub written before transformers 5 name the pattern and the bases by
    global_attn_every_n_layers and global_ / local_rope_theta, not layer_types and rope_parameters."""
    path = save_model("Model", tmp_path)
    new = einformer.load(path).model.config
    config = json.loads((path / "config.json").read_text())
    del config["layer_types"], config["rope_parameters"]
    config.update(global_attn_every_n_layers=2, global_rope_theta=160000.0, local_rope_theta=10000.0)
    (path / "config.json").write_text(json.dumps(config))
    assert einformer.load(path).model.config == new
    assert new.layer_types == ("full_attention", "sliding_attention") * 2
