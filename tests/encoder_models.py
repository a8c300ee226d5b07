"""Tiny random RoBERTa, XLM-RoBERTa, DistilBERT and ELECTRA directories that transformers saves, each
with a tokenizer.json that transformers' own tokenizer class writes: byte-level BPE (RoBERTa),
sentencepiece unigram (XLM-R), WordPiece (DistilBERT, ELECTRA), trained here by ``tokenizers`` on
a few sentences (accents, Chinese characters, an e-mail address, repeated spaces, long words).
Shared by the parity, pipeline and fine-tuning tests of these families."""

from __future__ import annotations

import json
from pathlib import Path

import torch

SAMPLE = [
    "Café Müller opened in São Paulo, said Zoë.",
    "我爱北京天安门 and Tokyo.",
    "Write to jane.doe@example.com before Friday!",
    "two   spaces    and\ttabs in Antidisestablishmentarianism",
    "Schwarzenegger met Tchaikovsky's great-grandson in Reykjavík.",
    "short",
]
CORPUS = [
    *SAMPLE,
    "Paris is the capital of France, and Berlin the capital of Germany.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Questions about the weather in Tokyo and Beijing were answered.",
    "Zoë and Élodie wrote letters to the committee about the budget.",
]
FAMILIES = ("roberta", "xlm-roberta", "distilbert", "electra", "deberta-v2")
PREFIX = {"roberta": "Roberta", "xlm-roberta": "XLMRoberta", "distilbert": "DistilBert", "electra": "Electra",
          "deberta-v2": "DebertaV2"}  # fmt: skip
# DeBERTa-v3's options (the family's default), and DeBERTa-v2's (own position projections, absolute
# positions in the input, no buckets, narrower embeddings)
DEBERTA_V3 = dict(relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=8, share_att_key=True,
                  norm_rel_ebd="layer_norm", position_biased_input=False, type_vocab_size=0,
                  layer_norm_eps=1e-7)  # fmt: skip
DEBERTA_V2 = dict(relative_attention=True, pos_att_type=["c2p", "p2c"], position_buckets=-1, max_relative_positions=16,
                  share_att_key=False, norm_rel_ebd="none", position_biased_input=True, type_vocab_size=2,
                  embedding_size=24)  # fmt: skip
HEADS = ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def save_tokenizer(family: str, path: Path):
    """transformers' tokenizer of ``family`` over a vocabulary trained on CORPUS, saved into ``path``."""
    import transformers
    from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer
    from tokenizers.implementations import BertWordPieceTokenizer

    text = CORPUS * 5
    if family == "roberta":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(text, vocab_size=500, min_frequency=1, show_progress=False,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])  # fmt: skip
        model = json.loads(bpe._tokenizer.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        tok = transformers.RobertaTokenizer(vocab=model["vocab"], merges=merges)
    elif family == "deberta-v2":
        unigram = SentencePieceUnigramTokenizer()
        unigram.train_from_iterator(text, vocab_size=300, show_progress=False, unk_token="[UNK]",
                                    special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"])  # fmt: skip
        pieces = json.loads(unigram._tokenizer.to_str())["model"]["vocab"]
        tok = transformers.DebertaV2Tokenizer(vocab=[tuple(p) for p in pieces] + [("[MASK]", 0.0)], unk_id=3)
    elif family == "xlm-roberta":
        unigram = SentencePieceUnigramTokenizer()
        unigram.train_from_iterator(text, vocab_size=300, show_progress=False, unk_token="<unk>",
                                    special_tokens=["<s>", "<pad>", "</s>", "<unk>"])  # fmt: skip
        pieces = json.loads(unigram._tokenizer.to_str())["model"]["vocab"]
        tok = transformers.XLMRobertaTokenizer(vocab=[tuple(p) for p in pieces] + [("<mask>", 0.0)])
    else:
        wordpiece = BertWordPieceTokenizer(lowercase=True)
        wordpiece.train_from_iterator(text, vocab_size=400, show_progress=False,
                                      special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])  # fmt: skip
        vocab = wordpiece.get_vocab()
        cls = transformers.DistilBertTokenizer if family == "distilbert" else transformers.ElectraTokenizer
        tok = cls(vocab=vocab)
    tok.save_pretrained(path)
    return tok


def hf_config(family: str, vocab_size: int, pad_token_id: int, **changes):
    """A tiny transformers config of ``family`` (D=32, 2 layers, 4 heads, 3 labels, no dropout)."""
    import transformers

    changes = {"num_labels": 3, **changes} if "id2label" not in changes else changes
    if family == "distilbert":
        fields = dict(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=4, hidden_dim=37, dropout=0.0,
                      attention_dropout=0.0, max_position_embeddings=64, pad_token_id=pad_token_id)  # fmt: skip
        return transformers.DistilBertConfig(**fields, **changes)
    fields = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  pad_token_id=pad_token_id)  # fmt: skip
    if family in ("roberta", "xlm-roberta"):
        cls = transformers.RobertaConfig if family == "roberta" else transformers.XLMRobertaConfig
        return cls(**fields, max_position_embeddings=64 + pad_token_id + 1, type_vocab_size=1, bos_token_id=0,
                   eos_token_id=2, **changes)  # fmt: skip
    if family == "deberta-v2":
        changes = {**DEBERTA_V3, **changes}
        return transformers.DebertaV2Config(**fields, max_position_embeddings=64, **changes)
    return transformers.ElectraConfig(**fields, embedding_size=16, max_position_embeddings=64, **changes)


def save_model(family: str, head: str, path: Path, *, spread: float | None = None, **changes) -> Path:
    """A tiny random ``{family}{head}`` with its tokenizer, saved by transformers into ``path``.

    ``spread``: the std of the task head's last layer, so labels vary from token to token."""
    import transformers

    tok = save_tokenizer(family, path)
    torch.manual_seed(0)
    config = hf_config(family, len(tok), tok.pad_token_id, **changes)
    if head == "ForQuestionAnswering":
        config.num_labels = 2
    model = getattr(transformers, PREFIX[family] + head)(config).eval()
    if spread is not None:
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name.endswith(("out_proj", "classifier", "qa_outputs")):
                torch.nn.init.normal_(module.weight, std=spread)
    model.save_pretrained(path)
    return path


def same(got, expected, path="result"):
    """Equal structure and values, floats within 1e-4 (numpy scalars read as floats); as
    tests/test_pipelines.py's, without its need for the MiniLM package."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), f"{path}: keys {got} vs {expected}"
        for key in expected:
            same(got[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(got, list | tuple) and len(got) == len(expected), f"{path}: {got} vs {expected}"
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            same(a, b, f"{path}[{i}]")
    elif isinstance(expected, str) or isinstance(expected, int) and not hasattr(expected, "dtype"):
        assert got == expected, f"{path}: {got!r} vs {expected!r}"
    else:
        assert abs(float(got) - float(expected)) <= 1e-4, f"{path}: {got} vs {expected}"
