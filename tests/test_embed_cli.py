"""`einformer embed` against sentence-transformers on the same directory: a plain Hugging Face BERT
directory is mean-pooled and not normalised, a sentence-transformers directory with a Normalize module
(as all-MiniLM-L6-v2's) is normalised, --normalize / --no-normalize override; --output writes .npy or
.jsonl; the cosine matrix is printed for up to MATRIX_TEXTS texts; `einformer export` keeps the
sentence-transformers files; the feature-extraction pipeline returns transformers' types."""

import json
import warnings

import numpy as np
import pytest
import torch

from einformer import pipeline
from einformer.cli import main
from einformer.cli.bert import MATRIX_TEXTS

st = pytest.importorskip("sentence_transformers", minversion="6")
from sentence_transformers.sentence_transformer import modules  # noqa: E402

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

TEXTS = ["the old teacher sees the ball", "a ball number 7 .", "the teacher", "the old ball " * 12]  # the last: > 24


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A BERT directory as transformers saves it (no modules.json), with a WordPiece tokenizer."""
    from einformer.recipes.bert_pretrain import train_wordpiece

    root = tmp_path_factory.mktemp("plain")
    tokenizer = train_wordpiece([f"the old teacher sees the ball number {i} ." for i in range(50)], vocab_size=120)
    tokenizer.save_pretrained(root)
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=37)  # fmt: skip
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def normalised(plain, tmp_path_factory):
    """The plain directory with sentence-transformers' own files for Transformer, mean Pooling and
    Normalize (as all-MiniLM-L6-v2 has them), written by sentence-transformers."""
    root = tmp_path_factory.mktemp("st")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body = modules.Transformer(str(plain), max_seq_length=24)
        model = st.SentenceTransformer(modules=[body, modules.Pooling(32, "mean"), modules.Normalize()])
        model.save(str(root))
    assert "Normalize" in (root / "modules.json").read_text()
    return root


def theirs(path, texts, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No sentence-transformers model found": mean pooling, as we do
        return torch.from_numpy(st.SentenceTransformer(str(path), device="cpu").encode(texts, **kw))


def embed(*argv):
    assert main(["embed", *map(str, argv)]) == 0


def test_a_plain_directory_is_not_normalised_as_sentence_transformers_says(plain, tmp_path):
    """Before: vectors of norm 1.0 where sentence-transformers gives other norms."""
    embed(plain, *TEXTS, "--output", tmp_path / "v.npy")
    got = torch.from_numpy(np.load(tmp_path / "v.npy", allow_pickle=False))
    expected = theirs(plain, TEXTS)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (expected.norm(dim=-1) - 1).abs().min() > 0.1  # not unit length
    embed(plain, *TEXTS, "--output", tmp_path / "n.npy", "--normalize")
    normed = torch.from_numpy(np.load(tmp_path / "n.npy", allow_pickle=False))
    torch.testing.assert_close(normed, theirs(plain, TEXTS, normalize_embeddings=True), atol=1e-5, rtol=1e-5)


def test_a_normalize_module_normalises_and_no_normalize_overrides(normalised, tmp_path):
    embed(normalised, *TEXTS, "--output", tmp_path / "v.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == TEXTS
    got = torch.tensor([r["embedding"] for r in rows])
    torch.testing.assert_close(got, theirs(normalised, TEXTS), atol=1e-5, rtol=1e-5)
    embed(normalised, *TEXTS, "--output", tmp_path / "raw.npy", "--no-normalize")
    raw = torch.from_numpy(np.load(tmp_path / "raw.npy", allow_pickle=False))
    assert (raw.norm(dim=-1) - 1).abs().min() > 0.1
    torch.testing.assert_close(raw / raw.norm(dim=-1, keepdim=True), got, atol=1e-5, rtol=1e-5)


def test_the_cosine_matrix_only_for_a_few_texts(plain, tmp_path, capsys):
    """Before: 300 texts printed a 300 x 300 matrix."""
    embed(plain, *TEXTS)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 embeddings of 32 dimensions, mean_tokens pooling, not normalised (no Normalize module); " \
                     "cosine similarities:"  # fmt: skip
    assert len(out) == 5 and out[1].split()[0] == "1.000"
    many = [f"text number {i}" for i in range(MATRIX_TEXTS + 1)]
    embed(plain, *many, "--output", tmp_path / "m.npy")
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{len(many)} embeddings of 32 dimensions, mean_tokens pooling, not normalised (no Normalize "
                   f"module); written to {tmp_path / 'm.npy'}; the cosine matrix is shown for up to {MATRIX_TEXTS} "
                   "texts"]  # fmt: skip
    assert np.load(tmp_path / "m.npy", allow_pickle=False).shape == (len(many), 32)


def test_output_other_than_npy_or_jsonl_is_refused(plain, tmp_path, capsys):
    assert main(["embed", str(plain), "a", "--output", str(tmp_path / "v.csv")]) == 2
    assert "name a .npy or .jsonl file" in capsys.readouterr().err and not (tmp_path / "v.csv").exists()


def test_export_keeps_the_sentence_transformers_files(normalised, plain, tmp_path):
    """Before: export dropped modules.json and the pooling folder."""
    assert main(["export", str(normalised), str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    for name in ("modules.json", "1_Pooling/config.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json"):  # fmt: skip
        assert (out / name).read_bytes() == (normalised / name).read_bytes(), name
    torch.testing.assert_close(theirs(out, TEXTS), theirs(normalised, TEXTS), atol=1e-5, rtol=1e-5)
    pipe = pipeline("sentence-embeddings", out)
    assert pipe.pooling.normalize and pipe.tokenizer.model_max_length == 24  # sentence-transformers 6 keeps it there
    assert main(["export", str(plain), str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "modules.json").exists()


@pytest.mark.parametrize("return_tensors", [False, True])
def test_feature_extraction_returns_transformers_types(plain, return_tensors):
    ours = pipeline("feature-extraction", plain)(TEXTS, return_tensors=return_tensors)
    hf = transformers.pipeline("feature-extraction", model=str(plain), device="cpu")(
        TEXTS, return_tensors=return_tensors
    )
    assert type(ours) is type(hf) and [type(x) for x in ours] == [type(x) for x in hf]
    for a, b in zip(ours, hf, strict=True):
        torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "config",
    [
        {"embedding_dimension": 32, "pooling_mode": ["mean", "max"]},  # sentence-transformers 6: as listed
        {"embedding_dimension": 32, "pooling_mode": "cls"},
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},  # <= 5
    ],
)
def test_both_pooling_config_formats_pool_as_sentence_transformers(normalised, tmp_path, config):
    """Before: sentence-transformers 6's ``pooling_mode`` was refused, and legacy max + mean came out swapped."""
    import shutil

    directory = shutil.copytree(normalised, tmp_path / "d")
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(config))
    got = pipeline("sentence-embeddings", directory)(TEXTS)
    torch.testing.assert_close(got, theirs(directory, TEXTS), atol=1e-5, rtol=1e-5)
