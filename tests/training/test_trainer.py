"""The trainer: exact resume, NaN stop with the last good checkpoint kept, weight-decay groups,
keep-best and patience."""

import json

import pytest
import torch
from safetensors.torch import load_file

from einformer import EncoderDecoderConfig, EncoderDecoderTransformer
from einformer.data.batches import Seq2SeqBatches
from einformer.training import Trainer, TrainingArguments, TrainingDiverged
from einformer.training.trainer import parameter_groups


def toy_data(n=64):
    g = torch.Generator().manual_seed(0)
    examples = []
    for _ in range(n):
        src = torch.randint(4, 20, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist()
        examples.append((src, [t + 2 for t in src[::-1]]))  # reverse and shift: a learnable mapping
    return examples


def model(dropout=0.1):
    return EncoderDecoderTransformer(
        EncoderDecoderConfig.from_preset("tiny", src_vocab_size=20, tgt_vocab_size=24, dropout=dropout)
    )


def args(**kw):
    base = dict(
        max_steps=12,
        batch_size=8,
        learning_rate=3e-3,
        warmup_steps=3,
        schedule="cosine",
        log_every=1,
        save_every=4,
        eval_every=4,
        progress=False,
    )
    return TrainingArguments(**{**base, **kw})


class Interrupt(Exception):
    pass


class StopAt(Seq2SeqBatches):
    """Batches that raise at index ``stop``: a run killed mid-way."""

    def __init__(self, examples, batch_size, stop):
        super().__init__(examples, batch_size)
        self.stop = stop

    def get(self, index):
        if index == self.stop:
            raise Interrupt
        return super().get(index)


def losses(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(x["step"], x["loss"]) for x in lines if "loss" in x]


def test_resume_reproduces_the_uninterrupted_loss_sequence(tmp_path):
    data = toy_data()
    torch.manual_seed(0)
    Trainer(model(), args(), Seq2SeqBatches(data, 8), run_dir=tmp_path / "a").train()
    torch.manual_seed(0)
    with pytest.raises(Interrupt):  # killed during step 10; the last checkpoint is step 8
        Trainer(model(), args(), StopAt(data, 8, stop=9), run_dir=tmp_path / "b").train()
    torch.manual_seed(123)  # a different process state: everything must come from the checkpoint
    Trainer(model(), args(), Seq2SeqBatches(data, 8), run_dir=tmp_path / "b").train(resume=True)
    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert [s for s, _ in b] == list(range(1, 13))
    assert a == b  # exactly equal, float for float
    for name in ("model.safetensors", "last/model.safetensors"):
        wa, wb = load_file(tmp_path / "a" / name), load_file(tmp_path / "b" / name)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_second_run_in_the_same_directory_is_refused(tmp_path):
    Trainer(model(), args(max_steps=4), Seq2SeqBatches(toy_data(), 8), run_dir=tmp_path).train()
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        Trainer(model(), args(max_steps=4), Seq2SeqBatches(toy_data(), 8), run_dir=tmp_path).train()
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        Trainer(model(), args(), Seq2SeqBatches(toy_data(), 8), run_dir=tmp_path / "new").train(resume=True)


class PoisonAt(Seq2SeqBatches):
    """From batch ``index`` on, the model's logits become NaN (a diverging run)."""

    def __init__(self, examples, batch_size, net, index):
        super().__init__(examples, batch_size)
        self.net, self.index = net, index

    def get(self, index):
        if index == self.index:
            self.net.lm_head.register_forward_hook(lambda module, inputs, out: out * float("nan"))
        return super().get(index)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    net = model()
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 7.*last good checkpoint \(step 4\)"):
        Trainer(net, args(), PoisonAt(toy_data(), 8, net, index=6), run_dir=tmp_path).train()
    state = torch.load(tmp_path / "last" / "training_state.pt", weights_only=True)
    assert state["step"] == 4
    saved = EncoderDecoderTransformer.from_pretrained(tmp_path / "last")
    assert all(torch.isfinite(p).all() for p in saved.parameters())


def test_no_weight_decay_on_norms_biases_and_embeddings():
    net = model()
    decay, no_decay = parameter_groups(net, 0.1)
    names = {id(p): n for n, p in net.named_parameters()}
    assert all(".weight" in names[id(p)] and "norm" not in names[id(p)] for p in decay["params"])
    assert all("embed" not in names[id(p)] for p in decay["params"])
    assert id(net.src_embed.weight) in {id(p) for p in no_decay["params"]}
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.1
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(net.parameters()))


def test_keep_best_and_patience(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.6, 0.6, 0.9])

    def evaluate(model):
        return {"accuracy": next(scores)}

    result = Trainer(
        model(),
        args(max_steps=40, eval_every=2, save_every=2, metric="accuracy", greater_is_better=True, patience=3),
        Seq2SeqBatches(toy_data(), 8),
        run_dir=tmp_path,
        evaluate=evaluate,
    ).train()
    assert result.stopped_early and result.step == 10  # 0.7 at step 4, then 3 evaluations without improvement
    assert result.best_metric == 0.7 and result.best_step == 4
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000


def test_fp16_on_cpu_is_refused_and_bf16_runs(tmp_path):
    with pytest.raises(ValueError, match="fp16' needs a CUDA device"):
        Trainer(model(), args(precision="fp16"), Seq2SeqBatches(toy_data(), 8), run_dir=tmp_path)
    result = Trainer(
        model(), args(max_steps=3, precision="bf16"), Seq2SeqBatches(toy_data(), 8), run_dir=tmp_path / "bf16"
    ).train()
    assert result.step == 3


def test_batches_are_a_function_of_the_index():
    data = toy_data()
    a, b = Seq2SeqBatches(data, 8, seed=1), Seq2SeqBatches(data, 8, seed=1)
    for i in (0, 5, 17, 3):  # any order of access gives the same batch
        assert all(torch.equal(a.get(i)[k], b.get(i)[k]) for k in a.get(i))
    epoch0 = torch.cat([a.get(i)["input_ids"][:, 0] for i in range(len(a))])
    assert len(epoch0) == 64
