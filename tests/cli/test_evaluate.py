"""`rtriever-eval` end to end: the quickstart through the real console script (the session's, tests/conftest.py),
then reuse/refusal/overwrite, bad input, typos and foreign targets in real child processes (exit codes, stderr)."""

from __future__ import annotations

import json
from pathlib import Path

from rtriever_eval.base.trec import read_run
from rtriever_eval.metrics.trec_measures import evaluate
from rtriever_eval.settings import DatasetSettings
from tests.conftest import Quickstart
from tests.helpers import ChildRun, evaluate_in_process, run_eval_child

CONTRACT_KEYS = {
    "domain",
    "model",
    "dataset",
    "metrics",
    "n_queries",
    "n_docs",
    "query_prompt",
    "document_prompt",
    "config",
    "versions",
    "timings",
}
METRICS = {"nDCG@10", "R@10", "R@100", "R@1000", "RR", "AP"}


def _cli(*args: str, cwd: Path) -> ChildRun:
    return run_eval_child(*args, cwd=cwd)


def _flat(text: str) -> str:
    """The message with its line wrapping undone."""
    return " ".join(text.split())


def test_quickstart_prints_the_table_and_writes_contract_files(quickstart: Quickstart) -> None:
    results, proc = quickstart.root / "results", quickstart.proc
    for run in ("bm25", "bm25_bright", "minilm"):
        assert f"| {run} |" in proc.stdout
    summaries = sorted(results.glob("quickstart/*/sample/*/summary.json"))
    runs = {p.parts[-4] for p in summaries}
    assert runs == {"bm25", "bm25_bright", "minilm"}
    for s in summaries:
        data = json.loads(s.read_text())
        assert data.keys() >= CONTRACT_KEYS
        assert data["metrics"].keys() >= METRICS
        assert data["query_prompt"] == ""  # neither BM25 nor MiniLM takes an instruction
        assert data["dataset"] == "sample" and data["domain"] == s.parent.name
        assert (s.parent / "run.trec").is_file() and (s.parent / "per_query.tsv").is_file()
        # the summary's numbers are those of the run file on disk, re-read and re-evaluated
        from rtriever_eval.data.loading import load_domain

        cfg = data["config"]
        domain = load_domain(DatasetSettings(**cfg["dataset"]), data["domain"])
        again = evaluate(domain.qrels, read_run(s.parent / "run.trec"), tuple(METRICS))
        for m in METRICS:
            assert abs(again.summary[m] - data["metrics"][m]) < 1e-9
    assert (results / "quickstart" / "report").is_dir()


def test_exclusions_never_appear_in_the_run(quickstart: Quickstart) -> None:
    results = quickstart.root / "results"
    from rtriever_eval.data.loading import load_domain

    summary = json.loads(next(results.glob("quickstart/bm25/sample/leetcode/summary.json")).read_text())
    data = load_domain(DatasetSettings(**summary["config"]["dataset"]), "leetcode")
    run = read_run(next(results.glob("quickstart/bm25/sample/leetcode/run.trec")))
    excluded = {q.id: q.excluded_ids for q in data.queries}
    assert any(excluded.values())
    for qid, docs in run.items():
        assert not (set(docs) & excluded[qid])


def test_rerun_reuses_refuses_a_changed_setting_and_overwrite_recomputes(tmp_path: Path) -> None:
    """Reuse and overwrite run in-process; the refusal in a real process, for its exit code and paragraph."""
    args = ("model=bm25", "domains=[biology]", f"paths.results_dir={tmp_path}", "print_report=false")
    evaluate_in_process(*args)
    summary = next(tmp_path.rglob("biology/summary.json"))
    before = summary.stat().st_mtime_ns
    assert [o.skipped for o in evaluate_in_process(*args)] == [True] and summary.stat().st_mtime_ns == before
    stale = _cli(*args, "model.k1=3.0", "model.b=1.0", cwd=tmp_path)  # the example: no stale numbers
    assert stale.returncode == 2 and "Traceback" not in stale.stderr
    message = _flat(stale.stderr)
    assert "config.model.k1: 0.9 → 3.0" in message and "config.model.b: 0.4 → 1.0" in message
    assert "overwrite=true" in message and "run_name=" in message
    assert summary.stat().st_mtime_ns == before
    assert [o.skipped for o in evaluate_in_process(*args, "overwrite=true")] == [False]
    assert summary.stat().st_mtime_ns != before


