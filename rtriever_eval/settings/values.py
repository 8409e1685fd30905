"""The values settings may take, and the two checks every settings class runs when it is built.

Knows names and ranges only; which setting takes which is the settings classes' own.
"""

from __future__ import annotations

from typing import Any

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
STAGES = ("all", "encode", "search", "plan")
CACHE_MODES = ("off", "read", "readwrite")
LONG_DOCUMENTS = ("truncate", "chunk_max")
CHUNK_AGGREGATIONS = ("max", "mean_top_k")
SUBSETS = ("candidates",)
SUBSET_FIRST_STAGES = ("bm25", "bm25_bright")
RUN_FILE_FORMATS = ("auto", "trec", "json", "bright", "mteb")
FUSION_METHODS = ("rrf", "interpolation", "combsum", "combmnz")
NORMALIZATIONS = ("minmax", "zscore", "none")


def one_of(value: str, valid: tuple[str, ...], key: str) -> None:
    if value not in valid:
        raise ConfigError(f"{key} must be one of {', '.join(valid)}, got {value!r}", field=key)


def positive(value: Any, key: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}", field=key)

