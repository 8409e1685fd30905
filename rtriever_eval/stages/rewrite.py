"""Query rewriting with a local causal LM on transformers: each query through the model's chat template with a
per-domain prompt (BRIGHT's own reasoning prompt by default), greedy decoding, written as a JSONL query file
row by row (a killed run resumes at the next query), with a manifest of what produced it beside the file.

Knows the rewriter settings and the query-file format; nothing of retrieval or evaluation.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import ConfigError
from rtriever_eval.base.interrupt import check as check_interrupt
from rtriever_eval.base.io import file_lock, write_json_atomic
from rtriever_eval.base.provenance import versions
from rtriever_eval.base.types import Query
from rtriever_eval.cache import FingerprintMemo, model_identity
from rtriever_eval.results.fingerprint import describe_value, flatten
from rtriever_eval.settings.stages import RewriterSettings

log = logging.getLogger(__name__)


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def _done(out: Path) -> set[tuple[str, str]]:
    """(domain, query id) of the complete rows; a last line cut by a kill is removed first."""
    if not out.is_file():
        return set()
    raw = out.read_bytes()
    if raw and not raw.endswith(b"\n"):
        with out.open("r+b") as fh:
            fh.truncate(raw.rfind(b"\n") + 1)
        raw = raw[: raw.rfind(b"\n") + 1]
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    return {(str(r.get("domain")), str(r["query_id"])) for r in rows}


def _append(out: Path, row: Mapping[str, Any]) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


class Rewriter:
    """The LM and its prompts; ``model`` and ``tokenizer`` may be injected (tests), else loaded lazily."""

    def __init__(self, settings: RewriterSettings, *, cache_dir: str | None = None, model: Any = None,
                 tokenizer: Any = None) -> None:  # fmt: skip
        self.settings = settings
        self._model, self._tokenizer = model, tokenizer
        memo = FingerprintMemo(Path(cache_dir) if cache_dir else None, writable=cache_dir is not None)
        self.identity = model_identity(settings.path, settings.revision, memo)
        memo.save()

    def manifest(self) -> dict[str, Any]:
        s = asdict(self.settings)
        for key in ("path", "device"):
            s.pop(key)
        return {"model": self.identity, "settings": s, "decoding": "greedy"}

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from rtriever_eval.encoders.kernels import resolve_device
            from rtriever_eval.encoders.loading import TORCH_DTYPES

            s = self.settings
            self._tokenizer = AutoTokenizer.from_pretrained(s.path, revision=s.revision,
                                                            trust_remote_code=s.trust_remote_code)  # fmt: skip
            dtype = TORCH_DTYPES[s.dtype]
            model: Any = AutoModelForCausalLM.from_pretrained(s.path, revision=s.revision, dtype=dtype,
                                                              trust_remote_code=s.trust_remote_code)  # fmt: skip
            self._model = model.to(resolve_device(s.device)).eval()
        return self._model, self._tokenizer

    def prompt(self, domain: str, query: str) -> str:
        template = self.settings.prompts.get(domain) or self.settings.prompt
        return template.replace("{query}", query.replace("\n", " "))

    def generate(self, domain: str, query: str) -> str:
        import torch

        model, tok = self._load()
        messages = ([{"role": "system", "content": self.settings.system}] if self.settings.system else []) + [
            {"role": "user", "content": self.prompt(domain, query)}
        ]
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                      **self.settings.chat_template_kwargs)  # fmt: skip
        if not isinstance(ids, torch.Tensor):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        ids = ids.to(model.device)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=self.settings.max_new_tokens,
                                 do_sample=False, pad_token_id=pad)  # fmt: skip
        return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()


def rewrite_queries(rewriter: Rewriter, queries: Mapping[str, Sequence[Query]], out: Path) -> int:
    """Rewrite every query of every domain into `out` (resuming: rows already there are kept); returns how many
    were generated. A file made with other settings (its manifest differs) is refused, never mixed."""
    with file_lock(lock_path(out), what="another process is writing rewrites into this query file"):
        return _rewrite_locked(rewriter, queries, out)


def lock_path(out: Path) -> Path:
    """Held while a process writes ``out`` (exclusive) or reads it (shared): never half a file."""
    return out.with_name(out.name + ".lock")


def _rewrite_locked(rewriter: Rewriter, queries: Mapping[str, Sequence[Query]], out: Path) -> int:
    wanted = rewriter.manifest()
    manifest = manifest_path(out)
    if manifest.is_file():
        old = json.loads(manifest.read_text("utf-8")).get("producer", {})
        diffs = [(k, flatten(old).get(k), v) for k, v in flatten(wanted).items() if flatten(old).get(k) != v]
        if diffs:
            shown = "; ".join(f"{k}: {describe_value(a)} → {describe_value(b)}" for k, a, b in diffs[:6])
            raise ConfigError(f"the query file was written with other rewriter settings ({shown}): delete it and its "
                              "manifest, or write another file", path=out, field="dataset.query_file")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(manifest, {"producer": wanted, "versions": versions(), "file": out.name})
    done = _done(out)
    todo = [(d, q) for d, qs in queries.items() for q in qs if (d, q.id) not in done]
    for i, (domain, q) in enumerate(todo, start=1):
        check_interrupt()  # a safe point: every finished row is on disk
        _append(out, {"query_id": q.id, "domain": domain, "text": rewriter.generate(domain, q.text)})
        if i % 10 == 0 or i == len(todo):
            log.info("rewrote %d of %d queries into %s", i, len(todo), out)
    return len(todo)
