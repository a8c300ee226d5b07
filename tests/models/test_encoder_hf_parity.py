"""RoBERTa, XLM-RoBERTa, DistilBERT and ELECTRA against transformers: every head that Hugging Face has
for them (bare, masked LM, sequence and token classification, question answering), on tiny random
models that transformers saves, opened through the registry (``einformer.load``): the same hidden
states and logits within 1e-5 on a padded batch; ``save_pretrained(format="hf")`` gives transformers
back the same tensors; the tokenizers give the same ids as transformers' on the same directory."""

import pytest
import torch
from torch.testing import assert_close

import einformer
from tests.encoder_models import DEBERTA_V2, FAMILIES, HEADS, PREFIX, SAMPLE, save_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

NAMES = ("last_hidden_state", "pooler_output", "logits", "start_logits", "end_logits")


def padded_batch(config) -> dict:
    """Three rows of 11, two of them padded with the pad id; two token types where the model has them."""
    vocab_size, pad_id = config.vocab_size, config.pad_token_id
    with_types = getattr(config, "type_vocab_size", 0) > 1  # ELECTRA, DeBERTa-v2: two, as BERT
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    batch = {"input_ids": ids.masked_fill(mask == 0, pad_id), "attention_mask": mask}
    if with_types:
        batch["token_type_ids"] = (torch.arange(11) >= 5).long().expand(3, -1).contiguous()
    return batch


def outputs(out, real: torch.Tensor | None = None) -> dict:
    """The outputs by name; with ``real`` (B, T) only the real tokens' rows (DeBERTa: transformers lets a
    padding query attend uniformly to every key, einformer to the real ones; no real token sees them)."""
    found = {n: getattr(out, n) for n in NAMES if getattr(out, n, None) is not None}
    if real is None:
        return found
    return {n: v[real.bool()] if v.dim() >= 2 and v.shape[:2] == real.shape else v for n, v in found.items()}


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("family", [*FAMILIES, "deberta-v2 (v2 options)"])
def test_every_head_matches_transformers_both_ways(tmp_path, family, head):
    changes = DEBERTA_V2 if family.endswith("(v2 options)") else {}
    family = family.split()[0]
    if family == "deberta-v2":  # position terms that matter to the output
        changes = {**changes, "initializer_range": 0.2}
    path = save_model(family, head, tmp_path / "hf", **changes)
    theirs = getattr(transformers, PREFIX[family] + head).from_pretrained(path).eval()
    loaded = einformer.load(path)
    ours = loaded.model
    assert type(ours).__name__ == PREFIX[family] + head and loaded.family.name == family
    batch = padded_batch(theirs.config)
    real = batch["attention_mask"] if family == "deberta-v2" else None
    with torch.no_grad():
        expected, got = outputs(theirs(**batch), real), outputs(ours(**batch), real)
    assert expected.keys() == got.keys()
    for name in expected:
        assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5, msg=name)
    ours.save_pretrained(tmp_path / "back", format="hf")  # ours -> Hugging Face's format -> transformers
    again = getattr(transformers, PREFIX[family] + head).from_pretrained(tmp_path / "back").eval()
    mine, back = theirs.state_dict(), again.state_dict()
    assert mine.keys() == back.keys()
    for key in mine:
        assert torch.equal(mine[key], back[key]), key


def test_deberta_buckets_equal_transformers():
    from transformers.models.deberta_v2 import modeling_deberta_v2 as hf

    from einformer.nn.disentangled import relative_positions

    for buckets, max_distance in [(8, 64), (256, 512), (0, 64)]:
        q = torch.zeros(1, 300, 4)
        expected = hf.build_relative_position(q, q, bucket_size=buckets or -1, max_position=max_distance)[0]
        assert torch.equal(relative_positions(300, 300, buckets=buckets, max_distance=max_distance), expected)


