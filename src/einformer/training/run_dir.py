"""The run directory: one layout, one job description, read and written here and nowhere else.

    run.json                        the job (a ``RunInfo``): kind, data, tokenizers, lengths
    config.json, model.safetensors  the best model so far (the trainer keeps it)
    checkpoint-N/                   the latest checkpoint: model + training_state.pt of step N
    last -> checkpoint-N            a symbolic link, switched atomically once step N is complete
    .lock                           held (flock) by the process training here
    metrics.jsonl, loss_curve.png   the trainer's log and plot
    tokenizer file(s)               written by the recipe through ``prepare``

Ownership: a directory is einformer's run only when it holds einformer's run marker, a run.json
that reads as a ``RunInfo``. A fresh job goes into a directory that does not exist, is empty, or
holds only the files the user named as its inputs (``check_start``); anything else is refused
before anything is written, listing what is there. Cleanup removes only the names einformer
writes (``checkpoint-N/`` holding only a checkpoint's files, ``.NAME.XXXXXXXX.tmp``, ``.last.tmp``),
inside the run; ``last`` must be a link to a ``checkpoint-N`` of the run itself (``last_checkpoint``).

``prepare`` is the one start of every training job: a fresh run is refused before anything is
written when the directory already holds one (so a refused run never damages the old one); a
resumed run reads run.json back and refuses a job that differs from the saved one, naming what
changed, the content of its data files included (``fingerprint``). The trainer takes its file names
from here; loaders read run.json through ``read_info``.

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
import hashlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..checkpoint import CheckpointError, read_json, write_json
from ..errors import DiskFullError, EinformerError, is_disk_full
from ..validation import field_types, json_type_ok, type_name
from .distributed import DistInfo, barrier

RUN_INFO = "run.json"
LAST = "last"  # the latest checkpoint, what --resume continues from
STATE_NAME = "training_state.pt"
METRICS = "metrics.jsonl"
LOCK = ".lock"
CHECKPOINT_PREFIX = "checkpoint-"
PAUSE_VARIABLE = "EINFORMER_PAUSE_AT"  # tests: "NAME:STEP:SECONDS" sleeps there (a kill window)
# the names einformer writes, and nothing else is ever removed
CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+|legacy)")
TEMPORARY_NAME = re.compile(r"\.(.+\.[A-Za-z0-9_]{8}|last)\.tmp")  # checkpoint.atomic_write's and .last.tmp
CHECKPOINT_FILES = re.compile(  # what the trainer writes into checkpoint-N/ (shards included)
    rf"config\.json|generation_config\.json|{re.escape(STATE_NAME)}|model(-\d+-of-\d+)?\.safetensors(\.index\.json)?"
)


class RunInUse(EinformerError, RuntimeError):
    """Another process holds the run directory."""


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
    recorded_later: ClassVar[tuple[str, ...]] = (*RunInfo.recorded_later, "data", "val", "columns")
    task: str = "classify"
    labels: list | None = None
    max_length: int = 128
    base_model: str = ""
    data: str | None = None
    val: str | None = None
    columns: dict | None = None  # field option -> the column named for it (--text-column ...); {}: the usual names


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


def is_run(directory: str | Path) -> bool:
    """Does ``directory`` hold einformer's run marker: a run.json that reads as a ``RunInfo``? (A
    run.json of another tool does not make a directory einformer's.)"""
    try:
        return read_info(directory) is not None
    except (ValueError, TypeError, OSError):
        return False


def holds_run(directory: str | Path) -> bool:
    """Does the directory hold a run worth keeping: a checkpoint, or a model? (A job killed before its
    first checkpoint left only its description, which a new start may replace.)"""
    directory = Path(directory)
    return (directory / LAST / STATE_NAME).is_file() or (directory / "config.json").is_file()


