"""text-generation: continuations from a language model (GPT, Transformer-XL, Llama, Qwen, Mistral: a run,
an einformer directory, a Hugging Face directory), through ``inference.TextGenerator``, as transformers
returns them:

* a prompt (or a list): ``[{"generated_text": ...}]`` per prompt, ``num_return_sequences`` dicts each,
  the prompt included unless ``return_full_text=False``; ``prefix`` is put before each prompt for the
  model (not into the text returned);
* a conversation (a list of ``{"role", "content"}`` messages, or a list of conversations): the
  conversation through the model's chat template (``inference/chat.py``), and ``[{"generated_text":
  [...messages, {"role": "assistant", "content": reply}]}]`` per conversation, one dict per returned
  sequence; one that ends with an assistant message is continued (a prefill) unless
  ``continue_final_message=False``;
* ``return_tensors=True``: ``{"generated_token_ids": [...]}`` instead, each sequence's ids as generate
  returns one prompt's (the prefix and the prompt, or the templated conversation, then the new ids;
  ``inference.text_generation.sequences``). As in transformers, ``return_text`` changes nothing by
  itself, and it, ``return_full_text`` and ``return_tensors`` exclude each other (among the options
  the call gives, and among those given when the pipeline was built: the call's choice wins);
  ``return_tensors=False`` alone gives text (transformers would give ids for any value);
* ``stop_sequence`` (a text or a list): generate's ``stop_strings``, the stop string kept in the text.

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
from ..inference.chat import prompt_ids
from .base import Pipeline, as_list

RETURN_OPTIONS = ("return_full_text", "return_text", "return_tensors")
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
        return_full_text: bool | None = None,
        continue_final_message: bool | None = None,
        tools: list[dict] | None = None,
        documents: list[dict] | None = None,
        return_text: bool | None = None,
        return_tensors: bool | None = None,
        prefix: str | None = None,
        stop_sequence: str | list[str] | None = None,
        **generate_options,
    ):
        generator = TextGenerator(self.model, self.tokenizer, self.loaded.run)
        given = {"return_full_text": return_full_text, "return_text": return_text, "return_tensors": return_tensors}
        returns = self.return_type(given)
        if stop_sequence is not None:
            generate_options["stop_strings"] = [stop_sequence] if isinstance(stop_sequence, str) else stop_sequence
        options = self.generate_options(generate_options)
        n = options.get("num_return_sequences") or self.model.generation_config.num_return_sequences or 1
        if is_conversation(inputs) or (isinstance(inputs, list) and inputs and all(map(is_conversation, inputs))):
            single = is_conversation(inputs)
            chats = [inputs] if single else list(inputs)
            template = {"continue_final_message": continue_final_message, "tools": tools, "documents": documents}
            out = [self._chat(generator, chat, template, returns, options) for chat in chats]
            return out[0] if single else out
        prompts, single = as_list(inputs)
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise ValueError(
                    f"input {i} is {type(prompt).__name__}: give a text, a list of texts, a conversation (a list of "
                    "{'role': ..., 'content': ...} messages) or a list of conversations"
                )
        if prefix:
            options = self.after_prefix(generator, prefix, options)
        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            model_prompts = [(prefix or "") + prompt for prompt in batch]
            got = generator.generate(model_prompts, token_ids=returns == "tensors", **options)  # len(batch) * n
            for i, prompt in enumerate(batch):
                own = got[i * n : (i + 1) * n]
                out.append([self._record(prompt, o, returns) for o in own])
        return out[0] if single else out

    def return_type(self, given: dict) -> str:
        """The return type ("full", "new" or "tensors"): the call's choice, else the one given when the
        pipeline was built, else "full" (transformers' rule: each set checked alone for options that
        exclude each other)."""
        own = {k: v for k, v in given.items() if k in self.called_with and v is not None}
        built = {k: self.options[k] for k in RETURN_OPTIONS if self.options.get(k) is not None}
        return _return_type(own) or _return_type(built) or "full"

    @staticmethod
    def after_prefix(generator: TextGenerator, prefix: str, options: dict) -> dict:
        """A total length (``max_length``, ``min_length``) that the call or the generation config gives
        without its ``*_new_tokens`` counts the prefix too (transformers' ``prefix_length``)."""
        chosen = {**generator.model.generation_config.to_options(), **options}
        extra, options = len(generator.encode(prefix)), dict(options)
        for length, new in (("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")):
            if chosen.get(length) is not None and chosen.get(new) is None:
                options[length] = chosen[length] + extra
        return options

    @staticmethod
    def _record(prompt: str, output, returns: str) -> dict:
        if returns == "tensors":
            return {"generated_token_ids": output}
        return {"generated_text": (prompt + output) if returns == "full" else output}

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
    def _chat(generator, chat: list[dict], template: dict, returns: str, options: dict) -> list[dict]:
        """One conversation's records, one per returned sequence: the conversation with the reply appended
        (or the reply alone, or the ids)."""
        ids = prompt_ids(generator, chat, **template)
        replies = generator.replies(ids, token_ids=returns == "tensors", **options)
        if returns != "full":
            return [{"generated_token_ids" if returns == "tensors" else "generated_text": r} for r in replies]
        prefill = template["continue_final_message"]
        if prefill is None:
            prefill = chat[-1].get("role") == "assistant"
        if prefill:
            last = chat[-1]
            return [
                {"generated_text": [*chat[:-1], {"role": last["role"], "content": last["content"] + reply}]}
                for reply in replies
            ]
        return [{"generated_text": [*chat, {"role": "assistant", "content": reply}]} for reply in replies]


def _return_type(given: dict) -> str | None:
    """The return type one set of options asks for (None: it does not choose), or transformers' refusal."""
    if "return_full_text" in given:
        for other in ("return_text", "return_tensors"):
            if other in given:
                raise ValueError(f"{other} and return_full_text exclude each other: give one")
        return "full" if given["return_full_text"] else "new"
    if "return_tensors" in given:
        if "return_text" in given:
            raise ValueError("return_text and return_tensors exclude each other: give one")
        return "tensors" if given["return_tensors"] else None
    return None
