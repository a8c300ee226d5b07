"""Language modelling: train a GPT or a Transformer-XL on a text file, evaluate bits per character,
generate.

A run directory (``einformer.training.run_dir``) holds the trainer's files plus ``tokenizer.json``
and run.json (a ``LanguageModelRunInfo``: the data file, tokenizer level, block size, and the
train/validation split point).
A GPT reads random (or contiguous) blocks; a Transformer-XL reads the text as ``batch_size``
contiguous streams, segment after segment, carrying its memory (``StreamBatches``), and is evaluated
the same way, with a memory that may be longer than in training.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..auto import Loaded, load
from ..config import GPTConfig, TransformerXLConfig
from ..data.gpt2_tokenizer import load_lm_tokenizer
from ..data.text import LMBatches, StreamBatches, read_text
from ..data.tokenizer import Tokenizer
from ..models.gpt import GPT
from ..models.transformer_xl import TransformerXL
from ..training import Trainer, TrainingArguments, TrainResult
from ..training.distributed import DistInfo
from ..training.run_dir import LanguageModelRunInfo, absolute, check_start, exclusive, prepare, resume_config
from .lm_start import check_vocabulary, encode_documents, pretrained_gpt, reused_tokenizer, save_lm_tokenizer

LANGUAGE_MODELS = {"gpt": (GPTConfig, GPT), "transformer-xl": (TransformerXLConfig, TransformerXL)}


@dataclasses.dataclass
class LMRun:
    model: GPT | TransformerXL
    tokenizer: Tokenizer  # or a GPT2Tokenizer (a GPT-2 directory, or a run fine-tuned from one)
    info: LanguageModelRunInfo | None  # None for a model directory (no training job behind it)

    @classmethod
    def from_loaded(cls, loaded: Loaded, command: str = "this command") -> LMRun:
        loaded.expect(command, *LANGUAGE_MODELS)
        if loaded.run is not None and loaded.run.kind != LanguageModelRunInfo.kind:
            raise ValueError(f"{command} needs a language model; {loaded.path} holds a {loaded.run.kind} run")
        return cls(loaded.model, loaded.require_tokenizer(command), loaded.run)

    def validation_text(self) -> str:
        """The held-out end of the run's own text file."""
        if self.info is None:
            raise ValueError("this is a model directory, not a training run: pass the text with --data FILE")
        return read_text(self.info.data)[self.info.split_char :]

    @property
    def is_xl(self) -> bool:
        return isinstance(self.model, TransformerXL)

    def encode(self, text: str) -> torch.Tensor:
        """(N,) int32 ids, encoded chunk by chunk (``Tokenizer.encode_array``)."""
        return self.tokenizer.encode_array(text)

    def evaluate(
        self,
        text: str,
        *,
        block_size: int | None = None,
        max_blocks: int | None = None,
        mem_len: int | None = None,
        segment_length: int | None = None,
    ) -> dict:
        """Loss, perplexity and bits per character of ``text``: a GPT over non-overlapping blocks, a
        Transformer-XL over one stream with memory (``mem_len``/``segment_length`` default to training's)."""
        ids = self.encode(text)
        if self.is_xl:
            c = self.model.config
            return evaluate_stream(
                self.model,
                ids,
                segment_length or c.segment_length,
                mem_len=mem_len or c.mem_len,
                chars=len(text),
                max_segments=max_blocks,
            )
        block_size = block_size or (self.info.block_size if self.info else self.model.config.max_position)
        return evaluate_lm(self.model, ids, block_size, chars=len(text), max_blocks=max_blocks)


