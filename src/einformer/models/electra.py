"""ELECTRA's discriminator: BERT's encoder (``bert.py``) whose embeddings may be narrower than the
encoder, with a linear projection between them (the config's ``embedding_size``), and no pooler.

``bert.Embeddings`` builds the narrow tables and the projection from the config's ``d_embed``. Heads:
* masked LM (ELECTRA's generator head): dense D -> E, GELU, LayerNorm(E), decoder tied to the E-wide
  word embeddings: BERT's head at the embeddings' width;
* sequence classification: dropout -> dense -> GELU -> dropout -> out_proj over [CLS]
  (``encoder_heads.py``);
* token classification and question answering: BERT's;
* multiple choice: Hugging Face's "sequence summary" of the first token, dense -> GELU -> dropout
  (``summary_last_dropout``), then a linear map to one score per choice (``SequenceSummaryHead``).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..config import ElectraConfig
from ..nn import Dropout
from ..nn.feedforward import get_activation
from .bert import BertModel
from .bert_heads import BertForMaskedLM, BertForQuestionAnswering, BertForTokenClassification
from .encoder_heads import EncoderForMultipleChoice, EncoderForSequenceClassification


class ElectraModel(BertModel):
    """input_ids (B, T) -> last_hidden_state (B, T, D); no pooler."""

    config_class = ElectraConfig

    def __init__(self, config: ElectraConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config, add_pooling_layer=False)


class ElectraForMaskedLM(BertForMaskedLM):
    config_class, encoder_class, mlm_activation = ElectraConfig, ElectraModel, "gelu"


class ElectraForSequenceClassification(EncoderForSequenceClassification):
    config_class, encoder_class, head_activation = ElectraConfig, ElectraModel, "gelu"


class ElectraForTokenClassification(BertForTokenClassification):
    config_class, encoder_class = ElectraConfig, ElectraModel


class ElectraForQuestionAnswering(BertForQuestionAnswering):
    config_class, encoder_class = ElectraConfig, ElectraModel


class SequenceSummaryHead(nn.Module):
    """(B, T, D) token states -> (B, 1) scores: the first token's state through ``summary`` (D -> D),
    GELU and dropout, then ``classifier`` (D -> 1). Hugging Face's ElectraSequenceSummary with
    ELECTRA's defaults (summary_type "first", a projection to D, gelu, no first dropout)."""

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.summary = nn.Linear(d_model, d_model)
        self.act = get_activation("gelu")
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(d_model, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        x = hidden[:, 0]  # (B, D): [CLS]
        return self.classifier(self.dropout(self.act(self.summary(x))))


class ElectraForMultipleChoice(EncoderForMultipleChoice, ElectraForSequenceClassification):
    """Inputs (B, C, T) -> (B, C) scores through ``SequenceSummaryHead``."""

    @classmethod
    def make_head(cls, config: ElectraConfig) -> nn.Module:
        return SequenceSummaryHead(config.d_model, config.summary_last_dropout)
