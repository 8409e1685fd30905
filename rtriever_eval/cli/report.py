"""`rtriever-report RESULTS_DIR`: comparison tables (Markdown, CSV, LaTeX) from a results folder.

Reads summary.json files only; prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import logging

from rtriever_eval.cli.common import fail
from rtriever_eval.errors import InputError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rtriever-report", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help="a results folder (any level: all summary.json files below it)")
    parser.add_argument("--metric", default="nDCG@10", help="metric in ir_measures spelling (default nDCG@10)")
    parser.add_argument("--out", default=None, help="where to write tables (default RESULTS_DIR/report)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from rtriever_eval.reporting.tables import build_reports

    try:
        text, files = build_reports(args.results_dir, args.metric, args.out)
    except InputError as exc:
        fail(str(exc))
        return
    print(text)
    print(f"Tables written to {files[0].parent}")


if __name__ == "__main__":
    main()
