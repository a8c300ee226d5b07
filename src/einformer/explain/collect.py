"""Collect attention weights from any einformer model, in Hugging Face's shape.

``collect_attention(path, text)`` loads what ``path`` holds through ``einformer.load`` (a BERT
directory, Hugging Face's or ours; a language model; a sequence-to-sequence run) and runs
``text`` through it with ``output_attentions=True``, which routes attention through the einsum
reference path; without that flag the models keep the fused fast path. The result holds, per
attention kind ("self"; or "encoder", "decoder" and "cross" for sequence-to-sequence), a tuple with
one (H, T, S) tensor per layer (Hugging Face's per-layer (B, H, T, S) with the batch of one taken
out), and the tokens on both axes. bertviz's head_view/model_view take ``as_hf_tuple`` directly.
With ``steps=True`` the same forward also records every intermediate of each attention layer
(``explain/steps.py``) for the explorer's step view.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor

from ..auto import load
from ..generation.kinds import KINDS, CausalLM, MemoryLM
from ..inference import Translator
from ..models.universal import UniversalTransformer
from .steps import recording, step_json, steps_by_kind
from .tokens import token_labels


@dataclasses.dataclass
class AttentionRecord:
    """Attention of one input: ``maps[kind]`` is a tuple of (H, T, S) tensors, one per layer;
    ``rows[kind]`` / ``cols[kind]`` are the tokens of the queries and the keys as readable text
    (``explain/tokens.py``: ``Ġbrown`` reads `` brown``), ``row_pieces`` / ``col_pieces`` the
    tokenizer's raw pieces (the explorer's tooltips; None: the same as the labels); ``steps[kind]``,
    when recorded, one dict of intermediates per layer (``explain/steps.py``)."""

    model: str
    maps: dict[str, tuple[Tensor, ...]]
    rows: dict[str, list[str]]
    cols: dict[str, list[str]]
    steps: dict[str, list[dict]] | None = None
    row_pieces: dict[str, list[str]] | None = None
    col_pieces: dict[str, list[str]] | None = None

    def as_hf_tuple(self, kind: str) -> tuple[Tensor, ...]:
        """Hugging Face's shape: one (1, H, T, S) tensor per layer."""
        return tuple(w[None] for w in self.maps[kind])

    def to_json(self, decimals: int = 3) -> dict:
        """Plain lists for the HTML explorer, rounded to keep the page small."""
        scale = 10**decimals
        return {
            "model": self.model,
            "kinds": [
                {
                    "name": kind,
                    "rows": self.rows[kind],
                    "cols": self.cols[kind],
                    "row_pieces": (self.row_pieces or self.rows)[kind],
                    "col_pieces": (self.col_pieces or self.cols)[kind],
                    "layers": [(torch.round(w.float() * scale) / scale).tolist() for w in layers],
                    "steps": None if self.steps is None else [step_json(r, decimals + 2) for r in self.steps[kind]],
                }
                for kind, layers in self.maps.items()
            ],
        }


@torch.no_grad()
def collect_attention(
    path: str, text: str, *, max_new_tokens: int | None = None, steps: bool = False, **load_options
) -> AttentionRecord:
    """Attention of every layer and head for ``text`` (for seq2seq: the source; the output is its
    greedy translation); ``steps`` also records each layer's intermediates for the step view.
    ``load_options``: ``einformer.load``'s ``dtype`` and ``quantize`` (the weights the model runs with)."""
    loaded = load(path, **load_options)
    name = Path(str(path)).name
    if not isinstance(loaded.model, KINDS):  # an encoder (BERT): its bare model, whatever the head
        tokenizer, model = loaded.tokenizer, loaded.encoder
        batch = tokenizer([text], return_tensors="pt")
        with recording(model, steps) as recorded:
            out = model(**batch, output_attentions=True)
        tokens = token_labels(tokenizer, batch["input_ids"][0].tolist())
        return _self_record(name, out.attentions, tokens, recorded if steps else None)
    if isinstance(loaded.model, (CausalLM, MemoryLM)):
        tokenizer = loaded.require_tokenizer("attention")
        ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
        if len(ids) == 0:
            raise ValueError("the text has no tokens; give some text")
        with recording(loaded.model, steps) as recorded:
            out = loaded.model(ids[None], output_attentions=True)
        tokens = token_labels(tokenizer, ids.tolist())
        return _self_record(name, out.attentions, tokens, recorded if steps else None)
    translator = Translator.from_loaded(loaded, "attention")
    return seq2seq_attention(name, loaded.model, translator, text, max_new_tokens, steps=steps)


def _self_record(name, attentions, tokens, recorded) -> AttentionRecord:
    """``tokens``: (readable labels, raw pieces) of the one sequence that is both queries and keys."""
    steps = None if recorded is None else steps_by_kind(recorded, ["self"])
    labels, pieces = {"self": tokens[0]}, {"self": tokens[1]}
    return AttentionRecord(name, {"self": _unbatch(attentions)}, labels, labels, steps, pieces, pieces)


@torch.no_grad()
def seq2seq_attention(name, model, run, text, max_new_tokens=None, *, steps: bool = False) -> AttentionRecord:
    """Encoder, decoder and cross-attention of ``text`` and its greedy translation by ``run`` (a
    ``Translator``)."""
    if isinstance(model, UniversalTransformer):  # one recurrent layer: its attention is not per layer
        raise ValueError(f"{name} is a Universal Transformer run: see its ponder map (einformer ponder)")
    batch, generated, decoder_input = run.greedy_target(text, max_new_tokens)
    with recording(model, steps) as recorded:
        out = model(
            batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input, output_attentions=True
        )
    source, source_pieces = token_labels(run.source_tokenizer, batch["input_ids"][0].tolist())
    inputs, input_pieces = token_labels(run.target_tokenizer, decoder_input[0].tolist())
    outputs, output_pieces = token_labels(run.target_tokenizer, list(generated))
    maps = {
        "encoder": _unbatch(out.encoder_attentions),
        "decoder": _unbatch(out.decoder_attentions),
        "cross": _unbatch(out.cross_attentions),
    }
    # decoder rows are labelled by the token each step predicted; its keys are the tokens it read
    rows = {"encoder": source, "decoder": outputs, "cross": outputs}
    cols = {"encoder": source, "decoder": inputs, "cross": source}
    row_pieces = {"encoder": source_pieces, "decoder": output_pieces, "cross": output_pieces}
    col_pieces = {"encoder": source_pieces, "decoder": input_pieces, "cross": source_pieces}
    steps = steps_by_kind(recorded, list(maps)) if steps else None
    return AttentionRecord(name, maps, rows, cols, steps, row_pieces, col_pieces)


def _unbatch(weights: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return tuple(w[0] for w in weights)  # (1, H, T, S) -> (H, T, S)
