"""Language modelling: train a causal language model (GPT) or one with memory (Transformer-XL) on a
text file, evaluate bits per character (generation: ``einformer.inference``).

A run directory (``einformer.training.run_dir``) holds the trainer's files plus ``tokenizer.json``
and run.json (a ``LanguageModelRunInfo``: the data file, tokenizer level, block size, and the
train/validation split point).
A GPT reads random (or contiguous) blocks; a Transformer-XL reads the text as ``batch_size``
contiguous streams, segment after segment, carrying its memory (``StreamBatches``), and is evaluated
the same way, with a memory that may be longer than in training.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import registry
from ..auto import load
from ..data import chunks
from ..data.gpt2_tokenizer import load_lm_tokenizer
from ..data.text import LMBatches, StreamBatches, TokenBlocks, read_text
from ..data.tokenizer import Tokenizer
from ..generation.kinds import CausalLM, MemoryLM
from ..inference import TextGenerator, sampling_by_default
from ..models.base import load_generation_config
from ..registry import CAUSAL_LM, LANGUAGE_MODEL, Tokenizers
from ..training import Trainer, TrainingArguments, TrainResult
from ..training.distributed import DistInfo
from ..training.run_dir import check_start, prepare, resume_config
from ..training.run_info import LanguageModelRunInfo, absolute
from ..training.run_lock import exclusive
from .lm_start import check_vocabulary, encode_documents, pretrained_causal_lm, reused_tokenizer


class LMRun(TextGenerator):
    """A language model with its tokenizer (``TextGenerator``: generate) and what its run adds: its
    validation text, bits per character."""

    def validation_text(self) -> str:
        """The held-out end of the run's own text file."""
        if self.info is None:
            raise ValueError("this is a model directory, not a training run: pass the text with --data FILE")
        return read_text(self.info.data)[self.info.split_char :]

    def evaluate(
        self,
        text: str,
        *,
        block_size: int | None = None,
        max_blocks: int | None = None,
        mem_len: int | None = None,
        segment_length: int | None = None,
    ) -> dict:
        """Loss, perplexity and bits per character of ``text``: a causal LM (GPT) over non-overlapping
        blocks, a memory LM (Transformer-XL) over one stream with memory (``mem_len``/``segment_length``
        default to training's)."""
        if isinstance(self.model, MemoryLM):
            c = self.model.config
            backend = getattr(self.tokenizer, "backend", None)  # a Hugging Face word vocabulary has none
            ids = (  # streamed when a `tokenizers` backend can cut the text; a word vocabulary's ids whole
                TextSegments(backend, text, segment_length or c.segment_length)
                if backend is not None
                else self.tokenizer.encode_array(text)
            )
            return evaluate_stream(
                self.model,
                ids,
                segment_length or c.segment_length,
                mem_len=mem_len or c.mem_len,
                chars=len(text),
                max_segments=max_blocks,
            )
        block_size = block_size or (self.info.block_size if self.info else self.model.config.max_position)
        blocks = TokenBlocks(self.tokenizer.backend, text, block_size)  # streamed: one piece of ids at a time
        return evaluate_lm(self.model, blocks, block_size, chars=len(text), max_blocks=max_blocks)


@torch.no_grad()
def evaluate_stream(
    model: MemoryLM,
    ids: torch.Tensor | TextSegments,
    segment_length: int,
    *,
    mem_len: int | None = None,
    batch_size: int = 1,
    chars: int | None = None,
    max_segments: int | None = None,
) -> dict:
    """A Transformer-XL's loss per token over ``batch_size`` streams read segment after segment with
    memory (one stream by default: every token but the first is predicted with all the context the
    memory holds), perplexity, and bits per character."""
    was_training = model.training
    model.eval()
    if isinstance(ids, torch.Tensor):
        batches = StreamBatches(ids, batch_size, segment_length)
        segments = (batches.get(i) for i in range(len(batches)))
    else:  # a TextSegments: one stream, encoded piece by piece as it is read
        segments = iter(ids)
    total, count, mems = 0.0, 0, None
    for batch in itertools.islice(segments, max_segments or None):
        out = model(batch["input_ids"], mems=mems, labels=batch["labels"], mem_len=mem_len)
        mems = out.mems
        total += float(out.loss) * batch["labels"].numel()
        count += batch["labels"].numel()
    model.train(was_training)
    n_tokens = len(ids) if isinstance(ids, torch.Tensor) else ids.finish()
    if count == 0:
        raise ValueError(f"the evaluation text has {n_tokens} tokens: too few for one segment")
    return _lm_metrics(total / count, n_tokens, chars)


