"""Comparison tables from results folders: runs x domains (+ macro average), with significance marks and
bootstrap intervals against a baseline run; written through render.py as Markdown, CSV and LaTeX.

Reads results through results/contract.py; knows nothing about how the numbers were computed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import write_text_atomic
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.reporting.judged import DEFAULT_GAP, TITLE, gap_note, has_judged
from rtriever_eval.reporting.render import (
    BETTER,
    MARKS_TEX,
    WORSE,
    mark_overlap,
    metric_slug,
    subset_note,
    table_metric,
    tex_escape,
    to_markdown,
    write_tables,
)
from rtriever_eval.reporting.significance import (
    DEFAULT_N_PERMUTATIONS,
    DEFAULT_N_RESAMPLES,
    EXACT_MAX_N,
    TESTS,
    TestName,
    bootstrap_domain_and_macro_ci,
    compare_domains,
)
from rtriever_eval.results.contract import SUMMARY_FILE, collect_summaries, load_per_query, run_labels
from rtriever_eval.settings.registry import JUDGED, display_order

log = logging.getLogger(__name__)

AVG = "avg"
SIGNIFICANCE_CSV = "significance.csv"
SIGNIFICANCE_COLUMNS = [
    "run",
    "baseline",
    "dataset",
    "domain",
    "metric",
    "n",
    "mean_run",
    "mean_base",
    "diff",
    "d_z",
    "wins",
    "ties",
    "losses",
    "p_value",
    "p_holm",
    "significant",
    "test",
]


def comparison_table(df: pd.DataFrame, metric: str = "nDCG@10") -> pd.DataFrame:
    """Runs x domains of `metric` (raw values), with the macro average over domains.

    The average is given only for runs that have every domain of the table: a partial average next to
    complete ones would compare different things, so it is left empty (NaN) instead.
    """
    col = f"metric:{metric}"
    if df.empty or col not in df.columns:
        available = sorted(c.removeprefix("metric:") for c in df.columns if c.startswith("metric:"))
        raise InputError(
            f"metric {metric!r} not found in the results; available: {', '.join(available) or 'none'}",
            field="metric",
        )
    frame = df.assign(label=run_labels(df))
    table = frame.pivot_table(index="label", columns="domain", values=col, aggfunc="first")
    table = table.reindex(columns=display_order(list(table.columns)))
    complete = table.notna().all(axis=1)
    table[AVG] = table.mean(axis=1).where(complete)
    table.index.name = "run"
    table.columns.name = None
    return table


@dataclass(frozen=True)
class SignificanceOptions:
    """How to compare every run with the baseline: the test, alpha, and the seeded resampling sizes."""

    baseline: str
    test: TestName = "randomization"
    alpha: float = 0.05
    n_permutations: int = DEFAULT_N_PERMUTATIONS
    n_resamples: int = DEFAULT_N_RESAMPLES
    seed: int = 0
    judged_gap: float = DEFAULT_GAP  # name (run, domain) whose Judged@10 differs from the baseline's by more


@dataclass(frozen=True)
class MarkedTable:
    """A comparison table with its significance marks, bootstrap intervals and test rows."""

    table: pd.DataFrame  # runs x domains (+ avg), raw metric values
    marks: pd.DataFrame  # same shape: "better", "worse" or ""
    intervals: pd.DataFrame  # same rows; columns <column>_lo, <column>_hi
    tests: pd.DataFrame  # one row per run x domain, SIGNIFICANCE_COLUMNS
    legend_md: str
    legend_tex: str


def _per_query_by_run(part: pd.DataFrame, metric: str) -> dict[str, dict[str, pd.Series]]:
    """{run label: {domain: per-query values}}, taking the same row per cell as comparison_table does."""
    col = f"metric:{metric}"
    frame = part.assign(label=run_labels(part)).drop_duplicates(["label", "domain"], keep="first")
    out: dict[str, dict[str, pd.Series]] = {}
    for label, domain, folder, mean in frame[["label", "domain", "path", col]].itertuples(index=False):
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            continue
        values = load_per_query(folder, metric)
        if len(values) and not math.isclose(float(values.mean()), float(mean), rel_tol=1e-9, abs_tol=1e-9):
            log.warning(
                "%s: mean of per-query %s is %.6f but its summary says %.6f", folder, metric, values.mean(), mean
            )
        out.setdefault(str(label), {})[str(domain)] = values
    return out


def _legends(options: SignificanceOptions) -> tuple[str, str]:
    if options.test == "randomization":
        test = f"paired randomization test, {options.n_permutations:,} sign flips, exact when n ≤ {EXACT_MAX_N}"
        test_tex = (
            f"paired randomization test, {options.n_permutations:,} sign flips, exact when $n \\leq {EXACT_MAX_N}$"
        )
    else:
        test = test_tex = "paired t-test"
    common = "two-sided; Holm–Bonferroni across the domains of each run"
    md = (
        f"† / ‡: significantly better / worse than {options.baseline} ({test}, {common}; α = {options.alpha:g}); "
        f"{AVG} is not tested. 95% bootstrap intervals are in the CSV."
    )
    tex = (
        rf"{MARKS_TEX[BETTER]}/{MARKS_TEX[WORSE]}: significantly better/worse than {tex_escape(options.baseline)} "
        rf"({test_tex}, {common.replace('–', '--')}; $\alpha = {options.alpha:g}$); {AVG} is not tested."
    )
    return md, tex


def significance_table(
    part: pd.DataFrame, metric: str, options: SignificanceOptions, *, dataset: str = ""
) -> MarkedTable:
    """The comparison table of one dataset's summaries, with every run tested against `options.baseline`.

    Per domain, each run's per-query values are paired with the baseline's by qid and tested; p-values are
    Holm-corrected across the domains of that run. Cells significantly better (worse) than the baseline are
    marked; bootstrap intervals cover each run's domain means and, for complete rows, the macro average.
    """
    if options.test not in TESTS:
        raise InputError(f"unknown test {options.test!r}; choose one of {', '.join(TESTS)}", field="test")
    if not 0.0 < options.alpha < 1.0:
        raise InputError(f"alpha must lie strictly between 0 and 1, not {options.alpha}", field="alpha")
    table = comparison_table(part, metric)
    labels = [str(x) for x in table.index]
    if options.baseline not in labels:
        where = f" in dataset {dataset!r}" if dataset else ""
        raise InputError(
            f"baseline run {options.baseline!r} not found{where}; runs: {', '.join(labels)}", field="baseline"
        )
    values = _per_query_by_run(part, metric)
    domains = [c for c in table.columns if c != AVG]
    marks = pd.DataFrame("", index=table.index, columns=table.columns)
    interval_cols = [f"{c}_{end}" for c in table.columns for end in ("lo", "hi")]
    intervals = pd.DataFrame(np.nan, index=table.index, columns=interval_cols)
    rows = []
    base = values.get(options.baseline, {})
    complete = {str(k): bool(v) for k, v in table[AVG].notna().items()}
    for label in labels:
        mine = {d: values[label][d] for d in domains if d in values.get(label, {})}
        per_domain, macro = bootstrap_domain_and_macro_ci(mine, n_resamples=options.n_resamples, seed=options.seed)
        for d, (lo, hi) in per_domain.items():
            intervals.loc[label, [f"{d}_lo", f"{d}_hi"]] = [lo, hi]
        if complete[label]:
            intervals.loc[label, [f"{AVG}_lo", f"{AVG}_hi"]] = list(macro)
        if label == options.baseline:
            continue
        try:
            result = compare_domains(
                mine,
                base,
                test=options.test,
                alpha=options.alpha,
                n_permutations=options.n_permutations,
                seed=options.seed,
            )
        except InputError as exc:
            raise InputError(f"run {label!r} vs baseline {options.baseline!r}, {exc}") from None
        for r in result.to_dict("records"):
            diff = float(r["diff"])
            if bool(r["significant"]) and diff != 0:
                marks.loc[label, str(r["domain"])] = BETTER if diff > 0 else WORSE
        rows.append(
            result.assign(run=label, baseline=options.baseline, dataset=dataset, metric=metric, test=options.test)
        )
    tests = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    tests = tests.reindex(columns=SIGNIFICANCE_COLUMNS)
    legend_md, legend_tex = _legends(options)
    return MarkedTable(table, marks, intervals, tests, legend_md, legend_tex)


def build_reports(
    root: str | Path,
    metric: str | None = None,
    out_dir: str | Path | None = None,
    *,
    significance: SignificanceOptions | None = None,
) -> tuple[str, list[Path]]:
    """All tables of a results folder (one per dataset); returns the Markdown text and the files written.

    With `significance`, every run is tested against the baseline run (see significance_table), the tables carry
    the marks, and significance.csv (one row per run x dataset x domain) is written beside them.
    """
    df = collect_summaries(root)
    if df.empty:
        raise InputError(f"no {SUMMARY_FILE} found; run rtriever-eval first", path=root)
    target = Path(out_dir) if out_dir is not None else Path(root) / "report"
    asked = metric
    texts, files = [], []
    marked_parts = []
    for dataset, part in df.groupby("dataset", sort=True):
        metric = table_metric(part, asked)
        title = f"{metric} ×100 on {dataset} (avg: macro over domains; bold: best per column)"
        stem = f"table_{safe_component(str(dataset))}_{metric_slug(metric)}"
        marked = None
        if significance is not None:
            marked = significance_table(part, metric, significance, dataset=str(dataset))
            marked_parts.append(marked)
            table = marked.table
        else:
            table = comparison_table(part, metric)
        before = list(table.index)
        table, overlap_legend = mark_overlap(table, part, run_labels(part))
        renamed = dict(zip(before, table.index, strict=True))
        marks = marked.marks.rename(index=renamed) if marked else None
        texts.append(
            to_markdown(
                table,
                title=f"### {title}",
                marks=marks,
                legend="\n\n".join(
                    x for x in (marked.legend_md if marked else "", subset_note(part), overlap_legend) if x
                ),
            )
        )
        if metric != JUDGED and has_judged(part):  # how much of each top 10 the judgments can speak for
            judged = comparison_table(part, JUDGED)
            note = gap_note(part, significance.baseline, significance.judged_gap) if significance else ""
            texts.append(to_markdown(judged, title=f"### {TITLE.format(dataset=dataset)}", legend=note))
            files += write_tables(judged, target, stem=f"table_{safe_component(str(dataset))}_{metric_slug(JUDGED)}",
                                  title=TITLE.format(dataset=dataset), legend_md=note)  # fmt: skip
        files += write_tables(
            table,
            target,
            stem=stem,
            title=title,
            marks=marks,
            intervals=marked.intervals.rename(index=renamed) if marked else None,
            legend_md=marked.legend_md if marked else "",
            legend_tex=marked.legend_tex if marked else "",
        )
    if significance is not None:
        tests = (
            pd.concat([m.tests for m in marked_parts if not m.tests.empty], ignore_index=True)
            if any(not m.tests.empty for m in marked_parts)
            else pd.DataFrame(columns=SIGNIFICANCE_COLUMNS)
        )
        path = target / SIGNIFICANCE_CSV
        write_text_atomic(path, tests.to_csv(index=False))
        files.append(path)
    return "\n".join(texts), files
