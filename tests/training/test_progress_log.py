"""Training progress (#31): plain lines in a log (no carriage-return updates), a bar on a terminal,
and an expected time measured on this machine rather than a fixed claim; the demo states its work
and the cores it sees."""

import io

import pytest
import torch

from einformer.data.batches import Seq2SeqBatches
from einformer.recipes import demo
from einformer.training import Trainer, progress
from einformer.training.progress import Progress
from tests.training.test_trainer import args, model, toy_data


class Clock:
    """A clock the test moves forward by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(progress.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)


def test_a_log_gets_a_plain_line_per_tenth_and_a_measured_estimate(four_cores):
    log, clock = io.StringIO(), Clock()
    bar = Progress(1500, stream=log, clock=clock, every_seconds=1e9)
    for step in range(1500):
        clock.now += 9.0 if step == 0 else 0.5  # the first step pays for allocation
        bar.set_postfix(loss=f"{1 / (step + 1):.4f}")
        bar.update(1)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    estimate, status = lines[0], lines[1:]
    # 6 steps took 9 + 5 * 0.5 = 11.5 s; 1494 left at the 0.5 s/step of steps 2-6: 11.5 + 747 s = 12.6 min
    assert estimate == (
        "train: expected time about 12.6 min for 1500 steps (0.50 s/step measured on steps 2-6, "
        "3 threads on 4 visible cores)"
    )
    assert [line.split(",")[0] for line in status] == [
        f"train step {s}/1500 ({s // 15}%)" for s in range(150, 1501, 150)
    ]
    assert status[0] == "train step 150/1500 (10%), 84 s, about 12.5 min left; loss 0.0067"
    assert status[-1] == "train step 1500/1500 (100%), 12.6 min; loss 0.0007"


def test_a_slow_run_in_a_log_gets_a_line_every_30_seconds():
    log, clock = io.StringIO(), Clock()
    bar = Progress(100, stream=log, clock=clock, warmup_steps=1000)  # no estimate line in this test
    for _ in range(20):
        clock.now += 20.0
        bar.update(1)
    # 20 steps of 20 s: the 10% lines (steps 10, 20) plus one line whenever 30 s passed since the last
    steps = [int(line.split()[2].split("/")[0]) for line in log.getvalue().splitlines()]
    assert steps == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]


def test_a_terminal_gets_the_bar_and_disabled_progress_prints_nothing():
    screen, quiet = Terminal(), io.StringIO()
    for stream, enabled in ((screen, True), (quiet, False)):
        bar = Progress(10, stream=stream, enabled=enabled)
        for _ in range(10):
            bar.update(1)
        bar.close()
    assert "\r" in screen.getvalue() and "10/10" in screen.getvalue()  # tqdm's bar redraws in place
    assert quiet.getvalue() == ""


def test_the_trainer_writes_plain_lines_when_stderr_is_a_log(tmp_path, capsys, four_cores):
    torch.manual_seed(0)
    run = args(progress=True, max_steps=8, eval_every=8, save_every=8)
    trainer = Trainer(model(), run, Seq2SeqBatches(toy_data(), 8), run_dir=tmp_path)
    trainer.train()
    err = capsys.readouterr().err  # pytest's capture is not a terminal, as a redirected log is not
    assert "\r" not in err
    lines = err.splitlines()
    assert any(line.startswith("train: expected time about ") and "3 threads on 4 visible cores" in line
               for line in lines)  # fmt: skip
    status = [line for line in lines if line.startswith("train step ")]
    assert len(status) <= 8 and status[-1].startswith("train step 8/8 (100%)") and "loss " in status[-1]


def test_the_demo_states_its_work_and_the_cores_it_sees(monkeypatch, four_cores, tmp_path):
    seen = {}

    class Stop(Exception):
        pass

    def train(run_dir, *, args, **kw):
        seen["args"] = args
        raise Stop

    monkeypatch.setattr(demo, "train_seq2seq", train)
    lines = []
    with pytest.raises(Stop):
        demo.run_demo(run_dir=tmp_path / "run", echo=lines.append)
    assert lines[1] == (
        "1500 steps of 64 examples on 3 threads (4 cores visible to this process); "
        "the expected time follows after a few measured steps"
    )
    assert "minute" not in " ".join(lines)  # no figure from another machine
    assert seen["args"].progress and seen["args"].max_steps == 1500
