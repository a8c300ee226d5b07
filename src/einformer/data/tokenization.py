"""One tokenizer interface for every einformer tokenizer, the one Hugging Face users know.

transformers defines it once in ``PreTrainedTokenizerBase`` (tokenization_utils_base.py): ``encode``,
``decode``, ``batch_decode``, ``__call__`` with padding and truncation returning a ``BatchEncoding``,
special tokens and their ids, ``convert_ids_to_tokens``, ``save_pretrained`` / ``from_pretrained``.
Here ``PreTrainedTokenizer`` holds that interface and the parts every tokenizer shares (padding,
truncation, batching, special ids); a tokenizer supplies only its vocabulary and its text <-> ids
rules. ``PreTrainedTokenizerFast`` (tokenization_fast.py) is the version whose rules are a
Hugging Face ``tokenizers`` object (einformer's own, BERT's, GPT-2's), which encodes, truncates and
decodes exactly as transformers' fast tokenizers do on the same tokenizer.json.

    tokenizer.py          Tokenizer       char / word / bpe / wordpiece / bytebpe, trained by einformer
    bert_tokenizer.py     BertTokenizer   [CLS] A [SEP] B [SEP], token_type_ids
    gpt2_tokenizer.py     GPT2Tokenizer   byte-level BPE, <|endoftext|>
    marian_tokenizer.py   MarianTokenizer sentencepiece pieces + vocab.json, </s> appended
    word_vocab.py         WordVocab       Transformer-XL's whitespace words

Departures from transformers, each kept because callers rely on it: ``decode``'s default
``skip_special_tokens`` is each tokenizer's own (True for einformer's, BERT's and Marian's; einformer's
and Marian's also stop at the first end-of-sequence token), and GPT-2 pads with its EOS when it has no
pad token (transformers raises).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

SPECIAL_TOKENS = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
PADDING = (False, None, True, "do_not_pad", "longest", "max_length")
TRUNCATION = (False, None, True, "do_not_truncate", "longest_first")


class BatchEncoding(dict):
    """``input_ids``, ``attention_mask`` (and ``token_type_ids``): a dict whose keys read as attributes too."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no {name!r}; it holds {list(self)}") from None

    def to(self, device: str | torch.device) -> BatchEncoding:
        """The tensors moved to ``device`` (lists stay as they are)."""
        return BatchEncoding({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.items()})


class _SpecialId:
    """``pad_token_id`` and its siblings: the id of the matching ``*_token`` string, None without one.
    Setting an id sets the token, as in transformers."""

    def __set_name__(self, owner, name: str) -> None:
        self.token_attr = name.removesuffix("_id")

    def __get__(self, tok, owner=None):
        if tok is None:
            return self
        token = getattr(tok, self.token_attr)
        return None if token is None else tok._convert_token_to_id(token)

    def __set__(self, tok, value: int | None) -> None:
        setattr(tok, self.token_attr, None if value is None else tok._convert_id_to_token(int(value)))