def check_start(run_dir: str | Path, *, resume: bool, inputs: tuple = ()) -> None:
    """Before any work: a fresh job needs a directory it may own, a resumed one a run to resume.

    A fresh job's directory must not exist, be empty, or hold only ``inputs`` (the files and
    directories the command names as its data) and the lock this process took; a directory holding
    einformer's run marker (run.json) without a checkpoint or model is a job killed while starting,
    which the new one replaces. Anything else is refused, listing what is there.
    """
    run_dir = Path(run_dir)
    check_utf8_names(run_dir, *inputs)
    if run_dir.is_symlink() and not run_dir.exists():
        raise ValueError(f"--run-dir {run_dir} is a symbolic link to {os.readlink(run_dir)}, which does not exist")
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {run_dir} is a file; give a directory")
    if resume:
        if not (run_dir / RUN_INFO).is_file() or read_info(run_dir) is None:
            raise FileNotFoundError(f"nothing to resume in {run_dir}: it has no {RUN_INFO}; start it without --resume")
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is None or not (checkpoint / STATE_NAME).is_file():
            raise FileNotFoundError(
                f"nothing to resume in {run_dir}: it has no checkpoint ({LAST}/{STATE_NAME}) with its {RUN_INFO}; "
                "start it again without --resume"
            )
        return
    if holds_run(run_dir) and is_run(run_dir):
        raise ValueError(
            f"{run_dir} already holds a run; resume it (--resume, where the command has it) or choose another "
            "run directory. Nothing was written"
        )
    foreign = foreign_entries(run_dir, inputs)
    if foreign and not is_run(run_dir):
        shown = ", ".join(foreign[:12]) + (f" and {len(foreign) - 12} more" if len(foreign) > 12 else "")
        raise ValueError(
            f"--run-dir {run_dir} ({run_dir.resolve()}) is not empty and is not an einformer run (no {RUN_INFO} of "
            f"einformer's): it holds {shown}. A new run goes into a new or empty directory, so nothing of yours is "
            "overwritten; choose another --run-dir. Nothing was written"
        )


def check_utf8_names(*paths) -> None:
    """Every path a run records (run.json is UTF-8 JSON) has a UTF-8 name, its folders included: a
    name of other bytes is refused before anything is written, not when run.json is written."""
    for path in paths:
        if path is None:
            continue
        name = str(Path(path).absolute())
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(name).decode("utf-8", errors="backslashreplace")
            raise ValueError(
                f"{shown} is not a UTF-8 name (run.json records every path as UTF-8 text); rename it, or its "
                "folder, with UTF-8 characters. Nothing was written"
            ) from None


def foreign_entries(run_dir: str | Path, inputs: tuple = ()) -> list[str]:
    """What ``run_dir`` holds besides the lock and the command's own ``inputs``, sorted."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    named = {Path(p).resolve() for p in inputs if p}
    return sorted(n for n in os.listdir(run_dir) if n != LOCK and (run_dir / n).resolve() not in named)


def last_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint directory ``last`` points at, checked to be one of the run's own
    ``checkpoint-N/`` (or an older einformer's plain last/ folder); None when there is no ``last``.
    A ``last`` that leads anywhere else is refused: einformer never reads or deletes outside the run."""
    run_dir = Path(run_dir)
    last = run_dir / LAST
    if not last.is_symlink():
        return last if last.is_dir() else None
    target = os.readlink(last)
    inside = CHECKPOINT_NAME.fullmatch(target) and not (run_dir / target).is_symlink()
    if not inside or (run_dir / target).resolve().parent != run_dir.resolve():
        raise CheckpointError(
            f"{last} points to {target}, which is not a checkpoint of this run (einformer follows only a link to "
            f"a {CHECKPOINT_PREFIX}N/ folder inside {run_dir}); point it back with ln -sfn {CHECKPOINT_PREFIX}N "
            f"{last}, or start a new --run-dir"
        )
    return run_dir / target


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


def prepare(
    run_dir: str | Path,
    info: RunInfo,
    save_files: Callable[[Path], None],
    *,
    resume: bool,
    dist_info: DistInfo | None = None,
    inputs: tuple = (),
) -> None:
    """Start a job in ``run_dir``: check, then write (rank 0), then let every rank go on.

    Args:
        info: the job's description, written as run.json.
        save_files: writes what the job needs besides the model (its tokenizers) into the directory.
        resume: continue the run there; its run.json must describe the same job, and its data files
            the same content (their fingerprints, recorded here on a fresh start).
        inputs: the files the command names, which a fresh run's directory may already hold.
    """
    run_dir, dist_info = Path(run_dir), dist_info or DistInfo()
    check_start(run_dir, resume=resume, inputs=inputs)
    info.fingerprints = data_fingerprints(info) or None
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
        # the marker first: a job killed after it (its tokenizer half-written) is one a new start replaces,
        # where files without it would make the directory another's, refused
        write_json(run_dir / RUN_INFO, info.to_dict())
        save_files(run_dir)
    barrier(dist_info)


def resume_config(run_dir: str | Path, config_class, overrides: dict | None = None):
    """The model config of the latest checkpoint, which a resumed job rebuilds its model from; a size
    or architecture option (``overrides``, as the command set them) that differs from it is refused."""
    config = config_class.from_json_file(last_checkpoint(run_dir) / "config.json")
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
    if target.is_symlink() or target.exists():
        if not _is_our_checkpoint(target):
            raise CheckpointError(
                f"{target} is in the way of step {step}'s checkpoint and is not einformer's (it holds "
                f"{', '.join(sorted(os.listdir(target))[:8]) if target.is_dir() else 'a link or file'}); move it away"
            )
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return target


