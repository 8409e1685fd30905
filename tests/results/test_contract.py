"""The results contract: folder layout with safe names, the summary's JSON round trip (unknown keys kept), the
writers' order (summary last, an old summary removed first) and the readers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.results import contract as results
from rtriever_eval.results.contract import Summary, collect_summaries, domain_folder, read_summary, write_domain


def _summary(**extra: object) -> Summary:
    return Summary(
        domain="bio/logy", model="m", dataset="d", metrics={"nDCG@10": 0.5}, run="r", experiment="e", **extra
    )  # type: ignore[arg-type]


def test_layout_escapes_every_name() -> None:
    assert domain_folder("/res", "exp", "a/b", "data", "..") == Path("/res/exp/a%2Fb/data/%2E%2E")


def test_summary_round_trips_and_keeps_unknown_keys(tmp_path: Path) -> None:
    data = {**_summary().to_json(), "written_by_a_newer_version": {"x": 1}}
    path = tmp_path / results.SUMMARY_FILE
    path.write_text(json.dumps(data))
    again = read_summary(path)
    assert again.to_json() == data and again.extra == {"written_by_a_newer_version": {"x": 1}}
    old = {k: v for k, v in data.items() if k in ("domain", "model", "dataset", "metrics")}
    path.write_text(json.dumps(old))
    assert read_summary(path).version == 1 and read_summary(path).run_label == "m"  # an older summary


@pytest.mark.parametrize("missing", results.REQUIRED)
def test_a_summary_without_a_contract_key_names_it(tmp_path: Path, missing: str) -> None:
    path = tmp_path / results.SUMMARY_FILE
    path.write_text(json.dumps({k: v for k, v in _summary().to_json().items() if k != missing}))
    with pytest.raises(InputError) as info:
        read_summary(path)
    assert info.value.field == missing and info.value.path == str(path)


def test_write_domain_writes_the_summary_last_and_removes_an_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "dom"
    folder.mkdir()
    (folder / results.SUMMARY_FILE).write_text("{}")
    order: list[str] = []
    real = results.write_json_atomic
    monkeypatch.setattr(results, "checkpoint", lambda name: order.append(name))
    monkeypatch.setattr(results, "write_json_atomic", lambda p, o: (order.append(Path(p).name), real(p, o)))
    per_query = pd.DataFrame({"nDCG@10": [0.5]}, index=pd.Index(["q1"], name="qid"))
    write_domain(folder, {"q1": {"d1": 1.0}}, per_query, _summary(), tag="t")
    assert order == ["run_written", "per_query_written", results.SUMMARY_FILE]
    assert (folder / results.RUN_FILE).read_text() == "q1 Q0 d1 1 1.0 t\n"
    assert (folder / results.PER_QUERY_FILE).read_text() == "qid\tnDCG@10\nq1\t0.5\n"
    frame = collect_summaries(tmp_path)
    assert frame[["run", "domain", "metric:nDCG@10"]].values.tolist() == [["r", "bio/logy", 0.5]]
