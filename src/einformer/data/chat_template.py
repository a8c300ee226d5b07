"""Chat templates: a conversation (a list of ``{"role", "content"}`` messages) -> the prompt text a chat
model was trained on, as the model's own Jinja template writes it.

A chat model's directory ships its template (tokenizer_config.json's ``chat_template``, a string or a
list of named templates, or a ``chat_template.jinja`` file beside it); transformers renders it with
jinja2's ``ImmutableSandboxedEnvironment`` (a template from the Hub is untrusted code), ``trim_blocks``
and ``lstrip_blocks``, the ``loopcontrols`` extension, a ``tojson`` filter that keeps non-ASCII text
and takes ``indent``, and the globals ``raise_exception`` and ``strftime_now``
(utils/chat_template_utils.py). ``render`` does the same, so the text is transformers' to the character
(tests/data/test_chat_template.py holds it so for Llama 3.1, Qwen2.5, Qwen3 and Mistral's templates).

``ChatTemplates`` gives a tokenizer ``apply_chat_template`` and the reading and writing of its
templates; ``HFTokenizer`` (hf_tokenizer.py) is the tokenizer that has it.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path

from ..checkpoint import atomic_write, read_json
from ..errors import EinformerError

TEMPLATE_FILE = "chat_template.jinja"
TEMPLATE_DIR = "additional_chat_templates"  # NAME.jinja per named template (transformers' layout)
PROCESSOR_FILE = "chat_template.json"  # {"chat_template": "..."}, as processors save it
CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "  # appended to the last message, found again, cut off


class ChatTemplateError(EinformerError, ValueError):
    """A conversation the chat template refuses, a template that does not compile, or no template."""


# -- the environment -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def compile_template(source: str):
    """The jinja2 template of ``source`` in transformers' sandboxed environment (compiled once per text)."""
    try:
        import jinja2
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise ImportError("chat templates need jinja2: pip install 'jinja2>=3.1'") from None

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # jinja2's own tojson escapes HTML characters and ASCII-escapes the rest; templates expect json.dumps
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise ChatTemplateError(f"the chat template does not compile: {e.message} (template line {e.lineno})") from None


def render(
    source: str,
    conversation: list[dict],
    *,
    tools: list[dict] | None = None,
    documents: list[dict] | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    variables: dict | None = None,
) -> str:
    """One conversation through the template ``source``.

    Args:
        conversation: messages, each a dict with a "role" (and usually "content"; tool calls, reasoning).
        tools, documents: JSON schemas of functions and retrieval documents, for templates that take them.
        add_generation_prompt: end with the header that opens the assistant's turn.
        continue_final_message: leave the last message open (no end-of-turn after it), so generation
            continues it (an assistant prefill).
        variables: everything else the template reads (the special tokens, enable_thinking, date_string ...).
    Returns:
        The prompt text.
    """
    import jinja2

    messages = _checked(conversation)
    if continue_final_message:
        if add_generation_prompt:
            raise ValueError("continue_final_message and add_generation_prompt exclude each other: choose one")
        final = messages[-1].get("content")
        if not isinstance(final, str):
            raise ValueError("continue_final_message needs a last message whose content is text")
        messages[-1] = {**messages[-1], "content": final + CONTINUE_TAG}
    for i, document in enumerate(documents or ()):
        if not isinstance(document, dict):
            raise TypeError(f"document {i} is {type(document).__name__}; give each as a dict (title, text)")
    try:
        text = compile_template(source).render(
            messages=messages,
            tools=tools,
            documents=documents,
            add_generation_prompt=add_generation_prompt,
            **(variables or {}),
        )
    except jinja2.exceptions.TemplateError as e:  # raise_exception(...) in the template, or a failed lookup
        raise ChatTemplateError(f"the chat template refused the conversation: {e}") from None
    if continue_final_message:
        tag = CONTINUE_TAG.strip()
        if final.strip() not in text or tag not in text:
            raise ChatTemplateError("continue_final_message: the template drops part of the last message, so it "
                                    "cannot be continued; send it without continue_final_message")  # fmt: skip
        at = text.rindex(tag)
        text = text[:at] if text[at : at + len(CONTINUE_TAG)] == CONTINUE_TAG else text[:at].rstrip()
    return text


def _checked(conversation) -> list[dict]:
    """Copies of the messages (a template may not change the caller's), each checked to be a dict with a
    string role; keys set to None are dropped, as transformers drops them."""
    if not isinstance(conversation, list | tuple) or not conversation:
        raise ValueError("a conversation is a non-empty list of messages like {'role': 'user', 'content': '...'}")
    messages = []
    for i, message in enumerate(conversation):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError(f"message {i} is {message!r}: each message needs a 'role' (user, assistant, system ...)")
        messages.append({k: v for k, v in message.items() if v is not None})
    return messages


def is_conversation(value) -> bool:
    """Whether ``value`` is one conversation (a list of message dicts) rather than a text or a batch."""
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(m, dict) for m in value)


# -- the tokenizer side ----------------------------------------------------------------------------


