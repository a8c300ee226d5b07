"""Model configurations: one frozen dataclass per model family.

A config holds every number that decides a model's shape and computation, validates them in
``__post_init__`` (a ``ValueError`` names the field and why), and round-trips through
config.json. Models read configs; the blocks in ``einformer.nn`` never do.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError
from .validation import (  # noqa: F401  (check and ACTIVATION_NAMES are part of config's interface)
    ACTIVATION_NAMES,
    check,
    check_activation,
    check_heads,
    check_layout,
    check_positive,
    check_probabilities,
    check_token_ids,
    field_types,
    type_name,
    type_ok,
)

C = TypeVar("C", bound="BaseConfig")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Shared behaviour: field types checked, dict/JSON round trip with unknown-field errors, presets.

    Subclasses validate their values in ``validate`` (run after the type check). ``renamed`` maps
    field names of older config.json files to today's, so an old directory still loads.
    """

    model_type: ClassVar[str] = "base"
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    renamed: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for name, hint in field_types(type(self)).items():
            value = getattr(self, name)
            if not type_ok(value, hint):
                raise ConfigError(
                    f"{name}: expected {type_name(hint)}, got {value!r} ({type(value).__name__}); fix the value"
                )
            if isinstance(value, list):  # JSON has no tuples
                object.__setattr__(self, name, tuple(value))
        self.validate()

    def validate(self) -> None:
        """Range checks of the subclass; raise ValueError('field: why')."""

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": self.model_type, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a dict; ``model_type`` must match and unknown fields are an error."""
        data = dict(data)
        data.pop("einformer_version", None)
        kind = data.pop("model_type", cls.model_type)
        if kind != cls.model_type:
            raise ValueError(f"config is for model_type {kind!r}, but {cls.__name__} reads {cls.model_type!r}")
        for old, new in cls.renamed.items():
            if old in data:
                if new in data:
                    raise ValueError(f"{cls.__name__}: give {new!r} or its old name {old!r}, not both")
                data[new] = data.pop(old)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}; known fields: {sorted(names)}")
        return cls(**data)

    @classmethod
    def from_preset(cls: type[C], name: str, **overrides: Any) -> C:
        """A named preset (e.g. "tiny"), with any field overridden by keyword."""
        if name not in cls.presets:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; choose one of {sorted(cls.presets)}")
        return cls(**{**cls.presets[name], **overrides})

    @classmethod
    def from_json_file(cls: type[C], path: str | Path) -> C:
        from .checkpoint import read_json

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}; is this a saved einformer model directory?")
        data = read_json(path, "model config")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class EncoderDecoderConfig(BaseConfig):
    """The Transformer of "Attention Is All You Need" (Vaswani et al. 2017).

    Departures from the paper are named options: ``norm_first`` (pre-norm instead of the paper's
    post-norm), ``positions="learned"`` (instead of sinusoids), ``activation`` (the paper: relu),
    ``d_qk`` / ``d_v`` (per-head widths; the paper: d_k = d_v = d_model / n_heads),
    ``scale_embedding=False`` (the paper multiplies embeddings by sqrt(d_model)),
    ``sinusoid_layout="halves"`` (sines in the first half of each vector and cosines in the second,
    as tensor2tensor and Marian lay them out, instead of interleaved), ``output_bias`` (a bias on the
    output projection: Marian's ``final_logits_bias``).
    """

    model_type: ClassVar[str] = "encoder-decoder"
    renamed: ClassVar[dict[str, str]] = {"tie_output": "tie_word_embeddings"}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(d_model=512, n_heads=8, n_encoder_layers=6, n_decoder_layers=6, d_ff=2048, dropout=0.1),
        "small": dict(d_model=256, n_heads=4, n_encoder_layers=3, n_decoder_layers=3, d_ff=1024, dropout=0.1),
        "tiny": dict(d_model=64, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=256, dropout=0.0),
        "demo": dict(
            d_model=128,
            n_heads=4,
            n_encoder_layers=2,
            n_decoder_layers=2,
            d_ff=512,
            dropout=0.0,
            norm_first=True,
            label_smoothing=0.0,
        ),
    }

    src_vocab_size: int = 32000
    tgt_vocab_size: int = 32000
    d_model: int = 512
    n_heads: int = 8
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    d_ff: int = 2048
    d_qk: int | None = None  # per-head query/key width (None: d_model / n_heads)
    d_v: int | None = None  # per-head value width (None: d_model / n_heads)
    dropout: float = 0.1  # on embeddings and every sub-layer output (the paper's P_drop)
    attention_dropout: float = 0.0  # on attention weights (not in the paper)
    activation: str = "relu"
    norm_first: bool = False  # the paper is post-norm
    positions: str = "sinusoidal"  # or "learned"
    sinusoid_layout: str = "interleaved"  # or "halves" (Marian, tensor2tensor)
    scale_embedding: bool = True  # multiply embeddings by sqrt(d_model) (section 3.4)
    output_bias: bool = False  # a bias on the output projection (Marian's final_logits_bias)
    max_position: int = 1024
    share_embeddings: bool = False  # one embedding for source and target (needs a joint vocabulary)
    tie_word_embeddings: bool = True  # the output projection reuses the target embedding (section 3.4)
    label_smoothing: float = 0.1  # the paper's epsilon_ls
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2

    def validate(self) -> None:
        check_heads(self.d_model, self.n_heads)
        check_positive(self, "n_encoder_layers", "n_decoder_layers", "d_ff", "max_position")
        for name in ("d_qk", "d_v"):
            width = getattr(self, name)
            check(width is None or width >= 1, name, f"must be None (d_model / n_heads) or >= 1, got {width}")
        check(self.src_vocab_size > 4 and self.tgt_vocab_size > 4, "src_vocab_size", "vocabularies need > 4 ids")
        check_probabilities(self, "dropout", "attention_dropout", "label_smoothing")
        check_activation(self.activation)
        check(self.positions in ("sinusoidal", "learned"), "positions", "must be 'sinusoidal' or 'learned'")
        check_layout(self.sinusoid_layout)
        check(
            not self.share_embeddings or self.src_vocab_size == self.tgt_vocab_size,
            "share_embeddings",
            f"needs one joint vocabulary, got src {self.src_vocab_size} and tgt {self.tgt_vocab_size}",
        )
        check_token_ids(self, self.tgt_vocab_size, "pad_token_id", "bos_token_id", "eos_token_id")