def test_bad_input_exits_nonzero_with_one_paragraph_and_no_results(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "examples").mkdir(parents=True)
    (data / "documents").mkdir()
    (data / "examples" / "biology.jsonl").write_text('{"id": "1", "query": "q", "gold_ids": ["d1"]}\n{broken\n')
    (data / "documents" / "biology.jsonl").write_text('{"id": "d1", "content": "x"}\n')
    proc = _cli(
        "dataset=bright",
        f"dataset.path={data}",
        "domains=[biology]",
        f"paths.results_dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "examples/biology.jsonl" in _flat(proc.stderr) and "line 2" in _flat(proc.stderr)
    assert not list((tmp_path / "r").rglob("summary.json")) and not list((tmp_path / "r").rglob("run.trec"))


def test_unknown_domain_and_typo_list_valid_values(tmp_path: Path) -> None:
    proc = _cli("domains=[biolgy]", f"paths.results_dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 2 and "valid domains: biology, earth_science, leetcode" in _flat(proc.stderr)
    proc = _cli("model.k3=2", cwd=tmp_path)
    assert proc.returncode == 2 and "Valid keys there: b, facts, flavour, k1" in _flat(proc.stderr)


def test_beir_folder_through_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "tiny-beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": t, "text": x}) + "\n"
            for i, (t, x) in enumerate(
                [("Cats", "cats purr softly"), ("Dogs", "dogs bark loudly"), ("Birds", "birds sing at dawn")]
            )
        )
    )
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "why do dogs bark"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    proc = _cli("dataset=beir", f"dataset.path={root}", f"paths.results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(next((tmp_path / "r").rglob("tiny-beir/summary.json")).read_text())
    assert summary["metrics"]["RR"] == 1.0 and summary["n_queries"] == 1
    lines = next((tmp_path / "r").rglob("tiny-beir/run.trec")).read_text().splitlines()
    assert lines[0].split()[:4] == ["q1", "Q0", "d1", "1"]


def test_foreign_targets_are_refused_unless_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    proc = _cli(
        "+hydra.callbacks.x._target_=pathlib.Path.touch",
        f"+hydra.callbacks.x.self={marker}",
        f"paths.results_dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "RTRIEVER_ALLOW_FOREIGN_TARGETS" in _flat(proc.stderr)
    assert not marker.exists() and not (tmp_path / "r").exists()
    from omegaconf import OmegaConf

    from rtriever_eval.cli.evaluate import foreign_targets

    cfg = OmegaConf.create({"a": {"_target_": "rtriever_eval.x.Y"}, "b": [{"_target_": "os.system"}], "c": None})
    assert foreign_targets(cfg) == ["b[0]._target_=os.system"]


def test_help_and_option_lists_show_only_choices_a_user_can_pick(tmp_path: Path) -> None:
    proc = run_eval_child("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "model: bm25, bm25_bright," in proc.stdout and "run_file" in proc.stdout
    assert "schema" not in proc.stdout.split("== Config ==")[0]  # the schemas Hydra validates with are no choice
    wrong = run_eval_child("model=nosuch", cwd=tmp_path)
    assert wrong.returncode != 0 and "Available options in 'model'" in wrong.stderr
    options = wrong.stderr.split("Available options in 'model':")[1].split("Config search path")[0].split()
    assert "minilm" in options and not [o for o in options if "schema" in o]
