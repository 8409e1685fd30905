"""Published reference numbers (BRIGHT paper, Anserini, third-party runs) as data, and reproduced-vs-reported tables.

Reads the TSV files under references/ and summary frames from tables.collect_summaries; knows nothing about how
either set of numbers was computed, and never decides which run "is" a reference model: the caller picks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.io import write_text_atomic
from rtriever_eval.settings.registry import BRIGHT_DOMAINS, STACKEXCHANGE

log = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).resolve().parent / "references"
SCALE = 100.0
"""Reference values are printed ×100 (nDCG@10 of 18.9 = 0.189); results hold raw values."""
DEFAULT_TOLERANCE = 1.0
"""Largest |reproduced − reported| (in ×100 points) not flagged: the sources print one decimal, and a faithful
reproduction on another software stack moves BRIGHT domains by a few tenths."""
AVG = "avg"
AVG_SPANS: dict[str, tuple[str, ...]] = {"all": BRIGHT_DOMAINS, "stackexchange": STACKEXCHANGE}
META_COLUMNS = ("name", "model", "dataset", "queries", "metric", "avg_over", "source", "note", "data_revision")
COMPARE_COLUMNS = ["run", "dataset", "domain", "reported", "reproduced", "delta", "beyond_tolerance"]

_ALIASES = {
    "bio": "biology",
    "earth": "earth_science",
    "econ": "economics",
    "psy": "psychology",
    "psych": "psychology",
    "rob": "robotics",
    "stack": "stackoverflow",
    "stack_overflow": "stackoverflow",
    "sus": "sustainable_living",
    "leet": "leetcode",
    "theoq": "theoremqa_questions",
    "theoremqa_q": "theoremqa_questions",
    "theot": "theoremqa_theorems",
    "theoremqa_t": "theoremqa_theorems",
}


def normalise_domain(name: str) -> str | None:
    """BRIGHT's key for a domain heading ("bio", "Earth Science", "theoQ", "earth_science"); None if not one."""
    key = "_".join(name.strip().rstrip(".").lower().replace("-", " ").split())
    if key in BRIGHT_DOMAINS:
        return key
    return _ALIASES.get(key)


def _parse_value(text: object, path: Path, line: int, column: str) -> float:
    if text is None or (isinstance(text, float) and math.isnan(text)) or str(text).strip() == "":
        return math.nan
    try:
        return float(str(text))
    except ValueError:
        raise InputError(f"not a number: {text!r}", path=path, line=line, field=column) from None


