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


def test_a_key_twice_in_one_object_is_refused_with_its_line(tmp_path: Path) -> None:
    # json.loads keeps the last of two equal keys without a word: a document scored twice would lose a score
    path = tmp_path / "twice.json"
    path.write_text('{"q1": {"d1": 2.0,\n  "d2": 1.0,\n  "d1": 0.5}}')
    with pytest.raises(InputError, match="'d1' appears twice") as caught:
        read_run_file(path)
    assert (caught.value.line, caught.value.field) == (3, "d1")


def test_the_format_is_told_from_the_parsed_object_and_the_hash_is_of_the_bytes_read(tmp_path: Path) -> None:
    import hashlib

    # a document id that happens to be the MTEB marker does not make a ranx file an MTEB one
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"q1": {"mteb_model_meta": 1.0, "d2": 0.5}}))
    assert detect_format(path) == "json"
    got = read_run_file(path)
    assert got.format == "json" and got.run == {"q1": {"mteb_model_meta": 1.0, "d2": 0.5}}
    assert got.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
