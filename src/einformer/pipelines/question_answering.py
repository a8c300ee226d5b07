"""question-answering: the answer to a question as a stretch of its context, as transformers v4's
QuestionAnsweringPipeline finds it (v5 removed that pipeline).

The question and the context are encoded as one pair, the context cut into windows of at most
``max_seq_len`` tokens that overlap by ``doc_stride`` tokens (``tokenizers``' overflowing
truncation), so a context longer than the model's input is read whole. In every window, start and
end logits of the tokens that are not context (the question, separators, padding) are set aside;
softmax over the rest and [CLS] gives start and end probabilities; every span with start <= end
and at most ``max_answer_len`` tokens scores p_start x p_end. Each window's best spans (2 top_k + 10,
as aligning to words may make several the same) get character offsets from the words their first
and last tokens belong to; the same answer text (ignoring case) found more than once, in one window
or several, adds up its scores, as transformers 4.57 does. The best ``top_k`` answers win.
``handle_impossible_answer`` adds the empty answer, scored by the smallest [CLS] x [CLS] product of
the windows.
"""

from __future__ import annotations

import torch

from ..registry import QUESTION_ANSWERING
from .base import Pipeline, as_list


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    model_tasks = (QUESTION_ANSWERING,)

    def __call__(
        self,
        inputs=None,
        *,
        question: str | list[str] | None = None,
        context: str | list[str] | None = None,
        top_k: int = 1,
        doc_stride: int | None = None,
        max_answer_len: int = 15,
        max_seq_len: int | None = None,
        handle_impossible_answer: bool = False,
        align_to_words: bool = True,
    ):
        pairs, single = self.pairs(inputs, question, context)
        if top_k < 1 or max_answer_len < 1:
            raise ValueError(f"top_k ({top_k}) and max_answer_len ({max_answer_len}) must be >= 1")
        max_seq_len = max_seq_len or min(self.tokenizer.model_max_length, 384, self.model.config.max_position)
        doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
        if doc_stride >= max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) must be smaller than max_seq_len ({max_seq_len})")
        windows, owner = [], []  # every window of every pair, and the pair it belongs to
        for i, (q, c) in enumerate(pairs):
            for w in self.windows(q, c, max_seq_len, doc_stride, i):
                windows.append(w)
                owner.append(i)

        def forward(batch):
            out = self.model(**batch)
            return list(zip(out.start_logits.float(), out.end_logits.float(), strict=True))

        logits = self.run_batches(windows, forward)
        found = [[] for _ in pairs]
        null = [1e6] * len(pairs)
        per_window = top_k * 2 + 10 if align_to_words else top_k  # aligning may merge candidates
        for w, i, (start, end) in zip(windows, owner, logits, strict=True):
            n = len(w.ids)
            spans, null_score = self.spans(w, start[:n], end[:n], per_window, max_answer_len)
            null[i] = min(null[i], null_score)
            for s, e, score in spans:
                a, b = self.characters(w, s, e, align_to_words)
                text = pairs[i][1][a:b]
                same = next((x for x in found[i] if x["answer"].lower() == text.lower()), None)
                if same is not None:  # the same answer from another span or window: the scores add up
                    same["score"] += score
                else:
                    found[i].append({"score": score, "start": a, "end": b, "answer": text})
        results = []
        for i, answers in enumerate(found):
            if handle_impossible_answer:
                answers.append({"score": null[i], "start": 0, "end": 0, "answer": ""})
            answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
            results.append(answers[0] if len(answers) == 1 else answers)
        return results[0] if single else results

    @staticmethod
    def pairs(inputs, question, context) -> tuple[list[tuple[str, str]], bool]:
        """(question, context) pairs from {"question", "context"} dicts or the two keywords."""
        if inputs is None:
            if question is None or context is None:
                raise ValueError("question-answering needs a question and a context: qa(question=..., context=...)")
            if isinstance(question, str) != isinstance(context, str):
                raise ValueError("give question and context both as texts or both as lists of the same length")
            inputs = {"question": question, "context": context} if isinstance(question, str) else [
                {"question": q, "context": c} for q, c in zip(question, context, strict=True)
            ]  # fmt: skip
        items, single = as_list(inputs)
        pairs = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "question" not in item or "context" not in item:
                raise ValueError(f"input {i} must be a dict with 'question' and 'context', got {item!r}")
            for key in ("question", "context"):
                if not isinstance(item[key], str) or not item[key].strip():
                    raise ValueError(f"input {i}: the {key} is empty; give it some text")
            pairs.append((item["question"], item["context"]))
        return pairs, single

    def windows(self, question: str, context: str, max_seq_len: int, stride: int, index: int) -> list:
        """The encodings of the pair: the first window, then the overflowing ones."""
        backend = self.tokenizer.backend
        specials = backend.post_processor.num_special_tokens_to_add(True) if backend.post_processor else 0
        room = max_seq_len - len(backend.encode(question, add_special_tokens=False).ids) - specials  # BERT: 3
        if room <= stride:
            raise ValueError(
                f"input {index}: the question leaves {max(room, 0)} tokens of context per window of max_seq_len="
                f"{max_seq_len} (doc_stride {stride}); shorten the question or raise max_seq_len"
            )
        backend.enable_truncation(max_seq_len, stride=stride, strategy="only_second")
        try:
            first = backend.encode(question, context)
        finally:
            backend.no_truncation()
        return [first, *first.overflowing]

    def spans(self, window, start: torch.Tensor, end: torch.Tensor, top_k: int, max_answer_len: int):
        """The best spans of one window: (start token, end token, score), and its [CLS] x [CLS] score."""
        context = torch.tensor([s == 1 for s in window.sequence_ids])  # (T,) tokens of the context
        allowed = context.clone()
        allowed[0] = True  # [CLS] stays in the softmax (the "no answer" mass), then leaves
        start = start.double().masked_fill(~allowed, -10000.0).softmax(-1)
        end = end.double().masked_fill(~allowed, -10000.0).softmax(-1)
        null = float(start[0] * end[0])
        start[0] = end[0] = 0.0
        scores = torch.triu(start[:, None] * end[None, :]).tril(max_answer_len - 1)  # (T, T): s <= e < s + len
        flat = scores.flatten()
        best = flat.topk(min(top_k, flat.numel())).indices
        spans = []
        for index in best.tolist():
            s, e = divmod(index, scores.shape[1])
            if allowed[s] and allowed[e]:
                spans.append((s, e, float(scores[s, e])))
        return spans, null

    @staticmethod
    def characters(window, s: int, e: int, align_to_words: bool) -> tuple[int, int]:
        """Character offsets of tokens s..e in the context: from their words' boundaries, or the tokens'."""
        if align_to_words:
            try:
                first, last = window.token_to_word(s), window.token_to_word(e)
                return window.word_to_chars(first, 1)[0], window.word_to_chars(last, 1)[1]
            except Exception:  # a token outside any word (None, or out of range): its own offsets, as transformers
                pass
        return window.offsets[s][0], window.offsets[e][1]