class TextSegments:
    """One stream's segments of a text, as ``StreamBatches(ids, 1, segment_length)`` gives them
    ({input_ids, labels}, each (1, <= segment_length), labels the next tokens), encoded piece by piece
    (``chunks.spans``) as they are read: evaluation holds one piece and one segment, never the text's
    ids. ``finish`` reads (counts) the rest; the total number of ids."""

    def __init__(self, backend, text: str, segment_length: int, *, chunk: int = chunks.CHUNK) -> None:
        self.backend, self.text, self.segment, self.n_tokens = backend, text, segment_length, 0
        self._spans = chunks.spans(backend, text, chunk)

    def _pieces(self):
        for start, end in self._spans:
            ids = torch.tensor(
                self.backend.encode(self.text[start:end], add_special_tokens=False).ids, dtype=torch.long
            )
            self.n_tokens += len(ids)
            yield ids

    def __iter__(self):
        buffer = torch.zeros(0, dtype=torch.long)
        for ids in self._pieces():
            buffer = torch.cat([buffer, ids])
            while len(buffer) > self.segment:  # a whole segment and the label of its last token
                yield {"input_ids": buffer[None, : self.segment], "labels": buffer[None, 1 : self.segment + 1]}
                buffer = buffer[self.segment :].clone()
        if len(buffer) >= 2:  # the last, shorter segment
            yield {"input_ids": buffer[None, :-1], "labels": buffer[None, 1:]}

    def finish(self) -> int:
        for _ in self._pieces():
            pass
        return self.n_tokens


