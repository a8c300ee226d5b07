"""Fine-tuning data: JSONL records for each BERT task, turned into model inputs.

| task | one JSON object per line |
| --- | --- |
| classify | {"text": ..., "text_pair": optional, "label": "positive" or 3} |
| regress | {"text": ..., "text_pair": optional, "label": 0.7} |
| tag | {"tokens": ["John", "lives", ...], "tags": ["B-PER", "O", ...]} (first sub-token of a word scored) |
| qa | {"question": ..., "context": ..., "answer": "the span", "answer_start": character offset in context} |
| choice | {"context": ..., "choices": ["...", "..."], "label": index of the right choice} |
"""

from __future__ import annotations

from pathlib import Path

import torch

from .pairs import DataError, read_json_lines

TASKS = ("classify", "regress", "tag", "qa", "choice")
FIELDS = {
    "classify": ("text", "label"),
    "regress": ("text", "label"),
    "tag": ("tokens", "tags"),
    "qa": ("question", "context", "answer", "answer_start"),
    "choice": ("context", "choices", "label"),
}


def read_records(path: str | Path, task: str) -> list[dict]:
    """JSONL records with the task's fields; errors name the file and line."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    records = []
    for number, record in read_json_lines(path):
        missing = [f for f in FIELDS[task] if not isinstance(record, dict) or f not in record]
        if missing:
            raise DataError(f"{path}:{number}: a {task} record needs fields {list(FIELDS[task])}; missing {missing}")
        if task == "tag" and len(record["tokens"]) != len(record["tags"]):
            raise DataError(f"{path}:{number}: {len(record['tokens'])} tokens but {len(record['tags'])} tags")
        _check_label(record, task, f"{path}:{number}")
        if task == "qa" and record["context"][record["answer_start"] :][: len(record["answer"])] != record["answer"]:
            raise DataError(f"{path}:{number}: the answer is not at answer_start in the context")
        records.append(record)
    if not records:
        raise DataError(f"{path}: no records")
    return records


def _check_label(record: dict, task: str, where: str) -> None:
    """A label of the task's type: a string or an integer class (one kind per file, checked in
    ``label_list``), a number to regress, string tags, an integer choice."""
    label = record.get("label")
    if task == "classify" and (isinstance(label, bool) or not isinstance(label, str | int)):
        raise DataError(f"{where}: a classify label must be a string or an integer class, got {label!r}")
    if task == "regress" and (isinstance(label, bool) or not isinstance(label, int | float) or label != label):
        raise DataError(f"{where}: a regress label must be a number, got {label!r}")
    if task == "regress" and abs(label) == float("inf"):
        raise DataError(f"{where}: a regress label must be a finite number, got {label!r}; fix the record")
    if task == "choice" and (isinstance(label, bool) or not isinstance(label, int)):
        raise DataError(f"{where}: a choice label must be the index of the right choice, got {label!r}")
    if task == "tag" and not all(isinstance(t, str) for t in record["tags"]):
        raise DataError(f"{where}: tags must be strings, got {record['tags']!r}")


def label_list(records: list[dict], task: str, *, validation: list[dict] | None = None) -> list:
    """The sorted label vocabulary (classes or tags) of the training ``records``; empty for
    regression, QA and multiple choice. A label that only ``validation`` has is an error (it would
    be a class the model never trains on)."""
    if task == "classify":
        kinds = {type(r["label"]) for r in records}
        if len(kinds) > 1:
            raise DataError("classify labels mix strings and integers; use one kind for every record")
        labels = sorted({r["label"] for r in records}, key=str)
        unseen = sorted({r["label"] for r in validation or ()} - set(labels), key=str)
    elif task == "tag":
        labels = sorted({t for r in records for t in r["tags"]})
        unseen = sorted({t for r in validation or () for t in r["tags"]} - set(labels))
    else:
        return []
    if unseen:
        raise DataError(
            f"the validation records have label(s) {unseen} that no training record has; add training examples of "
            "them or remove them from the validation file"
        )
    return labels


def encode_records(records: list[dict], task: str, tokenizer, labels: list, max_length: int) -> list[dict]:
    """One dict of lists per example: input ids, token types, and the task's targets."""
    index = {label: i for i, label in enumerate(labels)}
    examples = []
    for r in records:
        if task in ("classify", "regress"):
            enc = tokenizer(r["text"], r.get("text_pair"), truncation=True, max_length=max_length)
            target = index[r["label"]] if task == "classify" else float(r["label"])
            examples.append({**enc, "labels": target})
        elif task == "tag":
            examples.append(_encode_tags(r, tokenizer, index, max_length))
        elif task == "qa":
            examples.append(_encode_span(r, tokenizer, max_length))
        else:
            encs = [tokenizer(r["context"], choice, truncation=True, max_length=max_length) for choice in r["choices"]]
            examples.append({"choices": encs, "labels": int(r["label"])})
    return examples


