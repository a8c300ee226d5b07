"""A pipeline's progress over many inputs (#31): plain lines when standard error is a log (pytest's
capture is not a terminal, as a redirected log is not), tqdm's bar on a terminal; training's
``Progress`` serves both, so a pipeline writes no carriage returns into a log."""

import io
import sys

import pytest

from einformer import pipeline
from einformer.pipelines import base

pytestmark = pytest.mark.hf

TEXTS = [f"the film number {i} was {'good' if i % 2 else 'bad'}" for i in range(12)]


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def classify(dirs, monkeypatch):
    monkeypatch.setattr(base, "PROGRESS_FROM", 5)  # 12 inputs count as many, so the test stays small
    return pipeline("text-classification", model=dirs["cls"], batch_size=4)


def test_a_log_gets_plain_lines_per_share_of_the_inputs(classify, capsys):
    quiet = classify(TEXTS[:4])  # below PROGRESS_FROM: no progress at all
    assert capsys.readouterr().err == ""
    results = classify(TEXTS)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "text-classification input 4/12 (33%)",
        "text-classification input 8/12 (67%)",
        "text-classification input 12/12 (100%)",
    ]
    assert "expected time" not in err  # the training estimate counts steps, not inputs
    assert results[:4] == quiet  # the inputs' results, in input order, with or without progress


def test_a_terminal_gets_the_bar(classify, monkeypatch):
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    classify(TEXTS)
    shown = screen.getvalue()  # tqdm's bar redraws in place, counting inputs, and goes when done (leave=False)
    assert "\r" in shown and "text-classification:" in shown and "/12 [" in shown and "input/s" in shown
