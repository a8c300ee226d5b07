"""Sequence-to-sequence jobs: train an encoder-decoder on a built-in task or the user's pairs,
then translate and evaluate with the saved run.

A run directory (``einformer.training.run_dir``) holds the trainer's files plus
``source_tokenizer.json``, ``target_tokenizer.json`` and run.json (a ``Seq2SeqRunInfo``: the task
or data files, tokenizer levels, and the metric), which is everything ``load_run`` needs.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import registry
from ..auto import load
from ..data.batches import Seq2SeqBatches, collate
from ..data.pairs import read_pairs
from ..data.tasks import get_task
from ..data.tokenizer import Tokenizer
from ..families.common import SOURCE_TOKENIZER, TARGET_TOKENIZER
from ..inference import Translator
from ..registry import SEQ2SEQ, SEQ2SEQ_LM, Tokenizers
from ..training import Trainer, TrainingArguments, TrainResult
from ..training.distributed import DistInfo
from ..training.run_dir import check_start, prepare, resume_config
from ..training.run_info import Seq2SeqRunInfo, absolute
from ..training.run_lock import exclusive


class Seq2SeqRun(Translator):
    """A trained run: its ``Translator`` (translate) and what the run adds: its test pairs, evaluation."""

    def test_pairs(self) -> list[tuple[str, str]]:
        """The held-out test pairs of a run on a built-in task, drawn again from its run.json."""
        info = self.info
        if not info.task:
            raise ValueError("this run was trained on your own data: pass the test pairs with --data FILE")
        lengths = {
            k: tuple(v) if v else None
            for k, v in (("train_lengths", info.train_lengths), ("test_lengths", info.test_lengths))
        }
        return load_data(
            task=info.task, data=None, n_train=0, n_val=info.n_val, n_test=info.n_test, seed=info.seed, **lengths
        )[2]

    def evaluate(self, pairs: list[tuple[str, str]], *, num_beams: int = 1, batch_size: int = 128) -> dict:
        """Exact match, token-level validation loss, and BLEU for translation data."""
        hypotheses = self.translate([s for s, _ in pairs], num_beams=num_beams, batch_size=batch_size)
        references = [t for _, t in pairs]
        metrics = {"exact_match": sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(pairs)}
        ids = [
            (self.source_tokenizer.encode(s, add_eos=False), self.target_tokenizer.encode(t, add_eos=False))
            for s, t in pairs
        ]
        metrics["loss"] = validation_loss(self.model, ids, batch_size)
        if self.info is None or self.info.metric == "bleu" or self.info.task is None:
            metrics["bleu"] = corpus_bleu(hypotheses, references)
        return metrics


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU through sacrebleu (13a tokenisation), the standard for reporting."""
    try:
        import sacrebleu
    except ImportError:
        raise ImportError("BLEU needs sacrebleu: pip install sacrebleu") from None
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


@torch.no_grad()
def validation_loss(model, ids: list[tuple[list[int], list[int]]], batch_size: int = 128) -> float:
    """Mean cross-entropy per target token (nats), without label smoothing."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    c = model.config
    for i in range(0, len(ids), batch_size):
        batch = collate(ids[i : i + batch_size], eos_id=c.eos_token_id, pad_id=c.pad_token_id)
        logits = model(batch["input_ids"], batch["attention_mask"], labels=batch["labels"]).logits
        labels = batch["labels"]
        total += float(
            F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="sum")
        )
        count += int((labels != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def encode_pairs(
    pairs, source_tokenizer, target_tokenizer, *, max_source: int, max_target: int, on_long: str = "truncate"
) -> list[tuple[list[int], list[int]]]:
    """Tokenise pairs; over-long sides are truncated with one warning, or rejected (on_long="error")."""
    encoded, cut = [], 0
    sources = source_tokenizer.backend.encode_batch([s for s, _ in pairs], add_special_tokens=False)
    targets = target_tokenizer.backend.encode_batch([t for _, t in pairs], add_special_tokens=False)
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        s, t = s.ids, t.ids
        if len(s) > max_source or len(t) > max_target:
            if on_long == "error":
                raise ValueError(
                    f"example {i + 1} is too long ({len(s)} source, {len(t)} target tokens; limits "
                    f"{max_source}, {max_target}); shorten it or use --on-long truncate"
                )
            cut += 1
            s, t = s[:max_source], t[:max_target]
        encoded.append((s, t))
    if cut:
        warnings.warn(
            f"{cut} of {len(pairs)} examples were longer than {max_source} source / {max_target} "
            "target tokens and were truncated",
            stacklevel=2,
        )
    return encoded


def exact_match_evaluator(run: Seq2SeqRun, pairs, *, batch_size: int = 256):
    """Greedy exact match and validation loss on ``pairs``, for the trainer's keep-best."""
    ids = encode_pairs(pairs, run.source_tokenizer, run.target_tokenizer, max_source=10**9, max_target=10**9)

    def evaluate(model) -> dict:
        metrics = {"loss": validation_loss(model, ids, batch_size)}
        if run.info.metric == "exact_match":
            hyps = run.translate([s for s, _ in pairs], num_beams=1, batch_size=batch_size)
            metrics["exact_match"] = sum(h == t for h, (_, t) in zip(hyps, pairs, strict=True)) / len(pairs)
        return metrics

    return evaluate


