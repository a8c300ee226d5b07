"""Inference: a trained model with its tokenizer(s), on text. Encode, generate, stream, decode,
translate; what the CLI (`einformer generate`, `translate`), the pipelines and explain call.

* ``text_generation.py``: ``TextGenerator``, a language model (``CausalLM`` or ``MemoryLM``) and its
  tokenizer: ``generate`` (``num_return_sequences`` per prompt, grouped), ``stream``, refusing to run
  past an absolute-position model's context unless ``sliding_window=True``; ``sampling_by_default``
  (what a run einformer trains writes into its generation_config.json);
* ``translation.py``: ``Translator``, a sequence-to-sequence model (``Seq2SeqLM``) and its two
  tokenizers: ``translate`` by beam search, ``greedy_target`` for reading the model's internals.

Both are built from ``einformer.load(path)`` (``from_loaded``), which refuses, by kind, a model they
cannot use. The training recipes extend them with what a run adds (its own evaluation data).
"""

from .text_generation import SAMPLING_DEFAULTS, TextGenerator, generate_text, generation_note, sampling_by_default
from .translation import Translator

__all__ = [
    "SAMPLING_DEFAULTS",
    "TextGenerator",
    "Translator",
    "generate_text",
    "generation_note",
    "sampling_by_default",
]
