"""BERT pre-training on a text file: masked language modelling (+ next-sentence prediction).

Each non-empty line is a segment; the last 5% of lines are held out and scored with a fixed
masking (masked-token loss and accuracy). The run directory holds the model (einformer's format;
``save_pretrained(format="hf")`` exports it), the tokenizer and run.json.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import processors
from tokenizers.implementations import BertWordPieceTokenizer

from .. import registry
from ..data.bert_tokenizer import BertTokenizer, load_tokenizer
from ..data.masking import MLMBatches
from ..data.text import read_text
from ..registry import MASKED_LM, MASKED_LM_PRETRAINING, PRETRAINING, Tokenizers
from ..training import Trainer, TrainingArguments
from ..training.distributed import DistInfo
from ..training.run_dir import check_start, prepare, resume_config
from ..training.run_info import PretrainRunInfo, absolute
from ..training.run_lock import exclusive


def train_wordpiece(lines: list[str], vocab_size: int) -> BertTokenizer:
    """A lower-casing BERT WordPiece tokenizer learned from ``lines`` (Hugging Face ``tokenizers``)."""
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(
        lines, vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    backend = wordpiece._tokenizer
    # trained from scratch, it has no post-processor: add BERT's [CLS] A [SEP] (B [SEP]) with segment ids
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return BertTokenizer(backend)


@torch.no_grad()
def masked_lm_metrics(model, batches: MLMBatches, n_batches: int) -> dict:
    """Held-out masked-token loss and accuracy under fixed masks."""
    was_training = model.training
    model.eval()
    total = correct = count = 0.0
    for i in range(n_batches):
        batch = batches.get(i)
        labels = batch.pop("labels")
        batch.pop("next_sentence_label", None)
        out = model(**batch)
        logits = out.logits if out.logits is not None else out.prediction_logits
        keep = labels != -100
        total += float(F.cross_entropy(logits[keep], labels[keep], reduction="sum"))
        correct += float((logits[keep].argmax(-1) == labels[keep]).sum())
        count += float(keep.sum())
    model.train(was_training)
    return {"loss": total / max(count, 1), "masked_accuracy": correct / max(count, 1)}


@exclusive
def pretrain_bert(
    run_dir: str | Path,
    *,
    data: str,
    architecture: str = "bert",
    preset: str | None = None,  # None: "small", or on --resume the run's own
    model_overrides: dict | None = None,
    vocab_size: int = 8192,
    tokenizer_from: str | None = None,
    max_length: int = 128,
    whole_word: bool = False,
    next_sentence: bool = False,
    args: TrainingArguments | None = None,
    resume: bool = False,
    device: str = "cpu",
    dist_info: DistInfo | None = None,
):
    """Pre-train an encoder (``architecture``: a family the registry trains with this recipe) by masked
    language modelling on ``data``, one segment per line (+ next-sentence prediction)."""
    family = registry.get(architecture)
    if family.recipe != MASKED_LM_PRETRAINING:
        raise ValueError(f"a {architecture} model is not pre-trained by masked language modelling")
    config_class = family.config_class
    model_class = family.model_for(PRETRAINING if next_sentence else MASKED_LM)
    run_dir, args, dist_info = Path(run_dir), args or TrainingArguments(), dist_info or DistInfo()
    check_start(run_dir, resume=resume, inputs=(data, tokenizer_from))  # before any work: nothing written if refused
    lines = [line.strip() for line in read_text(data).splitlines() if line.strip()]
    split = max(1, int(len(lines) * 0.95))
    tok = (
        load_tokenizer(run_dir if resume else tokenizer_from)
        if (resume or tokenizer_from)
        else train_wordpiece(lines[:split], vocab_size)
    )
    ids = [e.ids for e in tok.backend.encode_batch(lines, add_special_tokens=False)]  # [CLS]/[SEP] added per example
    if resume:
        config = resume_config(run_dir, config_class, model_overrides)
    else:
        config = config_class.from_preset(
            preset or "small",
            vocab_size=tok.vocab_size,
            max_position=max(max_length, 64),
            pad_token_id=tok.pad_token_id,
            **(model_overrides or {}),
        )
    torch.manual_seed(args.seed)
    model = model_class(config)
    info = PretrainRunInfo(
        data=absolute(data),
        whole_word=whole_word,
        next_sentence=next_sentence,
        max_length=max_length,
        preset=preset if resume else preset or "small",  # on resume: compared when given
    )
    save = lambda d: family.save_tokenizers(Tokenizers(tok), d)  # noqa: E731
    prepare(run_dir, info, save, resume=resume, dist_info=dist_info, inputs=(data, tokenizer_from))
    options = dict(whole_word=whole_word, next_sentence=next_sentence)
    train = MLMBatches(
        ids[:split],
        tok,
        args.batch_size,
        max_length,
        seed=args.seed,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
        **options,
    )
    held_out = MLMBatches(
        ids[split:] if len(ids) - split >= 2 else ids[-2:], tok, 32, max_length, seed=12345, **options
    )
    n_eval = max(1, min(20, len(ids[split:]) // 32))
    args = dataclasses.replace(args, metric="loss", greater_is_better=False)
    result = Trainer(
        model,
        args,
        train,
        run_dir=run_dir,
        evaluate=lambda m: masked_lm_metrics(m, held_out, n_eval),
        device=device,
        dist_info=dist_info,
    ).train(resume=resume)
    return result