def load_data(
    *,
    task: str | None,
    data: str | None,
    target_file: str | None = None,
    val: str | None = None,
    val_target_file: str | None = None,
    source_field: str = "source",
    target_field: str = "target",
    n_train: int = 50000,
    n_val: int = 500,
    n_test: int = 1000,
    seed: int = 0,
    train_lengths: tuple[int, int] | None = None,
    test_lengths: tuple[int, int] | None = None,
):
    """(train, val, test pairs, and the ``Seq2SeqRunInfo`` fields that say where they came from)
    from a built-in task or the user's files.

    ``train_lengths`` and ``test_lengths`` override an algorithmic task's length ranges.
    """
    if (task is None) == (data is None):
        raise ValueError("choose exactly one of a built-in --task or your own --data file")
    if task is not None:
        t = get_task(task)
        train_lengths = train_lengths or t.train_lengths
        test_lengths = test_lengths or t.test_lengths
        train, val_pairs, test = t.splits(
            n_train, n_val, n_test, seed=seed, train_lengths=train_lengths, test_lengths=test_lengths
        )
        fields = {
            "task": task,
            "train_lengths": list(train_lengths) if train_lengths else None,
            "test_lengths": list(test_lengths) if test_lengths else None,
            "source_level": t.source_level,
            "target_level": t.target_level,
            "metric": "exact_match",
        }
        return train, val_pairs, test, fields
    pairs = read_pairs(data, target_path=target_file, source_field=source_field, target_field=target_field)
    if val is not None:
        val_pairs = read_pairs(val, target_path=val_target_file, source_field=source_field, target_field=target_field)
    else:  # automatic validation split: a seeded 5% (at most n_val) held out
        order = list(range(len(pairs)))
        random.Random(seed).shuffle(order)
        k = min(n_val, max(1, len(pairs) // 20))
        if len(pairs) < 2:
            raise ValueError(f"{data}: need at least 2 pairs to hold one out for validation, or pass --val")
        val_pairs = [pairs[i] for i in order[:k]]
        pairs = [pairs[i] for i in order[k:]]
    fields = {"data": absolute(data), "target_file": absolute(target_file), "val": absolute(val), "metric": "loss"}
    return pairs, val_pairs, [], fields


@exclusive
def train_seq2seq(
    run_dir: str | Path,
    *,
    task: str | None = None,
    data: str | None = None,
    target_file: str | None = None,
    val: str | None = None,
    val_target_file: str | None = None,
    source_field: str = "source",
    target_field: str = "target",
    tokenizer: str = "bpe",
    vocab_size: int = 8000,
    share_vocab: bool = False,
    architecture: str = "encoder-decoder",
    preset: str | None = None,  # None: "small", or on --resume the run's own
    model_overrides: dict | None = None,
    args: TrainingArguments | None = None,
    train_lengths: tuple[int, int] | None = None,
    test_lengths: tuple[int, int] | None = None,
    n_train: int = 50000,
    n_val: int = 500,
    n_test: int = 1000,
    seed: int = 0,
    on_long: str = "truncate",
    resume: bool = False,
    device: str = "cpu",
    dist_info: DistInfo | None = None,
    fsdp: bool = False,
) -> tuple[TrainResult, Seq2SeqRun | None, list]:
    """Train a sequence-to-sequence model (``architecture``: a family the registry trains with this
    recipe); returns the trainer's result, the best run (rank 0; None on other ranks of a distributed
    run), and the test pairs."""
    family = _family(architecture)
    config_class, model_class = family.config_class, family.model_for(SEQ2SEQ_LM)
    run_dir, args, dist_info = Path(run_dir), args or TrainingArguments(), dist_info or DistInfo()
    inputs = (data, target_file, val, val_target_file)  # files a fresh run's directory may already hold
    check_start(run_dir, resume=resume, inputs=inputs)  # before any work: a refused run writes nothing
    train, val_pairs, test, fields = load_data(
        task=task,
        data=data,
        target_file=target_file,
        val=val,
        val_target_file=val_target_file,
        source_field=source_field,
        target_field=target_field,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        seed=seed,
        train_lengths=train_lengths,
        test_lengths=test_lengths,
    )
    levels = (fields.pop("source_level", tokenizer), fields.pop("target_level", tokenizer))
    if share_vocab and levels[0] != levels[1]:
        raise ValueError(f"--share-vocab needs one tokenizer level for both sides, got {levels}")
    if share_vocab and "share_embeddings" not in {f.name for f in dataclasses.fields(config_class)}:
        raise ValueError(f"--share-vocab needs a model with one embedding for both sides; a {architecture} keeps two")
    if resume:
        src_tok = Tokenizer.load(run_dir / SOURCE_TOKENIZER)
        tgt_tok = Tokenizer.load(run_dir / TARGET_TOKENIZER)
        config = resume_config(run_dir, config_class, model_overrides)
    else:
        overrides = dict(model_overrides or {})
        if share_vocab:  # one joint vocabulary, one embedding for both sides (the paper's setup)
            src_tok = tgt_tok = Tokenizer.train((x for pair in train for x in pair), levels[0], vocab_size=vocab_size)
            overrides["share_embeddings"] = True
        else:
            src_tok = Tokenizer.train((s for s, _ in train), levels[0], vocab_size=vocab_size)
            tgt_tok = Tokenizer.train((t for _, t in train), levels[1], vocab_size=vocab_size)
        config = config_class.from_preset(
            preset or "small", src_vocab_size=src_tok.vocab_size, tgt_vocab_size=tgt_tok.vocab_size, **overrides
        )
    torch.manual_seed(seed)  # the same initial weights for the same seed, on every rank
    model = model_class(config)
    limit = config.max_position - 1
    train_ids = encode_pairs(train, src_tok, tgt_tok, max_source=limit, max_target=limit, on_long=on_long)
    info = Seq2SeqRunInfo(
        **fields,
        preset=preset if resume else preset or "small",  # on resume: compared when given
        source_level=levels[0],
        target_level=levels[1],
        share_vocab=share_vocab,
        seed=seed,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        max_target_tokens=max(len(t) for _, t in train_ids),
    )
    run = Seq2SeqRun(model, src_tok, tgt_tok, info)

    tokenizers = Tokenizers(tgt_tok, src_tok)
    save = lambda d: family.save_tokenizers(tokenizers, d)  # noqa: E731
    prepare(run_dir, info, save, resume=resume, dist_info=dist_info, inputs=inputs)
    greater = info.metric == "exact_match"
    args = dataclasses.replace(args, metric=info.metric if greater else "loss", greater_is_better=greater)
    trainer = Trainer(
        model,
        args,
        Seq2SeqBatches(
            train_ids, args.batch_size, seed=args.seed, rank=dist_info.rank, world_size=dist_info.world_size
        ),
        run_dir=run_dir,
        evaluate=exact_match_evaluator(run, val_pairs),
        device=device,
        dist_info=dist_info,
        fsdp=fsdp,
    )
    result = trainer.train(resume=resume)
    return result, load_run(run_dir) if dist_info.is_main else None, test


def load_run(run_dir: str | Path) -> Seq2SeqRun:
    """The best model of a sequence-to-sequence run directory with its tokenizers and run.json."""
    return Seq2SeqRun.from_loaded(load(run_dir, what="seq2seq run"))


def _family(architecture: str) -> registry.Family:
    """The registry's record of ``architecture``, which must be trained by this recipe."""
    trained = [f.name for f in registry.families() if f.recipe == SEQ2SEQ]
    if architecture not in trained:
        raise ValueError(f"architecture must be one of {trained}, got {architecture!r}")
    return registry.get(architecture)
