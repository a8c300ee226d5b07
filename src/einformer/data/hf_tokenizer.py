"""A Hugging Face tokenizer directory (tokenizer.json + tokenizer_config.json), as transformers reads it.

Llama 2 and 3, Mistral, Qwen2 and Qwen3 ship their tokenizer as the ``tokenizers`` library's
tokenizer.json (byte-level BPE for Llama 3 and Qwen; sentencepiece-style BPE with byte fallback for
Llama 2 and Mistral) and a tokenizer_config.json that says the rest: the special tokens (strings or
AddedToken dicts), the added tokens (``added_tokens_decoder``), the chat template,
``model_max_length`` and ``padding_side``. ``HFTokenizer`` reads both the way transformers'
``AutoTokenizer`` (TokenizersBackend, tokenization_utils_tokenizers.py) does, on the ``tokenizers``
Tokenizer itself, so ids and decoded text are transformers' (tests/data/test_hf_tokenizer.py).

Whether a BOS / EOS is added is tokenizer.json's post-processor: transformers 5 ignores the config's
``add_bos_token`` / ``add_eos_token`` when tokenizer.json is there (4 let them rewrite the
post-processor; the files Llama 2 and Mistral ship agree with their post-processor either way), and so
does ``HFTokenizer``. Setting ``tok.add_bos_token`` / ``add_eos_token`` rewrites the post-processor to
"[BOS] $A [EOS]", as transformers' ``update_post_processor`` does.

transformers' Llama and Qwen2 tokenizer classes rebuild the normalizer, pre-tokenizer and decoder
around the file's vocabulary and merges; ``tokenizer_class`` in the config selects the same rebuild
here (``REBUILT``), so a Llama 2 tokenizer.json of the older form (a normalizer that prepends "▁")
encodes as transformers 5 encodes it. Other classes (Llama 3's ``PreTrainedTokenizerFast``) read
tokenizer.json as it is.

A Llama-2-era directory with only a sentencepiece tokenizer.model (no tokenizer.json) is converted as
transformers 5's LlamaTokenizer converts it (``sentencepiece_convert.py``) into the same Llama pipeline;
there the config's ``add_bos_token`` / ``add_eos_token`` do decide (tests/data/test_sentencepiece_only.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers, processors
from tokenizers import Tokenizer as Backend

from ..checkpoint import atomic_write, read_json, write_json
from .chat_template import ChatTemplates, read_chat_templates, write_chat_templates
from .sentencepiece_convert import llama_tokenizer_data, sentencepiece_tokenizer
from .tokenization import SPECIAL_TOKENS
from .tokenization_fast import PreTrainedTokenizerFast

TOKENIZER_FILE, CONFIG_FILE, SPECIAL_MAP_FILE = "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"
SENTENCEPIECE_FILE = "tokenizer.model"  # a sentencepiece model: read where tokenizer.json is missing
NO_LIMIT = 10**18  # transformers writes 1e30 for "no length limit"; einformer says None
QWEN2_SPLIT = (  # the pre-tokenizer regex of Qwen2's tokenizer class (and of every Qwen tokenizer.json)
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# what transformers' tokenizer classes take when tokenizer_config.json leaves a field out
CLASS_DEFAULTS = {
    "LlamaTokenizer": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "padding_side": "left"},
    "Qwen2Tokenizer": {"eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
}
OWN_KEYS = {  # the config keys save_pretrained writes from the tokenizer's state (others are kept as read)
    *(f"{name}_token" for name in SPECIAL_TOKENS),
    *("add_bos_token", "add_eos_token", "added_tokens_decoder", "chat_template", "model_max_length"),
    *("padding_side", "additional_special_tokens", "extra_special_tokens", "tokenizer_class"),
}


class HFTokenizer(ChatTemplates, PreTrainedTokenizerFast):
    """A Hugging Face fast tokenizer from its directory: text <-> ids equal to transformers' AutoTokenizer,
    ``apply_chat_template``, ``save_pretrained`` writing files transformers reads back the same.

    Args:
        backend: the ``tokenizers.Tokenizer`` (the pipeline and vocabulary of tokenizer.json).
        special: ``bos_token`` ... ``mask_token`` -> string or None.
        add_bos_token, add_eos_token: None: the backend's post-processor decides (tokenizer.json's); a bool:
            the post-processor becomes "[BOS] $A [EOS]" with the ones asked for, as transformers makes it.
        additional_special_tokens: more special tokens (the chat markers of some configs).
        chat_template: a template, or a dict of named ones (``chat_template.py``).
        config: the rest of tokenizer_config.json, kept as read and written back by save_pretrained.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        special: dict[str, str | None] | None = None,
        add_bos_token: bool | None = None,
        add_eos_token: bool | None = None,
        additional_special_tokens: list[str] = (),
        padding_side: str = "right",
        model_max_length: int | None = None,
        chat_template: str | dict[str, str] | None = None,
        config: dict | None = None,
    ) -> None:
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        super().__init__(backend)
        self.padding_side, self.model_max_length, self.chat_template = padding_side, model_max_length, chat_template
        self.config = dict(config or {})
        for key, token in (special or {}).items():
            setattr(self, key, token)
        self.additional_special_tokens = list(additional_special_tokens)
        missing = [t for t in self.all_special_tokens if backend.token_to_id(t) is None]
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])  # as transformers
        self._add_bos, self._add_eos = add_bos_token, add_eos_token
        if add_bos_token is not None or add_eos_token is not None or backend.post_processor is None:
            self.update_post_processor()
        backend.no_padding()
        backend.no_truncation()

    # -- special tokens --------------------------------------------------------------------------

    @property
    def all_special_tokens(self) -> list[str]:
        return list(dict.fromkeys([*super().all_special_tokens, *self.additional_special_tokens]))

    @property
    def add_bos_token(self) -> bool:
        return bool(self._add_bos)

    @add_bos_token.setter
    def add_bos_token(self, value: bool) -> None:
        self._add_bos = bool(value)
        self.update_post_processor()

    @property
    def add_eos_token(self) -> bool:
        return bool(self._add_eos)

    @add_eos_token.setter
    def add_eos_token(self, value: bool) -> None:
        self._add_eos = bool(value)
        self.update_post_processor()

    def update_post_processor(self) -> None:
        """The post-processor that puts BOS before and EOS after each text (of a pair: each side) when
        ``add_bos_token`` / ``add_eos_token`` ask for them, as transformers' ``update_post_processor``."""
        bos = self.bos_token if self.add_bos_token else None
        eos = self.eos_token if self.add_eos_token else None
        single = " ".join([*([f"{bos}:0"] if bos else []), "$A:0", *([f"{eos}:0"] if eos else [])])
        pair = " ".join([single, *([f"{bos}:1"] if bos else []), "$B:1", *([f"{eos}:1"] if eos else [])])
        ids = [(t, self.backend.token_to_id(t)) for t in dict.fromkeys(t for t in (bos, eos) if t)]
        self.backend.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=ids)

    # -- files -----------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, *, defaults: dict[str, str] | None = None, auto_class: str | None = None
    ) -> HFTokenizer:
        """tokenizer.json with tokenizer_config.json (and special_tokens_map.json, chat_template.jinja); without
        tokenizer.json, a LlamaTokenizer's sentencepiece tokenizer.model converted as transformers converts it.
        ``defaults``: special tokens ("bos" ... "mask" -> string) that the caller's transformers class
        takes where the config names none (``CLASS_DEFAULTS`` holds those of the classes named by
        ``tokenizer_class``). ``auto_class``: the class the caller's AutoTokenizer reads the directory as,
        where that is not the config's (a Mistral model type's: TokenizersBackend, the file as it is)."""
        directory = Path(directory)
        path = directory / TOKENIZER_FILE
        if not path.is_file() and not (directory / SENTENCEPIECE_FILE).is_file():
            raise FileNotFoundError(f"{directory} has no {TOKENIZER_FILE} (nor a sentencepiece {SENTENCEPIECE_FILE}): "
                                    "save the tokenizer with the model")  # fmt: skip
        config = read_json(directory / CONFIG_FILE, "tokenizer config") if (directory / CONFIG_FILE).is_file() else {}
        if "added_tokens_decoder" not in config and (directory / SPECIAL_MAP_FILE).is_file():
            # transformers' legacy path: special_tokens_map.json's entries over the config's
            config = {**config, **read_json(directory / SPECIAL_MAP_FILE, "special tokens map")}
        kind = str(config.get("tokenizer_class") or "").removesuffix("Fast")
        kind = auto_class.removesuffix("Fast") if auto_class else kind
        given = {f"{name}_token": token for name, token in (defaults or {}).items()}
        config = {**given, **CLASS_DEFAULTS.get(kind, {}), **config}
        if path.is_file():
            backend, from_spm = _read_backend(path, kind, config), {}
        else:  # a sentencepiece-only directory: converted as transformers' LlamaTokenizer converts it
            backend, from_spm = _read_sentencepiece(directory / SENTENCEPIECE_FILE, kind, config)
        for _, entry in sorted((config.get("added_tokens_decoder") or {}).items(), key=lambda kv: int(kv[0])):
            token = _added_token(entry)
            if backend.token_to_id(token.content) is None:
                backend.add_tokens([token])
        extra = config.get("extra_special_tokens", config.get("additional_special_tokens")) or []
        extra = list(extra.values()) if isinstance(extra, dict) else extra
        extra = list(dict.fromkeys([*from_spm.get("additional_special_tokens", []), *map(_content, extra)]))
        if from_spm:
            _mark_special(backend, [*(_content(config.get(f"{n}_token")) for n in SPECIAL_TOKENS), *extra])
        if config.get("split_special_tokens"):
            backend.encode_special_tokens = True
        limit = config.get("model_max_length")
        return cls(
            backend,
            special={f"{n}_token": _content(config.get(f"{n}_token")) for n in SPECIAL_TOKENS},
            add_bos_token=from_spm.get("add_bos_token"),
            add_eos_token=from_spm.get("add_eos_token"),
            additional_special_tokens=extra,
            padding_side=config.get("padding_side", "right"),
            model_max_length=None if limit is None or limit >= NO_LIMIT else int(limit),
            chat_template=read_chat_templates(directory, config),
            config=config,
        )

    def save_pretrained(self, directory: str | Path) -> Path:
        """tokenizer.json, tokenizer_config.json, special_tokens_map.json and chat_template.jinja:
        transformers' AutoTokenizer (and ``from_pretrained``) read them back to the same ids and template."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / TOKENIZER_FILE, "w") as f:
            f.write(self.backend.to_str())
        config = {k: v for k, v in self.config.items() if k not in OWN_KEYS}
        named = {f"{n}_token": getattr(self, f"{n}_token") for n in SPECIAL_TOKENS}
        config.update({k: v for k, v in named.items() if v is not None or k in self.config})  # None: said none
        config["tokenizer_class"] = self.config.get("tokenizer_class") or "PreTrainedTokenizerFast"
        added = sorted(self.backend.get_added_tokens_decoder().items())
        config["added_tokens_decoder"] = {str(i): _token_dict(token) for i, token in added}
        limit = self.model_max_length  # "no limit" (None, or a huge number) written as transformers writes it
        config["model_max_length"] = limit if limit is not None and limit < NO_LIMIT else int(1e30)
        config["padding_side"] = self.padding_side
        if self.additional_special_tokens:
            config["extra_special_tokens"] = self.additional_special_tokens
        write_json(directory / CONFIG_FILE, config)
        write_json(directory / SPECIAL_MAP_FILE, self.special_tokens_map)
        write_chat_templates(self.chat_template, directory)
        return directory


# -- reading -------------------------------------------------------------------------------------


def _read_backend(path: Path, kind: str, config: dict) -> Backend:
    """tokenizer.json through ``tokenizers``, with the pipeline transformers' class ``kind`` rebuilds."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if kind in REBUILT and (data.get("model") or {}).get("type") == "BPE":
            return REBUILT[kind](data, config)
        return Backend.from_str(json.dumps(data))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); re-save the tokenizer") from None
    except Exception as e:  # the Rust side raises a bare Exception on a malformed file
        raise ValueError(f"cannot read tokenizer {path}: {e}; re-save the tokenizer") from None