class ChatTemplates:
    """``apply_chat_template`` for a tokenizer with a ``chat_template`` (a string, a dict of named
    templates, or None) and the interface of tokenization.py."""

    chat_template: str | dict[str, str] | None = None

    def get_chat_template(self, chat_template: str | None = None, tools: list | None = None) -> str:
        """The template text: ``chat_template`` given (a template, or the name of one of the tokenizer's),
        else the tokenizer's own (of several: "tool_use" when there are tools, else "default")."""
        own = self.chat_template
        if isinstance(own, dict):
            if chat_template in own:
                return own[chat_template]
            if chat_template is not None:
                return chat_template
            name = "tool_use" if tools is not None and "tool_use" in own else "default"
            if name not in own:
                raise ChatTemplateError(f"this tokenizer has several chat templates ({sorted(own)}) and none is "
                                        "named 'default'; pass chat_template=NAME")  # fmt: skip
            return own[name]
        if chat_template is not None:
            return chat_template
        if own is None:
            raise ChatTemplateError(
                "this tokenizer has no chat template (its tokenizer_config.json has no chat_template and there is "
                f"no {TEMPLATE_FILE}): pass chat_template='...', set tokenizer.chat_template, or use the model's "
                "instruct/chat version (a base model takes plain text prompts)"
            )
        return own

    def apply_chat_template(
        self,
        conversation,
        tools: list[dict] | None = None,
        documents: list[dict] | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = True,
        padding: bool | str = False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_dict: bool = True,
        **template_kwargs,
    ):
        """A conversation (or a list of them) -> its prompt text, or its ids, as transformers' tokenizers do.

        Args:
            conversation: a list of messages (``{"role": ..., "content": ...}``), or a list of such lists.
            tools, documents, add_generation_prompt, continue_final_message: as in ``render``.
            chat_template: a template text, or the name of one of the tokenizer's templates.
            tokenize: False: the text. True: the ids, encoded without adding special tokens (the template
                writes them), padded / truncated / as tensors like ``__call__``.
            return_dict: with ``tokenize``, the ``BatchEncoding`` (input_ids, attention_mask); False: the
                ids alone (transformers 5's default is True, 4's was False).
            template_kwargs: more variables for the template (enable_thinking, date_string ...).
        Returns:
            A string (or list of strings), a BatchEncoding, or the ids.
        """
        batched = isinstance(conversation, list | tuple) and bool(conversation)
        batched = batched and all(isinstance(c, list | tuple) for c in conversation)
        conversations = list(conversation) if batched else [conversation]
        source = self.get_chat_template(chat_template, tools)
        variables = {**self.special_tokens_map, **template_kwargs}
        texts = [
            render(
                source,
                c,
                tools=tools,
                documents=documents,
                add_generation_prompt=add_generation_prompt,
                continue_final_message=continue_final_message,
                variables=variables,
            )
            for c in conversations
        ]
        if not tokenize:
            return texts if batched else texts[0]
        out = self(
            texts if batched else texts[0],
            add_special_tokens=False,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            return_tensors=return_tensors,
        )
        return out if return_dict else out["input_ids"]

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """bos_token, eos_token ... -> their strings (the variables every template may read)."""
        names = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
        found = {f"{n}_token": getattr(self, f"{n}_token", None) for n in names}
        return {k: v for k, v in found.items() if v is not None}


def read_chat_templates(directory: Path, config: dict) -> str | dict[str, str] | None:
    """A directory's chat template(s): chat_template.jinja (and additional_chat_templates/NAME.jinja),
    else tokenizer_config.json's ``chat_template`` (a string, or a list of {"name", "template"}), else
    chat_template.json's; None without any."""
    found = {}
    if (directory / TEMPLATE_FILE).is_file():
        found["default"] = (directory / TEMPLATE_FILE).read_text(encoding="utf-8")
    if (directory / TEMPLATE_DIR).is_dir():
        for path in sorted((directory / TEMPLATE_DIR).glob("*.jinja")):
            found[path.stem] = path.read_text(encoding="utf-8")
    if not found:
        value = config.get("chat_template")
        if value is None and (directory / PROCESSOR_FILE).is_file():
            value = read_json(directory / PROCESSOR_FILE, "chat template").get("chat_template")
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            try:
                return {entry["name"]: entry["template"] for entry in value}
            except (TypeError, KeyError):
                raise ValueError(f"{directory}/tokenizer_config.json: chat_template must be a string or a list of "
                                 "{'name': ..., 'template': ...}; fix the file") from None  # fmt: skip
        if value is not None:
            raise ValueError(f"{directory}: chat_template is {type(value).__name__}; expected a string")
        return None
    return found["default"] if list(found) == ["default"] else found


def write_chat_templates(templates: str | dict[str, str] | None, directory: Path) -> None:
    """chat_template.jinja for the one (or the default) template, additional_chat_templates/NAME.jinja for
    the others, as transformers 5 saves them."""
    if templates is None:
        return
    named = {"default": templates} if isinstance(templates, str) else dict(templates)
    for name, text in named.items():
        path = directory / TEMPLATE_FILE if name == "default" else directory / TEMPLATE_DIR / f"{name}.jinja"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w") as f:
            f.write(text)
