"""A sentencepiece ``tokenizer.model`` turned into the ``tokenizers`` backend transformers 5 builds from it.

Llama-2-era and many community Llama checkpoints ship only a sentencepiece model (no tokenizer.json).
transformers 5 converts it on load, in one of two ways, and so do we:

* ``tokenizer_class`` LlamaTokenizer (``llama_tokenizer_data``; what Llama 2 directories name): the pieces
  in id order become the BPE vocabulary, the merges are every split of a piece into two pieces of the
  vocabulary, ranked by the id of the piece they make (then by the left half's length), and the control
  and user-defined pieces become special tokens. The Llama pipeline around them (Metaspace "▁" prefix by
  ``legacy`` / ``add_prefix_space``, byte fallback, no normalizer) is the one ``hf_tokenizer.py`` gives a
  Llama tokenizer.json. The model's own normalizer spec is ignored on this path, as transformers ignores
  it. Only BPE models: a unigram model under LlamaTokenizer is refused by name (transformers would force
  its pieces into BPE merges, which is not how the model segments).
* no tokenizer class (``sentencepiece_tokenizer``; transformers' ``TokenizersBackend``): the model's own
  settings, unigram or BPE, so that it encodes as sentencepiece does.

Ids and decoded text equal ``AutoTokenizer``'s (tests/data/test_sentencepiece_only.py). Reading the model
proto's fields (piece types, the model type, the normalizer spec) needs the ``protobuf`` package, as
transformers' conversion does; the ``sentencepiece`` library itself checks that the file is a model.
"""

from __future__ import annotations

import re
from pathlib import Path

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as Backend

MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}  # sentencepiece's TrainerSpec.ModelType
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4  # sentencepiece's SentencePiece.Type


def read_model_proto(path: Path):
    """The ``ModelProto`` of a sentencepiece model file; a clear error naming the file when it is not one."""
    import sentencepiece

    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:
        raise ImportError(
            f"reading the sentencepiece model {path} needs protobuf: pip install protobuf "
            "(or pip install 'einformer[sentencepiece]')"
        ) from None
    data = Path(path).read_bytes()
    try:  # the library's own loader validates the model (a protobuf parse alone accepts many byte strings)
        sentencepiece.SentencePieceProcessor(model_proto=data)
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(data)
    except Exception as e:  # sentencepiece raises RuntimeError/OSError, protobuf a DecodeError
        raise ValueError(f"{path} is not a readable sentencepiece model ({e}); re-download or re-save it") from None
    if not proto.pieces:
        raise ValueError(f"{path} is a sentencepiece model without pieces; re-download or re-save it")
    return proto


def llama_tokenizer_data(path: Path) -> tuple[dict, list[AddedToken]]:
    """tokenizer.model -> (a tokenizer.json dict holding the BPE vocabulary and merges, the control and
    user-defined pieces as the special tokens transformers makes of them)."""
    proto = read_model_proto(path)
    model_type = MODEL_TYPES.get(proto.trainer_spec.model_type, str(proto.trainer_spec.model_type))
    if model_type != "bpe":
        raise ValueError(
            f"{path} is a sentencepiece {model_type} model; only BPE models (Llama 2's kind) are converted "
            "for a LlamaTokenizer: save the tokenizer as tokenizer.json with the model"
        )
    vocab = {}
    for i, piece in enumerate(proto.pieces):
        vocab[piece.piece] = i  # a repeated piece keeps its last id, as transformers' extractor keeps it
    specials = [AddedToken(p.piece, special=p.type == CONTROL, normalized=False)
                for p in proto.pieces if p.type in (CONTROL, USER_DEFINED)]  # fmt: skip
    data = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": None, "post_processor": None, "decoder": None,
            "model": {"type": "BPE", "vocab": vocab, "merges": merges_by_rank(vocab)}}  # fmt: skip
    return data, specials


def merges_by_rank(vocab: dict[str, int]) -> list[list[str]]:
    """Every (left, right) whose concatenation is a piece, both halves pieces too, ranked by the id of the
    piece they make, then by the left half's length: the merges transformers generates from the ids."""
    ranked = [
        (rank, cut, piece[:cut], piece[cut:])
        for piece, rank in vocab.items()
        for cut in range(1, len(piece))
        if piece[:cut] in vocab and piece[cut:] in vocab
    ]
    return [[left, right] for _, _, left, right in sorted(ranked, key=lambda r: (r[0], r[1]))]


