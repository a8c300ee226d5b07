"""The built-in model families, one record per file, registered in this order (the order of
``einformer train --model``'s choices). A new family is one more file here and one more line below.

``einformer/__init__.py`` imports this package, so every way into einformer finds them registered.
"""

from ..registry import register
from . import (
    bert,
    deberta_v2,
    distilbert,
    electra,
    encoder_decoder,
    gpt,
    llama,
    modernbert,
    roberta,
    transformer_xl,
    universal,
    xlm_roberta,
)

BUILT_IN = tuple(
    register(module.FAMILY)
    for module in (encoder_decoder, universal, gpt, llama, transformer_xl, bert)
    + (roberta, xlm_roberta, distilbert, electra, deberta_v2, modernbert)
)

__all__ = ["BUILT_IN"]
