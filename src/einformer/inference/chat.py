"""Chat with a language model: a conversation through the model's chat template, the assistant's reply
generated (or streamed) after it, and the session that ``einformer chat`` drives.

A chat model was trained on conversations written in one format (Llama 3's headers, Qwen's ChatML,
Mistral's [INST]); its tokenizer carries the template that writes it (``data/chat_template.py``). A turn
is: the conversation so far -> the template's text with the assistant's header opened
(``add_generation_prompt``) -> ids (the template wrote the special tokens: none are added) -> the
model continues until its end-of-turn token -> that reply, as text without special tokens, becomes the
conversation's next message. transformers' text-generation pipeline does the same for a list of
messages (``chat_reply``; tests/test_chat_cli.py holds the two equal).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

from .text_generation import TextGenerator

DEFAULT_MAX_NEW_TOKENS = 512
COMMANDS = {"/reset": "forget the conversation (the system prompt stays)", "/exit": "end the session"}


def prompt_ids(generator: TextGenerator, conversation: list[dict], **template_options) -> list[int]:
    """The ids the model continues: ``conversation`` through the tokenizer's chat template, opening the
    assistant's turn, or continuing the last message when it is the assistant's (a prefill)."""
    tokenizer = generator.tokenizer
    if not hasattr(tokenizer, "apply_chat_template"):
        raise ValueError(
            f"chat needs a tokenizer with a chat template; this model's is a {type(tokenizer).__name__} (einformer "
            "reads chat templates from Hugging Face Llama, Mistral and Qwen directories): give a plain text prompt "
            "to `einformer generate` instead"
        )
    options = dict(template_options)
    if options.get("continue_final_message") is None:
        options["continue_final_message"] = conversation[-1].get("role") == "assistant"
    options.setdefault("add_generation_prompt", not options["continue_final_message"])
    return tokenizer.apply_chat_template(conversation, return_dict=False, **options)


def chat_reply(generator: TextGenerator, conversation: list[dict], *, template_options=None, **generate_options) -> str:
    """The assistant's reply to ``conversation`` (generate options: max_new_tokens, do_sample ...)."""
    return generator.reply(prompt_ids(generator, conversation, **(template_options or {})), **generate_options)


def generation_options(generator: TextGenerator, flags: dict) -> dict:
    """What a chat turn generates with: the flags given over the model's generation_config.json (as
    transformers follows it: greedy unless it asks for sampling), and at most 512 new tokens unless
    a flag or the config says otherwise (a config's max_length would count the growing conversation)."""
    flags = {k: v for k, v in flags.items() if v is not None}
    configured = generator.model.generation_config.to_options()
    if "max_new_tokens" not in flags:
        flags["max_new_tokens"] = configured.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS
    return flags


@dataclasses.dataclass
class ChatSession:
    """A conversation kept across turns: ``send(text)`` streams the reply and keeps both messages;
    ``reset()`` forgets them (the system prompt stays)."""

    generator: TextGenerator
    system: str | None = None
    options: dict = dataclasses.field(default_factory=dict)  # generate options of every turn
    template_options: dict = dataclasses.field(default_factory=dict)  # enable_thinking, tools ...
    history: list[dict] = dataclasses.field(default_factory=list)

    @property
    def messages(self) -> list[dict]:
        """The conversation the next turn continues: the system prompt, then the turns so far."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + self.history

    def reset(self) -> None:
        self.history = []

    def prompt(self, text: str) -> list[int]:
        """The ids of the conversation with ``text`` as the user's next message (what ``send`` generates after)."""
        return prompt_ids(self.generator, [*self.messages, {"role": "user", "content": text}], **self.template_options)

    def send(self, text: str) -> Iterator[str]:
        """Stream the reply to ``text``. When the stream ends, or is stopped (Ctrl-C, ``close()``), the
        user's message and the reply so far join the history; an error leaves the history as it was."""
        ids = self.prompt(text)
        pieces: list[str] = []
        try:
            for piece in self.generator.stream_reply(ids, **self.options):
                pieces.append(piece)
                yield piece
        except (KeyboardInterrupt, GeneratorExit):
            self._keep(text, pieces)
            raise
        self._keep(text, pieces)

    def _keep(self, text: str, pieces: list[str]) -> None:
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": "".join(pieces)}]


def run_chat(
    session: ChatSession,
    lines: Iterable[str],
    write: Callable[[str], None],
    *,
    interactive: bool,
) -> None:
    """The loop of ``einformer chat``: each line is a user message (or /reset, /exit), each reply is
    written as it streams. Ctrl-C stops the reply being written, not the session; a line that the model
    cannot take (a template that refuses it, a conversation past the context) is reported and skipped."""
    for line in lines:
        text = line.rstrip("\n")
        if not text.strip():
            continue
        if text.strip() == "/exit":
            return
        if text.strip() == "/reset":
            session.reset()
            write("[conversation reset]\n")
            continue
        if interactive:
            write("assistant: ")
        stream = None
        try:
            stream = session.send(text)
            for piece in stream:
                write(piece)
        except KeyboardInterrupt:
            if stream is not None:
                stream.close()  # the partial reply joins the history now
            write(" [stopped]")
        except ValueError as e:  # the template refused the message, or it does not fit: the session goes on
            write(f"[error: {e}]")
        write("\n")


def terminal_lines(prompt: str = "you: ") -> Iterator[str]:
    """Lines typed at the terminal until Ctrl-D; Ctrl-C at the prompt says how to leave and asks again."""
    while True:
        try:
            yield input(prompt)
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print("\n(/exit or Ctrl-D ends the session)")
