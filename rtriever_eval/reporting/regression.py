"""The regression gate's logic: load two sides (results folders or baseline files), pair their domains, and
call each REGRESSED, ok, improved or missing, with the paired tests of significance.py when asked.

Knows results (through results/contract.py) and the baseline file format; nothing of how numbers were produced, and no
command-line parsing or exit codes (cli/check.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtriever_eval.base.errors import InputError
from rtriever_eval.reporting.significance import compare_domains
from rtriever_eval.results.contract import SUMMARY_FILE, collect_summaries, load_per_query, run_labels
from rtriever_eval.settings.registry import display_order, headline_of

BASELINE_FORMAT = "rtriever-check-baseline"
BASELINE_VERSION = 1
DEFAULT_METRIC = "nDCG@10"
# A drop equal to the tolerance is not beyond it: float noise in a subtraction must not fail a build.
EPS = 1e-9
EXIT_REGRESSED = 1

log = logging.getLogger("rtriever_eval.check")

REGRESSED, OK, IMPROVED, MISSING = "REGRESSED", "ok", "improved", "missing"

Key = tuple[str, str, str]  # (run label, dataset, domain)


@dataclass(frozen=True)
class Entry:
    """One (run, dataset, domain) on one side: the metric's mean and where its per-query values come from."""

    run: str
    dataset: str
    domain: str
    mean: float
    folder: Path | None = None  # results folder of the domain (per-query values read on demand)
    values: pd.Series | None = None  # per-query values, when they came from a baseline file
    subset: str = ""  # results.subset_label: "" for the full corpus

    def per_query(self, metric: str) -> pd.Series:
        if self.values is not None:
            return self.values
        assert self.folder is not None
        return load_per_query(self.folder, metric)


@dataclass(frozen=True)
class Side:
    """Everything one side of the comparison holds, and how to name it in messages."""

    entries: dict[Key, Entry]
    label: str
    metric: str | None = None  # the metric a baseline file was written for; None for a results folder
    notes: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[str]:
        return sorted({k[0] for k in self.entries})


def load_results(root: Path, metric: str) -> Side:
    """Every domain of a results folder, keyed by (run label, dataset, domain)."""
    df = collect_summaries(root)
    if df.empty:
        raise InputError(f"no {SUMMARY_FILE} found below this folder; run rtriever-eval first", path=root)
    col = f"metric:{metric}"
    if col not in df.columns:
        available = sorted(c.removeprefix("metric:") for c in df.columns if c.startswith("metric:"))
        raise InputError(f"metric {metric!r} not in the results; available: {', '.join(available)}", path=root)
    entries: dict[Key, Entry] = {}
    for label, dataset, domain, folder, mean, subset in zip(
        run_labels(df), df["dataset"], df["domain"], df["path"], df[col], df["subset"], strict=True
    ):
        summary = Path(folder) / SUMMARY_FILE
        try:
            value = float(mean)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise InputError("metric missing or not a finite number", path=summary, field=f"metrics.{metric}")
        key = (str(label), str(dataset), str(domain))
        if key in entries:
            other = entries[key].folder
            raise InputError(
                f"run {key[0]!r}, dataset {key[1]!r}, domain {key[2]!r} appears twice (also in {other}); "
                "point the check at a folder holding each once",
                path=summary,
            )
        entries[key] = Entry(*key, mean=value, folder=Path(folder), subset=str(subset))
    return Side(entries, label=str(root))


def _need(cond: bool, path: Path, where: str, what: str) -> None:
    if not cond:
        raise InputError(f"not a valid rtriever-check baseline file: {what}", path=path, field=where)


