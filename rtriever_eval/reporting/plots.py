"""Figures from results frames: per-domain grouped bars (with intervals), ablation deltas vs a baseline, recall@k.

Builders take frames from tables.collect_summaries and return matplotlib Figures on the Agg canvas, without
touching pyplot's global state or the disk; write_plots, at the end, is the one function that saves files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.reporting.render import metric_slug, table_metric
from rtriever_eval.reporting.tables import AVG, comparison_table
from rtriever_eval.results.contract import run_labels

log = logging.getLogger(__name__)

SCALE = 100.0
RECALL_KS = (10, 100, 1000)


def _new_figure(n_groups: int, n_series: int) -> Figure:
    width = min(16.0, max(6.0, 0.35 * n_groups * max(n_series, 2) + 2.5))
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _legend(ax: Axes, n: int) -> None:
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncol=min(n, 3),
        fontsize="small",
        frameon=False,
    )


def _colors(n: int) -> list[str]:
    """Matplotlib's "CN" specs: the n first colours of the active property cycle (wrapping)."""
    return [f"C{i}" for i in range(n)]


def _grouped_bars(
    ax: Axes,
    table: pd.DataFrame,
    errors: dict[str, np.ndarray] | None = None,
    colors: Sequence[str] | None = None,
) -> None:
    """One bar container per row of `table` (a series), one group per column; values already scaled."""
    n_series, n_groups = table.shape
    colors = list(colors) if colors is not None else _colors(n_series)
    x = np.arange(n_groups, dtype=float)
    width = 0.8 / max(n_series, 1)
    for i, (label, row) in enumerate(table.iterrows()):
        offset = (i - (n_series - 1) / 2) * width
        yerr = errors.get(str(label)) if errors else None
        ax.bar(
            x + offset,
            row.to_numpy(dtype=float),
            width,
            label=str(label),
            color=colors[i],
            yerr=yerr,
            capsize=2 if yerr is not None else 0,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(x, [str(c) for c in table.columns], rotation=30, ha="right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _interval_errors(
    df: pd.DataFrame, table: pd.DataFrame, intervals: pd.DataFrame | None
) -> dict[str, np.ndarray] | None:
    """Asymmetric error-bar lengths (2 x n_groups, scaled) per run, from lo/hi columns or a wide intervals frame."""
    lo = pd.DataFrame(np.nan, index=table.index, columns=table.columns)
    hi = lo.copy()
    found = False
    if {"lo", "hi"} <= set(df.columns):
        frame = df.assign(label=run_labels(df)).drop_duplicates(["label", "domain"])
        for label, domain, a, b in frame[["label", "domain", "lo", "hi"]].itertuples(index=False):
            if label in lo.index and domain in lo.columns:
                lo.loc[label, domain], hi.loc[label, domain] = float(a), float(b)
                found = True
    if intervals is not None:
        for label in table.index:
            if label not in intervals.index:
                continue
            for c in table.columns:
                if f"{c}_lo" in intervals.columns and f"{c}_hi" in intervals.columns:
                    lo.loc[label, c] = float(intervals.loc[label, f"{c}_lo"])
                    hi.loc[label, c] = float(intervals.loc[label, f"{c}_hi"])
                    found = True
    if not found:
        return None
    values = table.to_numpy(dtype=float)
    below = np.clip(values - lo.to_numpy(dtype=float), 0, None)
    above = np.clip(hi.to_numpy(dtype=float) - values, 0, None)
    below, above = np.nan_to_num(below * SCALE), np.nan_to_num(above * SCALE)
    return {str(label): np.vstack([below[i], above[i]]) for i, label in enumerate(table.index)}


def per_domain_bars(
    df: pd.DataFrame,
    metric: str = "nDCG@10",
    *,
    intervals: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """Grouped bars: one group per domain (then avg, for runs that have every domain), one bar per run.

    Error bars come from `lo`/`hi` columns of `df` (raw metric values, one per run x domain) when present, or from
    `intervals` (rows = run labels, columns `<domain>_lo`/`<domain>_hi`, as tables.significance_table gives them).
    """
    table = comparison_table(df, metric)
    if table[AVG].isna().all():
        table = table.drop(columns=AVG)
    errors = _interval_errors(df, table, intervals)
    fig = _new_figure(table.shape[1], table.shape[0])
    ax = fig.add_subplot()
    _grouped_bars(ax, table * SCALE, errors)
    ax.set_ylabel(f"{metric} ×100")
    ax.set_ylim(bottom=0)
    datasets = ", ".join(sorted(set(df["dataset"].astype(str))))
    ax.set_title(title or f"{metric} per domain on {datasets}" + (" (error bars: intervals)" if errors else ""))
    _legend(ax, table.shape[0])
    return fig


def ablation_deltas(
    df: pd.DataFrame,
    baseline: str,
    metric: str = "nDCG@10",
    *,
    title: str | None = None,
) -> Figure:
    """Bars of (run − baseline) per domain (and avg when both are complete), one bar container per other run."""
    table = comparison_table(df, metric)
    labels = [str(x) for x in table.index]
    if baseline not in labels:
        raise InputError(f"baseline run {baseline!r} not found; runs: {', '.join(labels)}", field="baseline")
    others = [label for label in labels if label != baseline]
    if not others:
        raise InputError(f"only the baseline run {baseline!r} is present: nothing to compare", field="baseline")
    deltas = table.loc[others].sub(table.loc[baseline], axis=1)
    deltas = deltas.loc[:, deltas.notna().any(axis=0)]
    fig = _new_figure(deltas.shape[1], deltas.shape[0])
    ax = fig.add_subplot()
    palette = _colors(len(labels))  # each run keeps the colour it has in the per-domain bars
    _grouped_bars(ax, deltas * SCALE, colors=[palette[labels.index(label)] for label in others])
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel(f"Δ {metric} ×100 (run − {baseline})")
    ax.set_title(title or f"{metric}: change against {baseline}")
    _legend(ax, len(others))
    return fig


def _recall_ks(df: pd.DataFrame) -> list[int]:
    ks = []
    for c in df.columns:
        m = re.fullmatch(r"metric:R@(\d+)", str(c))
        if m:
            ks.append(int(m.group(1)))
    return sorted(ks)


def recall_curves(
    df: pd.DataFrame,
    ks: Sequence[int] | None = None,
    *,
    domain: str | None = None,
    title: str | None = None,
) -> Figure:
    """Recall@k against k (log axis), one line per run: the macro average over the domains every run has
    (or one `domain`, leaving out runs without it), so that every point of every line averages the same domains."""
    available = _recall_ks(df)
    chosen = [int(k) for k in (ks if ks is not None else [k for k in RECALL_KS if k in available] or available)]
    missing = [k for k in chosen if k not in available]
    if not chosen or missing:
        wanted = ", ".join(f"R@{k}" for k in missing) or "R@k"
        raise InputError(
            f"{wanted} not in the results; available: {', '.join(f'R@{k}' for k in available) or 'none'}",
            field="metric",
        )
    tables = {k: comparison_table(df, f"R@{k}").drop(columns=AVG) for k in chosen}
    first = tables[chosen[0]]
    if domain is not None:
        if domain not in first.columns:
            raise InputError(f"domain {domain!r} not in the results; domains: {', '.join(first.columns)}")
        domains = [domain]
    else:
        domains = [d for d in first.columns if all(t[d].notna().all() for t in tables.values())]
    if not domains:
        raise InputError("no domain is shared by every run: recall curves would average different domains")
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [label for label in first.index if all(t.loc[label, domains].notna().all() for t in tables.values())]
    for label in labels:
        ys = [float(tables[k].loc[label, domains].mean()) * SCALE for k in chosen]
        ax.plot(chosen, ys, marker="o", label=str(label))
    ax.set_xscale("log")
    ax.set_xticks(chosen, [str(k) for k in chosen])
    ax.minorticks_off()
    ax.set_xlabel("k (documents retrieved)")
    ax.set_ylabel("Recall@k ×100")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    where = domain if domain is not None else f"macro average over {len(domains)} domain(s)"
    ax.set_title(title or f"Recall@k ({where})")
    _legend(ax, len(labels))
    return fig


def _save(fig: Figure, path_stem: Path) -> list[Path]:
    from rtriever_eval.base.io import atomic_open

    out = []
    for fmt, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        path = path_stem.with_suffix(f".{fmt}")
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=150, metadata=meta)
        out.append(path)
    return out


def write_plots(
    df: pd.DataFrame,
    out_dir: str | Path,
    *,
    metric: str | None = None,
    baseline: str | None = None,
) -> list[Path]:
    """Save every figure of a results frame, per dataset, as PNG and PDF in `out_dir`; returns the paths.

    bars_<dataset>_<metric>, deltas_<dataset>_<metric> (with two runs or more; against `baseline` when that run
    is in the dataset, else the first run of the table) and recall_<dataset> (when R@k metrics exist).
    """
    out = Path(out_dir)
    files: list[Path] = []
    asked = metric
    for dataset, part in df.groupby("dataset", sort=True):
        metric = table_metric(part, asked)
        tag = f"{safe_component(str(dataset))}_{metric_slug(metric)}"
        files += _save(per_domain_bars(part, metric), out / f"bars_{tag}")
        labels = [str(x) for x in comparison_table(part, metric).index]
        if len(labels) > 1:
            base = baseline if baseline in labels else labels[0]
            files += _save(ablation_deltas(part, base, metric), out / f"deltas_{tag}")
        if _recall_ks(part):
            try:
                fig = recall_curves(part)
            except InputError as exc:
                log.warning("no recall plot for %s: %s", dataset, exc)
            else:
                files += _save(fig, out / f"recall_{safe_component(str(dataset))}")
    return files
