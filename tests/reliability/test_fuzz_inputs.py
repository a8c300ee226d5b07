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
TRIED = {"config.json": 0, CONFIG_NAME: 0, "text": 0, "jsonl": 0}

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


@pytest.fixture(scope="module", autouse=True)
def report_count():
    yield
    print(f"\nfuzz inputs tried: {TRIED} (total {sum(TRIED.values())}), none uncaught")