@dataclasses.dataclass(frozen=True)
class GPTConfig(BaseConfig):
    """A decoder-only language model; the defaults are GPT-2's architecture (Radford et al. 2019).

    GPT-2 is pre-norm (``norm_first=True``) with a final LayerNorm, learned positions, gelu_tanh
    ("gelu_new") and input/output embeddings tied. ``norm_first=False`` gives the post-norm
    ordering of the original GPT.
    """

    model_type: ClassVar[str] = "gpt"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "gpt2": dict(vocab_size=50257, max_position=1024, d_model=768, n_layers=12, n_heads=12),
        "small": dict(
            vocab_size=8192, max_position=256, d_model=384, n_layers=6, n_heads=6, bos_token_id=None, eos_token_id=None
        ),
        "tiny": dict(
            vocab_size=99, max_position=64, d_model=32, n_layers=2, n_heads=4, bos_token_id=None, eos_token_id=None
        ),
    }

    vocab_size: int = 50257
    max_position: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int | None = None  # default 4 * d_model (GPT-2's n_inner)
    activation: str = "gelu_tanh"
    dropout: float = 0.1  # residual dropout (resid_pdrop)
    embedding_dropout: float = 0.1  # embd_pdrop
    attention_dropout: float = 0.1  # attn_pdrop
    layer_norm_eps: float = 1e-5
    norm_first: bool = True
    tie_word_embeddings: bool = True
    bias: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | None = 50256
    pad_token_id: int | None = None

    def validate(self) -> None:
        if self.d_ff is None:  # GPT-2's n_inner = null: four times the width
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        check(self.vocab_size > 0, "vocab_size", f"must be positive, got {self.vocab_size}")
        check_heads(self.d_model, self.n_heads)
        check_positive(self, "n_layers", "max_position", "d_ff")
        check_activation(self.activation)
        check_probabilities(self, "dropout", "embedding_dropout", "attention_dropout")
        check_token_ids(self, self.vocab_size, "bos_token_id", "eos_token_id", "pad_token_id")


PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")


