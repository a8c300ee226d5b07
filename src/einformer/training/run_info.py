"""run.json: what a job is, one typed record per kind (``RunInfo``), and how a resumed job is
compared with the saved one: field by field, and by the content of its data files (``fingerprint``).

``run_dir.prepare`` writes it on a fresh start and compares it on ``--resume``; loaders read it
through ``read_info``. A run.json that reads as a ``RunInfo`` is einformer's run marker
(``run_dir.is_run``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, ClassVar

from ..checkpoint import read_json
from ..validation import field_types, json_type_ok, type_name

RUN_INFO = "run.json"


@dataclasses.dataclass
class RunInfo:
    """What a run directory says of its job; one subclass per kind, stored as run.json."""

    kind: ClassVar[str] = ""
    # fields an older einformer did not record: an older run (None there) is not compared on them
    recorded_later: ClassVar[tuple[str, ...]] = ("preset", "fingerprints")
    preset: str | None = None  # the size preset; on resume, compared only when the command names one
    fingerprints: dict | None = None  # data field -> content fingerprint of its file (``fingerprint``)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any], source: str = RUN_INFO) -> RunInfo:
        """The typed description of ``data``; an unknown kind or field is an error naming ``source``."""
        data = dict(data)
        kind = data.pop("kind", Seq2SeqRunInfo.kind)  # the first run.json files had no kind
        if kind not in RUN_KINDS:
            raise ValueError(f"{source}: unknown run kind {kind!r}; einformer writes {sorted(RUN_KINDS)}")
        cls = RUN_KINDS[kind]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: a {kind} run has no field(s) {unknown}; known: {sorted(names)}")
        for name, hint in field_types(cls).items():
            if name in data and not json_type_ok(data[name], hint):
                raise ValueError(
                    f"{source}: field {name!r} is {data[name]!r}, not {type_name(hint)}; the run description is "
                    "damaged: restore it, or start the run again in a new --run-dir"
                )
        return cls(**data)

    def changes_from(self, other: RunInfo) -> list[str]:
        """The fields whose values differ from ``other``'s, as 'field: old -> new'."""
        if type(other) is not type(self):
            return [f"kind: {other.kind} -> {self.kind}"]
        old, new = dataclasses.asdict(other), dataclasses.asdict(self)
        skip = {k for k in self.recorded_later if old[k] is None} | {"fingerprints"}
        if new["preset"] is None:  # no --preset given: the run's own
            skip.add("preset")
        changes = [
            f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if k not in skip and _norm(k, old[k]) != _norm(k, new[k])
        ]
        for field, saved in (old["fingerprints"] or {}).items():
            now = (new["fingerprints"] or {}).get(field)
            if now is not None and now != saved and _norm(field, old.get(field)) == _norm(field, new.get(field)):
                changes.append(
                    f"{field}: the content of {new[field]} changed since the run started ({_how(saved, now)})"
                )
        return changes


def _how(saved: str, now: str) -> str:
    old_size, new_size = saved.split(":")[0], now.split(":")[0]
    return f"{old_size} bytes, now {new_size}" if old_size != new_size else f"the same {old_size} bytes, other content"


PATH_FIELDS = ("data", "target_file", "val")


def _norm(field: str, value):
    """Compare tuples and lists (JSON has no tuples) as equals, and paths (older runs stored them
    relative) as absolute paths."""
    if field in PATH_FIELDS and isinstance(value, str) and value:
        return absolute(value)
    return list(value) if isinstance(value, tuple) else value


@dataclasses.dataclass
class Seq2SeqRunInfo(RunInfo):
    """A sequence-to-sequence run: a built-in task (regenerated from its seed) or the user's files."""

    kind: ClassVar[str] = "sequence-to-sequence"
    task: str | None = None
    data: str | None = None
    target_file: str | None = None
    val: str | None = None
    train_lengths: list[int] | None = None
    test_lengths: list[int] | None = None
    source_level: str = "bpe"
    target_level: str = "bpe"
    share_vocab: bool = False
    metric: str = "loss"
    seed: int = 0
    n_train: int = 50000
    n_val: int = 500
    n_test: int = 1000
    max_target_tokens: int = 64


