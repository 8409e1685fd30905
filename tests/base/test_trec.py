"""Tests for rtriever_eval.base.trec: parsing runs and qrels as trec_eval does, writing runs in its order.

Real-file checks read trec_eval's own test files from ../shared/data/trec_eval and skip when it is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.trec import (
    format_scores,
    ranked,
    read_qrels,
    read_qrels_tsv,
    read_run,
    write_run,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _assert_names(exc: InputError, path: Path, line: int | None, field: str) -> None:
    assert exc.path == str(path)
    assert exc.line == line
    assert exc.field == field
    message = str(exc)
    assert str(path) in message
    if line is not None:
        assert f"line {line}" in message
    assert f"field '{field}'" in message


# -- ranked --------------------------------------------------------------------------------------------


def test_ranked_orders_by_score_then_docid_descending() -> None:
    scores = {"a": 0.5, "b": 0.5, "c": 0.9, "d10": 0.1, "d9": 0.1}
    # Ties: the larger docid string first ("b" > "a"; "d9" > "d10" as strings).
    assert ranked(scores) == [("c", 0.9), ("b", 0.5), ("a", 0.5), ("d9", 0.1), ("d10", 0.1)]


def test_ranked_does_not_mutate_and_rejects_nan() -> None:
    scores = {"a": 1.0, "b": 2.0}
    ranked(scores)
    assert list(scores) == ["a", "b"]
    with pytest.raises(ValueError, match="NaN"):
        ranked({"a": float("nan")})


# -- read_run ------------------------------------------------------------------------------------------


def test_read_run_ignores_rank_iter_tag_and_junk_columns(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "run.trec",
        "# a comment line\n"
        "q1 Q0 d1 7 1.5 tagA\n"
        "\n"
        "q1 iter d2 1 2.5e-1 tagB trailing junk\n"
        "  q2\tQ0\td#3\t3\t-4\ttag\r\n"
        "q2 Q0 d4 3 inf tag",
    )
    assert read_run(path) == {"q1": {"d1": 1.5, "d2": 0.25}, "q2": {"d#3": -4.0, "d4": math.inf}}


def test_read_run_keeps_ids_as_strings(tmp_path: Path) -> None:
    path = _write(tmp_path, "run.trec", "007 Q0 0042 1 1 t\n")
    run = read_run(path)
    assert run == {"007": {"0042": 1.0}}


def test_read_run_too_few_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "run.trec", "q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    _assert_names(info.value, path, 2, "score")


def test_read_run_missing_tag(tmp_path: Path) -> None:
    path = _write(tmp_path, "run.trec", "q1 Q0 d1 1 0.5\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    _assert_names(info.value, path, 1, "tag")


@pytest.mark.parametrize("score", ["abc", "0.5x", "1_000", "nan", "NaN", "--1"])
def test_read_run_bad_score(tmp_path: Path, score: str) -> None:
    path = _write(tmp_path, "run.trec", f"q1 Q0 d1 1 0.5 t\n\nq1 Q0 d2 2 {score} t\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    _assert_names(info.value, path, 3, "score")


def test_read_run_duplicate_pair(tmp_path: Path) -> None:
    path = _write(tmp_path, "run.trec", "q1 Q0 d1 1 0.5 t\nq2 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    _assert_names(info.value, path, 3, "docid")
    assert "first on line 1" in str(info.value)


def test_read_run_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    path.write_bytes(b"q1 Q0 d\xff 1 0.5 t\n")
    with pytest.raises(InputError) as info:
        read_run(path)
    _assert_names(info.value, path, 1, "docid")


def test_read_run_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_run(tmp_path / "nope.trec")
    assert info.value.path == str(tmp_path / "nope.trec")


def test_read_run_results_test(trec_eval_dir: Path) -> None:
    path = trec_eval_dir / "results.test"
    run = read_run(path)
    assert sorted(run) == ["301", "302", "303"]
    assert all(len(docs) == 500 for docs in run.values())
    assert run["301"]["FR940202-2-00150"] == 2.129133
    lines = [line.split() for line in path.read_text().splitlines()]
    for qid in run:
        order = [docid for docid, _ in ranked(run[qid])]
        in_file = [fields for fields in lines if fields[0] == qid]
        # Lines are not in rank order (the file is sorted by docid), so line order must not matter ...
        assert [fields[2] for fields in in_file] != order
        # ... and the rank column agrees with trec_eval's order, ties (12 tied docs in 301) included.
        rank_of = {fields[2]: int(fields[3]) for fields in in_file}
        assert [rank_of[docid] for docid in order] == list(range(1, 501))
    assert len(run["301"]) - len(set(run["301"].values())) > 0  # the file does hold ties


def test_read_run_results_trunc_junk_columns(trec_eval_dir: Path) -> None:
    run = read_run(trec_eval_dir / "results.trunc")
    assert sorted(run) == ["301", "303"]
    assert sum(len(docs) for docs in run.values()) == 584
    assert run["301"]["FBIS3-27619"] == 2.138276


# -- qrels ---------------------------------------------------------------------------------------------


def test_read_qrels_basic(tmp_path: Path) -> None:
    path = _write(tmp_path, "qrels.txt", "# judged\nq1 0 d1 1\nq1 0 d2 0\n\nq2 Q0 d1 -1\nq2 0 d3 +2\n")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d1": -1, "d3": 2}}


@pytest.mark.parametrize("grade", ["1.0", "x", "1e3", "1_0", "--1"])
def test_read_qrels_non_integer_grade(tmp_path: Path, grade: str) -> None:
    path = _write(tmp_path, "qrels.txt", f"q1 0 d1 1\nq1 0 d2 {grade}\n")
    with pytest.raises(InputError) as info:
        read_qrels(path)
    _assert_names(info.value, path, 2, "rel")


@pytest.mark.parametrize(("line", "field"), [("q1 0 d2", "rel"), ("q1 0", "docid"), ("q1 0 d2 1 extra", "rel")])
def test_read_qrels_wrong_field_count(tmp_path: Path, line: str, field: str) -> None:
    path = _write(tmp_path, "qrels.txt", f"q1 0 d1 1\n{line}\n")
    with pytest.raises(InputError) as info:
        read_qrels(path)
    _assert_names(info.value, path, 2, field)


def test_read_qrels_duplicate_pair_is_an_error(tmp_path: Path) -> None:
    # trec_eval stops with "duplicate docs" rather than picking a grade; so do we.
    path = _write(tmp_path, "qrels.txt", "q1 0 d1 1\nq1 0 d1 0\n")
    with pytest.raises(InputError, match="judged twice") as info:
        read_qrels(path)
    _assert_names(info.value, path, 2, "docid")


def test_read_qrels_real_files(trec_eval_dir: Path) -> None:
    qrels = read_qrels(trec_eval_dir / "qrels.test")
    assert {qid: len(docs) for qid, docs in qrels.items()} == {"301": 1708, "302": 1061, "303": 912}
    assert sum(grade for docs in qrels.values() for grade in docs.values()) == 561

    commented = read_qrels(trec_eval_dir / "qrels.test.with-comments")
    # Comment lines are skipped; a '#' inside a docid is part of the docid.
    assert commented["301"]["CR#93E-1860"] == 0
    del commented["301"]["CR#93E-1860"]
    del qrels["301"]["CR93E-1860"]
    assert commented == qrels

    levels = read_qrels(trec_eval_dir / "qrels.rel_level")
    grades = [grade for docs in levels.values() for grade in docs.values()]
    assert grades.count(-1) == 304  # negative grades are kept as written
    assert max(grades) == 4


def test_read_qrels_tsv(tmp_path: Path) -> None:
    path = _write(tmp_path, "test.tsv", "query-id\tcorpus-id\tscore\nq1\td 1\t1\r\n\nq1\td2\t0\nq2\td1\t2\n")
    assert read_qrels_tsv(path) == {"q1": {"d 1": 1, "d2": 0}, "q2": {"d1": 2}}


def test_read_qrels_tsv_requires_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "test.tsv", "q1\td1\t1\n")
    with pytest.raises(InputError) as info:
        read_qrels_tsv(path)
    _assert_names(info.value, path, 1, "header")


def test_read_qrels_tsv_bad_grade_and_duplicates(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0.5\n")
    with pytest.raises(InputError) as info:
        read_qrels_tsv(path)
    _assert_names(info.value, path, 3, "score")

    path = _write(tmp_path, "dup.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t1\n")
    with pytest.raises(InputError) as info:
        read_qrels_tsv(path)
    _assert_names(info.value, path, 3, "corpus-id")

    path = _write(tmp_path, "short.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(InputError) as info:
        read_qrels_tsv(path)
    _assert_names(info.value, path, 2, "score")


# -- write_run -----------------------------------------------------------------------------------------


def test_write_run_order_ranks_and_format(tmp_path: Path) -> None:
    run = {
        "q2": {"a": 0.5, "b": 0.5, "c": float(np.float32(0.1))},
        "q10": {"d9": 1.0, "d10": 1.0},
        "q1": {},
    }
    path = tmp_path / "out" / "run.trec"
    write_run(path, run, "mytag")
    assert path.read_text().splitlines() == [
        # queries in sorted (string) order; ties broken by docid descending; ranks 1..n
        "q10 Q0 d9 1 1.0 mytag",
        "q10 Q0 d10 2 1.0 mytag",
        "q2 Q0 b 1 0.5 mytag",
        "q2 Q0 a 2 0.5 mytag",
        "q2 Q0 c 3 0.1 mytag",
    ]
    assert [p.name for p in path.parent.iterdir()] == ["run.trec"]  # no temporary file left behind


def test_write_run_rank_column_matches_trec_eval_order(tmp_path: Path, trec_eval_dir: Path) -> None:
    run = read_run(trec_eval_dir / "results.test")
    path = tmp_path / "run.trec"
    write_run(path, run, "STANDARD")
    lines = [line.split() for line in path.read_text().splitlines()]
    for qid in run:
        written = [(fields[2], int(fields[3])) for fields in lines if fields[0] == qid]
        assert written == [(docid, rank) for rank, (docid, _) in enumerate(ranked(run[qid]), start=1)]
    assert read_run(path) == run  # float64 scores that are not float32 values round-trip exactly


@pytest.mark.parametrize(
    ("run", "tag", "field"),
    [
        ({"q 1": {"d1": 1.0}}, "t", "qid"),
        ({"q1": {"d\t1": 1.0}}, "t", "docid"),
        ({"q1": {"d\u00a01": 1.0}}, "t", "docid"),
        ({"q1": {"": 1.0}}, "t", "docid"),
        ({"#q1": {"d1": 1.0}}, "t", "qid"),
        ({"q1": {"d1": 1.0}}, "my tag", "tag"),
        ({"q1": {"d1": float("nan")}}, "t", "score"),
    ],
)
def test_write_run_rejects_unrepresentable(
    tmp_path: Path, run: dict[str, dict[str, float]], tag: str, field: str
) -> None:
    path = _write(tmp_path, "run.trec", "old content\n")
    with pytest.raises(InputError) as info:
        write_run(path, run, tag)
    _assert_names(info.value, path, None, field)
    assert path.read_text() == "old content\n"  # the existing file is untouched


def test_format_scores_float32_and_float64() -> None:
    assert format_scores([float(np.float32(0.1)), 1.0, -0.0, math.inf]) == ["0.1", "1.0", "-0.0", "inf"]
    assert format_scores([0.1, 1.0]) == ["0.1", "1.0"]
    assert format_scores([0.1 + 1e-12, 1.0]) == [repr(0.1 + 1e-12), "1.0"]


_ids = st.text(alphabet="abcdXYZ019-_.#:/é", min_size=1, max_size=6).filter(lambda s: not s.startswith("#"))


@settings(max_examples=60, deadline=None)
@given(
    run=st.dictionaries(
        _ids,
        st.dictionaries(_ids, st.floats(width=32, allow_nan=False), max_size=12),
        max_size=4,
    )
)
def test_round_trip_float32_exact(tmp_path_factory: pytest.TempPathFactory, run: dict[str, dict[str, float]]) -> None:
    path = tmp_path_factory.mktemp("rt") / "run.trec"
    write_run(path, run, "rt")
    back = read_run(path)
    expected = {qid: docs for qid, docs in run.items() if docs}
    assert back.keys() == expected.keys()
    for qid, docs in expected.items():
        assert back[qid].keys() == docs.keys()
        for docid, score in docs.items():
            assert np.float32(back[qid][docid]) == np.float32(score)  # float32 value preserved exactly
        assert [d for d, _ in ranked(back[qid])] == [d for d, _ in ranked(docs)]


@settings(max_examples=60, deadline=None)
@given(
    docs=st.dictionaries(_ids, st.floats(allow_nan=False), min_size=1, max_size=12),
    extra=st.floats(allow_nan=False, allow_infinity=False),
)
def test_round_trip_preserves_order_for_float64(
    tmp_path_factory: pytest.TempPathFactory, docs: dict[str, float], extra: float
) -> None:
    docs = {**docs, "zz": extra}
    path = tmp_path_factory.mktemp("rt64") / "run.trec"
    write_run(path, {"q": docs}, "rt")
    back = read_run(path)["q"]
    assert [d for d, _ in ranked(back)] == [d for d, _ in ranked(docs)]
    with np.errstate(over="ignore"):
        not_single = any(float(np.float32(score)) != score for score in docs.values())
    if not_single:
        assert back == docs  # not all float32 values: written with repr, exact


def test_mixed_precision_query_keeps_order(tmp_path: Path) -> None:
    # float32(0.1) is just above 0.1; a float64 between them must not swap places after a round trip.
    f32 = float(np.float32(0.1))
    between = (0.1 + f32) / 2
    run = {"q": {"a": f32, "b": between}}
    path = tmp_path / "run.trec"
    write_run(path, run, "t")
    assert read_run(path) == run


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["q1", "q2", "#c", "q_3"]),
            st.sampled_from(["d1", "d2", "d3", "é"]),
            st.sampled_from(["1.5", "-2", "1e3", "inf", "nan", "1_0", "x", "0.25"]),
            st.sampled_from(["", " extra", "\t"]),
        ),
        max_size=8,
    )
)
def test_the_fast_reader_agrees_with_the_careful_one(rows: list[tuple[str, str, str, str]]) -> None:
    """The fast path (plain ASCII files) gives what the careful reader gives, or steps aside for it."""
    import tempfile
    import unittest.mock

    from rtriever_eval.base import trec

    text = "".join(f"{q} Q0 {d} 1 {s} tag{x}\n" for q, d, s, x in rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.trec"
        path.write_text(text, encoding="utf-8")
        fast = trec._read_run_fast(path)
        careful: object
        with unittest.mock.patch.object(trec, "_read_run_fast", lambda *_: None):
            try:
                careful = read_run(path)
            except InputError:
                careful = "error"
        assert fast is None or fast == careful
        if fast is not None:
            assert list(fast) == list(careful)  # type: ignore[arg-type]
