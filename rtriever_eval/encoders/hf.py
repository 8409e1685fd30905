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
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch

from rtriever_eval.encoders.pooling import POOLERS, l2_normalize

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
    """Everything that shapes how texts become vectors (and so belongs in cache keys and summaries).

    Attributes:
        path: hub id or local folder.
        revision: hub revision (commit, tag, branch); None for the default branch or a local folder.
        dtype: weight and activation dtype; pooling and normalisation always run in float32.
        max_length: maximum tokens per document, special tokens and appended EOS included.
        query_max_length: maximum tokens per query; None means ``max_length``.
        batch_size: texts per forward pass.
        pooling: ``last_token`` (decoder embedders), ``mean`` or ``cls``.
        padding_side: side padding goes on; overrides the tokenizer's.
        append_eos: add one EOS id at the end of each sequence unless it already ends with it.
        eos_token: the token ``append_eos`` adds; None means ``<|endoftext|>`` when the vocabulary has it
            (Qwen family), else the tokenizer's ``eos_token``.
        normalize: L2-normalise the pooled vectors.
        device: torch device; None picks cuda, then mps, then cpu.
        attn_implementation: ``sdpa`` (default), ``flash_attention_2`` (used only when importable and on cuda,
            else sdpa with a warning), ``eager`` or any other value transformers accepts.
        trust_remote_code: allow the checkpoint's own Python code to run (logged as a warning).
    """

    path: str
    revision: str | None = None
    dtype: DType = "float32"
    max_length: int = 512
    query_max_length: int | None = None
    batch_size: int = 32
    pooling: Pooling = "last_token"
    padding_side: PaddingSide = "left"
    append_eos: bool = False
    eos_token: str | None = None
    normalize: bool = True
    device: str | None = None
    attn_implementation: str | None = "sdpa"
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in TORCH_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(TORCH_DTYPES)}, got {self.dtype!r}")
        if self.pooling not in POOLERS:
            raise ValueError(f"pooling must be one of {sorted(POOLERS)}, got {self.pooling!r}")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")
        for name in ("max_length", "query_max_length", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def effective_query_max_length(self) -> int:
        """The query max length, falling back to ``max_length``."""
        return self.query_max_length if self.query_max_length is not None else self.max_length


def resolve_device(device: str | None) -> torch.device:
    """The requested device, or the best available one: cuda, then mps, then cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_attn_implementation(requested: str | None, device: torch.device) -> str:
    """``sdpa`` unless something else is asked; ``flash_attention_2`` only if importable and on cuda."""
    if requested is None:
        return "sdpa"
    if requested == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            logger.warning(
                "attn_implementation=flash_attention_2 requested but flash_attn is not installed; using sdpa"
            )
            return "sdpa"
        if device.type != "cuda":
            logger.warning("attn_implementation=flash_attention_2 needs cuda (device is %s); using sdpa", device)
            return "sdpa"
    return requested


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index batches over texts sorted longest first (stable), ``batch_size`` texts each.

    This is the single place that decides batch composition; a token-budget planner replaces it without
    touching tokenisation, forward or reordering.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


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
        if model is not None:
            self._device = next(model.parameters()).device
            self._attn_impl = str(getattr(model.config, "_attn_implementation", None) or "unknown")
        else:
            self._device = resolve_device(settings.device)
            self._attn_impl = resolve_attn_implementation(settings.attn_implementation, self._device)
        if tokenizer is not None:
            self._prepare_tokenizer(tokenizer)

    # ------------------------------------------------------------------ loading

    def _load_tokenizer(self) -> None:
        if self._backend is not None:
            return
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                self.settings.path,
                revision=self.settings.revision,
                trust_remote_code=self.settings.trust_remote_code,
            )
            # Our own padding follows the settings; keep the tokenizer consistent for anyone reading it.
            self._tokenizer.padding_side = self.settings.padding_side
        self._prepare_tokenizer(self._tokenizer)

    def _prepare_tokenizer(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(
                f"{self.settings.path}: HFEncoder needs a fast (Rust `tokenizers`) tokenizer; "
                f"{type(tokenizer).__name__} has none"
            )
        self._backend = backend
        processor = backend.post_processor
        self._n_special = int(processor.num_special_tokens_to_add(False)) if processor is not None else 0
        self._eos_id = self._resolve_eos_id(tokenizer)
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self._eos_id if self._eos_id is not None else tokenizer.eos_token_id
        self._pad_id = int(pad_id) if pad_id is not None else 0

    def _resolve_eos_id(self, tokenizer: Any) -> int | None:
        name = self.settings.eos_token
        if name is None:
            has_qwen_eos = self._backend.token_to_id(QWEN_EMBEDDING_EOS) is not None
            name = QWEN_EMBEDDING_EOS if has_qwen_eos else tokenizer.eos_token
        if name is None:
            if self.settings.append_eos:
                raise ValueError(f"{self.settings.path}: append_eos=true but the tokenizer has no eos_token")
            return None
        token_id = self._backend.token_to_id(name)
        if token_id is None:
            raise ValueError(f"{self.settings.path}: eos_token {name!r} is not in the tokenizer's vocabulary")
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
            logger.warning(
                "%s: attn_implementation=%s refused (%s); using eager",
                self.settings.path,
                self._attn_impl,
                error,
            )
            self._attn_impl = "eager"
            kwargs["attn_implementation"] = "eager"
            model = AutoModel.from_pretrained(self.settings.path, **kwargs)
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
            ValueError: when the prompt alone does not fit in the max length.
        """
        self._load_tokenizer()
        max_len = self.settings.effective_query_max_length if is_query else self.settings.max_length
        budget = max_len - self._n_special
        if budget < 1:
            raise ValueError(f"max length {max_len} leaves no room next to {self._n_special} special tokens")
        # Some tokenizer.json files carry truncation/padding (all-MiniLM's pads to 128); transformers resets both
        # on every call it makes, and so do we: truncation happens below, padding per batch.
        if self._backend.truncation is not None:
            self._backend.no_truncation()
        if self._backend.padding is not None:
            self._backend.no_padding()
        encodings = self._backend.encode_batch([prompt + text for text in texts], add_special_tokens=False)
        out: list[list[int]] = []
        n_truncated = 0
        warned_empty = False
        for encoding in encodings:
            if len(encoding.ids) > budget:
                n_truncated += 1
                self._truncate(encoding, budget, prompt)
            ids = self._backend.post_process(encoding).ids
            if self.settings.append_eos and (not ids or ids[-1] != self._eos_id):
                if len(ids) >= max_len:
                    # Room for the EOS comes out of the text, so the sequence still fits in max_len.
                    self._truncate(encoding, budget - 1, prompt)
                    ids = self._backend.post_process(encoding).ids
                ids = [*ids, int(self._eos_id)]  # type: ignore[arg-type]
            if not ids:
                if not warned_empty:
                    logger.warning(
                        "an empty text with no prompt and no special tokens: encoding one EOS (or pad) token"
                    )
                    warned_empty = True
                ids = [self._eos_id if self._eos_id is not None else self._pad_id]
            out.append(ids)
        if n_truncated:
            logger.info(
                "%d of %d %s truncated to %d tokens",
                n_truncated,
                len(texts),
                "queries" if is_query else "documents",
                max_len,
            )
        return out

    @staticmethod
    def _truncate(encoding: Any, keep: int, prompt: str) -> None:
        """Cut ``encoding`` (no specials) to ``keep`` tokens in place, refusing to cut into the prompt."""
        offsets = encoding.offsets
        if keep < 1 or (prompt and keep < len(offsets) and offsets[keep][0] < len(prompt)):
            raise ValueError(
                f"the prompt does not fit in the max length: {keep} content tokens left for prompt {prompt!r}"
            )
        encoding.truncate(keep)

    def batches(self, ids: Sequence[Sequence[int]]) -> Iterator[TokenizedBatch]:
        """Padded CPU batches (on the settings' padding side) in the planned order, longest texts first."""
        left = self.settings.padding_side == "left"
        for indices in plan_batches([len(seq) for seq in ids], self.settings.batch_size):
            rows = [ids[i] for i in indices]
            width = max(len(row) for row in rows)
            input_ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, row in enumerate(rows):
                span = slice(width - len(row), width) if left else slice(0, len(row))
                input_ids[r, span] = row
                mask[r, span] = 1
            yield TokenizedBatch(
                torch.from_numpy(input_ids), torch.from_numpy(mask), indices, sum(len(row) for row in rows)
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
        ids = self.tokenize(texts, prompt, is_query=is_query)
        self._load_model()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        pool = POOLERS[self.settings.pooling]
        n_batches = math.ceil(len(texts) / self.settings.batch_size)
        from tqdm.auto import tqdm

        started = time.perf_counter()
        tokens_done = 0
        with (
            torch.inference_mode(),
            tqdm(
                total=len(texts),
                unit="doc",
                desc="queries" if is_query else "documents",
                disable=not show_progress or n_batches < 2,
                dynamic_ncols=True,
            ) as bar,
        ):
            for batch in self.batches(ids):
                mask = batch.attention_mask.to(self._device, non_blocking=True)
                output = self._model(input_ids=batch.input_ids.to(self._device, non_blocking=True), attention_mask=mask)
                hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
                vectors = pool(hidden, mask)  # float32, whatever the model's dtype
                if self.settings.normalize:
                    vectors = l2_normalize(vectors)
                out[batch.indices] = vectors.cpu().numpy()
                tokens_done += batch.n_tokens
                bar.update(len(batch.indices))
                bar.set_postfix(tok_s=f"{tokens_done / max(time.perf_counter() - started, 1e-9):,.0f}", refresh=False)
        elapsed = time.perf_counter() - started
        logger.debug("encoded %d texts (%d tokens) in %.2fs", len(texts), tokens_done, elapsed)
        return out

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
    def device(self) -> torch.device:
        """The device the model runs on."""
        return self._device

    def describe(self) -> dict[str, Any]:
        """The settings that change the vectors, plus the resolved device, attention and EOS id."""
        described = asdict(self.settings)
        described["query_max_length"] = self.settings.effective_query_max_length
        described.update(
            {
                "backend": "transformers",
                "device": str(self._device),
                "attn_implementation": self._attn_impl,
            }
        )
        if self._model is not None:
            described["dtype"] = str(next(self._model.parameters()).dtype).removeprefix("torch.")
        if self._backend is not None:
            described["eos_token_id"] = self._eos_id
        return described
