"""`report.html`: one self-contained page (inline CSS and JS, figures as data: URIs, no network) with the model
facts, the comparison tables per dataset and metric, the per-domain figures and a per-query explorer.

Reads a results tree through results/contract.py (summaries, runs, per-query values, snippets); knows nothing of how the
numbers were computed. The explorer's data is one JSON block the page's script renders.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import write_text_atomic
from rtriever_eval.base.trec import ranked
from rtriever_eval.reporting.html_assets import CSS, SCRIPT
from rtriever_eval.reporting.judged import gap_note
from rtriever_eval.reporting.render import OVERLAP_MARK, subset_note, table_metric
from rtriever_eval.reporting.tables import SignificanceOptions, comparison_table, significance_table
from rtriever_eval.results.contract import (
    collect_summaries,
    read_domain_run,
    read_per_query,
    read_snippets,
    read_summary,
)
from rtriever_eval.results.contract import run_labels as labels_of
from rtriever_eval.settings.registry import display_order

REPORT_FILE = "report.html"

TOP = 10


def _fmt(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 100:.1f}"


def _table_html(table: pd.DataFrame, marks: pd.DataFrame | None, overlap: set[str]) -> str:
    best = table.max(axis=0)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for i, (label, row) in enumerate(table.iterrows()):
        name = html.escape(str(label)) + (f' <span class="warn" title="training data overlaps this benchmark">'
                                          f"{OVERLAP_MARK}</span>" if str(label) in overlap else "")  # fmt: skip
        cells = []
        for j, (_col, value) in enumerate(row.items()):
            text = _fmt(float(value))
            if text and len(table) > 1 and float(value) == float(best.iloc[j]):
                text = f"<b>{text}</b>"
            mark = str(marks.iat[i, j]) if marks is not None and j < marks.shape[1] else ""
            text += {"better": "†", "worse": "‡"}.get(mark, "")
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr><th>{name}</th>{''.join(cells)}</tr>")
    return f'<table class="cmp"><thead><tr><th>run</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _figure(part: pd.DataFrame, metric: str) -> str:
    from rtriever_eval.reporting.plots import per_domain_bars

    return _image(per_domain_bars(part, metric), f"{metric} per domain")


def _image(fig: Any, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _domain_entry(frame: pd.DataFrame) -> dict[str, Any]:
    """The explorer's data for one (dataset, domain): queries, gold, snippets, and per run its top 10, rank of the
    first gold document and per-query metrics."""
    entry: dict[str, Any] = {"queries": {}, "gold": {}, "docs": {}, "runs": {}}
    for label, folder in zip(frame["label"], frame["path"], strict=True):
        summary = read_summary(Path(folder) / "summary.json")
        snippets = read_snippets(folder, summary) or {}
        entry["queries"].update(snippets.get("queries", {}))
        entry["gold"].update(snippets.get("gold", {}))
        entry["docs"].update(snippets.get("documents", {}))
        run = read_domain_run(folder, summary)
        per_query = read_per_query(folder, summary)
        top, first = {}, {}
        for qid, scores in run.items():
            ranking = ranked(scores)
            top[qid] = [[d, round(s, 6)] for d, s in ranking[:TOP]]
            gold = set(entry["gold"].get(qid, []))
            first[qid] = next((i + 1 for i, (d, _) in enumerate(ranking) if d in gold), None)
        entry["runs"][str(label)] = {
            "query_prompt": summary.query_prompt,
            "document_prompt": summary.document_prompt,
            "top": top,
            "first_gold": first,
            "metrics": {str(q): {m: round(float(v), 6) for m, v in row.items()} for q, row in per_query.iterrows()},
        }
        for qid in per_query.index:
            entry["queries"].setdefault(str(qid), "")
    return entry


def _cost_cell(cost: dict[str, float]) -> str:
    if not cost:
        return "not recorded"
    known = cost.get("tokens") and not math.isnan(cost["tokens"])
    tokens = f", {cost['tokens']:,.0f} tokens" if known else ""
    return f"{cost['device_hours']:.4f} device-h{tokens}"


def _facts_html(facts: dict[str, dict[str, Any]], costs: dict[str, dict[str, float]]) -> str:
    rows = []
    for label, f in facts.items():
        native = f"{f.get('max_tokens') or ''}"
        run_max = f" (run: {f['run_max_tokens']})" if f.get("run_max_tokens") else ""
        params = f.get("parameters")
        shown = "" if params is None else ("0 (lexical)" if params == 0 else f"{params / 1e9:.2f}B" if params >= 1e9
                                           else f"{params / 1e6:.1f}M")  # fmt: skip
        overlap = f.get("training_data_overlap")
        mark = f'<span class="warn">{OVERLAP_MARK}</span> {html.escape(str(overlap))}' if overlap else "none reported"
        rows.append(
            "<tr>" + "".join(f"<td>{c}</td>" for c in (
                html.escape(label), html.escape(str(f.get("similarity") or "")), shown,
                html.escape(native + run_max),
                html.escape(str(f.get("embedding_dim") or f.get("embedding_dim_measured") or "")), mark,
                html.escape(_cost_cell(costs.get(label, {}))),
            )) + "</tr>"
        )  # fmt: skip
    head = "".join(
        f"<th>{c}</th>" for c in ("run", "similarity", "parameters", "max tokens", "dim", "training data overlap",
                                  "cost (all domains)")
    )
    return f'<table class="facts"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _costs(root: str | Path, plots: bool) -> tuple[dict[str, dict[str, float]], str]:
    """Per run label, its device-hours and tokens needed over every domain; and the Pareto figure across runs."""
    from rtriever_eval.reporting.cost import cost_frame, pareto_figure

    try:
        frame = cost_frame(root)
    except InputError:  # results older than cost records
        return {}, ""
    sums = frame.groupby("run")[["device_hours", "tokens_encoded", "tokens_cached"]].sum(min_count=1)
    costs = {str(run): {"device_hours": float(row["device_hours"]),
                        "tokens": float(row["tokens_encoded"] + row["tokens_cached"])}  # NaN when unknown
             for run, row in sums.iterrows()}  # fmt: skip
    figure = _image(pareto_figure(frame), "effectiveness against cost across runs") if plots and len(sums) > 1 else ""
    return costs, f"<h2>Effectiveness against cost</h2>{figure}" if figure else ""


def build_html(
    root: str | Path, *, metric: str | None = None, significance: SignificanceOptions | None = None, plots: bool = True
) -> str:
    """The whole page for the results below ``root``."""
    df = collect_summaries(root)
    if df.empty:
        raise InputError("no summary.json found; run rtriever-eval first", path=root)
    df = df.assign(label=labels_of(df))
    facts: dict[str, dict[str, Any]] = {}
    for label, path in zip(df["label"], df["path"], strict=True):
        facts.setdefault(str(label), read_summary(Path(path) / "summary.json").model_facts)
    overlap = {label for label, f in facts.items() if f.get("training_data_overlap")}
    costs, pareto = _costs(root, plots)
    sections, explorer = [], {}
    for dataset, part in df.groupby("dataset", sort=True):
        headline = table_metric(part, metric)
        others = sorted(
            c.removeprefix("metric:") for c in part.columns
            if c.startswith("metric:") and part[c].notna().any() and c != f"metric:{headline}"
        )  # fmt: skip
        metrics = [headline, *others]
        blocks = []
        for m in metrics:
            marked = significance_table(part, m, significance, dataset=str(dataset)) if significance else None
            table = marked.table if marked else comparison_table(part, m)
            legend = html.escape(marked.legend_md) if marked else ""
            hidden = "" if m == headline else " hidden"
            rendered = _table_html(table, marked.marks if marked else None, overlap)
            blocks.append(f'<div class="metric" data-metric="{html.escape(m)}"{hidden}>{rendered}'
                          f"<p class=legend>{legend}</p></div>")  # fmt: skip
        options = "".join(f"<option>{html.escape(m)}</option>" for m in metrics)
        note = " ".join(x for x in (subset_note(part), gap_note(part, significance.baseline,
                                                                 significance.judged_gap) if significance else "") if x)
        figure = _figure(part, headline) if plots else ""
        sections.append(
            f'<section class="dataset" id="ds-{html.escape(str(dataset))}"><h2>{html.escape(str(dataset))}</h2>'
            f'<label>metric <select class="metric-pick">{options}</select></label> <span class=muted>×100; avg: '
            f"macro over domains; bold: best per column</span>{''.join(blocks)}"
            f"{f'<p class=note>{html.escape(note)}</p>' if note else ''}{figure}</section>"
        )
        explorer[str(dataset)] = {
            "metric": headline,
            "domains": {
                str(domain): _domain_entry(part[part["domain"] == domain])
                for domain in display_order(part["domain"].astype(str).tolist())
            },
        }
    data = {"runs": sorted(facts), "facts": facts, "datasets": explorer}
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    legend = (f'<p class=note><span class="warn">{OVERLAP_MARK}</span>: the model was trained on data that overlaps '
              "the benchmark's corpora (see the model facts)</p>") if overlap else ""  # fmt: skip
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>rtriever-eval report</title>"
        f"<style>{CSS}</style></head><body><h1>rtriever-eval report</h1>"
        f"<p class=muted>{html.escape(str(root))}: {len(df)} domain results, {len(facts)} runs</p>"
        f"<h2>Models</h2>{_facts_html(facts, costs)}{legend}{pareto}{''.join(sections)}"
        '<section id="explorer"><h2>Per-query explorer</h2><div id="controls"></div><div id="view"></div></section>'
        f'<script type="application/json" id="report-data">{payload}</script><script>{SCRIPT}</script></body></html>'
    )


def write_html(root: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Write ``out_dir``/report.html; returns its path."""
    path = Path(out_dir) / REPORT_FILE
    write_text_atomic(path, build_html(root, **options))
    return path
