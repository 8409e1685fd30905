"""Reproduce Anserini's BM25 baseline on the CACM test collection (MAP 0.3123, P@30 0.1942) with LuceneBM25.

Reads ../shared/data/cacm in place (never copies it) and prints numbers; it knows nothing about the harness's
pipeline, configs or result files. Also prints BRIGHT's gensim flavour for information.

Usage: python benchmarks/cacm_bm25.py [--data DIR]
"""

from __future__ import annotations

import argparse
import html
import io
import re
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytrec_eval

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "cacm"
ANSERINI = {"map": 0.3123, "P_30": 0.1942}
"""Anserini's regression numbers for BM25 (k1=0.9, b=0.4) on CACM, `trec_eval -m map -m P.30`."""

_TOPIC_RE = re.compile(r"<DOC>\s*<DOCNO>\s*(\S+)\s*</DOCNO>(.*?)</DOC>", re.DOTALL)
_TAG_RE = re.compile(r"<[^>]*>")
_PRE_RE = re.compile(r"<pre>(.*?)</pre>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Cacm:
    doc_ids: tuple[str, ...]
    doc_texts: tuple[str, ...]
    topic_ids: tuple[str, ...]
    topic_texts: tuple[str, ...]
    qrels: dict[str, dict[str, int]]


def html_text(page: str) -> str:
    """The text of a CACM page: the <pre> content (whole page if none), tags removed, entities decoded."""
    m = _PRE_RE.search(page)
    body = m.group(1) if m else page
    return html.unescape(_TAG_RE.sub(" ", body))


def read_documents(archive: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(doc ids, texts) from cacm.tar.gz, in archive order; id = file name without .html."""
    ids: list[str] = []
    texts: list[str] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".html"):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            with handle:
                page = io.TextIOWrapper(handle, encoding="utf-8", errors="replace").read()
            ids.append(Path(member.name).name[: -len(".html")])
            texts.append(html_text(page))
    return tuple(ids), tuple(texts)


def read_topics(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(topic ids, texts) from topics.cacm.txt's <DOC><DOCNO> n </DOCNO> text </DOC> blocks."""
    pairs = [(m.group(1), " ".join(m.group(2).split())) for m in _TOPIC_RE.finditer(path.read_text("utf-8"))]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels as written (unpadded ids such as CACM-756 are kept: the published numbers include them)."""
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text("utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 4:
            qrels.setdefault(fields[0], {})[fields[2]] = int(fields[3])
    return qrels


def load_cacm(root: Path = DEFAULT_DATA) -> Cacm:
    doc_ids, doc_texts = read_documents(root / "cacm.tar.gz")
    topic_ids, topic_texts = read_topics(root / "topics.cacm.txt")
    return Cacm(doc_ids, doc_texts, topic_ids, topic_texts, read_qrels(root / "qrels.cacm.txt"))


def top_hits(scores: np.ndarray, doc_ids: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Top k per row in trec_eval order, keeping only documents that match a term (score > 0), as Lucene."""
    try:
        from rtriever_eval.retrievers.search import topk_from_scores
    except ImportError:  # the harness's search module is not there: same order with numpy
        tiekey = np.argsort(np.argsort(np.asarray(doc_ids, dtype=object)))
        ranked = []
        for row in scores:
            order = np.lexsort((-tiekey, -row.astype(np.float64)))[:k]
            ranked.append([(doc_ids[j], float(row[j])) for j in order])
    else:
        ranked = topk_from_scores(scores, doc_ids, k)
    return [[(d, s) for d, s in hits if s > 0] for hits in ranked]


def evaluate(
    qrels: dict[str, dict[str, int]], topic_ids: Sequence[str], ranked: Sequence[Sequence[tuple[str, float]]]
) -> dict[str, float]:
    """`trec_eval -m map -m P.30`: mean over the queries that are both in the run and in the qrels."""
    run = {qid: dict(hits) for qid, hits in zip(topic_ids, ranked, strict=True) if hits}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map", "P_30"}).evaluate(run)
    return {m: float(np.mean([v[m] for v in per_query.values()])) for m in ("map", "P_30")} | {
        "n_queries": float(len(per_query))
    }


def run_flavour(name: str, cacm: Cacm, *, exact_lengths: bool = False) -> dict[str, float]:
    """Index, search (top 1000) and evaluate one BM25 flavour ("lucene" or "bright"), with timings."""
    from rtriever_eval.retrievers.bm25_scoring import BrightBM25, LuceneBM25

    retriever: LuceneBM25 | BrightBM25 = (
        LuceneBM25(k1=0.9, b=0.4, exact_lengths=exact_lengths) if name == "lucene" else BrightBM25(k1=0.9, b=0.4)
    )
    t0 = time.perf_counter()
    retriever.index(cacm.doc_texts)
    t1 = time.perf_counter()
    scores = retriever.score(cacm.topic_texts)
    ranked = top_hits(scores, cacm.doc_ids, 1000)
    t2 = time.perf_counter()
    return evaluate(cacm.qrels, cacm.topic_ids, ranked) | {"index_s": t1 - t0, "search_s": t2 - t1}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with cacm.tar.gz, topics, qrels")
    args = parser.parse_args(argv)
    if not (args.data / "cacm.tar.gz").is_file():
        print(
            f"CACM data not found at {args.data} (expected cacm.tar.gz, topics.cacm.txt, qrels.cacm.txt)",
            file=sys.stderr,
        )
        return 2
    t0 = time.perf_counter()
    cacm = load_cacm(args.data)
    print(
        f"loaded {len(cacm.doc_ids)} docs, {len(cacm.topic_ids)} topics, {len(cacm.qrels)} judged "
        f"in {time.perf_counter() - t0:.2f}s"
    )
    print(f"{'run':<28} {'MAP':>7} {'P@30':>7} {'queries':>7} {'index_s':>8} {'search_s':>8}")
    print(f"{'Anserini BM25 (reference)':<28} {ANSERINI['map']:>7.4f} {ANSERINI['P_30']:>7.4f}")
    for label, name, exact in (
        ("LuceneBM25 (lossy lengths)", "lucene", False),
        ("LuceneBM25 exact lengths", "lucene", True),
        ("BrightBM25 (gensim, info)", "bright", False),
    ):
        r = run_flavour(name, cacm, exact_lengths=exact)
        print(
            f"{label:<28} {r['map']:>7.4f} {r['P_30']:>7.4f} {int(r['n_queries']):>7d} "
            f"{r['index_s']:>8.2f} {r['search_s']:>8.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
