"""MarianMT directories (transformers' MarianMTModel and MarianTokenizer) <-> einformer's encoder-decoder.

The oracle is transformers itself: tiny random MarianMTModel directories saved by it, with the
sentencepiece models of tests/fixtures/marian_spm (trained on Multi30k by make_marian_spm.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")
pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

from einformer import load, pipeline  # noqa: E402
from einformer.checkpoint import CheckpointError  # noqa: E402
from einformer.cli import main  # noqa: E402
from einformer.data.marian_tokenizer import MarianTokenizer  # noqa: E402
from einformer.models.encoder_decoder import EncoderDecoderTransformer  # noqa: E402

SPM = Path(__file__).parents[1] / "fixtures" / "marian_spm"
MULTI30K = Path(__file__).parents[2] / ".." / "shared" / "data" / "multi30k"
SOURCES = [
    "Ein Mann fährt Fahrrad.",
    "Zwei Hunde spielen im Schnee, während ein Kind zuschaut!",
    "Eine Frau in einem roten Kleid singt auf der Bühne.",
    "Kinder  mit   Hüten?",
    "Straße 42: 3,5 km – „Zitat“ und Ümlaute ÄÖÜ ß",
    ">>en<< Ein Junge springt.",
    "日本語のテキスト und Emoji 🙂",
    "",
]


def _save_marian(directory: Path, *, shared: bool = True, **config) -> Path:
    """A random MarianMTModel and its tokenizer, saved by transformers."""
    vocab = json.loads((SPM / "vocab.json").read_text(encoding="utf-8"))
    pad = vocab["<pad>"]
    torch.manual_seed(0)
    hf_config = transformers.MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        share_encoder_decoder_embeddings=shared,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        activation_function="swish",
        max_position_embeddings=128,
        scale_embedding=True,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=0,
        **config,
    )
    model = transformers.MarianMTModel(hf_config).eval()
    with torch.no_grad():  # a learned-looking output bias, so the test sees final_logits_bias
        model.final_logits_bias.normal_(0, 0.5)
    model.generation_config = transformers.GenerationConfig(
        num_beams=4,
        max_length=20,
        bad_words_ids=[[pad]],
        forced_eos_token_id=0,
        decoder_start_token_id=pad,
        eos_token_id=0,
        pad_token_id=pad,
    )
    model.save_pretrained(directory)
    _hf_tokenizer(SPM).save_pretrained(directory)
    return directory


def _hf_tokenizer(directory: Path):
    return transformers.MarianTokenizer(
        source_spm=str(directory / "source.spm"),
        target_spm=str(directory / "target.spm"),
        vocab=str(directory / "vocab.json"),
        source_lang="de",
        target_lang="en",
    )


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory) -> Path:
    return _save_marian(tmp_path_factory.mktemp("marian") / "opus-mt-tiny")


def _batch(directory: Path, texts: list[str]):
    return _hf_tokenizer(directory)(texts, return_tensors="pt", padding=True)


def test_config_and_weights_map_strictly(marian_dir):
    model = EncoderDecoderTransformer.from_pretrained(marian_dir)
    c = model.config
    assert (c.activation, c.sinusoid_layout, c.norm_first, c.output_bias) == ("silu", "halves", False, True)
    assert c.bos_token_id == c.pad_token_id == 691 and c.eos_token_id == 0 and c.share_embeddings
    hf = transformers.MarianMTModel.from_pretrained(marian_dir)
    assert torch.equal(model.lm_head.bias, hf.final_logits_bias[0])
    assert torch.allclose(model.src_pos.table, hf.model.encoder.embed_positions.weight, atol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_logits_match_transformers(marian_dir, tmp_path, shared):
    directory = marian_dir if shared else _save_marian(tmp_path / "unshared", shared=False)
    hf = transformers.MarianMTModel.from_pretrained(directory).eval()
    ours = EncoderDecoderTransformer.from_pretrained(directory)
    assert ours.config.share_embeddings is shared
    batch = _batch(directory, SOURCES[:4])
    decoder_input_ids = torch.randint(2, 690, (4, 9))
    decoder_input_ids[:, 0] = ours.config.bos_token_id
    with torch.no_grad():
        expected = hf(**batch, decoder_input_ids=decoder_input_ids).logits
        got = ours(batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input_ids).logits
    assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize("num_beams", [1, 4])
def test_generation_is_token_identical_with_the_directorys_config(marian_dir, num_beams):
    hf = transformers.MarianMTModel.from_pretrained(marian_dir).eval()
    ours = EncoderDecoderTransformer.from_pretrained(marian_dir)
    assert ours.generation_config.num_beams == 4 and ours.generation_config.bad_words_ids == [[691]]
    assert ours.generation_config.max_length == 20
    batch = _batch(marian_dir, SOURCES[:6])
    options = {} if num_beams == 4 else {"num_beams": 1}  # beam 4 is the directory's own setting
    expected = hf.generate(**batch, **options)
    got = ours.generate(batch["input_ids"], batch["attention_mask"], **options)
    assert got.tolist() == expected.tolist()


def _sample() -> list[str]:
    lines = list(SOURCES)
    for name in ("test_2016_flickr.de", "test_2016_flickr.en"):
        if (MULTI30K / name).is_file():
            lines += (MULTI30K / name).read_text(encoding="utf-8").splitlines()[:300]
    return lines


def test_tokenizer_ids_match_marian_tokenizer(marian_dir):
    hf, ours = _hf_tokenizer(marian_dir), MarianTokenizer(marian_dir)
    sample = _sample()
    for text in sample:
        assert ours.encode(text) == hf(text)["input_ids"], text
    target_hf, target_ours = hf, ours.for_target()
    for text in sample[:40]:
        ids = target_hf(text_target=text)["input_ids"]
        assert target_ours.encode(text) == ids, text
        assert target_ours.decode(ids) == target_hf.decode(ids, skip_special_tokens=True), text
    batch = ours.batch(SOURCES[:3])
    expected = hf(SOURCES[:3], return_tensors="pt", padding=True)
    assert torch.equal(batch["input_ids"], expected["input_ids"])
    assert torch.equal(batch["attention_mask"], expected["attention_mask"])


def test_export_loads_in_transformers_with_identical_logits(marian_dir, tmp_path):
    ours = EncoderDecoderTransformer.from_pretrained(marian_dir)
    out = ours.save_pretrained(tmp_path / "export", format="hf")
    hf = transformers.MarianMTModel.from_pretrained(out).eval()
    batch = _batch(marian_dir, SOURCES[:3])
    decoder_input_ids = torch.tensor([[691, 5, 9, 30]] * 3)
    with torch.no_grad():
        a = hf(**batch, decoder_input_ids=decoder_input_ids).logits
        b = ours(batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input_ids).logits
    assert torch.equal(a, b) or (a - b).abs().max() < 1e-6
    assert hf.generate(**batch).tolist() == ours.generate(batch["input_ids"], batch["attention_mask"]).tolist()
    again = EncoderDecoderTransformer.from_pretrained(out)
    assert all(torch.equal(x, y) for x, y in zip(again.state_dict().values(), ours.state_dict().values(), strict=True))


def test_translate_attention_and_pipeline(marian_dir, tmp_path, capsys):
    hf = transformers.MarianMTModel.from_pretrained(marian_dir).eval()
    tok = _hf_tokenizer(marian_dir)
    texts = SOURCES[:2]
    expected = tok.batch_decode(hf.generate(**_batch(marian_dir, texts)), skip_special_tokens=True)
    assert main(["translate", str(marian_dir), *texts]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    translator = pipeline("translation", model=str(marian_dir))
    assert [r[0]["translation_text"] for r in translator(texts)] == expected
    html = tmp_path / "cross.html"
    assert main(["attention", str(marian_dir), texts[0], "--kind", "cross", "--html", str(html)]) == 0
    printed = capsys.readouterr().out
    assert "cross attention" in printed and html.is_file()
    loaded = load(marian_dir)
    assert loaded.origin == "huggingface" and isinstance(loaded.source_tokenizer, MarianTokenizer)


def _config_edit(marian_dir: Path, tmp_path: Path, **changes) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(marian_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, **changes}))
    return copy


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"normalize_before": True}, "normalize_before=True"),
        ({"add_final_layer_norm": True}, "add_final_layer_norm=True"),
        ({"normalize_embedding": True}, "normalize_embedding=True"),
        ({"decoder_ffn_dim": 128}, "decoder_ffn_dim=128"),
    ],
)
def test_options_we_cannot_express_are_refused_by_name(marian_dir, tmp_path, changes, named):
    with pytest.raises(CheckpointError, match=named):
        EncoderDecoderTransformer.from_pretrained(_config_edit(marian_dir, tmp_path, **changes))


def test_a_directory_without_spm_files_is_refused_clearly(marian_dir, tmp_path, capsys):
    copy = _config_edit(marian_dir, tmp_path)
    (copy / "source.spm").unlink()
    assert main(["translate", str(copy), "Ein Hund."]) != 0
    assert "needs source.spm, target.spm and vocab.json" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match=r"\['source.spm'\]"):
        MarianTokenizer(copy)


def test_a_mismatched_position_table_is_refused(marian_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    copy = _config_edit(marian_dir, tmp_path)
    state = load_file(copy / "model.safetensors")
    state["model.encoder.embed_positions.weight"] = torch.zeros(128, 32)
    save_file(state, copy / "model.safetensors")
    with pytest.raises(CheckpointError, match="embed_positions.weight is not Marian's static sinusoid table"):
        EncoderDecoderTransformer.from_pretrained(copy)


def test_a_run_in_marian_s_configuration_exports_to_a_marian_directory(tmp_path, capsys):
    """`einformer export RUN OUT` on an encoder-decoder run trained in Marian's configuration: transformers
    reads OUT with the run's logits, and einformer reads it back with the run's tokenizers."""
    from einformer.recipes.seq2seq import load_run, train_seq2seq
    from einformer.training import TrainingArguments

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"w{i}x{j}\t{f'w{i}x{j}'[::-1]}\n" for i in range(20) for j in range(5)))
    marian = dict(activation="silu", sinusoid_layout="halves", output_bias=True, share_embeddings=True)
    args = TrainingArguments(max_steps=20, batch_size=16, warmup_steps=5, eval_every=20, save_every=20, progress=False)
    train_seq2seq(tmp_path / "run", data=str(pairs), tokenizer="char", preset="tiny", model_overrides=marian, args=args)
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "out")]) == 0
    run, hf = load_run(tmp_path / "run"), transformers.MarianMTModel.from_pretrained(tmp_path / "out").eval()
    batch = run.encode_sources(["w3x1", "w17x4"])
    decoder_input_ids = torch.tensor([[1, 5, 6, 7]] * 2)
    with torch.no_grad():
        expected = run.model(batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input_ids).logits
        got = hf(**batch, decoder_input_ids=decoder_input_ids).logits
    assert (got - expected).abs().max() < 1e-5
    assert hf.generation_config.num_beams == 4 and hf.generation_config.max_length == run.model.config.max_position
    ours = run.model.generate(batch["input_ids"], batch["attention_mask"], num_beams=2, max_new_tokens=8)
    theirs = hf.generate(**batch, num_beams=2, max_new_tokens=8)
    # after EOS transformers' beam search fills with EOS when pad_token_id is 0 (it reads `pad or eos`)
    assert [_until_eos(row) for row in theirs.tolist()] == [_until_eos(row) for row in ours.tolist()]
    capsys.readouterr()
    for directory in (tmp_path / "run", tmp_path / "out"):
        assert main(["translate", str(directory), "w3x1", "w7x2", "--num-beams", "2", "--max-new-tokens", "12"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == lines[2:] and len(lines) == 4
    # a run in the paper's own configuration has no Marian form: refused by name, nothing written
    plain = tmp_path / "plain"
    train_seq2seq(plain, data=str(pairs), tokenizer="char", preset="tiny", args=args)
    assert main(["export", str(plain), str(tmp_path / "plain-out")]) != 0
    assert "sinusoid_layout='interleaved' (Marian: 'halves')" in capsys.readouterr().err
    assert not (tmp_path / "plain-out").exists()


def _until_eos(row: list[int], eos: int = 2) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


def test_a_marian_directory_exports_with_its_sentencepiece_files(marian_dir, tmp_path):
    assert main(["export", str(marian_dir), str(tmp_path / "copy")]) == 0
    for name in ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json"):
        assert (tmp_path / "copy" / name).read_bytes() == (marian_dir / name).read_bytes(), name
    hf = transformers.MarianMTModel.from_pretrained(tmp_path / "copy").eval()
    batch = _batch(marian_dir, SOURCES[:2])
    assert (
        hf.generate(**batch).tolist()
        == transformers.MarianMTModel.from_pretrained(marian_dir).generate(**batch).tolist()
    )
