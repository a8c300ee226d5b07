"""Tiny models that transformers saves, shared by the pipeline tests: RoBERTa heads (byte-level BPE
trained here on a few sentences), two NLI classifiers (labels named as MNLI models name them, in two
orders), and a GPT-2 (byte-level BPE, 64 positions). The oracle is ``transformers.pipeline`` on the
same directory."""

from pathlib import Path

import pytest
import torch
from tokenizers.implementations import ByteLevelBPETokenizer

from tests.encoder_models import CORPUS, TAGS, save_model

transformers = pytest.importorskip("transformers")

NLI = {0: "contradiction", 1: "neutral", 2: "entailment"}
NLI_UPPER_FIRST = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}  # entailment at 0: contradiction is the last


def save_gpt2(directory: Path) -> Path:
    """A tiny random GPT-2 with a byte-level BPE of 300 tokens; its generation config sets only token ids."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 3, vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False)
    directory.mkdir(parents=True)
    bpe.save_model(str(directory))
    tok = transformers.GPT2TokenizerFast(str(directory / "vocab.json"), str(directory / "merges.txt"))
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     initializer_range=0.3, bos_token_id=tok.eos_token_id,
                                     eos_token_id=tok.eos_token_id)  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline-models")
    return {
        "mlm": save_model("roberta", "ForMaskedLM", root / "mlm"),
        "cls": save_model("roberta", "ForSequenceClassification", root / "cls", initializer_range=0.1,
                          id2label={0: "negative", 1: "neutral", 2: "positive"}),
        "ner": save_model("roberta", "ForTokenClassification", root / "ner", spread=3.0,
                          id2label=dict(enumerate(TAGS))),
        "nli": save_model("roberta", "ForSequenceClassification", root / "nli", spread=1.0, id2label=NLI,
                          label2id={v: k for k, v in NLI.items()}),
        "nli-upper": save_model("distilbert", "ForSequenceClassification", root / "nli-upper", spread=1.0,
                                id2label=NLI_UPPER_FIRST, label2id={v: k for k, v in NLI_UPPER_FIRST.items()}),
        "gpt2": save_gpt2(root / "gpt2"),
    }  # fmt: skip


def theirs(task, path, **options):
    return transformers.pipeline(task, model=str(path), device="cpu", **options)


def same(got, expected, where="result", tolerance=1e-4):
    """Equal structure, values and TYPES (a numpy float32 where transformers gives one, a Python float
    where it gives that); floats within ``tolerance``."""
    assert type(got) is type(expected), f"{where}: {type(got).__name__} vs {type(expected).__name__} ({got!r})"
    if isinstance(expected, dict):
        assert set(got) == set(expected), f"{where}: keys {sorted(got)} vs {sorted(expected)}"
        for key in expected:
            same(got[key], expected[key], f"{where}.{key}", tolerance)
    elif isinstance(expected, list | tuple):
        assert len(got) == len(expected), f"{where}: {len(got)} items vs {len(expected)}"
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            same(a, b, f"{where}[{i}]", tolerance)
    elif isinstance(expected, str | int | bool):
        assert got == expected, f"{where}: {got!r} vs {expected!r}"
    else:
        assert abs(float(got) - float(expected)) <= tolerance, f"{where}: {got} vs {expected}"
