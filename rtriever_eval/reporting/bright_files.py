"""BRIGHT's own result files out: per run and domain, ``<domain>_<run>_long_<True|False>/score.json`` (the ranking,
``{qid: {docid: score}}``, top_k after exclusions) and ``results.json`` (NDCG, MAP, Recall and P at 1, 5, 10, 25,
50, 100, MRR and the oracle reranker's NDCG over the top 100), as BRIGHT's run.py writes them for its leaderboard.

Reads results through results/contract.py and the judgments through the data package's public face; scores with
metrics/trec_measures.py (pytrec_eval). BRIGHT rounds to 5 decimals and averages over the queries its run
returned; these files keep full precision and trec_eval -c averaging (every judged query), the harness's own
numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import PlannedTexts
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.base.trec import ranked
from rtriever_eval.base.types import Qrels, Run
from rtriever_eval.metrics.trec_measures import evaluate
from rtriever_eval.results.contract import SUMMARY_FILE, Summary, iter_summary_paths, read_domain_run, read_summary

CUTOFFS = (1, 5, 10, 25, 50, 100)
"""run.py's k_values."""
ORACLE_DEPTH = 100
_NAMES = (("NDCG@{k}", "nDCG@{k}"), ("MAP@{k}", "AP@{k}"), ("Recall@{k}", "R@{k}"), ("P@{k}", "P@{k}"))


def oracle_run(run: Run, qrels: Qrels, depth: int = ORACLE_DEPTH) -> Run:
    """BRIGHT's oracle reranker: every document of the run scores its judgment grade when it is in the run's top
    ``depth`` (trec_eval's order), else 0, so nDCG shows the best order of what the first stage retrieved."""
    out: Run = {}
    for qid, scores in run.items():
        top = {d for d, _ in ranked(scores)[:depth]}
        judged = qrels.get(qid, {})
        out[qid] = {d: float(judged.get(d, 0)) if d in top else 0.0 for d in scores}
    return out


def bright_results(run: Run, qrels: Qrels) -> dict[str, float]:
    """results.json's keys and values: BRIGHT's names, pytrec_eval's measures."""
    measures = [ours.format(k=k) for _, ours in _NAMES for k in CUTOFFS]
    values = evaluate(qrels, run, [*measures, "RR"]).summary
    out = {theirs.format(k=k): values[ours.format(k=k)] for theirs, ours in _NAMES for k in CUTOFFS}
    out["MRR"] = values["RR"]
    oracle = evaluate(qrels, oracle_run(run, qrels), [f"nDCG@{k}" for k in CUTOFFS]).summary
    out.update({f"Oracle NDCG@{k}": oracle[f"nDCG@{k}"] for k in CUTOFFS})
    return out


def _bright_domain(summary: Summary) -> str | None:
    bench = summary.config.get("dataset", {}).get("benchmark")
    return summary.domain if bench == "bright" else None


def plan_bright(root: str | Path, out: str | Path) -> PlannedTexts:
    """The score.json and results.json of every BRIGHT result below ``root``, under ``out``; nothing is written
    (``write_new_texts`` writes them, refusing to replace a file with other content).

    Raises:
        InputError: a result that is not on BRIGHT (BRIGHT-Pro, BEIR folders, the sample), a dataset copy that is
            not the one evaluated, or two results for one file (one run name and domain in two experiments).
    """
    from rtriever_eval.results.fingerprint import evaluated_data_checked

    planned = []
    for path in iter_summary_paths(root):
        summary = read_summary(path)
        if _bright_domain(summary) is None:
            raise InputError(f"dataset {summary.dataset!r} is not BRIGHT: --bright writes BRIGHT's own files for "
                             "BRIGHT results only", path=path)  # fmt: skip
        planned.append((summary, path.parent))
    if not planned:
        raise InputError(f"no {SUMMARY_FILE} found below this folder", path=root)
    files = PlannedTexts()
    hint = ": export one experiment's folder at a time, or rename one run"
    for summary, folder in sorted(planned, key=lambda p: (p[0].dataset, p[0].domain)):  # each domain read once
        data = evaluated_data_checked(summary, folder / SUMMARY_FILE)
        run = read_domain_run(folder, summary)
        long = "True" if summary.track == "long" else "False"
        target = Path(out) / safe_component(summary.run_label) / safe_component(
            f"{summary.domain}_{summary.run_label}_long_{long}")  # fmt: skip
        files.put(target / "score.json", json.dumps(run, indent=2) + "\n", str(folder), hint)
        files.put(target / "results.json", json.dumps(bright_results(run, data.qrels), indent=2) + "\n", str(folder),
                  hint)  # fmt: skip
    return files
