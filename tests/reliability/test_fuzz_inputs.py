"""Mutated inputs through the public API (issue #32): each either works or raises einformer's error
(an ``EinformerError``, or the built-in ``ValueError`` / ``OSError`` the CLI prints alone) whose
message names the input (the file, or the field changed), never another exception.

The budget is fixed (``EXAMPLES`` per target, derandomized), so CI runs the same inputs every time.
"""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einformer import GPTConfig
from einformer.data.finetune import read_records
from einformer.data.text import read_text
from einformer.errors import EinformerError
from einformer.generation.config import CONFIG_NAME, GenerationConfig

EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXPECTED = (EinformerError, ValueError, OSError)
TRIED = {"config.json": 0, CONFIG_NAME: 0, "text": 0, "jsonl": 0, "tokenizer.json": 0, "vocab.json/merges.txt": 0,
         "vocab.txt": 0, "pipeline": 0, "cli": 0}  # fmt: skip

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308, 1e-308, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-5, max_value=10**6), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
GPT_CONFIG = GPTConfig.from_preset("tiny", vocab_size=64).to_dict()
GENERATION_KEYS = [
    "temperature", "top_k", "top_p", "num_beams", "max_new_tokens", "do_sample", "repetition_penalty",
    "bad_words_ids", "eos_token_id", "no_repeat_ngram_size", "early_stopping", "min_p", "suppress_tokens",
]  # fmt: skip


def _named(error: BaseException, *names: str) -> bool:
    return any(str(name) in str(error) for name in names)


@FUZZ
@given(key=st.sampled_from(sorted(GPT_CONFIG)), value=JSON_VALUES)
def test_mutated_config_json_works_or_is_named(key, value):
    TRIED["config.json"] += 1
    try:
        GPTConfig.from_dict({**GPT_CONFIG, key: value})
    except EXPECTED as e:
        assert _named(e, key, "model_type"), (key, value, e)


@FUZZ
@given(key=st.sampled_from(GENERATION_KEYS), value=JSON_VALUES, other=st.sampled_from(GENERATION_KEYS))
def test_mutated_generation_config_works_or_is_named(tmp_path_factory, key, value, other):
    TRIED[CONFIG_NAME] += 1
    directory = tmp_path_factory.mktemp("g")
    (directory / CONFIG_NAME).write_text(json.dumps({key: value, other: 1}, allow_nan=True))
    try:
        GenerationConfig.from_pretrained(directory)
    except EXPECTED as e:
        assert _named(e, directory / CONFIG_NAME), (key, value, e)


@FUZZ
@given(data=st.binary(max_size=300))
def test_mutated_text_files_work_or_are_named(tmp_path_factory, data):
    TRIED["text"] += 1
    path = tmp_path_factory.mktemp("t") / "corpus.txt"
    path.write_bytes(data)
    try:
        assert read_text(path) == data.decode("utf-8")
    except EXPECTED as e:
        assert _named(e, path), e


RECORD = st.dictionaries(
    st.sampled_from(["text", "text_pair", "label", "choices", "tags", "question", "context", "answer"]),
    JSON_VALUES,
    max_size=4,
)


@FUZZ
@given(
    task=st.sampled_from(["classify", "regress", "tag", "qa", "choice"]),
    records=st.lists(st.one_of(RECORD, JSON_VALUES), min_size=1, max_size=3),
    garbage=st.binary(max_size=20),
)
def test_mutated_jsonl_records_work_or_are_named(tmp_path_factory, task, records, garbage):
    TRIED["jsonl"] += 1
    path = tmp_path_factory.mktemp("j") / "train.jsonl"
    path.write_bytes(b"".join(json.dumps(r, allow_nan=True).encode() + b"\n" for r in records) + garbage)
    try:
        read_records(path, task)
    except EXPECTED as e:
        assert _named(e, path), (task, records, garbage, e)