@dataclasses.dataclass
class LanguageModelRunInfo(RunInfo):
    """A GPT or Transformer-XL on a text file: the first ``split_char`` characters train."""

    kind: ClassVar[str] = "language-model"
    model: str = "gpt"
    data: str = ""
    tokenizer: str = "char"
    block_size: int = 256
    split_char: int = 0
    val_fraction: float = 0.1
    sampling: str = "random"
    init_from: str | None = None  # the pretrained GPT it was fine-tuned from
    tokenizer_from: str | None = None  # the directory whose tokenizer it reuses
    documents: str = "file"  # how the text splits into documents (EOS between them)


@dataclasses.dataclass
class FinetuneRunInfo(RunInfo):
    """A BERT fine-tuned on a JSONL task; ``labels`` in class-id order."""

    kind: ClassVar[str] = "bert-finetune"
    recorded_later: ClassVar[tuple[str, ...]] = (
        *RunInfo.recorded_later, "data", "val", "columns", "split", "val_split"
    )  # fmt: skip
    task: str = "classify"
    labels: list | None = None
    max_length: int = 128
    base_model: str = ""
    data: str | None = None
    val: str | None = None
    columns: dict | None = None  # field option -> the column named for it (--text-column ...); {}: the usual names
    split: str | None = None  # the DatasetDict split ``data`` was read from (None: a file, not a DatasetDict)
    val_split: str | None = None  # the DatasetDict split ``val`` was read from (None: a file, or held out)


@dataclasses.dataclass
class PretrainRunInfo(RunInfo):
    """BERT masked-LM pre-training on a text file (one segment per line)."""

    kind: ClassVar[str] = "bert-pretrain"
    data: str = ""
    whole_word: bool = False
    next_sentence: bool = False
    max_length: int = 128


RUN_KINDS: dict[str, type[RunInfo]] = {
    cls.kind: cls for cls in (Seq2SeqRunInfo, LanguageModelRunInfo, FinetuneRunInfo, PretrainRunInfo)
}


def absolute(path: str | Path | None) -> str | None:
    """A data path as run.json stores it: absolute, so the run is usable from any directory."""
    return None if path is None else str(Path(path).resolve())


def read_info(directory: str | Path) -> RunInfo | None:
    """The run.json of ``directory`` as a ``RunInfo``, or None when there is none (a model directory)."""
    path = Path(directory) / RUN_INFO
    if not path.is_file():
        return None
    return RunInfo.from_dict(read_json(path, "run description"), str(path))


def fingerprint(path: str | Path, block: int = 1 << 20) -> str:
    """The content of a data file as "SIZE:BLAKE2B", read in ``block``-byte pieces (memory bounded);
    recorded in run.json and compared on --resume, so changed data of the same name and size is caught."""
    digest = hashlib.blake2b(digest_size=16)
    size = 0
    with open(path, "rb") as f:
        while piece := f.read(block):
            digest.update(piece)
            size += len(piece)
    return f"{size}:{digest.hexdigest()}"


def fingerprint_directory(path: str | Path) -> str:
    """A ``datasets`` save_to_disk directory's data as "SIZE:BLAKE2B": its ``.arrow`` files (every
    split's), each by its path inside the directory and its content (``fingerprint``); SIZE is their total."""
    digest, size = hashlib.blake2b(digest_size=16), 0
    for arrow in sorted(Path(path).rglob("*.arrow")):
        own = fingerprint(arrow)
        digest.update(f"{arrow.relative_to(path).as_posix()}\0{own}\0".encode())
        size += int(own.split(":")[0])
    return f"{size}:{digest.hexdigest()}"


def data_fingerprints(info: RunInfo) -> dict[str, str]:
    """The fingerprint of every data file ``info`` names (its path fields that are files, or
    ``datasets`` directories: their arrow files)."""
    out = {}
    for field in PATH_FIELDS:
        value = getattr(info, field, None)
        if isinstance(value, str) and value and Path(value).is_file():
            out[field] = fingerprint(value)
        elif isinstance(value, str) and value and Path(value).is_dir():
            out[field] = fingerprint_directory(value)
    return out
