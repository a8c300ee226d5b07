"""apply_chat_template against transformers' on the same files: the public templates of Llama 3.1,
Qwen2.5, Qwen3 and Mistral (tests/fixtures/chat_templates/) on tiny tokenizers of their kind, with a system
prompt, several turns, Chinese text, tools and tool calls, Qwen3 with and without thinking; the text and the
ids equal. Then the errors: a template's own raise_exception message, an unknown role, no template."""

import json

import pytest

from einformer.data.chat_template import ChatTemplateError
from einformer.data.hf_tokenizer import HFTokenizer

from .tiny_hf_tokenizers import save, template

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

CASES = {  # fixture -> tokenizer kind
    "llama-3.1-8b-instruct": "llama3",
    "qwen2.5-7b-instruct": "qwen2",
    "qwen3-0.6b": "qwen3",
    "mistral-7b-instruct-v0.3": "llama2",
    "mistral-nemo-instruct-2407": "llama2",
}
SYSTEM = {"role": "system", "content": "You are a helpful assistant. 请用中文回答。"}
TURNS = [
    {"role": "user", "content": "Write the first line of 静夜思."},
    {"role": "assistant", "content": "床前明月光，疑是地上霜。"},
    {"role": "user", "content": "And the next one?  Thanks 🙂"},
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_temperature",
        "description": "Get the current temperature at a location.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "City, Country (e.g. 北京, 中国)"}},
            "required": ["location"],
        },
    },
}
CALL = {"role": "assistant", "content": "", "tool_calls": [{"id": "call12345", "type": "function", "function": {
    "name": "get_current_temperature", "arguments": {"location": "Paris, France"}}}]}  # fmt: skip
RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_current_temperature", "content": "22.0"}
TOOL_CHAT = [SYSTEM, {"role": "user", "content": "What's the temperature in Paris?"}, CALL, RESULT]
TAKES_TOOLS = ("llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "qwen3-0.6b", "mistral-7b-instruct-v0.3",
               "mistral-nemo-instruct-2407")  # fmt: skip


def _pair(tmp_path, name):
    directory = save(CASES[name], tmp_path / name, chat_template=template(name))
    return HFTokenizer.from_pretrained(directory), transformers.AutoTokenizer.from_pretrained(directory)


def _same(ours, theirs, conversation, **options):
    text = ours.apply_chat_template(conversation, tokenize=False, **options)
    assert text == theirs.apply_chat_template(conversation, tokenize=False, **options)
    ids = ours.apply_chat_template(conversation, return_dict=False, **options)
    assert ids == theirs.apply_chat_template(conversation, return_dict=False, **options)
    assert ours.apply_chat_template(conversation, **options)["input_ids"] == ids
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_conversations_render_and_encode_as_transformers(tmp_path, name):
    ours, theirs = _pair(tmp_path, name)
    for conversation in ([*TURNS], [SYSTEM, *TURNS]):
        for prompt in (True, False):
            text = _same(ours, theirs, conversation, add_generation_prompt=prompt, date_string="26 Jul 2024")
            assert "床前明月光" in text and "🙂" in text
    _same(ours, theirs, [SYSTEM, *TURNS])  # Llama 3.1 without date_string: today's, from strftime_now
    # an assistant prefill, continued rather than closed
    _same(ours, theirs, [*TURNS, {"role": "assistant", "content": "低头"}], continue_final_message=True)
    # a batch of conversations
    batch = [[SYSTEM, *TURNS], TURNS[:1]]
    assert ours.apply_chat_template(batch, tokenize=False) == theirs.apply_chat_template(batch, tokenize=False)


@pytest.mark.parametrize("name", TAKES_TOOLS)
def test_tools_and_tool_calls_render_as_transformers(tmp_path, name):
    ours, theirs = _pair(tmp_path, name)
    conversation = TOOL_CHAT
    if name.startswith("mistral"):
        conversation = TOOL_CHAT[1:]  # Mistral's templates put the system message elsewhere; keep it simple
    text = _same(ours, theirs, conversation, tools=[WEATHER], add_generation_prompt=not name.startswith("mistral"))
    assert "get_current_temperature" in text and "北京" in text  # non-ASCII kept by tojson


