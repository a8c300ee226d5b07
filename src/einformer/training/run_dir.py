"""The run directory: one layout, one job description, read and written here and nowhere else.

    run.json                        the job (a ``RunInfo``): kind, data, tokenizers, lengths
    config.json, model.safetensors  the best model so far (the trainer keeps it)
    checkpoint-N/                   the latest checkpoint: model + training_state.pt of step N
    last -> checkpoint-N            a symbolic link, switched atomically once step N is complete
    .lock                           held (flock) by the process training here
    metrics.jsonl, loss_curve.png   the trainer's log and plot
    tokenizer file(s)               written by the recipe through ``prepare``

``prepare`` is the one start of every training job: a fresh run is refused before anything is
written when the directory already holds one (so a refused run never damages the old one); a
resumed run reads run.json back and refuses a job that differs from the saved one, naming what
changed. The trainer takes its file names from here; loaders read run.json through ``read_info``.

A checkpoint is one atomic unit: the trainer writes every file of step N into a new
``checkpoint-N/`` directory, then ``publish_checkpoint`` points ``last`` at it with one rename of a
symbolic link, so a kill at any moment leaves either the old checkpoint or the new one, never a mix
of two steps; leftovers of a crashed write are removed on the next start (``clean_partial``). One
process at a time may train in a directory (``exclusive``, an flock that dies with its process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..checkpoint import read_json, write_json
from ..errors import EinformerError
from .distributed import DistInfo, barrier

RUN_INFO = "run.json"
LAST = "last"  # the latest checkpoint, what --resume continues from
STATE_NAME = "training_state.pt"
METRICS = "metrics.jsonl"
LOCK = ".lock"
CHECKPOINT_PREFIX = "checkpoint-"
PAUSE_VARIABLE = "EINFORMER_PAUSE_AT"  # tests: "NAME:STEP:SECONDS" sleeps there (a kill window)


class RunInUse(EinformerError, RuntimeError):
    """Another process holds the run directory."""


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
    init_from: str | None = None  # the pretrained GPT it was fine-tuned from
    tokenizer_from: str | None = None  # the directory whose tokenizer it reuses
    documents: str = "file"  # how the text splits into documents (EOS between them)


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
    """Does the directory hold a run worth keeping: a checkpoint, or a model? (A job killed before its
    first checkpoint left only its description, which a new start may replace.)"""
    directory = Path(directory)
    return (directory / LAST / STATE_NAME).is_file() or (directory / "config.json").is_file()


def check_start(run_dir: str | Path, *, resume: bool) -> None:
    """Before any work: a fresh job needs a directory without a run, a resumed one a run to resume."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {run_dir} is a file; give a directory")
    if resume and not ((run_dir / RUN_INFO).is_file() and (run_dir / LAST / STATE_NAME).is_file()):
        raise FileNotFoundError(
            f"nothing to resume in {run_dir}: it has no checkpoint ({LAST}/{STATE_NAME}) with its {RUN_INFO}; "
            "start it again without --resume"
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


def resume_config(run_dir: str | Path, config_class, overrides: dict | None = None):
    """The model config of the latest checkpoint, which a resumed job rebuilds its model from; a size
    or architecture option (``overrides``, as the command set them) that differs from it is refused."""
    config = config_class.from_json_file(Path(run_dir) / LAST / "config.json")
    changed = [
        f"{k} {getattr(config, k)!r} (now {v!r})" for k, v in (overrides or {}).items() if getattr(config, k) != v
    ]
    if changed:
        raise ValueError(
            f"--resume rebuilds the model saved in {run_dir}, and these options differ from it: "
            + ", ".join(changed)
            + ". Resume without them, or train into a new --run-dir"
        )
    return config


# ---------------------------------------------------------------- atomic checkpoints
def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / f"{CHECKPOINT_PREFIX}{step}"


def new_checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    """An empty ``checkpoint-STEP/`` to write step STEP's files into (a stale one from a crash removed)."""
    target = checkpoint_dir(run_dir, step)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    return target


def publish_checkpoint(run_dir: str | Path, step: int) -> None:
    """Point ``last`` at ``checkpoint-STEP/`` in one atomic rename, then drop the checkpoint it replaces."""
    run_dir = Path(run_dir)
    target, last = checkpoint_dir(run_dir, step), run_dir / LAST
    _fsync_tree(target)
    pause("publish", step)
    previous = os.readlink(last) if last.is_symlink() else None
    if last.exists() and not last.is_symlink():  # a run directory of an older einformer: last/ was a folder
        last.rename(run_dir / f"{CHECKPOINT_PREFIX}legacy")
        previous = f"{CHECKPOINT_PREFIX}legacy"
    link = run_dir / ".last.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, last)
    _fsync_dir(run_dir)
    if previous and previous != target.name:
        shutil.rmtree(run_dir / previous, ignore_errors=True)


def published_step(run_dir: str | Path) -> int | None:
    """The step ``last`` points at (None for an older run's plain last/ folder, or no checkpoint)."""
    last = Path(run_dir) / LAST
    if not last.is_symlink():
        return None
    suffix = os.readlink(last)[len(CHECKPOINT_PREFIX) :]
    return int(suffix) if suffix.isdigit() else None


def clean_partial(run_dir: str | Path) -> list[str]:
    """Remove what a crashed write left: checkpoints ``last`` does not point at, and ``.*.tmp`` files."""
    run_dir, removed = Path(run_dir), []
    if not run_dir.is_dir():
        return removed
    current = os.readlink(run_dir / LAST) if (run_dir / LAST).is_symlink() else None
    for path in run_dir.iterdir():
        if path.name.startswith(CHECKPOINT_PREFIX) and path.name != current and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        elif path.name.startswith(".") and path.name.endswith(".tmp") and (path.is_file() or path.is_symlink()):
            path.unlink()
            removed.append(path.name)
    if (run_dir / LAST).is_dir():
        for path in (run_dir / LAST).glob(".*.tmp"):
            path.unlink()
            removed.append(f"{LAST}/{path.name}")
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(directory)


def pause(name: str, step: int) -> None:
    """A pause point for the crash tests: with EINFORMER_PAUSE_AT=NAME:STEP:SECONDS, at point NAME of
    step STEP, say so and sleep (the moment a test kills the process)."""
    spec = os.environ.get(PAUSE_VARIABLE, "").split(":")
    if len(spec) == 3 and spec[0] == name and spec[1] == str(step):
        print(f"einformer: paused at {name} of step {step}", file=sys.stderr, flush=True)
        time.sleep(float(spec[2]))


# ---------------------------------------------------------------- one process per run directory
class RunLock:
    """An exclusive flock on ``run_dir/.lock`` while held (the OS drops it when the process dies,
    so a killed run never leaves the directory locked)."""

    def __init__(self, run_dir: str | Path) -> None:
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"--run-dir {run_dir} is a file; give a directory")
        self.run_dir, self.created = run_dir, not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise RunInUse(
                f"{run_dir} is in use by another einformer process (pid {holder}); wait for it to finish, "
                "or train into another --run-dir"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())

    def release(self) -> None:
        """Unlock; a directory this lock created and nothing else wrote to (a job refused before it
        started) is removed again, so a refused run leaves nothing behind."""
        if self.fd is None:
            return
        if self.created and os.listdir(self.run_dir) == [LOCK]:
            with contextlib.suppress(OSError):  # still locked: no other process is inside
                os.unlink(self.run_dir / LOCK)
                self.run_dir.rmdir()
        os.close(self.fd)  # closing the descriptor releases the flock
        self.fd = None


def exclusive(job: Callable) -> Callable:
    """Decorate a recipe ``job(run_dir, ..., dist_info=...)``: rank 0 holds the run directory's lock
    for the whole job, so a second process on the same directory is refused before it writes."""

    @functools.wraps(job)
    def locked(run_dir, *args, **kwargs):
        dist_info = kwargs.get("dist_info") or DistInfo()
        if not dist_info.is_main:
            return job(run_dir, *args, **kwargs)
        lock = RunLock(run_dir)
        try:
            return job(run_dir, *args, **kwargs)
        finally:
            lock.release()

    return locked