def _is_our_checkpoint(path: Path) -> bool:
    """A real ``checkpoint-N/`` folder inside the run that holds only a checkpoint's files (or their
    temporary names): what einformer wrote, and all it may delete. A Hugging Face Trainer's
    checkpoint-500/ (trainer_state.json, optimizer.pt ...) is not."""
    if path.is_symlink() or not path.is_dir() or not CHECKPOINT_NAME.fullmatch(path.name):
        return False
    return all(CHECKPOINT_FILES.fullmatch(n) or TEMPORARY_NAME.fullmatch(n) for n in os.listdir(path))


def publish_checkpoint(run_dir: str | Path, step: int) -> None:
    """Point ``last`` at ``checkpoint-STEP/`` in one atomic rename, then drop the checkpoint it replaces."""
    run_dir = Path(run_dir)
    target, last = checkpoint_dir(run_dir, step), run_dir / LAST
    _fsync_tree(target)
    pause("publish", step)
    previous = last_checkpoint(run_dir).name if last.is_symlink() else None
    if last.exists() and not last.is_symlink():  # a run directory of an older einformer: last/ was a folder
        last.rename(run_dir / f"{CHECKPOINT_PREFIX}legacy")
        previous = f"{CHECKPOINT_PREFIX}legacy"
    link = run_dir / ".last.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(target.name)
    os.replace(link, last)
    _fsync_dir(run_dir)
    if previous and previous != target.name and _is_our_checkpoint(run_dir / previous):
        shutil.rmtree(run_dir / previous, ignore_errors=True)


def published_step(run_dir: str | Path) -> int | None:
    """The step ``last`` points at (None for an older run's plain last/ folder, or no checkpoint)."""
    last = Path(run_dir) / LAST
    if not last.is_symlink():
        return None
    suffix = os.readlink(last)[len(CHECKPOINT_PREFIX) :]
    return int(suffix) if suffix.isdigit() else None


def clean_partial(run_dir: str | Path) -> list[str]:
    """Remove what a crashed write left, and only names einformer writes: ``checkpoint-N/`` folders
    that ``last`` does not point at and that hold only a checkpoint's files, and einformer's
    temporary files (``.NAME.XXXXXXXX.tmp``, ``.last.tmp``). Anything else stays."""
    run_dir, removed = Path(run_dir), []
    if not run_dir.is_dir():
        return removed
    current = last_checkpoint(run_dir)
    for path in run_dir.iterdir():
        if current is not None and path.name == current.name:
            continue
        if _is_our_checkpoint(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        elif TEMPORARY_NAME.fullmatch(path.name) and (path.is_file() or path.is_symlink()):
            path.unlink()
            removed.append(path.name)
    if current is not None:
        for path in current.iterdir():
            if TEMPORARY_NAME.fullmatch(path.name) and path.is_file():
                path.unlink()
                removed.append(f"{current.name}/{path.name}")
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


@contextlib.contextmanager
def writing(path: str | Path, what: str = "checkpoint"):
    """Turn a full disk, however the writer reports it, into one ``DiskFullError`` that names ``path``
    and the space left there; other errors pass unchanged."""
    try:
        yield
    except Exception as e:
        if not is_disk_full(e):
            raise
        path = Path(path)
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free / 2**20
        raise DiskFullError(
            f"no space left on the device while writing the {what} {path} ({free:.0f} MB free there; the writer "
            f"said: {str(e).splitlines()[0][:120]}). Free some space, then --resume: the last complete checkpoint "
            "is kept"
        ) from None


# ---------------------------------------------------------------- one process per run directory
class RunLock:
    """An exclusive flock on ``run_dir/.lock`` while held (the OS drops it when the process dies,
    so a killed run never leaves the directory locked)."""

    def __init__(self, run_dir: str | Path) -> None:
        run_dir = Path(run_dir)
        check_utf8_names(run_dir)
        if run_dir.is_symlink() and not run_dir.exists():
            raise ValueError(f"--run-dir {run_dir} is a symbolic link to {os.readlink(run_dir)}, which does not exist")
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"--run-dir {run_dir} is a file; give a directory")
        self.run_dir, self.created = run_dir, not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True)
        self.created_lock = not (run_dir / LOCK).exists()
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
        """Unlock; a lock file this lock created in a directory that did not become a run (a job
        refused before it started), and the directory too when the lock created it and nothing else
        is there, are removed again, so a refused run leaves nothing behind."""
        if self.fd is None:
            return
        if self.created_lock and not (self.run_dir / RUN_INFO).exists():
            with contextlib.suppress(OSError):  # still locked: no other process is inside
                os.unlink(self.run_dir / LOCK)
                if self.created:
                    self.run_dir.rmdir()  # fails, as it should, when anything else is there
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
