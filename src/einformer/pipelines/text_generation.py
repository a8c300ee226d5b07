"""text-generation: continuations from a language model (GPT, Transformer-XL, Llama, Qwen, Mistral: a run,
an einformer directory, a Hugging Face directory), through ``inference.TextGenerator``, as transformers
returns them:

* a prompt (or a list): ``[{"generated_text": ...}]`` per prompt, the prompt included unless
  ``return_full_text=False``;
* a conversation (a list of ``{"role", "content"}`` messages, or a list of conversations): the
  conversation through the model's chat template (``inference/chat.py``), and ``[{"generated_text":
  [...messages, {"role": "assistant", "content": reply}]}]`` per conversation; one that ends with an
  assistant message is continued (a prefill) unless ``continue_final_message=False``.
"""

from __future__ import annotations

from ..data.chat_template import is_conversation
from ..generation.kinds import CausalLM, MemoryLM
from ..inference import TextGenerator
from ..inference.chat import chat_reply
from .base import Pipeline, as_list

DEFAULT_NEW_TOKENS = 50


class TextGenerationPipeline(Pipeline):
    task = "text-generation"

    def pick_model(self, loaded):
        return loaded.expect_kind(self.task, CausalLM, MemoryLM).model

    def __call__(
        self,
        inputs,
        *,
        return_full_text: bool = True,
        continue_final_message: bool | None = None,
        tools: list[dict] | None = None,
        documents: list[dict] | None = None,
        **generate_options,
    ):
        generator = TextGenerator(self.model, self.tokenizer, self.loaded.run)
        options = {"max_new_tokens": DEFAULT_NEW_TOKENS, **generate_options}
        if is_conversation(inputs) or (isinstance(inputs, list) and inputs and all(map(is_conversation, inputs))):
            single = is_conversation(inputs)
            chats = [inputs] if single else list(inputs)
            template = {"continue_final_message": continue_final_message, "tools": tools, "documents": documents}
            out = [[self._chat(generator, chat, template, return_full_text, options)] for chat in chats]
            return out[0] if single else out
        prompts, single = as_list(inputs)
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise ValueError(
                    f"input {i} is {type(prompt).__name__}: give a text, a list of texts, a conversation (a list of "
                    "{'role': ..., 'content': ...} messages) or a list of conversations"
                )
        texts = generator.generate(prompts, **options)
        out = [[{"generated_text": (p + t) if return_full_text else t}] for p, t in zip(prompts, texts, strict=True)]
        return out[0] if single else out

    @staticmethod
    def _chat(generator, chat: list[dict], template: dict, full: bool, options: dict) -> dict:
        """One conversation's record: the conversation with the reply appended (or the reply alone)."""
        reply = chat_reply(generator, chat, template_options=template, **options)
        if not full:
            return {"generated_text": reply}
        prefill = template["continue_final_message"]
        if prefill is None:
            prefill = chat[-1].get("role") == "assistant"
        if prefill:
            last = chat[-1]
            return {"generated_text": [*chat[:-1], {"role": last["role"], "content": last["content"] + reply}]}
        return {"generated_text": [*chat, {"role": "assistant", "content": reply}]}