class PreTrainedTokenizer:
    """Text <-> ids with Hugging Face's tokenizer interface.

    A subclass supplies ``vocab_size``, ``get_vocab``, ``_convert_token_to_id`` (None when absent),
    ``_convert_id_to_token``, ``_decode``, ``save_pretrained`` and ``from_pretrained``, and either
    ``_tokenize_ids`` (text -> ids without special tokens, for the Python path below) or its own
    ``_encode_rows``. Special tokens are ``*_token`` strings (None where the tokenizer has none);
    ``build_inputs_with_special_tokens`` places them, as in transformers.
    """

    model_input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    padding_side: str = "right"  # or "left" (decoder-only generation)
    model_max_length: int | None = None  # truncation=True without max_length cuts here; None: never
    bos_token: str | None = None
    eos_token: str | None = None
    unk_token: str | None = None
    sep_token: str | None = None
    pad_token: str | None = None
    cls_token: str | None = None
    mask_token: str | None = None
    bos_token_id = _SpecialId()
    eos_token_id = _SpecialId()
    unk_token_id = _SpecialId()
    sep_token_id = _SpecialId()
    pad_token_id = _SpecialId()
    cls_token_id = _SpecialId()
    mask_token_id = _SpecialId()

    # -- what each tokenizer supplies --------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def get_vocab(self) -> dict[str, int]:
        raise NotImplementedError

    def _convert_token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def _convert_id_to_token(self, index: int) -> str | None:
        raise NotImplementedError

    def _tokenize_ids(self, text: str) -> list[int]:
        raise NotImplementedError

    def _decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path) -> Path:
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> PreTrainedTokenizer:
        raise NotImplementedError

    # -- vocabulary and special tokens -------------------------------------------------------------

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def all_special_tokens(self) -> list[str]:
        tokens = (getattr(self, f"{name}_token") for name in SPECIAL_TOKENS)
        return list(dict.fromkeys(t for t in tokens if t is not None))

    @property
    def all_special_ids(self) -> list[int]:
        return [self._convert_token_to_id(t) for t in self.all_special_tokens]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int] | None:
        """A token's id (``unk_token_id`` when it is not in the vocabulary), or a list's ids."""
        if isinstance(tokens, str):
            found = self._convert_token_to_id(tokens)
            return self.unk_token_id if found is None else found
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> str | list[str] | None:
        """An id's token, or a list's (or 1-d tensor's) tokens."""
        ids = ids.tolist() if hasattr(ids, "tolist") else ids  # a tensor or an array
        if isinstance(ids, int):
            return self._convert_id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._convert_id_to_token(i) for i in _as_ids(ids) if i not in skip]

    # -- encoding ----------------------------------------------------------------------------------

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool = True,
        return_token_type_ids: bool | None = None,
    ) -> BatchEncoding:
        """Encode one text or a list (each optionally with a pair), as transformers' tokenizers do.

        Args:
            text, text_pair: a string or a list of strings (pairs: the same count).
            padding: False / "do_not_pad"; True / "longest" (to the longest row); "max_length" (to
                ``max_length``, else ``model_max_length``). Pads on ``padding_side``.
            truncation: False; True / "longest_first" (to ``max_length``, else ``model_max_length``,
                special tokens included; a pair loses tokens from its longer side first).
            return_tensors: None (lists) or "pt" ((B, T) int64 tensors; rows must be of one length).
            return_token_type_ids: default: when "token_type_ids" is in ``model_input_names`` (BERT).
        Returns:
            ``input_ids`` and ``attention_mask`` (1 = token, 0 = padding), ``token_type_ids`` where the
            tokenizer has them; one row for a single string (a batch of one with "pt").
        """
        single, texts, pairs = _as_batch(text, text_pair)
        limit = self._truncation_length(truncation, max_length)
        rows = self._encode_rows(texts, pairs, add_special_tokens=add_special_tokens, max_length=limit)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if not return_token_type_ids:
            rows = [{k: v for k, v in row.items() if k != "token_type_ids"} for row in rows]
        out = self.pad(
            rows,
            padding=padding,
            max_length=max_length,
            return_tensors=return_tensors,
            return_attention_mask=return_attention_mask,
        )
        return BatchEncoding({k: v[0] for k, v in out.items()}) if single and return_tensors is None else out

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        *,
        truncation: bool | str = False,
        max_length: int | None = None,
    ) -> list[int]:
        """Text (and pair) -> ids, with the tokenizer's special tokens unless ``add_special_tokens=False``."""
        single, texts, pairs = _as_batch(text, text_pair)
        if not single:
            raise TypeError("encode takes one text; call the tokenizer on a list of texts")
        limit = self._truncation_length(truncation, max_length)
        rows = self._encode_rows(texts, pairs, add_special_tokens=add_special_tokens, max_length=limit)
        return rows[0]["input_ids"]

    def pad(
        self,
        encoded_inputs: Sequence[dict] | dict,
        padding: bool | str = True,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool = True,
    ) -> BatchEncoding:
        """Pad encoded rows (a list of dicts, or a dict of lists) on ``padding_side``: ``input_ids`` with
        the pad id, ``token_type_ids`` and ``attention_mask`` with 0. Arguments as in ``__call__``."""
        if isinstance(encoded_inputs, dict):
            keys = list(encoded_inputs)
            encoded_inputs = [dict(zip(keys, row, strict=True)) for row in zip(*encoded_inputs.values(), strict=True)]
        rows = [dict(r) for r in encoded_inputs]
        if return_attention_mask:
            for row in rows:
                row.setdefault("attention_mask", [1] * len(row["input_ids"]))
        width = self._padded_width(rows, padding, max_length)
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if any(k in row for row in rows)]
        if not rows:
            keys = ["input_ids", "attention_mask"] if return_attention_mask else ["input_ids"]
        fill = {"input_ids": self._pad_value() if width is not None else 0}
        out = {k: [pad_row(row[k], width, fill.get(k, 0), self.padding_side) for row in rows] for k in keys}
        if return_tensors is None:
            return BatchEncoding(out)
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be None or 'pt' (PyTorch), got {return_tensors!r}")
        if len({len(r) for r in out["input_ids"]}) > 1:
            raise ValueError("sequences of different lengths need padding=True for return_tensors='pt'")
        return BatchEncoding({k: to_long_tensor(v) for k, v in out.items()})

    def build_inputs_with_special_tokens(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """The ids with the tokenizer's special tokens around them (none by default)."""
        return ids + (pair or [])

    def create_token_type_ids_from_sequences(self, ids: list[int], pair: list[int] | None = None) -> list[int]:
        """0 for the first text and its special tokens, 1 for the pair (one type per input id)."""
        total = len(self.build_inputs_with_special_tokens(ids, pair))
        first = total if pair is None else total - len(pair)
        return [0] * first + [1] * (total - first)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return len(self.build_inputs_with_special_tokens([], [] if pair else None))

    def _encode_rows(
        self, texts: list[str], pairs: list[str] | None, *, add_special_tokens: bool, max_length: int | None
    ) -> list[dict[str, list[int]]]:
        """Each text (and pair) -> ``input_ids`` and ``token_type_ids``, truncated to ``max_length``."""
        rows = []
        for i, text in enumerate(texts):
            ids = self._tokenize_ids(text)
            pair = None if pairs is None else self._tokenize_ids(pairs[i])
            if max_length is not None:
                room = max_length - (self.num_special_tokens_to_add(pair is not None) if add_special_tokens else 0)
                if room < 0:
                    raise ValueError(f"max_length={max_length} leaves no room beside the special tokens")
                ids, pair = truncate_longest_first(ids, pair, room)
            if add_special_tokens:
                row_ids = self.build_inputs_with_special_tokens(ids, pair)
                types = self.create_token_type_ids_from_sequences(ids, pair)
            else:
                row_ids, types = ids + (pair or []), [0] * len(ids) + [1] * len(pair or [])
            rows.append({"input_ids": row_ids, "token_type_ids": types})
        return rows

    def _truncation_length(self, truncation: bool | str, max_length: int | None) -> int | None:
        if truncation not in TRUNCATION:
            raise ValueError(f"truncation must be one of {TRUNCATION}, got {truncation!r}")
        if truncation in (False, None, "do_not_truncate"):
            return None
        limit = max_length if max_length is not None else self.model_max_length
        if limit is not None and limit < 0:
            raise ValueError(f"max_length must be >= 0, got {limit}")
        return limit

    def _padded_width(self, rows: list[dict], padding: bool | str, max_length: int | None) -> int | None:
        if padding not in PADDING:
            raise ValueError(f"padding must be one of {PADDING}, got {padding!r}")
        if padding in (False, None, "do_not_pad"):
            return None
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")
        if padding == "max_length":
            width = max_length if max_length is not None else self.model_max_length
            if width is None:
                raise ValueError("padding='max_length' needs max_length: this tokenizer has no model_max_length")
            return width
        return max((len(r["input_ids"]) for r in rows), default=0)

    def _pad_value(self) -> int:
        """The id written into padded positions of ``input_ids``."""
        if self.pad_token_id is None:
            raise ValueError(
                f"{type(self).__name__} has no pad token; set tokenizer.pad_token (e.g. to its eos_token) to pad"
            )
        return self.pad_token_id

    # -- decoding ----------------------------------------------------------------------------------

    def decode(self, token_ids, skip_special_tokens: bool = False) -> str:
        """Ids (a list, a 1-d tensor or one int) -> text; ``skip_special_tokens`` drops the special tokens."""
        return self._decode(_as_ids(token_ids), skip_special_tokens)

    def batch_decode(self, sequences, skip_special_tokens: bool | None = None) -> list[str]:
        """``decode`` of each row of a (B, T) tensor or a list of id lists. ``skip_special_tokens``
        defaults to ``decode``'s own default, so the result equals a loop of ``decode``."""
        if isinstance(sequences, torch.Tensor):
            if sequences.dim() != 2:
                raise ValueError(f"batch_decode takes a (B, T) tensor, got shape {tuple(sequences.shape)}")
            sequences = sequences.tolist()
        kwargs = {} if skip_special_tokens is None else {"skip_special_tokens": skip_special_tokens}
        return [self.decode(row, **kwargs) for row in sequences]

    def id_to_token(self, i: int) -> str | None:
        return self.convert_ids_to_tokens(int(i))


# -- helpers ---------------------------------------------------------------------------------------


def pad_row(values: list[int], width: int | None, fill: int, side: str) -> list[int]:
    """``values`` padded with ``fill`` to ``width`` on ``side`` (unchanged when None or already as long)."""
    gap = 0 if width is None else max(width - len(values), 0)
    return [fill] * gap + list(values) if side == "left" else list(values) + [fill] * gap


def truncate_longest_first(ids: list[int], pair: list[int] | None, room: int) -> tuple[list[int], list[int] | None]:
    """Cut ``ids`` (and ``pair``) to ``room`` tokens in all, from the end of the longer one first (ties:
    the pair), as transformers' "longest_first" strategy."""
    remove = len(ids) + len(pair or []) - room
    if remove <= 0:
        return ids, pair
    if pair is None:
        return ids[:room], None
    first = min(abs(len(pair) - len(ids)), remove)  # until both are equally long
    second = remove - first  # then alternately
    if len(ids) > len(pair):
        cut_ids, cut_pair = first + second // 2, second - second // 2
    else:
        cut_ids, cut_pair = second // 2, first + second - second // 2
    return ids[: len(ids) - cut_ids], pair[: len(pair) - cut_pair]


def _as_batch(text, text_pair) -> tuple[bool, list[str], list[str] | None]:
    """(whether one text was given, the texts, the pairs or None), checked."""
    single = isinstance(text, str)
    texts = [text] if single else list(text) if isinstance(text, Iterable) else None
    if texts is None or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"text must be a string or a list of strings, got {type(text).__name__}")
    if text_pair is None:
        return single, texts, None
    pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
    if len(pairs) != len(texts) or not all(isinstance(p, str) for p in pairs):
        raise ValueError(f"text_pair must be strings, one per text ({len(texts)}), got {text_pair!r}")
    return single, texts, pairs


def _as_ids(token_ids) -> list[int]:
    """A list of ints from a list, a tuple, a tensor or one int."""
    if hasattr(token_ids, "tolist"):
        token_ids = token_ids.tolist()
    if isinstance(token_ids, int):
        return [token_ids]
    return [int(i) for i in token_ids]


def to_long_tensor(rows: list[list[int]]) -> torch.Tensor:
    """(B, T) int64 from equal-length rows ((0, 0) for none)."""
    return torch.tensor(rows, dtype=torch.long) if rows else torch.zeros((0, 0), dtype=torch.long)
