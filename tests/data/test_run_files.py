"""Run files from elsewhere: TREC lines (rank column ignored), the ranx JSON dict, BRIGHT's score.json and MTEB's
predictions, told apart by content; bad values and shapes are errors naming the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtriever_eval.base.errors import InputError
from rtriever_eval.data.run_files import detect_format, line_of, read_run_file

RUN = {"q1": {"d1": 2.5, "d2": 1.0}, "q2": {"d3": 0.25}}


def _trec(path: Path) -> Path:
    # the rank column disagrees with the scores on purpose: it is ignored, as trec_eval ignores it
    path.write_text("q1 Q0 d1 2 2.5 x\nq1 Q0 d2 1 1.0 x\n\nq2 Q0 d3 7 0.25 x\n")
    return path


def test_the_four_formats_read_the_same_ranking(tmp_path: Path) -> None:
    trec = _trec(tmp_path / "run.trec")
    ranx = tmp_path / "run.json"
    ranx.write_text(json.dumps(RUN))
    mteb = tmp_path / "BrightBiologyRetrieval_predictions.json"
    mteb.write_text(json.dumps({"mteb_model_meta": {"model_name": "x/y", "revision": "r"},
                                "default": {"standard": RUN}}))  # fmt: skip
    assert [detect_format(p) for p in (trec, ranx, mteb)] == ["trec", "json", "mteb"]
    assert read_run_file(trec).run == RUN and read_run_file(ranx).run == RUN
    assert read_run_file(ranx, "bright").format == "bright" and read_run_file(ranx, "bright").run == RUN
    got = read_run_file(mteb, "auto", subset="default", split="standard")
    assert got.run == RUN and (got.subset, got.split) == ("default", "standard")
    assert read_run_file(mteb).run == RUN  # one subset, one split: no need to name them


@pytest.mark.parametrize(
    ("name", "text", "detected", "line", "field", "reason"),
    [
        ("short.trec", "q1 Q0 d1 1 2.5 x\nq1 Q0 d2 1\n", "trec", 2, "score", "at least 6"),
        ("word.trec", "q1 Q0 d1 1 2.5 x\nq2 Q0 d2 1 abc x\n", "trec", 2, "score", "not a number"),
        ("inf.trec", "q1 Q0 d1 1 2.5 x\nq2 Q0 d2 1 inf x\n", "trec", 2, "score", "not a finite number"),
        ("twice.trec", "q1 Q0 d1 1 2.5 x\nq1 Q0 d1 2 1.0 x\n", "trec", 2, "docid", "appears twice"),
        ("list.json", '{\n "q1": {"d1": 1.0},\n "q2": [1, 2]\n}', "json", 3, "q2", "expected an object"),
        ("word.json", '{"q1": {"d1": "high"}}', "json", 1, "q1.d1", "not a finite number"),
        ("nan.json", '{"q1": {"d1": NaN}}', "json", 1, "q1.d1", "not a finite number"),
        ("array.json", "[1, 2]", "json", None, None, "not a JSON object of queries"),
        ("broken.json", '{"q1": {"d1": 1.0}', "json", 1, "model.path", "not valid JSON"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path: Path, name: str, text: str, detected: str,
                                             line: int | None, field: str | None, reason: str) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_text(text)
    assert detect_format(path) == detected
    with pytest.raises(InputError, match=reason) as caught:
        read_run_file(path, "auto")
    assert caught.value.path == str(path) and caught.value.line == line and caught.value.field == field


def test_mteb_predictions_must_name_their_subset_and_split(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"mteb_model_meta": {}, "default": {"standard": RUN, "long": RUN}}))
    with pytest.raises(InputError, match="no split None among 'standard', 'long'"):
        read_run_file(path)
    assert read_run_file(path, split="long").split == "long"
    with pytest.raises(InputError, match="an MTEB predictions file"):
        read_run_file(tmp_path / "p.json", "json")


def test_line_of_finds_where_a_query_is_first_written(tmp_path: Path) -> None:
    assert line_of(_trec(tmp_path / "r.trec"), "q2", "trec") == 4
    path = tmp_path / "r.json"
    path.write_text(json.dumps(RUN, indent=1))
    assert line_of(path, "q2", "json") == 6
