"""Explaining the Llama family: `einformer attention` on tiny random Llama, Mistral, Qwen2 and Qwen3
directories that transformers saved gives transformers' own attention weights (output_attentions,
eager), and the step view shows each query and key before and after its rotation. Oracles: the
weights transformers returns for the same ids; for the rotation, the projections taken by forward
hooks, an RMSNorm written out (Qwen3's qk-norm) and a complex-number rotation by m * theta^(-2i/Dh)."""

import math

import pytest
import torch

from einformer import load
from einformer.cli import main
from einformer.explain.collect import collect_attention
from einformer.explain.steps import recording, steps_by_kind

from .browser import chromium, severe_errors

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

TEXT = "the owl said so, and the fox ran off."
BASE = dict(hidden_size=32, intermediate_size=56, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=64, rope_theta=100.0, bos_token_id=None, eos_token_id=0,
            pad_token_id=0)  # fmt: skip
FAMILIES = {
    "llama": ("LlamaConfig", {}),
    "mistral": ("MistralConfig", dict(sliding_window=4)),  # the text is longer than the window
    "qwen2": ("Qwen2Config", {}),
    "qwen3": ("Qwen3Config", dict(head_dim=12)),  # qk-norm, and a head width that is not 32 / 4
}
SHOWN = 5.1e-4  # the page shows 3 decimals


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    """One directory per family: random weights and a byte-level BPE tokenizer, saved by transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    root = tmp_path_factory.mktemp("llama_family")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=280, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    bpe.train_from_iterator([TEXT * 20, "the owl and the fox said so"], trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    dirs = {}
    for name, (config_class, extra) in FAMILIES.items():
        torch.manual_seed(0)
        config = getattr(transformers, config_class)(vocab_size=len(tokenizer), **BASE, **extra)
        model = transformers.AutoModelForCausalLM.from_config(config)
        with torch.no_grad():  # norms and biases away from their init, so a mix-up would show
            for p in model.parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p) * 0.3)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        dirs[name] = root / name
    return dirs


def transformers_attention(path, ids):
    model = transformers.AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), output_attentions=True).attentions


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_attention_command_gives_transformers_weights(family_dirs, family, tmp_path, capsys):
    path = family_dirs[family]
    assert main(["attention", str(path), TEXT, "--layer", "1", "-o", str(tmp_path / "map.png")]) == 0
    out = capsys.readouterr().out
    assert "self attention, layer 1, mean over heads" in out and (tmp_path / "map.png").stat().st_size > 0
    record = collect_attention(str(path), TEXT)
    ids = load(path).tokenizer.encode(TEXT)
    assert len(record.rows["self"]) == len(ids) > 4
    expected = transformers_attention(path, ids)
    assert len(record.maps["self"]) == len(expected) == 2
    for ours, theirs in zip(record.maps["self"], expected, strict=True):
        torch.testing.assert_close(ours, theirs[0], rtol=1e-5, atol=1e-6)
    if family == "mistral":  # the window: a query sees its last 4 positions only
        assert record.maps["self"][1][:, -1, :-4].abs().max() == 0


def rotation_oracle(path, layer: int):
    """q and k of ``layer`` for TEXT, before and after the rotation, from hooks and written-out formulas."""
    loaded = load(path)
    model, c = loaded.model, loaded.model.config
    attn = model.blocks[layer].attn
    seen = {}
    hooks = [getattr(attn, f"{x}_proj").register_forward_hook(lambda m, i, o, x=x: seen.__setitem__(x, o.detach()))
             for x in "qk"]  # fmt: skip
    ids = torch.tensor([loaded.tokenizer.encode(TEXT)])
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    m = ids.shape[1]

    def rms(x, norm):  # Qwen3's qk-norm, written out
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + c.rms_norm_eps) * norm.weight if norm else x

    q = rms(seen["q"][0].view(m, c.n_heads, c.head_dim).transpose(0, 1), attn.q_norm)  # (M, H * Dh) -> (H, M, Dh)
    k = rms(seen["k"][0].view(m, c.n_kv_heads, c.head_dim).transpose(0, 1), attn.k_norm)  # (Hkv, M, Dh)
    half = c.head_dim // 2
    angles = torch.arange(m, dtype=torch.float64)[:, None] * c.rope_theta ** (-torch.arange(half) * 2.0 / c.head_dim)

    def rotate(x):  # pairs (i, i + Dh/2) as complex numbers, times exp(1j m w_i)
        z = torch.complex(x[..., :half].double(), x[..., half:].double()) * torch.exp(1j * angles)
        return torch.cat([z.real, z.imag], dim=-1)

    return ids, {"q_unrotated": q, "k_unrotated": k, "q": rotate(q), "k": rotate(k)}


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_recorded_rotation_equals_the_complex_reference(family_dirs, family):
    ids, want = rotation_oracle(family_dirs[family], 1)
    model = load(family_dirs[family]).model
    plain = model(ids).logits
    with torch.no_grad(), recording(model) as recorded:
        out = model(ids, output_attentions=True)
    torch.testing.assert_close(out.logits, plain, rtol=0, atol=1e-5)  # recording changes nothing
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # hooks removed
    row = steps_by_kind(recorded, ["self"])["self"][1]
    assert row["positions"].tolist() == list(range(ids.shape[1]))
    for name in ("q_unrotated", "k_unrotated", "q", "k"):
        torch.testing.assert_close(row[name].double(), want[name].double(), rtol=1e-5, atol=1e-5, msg=name)
    torch.testing.assert_close(row["dots"].double(), want["q"] @ want["k"].repeat_interleave(2, 0).transpose(1, 2),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    rotated_norms = row["q"].norm(dim=-1)  # a rotation keeps each query's length
    torch.testing.assert_close(rotated_norms, row["q_unrotated"].norm(dim=-1), rtol=1e-5, atol=1e-6)


READ_ROTATION = """
const cells = (name) => document.querySelectorAll(`#steps [data-vector="${name}"] .cell`);
const strip = (name) => [...cells(name)].map((e) => e.dataset.value);
const n = document.querySelectorAll('#steps [data-vector^="before-k"]').length;
return {
  title: document.querySelector('#steps [data-step-number="2"]').textContent,
  beforeQ: strip("before-q"), q: strip("q"),
  beforeK: [...Array(n).keys()].map((j) => strip(`before-k${j}`)), k: [...Array(n).keys()].map((j) => strip(`k${j}`)),
  positions: [...document.querySelectorAll('#steps td[data-step="position"]')].map((e) => e.textContent),
};
"""


def test_step_view_shows_q_and_k_before_and_after_rotation(family_dirs, tmp_path, capsys):
    path, page, layer, head, query = family_dirs["qwen3"], tmp_path / "qwen3.html", 1, 2, 3
    argv = ["attention", str(path), TEXT, "--layer", str(layer), "--head", str(head), "--query-token", str(query),
            "--html", str(page)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    driver = chromium()
    try:
        driver.get(page.as_uri())
        view = driver.execute_script(READ_ROTATION)
        assert not severe_errors(driver)
    finally:
        driver.quit()
    ids, want = rotation_oracle(path, layer)
    kv = head // 2  # 4 query heads share 2 key/value heads

    def assert_shown(shown, expected, what):
        got = torch.tensor([float(v) for v in shown], dtype=torch.float64)
        torch.testing.assert_close(got, expected.double(), rtol=0, atol=SHOWN, msg=what)

    assert "then rotated by position (RoPE)" in view["title"] and "q_i rotated by m = 3" in view["title"]
    assert view["positions"] == [str(j) for j in range(ids.shape[1])]
    assert_shown(view["beforeQ"], want["q_unrotated"][head, query], "q before rotation")
    assert_shown(view["q"], want["q"][head, query], "q rotated")
    assert len(view["k"]) == ids.shape[1]
    for j in range(ids.shape[1]):
        assert_shown(view["beforeK"][j], want["k_unrotated"][kv, j], f"k_{j} before rotation")
        assert_shown(view["k"][j], want["k"][kv, j], f"k_{j} rotated")
    assert not math.isclose(float(view["q"][0]), float(view["beforeQ"][0]))  # position 3 did turn it
