"""einformer's error family: every error it raises for a user's input, file or setting derives from
``EinformerError`` and says, in one or two lines, what (the file, field or flag) and the fix. The CLI
prints those messages alone; anything else is unexpected and gets one line pointing to --debug.

Each also keeps the built-in base its callers already catch (``ValueError``, ``RuntimeError``).
"""

from __future__ import annotations


class EinformerError(Exception):
    """Base of einformer's own errors."""


class ConfigError(EinformerError, ValueError):
    """A config field of the wrong type or outside its range."""
