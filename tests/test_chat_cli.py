"""Chat end to end on tiny Qwen2 and Llama directories that transformers saves (random weights, a tokenizer
trained here, the public chat template): the text-generation pipeline on messages equals transformers'
pipeline (greedy: the same reply), and ``einformer chat`` driven by standard input replies with the greedy
continuation of the templated conversation, keeps the history across turns, and forgets it on /reset."""

import io

import pytest
import torch

import einformer
from einformer.cli import main
from einformer.inference import TextGenerator
from einformer.inference.chat import ChatSession, run_chat, terminal_lines

from .data.tiny_hf_tokenizers import save, template

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

KINDS = {  # directory kind -> (tokenizer kind, template, config class, bos, eos)
    "qwen2": ("qwen2", "qwen2.5-7b-instruct", "Qwen2Config", None, "<|im_end|>"),
    "llama": ("llama3", "llama-3.1-8b-instruct", "LlamaConfig", "<|begin_of_text|>", "<|eot_id|>"),
}
CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "床前明月光, and then?"}]
NEW = dict(max_new_tokens=10, do_sample=False)


@pytest.fixture(scope="module", params=sorted(KINDS))
def model_dir(request, tmp_path_factory):
    kind, name, config_class, bos, eos = KINDS[request.param]
    directory = save(kind, tmp_path_factory.mktemp(request.param), chat_template=template(name))
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    ids = {k: tok.convert_tokens_to_ids(t) for k, t in (("bos_token_id", bos), ("eos_token_id", eos)) if t}
    config = getattr(transformers, config_class)(
        vocab_size=len(tok), hidden_size=32, intermediate_size=56, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id, **ids,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    return directory


def _greedy_reply(directory, conversation) -> str:
    """transformers: the templated conversation's greedy continuation, special tokens left out."""
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
    ids = tok.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, **NEW)
    return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def test_pipeline_on_messages_equals_transformers(model_dir):
    ours = einformer.pipeline("text-generation", model=model_dir)
    theirs = transformers.pipeline("text-generation", model=str(model_dir))
    expected = theirs(CHAT, **NEW)
    got = ours(CHAT, **NEW)
    assert got == expected and got[0]["generated_text"][:-1] == CHAT
    assert got[0]["generated_text"][-1]["role"] == "assistant" and got[0]["generated_text"][-1]["content"]
    if "qwen2" not in str(model_dir):  # the variants below once, on the Qwen2 directory
        return
    second = [{"role": "user", "content": "Hello 🙂"}]
    assert ours([CHAT, second], **NEW) == theirs([CHAT, second], **NEW)  # a list of conversations
    assert ours(CHAT, return_full_text=False, **NEW) == theirs(CHAT, return_full_text=False, **NEW)
    prefill = [*CHAT, {"role": "assistant", "content": "疑是"}]  # continued, not closed
    assert ours(prefill, **NEW) == theirs(prefill, **NEW)


def test_chat_command_replies_keeps_history_and_resets(model_dir, monkeypatch, capsys):
    first, second = "床前明月光?", "Say it again 🙂"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{first}\n{second}\n/reset\n{second}\n/exit\nnot read\n"))
    assert main(["chat", str(model_dir), "--system", "You are terse.", "--max-new-tokens", "10", "--greedy"]) == 0
    out = capsys.readouterr().out
    system = [{"role": "system", "content": "You are terse."}]
    reply1 = _greedy_reply(model_dir, [*system, {"role": "user", "content": first}])
    turn1 = [*system, {"role": "user", "content": first}, {"role": "assistant", "content": reply1}]
    reply2 = _greedy_reply(model_dir, [*turn1, {"role": "user", "content": second}])  # the history kept
    reply3 = _greedy_reply(model_dir, [*system, {"role": "user", "content": second}])  # after /reset: forgotten
    assert out == f"{reply1}\n{reply2}\n[conversation reset]\n{reply3}\n"


def test_reset_leaves_no_first_turn_in_the_prompt(model_dir):
    session = ChatSession(TextGenerator.from_loaded(einformer.load(model_dir)), system="Be brief.", options=NEW)
    reply = "".join(session.send("first question"))
    theirs = transformers.AutoTokenizer.from_pretrained(model_dir)
    with_history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first question"},
                    {"role": "assistant", "content": reply}, {"role": "user", "content": "second"}]  # fmt: skip
    assert session.prompt("second") == theirs.apply_chat_template(with_history, add_generation_prompt=True,
                                                                  return_dict=False)  # fmt: skip
    session.reset()
    alone = [with_history[0], with_history[3]]
    assert session.prompt("second") == theirs.apply_chat_template(alone, add_generation_prompt=True, return_dict=False)
    assert "first question" not in theirs.decode(session.prompt("second"))


def test_ctrl_c_stops_the_reply_not_the_session(model_dir):
    generator = TextGenerator.from_loaded(einformer.load(model_dir))
    session = ChatSession(generator, options=NEW)
    real = generator.stream_reply
    calls = []

    def interrupted(ids, **options):
        calls.append(ids)
        if len(calls) == 1:
            yield "partial"
            raise KeyboardInterrupt
        yield from real(ids, **options)

    generator.stream_reply = interrupted
    written = []
    run_chat(session, ["one", "two"], written.append, interactive=False)
    text = "".join(written)
    assert text.startswith("partial [stopped]\n") and text.count("\n") == 2
    assert [m["content"] for m in session.history] == ["one", "partial", "two", text.split("\n")[1]]


def test_ctrl_c_at_the_terminal_prompt_asks_again(monkeypatch, capsys):
    typed = iter([KeyboardInterrupt, "hello", EOFError])

    def fake_input(prompt):
        answer = next(typed)
        if isinstance(answer, type):
            raise answer
        return answer

    monkeypatch.setattr("builtins.input", fake_input)
    assert list(terminal_lines()) == ["hello"]  # Ctrl-C asked again; Ctrl-D ended
    assert "(/exit or Ctrl-D ends the session)" in capsys.readouterr().out


def test_errors_are_reported_and_the_session_goes_on(model_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    assert main(["chat", str(model_dir), "--max-new-tokens", "100000"]) == 0
    assert "passes the model's context of 512" in capsys.readouterr().out
    tokenizer_less = einformer.load(model_dir)
    generator = TextGenerator(tokenizer_less.model, object())
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        ChatSession(generator).prompt("hi")
