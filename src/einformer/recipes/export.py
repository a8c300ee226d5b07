"""Export a run (or a model directory) as a model directory with its tokenizer: the model through
``save_pretrained(format=...)``, its generation_config.json, and the tokenizer files the format's
readers expect, as the family's record in the registry says (``Family.hf_export``,
``Family.save_tokenizers``).

``format="hf"`` (families with a Hugging Face writer, ``Family.save_hf``): a GPT becomes a Hugging
Face GPT-2 directory that transformers' AutoModelForCausalLM and AutoTokenizer read (the tokenizer as
GPT-2's files: tokenizer.json, vocab.json + merges.txt, tokenizer_config.json); a BERT a Hugging Face
BERT directory with its WordPiece files; an encoder-decoder in Marian's configuration a Hugging Face
Marian directory (MarianMTModel reads it), with its sentencepiece files when it came from one, else
the run's source_/target_tokenizer.json (which einformer reads beside a Marian config).
``format="einformer"``: einformer's layout, tokenizers as the run keeps them.
``max_shard_size`` (hf only; "500MB", "5GB", "2GiB" or bytes): past it the weights are written as
shards with model.safetensors.index.json, as transformers' ``save_pretrained(max_shard_size=...)``.

A sentence-transformers source keeps its files in either format: modules.json, the folders of the
modules it names (1_Pooling/ ...), sentence_bert_config.json and config_sentence_transformers.json,
so sentence-transformers (and ``einformer embed``) pool and normalise the export as they did the source.

The target is checked before anything is written (``check_target``): export never writes into a run
directory (one holding einformer's run marker, or inside one), and a directory that holds anything
is replaced only when ``overwrite`` says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import registry
from ..auto import load
from ..checkpoint import atomic_write
from ..interop.hf_files import parse_size
from ..training.run_dir import is_run
from ..training.run_info import RUN_INFO

FORMATS = ("hf", "einformer")


def export(
    path: str | Path,
    out: str | Path,
    *,
    format: str = "hf",
    overwrite: bool = False,
    max_shard_size: int | str | None = None,
) -> Path:
    """Write what ``path`` holds to ``out`` in ``format``; returns ``out``. ``overwrite``: replace the
    files of a non-empty ``out`` (never a run directory's). ``max_shard_size``: shard the Hugging
    Face weights past this size (None: transformers' default, "50GB")."""
    if format not in FORMATS:
        raise ValueError(f"export --format {format!r}: choose one of {FORMATS}")
    max_shard_size = shard_size(max_shard_size, format)
    out = Path(out)
    check_target(out, overwrite=overwrite)
    loaded = load(path)
    if out.resolve() == loaded.path.resolve():
        raise ValueError(f"export {path}: choose another output directory than the input")
    family = loaded.family
    tokenizers = loaded.tokenizers
    if format == "hf":
        if family.save_hf is None:
            writers = [f.name for f in registry.families() if f.save_hf is not None]
            raise ValueError(
                f"export --format hf: {path} holds a {loaded.model_type} model, which has no Hugging Face format "
                f"(einformer writes it for {writers}); use --format einformer"
            )
        if family.hf_export is not None:  # before writing anything: it may refuse
            tokenizers = family.hf_export(loaded.model, tokenizers, str(path))
    loaded.model.save_pretrained(out, format=format, max_shard_size=max_shard_size)
    family.save_tokenizers(tokenizers, out)
    copy_sentence_transformers_files(loaded.path, out)
    return out


def shard_size(value: int | str | None, format: str) -> int | None:
    """``--max-shard-size`` in bytes (digits alone are bytes), checked before anything is read or written."""
    if value is None:
        return None
    if format != "hf":
        raise ValueError("export --max-shard-size shards the Hugging Face format only: drop it or use --format hf")
    text = str(value).strip()
    try:
        return parse_size(int(text) if text.isdigit() else value)
    except ValueError:
        raise ValueError(
            f"export --max-shard-size {value!r}: give a size such as 500MB, 5GB or 2GiB (KB, MB, GB, TB are "
            "powers of 1000, KiB, MiB, GiB of 1024), or a number of bytes"
        ) from None


SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def copy_sentence_transformers_files(source: Path, out: Path) -> list[str]:
    """The sentence-transformers files of ``source`` (if any) copied to ``out``; returns their names.
    Only the module folders that modules.json names inside ``source`` are copied, file by file."""
    source = Path(source)
    if not (source / "modules.json").is_file():
        return []
    modules = read_json_list(source / "modules.json")
    names = [n for n in SENTENCE_TRANSFORMERS_FILES if (source / n).is_file()]
    for module in modules:
        folder = module.get("path", "") if isinstance(module, dict) else ""
        if not isinstance(folder, str) or not folder or Path(folder).is_absolute() or ".." in Path(folder).parts:
            continue  # the Transformer module itself ("" : the model's own files, written above)
        names += sorted(
            str(f.relative_to(source))
            for f in (source / folder).rglob("*")
            if f.is_file() and not f.name.startswith(".")
        )
    for name in names:
        with atomic_write(out / name) as f:
            f.write((source / name).read_bytes())
    return names


def read_json_list(path: Path) -> list:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{path} is not valid JSON; fix or remove it before exporting") from None
    if not isinstance(value, list):
        raise ValueError(f"{path} must hold sentence-transformers' list of modules, got {type(value).__name__}")
    return value


def check_target(out: Path, *, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file, a run directory or inside one, or (without ``overwrite``) a
    directory that holds anything."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a directory to write the model into")
    for directory in (out, *out.resolve().parents):
        if is_run(directory):
            raise ValueError(
                f"{directory} is an einformer run directory (it holds {RUN_INFO}); export never writes into "
                "a run, so its checkpoints and model stay usable: choose another output directory"
            )
    held = sorted(os.listdir(out)) if out.is_dir() else []
    if held and not overwrite:
        shown = ", ".join(held[:12]) + (f" and {len(held) - 12} more" if len(held) > 12 else "")
        raise ValueError(
            f"{out} is not empty (it holds {shown}); choose a new directory, or pass --overwrite to "
            "replace the model files there"
        )
