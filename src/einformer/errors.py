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


class DiskFullError(EinformerError, OSError):
    """A write failed for want of disk space (``OSError`` ENOSPC, safetensors' "No space left on
    device", torch's "unexpected pos" of a short write); the message names the path and the space left."""


def is_disk_full(error: BaseException) -> bool:
    """Is ``error`` how one of the writers einformer uses reports a full disk?"""
    import errno

    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "unexpected pos" in text or "Disk quota exceeded" in text
