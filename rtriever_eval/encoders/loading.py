"""Loading a dense model on plain transformers: its tokenizer, its config (no weights) and its weights, with the
messages a user can act on when the hub is out of reach or transformers refuses the attention kernel asked for.

Knows transformers' Auto classes and the dense settings; nothing of batching, pooling or caches.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.encoders.kernels import model_class_of
from rtriever_eval.settings.models import DenseSettings

logger = logging.getLogger(__name__)

TORCH_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_tokenizer(settings: DenseSettings) -> Any:
    """The model's tokenizer, padding on the settings' side; ConfigError pointing at model.path= when a hub id
    cannot be loaded (no network, no local cache)."""
    from transformers import AutoTokenizer

    local = Path(settings.path).is_dir()
    if not local:
        from rtriever_eval.base.hub import prepare_hub_access

        prepare_hub_access(f"model {settings.path}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            settings.path, revision=settings.revision, trust_remote_code=settings.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        if local:
            raise
        raise ConfigError(
            f"could not load {settings.path!r} from the Hugging Face hub or its local cache "
            f"({type(exc).__name__}). Without network access, point model.path= at a local copy of the model.",
            field="model.path",
        ) from None
    # Our own padding follows the settings; keep the tokenizer consistent for anyone reading it.
    tokenizer.padding_side = settings.padding_side
    return tokenizer


def load_config(settings: DenseSettings) -> Any:
    """The model's config (no weights)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(
        settings.path, revision=settings.revision, trust_remote_code=settings.trust_remote_code
    )


def load_model_class(settings: DenseSettings) -> type[Any] | None:
    """The class the model will load as (read from its config, no weights), for the packing choice."""
    if not Path(settings.path).is_dir():
        from rtriever_eval.base.hub import prepare_hub_access

        prepare_hub_access(f"the config of {settings.path}")
    try:
        config = load_config(settings)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"model.packing={settings.packing} reads the config of {settings.path!r} to check its class, "
            f"and could not ({type(exc).__name__}); point model.path= at a local copy or set model.packing=off",
            field="model.path",
        ) from None
    return model_class_of(config, trust_remote_code=settings.trust_remote_code)


def load_model(settings: DenseSettings, device: torch.device, attention: str) -> Any:
    """The weights in the settings' dtype with ``attention``, on ``device``, in eval mode. A kernel transformers
    refuses is a ConfigError: kernels are never switched silently (they are part of the cache key)."""
    import transformers
    from transformers import AutoModel

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    kwargs: dict[str, Any] = {
        "revision": settings.revision,
        "trust_remote_code": settings.trust_remote_code,
        dtype_key: TORCH_DTYPES[settings.dtype],
        "attn_implementation": attention,
    }
    started = time.perf_counter()
    try:
        model = AutoModel.from_pretrained(settings.path, **kwargs)
    except (ValueError, ImportError) as error:
        if attention == "eager":
            raise
        raise ConfigError(
            f"{settings.path}: transformers refused attn_implementation={attention} "
            f"({' '.join(str(error).split())[:300]}); set model.attn_implementation=eager (or another kernel "
            "the model supports)",
            field="model.attn_implementation",
        ) from None
    model = model.to(device).eval()
    logger.info("loaded %s (%s, %s, attn=%s) on %s in %.1fs", settings.path, settings.dtype, settings.pooling,
                attention, device, time.perf_counter() - started)  # fmt: skip
    max_positions = getattr(model.config, "max_position_embeddings", None)
    longest = max(settings.max_length, settings.effective_query_max_length)
    if isinstance(max_positions, int) and longest > max_positions:
        logger.warning("%s: max length %d exceeds the model's max_position_embeddings %d", settings.path, longest,
                       max_positions)  # fmt: skip
    return model
