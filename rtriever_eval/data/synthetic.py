"""A generated local copy shaped like BRIGHT (its 12 domains' corpus and query counts scaled, a lognormal length
distribution per domain, exact duplicate documents, per-query exclusions in leetcode/aops/theoremqa style), for
tests and the BRIGHT-scale dry run.

Writes BRIGHT's local-copy layout (examples/, documents/, long_documents/ as JSONL); the texts are pseudo-words,
so it measures plumbing and speed, never retrieval quality.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtriever_eval.settings.registry import BRIGHT_DOMAINS, BRIGHT_SHAPE, STACKEXCHANGE

DUPLICATE_SHARE = {"robotics": 0.35, "stackoverflow": 0.2, "sustainable_living": 0.15}
"""Share of documents that repeat another's text (robotics: 40,431 distinct texts in 61,961); 0.08 elsewhere."""
EXCLUDING = ("leetcode", "aops", "theoremqa_questions")
"""Domains whose queries exclude documents (the same problem's other copies), as BRIGHT's do."""

_SYLLABLES = ("ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu", "vy")
_CHUNK_CHARS = 8_000_000
"""Characters generated per vectorised draw (bounds the temporary arrays to some 100 MB)."""
_QUANTILES = 1 << 20


class _Words:
    """Pseudo-words of 1-3 syllables drawn Zipf-like from a fixed vocabulary, turned into texts of a given length
    in bulk: one draw of word indices for many texts, the characters gathered with numpy, no per-word Python."""

    def __init__(self, size: int = 4096) -> None:
        words = ["".join(_SYLLABLES[(w >> (4 * k)) % 16] for k in range(1 + w % 3)) for w in range(size)]
        self.size = size
        self.width = 1 + max(len(w) for w in words)  # a word and the space after it
        table = np.zeros((size, self.width), dtype=np.uint8)
        for i, w in enumerate(words):
            table[i, : len(w) + 1] = np.frombuffer((w + " ").encode("ascii"), dtype=np.uint8)
        self.table = table
        self.lengths = np.array([len(w) + 1 for w in words], dtype=np.int64)
        # Word r has the probability of ``zipf(1.3) % size == r`` (the tail beyond 2048 x size spread evenly),
        # drawn through a table of 2^20 quantiles: one integer draw and one gather per word, 20x faster than
        # numpy's zipf sampler.
        k = np.arange(1, 2048 * size + 1, dtype=np.float64)
        pmf = np.roll((k**-1.3).reshape(-1, size).sum(axis=0), 1) + (k[-1] + 0.5) ** -0.3 / 0.3 / size
        cdf = np.cumsum(pmf / pmf.sum())
        quantiles = (np.arange(_QUANTILES, dtype=np.float64) + 0.5) / _QUANTILES
        self.quantile_word = np.minimum(np.searchsorted(cdf, quantiles), size - 1).astype(np.int16)
        self.mean = float((pmf / pmf.sum()) @ self.lengths)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` word indices."""
        return self.quantile_word[rng.integers(0, _QUANTILES, n)]

    def texts(self, rng: np.random.Generator, chars: Sequence[int] | np.ndarray) -> list[str]:
        """One text per entry of ``chars``, each that many characters give or take a word (at least one word)."""
        targets = np.maximum(np.asarray(chars, dtype=np.int64), 1)
        cum = np.cumsum(targets)
        cuts = np.searchsorted(cum, np.arange(_CHUNK_CHARS, int(cum[-1]), _CHUNK_CHARS)).tolist() if cum.size else []
        bounds = sorted({0, *cuts, int(targets.size)})
        out: list[str] = []
        for a, b in itertools.pairwise(bounds):
            out += self._chunk(rng, targets[a:b])
        return out

    def _chunk(self, rng: np.random.Generator, targets: np.ndarray) -> list[str]:
        ends_wanted = np.cumsum(targets)
        n_words = int(ends_wanted[-1] / self.mean * 1.02) + 16 + targets.size
        idx = self.draw(rng, n_words)
        ends = np.cumsum(self.lengths[idx])  # the character after each word's space
        while ends[-1] < ends_wanted[-1]:
            idx, ends = self._more(rng, idx, ends, max(n_words // 50, 64))
        last = np.searchsorted(ends, ends_wanted)  # each text's last word: the one reaching its target
        steps = np.arange(targets.size)
        last = np.maximum.accumulate(last - steps) + steps  # at least one word per text
        if int(last[-1]) >= idx.size:  # many one-word texts at the end
            idx, ends = self._more(rng, idx, ends, int(last[-1]) + 1 - idx.size)
        idx = idx[: int(last[-1]) + 1]
        ends = ends[: idx.size]
        table = self.table[idx]
        chars = table[table != 0].tobytes().decode("ascii")
        stops = ends[last]
        starts = np.concatenate([[0], stops[:-1]])
        return [chars[a : b - 1] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]

    def _more(
        self, rng: np.random.Generator, idx: np.ndarray, ends: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` more words after ``idx`` (and their ends after ``ends``)."""
        more = self.draw(rng, n)
        return np.concatenate([idx, more]), np.concatenate([ends, ends[-1] + np.cumsum(self.lengths[more])])


_WORDS: _Words | None = None


def _words() -> _Words:
    global _WORDS
    if _WORDS is None:
        _WORDS = _Words()
    return _WORDS


def _with_topic(text: str, topic: Sequence[str]) -> str:
    """``text`` with its words at positions ``i * 7919 mod n`` replaced by the topic words."""
    words = text.split(" ")
    for i, w in enumerate(topic):
        words[(i * 7919) % len(words)] = w
    return " ".join(words)


def write_bright_copy(
    out: str | Path,
    *,
    scale: float = 0.01,
    query_scale: float = 1.0,
    domains: Sequence[str] = BRIGHT_DOMAINS,
    seed: int = 0,
    long_documents: bool = False,
) -> dict[str, dict[str, int]]:
    """Write the copy under ``out``; returns per domain its documents, distinct texts and queries.

    Each query has 1-3 gold documents sharing its topic words; with ``long_documents`` the StackExchange and pony
    domains also get long_documents/ (each gold long document 8-20x longer, the topic near its end).
    """
    root = Path(out)
    words = _words()
    stats: dict[str, dict[str, int]] = {}
    for d_index, domain in enumerate(domains):
        rng = np.random.default_rng([seed, d_index])
        shape = BRIGHT_SHAPE[domain]
        n_docs = max(20, round(shape.documents * scale))
        n_queries = max(4, round(shape.queries * query_scale))
        mean = shape.mean_chars
        lengths = np.clip(rng.lognormal(np.log(mean) - 0.5, 1.0, n_docs), 20, 200 * mean).astype(int)
        texts = words.texts(rng, lengths)
        ids = [f"{domain}/doc_{i:07d}.txt" for i in range(n_docs)]
        topics = [[f"topic{d_index}x{q}w{j}" for j in range(6)] for q in range(n_queries)]
        gold: list[list[int]] = []
        for q in range(n_queries):
            picks = rng.choice(n_docs, size=int(rng.integers(1, 4)), replace=False).tolist()
            for p in picks:
                texts[p] = _with_topic(texts[p], topics[q][: 3 + p % 3])
            gold.append(sorted(picks))
        # Duplicates copy a text that stays itself, so about n_docs x share texts are not distinct, as in BRIGHT
        # (robotics: 40,431 distinct texts in 61,961). Gold documents are never overwritten.
        share = DUPLICATE_SHARE.get(domain, 0.08)
        golden = np.zeros(n_docs, dtype=bool)
        golden[[p for g in gold for p in g]] = True
        order = rng.permutation(np.flatnonzero(~golden))
        n_dup = min(int(n_docs * share), max(order.size - 1, 0))
        copies, originals = order[:n_dup], np.concatenate([order[n_dup:], np.flatnonzero(golden)])
        for i, j in zip(copies.tolist(), rng.choice(originals, size=n_dup).tolist(), strict=True):
            texts[i] = texts[j]
        _write_documents(root / "documents" / f"{domain}.jsonl", ids, texts)
        query_texts = words.texts(rng, np.full(n_queries, 300))
        rows = []
        for q in range(n_queries):
            excluded = []
            if domain in EXCLUDING:
                excluded = [ids[int(x)] for x in rng.choice(n_docs, size=3, replace=False) if int(x) not in gold[q]]
            row = {
                "id": str(q),
                "query": " ".join(topics[q]) + " " + query_texts[q],
                "gold_ids": [ids[p] for p in gold[q]],
                "gold_ids_long": [f"{domain}/long_{p:07d}.txt" for p in gold[q]],
                "excluded_ids": excluded or ["N/A"],
            }
            rows.append(row)
        _write(root / "examples" / f"{domain}.jsonl", rows)
        if long_documents and (domain in STACKEXCHANGE or domain == "pony"):
            picked = sorted({p for g in gold for p in g} | set(range(min(n_docs, 40))))
            factors = rng.integers(8, 21, size=len(picked))
            heads = words.texts(rng, lengths[picked] * factors)
            long_ids = [f"{domain}/long_{p:07d}.txt" for p in picked]
            longs = [head + " " + texts[p] for p, head in zip(picked, heads, strict=True)]
            _write_documents(root / "long_documents" / f"{domain}.jsonl", long_ids, longs)
        stats[domain] = {"documents": n_docs, "distinct": len(set(texts)), "queries": n_queries}
    return stats


def _write(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)


def _write_documents(path: Path, ids: Sequence[str], texts: Sequence[str]) -> None:
    """``{"id": ..., "content": ...}`` lines as ``json.dumps`` writes them, without its per-character escaping
    scan: ids and texts hold only letters, digits, spaces and ``_/.`` (checked on the first row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if ids and json.dumps({"id": ids[0], "content": texts[0]}) != f'{{"id": "{ids[0]}", "content": "{texts[0]}"}}':
        raise ValueError("a generated text needs JSON escaping")
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(f'{{"id": "{i}", "content": "{t}"}}\n' for i, t in zip(ids, texts, strict=True))
