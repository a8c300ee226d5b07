"""Tiny tokenizers of the three kinds Llama-family directories ship, trained here by the ``tokenizers``
library and saved by transformers (the oracle reads the same files):

* ``llama3``: byte-level BPE with Llama 3's split regex, "<|begin_of_text|>" added by the post-processor,
  tokenizer_class PreTrainedTokenizerFast (tokenizer.json read as it is);
* ``qwen2``: NFC + Qwen's split regex + byte-level BPE, tokenizer_class Qwen2Tokenizer, ChatML markers;
* ``llama2``: sentencepiece-style BPE with byte fallback (<0x00>..<0xFF> in the vocabulary), the older
  tokenizer.json form (a normalizer that prepends "▁"), tokenizer_class LlamaTokenizer, add_bos_token.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import Tokenizer as Backend

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chat_templates"
CORPUS = [
    "The quick brown fox jumps over the lazy dog. Hello world, hello there!",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # five",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
    "I'm fine, you're welcome; they've gone. It's 2024-07-26 and 3.14159 is pi.",
    "User: what is the weather in Paris?\nAssistant: It is sunny and 22 degrees.",
] * 20
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eot_id|>", "<|eom_id|>", "<|python_tag|>"]  # fmt: skip
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN3_EXTRA = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def _byte_level(split: str, specials: list[str], vocab_size: int, nfc: bool = False) -> Backend:
    tok = Backend(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def llama3_backend() -> Backend:
    tok = _byte_level(LLAMA3_SPLIT, LLAMA3_SPECIALS, 420)
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, tok.token_to_id(bos))]),
    ])  # fmt: skip
    return tok


def qwen2_backend(extra: list[str] = ()) -> Backend:
    tok = _byte_level(QWEN2_SPLIT, QWEN2_SPECIALS, 420, nfc=True)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    if extra:
        from tokenizers import AddedToken

        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    return tok


def llama2_backend() -> Backend:
    """Byte-fallback BPE whose vocabulary holds <unk> <s> </s>, the 256 byte pieces, then the learned ones."""
    learner = Backend(models.BPE())
    learner.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    learner.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=320, limit_alphabet=50))
    learned = json.loads(learner.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    for piece in sorted(learned["vocab"], key=learned["vocab"].get):
        vocab.setdefault(piece, len(vocab))
    tok = Backend(models.BPE(vocab=vocab, merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                  for m in learned["merges"]],
                             unk_token="<unk>", byte_fallback=True, fuse_unk=True))  # fmt: skip
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", 1)]
    )
    return tok


def template(name: str) -> str:
    return (FIXTURES / f"{name}.jinja").read_text(encoding="utf-8")


def save(kind: str, directory: Path, *, chat_template: str | None = None, **config_changes) -> Path:
    """A tokenizer directory of ``kind`` written by transformers, with tokenizer_config.json set as the
    model family's hub files set it (``config_changes`` on top)."""
    import transformers

    if kind == "llama3":
        backend, special = llama3_backend(), dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
        config = dict(tokenizer_class="PreTrainedTokenizerFast", model_max_length=131072)
    elif kind in ("qwen2", "qwen3"):
        backend = qwen2_backend(QWEN3_EXTRA if kind == "qwen3" else [])
        special = dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")
        config = dict(tokenizer_class="Qwen2Tokenizer", model_max_length=32768, bos_token=None, unk_token=None,
                      errors="replace", split_special_tokens=False, add_prefix_space=False)  # fmt: skip
    elif kind == "llama2":
        backend, special = llama2_backend(), dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>")
        config = dict(tokenizer_class="LlamaTokenizer", add_bos_token=True, add_eos_token=False, legacy=False,
                      pad_token=None, padding_side="left")  # fmt: skip
    else:
        raise ValueError(kind)
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    theirs.save_pretrained(directory)
    path = Path(directory) / "tokenizer_config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved.update(config, **config_changes)
    if chat_template is not None:
        saved["chat_template"] = chat_template
    path.write_text(json.dumps(saved, ensure_ascii=False, indent=2), encoding="utf-8")
    (Path(directory) / "tokenizer.json").write_text(backend.to_str(), encoding="utf-8")  # the form given above
    return Path(directory)
