"""Dense text encoder on plain transformers (AutoTokenizer + AutoModel): tokenise, batch, forward, pool.

It knows the tokenisation rules decoder embedders depend on (prompt kept whole, EOS appended once, padding
side) but nothing of datasets, instructions, caches or search: callers pass the exact prompt, get fp32 rows.

Tokenisation, decided here once for every model: ``prompt + text`` is tokenised as ONE string by the fast
tokenizer (no special tokens), as sentence-transformers and the Qwen3-Embedding model card do, so BPE merges
across the prompt/text join are identical. A sequence that does not fit is cut from the end, which cuts the
text's tail and never the prompt (a prompt that alone overflows the budget is an error, checked with the
token offsets). The tokenizer's own special tokens are then added by its post-processor, so the result
equals ``tokenizer(prompt + text, truncation=True, max_length=L)``. With ``append_eos`` one EOS id is added at
the end, inside ``max_length``, unless the sequence already ends with it (never two).

Throughput, none of which changes the vectors beyond float rounding: texts are tokenised once (over-long ones
from a safe character prefix), sorted by token count and cut into batches by a token budget; causal decoders
run right-padded without an attention mask; float32 linears on the CPU may run on oneDNN; on cuda, inputs go
through pinned memory and results come back in large chunks. Settings ``max_tokens_per_batch``,
``causal_without_mask`` and ``cpu_linear`` control these.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rtriever_eval.encoders.kernels import (
    CPU_LINEAR_CHOICES,
    CpuLinear,
    Kernels,
    OneDNNLinear,
    choose_kernels,
    resolve_attn_implementation,
    resolve_device,
)
from rtriever_eval.encoders.pooling import POOLERS, l2_normalize
from rtriever_eval.errors import ConfigError

logger = logging.getLogger(__name__)

DType = Literal["float32", "bfloat16", "float16"]
Pooling = Literal["last_token", "mean", "cls"]
PaddingSide = Literal["left", "right"]

TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

QWEN_EMBEDDING_EOS = "<|endoftext|>"
"""The end token Qwen-family embedders pool on (not ``eos_token``, which is ``<|im_end|>`` there)."""


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that shapes how texts become vectors (recorded in summaries; cache keys take the subset that
    changes the vectors, not ``batch_size`` or ``max_tokens_per_batch``; the kernels chosen from ``device``,
    ``attn_implementation`` and ``cpu_linear`` are keyed as resolved, see ``HFEncoder.kernels``).

    Attributes:
        path: hub id or local folder.
        revision: hub revision (commit, tag, branch); None for the default branch or a local folder.
        dtype: weight and activation dtype; pooling and normalisation always run in float32.
        max_length: maximum tokens per document, special tokens and appended EOS included.
        query_max_length: maximum tokens per query; None means ``max_length``.
        batch_size: the most texts in one forward pass (an upper bound on rows; see ``max_tokens_per_batch``).
        max_tokens_per_batch: the most padded tokens in one forward pass (rows x longest row); batches are cut
            from texts sorted by token length, so short texts travel in wide batches and long ones in narrow
            ones at a steady memory peak. None means ``batch_size x max_length`` (never binding: fixed-size
            batches). One text longer than the budget goes alone. Changes speed, never the vectors.
        pooling: ``last_token`` (decoder embedders), ``mean`` or ``cls``.
        padding_side: side padding goes on; overrides the tokenizer's (a causal decoder run without masks,
            see ``causal_without_mask``, is padded on the right whatever this says).
        append_eos: add one EOS id at the end of each sequence unless it already ends with it.
        eos_token: the token ``append_eos`` adds; None means ``<|endoftext|>`` when the vocabulary has it
            (Qwen family), else the tokenizer's ``eos_token``.
        normalize: L2-normalise the pooled vectors.
        device: torch device; None picks cuda, then mps, then cpu.
        attn_implementation: None (default) picks ``flash_attention_2`` when ``flash_attn`` is importable, the
            device is cuda and the dtype 16-bit, else ``sdpa``; ``flash_attention_2`` asked for explicitly falls
            back to sdpa with a warning when it cannot run; ``sdpa``, ``eager`` or any value transformers takes.
        cpu_linear: on the CPU in float32, ``auto`` runs linear layers through oneDNN on AMD processors (where
            torch's MKL path skips its widest kernels), ``onednn`` wherever oneDNN agrees with torch, ``torch``
            never; decided from the hardware alone (see ``kernels.choose_cpu_linear``). The two kernels differ in
            the last bits, so the choice is part of the cache key.
        strip_whitespace: strip leading and trailing white space from ``prompt + text`` before tokenising, as
            sentence-transformers up to 5.3 did (5.4 and later, and BRIGHT's own code, do not). Part of the key.
        causal_without_mask: for a causal decoder (checked once per model, see ``HFEncoder``), pad on the right
            and pass no attention mask: under causal attention no real token can see a padding token after it,
            so the vectors are those of the masked batch (to float rounding), and sdpa can use its fused
            causal kernel instead of materialising a (batch, 1, seq, seq) mask. Changes speed, not the vectors.
        trust_remote_code: allow the checkpoint's own Python code to run (logged as a warning).
    """

    path: str
    revision: str | None = None
    dtype: DType = "float32"
    max_length: int = 512
    query_max_length: int | None = None
    batch_size: int = 32
    max_tokens_per_batch: int | None = None
    pooling: Pooling = "last_token"
    padding_side: PaddingSide = "left"
    append_eos: bool = False
    eos_token: str | None = None
    normalize: bool = True
    device: str | None = None
    attn_implementation: str | None = None
    cpu_linear: CpuLinear = "auto"
    causal_without_mask: bool = True
    trust_remote_code: bool = False
    strip_whitespace: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in TORCH_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(TORCH_DTYPES)}, got {self.dtype!r}")
        if self.pooling not in POOLERS:
            raise ValueError(f"pooling must be one of {sorted(POOLERS)}, got {self.pooling!r}")
        if self.cpu_linear not in CPU_LINEAR_CHOICES:
            raise ValueError(f"cpu_linear must be one of {', '.join(CPU_LINEAR_CHOICES)}, got {self.cpu_linear!r}")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")
        for name in ("max_length", "query_max_length", "batch_size", "max_tokens_per_batch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def effective_query_max_length(self) -> int:
        """The query max length, falling back to ``max_length``."""
        return self.query_max_length if self.query_max_length is not None else self.max_length


__all__ = ["EncoderSettings", "HFEncoder", "plan_batches", "resolve_attn_implementation", "resolve_device"]


def plan_batches(
    lengths: Sequence[int] | np.ndarray, batch_size: int, max_tokens: int | None = None
) -> list[np.ndarray]:
    """Index batches over texts sorted longest first (stable): at most ``batch_size`` rows and, when
    ``max_tokens`` is given, at most ``max_tokens`` padded tokens (rows x the batch's longest row) each.

    A text longer than ``max_tokens`` goes alone. This is the single place that decides batch composition;
    tokenisation, forward and reordering do not depend on it.
    """
    sorted_lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sorted_lengths, kind="stable")
    sorted_lengths = sorted_lengths[order]
    batches: list[np.ndarray] = []
    start, n = 0, len(order)
    while start < n:
        rows = batch_size
        if max_tokens is not None:
            rows = min(rows, max(1, max_tokens // max(1, int(sorted_lengths[start]))))
        batches.append(order[start : start + rows])
        start += rows
    return batches


PRECUT_CHARS_PER_TOKEN = 12
"""Texts longer than ``max_length x`` this many characters are cut before tokenisation (see ``tokenize``)."""

_TOKENIZE_CHUNK = 2048
"""Texts per ``encode_batch`` call: bounds the memory the Rust encodings of a large corpus hold at once."""


_FLUSH_ROWS = 4096
"""Pooled rows kept on the device before one copy back to the host."""


def _last_hidden(output: Any) -> torch.Tensor:
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]


def _flush(pending: list[tuple[np.ndarray, torch.Tensor]], out: np.ndarray) -> None:
    """Copy pending pooled rows to their input positions in ``out`` (one device-to-host copy) and clear them."""
    if not pending:
        return
    indices = np.concatenate([idx for idx, _ in pending])
    out[indices] = torch.cat([vectors for _, vectors in pending]).cpu().numpy()
    pending.clear()


def _cut_keeps_ids(encoding: Any, keep: int) -> bool:
    """Whether the first ``keep`` ids of a cut text's encoding are those of the full text (see ``token_ids``)."""
    if len(encoding) <= keep:
        return False
    words = encoding.word_ids
    last_kept, last = words[keep - 1], words[-1]
    return last_kept is not None and last is not None and last_kept + 2 <= last


@dataclass(frozen=True)
class TokenIds:
    """Model input ids of many texts in one flat array: text ``i`` is ``flat[offsets[i]:offsets[i + 1]]``.

    Ids are int32 (every vocabulary fits), half the memory of int64 and far less than Python lists.
    """

    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lists(cls, ids: Sequence[Sequence[int]]) -> TokenIds:
        """Pack per-text id lists."""
        lengths = np.fromiter((len(seq) for seq in ids), dtype=np.int64, count=len(ids))
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets)

    @classmethod
    def concat(cls, parts: Sequence[TokenIds]) -> TokenIds:
        """The texts of ``parts``, in order, as one."""
        if not parts:
            return cls(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
        shifts = np.cumsum([0] + [int(part.offsets[-1]) for part in parts[:-1]])
        offsets = np.concatenate([[0]] + [part.offsets[1:] + shift for part, shift in zip(parts, shifts, strict=True)])
        return cls(np.concatenate([part.flat for part in parts]), offsets.astype(np.int64))

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per text."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def to_lists(self) -> list[list[int]]:
        """Per-text id lists."""
        flat = self.flat.tolist()
        bounds = self.offsets.tolist()
        return [flat[a:b] for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class TokenizedBatch:
    """One padded batch: ids and mask (batch, seq) on the CPU, its texts' positions, its real token count."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    indices: np.ndarray
    n_tokens: int


class HFEncoder:
    """Encoder on ``transformers.AutoModel``; weights load lazily on the first ``encode`` (or ``dim`` call).

    A ready model and tokenizer can be injected (benchmarks, tests); they are used as they are, on the device
    the model's parameters live on.
    """

    def __init__(self, settings: EncoderSettings, *, model: Any = None, tokenizer: Any = None) -> None:
        self.settings = settings
        if settings.trust_remote_code:
            logger.warning("trust_remote_code=True for %s: the checkpoint's own Python code will run", settings.path)
        self._model: Any = model
        self._tokenizer: Any = tokenizer
        self._backend: Any = None
        self._eos_id: int | None = None
        self._pad_id: int = 0
        self._n_special = 0
        self._affixes: tuple[list[int], list[int]] | None = None
        self._causal: bool | None = None
        self._oom_splits = 1  # doubled on each out-of-memory error (see _embed_rows)
        self.kernels: Kernels
        if model is not None:
            param = next(model.parameters())
            dtype = str(param.dtype).removeprefix("torch.")
            self.kernels = choose_kernels(
                device=str(param.device),
                attn_implementation=str(getattr(model.config, "_attn_implementation", None) or "unknown"),
                dtype=dtype,
                cpu_linear=settings.cpu_linear,
            )
        else:
            self.kernels = choose_kernels(
                device=settings.device,
                attn_implementation=settings.attn_implementation,
                dtype=settings.dtype,
                cpu_linear=settings.cpu_linear,
            )
        self._device = torch.device(self.kernels.device)
        self._attn_impl = self.kernels.attention
        if tokenizer is not None:
            self._prepare_tokenizer(tokenizer)

    # ------------------------------------------------------------------ loading

    def _load_tokenizer(self) -> None:
        if self._backend is not None:
            return
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            local = Path(self.settings.path).is_dir()
            if not local:
                from rtriever_eval.hub import prepare_hub_access

                prepare_hub_access(f"model {self.settings.path}")
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(
                    self.settings.path,
                    revision=self.settings.revision,
                    trust_remote_code=self.settings.trust_remote_code,
                )
            except (OSError, ValueError) as exc:
                if local:
                    raise
                raise ConfigError(
                    f"could not load {self.settings.path!r} from the Hugging Face hub or its local cache "
                    f"({type(exc).__name__}). Without network access, point model.path= at a local copy of the model.",
                    field="model.path",
                ) from None
            # Our own padding follows the settings; keep the tokenizer consistent for anyone reading it.
            self._tokenizer.padding_side = self.settings.padding_side
        self._prepare_tokenizer(self._tokenizer)

    def _prepare_tokenizer(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigError(
                f"{self.settings.path}: HFEncoder needs a fast (Rust `tokenizers`) tokenizer; "
                f"{type(tokenizer).__name__} has none",
                field="model.path",
            )
        self._backend = backend
        processor = backend.post_processor
        self._n_special = int(processor.num_special_tokens_to_add(False)) if processor is not None else 0
        self._affixes = self._special_affixes()
        self._eos_id = self._resolve_eos_id(tokenizer)
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self._eos_id if self._eos_id is not None else tokenizer.eos_token_id
        self._pad_id = int(pad_id) if pad_id is not None else 0

    def _special_affixes(self) -> tuple[list[int], list[int]] | None:
        """The ids the post-processor puts before and after a single sequence (None if it does more than that).

        Found once on a probe, so each text needs a list concatenation instead of a post-processing call.
        """
        probe = self._backend.encode("probe text, 12", add_special_tokens=False)
        content = list(probe.ids)
        full = list(self._backend.post_process(probe).ids)
        for start in range(len(full) - len(content) + 1):
            if full[start : start + len(content)] == content:
                prefix, suffix = full[:start], full[start + len(content) :]
                if len(prefix) + len(suffix) == self._n_special:
                    return prefix, suffix
        logger.debug("%s: post-processor is not a fixed prefix/suffix; post-processing each text", self.settings.path)
        return None

    def _resolve_eos_id(self, tokenizer: Any) -> int | None:
        name = self.settings.eos_token
        if name is None:
            has_qwen_eos = self._backend.token_to_id(QWEN_EMBEDDING_EOS) is not None
            name = QWEN_EMBEDDING_EOS if has_qwen_eos else tokenizer.eos_token
        if name is None:
            if self.settings.append_eos:
                raise ConfigError(
                    f"{self.settings.path}: append_eos=true but the tokenizer has no eos_token", field="model.eos_token"
                )
            return None
        token_id = self._backend.token_to_id(name)
        if token_id is None:
            raise ConfigError(
                f"{self.settings.path}: eos_token {name!r} is not in the tokenizer's vocabulary",
                field="model.eos_token",
            )
        return int(token_id)

    def _load_model(self) -> None:
        if self._model is not None:
            return
        import transformers
        from transformers import AutoModel

        dtype = TORCH_DTYPES[self.settings.dtype]
        major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
        dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        kwargs: dict[str, Any] = {
            "revision": self.settings.revision,
            "trust_remote_code": self.settings.trust_remote_code,
            dtype_key: dtype,
            "attn_implementation": self._attn_impl,
        }
        started = time.perf_counter()
        try:
            model = AutoModel.from_pretrained(self.settings.path, **kwargs)
        except (ValueError, ImportError) as error:
            if self._attn_impl == "eager":
                raise
            # Never switch kernels silently: the attention kernel is part of the cache key and the summary.
            raise ConfigError(
                f"{self.settings.path}: transformers refused attn_implementation={self._attn_impl} "
                f"({' '.join(str(error).split())[:300]}); set model.attn_implementation=eager (or another kernel "
                "the model supports)",
                field="model.attn_implementation",
            ) from None
        self._model = model.to(self._device).eval()
        logger.info(
            "loaded %s (%s, %s, attn=%s) on %s in %.1fs",
            self.settings.path,
            self.settings.dtype,
            self.settings.pooling,
            self._attn_impl,
            self._device,
            time.perf_counter() - started,
        )
        max_positions = getattr(self._model.config, "max_position_embeddings", None)
        longest = max(self.settings.max_length, self.settings.effective_query_max_length)
        if isinstance(max_positions, int) and longest > max_positions:
            logger.warning(
                "%s: max length %d exceeds the model's max_position_embeddings %d",
                self.settings.path,
                longest,
                max_positions,
            )

    # ------------------------------------------------------------------ tokenisation

    def tokenize(self, texts: Sequence[str], prompt: str = "", *, is_query: bool) -> list[list[int]]:
        """Model input ids per text (specials and appended EOS included, no padding), by the module's rules.

        Raises:
            ConfigError: when the prompt alone does not fit in the max length.
        """
        return self.token_ids(texts, prompt, is_query=is_query).to_lists()

    def token_ids(self, texts: Sequence[str], prompt: str = "", *, is_query: bool) -> TokenIds:
        """:meth:`tokenize` packed in one flat array (what ``encode`` uses; no per-text Python lists kept).

        A text longer than ``max_length x PRECUT_CHARS_PER_TOKEN`` characters is tokenised from that many
        leading characters only, which spares tokenising 100k-token documents in full. The cut is kept only
        when it provably leaves the ids within the max length unchanged: the cut text must yield more tokens
        than are kept, and the last kept token must lie at least two pre-tokenizer words before the last word
        of the cut text (only the word the cut falls in, and the one before it through look-ahead, can differ
        from the full text's). Otherwise the full text is tokenised.

        Raises:
            ConfigError: when the prompt alone does not fit in the max length.
        """
        self._load_tokenizer()
        max_len = self.settings.effective_query_max_length if is_query else self.settings.max_length
        budget = max_len - self._n_special
        if budget < 1:
            raise ConfigError(
                f"max length {max_len} leaves no room next to {self._n_special} special tokens",
                field="model.query_max_length" if is_query else "model.max_length",
            )
        # Some tokenizer.json files carry truncation/padding (all-MiniLM's pads to 128); transformers resets both
        # on every call it makes, and so do we: truncation happens below, padding per batch.
        if self._backend.truncation is not None:
            self._backend.no_truncation()
        if self._backend.padding is not None:
            self._backend.no_padding()
        cut_at = max_len * PRECUT_CHARS_PER_TOKEN
        parts: list[TokenIds] = []
        counts = {"truncated": 0, "cut": 0, "recut": 0}
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            chunk = texts[start : start + _TOKENIZE_CHUNK]
            parts.append(TokenIds.from_lists(self._tokenize_chunk(chunk, prompt, max_len, budget, cut_at, counts)))
        if counts["truncated"]:
            logger.info(
                "%d of %d %s truncated to %d tokens (%d tokenised from their first %d characters only, %d more "
                "tokenised in full because the cut could have changed their ids)",
                counts["truncated"],
                len(texts),
                "queries" if is_query else "documents",
                max_len,
                counts["cut"],
                cut_at,
                counts["recut"],
            )
        return TokenIds.concat(parts)

    def _tokenize_chunk(
        self, texts: Sequence[str], prompt: str, max_len: int, budget: int, cut_at: int, counts: dict[str, int]
    ) -> list[list[int]]:
        cut = [i for i, text in enumerate(texts) if len(text) > cut_at]
        join = self._joiner(prompt)
        inputs = [join(text if len(text) <= cut_at else text[:cut_at]) for text in texts]
        encodings = self._backend.encode_batch(inputs, add_special_tokens=False)
        unsafe = [i for i in cut if not _cut_keeps_ids(encodings[i], budget)]
        if unsafe:
            full = self._backend.encode_batch([join(texts[i]) for i in unsafe], add_special_tokens=False)
            for i, encoding in zip(unsafe, full, strict=True):
                encodings[i] = encoding
        counts["cut"] += len(cut) - len(unsafe)
        counts["recut"] += len(unsafe)
        kept_prompt = prompt.lstrip() if self.settings.strip_whitespace else prompt
        out: list[list[int]] = []
        for encoding in encodings:
            content = encoding.ids
            if len(content) > budget:
                counts["truncated"] += 1
                self._check_prompt_fits(encoding, budget, kept_prompt)
                content = content[:budget]
            ids = self._with_specials(encoding, content)
            if self.settings.append_eos and (not ids or ids[-1] != self._eos_id):
                if len(ids) >= max_len:
                    # Room for the EOS comes out of the text, so the sequence still fits in max_len.
                    self._check_prompt_fits(encoding, budget - 1, kept_prompt)
                    ids = self._with_specials(encoding, content[: budget - 1])
                ids.append(int(self._eos_id))  # type: ignore[arg-type]
            if not ids:
                if not counts.get("warned_empty"):
                    logger.warning(
                        "an empty text with no prompt and no special tokens: encoding one EOS (or pad) token"
                    )
                    counts["warned_empty"] = 1
                ids = [self._eos_id if self._eos_id is not None else self._pad_id]
            out.append(ids)
        return out

    def _joiner(self, prompt: str) -> Any:
        """``prompt + text``, stripped of outer white space when ``strip_whitespace`` (sentence-transformers <= 5.3)."""
        if self.settings.strip_whitespace:
            return lambda text: (prompt + text).strip()
        return lambda text: prompt + text

    def _with_specials(self, encoding: Any, content: list[int]) -> list[int]:
        """``content`` (a prefix of the encoding's ids) with the post-processor's special tokens around it."""
        if self._affixes is not None:
            prefix, suffix = self._affixes
            return [*prefix, *content, *suffix]
        if len(content) < len(encoding):
            encoding.truncate(len(content))
        return list(self._backend.post_process(encoding).ids)

    @staticmethod
    def _check_prompt_fits(encoding: Any, keep: int, prompt: str) -> None:
        """Refuse to keep only ``keep`` tokens when that would cut into the prompt."""
        if keep < 1 or (prompt and keep < len(encoding) and encoding.offsets[keep][0] < len(prompt)):
            raise ConfigError(
                f"the prompt does not fit in the max length: {keep} content tokens left for prompt {prompt!r}",
                field="model.query_max_length",
            )

    def check_prompt(self, prompt: str, *, is_query: bool) -> None:
        """Load the tokenizer (never the weights) and raise ConfigError unless ``prompt`` leaves room for text
        within the max length (special tokens and an appended EOS counted): the checks a run makes up front."""
        self._load_tokenizer()
        max_len = self.settings.effective_query_max_length if is_query else self.settings.max_length
        used = len(self._backend.encode(prompt, add_special_tokens=False).ids) if prompt else 0
        used += self._n_special + (1 if self.settings.append_eos else 0)
        if used >= max_len:
            side = "query" if is_query else "document"
            raise ConfigError(
                f"the {side} prompt {prompt!r} takes {used} of the {max_len} tokens (special tokens and EOS "
                "included), leaving no room for text",
                field="model.query_max_length" if is_query else "model.max_length",
            )

    def batches(
        self, ids: TokenIds | Sequence[Sequence[int]], *, padding_side: PaddingSide | None = None
    ) -> Iterator[TokenizedBatch]:
        """Padded CPU batches in the planned order (longest texts first, see :func:`plan_batches`).

        Padding goes on ``padding_side``, by default the settings'. Batches are cut by ``batch_size`` rows and
        the token budget of the longest sequence's max length (``max_tokens_per_batch``).
        """
        tokens = ids if isinstance(ids, TokenIds) else TokenIds.from_lists(ids)
        lengths = tokens.lengths
        if not len(lengths):
            return
        left = (padding_side or self.settings.padding_side) == "left"
        budget = self.settings.max_tokens_per_batch
        if budget is None:
            budget = self.settings.batch_size * int(lengths.max())
        for indices in plan_batches(lengths, self.settings.batch_size, budget):
            yield self._pad(tokens, indices, left)

    def _pad(self, tokens: TokenIds, indices: np.ndarray, left: bool) -> TokenizedBatch:
        lengths = tokens.lengths[indices]
        width = int(lengths.max())
        columns = np.arange(width, dtype=np.int64)[None, :]
        shift = (width - lengths)[:, None] if left else np.zeros((len(indices), 1), dtype=np.int64)
        valid = (columns >= shift) & (columns < shift + lengths[:, None])
        source = np.where(valid, tokens.offsets[indices][:, None] + columns - shift, 0)
        input_ids = np.where(valid, tokens.flat[source], self._pad_id).astype(np.int64)
        return TokenizedBatch(
            torch.from_numpy(input_ids), torch.from_numpy(valid.astype(np.int64)), indices, int(lengths.sum())
        )

    # ------------------------------------------------------------------ encoding

    def encode(
        self,
        texts: Sequence[str],
        prompt: str = "",
        *,
        is_query: bool,
        show_progress: bool = True,
    ) -> np.ndarray:
        """Embed ``prompt + text`` for each text; float32 array (len(texts), dim) in input order."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        tokens = self.token_ids(texts, prompt, is_query=is_query)
        self._load_model()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        pool = POOLERS[self.settings.pooling]
        unmasked = self._causal_without_mask()
        linear_mode = OneDNNLinear() if self._use_onednn() else contextlib.nullcontext()
        cuda = self._device.type == "cuda"
        from tqdm.auto import tqdm

        started = time.perf_counter()
        tokens_done = 0
        pending: list[tuple[np.ndarray, torch.Tensor]] = []
        pending_rows = 0
        with (
            torch.inference_mode(),
            linear_mode,
            tqdm(
                total=len(texts),
                unit="doc",
                desc="queries" if is_query else "documents",
                disable=not show_progress or len(texts) <= self.settings.batch_size,
                dynamic_ncols=True,
            ) as bar,
        ):
            for batch in self.batches(tokens, padding_side="right" if unmasked else None):
                input_ids, mask = batch.input_ids, batch.attention_mask
                if cuda:  # pinned (cached by torch's host allocator) so the copies overlap the previous forward
                    input_ids, mask = input_ids.pin_memory(), mask.pin_memory()
                input_ids = input_ids.to(self._device, non_blocking=True)
                mask = mask.to(self._device, non_blocking=True)
                vectors = self._embed_rows(input_ids, mask, unmasked, pool)
                # Results stay on the device until a flush, so the host never waits on each batch.
                pending.append((batch.indices, vectors))
                pending_rows += len(batch.indices)
                if pending_rows >= _FLUSH_ROWS:
                    _flush(pending, out)
                    pending_rows = 0
                tokens_done += batch.n_tokens
                bar.update(len(batch.indices))
                bar.set_postfix(tok_s=f"{tokens_done / max(time.perf_counter() - started, 1e-9):,.0f}", refresh=False)
            _flush(pending, out)
        elapsed = time.perf_counter() - started
        logger.debug("encoded %d texts (%d tokens) in %.2fs", len(texts), tokens_done, elapsed)
        return out

    def _embed_rows(
        self, input_ids: torch.Tensor, mask: torch.Tensor, unmasked: bool, pool: Any, *, split: bool = True
    ) -> torch.Tensor:
        """Pooled (and normalised) float32 vectors of one batch; on out-of-memory the batch is halved and retried,
        and later batches are split as often, so a long encode goes on instead of dying at hour five."""
        n = int(input_ids.shape[0])
        parts = min(self._oom_splits, n) if split else 1
        if parts > 1:
            return torch.cat(
                [
                    self._embed_rows(i, m, unmasked, pool, split=False)
                    for i, m in zip(input_ids.tensor_split(parts), mask.tensor_split(parts), strict=True)
                ]
            )
        try:
            output = self._model(input_ids=input_ids, attention_mask=None if unmasked else mask)
            vectors = pool(_last_hidden(output), mask)  # float32, whatever the model's dtype
            return l2_normalize(vectors) if self.settings.normalize else vectors
        except torch.cuda.OutOfMemoryError:
            if n == 1:
                raise
            self._oom_splits *= 2
            logger.warning(
                "out of memory on a batch of %d texts x %d tokens: halving (batches now split %d ways)",
                n,
                int(input_ids.shape[1]),
                self._oom_splits,
            )
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = (n + 1) // 2
            return torch.cat(
                [
                    self._embed_rows(input_ids[:half], mask[:half], unmasked, pool, split=False),
                    self._embed_rows(input_ids[half:], mask[half:], unmasked, pool, split=False),
                ]
            )

    def _use_onednn(self) -> bool:
        """Whether float32 CPU linears go through oneDNN (decided from settings and hardware, see ``kernels``)."""
        return self.kernels.linear == "onednn"

    def _causal_without_mask(self) -> bool:
        """Whether to run right-padded batches with no attention mask (decided once per encoder).

        True only when the setting allows it, no attention module declares ``is_causal=False``, and a probe
        shows causality: two rows sharing a prefix but not a suffix, run together without a mask, must give
        the prefix the same hidden states (a model that attends both ways would mix the suffixes in).
        """
        if self._causal is not None:
            return self._causal
        self._causal = False
        if not self.settings.causal_without_mask:
            return False
        if any(getattr(module, "is_causal", None) is False for module in self._model.modules()):
            return False
        vocab = int(self._model.get_input_embeddings().weight.shape[0])
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (2, 12), generator=generator)
        ids[1, :8] = ids[0, :8]
        try:
            with torch.inference_mode():
                hidden = _last_hidden(self._model(input_ids=ids.to(self._device))).to(torch.float32)
        except Exception as error:  # a model whose forward wants a mask: keep the masked path
            logger.debug("%s: no-mask probe failed (%s); using attention masks", self.settings.path, error)
            return False
        a, b = hidden[0, :8], hidden[1, :8]
        gap = float((a - b).norm() / a.norm().clamp(min=1e-12))
        self._causal = gap < 1e-3
        logger.debug("%s: causal probe gap %.2e; unmasked batches: %s", self.settings.path, gap, self._causal)
        return self._causal

    # ------------------------------------------------------------------ description

    @property
    def dim(self) -> int:
        """Embedding dimension (the model's hidden size); reads the config, loading no weights."""
        config = self._model.config if self._model is not None else self._config()
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return int(text_config.hidden_size)

    def _config(self) -> Any:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(
            self.settings.path,
            revision=self.settings.revision,
            trust_remote_code=self.settings.trust_remote_code,
        )

    @property
    def model(self) -> Any:
        """The transformers model (loaded on first access)."""
        self._load_model()
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The transformers tokenizer (loaded on first access)."""
        self._load_tokenizer()
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        """The device the model runs on."""
        return self._device

    def describe(self) -> dict[str, Any]:
        """The settings, plus the resolved device, attention, EOS id and (once encoding ran) the fast paths used."""
        described = asdict(self.settings)
        described["query_max_length"] = self.settings.effective_query_max_length
        described.update(
            {
                "backend": "transformers",
                "device": str(self._device),
                "attn_implementation": self._attn_impl,
                "kernels": self.kernels.describe(),
            }
        )
        if self._model is not None:
            described["dtype"] = str(next(self._model.parameters()).dtype).removeprefix("torch.")
        if self._backend is not None:
            described["eos_token_id"] = self._eos_id
        if self._causal is not None:
            described["unmasked_causal_batches"] = self._causal
        described["onednn_linear"] = self._use_onednn()
        if self._oom_splits > 1:
            described["oom_batch_splits"] = self._oom_splits
        return described
