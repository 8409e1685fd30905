"""MTEB result files out and in: a results tree written in MTEB v2's layout (``<org>__<model>/<revision>/<Task>.json``,
``model_meta.json``, ``run_settings.jsonl``, ``<Task>_predictions.json``) for the leaderboard, and a folder of one
model's MTEB result files read back as reference rows beside a reproduction.

Reads results through results/contract.py and the judgments through the data package's public face; scores with
metrics/trec_measures.py (pytrec_eval) at MTEB's cutoffs. Task names, revisions, splits and subsets come from the
installed ``mteb`` package's task metadata (settings/registry.py maps our domains to them), never typed in here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import PlannedTexts, file_lock, write_new_texts, write_text_atomic
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.metrics.trec_measures import evaluate
from rtriever_eval.results.contract import (
    RUN_FILE,
    SUMMARY_FILE,
    Summary,
    iter_summary_paths,
    read_domain_run,
    read_summary,
)
from rtriever_eval.settings.registry import BRIGHT_DOMAINS, TRACKS, MtebTask, from_mteb_task, mteb_task

log = logging.getLogger(__name__)

CUTOFFS = (1, 3, 5, 10, 20, 100, 1000)
"""MTEB's retrieval cutoffs."""
_FAMILIES = (("ndcg_at", "nDCG@{k}"), ("map_at", "AP@{k}"), ("recall_at", "R@{k}"), ("precision_at", "P@{k}"),
             ("mrr_at", "RR@{k}"), ("hit_rate_at", "Success@{k}"))  # fmt: skip
NO_REVISION = "no_revision_available"
"""MTEB's folder name for a model whose revision is unknown."""


def mteb_key(measure: str) -> str | None:
    """MTEB's key of an ir_measures name (``nDCG@10`` -> ``ndcg_at_10``); None when MTEB has none."""
    family, _, k = measure.partition("@")
    for key, pattern in _FAMILIES:
        if pattern.split("@")[0] == family and k:
            return f"{key}_{k}"
    return None


def _metadata(task: MtebTask) -> Any:
    """The installed mteb's metadata of ``task``, checked to hold its split and subset."""
    mteb = _mteb()
    meta = mteb.get_task(task.name).metadata
    subsets = meta.hf_subsets or ["default"]
    if task.split not in meta.eval_splits or task.subset not in subsets:
        raise InputError(f"mteb {mteb.__version__}'s task {task.name} has splits {meta.eval_splits} and subsets "
                         f"{subsets}, not {task.split}/{task.subset}", field="mteb")  # fmt: skip
    return meta


def _refusal(summary: Summary) -> str | None:
    """Why this result is not one MTEB's task scores (None when it is)."""
    config = summary.config.get("dataset", {})
    if summary.subset:
        return "it was evaluated on a candidate subset, not the full corpus"
    if config.get("query_file") or config.get("query_source", "examples") != "examples" or \
            config.get("query_field", "query") != "query":  # fmt: skip
        return "its queries are not the original ones (a query file, reasoning queries or another field)"
    if summary.oracle:
        return "it is an oracle run"
    return None


