"""Issue #32, group 6: fill-mask on a BertForPreTraining model (a run of ``einformer train --model bert
--next-sentence``), and such a model saved in einformer's format reloading as itself, not as a bare
BertModel. The oracle: a BertForMaskedLM holding the same encoder and masked-LM head weights."""

import pytest
import torch

from einformer import AutoModel, load, pipeline
from einformer.cli import main
from einformer.models import BertForMaskedLM, BertForPreTraining

TEXTS = ["the quick [MASK] fox", "a [MASK] sat on the [MASK]", "[MASK] dog ran far away"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsp")
    words = "the quick brown fox jumps over lazy dog a cat sat on mat and ran far away".split()
    g = torch.Generator().manual_seed(0)
    lines = [" ".join(words[i] for i in torch.randint(0, len(words), (8,), generator=g)) for _ in range(200)]
    (root / "sentences.txt").write_text("\n".join(lines) + "\n")
    argv = ["train", "--model", "bert", "--next-sentence", "--preset", "tiny", "--data", str(root / "sentences.txt"),
            "--run-dir", str(root / "run"), "--steps", "2", "--batch-size", "8", "--block-size", "32",
            "--vocab-size", "200", "--eval-every", "1000", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    return root


def _oracle(pretraining: BertForPreTraining) -> BertForMaskedLM:
    """A masked LM with the pre-training model's encoder and masked-LM head (no pooler, no NSP)."""
    model = BertForMaskedLM(pretraining.config).eval()
    state = {k: v for k, v in pretraining.state_dict().items() if not k.startswith(("nsp.", "bert.pooler"))}
    model.load_state_dict(state, strict=True)
    return model


def test_fill_mask_on_a_next_sentence_run_equals_the_masked_lm_with_its_weights(run):
    """Before: ``TypeError: 'NoneType' object is not iterable`` on every input (its logits were None)."""
    loaded = load(run / "run")
    assert isinstance(loaded.model, BertForPreTraining)
    ours = pipeline("fill-mask", model=run / "run")(TEXTS, top_k=4)
    oracle = pipeline("fill-mask", model=_oracle(loaded.model), tokenizer=loaded.tokenizer)(TEXTS, top_k=4)
    assert [[r["token"] for r in rows] for rows in ours[:1]] == [[r["token"] for r in rows] for rows in oracle[:1]]
    assert ours == oracle
    ids = loaded.tokenizer(TEXTS[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = loaded.model(ids)
    assert out.logits is out.prediction_logits and out.seq_relationship_logits.shape == (1, 2)


def test_a_pretraining_model_saved_in_einformer_format_reloads_as_itself(run, tmp_path, capsys):
    """Before: it reloaded as a bare BertModel, and fill-mask refused it ("holds a BertModel")."""
    assert main(["export", str(run / "run"), str(tmp_path / "exported"), "--format", "einformer"]) == 0
    capsys.readouterr()
    model = AutoModel.from_pretrained(tmp_path / "exported")
    original = load(run / "run").model
    assert type(model) is BertForPreTraining
    for (name, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items(), strict=True):
        assert a.equal(b), name
    assert pipeline("fill-mask", model=tmp_path / "exported")(TEXTS) == pipeline("fill-mask", model=run / "run")(TEXTS)


def test_a_masked_lm_head_saved_in_einformer_format_reloads_as_itself(run, tmp_path):
    """The same for BertForMaskedLM (before: a bare BertModel); the family's first class stays unnamed."""
    masked = _oracle(load(run / "run").model)
    masked.save_pretrained(tmp_path / "mlm")
    assert type(BertForMaskedLM.from_pretrained(tmp_path / "mlm")) is BertForMaskedLM
    loaded = load(run / "run")
    loaded.tokenizer.save_pretrained(tmp_path / "mlm")
    assert type(AutoModel.from_pretrained(tmp_path / "mlm")) is BertForMaskedLM
    bare = loaded.model.bert
    bare.save_pretrained(tmp_path / "bare")
    assert "architectures" not in (tmp_path / "bare" / "config.json").read_text()
