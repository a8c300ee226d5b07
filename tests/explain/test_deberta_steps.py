"""DeBERTa's disentangled attention in the explorer's step view: the recorded content-to-position and
position-to-content terms equal transformers' own (``disentangled_attention_bias``, one term at a
time, from the query and key states a hook catches), the recorded weights equal transformers'
attentions, the scores are q.k scaled plus the two terms, and the page shows each term in its own
column, equal to the recorded numbers to the displayed precision."""

import pytest
import torch
from torch.testing import assert_close

import einformer
from einformer.explain.collect import AttentionRecord
from einformer.explain.html import write_explorer
from einformer.explain.steps import recording, steps_by_kind
from einformer.nn.disentangled import DisentangledSelfAttention
from tests.encoder_models import save_model

from .browser import chromium, severe_errors

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf
SHOWN = 5.1e-4  # the page shows 3 decimals


def test_deberta_steps_hold_transformers_terms_and_the_page_shows_them(tmp_path):
    path = save_model("deberta-v2", "Model", tmp_path / "hf", initializer_range=0.5)  # terms well above 1e-5
    theirs = transformers.DebertaV2Model.from_pretrained(path).eval()
    ours = einformer.load(path).model
    ids = torch.randint(5, theirs.config.vocab_size, (1, 7), generator=torch.Generator().manual_seed(0))
    attentions = [m for m in ours.modules() if isinstance(m, DisentangledSelfAttention)]
    outputs = []  # each attention's output projection, hooked
    hooks = [a.out_proj.register_forward_hook(lambda module, args, out: outputs.append(out)) for a in attentions]
    caught = []
    hooks += [layer.attention.self.register_forward_hook(
        lambda module, args, kwargs, out: caught.append((module, args[0], kwargs)), with_kwargs=True)
        for layer in theirs.encoder.layer]  # fmt: skip
    with torch.no_grad(), recording(ours) as recorded:
        expected = theirs(ids, output_attentions=True)
        got = ours(ids, output_attentions=True)
    for h in hooks:
        h.remove()
    steps = steps_by_kind(recorded, ["self"])["self"]
    assert len(steps) == len(caught) == theirs.config.num_hidden_layers
    for (module, hidden, kwargs), row, weights in zip(caught, steps, expected.attentions, strict=True):
        assert row["mask_kind"] == "disentangled"
        q = module.transpose_for_scores(module.query_proj(hidden), module.num_attention_heads)
        k = module.transpose_for_scores(module.key_proj(hidden), module.num_attention_heads)
        for term in ("c2p", "p2c"):
            saved, module.pos_att_type = module.pos_att_type, [term]
            with torch.no_grad():  # scale factor 3: both terms present
                relative, table = kwargs["relative_pos"], kwargs["rel_embeddings"]
                theirs_term = module.disentangled_attention_bias(q, k, relative, table, 3)
            module.pos_att_type = saved
            assert_close(row[term], theirs_term.view_as(row[term]), atol=1e-5, rtol=1e-5)
            assert row[term].abs().mean() > 0.1
        assert_close(row["weights"], weights[0], atol=1e-5, rtol=1e-5)
        assert_close(row["scores"], row["scaled"] + row["c2p"] + row["p2c"], atol=1e-5, rtol=1e-6)
        assert_close(row["scaled"], row["dots"] * row["scale"], atol=0, rtol=0)
    assert [torch.equal(row["output"], out[0]) for row, out in zip(steps, outputs, strict=True)] == [True] * len(steps)

    maps = {"self": tuple(w[0] for w in got.attentions)}
    tokens = [f"w{i}" for i in range(7)]
    page = write_explorer(AttentionRecord("deberta", maps, {"self": tokens}, {"self": tokens}, {"self": steps}),
                          tmp_path / "deberta.html", layer=1, head=1, query_token=4)  # fmt: skip
    driver = chromium()
    try:
        driver.get(page.as_uri())
        cells = "#steps td[data-step='${arguments[0]}']"
        read = f"return [...document.querySelectorAll(`{cells}`)].map((e) => e.textContent)"
        shown = {name: driver.execute_script(read, name) for name in ("dot", "c2p", "p2c", "score")}
        header = driver.execute_script("return [...document.querySelectorAll('#steps th')].map((e) => e.textContent)")
        assert not severe_errors(driver)
    finally:
        driver.quit()
    assert "+ c2p" in header and "+ p2c" in header and "× 1/√(3·d_qk)" in header
    row = steps[1]
    for name, recorded_name in (("dot", "dots"), ("c2p", "c2p"), ("p2c", "p2c"), ("score", "scores")):
        values = torch.tensor([float(s) for s in shown[name]], dtype=torch.float64)
        assert_close(values, row[recorded_name][1, 4].double(), rtol=0, atol=SHOWN, msg=name)
