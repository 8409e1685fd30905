"""Dense text encoder on plain transformers (AutoTokenizer + AutoModel): load lazily, batch, forward, pool.

The tokenisation rules live in tokenization.py, batch planning in batching.py, kernel choice in kernels.py; this
module runs them: it knows nothing of datasets, instructions, caches or search (callers pass the exact prompt
and get fp32 rows). Throughput, none of which changes the vectors beyond float rounding: texts are tokenised
once, sorted by token count and cut into batches by a token budget; causal decoders run right-padded without an
attention mask; float32 linears on the CPU may run on oneDNN; on cuda, inputs go through pinned memory and
results come back in large chunks. A CUDA out-of-memory error halves the batch and later batches. With
``packing`` on (opt-in, keyed: the last bits differ), batches are padding-free instead (packing.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import torch

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.encoders import packing
from rtriever_eval.encoders.base import EncoderUsage
from rtriever_eval.encoders.batching import TokenizedBatch, iter_batches, plan_batches
from rtriever_eval.encoders.cpu_linear import OneDNNLinear
from rtriever_eval.encoders.kernels import (
    Kernels,
    is_causal,
    kernels_of,
    resolve_attn_implementation,
    resolve_device,
)
from rtriever_eval.encoders.loading import load_config, load_model, load_model_class, load_tokenizer
from rtriever_eval.encoders.pooling import PACKED_POOLERS, POOLERS, l2_normalize, last_hidden
from rtriever_eval.encoders.tokenization import TokenIds, Tokenization
from rtriever_eval.settings.models import DenseSettings as EncoderSettings

logger = logging.getLogger(__name__)

__all__ = ["EncoderSettings", "HFEncoder", "plan_batches", "resolve_attn_implementation", "resolve_device"]

DType = Literal["float32", "bfloat16", "float16"]
PaddingSide = Literal["left", "right"]

_FLUSH_ROWS = 4096
"""Pooled rows kept on the device before one copy back to the host."""


def _flush(pending: list[tuple[np.ndarray, torch.Tensor]], out: np.ndarray) -> None:
    """Copy pending pooled rows to their input positions in ``out`` (one device-to-host copy) and clear them."""
    if not pending:
        return
    indices = np.concatenate([idx for idx, _ in pending])
    out[indices] = torch.cat([vectors for _, vectors in pending]).cpu().numpy()
    pending.clear()


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
        self._tokenization: Tokenization | None = None
        self._causal: bool | None = None
        self.usage = EncoderUsage()
        self._oom_splits = 1  # doubled on each out-of-memory error (see _embed_rows)
        self._packed_causal: bool | None = None  # whether packed masks are causal (decided once, then probed)
        model_class = load_model_class(settings) if model is None and settings.packing != "off" else None
        self.kernels: Kernels = kernels_of(model, settings, model_class=model_class)
        self._device = torch.device(self.kernels.device)
        self._attn_impl = self.kernels.attention
        if tokenizer is not None:
            self._tokenization = Tokenization(settings, tokenizer)

    # ------------------------------------------------------------------ loading

    def _load_tokenizer(self) -> None:
        if self._tokenization is not None:
            return
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.settings)
        self._tokenization = Tokenization(self.settings, self._tokenizer)

    def _load_model(self) -> None:
        if self._model is None:
            started = time.perf_counter()
            self._model = load_model(self.settings, self._device, self._attn_impl)
            self.usage.load_s += time.perf_counter() - started

    def tokenize(self, texts: Sequence[str], prompt: str = "", *, is_query: bool) -> list[list[int]]:
        """Model input ids per text (specials and appended EOS included, no padding), by the module's rules.

        Raises:
            ConfigError: when the prompt alone does not fit in the max length.
        """
        return self.token_ids(texts, prompt, is_query=is_query).to_lists()

    def token_ids(self, texts: Sequence[str], prompt: str = "", *, is_query: bool) -> TokenIds:
        """:meth:`tokenize` packed in one flat array (what ``encode`` uses; see ``Tokenization.token_ids``)."""
        return self.tokenization.token_ids(texts, prompt, is_query=is_query)

    def check_prompt(self, prompt: str, *, is_query: bool) -> None:
        """Load the tokenizer (never the weights); ConfigError unless ``prompt`` leaves room for text."""
        self.tokenization.check_prompt(prompt, is_query=is_query)

    def check_memory(self, *, is_query: bool = False) -> None:
        """The memory guard (memory.py) for the longest batch this encoder can plan; reads the config only."""
        from rtriever_eval.encoders.memory import check_memory

        st = self.settings
        length = st.effective_query_max_length if is_query else st.max_length
        # batching.py: at most batch_size rows and max_tokens_per_batch padded tokens; a longer text goes alone
        rows = max(1, min(st.batch_size, (st.max_tokens_per_batch or st.batch_size * length) // length))
        config = self._model.config if self._model is not None else self._config()
        check_memory(
            config,
            dtype=st.dtype,
            rows=rows,
            max_length=length,
            tokens=rows * length,
            materialised_attention=self._attn_impl == "eager",
            device=str(self._device),
            limit_gb=st.memory_limit_gb,
            label=f"{st.path} ({'queries' if is_query else 'documents'})",
        )

    @property
    def tokenization(self) -> Tokenization:
        """The tokenizer with this encoder's rules (loaded on first use)."""
        self._load_tokenizer()
        assert self._tokenization is not None
        return self._tokenization

    def batches(
        self, ids: TokenIds | Sequence[Sequence[int]], *, padding_side: str | None = None
    ) -> Iterator[TokenizedBatch]:
        """Padded CPU batches in the planned order (see :func:`batching.iter_batches`); padding on ``padding_side``,
        by default the settings'."""
        tokens = ids if isinstance(ids, TokenIds) else TokenIds.from_lists(ids)
        return iter_batches(
            tokens,
            batch_size=self.settings.batch_size,
            max_tokens=self.settings.max_tokens_per_batch,
            left=(padding_side or self.settings.padding_side) == "left",
            pad_id=self.tokenization.pad_id,
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
        t0 = time.perf_counter()
        tokens = self.token_ids(texts, prompt, is_query=is_query)
        self.usage.tokenise_s += time.perf_counter() - t0
        self._load_model()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        pool = POOLERS[self.settings.pooling]
        packed = self.kernels.packed
        unmasked = not packed and self._causal_without_mask()
        if packed:
            self._check_packing()
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
            batches = (
                self._packed_batches(tokens)
                if packed
                else self.batches(tokens, padding_side="right" if unmasked else None)
            )
            for batch in batches:
                check_interrupt()  # SIGTERM: stop between batches (this shard is dropped, finished ones stay)
                if isinstance(batch, packing.PackedBatch):
                    vectors = self._embed_packed(tokens, batch)
                else:
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
        self.usage.forward_s += time.perf_counter() - started
        self.usage.tokens = (self.usage.tokens or 0) + int(tokens.offsets[-1])
        return out

    def _after_oom(self, error: Exception, n: int, what: str) -> None:
        """Out of memory on ``what``: raise it for a single text, else split later batches twice as often."""
        if n == 1:
            raise error
        self._oom_splits *= 2
        logger.warning("out of memory on %s: splitting it (batches now split %d ways)", what, self._oom_splits)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

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
            vectors = pool(last_hidden(output), mask)  # float32, whatever the model's dtype
            return l2_normalize(vectors) if self.settings.normalize else vectors
        except torch.cuda.OutOfMemoryError as error:
            self._after_oom(error, n, f"a batch of {n} texts x {int(input_ids.shape[1])} tokens")
            half = (n + 1) // 2
            return torch.cat(
                [
                    self._embed_rows(input_ids[:half], mask[:half], unmasked, pool, split=False),
                    self._embed_rows(input_ids[half:], mask[half:], unmasked, pool, split=False),
                ]
            )

    # ------------------------------------------------------------------ packed batches

    def _packed_batches(self, tokens: TokenIds) -> Iterator[packing.PackedBatch]:
        """Padding-free CPU batches for the kernels' packed path (see :func:`packing.iter_packed`)."""
        return packing.iter_packed(
            tokens,
            path=self.kernels.packing_path,
            batch_size=self.settings.batch_size,
            max_tokens=self.settings.max_tokens_per_batch,
            pad_id=self.tokenization.pad_id,
        )

    def _check_packing(self) -> None:
        """Once per encoder: whether packed masks are causal, and a seeded probe that packed texts give what they
        give alone (ConfigError naming model.packing otherwise: the kernels, keyed already, cannot change now)."""
        if self._packed_causal is not None:
            return
        path = self.kernels.packing_path
        causal = packing.attends_causally(self._model, self._device)
        gap = packing.probe_gap(self._model, self._device, path=path, causal=causal)
        tolerance = 1e-4 if next(self._model.parameters()).dtype == torch.float32 else 3e-2
        if not gap < tolerance:
            raise ConfigError(
                f"{self.settings.path}: packed batches ({self.kernels.packing}, causal={causal}) do not reproduce "
                f"texts run alone (relative gap {gap:.1e}); set model.packing=off",
                field="model.packing",
            )
        logger.debug("packing %s (causal=%s): probe gap %.1e", self.kernels.packing, causal, gap)
        self._packed_causal = causal

    def _embed_packed(self, tokens: TokenIds, batch: packing.PackedBatch, *, split: bool = True) -> torch.Tensor:
        """Pooled (and normalised) float32 vectors of one packed batch, in ``batch.indices`` order; on
        out-of-memory the batch is split and retried, and later batches are split as often (as ``_embed_rows``)."""
        n = len(batch.indices)
        parts = min(self._oom_splits, n) if split else 1
        pad_id = self.tokenization.pad_id
        if parts > 1:
            pieces = packing.split(tokens, batch, parts, pad_id=pad_id)
            return torch.cat([self._embed_packed(tokens, piece, split=False) for piece in pieces])
        try:
            inputs = [batch.input_ids, batch.position_ids, batch.segments]
            if self._device.type == "cuda":
                inputs = [tensor.pin_memory() for tensor in inputs]
            input_ids, position_ids, segments = (t.to(self._device, non_blocking=True) for t in inputs)
            hidden = packing.forward_packed(
                self._model,
                input_ids,
                position_ids,
                segments,
                path=self.kernels.packing_path,
                causal=bool(self._packed_causal),
                plain=batch.plain,
            )
            vectors = PACKED_POOLERS[self.settings.pooling](hidden, batch.starts, batch.lengths)
            return l2_normalize(vectors) if self.settings.normalize else vectors
        except torch.cuda.OutOfMemoryError as error:
            self._after_oom(error, n, f"a packed batch of {n} texts ({batch.n_tokens} tokens)")
            return torch.cat(
                [
                    self._embed_packed(tokens, piece, split=False)
                    for piece in packing.split(tokens, batch, 2, pad_id=pad_id)
                ]
            )

    def _use_onednn(self) -> bool:
        """Whether float32 CPU linears go through oneDNN (decided from settings and hardware, see ``kernels``)."""
        return self.kernels.linear == "onednn"

    def _causal_without_mask(self) -> bool:
        """Whether to run right-padded batches with no attention mask (decided once, see ``kernels.is_causal``)."""
        if self._causal is None:
            self._causal = self.settings.causal_without_mask and is_causal(self._model, self._device)
        return self._causal

    # ------------------------------------------------------------------ description

    @property
    def dim(self) -> int:
        """Embedding dimension (the model's hidden size); reads the config, loading no weights."""
        config = self._model.config if self._model is not None else self._config()
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return int(text_config.hidden_size)

    def _config(self) -> Any:
        return load_config(self.settings)

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
        if self._tokenization is not None:
            described["eos_token_id"] = self._tokenization.eos_id
        if self._causal is not None:
            described["unmasked_causal_batches"] = self._causal
        described["packing"] = self.kernels.packing
        if self._packed_causal is not None:
            described["packed_causal_mask"] = self._packed_causal
        described["onednn_linear"] = self._use_onednn()
        if self._oom_splits > 1:
            described["oom_batch_splits"] = self._oom_splits
        return described
