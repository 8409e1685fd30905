"""`rtriever-check BASELINE CURRENT`: the CI gate; exit 1 with a table when a domain's metric drops beyond a tolerance.

Argument parsing, printing and exit codes only; the comparison is reporting/regression.py's.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.common import fail
from rtriever_eval.reporting.regression import (
    DEFAULT_METRIC,
    EXIT_REGRESSED,
    IMPROVED,
    MISSING,
    REGRESSED,
    baseline_payload,
    compare,
    default_metric,
    format_table,
    load_results,
    load_side,
    match_runs,
)
from rtriever_eval.results.contract import SUMMARY_FILE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtriever-check",
        description=(
            "Regression gate: compare CURRENT results with BASELINE (a results folder or a baseline file written "
            "by --write-baseline) domain by domain; exit 0 when no domain drops by more than the tolerance, 1 with "
            "a table when one does or is missing, 2 on bad input."
        ),
    )
    parser.add_argument(
        "baseline", metavar="BASELINE", help="results folder or baseline file (a bundle with --validate)"
    )
    parser.add_argument(
        "current", metavar="CURRENT", nargs="?", help="results folder to check (omitted with --write-baseline)"
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="BASELINE is a reproduction bundle (rtriever-report --bundle): re-check it, exit 1 on any problem",
    )
    parser.add_argument(
        "--metric",
        default=None,
        help=f"metric in ir_measures spelling (default: the baseline file's metric, else the track's headline: "
        f"{DEFAULT_METRIC}, or R@1 on the long-document track)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="largest allowed drop, absolute on the metric's 0-1 scale (0.01 = 1 point of nDCG@10 x100)",
    )
    parser.add_argument(
        "--significance",
        action="store_true",
        help="fail only on drops beyond the tolerance that are also significant (paired randomization test, "
        "Holm across each run's domains)",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level with --significance")
    parser.add_argument(
        "--write-baseline",
        metavar="FILE",
        default=None,
        help="write a baseline file from the results folder BASELINE and exit",
    )
    return parser


def _write_baseline(args: argparse.Namespace, metric: str) -> None:
    from rtriever_eval.base.io import write_json_atomic

    if args.current is not None:
        fail("--write-baseline takes one results folder (BASELINE); leave CURRENT out")
    source = Path(args.baseline)
    if not source.is_dir():
        fail(f"{source}: --write-baseline needs a results folder (one holding {SUMMARY_FILE} files)")
    try:
        payload = baseline_payload(load_results(source, metric), metric, str(source))
    except InputError as exc:
        fail(str(exc))
        return
    try:
        write_json_atomic(args.write_baseline, payload)
    except OSError as exc:
        fail(f"{args.write_baseline}: cannot write the baseline file ({exc.strerror or exc})")
        return
    print(f"Baseline of {len(payload['entries'])} domain(s), {metric}, written to {args.write_baseline}")


def _validate(path: str) -> None:
    """--validate OUT: re-check a reproduction bundle fail-closed; exit 1 listing every problem."""
    from rtriever_eval.reporting.bundle import validate_bundle

    try:
        problems, notes, n_domains = validate_bundle(path)
    except InputError as exc:
        fail(str(exc))
        return
    for note in notes:
        print(f"note: {note}")
    if problems:
        for problem in problems:
            print(f"INVALID: {problem}")
        print(f"FAILED: {len(problems)} problem(s) in bundle {path}")
        raise SystemExit(EXIT_REGRESSED)
    print(f"OK: bundle {path} is valid ({n_domains} domain results: manifest hashes, runs, query ids, exclusions "
          "and metrics recomputed from the runs all check)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.validate:
        _validate(args.baseline)
        return
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (args.tolerance >= 0 and math.isfinite(args.tolerance)):
        fail(f"--tolerance must be a non-negative number, not {args.tolerance}")
    if not 0.0 < args.alpha < 1.0:
        fail(f"--alpha must lie strictly between 0 and 1, not {args.alpha}")
    if args.write_baseline is not None:
        _write_baseline(args, args.metric or default_metric(args.baseline))
        return
    if args.current is None:
        fail("give both BASELINE and CURRENT (or --write-baseline FILE with one results folder)")
    try:
        metric = args.metric or default_metric(args.baseline)
        baseline = load_side(args.baseline, metric)
        if baseline.metric is not None and baseline.metric != metric:
            raise InputError(
                f"the baseline file holds {baseline.metric}, not {metric}; write one for {metric} with "
                f"--write-baseline FILE --metric {metric}",
                path=args.baseline,
                field="metric",
            )
        current = load_side(args.current, metric)
        if current.metric is not None and current.metric != metric:
            raise InputError(f"the file holds {current.metric}, not {metric}", path=args.current, field="metric")
        rows = compare(
            baseline, current, metric, tolerance=args.tolerance, significance=args.significance, alpha=args.alpha
        )
    except InputError as exc:
        fail(str(exc))
        return
    runs = match_runs(baseline, current)
    sig = f"; significance: paired randomization, Holm per run, α = {args.alpha:g}" if args.significance else ""
    print(f"rtriever-check: {metric}, tolerance {args.tolerance:.4f} (absolute, 0-1 scale){sig}")
    print(f"baseline: {baseline.label}")
    print(f"current:  {current.label}")
    for b, c in runs.items():
        if b != c:
            print(f"(matching run {c!r} of CURRENT with run {b!r} of BASELINE: each side has one run)")
    print()
    print(format_table(rows, significance=args.significance))
    print()
    mapped = {(runs.get(k[0], k[0]), k[1], k[2]) for k in baseline.entries}
    extra = sorted("/".join(k) for k in current.entries if k not in mapped)
    if extra:
        print(f"Not in the baseline, not checked: {', '.join(extra)}")
    regressed = [r for r in rows if r.status == REGRESSED]
    missing = [r for r in rows if r.status == MISSING]
    improved = [r for r in rows if r.status == IMPROVED]
    if regressed or missing:
        parts = []
        if regressed:
            parts.append(f"{len(regressed)} of {len(rows)} domain(s) REGRESSED beyond {args.tolerance:.4f}")
        if missing:
            parts.append(f"{len(missing)} domain(s) missing from CURRENT")
        print("FAILED: " + "; ".join(parts))
        raise SystemExit(EXIT_REGRESSED)
    print(f"OK: no domain dropped beyond {args.tolerance:.4f} ({len(rows)} checked, {len(improved)} improved)")


if __name__ == "__main__":
    main()
