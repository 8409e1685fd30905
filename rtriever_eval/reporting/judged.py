"""What a comparison's judgments can carry: Judged@10 beside every headline table, and a note naming the (run,
domain) pairs whose Judged@10 differs from the baseline's by more than a threshold, where a difference in the
headline may come from documents no annotator saw, not from quality.

Reads summary frames (collect_summaries) only; knows nothing of how Judged@10 was computed (metrics/judged.py).
"""

from __future__ import annotations

import pandas as pd

from rtriever_eval.results.contract import run_labels
from rtriever_eval.settings.registry import JUDGED

DEFAULT_GAP = 0.1
"""Judged@10 differences above this (10 points) are named: a tenth of the top 10 judged or not."""
TITLE = (f"{JUDGED} ×100 on {{dataset}} (share of each query's top 10 that has a judgment; on BRIGHT, the share "
         "that is gold)")


def has_judged(part: pd.DataFrame) -> bool:
    column = f"metric:{JUDGED}"
    return column in part.columns and bool(part[column].notna().any())


def judged_gaps(part: pd.DataFrame, baseline: str, threshold: float = DEFAULT_GAP) -> list[tuple[str, str, float]]:
    """(run, domain, its Judged@10 minus the baseline's) where the difference exceeds ``threshold``."""
    if not has_judged(part):
        return []
    frame = part.assign(label=run_labels(part))
    values = frame.pivot_table(index="label", columns="domain", values=f"metric:{JUDGED}", aggfunc="first")
    if baseline not in values.index:
        return []
    diffs = values.sub(values.loc[baseline], axis=1).drop(index=baseline)
    out = []
    for run, row in diffs.iterrows():
        for domain, diff in row.items():
            value = float(diff)
            if abs(value) > threshold:
                out.append((str(run), str(domain), value))
    return out


def gap_note(part: pd.DataFrame, baseline: str, threshold: float = DEFAULT_GAP) -> str:
    """One paragraph naming the gaps, "" when there are none."""
    gaps = judged_gaps(part, baseline, threshold)
    if not gaps:
        return ""
    shown = ", ".join(f"{run}/{domain} ({diff * 100:+.0f})" for run, domain, diff in gaps[:12])
    more = f" and {len(gaps) - 12} more" if len(gaps) > 12 else ""
    return (f"Judged@10 differs from {baseline}'s by more than {threshold * 100:g} points in {shown}{more}: there, "
            "a difference may come from documents no annotator judged (judgment holes), not from quality.")
