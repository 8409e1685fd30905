"""A pointwise LLM reranker on plain transformers in the Qwen3-Reranker style: the model card's chat prefix and
suffix around "<Instruct>: …\n<Query>: …\n<Document>: …" (cut at its tail to fit), and score = P(yes) /
(P(yes) + P(no)) from the last position's logits; pairs batched by a token budget, scores cached per pair.

Knows the prompt format and the yes/no readout; nothing of first stages or interpolation. Only the two rows of
the language-model head that matter are applied, so no (batch x length x vocabulary) logits are ever built.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.types import DomainData
from rtriever_eval.cache import FingerprintMemo, model_identity
from rtriever_eval.cache.pairs import PairScoreCache
from rtriever_eval.encoders.batching import iter_batches
from rtriever_eval.encoders.kernels import choose_kernels
from rtriever_eval.encoders.loading import TORCH_DTYPES
from rtriever_eval.encoders.pooling import last_attended_index
from rtriever_eval.encoders.tokenization import TokenIds
from rtriever_eval.prompts.resolve import Prompts
from rtriever_eval.settings.stages import LLMRerankerSettings
from rtriever_eval.stages.rerankers.base import Candidates, score_pairs_cached

log = logging.getLogger(__name__)


class LLMReranker:
    loads = 0  # how many times any instance loaded a model (tests check a cached rerun loads none)

    def __init__(self, settings: LLMRerankerSettings, *, cache_dir: str | None, mode: str,
                 model: Any = None, tokenizer: Any = None) -> None:  # fmt: skip
        self.settings = settings
        self.kernels = choose_kernels(device=settings.device, attn_implementation=settings.attn_implementation,
                                      dtype=settings.dtype, cpu_linear="torch")  # fmt: skip
        memo = FingerprintMemo(Path(cache_dir) if cache_dir else None, writable=mode == "readwrite")
        self._identity = model_identity(settings.path, settings.revision, memo)
        memo.save()
        self.cache = PairScoreCache(cache_dir, self.identity(), mode)
        self._model, self._tokenizer = model, tokenizer
        self.last_scored = 0

    def identity(self) -> dict[str, Any]:
        s = self.settings
        return {"kind": "llm_reranker", "weights": self._identity, "dtype": s.dtype, "max_length": s.max_length,
                "prefix": s.prefix, "suffix": s.suffix, "template": s.template, "yes": s.yes_token,
                "no": s.no_token, "kernels": self.kernels.key()}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "path": self.settings.path, "batch_size": self.settings.batch_size,
                "max_tokens_per_batch": self.settings.max_tokens_per_batch, "pair_cache": self.cache.key}  # fmt: skip

    def preflight(self, prompts: list[Prompts]) -> None:
        """Nothing to check before loading: a pair that does not fit loses its document's tail."""

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            LLMReranker.loads += 1
            s = self.settings
            self._tokenizer = AutoTokenizer.from_pretrained(s.path, revision=s.revision,
                                                            trust_remote_code=s.trust_remote_code)  # fmt: skip
            model: Any = AutoModelForCausalLM.from_pretrained(
                s.path,
                revision=s.revision,
                trust_remote_code=s.trust_remote_code,
                dtype=TORCH_DTYPES[s.dtype],
                attn_implementation=self.kernels.attention,
            )
            self._model = model.to(torch.device(self.kernels.device)).eval()
        elif self._tokenizer is None:
            raise ConfigError("an injected LLM reranker model needs its tokenizer", field="reranker")
        return self._model, self._tokenizer

    def token_ids(self, pairs: list[tuple[str, str]], instruction: str) -> TokenIds:
        """prefix + the formatted pair (its tail cut to fit max_length) + suffix, per pair."""
        _, tok = self._load()
        s = self.settings
        prefix = tok.encode(s.prefix, add_special_tokens=False)
        suffix = tok.encode(s.suffix, add_special_tokens=False)
        room = s.max_length - len(prefix) - len(suffix)
        if room < 1:
            raise ConfigError(f"reranker.max_length {s.max_length} leaves no room for the pair", field="reranker")
        bodies = [s.template.replace("{instruction}", instruction).replace("{query}", q).replace("{document}", d)
                  for q, d in pairs]  # fmt: skip
        ids = [prefix + body[:room] + suffix for body in tok(bodies, add_special_tokens=False)["input_ids"]]
        return TokenIds.from_lists(ids)

    def _score(self, pairs: list[tuple[str, str]], instruction: str) -> np.ndarray:
        model, tok = self._load()
        yes, no = tok.convert_tokens_to_ids(self.settings.yes_token), tok.convert_tokens_to_ids(self.settings.no_token)
        head = model.get_output_embeddings()
        rows = head.weight[[no, yes]].to(torch.float32)
        bias = head.bias[[no, yes]].to(torch.float32) if getattr(head, "bias", None) is not None else None
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        out = np.empty(len(pairs), dtype=np.float64)
        tokens = self.token_ids(pairs, instruction)
        budget = self.settings.max_tokens_per_batch
        with torch.inference_mode():
            for batch in iter_batches(tokens, batch_size=self.settings.batch_size, max_tokens=budget, left=False,
                                      pad_id=pad):  # fmt: skip
                check_interrupt()  # SIGTERM: stop between batches (this chunk's scores are dropped)
                ids = batch.input_ids.to(self.kernels.device)
                mask = batch.attention_mask.to(self.kernels.device)
                hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
                last = hidden[torch.arange(ids.shape[0], device=ids.device), last_attended_index(mask)]
                logits = last.to(torch.float32) @ rows.T + (bias if bias is not None else 0.0)
                out[batch.indices] = torch.softmax(logits, dim=-1)[:, 1].double().cpu().numpy()
        return out

    def rerank(self, data: DomainData, candidates: Candidates, prompts: Prompts) -> dict[str, dict[str, float]]:
        instruction = prompts.instruction or self.settings.default_instruction
        scores, self.last_scored = score_pairs_cached(
            self.cache, data, candidates, instruction, lambda pairs: self._score(pairs, instruction)
        )
        log.info("%s/%s: %d pairs scored by the LLM reranker, the rest from cache", data.dataset, data.name,
                 self.last_scored)  # fmt: skip
        return scores
