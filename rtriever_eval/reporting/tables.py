"""Comparison tables from results folders: runs x domains (+ macro average), as Markdown, CSV and LaTeX.

Reads summary.json (and, for significance marks, per_query.tsv) files; knows nothing about how they were computed.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rtriever_eval.data.bright import BRIGHT_DOMAINS
from rtriever_eval.errors import InputError
from rtriever_eval.io import write_text_atomic
from rtriever_eval.reporting.significance import (
    DEFAULT_N_PERMUTATIONS,
    DEFAULT_N_RESAMPLES,
    EXACT_MAX_N,
    TESTS,
    TestName,
    bootstrap_domain_and_macro_ci,
    compare_domains,
)

log = logging.getLogger(__name__)

AVG = "avg"
PER_QUERY = "per_query.tsv"
SIGNIFICANCE_CSV = "significance.csv"
BETTER, WORSE = "better", "worse"
MARKS_MD = {BETTER: "†", WORSE: "‡"}
MARKS_TEX = {BETTER: r"$^{\dagger}$", WORSE: r"$^{\ddagger}$"}
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


def collect_summaries(root: str | Path) -> pd.DataFrame:
    """One row per summary.json under `root` (hidden folders skipped): identity columns plus one per metric."""
    base = Path(root)
    if not base.is_dir():
        raise InputError("results folder does not exist", path=base)
    rows = []
    for path in sorted(base.rglob("summary.json")):
        if any(part.startswith(".") for part in path.relative_to(base).parts[:-1]):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not a valid summary file ({exc})", path=path) from None
        for key in ("domain", "model", "dataset", "metrics"):
            if key not in data:
                raise InputError("summary lacks a required key", path=path, field=key)
        row = {
            "experiment": data.get("experiment", ""),
            "run": data.get("run", data["model"]),
            "model": data["model"],
            "dataset": data["dataset"],
            "domain": data["domain"],
            "n_queries": data.get("n_queries"),
            "path": str(path.parent),
        }
        row.update({f"metric:{k}": v for k, v in data["metrics"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def domain_order(domains: Sequence[str]) -> list[str]:
    """Distinct domains in BRIGHT's order, then any others alphabetically."""
    known = {d: i for i, d in enumerate(BRIGHT_DOMAINS)}
    return sorted(set(domains), key=lambda d: (known.get(d, len(known)), d))


def run_labels(df: pd.DataFrame) -> pd.Series:
    """`run`, prefixed with the experiment when the frame spans several experiments."""
    if df["experiment"].nunique() > 1:
        return df["experiment"].astype(str) + "/" + df["run"].astype(str)
    return df["run"].astype(str)


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
    table = table.reindex(columns=domain_order(list(table.columns)))
    complete = table.notna().all(axis=1)
    table[AVG] = table.mean(axis=1).where(complete)
    table.index.name = "run"
    table.columns.name = None
    return table


def load_per_query(folder: str | Path, metric: str) -> pd.Series:
    """The per-query values of `metric` from `folder`/per_query.tsv, indexed by qid (a string)."""
    path = Path(folder) / PER_QUERY
    if not path.is_file():
        raise InputError("per-query file is missing (significance needs it; re-run rtriever-eval here)", path=path)
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
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


@dataclass(frozen=True)
class SignificanceOptions:
    """How to compare every run with the baseline: the test, alpha, and the seeded resampling sizes."""

    baseline: str
    test: TestName = "randomization"
    alpha: float = 0.05
    n_permutations: int = DEFAULT_N_PERMUTATIONS
    n_resamples: int = DEFAULT_N_RESAMPLES
    seed: int = 0


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
                "%s: mean of per-query %s is %.6f but summary.json says %.6f", folder, metric, values.mean(), mean
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
        rf"{MARKS_TEX[BETTER]}/{MARKS_TEX[WORSE]}: significantly better/worse than {_tex_escape(options.baseline)} "
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


def with_intervals(table: pd.DataFrame, intervals: pd.DataFrame) -> pd.DataFrame:
    """The table with each column followed by its `<column>_lo` and `<column>_hi` interval bounds."""
    joined = pd.concat([table, intervals], axis=1)
    order = [name for c in table.columns for name in (c, f"{c}_lo", f"{c}_hi") if name in joined.columns]
    return joined[order]


def _fmt(v: float, scale: float, digits: int) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * scale:.{digits}f}"


