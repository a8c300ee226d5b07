"""Models by name: ``ORG/NAME`` (or a legacy ``NAME``) resolved to a directory of the Hugging Face cache.

``resolve(name_or_path)`` is called at the entry of everything that opens a model (``einformer.load``,
``AutoModel``, ``AutoTokenizer``, ``PreTrainedModel.from_pretrained``, ``pipeline`` and the CLI). A
path that exists always wins; a name goes through huggingface_hub, the library that owns the cache,
so its layout (``hub/models--ORG--NAME/snapshots/<commit>/``, ``refs/``, ``blobs/``) and its settings
are Hugging Face's own: ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` (a mirror),
``HF_TOKEN``, ``HF_HUB_DISABLE_PROGRESS_BARS``. Its progress bars show on standard error.

Only the files a model needs are fetched, in three steps (``fetch``): config.json first, whose
``model_type`` is checked against the registry before anything large comes down; then the small
files (tokenizer, generation config, chat template, sentence-transformers modules, a shard index)
that the repository's file list holds; then the weights: model.safetensors, else the shards its
index names, else a pytorch_model.bin (which ``interop/hf_files.py`` reads with torch's
tensors-only loader), with the sentence-transformers modules' folders. A file the snapshot already
holds is not asked for again; ``AutoTokenizer`` stops before the weights. Offline, or with
``local_files_only``, the same steps read the cache alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import registry
from .checkpoint import read_json
from .errors import EinformerError

# the small files a model directory may hold, top level only (exact names: nothing else matches)
CONFIG = "config.json"
SHARD_INDEX = "model.safetensors.index.json"
MODULES = "modules.json"  # sentence-transformers: the modules, each in its folder
SMALL_FILES = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.txt",  # WordPiece, word vocabularies
    "vocab.json",  # byte-level BPE, Marian
    "merges.txt",
    "target_vocab.json",  # Marian with separate vocabularies
    "source.spm",
    "target.spm",
    "tokenizer.model",  # sentencepiece
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.pkl",  # Transformer-XL's vocabulary (read as plain data, never unpickled)
    "source_tokenizer.json",  # einformer's sequence-to-sequence directories
    "target_tokenizer.json",
    MODULES,
    "sentence_bert_config.json",
    SHARD_INDEX,
)
SAFETENSORS = "model.safetensors"
PICKLED_WEIGHTS = "pytorch_model.bin"  # read by torch.load(weights_only=True): tensors only
MODULE_KINDS = ("Pooling", "Normalize")  # the sentence-transformers modules einformer reads
MIRROR = "https://hf-mirror.com"

_REPO_ID = re.compile(r"(?:[A-Za-z0-9_][\w.-]*/)?[A-Za-z0-9_][\w.-]*")


class HubError(EinformerError, OSError):
    """A model name that cannot be resolved: not in the cache, not on the hub, a revision missing."""


class UnsupportedModel(EinformerError, ValueError):
    """A model on the hub whose config.json's model_type einformer does not read."""


def is_name(text: str) -> bool:
    """Whether ``text`` may be a Hugging Face model name (``ORG/NAME`` or ``NAME``), not only a path."""
    return bool(_REPO_ID.fullmatch(text)) and ".." not in text and "--" not in text and not text.endswith(".")


