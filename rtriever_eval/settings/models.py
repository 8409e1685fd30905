"""Typed settings of the first-stage models: BM25, dense bi-encoders and imported runs, and the facts a model
declares; the dataclasses Hydra validates at compose time, each default declared here once.

Knows no file or model: values come from conf/model/ and the command line; a value that cannot work raises
ConfigError naming its key when the object is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.values import (
    BACKENDS,
    CHUNK_AGGREGATIONS,
    CPU_LINEARS,
    DTYPES,
    FLAVOURS,
    LONG_DOCUMENTS,
    PACKINGS,
    PADDING_SIDES,
    POOLINGS,
    RUN_FILE_FORMATS,
    one_of,
    positive,
)


@dataclass
class ModelFacts:
    """What a model is, for tables and reports (never for numbers): ``similarity`` (cosine, dot, bm25),
    ``parameters``, ``max_tokens`` (its native context; the run's own max length is in the summary),
    ``embedding_dim``, and ``training_data_overlap``: how its training data overlaps the benchmark's corpora,
    None when its card reports none. ``source`` says where the facts were read."""

    similarity: str | None = None
    parameters: int | None = None
    max_tokens: int | None = None
    embedding_dim: int | None = None
    training_data_overlap: str | None = None
    source: str | None = None


@dataclass
class BM25Settings:
    """A BM25 baseline: ``flavour`` lucene (Anserini's BM25) or bright (gensim's, query side weighted too)."""

    name: str = MISSING
    kind: str = "bm25"
    flavour: str = "lucene"
    k1: float = 0.9
    b: float = 0.4
    query_chunk: int = 64  # queries scored together: speed only
    facts: ModelFacts = field(default_factory=lambda: ModelFacts(similarity="bm25", parameters=0))

    def __post_init__(self) -> None:
        one_of(self.flavour, FLAVOURS, "model.flavour")
        positive(self.query_chunk, "model.query_chunk")


@dataclass
class DenseSettings:
    """A dense bi-encoder and how texts become its vectors (see encoders/ for what each setting does).

    ``query_template`` wraps the instruction (``Instruct: {instruction}\\nQuery:``; None: the model takes no
    instruction); ``document_prompt`` goes before every document. ``max_tokens_per_batch`` (None: batch_size x
    max_length), ``batch_size``, ``device`` change speed, not the vectors beyond float rounding; the kernels
    chosen from ``device``, ``attn_implementation`` and ``cpu_linear`` are keyed as resolved.
    """

    name: str = MISSING
    kind: str = "dense"
    path: str = MISSING
    revision: str | None = None
    backend: str = "hf"
    dtype: str = "float32"
    max_length: int = 512
    query_max_length: int | None = None
    batch_size: int = 32
    max_tokens_per_batch: int | None = None
    pooling: str = "last_token"
    padding_side: str = "left"
    append_eos: bool = False
    eos_token: str | None = None
    normalize: bool = True
    query_template: str | None = "Instruct: {instruction}\nQuery:"
    document_prompt: str = ""
    device: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    causal_without_mask: bool = True
    cpu_linear: str = "auto"
    # Padding-free batches (encoders/packing.py): ``auto`` packs where this install and device can, ``on`` packs
    # or fails; the resolved choice is keyed (packed and padded vectors differ in the last bits).
    packing: str = "off"
    strip_whitespace: bool = False
    # Documents longer than max_length: ``truncate`` keeps their head; ``chunk_max`` encodes windows of
    # ``chunk_tokens`` text tokens (None: all that fit beside the prompt in max_length) overlapping by
    # ``chunk_overlap``, at most ``max_chunks`` per document, and scores a document by its best chunk
    # (``chunk_aggregation=max``) or the mean of its ``chunk_top_k`` best (``mean_top_k``).
    long_documents: str = "truncate"
    chunk_tokens: int | None = None
    chunk_overlap: int = 0
    max_chunks: int = 64
    chunk_aggregation: str = "max"
    chunk_top_k: int = 3
    facts: ModelFacts = field(default_factory=ModelFacts)
    memory_limit_gb: float | None = None  # the memory guard's budget (None: the device's; see encoders/memory.py)
    # One corpus-encoding worker process per device (devices.py): a list ([0, 1] = cuda:0, cuda:1; "cpu") or
    # "all" (every CUDA device). None: this process alone, on ``device``.
    devices: Any = None

    def __post_init__(self) -> None:
        one_of(self.long_documents, LONG_DOCUMENTS, "model.long_documents")
        one_of(self.chunk_aggregation, CHUNK_AGGREGATIONS, "model.chunk_aggregation")
        for key in ("max_chunks", "chunk_top_k"):
            positive(getattr(self, key), f"model.{key}")
        positive(self.chunk_tokens, "model.chunk_tokens", optional=True)
        if isinstance(self.chunk_overlap, bool) or not isinstance(self.chunk_overlap, int) or self.chunk_overlap < 0:
            raise ConfigError(
                f"model.chunk_overlap must be >= 0, got {self.chunk_overlap!r}", field="model.chunk_overlap"
            )
        if self.chunk_tokens is not None and self.chunk_overlap >= self.chunk_tokens:
            raise ConfigError(
                f"model.chunk_overlap={self.chunk_overlap} must be below model.chunk_tokens={self.chunk_tokens}",
                field="model.chunk_overlap",
            )
        if self.chunk_tokens is not None and self.chunk_tokens > self.max_length:
            raise ConfigError(
                f"model.chunk_tokens={self.chunk_tokens} exceeds model.max_length={self.max_length}: a chunk is "
                "encoded within max_length",
                field="model.chunk_tokens",
            )
        if (
            self.devices is not None
            and self.devices != "all"
            and not (
                isinstance(self.devices, list | tuple)
                and self.devices
                and all(isinstance(d, int | str) for d in self.devices)
            )
        ):
            raise ConfigError(f"model.devices must be a list of devices or 'all', got {self.devices!r}",
                              field="model.devices")  # fmt: skip
        if self.memory_limit_gb is not None and not self.memory_limit_gb > 0:
            raise ConfigError(
                f"model.memory_limit_gb must be > 0, got {self.memory_limit_gb}", field="model.memory_limit_gb"
            )
        one_of(self.backend, BACKENDS, "model.backend")
        one_of(self.dtype, DTYPES, "model.dtype")
        one_of(self.pooling, POOLINGS, "model.pooling")
        one_of(self.padding_side, PADDING_SIDES, "model.padding_side")
        one_of(self.cpu_linear, CPU_LINEARS, "model.cpu_linear")
        one_of(self.packing, PACKINGS, "model.packing")
        if self.packing == "on" and self.backend != "hf":
            raise ConfigError(
                f"model.packing=on needs model.backend=hf (got {self.backend}); set model.packing=off or auto",
                field="model.packing",
            )
        for key in ("max_length", "batch_size"):
            positive(getattr(self, key), f"model.{key}")
        for key in ("query_max_length", "max_tokens_per_batch"):
            positive(getattr(self, key), f"model.{key}", optional=True)

    @property
    def effective_query_max_length(self) -> int:
        """The query max length, falling back to ``max_length``."""
        return self.query_max_length if self.query_max_length is not None else self.max_length



@dataclass
class RunFileSettings:
    """A saved ranking from anywhere, evaluated as a run: ``path`` is a file, or a template with ``{domain}``
    (``runs/{domain}.trec``); ``format`` trec (rank column ignored), json (ranx / ir_measures
    ``{qid: {docid: score}}``), bright (BRIGHT's score.json, same shape), mteb (``<Task>_predictions.json``) or
    auto (JSON by its shape, else TREC). The file's content hash is the model's identity."""

    name: str = MISSING
    kind: str = "run_file"
    path: str = MISSING
    format: str = "auto"
    facts: ModelFacts = field(default_factory=lambda: ModelFacts(similarity="imported run"))

    def __post_init__(self) -> None:
        one_of(self.format, RUN_FILE_FORMATS, "model.format")