def _encode_tags(r, tokenizer, index, max_length):
    """Words -> sub-tokens; the first sub-token of each word carries its tag, the rest -100."""
    enc = tokenizer.backend.encode(r["tokens"], is_pretokenized=True)
    labels, previous = [], None
    for word in enc.word_ids:
        labels.append(-100 if word is None or word == previous else index[r["tags"][word]])
        previous = word
    ids, types = enc.ids[:max_length], enc.type_ids[:max_length]
    if len(enc.ids) > max_length:  # keep the final [SEP]
        ids[-1], labels = tokenizer.sep_token_id, labels[: max_length - 1] + [-100]
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids), "labels": labels[:max_length]}


def _encode_span(r, tokenizer, max_length):
    """Question and context as a pair; the answer's characters mapped to token positions (0 if cut off)."""
    tokenizer.backend.enable_truncation(max_length, strategy="only_second")
    try:
        enc = tokenizer.backend.encode(r["question"], r["context"])
    finally:
        tokenizer.backend.no_truncation()
    start_char, end_char = r["answer_start"], r["answer_start"] + len(r["answer"])
    start = end = 0  # [CLS]: "no answer in this window"
    for i, (seq, (a, b)) in enumerate(zip(enc.sequence_ids, enc.offsets, strict=True)):
        if seq != 1:
            continue
        if a <= start_char < b or (start == 0 and a >= start_char):
            start = start or i
        if a < end_char <= b:
            end = i
    if end < start:
        start = end = 0
    return {
        "input_ids": enc.ids,
        "token_type_ids": enc.type_ids,
        "attention_mask": enc.attention_mask,
        "start_positions": start,
        "end_positions": end,
    }


def collate_examples(examples: list[dict], task: str, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded examples into tensors (choices: (B, C, T))."""
    if task == "choice":
        flat = [c for e in examples for c in e["choices"]]
        batch = _pad(flat, pad_id)
        c = len(examples[0]["choices"])
        batch = {k: v.view(len(examples), c, -1) for k, v in batch.items()}
        batch["labels"] = torch.tensor([e["labels"] for e in examples])
        return batch
    batch = _pad(examples, pad_id)
    if task == "tag":
        width = batch["input_ids"].shape[1]
        batch["labels"] = torch.tensor([e["labels"] + [-100] * (width - len(e["labels"])) for e in examples])
    elif task == "qa":
        batch["start_positions"] = torch.tensor([e["start_positions"] for e in examples])
        batch["end_positions"] = torch.tensor([e["end_positions"] for e in examples])
    else:
        batch["labels"] = torch.tensor(
            [e["labels"] for e in examples], dtype=torch.float if task == "regress" else torch.long
        )
    return batch


def _pad(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(r["input_ids"]) for r in rows)

    def pad(key, fill):  # a tokenizer without token types (RoBERTa's) gives none: zeros
        values = [r.get(key, [fill] * len(r["input_ids"])) for r in rows]
        return torch.tensor([v + [fill] * (width - len(v)) for v in values])

    return {
        "input_ids": pad("input_ids", pad_id),
        "token_type_ids": pad("token_type_ids", 0),
        "attention_mask": pad("attention_mask", 0),
    }


class FinetuneBatches:
    """Step-indexed batches (see ``einformer.data.batches``) of encoded fine-tuning examples."""

    def __init__(
        self,
        examples: list[dict],
        task: str,
        pad_id: int,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        from .batches import Seq2SeqBatches

        self.examples, self.task, self.pad_id = examples, task, pad_id
        self._order = Seq2SeqBatches(
            [([0], [0])] * len(examples), batch_size, seed=seed, rank=rank, world_size=world_size
        )

    def __len__(self) -> int:
        return len(self._order)

    def get(self, index: int) -> dict[str, torch.Tensor]:
        epoch, i = divmod(index, len(self._order))
        rows = self._order.order(epoch)[i * self._order.local : (i + 1) * self._order.local]
        return collate_examples([self.examples[r] for r in rows], self.task, self.pad_id)