# ---------------------------------------------------------------- tokenizer files
def _mutate(data: bytes, cut: int, insert: bytes, drop: int) -> bytes:
    """``data`` with ``drop`` bytes at ``cut`` replaced by ``insert`` (a truncation when ``drop`` is large)."""
    cut %= len(data) + 1
    return data[:cut] + insert + data[cut + drop :]


MUTATION = {
    "cut": st.integers(min_value=0, max_value=10**6),
    "insert": st.one_of(
        st.binary(max_size=12), st.sampled_from([b'"', b"{", b"}", b"null", b"-1", b" ", b"\n", b"\xff"])
    ),
    "drop": st.sampled_from([0, 1, 4, 10**6]),
}


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    """Valid files of each kind, to mutate: einformer's char tokenizer.json, GPT-2's vocab.json and
    merges.txt, BERT's vocab.txt."""
    from einformer.data.bert_tokenizer import BertTokenizer  # noqa: F401 (the reader under test)
    from einformer.data.tokenizer import Tokenizer

    root = tmp_path_factory.mktemp("tokenizers")
    Tokenizer.train(["the quick brown fox"], "char").save(root / "tokenizer.json")
    vocab = {c: i for i, c in enumerate("abcdefgh")} | {"ab": 8, "abc": 9, "<|endoftext|>": 10}
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\na b\nab c\n")
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "##es"]))
    return {name: (root / name).read_bytes() for name in ("tokenizer.json", "vocab.json", "merges.txt", "vocab.txt")}


@FUZZ
@given(**MUTATION)
def test_mutated_tokenizer_json_works_or_is_named(tmp_path_factory, tokenizer_files, cut, insert, drop):
    from einformer.data.tokenizer import Tokenizer

    TRIED["tokenizer.json"] += 1
    path = tmp_path_factory.mktemp("tj") / "tokenizer.json"
    path.write_bytes(_mutate(tokenizer_files["tokenizer.json"], cut, insert, drop))
    try:
        Tokenizer.load(path).encode("the fox")
    except EXPECTED as e:
        assert _named(e, path), e


@FUZZ
@given(which=st.sampled_from(["vocab.json", "merges.txt"]), **MUTATION)
def test_mutated_gpt2_vocab_and_merges_work_or_are_named(tmp_path_factory, tokenizer_files, which, cut, insert, drop):
    from einformer.data.gpt2_tokenizer import GPT2Tokenizer

    TRIED["vocab.json/merges.txt"] += 1
    directory = tmp_path_factory.mktemp("bpe")
    for name in ("vocab.json", "merges.txt"):
        data = tokenizer_files[name]
        (directory / name).write_bytes(_mutate(data, cut, insert, drop) if name == which else data)
    try:
        GPT2Tokenizer.from_pretrained(directory).encode("abc deh")
    except EXPECTED as e:
        assert _named(e, directory), e  # the file, or the directory (a special token vocab.json lacks)


@FUZZ
@given(**MUTATION)
def test_mutated_bert_vocab_txt_works_or_is_named(tmp_path_factory, tokenizer_files, cut, insert, drop):
    from einformer.data.bert_tokenizer import BertTokenizer

    TRIED["vocab.txt"] += 1
    directory = tmp_path_factory.mktemp("wp")
    (directory / "vocab.txt").write_bytes(_mutate(tokenizer_files["vocab.txt"], cut, insert, drop))
    try:
        BertTokenizer.from_pretrained(directory).encode("the foxes")
    except EXPECTED as e:
        assert _named(e, directory), e


# ---------------------------------------------------------------- pipeline inputs
PIPELINE_INPUTS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
              st.sampled_from(["the [MASK] fox", "[MASK]", "", "[MASK] [MASK]", "x" * 600])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["text", "text_pair", "x"]),
                                                                          inner, max_size=2)),
    max_leaves=4,
)  # fmt: skip


