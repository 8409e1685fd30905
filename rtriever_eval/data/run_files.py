"""Rankings made elsewhere, read as runs: TREC run files, the ranx / ir_measures JSON dict, BRIGHT's score.json and
MTEB's ``<Task>_predictions.json``; the format told from the file's content when asked to, every value checked.

Knows these four file formats and nothing of what the ranking is evaluated on: the caller checks query ids against
its dataset (``line_of`` finds where an id is written, for the error message).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtriever_eval.base.errors import InputError
from rtriever_eval.base.trec import read_run
from rtriever_eval.base.types import Run

FORMATS = ("trec", "json", "bright", "mteb")
MTEB_META = "mteb_model_meta"


@dataclass(frozen=True)
class ImportedRun:
    """A file's ranking: ``run`` qid -> docid -> score, the format it was read as, and (MTEB) the subset and split
    it was taken from."""

    run: Run
    format: str
    path: Path
    subset: str | None = None
    split: str | None = None


def detect_format(path: Path) -> str:
    """``mteb`` for a JSON object holding ``mteb_model_meta``, ``json`` for any other JSON text, else ``trec``.
    (BRIGHT's score.json has the ranx shape: ``json`` reads it; ``bright`` names it explicitly.)"""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError as exc:
        raise InputError(f"cannot read the run file ({exc.strerror or exc})", path=path, field="model.path") from None
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        return "trec"
    return "mteb" if MTEB_META.encode() in head else "json"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the run file ({exc.strerror or exc})", path=path, field="model.path") from None


def line_of(path: Path, qid: str, fmt: str) -> int | None:
    """The 1-based line where ``qid`` is first written (a TREC line's first field, a JSON key), for messages."""
    text = _read_bytes(path).decode("utf-8", errors="replace")
    if fmt == "trec":
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if fields and fields[0] == qid:
                return number
        return None
    key = re.compile(re.escape(json.dumps(qid, ensure_ascii=False)) + r"\s*:")
    match = key.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _scores(obj: Any, path: Path, where: str) -> Run:
    """A ``{qid: {docid: number}}`` object as a Run, each score finite; InputError naming the key otherwise."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{where} is not a JSON object of queries ({{qid: {{docid: score}}}})", path=path)
    run: Run = {}
    for qid, docs in obj.items():
        if not isinstance(docs, Mapping):
            raise InputError(f"query {qid!r}: expected an object {{docid: score}}, found {type(docs).__name__}",
                             path=path, line=line_of(path, str(qid), "json"), field=str(qid))  # fmt: skip
        scores: dict[str, float] = {}
        for doc, value in docs.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
                raise InputError(f"query {qid!r}, document {doc!r}: score {value!r} is not a finite number",
                                 path=path, line=line_of(path, str(qid), "json"), field=f"{qid}.{doc}")  # fmt: skip
            scores[str(doc)] = float(value)
        run[str(qid)] = scores
    return run


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_bytes(path).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not valid JSON ({exc})", path=path, line=line, field="model.path") from None


def read_run_file(path: str | Path, fmt: str = "auto", *, subset: str | None = None,
                  split: str | None = None) -> ImportedRun:  # fmt: skip
    """Read a run file of ``fmt`` (or the detected one). For MTEB predictions, ``subset`` and ``split`` pick the
    ranking (each may be left None when the file holds only one).

    Raises:
        InputError: naming the file, line and field: a malformed line, a score that is not a finite number, a
            document twice for one query, JSON that is not a dict of dicts, a missing subset or split.
    """
    target = Path(path)
    if not target.is_file():
        raise InputError("run file does not exist", path=target, field="model.path")
    resolved = detect_format(target) if fmt == "auto" else fmt
    if resolved not in FORMATS:
        raise InputError(f"unknown run file format {fmt!r}; valid: auto, {', '.join(FORMATS)}", field="model.format")
    if resolved == "trec":
        run = read_run(target)
        for qid, docs in run.items():
            bad = next((d for d, s in docs.items() if not math.isfinite(s)), None)
            if bad is not None:
                raise InputError(f"query {qid!r}, document {bad!r}: score {docs[bad]} is not a finite number",
                                 path=target, line=line_of(target, qid, "trec"), field="score")  # fmt: skip
        return ImportedRun(run, resolved, target)
    data = _load_json(target)
    if resolved in ("json", "bright"):
        if isinstance(data, Mapping) and MTEB_META in data:
            raise InputError("this is an MTEB predictions file: set model.format=mteb (or auto)", path=target,
                             field="model.format")  # fmt: skip
        return ImportedRun(_scores(data, target, "the file"), resolved, target)
    if not isinstance(data, Mapping) or MTEB_META not in data:
        raise InputError(f"an MTEB predictions file is an object with {MTEB_META!r} and one key per subset",
                         path=target, field=MTEB_META)  # fmt: skip
    subsets = [k for k in data if k != MTEB_META]
    chosen = _pick(subsets, subset, "subset", target)
    splits = data[chosen]
    if not isinstance(splits, Mapping):
        raise InputError(f"subset {chosen!r} is not an object of splits", path=target, field=chosen)
    chosen_split = _pick(list(splits), split, "split", target)
    run = _scores(splits[chosen_split], target, f"{chosen}/{chosen_split}")
    return ImportedRun(run, resolved, target, chosen, chosen_split)


def _pick(options: list[str], wanted: str | None, what: str, path: Path) -> str:
    if wanted is not None and wanted in options:
        return wanted
    if wanted is None and len(options) == 1:
        return options[0]
    raise InputError(f"no {what} {wanted!r} among {', '.join(map(repr, options)) or 'none'}", path=path, field=what)
