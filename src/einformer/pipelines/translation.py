"""translation and text2text-generation: an encoder-decoder run's output for each source text,
through ``inference.Translator`` (beam search: the model's generation config, else 4 beams, as ``einformer translate``):
``[{"translation_text": ...}]`` or ``[{"generated_text": ...}]`` per input, transformers' shapes."""

from __future__ import annotations

from ..generation.kinds import Seq2SeqLM
from ..inference import Translator
from .base import Pipeline, as_list


class TranslationPipeline(Pipeline):
    task = "translation"
    key = "translation_text"

    def __init__(self, loaded, **kwargs) -> None:
        super().__init__(loaded, **kwargs)
        self.run = Translator.from_loaded(loaded, self.task)

    def pick_model(self, loaded):
        return loaded.expect_kind(self.task, Seq2SeqLM).model

    def __call__(
        self,
        inputs,
        *,
        num_beams: int | None = None,
        max_new_tokens: int | None = None,
        length_penalty: float | None = None,
    ):
        texts, single = as_list(inputs)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"input {i} is empty ({text!r}); give each input some text")
        outputs = self.run.translate(
            texts,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            batch_size=self.batch_size,
            length_penalty=length_penalty,
        )
        out = [[{self.key: o}] for o in outputs]
        return out[0] if single else out


class Text2TextPipeline(TranslationPipeline):
    task = "text2text-generation"
    key = "generated_text"
