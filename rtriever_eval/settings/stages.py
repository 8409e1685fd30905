"""Typed settings of the stages after retrieval: fusion, reranking and the rerankers it takes, and the query
rewriter; the union types of what ``model`` and ``reranker`` may hold.

Knows no file or model: values come from conf/model/, conf/reranker/, conf/rewriter/ and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.models import BM25Settings, DenseSettings, RunFileSettings
from rtriever_eval.settings.values import DTYPES, FUSION_METHODS, NORMALIZATIONS, one_of, positive


@dataclass
class FusionSettings:
    """Fuse saved runs of the same experiment and dataset: ``inputs`` are their run names. ``rrf`` scores
    sum(w / (rrf_k + rank)); ``interpolation`` sum(w x normalised score), a document an input lacks taking that
    input's lowest normalised score; ``combsum`` / ``combmnz`` sum the normalised scores of the inputs that
    hold the document (x how many do). ``weights`` default to 1 per input; ``depth`` caps what is read of each."""

    name: str = MISSING
    kind: str = "fusion"
    inputs: list[str] = MISSING
    method: str = "rrf"
    rrf_k: float = 60.0
    weights: list[float] | None = None
    normalization: str = "minmax"
    depth: int = 1000

    def __post_init__(self) -> None:
        one_of(self.method, FUSION_METHODS, "model.method")
        one_of(self.normalization, NORMALIZATIONS, "model.normalization")
        positive(self.depth, "model.depth")
        if not self.rrf_k >= 0:
            raise ConfigError(f"model.rrf_k must be >= 0, got {self.rrf_k}", field="model.rrf_k")
        if isinstance(self.inputs, list):
            if len(self.inputs) < 2 or len(set(self.inputs)) != len(self.inputs):
                raise ConfigError("fusion needs two or more distinct input runs", field="model.inputs")
            if self.weights is not None and len(self.weights) != len(self.inputs):
                raise ConfigError(f"{len(self.weights)} weights for {len(self.inputs)} inputs", field="model.weights")


@dataclass
class RerankSettings:
    """Rerank a saved run's top ``depth`` with the top-level ``reranker``; ``alpha`` interpolates the normalised
    reranker and first-stage scores (1.0: reranker only, 0.0: the first stage's order). Documents below
    ``depth`` keep the first stage's order beneath the reranked head."""

    name: str = MISSING
    kind: str = "rerank"
    first_stage: str = MISSING
    depth: int = 100
    alpha: float = 1.0
    normalization: str = "minmax"

    def __post_init__(self) -> None:
        positive(self.depth, "model.depth")
        one_of(self.normalization, NORMALIZATIONS, "model.normalization")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"model.alpha must lie in [0, 1], got {self.alpha}", field="model.alpha")


@dataclass
class CrossEncoderSettings:
    """A sentence-transformers cross-encoder from ``path`` (a local folder or hub id); scores with the model's own
    activation. Pairs are sorted by length and batched by ``max_tokens_per_batch`` (None: batch_size rows)."""

    name: str = MISSING
    kind: str = "cross_encoder"
    path: str = MISSING
    revision: str | None = None
    max_length: int = 512
    batch_size: int = 32
    max_tokens_per_batch: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        positive(self.max_length, "reranker.max_length")
        positive(self.batch_size, "reranker.batch_size")
        positive(self.max_tokens_per_batch, "reranker.max_tokens_per_batch", optional=True)


QWEN3_RERANKER_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
QWEN3_RERANKER_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


@dataclass
class LLMRerankerSettings:
    """A pointwise LLM reranker on transformers in the Qwen3-Reranker style: ``prefix`` + the pair in
    ``template`` (cut at the document's tail to fit ``max_length``) + ``suffix``; score = P(yes) / (P(yes) + P(no))
    from the last position's logits. ``instruction`` None takes the domain's instruction from the run's
    instruction set, else ``default_instruction``."""

    name: str = MISSING
    kind: str = "llm_reranker"
    path: str = MISSING
    revision: str | None = None
    dtype: str = "bfloat16"
    max_length: int = 8192
    batch_size: int = 16
    max_tokens_per_batch: int | None = None
    device: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    instruction: str | None = None
    default_instruction: str = "Given a web search query, retrieve relevant passages that answer the query"
    prefix: str = QWEN3_RERANKER_PREFIX
    suffix: str = QWEN3_RERANKER_SUFFIX
    template: str = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
    yes_token: str = "yes"
    no_token: str = "no"

    def __post_init__(self) -> None:
        one_of(self.dtype, DTYPES, "reranker.dtype")
        positive(self.max_length, "reranker.max_length")
        positive(self.batch_size, "reranker.batch_size")
        positive(self.max_tokens_per_batch, "reranker.max_tokens_per_batch", optional=True)
        for key in ("{query}", "{document}"):
            if key not in self.template:
                raise ConfigError(f"reranker.template needs {key}", field="reranker.template")


ModelSettings = BM25Settings | DenseSettings | FusionSettings | RerankSettings | RunFileSettings
RerankerSettings = DenseSettings | CrossEncoderSettings | LLMRerankerSettings


@dataclass
class RewriterSettings:
    """A local causal LM that rewrites each query (chat template, greedy decoding): ``prompt`` with {query} (the
    query with its newlines folded, as BRIGHT does), per-domain ``prompts`` overriding it."""

    name: str = MISSING
    path: str = MISSING
    revision: str | None = None
    dtype: str = "bfloat16"
    device: str | None = None
    max_new_tokens: int = 512
    trust_remote_code: bool = False
    system: str | None = None
    prompt: str = (
        "{query}\n\nInstructions:\n1. Identify the essential problem.\n2. Think step by step to reason and describe "
        "what information could be relevant and helpful to address the questions in detail.\n3. Draft an answer "
        "with as many thoughts as you have.\n"
    )
    prompts: dict[str, str] = field(default_factory=dict)
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {enable_thinking: false} for Qwen3

    def __post_init__(self) -> None:
        one_of(self.dtype, DTYPES, "rewriter.dtype")
        positive(self.max_new_tokens, "rewriter.max_new_tokens")
