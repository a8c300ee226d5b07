"""Fine-tune an encoder (BERT, RoBERTa, XLM-R, DistilBERT, ELECTRA; Hugging Face's or ours) on a task's
records (JSONL, CSV, TSV, Parquet or a ``datasets`` directory: ``einformer.data.finetune``); evaluate;
predict. Without validation records, a seeded ``VAL_FRACTION`` of the training records is held out.

A run directory (``einformer.training.run_dir``) holds the trainer's files (the fine-tuned model in
einformer's format), the tokenizer (tokenizer.json) and run.json (a ``FinetuneRunInfo``: task,
labels, max_length, the columns named for the data). Predicting or evaluating on a file reads the
run's columns unless others are named; a resumed run reads its own unless the command names some,
which must then be the run's.
"""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import torch

from .. import registry
from ..auto import Loaded, family_of, load, resolve
from ..data.finetune import FinetuneBatches, check_split, collate_examples, encode_records, label_list, read_records
from ..data.tables import dataset_splits
from ..data.tokenization_fast import PreTrainedTokenizerFast
from ..training import Trainer, TrainingArguments
from ..training.distributed import DistInfo
from ..training.run_dir import LAST, check_start, prepare
from ..training.run_info import FinetuneRunInfo, absolute, read_info
from ..training.run_lock import exclusive

VAL_FRACTION = 0.1  # of the training records held out for validation when none are given (at least one)
PREDICT_SPLITS = ("test", "validation")  # a DatasetDict's split that predict reads, the first it holds
EVALUATE_SPLITS = ("validation", "test")
METRIC = {"classify": "accuracy", "regress": "mse", "tag": "f1", "qa": "exact_match", "choice": "accuracy"}


def encoder_families() -> list[str]:
    """The families `einformer finetune` fine-tunes: the encoders (BERT, RoBERTa, ...), which generate nothing."""
    return [f.name for f in registry.families() if f.kind is None and registry.BASE in f.models]


@dataclasses.dataclass
class FinetuneRun:
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerFast
    info: FinetuneRunInfo

    @classmethod
    def from_loaded(cls, loaded: Loaded, command: str = "this command") -> FinetuneRun:
        loaded.expect(command, *encoder_families(), run_kind=FinetuneRunInfo.kind)
        return cls(loaded.model, loaded.require_tokenizer(command), loaded.run)

    @torch.no_grad()
    def predict_batch(self, examples: list[dict]) -> list:
        """Predictions for encoded examples: labels, numbers, tag lists, answer token spans, choice indices."""
        task, labels = self.info.task, self.info.labels
        batch = collate_examples(examples, task, self.tokenizer.pad_token_id)
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        out = self.model.eval()(**inputs)
        if task == "classify":
            return [labels[i] for i in out.logits.argmax(-1).tolist()]
        if task == "regress":
            return out.logits.squeeze(-1).tolist()
        if task == "choice":
            return out.logits.argmax(-1).tolist()
        if task == "tag":
            pred = out.logits.argmax(-1)
            return [
                [labels[p] for p, g in zip(prow, grow, strict=True) if g != -100]
                for prow, grow in zip(pred.tolist(), batch["labels"].tolist(), strict=True)
            ]
        spans = []
        for s_logits, e_logits, mask in zip(out.start_logits, out.end_logits, inputs["attention_mask"], strict=True):
            s_logits, e_logits = s_logits.masked_fill(mask == 0, -1e9), e_logits.masked_fill(mask == 0, -1e9)
            scores = s_logits[:, None] + e_logits[None, :]  # (T, T): best start <= end within 30 tokens
            valid = torch.ones_like(scores, dtype=torch.bool).triu().tril(30)
            best = int(scores.masked_fill(~valid, -1e18).argmax())
            spans.append(divmod(best, scores.shape[1]))
        return spans


def predict(
    run: FinetuneRun,
    *,
    texts: list[str] | None = None,
    records: str | None = None,
    batch_size: int = 64,
    columns: dict | None = None,
    split: str | None = None,
):
    """Predictions for raw ``texts`` (classify and regress) or for the ``records`` file of the run's task
    (``columns``: as ``read_records`` takes them). Records need no gold labels (any they hold are not
    read); ``split``: a DatasetDict's, by default its test split, else its validation split."""
    task, info = run.info.task, run.info
    if records is not None:
        check_split(records, split)
        rows = read_records(
            records, task, columns=run_columns(info, columns), split=split or PREDICT_SPLITS, gold=False
        )
        examples = encode_records(rows, task, run.tokenizer, info.labels, info.max_length)
    else:
        if task not in ("classify", "regress"):
            raise ValueError(f"a {task} run reads records: pass --data FILE")
        if not texts:
            raise ValueError("nothing to predict: give TEXT arguments or lines on standard input")
        examples = [{**run.tokenizer(t, truncation=True, max_length=info.max_length), "labels": 0} for t in texts]
    out = []
    for i in range(0, len(examples), batch_size):
        out += run.predict_batch(examples[i : i + batch_size])
    return out