@torch.no_grad()
def evaluate_stream(
    model: TransformerXL,
    ids: torch.Tensor,
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
    batches = StreamBatches(ids, batch_size, segment_length)
    n = len(batches) if not max_segments else min(len(batches), max_segments)
    total, count, mems = 0.0, 0, None
    for i in range(n):
        batch = batches.get(i)
        out = model(batch["input_ids"], mems=mems, labels=batch["labels"], mem_len=mem_len)
        mems = out.mems
        total += float(out.loss) * batch["labels"].numel()
        count += batch["labels"].numel()
    model.train(was_training)
    return _lm_metrics(total / count, ids, chars)


@torch.no_grad()
def evaluate_lm(
    model: GPT,
    ids: torch.Tensor,
    block_size: int,
    *,
    chars: int | None = None,
    max_blocks: int | None = None,
    batch_size: int = 32,
) -> dict:
    """Loss per token over non-overlapping blocks, perplexity, and bits per character."""
    was_training = model.training
    model.eval()
    n = len(ids) // block_size
    if max_blocks:
        n = min(n, max_blocks)
    if n == 0:
        raise ValueError(f"the evaluation text has {len(ids)} tokens, fewer than one block of {block_size}")
    blocks = ids[: n * block_size].view(n, block_size)
    total, count = 0.0, 0
    for i in range(0, n, batch_size):
        rows = blocks[i : i + batch_size].long()
        logits = model(rows).logits[:, :-1]
        total += float(F.cross_entropy(logits.flatten(0, 1).float(), rows[:, 1:].flatten(), reduction="sum"))
        count += rows[:, 1:].numel()
    model.train(was_training)
    return _lm_metrics(total / count, ids, chars)


def _lm_metrics(loss: float, ids: torch.Tensor, chars: int | None) -> dict:
    metrics = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
    if chars:  # tokens per character of the evaluated stretch
        metrics["bits_per_char"] = loss / math.log(2) * (len(ids) / chars)
    return metrics


@exclusive
def train_lm(
    run_dir: str | Path,
    *,
    data: str,
    architecture: str = "gpt",
    tokenizer: str = "char",
    vocab_size: int = 4096,
    preset: str = "small",
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
    """Train a GPT or a Transformer-XL (``architecture``) on ``data``: the first (1 - val_fraction) of
    the characters train, the rest validate. ``block_size`` is the GPT's context; ``segment_length``
    and ``mem_len`` are the Transformer-XL's (default: the preset's).

    ``init_from``: fine-tune a pretrained GPT (its weights, sizes and tokenizer; validation is
    evaluated before the first step too). ``tokenizer_from``: a fresh model on another directory's
    tokenizer. ``documents``: how the text splits into documents, EOS between them (``lm_start``).
    """
    if architecture not in LANGUAGE_MODELS:
        raise ValueError(f"architecture must be one of {sorted(LANGUAGE_MODELS)}, got {architecture!r}")
    if init_from and (architecture != "gpt" or tokenizer_from):
        raise ValueError("--init-from starts a GPT from its own checkpoint and tokenizer: use --model gpt alone")
    config_class, model_class = LANGUAGE_MODELS[architecture]
    xl = architecture == "transformer-xl"
    run_dir, args, dist_info = Path(run_dir), args or TrainingArguments(), dist_info or DistInfo()
    check_start(run_dir, resume=resume)  # before any work: a refused run writes nothing
    text = read_text(data)
    split = int(len(text) * (1 - val_fraction))
    train_text, val_text = text[:split], text[split:]
    pretrained = None
    if resume:
        tok = load_lm_tokenizer(run_dir)
        config = resume_config(run_dir, config_class, model_overrides)
    elif init_from:
        pretrained, tok = pretrained_gpt(init_from, model_overrides)
        config = pretrained.config
        if block_size > config.max_position:
            raise ValueError(f"--block-size {block_size} exceeds {init_from}'s context of {config.max_position}")
    else:
        if tokenizer_from:
            tok = reused_tokenizer(tokenizer_from)
        else:
            tok = Tokenizer.train([train_text], {"bpe": "bytebpe"}.get(tokenizer, tokenizer), vocab_size=vocab_size)
        lengths = {k: v for k, v in (("mem_len", mem_len), ("segment_length", segment_length)) if v is not None}
        config = config_class.from_preset(
            preset,
            vocab_size=tok.vocab_size,
            **(lengths if xl else {"max_position": block_size}),
            bos_token_id=tok.bos_id,
            eos_token_id=tok.eos_id,
            pad_token_id=tok.pad_id,
            **(model_overrides or {}),
        )
    check_vocabulary(tok, config.vocab_size, str(run_dir))
    # int32, chunk by chunk, EOS between documents
    train_ids, val_ids = (encode_documents(tok, part, documents) for part in (train_text, val_text))
    info = LanguageModelRunInfo(
        model=architecture,
        data=absolute(data),
        tokenizer="pretrained" if init_from or tokenizer_from else tokenizer,
        block_size=config.segment_length if xl else block_size,
        split_char=split,
        val_fraction=val_fraction,
        sampling=sampling,
        init_from=absolute(init_from) if init_from else None,
        tokenizer_from=absolute(tokenizer_from) if tokenizer_from else None,
        documents=documents,
    )
    prepare(run_dir, info, lambda d: save_lm_tokenizer(tok, d), resume=resume, dist_info=dist_info)
    torch.manual_seed(args.seed)  # the same initial weights for the same seed, on every rank
    model = pretrained if pretrained is not None else model_class(config)
    # bits per character of the evaluated part: scale by its own token/char ratio
    eval_chars = len(val_text) if not eval_blocks else None

    def evaluate(m):
        if xl:
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

    if xl:
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


def generate_text(run: LMRun, prompts: list[str], *, stream: bool = False, **options):
    """Completions of ``prompts`` (left-padded into one batch); with ``stream`` (one prompt) yield text
    pieces as they are produced.

    Longer than the model's context: generation continues in windows, each re-reading the last
    half-context of tokens as its prompt (nanoGPT's sliding window: exact within a window, an
    approximation across windows, as for any model with absolute positions).
    """
    if run.is_xl:  # the memory carries the context: no window, one prompt at a time (no padding)
        yield from _generate_with_memory(run, prompts, stream=stream, **options)
        return
    tok, context = run.tokenizer, run.model.config.max_position
    total, window = options.pop("max_new_tokens", 200), context // 2
    if total < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {total}")
    rows = [tok.encode(p)[-window:] or [tok.bos_id] for p in prompts]
    if stream:
        if len(rows) != 1:
            raise ValueError("streaming takes one prompt")
        yield from _stream_windows(run, rows[0], total, window, options)
        return
    outputs, finished, produced = [[] for _ in rows], [False] * len(rows), 0
    while produced < total and not all(finished):
        width = max(map(len, rows))
        chunk = min(total - produced, context - width)
        ids = torch.full((len(rows), width), tok.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):  # left padding: every prompt ends where generation starts
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        new_rows = run.model.generate(ids, mask, max_new_tokens=chunk, **options)[:, width:].tolist()
        for i, new in enumerate(new_rows):
            if finished[i]:
                continue
            if tok.eos_id in new:
                new, finished[i] = new[: new.index(tok.eos_id)], True
            outputs[i] += new
            rows[i] = (rows[i] + new)[-window:]
        produced += chunk
    yield from (tok.decode(o) for o in outputs)


def _stream_windows(run: LMRun, row: list[int], total: int, window: int, options: dict):
    """Text pieces for one prompt, window after window, with one incremental detokenizer."""
    from ..generation.streaming import TextStream

    text, produced, context = TextStream(run.tokenizer), 0, run.model.config.max_position
    while produced < total:
        chunk = min(total - produced, context - len(row))
        count = 0
        for token in run.model.stream_ids(torch.tensor([row]), max_new_tokens=chunk, **options):
            count += 1
            row.append(token)
            piece = text.push(token)
            if piece:
                yield piece
        produced += chunk
        if count < chunk:  # EOS
            break
        row = row[-window:]
    tail = text.end()  # a last piece held back for an incomplete character
    if tail:
        yield tail


def _generate_with_memory(run: LMRun, prompts: list[str], *, stream: bool, **options):
    """Transformer-XL: each prompt read in segments into memory, then extended token by token."""
    from ..generation.streaming import stream_text

    tok = run.tokenizer
    if stream and len(prompts) != 1:
        raise ValueError("streaming takes one prompt")
    for prompt in prompts:
        ids = torch.tensor([tok.encode(prompt) or [tok.bos_id]])
        if stream:
            yield from stream_text(run.model.stream_ids(ids, **options), tok)
            return
        new = run.model.generate(ids, **options)[0, ids.shape[1] :].tolist()
        if tok.eos_id in new:
            new = new[: new.index(tok.eos_id)]
        yield tok.decode(new)


SAMPLING_DEFAULTS = {"do_sample": True, "temperature": 0.8, "top_k": 50}
TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


def command_options(run, prompts: list[str], flags: dict) -> dict:
    """What ``einformer generate`` asks for: the flags given, over the model's generation_config.json.
    A generation config that sets no decoding option (only token ids and lengths, as einformer's runs
    and GPT-2's own file) gets the command's defaults: sampling at temperature 0.8, top-k 50; one that
    sets any is followed as transformers follows it (greedy unless it says otherwise). Without a
    length anywhere, 200 new tokens."""
    configured = run.model.generation_config.to_options()
    strategy = set(configured) - {*TOKEN_IDS, "max_new_tokens", "max_length"}
    defaults = {} if strategy else dict(SAMPLING_DEFAULTS)
    if "max_new_tokens" not in configured and "max_length" not in configured:
        defaults["max_new_tokens"] = 200
    options = {**defaults, **configured, **flags}
    if "max_new_tokens" not in flags and "max_new_tokens" not in configured and "max_length" in configured:
        longest = max(len(run.tokenizer.encode(p)) for p in prompts)  # max_length counts the prompt too
        options["max_new_tokens"] = max(1, configured["max_length"] - longest)
    options.pop("max_length", None)
    if options.get("num_beams", 1) > 1 and "do_sample" not in configured and "do_sample" not in flags:
        options["do_sample"] = False  # --num-beams N alone is beam search, not beam sampling
    return options
