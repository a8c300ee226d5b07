"""feature-extraction (every token's last hidden state) and sentence-embeddings (one pooled vector
per text), with the pooling a sentence-transformers directory declares.

A sentence-transformers directory says how it pools in ``modules.json`` (a ``Pooling`` module and an
optional ``Normalize``), the pooling module's ``config.json`` (up to sentence-transformers 5:
``pooling_mode_cls_token`` / ``_max_tokens`` / ``_mean_tokens`` / ``_mean_sqrt_len_tokens`` /
``_lasttoken``, several modes concatenated in that order; from 6: ``pooling_mode``, one of cls, max,
mean, mean_sqrt_len_tokens, lasttoken or a list of them, concatenated as listed) and
``sentence_bert_config.json`` (``max_seq_length``; from 6 the tokenizer's ``model_max_length`` holds it).
A plain BERT directory gets mean pooling, not normalised: what sentence-transformers builds for a
directory without ``modules.json``. ``normalize=True`` / ``False`` overrides what the directory
declares. ``einformer embed`` reads the same (``read_pooling``).

Outputs follow transformers' types: feature-extraction gives nested Python lists, (1, T, D) per text
(``return_tensors=True``: a torch tensor per text); sentence-embeddings, which transformers has not, gives
an (N, D) torch tensor, as sentence-transformers' ``encode(convert_to_tensor=True)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import registry
from ..checkpoint import atomic_write, read_json
from ..registry import BASE
from .base import Pipeline, as_list

MODES = ("cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens", "lasttoken")  # sentence-transformers' order
MODE_NAMES = {"cls": "cls_token", "max": "max_tokens", "mean": "mean_tokens",
              "mean_sqrt_len_tokens": "mean_sqrt_len_tokens", "lasttoken": "lasttoken"}  # fmt: skip


@dataclasses.dataclass
class Pooling:
    modes: tuple[str, ...] = ("mean_tokens",)
    normalize: bool = False
    max_seq_length: int | None = None
    source: str = "default (mean, not normalised, as sentence-transformers pools a plain directory)"


def read_pooling(directory: str | Path | None) -> Pooling:
    """The pooling of a sentence-transformers directory, or mean pooling (no Normalize) when it declares none."""
    d = Path(directory) if directory is not None else None
    if d is None or not (d / "modules.json").is_file():
        return Pooling()
    try:
        modules = json.loads((d / "modules.json").read_text(encoding="utf-8"))
        kinds = {m.get("type", "").rsplit(".", 1)[-1]: m for m in modules}
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{d / 'modules.json'} is not a sentence-transformers module list; fix or remove it") from None
    if "Pooling" not in kinds:
        return Pooling()
    config = read_json(d / kinds["Pooling"].get("path", "1_Pooling") / "config.json", "pooling config")
    if "pooling_mode" in config:  # sentence-transformers 6
        given = config["pooling_mode"]
        given = [given] if isinstance(given, str) else given if isinstance(given, list) else [repr(given)]
        unknown = [m for m in given if m not in MODE_NAMES]
        if unknown:
            raise ValueError(f"{d}: pooling_mode {unknown} is not one einformer pools with: {list(MODE_NAMES)}")
        modes = tuple(MODE_NAMES[m] for m in given)
    else:
        modes = tuple(m for m in MODES if config.get(f"pooling_mode_{m}"))
    if not modes:
        raise ValueError(f"{d}: the pooling config sets no pooling_mode_*; set one of {list(MODES)}")
    bert_config = d / "sentence_bert_config.json"
    max_len = read_json(bert_config, "sentence-bert config").get("max_seq_length") if bert_config.is_file() else None
    return Pooling(modes, "Normalize" in kinds, max_len, f"{d / 'modules.json'}")


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """(B, T, D) states and (B, T) mask -> (B, D * modes): each mode over the real tokens, concatenated."""
    keep = mask[..., None].to(hidden.dtype)  # (B, T, 1)
    count = keep.sum(1).clamp(min=1e-9)  # (B, 1)
    parts = []
    for mode in pooling.modes:
        if mode == "cls_token":
            parts.append(hidden[:, 0])
        elif mode == "mean_tokens":
            parts.append((hidden * keep).sum(1) / count)
        elif mode == "mean_sqrt_len_tokens":
            parts.append((hidden * keep).sum(1) / count.sqrt())
        elif mode == "max_tokens":
            parts.append(hidden.masked_fill(keep == 0, -math.inf).amax(1))
        else:  # lasttoken: the last real token of each row (right padding)
            last = mask.sum(1).long() - 1
            parts.append(hidden[torch.arange(hidden.shape[0]), last])
    out = torch.cat(parts, dim=-1)
    return F.normalize(out, dim=-1) if pooling.normalize else out


class FeatureExtractionPipeline(Pipeline):
    """Each text's last hidden state, (1, T, D) as a nested list (transformers' shape), or tensors."""

    task = "feature-extraction"

    def pick_model(self, loaded):
        encoders = [f.name for f in registry.families() if f.kind is None and BASE in f.models]
        return loaded.expect(self.task, *encoders).encoder

    def __call__(self, inputs, *, return_tensors: bool = False):
        texts, single = as_list(inputs)
        encodings = self.encode(texts)

        def forward(batch):
            hidden = self.model(**batch).last_hidden_state
            return [h[: int(m.sum())][None] for h, m in zip(hidden, batch["attention_mask"], strict=True)]

        out = self.run_batches(encodings, forward)
        out = out if return_tensors else [o.tolist() for o in out]
        return out[0] if single else out


class SentenceEmbeddingPipeline(FeatureExtractionPipeline):
    """One vector per text, pooled as the directory says (``read_pooling``)."""

    task = "sentence-embeddings"

    def __init__(self, loaded, **kwargs) -> None:
        super().__init__(loaded, **kwargs)
        self.pooling = read_pooling(loaded.path)

    def __call__(self, inputs, *, normalize: bool | None = None) -> torch.Tensor:
        """(N, D) vectors, (D,) for one text; ``normalize``: L2 to unit length (True), not (False), or as
        the directory declares (None: a Normalize module in its modules.json)."""
        texts, single = as_list(inputs)
        encodings = self.encode(texts, max_length=self.pooling.max_seq_length)
        pooling = self.pooling if normalize is None else dataclasses.replace(self.pooling, normalize=bool(normalize))

        def forward(batch):
            hidden = self.model(**batch).last_hidden_state
            return list(pool(hidden, batch["attention_mask"], pooling))

        out = torch.stack(self.run_batches(encodings, forward))
        return out[0] if single else out


EMBEDDING_FORMATS = (".npy", ".jsonl")


def write_embeddings(path: str | Path, texts: list[str], vectors: torch.Tensor) -> Path:
    """(N, D) ``vectors`` to ``path``: .npy (numpy.save, float32, no pickle; row i is text i) or .jsonl
    (one {"text", "embedding"} object per line); written to a temporary name, then renamed."""
    import numpy as np

    path = Path(path)
    if path.suffix.lower() not in EMBEDDING_FORMATS:
        raise ValueError(f"--output {path}: name a .npy or .jsonl file (einformer writes {list(EMBEDDING_FORMATS)})")
    if path.is_dir():
        raise ValueError(f"--output {path} is a directory; name a .npy or .jsonl file")
    array = vectors.detach().float().cpu().numpy()
    with atomic_write(path, "wb" if path.suffix.lower() == ".npy" else "w") as f:
        if path.suffix.lower() == ".npy":
            np.save(f, array, allow_pickle=False)
        else:
            for text, row in zip(texts, array.tolist(), strict=True):
                f.write(json.dumps({"text": text, "embedding": row}, ensure_ascii=False) + "\n")
    return path


@torch.no_grad()
def embed(
    model, tokenizer, texts: list[str], *, normalize: bool = True, batch_size: int = 32, max_length: int | None = 256
) -> torch.Tensor:
    """(N, D) sentence embeddings of ``texts`` with a BertModel and its tokenizer: the mean of the token
    states over real tokens, L2-normalised (the sentence-transformers convention of all-MiniLM-L6-v2)."""
    model.eval()
    pooling = Pooling(("mean_tokens",), normalize=normalize)
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        out.append(pool(model(**batch).last_hidden_state, batch["attention_mask"], pooling))
    return torch.cat(out)