def evaluate_file(run: FinetuneRun, records: str, columns: dict | None = None, split: str | None = None) -> dict:
    """The task's metrics on the ``records`` file (``split``: a DatasetDict's, by default its validation
    split, else its test split)."""
    task, info = run.info.task, run.info
    check_split(records, split)
    rows = read_records(records, task, columns=run_columns(info, columns), split=split or EVALUATE_SPLITS)
    return evaluate_examples(run, encode_records(rows, task, run.tokenizer, info.labels, info.max_length))


def named_columns(columns: dict | None) -> dict:
    """The columns named (option -> column), without the options left to the usual names."""
    return {option: name for option, name in (columns or {}).items() if name is not None}


def run_columns(info: FinetuneRunInfo, columns: dict | None) -> dict:
    """The columns the run was trained with (run.json), under those named now."""
    return {**(info.columns or {}), **named_columns(columns)}


def evaluate_examples(run: FinetuneRun, examples: list[dict], batch_size: int = 64) -> dict:
    task = run.info.task
    preds = []
    for i in range(0, len(examples), batch_size):
        preds += run.predict_batch(examples[i : i + batch_size])
    if task in ("classify", "choice"):
        gold = [run.info.labels[e["labels"]] if task == "classify" else e["labels"] for e in examples]
        metrics = {"accuracy": sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold)}
        if task == "classify":
            metrics["macro_f1"] = _macro_f1(preds, gold)
        return metrics
    if task == "regress":
        gold = [e["labels"] for e in examples]
        mse = sum((p - g) ** 2 for p, g in zip(preds, gold, strict=True)) / len(gold)
        return {"mse": mse, "pearson": _pearson(preds, gold)}
    if task == "tag":
        labels = run.info.labels
        gold = [[labels[g] for g in e["labels"] if g != -100] for e in examples]
        flat = [(p, g) for ps, gs in zip(preds, gold, strict=True) for p, g in zip(ps, gs, strict=True)]
        return {"accuracy": sum(p == g for p, g in flat) / max(1, len(flat)), "f1": _entity_f1(preds, gold)}
    gold = [(e["start_positions"], e["end_positions"]) for e in examples]
    f1 = [_span_f1(p, g) for p, g in zip(preds, gold, strict=True)]
    return {"exact_match": sum(p == g for p, g in zip(preds, gold, strict=True)) / len(gold), "f1": sum(f1) / len(f1)}


