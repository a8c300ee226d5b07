"""``einformer train``'s job as a spec: the options in the command's own terms, translated here to
each architecture's config fields and recipe arguments, so the CLI only parses and calls.

One flag means one thing across architectures: ``layers`` is a GPT's n_layers and each stack of
the encoder-decoder; ``dropout`` sets every dropout a GPT has (GPT-2 has three); ``d_ff`` is the
feed-forward width everywhere (config files use the same name).
"""

from __future__ import annotations

import dataclasses

from ..training import TrainingArguments, TrainResult
from ..training.distributed import DistInfo

ARCHITECTURES = ("encoder-decoder", "universal", "gpt", "transformer-xl", "bert")


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What to train, on what, how large; None = the preset's or the recipe's default."""

    run_dir: str
    model: str = "encoder-decoder"
    # data
    task: str | None = None
    data: str | None = None
    target_file: str | None = None
    val: str | None = None
    val_target_file: str | None = None
    source_field: str = "source"
    target_field: str = "target"
    tokenizer: str | None = None
    share_vocab: bool = False
    vocab_size: int = 8000
    tokenizer_from: str | None = None
    init_from: str | None = None  # gpt: fine-tune this pretrained GPT (its sizes and tokenizer)
    documents: str = "file"  # gpt / transformer-xl: file, blank-line or line (EOS between documents)
    n_train: int = 50000
    on_long: str = "truncate"
    train_lengths: str | None = None  # "MIN,MAX"
    test_lengths: str | None = None
    # size and architecture options
    preset: str | None = None
    layers: int | None = None
    d_model: int | None = None
    heads: int | None = None
    d_ff: int | None = None
    dropout: float | None = None
    label_smoothing: float | None = None
    norm_first: bool | None = None
    block_size: int = 256
    sampling: str = "random"
    mem_len: int | None = None
    seg_len: int | None = None
    act: bool = False
    ut_steps: int | None = None
    act_mode: str | None = None
    ponder_weight: float | None = None
    whole_word_masking: bool = False
    next_sentence: bool = False
    # where and how
    resume: bool = False
    seed: int = 0
    device: str = "cpu"
    fsdp: bool = False

    def __post_init__(self) -> None:
        if self.model not in ARCHITECTURES:
            raise ValueError(f"--model {self.model!r}: choose one of {ARCHITECTURES}")
        lm = self.model in ("gpt", "transformer-xl", "bert")
        if lm and self.data is None:
            kind = "one segment per line" if self.model == "bert" else "any text"
            raise ValueError(f"--model {self.model} trains on a text file ({kind}): pass --data FILE.txt")
        if self.init_from is not None:
            if self.model != "gpt":
                raise ValueError(f"--init-from fine-tunes a GPT: use --model gpt, not --model {self.model}")
            fixed = {
                "--preset": self.preset,
                "--layers": self.layers,
                "--d-model": self.d_model,
                "--heads": self.heads,
                "--d-ff": self.d_ff,
                "--tokenizer": self.tokenizer,
                "--tokenizer-from": self.tokenizer_from,
            }
            given = " ".join(flag for flag, value in fixed.items() if value is not None)
            if given:
                raise ValueError(f"--init-from keeps the pretrained model's sizes and tokenizer: drop {given}")
        if self.model == "gpt" and (self.mem_len is not None or self.seg_len is not None):
            raise ValueError("--mem-len and --seg-len are for --model transformer-xl; a GPT takes --block-size")
        if self.model == "universal" and self.layers is not None:
            raise ValueError("--layers is for the encoder-decoder; the Universal Transformer takes --ut-steps")
        if self.model != "universal" and (self.act or self.ut_steps is not None):
            raise ValueError("--act and --ut-steps need --model universal")
        for flag, value in (
            ("--layers", self.layers),
            ("--d-model", self.d_model),
            ("--heads", self.heads),
            ("--d-ff", self.d_ff),
            ("--vocab-size", self.vocab_size),
            ("--block-size", self.block_size),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{flag} must be a positive number, got {value}")

    def model_overrides(self) -> dict:
        """The config fields this spec sets, named as the architecture's config names them."""
        out = {
            k: v
            for k, v in (
                ("dropout", self.dropout),
                ("d_model", self.d_model),
                ("n_heads", self.heads),
                ("d_ff", self.d_ff),
                ("norm_first", self.norm_first),
            )
            if v is not None
        }
        if self.model in ("encoder-decoder", "universal") and self.label_smoothing is not None:
            out["label_smoothing"] = self.label_smoothing
        if self.model == "bert":
            out.pop("norm_first", None)  # BERT is post-norm
        if self.model == "gpt" and self.dropout is not None:  # GPT-2 has three dropouts; the flag sets them all
            out.update(embedding_dropout=self.dropout, attention_dropout=self.dropout)
        if self.layers is not None:
            if self.model == "encoder-decoder":
                out.update(n_encoder_layers=self.layers, n_decoder_layers=self.layers)
            else:
                out["n_layers"] = self.layers
        if self.model == "universal":
            out["act"] = self.act
            for key, value in (
                ("max_steps", self.ut_steps),
                ("act_mode", self.act_mode),
                ("ponder_weight", self.ponder_weight),
            ):
                if value is not None:
                    out[key] = value
        return out

    @property
    def metric(self) -> str:
        """The name of the figure that picks the best checkpoint, for the summary line."""
        if self.model == "bert":
            return "masked-LM loss"
        if self.model in ("encoder-decoder", "universal") and self.task:
            return "exact_match"
        return "validation loss"


