"""Reading a user's (source, target) pairs: TSV, JSONL, or two parallel files.

Every problem is reported with the file and line number and what to do about it: a line without
a tab, bad JSON, a missing field, bytes that are not UTF-8, an empty file, parallel files of
different lengths. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import EinformerError


class DataError(EinformerError, ValueError):
    """A user's data file that cannot be read as pairs."""


def read_data_file(path: str | Path) -> bytes:
    """The bytes of a data file; a missing, empty or directory path is a ``DataError`` naming it."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a data file (e.g. {path / 'train.txt'})")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    return raw


def read_lines(path: str | Path) -> list[tuple[int, str]]:
    """(line number, text) for each line of a UTF-8 file; errors name the first bad line."""
    path, raw = Path(path), read_data_file(path)
    lines = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}:{number}: not valid UTF-8 ({e.reason} at byte {e.start}); convert the file to UTF-8"
            ) from None
        lines.append((number, text.rstrip("\r")))
    return lines


def read_json_lines(path: str | Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) for each non-blank line of a JSONL file; bad JSON names the line."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno})") from None


def read_tsv(path: str | Path) -> list[tuple[str, str]]:
    """One pair per line: source TAB target."""
    pairs = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            found = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
            raise DataError(f"{path}:{number}: expected 'source<TAB>target', found {found}: {line[:60]!r}")
        pairs.append((parts[0].strip(), parts[1].strip()))
    return _nonempty(pairs, path)


def read_jsonl(path: str | Path, source_field: str = "source", target_field: str = "target") -> list[tuple[str, str]]:
    """One JSON object per line with string fields ``source_field`` and ``target_field``."""
    pairs = []
    for number, record in read_json_lines(path):
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
        for field in (source_field, target_field):
            if field not in record:
                raise DataError(
                    f"{path}:{number}: no field {field!r} (fields: {sorted(record)}); "
                    "name the fields with --source-field/--target-field"
                )
            if not isinstance(record[field], str):
                raise DataError(f"{path}:{number}: field {field!r} must be a string")
        pairs.append((record[source_field].strip(), record[target_field].strip()))
    return _nonempty(pairs, path)


def read_parallel(source_path: str | Path, target_path: str | Path) -> list[tuple[str, str]]:
    """Line i of the source file pairs with line i of the target file."""
    src, tgt = read_lines(source_path), read_lines(target_path)
    src, tgt = _drop_final_newline(src), _drop_final_newline(tgt)
    if len(src) != len(tgt):
        raise DataError(
            f"parallel files differ in length: {source_path} has {len(src)} lines, {target_path} has {len(tgt)}"
        )
    pairs = [(s.strip(), t.strip()) for (_, s), (_, t) in zip(src, tgt, strict=True) if s.strip() and t.strip()]
    return _nonempty(pairs, source_path)


def read_pairs(path: str | Path, *, target_path=None, source_field="source", target_field="target"):
    """Pick the reader by the arguments and the file ending (.jsonl/.json -> JSONL, else TSV)."""
    if target_path is not None:
        return read_parallel(path, target_path)
    if str(path).endswith((".jsonl", ".json")):
        return read_jsonl(path, source_field, target_field)
    return read_tsv(path)


def _drop_final_newline(lines):
    return lines[:-1] if lines and not lines[-1][1] else lines


def _nonempty(pairs, path):
    if not pairs:
        raise DataError(f"{path}: no (source, target) pairs found")
    return pairs
