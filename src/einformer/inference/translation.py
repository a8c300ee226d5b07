"""Translation with a sequence-to-sequence model: source texts in, target texts out, by beam search.

A source is encoded with EOS and cut to the model's positions; the output is decoded without the
decoder's start token. Without ``max_new_tokens``, a training run leaves room for its longest
training target or twice the source (longer test inputs must not be cut off by the training
lengths); a Hugging Face (Marian) directory follows its generation config (its max_length).
"""

from __future__ import annotations

import dataclasses

import torch

from ..auto import Loaded
from ..data.tokenizer import pad_batch
from ..generation.kinds import CausalLM, MemoryLM, Seq2SeqLM
from ..training.run_info import Seq2SeqRunInfo


@dataclasses.dataclass
class Translator:
    """A trained sequence-to-sequence model with its two tokenizers: ``translate``."""

    model: Seq2SeqLM
    source_tokenizer: object  # einformer's Tokenizer, or a MarianTokenizer (data/marian_tokenizer.py)
    target_tokenizer: object
    info: Seq2SeqRunInfo | None = None  # the training run behind it; None for a Hugging Face (Marian) directory

    @classmethod
    def from_loaded(cls, loaded: Loaded, command: str = "this command"):
        """The sequence-to-sequence model ``loaded`` holds; a clear error for any other model or run."""
        if isinstance(loaded.model, (CausalLM, MemoryLM)):
            raise ValueError(
                f"{command} needs a sequence-to-sequence run; {loaded.path} holds a {loaded.model_type} language "
                "model: use `einformer generate` for language models"
            )
        loaded.expect_kind(command, Seq2SeqLM)
        if loaded.origin != "huggingface":  # einformer's seq2seq models come as runs, with their tokenizers
            loaded.expect(command, run_kind=Seq2SeqRunInfo.kind)
        return cls(loaded.model, loaded.source_tokenizer, loaded.require_tokenizer(command), loaded.run)

    def encode_sources(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Source ids with EOS, cut to the model's positions, right-padded: input_ids, attention_mask (B, S)."""
        tok, limit = self.source_tokenizer, self.model.config.max_position - 1
        return pad_batch([tok.encode(t, add_eos=False)[:limit] + [tok.eos_token_id] for t in texts], tok.pad_token_id)

    def _length(self, max_new_tokens: int | None, longest_source: int) -> dict:
        """``max_new_tokens`` if given; else a run's room (the module docstring); else the model's generation config."""
        if max_new_tokens is None and self.info is not None:
            max_new_tokens = max(self.info.max_target_tokens, 2 * longest_source) + 1
        return {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}

    @torch.no_grad()
    def greedy_target(self, source: str, max_new_tokens: int | None = None):
        """Translate one ``source`` greedily, for reading the model's internals on its own output.

        Returns (the source batch, the output ids up to and including EOS, the decoder inputs (1, T):
        BOS then the output shifted right), ready for a teacher-forced pass.
        """
        batch = self.encode_sources([source])
        if max_new_tokens is None and self.info is not None:
            max_new_tokens = self.info.max_target_tokens + 1
        length = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
        out = self.model.generate(batch["input_ids"], batch["attention_mask"], num_beams=1, **length)
        ids = out[0, 1:].tolist()
        eos = self.target_tokenizer.eos_token_id
        if eos in ids:
            ids = ids[: ids.index(eos) + 1]
        return batch, ids, torch.tensor([[self.model.config.bos_token_id] + ids[:-1]])

    def translate(
        self,
        texts: list[str],
        *,
        num_beams: int | None = None,
        max_new_tokens: int | None = None,
        batch_size: int = 64,
        length_penalty: float | None = None,
    ) -> list[str]:
        """Source texts -> target texts, by beam search: ``num_beams`` (and ``length_penalty``) default to
        the model's generation config when it sets them (a Marian directory's), else 4 beams."""
        defaults = self.model.generation_config.to_options()
        search = {"num_beams": num_beams or defaults.get("num_beams", 4)}
        if length_penalty is not None:
            search["length_penalty"] = length_penalty
        out = []
        for i in range(0, len(texts), batch_size):
            batch = self.encode_sources(texts[i : i + batch_size])
            longest_source = int(batch["attention_mask"].sum(1).max())
            length = self._length(max_new_tokens, longest_source)
            ids = self.model.generate(batch["input_ids"], batch["attention_mask"], **search, **length)
            out += [self.target_tokenizer.decode(row[1:]) for row in ids.tolist()]
        return out