def _load_file(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    domain_cols: dict[str, str] = {}
    for col in raw.columns:
        if col in META_COLUMNS or col == AVG:
            continue
        key = normalise_domain(str(col))
        if key is None:
            raise InputError(
                f"unknown column {col!r}: expected {', '.join(META_COLUMNS)}, {AVG} or a BRIGHT domain",
                path=path,
                line=1,
                field=str(col),
            )
        if key in domain_cols.values():
            raise InputError(f"domain {key!r} appears twice", path=path, line=1, field=str(col))
        domain_cols[str(col)] = key
    missing = [c for c in (*META_COLUMNS, AVG) if c not in raw.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path, line=1)
    rows = []
    for i, rec in enumerate(raw.to_dict("records"), start=2):
        row: dict[str, object] = {c: str(rec[c]).strip() for c in META_COLUMNS}
        if not row["name"]:
            raise InputError("empty name", path=path, line=i, field="name")
        if row["avg_over"] not in AVG_SPANS:
            raise InputError(
                f"avg_over must be one of {', '.join(AVG_SPANS)}, not {row['avg_over']!r}",
                path=path,
                line=i,
                field="avg_over",
            )
        for col, key in domain_cols.items():
            row[key] = _parse_value(rec[col], path, i, col)
        row[AVG] = _parse_value(rec[AVG], path, i, AVG)
        row["table"] = path.stem
        rows.append(row)
    return pd.DataFrame(rows)


def load_references(folder: str | Path | None = None) -> pd.DataFrame:
    """Every reference row of every TSV in `folder` (default: the shipped ones), indexed by name.

    Columns: model, dataset, queries, metric, the 12 BRIGHT domain keys (NaN = not reported), avg, avg_over,
    source, note, data_revision (which release of the data the numbers were computed on), table (the file).
    Values are as printed by the source (×100).
    """
    base = Path(folder) if folder is not None else REFERENCE_DIR
    files = sorted(base.glob("*.tsv"))
    if not files:
        raise InputError("no reference files (*.tsv)", path=base)
    frames = [_load_file(p) for p in files]
    df = pd.concat(frames, ignore_index=True)
    dupes = sorted(set(df.loc[df["name"].duplicated(), "name"]))
    if dupes:
        raise InputError(f"reference name(s) defined twice: {', '.join(dupes)}", path=base, field="name")
    df = df.set_index("name")
    order = [
        "model",
        "dataset",
        "queries",
        "metric",
        *BRIGHT_DOMAINS,
        AVG,
        "avg_over",
        "source",
        "note",
        "data_revision",
        "table",
    ]
    return df.reindex(columns=order)


def reference_names(references: pd.DataFrame | None = None) -> list[str]:
    refs = references if references is not None else load_references()
    return [str(n) for n in refs.index]


def get_reference(name: str, references: pd.DataFrame | None = None) -> pd.Series:
    """One reference row; an unknown name raises InputError listing the valid ones."""
    refs = references if references is not None else load_references()
    if name not in refs.index:
        raise InputError(
            f"unknown reference {name!r}; valid references: {', '.join(reference_names(refs))}",
            field="compare-to",
        )
    row = refs.loc[name]
    if not isinstance(row, pd.Series):  # load_references guarantees unique names; a hand-made frame may not
        raise InputError(f"reference {name!r} is defined more than once", field="compare-to")
    return row


def reference_domains(row: pd.Series) -> list[str]:
    """The domains with a reported value, in BRIGHT's order."""
    return [d for d in BRIGHT_DOMAINS if not math.isnan(float(row[d]))]


def compare(
    results: pd.DataFrame,
    reference: str,
    metric: str = "nDCG@10",
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    runs: Sequence[str] | None = None,
    references: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reproduced vs reported, one row per (run, domain) the reference reports, then one `avg` row per run.

    Args:
        results: a frame from tables.collect_summaries (raw metric values in `metric:<name>` columns).
        reference: a reference name (see reference_names()).
        metric: must be the reference's metric.
        tolerance: largest |delta| in ×100 points that is not flagged.
        runs: run labels to keep (default all).
        references: reference rows (default the shipped ones).

    Returns:
        Columns run, dataset, domain, reported, reproduced (both ×100), delta (reproduced − reported) and
        beyond_tolerance. A run's avg is its mean over the domains the reference's average spans, and NaN
        (never flagged) when the run lacks any of them; domains the run lacks are left out.
    """
    from rtriever_eval.results.contract import run_labels

    if tolerance < 0 or math.isnan(tolerance):
        raise InputError(f"tolerance must be >= 0, not {tolerance}", field="tolerance")
    ref = get_reference(reference, references)
    if str(ref["metric"]) != metric:
        raise InputError(
            f"reference {reference!r} reports {ref['metric']}, not {metric}; use --metric {ref['metric']}",
            field="metric",
        )
    col = f"metric:{metric}"
    if results.empty or col not in results.columns:
        raise InputError(f"metric {metric!r} not found in the results", field="metric")
    frame = results.assign(label=run_labels(results))
    if runs is not None:
        unknown = sorted(set(runs) - set(frame["label"]))
        if unknown:
            raise InputError(
                f"run(s) {', '.join(unknown)} not in the results; runs: {', '.join(sorted(set(frame['label'])))}",
                field="runs",
            )
        frame = frame[frame["label"].isin(list(runs))]
    mismatched = sorted(set(frame["dataset"].astype(str)) - {str(ref["dataset"])})
    if mismatched:
        log.warning(
            "reference %s is for dataset %s; comparing runs on %s anyway",
            reference,
            ref["dataset"],
            ", ".join(mismatched),
        )
    reported_domains = reference_domains(ref)
    span = AVG_SPANS.get(str(ref["avg_over"]), tuple(reported_domains))  # "present": the domains it reports
    rows = []
    for (label, dataset), part in frame.groupby(["label", "dataset"], sort=True):
        values = part.drop_duplicates("domain").set_index("domain")[col].astype(float)
        for d in reported_domains:
            if d in values.index:
                rows.append((label, dataset, d, float(ref[d]), float(values[d]) * SCALE))
        have_all = all(d in values.index for d in span)
        mine = float(np.mean([values[d] for d in span])) * SCALE if have_all else math.nan
        rows.append((label, dataset, AVG, float(ref[AVG]), mine))
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS[:5])
    table["delta"] = table["reproduced"] - table["reported"]
    # a hair of slack so that a delta of exactly the tolerance, printed to one decimal, is never flagged
    table["beyond_tolerance"] = table["delta"].abs() > tolerance + 1e-9
    return table.reindex(columns=COMPARE_COLUMNS)


def _cell(v: float, digits: int, signed: bool = False) -> str:
    if v is None or math.isnan(v):
        return ""
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def comparison_markdown(
    table: pd.DataFrame,
    reference: str,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    metric: str = "nDCG@10",
    references: pd.DataFrame | None = None,
    digits: int = 2,
) -> str:
    """A compare() table as GitHub Markdown, titled with the reference's source and followed by its note."""
    ref = get_reference(reference, references)
    n_ref = len(reference_domains(ref))
    span = {"all": "the 12 BRIGHT domains", "stackexchange": "the 7 StackExchange domains"}.get(
        str(ref["avg_over"]), "the domains it reports"
    )
    lines = [
        f"### {metric} ×100: reproduced vs {reference} ({ref['model']}; {ref['source']})",
        "",
        f"delta = reproduced − reported; **off** = |delta| > {tolerance:g}. "
        f"The reference reports {n_ref} domain(s); its avg spans {span}.",
        "",
        "| run | dataset | domain | reported | reproduced | delta | |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    incomplete: set[str] = set()
    for r in table.to_dict("records"):
        reported, reproduced, delta = float(r["reported"]), float(r["reproduced"]), float(r["delta"])
        flag = "**off**" if r["beyond_tolerance"] else ("" if math.isnan(delta) else "ok")
        lines.append(
            f"| {r['run']} | {r['dataset']} | {r['domain']} | {_cell(reported, digits)} | {_cell(reproduced, digits)} "
            f"| {_cell(delta, digits, signed=True)} | {flag} |"
        )
        if r["domain"] == AVG and math.isnan(reproduced):
            incomplete.add(str(r["run"]))
    notes = [f"Note: {ref['note']}.", f"Dataset revision of the reported numbers: {ref['data_revision']}."]
    if incomplete:
        notes.append(f"No comparable avg for {', '.join(sorted(incomplete))}: the run lacks domains the average spans.")
    off = int(table["beyond_tolerance"].sum())
    notes.append(f"{off} of {int(table['delta'].notna().sum())} compared value(s) beyond tolerance.")
    return "\n".join([*lines, "", *notes]) + "\n"


def write_comparison(
    table: pd.DataFrame,
    out_dir: str | Path,
    reference: str,
    markdown: str,
) -> list[Path]:
    """compare_<reference>.md (the given Markdown) and compare_<reference>.csv (full precision)."""
    from rtriever_eval.base.provenance import safe_component

    out = Path(out_dir)
    stem = f"compare_{safe_component(reference)}"
    md, csv_path = out / f"{stem}.md", out / f"{stem}.csv"
    write_text_atomic(md, markdown)
    write_text_atomic(csv_path, table.to_csv(index=False, float_format="%.6f"))
    return [md, csv_path]