@dataclasses.dataclass(frozen=True)
class BertConfig(BaseConfig):
    """BERT (Devlin et al. 2019): a post-norm Transformer encoder with word, position and segment
    (token-type) embeddings, a pooler over [CLS], and task heads. Field names are einformer's;
    ``einformer.interop.bert`` maps Hugging Face's (hidden_size -> d_model, ...)."""

    model_type: ClassVar[str] = "bert"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "base": dict(vocab_size=30522, d_model=768, n_layers=12, n_heads=12, d_ff=3072),
        "minilm": dict(vocab_size=30522, d_model=384, n_layers=6, n_heads=12, d_ff=1536),
        "small": dict(vocab_size=8192, d_model=256, n_layers=4, n_heads=4, d_ff=1024, max_position=256),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_position=64),
    }

    vocab_size: int = 30522
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int = 3072
    activation: str = "gelu"
    dropout: float = 0.1  # hidden_dropout_prob
    attention_dropout: float = 0.1  # attention_probs_dropout_prob
    max_position: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    num_labels: int = 2
    problem_type: str | None = None  # as Hugging Face: chosen from num_labels and the labels' dtype when None
    classifier_dropout: float | None = None  # default: dropout
    label_names: tuple[str, ...] | None = None  # the class of each label id (Hugging Face's id2label)

    @property
    def id2label(self) -> dict[int, str]:
        """Hugging Face's view of ``label_names``: LABEL_i where a run names none."""
        names = self.label_names or tuple(f"LABEL_{i}" for i in range(self.num_labels))
        return dict(enumerate(names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in self.id2label.items()}

    def validate(self) -> None:
        check(self.vocab_size > 0, "vocab_size", f"must be positive, got {self.vocab_size}")
        check_heads(self.d_model, self.n_heads)
        check_positive(self, "n_layers", "d_ff", "max_position", "type_vocab_size", "num_labels")
        check_activation(self.activation)
        check(self.problem_type in PROBLEM_TYPES, "problem_type", f"{self.problem_type!r} is not in {PROBLEM_TYPES}")
        check_probabilities(self, "dropout", "attention_dropout", "classifier_dropout")
        check_token_ids(self, self.vocab_size, "pad_token_id")
        if self.label_names is not None:
            check(
                len(self.label_names) == self.num_labels and len(set(self.label_names)) == self.num_labels,
                "label_names",
                f"needs {self.num_labels} distinct names (num_labels), got {list(self.label_names)}",
            )


@dataclasses.dataclass(frozen=True)
class UniversalTransformerConfig(BaseConfig):
    """The Universal Transformer (Dehghani et al. 2019): one encoder layer and one decoder layer,
    each applied recurrently with position and timestep signals added before every step.

    ``act=False`` applies each shared layer exactly ``max_steps`` times; ``act=True`` lets every
    position halt on its own (Adaptive Computation Time, Graves 2016) after at most ``max_steps``,
    and adds ``ponder_weight`` (Graves' tau) times the ponder cost to the loss. ``act_mode="graves"``
    outputs the halting-weighted mean of the step states; ``"ut"`` is the UT paper's interpolation
    (see ``einformer.nn.act``).
    """

    model_type: ClassVar[str] = "universal-transformer"
    renamed: ClassVar[dict[str, str]] = {"tie_output": "tie_word_embeddings"}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "small": dict(d_model=128, n_heads=4, d_ff=512, max_steps=6, dropout=0.1),
        "tiny": dict(d_model=32, n_heads=4, d_ff=64, max_steps=4, dropout=0.0),
    }

    src_vocab_size: int = 32000
    tgt_vocab_size: int = 32000
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    max_steps: int = 6  # the fixed depth without ACT; the cap with ACT
    act: bool = True
    act_mode: str = "graves"
    act_epsilon: float = 0.01
    act_init_bias: float = 1.0
    ponder_weight: float = 0.01  # Graves' time penalty tau
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: str = "relu"
    norm_first: bool = False  # the UT paper is post-norm
    max_position: int = 1024
    tie_word_embeddings: bool = True  # the output projection reuses the target embedding
    label_smoothing: float = 0.0
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2

    def validate(self) -> None:
        check_heads(self.d_model, self.n_heads)
        check(self.d_model % 2 == 0, "d_model", f"must be even for the sinusoidal signals, got {self.d_model}")
        check_positive(self, "max_steps", "d_ff", "max_position")
        check(self.src_vocab_size > 4 and self.tgt_vocab_size > 4, "src_vocab_size", "vocabularies need > 4 ids")
        check(self.act_mode in ("graves", "ut"), "act_mode", f"must be 'graves' or 'ut', got {self.act_mode!r}")
        check(0.0 < self.act_epsilon < 1.0, "act_epsilon", f"must be in (0, 1), got {self.act_epsilon}")
        check(self.ponder_weight >= 0.0, "ponder_weight", f"must be >= 0, got {self.ponder_weight}")
        check_activation(self.activation)
        check_probabilities(self, "dropout", "attention_dropout", "label_smoothing")
        check_token_ids(self, self.tgt_vocab_size, "pad_token_id", "bos_token_id", "eos_token_id")


