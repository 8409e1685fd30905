"""The tokenisation rules decoder embedders depend on, decided here once for every model: prompt kept whole, text
cut at its tail, the tokenizer's specials added, one EOS appended (never two), optional white-space stripping.

``prompt + text`` is tokenised as ONE string by the fast tokenizer (no special tokens), as sentence-transformers
and the Qwen3-Embedding model card do, so BPE merges across the prompt/text join are identical. A sequence that
does not fit is cut from the end, which cuts the text's tail and never the prompt (a prompt that alone
overflows the budget is an error, checked with the token offsets). The tokenizer's own special tokens are then
added by its post-processor, so the result equals ``tokenizer(prompt + text, truncation=True, max_length=L)``.
With ``append_eos`` one EOS id is added at the end, inside ``max_length``, unless the sequence already ends with
it. Knows tokenizers only: nothing of models, batches or devices.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.settings.models import DenseSettings as EncoderSettings

logger = logging.getLogger(__name__)

QWEN_EMBEDDING_EOS = "<|endoftext|>"
"""The end token Qwen-family embedders pool on (not ``eos_token``, which is ``<|im_end|>`` there)."""

PRECUT_CHARS_PER_TOKEN = 12
"""Texts longer than ``max_length x`` this many characters are cut before tokenisation (see ``token_ids``)."""

_TOKENIZE_CHUNK = 2048
"""Texts per ``encode_batch`` call: bounds the memory the Rust encodings of a large corpus hold at once."""


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


class Tokenization:
    """A fast tokenizer with the settings' rules: ``token_ids`` for many texts, ``check_prompt`` up front."""

    def __init__(self, settings: EncoderSettings, tokenizer: Any) -> None:
        self.settings = settings
        self.tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigError(
                f"{self.settings.path}: HFEncoder needs a fast (Rust `tokenizers`) tokenizer; "
                f"{type(tokenizer).__name__} has none",
                field="model.path",
            )
        self.backend = backend
        processor = backend.post_processor
        self.n_special = int(processor.num_special_tokens_to_add(False)) if processor is not None else 0
        self._affixes = self._special_affixes()
        self.eos_id = self._resolve_eos_id(tokenizer)
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.eos_id if self.eos_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad_id) if pad_id is not None else 0

    def _special_affixes(self) -> tuple[list[int], list[int]] | None:
        """The ids the post-processor puts before and after a single sequence (None if it does more than that).

        Found once on a probe, so each text needs a list concatenation instead of a post-processing call.
        """
        probe = self.backend.encode("probe text, 12", add_special_tokens=False)
        content = list(probe.ids)
        full = list(self.backend.post_process(probe).ids)
        for start in range(len(full) - len(content) + 1):
            if full[start : start + len(content)] == content:
                prefix, suffix = full[:start], full[start + len(content) :]
                if len(prefix) + len(suffix) == self.n_special:
                    return prefix, suffix
        logger.debug("%s: post-processor is not a fixed prefix/suffix; post-processing each text", self.settings.path)
        return None

    def _resolve_eos_id(self, tokenizer: Any) -> int | None:
        name = self.settings.eos_token
        if name is None:
            has_qwen_eos = self.backend.token_to_id(QWEN_EMBEDDING_EOS) is not None
            name = QWEN_EMBEDDING_EOS if has_qwen_eos else tokenizer.eos_token
        if name is None:
            if self.settings.append_eos:
                raise ConfigError(
                    f"{self.settings.path}: append_eos=true but the tokenizer has no eos_token", field="model.eos_token"
                )
            return None
        token_id = self.backend.token_to_id(name)
        if token_id is None:
            raise ConfigError(
                f"{self.settings.path}: eos_token {name!r} is not in the tokenizer's vocabulary",
                field="model.eos_token",
            )
        return int(token_id)

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
        max_len = self.settings.effective_query_max_length if is_query else self.settings.max_length
        budget = max_len - self.n_special
        if budget < 1:
            raise ConfigError(
                f"max length {max_len} leaves no room next to {self.n_special} special tokens",
                field="model.query_max_length" if is_query else "model.max_length",
            )
        # Some tokenizer.json files carry truncation/padding (all-MiniLM's pads to 128); transformers resets both
        # on every call it makes, and so do we: truncation happens below, padding per batch.
        if self.backend.truncation is not None:
            self.backend.no_truncation()
        if self.backend.padding is not None:
            self.backend.no_padding()
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
        encodings = self.backend.encode_batch(inputs, add_special_tokens=False)
        unsafe = [i for i in cut if not _cut_keeps_ids(encodings[i], budget)]
        if unsafe:
            full = self.backend.encode_batch([join(texts[i]) for i in unsafe], add_special_tokens=False)
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
            if self.settings.append_eos and (not ids or ids[-1] != self.eos_id):
                if len(ids) >= max_len:
                    # Room for the EOS comes out of the text, so the sequence still fits in max_len.
                    self._check_prompt_fits(encoding, budget - 1, kept_prompt)
                    ids = self._with_specials(encoding, content[: budget - 1])
                ids.append(int(self.eos_id))  # type: ignore[arg-type]
            if not ids:
                if not counts.get("warned_empty"):
                    logger.warning(
                        "an empty text with no prompt and no special tokens: encoding one EOS (or pad) token"
                    )
                    counts["warned_empty"] = 1
                ids = [self.eos_id if self.eos_id is not None else self.pad_id]
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
        return list(self.backend.post_process(encoding).ids)

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
        max_len = self.settings.effective_query_max_length if is_query else self.settings.max_length
        used = len(self.backend.encode(prompt, add_special_tokens=False).ids) if prompt else 0
        used += self.n_special + (1 if self.settings.append_eos else 0)
        if used >= max_len:
            side = "query" if is_query else "document"
            raise ConfigError(
                f"the {side} prompt {prompt!r} takes {used} of the {max_len} tokens (special tokens and EOS "
                "included), leaving no room for text",
                field="model.query_max_length" if is_query else "model.max_length",
            )
