"""Reading users' pair files: good files, and bad ones reported with file and line."""

import pytest

from einformer.data.pairs import DataError, read_pairs


def write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def test_tsv_jsonl_and_parallel(tmp_path):
    assert read_pairs(write(tmp_path, "a.tsv", "hallo\thello\n\nwelt\tworld\n")) == [
        ("hallo", "hello"),
        ("welt", "world"),
    ]
    jsonl = write(tmp_path, "a.jsonl", '{"de": "hallo", "en": "hello"}\n{"de": "welt", "en": "world"}\n')
    assert read_pairs(jsonl, source_field="de", target_field="en")[1] == ("welt", "world")
    src, tgt = write(tmp_path, "a.de", "hallo\nwelt\n"), write(tmp_path, "a.en", "hello\nworld\n")
    assert read_pairs(src, target_path=tgt) == [("hallo", "hello"), ("welt", "world")]


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("a.tsv", "ok\tfine\nno tab here\n", r"a.tsv:2: expected 'source<TAB>target', found no tab"),
        ("b.tsv", "a\tb\tc\n", r"b.tsv:1: expected .* found 2 tabs"),
        ("c.tsv", "", "the file is empty"),
        ("d.tsv", b"ok\tfine\n\xff\xfe\tx\n", r"d.tsv:2: not valid UTF-8"),
        ("e.jsonl", '{"source": "a", "target": "b"}\n{"source": "a"\n', r"e.jsonl:2: invalid JSON"),
        ("f.jsonl", '{"src": "a", "target": "b"}\n', r"f.jsonl:1: no field 'source'"),
        ("g.jsonl", '{"source": 1, "target": "b"}\n', r"g.jsonl:1: field 'source' must be a string"),
        ("h.jsonl", "[1, 2]\n", r"h.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, content, match):
    with pytest.raises(DataError, match=match):
        read_pairs(write(tmp_path, name, content))


def test_parallel_files_of_different_length(tmp_path):
    src, tgt = write(tmp_path, "a.de", "a\nb\nc\n"), write(tmp_path, "a.en", "x\ny\n")
    with pytest.raises(DataError, match="a.de has 3 lines, .*a.en has 2"):
        read_pairs(src, target_path=tgt)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_pairs(tmp_path / "nope.tsv")