def _read_sentencepiece(path: Path, kind: str, config: dict) -> tuple[Backend, dict]:
    """tokenizer.model as transformers 5 converts it (``sentencepiece_convert.py``). A LlamaTokenizer's: its BPE
    in the Llama pipeline, its control and user-defined pieces as the special tokens. No tokenizer class: the
    model's own settings (unigram or BPE), its control pieces as the special tokens, its trainer's unk / bos /
    eos where the config names none. Either way a config's list of extra special tokens (even an empty one)
    replaces the model's pieces, and BOS / EOS are added as the config's ``add_bos_token`` / ``add_eos_token``
    say (absent: neither)."""
    replaced = "extra_special_tokens" in config or "additional_special_tokens" in config
    if kind == "LlamaTokenizer":
        data, pieces = llama_tokenizer_data(path)
        backend = _llama_pipeline(data, config)
        backend.add_tokens([] if replaced else pieces)  # each with its own flag: user-defined pieces are not special
        extra = [] if replaced else [p.content for p in pieces]
    elif kind in ("", "TokenizersBackend"):
        backend, control, named = sentencepiece_tokenizer(path, legacy=bool(config.get("legacy", True)))
        for key, token in named.items():
            config.setdefault(key, token)
        extra = [] if replaced else control
    else:
        raise ValueError(f"{path.parent} holds a sentencepiece {path.name} without tokenizer.json, which "
                         f"transformers reads as a {kind}: only a LlamaTokenizer's model, or one whose directory "
                         "names no tokenizer_class (TokenizersBackend), is converted; save the tokenizer as "
                         "tokenizer.json with the model")  # fmt: skip
    flags = {key: bool(config.get(key)) for key in ("add_bos_token", "add_eos_token")}
    return backend, {"additional_special_tokens": extra, **flags}


