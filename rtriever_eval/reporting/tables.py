"""Comparison tables from results folders: runs x domains (+ macro average), as Markdown, CSV and LaTeX.

Reads only summary.json files; knows nothing about how the numbers were computed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rtriever_eval.data.bright import BRIGHT_DOMAINS
from rtriever_eval.errors import InputError
from rtriever_eval.io import write_text_atomic

AVG = "avg"


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


def _domain_order(domains: Sequence[str]) -> list[str]:
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
    table = table.reindex(columns=_domain_order(list(table.columns)))
    complete = table.notna().all(axis=1)
    table[AVG] = table.mean(axis=1).where(complete)
    table.index.name = "run"
    table.columns.name = None
    return table


def _fmt(v: float, scale: float, digits: int) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * scale:.{digits}f}"


def _best_mask(table: pd.DataFrame) -> pd.DataFrame:
    return table.eq(table.max(axis=0)) & table.notna() & (len(table) > 1)


def to_markdown(table: pd.DataFrame, *, title: str = "", scale: float = 100.0, digits: int = 1) -> str:
    """GitHub Markdown; the best value of each column in bold."""
    best = _best_mask(table)
    header = ["run", *map(str, table.columns)]
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|")
    for i, (label, row) in enumerate(table.iterrows()):
        cells = []
        for c in table.columns:
            s = _fmt(row[c], scale, digits)
            cells.append(f"**{s}**" if s and best.iloc[i][c] else s)
        lines.append("| " + " | ".join([str(label), *cells]) + " |")
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


def to_latex(table: pd.DataFrame, *, caption: str = "", scale: float = 100.0, digits: int = 1) -> str:
    """A booktabs tabular; the best value of each column in bold."""
    best = _best_mask(table)
    cols = "l" + "r" * len(table.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    out.append(" & ".join(["Run", *(_tex_escape(str(c)) for c in table.columns)]) + r" \\")
    out.append(r"\midrule")
    for i, (label, row) in enumerate(table.iterrows()):
        cells = []
        for c in table.columns:
            s = _fmt(row[c], scale, digits)
            cells.append(rf"\textbf{{{s}}}" if s and best.iloc[i][c] else s)
        out.append(" & ".join([_tex_escape(str(label)), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        out.append(rf"\caption{{{_tex_escape(caption)}}}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def metric_slug(metric: str) -> str:
    return metric.replace("@", "_at_").replace("/", "_")


def write_tables(table: pd.DataFrame, out_dir: Path, *, stem: str, title: str) -> list[Path]:
    """Write <stem>.md, <stem>.csv (raw values, full precision) and <stem>.tex; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path, tex = out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}.tex"
    write_text_atomic(md, to_markdown(table, title=title))
    write_text_atomic(csv_path, table.to_csv(float_format="%.6f"))
    write_text_atomic(tex, to_latex(table, caption=title))
    return [md, csv_path, tex]


def build_reports(
    root: str | Path, metric: str = "nDCG@10", out_dir: str | Path | None = None
) -> tuple[str, list[Path]]:
    """All tables of a results folder (one per dataset); returns the Markdown text and the files written."""
    df = collect_summaries(root)
    if df.empty:
        raise InputError("no summary.json found; run rtriever-eval first", path=root)
    target = Path(out_dir) if out_dir is not None else Path(root) / "report"
    texts, files = [], []
    for dataset, part in df.groupby("dataset", sort=True):
        table = comparison_table(part, metric)
        title = f"{metric} ×100 on {dataset} (avg: macro over domains; bold: best per column)"
        texts.append(to_markdown(table, title=f"### {title}"))
        files += write_tables(table, target, stem=f"table_{safe_stem(str(dataset))}_{metric_slug(metric)}", title=title)
    return "\n".join(texts), files


def safe_stem(s: str) -> str:
    from rtriever_eval.provenance import safe_component

    return safe_component(s)
