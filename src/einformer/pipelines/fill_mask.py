"""fill-mask: the most likely tokens for a [MASK], as transformers' FillMaskPipeline gives them.

Each result has ``score`` (the softmax over the vocabulary at the mask, restricted to ``targets``
when given), ``token`` (its id), ``token_str`` (the token decoded alone) and ``sequence`` (the
input with the mask filled in, decoded without special tokens). Several masks in one input give one
list per mask, and their sequences keep the special tokens, as transformers does.
"""

from __future__ import annotations

import torch

from ..registry import MASKED_LM, PRETRAINING
from .base import Pipeline, as_list


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    model_tasks = (MASKED_LM, PRETRAINING)

    def __call__(self, inputs, *, top_k: int = 5, targets=None):
        texts, single = as_list(inputs)
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        mask_id = self.tokenizer.mask_token_id
        target_ids = None if targets is None else self.target_ids(targets)
        encodings = self.encode(texts)
        for i, e in enumerate(encodings):
            if mask_id not in e.ids:
                mask = self.tokenizer.mask_token
                raise ValueError(
                    f"input {i} ({texts[i]!r}) has no {mask} token; write {mask} where the word to predict goes"
                )

        def forward(batch):
            logits = self.model(**batch).logits  # (b, T, V)
            return [self.fill(ids[mask_row], logits_row, top_k, target_ids)
                    for ids, logits_row, mask_row in zip(batch["input_ids"], logits, batch["attention_mask"].bool(),
                                                         strict=True)]  # fmt: skip

        results = self.run_batches(encodings, forward)
        return results[0] if single else results

    def fill(self, ids: torch.Tensor, logits: torch.Tensor, top_k: int, target_ids: list[int] | None) -> list:
        """ids (T,) and logits (T', V) of one unpadded row -> its proposals (a list per mask if several)."""
        masks = (ids == self.tokenizer.mask_token_id).nonzero().squeeze(-1)
        probs = logits[: len(ids)][masks].float().softmax(dim=-1)  # (masks, V)
        if target_ids is not None:
            probs = probs[:, target_ids]
        values, picks = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
        single = len(masks) == 1
        out = []
        for m, (row_values, row_picks) in enumerate(zip(values.tolist(), picks.tolist(), strict=True)):
            row = []
            for value, pick in zip(row_values, row_picks, strict=True):
                token = target_ids[pick] if target_ids is not None else pick
                filled = ids.clone()
                filled[masks[m]] = token
                sequence = self.tokenizer.decode(filled.tolist(), skip_special_tokens=single)
                row.append({"score": value, "token": token, "token_str": self.tokenizer.decode([token]),
                            "sequence": sequence})  # fmt: skip
            out.append(row)
        return out[0] if single else out

    def target_ids(self, targets) -> list[int]:
        """Each target's id: the token itself, or the first token of its encoding (as transformers does)."""
        backend = self.tokenizer.backend
        ids = []
        for target in [targets] if isinstance(targets, str) else targets:
            token_id = backend.token_to_id(target)
            if token_id is None:
                pieces = backend.encode(target, add_special_tokens=False).ids
                if not pieces:
                    continue
                token_id = pieces[0]
            ids.append(token_id)
        if not ids:
            raise ValueError(f"targets={targets!r}: none of them is in the vocabulary; give words the model knows")
        return sorted(set(ids))
