"""Masked-language-model batches: BERT's dynamic masking, optional whole-word masking and
next-sentence pairs, step-indexed like every einformer batch source.

Dynamic masking (RoBERTa's improvement, also what BERT's data pipeline approximates with several
copies): each time a sequence is used, 15% of its tokens are chosen afresh; of those 80% become
[MASK], 10% a random token, 10% stay. Whole-word masking chooses words, not pieces: a word's
"##" continuations are masked with it. Next-sentence prediction pairs segment A with the segment
that followed it (label 0) or with a random one (label 1).
"""

from __future__ import annotations

import torch


class MLMBatches:
    """Lines of text, tokenised, as masked-LM (and optionally NSP) batches."""

    def __init__(
        self,
        lines: list[list[int]],
        tokenizer,
        batch_size: int,
        max_length: int,
        *,
        seed: int = 0,
        mask_probability: float = 0.15,
        whole_word: bool = False,
        next_sentence: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(lines) < 2:
            raise ValueError("masked-LM pre-training needs at least 2 lines of text")
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        self.lines, self.tok, self.max_length, self.seed = lines, tokenizer, max_length, seed
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.p, self.whole_word, self.next_sentence = mask_probability, whole_word, next_sentence
        vocab = tokenizer.backend.get_vocab()
        self.continuation = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
        self.continuation[[i for t, i in vocab.items() if t.startswith("##")]] = True
        self.special = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])

    def __len__(self) -> int:
        return max(1, len(self.lines) // self.batch_size)

    def get(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        picks = torch.randint(0, len(self.lines) - 1, (self.batch_size,), generator=g)
        nsp = torch.randint(0, 2, (self.batch_size,), generator=g) if self.next_sentence else None
        randoms = torch.randint(0, len(self.lines), (self.batch_size,), generator=g)
        rows, types = [], []
        for i, line in enumerate(picks.tolist()):
            if nsp is None:
                ids, tt = self._single(self.lines[line])
            else:
                follow = self.lines[line + 1] if nsp[i] == 0 else self.lines[int(randoms[i])]
                ids, tt = self._pair(self.lines[line], follow)
            rows.append(ids)
            types.append(tt)
        width = max(map(len, rows))
        input_ids = torch.full((self.batch_size, width), self.tok.pad_token_id)
        token_type_ids = torch.zeros_like(input_ids)
        for i, (ids, tt) in enumerate(zip(rows, types, strict=True)):
            input_ids[i, : len(ids)], token_type_ids[i, : len(tt)] = torch.tensor(ids), torch.tensor(tt)
        attention_mask = (input_ids != self.tok.pad_token_id).long()
        input_ids, labels = self.mask(input_ids, g)
        local = slice(
            self.rank * self.batch_size // self.world_size, (self.rank + 1) * self.batch_size // self.world_size
        )
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "labels": labels,
        }
        if nsp is not None:
            batch["next_sentence_label"] = nsp
        return {k: v[local] for k, v in batch.items()}

    def _single(self, ids):
        body = ids[: self.max_length - 2]
        return [self.tok.cls_token_id, *body, self.tok.sep_token_id], [0] * (len(body) + 2)

    def _pair(self, a, b):
        room = self.max_length - 3
        a, b = a[: max(1, room // 2)], b[: room - min(len(a), max(1, room // 2))]
        ids = [self.tok.cls_token_id, *a, self.tok.sep_token_id, *b, self.tok.sep_token_id]
        return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)

    def mask(self, input_ids: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids -> (masked ids, labels with -100 where nothing is predicted)."""
        real = ~torch.isin(input_ids, self.special)
        if self.whole_word:  # choose word starts, then extend over their ## continuations
            starts = real & ~self.continuation[input_ids]
            chosen_start = starts & (torch.rand(input_ids.shape, generator=g) < self.p)
            word_index = starts.long().cumsum(1)  # which word each piece belongs to
            chosen = torch.zeros_like(real)
            for b in range(input_ids.shape[0]):
                picked = word_index[b][chosen_start[b]]
                chosen[b] = real[b] & torch.isin(word_index[b], picked)
        else:
            chosen = real & (torch.rand(input_ids.shape, generator=g) < self.p)
        labels = input_ids.masked_fill(~chosen, -100)
        action = torch.rand(input_ids.shape, generator=g)
        masked = input_ids.masked_fill(chosen & (action < 0.8), self.tok.mask_token_id)
        random_ids = torch.randint(0, self.tok.vocab_size, input_ids.shape, generator=g)
        masked = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, masked)
        return masked, labels
