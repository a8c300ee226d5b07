"""token-classification (NER, tagging): entities with character offsets, as transformers gives them.

Each token (special tokens left out) gets the softmax over the labels. ``aggregation_strategy``:

* "none": one entity per token: entity, score, index (the token's position), word, start, end;
* "simple": neighbouring tokens of one entity type are grouped (B-/I- prefixes read as in
  transformers: a B- starts a group, an I- or a bare tag continues one of the same type):
  entity_group, score (the mean), word, start, end;
* "first" / "average" / "max": first the sub-word tokens of each word are merged, taking the label of
  the word's first token, of the mean of its tokens' scores, or of its most confident token; then
  words are grouped as in "simple".

A token is a sub-word (a continuation) when its text differs in length from the stretch of the
input it covers (a WordPiece "##" piece), unless it is the unknown token; a tokenizer without a
continuation marker (RoBERTa's byte-level BPE, XLM-R's unigram) gets transformers' fallback: a token
that neither starts the text nor follows or starts with a space continues a word. ``start`` / ``end`` index
the original text; ``word`` is the tokens joined back by the tokenizer's decoder. Entities whose
label is in ``ignore_labels`` (default ["O"]) are dropped. Scores are numpy float32 and offsets Python
ints, the types transformers returns.
"""

from __future__ import annotations

import numpy as np  # matplotlib's and sacrebleu's dependency: the type of transformers' entity scores
import torch

from ..registry import TOKEN_CLASSIFICATION
from .base import Pipeline, as_list

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    model_tasks = (TOKEN_CLASSIFICATION,)

    def __call__(self, inputs, *, aggregation_strategy: str = "none", ignore_labels=None):
        texts, single = as_list(inputs)
        strategy = str(aggregation_strategy).lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"aggregation_strategy={aggregation_strategy!r}: choose one of {STRATEGIES}")
        ignore = ["O"] if ignore_labels is None else list(ignore_labels)
        encodings = self.encode(texts)

        def forward(batch):
            probs = self.model(**batch).logits.float().softmax(-1)  # (b, T, labels)
            return list(probs)

        probs = self.run_batches(encodings, forward)
        results = []
        for text, encoding, p in zip(texts, encodings, probs, strict=True):
            tokens = self.tokens(text, encoding, p[: len(encoding.ids)])
            entities = self.aggregate(tokens, strategy)
            results.append([e for e in entities if e.get("entity", e.get("entity_group")) not in ignore])
        return results[0] if single else results

    def tokens(self, text: str, encoding, probs: torch.Tensor) -> list[dict]:
        """The non-special tokens: text, label scores, offsets, and whether each continues a word."""
        backend, unk = self.tokenizer.backend, self.tokenizer.unk_token_id
        word_aware = bool(getattr(backend.model, "continuing_subword_prefix", None))  # WordPiece's "##"
        out = []
        for index, (token_id, special, (start, end)) in enumerate(
            zip(encoding.ids, encoding.special_tokens_mask, encoding.offsets, strict=True)
        ):
            if special:
                continue
            word, covered = backend.id_to_token(token_id), text[start:end]
            if word_aware:
                subword = len(word) != len(covered)
            else:  # no continuation marker (byte-level BPE, unigram): a token not after a space continues a word
                subword = start > 0 and " " not in text[start - 1 : start + 1]
            if token_id == unk:
                word, subword = covered, False
            out.append({"word": word, "scores": probs[index], "start": start, "end": end, "index": index,
                        "is_subword": subword})  # fmt: skip
        return out

    def aggregate(self, tokens: list[dict], strategy: str) -> list[dict]:
        id2label = self.id2label
        if strategy in ("none", "simple"):
            entities = []
            for t in tokens:
                best = int(t["scores"].argmax())
                entities.append({"entity": id2label[best], "score": np.float32(t["scores"][best]), "index": t["index"],
                                 "word": t["word"], "start": t["start"], "end": t["end"]})  # fmt: skip
            return entities if strategy == "none" else self.group(entities)
        words, current = [], []
        for t in tokens:
            if current and not t["is_subword"]:
                words.append(self.merge_word(current, strategy, id2label))
                current = []
            current.append(t)
        if current:
            words.append(self.merge_word(current, strategy, id2label))
        return self.group(words)

    def merge_word(self, pieces: list[dict], strategy: str, id2label: dict) -> dict:
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda p: float(p["scores"].max()))["scores"]
        else:  # average
            scores = torch.stack([p["scores"] for p in pieces]).mean(0)
        best = int(scores.argmax())
        word = self.tokenizer.backend.decoder.decode([p["word"] for p in pieces])
        return {"entity": id2label[best], "score": np.float32(scores[best]), "word": word,
                "start": pieces[0]["start"], "end": pieces[-1]["end"]}  # fmt: skip

    def group(self, entities: list[dict]) -> list[dict]:
        groups, current = [], []
        for e in entities:
            if current:
                bi, tag = split_tag(e["entity"])
                _, last_tag = split_tag(current[-1]["entity"])
                if not (tag == last_tag and bi != "B"):
                    groups.append(self.group_of(current))
                    current = []
            current.append(e)
        if current:
            groups.append(self.group_of(current))
        return groups

    def group_of(self, entities: list[dict]) -> dict:
        return {
            "entity_group": entities[0]["entity"].split("-", 1)[-1],
            "score": np.mean(np.array([e["score"] for e in entities], dtype=np.float32)),  # float32, as transformers
            "word": self.tokenizer.backend.decoder.decode([e["word"] for e in entities]),
            "start": entities[0]["start"],
            "end": entities[-1]["end"],
        }


def split_tag(label: str) -> tuple[str, str]:
    """("B" or "I", the entity type) of a label; a label without a prefix continues (I)."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label
