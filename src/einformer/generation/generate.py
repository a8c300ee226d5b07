"""``model.generate(...)``: Hugging Face's option names on top of the shared decoding loops.

A generating model provides ``generation_inputs(input_ids, attention_mask, cache, max_length)``
returning the prompt the loops extend (the decoder-start token for an encoder-decoder) and a
decoder (see ``search.py``).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .search import beam_search, greedy_search

CACHES = ("dynamic", "static", "none")


@dataclasses.dataclass
class GenerateOutput:
    sequences: Tensor
    sequences_scores: Tensor | None = None


class GenerationMixin:
    """Adds ``generate`` to a model with ``generation_inputs`` and ``config`` token ids."""

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        max_new_tokens: int | None = None,
        max_length: int | None = None,
        num_beams: int = 1,
        length_penalty: float = 1.0,
        early_stopping: bool | str = False,
        num_return_sequences: int = 1,
        eos_token_id: int | list[int] | None = None,
        pad_token_id: int | None = None,
        cache_implementation: str = "dynamic",
        use_cache: bool = True,
        return_dict_in_generate: bool = False,
    ) -> Tensor | GenerateOutput:
        """Greedy search (num_beams=1) or beam search.

        Args:
            input_ids: (B, S) prompt (decoder-only) or source (encoder-decoder) ids.
            attention_mask: (B, S), 1 = token, 0 = padding.
            max_new_tokens: tokens to generate at most; or ``max_length`` for prompt + new tokens.
            num_beams, length_penalty, early_stopping, num_return_sequences: beam search options
                with Hugging Face's meaning (score = sum log-prob / generated_length ** length_penalty).
            eos_token_id: int or list; default the model's. pad_token_id: default the model's, else EOS.
            cache_implementation: "dynamic" or "static" key/value cache; ``use_cache=False`` re-runs
                the whole sequence every step (slow; for checking the cache).
            return_dict_in_generate: return a ``GenerateOutput`` with beam ``sequences_scores``.

        Returns:
            (B * num_return_sequences, L) ids, or a ``GenerateOutput``.
        """
        config = self.config
        eos = eos_token_id if eos_token_id is not None else config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos)
        pad = pad_token_id if pad_token_id is not None else getattr(config, "pad_token_id", None)
        pad = eos[0] if pad is None else pad
        _validate(num_beams, num_return_sequences, early_stopping, cache_implementation, max_new_tokens, max_length)
        was_training = self.training
        self.eval()
        try:
            cache = cache_implementation if use_cache else "none"
            prompt_len = self.prompt_length(input_ids)
            if max_new_tokens is None:
                max_new_tokens = (max_length if max_length is not None else 20) - prompt_len
                if max_new_tokens < 1:
                    raise ValueError(f"max_length={max_length} leaves no room after a prompt of {prompt_len} tokens")
            prompt, decoder = self.generation_inputs(input_ids, attention_mask, cache, prompt_len + max_new_tokens)
            if num_beams == 1:
                sequences = greedy_search(
                    decoder, prompt, max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=pad
                )
                scores = None
            else:
                sequences, scores = beam_search(
                    decoder,
                    prompt,
                    num_beams=num_beams,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=eos,
                    pad_token_id=pad,
                    length_penalty=length_penalty,
                    early_stopping=early_stopping,
                    num_return_sequences=num_return_sequences,
                )
        finally:
            self.train(was_training)
        return GenerateOutput(sequences, scores) if return_dict_in_generate else sequences


def _validate(num_beams, num_return_sequences, early_stopping, cache, max_new_tokens, max_length) -> None:
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    if not 1 <= num_return_sequences <= num_beams:
        raise ValueError(
            f"num_return_sequences={num_return_sequences} must be between 1 and num_beams={num_beams}; "
            "raise num_beams or lower num_return_sequences"
        )
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if cache not in CACHES[:2]:
        raise ValueError(f"cache_implementation must be 'dynamic' or 'static', got {cache!r}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if max_new_tokens is not None and max_length is not None:
        raise ValueError("give max_new_tokens or max_length, not both")