@torch.no_grad()
def evaluate_lm(
    model: CausalLM,
    ids: torch.Tensor | TokenBlocks,
    block_size: int,
    *,
    chars: int | None = None,
    max_blocks: int | None = None,
    batch_size: int = 32,
) -> dict:
    """Loss per token over non-overlapping blocks, perplexity, and bits per character; ``ids`` is the
    (N,) ids or a ``TokenBlocks`` that encodes the text as the blocks are read."""
    was_training = model.training
    model.eval()
    if isinstance(ids, torch.Tensor):
        blocks = iter(ids[: len(ids) // block_size * block_size].view(-1, block_size))
    else:
        blocks = iter(ids)
    total, count, n = 0.0, 0, 0
    while not max_blocks or n < max_blocks:
        size = batch_size if not max_blocks else min(batch_size, max_blocks - n)
        rows = [row for _, row in zip(range(size), blocks, strict=False)]
        if not rows:
            break
        rows = torch.stack(rows).long()  # (b, block_size)
        logits = model(rows).logits[:, :-1]
        total += float(F.cross_entropy(logits.flatten(0, 1).float(), rows[:, 1:].flatten(), reduction="sum"))
        count += rows[:, 1:].numel()
        n += len(rows)
    model.train(was_training)
    n_tokens = len(ids) if isinstance(ids, torch.Tensor) else ids.finish()
    if n == 0:
        raise ValueError(f"the evaluation text has {n_tokens} tokens, fewer than one block of {block_size}")
    return _lm_metrics(total / count, n_tokens, chars)


def _lm_metrics(loss: float, n_tokens: int, chars: int | None) -> dict:
    metrics = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
    if chars:  # tokens per character of the evaluated stretch
        metrics["bits_per_char"] = loss / math.log(2) * (n_tokens / chars)
    return metrics


@exclusive
def train_lm(
    run_dir: str | Path,
    *,
    data: str,
    architecture: str = "gpt",
    tokenizer: str = "char",
    vocab_size: int = 4096,
    preset: str | None = None,
    model_overrides: dict | None = None,
    block_size: int = 256,
    sampling: str = "random",
    mem_len: int | None = None,
    segment_length: int | None = None,
    val_fraction: float = 0.1,
    eval_blocks: int | None = 200,
    init_from: str | None = None,
    tokenizer_from: str | None = None,
    documents: str = "file",
    args: TrainingArguments | None = None,
    resume: bool = False,
    device: str = "cpu",
    dist_info: DistInfo | None = None,
    fsdp: bool = False,
):
    """Train a language model (``architecture``: a family the registry trains with this recipe, e.g.
    "gpt" or "transformer-xl") on ``data``: the first (1 - val_fraction) of the characters train, the
    rest validate. ``block_size`` is a causal LM's context; ``segment_length`` and ``mem_len`` are a
    memory LM's (default: the preset's).

    ``init_from``: fine-tune a pretrained causal LM (its weights, sizes and tokenizer; validation is
    evaluated before the first step too). ``tokenizer_from``: a fresh model on another directory's
    tokenizer. ``documents``: how the text splits into documents, EOS between them (``lm_start``).
    """
    family = _family(architecture)
    config_class, model_class = family.config_class, family.model_for(CAUSAL_LM)
    memory = issubclass(model_class, MemoryLM)  # read as streams, segment after segment, with memory
    if init_from and (not issubclass(model_class, CausalLM) or tokenizer_from):
        causal = " or ".join(registry.names(CausalLM))
        raise ValueError(
            f"--init-from starts a causal LM ({causal}) from its own checkpoint and tokenizer: use --model {causal} "
            "without --tokenizer-from"
        )
    run_dir, args, dist_info = Path(run_dir), args or TrainingArguments(), dist_info or DistInfo()
    inputs = (data, init_from, tokenizer_from)  # files a fresh run's directory may already hold
    check_start(run_dir, resume=resume, inputs=inputs)  # before any work: a refused run writes nothing
    text = read_text(data)
    split = int(len(text) * (1 - val_fraction))
    train_text, val_text = text[:split], text[split:]
    del text  # the two parts are copies: memory holds the text once
    pretrained = None
    if resume:
        tok = load_lm_tokenizer(run_dir)
        config = resume_config(run_dir, config_class, model_overrides)
    elif init_from:
        pretrained, tok = pretrained_causal_lm(init_from, model_overrides)
        config = pretrained.config
        if registry.of(pretrained) is not family:
            other = registry.of(pretrained)
            raise ValueError(
                f"--init-from {init_from} holds a {other.name} model; fine-tune it with "
                f"--model {registry.train_name(other)}"
            )
        if block_size > config.max_position:
            raise ValueError(f"--block-size {block_size} exceeds {init_from}'s context of {config.max_position}")
    else:
        if tokenizer_from:
            tok = reused_tokenizer(tokenizer_from)
        else:
            tok = Tokenizer.train([train_text], {"bpe": "bytebpe"}.get(tokenizer, tokenizer), vocab_size=vocab_size)
        lengths = {k: v for k, v in (("mem_len", mem_len), ("segment_length", segment_length)) if v is not None}
        config = config_class.from_preset(
            preset or "small",
            vocab_size=tok.vocab_size,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.eos_token_id if tok.pad_token_id is None else tok.pad_token_id,  # GPT-2's: its EOS
            **{**(lengths if memory else {"max_position": block_size}), **(model_overrides or {})},
        )
    check_vocabulary(tok, config.vocab_size, str(run_dir))
    # chunk by chunk, EOS between documents
    ids_dtype = torch.int16 if config.vocab_size <= torch.iinfo(torch.int16).max else torch.int32  # 2 bytes a token
    train_ids, val_ids = (encode_documents(tok, part, documents, ids_dtype) for part in (train_text, val_text))
    del train_text  # its ids are what training reads
    info = LanguageModelRunInfo(
        model=architecture,
        data=absolute(data),
        tokenizer="pretrained" if init_from or tokenizer_from else tokenizer,
        block_size=config.segment_length if memory else block_size,
        split_char=split,
        val_fraction=val_fraction,
        sampling=sampling,
        init_from=absolute(init_from) if init_from else None,
        tokenizer_from=absolute(tokenizer_from) if tokenizer_from else None,
        documents=documents,
        preset=preset if resume or init_from else preset or "small",  # on resume: compared when given
    )
    prepare(
        run_dir,
        info,
        lambda d: family.save_tokenizers(Tokenizers(tok), d),
        resume=resume,
        dist_info=dist_info,
        inputs=inputs,
    )
    torch.manual_seed(args.seed)  # the same initial weights for the same seed, on every rank
    model = pretrained if pretrained is not None else model_class(config)
    if resume:  # the run's own file (edited or not) stays what it says
        load_generation_config(model, run_dir)
    model.generation_config = sampling_by_default(model.generation_config)  # generate samples unless it says otherwise
    # bits per character of the evaluated part: scale by its own token/char ratio
    eval_chars = len(val_text) if not eval_blocks else None

    def evaluate(m):
        if memory:
            # 8 streams at once while training (the final figure: `einformer evaluate`, one stream)
            segments = eval_blocks and max(1, eval_blocks * block_size // (8 * config.segment_length))
            metrics = evaluate_stream(
                m, val_ids, config.segment_length, batch_size=8, chars=eval_chars, max_segments=segments
            )
        else:
            metrics = evaluate_lm(m, val_ids, block_size, chars=eval_chars, max_blocks=eval_blocks)
        if "bits_per_char" not in metrics:
            metrics["bits_per_char"] = metrics["loss"] / math.log(2) * (len(val_ids) / len(val_text))
        return metrics

    if memory:
        batches = StreamBatches(
            train_ids, args.batch_size, config.segment_length, rank=dist_info.rank, world_size=dist_info.world_size
        )
    else:
        batches = LMBatches(
            train_ids,
            block_size,
            args.batch_size,
            sampling=sampling,
            seed=args.seed,
            rank=dist_info.rank,
            world_size=dist_info.world_size,
        )
    result: TrainResult = Trainer(
        model,
        dataclasses.replace(args, metric="loss", greater_is_better=False),
        batches,
        run_dir=run_dir,
        evaluate=evaluate,
        device=device,
        dist_info=dist_info,
        fsdp=fsdp,
        evaluate_first=pretrained is not None,
    ).train(resume=resume)
    return result, load_lm_run(run_dir) if dist_info.is_main else None


def load_lm_run(path: str | Path) -> LMRun:
    """A language model (a run, an einformer model directory, a Hugging Face GPT-2) with its tokenizer."""
    return LMRun.from_loaded(load(path))


def _family(architecture: str) -> registry.Family:
    """The registry's record of ``architecture``, which must be trained by this recipe."""
    trained = [f.name for f in registry.families() if f.recipe == LANGUAGE_MODEL]
    if architecture not in trained:
        raise ValueError(f"architecture must be one of {sorted(trained)}, got {architecture!r}")
    return registry.get(architecture)