@pytest.mark.parametrize("options", ["v3", "v2"])
def test_deberta_position_terms_equal_transformers_intermediates(tmp_path, options):
    """Both attention terms of every layer, against transformers' own ``disentangled_attention_bias`` run on
    the query and key states a hook catches in its attention (one term at a time), for real tokens."""
    changes = {**(DEBERTA_V2 if options == "v2" else {}), "initializer_range": 0.5}  # terms well above 1e-5
    path = save_model("deberta-v2", "Model", tmp_path, **changes)
    theirs = transformers.DebertaV2Model.from_pretrained(path).eval()
    ours = einformer.load(path).model
    batch = padded_batch(theirs.config)
    caught = []
    hooks = [layer.attention.self.register_forward_hook(
        lambda module, args, kwargs, out: caught.append((module, args[0], kwargs)), with_kwargs=True)
        for layer in theirs.encoder.layer]  # fmt: skip
    with torch.no_grad():
        theirs(**batch)
        record = []
        ours(**batch, record=record)
    for h in hooks:
        h.remove()
    assert len(caught) == len(record) == theirs.config.num_hidden_layers
    b, t = batch["input_ids"].shape
    real = batch["attention_mask"].bool()
    pairs = (real[:, :, None] & real[:, None, :])[:, None].expand(-1, theirs.config.num_attention_heads, -1, -1)
    for (module, hidden, kwargs), terms in zip(caught, record, strict=True):
        q = module.transpose_for_scores(module.query_proj(hidden), module.num_attention_heads)
        k = module.transpose_for_scores(module.key_proj(hidden), module.num_attention_heads)
        for term in ("c2p", "p2c"):
            saved, module.pos_att_type = module.pos_att_type, [term]
            with torch.no_grad():  # scale factor 3: both terms present in the model
                expected = module.disentangled_attention_bias(q, k, kwargs["relative_pos"], kwargs["rel_embeddings"], 3)
            module.pos_att_type = saved
            # real query and key tokens (from the second layer on, padding rows differ, as in the outputs)
            assert_close(terms[term][pairs], expected.view(b, -1, t, t)[pairs], atol=1e-5, rtol=1e-5)
            assert terms[term][pairs].abs().mean() > 0.1


def test_distilbert_sinusoidal_positions(tmp_path):
    path = save_model("distilbert", "ForSequenceClassification", tmp_path, sinusoidal_pos_embds=True)
    theirs = transformers.DistilBertForSequenceClassification.from_pretrained(path).eval()
    ours = einformer.load(path).model
    assert ours.config.sinusoidal_positions and not ours.bert.embeddings.position.weight.requires_grad
    fresh = type(ours)(ours.config)  # a new model builds the same fixed table
    assert torch.equal(fresh.bert.embeddings.position.weight, theirs.distilbert.embeddings.position_embeddings.weight)
    batch = padded_batch(theirs.config)
    with torch.no_grad():
        assert_close(ours(**batch).logits, theirs(**batch).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_losses_match(tmp_path, family):
    cases = {
        "ForSequenceClassification": {"labels": torch.tensor([0, 2, 1])},
        "ForTokenClassification": {"labels": torch.randint(0, 3, (3, 11), generator=torch.Generator().manual_seed(1))},
        "ForMaskedLM": {"labels": torch.full((3, 11), -100).index_fill(1, torch.tensor([2, 4]), 7)},
    }
    for head, labels in cases.items():
        path = save_model(family, head, tmp_path / head)
        theirs = getattr(transformers, PREFIX[family] + head).from_pretrained(path).eval()
        batch = padded_batch(theirs.config)
        if family == "deberta-v2" and head != "ForSequenceClassification":  # no loss on padding rows
            labels = {"labels": labels["labels"].masked_fill(batch["attention_mask"] == 0, -100)}
        with torch.no_grad():
            expected = theirs(**batch, **labels).loss
        assert_close(einformer.load(path).model(**batch, **labels).loss, expected, atol=1e-5, rtol=1e-5, msg=head)


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_ids_equal_transformers(tmp_path, family):
    path = save_model(family, "Model", tmp_path)
    theirs = transformers.AutoTokenizer.from_pretrained(path)
    ours = einformer.AutoTokenizer.from_pretrained(path)
    for text in SAMPLE:
        assert ours.encode(text) == theirs.encode(text), text
    pairs = list(zip(SAMPLE, reversed(SAMPLE), strict=True))
    a = ours([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True, max_length=20)
    b = theirs([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True, max_length=20)
    assert set(a) == set(b) and all(list(a[k]) == list(b[k]) for k in b)
    assert [ours.decode(ours.encode(t), skip_special_tokens=True) for t in SAMPLE] == [
        theirs.decode(theirs.encode(t), skip_special_tokens=True) for t in SAMPLE
    ]


def test_an_unsupported_option_is_refused_by_name(tmp_path):
    path = save_model("roberta", "Model", tmp_path, position_embedding_type="relative_key")
    with pytest.raises(einformer.CheckpointError, match="position_embedding_type='relative_key'"):
        einformer.load(path)
