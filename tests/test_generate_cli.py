"""``einformer generate`` and ``TextGenerator`` as a transformers user expects them (#31), against
transformers' ``generate`` on the same tiny GPT-2 directory (the oracle): a positional prompt,
greedy decoding when the generation_config sets nothing, every shell flag passed through,
``num_return_sequences`` completions grouped per prompt, and a clear refusal past an
absolute-position model's context with the sliding window as a named opt-in."""

import io
import json
import re

import pytest
import torch
from tokenizers.implementations import ByteLevelBPETokenizer

from einformer import load
from einformer.cli import main
from einformer.inference import SAMPLING_DEFAULTS, TextGenerator

transformers = pytest.importorskip("transformers")
TEXT = ["the quick brown fox jumps over the lazy dog and the dog sleeps " * 5, "hello world, hello again " * 5]
PROMPTS = ["the quick brown", "hello"]
CONTEXT = 32


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """(directory, transformers' model, transformers' tokenizer): a tiny random GPT-2 that transformers
    saved with a byte-level BPE tokenizer; its generation_config.json sets no decoding option."""
    d = tmp_path_factory.mktemp("gpt2")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXT * 10, vocab_size=300, special_tokens=["<|endoftext|>"])
    bpe.save_model(str(d))
    tok = transformers.GPT2TokenizerFast(str(d / "vocab.json"), str(d / "merges.txt"))
    eos = tok.eos_token_id
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=CONTEXT, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=eos, eos_token_id=eos, initializer_range=0.5)  # fmt: skip
    # wide weights (0.5, not 0.02): varied tokens, so that each option changes them
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(d)
    tok.save_pretrained(d)
    written = json.loads((d / "generation_config.json").read_text())
    assert not {"do_sample", "num_beams", "temperature", "top_k", "top_p", "max_new_tokens", "max_length"} & set(
        written
    )
    return d, model, tok


