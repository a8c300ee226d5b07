"""The run directory: one layout, one job description, read and written here and nowhere else.

    run.json                        the job (a ``RunInfo``): kind, data, tokenizers, lengths
    config.json, model.safetensors  the best model so far (the trainer keeps it)
    last/                           the latest checkpoint: model + training_state.pt (--resume)
    metrics.jsonl, loss_curve.png   the trainer's log and plot
    tokenizer file(s)               written by the recipe through ``prepare``

``prepare`` is the one start of every training job: a fresh run is refused before anything is
written when the directory already holds one (so a refused run never damages the old one); a
resumed run reads run.json back and refuses a job that differs from the saved one, naming what
changed. The trainer takes its file names from here; loaders read run.json through ``read_info``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..checkpoint import read_json, write_json
from .distributed import DistInfo, barrier

RUN_INFO = "run.json"
LAST = "last"  # the latest checkpoint, what --resume continues from
STATE_NAME = "training_state.pt"
METRICS = "metrics.jsonl"


@dataclasses.dataclass
class RunInfo:
    """What a run directory says of its job; one subclass per kind, stored as run.json."""

    kind: ClassVar[str] = ""

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
        return cls(**data)

    def changes_from(self, other: RunInfo) -> list[str]:
        """The fields whose values differ from ``other``'s, as 'field: old -> new'."""
        if type(other) is not type(self):
            return [f"kind: {other.kind} -> {self.kind}"]
        old, new = dataclasses.asdict(other), dataclasses.asdict(self)
        return [f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if _norm(k, old[k]) != _norm(k, new[k])]


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


@dataclasses.dataclass
class FinetuneRunInfo(RunInfo):
    """A BERT fine-tuned on a JSONL task; ``labels`` in class-id order."""

    kind: ClassVar[str] = "bert-finetune"
    task: str = "classify"
    labels: list | None = None
    max_length: int = 128
    base_model: str = ""


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


def holds_run(directory: str | Path) -> bool:
    """Has a training job already started here (its description or a checkpoint exists)?"""
    directory = Path(directory)
    return (directory / RUN_INFO).is_file() or (directory / LAST / STATE_NAME).is_file()


def check_start(run_dir: str | Path, *, resume: bool) -> None:
    """Before any work: a fresh job needs a directory without a run, a resumed one a run to resume."""
    run_dir = Path(run_dir)
    if resume and not ((run_dir / RUN_INFO).is_file() and (run_dir / LAST / STATE_NAME).is_file()):
        raise FileNotFoundError(
            f"nothing to resume in {run_dir}: it has no {RUN_INFO} and {LAST}/{STATE_NAME}; start it without --resume"
        )
    if not resume and holds_run(run_dir):
        raise ValueError(
            f"{run_dir} already holds a run; resume it (--resume, where the command has it) or choose another "
            "run directory. Nothing was written"
        )


def prepare(
    run_dir: str | Path,
    info: RunInfo,
    save_files: Callable[[Path], None],
    *,
    resume: bool,
    dist_info: DistInfo | None = None,
) -> None:
    """Start a job in ``run_dir``: check, then write (rank 0), then let every rank go on.

    Args:
        info: the job's description, written as run.json.
        save_files: writes what the job needs besides the model (its tokenizers) into the directory.
        resume: continue the run there; its run.json must describe the same job.
    """
    run_dir, dist_info = Path(run_dir), dist_info or DistInfo()
    check_start(run_dir, resume=resume)
    if resume:
        changed = info.changes_from(read_info(run_dir))
        if changed:
            raise ValueError(
                f"--resume continues the job saved in {run_dir}, but this command describes another one ("
                + "; ".join(changed)
                + "). Resume with the original options, or train into a new --run-dir"
            )
    barrier(dist_info)  # every rank has checked before rank 0 writes
    if dist_info.is_main and not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_files(run_dir)
        write_json(run_dir / RUN_INFO, info.to_dict())
    barrier(dist_info)


def resume_config(run_dir: str | Path, config_class):
    """The model config of the latest checkpoint, which a resumed job rebuilds its model from."""
    return config_class.from_json_file(Path(run_dir) / LAST / "config.json")
