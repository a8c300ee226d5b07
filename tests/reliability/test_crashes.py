"""Crashes: SIGKILL at the dangerous moments and at random ones, Ctrl-C, two processes on one run
directory, a killed launcher. Each test crashes a real subprocess and checks what was left."""

import os
import random
import signal
import time
from pathlib import Path

import pytest

from .helpers import LM, einformer, losses, start, text_file, wait_for

STEPS = 12


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every crashed one must reproduce, loss for loss."""
    root = tmp_path_factory.mktemp("reference")
    data = text_file(root)
    out = einformer("train", *LM, "--data", data, "--run-dir", root / "run", "--steps", STEPS, "--save-every", 1)
    assert out.returncode == 0, out.stderr
    return data, losses(root / "run")


def _train(data, run, *extra, env=None):
    return einformer("train", *LM, "--data", data, "--run-dir", run, "--steps", STEPS, "--save-every", 1, *extra,
                     env=env)  # fmt: skip


def _no_leftovers(run: Path) -> None:
    current = os.readlink(run / "last")
    stale = [p.name for p in run.iterdir() if p.name.startswith("checkpoint-") and p.name != current]
    tmp = [p.name for p in [*run.iterdir(), *(run / "last").iterdir()] if p.name.endswith(".tmp")]
    assert not stale and not tmp, (stale, tmp)


@pytest.mark.parametrize("moment", ["checkpoint", "publish"])
def test_a_kill_inside_a_checkpoint_write_resumes_exactly(reference, tmp_path, moment):
    """SIGKILL between a checkpoint's weights and its state, and just before the switch: the resumed
    run continues from the last complete checkpoint and its losses equal the uninterrupted run's."""
    data, expected = reference
    run = tmp_path / "run"
    process = start("train", *LM, "--data", data, "--run-dir", run, "--steps", STEPS, "--save-every", 1,
                    env={"EINFORMER_PAUSE_AT": f"{moment}:5:30"})  # fmt: skip
    wait_for(process, f"paused at {moment} of step 5")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (run / "last").is_symlink()  # the previous checkpoint is intact...
    out = _train(data, run, "--resume")
    assert out.returncode == 0, out.stderr
    assert losses(run) == expected  # ...and the resumed run is the uninterrupted one
    _no_leftovers(run)


def _published(run: Path) -> int:
    last = run / "last"
    return int(os.readlink(last).split("-")[1]) if last.is_symlink() else 0


@pytest.mark.slow
def test_twenty_random_kills_each_resumed_give_the_uninterrupted_losses(reference, tmp_path):
    """With --save-every 1, 20 SIGKILLs at random moments, each followed by --resume, end with exactly
    the uninterrupted run's loss sequence. Half the kills land at a random moment of start-up, half
    a random 0-0.1 s after training has moved on (inside steps and checkpoint writes), so the run
    cannot finish before the 20th."""
    data, _ = reference
    steps = 150
    argv = ["train", *LM, "--data", data, "--steps", steps, "--save-every", 1]
    assert einformer(*argv, "--run-dir", tmp_path / "whole").returncode == 0
    run, rng = tmp_path / "run", random.Random(0)
    for kill in range(20):
        before = _published(run)
        process = start(*argv, "--run-dir", run, *(["--resume"] if before else []))
        if kill % 2 == 0:
            time.sleep(rng.uniform(0.0, 1.5))  # during start-up
        else:
            deadline = time.monotonic() + 60
            while _published(run) == before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.1))  # during training
        assert process.poll() is None, f"the run ended before kill {kill + 1}: {process.communicate()[1][-2000:]}"
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = einformer(*argv, "--run-dir", run, *(["--resume"] if _published(run) else []))
    assert final.returncode == 0, final.stderr
    assert losses(run) == losses(tmp_path / "whole")
    _no_leftovers(run)


def test_two_processes_on_one_run_directory(reference, tmp_path):
    """The second is refused by the lock with a clear message while the first trains; every file
    left is the first's (its seed)."""
    data, _ = reference
    run = tmp_path / "run"
    first = start("train", *LM, "--data", data, "--run-dir", run, "--steps", 4, "--seed", 1,
                  env={"EINFORMER_PAUSE_AT": "checkpoint:4:4"})  # fmt: skip
    wait_for(first, "paused at checkpoint of step 4")
    second = einformer("train", *LM, "--data", data, "--run-dir", run, "--steps", 4, "--seed", 2)
    assert second.returncode == 2
    assert "is in use by another einformer process" in second.stderr and "Traceback" not in second.stderr
    assert first.wait() == 0
    import torch

    state = torch.load(run / "last" / "training_state.pt", weights_only=True)
    assert state["arguments"]["seed"] == 1 and [s for s, _ in losses(run)] == [1, 2, 3, 4]


def test_two_processes_started_together_exactly_one_trains(reference, tmp_path):
    data, _ = reference
    run = tmp_path / "run"
    both = [start("train", *LM, "--data", data, "--run-dir", run, "--steps", 3, "--seed", s) for s in (1, 2)]
    codes = sorted(p.wait() for p in both)
    errors = [p.stderr.read() for p in both]
    assert codes == [0, 2], errors
    refused = next(e for p, e in zip(both, errors, strict=True) if p.returncode == 2)
    assert "is in use by another einformer process" in refused or "already holds a run" in refused
    assert [s for s, _ in losses(run)] == [1, 2, 3]


def test_ctrl_c_names_the_checkpoint_and_the_resume_command(reference, tmp_path):
    data, expected = reference
    early = start("train", *LM, "--data", data, "--run-dir", tmp_path / "a", "--steps", STEPS, "--save-every", 1,
                  env={"EINFORMER_PAUSE_AT": "publish:1:30"})  # fmt: skip
    wait_for(early, "paused at publish of step 1")  # step 1 written, not yet published: no checkpoint yet
    early.send_signal(signal.SIGINT)
    _, err = early.communicate(timeout=60)
    assert early.returncode == 130 and "interrupted. No checkpoint was saved yet" in err

    run = tmp_path / "b"
    late = start("train", *LM, "--data", data, "--run-dir", run, "--steps", STEPS, "--save-every", 1)
    deadline = time.monotonic() + 60
    while not (run / "last").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    late.send_signal(signal.SIGINT)
    _, err = late.communicate(timeout=60)
    assert late.returncode == 130 and "The last checkpoint is step" in err, err
    command = err.split("continue with: ")[1].strip().split()
    assert command[:2] == ["einformer", "train"] and command[-1] == "--resume"
    resumed = einformer(*command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert losses(run) == expected


def _einformer_processes(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


@pytest.mark.distributed
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_launcher_stops_torchrun_and_its_workers(reference, tmp_path, sig):
    data, _ = reference
    run = tmp_path / f"run-{sig.name}"
    launcher = start("train", *LM, "--data", data, "--run-dir", run, "--steps", 100000, "--save-every", 1000,
                     "--nproc-per-node", 2)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(_einformer_processes(str(run))) < 4 and time.monotonic() < deadline:  # launcher, torchrun, 2 workers
        time.sleep(0.2)
    assert len(_einformer_processes(str(run))) >= 4, "the workers did not start"
    time.sleep(2)
    launcher.send_signal(sig)
    launcher.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _einformer_processes(str(run)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _einformer_processes(str(run)) == []