def _scores(summary: Summary, folder: Path, task: MtebTask, meta: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's score entry (MTEB's keys at MTEB's cutoffs, computed with pytrec_eval, trec_eval -c averaging) and
    the run as MTEB predictions, after checking the judgments are the ones the result was evaluated on."""
    from rtriever_eval.results.fingerprint import evaluated_data_checked

    data = evaluated_data_checked(summary, folder / SUMMARY_FILE)
    run = read_domain_run(folder, summary)
    measures = [pattern.format(k=k) for _, pattern in _FAMILIES for k in CUTOFFS]
    result = evaluate(data.qrels, run, measures)
    entry: dict[str, Any] = {str(mteb_key(m)): float(v) for m, v in result.summary.items()}
    entry["accuracy"] = entry["recall_at_1"]
    main = str(meta.main_score)
    headline = TRACKS[summary.track].headline
    if main not in entry or entry[main] != summary.metrics.get(headline, math.nan):
        raise InputError(f"{task.name}: MTEB's main score {main} = {entry.get(main)} differs from the summary's "
                         f"{headline} = {summary.metrics.get(headline)}", path=folder / SUMMARY_FILE)  # fmt: skip
    entry.update({"main_score": entry[main], "hf_subset": task.subset, "languages": ["eng-Latn"]})
    return entry, run


def _model_name(summary: Summary, names: Mapping[str, str]) -> str:
    label = summary.run_label
    if label in names:
        return names[label]
    path = str(summary.model_settings.get("path") or "")
    if path.count("/") == 1 and not Path(path).exists():
        return path
    log.warning("run %s: no hub name for its model (give --mteb-model %s=ORG/NAME); written as local/%s", label,
                label, label)  # fmt: skip
    return f"local/{label}"


def _revision(summary: Summary, revisions: Mapping[str, str]) -> str:
    if summary.run_label in revisions:
        return revisions[summary.run_label]
    weights = (summary.fingerprint or {}).get("model", {}).get("weights", {})
    return str(weights.get("commit") or NO_REVISION) if isinstance(weights, Mapping) else NO_REVISION


def _model_meta(summary: Summary, name: str, revision: str) -> dict[str, Any]:
    facts, kind = summary.model_facts, summary.model_settings.get("kind")
    return {
        "name": name, "revision": revision, "release_date": None, "languages": ["eng-Latn"],
        "n_parameters": facts.get("parameters"), "memory_usage_mb": None, "max_tokens": facts.get("max_tokens"),
        "embed_dim": facts.get("embedding_dim") or facts.get("embedding_dim_measured"), "license": None,
        "open_weights": None, "public_training_code": None, "public_training_data": None,
        "framework": ["PyTorch", "Transformers"] if kind == "dense" else [],
        "reference": f"https://huggingface.co/{name}" if not name.startswith("local/") else None,
        "similarity_fn_name": facts.get("similarity") if facts.get("similarity") in ("cosine", "dot") else None,
        "use_instructions": bool(summary.query_prompt), "training_datasets": None, "adapted_from": None,
        "superseded_by": None, "modalities": ["text"], "model_type": ["dense"] if kind == "dense" else None,
        "is_cross_encoder": False,
    }  # fmt: skip


def _run_settings(summary: Summary, task: MtebTask, folder: Path, mteb_version: str) -> dict[str, Any]:
    settings = summary.model_settings
    return {
        "task": task.name, "split": task.split, "subset": task.subset,
        "version": {**summary.versions, "mteb (task metadata only)": mteb_version},
        "evaluated_by": "rtriever-eval, not mteb's evaluator: its own encoding path (manual pooling on plain "
                        "transformers for dense models), exact top-k with BRIGHT's exclusions before the cut, "
                        "pytrec_eval with trec_eval -c averaging",
        "encode_kwargs": {k: settings.get(k) for k in ("batch_size", "max_tokens_per_batch") if k in settings},
        "model_settings": {k: settings.get(k) for k in ("dtype", "pooling", "padding_side", "max_length",
                                                        "query_max_length", "append_eos", "kernels") if k in settings},
        "query_prompt": summary.query_prompt, "document_prompt": summary.document_prompt, "top_k": summary.top_k,
        "data": {"source": summary.dataset_source, "revision": summary.dataset_revision},
        "fingerprint": (summary.fingerprint or {}).get("digest"), "results": str(folder),
    }  # fmt: skip


def _mteb() -> Any:
    try:
        import mteb
    except ImportError:
        raise InputError("--mteb needs the mteb package for MTEB's task metadata: pip install 'rtriever-eval[mteb]'",
                         field="mteb") from None  # fmt: skip
    return mteb


@dataclass
class MtebExport:
    """What --mteb will write: new files (never replacing other content) and run_settings.jsonl lines (merged
    with a file's earlier lines: one line per result, kept across exports)."""

    files: PlannedTexts
    settings_lines: dict[Path, list[str]]

    def write(self) -> list[Path]:
        written = write_new_texts(self.files)
        for path, lines in self.settings_lines.items():
            # two exports into one model folder at once: each merges under the lock, no line is lost
            with file_lock(path.with_name(f".{path.name}.lock"), what="another export merging run_settings.jsonl"):
                old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
                merged = list(dict.fromkeys([*old, *lines]))  # earlier tasks' lines kept, each line once
                write_text_atomic(path, "\n".join(merged) + "\n")
            written.append(path)
        return written


def _written_at(summary: Summary, folder: Path) -> float:
    """When the result was written: the summary's own record, or (before version 6) its run file's mtime."""
    if summary.written_at:
        return dt.datetime.fromisoformat(summary.written_at).timestamp()
    return (folder / RUN_FILE).stat().st_mtime


def plan_mteb(root: str | Path, out: str | Path, *, names: Mapping[str, str] | None = None,
              revisions: Mapping[str, str] | None = None) -> MtebExport:  # fmt: skip
    """The MTEB result files of every result below ``root``, under ``out``; nothing is written.

    Raises:
        InputError: a result MTEB has no task for (BEIR folders, the sample), one that is not comparable with
            MTEB's task (a subset, other queries, an oracle), no mteb installed, two results for one file (two
            runs of one model name and revision: name them apart with --mteb-model or --mteb-revision).
    """
    mteb = _mteb()
    planned = []
    for path in iter_summary_paths(root):
        summary = read_summary(path)
        bench = str(summary.config.get("dataset", {}).get("benchmark", summary.dataset))
        task = mteb_task(bench, summary.track, summary.domain)
        if task is None:
            raise InputError(f"dataset {summary.dataset!r} (benchmark {bench}, {summary.track} track, domain "
                             f"{summary.domain!r}) is no MTEB task: --mteb writes BRIGHT, BRIGHT (long) and "
                             "BRIGHT-Pro results", path=path)  # fmt: skip
        why = _refusal(summary)
        if why:
            raise InputError(f"not an MTEB {task.name} result: {why}", path=path)
        planned.append((summary, path.parent, task, _metadata(task)))
    if not planned:
        raise InputError(f"no {SUMMARY_FILE} found below this folder", path=root)
    export = MtebExport(PlannedTexts(), {})
    hint = ": give the runs their own model names (--mteb-model RUN=ORG/NAME) or revisions (--mteb-revision)"

    def put(path: Path, payload: Any, source: Path) -> None:
        export.files.put(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n", str(source), hint)

    for summary, folder, task, meta in sorted(planned, key=lambda p: (p[0].dataset, p[0].domain)):  # data read once
        name = _model_name(summary, names or {})
        revision = _revision(summary, revisions or {})
        target = Path(out) / safe_component(name.replace("/", "__")) / safe_component(revision)
        entry, run = _scores(summary, folder, task, meta)
        put(target / f"{task.name}.json", {
            "dataset_revision": meta.dataset["revision"], "task_name": task.name, "mteb_version": mteb.__version__,
            "scores": {task.split: [entry]},
            "evaluation_time": sum(float(v) for k, v in summary.timings.items() if k in ("search_total_s",
                                                                                           "evaluate_s")),
            "kg_co2_emissions": None, "date": _written_at(summary, folder),
        }, folder)  # fmt: skip
        put(target / f"{task.name}_predictions.json",
            {"mteb_model_meta": {"model_name": name, "revision": revision}, task.subset: {task.split: run}}, folder)
        if target / "model_meta.json" not in export.files:
            put(target / "model_meta.json", _model_meta(summary, name, revision), folder)
        line = json.dumps(_run_settings(summary, task, folder, mteb.__version__), ensure_ascii=False)
        export.settings_lines.setdefault(target / "run_settings.jsonl", []).append(line)
    return export


# -- in: a folder of one model's MTEB result files as reference rows ---------------------------------------------


def _task_files(folder: Path) -> Iterable[Path]:
    for path in sorted(folder.rglob("*.json")):
        if path.name not in ("model_meta.json",) and not path.name.endswith("_predictions.json"):
            yield path


def read_mteb_folder(folder: str | Path, metric: str | None = None) -> pd.DataFrame:
    """One reference row per (benchmark, track) found in ``folder`` (an MTEB model folder, at any level): the
    values ×100 of ``metric`` (ir_measures spelling; default each task's main score) per domain, their mean over
    the domains present, and where they were read. Files of tasks that are not ours are skipped."""
    from rtriever_eval.reporting.references import AVG, SCALE

    base = Path(folder)
    if not base.is_dir():
        raise InputError("not a folder of MTEB result files", path=base, field="compare-to")
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    found_in: set[Path] = set()
    for path in _task_files(base):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"not a valid MTEB result file ({exc})", path=path) from None
        found = from_mteb_task(str(data.get("task_name", ""))) if isinstance(data, Mapping) else None
        if found is None:
            continue
        found_in.add(path.parent)
        if len(found_in) > 1:  # one row per model revision: two revisions' numbers are never mixed in one row
            folders = ", ".join(sorted(map(str, found_in)))
            raise InputError(f"holds the result files of more than one model or revision ({folders}): point "
                             "--compare-to at one <org>__<model>/<revision> folder", path=base,
                             field="compare-to")  # fmt: skip
        bench, track, domain = found
        task = mteb_task(bench, track, domain)
        assert task is not None
        entries = data.get("scores", {}).get(task.split, [])
        entry = next((e for e in entries if e.get("hf_subset") == task.subset), None)
        key = mteb_key(metric) if metric else "main_score"
        if entry is None or key is None or key not in entry:
            raise InputError(f"no {key or metric} for {task.split}/{task.subset} in this file", path=path,
                             field=key or str(metric))  # fmt: skip
        meta = path.parent / "model_meta.json"
        row = rows.setdefault((bench, track), {
            "model": _meta_name(meta) if meta.is_file() else base.name,
            "dataset": bench if track == "short" else f"{bench}_long",
            "metric": metric or TRACKS[track].headline, "queries": "original", "avg_over": "present",
            "source": f"MTEB result files in {base}", "note": "read from MTEB result files (full precision)",
            "data_revision": str(data.get("dataset_revision")), "table": "mteb"})  # fmt: skip
        if domain in row:
            raise InputError(f"a second result file for {domain} ({track} track)", path=path, field="compare-to")
        row[domain] = float(entry[key]) * SCALE
    if not rows:
        raise InputError("no MTEB result file of a BRIGHT or BRIGHT-Pro task found", path=base, field="compare-to")
    frame = pd.DataFrame(list(rows.values())).reindex(columns=[*META, *BRIGHT_DOMAINS])
    frame[AVG] = frame[list(BRIGHT_DOMAINS)].mean(axis=1, skipna=True)
    frame["name"] = [f"{base.name}" + ("" if len(rows) == 1 else f":{b}:{t}") for b, t in rows]
    return frame.set_index("name")


def _meta_name(path: Path) -> str:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return str(meta["name"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a valid MTEB model_meta.json ({exc!r})", path=path, field="name") from None


META = ("model", "dataset", "queries", "metric", "avg_over", "source", "note", "data_revision", "table")


def written_summary(files: list[Path], out: str | Path) -> str:
    tasks = sorted(p.name.removesuffix(".json") for p in files if p.suffix == ".json"
                   and p.name not in ("model_meta.json",) and not p.name.endswith("_predictions.json"))  # fmt: skip
    return f"{len(tasks)} MTEB task result(s) ({', '.join(tasks)}) written under {out}"

