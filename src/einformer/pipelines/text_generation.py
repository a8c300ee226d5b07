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
* ``stop_sequence`` (a text or a list): generate's ``stop_strings``, the stop string kept in the text;
* the prompt's encoding: ``add_special_tokens``, ``truncation`` (to the call's ``max_length`` as
  transformers passes it to its tokenizer, else the tokenizer's ``model_max_length``), ``padding`` (a
  layout only: prompts are left-padded in batches anyway), or ``tokenizer_encode_kwargs`` holding them
  (``ENCODE_KWARGS``); a conversation takes none of them but ``padding`` (``add_special_tokens`` is
  ignored there, as in transformers);
* ``handle_long_generation="hole"``: transformers' rule, the prompt (with its prefix) cut from the left
  so that it and the new tokens fit the tokenizer's ``model_max_length``, or the model's context where
  that is smaller (transformers would run past it);
* the text's decoding: ``skip_special_tokens`` (default True) and ``clean_up_tokenization_spaces``,
  which, as in transformers 5.25, a BPE tokenizer ignores (with a warning). Given, the text is decoded
  as transformers decodes it: all of a sequence's new ids (``sequences``), the special ones skipped or not.

Every ``generate`` option is an option of the pipeline. Where neither the call nor the model's
generation_config sets them, transformers 5's pipeline defaults apply (``PIPELINE_DEFAULTS``: 256 new
tokens, sampling at temperature 0.7; the temperature only when sampling), and sampling draws with
``sampler="multinomial"``, transformers' random stream: after the same ``torch.manual_seed``, one
prompt gives transformers' pipeline's tokens. Prompts run ``batch_size`` at a time, left-padded
(transformers' pipeline runs one at a time: ``batch_size=1`` gives its tokens for several prompts).
"""

from __future__ import annotations

import warnings

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
ENCODE_KWARGS = ("add_special_tokens", "truncation", "max_length", "padding")  # what the prompt's encoding takes
TRUNCATION = (None, False, True, "do_not_truncate", "longest_first")
PADDING = (None, False, True, "do_not_pad", "longest", "max_length")
NO_LIMIT = 10**29  # a model_max_length this large is transformers' "no limit"
# transformers' clean_up_tokenization rules: a space before punctuation and English contractions dropped
CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))  # fmt: skip


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
        handle_long_generation: str | None = None,
        add_special_tokens: bool | None = None,
        truncation: bool | str | None = None,
        padding: bool | str | None = None,
        tokenizer_encode_kwargs: dict | None = None,
        skip_special_tokens: bool | None = None,
        clean_up_tokenization_spaces: bool | None = None,
        **generate_options,
    ):
        generator = TextGenerator(self.model, self.tokenizer, self.loaded.run)
        given = {"return_full_text": return_full_text, "return_text": return_text, "return_tensors": return_tensors}
        returns = self.return_type(given)
        if handle_long_generation not in (None, "hole"):
            raise ValueError(f"handle_long_generation={handle_long_generation!r}: the one value is 'hole' (or None)")
        given = {"add_special_tokens": add_special_tokens, "truncation": truncation, "padding": padding}
        limit = getattr(self.tokenizer, "model_max_length", None)
        limit = limit if limit is not None and limit < NO_LIMIT else None
        encoding = encode_options(given, tokenizer_encode_kwargs, generate_options.get("max_length"), limit)
        decode = None
        if (skip_special_tokens, clean_up_tokenization_spaces) != (None, None) and returns != "tensors":
            decode = Decoding(self.tokenizer, skip_special_tokens, clean_up_tokenization_spaces)
        if stop_sequence is not None:
            generate_options["stop_strings"] = [stop_sequence] if isinstance(stop_sequence, str) else stop_sequence
        options = self.generate_options(generate_options)
        n = options.get("num_return_sequences") or self.model.generation_config.num_return_sequences or 1
        if is_conversation(inputs) or (isinstance(inputs, list) and inputs and all(map(is_conversation, inputs))):
            single = is_conversation(inputs)
            chats = [inputs] if single else list(inputs)
            unused = sorted(set(encoding) - {"add_special_tokens"})  # transformers ignores add_special_tokens here
            if unused:
                raise ValueError(f"{', '.join(unused)}: a conversation's prompt is its chat template's; give a text")
            template = {"continue_final_message": continue_final_message, "tools": tools, "documents": documents}
            hole = handle_long_generation == "hole"
            out = [self._chat(generator, chat, template, returns, options, hole, decode) for chat in chats]
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
            rows = [generator.tokenizer.encode((prefix or "") + prompt, **encoding) for prompt in batch]
            if handle_long_generation == "hole":
                rows = [self.hole(row, options) for row in rows]
            ids = returns == "tensors" or decode is not None
            got = generator.generate(rows, token_ids=ids, **options)  # len(batch) * n
            for i, prompt in enumerate(batch):
                own = got[i * n : (i + 1) * n]
                if decode is not None:  # the new ids of each sequence, decoded as transformers decodes them
                    own = [decode(o[len(rows[i]) :]) for o in own]
                out.append([self._record(prompt, o, returns) for o in own])
        return out[0] if single else out

    def hole(self, row: list[int], options: dict) -> list[int]:
        """transformers' ``handle_long_generation="hole"``: ``row`` cut from the left so that it and the new
        tokens fit the limit (the tokenizer's model_max_length, or the model's context where smaller)."""
        limits = (getattr(self.tokenizer, "model_max_length", None), getattr(self.model, "max_context", None))
        limits = [x for x in limits if x is not None and x < NO_LIMIT]
        chosen = {**self.model.generation_config.to_options(), **options}
        new = chosen.get("max_new_tokens")
        if new is None:
            new = chosen.get("max_length", 0) - len(row)
            if new < 0:
                raise ValueError(
                    f"handle_long_generation='hole': the prompt is {len(row)} tokens, past max_length="
                    f"{chosen.get('max_length')}; give max_new_tokens instead"
                )
        if not limits or len(row) + new <= min(limits):
            return row
        keep = min(limits) - new
        if keep <= 0:
            raise ValueError(
                f"handle_long_generation='hole': {new} new tokens leave no room for the prompt in this model's "
                f"{min(limits)} positions; ask for fewer new tokens"
            )
        return row[-keep:]

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

    def _chat(
        self, generator, chat: list[dict], template: dict, returns: str, options: dict, hole: bool, decode
    ) -> list[dict]:
        """One conversation's records, one per returned sequence: the conversation with the reply appended
        (or the reply alone, or the ids)."""
        ids = prompt_ids(generator, chat, **template)
        ids = self.hole(ids, options) if hole else ids
        replies = generator.replies(ids, token_ids=returns == "tensors" or decode is not None, **options)
        if decode is not None:
            replies = [decode(r[len(ids) :]) for r in replies]
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


def encode_options(given: dict, kwargs: dict | None, max_length: int | None, limit: int | None) -> dict:
    """The prompt's ``encode`` keywords from the pipeline's options and ``tokenizer_encode_kwargs`` (whose
    values win, as in transformers); ``padding`` is checked and dropped (prompts are left-padded in
    batches anyway). ``truncation`` cuts at the call's ``max_length``, which transformers also gives its
    tokenizer, unless ``tokenizer_encode_kwargs`` names one, else at the tokenizer's ``limit`` (None: no
    limit, nothing cut); a ``max_length`` in ``tokenizer_encode_kwargs`` alone truncates, as there."""
    unknown = sorted(set(kwargs or {}) - set(ENCODE_KWARGS))
    if unknown:
        raise ValueError(f"tokenizer_encode_kwargs has {unknown}; the prompt's encoding takes {list(ENCODE_KWARGS)}")
    chosen = {k: v for k, v in given.items() if v is not None}
    chosen.update(kwargs or {})
    if chosen.get("truncation") not in TRUNCATION:
        raise ValueError(f"truncation={chosen['truncation']!r}: choose one of {list(TRUNCATION)}")
    padding = chosen.pop("padding", None)
    if padding not in PADDING:
        raise ValueError(f"padding={padding!r}: choose one of {list(PADDING)}")
    if chosen.get("truncation") and "max_length" not in chosen and max_length is not None:
        chosen["max_length"] = max_length
    if "max_length" in chosen and chosen.get("truncation") is None:  # transformers' tokenizer: then it truncates
        chosen["truncation"] = True
    if chosen.get("truncation") and chosen.get("max_length") is None:
        if limit is None:  # a tokenizer without a limit cuts nothing
            chosen.pop("truncation")
        else:
            chosen["max_length"] = limit
    return chosen


class Decoding:
    """A returned sequence's new ids -> text, as transformers' pipeline decodes them: special tokens
    skipped unless ``skip_special_tokens=False``; ``clean_up_tokenization_spaces`` (``CLEAN_UP``), except
    for a BPE tokenizer, which transformers 5.25 leaves uncleaned (it would eat real spaces)."""

    def __init__(self, tokenizer, skip_special_tokens: bool | None, clean_up_tokenization_spaces: bool | None):
        self.tokenizer, self.skip = tokenizer, skip_special_tokens is not False
        self.clean = bool(clean_up_tokenization_spaces)
        model = getattr(getattr(tokenizer, "backend", None), "model", None)
        if self.clean and type(model).__name__ == "BPE":
            warnings.warn(
                "clean_up_tokenization_spaces=True is ignored for a BPE tokenizer, as transformers 5.25 ignores it "
                "(the clean-up would remove real spaces before punctuation)",
                stacklevel=3,
            )
            self.clean = False

    def __call__(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=self.skip)
        return clean_up(text) if self.clean else text


def clean_up(text: str) -> str:
    """``text`` with ``CLEAN_UP``'s spaces removed (transformers' ``clean_up_tokenization``)."""
    for spaced, joined in CLEAN_UP:
        text = text.replace(spaced, joined)
    return text