def load_baseline_file(path: Path) -> Side:
    """A baseline file written by --write-baseline, validated field by field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable baseline file ({exc})", path=path) from None
    _need(isinstance(data, dict), path, "(top level)", "expected a JSON object")
    _need(data.get("format") == BASELINE_FORMAT, path, "format", f"expected {BASELINE_FORMAT!r}")
    _need(data.get("version") == BASELINE_VERSION, path, "version", f"expected {BASELINE_VERSION}")
    _need(isinstance(data.get("metric"), str), path, "metric", "expected a metric name")
    raw = data.get("entries")
    _need(isinstance(raw, list) and len(raw) > 0, path, "entries", "expected a non-empty list")
    entries: dict[Key, Entry] = {}
    for i, item in enumerate(raw):
        where = f"entries[{i}]"
        _need(isinstance(item, dict), path, where, "expected an object")
        for name in ("run", "dataset", "domain"):
            _need(isinstance(item.get(name), str), path, f"{where}.{name}", "expected a string")
        mean = item.get("mean")
        _need(
            isinstance(mean, int | float) and not isinstance(mean, bool) and math.isfinite(mean),
            path,
            f"{where}.mean",
            "expected a finite number",
        )
        per_query = item.get("per_query")
        _need(isinstance(per_query, dict), path, f"{where}.per_query", "expected an object {qid: value}")
        values = list(per_query.values())
        _need(
            all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values),
            path,
            f"{where}.per_query",
            "expected finite numbers",
        )
        key = (item["run"], item["dataset"], item["domain"])
        _need(key not in entries, path, where, f"duplicate entry for {'/'.join(key)}")
        subset = item.get("subset", "")
        _need(isinstance(subset, str), path, f"{where}.subset", "expected a string")
        series = pd.Series(np.asarray(values, dtype=np.float64), index=pd.Index(list(per_query), name="qid"))
        entries[key] = Entry(*key, mean=float(mean), values=series, subset=subset)
    git = data.get("git") if isinstance(data.get("git"), dict) else {}
    sha = str(git.get("sha") or "unknown")[:12] + ("+dirty" if git.get("dirty") else "")
    label = f"{path} (metric {data['metric']}, created {data.get('created', 'unknown')}, git {sha})"
    return Side(entries, label=label, metric=data["metric"])


def default_metric(path_text: str) -> str:
    """The metric to gate on when none is given: a baseline file's own, else the results' track headline
    (nDCG@10; R@1 when every domain is on the long-document track)."""
    path = Path(path_text)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return DEFAULT_METRIC  # load_baseline_file reports what is wrong
        return str(data.get("metric") or DEFAULT_METRIC) if isinstance(data, dict) else DEFAULT_METRIC
    if path.is_dir():
        try:
            df = collect_summaries(path)
        except InputError:
            return DEFAULT_METRIC  # load_results reports what is wrong
        return headline_of(df["track"].astype(str).tolist()) if not df.empty else DEFAULT_METRIC
    return DEFAULT_METRIC


def check_same_corpus(baseline: Side, current: Side) -> None:
    """Refuse to compare a candidate-subset run with a full-corpus run (or two different subsets): subset scores
    are higher than full-corpus ones by construction, so the gate would pass or fail for the wrong reason."""
    runs = match_runs(baseline, current)
    for key, entry in sorted(baseline.entries.items()):
        other = current.entries.get((runs.get(key[0], key[0]), key[1], key[2]))
        if other is None or other.subset == entry.subset:
            continue

        def name(x: str) -> str:
            return f"subset {x}" if x else "the full corpus"

        raise InputError(
            f"{'/'.join(key)}: the baseline was evaluated on {name(entry.subset)} and the current run on "
            f"{name(other.subset)}; a subset's scores are not comparable with another corpus's. Compare a subset "
            "run with a baseline written from the same subset (dataset.subset=candidates on both sides)",
            field="dataset.subset",
        )


def load_side(path_text: str, metric: str) -> Side:
    path = Path(path_text)
    if path.is_dir():
        return load_results(path, metric)
    if path.is_file():
        return load_baseline_file(path)
    raise InputError("no such results folder or baseline file", path=path)


def baseline_payload(side: Side, metric: str, source: str) -> dict[str, Any]:
    """The baseline file's content: metadata, then per (run, dataset, domain) the mean and per-query values."""
    from rtriever_eval.base.provenance import git_state

    entries = []
    for key in sorted(side.entries):
        entry = side.entries[key]
        values = entry.per_query(metric)
        entries.append(
            {
                "run": entry.run,
                "dataset": entry.dataset,
                "domain": entry.domain,
                "n_queries": len(values),
                "mean": entry.mean,
                "subset": entry.subset,
                "per_query": {str(q): float(v) for q, v in values.items()},
            }
        )
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "metric": metric,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "git": git_state(),
        "source": source,
        "entries": entries,
    }


@dataclass(frozen=True)
class Row:
    run: str
    dataset: str
    domain: str
    baseline: float
    current: float | None
    p_value: float | None
    p_holm: float | None
    status: str

    @property
    def delta(self) -> float | None:
        return None if self.current is None else self.current - self.baseline