def theirs(gpt2, prompts, **options) -> list[str]:
    """transformers' continuations of ``prompts`` (one left-padded batch), decoded as its pipeline
    does: special tokens (EOS and the padding after it) left out."""
    _, model, tok = gpt2
    tok.padding_side, tok.pad_token = "left", tok.eos_token
    batch = tok(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, pad_token_id=tok.eos_token_id, **options)
    return tok.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def cli(capsys, *argv, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["generate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_positional_prompt_prints_transformers_greedy_continuation(gpt2, capsys):
    """The must-show: a generation_config that sets nothing means greedy search, as in transformers."""
    d, *_ = gpt2
    code, out, err = cli(capsys, d, PROMPTS[0], "--max-new-tokens", 12)
    assert (code, err) == (0, "")
    assert out == PROMPTS[0] + theirs(gpt2, PROMPTS[:1], max_new_tokens=12)[0] + "\n"
    assert cli(capsys, d, "--prompt", PROMPTS[0], "--max-new-tokens", 12)[1] == out  # --prompt still works
    room = CONTEXT - len(gpt2[2](PROMPTS[0])["input_ids"])  # no length anywhere: 200, or what the context holds
    assert cli(capsys, d, PROMPTS[0]) == (0, PROMPTS[0] + theirs(gpt2, PROMPTS[:1], max_new_tokens=room)[0] + "\n", "")


def test_stdin_and_dash_read_one_prompt_per_line(gpt2, capsys, monkeypatch):
    d, *_ = gpt2
    expected = "---\n".join(p + t + "\n" for p, t in zip(PROMPTS, theirs(gpt2, PROMPTS, max_new_tokens=6), strict=True))
    for dash in ([], ["-"]):
        code, out, _ = cli(
            capsys, d, *dash, "--max-new-tokens", 6, stdin="\n".join(PROMPTS) + "\n", monkeypatch=monkeypatch
        )
        assert (code, out) == (0, expected)


@pytest.mark.parametrize(
    "flags, options",
    [
        (["--repetition-penalty", "1.5", "--no-repeat-ngram-size", "2"], dict(repetition_penalty=1.5,
                                                                              no_repeat_ngram_size=2)),
        (["--num-beams", "3", "--length-penalty", "0.5", "--min-new-tokens", "7"],
         dict(num_beams=3, length_penalty=0.5, min_new_tokens=7)),
    ],
)  # fmt: skip
def test_deterministic_flags_give_transformers_tokens(gpt2, capsys, flags, options):
    d, *_ = gpt2
    code, out, _ = cli(capsys, d, PROMPTS[1], "--max-new-tokens", 9, *flags)
    expected = theirs(gpt2, PROMPTS[1:], max_new_tokens=9, **options)[0]
    assert code == 0 and out == PROMPTS[1] + expected + "\n"
    assert expected != theirs(gpt2, PROMPTS[1:], max_new_tokens=9)[0]  # the options changed the tokens


def test_every_flag_reaches_generate_under_its_own_name(gpt2, capsys, monkeypatch):
    d, *_ = gpt2
    seen = {}

    def spy(self, prompts, *, sliding_window=False, **options):
        seen.update(options, sliding_window=sliding_window, prompts=prompts)
        return [""] * len(prompts) * options.get("num_return_sequences", 1)

    monkeypatch.setattr(TextGenerator, "generate", spy)
    flags = {"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.9, "min_p": 0.05, "typical_p": 0.8,
             "repetition_penalty": 1.2, "no_repeat_ngram_size": 3, "num_beams": 4, "length_penalty": 0.6,
             "num_return_sequences": 2, "min_new_tokens": 2, "max_new_tokens": 7, "seed": 11}  # fmt: skip
    argv = [a for k, v in flags.items() if k != "do_sample" for a in ("--" + k.replace("_", "-"), v)]
    code, out, _ = cli(capsys, d, "a", "b", "--do-sample", *argv, "--stop-strings", ".", "--stop-strings", "!",
                       "--sliding-window")  # fmt: skip
    assert code == 0 and out.count("=== prompt") == 4
    assert seen == {**flags, "stop_strings": [".", "!"], "sliding_window": True, "prompts": ["a", "b"]}
    cli(capsys, d, "a", "--greedy", "--num-beams", 2)
    assert seen["do_sample"] is False and seen["num_beams"] == 2


def test_sampling_flags_reach_generate(gpt2, capsys):
    """--do-sample with the warpers and a seed: the tokens of model.generate with the same options."""
    d, *_ = gpt2
    flags = ["--do-sample", "--temperature", "1.3", "--top-k", "20", "--top-p", "0.9", "--min-p", "0.02",
             "--typical-p", "0.95", "--seed", "3"]  # fmt: skip
    options = dict(do_sample=True, temperature=1.3, top_k=20, top_p=0.9, min_p=0.02, typical_p=0.95, seed=3)
    generator = TextGenerator.from_loaded(load(d))
    ids = torch.tensor([generator.encode(PROMPTS[0])])
    new = generator.model.generate(ids, max_new_tokens=10, **options)[0, ids.shape[1] :].tolist()
    new = new[: new.index(generator.tokenizer.eos_token_id)] if generator.tokenizer.eos_token_id in new else new
    assert cli(capsys, d, PROMPTS[0], "--max-new-tokens", 10, *flags)[1] == PROMPTS[0] + generator.decode(new) + "\n"
    unseeded = cli(capsys, d, PROMPTS[0], "--max-new-tokens", 10, *flags[:-2], "--seed", 4)[1]
    assert unseeded != PROMPTS[0] + generator.decode(new) + "\n"  # the seed is what made them equal


def test_stop_strings_end_the_completion_as_transformers_does(gpt2, capsys):
    d, *_, tok = gpt2
    prompt, options = PROMPTS[1], dict(max_new_tokens=20, repetition_penalty=1.3)
    full = theirs(gpt2, [prompt], **options)[0]
    stop = re.search(r"[a-z ]{2}", full).group()  # readable text the continuation reaches
    expected = theirs(gpt2, [prompt], **options, stop_strings=[stop], tokenizer=tok)[0]
    assert stop in expected[-3:] and len(expected) < len(full)  # stopped by it (its last token may run past it)
    flags = ["--max-new-tokens", 20, "--repetition-penalty", 1.3, "--stop-strings", "zzz", "--stop-strings", stop]
    assert cli(capsys, d, prompt, *flags)[1] == prompt + expected + "\n"
    batch = TextGenerator.from_loaded(load(d)).generate(PROMPTS, **options, stop_strings=[stop, "zzz"])
    assert batch == theirs(gpt2, PROMPTS, **options, stop_strings=[stop, "zzz"], tokenizer=tok)  # one row stops


def test_num_return_sequences_is_a_flat_list_grouped_per_prompt(gpt2):
    """The contract the text-generation pipeline relies on: len(prompts) * n texts, prompt 0's n first;
    beams and seeded sampling (transformers' random stream) both equal transformers' rows."""
    d, *_ = gpt2
    generator = TextGenerator.from_loaded(load(d))
    beams = generator.generate(PROMPTS, max_new_tokens=8, num_beams=3, num_return_sequences=2)
    assert beams == theirs(gpt2, PROMPTS, max_new_tokens=8, num_beams=3, num_return_sequences=2)
    torch.manual_seed(5)
    sampled = generator.generate(
        PROMPTS, max_new_tokens=8, do_sample=True, num_return_sequences=2, sampler="multinomial"
    )
    torch.manual_seed(5)
    assert sampled == theirs(gpt2, PROMPTS, max_new_tokens=8, do_sample=True, num_return_sequences=2)
    assert len(sampled) == 4 and len(set(sampled)) > 1


def test_the_cli_prints_n_completions_per_prompt_under_headers(gpt2, capsys):
    d, *_ = gpt2
    code, out, _ = cli(capsys, d, *PROMPTS, "--max-new-tokens", 8, "--num-beams", 3, "--num-return-sequences", 2)
    texts = theirs(gpt2, PROMPTS, max_new_tokens=8, num_beams=3, num_return_sequences=2)
    expected = "".join(
        f"=== prompt {i // 2 + 1}, sequence {i % 2 + 1} of 2 ===\n{PROMPTS[i // 2]}{t}\n" for i, t in enumerate(texts)
    )
    assert (code, out) == (0, expected)


def test_past_the_context_is_refused_unless_the_sliding_window_is_asked_for(gpt2, capsys):
    from einformer.inference.text_generation import _windows  # the window's ids, before decoding

    d, model, tok = gpt2
    prompt = tok(PROMPTS[0])["input_ids"]
    code, out, err = cli(capsys, d, PROMPTS[0], "--max-new-tokens", 50)
    assert (code, out) == (2, "")
    for part in (f"prompt is {len(prompt)} tokens", "max_new_tokens=50", f"context of {CONTEXT}",
                 f"at most {CONTEXT - len(prompt)} new tokens", "--sliding-window"):  # fmt: skip
        assert part in err
    generator = TextGenerator.from_loaded(load(d))
    with pytest.raises(ValueError, match="sliding_window=True"):
        generator.generate(PROMPTS, max_new_tokens=50)
    code, out, _ = cli(capsys, d, PROMPTS[0], "--max-new-tokens", 50, "--sliding-window", "--no-repeat-ngram-size", 3)
    new = generator.generate(PROMPTS[:1], max_new_tokens=50, sliding_window=True, no_repeat_ngram_size=3)[0]
    assert code == 0 and out == PROMPTS[0] + new + "\n"  # streamed or batched, the same windows
    options = dict(no_repeat_ngram_size=3, suppress_tokens=[tok.eos_token_id])  # no EOS: all 50 tokens
    ids = _windows(generator, [list(prompt)], 50, options)[0]
    assert len(ids) == 50  # went on past the context
    first = CONTEXT - len(prompt)  # each window: transformers' greedy tokens after the last half-context
    half = CONTEXT // 2
    for start, span in ((prompt, slice(0, first)), ((prompt + ids[:first])[-half:], slice(first, first + half))):
        with torch.no_grad():
            window = model.generate(torch.tensor([start]), max_new_tokens=span.stop - span.start, **options)
        assert window[0, len(start) :].tolist() == ids[span]


def test_rotary_and_memory_models_go_on_past_their_trained_length():
    """Nothing bounds a Llama's rotary positions or a Transformer-XL's memory: not refused, and the
    text is the model's own generate over the whole length (no window)."""
    from einformer import Llama, LlamaConfig, TransformerXL, TransformerXLConfig
    from einformer.data.tokenizer import Tokenizer

    tok = Tokenizer.train(TEXT, "char", vocab_size=64)
    ids = dict(
        vocab_size=tok.vocab_size,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    models = [
        Llama(LlamaConfig.from_preset("tiny", max_position=16, **ids)),
        TransformerXL(TransformerXLConfig.from_preset("tiny", segment_length=8, mem_len=8, **ids)),
    ]
    for model in models:
        generator = TextGenerator(model.eval(), tok)
        text = generator.generate(
            ["the quick"], max_new_tokens=40, do_sample=False, suppress_tokens=[tok.eos_token_id]
        )[0]
        prompt = torch.tensor([tok.encode("the quick")])
        new = model.generate(prompt, max_new_tokens=40, suppress_tokens=[tok.eos_token_id])[0, prompt.shape[1] :]
        assert text == tok.decode(new.tolist()) and len(new) == 40


def test_a_trained_run_samples_by_default_and_greedy_is_a_flag(tmp_path, capsys):
    """Runs write their wish to sample into generation_config.json; --greedy (= --no-do-sample) is
    greedy search; a run whose file sets nothing (trained before) is greedy, with a note saying so."""
    data = tmp_path / "text.txt"
    data.write_text(TEXT[0] * 20)
    run = tmp_path / "run"
    assert main(["train", "--model", "gpt", "--data", str(data), "--run-dir", str(run), "--steps", "1", "--preset",
                 "tiny", "--block-size", "32", "--batch-size", "4", "--no-progress"]) == 0  # fmt: skip
    read = transformers.GenerationConfig.from_pretrained(run)  # what transformers makes of the file
    assert (read.do_sample, read.temperature, read.top_k or 50) == (True, 0.8, 50)  # unset top_k: generate's 50
    written = json.loads((run / "generation_config.json").read_text())
    capsys.readouterr()
    generator = TextGenerator.from_loaded(load(run))
    ids = torch.tensor([generator.encode("the")])
    sampled = generator.model.generate(ids, max_new_tokens=20, seed=1)[0, 3:].tolist()
    greedy = generator.model.generate(ids, max_new_tokens=20, do_sample=False)[0, 3:].tolist()
    stop = [generator.tokenizer.eos_token_id]
    cut = [generator.decode(t[: t.index(stop[0])] if stop[0] in t else t) for t in (sampled, greedy)]
    assert cli(capsys, run, "the", "--max-new-tokens", 20, "--seed", 1) == (0, "the" + cut[0] + "\n", "")
    assert cli(capsys, run, "the", "--max-new-tokens", 20, "--greedy")[1] == "the" + cut[1] + "\n"
    (run / "generation_config.json").write_text(
        json.dumps({k: written[k] for k in written if k not in SAMPLING_DEFAULTS})
    )
    code, out, err = cli(capsys, run, "the", "--max-new-tokens", 20)
    assert (code, out) == (0, "the" + cut[1] + "\n") and "--do-sample --temperature 0.8 --top-k 50" in err