def _mark_special(backend: Backend, tokens: list[str | None]) -> None:
    """The special tokens the vocabulary holds become added special tokens (ids unchanged), as transformers
    makes them when it converts a sentencepiece model; pieces added already (user-defined: not special) stay."""
    added = {token.content for token in backend.get_added_tokens_decoder().values()}
    held = [t for t in dict.fromkeys(tokens) if t and t not in added and backend.token_to_id(t) is not None]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in held])


def _llama_pipeline(data: dict, config: dict) -> Backend:
    """transformers 5's LlamaTokenizer: the file's vocabulary, merges and added tokens; no normalizer; a
    Metaspace pre-tokenizer that puts "▁" before the first piece ("first"; every piece with
    ``legacy: true``; none without ``add_prefix_space``); byte fallback; "▁" -> " " on decoding."""
    prefix = config.get("add_prefix_space")
    prefix = True if prefix is None else bool(prefix)
    scheme = ("always" if config.get("legacy", False) else "first") if prefix else "never"
    data = {**data, "normalizer": None, "pre_tokenizer": None, "decoder": None}
    data["model"] = {**data["model"], "byte_fallback": True, "fuse_unk": True, "unk_token": None, "dropout": None,
                     "continuing_subword_prefix": None, "end_of_word_suffix": None, "ignore_merges": False}  # fmt: skip
    backend = Backend.from_str(json.dumps(data))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme, split=False)
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    backend.decoder = decoders.Sequence(steps + ([decoders.Strip(content=" ", left=1)] if prefix else []))
    return backend