@dataclasses.dataclass(frozen=True)
class TransformerXLConfig(BaseConfig):
    """Transformer-XL (Dai et al. 2019): segment-level recurrence with relative positions.

    Defaults follow the reference PyTorch code: post-norm (``norm_first`` is a named option), u and v
    shared by every layer (``untie_r=True`` gives each layer its own), relu feed-forward. ``mem_len``
    is how many earlier states each layer keeps; ``segment_length`` is the training segment and the
    chunk in which generation reads a prompt; both can be changed at evaluation. ``clamp_len`` gives
    every distance beyond it the same encoding; ``same_length`` makes every query see ``mem_len`` keys.
    ``cutoffs``/``div_val`` turn on the adaptive input and softmax (empty: a plain embedding and softmax).
    ``mem_init="zeros"`` starts the memory as ``mem_len`` zero states, as Hugging Face's port did (the
    first segment then attends to zeros as if they were text); the reference code's "empty" is the default.
    Three options express the reference code where einformer's defaults differ: ``final_norm=False``
    (a pre-norm stack without the closing LayerNorm, as the reference; default: pre-norm closes with
    one), ``always_project`` (every adaptive cluster learns a projection, even one as wide as d_model,
    as the reference does when div_val > 1) and ``tie_projs`` as one flag per cluster (the wt103
    scripts tie [False, True, True, True]).
    """

    model_type: ClassVar[str] = "transformer-xl"
    renamed: ClassVar[dict[str, str]] = {"d_inner": "d_ff", "tie_weight": "tie_word_embeddings"}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's WikiText-103 base model
        "wt103-base": dict(
            vocab_size=267735,
            d_model=410,
            n_layers=16,
            n_heads=10,
            d_head=41,
            d_ff=2100,
            mem_len=150,
            segment_length=150,
            cutoffs=(20000, 40000, 200000),
            div_val=1,
        ),
        "small": dict(vocab_size=256, d_model=256, n_layers=4, n_heads=4, d_ff=1024, mem_len=64, segment_length=64),
        "tiny": dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, d_ff=64, mem_len=16, segment_length=16),
    }

    vocab_size: int = 267735
    d_model: int = 410
    d_embed: int | None = None  # default d_model
    n_layers: int = 16
    n_heads: int = 10
    d_head: int | None = None  # default d_model // n_heads
    d_ff: int = 2100  # the reference code's d_inner
    dropout: float = 0.1
    attention_dropout: float = 0.0
    mem_len: int = 150
    segment_length: int = 150
    clamp_len: int | None = None
    same_length: bool = False
    mem_init: str = "empty"
    untie_r: bool = False
    norm_first: bool = False
    cutoffs: tuple[int, ...] = ()
    div_val: int = 1
    tie_word_embeddings: bool = True  # the reference code's tie_weight
    tie_projs: bool | tuple[bool, ...] = True  # one flag, or one per cluster (the reference code's list)
    always_project: bool = False  # a projection for every adaptive cluster (the reference, div_val > 1)
    final_norm: bool | None = None  # a LayerNorm closing the stack; None: with pre-norm (the reference: never)
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    @property
    def embed_dim(self) -> int:
        return self.d_model if self.d_embed is None else self.d_embed

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads if self.d_head is None else self.d_head

    def validate(self) -> None:
        check(self.vocab_size > 0, "vocab_size", f"must be positive, got {self.vocab_size}")
        check_positive(self, "n_layers", "n_heads", "head_dim", "d_ff", "segment_length", "div_val")
        check(self.d_model % 2 == 0, "d_model", f"must be even for the sinusoidal encodings, got {self.d_model}")
        check(self.mem_len >= 0, "mem_len", f"must be >= 0, got {self.mem_len}")
        check(self.clamp_len is None or self.clamp_len >= 1, "clamp_len", "must be >= 1 or None")
        check(self.mem_init in ("empty", "zeros"), "mem_init", f"must be 'empty' or 'zeros', got {self.mem_init!r}")
        check(
            list(self.cutoffs) == sorted(set(self.cutoffs)) and all(0 < c < self.vocab_size for c in self.cutoffs),
            "cutoffs",
            f"{list(self.cutoffs)} must increase strictly and lie inside (0, vocab_size={self.vocab_size})",
        )
        check_probabilities(self, "dropout", "attention_dropout")
        check_token_ids(self, self.vocab_size, "bos_token_id", "eos_token_id", "pad_token_id")
        if not isinstance(self.tie_projs, bool):
            n = len(self.cutoffs) + 1
            check(
                len(self.tie_projs) == n, "tie_projs", f"give one flag, or one per cluster ({n}), got {self.tie_projs}"
            )
