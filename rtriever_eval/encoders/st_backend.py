"""Encoder backed by sentence-transformers (optional "dev" extra), with the same interface as HFEncoder.

It trusts the model folder's own modules (pooling, normalisation, tokenizer specials), only checking that
they agree with the settings; it knows nothing of datasets or prompts. sentence-transformers loads lazily.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.encoders.base import EncoderUsage
from rtriever_eval.encoders.hf import EncoderSettings
from rtriever_eval.encoders.kernels import choose_kernels, resolve_device
from rtriever_eval.encoders.loading import TORCH_DTYPES

logger = logging.getLogger(__name__)

_ST_POOLING_NAMES = {"lasttoken": "last_token", "mean": "mean", "cls": "cls"}


class SentenceTransformerEncoder:
    """Wraps ``sentence_transformers.SentenceTransformer``; loads the model lazily on first use.

    ``append_eos`` cannot be applied here (sentence-transformers tokenises internally): with
    ``append_eos=true`` the model's tokenizer must already end every sequence with the EOS token, else
    loading raises ValueError.
    """

    def __init__(self, settings: EncoderSettings) -> None:
        self.settings = settings
        self.usage = EncoderUsage(tokens=None)  # sentence-transformers tokenises inside encode: no count here
        self.kernels = choose_kernels(
            device=settings.device,
            attn_implementation=settings.attn_implementation,
            dtype=settings.dtype,
            cpu_linear="torch",
        )
        self._device = resolve_device(settings.device)
        self._model: Any = None
        if settings.trust_remote_code:
            logger.warning("trust_remote_code=True for %s: the checkpoint's own Python code will run", settings.path)

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        import transformers

        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the sentence-transformers backend needs the optional 'sentence-transformers' package "
                "(pip install 'rtriever-eval[dev]')"
            ) from error
        major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
        dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        model_kwargs: dict[str, Any] = {dtype_key: TORCH_DTYPES[self.settings.dtype]}
        model_kwargs["attn_implementation"] = self.kernels.attention  # as keyed, never the library's own pick
        model = SentenceTransformer(
            self.settings.path,
            device=str(self._device),
            revision=self.settings.revision,
            trust_remote_code=self.settings.trust_remote_code,
            model_kwargs=model_kwargs,
        )
        model.tokenizer.padding_side = self.settings.padding_side
        self._check_modules(model)
        self._check_whitespace()
        self._model = model
        return model

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loads the model; chunk_max cuts documents with it)."""
        return self._load().tokenizer

    def _check_modules(self, model: Any) -> None:
        for module in model:
            mode = getattr(module, "pooling_mode", None)
            if isinstance(mode, str):
                ours = _ST_POOLING_NAMES.get(mode, mode)
                if ours != self.settings.pooling:
                    logger.warning(
                        "%s: the folder pools with %r but the settings say %r; the folder wins",
                        self.settings.path,
                        mode,
                        self.settings.pooling,
                    )
        if self.settings.append_eos:
            tokenizer = model.tokenizer
            probe = tokenizer("probe")["input_ids"]
            eos = self.settings.eos_token or "<|endoftext|>"
            eos_id = tokenizer.convert_tokens_to_ids(eos) if eos in tokenizer.get_vocab() else tokenizer.eos_token_id
            if not probe or probe[-1] != eos_id:
                raise ConfigError(
                    f"{self.settings.path}: append_eos=true, but its tokenizer does not end sequences with "
                    "the EOS "
                    "token and sentence-transformers cannot add it; use the transformers backend (HFEncoder)"
                )

    def _check_whitespace(self) -> None:
        """sentence-transformers up to 5.3 strips every input itself: refuse strip_whitespace=false there."""
        from importlib import metadata

        version = metadata.version("sentence-transformers")
        major, minor = (int(part) for part in version.split(".")[:2])
        if (major, minor) <= (5, 3) and not self.settings.strip_whitespace:
            raise ConfigError(
                f"sentence-transformers {version} strips white space from every input text, which "
                "model.strip_whitespace=false forbids: set model.strip_whitespace=true or use model.backend=hf",
                field="model.strip_whitespace",
            )

    def check_prompt(self, prompt: str, *, is_query: bool) -> None:
        """Nothing to check before loading: sentence-transformers truncates prompt and text together."""

    def encode(
        self,
        texts: Sequence[str],
        prompt: str = "",
        *,
        is_query: bool,
        show_progress: bool = True,
    ) -> np.ndarray:
        """Embed ``prompt + text`` per text with ``SentenceTransformer.encode``; float32 (len(texts), dim)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        model = self._load()
        started = time.perf_counter()
        model.max_seq_length = self.settings.effective_query_max_length if is_query else self.settings.max_length
        inputs, prompt_arg = list(texts), prompt or None
        if self.settings.strip_whitespace:  # what sentence-transformers <= 5.3 did to `prompt + text` itself
            inputs, prompt_arg = [(prompt + text).strip() for text in texts], None
        vectors = model.encode(
            inputs,
            prompt=prompt_arg,
            batch_size=self.settings.batch_size,
            normalize_embeddings=self.settings.normalize,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
        )
        self.usage.forward_s += time.perf_counter() - started  # tokenising included: sentence-transformers does both
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    @property
    def dim(self) -> int:
        """Embedding dimension reported by the loaded model."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def describe(self) -> dict[str, Any]:
        """The settings that change the vectors, plus the backend and resolved device."""
        described = asdict(self.settings)
        described["query_max_length"] = self.settings.effective_query_max_length
        described.update(
            {"backend": "sentence-transformers", "device": str(self._device), "kernels": self.kernels.describe()}
        )
        return described
