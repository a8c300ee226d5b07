"""Integers written out in English words and in Chinese numerals: the demo's translation tasks."""

from __future__ import annotations

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split()
)
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = [(10**9, "billion"), (10**6, "million"), (10**3, "thousand")]


def _below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else ""))
    elif n:
        words.append(ONES[n])
    return words


def number_to_english(n: int) -> str:
    """1234 -> "one thousand two hundred thirty-four" (American style, no "and")."""
    if not 0 <= n < 10**12:
        raise ValueError(f"number_to_english takes 0 <= n < 10**12, got {n}")
    if n == 0:
        return "zero"
    words = []
    for value, name in SCALES:
        if n >= value:
            words += _below_thousand(n // value) + [name]
            n %= value
    return " ".join(words + _below_thousand(n))


ZH_DIGITS = "零一二三四五六七八九"
ZH_UNITS = ["", "十", "百", "千"]
ZH_GROUPS = [(10**8, "亿"), (10**4, "万"), (1, "")]


def _zh_group(n: int, leading: bool) -> str:
    """One group of four digits (0 < n < 10000); zeros inside it read as one 零, trailing ones silent."""
    digits = str(n) if leading else f"{n:04d}"
    out, zero = "", False
    for pos, d in enumerate(digits):
        if d == "0":
            zero = bool(out)
            continue
        if zero:
            out, zero = out + "零", False
        out += ZH_DIGITS[int(d)] + ZH_UNITS[len(digits) - pos - 1]
    if leading and len(digits) == 2 and digits[0] == "1":
        out = out[1:]  # a number that starts at the tens reads 十五, not 一十五
    return out


def number_to_chinese(n: int) -> str:
    """10 -> 十, 10086 -> 一万零八十六, 100000000 -> 一亿, 100010000 -> 一亿零一万."""
    if not 0 <= n < 10**12:
        raise ValueError(f"number_to_chinese takes 0 <= n < 10**12, got {n}")
    if n == 0:
        return "零"
    out, gap = "", False
    for value, name in ZH_GROUPS:
        group, n = divmod(n, value)
        if group >= 10000:  # beyond 亿: read the count of 亿 recursively
            out += number_to_chinese(group) + name
            continue
        if group == 0:
            gap = gap or bool(out)
            continue
        if out and (gap or group < 1000):
            out += "零"  # a skipped group, or a group with leading zeros, reads as one 零
        out += _zh_group(group, leading=not out) + name
        gap = False
    return out
