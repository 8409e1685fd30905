"""What the results of a folder cost: one row per run and domain from each summary's cost record (tokens encoded and
found cached, encoder and wall seconds, device-hours, device, peak memory, cache bytes written, reranker pairs), the
totals per run, and effectiveness against cost across runs as Pareto plots (headline metric vs device-hours, and
vs the tokens the result needed).

Reads summaries through the results contract; knows nothing of how a cost was measured (job/cost.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import atomic_open, write_text_atomic
from rtriever_eval.results.contract import SUMMARY_FILE, iter_summary_paths, read_summary
from rtriever_eval.settings.registry import headline_of

COLUMNS = ["run", "dataset", "domain", "tokens_encoded", "tokens_cached", "encoder_s", "wall_s", "device_hours",
           "device", "peak_rss_mb", "peak_gpu_mb", "cache_mb_written", "pairs_scored"]  # fmt: skip


def _tokens(cost: dict[str, Any], key: str) -> float:
    values = [side.get(key) for side in cost.get("tokens", {}).values()]
    return math.nan if not values or any(v is None for v in values) else float(sum(values))  # nan: none, unknown


def cost_frame(root: str | Path) -> pd.DataFrame:
    """One row per summary below ``root`` that records a cost (older summaries, without one, are left out)."""
    rows = []
    for path in iter_summary_paths(root):
        s = read_summary(path)
        c = s.cost
        if not c:
            continue
        rows.append({
            "run": s.run_label, "dataset": s.dataset, "domain": s.domain, "track": s.track,
            "headline": s.metrics.get(headline_of([s.track])),
            "tokens_encoded": _tokens(c, "encoded"), "tokens_cached": _tokens(c, "cached"),
            "encoder_s": c.get("encoder_forward_s"), "wall_s": c.get("wall_s", {}).get("total_s"),
            "device_hours": c.get("device_hours"),
            "device": f"{c['device']['count']} x {c['device']['kind']}",
            "peak_rss_mb": c.get("peak_memory_mb", {}).get("rss"),
            "peak_gpu_mb": c.get("peak_memory_mb", {}).get("gpu_allocated"),
            "cache_mb_written": round(c.get("cache_bytes_written", 0) / 2**20, 3),
            "pairs_scored": c.get("pairs_scored"),
        })  # fmt: skip
    if not rows:
        raise InputError(f"no {SUMMARY_FILE} below this folder records a cost (results written before costs were "
                         "recorded: rerun them with overwrite=true)", path=root)  # fmt: skip
    return pd.DataFrame(rows)


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run and dataset: summed tokens, seconds, device-hours, cache bytes; the largest peak; the mean headline."""
    grouped = frame.groupby(["run", "dataset"], sort=True)
    out = grouped[["tokens_encoded", "tokens_cached", "encoder_s", "wall_s", "device_hours", "cache_mb_written"]].sum(
        min_count=1)  # fmt: skip
    out["peak_rss_mb"] = grouped["peak_rss_mb"].max()
    out["headline"] = grouped["headline"].mean()
    out["domains"] = grouped.size()
    return out.reset_index()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 10 else f"{value:,.4f}"
    return str(value)


def cost_markdown(frame: pd.DataFrame) -> str:
    """Per run, a table of its domains' costs, then one line of totals."""
    lines = []
    for (run, dataset), part in frame.groupby(["run", "dataset"], sort=True):
        lines += [f"### Cost of {run} on {dataset}", "", "| " + " | ".join(COLUMNS[2:]) + " |",
                  "|" + "---|" * len(COLUMNS[2:])]  # fmt: skip
        lines += ["| " + " | ".join(_cell(row[c]) for c in COLUMNS[2:]) + " |" for _, row in part.iterrows()]
        t = totals(part).iloc[0]
        lines += ["", f"Total: {_cell(t['tokens_encoded'])} tokens encoded, {_cell(t['tokens_cached'])} found cached, "
                      f"{_cell(t['encoder_s'])} s in the encoder, {_cell(t['wall_s'])} s wall, "
                      f"{_cell(t['device_hours'])} device-hours.", ""]  # fmt: skip
    lines.append("Tokens are model input tokens (prompt and special tokens included, after truncation); wall seconds "
                 "and device-hours are what this run spent (cached encodings cost nothing again); peak RSS is the "
                 "process's peak so far.")  # fmt: skip
    return "\n".join(lines) + "\n"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both (lower cost, higher score)."""
    return [i for i, (c, s) in enumerate(points)
            if not any((c2 <= c and s2 >= s) and (c2 < c or s2 > s) for c2, s2 in points)]  # fmt: skip


def pareto_figure(frame: pd.DataFrame) -> Any:
    """Headline metric (mean over domains) against device-hours and against the tokens the result needed, one point
    per run and dataset, the Pareto front joined."""
    import matplotlib.pyplot as plt

    t = totals(frame)
    t["tokens_needed"] = t["tokens_encoded"] + t["tokens_cached"]  # unknown (NaN) when either is
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, column, label in ((axes[0], "device_hours", "device-hours spent"),
                              (axes[1], "tokens_needed", "model input tokens needed (encoded + cached)")):  # fmt: skip
        known = t[t[column].notna() & t["headline"].notna()]  # a run whose cost is unknown is left out, and named
        points = [(float(x), float(y) * 100) for x, y in zip(known[column], known["headline"], strict=True)]
        ax.scatter([p[0] for p in points], [p[1] for p in points], color="#4C72B0")
        left = sorted(set(t["run"]) - set(known["run"]))
        if left:
            ax.set_title(f"not shown (cost unknown): {', '.join(map(str, left))}", fontsize=8)
        for (x, y), name in zip(points, known["run"], strict=True):
            ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = sorted((points[i] for i in pareto_front(points)), key=lambda p: p[0])
        ax.plot([p[0] for p in front], [p[1] for p in front], color="#DD8452", linestyle="--", label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("headline metric ×100 (mean over domains)")
        ax.legend(loc="lower right", fontsize=8)
    return fig


def write_cost(root: str | Path, out_dir: str | Path, *, plots: bool = True) -> tuple[str, list[Path]]:
    """cost.md, cost.csv (every row, full precision) and, with ``plots``, cost_pareto.png; returns the Markdown."""
    frame = cost_frame(root)
    text = cost_markdown(frame)
    out = Path(out_dir)
    files = [out / "cost.md", out / "cost.csv"]
    write_text_atomic(files[0], text)
    write_text_atomic(files[1], frame.to_csv(index=False))
    if plots:
        fig = pareto_figure(frame)
        files.append(out / "cost_pareto.png")
        with atomic_open(files[-1], "wb") as fh:
            fig.savefig(fh, format="png", dpi=110, metadata={"Software": None})
    return text, files
