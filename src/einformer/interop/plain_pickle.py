"""Read a pickle that holds only plain data, without unpickling it.

Transformer-XL's published vocabulary (vocab.pkl) is a pickle: a dict of strings, numbers, lists, a
``collections.Counter`` and an ``OrderedDict``, written with ``torch.save`` (its legacy format: a
few small pickles in a row, the object being the fourth, or a zip holding data.pkl). ``pickle.load``
would run whatever the file names, so this module never calls it. It walks the opcodes with
``pickletools.genops`` and builds the values itself: None, booleans, numbers, strings, bytes,
lists, tuples, dicts and sets, plus Counter and OrderedDict (rebuilt as dicts). Any other opcode,
import or call (``os.system``, ``BUILD``, a class instance, a tensor's persistent id) raises
``UnsafePickle`` naming it, before anything is made of it.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.save's first pickle before the zip format
# the only globals a plain-data pickle may name, and what each call builds
ALLOWED_GLOBALS = {("collections", "OrderedDict"): dict, ("collections", "Counter"): dict}


class UnsafePickle(ValueError):
    """The pickle asks for more than plain data; nothing in it was run."""


class _Mark:
    pass


PUSH = {
    "NONE": lambda a: None,
    "NEWTRUE": lambda a: True,
    "NEWFALSE": lambda a: False,
    "EMPTY_LIST": lambda a: [],
    "EMPTY_DICT": lambda a: {},
    "EMPTY_TUPLE": lambda a: (),
    "EMPTY_SET": lambda a: set(),
}
SCALARS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
}  # fmt: skip


def _pop_mark(stack: list, metastack: list) -> list:
    items = stack[:]
    stack[:] = metastack.pop()
    return items


def read_one(stream: io.BufferedIOBase, source: str = "pickle"):
    """The next pickle in ``stream`` as plain Python data; ``UnsafePickle`` for anything else."""
    stack: list = []
    metastack: list = []
    memo: dict = {}
    for op, arg, pos in pickletools.genops(stream):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack.pop()
        if name in PUSH:
            stack.append(PUSH[name](arg))
        elif name in SCALARS:
            stack.append(arg)
        elif name == "MARK":
            metastack.append(stack[:])
            stack.clear()
        elif name == "POP":
            stack.pop()
        elif name == "POP_MARK":
            _pop_mark(stack, metastack)
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "APPEND":
            value = stack.pop()
            stack[-1].append(value)
        elif name == "APPENDS":
            items = _pop_mark(stack, metastack)
            stack[-1].extend(items)
        elif name == "LIST":
            stack.append(_pop_mark(stack, metastack))
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack, metastack)))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name == "DICT":
            items = _pop_mark(stack, metastack)
            stack.append(dict(zip(items[::2], items[1::2], strict=True)))
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = _pop_mark(stack, metastack)
            stack[-1].update(zip(items[::2], items[1::2], strict=True))
        elif name == "ADDITEMS":
            items = _pop_mark(stack, metastack)
            stack[-1].update(items)
        elif name == "FROZENSET":
            stack.append(frozenset(_pop_mark(stack, metastack)))
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            module, qualname = arg.split(" ", 1) if name == "GLOBAL" else (stack.pop(-2), stack.pop())
            if (module, qualname) not in ALLOWED_GLOBALS:
                raise UnsafePickle(
                    f"{source} imports {module}.{qualname} (at byte {pos}); only plain data is read, so it was "
                    "refused and nothing in it ran"
                )
            stack.append(ALLOWED_GLOBALS[(module, qualname)])
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            if func is not dict or not isinstance(args, tuple) or len(args) > 1:
                raise UnsafePickle(f"{source} calls {func!r} (at byte {pos}); only Counter and OrderedDict are rebuilt")
            stack.append(dict(args[0]) if args else {})
        else:
            raise UnsafePickle(
                f"{source} uses the pickle opcode {name} (at byte {pos}), which plain data does not need; "
                "it was refused and nothing in it ran"
            )
    raise UnsafePickle(f"{source} ends before its STOP opcode")


def read_plain_pickle(path: str | Path):
    """A plain-data pickle file: a bare pickle, torch.save's legacy stream, or torch.save's zip."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                raise UnsafePickle(f"{path} is a zip without data.pkl: not a torch.save file")
            return read_one(io.BytesIO(z.read(names[0])), str(path))
    stream = io.BytesIO(data)
    try:
        first = read_one(stream, str(path))
        if first != TORCH_LEGACY_MAGIC:
            return first
        read_one(stream, str(path))  # torch's protocol version
        read_one(stream, str(path))  # the saving machine's sys_info
        return read_one(stream, str(path))
    except UnsafePickle:
        raise
    except (IndexError, KeyError, TypeError, ValueError) as e:
        raise UnsafePickle(f"{path} is not a well-formed plain-data pickle ({type(e).__name__}: {e})") from None
