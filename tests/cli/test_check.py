"""rtriever-check end to end: the quickstart's real BM25 run, copied and perturbed by hand, through the CLI's main().

Exit codes are the contract: 0 no regression, 1 regression or missing domain (with a table), 2 bad input.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rtriever_eval.cli.check import main
from rtriever_eval.results.contract import file_digest
from tests.conftest import Quickstart
from tests.helpers import run_console

METRIC = "nDCG@10"


@pytest.fixture(scope="module")
def bm25_results(quickstart: Quickstart, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's BM25 run alone, as its own results tree."""
    root = tmp_path_factory.mktemp("check") / "results"
    shutil.copytree(quickstart.results / "bm25", root / "quickstart" / "bm25")
    return root


@pytest.fixture
def results(bm25_results: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(baseline, current): two copies of the same run, for a test to perturb."""
    base, cur = tmp_path / "base", tmp_path / "cur"
    shutil.copytree(bm25_results, base)
    shutil.copytree(bm25_results, cur)
    return base, cur


def _domain_dir(root: Path, domain: str) -> Path:
    (folder,) = (p.parent for p in root.rglob("summary.json") if p.parent.name == domain)
    return folder


def _shift(root: Path, domain: str, delta: float, queries: int | None = None) -> None:
    """Add `delta` to the first `queries` (default all) per-query values and keep the summary's mean in step."""
    folder = _domain_dir(root, domain)
    table = pd.read_csv(folder / "per_query.tsv", sep="\t", dtype={"qid": str})
    n = len(table) if queries is None else queries
    table.loc[: n - 1, METRIC] += delta
    lines = ["\t".join(table.columns)] + [
        "\t".join([str(row["qid"]), *(repr(float(row[c])) for c in table.columns[1:])]) for _, row in table.iterrows()
    ]
    (folder / "per_query.tsv").write_text("\n".join(lines) + "\n")
    summary = json.loads((folder / "summary.json").read_text())
    summary["metrics"][METRIC] = float(table[METRIC].mean())
    summary["files"]["per_query.tsv"] = file_digest(folder / "per_query.tsv")  # as a run that wrote it records it
    (folder / "summary.json").write_text(json.dumps(summary))


def _check(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def _line(out: str, domain: str) -> str:
    (line,) = (x for x in out.splitlines() if x.startswith(domain + " "))
    return line


def test_identical_runs_pass(results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _check(capsys, *results)
    assert code == 0
    assert "OK: no domain dropped beyond 0.0100 (3 checked, 0 improved)" in out
    assert _line(out, "biology").split()[-2:] == ["+0.0000", "ok"]


def test_a_drop_beyond_tolerance_fails_with_a_table(
    results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, cur = results
    _shift(cur, "earth_science", -0.05)
    code, out, _ = _check(capsys, base, cur, "--metric", METRIC, "--tolerance", "0.01")
    assert code == 1
    assert _line(out, "earth_science").split()[-2:] == ["-0.0500", "REGRESSED"]
    assert _line(out, "biology").endswith("ok")
    assert "domain" in out and "baseline" in out and "current" in out and "delta" in out
    assert "FAILED: 1 of 3 domain(s) REGRESSED beyond 0.0100" in out
    # The same drop within a wider tolerance passes; a drop exactly at the tolerance is not beyond it.
    assert _check(capsys, base, cur, "--tolerance", "0.06")[0] == 0
    assert _check(capsys, base, cur, "--tolerance", "0.05")[0] == 0


def test_improvement_passes(results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = results
    _shift(cur, "leetcode", 0.05)
    code, out, _ = _check(capsys, base, cur)
    assert code == 0
    assert _line(out, "leetcode").split()[-2:] == ["+0.0500", "improved"]
    assert "1 improved" in out


def test_missing_domain_fails(results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = results
    shutil.rmtree(_domain_dir(cur, "biology"))
    code, out, _ = _check(capsys, base, cur)
    assert code == 1
    assert _line(out, "biology").split()[-4:] == ["0.1661", "-", "-", "missing"]
    assert "1 domain(s) missing from CURRENT" in out


def test_write_baseline_then_check_against_the_file(
    results: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base, cur = results
    file = tmp_path / "baselines" / "bm25.json"
    code, out, _ = _check(capsys, base, "--write-baseline", file)
    assert code == 0 and "Baseline of 3 domain(s), nDCG@10" in out
    data = json.loads(file.read_text())
    assert data["format"] == "rtriever-check-baseline" and data["metric"] == METRIC
    assert {"created", "git", "source"} <= data.keys() and "sha" in data["git"]
    entry = next(e for e in data["entries"] if e["domain"] == "biology")
    tsv = pd.read_csv(_domain_dir(base, "biology") / "per_query.tsv", sep="\t", dtype={"qid": str})
    assert entry["per_query"] == dict(zip(tsv["qid"], tsv[METRIC], strict=True))  # exact round trip
    assert entry["run"] == "bm25" and entry["dataset"] == "sample" and entry["n_queries"] == len(tsv)
    code, out, _ = _check(capsys, file, cur)
    assert code == 0 and f"baseline: {file} (metric nDCG@10" in out
    _shift(cur, "biology", -0.05)
    code, out, _ = _check(capsys, file, cur, "--significance")
    assert code == 1 and _line(out, "biology").endswith("REGRESSED")


def test_significance_spares_a_drop_on_one_query(
    results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, cur = results
    # One biology query loses 0.4 (8 queries: the mean drops 0.05): beyond the tolerance, but a single changed
    # query gives an exact randomization p of 1 (every sign pattern is as extreme).
    _shift(cur, "biology", -0.4, queries=1)
    code, out, _ = _check(capsys, base, cur)
    assert code == 1  # without --significance the drop fails
    code, out, _ = _check(capsys, base, cur, "--significance")
    assert code == 0, out
    assert _line(out, "biology").split()[-4:] == ["-0.0500", "1.0000", "1.0000", "ok"]
    assert "p_holm" in out


def test_significance_fails_a_consistent_drop(results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = results
    # Every one of the 8 biology queries loses 0.05: exact p = 2/256 = 0.0078; Holm over 3 domains (the others
    # unchanged, p = 1) gives 3 * 0.0078 = 0.0234 <= 0.05.
    _shift(cur, "biology", -0.05)
    code, out, _ = _check(capsys, base, cur, "--significance")
    assert code == 1
    assert _line(out, "biology").split()[-4:] == ["-0.0500", "0.0078", "0.0234", "REGRESSED"]
    assert _check(capsys, base, cur, "--significance", "--alpha", "0.02")[0] == 0


def test_single_runs_match_whatever_their_labels(
    results: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, cur = results
    for path in cur.rglob("summary.json"):
        summary = json.loads(path.read_text())
        path.write_text(json.dumps({**summary, "run": "bm25_v2"}))
    code, out, _ = _check(capsys, base, cur)
    assert code == 0 and "matching run 'bm25_v2' of CURRENT with run 'bm25' of BASELINE" in out


def test_bad_input_exits_2_naming_the_file(
    results: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base, cur = results
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = _check(capsys, bad, cur)
    assert code == 2 and f"{bad}" in err and "not a readable baseline file" in err
    bad.write_text(json.dumps({"format": "rtriever-check-baseline", "version": 1, "metric": METRIC, "entries": []}))
    code, _, err = _check(capsys, bad, cur)
    assert code == 2 and "field 'entries'" in err
    code, _, err = _check(capsys, tmp_path / "nowhere", cur)
    assert code == 2 and "no such results folder or baseline file" in err
    file = tmp_path / "b.json"
    assert _check(capsys, base, "--write-baseline", file)[0] == 0
    code, _, err = _check(capsys, file, cur, "--metric", "AP")
    assert code == 2 and "holds nDCG@10, not AP" in err
    code, _, err = _check(capsys, base, cur, "--metric", "P@5")
    assert code == 2 and "metric 'P@5' not in the results" in err
    (_domain_dir(cur, "leetcode") / "per_query.tsv").write_text("qid\tnDCG@10\nx\t0.5\n")
    code, _, err = _check(capsys, file, cur, "--significance")
    assert code == 2 and "does not match the sha256 its summary.json recorded" in err  # changed after the run
    summary = json.loads((_domain_dir(cur, "leetcode") / "summary.json").read_text())
    summary["files"]["per_query.tsv"] = file_digest(_domain_dir(cur, "leetcode") / "per_query.tsv")
    (_domain_dir(cur, "leetcode") / "summary.json").write_text(json.dumps(summary))  # as a run on other queries
    code, _, err = _check(capsys, file, cur, "--significance")
    assert code == 2 and "different queries" in err and "leetcode" in err


def test_console_script(results: tuple[Path, Path]) -> None:
    """The installed console script itself (its wiring is the point)."""
    proc = run_console("rtriever-check", *map(str, results), cwd=results[0].parent)
    assert proc.returncode == 0, proc.stderr
    assert "rtriever-check: nDCG@10, tolerance 0.0100" in proc.stdout
