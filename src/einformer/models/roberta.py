"""RoBERTa and XLM-RoBERTa: BERT's encoder (``bert.py``) with positions past the padding row, one
token type, no pooler in the task heads, and a tanh classification head over <s>.

Nothing of the computation is new: the config's ``position_offset`` (pad_token_id + 1) makes
``bert.Embeddings`` count positions over the non-padding tokens, as fairseq and Hugging Face do;
the classes below name the family's models (Hugging Face's class names, which ``architectures`` in
config.json selects) and give each its config class and encoder. XLM-RoBERTa differs only by its
tokenizer (sentencepiece unigram) and its config class.
"""

from __future__ import annotations

from ..config import RobertaConfig, XLMRobertaConfig
from .bert import BertModel
from .bert_heads import BertForMaskedLM, BertForMultipleChoice, BertForQuestionAnswering, BertForTokenClassification
from .encoder_heads import EncoderForSequenceClassification


class RobertaModel(BertModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D) (and pooler_output (B, D) with the pooler)."""

    config_class = RobertaConfig


class RobertaForMaskedLM(BertForMaskedLM):
    """lm_head: dense -> GELU -> LayerNorm -> decoder tied to the word embeddings."""

    config_class, encoder_class, mlm_activation = RobertaConfig, RobertaModel, "gelu"


class RobertaForSequenceClassification(EncoderForSequenceClassification):
    config_class, encoder_class, head_activation = RobertaConfig, RobertaModel, "tanh"


class RobertaForTokenClassification(BertForTokenClassification):
    config_class, encoder_class = RobertaConfig, RobertaModel


class RobertaForQuestionAnswering(BertForQuestionAnswering):
    config_class, encoder_class = RobertaConfig, RobertaModel


class RobertaForMultipleChoice(BertForMultipleChoice):
    """BERT's: the pooler over <s>, dropout, one score per choice."""

    config_class, encoder_class = RobertaConfig, RobertaModel


class XLMRobertaModel(RobertaModel):
    config_class = XLMRobertaConfig


class XLMRobertaForMaskedLM(RobertaForMaskedLM):
    config_class, encoder_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForSequenceClassification(RobertaForSequenceClassification):
    config_class, encoder_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForTokenClassification(RobertaForTokenClassification):
    config_class, encoder_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForQuestionAnswering(RobertaForQuestionAnswering):
    config_class, encoder_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForMultipleChoice(RobertaForMultipleChoice):
    config_class, encoder_class = XLMRobertaConfig, XLMRobertaModel
