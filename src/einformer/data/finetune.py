"""Fine-tuning data: each BERT task's records, read from JSONL, CSV, TSV, Parquet or a ``datasets``
directory (``einformer.data.tables``), checked, and turned into model inputs.

| task | the fields of a record (JSONL: one JSON object per line) |
| --- | --- |
| classify | {"text": ..., "text_pair": optional, "label": "positive" or 3} |
| regress | {"text": ..., "text_pair": optional, "label": 0.7} |
| tag | {"tokens": ["John", "lives", ...], "tags": ["B-PER", "O", ...]} (first sub-token of a word scored) |
| qa | {"question": ..., "context": ..., "answer": "the span", "answer_start": character offset in context} |
| choice | {"context": ..., "choices": ["...", "..."], "label": index of the right choice} |

Each field is read from the first column that has one of Hugging Face's usual names for it
(``COLUMNS``: text, sentence or sentence1; text_pair or sentence2; label or labels; tokens or words;
tags, ner_tags or labels; SQuAD's ``answers`` dict ...), or from the column a ``columns`` option names
(the CLI's ``--text-column`` ...). CSV and TSV cells are text: a regression label is read as a
number, a choice label and answer_start as integers, tokens and tags as a JSON array or words
separated by spaces, choices as a JSON array. Every problem names the file and line (or row), the
task's fields and a valid record.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import torch

from .pairs import DataError
from .tables import Table, dataset_splits, format_of, read_table

TASKS = ("classify", "regress", "tag", "qa", "choice")
FIELDS = {  # the fields each task needs
    "classify": ("text", "label"),
    "regress": ("text", "label"),
    "tag": ("tokens", "tags"),
    "qa": ("question", "context", "answer", "answer_start"),
    "choice": ("context", "choices", "label"),
}
OPTIONAL = {"classify": ("text_pair",), "regress": ("text_pair",)}
# the answers in each task's records: records to predict may lack them (``read_records(gold=False)``)
GOLD = {"classify": ("label",), "regress": ("label",), "tag": ("tags",), "qa": ("answer", "answer_start"),
        "choice": ("label",)}  # fmt: skip
COLUMNS = {  # field -> the column names tried in order when none is named (Hugging Face's usual names)
    "text": ("text", "sentence", "sentence1"),
    "text_pair": ("text_pair", "sentence2"),
    "label": ("label", "labels"),
    "tokens": ("tokens", "words"),
    "tags": ("tags", "ner_tags", "labels"),
    "question": ("question",),
    "context": ("context",),
    "answer": ("answer", "answers"),  # answers: SQuAD's {"text": [...], "answer_start": [...]}
    "answer_start": ("answer_start",),
    "choices": ("choices", "endings"),
}
# the option (CLI flag) that names each field's column: as in transformers' examples, a tagging task's
# text column holds the words and its label column the tags
OPTIONS = {"text": "text", "text_pair": "text_pair", "label": "label", "tokens": "text", "tags": "label",
           "question": "question", "context": "context", "answer": "answer", "choices": "choices"}  # fmt: skip
EXAMPLES = {
    "classify": {"text": "a moving film", "label": "positive"},
    "regress": {"text": "a moving film", "label": 4.5},
    "tag": {"tokens": ["John", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]},
    "qa": {
        "question": "Where does John live?",
        "context": "John lives in Paris.",
        "answer": "Paris",
        "answer_start": 14,
    },
    "choice": {"context": "The sky is", "choices": ["blue", "loud"], "label": 0},
}


def read_records(
    path: str | Path,
    task: str,
    *,
    columns: dict[str, str | None] | None = None,
    split: str | tuple[str, ...] = "train",
    gold: bool = True,
) -> list[dict]:
    """The records of ``path`` with the task's fields (``FIELDS``); errors name the file and line.

    Args:
        columns: option -> column name (options: text, text_pair, label, question, context, answer,
            choices; None: Hugging Face's usual names, ``COLUMNS``).
        split: the split of a ``datasets`` DatasetDict directory (a tuple: the first it holds).
        gold: False reads the inputs only (``GOLD``'s fields are left out, present or not): records to
            predict, which may have no labels.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    hint = expected(task, format_of(path))
    held = dataset_splits(path)  # a DatasetDict's splits; [] for anything else
    if not isinstance(split, str):  # the first of these it holds
        split = next((s for s in split if s in held), split[0])
    if held and split not in held:
        raise DataError(
            f"{path} holds the splits {sorted(held)}, not {split!r}; name one with --split (or --val-split)"
        )
    table = read_table(path, split=split, hint=hint)
    if not table.rows:
        raise DataError(f"{path}: no records. {hint}")
    for where, row in table.rows:
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a record (a JSON object), found {type(row).__name__}. {hint}")
    names = _columns(table, task, columns or {}, hint, gold)
    records = [_record(row, where, task, names, table.format, hint) for where, row in table.rows]
    if task == "choice":
        n = len(records[0]["choices"])
        for (where, _), r in zip(table.rows, records, strict=True):
            if len(r["choices"]) != n:
                raise DataError(
                    f"{where}: {len(r['choices'])} choices where the first record has {n}; give every record "
                    "the same number of choices"
                )
    return records


def check_split(path: str | Path, split: str | None, flag: str = "--split") -> None:
    """A split named by ``flag`` must be one of a DatasetDict directory's (others have no splits)."""
    if split is not None and not dataset_splits(path):
        raise DataError(f"{flag} {split}: {path} is not a DatasetDict directory, so it has no splits; drop {flag}")


def expected(task: str, kind: str = "jsonl") -> str:
    """What a record of ``task`` holds, and one valid record in the file's format."""
    fields = " and ".join(FIELDS[task]) + "".join(f" ({f} optional)" for f in OPTIONAL.get(task, ()))
    example = EXAMPLES[task]
    if kind in ("csv", "tsv"):
        out = io.StringIO()
        writer = csv.writer(out, delimiter="\t" if kind == "tsv" else ",", lineterminator="\n")
        writer.writerow(list(example))
        cells = [" ".join(v) if k in ("tokens", "tags") else json.dumps(v) if isinstance(v, list) else v
                 for k, v in example.items()]  # fmt: skip
        writer.writerow(cells)
        lines = " / ".join(out.getvalue().splitlines())
        return f"A {task} record needs the fields {fields}; a valid {kind.upper()} file starts: {lines}"
    if kind == "jsonl":
        return f"A {task} record needs the fields {fields}; a valid line: {json.dumps(example)}"
    return f"A {task} record needs the columns {fields}, e.g. {json.dumps(example)}"


def _columns(table: Table, task: str, named: dict, hint: str, gold: bool = True) -> dict[str, str]:
    """field -> the table's column that holds it, for each field the task reads (without ``gold``: the
    inputs only)."""
    fields = [*FIELDS[task], *OPTIONAL.get(task, ())]
    readable = {OPTIONS[f] for f in fields if f in OPTIONS}
    if not gold:  # the label column is not read: a --label-column flag is let through, unused
        fields = [f for f in fields if f not in GOLD[task]]
    unused = sorted(o for o, name in named.items() if name is not None and o not in readable)
    if unused:
        flags = ", ".join(f"--{o.replace('_', '-')}-column" for o in unused)
        raise DataError(f"a {task} task reads no {' or '.join(unused)} column; drop {flags}")
    where = table.rows[0][0] if table.format == "jsonl" else str(table.path)
    has = f"its records have the fields {table.columns}" if table.format == "jsonl" else (
        f"the file has the columns {table.columns}")  # fmt: skip
    out = {}
    for field in fields:
        option = OPTIONS.get(field)
        name = named.get(option) if option else None
        if name is not None:
            if name not in table.columns:
                flag = f"--{option.replace('_', '-')}-column"
                raise DataError(f"{where}: no column {name!r} ({flag}); {has}")
            out[field] = name
            continue
        found = [c for c in COLUMNS[field] if c in table.columns and c not in out.values()]
        if found:
            out[field] = found[0]
        elif field in FIELDS[task] and not (field == "answer_start" and _squad(table, out)):
            how = f", or name yours with --{option.replace('_', '-')}-column" if option else ""
            raise DataError(f"{where}: no {field} column (one of {list(COLUMNS[field])}{how}); {has}. {hint}")
    return out


def _squad(table: Table, out: dict) -> bool:
    """Whether the answer column holds SQuAD's {"text": [...], "answer_start": [...]} (it has the starts)."""
    first = table.rows[0][1]
    return isinstance(first, dict) and isinstance(first.get(out.get("answer")), dict)


def _record(row: dict, where: str, task: str, names: dict, kind: str, hint: str) -> dict:
    missing = [c for f, c in names.items() if f in FIELDS[task] and c not in row]
    if missing:
        raise DataError(f"{where}: no {missing} in this record. {hint}")
    record = {f: row[c] for f, c in names.items() if c in row}
    if kind in ("csv", "tsv"):
        record = _typed(record, task)
    if not set(GOLD[task]) & set(record):  # inputs only (``gold=False``)
        if record.get("text_pair") is None:
            record.pop("text_pair", None)
        _check(record, task, where)
        return record
    if task == "qa" and isinstance(record["answer"], dict):
        record.update(_squad_answer(record["answer"], where))
    if record.get("text_pair") is None:
        record.pop("text_pair", None)
    _check(record, task, where)
    return record


def _typed(record: dict, task: str) -> dict:
    """CSV/TSV cells (text) as the values a JSON record would hold."""
    out = dict(record)
    for field, value in record.items():
        if not isinstance(value, str):
            continue
        if field in ("tokens", "tags", "choices") and value.lstrip().startswith("["):
            try:
                out[field] = json.loads(value)
            except json.JSONDecodeError:
                pass  # left as text: named by the check below
        elif field in ("tokens", "tags"):
            out[field] = value.split()
        elif (field == "label" and task == "choice") or field == "answer_start":
            out[field] = int(value) if value.strip().lstrip("-").isdigit() else value
        elif field == "label" and task == "regress":
            try:
                out[field] = float(value)
            except ValueError:
                pass
        elif field == "text_pair" and not value:
            out[field] = None  # an empty cell: no second text
    return out


def _squad_answer(answers: dict, where: str) -> dict:
    texts, starts = answers.get("text"), answers.get("answer_start")
    if not isinstance(texts, list) or not isinstance(starts, list) or not texts or len(texts) != len(starts):
        raise DataError(
            f"{where}: answers must be SQuAD's {{'text': [...], 'answer_start': [...]}} with at least one answer, "
            f"got {answers!r}"
        )
    return {"answer": texts[0], "answer_start": starts[0]}


def _check(record: dict, task: str, where: str) -> None:
    """Each field of the type the task encodes: text, lists of text, integer positions and labels."""
    for field in ("text", "text_pair", "question", "context", "answer"):
        if field in record and not isinstance(record[field], str):
            raise DataError(f"{where}: {field} must be text, got {record[field]!r}; fix the record")
    for field in ("tokens", "tags", "choices"):
        value = record.get(field, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataError(f"{where}: {field} must be a list of texts, got {value!r}; fix the record")
    if task == "tag" and not record["tokens"]:
        raise DataError(f"{where}: no tokens; give each record at least one word")
    if not set(GOLD[task]) & set(record):  # inputs only: no answers to check
        return
    if task == "tag":
        if len(record["tokens"]) != len(record["tags"]):
            raise DataError(f"{where}: {len(record['tokens'])} tokens but {len(record['tags'])} tags")
    _check_label(record, task, where)
    if task == "choice":
        n = len(record["choices"])
        if n == 0:
            raise DataError(f"{where}: no choices; give each record at least two choices")
        if not 0 <= record["label"] < n:
            raise DataError(
                f"{where}: the choice label {record['label']} is not the index of one of the {n} choices "
                f"(0 to {n - 1}); fix the record"
            )
    if task == "qa":
        start = record["answer_start"]
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise DataError(f"{where}: answer_start must be a character offset (an integer >= 0), got {start!r}")
        if record["context"][start:][: len(record["answer"])] != record["answer"]:
            raise DataError(f"{where}: the answer is not at answer_start in the context")


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
            target = 0 if "label" not in r else index[r["label"]] if task == "classify" else float(r["label"])
            examples.append({**enc, "labels": target})
        elif task == "tag":
            examples.append(_encode_tags(r, tokenizer, index, max_length))
        elif task == "qa":
            examples.append(_encode_span(r, tokenizer, max_length))
        else:
            encs = [tokenizer(r["context"], choice, truncation=True, max_length=max_length) for choice in r["choices"]]
            examples.append({"choices": encs, "labels": int(r.get("label", 0))})
    return examples


def _encode_tags(r, tokenizer, index, max_length):
    """Words -> sub-tokens; the first sub-token of each word carries its tag (0 without tags: the word is
    still marked for prediction), the rest -100."""
    enc = tokenizer.backend.encode(r["tokens"], is_pretokenized=True)
    labels, previous = [], None
    for word in enc.word_ids:
        labels.append(-100 if word is None or word == previous else index[r["tags"][word]] if "tags" in r else 0)
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
    start = end = 0  # [CLS]: "no answer in this window" (or none given: a record to predict)
    spans = zip(enc.sequence_ids, enc.offsets, strict=True) if "answer" in r else ()
    start_char, end_char = r.get("answer_start", 0), r.get("answer_start", 0) + len(r.get("answer", ""))
    for i, (seq, (a, b)) in enumerate(spans):
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
