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
from ..training.run_dir import RUN_INFO, is_run

FORMATS = ("hf", "einformer")


def export(path: str | Path, out: str | Path, *, format: str = "hf", overwrite: bool = False) -> Path:
    """Write what ``path`` holds to ``out`` in ``format``; returns ``out``. ``overwrite``: replace the
    files of a non-empty ``out`` (never a run directory's)."""
    if format not in FORMATS:
        raise ValueError(f"export --format {format!r}: choose one of {FORMATS}")
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
    loaded.model.save_pretrained(out, format=format)
    family.save_tokenizers(tokenizers, out)
    copy_sentence_transformers_files(loaded.path, out)
    return out


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
