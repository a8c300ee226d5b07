"""A user's records as rows of named columns, whatever the file: JSONL, CSV or TSV with a header,
Parquet, or a directory that ``datasets``' ``save_to_disk`` wrote.

The format comes from the name: ``.jsonl`` / ``.json`` (one JSON object per line), ``.csv``, ``.tsv``
(a header line, then one record per line; read by Python's csv module), ``.parquet`` (read by pyarrow)
and a directory (read by ``datasets.load_from_disk``: JSON state and Arrow files, nothing unpickled;
of a ``DatasetDict``, the ``split`` asked for). Any other name is read as JSONL. Each row keeps where it
came from (``train.csv:3``, ``train.parquet row 3``), so an error names the place to fix. Class
labels that ``datasets`` stores as integers (``ClassLabel``, e.g. conll2003's ``ner_tags``) come back
as their names.

pyarrow and ``datasets`` are optional (``pip install "einformer[data]"``): imported only for Parquet
and ``datasets`` directories.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

from .pairs import DataError, read_lines

INSTALL = 'pip install "einformer[data]"'
SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


@dataclasses.dataclass
class Table:
    path: Path
    format: str  # jsonl, csv, tsv, parquet or datasets
    columns: list[str]  # the header, the schema's names, or the keys of a JSONL file's objects
    rows: list[tuple[str, object]]  # (where: "FILE:LINE" or "FILE row N", the row: a dict, or any JSON value)


def format_of(path: str | Path) -> str:
    """The format ``read_table`` reads ``path`` as."""
    path = Path(path)
    return "datasets" if path.is_dir() else SUFFIXES.get(path.suffix.lower(), "jsonl")


def read_table(path: str | Path, *, split: str = "train", hint: str = "") -> Table:
    """The rows of ``path`` (see the module's docstring); ``hint`` ends a parse error's message (the
    fields the caller expects, a valid line)."""
    path, kind = Path(path), format_of(path)
    if kind == "datasets":
        return _read_datasets(path, split)
    if kind == "parquet":
        return _read_parquet(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    lines = read_lines(path)  # UTF-8, each bad line named
    if kind == "jsonl":
        return _read_jsonl(path, lines, hint)
    return _read_delimited(path, lines, kind, hint)


def _read_jsonl(path: Path, lines: list[tuple[int, str]], hint: str) -> Table:
    rows = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            rows.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as e:
            tabs = " (it holds tabs: a TSV file? name it .tsv)" if "\t" in line else ""
            raise DataError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno}){tabs}. {hint}") from None
    keys = {k: None for _, row in rows if isinstance(row, dict) for k in row}  # every record's, in order
    return Table(path, "jsonl", list(keys), rows)


def _read_delimited(path: Path, lines: list[tuple[int, str]], kind: str, hint: str) -> Table:
    """CSV or TSV with a header line, by the csv module (quoted fields may hold the delimiter or newlines)."""
    text = "\n".join(line for _, line in lines).lstrip("\ufeff")  # a BOM that spreadsheet programs write
    reader = csv.reader(io.StringIO(text), delimiter="\t" if kind == "tsv" else ",")
    try:
        header = next(reader)
        while not header:  # blank lines before the header
            header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: the file is empty") from None
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DataError(f"{path}:1: the header names column(s) {repeated} more than once; name each column once")
    rows = []
    try:
        for row in reader:
            if not row:
                continue
            where = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise DataError(
                    f"{where}: {len(row)} fields where the header line has {len(header)} ({header}); "
                    f"is the delimiter right (.csv: commas, .tsv: tabs)? {hint}"
                )
            rows.append((where, dict(zip(header, row, strict=True))))
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: not valid {kind.upper()} ({e}). {hint}") from None
    return Table(path, kind, header, rows)


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow: {INSTALL}") from None
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow's ArrowInvalid and OSError for a file that is not Parquet
        raise DataError(f"{path}: not a Parquet file ({e})") from None
    return _rows_of(path, "parquet", table.to_pylist(), table.column_names, _class_names(table.schema))


def _read_datasets(path: Path, split: str) -> Table:
    """A ``save_to_disk`` directory: one Dataset, or a DatasetDict's ``split``."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"{path} is a directory: reading a datasets directory needs datasets: {INSTALL}") from None
    _check_arrow_only(path)
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, KeyError, TypeError) as e:  # not save_to_disk's files, or damaged ones
        raise DataError(
            f"{path} is a directory but not one that datasets' save_to_disk wrote ({e}); pass a .jsonl, .csv, .tsv "
            "or .parquet file, or such a directory"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(f"{path} holds the splits {sorted(loaded)}, not {split!r}; pass the split's folder")
        path, loaded = path / split, loaded[split]
    loaded = loaded.with_format(None)  # plain Python values, whatever format was saved
    names = _class_names_of(loaded.features)
    return _rows_of(path, "datasets", loaded.to_list(), list(loaded.column_names), names)


def dataset_splits(path: str | Path) -> list[str]:
    """The splits of a ``DatasetDict`` directory (its dataset_dict.json); [] for anything else."""
    index = Path(path) / "dataset_dict.json"
    try:
        splits = json.loads(index.read_text(encoding="utf-8")).get("splits", []) if index.is_file() else []
    except (ValueError, AttributeError):
        return []
    return [s for s in splits if isinstance(s, str)] if isinstance(splits, list) else []


def _check_arrow_only(path: Path) -> None:
    """Every data file a state.json names is an .arrow file inside the directory (nothing else is read)."""
    for state in [path / "state.json", *path.glob("*/state.json")]:
        if not state.is_file():
            continue
        try:
            files = [f["filename"] for f in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{state} is not a datasets state file; save the dataset again with save_to_disk") from None
        bad = [f for f in files if not f.endswith(".arrow") or Path(f).name != f]
        if bad:
            raise DataError(f"{state} names data files {bad}; einformer reads only .arrow files inside the directory")


def _class_names(schema) -> dict[str, list[str]]:
    """The ClassLabel names that ``datasets`` keeps in a Parquet file's schema (none without datasets)."""
    if not schema.metadata or b"huggingface" not in schema.metadata:
        return {}
    try:
        import datasets
    except ImportError:
        return {}
    return _class_names_of(datasets.Features.from_arrow_schema(schema))


def _class_names_of(features) -> dict[str, list[str]]:
    """column -> ClassLabel names, for a ClassLabel column or a list of them (tags)."""
    import datasets

    out = {}
    for name, feature in features.items():
        inner = getattr(feature, "feature", feature)  # List(ClassLabel) / Sequence(ClassLabel)
        if isinstance(inner, datasets.ClassLabel):
            out[name] = list(inner.names)
    return out


def _rows_of(path: Path, kind: str, records: list[dict], columns: list[str], names: dict) -> Table:
    def named(column, value):
        labels = names.get(column)
        if labels is None or value is None:
            return value
        if isinstance(value, list):
            return [labels[v] if isinstance(v, int) and 0 <= v < len(labels) else v for v in value]
        return labels[value] if isinstance(value, int) and 0 <= value < len(labels) else value

    rows = [(f"{path} row {i + 1}", {k: named(k, v) for k, v in r.items()}) for i, r in enumerate(records)]
    if not rows:
        raise DataError(f"{path}: no records")
    return Table(path, kind, columns, rows)
