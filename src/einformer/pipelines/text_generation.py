"""text-generation: continuations from a GPT or Transformer-XL (a run, an einformer directory, a
Hugging Face GPT-2), through ``generate``: ``[{"generated_text": ...}]`` per prompt, the prompt
included unless ``return_full_text=False``, as transformers returns it."""

from __future__ import annotations

from .base import Pipeline, as_list


class TextGenerationPipeline(Pipeline):
    task = "text-generation"

    def pick_model(self, loaded):
        if loaded.decoding not in ("causal", "memory"):
            raise ValueError(
                f"text-generation needs a GPT or Transformer-XL; {loaded.path} holds a {loaded.model_type}"
            )
        return loaded.model

    def __call__(self, inputs, *, return_full_text: bool = True, **generate_options):
        from ..recipes.language_model import LMRun, generate_text

        prompts, single = as_list(inputs)
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise ValueError(f"prompt {i} is {type(prompt).__name__}, not text")
        run = LMRun(self.model, self.tokenizer, self.loaded.run)
        options = {"max_new_tokens": 50, **generate_options}
        texts = list(generate_text(run, prompts, **options))
        out = [[{"generated_text": (p + t) if return_full_text else t}] for p, t in zip(prompts, texts, strict=True)]
        return out[0] if single else out
