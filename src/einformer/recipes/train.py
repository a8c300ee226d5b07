"""``einformer train``'s job as a spec: the options in the command's own terms, translated here to
each family's config fields and recipe arguments, so the CLI only parses and calls.

Which families `einformer train --model` offers, which recipe trains each, and what each size flag
means for its config are the family's record in the registry (``Family.recipe``,
``Family.train_flags``): one flag means one thing across families (``layers`` is a GPT's n_layers and
each stack of the encoder-decoder; ``dropout`` sets every dropout a GPT has; ``d_ff`` is the
feed-forward width everywhere), and a flag a family's record leaves out is refused by name.
"""

from __future__ import annotations

import dataclasses

from .. import registry
from ..generation.kinds import CausalLM
from ..registry import LANGUAGE_MODEL, MASKED_LM_PRETRAINING, SEQ2SEQ
from ..training import TrainingArguments, TrainResult
from ..training.distributed import DistInfo
from ..validation import LAYER_FIELDS, TooLargeError, check_fits_memory

# TrainSpec fields that set config fields (through Family.train_flags), with their flag names
CONFIG_FLAGS = {
    "layers": "--layers",
    "d_model": "--d-model",
    "heads": "--heads",
    "d_ff": "--d-ff",
    "dropout": "--dropout",
    "label_smoothing": "--label-smoothing",
    "norm_first": "--norm-first",
    "mem_len": "--mem-len",
    "seg_len": "--seg-len",
    "act": "--act",
    "ut_steps": "--ut-steps",
    "act_mode": "--act-mode",
    "ponder_weight": "--ponder-weight",
}


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
        family = registry.by_train_name(self.model)  # an unknown --model: the choices, by name
        if family.recipe in (LANGUAGE_MODEL, MASKED_LM_PRETRAINING) and self.data is None:
            kind = "one segment per line" if family.recipe == MASKED_LM_PRETRAINING else "any text"
            raise ValueError(f"--model {self.model} trains on a text file ({kind}): pass --data FILE.txt")
        if self.init_from is not None:
            if family.recipe != LANGUAGE_MODEL or not family.generates(CausalLM):
                causal = [registry.train_name(f) for f in registry.families() if f.recipe and f.generates(CausalLM)]
                raise ValueError(
                    f"--init-from fine-tunes a GPT-like causal language model: use --model {' or '.join(causal)}, "
                    f"not --model {self.model}"
                )
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
        for field, flag in CONFIG_FLAGS.items():
            value = getattr(self, field)
            if value not in (None, False) and field not in family.train_flags:
                takers = [registry.train_name(f) for f in registry.families() if f.recipe and field in f.train_flags]
                raise ValueError(f"{flag} is for --model {' or '.join(takers)}, not --model {self.model}")
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

    @property
    def family(self) -> registry.Family:
        return registry.by_train_name(self.model)

    def model_overrides(self) -> dict:
        """The config fields this spec sets, named as the family's config names them (``Family.train_flags``)."""
        out = {}
        for field, config_fields in self.family.train_flags.items():
            value = getattr(self, field)
            if value is not None:
                out.update(dict.fromkeys(config_fields, value))
        return out

    @property
    def metric(self) -> str:
        """The name of the figure that picks the best checkpoint, for the summary line."""
        recipe = self.family.recipe
        if recipe == MASKED_LM_PRETRAINING:
            return "masked-LM loss"
        if recipe == SEQ2SEQ and self.task:
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
    """Run the recipe of ``spec.model``'s family; the result of the trainer."""
    check_training_size(spec, args)
    return RECIPES[spec.family.recipe](spec, args, dist_info)


ADAM_BYTES_PER_PARAMETER = 16  # fp32 weights, gradients and Adam's two moments (autocast too: fp32 masters)
ACTIVATION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}  # --precision -> bytes of an activation


