"""Typed settings of a run: the dataclasses Hydra validates at compose time (config.py registers them) and the
code reads after ``OmegaConf.to_object``, each default declared here once.

Knows no file, model or dataset: values come from the YAML under conf/ and the command line. A value that
cannot work raises ConfigError naming its key, when the object is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from rtriever_eval.base.errors import ConfigError

CACHE_DIR_ENV = "RTRIEVER_CACHE_DIR"
DEFAULT_CACHE_DIR = ".cache/rtriever"
DEFAULT_SHARD_SIZE = 4096
DTYPES = ("float32", "bfloat16", "float16")
POOLINGS = ("last_token", "mean", "cls")
PADDING_SIDES = ("left", "right")
CPU_LINEARS = ("auto", "onednn", "torch")
PACKINGS = ("off", "auto", "on")
BACKENDS = ("hf", "sentence_transformers")
FLAVOURS = ("lucene", "bright")
STAGES = ("all", "encode", "search")
CACHE_MODES = ("off", "read", "readwrite")
LONG_DOCUMENTS = ("truncate", "chunk_max")
CHUNK_AGGREGATIONS = ("max", "mean_top_k")
SUBSETS = ("candidates",)
SUBSET_FIRST_STAGES = ("bm25", "bm25_bright")


def _choice(value: str, valid: tuple[str, ...], key: str) -> None:
    if value not in valid:
        raise ConfigError(f"{key} must be one of {', '.join(valid)}, got {value!r}", field=key)


def _positive(value: Any, key: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}", field=key)


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
        _choice(self.flavour, FLAVOURS, "model.flavour")
        _positive(self.query_chunk, "model.query_chunk")


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
        _choice(self.long_documents, LONG_DOCUMENTS, "model.long_documents")
        _choice(self.chunk_aggregation, CHUNK_AGGREGATIONS, "model.chunk_aggregation")
        for key in ("max_chunks", "chunk_top_k"):
            _positive(getattr(self, key), f"model.{key}")
        _positive(self.chunk_tokens, "model.chunk_tokens", optional=True)
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
        _choice(self.backend, BACKENDS, "model.backend")
        _choice(self.dtype, DTYPES, "model.dtype")
        _choice(self.pooling, POOLINGS, "model.pooling")
        _choice(self.padding_side, PADDING_SIDES, "model.padding_side")
        _choice(self.cpu_linear, CPU_LINEARS, "model.cpu_linear")
        _choice(self.packing, PACKINGS, "model.packing")
        if self.packing == "on" and self.backend != "hf":
            raise ConfigError(
                f"model.packing=on needs model.backend=hf (got {self.backend}); set model.packing=off or auto",
                field="model.packing",
            )
        for key in ("max_length", "batch_size"):
            _positive(getattr(self, key), f"model.{key}")
        for key in ("query_max_length", "max_tokens_per_batch"):
            _positive(getattr(self, key), f"model.{key}", optional=True)

    @property
    def effective_query_max_length(self) -> int:
        """The query max length, falling back to ``max_length``."""
        return self.query_max_length if self.query_max_length is not None else self.max_length


RUN_FILE_FORMATS = ("auto", "trec", "json", "bright", "mteb")


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
        _choice(self.format, RUN_FILE_FORMATS, "model.format")


FUSION_METHODS = ("rrf", "interpolation", "combsum", "combmnz")
NORMALIZATIONS = ("minmax", "zscore", "none")


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
        _choice(self.method, FUSION_METHODS, "model.method")
        _choice(self.normalization, NORMALIZATIONS, "model.normalization")
        _positive(self.depth, "model.depth")
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
        _positive(self.depth, "model.depth")
        _choice(self.normalization, NORMALIZATIONS, "model.normalization")
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
        _positive(self.max_length, "reranker.max_length")
        _positive(self.batch_size, "reranker.batch_size")
        _positive(self.max_tokens_per_batch, "reranker.max_tokens_per_batch", optional=True)


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
        _choice(self.dtype, DTYPES, "reranker.dtype")
        _positive(self.max_length, "reranker.max_length")
        _positive(self.batch_size, "reranker.batch_size")
        _positive(self.max_tokens_per_batch, "reranker.max_tokens_per_batch", optional=True)
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
        _choice(self.dtype, DTYPES, "rewriter.dtype")
        _positive(self.max_new_tokens, "rewriter.max_new_tokens")


@dataclass
class DatasetSettings:
    """Which benchmark (see registry.py) and where its data is: the hub at a pinned revision, or ``path``."""

    name: str = MISSING
    benchmark: str = MISSING
    path: str | None = None
    hub_id: str | None = None
    revision: str | None = None
    long_documents: bool = False
    query_source: str = "examples"
    query_field: str = "query"
    oracle: bool = False  # a query field written with the gold documents in view (the examples' reasoning)
    qrels_split: str = "test"
    query_file: str | None = None  # JSONL of rewritten queries replacing the texts (made by `rewriter` if absent)
    aspect_metrics: list[str] | None = None  # datasets with aspect annotations (bright_pro); None: the defaults
    aspect_alpha: float = 0.5
    # A CI-sized corpus per domain (subset.py): ``candidates`` keeps every gold document plus the top N of the
    # harness's own BM25 run (``subset_first_stage``: bm25 or bm25_bright), N the largest that keeps the corpus
    # within ``subset_max_documents``. Scores on it are higher than on the full corpus: for regressions only.
    subset: str | None = None
    subset_max_documents: int = 10_000
    subset_first_stage: str = "bm25"

    def __post_init__(self) -> None:
        if self.subset is not None:
            _choice(self.subset, SUBSETS, "dataset.subset")
        _choice(self.subset_first_stage, SUBSET_FIRST_STAGES, "dataset.subset_first_stage")
        _positive(self.subset_max_documents, "dataset.subset_max_documents")


@dataclass
class InstructionSettings:
    """An instruction set: a wording per kind of domain (the registry gives each domain its kind), what
    ``{task}`` becomes per domain (default: the raw domain key, as BRIGHT ran its paper), what ``{units}``
    becomes per track, and a ``default`` for every other domain (a BEIR folder, say)."""

    name: str = MISSING
    default: str | None = None
    wordings: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=lambda: {"short": "passages", "long": "documents"})


@dataclass
class PathsSettings:
    results_dir: str = "results"
    cache_dir: str = f"${{oc.env:{CACHE_DIR_ENV},{DEFAULT_CACHE_DIR}}}"  # resolved when the config is composed


@dataclass
class CacheSettings:
    mode: str = "readwrite"
    shard_size: int = DEFAULT_SHARD_SIZE

    def __post_init__(self) -> None:
        _choice(self.mode, CACHE_MODES, "cache.mode")
        _positive(self.shard_size, "cache.shard_size")


@dataclass
class ShardSettings:
    index: int = 0
    count: int = 1


@dataclass
class EvaluateSettings:
    """One `rtriever-eval` job. ``metrics`` None means the track's defaults (registry.py)."""

    model: Any = MISSING
    reranker: Any = None
    rewriter: Any = None  # RewriterSettings: fills dataset.query_file (rewrite.py) when it lacks queries
    dataset: DatasetSettings = MISSING
    instructions: InstructionSettings = MISSING
    paths: PathsSettings = field(default_factory=PathsSettings)
    experiment_name: str = "default"
    run_name: str = MISSING
    domains: list[str] | None = None
    top_k: int = 1000
    metrics: list[str] | None = None
    overwrite: bool = False
    print_report: bool = True
    stage: str = "all"
    shard: ShardSettings = field(default_factory=ShardSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)

    def __post_init__(self) -> None:
        _choice(self.stage, STAGES, "stage")
        _positive(self.top_k, "top_k")