@exclusive
def finetune(
    run_dir: str | Path,
    *,
    model_dir: str | Path,
    task: str,
    data: str,
    val: str | None = None,
    args: TrainingArguments | None = None,
    max_length: int = 128,
    resume: bool = False,
    device: str = "cpu",
    dist_info: DistInfo | None = None,
    columns: dict | None = None,
    split: str | None = None,
    val_split: str | None = None,
):
    """Fine-tune ``model_dir`` on ``data``, keep the best by the task's metric on ``val`` (None: a
    seeded ``VAL_FRACTION`` of ``data``, announced); ``resume`` continues the run in ``run_dir`` from its
    last checkpoint. ``columns``: the columns that hold the task's fields (``read_records``); ``split``
    and ``val_split``: the splits of a DatasetDict directory (``val_split`` by default its validation
    split where it has one, read from ``val`` or else from ``data``)."""
    run_dir, args, dist_info = Path(run_dir), args or TrainingArguments(), dist_info or DistInfo()
    check_start(run_dir, resume=resume, inputs=(data, val))  # before any work: a refused run writes nothing
    columns = named_columns(columns)
    saved = read_info(run_dir) if resume else None  # the run being resumed
    if saved is not None:  # the run's own columns, under those named now, which must be the run's
        recorded = saved.columns  # None: an older run, which recorded none
        columns = {**(recorded or {}), **columns}
        if recorded is not None and columns != recorded:
            raise ValueError(
                f"--resume continues the job saved in {run_dir}, but this command names other columns (columns: "
                f"{recorded!r} -> {columns!r}). Resume without the column flags, or train into a new --run-dir"
            )
    check_split(data, split)
    check_split(val or data, val_split, "--val-split")
    if saved is not None:  # a split not named now is the run's own (run.json), as the columns are
        split = split or saved.split
        val_split = val_split or (saved.val_split if val is None or val == data else None)
    train_records = read_records(data, task, columns=columns, split=split or "train")  # the data first
    data_splits = dataset_splits(data)  # [] unless a DatasetDict
    if val is None and (val_split is not None or "validation" in data_splits):  # a DatasetDict's own
        val = data
    if val is not None:
        val_records = read_records(val, task, columns=columns, split=val_split or "validation")
    else:
        train_records, val_records = hold_out(train_records, args.seed)
        if dist_info.is_main:
            print(
                f"no --val: {len(val_records)} of the {len(train_records) + len(val_records)} records of {data} held "
                f"out for validation ({VAL_FRACTION:.0%}, seed {args.seed}); training on {len(train_records)}",
                flush=True,
            )
    model_dir = resolve(model_dir)  # a directory, or "minilm"
    info = FinetuneRunInfo(
        task=task,
        labels=None,
        max_length=max_length,
        base_model=absolute(model_dir),
        data=absolute(data),
        val=absolute(val),
        columns=columns,
        split=(split or "train") if data_splits else None,  # recorded, and compared on --resume
        val_split=(val_split or "validation") if val is not None and dataset_splits(val) else None,
    )
    if resume:
        info.labels = saved.labels  # the classes of the run being resumed
        model_source, changes = run_dir / LAST, {}
    else:
        # a held-out split may take a class's only examples: then the classes are all the records'
        everything = train_records + val_records if val is None else train_records
        info.labels = label_list(everything, task, validation=val_records)
        model_source = model_dir
        changes = {"num_labels": len(info.labels), "label_names": tuple(map(str, info.labels))} if info.labels else {}
        if task == "regress":
            changes = {"num_labels": 1, "problem_type": "regression"}
    family = family_of(model_source)
    tokenizer = family.read_tokenizers(run_dir if resume else model_dir, True).tokenizer
    if tokenizer is None:
        raise ValueError(f"{model_dir} has no tokenizer einformer reads; save the model's tokenizer there")
    torch.manual_seed(args.seed)
    model = family.model_for(registry.FINETUNE_TASKS[task]).from_pretrained(model_source, **changes).train()
    train_ex = encode_records(train_records, task, tokenizer, info.labels, max_length)
    val_ex = encode_records(val_records, task, tokenizer, info.labels, max_length)
    run = FinetuneRun(model, tokenizer, info)
    prepare(run_dir, info, tokenizer.save_pretrained, resume=resume, dist_info=dist_info, inputs=(data, val))
    metric = METRIC[task]
    args = dataclasses.replace(args, metric=metric, greater_is_better=metric != "mse")
    batches = FinetuneBatches(
        train_ex,
        task,
        tokenizer.pad_token_id,
        args.batch_size,
        seed=args.seed,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
    )
    result = Trainer(
        model,
        args,
        batches,
        run_dir=run_dir,
        evaluate=lambda m: evaluate_examples(run, val_ex),
        device=device,
        dist_info=dist_info,
    ).train(resume=resume)
    return result, load_finetune_run(run_dir) if dist_info.is_main else None


def hold_out(records: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """(training, validation): a seeded ``VAL_FRACTION`` of ``records`` (at least one) for validation,
    each part in the file's order."""
    if len(records) < 2:
        raise ValueError(f"{len(records)} training record: too few to hold one out for validation; pass --val")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    held = set(order[: max(1, round(len(records) * VAL_FRACTION))])
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]


def load_finetune_run(run_dir: str | Path) -> FinetuneRun:
    return FinetuneRun.from_loaded(load(run_dir))


def _macro_f1(preds, gold) -> float:
    scores = []
    for label in set(gold):
        tp = sum(p == g == label for p, g in zip(preds, gold, strict=True))
        fp = sum(p == label != g for p, g in zip(preds, gold, strict=True))
        fn = sum(g == label != p for p, g in zip(preds, gold, strict=True))
        scores.append(2 * tp / max(1, 2 * tp + fp + fn))
    return sum(scores) / len(scores)


def _pearson(a, b) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb) if va and vb else 0.0


def _entities(tags: list[str]) -> set[tuple[int, int, str]]:
    """(start, end, type) spans of BIO tags; a plain tag set counts each non-O tag as its own entity."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and kind == tag[2:]
        if start is not None and not inside:
            spans.add((start, i, kind))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and not inside):
            start, kind = i, tag[2:]
        elif tag != "O" and not tag.startswith(("B-", "I-")):
            spans.add((i, i + 1, tag))
    return spans


def _entity_f1(preds, gold) -> float:
    tp = fp = fn = 0
    for p, g in zip(preds, gold, strict=True):
        ps, gs = _entities(p), _entities(g)
        tp, fp, fn = tp + len(ps & gs), fp + len(ps - gs), fn + len(gs - ps)
    return 2 * tp / max(1, 2 * tp + fp + fn)


def _span_f1(pred, gold) -> float:
    p, g = set(range(pred[0], pred[1] + 1)), set(range(gold[0], gold[1] + 1))
    overlap = len(p & g)
    return 0.0 if not overlap else 2 * overlap / (len(p) + len(g))