def _best_mask(table: pd.DataFrame) -> pd.DataFrame:
    return table.eq(table.max(axis=0)) & table.notna() & (len(table) > 1)


def _mark(marks: pd.DataFrame | None, i: int, j: int, symbols: dict[str, str]) -> str:
    if marks is None:
        return ""
    return symbols.get(str(marks.iat[i, j]), "")


def to_markdown(
    table: pd.DataFrame,
    *,
    title: str = "",
    scale: float = 100.0,
    digits: int = 1,
    marks: pd.DataFrame | None = None,
    legend: str = "",
) -> str:
    """GitHub Markdown; the best value of each column in bold, then `marks` (†/‡) and a `legend` line under it."""
    best = _best_mask(table)
    header = ["run", *map(str, table.columns)]
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|")
    for i, (label, row) in enumerate(table.iterrows()):
        cells = []
        for j, c in enumerate(table.columns):
            s = _fmt(row[c], scale, digits)
            if s:
                s = (f"**{s}**" if best.iloc[i][c] else s) + _mark(marks, i, j, MARKS_MD)
            cells.append(s)
        lines.append("| " + " | ".join([str(label), *cells]) + " |")
    if legend:
        lines += ["", legend]
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
    ):
        s = s.replace(a, b)
    return s


def to_latex(
    table: pd.DataFrame,
    *,
    caption: str = "",
    scale: float = 100.0,
    digits: int = 1,
    marks: pd.DataFrame | None = None,
    legend: str = "",
) -> str:
    """A booktabs tabular; the best value of each column in bold, `marks` as superscript daggers.

    `legend` is LaTeX source (not escaped), appended to the caption.
    """
    best = _best_mask(table)
    cols = "l" + "r" * len(table.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    out.append(" & ".join(["Run", *(_tex_escape(str(c)) for c in table.columns)]) + r" \\")
    out.append(r"\midrule")
    for i, (label, row) in enumerate(table.iterrows()):
        cells = []
        for j, c in enumerate(table.columns):
            s = _fmt(row[c], scale, digits)
            if s:
                s = (rf"\textbf{{{s}}}" if best.iloc[i][c] else s) + _mark(marks, i, j, MARKS_TEX)
            cells.append(s)
        out.append(" & ".join([_tex_escape(str(label)), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    text = ". ".join(t for t in (_tex_escape(caption), legend) if t)
    if text:
        out.append(rf"\caption{{{text}}}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def metric_slug(metric: str) -> str:
    return metric.replace("@", "_at_").replace("/", "_")


def write_tables(
    table: pd.DataFrame, out_dir: Path, *, stem: str, title: str, marked: MarkedTable | None = None
) -> list[Path]:
    """Write <stem>.md, <stem>.csv (raw values, full precision) and <stem>.tex; returns the paths.

    With `marked`, Markdown and LaTeX carry the significance marks and legend, and the CSV the bootstrap intervals.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path, tex = out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}.tex"
    marks = marked.marks if marked is not None else None
    csv_table = with_intervals(table, marked.intervals) if marked is not None else table
    write_text_atomic(md, to_markdown(table, title=title, marks=marks, legend=marked.legend_md if marked else ""))
    write_text_atomic(csv_path, csv_table.to_csv(float_format="%.6f"))
    write_text_atomic(tex, to_latex(table, caption=title, marks=marks, legend=marked.legend_tex if marked else ""))
    return [md, csv_path, tex]


def build_reports(
    root: str | Path,
    metric: str = "nDCG@10",
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
        raise InputError("no summary.json found; run rtriever-eval first", path=root)
    target = Path(out_dir) if out_dir is not None else Path(root) / "report"
    texts, files = [], []
    marked_parts = []
    for dataset, part in df.groupby("dataset", sort=True):
        title = f"{metric} ×100 on {dataset} (avg: macro over domains; bold: best per column)"
        stem = f"table_{safe_stem(str(dataset))}_{metric_slug(metric)}"
        marked = None
        if significance is not None:
            marked = significance_table(part, metric, significance, dataset=str(dataset))
            marked_parts.append(marked)
            table = marked.table
        else:
            table = comparison_table(part, metric)
        texts.append(
            to_markdown(
                table,
                title=f"### {title}",
                marks=marked.marks if marked else None,
                legend=marked.legend_md if marked else "",
            )
        )
        files += write_tables(table, target, stem=stem, title=title, marked=marked)
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


def safe_stem(s: str) -> str:
    from rtriever_eval.provenance import safe_component

    return safe_component(s)