@pytest.mark.parametrize("thinking", [None, True, False])
def test_qwen3_thinking_switch(tmp_path, thinking):
    ours, theirs = _pair(tmp_path, "qwen3-0.6b")
    options = {} if thinking is None else {"enable_thinking": thinking}
    answered = {"role": "assistant", "content": "<think>\n想一想\n</think>\n\n疑是地上霜。"}
    text = _same(ours, theirs, [SYSTEM, *TURNS[:1], answered, TURNS[2]], add_generation_prompt=True, **options)
    assert text.endswith("<think>\n\n</think>\n\n") == (thinking is False)


def test_llama31_tojson_indent_and_tools_in_user_message(tmp_path):
    ours, theirs = _pair(tmp_path, "llama-3.1-8b-instruct")
    for inside in (True, False):
        text = _same(ours, theirs, TOOL_CHAT[:2], tools=[WEATHER], add_generation_prompt=True,
                     tools_in_user_message=inside, date_string="1 Jan 2025")  # fmt: skip
        assert json.dumps(WEATHER, indent=4, ensure_ascii=False) in text


def test_save_pretrained_keeps_the_template(tmp_path):
    ours, _ = _pair(tmp_path, "qwen2.5-7b-instruct")
    out = ours.save_pretrained(tmp_path / "out")
    assert (out / "chat_template.jinja").read_text(encoding="utf-8") == template("qwen2.5-7b-instruct")
    again, theirs = HFTokenizer.from_pretrained(out), transformers.AutoTokenizer.from_pretrained(out)
    _same(again, theirs, [SYSTEM, *TURNS], add_generation_prompt=True)


def test_named_templates_from_the_config_list(tmp_path):
    directory = save("qwen2", tmp_path / "d")
    path = directory / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["chat_template"] = [{"name": "default", "template": "D:{{ messages[0].content }}"},
                               {"name": "tool_use", "template": "T:{{ messages[0].content }}"}]  # fmt: skip
    path.write_text(json.dumps(config))
    ours, theirs = HFTokenizer.from_pretrained(directory), transformers.AutoTokenizer.from_pretrained(directory)
    chat = [{"role": "user", "content": "x"}]
    for options in ({}, {"tools": [WEATHER]}, {"chat_template": "tool_use"}):
        assert ours.apply_chat_template(chat, tokenize=False, **options) == theirs.apply_chat_template(
            chat, tokenize=False, **options
        )
    out = ours.save_pretrained(tmp_path / "out")
    assert HFTokenizer.from_pretrained(out).chat_template == ours.chat_template


# -- bad input ---------------------------------------------------------------------------------------


def test_a_template_that_raises_shows_its_own_message(tmp_path):
    ours, theirs = _pair(tmp_path, "mistral-nemo-instruct-2407")
    twice = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    message = "conversation roles must alternate user/assistant/user/assistant"
    with pytest.raises(ChatTemplateError, match=f"chat template refused the conversation: After .*{message}"):
        ours.apply_chat_template(twice)
    with pytest.raises(Exception, match=message):  # transformers refuses it too
        theirs.apply_chat_template(twice)


def test_an_unknown_role_the_template_refuses(tmp_path):
    ours, _ = _pair(tmp_path, "mistral-nemo-instruct-2407")
    chat = [{"role": "user", "content": "a"}, {"role": "narrator", "content": "b"}]
    with pytest.raises(ChatTemplateError, match="Only user and assistant roles are supported"):
        ours.apply_chat_template(chat)


def test_no_template_names_the_fix(tmp_path):
    ours = HFTokenizer.from_pretrained(save("llama3", tmp_path / "base"))
    with pytest.raises(ChatTemplateError, match="has no chat template .* pass chat_template="):
        ours.apply_chat_template([{"role": "user", "content": "hi"}])
    assert ours.apply_chat_template([{"role": "user", "content": "hi"}], chat_template="<{{ messages[0].content }}>",
                                    tokenize=False) == "<hi>"  # fmt: skip


def test_malformed_messages_and_templates_are_named(tmp_path):
    ours = HFTokenizer.from_pretrained(save("llama3", tmp_path / "base"))
    with pytest.raises(ValueError, match="message 1 .* needs a 'role'"):
        ours.apply_chat_template([{"role": "user", "content": "a"}, {"content": "b"}], chat_template="x")
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ours.apply_chat_template([{"role": "user", "content": "a"}], chat_template="{% for %}")
    escape = "{{ messages.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}"
    with pytest.raises(ChatTemplateError, match="refused"):  # the sandbox: no access to Python internals
        ours.apply_chat_template([{"role": "user", "content": "a"}], chat_template=escape)
