"""GPT-2's byte-level BPE tokenizer from a Hugging Face directory, through ``tokenizers``.

Reads ``tokenizer.json`` (the fast tokenizer's own file) as is, or builds the same tokenizer from
``vocab.json`` + ``merges.txt`` (GPT2TokenizerFast's files): byte-level pre-tokenization with GPT-2's
regex, BPE, the byte-level decoder, and ``<|endoftext|>`` as a special token. ``tokenizer_config.json``
sets ``bos_token`` / ``eos_token`` / ``unk_token`` / ``pad_token``, ``add_prefix_space`` and
``padding_side``. Ids equal transformers' GPT2TokenizerFast (tests/data/test_gpt2_tokenizer.py).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors

from ..checkpoint import CheckpointError, atomic_write, read_json, write_json
from .tokenization_fast import PreTrainedTokenizerFast, read_tokenizer_file
from .tokenizer import Tokenizer

ENDOFTEXT = "<|endoftext|>"


class GPT2Tokenizer(PreTrainedTokenizerFast):
    """Text <-> GPT-2 ids; ``tok(texts, padding=True)`` pads on ``padding_side`` (left for generation),
    with ``pad_token``, else with the EOS (transformers would ask for a pad token)."""

    def __init__(
        self,
        backend: HFTokenizer,
        *,
        bos_token: str | None = ENDOFTEXT,
        eos_token: str | None = ENDOFTEXT,
        unk_token: str | None = ENDOFTEXT,
        pad_token: str | None = None,
        add_prefix_space: bool = False,
        padding_side: str = "right",
        model_max_length: int = 1024,
    ) -> None:
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        super().__init__(backend)
        self.padding_side, self.model_max_length = padding_side, model_max_length
        self.add_prefix_space = add_prefix_space
        self.bos_token, self.eos_token, self.unk_token, self.pad_token = bos_token, eos_token, unk_token, pad_token
        for name in ("bos", "eos", "unk", "pad"):
            token = getattr(self, f"{name}_token")
            if token is not None and backend.token_to_id(token) is None:
                raise ValueError(f"the vocabulary has no {name}_token {token!r}; fix tokenizer_config.json")
        self.backend.no_padding()
        self.backend.no_truncation()

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> GPT2Tokenizer:
        directory = Path(directory)
        config = _read_config(directory)
        aps = bool(config.get("add_prefix_space", False))
        if (directory / "tokenizer.json").is_file():
            backend = read_tokenizer_file(directory / "tokenizer.json")
            if "add_prefix_space" in config:  # as transformers does: the config's choice wins
                backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=aps)
        elif (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
            backend = from_vocab_and_merges(directory / "vocab.json", directory / "merges.txt", add_prefix_space=aps)
        else:
            raise FileNotFoundError(
                f"{directory} has no GPT-2 tokenizer: expected tokenizer.json, or vocab.json and merges.txt"
            )
        tokens = {
            k: _token(config.get(f"{k}_token", ENDOFTEXT if k != "pad" else None)) for k in ("bos", "eos", "unk", "pad")
        }
        try:
            return cls(
                backend,
                bos_token=tokens["bos"],
                eos_token=tokens["eos"],
                unk_token=tokens["unk"],
                pad_token=tokens["pad"],
                add_prefix_space=aps,
                padding_side=config.get("padding_side", "right"),
                model_max_length=int(config.get("model_max_length", 1024)),
            )
        except ValueError as e:  # a special token the vocabulary lacks: name the directory
            raise ValueError(f"{directory}: {e}") from None

    def _pad_value(self) -> int:
        """GPT-2 has no pad token: it pads with its EOS (as generate does; the mask hides it), else 0."""
        for i in (self.pad_token_id, self.eos_token_id):
            if i is not None:
                return i
        return 0

    def save_pretrained(self, directory: str | Path) -> Path:
        """tokenizer.json, vocab.json + merges.txt, tokenizer_config.json and special_tokens_map.json:
        transformers' AutoTokenizer reads them back to the same ids."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / "tokenizer.json", "w") as f:
            f.write(self.backend.to_str())
        self.backend.model.save(str(directory))  # vocab.json, merges.txt
        special = {f"{k}_token": getattr(self, f"{k}_token") for k in ("bos", "eos", "unk", "pad")}
        special = {k: v for k, v in special.items() if v is not None}
        write_json(directory / "special_tokens_map.json", special)
        write_json(
            directory / "tokenizer_config.json",
            {
                "tokenizer_class": "GPT2Tokenizer",
                **special,
                "add_prefix_space": self.add_prefix_space,
                "padding_side": self.padding_side,
                "model_max_length": self.model_max_length,
            },
        )
        return directory


def from_vocab_and_merges(vocab: Path, merges: Path, *, add_prefix_space: bool = False) -> HFTokenizer:
    """GPT-2's fast tokenizer, built from its two files as transformers converts them. A damaged file
    is a CheckpointError naming it and what is wrong (``tokenizers`` says only "Error while reading BPE
    files")."""
    tokens = read_vocab(vocab)
    backend = HFTokenizer(models.BPE(vocab=tokens, merges=read_merges(merges, tokens)))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    if backend.token_to_id(ENDOFTEXT) is not None:
        backend.add_special_tokens([ENDOFTEXT])
    return backend


def read_vocab(path: Path) -> dict[str, int]:
    """vocab.json: an object mapping each token to its id, an integer >= 0."""
    vocab = read_json(path, "GPT-2 vocabulary")
    for token, i in vocab.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise CheckpointError(
                f"{path}: token {token!r} has id {i!r}; vocab.json maps each token to an integer id >= 0"
            )
    return vocab


def read_merges(path: Path, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """merges.txt: an optional ``#version`` line, then one merge a line: two tokens of the vocabulary
    separated by one space, whose concatenation is in the vocabulary too."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path} is not UTF-8 text (byte {e.start}); merges.txt holds one merge a line") from None
    merges = []
    for n, line in enumerate(lines, 1):
        if not line or (n == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise CheckpointError(f"{path}:{n}: {line[:60]!r} is not a merge: a line holds two tokens and one space")
        missing = [t for t in (*parts, "".join(parts)) if t not in vocab]
        if missing:
            raise CheckpointError(f"{path}:{n}: the merge {line[:60]!r} names {missing[0]!r}, which vocab.json lacks")
        merges.append((parts[0], parts[1]))
    return merges


def _read_config(directory: Path) -> dict:
    path = directory / "tokenizer_config.json"
    return read_json(path, "tokenizer config") if path.is_file() else {}


def _token(value) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def load_lm_tokenizer(directory: str | Path):
    """A language model directory's tokenizer: GPT-2's when tokenizer_config.json is beside its
    tokenizer.json (a GPT-2 directory, or a run fine-tuned from one), else einformer's ``Tokenizer``."""
    directory = Path(directory)
    if (directory / "tokenizer_config.json").is_file():
        return GPT2Tokenizer.from_pretrained(directory)
    return Tokenizer.load(directory / "tokenizer.json")


def is_gpt2_tokenizer_dir(directory: str | Path) -> bool:
    d = Path(directory)
    return (d / "tokenizer.json").is_file() or ((d / "vocab.json").is_file() and (d / "merges.txt").is_file())