def lengths(value: str | None, flag: str) -> tuple[int, int] | None:
    """ "MIN,MAX" -> (MIN, MAX); a clear error otherwise."""
    if value is None:
        return None
    try:
        low, high = (int(x) for x in value.split(","))
    except ValueError:
        raise ValueError(f"{flag} takes MIN,MAX such as 1,10; got {value!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"{flag}: need 1 <= MIN <= MAX, got {value!r}")
    return low, high


def train(spec: TrainSpec, args: TrainingArguments, dist_info: DistInfo | None = None) -> TrainResult:
    """Run the recipe of ``spec.model``; the result of the trainer."""
    common = dict(args=args, resume=spec.resume, device=spec.device, dist_info=dist_info)
    overrides = spec.model_overrides()
    if spec.model == "bert":
        from .bert_pretrain import pretrain_bert

        return pretrain_bert(
            spec.run_dir,
            data=spec.data,
            preset=spec.preset or "small",
            model_overrides=overrides,
            vocab_size=spec.vocab_size,
            tokenizer_from=spec.tokenizer_from,
            max_length=spec.block_size,
            whole_word=spec.whole_word_masking,
            next_sentence=spec.next_sentence,
            **common,
        )
    if spec.model in ("gpt", "transformer-xl"):
        from .language_model import train_lm

        return train_lm(
            spec.run_dir,
            data=spec.data,
            architecture=spec.model,
            mem_len=spec.mem_len,
            segment_length=spec.seg_len,
            tokenizer=spec.tokenizer or "char",
            vocab_size=spec.vocab_size,
            preset=spec.preset or "small",
            model_overrides=overrides,
            block_size=spec.block_size,
            sampling=spec.sampling,
            init_from=spec.init_from,
            tokenizer_from=spec.tokenizer_from,
            documents=spec.documents,
            fsdp=spec.fsdp,
            **common,
        )[0]
    from .seq2seq import train_seq2seq

    return train_seq2seq(
        spec.run_dir,
        task=spec.task,
        data=spec.data,
        target_file=spec.target_file,
        val=spec.val,
        val_target_file=spec.val_target_file,
        source_field=spec.source_field,
        target_field=spec.target_field,
        tokenizer=spec.tokenizer or "bpe",
        vocab_size=spec.vocab_size,
        share_vocab=spec.share_vocab,
        architecture="universal-transformer" if spec.model == "universal" else "encoder-decoder",
        preset=spec.preset or "small",
        model_overrides=overrides,
        train_lengths=lengths(spec.train_lengths, "--train-lengths"),
        test_lengths=lengths(spec.test_lengths, "--test-lengths"),
        n_train=spec.n_train,
        on_long=spec.on_long,
        seed=spec.seed,
        fsdp=spec.fsdp,
        **common,
    )[0]