def check_training_size(spec: TrainSpec, args: TrainingArguments) -> None:
    """Before any work (a tokenizer trained, a directory made): can the model of the preset and the
    size flags, and on the CPU its training, fit in the memory there is? ``--layers 100000`` is refused
    by flag in a second instead of building for hours. The preset's own vocabulary stands in for the
    one the data will give; a resumed or ``--init-from`` run keeps sizes that were already built."""
    if spec.resume or spec.init_from:
        return
    flags = {
        field: CONFIG_FLAGS[flag] for flag, fields in spec.family.train_flags.items() for field in fields
    }  # config field -> its flag
    try:
        try:
            config = spec.family.config_class.from_preset(spec.preset or "small", **spec.model_overrides())
        except TooLargeError:
            raise
        except (ValueError, TypeError):
            return  # the recipe refuses it by name, after its own checks
        if spec.device == "cpu":
            layers = sum(getattr(config, name, 0) or 0 for name in LAYER_FIELDS) or getattr(config, "max_steps", 1)
            d_model = getattr(config, "d_model", 0)
            d_ff = getattr(config, "d_ff", None) or 4 * d_model
            width = ACTIVATION_BYTES.get(args.precision, 4)  # autocast keeps activations in bf16 / fp16
            activations = width * layers * args.batch_size * spec.block_size * (4 * d_model + d_ff)  # a lower bound
            check_fits_memory(
                config,
                bytes_per_parameter=ADAM_BYTES_PER_PARAMETER,
                extra=activations,
                what=f"its training (weights, gradients, Adam's moments, {args.precision} activations of batch "
                f"{args.batch_size})",
            )
    except TooLargeError as e:
        field = str(e).split(":", 1)[0]
        if field in flags:
            raise TooLargeError(f"{flags[field]} {getattr(spec, _spec_field(flags[field]))}: {e}") from None
        raise


def _spec_field(flag: str) -> str:
    return next(field for field, f in CONFIG_FLAGS.items() if f == flag)


def _pretrain_masked_lm(spec: TrainSpec, args: TrainingArguments, dist_info: DistInfo | None) -> TrainResult:
    from .bert_pretrain import pretrain_bert

    return pretrain_bert(
        spec.run_dir,
        data=spec.data,
        architecture=spec.family.name,
        preset=spec.preset,  # None: the recipe's default, or on --resume the run's own
        model_overrides=spec.model_overrides(),
        vocab_size=spec.vocab_size,
        tokenizer_from=spec.tokenizer_from,
        max_length=spec.block_size,
        whole_word=spec.whole_word_masking,
        next_sentence=spec.next_sentence,
        args=args,
        resume=spec.resume,
        device=spec.device,
        dist_info=dist_info,
    )


def _train_language_model(spec: TrainSpec, args: TrainingArguments, dist_info: DistInfo | None) -> TrainResult:
    from .language_model import train_lm

    return train_lm(
        spec.run_dir,
        data=spec.data,
        architecture=spec.family.name,
        tokenizer=spec.tokenizer or "char",
        vocab_size=spec.vocab_size,
        preset=spec.preset,  # None: the recipe's default, or on --resume the run's own
        model_overrides=spec.model_overrides(),
        block_size=spec.block_size,
        sampling=spec.sampling,
        init_from=spec.init_from,
        tokenizer_from=spec.tokenizer_from,
        documents=spec.documents,
        fsdp=spec.fsdp,
        args=args,
        resume=spec.resume,
        device=spec.device,
        dist_info=dist_info,
    )[0]


def _train_seq2seq(spec: TrainSpec, args: TrainingArguments, dist_info: DistInfo | None) -> TrainResult:
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
        architecture=spec.family.name,
        preset=spec.preset,  # None: the recipe's default, or on --resume the run's own
        model_overrides=spec.model_overrides(),
        train_lengths=lengths(spec.train_lengths, "--train-lengths"),
        test_lengths=lengths(spec.test_lengths, "--test-lengths"),
        n_train=spec.n_train,
        on_long=spec.on_long,
        seed=spec.seed,
        fsdp=spec.fsdp,
        args=args,
        resume=spec.resume,
        device=spec.device,
        dist_info=dist_info,
    )[0]


# Family.recipe -> the job that trains it
RECIPES = {
    LANGUAGE_MODEL: _train_language_model,
    SEQ2SEQ: _train_seq2seq,
    MASKED_LM_PRETRAINING: _pretrain_masked_lm,
}