def sentencepiece_tokenizer(path: Path, legacy: bool = True) -> tuple[Backend, list[str], dict[str, str]]:
    """tokenizer.model as transformers 5 converts it for a directory that names no tokenizer class (its
    ``TokenizersBackend``), following the model's own settings so that it encodes as sentencepiece does.

    Returns the backend, the control pieces (special tokens) and the unk / bos / eos pieces the trainer
    spec names. Unigram keeps the piece scores; BPE merges only normal pieces, ranked by the score of the
    piece they make, and user-defined pieces are split out whole. The normalizer is the model's own spec:
    its precompiled character map, extra spaces removed, " " written "▁"; the dummy prefix is Metaspace's
    (``legacy``: before every chunk between added tokens, and doubled when the text starts with "▁", as
    sentencepiece does; else before the first).
    """
    proto = read_model_proto(path)
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    model_type = MODEL_TYPES.get(spec.model_type, str(spec.model_type))
    if model_type not in ("unigram", "bpe"):
        raise ValueError(f"{path} is a sentencepiece {model_type} model; only unigram and BPE models are converted")
    pieces = list(proto.pieces)
    user_defined = [p.piece for p in pieces if p.type == USER_DEFINED]
    if model_type == "unigram":
        model = models.Unigram(
            [(p.piece, p.score) for p in pieces], unk_id=spec.unk_id, byte_fallback=spec.byte_fallback
        )
    else:
        vocab = {p.piece: i for i, p in enumerate(pieces)}
        merges, fallback = _merges_by_score(pieces), spec.byte_fallback
        model = models.BPE(vocab=vocab, merges=merges, unk_token=spec.unk_piece, fuse_unk=True,
                           byte_fallback=fallback, dropout=None, ignore_merges=bool(user_defined))  # fmt: skip
    backend = Backend(model)
    backend.normalizer = normalizers.Sequence(_normalizers(norm, legacy))
    split = [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always" if legacy else "first", split=False)]
    split = split if norm.add_dummy_prefix else []
    if user_defined:  # sentencepiece emits them whole: split them out after the dummy prefix
        longest_first = sorted(user_defined, key=len, reverse=True)
        split.append(pre_tokenizers.Split(Regex("|".join(map(re.escape, longest_first))), behavior="isolated"))
    if split:
        backend.pre_tokenizer = pre_tokenizers.Sequence(split)
    steps = [decoders.Replace("▁", " "), *([decoders.ByteFallback()] if spec.byte_fallback else [])]
    if norm.add_dummy_prefix:  # fused first, so that only the text's first space is stripped
        steps += [decoders.Fuse(), decoders.Strip(content=" ", left=1)]
    elif spec.byte_fallback:
        steps.append(decoders.Fuse())
    backend.decoder = decoders.Sequence(steps)
    control = [p.piece for p in pieces if p.type == CONTROL]
    named = {f"{name}_token": getattr(spec, f"{name}_piece") or default
             for name, default in (("unk", "<unk>"), ("bos", "<s>"), ("eos", "</s>"))
             if getattr(spec, f"{name}_id") >= 0}  # fmt: skip
    return backend, control, named


def _merges_by_score(pieces) -> list[tuple[str, str]]:
    """BPE merges between normal pieces, the best-scored piece they make first (then by id, then the halves)."""
    normal = {p.piece: (p.score, i) for i, p in enumerate(pieces) if p.type == NORMAL}
    ranked = sorted(
        (-score, i, piece[:cut], piece[cut:])
        for piece, (score, i) in normal.items()
        for cut in range(1, len(piece))
        if piece[:cut] in normal and piece[cut:] in normal
    )
    return [(left, right) for _, _, left, right in ranked]


def _normalizers(norm, legacy: bool) -> list:
    """The model's normalizer spec, in sentencepiece's order."""
    steps = [normalizers.Precompiled(norm.precompiled_charsmap)] if norm.precompiled_charsmap else []
    if norm.remove_extra_whitespaces:  # spaces only: sentencepiece leaves newlines and tabs alone
        steps += [normalizers.Replace(Regex(r"\A +| +\z"), ""), normalizers.Replace(Regex(" {2,}"), " ")]
    if norm.escape_whitespaces:
        steps.append(normalizers.Replace(" ", "▁"))
    if norm.add_dummy_prefix and legacy:  # Metaspace adds no prefix to a text that starts with "▁"; sentencepiece does
        steps.append(normalizers.Replace(Regex(r"\A▁"), "▁▁"))
    return steps
