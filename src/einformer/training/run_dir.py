"""The run directory: one layout, what einformer owns in it, and the start of every job there.

    run.json                        the job (a ``RunInfo``, run_info.py): kind, data, tokenizers, lengths
    config.json, model.safetensors  the best model so far (the trainer keeps it)
    checkpoint-N/                   the latest checkpoint: model + training_state.pt of step N
    last -> checkpoint-N            a symbolic link, switched atomically once step N is complete
    .lock                           held (flock) by the process training here (run_lock.py)
    metrics.jsonl, loss_curve.png   the trainer's log and plot
    tokenizer file(s)               written by the recipe through ``prepare``

Ownership: a directory is einformer's run only when it holds einformer's run marker, a run.json
that reads as a ``RunInfo``. A fresh job goes into a directory that does not exist, is empty, or
holds only the files the user named as its inputs (``check_start``); anything else is refused
before anything is written, listing what is there. Cleanup removes only the names einformer
writes (``checkpoint-N/`` holding only a checkpoint's files, ``.NAME.XXXXXXXX.tmp``, ``.last.tmp``:
the patterns below; run_checkpoints.py removes them), inside the run; ``last`` must be a link to a
``checkpoint-N`` of the run itself (``last_checkpoint``).

``prepare`` is the one start of every training job: a fresh run is refused before anything is
written when the directory already holds one (so a refused run never damages the old one); a
resumed run reads run.json back and refuses a job that differs from the saved one, naming what
changed, the content of its data files included (``RunInfo.changes_from``). The trainer takes its
file names from here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ..checkpoint import CheckpointError, write_json
from .distributed import DistInfo, barrier
from .run_info import RUN_INFO, RunInfo, data_fingerprints, read_info

LAST = "last"  # the latest checkpoint, what --resume continues from
STATE_NAME = "training_state.pt"
METRICS = "metrics.jsonl"
LOCK = ".lock"
CHECKPOINT_PREFIX = "checkpoint-"
# the names einformer writes, and nothing else is ever removed
CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+|legacy)")
TEMPORARY_NAME = re.compile(r"\.(.+\.[A-Za-z0-9_]{8}|last)\.tmp")  # checkpoint.atomic_write's and .last.tmp
RUN_INFO_TEMPORARY = re.compile(rf"\.{re.escape(RUN_INFO)}\.[A-Za-z0-9_]{{8}}\.tmp")  # atomic_write's, of run.json
CHECKPOINT_FILES = re.compile(  # what the trainer writes into checkpoint-N/ (shards included)
    rf"config\.json|generation_config\.json|{re.escape(STATE_NAME)}|model(-\d+-of-\d+)?\.safetensors(\.index\.json)?"
)


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
    # a job killed while writing its marker left only atomic_write's temporary of run.json: its own start
    foreign = [name for name in foreign_entries(run_dir, inputs) if not _own_temporary(run_dir / name)]
    if foreign and not is_run(run_dir):
        shown = ", ".join(foreign[:12]) + (f" and {len(foreign) - 12} more" if len(foreign) > 12 else "")
        raise ValueError(
            f"--run-dir {run_dir} ({run_dir.resolve()}) is not empty and is not an einformer run (no {RUN_INFO} of "
            f"einformer's): it holds {shown}. A new run goes into a new or empty directory, so nothing of yours is "
            "overwritten; choose another --run-dir. Nothing was written"
        )


def _own_temporary(path: Path) -> bool:
    """Is ``path`` atomic_write's temporary of run.json: that name, a regular file, not a link?"""
    return bool(RUN_INFO_TEMPORARY.fullmatch(path.name)) and path.is_file() and not path.is_symlink()


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
