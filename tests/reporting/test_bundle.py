"""Reproduction bundles round-trip: bundle the quickstart, validate it (exit 0), then a copy with one score flipped,
one with a query dropped and one with an excluded document ranked each fail (exit 1) naming the file and fault."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from rtriever_eval.cli.check import main as check_main
from rtriever_eval.cli.report import main as report_main
from tests.conftest import Quickstart
from tests.helpers import call_main


@pytest.fixture(scope="module")
def bundle(quickstart: Quickstart, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "quickstart-bundle"
    with pytest.MonkeyPatch.context():
        try:
            report_main([str(quickstart.results), "--bundle", str(out)])
        except SystemExit as exc:
            assert not exc.code
    return out


def test_a_bundle_validates_and_carries_everything(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call_main(check_main, ["--validate", str(bundle)], capsys)
    assert code == 0 and "OK: bundle" in out and "9 domain results" in out
    for name in ("manifest.json", "prompts.tsv", "environment.json"):
        assert (bundle / name).is_file()
    for name in ("run.trec", "per_query.tsv", "summary.json", "qrels.tsv", "excluded.tsv", "queries.tsv"):
        assert (bundle / "results" / "minilm" / "sample" / "biology" / name).is_file()
    with tarfile.open(bundle.with_name(bundle.name + ".tar.gz")) as tar:
        names = tar.getnames()
    assert f"{bundle.name}/manifest.json" in names and len(names) == len(list(bundle.rglob("*.*")))


def test_a_second_bundle_to_the_same_place_is_refused(bundle: Path, quickstart: Quickstart,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code, _, err = call_main(report_main, [str(quickstart.results), "--bundle", str(bundle)], capsys)
    assert code == 2 and "already exists" in err


def _copy(bundle: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    return copy, copy / "results" / "bm25" / "sample" / "leetcode" / "run.trec"


def test_a_flipped_score_fails_naming_the_file(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy, run = _copy(bundle, tmp_path)
    lines = run.read_text().splitlines(keepends=True)
    fields = lines[1].split()
    fields[4] = str(float(fields[4]) + 100.0)  # the second document now outscores the first
    lines[1] = " ".join(fields) + "\n"
    run.write_text("".join(lines))
    code, out, _ = call_main(check_main, ["--validate", str(copy)], capsys)
    assert code == 1
    assert f"INVALID: {run}: sha256 differs" in out and "not in descending rank order" in out


def test_a_dropped_query_fails_on_the_recomputed_metrics(bundle: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    copy, run = _copy(bundle, tmp_path)
    run.write_text("".join(line for line in run.read_text().splitlines(keepends=True) if not line.startswith("0 ")))
    code, out, _ = call_main(check_main, ["--validate", str(copy)], capsys)
    assert code == 1
    assert f"{run}: sha256 differs" in out
    assert "summary.json: nDCG@10 is" in out and "but the run gives" in out


def test_an_unlisted_file_and_a_ranked_exclusion_fail(bundle: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    copy, run = _copy(bundle, tmp_path)
    (copy / "extra.txt").write_text("x")
    excluded = run.parent / "excluded.tsv"
    first = run.read_text().split("\n", 1)[0].split()
    excluded.write_text(excluded.read_text() + f"{first[0]}\t{first[2]}\n")
    code, out, _ = call_main(check_main, ["--validate", str(copy)], capsys)
    assert code == 1
    assert f"{copy / 'extra.txt'}: not in the manifest" in out
    assert f"ranks excluded document(s) {first[2]}" in out


def test_a_result_changed_after_its_run_is_never_bundled(quickstart: Quickstart, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    results = tmp_path / "results"
    shutil.copytree(quickstart.results, results)
    run = results / "bm25" / "sample" / "leetcode" / "run.trec"
    run.write_text(run.read_text().replace(" 1 ", " 1  ", 1))  # one byte more: the same ranking, other bytes
    code, _, err = call_main(report_main, [str(results), "--bundle", str(tmp_path / "b")], capsys)
    assert code == 2 and "does not match the sha256 its summary.json recorded" in " ".join(err.split())
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob("*.tar.gz"))
