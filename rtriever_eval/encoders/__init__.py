"""Text encoders for dense retrieval: the Encoder protocol, pooling functions and the transformers backend.

The sentence-transformers backend is not imported here (optional dependency); import it from
``rtriever_eval.encoders.st_backend``. Nothing here knows datasets, prompts or caches.
"""

from rtriever_eval.encoders.base import Encoder
from rtriever_eval.encoders.hf import EncoderSettings, HFEncoder
from rtriever_eval.encoders.pooling import POOLERS, cls_pool, l2_normalize, last_token_pool, mean_pool

__all__ = [
    "POOLERS",
    "Encoder",
    "EncoderSettings",
    "HFEncoder",
    "cls_pool",
    "l2_normalize",
    "last_token_pool",
    "mean_pool",
]
