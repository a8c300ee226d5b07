"""text-generation: continuations from a language model (GPT, Transformer-XL: a run, an einformer
directory, a Hugging Face GPT-2), through ``inference.TextGenerator``: ``[{"generated_text": ...}]``
per prompt, the prompt included unless ``return_full_text=False``, as transformers returns it."""

from __future__ import annotations

from ..generation.kinds import CausalLM, MemoryLM
from ..inference import TextGenerator
from .base import Pipeline, as_list


class TextGenerationPipeline(Pipeline):
    task = "text-generation"

    def pick_model(self, loaded):
        return loaded.expect_kind(self.task, CausalLM, MemoryLM).model

    def __call__(self, inputs, *, return_full_text: bool = True, **generate_options):
        prompts, single = as_list(inputs)
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise ValueError(f"prompt {i} is {type(prompt).__name__}, not text")
        generator = TextGenerator(self.model, self.tokenizer, self.loaded.run)
        texts = generator.generate(prompts, **{"max_new_tokens": 50, **generate_options})
        out = [[{"generated_text": (p + t) if return_full_text else t}] for p, t in zip(prompts, texts, strict=True)]
        return out[0] if single else out
