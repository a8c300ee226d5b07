"""Ponder maps label their positions as the attention views do (#31): a byte-level BPE's pieces
(``Ġbrown``, ``Ċ``) become their text, checked against the tokenizer's own decoding of each id, and the
raw pieces are kept beside the labels."""

import torch

from einformer.config import UniversalTransformerConfig
from einformer.data.tokenizer import Tokenizer
from einformer.explain.ponder import ponder_map
from einformer.inference import Translator
from einformer.models.universal import UniversalTransformer

TEXTS = ["the brown fox jumps\nover the lazy dog", "a brown dog\nand a quick fox"] * 4
VISIBLE = {"\n": "↵"}


def test_ponder_map_labels_are_readable_text():
    tok = Tokenizer.train(TEXTS, "bytebpe", vocab_size=300)
    torch.manual_seed(0)
    config = UniversalTransformerConfig(src_vocab_size=len(tok), tgt_vocab_size=len(tok), act=True, max_position=64,
                                        **UniversalTransformerConfig.presets["tiny"])  # fmt: skip
    run = Translator(UniversalTransformer(config).eval(), tok, tok)
    pm = ponder_map(run, "the brown fox\nover")
    ids = run.encode_sources(["the brown fox\nover"])["input_ids"][0].tolist()
    assert pm.source_pieces == [tok.backend.id_to_token(i) for i in ids]
    assert "Ġbrown" in pm.source_pieces and "Ċ" in pm.source_pieces  # the raw pieces, kept
    words = [VISIBLE.get(t, t) for t in (tok.backend.decode([i]) for i in ids[:-1])]
    assert pm.source_tokens == [*words, "[EOS]"] and " brown" in pm.source_tokens and "↵" in pm.source_tokens
    assert len(pm.source_tokens) == len(pm.source_steps) and len(pm.output_tokens) == len(pm.output_steps)
    assert pm.output_tokens == [
        VISIBLE.get(t, t) or p for t, p in ((tok.backend.decode([i]), tok.backend.id_to_token(i)) for i in
                                            [tok.backend.token_to_id(x) for x in pm.output_pieces])
    ]  # fmt: skip
