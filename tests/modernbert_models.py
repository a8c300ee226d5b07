"""Tiny random ModernBERT directories that transformers saves, with a tokenizer.json of ModernBERT's kind
(byte-level BPE without a prefix space, ``[CLS] A [SEP] B [SEP]``, a ``[MASK]`` that takes the space
before it, no token types), trained here by ``tokenizers`` on the encoder tests' sentences. Shared by
the ModernBERT parity and pipeline tests."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.encoder_models import CORPUS

HEADS = ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")
SPECIAL = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
# 4 layers, global every second; a window of 4 (2 on each side) so padded batches of 11 cross it;
# biases nowhere, as ModernBERT
TINY = dict(hidden_size=32, intermediate_size=40, num_hidden_layers=4, num_attention_heads=4, local_attention=4,
            global_attn_every_n_layers=2, max_position_embeddings=64, global_rope_theta=160000.0,
            local_rope_theta=10000.0)  # fmt: skip


def save_tokenizer(path: Path):
    """transformers' fast tokenizer over a byte-level BPE trained on CORPUS, saved into ``path``."""
    import transformers
    from tokenizers import AddedToken, ByteLevelBPETokenizer, processors

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(CORPUS * 5, vocab_size=400, min_frequency=1, show_progress=False, special_tokens=SPECIAL)
    backend = bpe._tokenizer
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    backend.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True)])
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token="[MASK]", bos_token="[CLS]", eos_token="[SEP]", model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False, model_max_length=64,
    )  # fmt: skip
    tok.save_pretrained(path)
    return tok


def hf_config(tok, **changes):
    """A tiny transformers ModernBertConfig for ``tok``'s vocabulary (3 labels, no dropout)."""
    import transformers

    ids = {f"{name}_token_id": tok.convert_tokens_to_ids(t) for name, t in
           (("pad", "[PAD]"), ("cls", "[CLS]"), ("sep", "[SEP]"), ("bos", "[CLS]"), ("eos", "[SEP]"))}  # fmt: skip
    changes = {"num_labels": 3, **changes} if "id2label" not in changes else changes
    return transformers.ModernBertConfig(vocab_size=len(tok), **{**TINY, **ids, **changes})


def save_model(head: str, path: Path, *, spread: float | None = None, attn: str = "eager", **changes) -> Path:
    """A tiny random ``ModernBert{head}`` with its tokenizer, saved by transformers into ``path``.

    ``spread``: the std of every weight matrix (and of the norms' scales around 1), so the outputs vary
    well above 1e-5 from token to token and position to position."""
    import transformers

    tok = save_tokenizer(path)
    torch.manual_seed(0)
    config = hf_config(tok, **changes)
    if head == "ForQuestionAnswering":
        config.num_labels = 2
    config._attn_implementation = attn
    model = getattr(transformers, "ModernBert" + head)(config).eval()
    if spread is not None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() == 2 and "embeddings" not in name:
                    p.normal_(0.0, spread)
                elif name.endswith("bias"):
                    p.normal_(0.0, 0.1)
                elif p.dim() == 1:
                    p.normal_(1.0, 0.1)
    model.save_pretrained(path)
    return path
