"""Task generators against hand-checked answers, and the split rules."""

import datetime
import random

import pytest

from einformer.data.dates import FORMATS, random_date_pair
from einformer.data.numbers import number_to_chinese, number_to_english
from einformer.data.tasks import TASKS, get_task


@pytest.mark.parametrize(
    "n,expected",
    [
        (0, "零"),
        (10, "十"),
        (15, "十五"),
        (20, "二十"),
        (100, "一百"),
        (110, "一百一十"),
        (1001, "一千零一"),
        (10010, "一万零一十"),
        (10086, "一万零八十六"),
        (100000, "十万"),
        (150000, "十五万"),
        (1000010, "一百万零一十"),
        (100000000, "一亿"),
        (100010000, "一亿零一万"),
        (100100000, "一亿零一十万"),
        (101000000, "一亿零一百万"),
        (110000000, "一亿一千万"),
        (100000001, "一亿零一"),
        (1234, "一千二百三十四"),
        (999999999, "九亿九千九百九十九万九千九百九十九"),
    ],
)
def test_numbers_zh(n, expected):
    assert number_to_chinese(n) == expected


@pytest.mark.parametrize(
    "n,expected",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety-nine"),
        (100, "one hundred"),
        (1234, "one thousand two hundred thirty-four"),
        (1000000, "one million"),
        (10010, "ten thousand ten"),
        (101000000, "one hundred one million"),
        (999999999, "nine hundred ninety-nine million nine hundred ninety-nine thousand nine hundred ninety-nine"),
    ],
)
def test_numbers_en(n, expected):
    assert number_to_english(n) == expected


def test_number_range_is_checked():
    with pytest.raises(ValueError, match="0 <= n"):
        number_to_english(-1)


def test_dates_parse_back_to_their_iso_form():
    rng = random.Random(0)
    for _ in range(300):
        text, iso = random_date_pair(rng)
        day = datetime.date.fromisoformat(iso)
        rendered = {day.strftime(f.replace("%-d", str(day.day))).lower() for f in FORMATS}
        assert text.lower() in rendered


@pytest.mark.parametrize("name", ["copy", "reverse", "sort", "addition"])
def test_algorithmic_tasks_are_correct_and_respect_lengths(name):
    task = get_task(name)
    train, val, test = task.splits(300, 20, 50, seed=1)
    fn = {
        "copy": lambda s: s,
        "reverse": lambda s: s[::-1],
        "sort": lambda s: "".join(sorted(s)),
        "addition": lambda s: str(sum(map(int, s.split("+")))),
    }[name]
    for src, tgt in train + val + test:
        assert tgt == fn(src)
    lo, hi = task.test_lengths
    sizes = [max(map(len, s.split("+"))) for s, _ in test] if name == "addition" else [len(s) for s, _ in test]
    assert min(sizes) >= lo and max(sizes) <= hi


@pytest.mark.parametrize("name", list(TASKS))
def test_splits_are_disjoint_and_deterministic(name):
    task = get_task(name)
    a = task.splits(400, 30, 30, seed=5)
    assert a == task.splits(400, 30, 30, seed=5)
    assert a != task.splits(400, 30, 30, seed=6)
    train, val, test = ({s for s, _ in split} for split in a)
    assert not train & val and not train & test and not val & test


def test_small_numbers_stay_in_training():
    train, val, test = get_task("numbers-en").splits(3000, 200, 1000, seed=0)
    assert all(len(s) >= 3 for s, _ in val + test)
    assert {str(i) for i in range(10)} <= {s for s, _ in train}


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'numbers-fr'; built-in tasks: numbers-en"):
        get_task("numbers-fr")
