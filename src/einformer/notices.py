"""Warnings einformer gives a user: a category to filter on, pointing at the user's own line.

``warn`` finds the first caller outside the einformer package, so Python's warning shows the
user's call (``model = BertForSequenceClassification.from_pretrained(...)``), never a line inside
einformer; the command line prints each warning as one line of its own (``one_line``).
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

PACKAGE = str(Path(__file__).resolve().parent)


class NewWeightsWarning(UserWarning):
    """A checkpoint lacks weights the model has (a new task head): they start from random values."""


def _stacklevel() -> int:
    """The stacklevel of the first frame outside einformer, as ``warnings.warn`` counts from its caller."""
    frame, level = inspect.currentframe().f_back.f_back, 2  # the caller of ``warn``
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` at the user's line (the first one outside einformer)."""
    warnings.warn(message, category, stacklevel=_stacklevel())


def one_line(message, category, filename, lineno, line=None) -> str:
    """``warnings.formatwarning`` for the command line: ``warning: MESSAGE``, no source line. (A
    formatter, not a ``showwarning``: whoever records warnings, ``pytest.warns`` or
    ``warnings.catch_warnings(record=True)``, still gets them.)"""
    return f"warning: {message}\n"
