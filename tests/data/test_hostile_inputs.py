"""Property-based tests: any bytes or any JSON in a dataset, qrels or run file loads or fails with InputError.

Never a traceback of another kind, and ids never turn into unescaped file paths.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.provenance import safe_component
from rtriever_eval.base.trec import read_qrels, read_qrels_tsv, read_run
from rtriever_eval.data.beir import load_beir_domain
from rtriever_eval.data.bright import load_bright_domain

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text with the characters that break naive parsers: NUL, tabs, newlines, separators, non-ASCII, huge tokens
nasty_text = st.text(
    alphabet=st.sampled_from(["a", "b", "1", " ", "\t", "\n", "\r", "\x00", "/", "\\", ".", '"', "{", "}", "é", "😀"]),
    max_size=60,
) | st.just("x" * 200_000)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | nasty_text
json_value = st.recursive(
    json_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(nasty_text, c, max_size=3), max_leaves=6
)
raw_bytes = st.binary(max_size=400) | nasty_text.map(lambda s: s.encode("utf-8"))


def _row(fields: dict[str, object]) -> bytes:
    return (json.dumps(fields) + "\n").encode("utf-8")


@st.composite
def bright_rows(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Examples and documents files mixing valid rows with rows whose fields have the wrong shape."""
    docs = b""
    doc_ids = draw(st.lists(st.one_of(nasty_text, st.integers(), st.just("d1")), min_size=0, max_size=4))
    for did in doc_ids:
        docs += _row({"id": did, "content": draw(st.one_of(nasty_text, json_value))})
    examples = b""
    for _ in range(draw(st.integers(0, 3))):
        row: dict[str, object] = {
            "id": draw(st.one_of(nasty_text, st.integers(), json_value)),
            "query": draw(st.one_of(nasty_text, json_value)),
        }
        for key in ("gold_ids", "excluded_ids", "gold_ids_long"):
            if draw(st.booleans()):
                row[key] = draw(
                    st.one_of(
                        st.lists(st.one_of(st.just("d1"), st.just("N/A"), nasty_text, json_value), max_size=3),
                        json_value,
                    )
                )
        examples += _row(row)
    if draw(st.booleans()):
        examples += draw(raw_bytes)
    return examples, docs


def _bright_folder(root: Path, examples: bytes, docs: bytes) -> None:
    for config, data in (("examples", examples), ("documents", docs)):
        (root / config).mkdir(parents=True, exist_ok=True)
        (root / config / "pony.jsonl").write_bytes(data)


@SETTINGS
@given(bright_rows())
def test_bright_files_load_or_raise_input_error(files: tuple[bytes, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _bright_folder(Path(tmp), *files)
        try:
            data = load_bright_domain("pony", path=tmp, hub_id=None, revision=None)
        except InputError as exc:
            assert str(exc) and "\n" not in exc.reason.strip()
            return
        ids = [q.id for q in data.queries] + [d.id for d in data.documents]
        assert all(isinstance(i, str) and i and not any(c.isspace() or c == "\x00" for c in i) for i in ids)
        assert all("N/A" not in docs for docs in data.qrels.values())
        for q in data.queries:
            assert not (q.excluded_ids & set(data.qrels.get(q.id, {})))


VALID_BEIR = {
    "corpus.jsonl": b'{"_id": "d1", "title": "T", "text": "x"}\n{"_id": "d2", "text": "y"}\n',
    "queries.jsonl": b'{"_id": "q1", "text": "why"}\n',
    "qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t1\n",
}


@pytest.mark.parametrize("target", sorted(VALID_BEIR))
@SETTINGS
@given(raw_bytes)
def test_each_beir_file_loads_or_raises_input_error_naming_it(target: str, junk: bytes) -> None:
    """One file fuzzed at a time, the other two valid: every file's reader is reached, and a failure names the
    fuzzed file (fuzzing all three at once mostly stopped at the corpus)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "set"
        (root / "qrels").mkdir(parents=True)
        for name, data in VALID_BEIR.items():
            (root / name).write_bytes(junk if name == target else data)
        try:
            load_beir_domain(root)
        except InputError as exc:
            assert exc.path is not None, exc
            # broken queries can also surface as a judgment naming a query the queries file no longer holds
            vanished = target == "queries.jsonl" and exc.path.endswith("test.tsv") and "queries.jsonl" in exc.reason
            assert exc.path.endswith(target) or vanished, (exc.path, target, exc.reason)


@SETTINGS
@given(
    st.lists(st.tuples(nasty_text, nasty_text, nasty_text, nasty_text, nasty_text, nasty_text), max_size=5), raw_bytes
)
def test_run_and_qrels_files_load_or_raise_input_error(rows: list[tuple[str, ...]], junk: bytes) -> None:
    text = "".join(" ".join(r) + "\n" for r in rows).encode("utf-8", "surrogatepass") + junk
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.txt"
        path.write_bytes(text)
        for reader in (read_run, read_qrels, read_qrels_tsv):
            try:
                out = reader(path)
            except InputError:
                continue
            assert all(isinstance(k, str) for k in out)


@SETTINGS
@given(st.text(max_size=40))
def test_names_become_single_safe_path_components(name: str) -> None:
    comp = safe_component(name)
    assert comp not in {"", ".", ".."}
    assert "/" not in comp and "\\" not in comp and "\x00" not in comp
    assert comp.isascii()


@SETTINGS
@given(st.text(max_size=12), st.text(max_size=12))
def test_safe_component_is_injective(a: str, b: str) -> None:
    if a != b:
        assert safe_component(a) != safe_component(b)


def test_empty_name_and_nul_get_different_folders() -> None:
    """Found by the property above: '' and '\\x00' once both became '%00'."""
    assert safe_component("") != safe_component("\x00")