@pytest.fixture(scope="module")
def fill_mask(tokenizer_files, tmp_path_factory):
    import torch

    from einformer import BertConfig, BertForMaskedLM, pipeline
    from einformer.data.bert_tokenizer import BertTokenizer

    directory = tmp_path_factory.mktemp("fill_mask")
    (directory / "vocab.txt").write_bytes(tokenizer_files["vocab.txt"])
    tokenizer = BertTokenizer.from_pretrained(directory)
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, max_position=64))
    return pipeline("fill-mask", model=model, tokenizer=tokenizer)


@FUZZ
@given(inputs=PIPELINE_INPUTS, top_k=st.sampled_from([1, 3, 0, -1, 10**9]))
def test_pipeline_inputs_work_or_are_refused_by_name(fill_mask, inputs, top_k):
    TRIED["pipeline"] += 1
    try:
        fill_mask(inputs, top_k=top_k)
    except EXPECTED as e:
        assert str(e), (inputs, e)


# ---------------------------------------------------------------- the command line
FLAG_VALUES = st.sampled_from(["-1", "0", "1", "2", str(2**70), "1e308", "nan", "inf", "x", "", "é", "--", "-"])
COMMANDS = {
    "train": (["--run-dir", "{tmp}/run", "--data", "{tmp}/data.txt", "--model", "gpt"],
              ["--lr", "--batch-size", "--block-size", "--layers", "--heads", "--d-model", "--seed", "--warmup",
               "--weight-decay", "--tokenizer", "--documents", "--preset", "--vocab-size", "--val", "--clip"]),
    "finetune": (["--model", "{tmp}/model", "--task", "classify", "--data", "{tmp}/data.txt", "--val",
                  "{tmp}/data.txt", "--run-dir", "{tmp}/run"], ["--max-length", "--lr", "--batch-size"]),
    "generate": (["{tmp}/model", "hello"], ["--max-new-tokens", "--temperature", "--top-k", "--top-p", "--num-beams"]),
    "export": (["{tmp}/model", "{tmp}/out"], ["--format"]),
    "predict": (["{tmp}/model"], ["--data", "--batch-size"]),
    "embed": (["{tmp}/model", "hello"], ["--batch-size"]),
}  # fmt: skip
FIXED = {"train": ["--preset", "tiny", "--steps", "1", "--block-size", "8", "--eval-every", "1000", "--no-progress"]}


@FUZZ
@given(
    command=st.sampled_from(sorted(COMMANDS)),
    flags=st.lists(st.tuples(st.integers(min_value=0, max_value=20), FLAG_VALUES), max_size=3),
    data=st.binary(max_size=80),
    config=st.one_of(st.none(), st.dictionaries(st.sampled_from(["model_type", "vocab_size", "d_model"]), JSON_VALUES)),
)
def test_cli_argv_ends_in_a_clean_error_never_a_traceback(tmp_path_factory, capsys, command, flags, data, config):
    """``einformer.cli.main`` on fuzzed flags and files: exit 0, or 2 with one ``einformer ...: error:``
    line (argparse's usage error included), never an uncaught exception or an 'unexpected' error."""
    from einformer.cli import main

    TRIED["cli"] += 1
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "data.txt").write_bytes(data)
    if config is not None:
        (tmp / "model").mkdir()
        (tmp / "model" / "config.json").write_text(json.dumps(config, allow_nan=True))
    fixed, options = COMMANDS[command]
    argv = [command, *(a.format(tmp=tmp) for a in fixed)]
    for index, value in flags:
        argv += [options[index % len(options)], value]
    argv += FIXED.get(command, [])
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a usage line and the error, exit 2
        code = e.code
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and "error: unexpected " not in err, (argv, err)
    if code == 2:
        assert "error:" in err, (argv, err)


@pytest.fixture(scope="module", autouse=True)
def report_count():
    yield
    print(f"\nfuzz inputs tried: {TRIED} (total {sum(TRIED.values())}), none uncaught")
