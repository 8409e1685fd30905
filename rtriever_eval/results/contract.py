"""The results contract: where a run's files live, what they are called, the typed and versioned summary, the
atomic writers (summary last) and the readers that load a results tree into frames.

Every stage, report, gate and notebook reads and writes results through this module; it knows the on-disk layout
and the summary's fields, nothing of how the numbers were computed or will be compared.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtriever_eval.base.checksum import digest_file
from rtriever_eval.base.errors import InputError
from rtriever_eval.base.faults import checkpoint
from rtriever_eval.base.io import atomic_open, file_lock, write_json_atomic
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.base.trec import read_run, write_run
from rtriever_eval.base.types import Run

RUN_FILE = "run.trec"
PER_QUERY_FILE = "per_query.tsv"
SUMMARY_FILE = "summary.json"
SNIPPETS_FILE = "snippets.json"  # what the HTML report shows beside ids (snippets.py)
HIDDEN_PREFIX = "."
"""Folders whose name starts with a dot (Hydra's .runs/, submitit's files) hold no results."""
LOCKS_DIR = ".locks"
"""<results_dir>/<experiment>/.locks/: one lock file per run folder, held (flock) by the process writing it, so a
second run of the same name waits; kept outside the run folder, so a run refused before any work leaves none."""

SUMMARY_VERSION = 6
"""3: track and subset; 4: files (sha256 of each result file, checked when read back); 5: cost; 6: written_at."""
REQUIRED = ("domain", "model", "dataset", "metrics")


def run_folder(results_dir: str | Path, experiment: str, run: str, dataset: str) -> Path:
    """<results_dir>/<experiment>/<run>/<dataset>: the folder holding one folder per domain."""
    return Path(results_dir) / safe_component(experiment) / safe_component(run) / safe_component(dataset)


def domain_folder(results_dir: str | Path, experiment: str, run: str, dataset: str, domain: str) -> Path:
    return run_folder(results_dir, experiment, run, dataset) / safe_component(domain)


def experiment_folder(results_dir: str | Path, experiment: str) -> Path:
    return Path(results_dir) / safe_component(experiment)


@dataclass
class Summary:
    """One domain's summary.json. The first fields are the contract (DESIGN.md); the rest say how the numbers
    came about. ``from_json`` keeps keys it does not know in ``extra``, so nothing read is lost on a rewrite."""

    domain: str
    model: str
    dataset: str
    metrics: dict[str, float]
    n_queries: int = 0
    n_docs: int | None = 0  # None: evaluated without the corpus (an imported run), its size unknown
    query_prompt: str = ""
    document_prompt: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    experiment: str = ""
    run: str = ""
    n_queries_searched: int = 0
    top_k: int = 0
    instruction_set: str = ""
    instruction: str | None = None
    oracle: bool = False
    counts: dict[str, Any] = field(default_factory=dict)
    model_settings: dict[str, Any] = field(default_factory=dict)
    dataset_source: str = ""
    dataset_revision: str | None = None
    dataset_details: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] | None = None
    git: dict[str, Any] = field(default_factory=dict)
    model_facts: dict[str, Any] = field(default_factory=dict)  # similarity, parameters, max tokens, ... (job/facts.py)
    track: str = "short"  # settings/registry.py: which track's headline metric tables and the gate lead with
    subset: dict[str, Any] | None = None  # a CI-sized candidate subset (job/subset.py), None for the full corpus
    files: dict[str, str] = field(default_factory=dict)  # file name -> "sha256:<hex>" of what was written
    cost: dict[str, Any] = field(default_factory=dict)  # what the result cost (job/cost.py); never in a fingerprint
    written_at: str | None = None  # UTC, ISO 8601, when the files were written (None before version 6)
    version: int = SUMMARY_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_label(self) -> str:
        return self.run or self.model

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Any, path: str | Path | None = None) -> Summary:
        if not isinstance(data, Mapping):
            raise InputError("a summary must be a JSON object", path=path)
        for key in REQUIRED:
            if key not in data:
                raise InputError("summary lacks a required key", path=path, field=key)
        if not isinstance(data["metrics"], Mapping):
            raise InputError("metrics must be an object", path=path, field="metrics")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("version", 1)
        if "track" not in values:  # before version 3: the track follows from the dataset settings
            dataset = values.get("config", {}).get("dataset", {}) if isinstance(values.get("config"), Mapping) else {}
            values["track"] = "long" if isinstance(dataset, Mapping) and dataset.get("long_documents") else "short"
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})


def read_summary(path: str | Path) -> Summary:
    target = Path(path)
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid summary file ({exc})", path=target) from None
    return Summary.from_json(data, target)


def write_per_query(path: Path, per_query: pd.DataFrame) -> None:
    """Per-query metric values as TSV: `qid` then one column per measure, values at full float precision."""
    with atomic_open(path) as fh:
        fh.write("\t".join(["qid", *map(str, per_query.columns)]) + "\n")
        for qid, row in per_query.iterrows():
            fh.write("\t".join([str(qid), *(repr(float(v)) for v in row.tolist())]) + "\n")


def file_digest(path: Path) -> str:
    """``"sha256:<hex>"`` of a result file (sha256, as bundles use)."""
    return digest_file(path, "sha256")


def device_hours(cost: Mapping[str, Any]) -> float:
    """Device-hours of a finished record: the encoding workers' wall seconds on every device, the rest on one."""
    wall = cost["wall_s"]
    workers_s = float(wall.get("workers_s") or 0.0)
    count = int(cost["device"]["count"]) if workers_s else 1
    return round((float(wall["total_s"]) - workers_s + workers_s * count) / 3600, 6)


