"""text-generation: continuations from a language model (GPT, Transformer-XL, Llama, Qwen, Mistral: a run,
an einformer directory, a Hugging Face directory), through ``inference.TextGenerator``, as transformers
returns them:

* a prompt (or a list): ``[{"generated_text": ...}]`` per prompt, ``num_return_sequences`` dicts each,
  the prompt included unless ``return_full_text=False``;
* a conversation (a list of ``{"role", "content"}`` messages, or a list of conversations): the
  conversation through the model's chat template (``inference/chat.py``), and ``[{"generated_text":
  [...messages, {"role": "assistant", "content": reply}]}]`` per conversation; one that ends with an
  assistant message is continued (a prefill) unless ``continue_final_message=False``.

Every ``generate`` option is an option of the pipeline. Where neither the call nor the model's
generation_config sets them, transformers 5's pipeline defaults apply (``PIPELINE_DEFAULTS``: 256 new
tokens, sampling at temperature 0.7; the temperature only when sampling), and sampling draws with
``sampler="multinomial"``, transformers' random stream: after the same ``torch.manual_seed``, one
prompt gives transformers' pipeline's tokens. Prompts run ``batch_size`` at a time, left-padded
(transformers' pipeline runs one at a time: ``batch_size=1`` gives its tokens for several prompts).
"""

from __future__ import annotations

from ..data.chat_template import is_conversation
from ..generation.kinds import CausalLM, MemoryLM
from ..generation.planning import FIELDS, RUNTIME
from ..inference import TextGenerator
from ..inference.chat import chat_reply
from .base import Pipeline, as_list

# transformers 5's TextGenerationPipeline defaults, for what neither the call nor the generation config sets
PIPELINE_DEFAULTS = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
SAMPLING_ONLY = ("temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff")


class TextGenerationPipeline(Pipeline):
    task = "text-generation"
    extra_options = (*FIELDS, *RUNTIME, "sliding_window")  # generate's, and TextGenerator's window

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
        options = self.generate_options(generate_options)
        n = options.get("num_return_sequences") or self.model.generation_config.num_return_sequences or 1
        if is_conversation(inputs) or (isinstance(inputs, list) and inputs and all(map(is_conversation, inputs))):
            if n != 1:
                raise ValueError(f"num_return_sequences={n} with a conversation: einformer's chat gives one reply")
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
        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            texts = generator.generate(batch, **options)  # len(batch) * n, grouped per prompt
            for i, prompt in enumerate(batch):
                own = texts[i * n : (i + 1) * n]
                out.append([{"generated_text": (prompt + t) if return_full_text else t} for t in own])
        return out[0] if single else out

    def generate_options(self, given: dict) -> dict:
        """The call's options over the model's generation config, over transformers' pipeline defaults."""
        configured = self.model.generation_config.to_options()
        chosen = {**configured, **given}
        added = {k: v for k, v in PIPELINE_DEFAULTS.items() if k not in chosen}
        if "max_length" in chosen:
            added.pop("max_new_tokens", None)
        if not {**chosen, **added}.get("do_sample"):
            added = {k: v for k, v in added.items() if k not in SAMPLING_ONLY}
        options = {**given, **added}
        if {**chosen, **added}.get("do_sample"):
            options.setdefault("sampler", "multinomial")  # transformers' random stream
        return options

    @staticmethod
    def _chat(generator, chat: list[dict], template: dict, full: bool, options: dict) -> dict:
        """One conversation's record: the conversation with the reply appended (or the reply alone)."""
        options = {k: v for k, v in options.items() if k != "num_return_sequences"}
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