def resolve(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    weights: bool = True,
) -> Path:
    """The directory ``name_or_path`` names: itself when it exists, else the cached snapshot of the model
    of that name (fetched first unless offline; ``weights=False``: all but the weights, for a tokenizer).
    What is neither a path nor a name comes back as a path, for the caller to report as missing."""
    path = Path(name_or_path)
    if path.exists() or not is_name(str(name_or_path)):
        return path
    options = {"revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
    return fetch(str(name_or_path), weights=weights, **options)


def fetch(
    name: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    weights: bool = True,
) -> Path:
    """The snapshot directory of model ``name`` at ``revision`` (a branch, tag or commit hash; default
    main), holding the files einformer reads (see the module docstring; without the weights and the
    sentence-transformers modules when ``weights`` is False); ``einformer download`` calls it."""
    from huggingface_hub import snapshot_download

    options = {"cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
    with _explained(name, revision, cache_dir, local_files_only):
        snapshot = Path(snapshot_download(name, revision=revision, allow_patterns=[CONFIG], **options))
        check_model_type(name, snapshot / CONFIG)
        listing = repo_files(name, snapshot.name, cache_dir, snapshot)  # snapshots/<commit>: no branch look-up
        _download(name, snapshot, [f for f in SMALL_FILES if f in listing], options)  # the shard index among them
        if weights:
            _download(name, snapshot, weight_files(listing, snapshot) + module_files(listing, snapshot), options)
    return snapshot


def _download(name: str, snapshot: Path, files: list[str], options: dict) -> None:
    """Those of ``files`` that ``snapshot`` (snapshots/<commit>) lacks, into it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    missing = [f for f in files if not (snapshot / f).is_file()]
    if not missing:
        return
    try:
        snapshot_download(name, revision=snapshot.name, allow_patterns=missing, **options)
    except (LocalEntryNotFoundError, IncompleteSnapshotError):
        why, ways_out = _reason(options["local_files_only"]), _ways_out(name, snapshot.name)
        raise HubError(
            f"{name}: the cached copy {snapshot} lacks {', '.join(missing)}, and {why}; {ways_out}"
        ) from None


def check_model_type(name: str, config_path: Path) -> None:
    """Refuse, before its weights come down, a model whose config.json einformer does not read."""
    if not config_path.is_file():
        raise HubError(f"{name} has no {CONFIG}: it is not a model einformer (or transformers) loads")
    config = read_json(config_path, "model config")
    if registry.for_config(config) is None:
        names = sorted({t for family in registry.families() for t in family.hf_model_types})
        raise UnsupportedModel(
            f"{name}: its {CONFIG} has model_type {config.get('model_type')!r}, which einformer does not read; "
            f"it reads these Hugging Face model types: {', '.join(names)}"
        )


def repo_files(name: str, commit: str, cache_dir, snapshot: Path) -> set[str]:
    """The repository's files at ``commit``: huggingface_hub's cached listing of the commit, written when
    it last listed the repository online, else (a cache filled another way) the files the snapshot holds."""
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        return {f.path for f in get_cached_repo_tree(name, revision=commit, cache_dir=cache_dir)}
    except CachedRepoTreeNotFoundError:
        return {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}


def weight_files(listing: Iterable[str], snapshot: Path) -> list[str]:
    """model.safetensors, else the shards model.safetensors.index.json names (fetched with the small
    files), else pytorch_model.bin; none: the loader says the directory has no weights."""
    listing = set(listing)
    if SAFETENSORS in listing:
        return [SAFETENSORS]
    if SHARD_INDEX in listing and (snapshot / SHARD_INDEX).is_file():
        weight_map = read_json(snapshot / SHARD_INDEX, "safetensors index").get("weight_map") or {}
        return sorted(set(weight_map.values()))
    return [PICKLED_WEIGHTS] if PICKLED_WEIGHTS in listing else []


def module_files(listing: Iterable[str], snapshot: Path) -> list[str]:
    """The files of the sentence-transformers Pooling and Normalize modules modules.json lists."""
    if not (snapshot / MODULES).is_file():
        return []
    modules = json.loads((snapshot / MODULES).read_text(encoding="utf-8"))
    folders = [
        m["path"].strip("/")
        for m in modules
        if isinstance(m, dict) and m.get("path") and str(m.get("type", "")).endswith(MODULE_KINDS)
    ]
    return sorted(f for f in listing for folder in folders if f.startswith(folder + "/"))


def cache_directory(cache_dir: str | Path | None = None) -> Path:
    """Where huggingface_hub keeps models: ``cache_dir``, else ``HF_HUB_CACHE``, else ``HF_HOME``/hub."""
    from huggingface_hub import constants

    return Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser()


def cached_revisions(name: str, cache_dir: str | Path | None = None) -> list[str]:
    """The refs (``main -> 1a2b3c4d5e6f``) and other snapshots of ``name`` in the cache, for error messages."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    storage = cache_directory(cache_dir) / repo_folder_name(repo_id=name, repo_type=constants.REPO_TYPE_MODEL)
    refs = {
        p.relative_to(storage / "refs").as_posix(): p.read_text().strip()
        for p in sorted((storage / "refs").rglob("*") if (storage / "refs").is_dir() else ())
        if p.is_file()
    }
    snapshots = sorted(p.name for p in (storage / "snapshots").iterdir()) if (storage / "snapshots").is_dir() else []
    named = [f"{ref} -> {commit[:12]}" for ref, commit in refs.items()]
    return named + [f"commit {commit[:12]}" for commit in snapshots if commit not in refs.values()]


@contextmanager
def _explained(name: str, revision: str | None, cache_dir, local_files_only: bool) -> Iterator[None]:
    """huggingface_hub's errors as one einformer error naming the model, the cache and the ways out."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = cache_directory(cache_dir)
    at = f" at revision {revision!r}" if revision else ""
    try:
        yield
    except GatedRepoError as e:
        raise HubError(
            f"{name} is gated: accept its terms on its page, then pass token= (--token) or set HF_TOKEN ({_first(e)})"
        ) from None
    except RepositoryNotFoundError:
        raise HubError(
            f"{name}: no such model on {constants.ENDPOINT} and no such directory here; check the name, pass "
            "token= (--token) or set HF_TOKEN for a private model, or pass the model's directory"
        ) from None
    except RevisionNotFoundError:
        raise HubError(
            f"{name} has no revision {revision!r} on {constants.ENDPOINT}; use a branch, tag or commit hash it has"
        ) from None
    except IncompleteSnapshotError as e:
        raise HubError(
            f"{name}{at}: the cached copy in {cache} lacks files ({_first(e)}), and {_reason(local_files_only)}; "
            + _ways_out(name, revision)
        ) from None
    except LocalEntryNotFoundError:
        reason = _reason(local_files_only)
        cached = cached_revisions(name, cache_dir)
        if revision and cached:
            raise HubError(
                f"{name}: revision {revision!r} is not in the Hugging Face cache {cache} (it holds "
                f"{', '.join(cached)}) and {reason}; {_ways_out(name, revision)}"
            ) from None
        raise HubError(
            f"{name} is neither a directory nor in the Hugging Face cache {cache}, and {reason}; "
            + _ways_out(name, revision)
        ) from None


def _reason(local_files_only: bool) -> str:
    """Why a file that is not in the cache was not fetched."""
    from huggingface_hub import constants

    if local_files_only:
        return "downloads are off (local_files_only=True (--local-files-only))"
    if constants.is_offline_mode():
        return "downloads are off (HF_HUB_OFFLINE=1)"
    return f"{constants.ENDPOINT} could not be reached"


def _ways_out(name: str, revision: str | None = None) -> str:
    pinned = f" --revision {revision}" if revision else ""
    return (
        f"go online once (unset HF_HUB_OFFLINE, or run `einformer download {name}{pinned}`), set HF_ENDPOINT to a "
        f"mirror you can reach (e.g. {MIRROR}), or pass the model's directory"
    )


def _first(error: Exception) -> str:
    """The first line of a huggingface_hub error (the rest is its request id and links)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
