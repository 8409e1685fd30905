"""BRIGHT-Pro loading from the shipped sample_pro fixture (jsonl, parquet, json), bad input, and the CLI end to end."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtriever_eval.base.errors import ConfigError, InputError
from rtriever_eval.base.trec import read_run
from rtriever_eval.data import bright_pro
from rtriever_eval.data.bright_pro import load_bright_pro_domain
from rtriever_eval.data.loading import load_domain
from rtriever_eval.metrics.aspects import DEFAULT_ASPECT_MEASURES, evaluate_aspects
from rtriever_eval.metrics.trec_measures import evaluate
from rtriever_eval.settings import DatasetSettings
from rtriever_eval.settings.hydra import PACKAGE_DIR
from rtriever_eval.settings.registry import BENCHMARKS, STACKEXCHANGE
from tests.helpers import ChildRun, run_eval_child

FIXTURE = PACKAGE_DIR / "data" / "sample_pro"
CONFIG = DatasetSettings("bright_pro", "bright_pro", path=str(FIXTURE), hub_id="yale-nlp/Bright-Pro")


def _load(path: Path | str = FIXTURE, domain: str = "biology") -> Any:
    return load_bright_pro_domain(domain, path=str(path), hub_id=None, revision=None)


def _rows(config: str, domain: str = "biology") -> list[dict[str, Any]]:
    text = (FIXTURE / config / f"{domain}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "pro"
    shutil.copytree(FIXTURE, root)
    return root


def _write(root: Path, config: str, rows: list[dict[str, Any]], domain: str = "biology") -> Path:
    path = root / config / f"{domain}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- the fixture ----------------------------------------------------------------------------------------------


def test_fixture_loads_with_expanded_gold_and_aspects() -> None:
    data = _load()
    assert data.name == "biology" and data.dataset == "bright_pro" and data.revision is None
    assert [q.id for q in data.queries] == ["0", "1", "2", "3"]
    assert data.n_docs == 43
    assert all(q.excluded_ids == frozenset() for q in data.queries)
    assert data.qrels["0"] == {
        "biology/allium_sulfur_chemistry_0.txt": 1,
        "biology/enzyme_temperature_1.txt": 1,
        "biology-0/extraction_0.txt": 1,
    }
    assert data.aspects is not None
    assert [(a.id, a.weight) for a in data.aspects["0"]] == [
        ("biology-0-a1", 3.0),
        ("biology-0-a2", 2.0),
        ("biology-0-a3", 1.0),
    ]
    assert data.aspects["1"][0].doc_ids == {
        "biology/peripheral_nerve_ischemia_0.txt",
        "biology/peripheral_nerve_ischemia_2.txt",
    }
    assert data.aspects["1"][0].text.startswith("Pressure starves the nerve")
    # the older '-aspect-<k>' id form is read too, and query 3 has gold documents but no aspect
    assert [a.id for a in data.aspects["2"]] == ["biology-2-aspect-1", "biology-2-aspect-2"]
    assert data.aspects["3"] == () and "3" in data.qrels
    assert data.extra["aspects"] == "7"


def test_every_supporting_document_is_gold_and_in_the_corpus() -> None:
    for domain in ("biology", "earth_science"):
        data = _load(domain=domain)
        corpus = {d.id for d in data.documents}
        assert data.aspects is not None
        for qid, aspects in data.aspects.items():
            for a in aspects:
                assert a.doc_ids and a.doc_ids <= set(data.qrels[qid])
        assert all(set(gold) <= corpus for gold in data.qrels.values())


def test_dispatch_lists_the_seven_stackexchange_domains() -> None:
    assert STACKEXCHANGE == (
        "biology",
        "earth_science",
        "economics",
        "psychology",
        "robotics",
        "stackoverflow",
        "sustainable_living",
    )
    assert BENCHMARKS["bright_pro"].available(long_documents=False) == list(STACKEXCHANGE)
    data = load_domain(CONFIG, "earth_science")
    assert data.aspects is not None and len(data.aspects["0"]) == 3


def test_config_composes_with_null_revision_and_aspect_metrics() -> None:
    from hydra import compose, initialize_config_dir

    from rtriever_eval.settings.hydra import CONF_DIR, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=["dataset=bright_pro"])
    assert cfg.dataset.hub_id == "yale-nlp/Bright-Pro" and cfg.dataset.revision is None
    assert tuple(cfg.dataset.aspect_metrics) == DEFAULT_ASPECT_MEASURES and cfg.dataset.aspect_alpha == 0.5
    assert cfg.dataset.benchmark == "bright_pro"


def test_parquet_and_json_array_copies_load_the_same(tmp_path: Path) -> None:
    expected = _load()
    pq_root, js_root = tmp_path / "parquet", tmp_path / "json"
    for config in ("examples", "documents", "aspects"):
        rows = _rows(config)
        (pq_root / config).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), pq_root / config / "biology-00000-of-00001.parquet")
        (js_root / config).mkdir(parents=True)
        (js_root / config / "biology.json").write_text(json.dumps(rows), encoding="utf-8")
    for root in (pq_root, js_root):
        got = _load(root)
        assert got.queries == expected.queries and got.documents == expected.documents
        assert got.qrels == expected.qrels and got.aspects == expected.aspects


def test_hub_load_without_revision_warns(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, str, str, str | None]] = []

    def fake_hub_rows(hub_id: str, config: str, domain: str, revision: str | None) -> Any:
        calls.append((hub_id, config, domain, revision))
        return bright_pro._local(FIXTURE, config, domain)

    monkeypatch.setattr(bright_pro, "hub_rows", fake_hub_rows)
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.data.bright_pro"):
        data = load_bright_pro_domain("biology", path=None, hub_id="yale-nlp/Bright-Pro", revision=None)
    assert "no dataset.revision set" in caplog.text
    assert {c[1] for c in calls} == {"examples", "documents", "aspects"}
    assert data.source == "hf://yale-nlp/Bright-Pro@main" and data.aspects is not None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.data.bright_pro"):
        pinned = load_bright_pro_domain("biology", path=None, hub_id="yale-nlp/Bright-Pro", revision="a" * 40)
    assert "no dataset.revision" not in caplog.text and pinned.revision == "a" * 40
    with pytest.raises(ConfigError, match=r"neither dataset\.path nor dataset\.hub_id"):
        load_bright_pro_domain("biology", path=None, hub_id=None, revision=None)


# -- semantics on edited copies ----------------------------------------------------------------------------------


def test_non_gold_supporting_documents_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _copy(tmp_path)
    rows = _rows("aspects")
    rows[0]["supporting_docs"] = [*rows[0]["supporting_docs"], "biology/onion_nutrition_2.txt"]
    _write(root, "aspects", rows)
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.data.bright_pro"):
        data = _load(root)
    assert "1 supporting documents are not gold" in caplog.text
    assert data.aspects is not None
    assert data.aspects["0"][0].doc_ids == {"biology/allium_sulfur_chemistry_0.txt"}


def test_document_shared_by_two_aspects_counts_for_both(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _copy(tmp_path)
    rows = _rows("aspects")
    rows[1]["supporting_docs"] = [*rows[1]["supporting_docs"], "biology/allium_sulfur_chemistry_0.txt"]
    _write(root, "aspects", rows)
    with caplog.at_level(logging.WARNING, logger="rtriever_eval.data.bright_pro"):
        data = _load(root)
    assert "1 documents support more than one aspect" in caplog.text
    assert data.aspects is not None
    run = {"0": {"biology/allium_sulfur_chemistry_0.txt": 1.0}}
    result = evaluate_aspects({"0": data.qrels["0"]}, data.aspects, run, ["A-Recall@1"])
    assert result.summary["A-Recall@1"] == pytest.approx(5 / 6)  # weights 3 + 2 of 6


def test_query_id_field_and_excluded_ids_are_honoured(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    aspects = _rows("aspects")
    aspects[0] = {**aspects[0], "id": "free-form-name", "query_id": "0"}
    _write(root, "aspects", aspects)
    examples = _rows("examples")
    examples[3]["excluded_ids"] = ["biology/tomato_watering_guide_2.txt", "N/A"]
    _write(root, "examples", examples)
    data = _load(root)
    assert data.aspects is not None and data.aspects["0"][0].id == "free-form-name"
    assert data.queries[3].excluded_ids == {"biology/tomato_watering_guide_2.txt"}


def _bad(tmp_path: Path, config: str, edit: Any) -> InputError:
    root = _copy(tmp_path)
    rows = _rows(config)
    edit(rows)
    _write(root, config, rows)
    with pytest.raises(InputError) as info:
        _load(root)
    return info.value


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda r: r[2].pop("weight"), "weight", "missing required field"),
        (lambda r: r[2].update(weight=0), "weight", "positive number"),
        (lambda r: r[2].update(weight=-1.5), "weight", "positive number"),
        (lambda r: r[2].update(weight="3"), "weight", "expected a number"),
        (lambda r: r[2].update(weight=True), "weight", "expected a number"),
        (lambda r: r[2].update(supporting_docs="biology/x.txt"), "supporting_docs", "expected a list"),
        (lambda r: r[2].pop("supporting_docs"), "supporting_docs", "missing required field"),
        (lambda r: r[2].update(id="aspect-three"), "id", "does not name its query"),
        (lambda r: r[2].update(id="earth_science-0-a9"), "id", "does not name its query"),
        (lambda r: r[2].update(id="biology-42-a1"), "id", "query '42', which is not in the examples"),
        (lambda r: r[2].update(query_id="42"), "query_id", "not in the examples"),
        (lambda r: r[2].update(id="biology-0-a1"), "id", "duplicate aspect id"),
    ],
)
def test_bad_aspect_rows_name_file_line_and_field(edit: Any, field: str, message: str, tmp_path: Path) -> None:
    err = _bad(tmp_path, "aspects", edit)
    assert err.path is not None and err.path.endswith("aspects/biology.jsonl")
    assert err.line == 3 and err.field == field and message in err.reason


def test_bad_examples_and_malformed_lines(tmp_path: Path) -> None:
    err = _bad(tmp_path, "examples", lambda r: r[0].pop("gold_ids"))
    assert err.path is not None and err.path.endswith("examples/biology.jsonl") and err.field == "gold_ids"
    err = _bad(tmp_path / "b", "examples", lambda r: r[0].update(excluded_ids=["biology-0/extraction_0.txt"]))
    assert err.field == "excluded_ids" and "both gold" in err.reason
    root = _copy(tmp_path / "c")
    path = root / "aspects" / "biology.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        _load(root)
    assert info.value.line == 8 and "malformed JSON" in info.value.reason


def test_missing_aspects_file_or_folder(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "aspects" / "biology.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"biology\.json\)"):
        _load(root)
    with pytest.raises(ConfigError, match="does not exist"):
        _load(tmp_path / "nowhere")


def test_bad_aspect_metric_fails_before_any_work(tmp_path: Path) -> None:
    from tests.helpers import evaluate_in_process

    with pytest.raises(ConfigError) as info:
        evaluate_in_process(
            "dataset=bright_pro",
            f"dataset.path={FIXTURE}",
            "dataset.aspect_metrics=[alpha-nDCG@ten]",
            f"paths.results_dir={tmp_path}",
        )
    assert info.value.field == "dataset.aspect_metrics" and not list(tmp_path.rglob("*.trec"))


# -- end to end through the CLI, in a real child process ---------------------------------------------------

STANDARD_ORDER = ["nDCG@10", "R@10", "R@100", "R@1000", "RR", "AP", "Judged@10"]
STANDARD = set(STANDARD_ORDER)


def _cli(*args: str, cwd: Path) -> ChildRun:
    return run_eval_child(*args, cwd=cwd)


def test_cli_writes_aspect_metrics_beside_the_standard_ones(tmp_path: Path) -> None:
    proc = _cli(
        "model=bm25",
        "dataset=bright_pro",
        f"dataset.path={FIXTURE}",
        "domains=[biology,earth_science]",
        f"paths.results_dir={tmp_path / 'r'}",
        f"paths.cache_dir={tmp_path / 'c'}",
        "print_report=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = sorted((tmp_path / "r").rglob("bright_pro/*/summary.json"))
    assert [s.parent.name for s in summaries] == ["biology", "earth_science"]
    for path in summaries:
        summary = json.loads(path.read_text())
        metrics = summary["metrics"]
        assert metrics.keys() == STANDARD | set(DEFAULT_ASPECT_MEASURES)
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        assert summary["dataset"] == "bright_pro" and summary["dataset_revision"] is None
        assert summary["config"]["dataset"]["aspect_alpha"] == 0.5
        header = (path.parent / "per_query.tsv").read_text().splitlines()[0].split("\t")
        assert header == ["qid", *STANDARD_ORDER, *DEFAULT_ASPECT_MEASURES]
        # the numbers are those of the run on disk, re-evaluated from scratch
        data = load_domain(DatasetSettings(**summary["config"]["dataset"]), summary["domain"])
        run = read_run(path.parent / "run.trec")
        again = evaluate(data.qrels, run, tuple(STANDARD))
        assert data.aspects is not None
        aspects = evaluate_aspects(data.qrels, data.aspects, run, DEFAULT_ASPECT_MEASURES, alpha=0.5)
        for name, value in {**again.summary, **aspects.summary}.items():
            assert value == pytest.approx(metrics[name], abs=1e-12)
    biology = json.loads(summaries[0].read_text())
    assert biology["n_queries"] == 4  # query 3 (no aspect) is judged and counted


def test_cli_rejects_a_bad_aspect_metric_before_searching(tmp_path: Path) -> None:
    proc = _cli(
        "model=bm25",
        "dataset=bright_pro",
        f"dataset.path={FIXTURE}",
        "domains=[biology]",
        "dataset.aspect_metrics=[alpha-nDCG@0]",
        f"paths.results_dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "dataset.aspect_metrics" in " ".join(proc.stderr.split())
    assert not list((tmp_path / "r").rglob("run.trec"))