def _qwen2_pipeline(data: dict, config: dict) -> Backend:
    """transformers 5's Qwen2Tokenizer: NFC, Qwen's split regex, then byte-level; byte-level decoding."""
    data = {**data, "normalizer": None, "pre_tokenizer": None, "decoder": None}
    data["model"] = {**data["model"], "byte_fallback": False, "fuse_unk": False, "unk_token": None, "dropout": None,
                     "continuing_subword_prefix": "", "end_of_word_suffix": "", "ignore_merges": False}  # fmt: skip
    backend = Backend.from_str(json.dumps(data))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=bool(config.get("add_prefix_space", False)), use_regex=False),
    ])  # fmt: skip
    backend.decoder = decoders.ByteLevel()
    return backend


REBUILT = {"LlamaTokenizer": _llama_pipeline, "Qwen2Tokenizer": _qwen2_pipeline}


def _content(value) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def _added_token(entry) -> AddedToken:
    if isinstance(entry, str):
        return AddedToken(entry, special=True, normalized=False)
    if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
        raise ValueError(f"tokenizer_config.json: added_tokens_decoder entry {entry!r} has no 'content'")
    fields = ("single_word", "lstrip", "rstrip", "normalized", "special")
    return AddedToken(entry["content"], **{k: bool(entry[k]) for k in fields if k in entry})


def _token_dict(token: AddedToken) -> dict:
    fields = ("content", "single_word", "lstrip", "rstrip", "normalized", "special")
    return {k: getattr(token, k) for k in fields}


def is_hf_tokenizer_dir(directory: str | Path) -> bool:
    return (Path(directory) / TOKENIZER_FILE).is_file()
