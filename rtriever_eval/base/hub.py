"""Fail fast without network: probe the Hugging Face endpoint once, and switch the process to offline mode if
it cannot be reached, so hub loads fall back to the local cache at once instead of retrying for a minute.

Knows nothing about what is loaded; callers turn a cache miss into a message pointing at a local copy.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from urllib.parse import urlparse

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def offline_requested() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint (HF_ENDPOINT or huggingface.co) opens within `timeout` s."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def go_offline() -> None:
    """Put this process in Hugging Face offline mode (env and the libraries' already-read constants)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers and datasets
        pass
    try:
        import datasets.config as ds_config

        ds_config.HF_HUB_OFFLINE = True
    except ImportError:  # pragma: no cover
        pass


def prepare_hub_access(what: str) -> bool:
    """Call before loading `what` from the hub. Returns False (and goes offline) when the hub is unreachable."""
    if offline_requested():
        return False
    if hub_reachable():
        return True
    log.warning("the Hugging Face hub cannot be reached: loading %s from the local cache only (offline mode)", what)
    go_offline()
    return False
