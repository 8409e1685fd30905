"""Renderers of comparison tables: Markdown and LaTeX from one shared cell loop (best per column in bold,
significance marks), and the .md/.csv/.tex files of one table.

Knows tables as frames and their marks; nothing of results folders or how the values were computed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from rtriever_eval.base.io import write_text_atomic
from rtriever_eval.settings.registry import headline_of

BETTER, WORSE = "better", "worse"
MARKS_MD = {BETTER: "†", WORSE: "‡"}
MARKS_TEX = {BETTER: r"$^{\dagger}$", WORSE: r"$^{\ddagger}$"}


def table_metric(part: pd.DataFrame, metric: str | None) -> str:
    """The metric a dataset's table shows: the one asked for, else its track's headline (R@1 on the long track)."""
    if metric:
        return metric
    tracks = part["track"].astype(str).tolist() if "track" in part.columns else []
    return headline_of(tracks)


def subset_note(part: pd.DataFrame) -> str:
    """A line naming the runs evaluated on a candidate subset ("" when none is): their scores are higher than on
    the full corpus, fit for catching regressions, not for papers."""
    if "subset" not in part.columns:
        return ""
    marked = part[part["subset"].astype(str) != ""]
    if marked.empty:
        return ""
    runs = ", ".join(sorted({str(r) for r in marked["run"]}))
    return (
        f"Subset runs ({runs}): evaluated on a candidate subset of the corpus (gold + first-stage top-N), so their "
        "scores are higher than on the full corpus; use them to catch regressions, never in papers."
    )


OVERLAP_MARK = "⚠"


def mark_overlap(table: pd.DataFrame, part: pd.DataFrame, labels: pd.Series) -> tuple[pd.DataFrame, str]:
    """The table with ⚠ after each run whose model was trained on data overlapping the benchmark, and the
    legend line for it ("" when no run is marked)."""
    if "overlap" not in part.columns:
        return table, ""
    marked = {str(label) for label, note in zip(labels, part["overlap"], strict=True) if str(note)}
    if not marked:
        return table, ""
    renamed = table.rename(index=lambda label: f"{label} {OVERLAP_MARK}" if str(label) in marked else label)
    return renamed, f"{OVERLAP_MARK}: the model was trained on data overlapping this benchmark's corpora (model facts)."


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


def _cells(
    table: pd.DataFrame, marks: pd.DataFrame | None, scale: float, digits: int, bold: str, symbols: dict[str, str]
) -> list[tuple[str, list[str]]]:
    """(row label, formatted cells) per row: the best value of each column wrapped in ``bold`` (a format with
    one ``{}``), then its significance mark; the one loop both renderers share."""
    best = _best_mask(table)
    rows = []
    for i, (label, row) in enumerate(table.iterrows()):
        cells = []
        for j, c in enumerate(table.columns):
            s = _fmt(row[c], scale, digits)
            if s:
                s = (bold.format(s) if best.iloc[i][c] else s) + _mark(marks, i, j, symbols)
            cells.append(s)
        rows.append((str(label), cells))
    return rows


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
    header = ["run", *map(str, table.columns)]
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|")
    for label, cells in _cells(table, marks, scale, digits, "**{}**", MARKS_MD):
        lines.append("| " + " | ".join([label, *cells]) + " |")
    if legend:
        lines += ["", legend]
    return "\n".join(lines) + "\n"


def tex_escape(s: str) -> str:
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
    cols = "l" + "r" * len(table.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    out.append(" & ".join(["Run", *(tex_escape(str(c)) for c in table.columns)]) + r" \\")
    out.append(r"\midrule")
    for label, cells in _cells(table, marks, scale, digits, r"\textbf{{{}}}", MARKS_TEX):
        out.append(" & ".join([tex_escape(label), *cells]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    text = ". ".join(t for t in (tex_escape(caption), legend) if t)
    if text:
        out.append(rf"\caption{{{text}}}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def metric_slug(metric: str) -> str:
    return metric.replace("@", "_at_").replace("/", "_")


def write_tables(
    table: pd.DataFrame,
    out_dir: Path,
    *,
    stem: str,
    title: str,
    marks: pd.DataFrame | None = None,
    intervals: pd.DataFrame | None = None,
    legend_md: str = "",
    legend_tex: str = "",
) -> list[Path]:
    """Write <stem>.md, <stem>.csv (raw values, full precision) and <stem>.tex; returns the paths.

    With `marks`, Markdown and LaTeX carry the significance marks and legends; with `intervals` the CSV carries
    the bootstrap intervals.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path, tex = out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}.tex"
    csv_table = with_intervals(table, intervals) if intervals is not None else table
    write_text_atomic(md, to_markdown(table, title=title, marks=marks, legend=legend_md))
    write_text_atomic(csv_path, csv_table.to_csv(float_format="%.6f"))
    write_text_atomic(tex, to_latex(table, caption=title, marks=marks, legend=legend_tex))
    return [md, csv_path, tex]