def write_domain(
    folder: Path,
    run: Run,
    per_query: pd.DataFrame,
    summary: Summary,
    *,
    tag: str,
    snippets: Mapping[str, Any] | None = None,
) -> Summary:
    """run.trec, per_query.tsv, snippets.json (when given), then summary.json, each atomically: a summary means
    the domain is complete. The summary written (returned) records each file's sha256, which every reader of
    these files checks.

    An older summary is removed first, so it never stands beside newer files.
    """
    (folder / SUMMARY_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    write_run(folder / RUN_FILE, run, tag=tag)
    checkpoint("run_written")
    write_per_query(folder / PER_QUERY_FILE, per_query)
    checkpoint("per_query_written")
    names = [RUN_FILE, PER_QUERY_FILE]
    if snippets is not None:
        write_json_atomic(folder / SNIPPETS_FILE, snippets)
        names.append(SNIPPETS_FILE)
    cost = dict(summary.cost)
    if cost.get("wall_s"):  # the writing time and the totals, known only now (the summary itself is not counted)
        wall = {**cost["wall_s"], "write_s": round(time.perf_counter() - started, 4)}
        wall["total_s"] = round(sum(v for k, v in wall.items() if k != "total_s" and v is not None), 4)
        cost["wall_s"] = wall
        cost["device_hours"] = device_hours(cost)
    files = {name: file_digest(folder / name) for name in names}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written = dataclasses.replace(summary, files=files, cost=cost, written_at=now)
    write_json_atomic(folder / SUMMARY_FILE, written.to_json())
    return written


def read_checked(folder: str | Path, name: str, summary: Summary | None = None) -> bytes:
    """The bytes of ``folder/name``, read once and checked against the sha256 its summary recorded (``summary``,
    else the folder's summary.json; summaries older than version 4 record none): the caller parses exactly the
    bytes checked. InputError when they differ (changed since the run wrote them: another process or damage) or
    the file cannot be read."""
    path = Path(folder) / name
    if summary is None:
        summary_path = Path(folder) / SUMMARY_FILE
        # no summary (yet): nothing recorded to check against; an unreadable one is an InputError, never a pass
        recorded = read_summary(summary_path).files if summary_path.is_file() else {}
    else:
        recorded = summary.files
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {name} ({exc.strerror or exc})", path=path) from None
    expected = recorded.get(name) if isinstance(recorded, Mapping) else None
    if expected and f"sha256:{hashlib.sha256(data).hexdigest()}" != expected:
        raise InputError(
            f"{name} does not match the sha256 its summary.json recorded: it changed after the run wrote it "
            "(another run writing this folder now, or damage on disk). Nothing was computed from it; rerun the "
            "run that wrote it (overwrite=true)",
            path=path,
        )
    return data


def run_lock(
    results_dir: str | Path, experiment: str, run: str, dataset: str
) -> contextlib.AbstractContextManager[None]:
    """Held while this process writes the run's folder; a second process asking for it waits (logging who holds
    it) and then finds the first one's results (reused when its settings are the same)."""
    name = hashlib.sha256(f"{safe_component(run)}/{safe_component(dataset)}".encode()).hexdigest()[:24]
    path = experiment_folder(results_dir, experiment) / LOCKS_DIR / f"{name}.lock"
    folder = run_folder(results_dir, experiment, run, dataset)
    return file_lock(path, what=f"a run of the same name and results folder is writing {folder}")


def iter_summary_paths(root: str | Path) -> Iterator[Path]:
    """Every summary.json below `root`, sorted, hidden folders skipped."""
    base = Path(root)
    for path in sorted(base.rglob(SUMMARY_FILE)):
        if not any(part.startswith(HIDDEN_PREFIX) for part in path.relative_to(base).parts[:-1]):
            yield path


def collect_summaries(root: str | Path) -> pd.DataFrame:
    """One row per summary below `root`: identity columns, `path`, and one `metric:<name>` column per metric."""
    base = Path(root)
    if not base.is_dir():
        raise InputError("results folder does not exist", path=base)
    rows = []
    for path in iter_summary_paths(base):
        s = read_summary(path)
        row: dict[str, Any] = {
            "experiment": s.experiment,
            "run": s.run_label,
            "model": s.model,
            "dataset": s.dataset,
            "domain": s.domain,
            "n_queries": s.n_queries,
            "path": str(path.parent),
            "track": s.track,
            "subset": subset_label(s.subset),
            "overlap": str(s.model_facts.get("training_data_overlap") or ""),
        }
        row.update({f"metric:{k}": v for k, v in s.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def subset_label(subset: Mapping[str, Any] | None) -> str:
    """ "" for a full corpus; else a short label of the subset (kind, first stage, size, ids hash) that differs
    whenever the documents evaluated differ."""
    if not subset:
        return ""
    return (
        f"{subset.get('kind', '?')}:{subset.get('first_stage', '?')}:{subset.get('documents', '?')}docs:"
        f"{str(subset.get('ids_sha256', ''))[:12]}"
    )


def run_labels(df: pd.DataFrame) -> pd.Series:
    """`run`, prefixed with the experiment when the frame spans several experiments."""
    if df["experiment"].nunique() > 1:
        return df["experiment"].astype(str) + "/" + df["run"].astype(str)
    return df["run"].astype(str)


def load_per_query(folder: str | Path, metric: str, summary: Summary | None = None) -> pd.Series:
    """The per-query values of `metric` from `folder`/per_query.tsv (checked as ``read_checked``), indexed by qid
    (a string)."""
    path = Path(folder) / PER_QUERY_FILE
    if not path.is_file():
        raise InputError("per-query file is missing (significance needs it; re-run rtriever-eval here)", path=path)
    data = read_checked(folder, PER_QUERY_FILE, summary)
    try:
        frame = pd.read_csv(io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid per-query TSV ({' '.join(str(exc).split())})", path=path) from None
    if "qid" not in frame.columns:
        raise InputError("per-query file has no 'qid' column", path=path, line=1, field="qid")
    if metric not in frame.columns:
        available = ", ".join(c for c in frame.columns if c != "qid") or "none"
        raise InputError(f"metric not in the per-query file; available: {available}", path=path, line=1, field=metric)
    values = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InputError(
            f"not a finite number: {frame[metric].iloc[bad[0]]!r}", path=path, line=int(bad[0]) + 2, field=metric
        )
    dup = np.flatnonzero(frame["qid"].duplicated().to_numpy())
    if dup.size:
        raise InputError(f"duplicate qid {frame['qid'].iloc[dup[0]]!r}", path=path, line=int(dup[0]) + 2, field="qid")
    return pd.Series(values, index=pd.Index(frame["qid"], name="qid"), name=metric)


def read_per_query(folder: str | Path, summary: Summary | None = None) -> pd.DataFrame:
    """Every metric of `folder`/per_query.tsv (checked as ``read_checked``), one row per qid (the index, strings)."""
    path = Path(folder) / PER_QUERY_FILE
    try:
        frame = pd.read_csv(io.BytesIO(read_checked(folder, PER_QUERY_FILE, summary)), sep="\t", dtype={"qid": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid per-query TSV ({' '.join(str(exc).split())})", path=path) from None
    if "qid" not in frame.columns:
        raise InputError("per-query file has no 'qid' column", path=path, line=1, field="qid")
    return frame.set_index("qid")


def read_snippets(folder: str | Path, summary: Summary | None = None) -> dict[str, Any] | None:
    """The snippets.json of a domain folder (checked as ``read_checked``), None when it has none (results written
    before it existed)."""
    path = Path(folder) / SNIPPETS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(read_checked(folder, SNIPPETS_FILE, summary).decode("utf-8"))
    except ValueError as exc:
        raise InputError(f"not a valid snippets file ({exc})", path=path) from None
    return data if isinstance(data, dict) else None


def read_domain_run(folder: str | Path, summary: Summary | None = None) -> Run:
    """The run.trec of one domain folder, checked against its summary's digest (``summary`` when given: the one
    the caller read, so a run rewritten meanwhile is caught)."""
    return read_run(Path(folder) / RUN_FILE, read_checked(folder, RUN_FILE, summary))


def metric_value(summary: Summary, metric: str, path: str | Path | None = None) -> float:
    """A summary's finite value of `metric`; InputError naming the file and field otherwise."""
    try:
        value = float(summary.metrics[metric])
    except (KeyError, TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise InputError("metric missing or not a finite number", path=path, field=f"metrics.{metric}")
    return value
