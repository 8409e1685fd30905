"""`rtriever-report RESULTS_DIR`: comparison tables (Markdown, CSV, LaTeX) from a results folder.

Reads a results tree through results/contract.py (per-query values too with --baseline); prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.common import fail
from rtriever_eval.results.contract import SUMMARY_FILE


def _check_references(names: list[str], tolerance: float | None) -> None:
    """Fail on an unknown reference name or a negative tolerance before any table is computed."""
    if not names and tolerance is None:
        return
    from rtriever_eval.reporting.references import get_reference, load_references

    if tolerance is not None and not tolerance >= 0:
        raise InputError(f"--ref-tolerance must be >= 0, not {tolerance}", field="ref-tolerance")
    refs = load_references()
    for name in names:
        if not Path(name).is_dir():  # a folder is one model's MTEB result files, read when compared
            get_reference(name, refs)


def _references_and_plots(args: argparse.Namespace, out_dir: Path) -> None:
    """--compare-to tables (printed, compare_<ref>.md/.csv) and, unless --no-plots, the figures, in out_dir."""
    from rtriever_eval.results.contract import collect_summaries

    df = collect_summaries(args.results_dir)
    if args.compare_to:
        from rtriever_eval.reporting.references import DEFAULT_TOLERANCE, compare, comparison_markdown, write_comparison

        tolerance = DEFAULT_TOLERANCE if args.ref_tolerance is None else args.ref_tolerance
        for name in args.compare_to:
            refs = None
            names = [name]
            if Path(name).is_dir():
                from rtriever_eval.reporting.mteb_files import read_mteb_folder

                refs = read_mteb_folder(name, args.metric)
                names = [str(n) for n in refs.index]
            for ref in names:
                # the published reference rows are nDCG@10; MTEB files give each track's headline
                metric = args.metric or (str(refs.loc[ref, "metric"]) if refs is not None else "nDCG@10")
                table = compare(df, ref, metric, tolerance, references=refs)
                markdown = comparison_markdown(table, ref, tolerance, metric=metric, references=refs)
                print(markdown)
                write_comparison(table, out_dir, ref, markdown)
    if args.plots:
        from rtriever_eval.reporting.plots import write_plots

        plots = write_plots(df, out_dir, metric=args.metric, baseline=args.baseline)
        print(f"{len(plots)} figure files (PNG and PDF) written to {out_dir}")


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        run, sep, name = value.partition("=")
        if not sep or not run or not name:
            raise InputError(f"{option} takes RUN=VALUE, not {value!r}", field=option)
        out[run] = name
    return out


def _export(args: argparse.Namespace) -> None:
    """--mteb and --bright: result files in MTEB's and BRIGHT's layouts, both planned (and refused) before either
    writes a file."""
    from rtriever_eval.base.io import write_new_texts

    mteb = bright = None
    if args.mteb is not None:
        from rtriever_eval.reporting.mteb_files import plan_mteb

        mteb = plan_mteb(args.results_dir, args.mteb, names=_pairs(args.mteb_model, "--mteb-model"),
                         revisions=_pairs(args.mteb_revision, "--mteb-revision"))  # fmt: skip
    if args.bright is not None:
        from rtriever_eval.reporting.bright_files import plan_bright

        bright = plan_bright(args.results_dir, args.bright)
    if mteb is not None and bright is not None:
        clash = next((p for p in bright if p in mteb.files or p in mteb.settings_lines), None)
        if clash is not None:
            raise InputError("--mteb and --bright would both write this file: give them other folders", path=clash)
        write_new_texts({**mteb.files, **bright}, check_only=True)  # every refusal before the first byte
    if mteb is not None:
        from rtriever_eval.reporting.mteb_files import written_summary

        print(written_summary(mteb.write(), args.mteb))
    if bright is not None:
        files = write_new_texts(bright)
        print(f"{len(files) // 2} BRIGHT score.json / results.json pairs written under {args.bright}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rtriever-report", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help=f"a results folder (any level: all {SUMMARY_FILE} files below it)")
    parser.add_argument(
        "--metric",
        default=None,
        help="metric in ir_measures spelling (default: each dataset's track headline: nDCG@10, R@1 on long documents)",
    )
    parser.add_argument("--out", default=None, help="where to write tables (default RESULTS_DIR/report)")
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="RUN",
        help="run label to test every other run against per domain (marks †/‡, bootstrap CIs, significance.csv)",
    )
    parser.add_argument(
        "--test",
        choices=["randomization", "ttest"],
        default="randomization",
        help="paired test with --baseline (default randomization)",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="level after Holm correction (default 0.05)")
    parser.add_argument(
        "--compare-to",
        action="append",
        default=[],
        metavar="NAME",
        help="a published reference row (e.g. bm25_paper, anserini_bm25), or a folder of one model's MTEB result "
        "files, to set beside the runs; repeatable",
    )
    parser.add_argument(
        "--ref-tolerance",
        type=float,
        default=None,
        metavar="X",
        help="with --compare-to, flag |reproduced - reported| above X (x100 points; default 1.0)",
    )
    parser.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="save per-domain bars, deltas against the baseline and recall@k as PNG and PDF (default on)",
    )
    parser.add_argument(
        "--html",
        action="store_true",
        help="also write report.html: tables, figures and a per-query explorer in one self-contained file",
    )
    parser.add_argument(
        "--bundle",
        default=None,
        metavar="OUT",
        help="gather runs, per-query files, summaries, configs, versions, prompts, judgments and a sha256 manifest "
        "into OUT and OUT.tar.gz (check it with rtriever-check --validate OUT)",
    )
    parser.add_argument("--judged-gap", type=float, default=None, metavar="X",
                        help="with --baseline, name run/domain pairs whose Judged@10 differs from the baseline's by "
                        "more than X (0-1 scale; default 0.1)")  # fmt: skip
    parser.add_argument("--cost", action="store_true",
                        help="also print and write what each run cost (cost.md, cost.csv, cost_pareto.png)")
    parser.add_argument(
        "--mteb",
        default=None,
        metavar="OUT",
        help="write MTEB result files (OUT/<org>__<model>/<revision>/<Task>.json, model_meta.json, "
        "run_settings.jsonl, <Task>_predictions.json) for the BRIGHT and BRIGHT-Pro results; needs mteb installed",
    )
    parser.add_argument("--mteb-model", action="append", default=[], metavar="RUN=ORG/NAME",
                        help="the MTEB model name of a run (default: its model's hub id); repeatable")  # fmt: skip
    parser.add_argument("--mteb-revision", action="append", default=[], metavar="RUN=REVISION",
                        help="the model revision of a run (default: the hub commit its identity records)")  # fmt: skip
    parser.add_argument(
        "--bright",
        default=None,
        metavar="OUT",
        help="write BRIGHT's own score.json and results.json per run and domain "
        "(OUT/<run>/<domain>_<run>_long_<bool>/)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.mteb is not None or args.bright is not None:
        try:
            _export(args)
        except InputError as exc:
            fail(str(exc))
        return
    from rtriever_eval.reporting.tables import SignificanceOptions, build_reports

    significance = None
    if args.baseline is not None:
        gap = {} if args.judged_gap is None else {"judged_gap": args.judged_gap}
        significance = SignificanceOptions(baseline=args.baseline, test=args.test, alpha=args.alpha, **gap)
    if args.bundle is not None:
        from rtriever_eval.reporting.bundle import write_bundle

        try:
            folder, archive, n_files = write_bundle(args.results_dir, args.bundle)
        except InputError as exc:
            fail(str(exc))
            return
        print(f"Bundle of {n_files} files written to {folder} and {archive}; check it with "
              f"rtriever-check --validate {folder}")  # fmt: skip
        return
    try:
        _check_references(args.compare_to, args.ref_tolerance)
        text, files = build_reports(args.results_dir, args.metric, args.out, significance=significance)
    except InputError as exc:
        fail(str(exc))
        return
    print(text)
    try:
        if args.cost:
            from rtriever_eval.reporting.cost import write_cost

            print(write_cost(args.results_dir, files[0].parent, plots=args.plots)[0])
        _references_and_plots(args, files[0].parent)
    except InputError as exc:
        fail(str(exc))
        return
    if args.html:
        from rtriever_eval.reporting.html import write_html

        try:
            page = write_html(args.results_dir, files[0].parent, metric=args.metric, significance=significance,
                              plots=args.plots)  # fmt: skip
        except InputError as exc:
            fail(str(exc))
            return
        print(f"HTML report written to {page}")
    print(f"Tables written to {files[0].parent}")


if __name__ == "__main__":
    main()
