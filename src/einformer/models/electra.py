"""ELECTRA's discriminator: BERT's encoder (``bert.py``) whose embeddings may be narrower than the
encoder, with a linear projection between them (the config's ``embedding_size``), and no pooler.

``bert.Embeddings`` builds the narrow tables and the projection from the config's ``d_embed``. Heads:
* masked LM (ELECTRA's generator head): dense D -> E, GELU, LayerNorm(E), decoder tied to the E-wide
  word embeddings: BERT's head at the embeddings' width;
* sequence classification: dropout -> dense -> GELU -> dropout -> out_proj over [CLS]
  (``encoder_heads.py``);
* token classification and question answering: BERT's.
"""

from __future__ import annotations

from ..config import ElectraConfig
from .bert import BertModel
from .bert_heads import BertForMaskedLM, BertForQuestionAnswering, BertForTokenClassification
from .encoder_heads import EncoderForSequenceClassification


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
