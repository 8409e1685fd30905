"""Imported once by the forkserver that test children fork from (tests.helpers.run_eval_child): the libraries and
the lazily-imported transformers modules a run needs, so that no child pays for them."""

import hydra  # noqa: F401
import torch  # noqa: F401
import transformers
from transformers.models.auto import modeling_auto, tokenization_auto  # noqa: F401
from transformers.models.bert import modeling_bert  # noqa: F401
from transformers.models.qwen3 import modeling_qwen3  # noqa: F401

import rtriever_eval.cli.evaluate
import rtriever_eval.encoders.hf
import rtriever_eval.job.pipeline
import rtriever_eval.retrievers.bm25
import rtriever_eval.retrievers.dense  # noqa: F401

_RESOLVED = (transformers.AutoModel, transformers.AutoTokenizer, transformers.AutoConfig)  # the lazy attributes