def match_runs(baseline: Side, current: Side) -> dict[str, str]:
    """Baseline run label -> current run label: by label, or the only run of each side whatever its label."""
    if len(baseline.runs) == 1 and len(current.runs) == 1:
        return {baseline.runs[0]: current.runs[0]}
    return {r: r for r in baseline.runs}


def compare(
    baseline: Side,
    current: Side,
    metric: str,
    *,
    tolerance: float,
    significance: bool = False,
    alpha: float = 0.05,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> list[Row]:
    """One row per baseline domain, with its status; with `significance`, a drop must also be significant.

    The test is significance.compare_domains (the paired randomization test on per-query values, Holm-corrected
    across the domains of each run: one family per run), the same assembly the report's marks use.
    """
    check_same_corpus(baseline, current)
    runs = match_runs(baseline, current)
    order = {d: i for i, d in enumerate(display_order([k[2] for k in baseline.entries]))}
    keys = sorted(baseline.entries, key=lambda k: (k[0], k[1], order[k[2]]))
    p_raw: dict[Key, float] = {}
    p_adj: dict[Key, float] = {}
    if significance:
        for run in baseline.runs:
            family = [k for k in keys if k[0] == run and (runs[run], k[1], k[2]) in current.entries]
            mine = {
                f"{k[1]}/{k[2]}": _checked_values(current.entries[(runs[run], k[1], k[2])], metric, "current")
                for k in family
            }
            base = {f"{k[1]}/{k[2]}": _checked_values(baseline.entries[k], metric, "baseline") for k in family}
            if not family:
                continue
            try:
                tested = compare_domains(
                    mine, base, test="randomization", alpha=alpha, n_permutations=n_permutations, seed=seed
                )
            except InputError as exc:
                raise InputError(f"run {run!r}, {exc}") from None
            by_name = {str(r["domain"]): r for r in tested.to_dict("records")}
            for k in family:
                row = by_name[f"{k[1]}/{k[2]}"]
                p_raw[k], p_adj[k] = float(row["p_value"]), float(row["p_holm"])
    rows = []
    for key in keys:
        base_mean = baseline.entries[key].mean
        cur = current.entries.get((runs[key[0]], key[1], key[2]))
        if cur is None:
            rows.append(Row(*key, baseline=base_mean, current=None, p_value=None, p_holm=None, status=MISSING))
            continue
        delta = cur.mean - base_mean
        significant = not significance or p_adj[key] <= alpha
        if delta < -(tolerance + EPS) and significant:
            status = REGRESSED
        elif delta > tolerance + EPS and significant:
            status = IMPROVED
        else:
            status = OK
        rows.append(Row(*key, base_mean, cur.mean, p_raw.get(key), p_adj.get(key), status))
    return rows


def _checked_values(entry: Entry, metric: str, side: str) -> pd.Series:
    """An entry's per-query values, with a warning when their mean is not the summary's (a hand-edited file)."""
    values = entry.per_query(metric)
    if len(values) and not math.isclose(float(values.mean()), entry.mean, rel_tol=1e-9, abs_tol=1e-9):
        log.warning(
            "%s %s/%s/%s: per-query %s values average %.6f but the summary says %.6f",
            side,
            entry.run,
            entry.dataset,
            entry.domain,
            metric,
            float(values.mean()),
            entry.mean,
        )
    return values


def format_table(rows: Sequence[Row], *, significance: bool) -> str:
    """A fixed-width text table; run and dataset columns only when they vary."""
    show_run = len({r.run for r in rows}) > 1
    show_dataset = len({r.dataset for r in rows}) > 1
    header = [
        *(["run"] if show_run else []),
        *(["dataset"] if show_dataset else []),
        "domain",
        "baseline",
        "current",
        "delta",
        *(["p", "p_holm"] if significance else []),
        "status",
    ]
    lines = []
    for r in rows:
        delta = r.delta
        cells = [
            *([r.run] if show_run else []),
            *([r.dataset] if show_dataset else []),
            r.domain,
            f"{r.baseline:.4f}",
            "-" if r.current is None else f"{r.current:.4f}",
            "-" if delta is None else f"{delta:+.4f}",
            *(
                ["-" if r.p_value is None else f"{r.p_value:.4f}", "-" if r.p_holm is None else f"{r.p_holm:.4f}"]
                if significance
                else []
            ),
            r.status,
        ]
        lines.append(cells)
    numeric = {"baseline", "current", "delta", "p", "p_holm"}
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if h in numeric else c.ljust(w) for c, w, h in zip(cells, widths, header, strict=True)
        ).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(c) for c in lines)])
